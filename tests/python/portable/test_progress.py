"""Progress of long calls: what the library reports to a ``progress=`` function, on which
thread, and that a failing function cannot break the call it watches."""

from __future__ import annotations

import threading
from typing import List, Tuple

import numpy as np
import pytest

import sheaf
from sheaf import WritePayload

Report = Tuple[str, str, int, int]


class Recorder:
    def __init__(self) -> None:
        self.reports: List[Report] = []
        self.threads: List[int] = []

    def __call__(self, stage: str, unit: str, done: int, total: int) -> None:
        self.reports.append((stage, unit, done, total))
        self.threads.append(threading.get_ident())

    def of(self, stage: str, unit: str) -> List[Tuple[int, int]]:
        return [(d, t) for s, u, d, t in self.reports if (s, u) == (stage, unit)]


def frame(n: int, start: int = 0) -> dict:
    return {"t": np.arange(start, start + n, dtype=np.int64), "x": np.arange(n) * 0.5}


def test_write_append_and_update_report_the_rows_taken_in(lib):
    rec = Recorder()
    lib.write("s", frame(1000), index="t", progress=rec)
    rows = rec.of("write", "rows")
    assert rows and rows[-1] == (1000, 0)  # a stream's length is not known ahead
    assert [d for d, _ in rows] == sorted(d for d, _ in rows)
    assert set(rec.threads) == {threading.get_ident()}

    rec = Recorder()
    lib.append("s", frame(250, start=1000), progress=rec)
    assert rec.of("append", "rows")[-1] == (250, 0)
    assert rec.of("write", "rows") == []

    rec = Recorder()
    lib.update("s", frame(10, start=500), progress=rec)
    assert rec.of("update", "rows")[-1] == (10, 0)


def test_no_reports_without_progress_and_after_the_call(lib):
    rec = Recorder()
    lib.write("a", frame(10), index="t", progress=rec)
    seen = len(rec.reports)
    assert seen > 0
    lib.write("a", frame(10), index="t")  # the callback was removed with the call's end
    lib.append("a", frame(10, start=10), progress=False)
    assert len(rec.reports) == seen


def test_a_batch_reports_each_item_in_order(lib):
    rec = Recorder()
    results = lib.write_batch(
        [WritePayload(f"s{i}", frame(100 * (i + 1))) for i in range(3)], progress=rec
    )
    assert [r.version for r in results] == [0, 0, 0]
    assert rec.of("batch", "items") == [(1, 3), (2, 3), (3, 3)]
    # each write inside the batch reports its own rows
    assert [d for d, _ in rec.of("write", "rows") if d in (100, 200, 300)] == [100, 200, 300]

    rec = Recorder()
    lib.delete_batch(["s0", "s1"], progress=rec)
    assert rec.of("batch", "items") == [(1, 2), (2, 2)]


def test_compaction_reports_the_segments_rewritten(store):
    lib = store.create_library("c", sheaf.LibraryOptions(rows_per_segment=10))
    lib.write("s", frame(10), index="t")
    for i in range(1, 5):
        lib.append("s", frame(10, start=10 * i))  # five segments of ten rows
    rec = Recorder()
    lib.compact_data("s", rows_per_segment=50, progress=rec)
    assert rec.of("compact", "segments") == [(i, 5) for i in range(1, 6)]
    assert lib.read("s").data["t"].tolist() == list(range(50))


def test_finalize_reports_each_chunk(lib):
    for i in range(3):
        lib.stage("s", frame(5, start=5 * i), index="t")
    rec = Recorder()
    lib.finalize_staged_data("s", progress=rec)
    assert rec.of("finalize", "chunks") == [(1, 3), (2, 3), (3, 3)]

    for i in (2, 0, 1):  # out of order: sorted when finalizing
        lib.stage("u", frame(5, start=5 * i), index="t")
    rec = Recorder()
    lib.sort_and_finalize_staged_data("u", progress=rec)
    assert rec.of("finalize", "chunks") == [(1, 3), (2, 3), (3, 3)]
    assert lib.read("u").data["t"].tolist() == list(range(15))


def test_verify_and_reclaim_report_every_entry(store):
    store.create_library("a").write("s", frame(3))
    store.create_library("b")
    store.kv("space").put(b"k", b"v")
    rec = Recorder()
    report = store.verify(progress=rec)
    assert report["problems"] == []
    entries = rec.of("verify", "entries")
    assert entries == [(i, 3) for i in range(1, 4)]  # two libraries, one key space

    store.delete_library("b")
    rec = Recorder()
    store.reclaim(grace_seconds=0, progress=rec)
    assert rec.of("reclaim", "entries") == [(1, 2), (2, 2)]


def test_reports_stay_on_the_thread_that_asked(lib):
    """Another thread's write while this thread's call is reporting does not report here."""
    rec = Recorder()
    other_done = threading.Event()

    def on_progress(stage: str, unit: str, done: int, total: int) -> None:
        rec(stage, unit, done, total)
        if not other_done.is_set():
            worker = threading.Thread(target=lambda: lib.write("other", frame(777), index="t"))
            worker.start()
            worker.join()
            other_done.set()

    lib.write("mine", frame(123), index="t", progress=on_progress)
    assert other_done.is_set()
    assert lib.read("other").data["t"].size == 777
    assert all(d != 777 for _, _, d, _ in rec.reports)
    assert rec.of("write", "rows")[-1] == (123, 0)


def test_a_failing_progress_function_does_not_fail_the_call(lib, caplog):
    calls = []

    def broken(stage: str, unit: str, done: int, total: int) -> None:
        calls.append(done)
        raise RuntimeError("boom")

    batch = [WritePayload(f"s{i}", frame(10)) for i in range(3)]
    results = lib.write_batch(batch, progress=broken)
    assert [r.version for r in results] == [0, 0, 0]
    assert len(calls) == 1  # reported once, then silenced for the rest of the call
    assert "progress function raised" in caplog.text


def test_progress_true_draws_a_bar_only_where_tqdm_is_installed(lib, capsys):
    try:
        import tqdm  # noqa: F401
    except ImportError:
        has_tqdm = False
    else:
        has_tqdm = True
    lib.write("s", frame(10), index="t", progress=True)
    err = capsys.readouterr().err
    if has_tqdm:  # the full suite: a bar named after the symbol and stage, counting rows
        assert "s write" in err and "rows" in err
    else:  # the portable suites: nothing drawn, nothing failed
        assert err == ""
    assert lib.read("s").data["t"].size == 10


def test_a_bad_progress_argument_is_refused_before_writing(lib):
    with pytest.raises(TypeError, match="progress must be"):
        lib.write("s", frame(10), index="t", progress="yes")  # type: ignore[arg-type]
    assert not lib.has_symbol("s")
