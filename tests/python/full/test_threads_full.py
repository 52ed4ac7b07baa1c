"""Threads with pyarrow output: the GIL is released and closing is clean."""

from __future__ import annotations

import threading
import time

import numpy as np
from _parallel import check_parallel_speedup, single_threaded_reads

import sheaf


def test_close_under_a_pyarrow_reader(tmp_path):
    store = sheaf.open("lmdb://" + str(tmp_path / "s"), output_format="pyarrow")
    lib = store.create_library("l", rows_per_segment=20_000)
    lib.write("s", {"v": np.arange(1_000_000)})
    outcome = {}
    started = threading.Event()

    def reader():
        try:
            while True:
                started.set()
                table = lib.read("s").data
                assert table.num_rows == 1_000_000
        except sheaf.SheafError as exc:
            outcome["exc"] = exc
        except BaseException as exc:  # pragma: no cover - would be a failure
            outcome["other"] = exc

    t = threading.Thread(target=reader)
    t.start()
    started.wait()
    time.sleep(0.05)
    store.close()
    t.join(30)
    assert not t.is_alive() and "other" not in outcome, outcome
    assert isinstance(outcome["exc"], sheaf.SheafError)


def test_pyarrow_reads_in_parallel(store):
    lib = store.create_library("big", compression="zstd", rows_per_segment=100_000)
    rng = np.random.default_rng(0)
    data = {f"c{i}": np.round(100 + np.cumsum(rng.normal(size=1_000_000)), 2) for i in range(4)}
    lib.write("a", data)
    lib.write("b", data)

    def read(sym):
        for _ in range(3):
            assert lib.read(sym, output_format="pyarrow").data.num_rows == 1_000_000

    def both():
        ts = [threading.Thread(target=read, args=(s,)) for s in ("a", "b")]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    with single_threaded_reads():
        for _ in range(2):
            read("a")
            both()
        check_parallel_speedup(lambda: (read("a"), read("b")), both)
