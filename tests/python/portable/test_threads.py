"""The GIL is released during library calls; closing under a reader is clean."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from _parallel import check_parallel_speedup, single_threaded_reads

import sheaf

ROWS = 1_000_000
READS = 3


@pytest.fixture(scope="module")
def big_lib():
    # zstd over compressible prices and small segments: reading is CPU-bound work inside the
    # library (decompression), which is what a released GIL lets two threads share.
    store = sheaf.open("mem://", output_format="numpy")
    lib = store.create_library("big", compression="zstd", rows_per_segment=100_000)
    rng = np.random.default_rng(0)
    data = {f"c{i}": np.round(100 + np.cumsum(rng.normal(size=ROWS)), 2) for i in range(4)}
    lib.write("a", data)
    lib.write("b", data)
    yield lib
    store.close()


def _read(lib, symbol):
    for _ in range(READS):
        out = lib.read(symbol).data
        assert len(out["c0"]) == ROWS


def test_two_threads_read_faster_than_one_after_the_other(big_lib):
    def both_at_once():
        threads = [threading.Thread(target=_read, args=(big_lib, s)) for s in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def one_after_the_other():
        _read(big_lib, "a")
        _read(big_lib, "b")

    with single_threaded_reads():
        # Warm up: the allocator settles after a few rounds (the first rounds are noisy here).
        for _ in range(2):
            _read(big_lib, "a")
            both_at_once()
        check_parallel_speedup(one_after_the_other, both_at_once)


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
