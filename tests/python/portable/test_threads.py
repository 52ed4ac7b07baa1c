"""Library calls release the GIL and run side by side (proved with the library's pause
point, see ``_pause``); closing under a reader is clean."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from _pause import check_runs_alongside

import sheaf

ROWS = 1_000_000


@pytest.fixture(scope="module")
def big_lib():
    store = sheaf.open("mem://", output_format="numpy")
    lib = store.create_library("big", compression="zstd", rows_per_segment=100_000)
    rng = np.random.default_rng(0)
    data = {f"c{i}": np.round(100 + np.cumsum(rng.normal(size=ROWS)), 2) for i in range(4)}
    lib.write("a", data)
    lib.write("b", data)
    yield lib
    store.close()


class single_threaded_reads:
    """Within it, one read uses one thread (``read.threads`` = 1); the default is restored."""

    def __enter__(self) -> None:
        sheaf.set_config_int("read.threads", 1)

    def __exit__(self, *exc: object) -> None:
        sheaf.set_config_int("read.threads", 0)


def _series(start: int, n: int, tag: float) -> dict:
    ts = (np.arange(start, start + n, dtype="int64") * 1_000_000_000).astype("datetime64[ns]")
    return {"ts": ts, "v": np.arange(n, dtype="float64") + tag}


@pytest.fixture
def lmdb_lib(lmdb_uri):
    store = sheaf.open(lmdb_uri, output_format="numpy")
    lib = store.create_library("l", rows_per_segment=1000)
    lib.write("other", {"x": np.arange(10)})
    yield lib
    store.close()


def _other_read(lib):
    def read_other():
        return lib.read("other").data["x"].tolist()

    return read_other


def test_a_read_stopped_inside_the_library_lets_python_and_another_call_run(lmdb_lib):
    lmdb_lib.write("s", _series(0, 5000, 0.0), index="ts")
    data = check_runs_alongside("get", lambda: lmdb_lib.read("s").data, _other_read(lmdb_lib))
    assert np.array_equal(data["v"], np.arange(5000, dtype="float64"))


def test_a_query_read_stopped_inside_the_library(lmdb_lib):
    lmdb_lib.write("s", _series(0, 5000, 0.0), index="ts")
    q = sheaf.QueryBuilder()
    q = q[q["v"] >= 4990]
    data = check_runs_alongside(
        "get", lambda: lmdb_lib.read("s", query_builder=q).data, _other_read(lmdb_lib)
    )
    assert data["v"].tolist() == [float(v) for v in range(4990, 5000)]


@pytest.mark.parametrize("call", ["write", "append", "update"])
def test_a_commit_stopped_inside_the_library(lmdb_lib, call):
    lmdb_lib.write("s", _series(0, 10, 0.0), index="ts")
    if call == "write":
        first = lambda: lmdb_lib.write("s", _series(100, 5, 7.0), index="ts")  # noqa: E731
        expected = [7.0 + i for i in range(5)]
    elif call == "append":
        first = lambda: lmdb_lib.append("s", _series(10, 5, 7.0))  # noqa: E731
        expected = [float(i) for i in range(10)] + [7.0 + i for i in range(5)]
    else:
        first = lambda: lmdb_lib.update("s", _series(3, 2, 7.0))  # noqa: E731
        expected = [0.0, 1.0, 2.0, 7.0, 8.0] + [float(i) for i in range(5, 10)]
    item = check_runs_alongside("put_if_absent", first, _other_read(lmdb_lib))
    assert item.version == 1
    assert lmdb_lib.read("s").data["v"].tolist() == expected


def test_batch_calls_stopped_inside_the_library(lmdb_lib):
    lmdb_lib.write("s", {"x": np.arange(100)})
    items = check_runs_alongside(
        "get", lambda: lmdb_lib.read_batch(["s", "other"]), _other_read(lmdb_lib)
    )
    assert items[0].data["x"].tolist() == list(range(100))
    written = check_runs_alongside(
        "put_if_absent",
        lambda: lmdb_lib.write_batch([sheaf.WritePayload("t", {"x": np.arange(3)})]),
        _other_read(lmdb_lib),
    )
    assert written[0].version == 0
    assert lmdb_lib.read("t").data["x"].tolist() == [0, 1, 2]


def test_compaction_and_finalize_stopped_inside_the_library(lmdb_lib):
    for i in range(3):
        lmdb_lib.append("s", _series(10 * i, 10, 10.0 * i))
    check_runs_alongside("put_if_absent", lambda: lmdb_lib.compact_data("s"), _other_read(lmdb_lib))
    assert lmdb_lib.read("s").data["v"].tolist() == [float(i) for i in range(30)]
    lmdb_lib.stage("g", _series(0, 4, 0.0), index="ts")
    check_runs_alongside(
        "put_if_absent", lambda: lmdb_lib.finalize_staged_data("g"), _other_read(lmdb_lib)
    )
    assert lmdb_lib.read("g").data["v"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_key_value_and_document_calls_stopped_inside_the_library(lmdb_uri):
    store = sheaf.open(lmdb_uri)
    space = store.kv("space")
    keys = [b"k%d" % i for i in range(100)]
    values = [b"v%d" % i for i in range(100)]
    other = lambda: store.kv("other").get_multi([b"nothing"])  # noqa: E731
    check_runs_alongside("write_batch", lambda: space.put_multi(keys, values), other)
    got = check_runs_alongside("get_many", lambda: space.get_multi(keys), other)
    assert got == values
    docs = store.create_collection("docs")
    ids = check_runs_alongside("transact", lambda: docs.store_multi([{"a": 1}, {"a": 2}]), other)
    assert ids == [0, 1] and docs.load_multi(ids) == [{"a": 1}, {"a": 2}]
    store.close()


def test_pause_points_refuse_an_unknown_step():
    from _pause import _arm

    with pytest.raises(sheaf.InvalidArgumentError, match="known: get"):
        _arm("no_such_step")


def test_one_read_decodes_on_several_threads_with_the_same_result(big_lib):
    # The default (read.threads = 0: one thread per core) and one thread give the same rows.
    parallel = big_lib.read("a").data
    with single_threaded_reads():
        serial = big_lib.read("a").data
    for name in serial:
        assert np.array_equal(parallel[name], serial[name])
    with pytest.raises(sheaf.InvalidArgumentError):
        sheaf.set_config_int("read.threads", -1)


def test_close_while_another_thread_reads(tmp_path):
    store = sheaf.open("lmdb://" + str(tmp_path / "s"), output_format="numpy")
    lib = store.create_library("l", rows_per_segment=100_000)
    lib.write("s", {"v": np.arange(400_000)})
    outcome = {}
    started = threading.Event()

    def reader():
        reads = 0
        try:
            while True:
                started.set()
                lib.read("s")
                reads += 1
        except sheaf.SheafError as exc:
            outcome["exc"] = exc
        except Exception as exc:  # pragma: no cover - would be a failure
            outcome["other"] = exc
        outcome["reads"] = reads

    t = threading.Thread(target=reader)
    t.start()
    started.wait()
    time.sleep(0.05)
    store.close()
    t.join(30)
    assert not t.is_alive()
    assert "other" not in outcome, outcome
    assert isinstance(outcome["exc"], sheaf.SheafError)
    # the normal case: the next call after close says so
    with pytest.raises(sheaf.ClosedError):
        lib.read("s")


def test_error_slot_is_per_thread(lib):
    errors = []

    def worker(i):
        for _ in range(200):
            try:
                lib.read(f"missing{i}")
            except sheaf.NoSuchSymbolError as exc:
                if f"missing{i}" not in str(exc):
                    errors.append(str(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_commit_max_retries_decides_whether_a_lost_race_is_retried(lmdb_lib):
    # A write stopped just before its commit while another write commits first: it lost the
    # race. With commit.max_retries = 0 it gives up with a conflict; with the default it
    # re-bases and lands after the other write.
    lmdb_lib.write("s", {"x": np.arange(3)})

    def mine():
        return lmdb_lib.write("s", {"x": np.arange(5)})

    def theirs():
        return lmdb_lib.write("s", {"x": np.arange(7)})

    sheaf.set_config_int("commit.max_retries", 0)
    try:
        with pytest.raises(sheaf.ConflictError, match=r"commit\.max_retries"):
            check_runs_alongside("put_if_absent", mine, theirs)
    finally:
        sheaf.set_config_int("commit.max_retries", 1000)
    assert lmdb_lib.read("s").data["x"].tolist() == list(range(7))
    assert sorted(k.version for k in lmdb_lib.list_versions("s")) == [0, 1]
    item = check_runs_alongside("put_if_absent", mine, theirs)
    assert item.version == 3
    assert lmdb_lib.read("s").data["x"].tolist() == list(range(5))
    assert lmdb_lib.read("s", as_of=2).data["x"].tolist() == list(range(7))
