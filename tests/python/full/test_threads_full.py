"""Threads with pyarrow output: the GIL is released and closing is clean."""

from __future__ import annotations

import threading
import time

import numpy as np
from _pause import check_runs_alongside

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


def test_a_pyarrow_read_stopped_inside_the_library_lets_another_call_run(store):
    lib = store.create_library("big", rows_per_segment=100_000)
    lib.write("a", {"c0": np.arange(300_000, dtype="float64")})
    lib.write("b", {"c0": np.arange(3, dtype="float64")})
    table = check_runs_alongside(
        "get",
        lambda: lib.read("a", output_format="pyarrow").data,
        lambda: lib.read("b", output_format="pyarrow").data,
    )
    assert table.column("c0").to_pylist() == [float(i) for i in range(300_000)]
