"""One table step for one engine, in a fresh process: ``python tables_worker.py '<json spec>'``.

Engines: ``sheaf`` (lmdb:// store, library compression from the spec), ``arcticdb`` (LMDB),
``parquet`` (pyarrow, one file per symbol) and ``ipc`` (Arrow IPC file format through pyarrow).
For ``sheaf`` and ``arcticdb`` the spec may give ``store_uri`` instead (an ``s3://`` store, in
each engine's own URI syntax): the engine opens it and ``store`` is not used.

Ops: ``prepare`` (untimed: writes the symbols the read steps use), ``write``, ``read_pandas``,
``read_arrow``, ``append``, ``date_range``, ``filter_pandas``, ``filter_arrow``, ``two_cols`` and
``size`` (one write into a fresh location, then the bytes it takes on disk). The filter steps
(``c0 > 1.0``) run the QueryBuilder inside the read for Sheaf and ArcticDB
(``read(symbol, query_builder=q)``), ``filters=`` for Parquet, and ``pyarrow.compute`` on the
memory-mapped table for IPC.

The input is an Arrow IPC file written by run.py (a ``time`` column, timestamp[ns], plus data
columns); it becomes a pandas DataFrame with a DatetimeIndex named ``time`` before the clock
starts, since pandas is what every engine here is written from.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import dir_size, emit, fresh_dir, measure, perf_counter, remove, spec_from_argv

FILTER_COLUMN = "c0"
FILTER_VALUE = 1.0
TWO_COLUMNS = ["c3", "c7"]


def load_frame(path: str) -> Any:
    """The IPC file as a pandas DataFrame indexed by ``time``."""
    import pandas as pd
    import pyarrow as pa

    with pa.memory_map(path) as source:
        table = pa.ipc.open_file(source).read_all()
    times = table.column("time").to_numpy()
    frame = table.drop_columns(["time"]).to_pandas()
    frame.index = pd.DatetimeIndex(times, name="time")
    del table
    return frame


class SheafEngine:
    def __init__(self, path: str, compression: str = "lz4", uri: Optional[str] = None) -> None:
        import sheaf

        if uri is None:
            os.makedirs(path, exist_ok=True)
            uri = "lmdb://" + os.path.abspath(path)
        self.store = sheaf.open(uri)
        self.lib = self.store.get_library(
            "bench",
            create_if_missing=True,
            library_options=sheaf.LibraryOptions(compression=compression),
        )
        self.qb = sheaf.QueryBuilder

    def write(self, symbol: str, df: Any) -> Any:
        return self.lib.write(symbol, df)

    def append(self, symbol: str, df: Any) -> Any:
        return self.lib.append(symbol, df)

    def reset(self, symbol: str, df: Any) -> None:
        self.lib.write(symbol, df)

    def read_pandas(self, symbol: str) -> Any:
        return self.lib.read(symbol, output_format="pandas").data

    def read_arrow(self, symbol: str) -> Any:
        return self.lib.read(symbol, output_format="pyarrow").data

    def date_range(self, symbol: str, start: Any, end: Any) -> Any:
        return self.lib.read(symbol, date_range=(start, end), output_format="pandas").data

    def _query(self) -> Any:
        q = self.qb()
        return q[q[FILTER_COLUMN] > FILTER_VALUE]

    def filter_pandas(self, symbol: str) -> Any:
        return self.lib.read(symbol, query_builder=self._query(), output_format="pandas").data

    def filter_arrow(self, symbol: str) -> Any:
        return self.lib.read(symbol, query_builder=self._query(), output_format="pyarrow").data

    def two_cols(self, symbol: str) -> Any:
        return self.lib.read(symbol, columns=TWO_COLUMNS, output_format="pandas").data

    def location(self) -> str:
        return ""


class ArcticEngine:
    def __init__(self, path: str, compression: str = "lz4", uri: Optional[str] = None) -> None:
        import arcticdb

        if compression != "lz4":
            raise ValueError("ArcticDB is measured with its default (LZ4) only")
        if uri is None:
            os.makedirs(path, exist_ok=True)
            uri = "lmdb://" + os.path.abspath(path)
        self.ac = arcticdb.Arctic(uri)
        self.lib = self.ac.get_library("bench", create_if_missing=True)
        self.qb = arcticdb.QueryBuilder

    def write(self, symbol: str, df: Any) -> Any:
        return self.lib.write(symbol, df)

    def append(self, symbol: str, df: Any) -> Any:
        return self.lib.append(symbol, df)

    def reset(self, symbol: str, df: Any) -> None:
        self.lib.write(symbol, df)

    def read_pandas(self, symbol: str) -> Any:
        return self.lib.read(symbol).data

    def read_arrow(self, symbol: str) -> Any:
        return self.lib.read(symbol, output_format="pyarrow").data

    def date_range(self, symbol: str, start: Any, end: Any) -> Any:
        return self.lib.read(symbol, date_range=(start, end)).data

    def _query(self) -> Any:
        q = self.qb()
        return q[q[FILTER_COLUMN] > FILTER_VALUE]

    def filter_pandas(self, symbol: str) -> Any:
        return self.lib.read(symbol, query_builder=self._query()).data

    def filter_arrow(self, symbol: str) -> Any:
        return self.lib.read(symbol, query_builder=self._query(), output_format="pyarrow").data

    def two_cols(self, symbol: str) -> Any:
        return self.lib.read(symbol, columns=TWO_COLUMNS).data


class ParquetEngine:
    """One Parquet file per symbol (pyarrow, Snappy unless told); an append writes one more
    file into ``<symbol>.parts/`` (Parquet files cannot be appended to)."""

    def __init__(self, path: str, compression: str = "snappy") -> None:
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.compression = compression

    def _file(self, symbol: str) -> str:
        return os.path.join(self.path, symbol + ".parquet")

    def write(self, symbol: str, df: Any) -> Any:
        df.to_parquet(self._file(symbol), engine="pyarrow", compression=self.compression)

    def append(self, symbol: str, df: Any) -> Any:
        parts = os.path.join(self.path, symbol + ".parts")
        os.makedirs(parts, exist_ok=True)
        name = f"part-{len(os.listdir(parts)):05d}.parquet"
        df.to_parquet(os.path.join(parts, name), engine="pyarrow", compression=self.compression)

    def reset(self, symbol: str, df: Any) -> None:
        remove(os.path.join(self.path, symbol + ".parts"))
        self.write(symbol, df)

    def read_pandas(self, symbol: str) -> Any:
        import pandas as pd

        return pd.read_parquet(self._file(symbol), engine="pyarrow")

    def read_arrow(self, symbol: str) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(self._file(symbol))

    def date_range(self, symbol: str, start: Any, end: Any) -> Any:
        import pandas as pd

        filters = [("time", ">=", start), ("time", "<=", end)]
        return pd.read_parquet(self._file(symbol), engine="pyarrow", filters=filters)

    def filter_pandas(self, symbol: str) -> Any:
        import pandas as pd

        filters = [(FILTER_COLUMN, ">", FILTER_VALUE)]
        return pd.read_parquet(self._file(symbol), engine="pyarrow", filters=filters)

    def filter_arrow(self, symbol: str) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(self._file(symbol), filters=[(FILTER_COLUMN, ">", FILTER_VALUE)])

    def two_cols(self, symbol: str) -> Any:
        import pandas as pd

        return pd.read_parquet(self._file(symbol), engine="pyarrow", columns=TWO_COLUMNS)


class IpcEngine:
    """One Arrow IPC file per symbol (uncompressed unless told); reads memory-map the file,
    so a read to pyarrow of an uncompressed file is zero-copy (pages load lazily)."""

    def __init__(self, path: str, compression: str = "none") -> None:
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.compression = None if compression == "none" else compression

    def _file(self, symbol: str) -> str:
        return os.path.join(self.path, symbol + ".arrow")

    def _write(self, path: str, df: Any) -> None:
        import pyarrow as pa

        table = pa.Table.from_pandas(df)
        options = pa.ipc.IpcWriteOptions(compression=self.compression)
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(
            sink, table.schema, options=options
        ) as w:
            w.write_table(table)

    def write(self, symbol: str, df: Any) -> Any:
        self._write(self._file(symbol), df)

    def append(self, symbol: str, df: Any) -> Any:
        parts = os.path.join(self.path, symbol + ".parts")
        os.makedirs(parts, exist_ok=True)
        self._write(os.path.join(parts, f"part-{len(os.listdir(parts)):05d}.arrow"), df)

    def reset(self, symbol: str, df: Any) -> None:
        remove(os.path.join(self.path, symbol + ".parts"))
        self.write(symbol, df)

    def read_arrow(self, symbol: str) -> Any:
        import pyarrow as pa

        with pa.memory_map(self._file(symbol)) as source:
            return pa.ipc.open_file(source).read_all()

    def read_pandas(self, symbol: str) -> Any:
        return self.read_arrow(symbol).to_pandas()

    def date_range(self, symbol: str, start: Any, end: Any) -> Any:
        # The index is sorted: a binary search on the mapped time column, then a slice.
        import numpy as np

        table = self.read_arrow(symbol)
        times = table.column("time").to_numpy()
        lo = int(np.searchsorted(times, np.datetime64(start.value, "ns"), side="left"))
        hi = int(np.searchsorted(times, np.datetime64(end.value, "ns"), side="right"))
        return table.slice(lo, hi - lo).to_pandas()

    def filter_arrow(self, symbol: str) -> Any:
        import pyarrow.compute as pc

        table = self.read_arrow(symbol)
        return table.filter(pc.greater(table[FILTER_COLUMN], FILTER_VALUE))

    def filter_pandas(self, symbol: str) -> Any:
        return self.filter_arrow(symbol).to_pandas()

    def two_cols(self, symbol: str) -> Any:
        return self.read_arrow(symbol).select(["time", *TWO_COLUMNS]).to_pandas()


class FloorEngine:
    """The machine's floor for a step, measured in the same run: ``copy`` moves the bytes the
    step produces once (numpy copies into fresh memory); ``lz4`` only compresses them (writes)
    or decompresses them (reads) with LZ4 frames on one thread, in blocks of 100 000 rows as a
    segmented store keeps them (pyarrow's codec). No engine can do a step with less work than
    both; a ratio to them shows how far from the hardware an engine is. The filter steps have
    no floor here (what they cost depends on the rows that pass)."""

    BLOCK = 100_000

    def __init__(self, path: str, kind: str) -> None:
        os.makedirs(path, exist_ok=True)
        self.file = os.path.join(path, "main.arrow")
        self.kind = kind
        self.columns: Dict[str, Any] = {}
        self.blocks: Dict[str, List[Any]] = {}
        if os.path.exists(self.file):  # untimed: what a read step starts from
            import pyarrow as pa

            with pa.memory_map(self.file) as source:
                table = pa.ipc.open_file(source).read_all()
            self.columns = {
                name: table.column(name).to_numpy().copy() for name in table.column_names
            }
            if kind == "lz4":
                self.blocks = {name: self._compress(v) for name, v in self.columns.items()}

    def _compress(self, values: Any) -> List[Any]:
        import pyarrow as pa

        return [
            (
                pa.compress(values[i : i + self.BLOCK], codec="lz4", asbytes=False),
                values[i : i + self.BLOCK].nbytes,
            )
            for i in range(0, len(values), self.BLOCK)
        ]

    def _arrays(self, df: Any) -> Dict[str, Any]:
        out = {"time": df.index.to_numpy()}
        out.update({c: df[c].to_numpy() for c in df.columns})
        return out

    def write(self, symbol: str, df: Any) -> Any:
        arrays = self._arrays(df)
        if self.kind == "copy":
            return [v.copy() for v in arrays.values()]
        return [self._compress(v) for v in arrays.values()]

    append = write

    def reset(self, symbol: str, df: Any) -> None:
        pass

    def prepare(self, df: Any) -> None:
        import pyarrow as pa
        import pyarrow.feather

        table = pa.table(self._arrays(df))
        pyarrow.feather.write_feather(table, self.file, compression="uncompressed")

    def _read(self, names: List[str], lo: int = 0, hi: Optional[int] = None) -> List[Any]:
        import pyarrow as pa

        out = []
        for name in names:
            if self.kind == "copy":
                out.append(self.columns[name][lo:hi].copy())
                continue
            end = len(self.columns[name]) if hi is None else hi
            first, last = lo // self.BLOCK, (max(end, lo + 1) - 1) // self.BLOCK
            out.extend(
                pa.decompress(buf, size, codec="lz4", asbytes=False)
                for buf, size in self.blocks[name][first : last + 1]
            )
        return out

    def read_pandas(self, symbol: str) -> Any:
        return self._read(list(self.columns))

    read_arrow = read_pandas

    def date_range(self, symbol: str, start: Any, end: Any) -> Any:
        import numpy as np

        times = self.columns["time"]
        lo = int(np.searchsorted(times, np.datetime64(start.value, "ns"), side="left"))
        hi = int(np.searchsorted(times, np.datetime64(end.value, "ns"), side="right"))
        return self._read(list(self.columns), lo, hi)

    def two_cols(self, symbol: str) -> Any:
        return self._read(["time", *TWO_COLUMNS])


ENGINES: Dict[str, Any] = {
    "floor_copy": lambda path, compression: FloorEngine(path, "copy"),
    "floor_lz4": lambda path, compression: FloorEngine(path, "lz4"),
    "sheaf": SheafEngine,
    "arcticdb": ArcticEngine,
    "parquet": ParquetEngine,
    "ipc": IpcEngine,
}
# The engines that can open a store_uri.
URI_ENGINES = ("sheaf", "arcticdb")
DEFAULT_COMPRESSION = {
    "sheaf": "lz4",
    "arcticdb": "lz4",
    "parquet": "snappy",
    "ipc": "none",
    "floor_copy": "none",
    "floor_lz4": "lz4",
}


def versions() -> Dict[str, str]:
    out: Dict[str, str] = {"python": sys.version.split()[0]}
    for name in ("sheaf", "arcticdb", "pandas", "pyarrow", "numpy"):
        if name in sys.modules:
            out[name] = str(getattr(sys.modules[name], "__version__", "?"))
    return out


def preload() -> None:
    """Imports everything a step may touch, so the first timed call does not pay for it."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401


def main() -> None:
    spec = spec_from_argv()
    preload()
    engine_name: str = spec["engine"]
    op: str = spec["op"]
    reps: int = spec.get("reps", 3)
    warmup: int = spec.get("warmup", 0)
    compression = spec.get("compression") or DEFAULT_COMPRESSION[engine_name]
    uri: Optional[str] = spec.get("store_uri")
    if uri is not None and engine_name not in URI_ENGINES:
        raise SystemExit(f"engine {engine_name!r} takes no store_uri")
    if uri is not None and op == "size":
        raise SystemExit("the size step measures a local directory: no store_uri")

    def make(path: str, compression: str) -> Any:
        if uri is None:
            return ENGINES[engine_name](path, compression)
        return ENGINES[engine_name](path, compression, uri=uri)

    result: Dict[str, Any] = {}

    if op == "size":
        # A fresh location, one write, then the bytes on disk.
        target = fresh_dir(spec["store"])
        df = load_frame(spec["data"])
        engine = make(target, compression)
        t0 = perf_counter()
        engine.write("main", df)
        result["write_time"] = perf_counter() - t0
        del engine
        import gc

        gc.collect()
        result["size"] = dir_size(target)
        remove(target)
    elif op == "prepare":
        engine = make(spec["store"], compression)
        df = load_frame(spec["data"])
        getattr(engine, "prepare", lambda df: engine.write("main", df))(df)
    elif op == "write":
        # A fresh location: an empty directory, or for a store_uri one run.py made fresh (and
        # empties afterwards).
        target = spec["store"] if uri is not None else fresh_dir(spec["store"])
        engine = make(target, compression)
        df = load_frame(spec["data"])
        result.update(measure(lambda i: engine.write(f"w{i}", df), reps, warmup))
        del engine
        if uri is None:
            remove(target)
    elif op == "append":
        import pandas as pd

        engine = make(spec["store"], compression)
        if spec.get("append_reset", True):
            engine.reset("app", load_frame(spec["data"]))  # untimed: "app" = the main data again
        first = int(spec.get("append_first", 0))
        chunk = load_frame(spec["append_data"])
        n_rows = len(chunk)
        base_index = chunk.index
        step_ns = int(spec["append_step_ns"])
        current: List[Any] = [None]

        def before(i: int) -> None:
            # Each repetition appends the next 100k rows (index after the previous ones).
            frame = chunk.copy(deep=False)
            shift = (first + i) * n_rows * step_ns
            frame.index = pd.DatetimeIndex(base_index.asi8 + shift, name="time")
            current[0] = frame

        result.update(measure(lambda i: engine.append("app", current[0]), reps, warmup, before))
    elif op in ("read_pandas", "read_arrow", "filter_pandas", "filter_arrow", "two_cols"):
        engine = make(spec["store"], compression)
        call = getattr(engine, op)
        rows: List[int] = []
        result.update(measure(lambda i: _keep_rows(call("main"), rows), reps, warmup))
        result["rows"] = rows[-1] if rows else None
    elif op == "date_range":
        import pandas as pd

        engine = make(spec["store"], compression)
        start = pd.Timestamp(int(spec["date_range"][0]), unit="ns")
        end = pd.Timestamp(int(spec["date_range"][1]), unit="ns")
        found: List[int] = []
        result.update(
            measure(
                lambda i: _keep_rows(engine.date_range("main", start, end), found), reps, warmup
            )
        )
        result["rows"] = found[-1] if found else None
    else:
        raise SystemExit(f"unknown op {op!r}")
    result["versions"] = versions()
    emit(result)


def _keep_rows(out: Any, rows: List[int]) -> Any:
    rows.append(len(out))
    return out


if __name__ == "__main__":
    main()
