"""Worker functions of the multi-process tests, run in processes started with the "spawn"
method: each opens the store itself (no handle crosses a process boundary) and reports what it
committed in a JSON file."""

from __future__ import annotations

import json
import time


def _wait(go_file: str) -> None:
    import os

    deadline = time.monotonic() + 60
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:  # pragma: no cover - the parent died
            raise TimeoutError("no start signal")
        time.sleep(0.001)


def appender(
    uri: str, library: str, symbol: str, writer: int, n: int, rows: int, go: str, out: str
) -> None:
    """Appends ``n`` batches of ``rows`` rows ("writer", "seq") like tests/c/tools/sheaf_appender;
    writes ``[[seq, version], ...]`` to ``out``."""
    import numpy as np

    import sheaf

    committed = []
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store.get_library(library, create_if_missing=True)
        _wait(go)
        for seq in range(n):
            item = lib.append(
                symbol,
                {
                    "writer": np.full(rows, writer, dtype=np.int64),
                    "seq": np.full(rows, seq, dtype=np.int64),
                },
            )
            committed.append([seq, item.version])
    with open(out, "w") as f:
        json.dump(committed, f)


def updater(
    uri: str,
    library: str,
    symbol: str,
    first_day: int,
    n_days: int,
    base: int,
    n: int,
    go: str,
    out: str,
) -> None:
    """Updates the days [first_day, first_day + n_days) of ``symbol`` ``n`` times, the k-th time
    (1-based) with value ``base + k``; writes ``[[k, version], ...]`` to ``out``."""
    import numpy as np

    import sheaf

    t0 = np.datetime64("2024-01-01", "ns")
    ts = t0 + np.arange(first_day, first_day + n_days) * np.timedelta64(1, "D")
    committed = []
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store.get_library(library)
        _wait(go)
        for k in range(1, n + 1):
            item = lib.update(symbol, {"ts": ts, "v": np.full(n_days, base + k, dtype=np.int64)})
            committed.append([k, item.version])
    with open(out, "w") as f:
        json.dump(committed, f)


def metadata_writer(uri: str, library: str, symbol: str, n: int, go: str, out: str) -> None:
    """Writes metadata ``{"i": i}`` to ``symbol`` ``n`` times; reports ``[[i, version], ...]``."""
    import sheaf

    committed = []
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store.get_library(library)
        _wait(go)
        for i in range(n):
            committed.append([i, lib.write_metadata(symbol, {"i": i}).version])
    with open(out, "w") as f:
        json.dump(committed, f)


def pruning_writer(uri: str, library: str, symbol: str, n: int, rows: int, go: str) -> None:
    """Writes ``symbol`` ``n`` times, each version ``rows`` rows of one value (its round), and
    prunes the versions before it as it goes."""
    import numpy as np

    import sheaf

    with sheaf.open(uri, output_format="numpy") as store:
        lib = store.get_library(library, create_if_missing=True)
        _wait(go)
        for round_ in range(1, n + 1):
            lib.write(
                symbol,
                {"round": np.full(rows, round_, dtype=np.int64), "x": np.arange(rows) * 0.5},
                prune_previous_versions=True,
            )
