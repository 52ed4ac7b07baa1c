"""The data sets of the benchmarks, written once per run as Arrow IPC files (numpy + pyarrow).

- ``floats``: ``time`` (timestamp[ns], one row a second from 2000-01-01) and ``c0``..``c9``,
  standard-normal float64 (so the filter ``c0 > 1.0`` keeps about 16% of the rows).
- ``floats_append``: the next 100 000 rows of the same series.
- ``prices``: realistic market data: an irregular ``time`` (1 ms - 2 s apart), six float64 price
  columns that are random walks rounded to 2 decimals (``p0``..``p5``), and four small int64
  columns (``i0`` sizes 1-100, ``i1`` counts 0-20, ``i2`` flags 0-3, ``i3`` venue 0-15).
- ``h2o``: the columns of the H2O db-benchmark as ArcticDB's benchmarks generate them (k = n/10):
  ``id1``/``id2`` strings "id001".."id{k}", ``id3`` strings "id0000000001".."id{n/k}",
  ``id4``/``id5`` ints 1..k, ``id6`` ints 1..n/k, ``v1`` 1..5, ``v2`` 1..15, ``v3`` uniform 0-100
  rounded to 6 decimals; ``time`` one row a minute ending 2023-01-01.
"""

from __future__ import annotations

import os
from typing import Dict

import numpy as np
import pyarrow as pa

START_NS = int(np.datetime64("2000-01-01T00:00:00", "ns").astype(np.int64))
SECOND = 1_000_000_000
APPEND_ROWS = 100_000


def _write(path: str, columns: Dict[str, pa.Array]) -> None:
    table = pa.table(columns)
    tmp = path + ".tmp"
    with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=1_000_000)
    os.replace(tmp, path)


def _times(start_ns: int, n: int, step_ns: int) -> pa.Array:
    return pa.array(start_ns + np.arange(n, dtype=np.int64) * step_ns, pa.timestamp("ns"))


def floats(path: str, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    cols: Dict[str, pa.Array] = {"time": _times(START_NS, n, SECOND)}
    for c in range(10):
        cols[f"c{c}"] = pa.array(rng.standard_normal(n))
    _write(path, cols)


def floats_append(path: str, n: int, seed: int = 2) -> None:
    """The 100k rows that follow ``floats(n)``."""
    rng = np.random.default_rng(seed)
    cols: Dict[str, pa.Array] = {"time": _times(START_NS + n * SECOND, APPEND_ROWS, SECOND)}
    for c in range(10):
        cols[f"c{c}"] = pa.array(rng.standard_normal(APPEND_ROWS))
    _write(path, cols)


def prices(path: str, n: int, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    gaps = rng.integers(1, 2000, n, dtype=np.int64) * 1_000_000
    cols: Dict[str, pa.Array] = {"time": pa.array(START_NS + np.cumsum(gaps), pa.timestamp("ns"))}
    for c in range(6):
        walk = 100.0 + np.cumsum(rng.normal(0.0, 0.02, n))
        cols[f"p{c}"] = pa.array(np.round(np.abs(walk) + 1.0, 2))
    cols["i0"] = pa.array(rng.integers(1, 101, n, dtype=np.int64))
    cols["i1"] = pa.array(rng.integers(0, 21, n, dtype=np.int64))
    cols["i2"] = pa.array(rng.integers(0, 4, n, dtype=np.int64))
    cols["i3"] = pa.array(rng.integers(0, 16, n, dtype=np.int64))
    _write(path, cols)


def _strings(rng: np.random.Generator, vocabulary: pa.Array, n: int) -> pa.Array:
    codes = pa.array(rng.integers(0, len(vocabulary), n, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(codes, vocabulary).dictionary_decode()


def h2o(path: str, n: int, seed: int = 4) -> None:
    rng = np.random.default_rng(seed)
    k = max(n // 10, 1)
    g = n // k
    end_ns = int(np.datetime64("2023-01-01T00:00:00", "ns").astype(np.int64))
    minute = 60 * SECOND
    small = pa.array([f"id{i:03d}" for i in range(1, k + 1)])
    large = pa.array([f"id{i:010d}" for i in range(1, g + 1)])
    cols: Dict[str, pa.Array] = {
        "time": _times(end_ns - (n - 1) * minute, n, minute),
        "id1": _strings(rng, small, n),
        "id2": _strings(rng, small, n),
        "id3": _strings(rng, large, n),
        "id4": pa.array(rng.integers(1, k + 1, n, dtype=np.int64)),
        "id5": pa.array(rng.integers(1, k + 1, n, dtype=np.int64)),
        "id6": pa.array(rng.integers(1, g + 1, n, dtype=np.int64)),
        "v1": pa.array(rng.integers(1, 6, n, dtype=np.int64)),
        "v2": pa.array(rng.integers(1, 16, n, dtype=np.int64)),
        "v3": pa.array(np.round(rng.uniform(0, 100, n), 6)),
    }
    _write(path, cols)


GENERATORS = {"floats": floats, "floats_append": floats_append, "prices": prices, "h2o": h2o}


def ensure(workdir: str, kind: str, n: int) -> str:
    """The path of data set ``kind`` at ``n`` rows, generated when missing."""
    os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
    path = os.path.join(workdir, "data", f"{kind}-{n}.arrow")
    if not os.path.exists(path):
        GENERATORS[kind](path, n)
    return path
