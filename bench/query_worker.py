"""One H2O-style query for one engine, in a fresh process: ``python query_worker.py '<json>'``.

Engines:
- ``arcticdb``: ``lib.read(symbol, query_builder=q)`` (ArcticDB's QueryBuilder, pandas output).
- ``sheaf``: ``lib.read(symbol, query_builder=q, output_format="pandas")`` (Sheaf's
  QueryBuilder, evaluated in Rust inside the read, pandas output).
- ``pandas``: the frame already in memory (loaded before the clock starts), pandas groupby.
- ``sheaf-sql``: the same queries as SQL, ``lib.sql(SQL[name], output_format="pandas")`` over
  the Sheaf store (DataFusion inside the library).
- ``duckdb-arrow``: DuckDB's SQL over the data as an Arrow table in memory (loaded before the
  clock starts), ``.df()`` output.
- ``duckdb-parquet``: DuckDB's SQL over the data as a Parquet file (written by ``prepare``,
  zstd, one row group per million rows), ``.df()`` output.

The queries are the ones ArcticDB's benchmarks name after the H2O db-benchmark (q1, q3, q4,
adv_q2) plus its numeric filter (``v3 < 1.0``, read with ``columns=["v3"]`` by both stores).
The three engines compute the same result; a group-by's rows come in a different order:
Sheaf's are sorted by key (indexed by it), ArcticDB's come unsorted and pandas' in first-seen
order (``sort=False``). The ``rows`` reported is ``len(result)`` for every engine, so the counts
compare: the number of groups of a group-by, the rows passing the filter.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit, measure, spec_from_argv

# name -> (group column, {column: aggregation}); "filter" is v3 < 1.0 keeping column v3.
QUERIES: Dict[str, Any] = {
    "q1": ("id1", {"v1": "sum"}),
    "q3": ("id3", {"v1": "sum", "v3": "sum"}),
    "q4": ("id6", {"v1": "sum", "v2": "sum"}),
    "adv_q2": ("id3", {"v1": "max", "v2": "min"}),
    "filter": None,
}


# The same queries as SQL (the table is named h2o in every engine).
SQL: Dict[str, str] = {
    "q1": "SELECT id1, sum(v1) AS v1 FROM h2o GROUP BY id1",
    "q3": "SELECT id3, sum(v1) AS v1, sum(v3) AS v3 FROM h2o GROUP BY id3",
    "q4": "SELECT id6, sum(v1) AS v1, sum(v2) AS v2 FROM h2o GROUP BY id6",
    "adv_q2": "SELECT id3, max(v1) AS v1, min(v2) AS v2 FROM h2o GROUP BY id3",
    "filter": "SELECT v3 FROM h2o WHERE v3 < 1.0",
}


def parquet_path(store: str) -> str:
    return os.path.join(store, "h2o.parquet")


def describe(name: str) -> str:
    q = QUERIES[name]
    if q is None:
        return "filter v3 < 1.0, column v3"
    group, aggs = q
    return f"groupby {group}: " + ", ".join(f"{f}({c})" for c, f in aggs.items())


def pandas_query(name: str, df: Any) -> Any:
    q = QUERIES[name]
    if q is None:
        return df.loc[df["v3"] < 1.0, ["v3"]]
    group, aggs = q
    return df.groupby(group, sort=False).agg(aggs)


def load_frame(path: str) -> Any:
    import pandas as pd
    import pyarrow as pa

    with pa.memory_map(path) as source:
        table = pa.ipc.open_file(source).read_all()
    times = table.column("time").to_numpy()
    frame = table.drop_columns(["time"]).to_pandas()
    frame.index = pd.DatetimeIndex(times, name="time")
    return frame


def main() -> None:
    spec = spec_from_argv()
    engine: str = spec["engine"]
    op: str = spec["op"]
    import numpy  # noqa: F401
    import pandas
    import pyarrow

    result: Dict[str, Any] = {"versions": {"pandas": pandas.__version__}}
    if op == "prepare":
        df = load_frame(spec["data"])
        if engine == "arcticdb":
            import arcticdb

            os.makedirs(spec["store"], exist_ok=True)
            ac = arcticdb.Arctic("lmdb://" + os.path.abspath(spec["store"]))
            ac.get_library("h2o", create_if_missing=True).write("h2o", df)
        elif engine == "sheaf":
            import sheaf

            os.makedirs(spec["store"], exist_ok=True)
            store = sheaf.open("lmdb://" + os.path.abspath(spec["store"]))
            store.get_library("h2o", create_if_missing=True).write("h2o", df)
        elif engine == "duckdb-parquet":
            import pyarrow.parquet as pq

            os.makedirs(spec["store"], exist_ok=True)
            table = pyarrow.Table.from_pandas(df.reset_index(), preserve_index=False)
            pq.write_table(
                table, parquet_path(spec["store"]), compression="zstd", row_group_size=1_000_000
            )
        emit(result)
        return

    name: str = spec["query"]
    reps: int = spec.get("reps", 3)
    call: Callable[[int], Any]
    if engine == "arcticdb":
        import arcticdb

        lib = arcticdb.Arctic("lmdb://" + os.path.abspath(spec["store"]))["h2o"]
        result["versions"]["arcticdb"] = arcticdb.__version__

        def call(i: int) -> Any:
            q = arcticdb.QueryBuilder()
            spec_q = QUERIES[name]
            if spec_q is None:
                q = q[q["v3"] < 1.0]
                return lib.read("h2o", columns=["v3"], query_builder=q).data
            group, aggs = spec_q
            q = q.groupby(group).agg(aggs)
            return lib.read("h2o", query_builder=q).data

    elif engine == "pandas":
        df = load_frame(spec["data"])

        def call(i: int) -> Any:
            return pandas_query(name, df)

    elif engine == "sheaf":
        import sheaf

        lib = sheaf.open("lmdb://" + os.path.abspath(spec["store"]))["h2o"]
        result["versions"]["sheaf"] = sheaf.__version__

        def call(i: int) -> Any:
            q = sheaf.QueryBuilder()
            spec_q = QUERIES[name]
            if spec_q is None:
                q = q[q["v3"] < 1.0]
                return lib.read("h2o", columns=["v3"], query_builder=q, output_format="pandas").data
            group, aggs = spec_q
            q = q.groupby(group).agg(aggs)
            return lib.read("h2o", query_builder=q, output_format="pandas").data

    elif engine == "sheaf-sql":
        import sheaf

        lib = sheaf.open("lmdb://" + os.path.abspath(spec["store"]))["h2o"]
        result["versions"]["sheaf"] = sheaf.__version__

        def call(i: int) -> Any:
            return lib.sql(SQL[name], output_format="pandas")

    elif engine in ("duckdb-arrow", "duckdb-parquet"):
        import duckdb

        result["versions"]["duckdb"] = duckdb.__version__
        con = duckdb.connect()
        if engine == "duckdb-arrow":
            import pyarrow as pa

            with pa.memory_map(spec["data"]) as source:
                h2o_table = pa.ipc.open_file(source).read_all()
            con.register("h2o", h2o_table)
        else:
            path = parquet_path(spec["store"]).replace("'", "''")
            con.execute(f"CREATE VIEW h2o AS SELECT * FROM read_parquet('{path}')")

        def call(i: int) -> Any:
            return con.execute(SQL[name]).df()

    else:
        raise SystemExit(f"unknown engine {engine!r}")

    rows: List[int] = []
    result.update(measure(lambda i: _rows(call(i), rows), reps, spec.get("warmup", 1)))
    result["rows"] = rows[-1] if rows else None
    emit(result)


def _rows(out: Any, rows: List[int]) -> Any:
    rows.append(len(out))
    return out


if __name__ == "__main__":
    main()
