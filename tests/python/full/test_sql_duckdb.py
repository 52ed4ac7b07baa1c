"""SQL results equal DuckDB's on the same data: 30+ queries covering projections, filters on
every column type, group-bys with the usual aggregates, joins between symbols, window
functions, ordering and limits, NULL handling, time buckets on the index and time travel.

Sheaf holds ``t`` (v0: the first rows; v1: the rest appended; snapshot ``first`` = v0) and
``dim``; DuckDB holds the same rows as ``t``, ``t_v0`` and ``dim`` (Arrow tables in memory).
Rows are compared as multisets after normalising numbers (floats to 9 significant digits,
integers and floats alike) and timestamps (ISO text)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, List, Optional, Tuple

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import sheaf

N = 3000
V0_ROWS = 2400
T0 = np.datetime64("2024-03-01T00:00:00", "ns")
GROUPS = ["alpha", "beta", "gamma", "delta", None]


def table() -> pa.Table:
    rng = np.random.default_rng(20261207)
    i = np.arange(N)
    ts = T0 + (i * 7 * 60).astype("timedelta64[s]")  # every 7 minutes: about 14.6 days
    grp = [GROUPS[int(g)] for g in rng.integers(0, len(GROUPS), N)]
    x = rng.normal(100.0, 15.0, N).round(3)
    x_valid = rng.random(N) > 0.05
    qty = rng.integers(-50, 500, N).astype(np.int32)
    qty_valid = rng.random(N) > 0.1
    flag = rng.random(N) > 0.4
    flag_valid = rng.random(N) > 0.05
    code = [f"c{int(c):03d}" for c in rng.integers(0, 40, N)]
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("ns")),
            "id": pa.array(i, pa.int64()),
            "grp": pa.array(grp, pa.string()),
            "x": pa.array(x, pa.float64(), mask=~x_valid),
            "qty": pa.array(qty, pa.int32(), mask=~qty_valid),
            "flag": pa.array(flag, pa.bool_(), mask=~flag_valid),
            "code": pa.array(code, pa.string()),
        }
    )


def dim() -> pa.Table:
    return pa.table(
        {
            "grp": ["alpha", "beta", "gamma", "epsilon"],
            "label": ["A", "B", "G", "E"],
            "weight": [1.5, 2.0, 0.5, 9.0],
        }
    )


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    full = table()
    store = sheaf.open("lmdb://" + str(tmp_path_factory.mktemp("sql") / "store"))
    lib = store.create_library("lib", rows_per_segment=500)
    lib.write("t", full.slice(0, V0_ROWS), index="ts")
    lib.append("t", full.slice(V0_ROWS))
    lib.snapshot("first", versions={"t": 0})
    lib.write("dim", dim())
    con = duckdb.connect()
    t_all, t_v0, d = full, full.slice(0, V0_ROWS), dim()  # noqa: F841 (DuckDB reads them by name)
    con.execute("CREATE TABLE t AS SELECT * FROM t_all")
    con.execute("CREATE TABLE t_v0 AS SELECT * FROM t_v0")
    con.execute("CREATE TABLE dim AS SELECT * FROM d")
    yield lib, con
    con.close()
    store.close()


def norm(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        f = float(value)
        if math.isnan(f):
            return "nan"
        return float(f"{f:.9g}")
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat()
    return value


def rows_of(items: List[Tuple[Any, ...]]) -> List[Tuple[Any, ...]]:
    normed = [tuple(norm(v) for v in row) for row in items]
    return sorted(normed, key=lambda r: tuple((v is None, repr(v)) for v in r))


def sheaf_rows(lib: Any, query: str) -> List[Tuple[Any, ...]]:
    result = lib.sql(query, output_format="pyarrow")
    columns = [result.column(i).to_pylist() for i in range(result.num_columns)]
    return list(zip(*columns)) if columns else []


# (name, Sheaf's SQL, DuckDB's SQL when it differs)
QUERIES: List[Tuple[str, str, Optional[str]]] = [
    ("projection", "SELECT id, grp, x FROM t", None),
    ("count", "SELECT count(*), count(x), count(qty), count(grp) FROM t", None),
    ("filter-int", "SELECT id, qty FROM t WHERE qty > 400", None),
    ("filter-int-range", "SELECT id FROM t WHERE id BETWEEN 100 AND 180 AND qty <= 0", None),
    ("filter-float", "SELECT id, x FROM t WHERE x < 75.5", None),
    ("filter-string", "SELECT id FROM t WHERE grp = 'beta' AND code >= 'c030'", None),
    ("filter-like", "SELECT id, code FROM t WHERE code LIKE 'c01%'", None),
    (
        "filter-in",
        "SELECT id FROM t WHERE grp IN ('alpha', 'gamma') AND qty IN (1, 2, 3, 4, 5)",
        None,
    ),
    ("filter-bool", "SELECT id FROM t WHERE flag AND qty < 0", None),
    ("filter-not-bool", "SELECT count(*) FROM t WHERE NOT flag", None),
    (
        "filter-timestamp",
        "SELECT id FROM t WHERE ts >= TIMESTAMP '2024-03-05 00:00:00' "
        "AND ts < TIMESTAMP '2024-03-05 06:00:00'",
        None,
    ),
    ("filter-null", "SELECT id FROM t WHERE x IS NULL OR grp IS NULL AND qty IS NOT NULL", None),
    (
        "groupby-aggregates",
        "SELECT grp, count(*), sum(qty), min(x), max(x), avg(x), min(code), max(ts) "
        "FROM t GROUP BY grp",
        None,
    ),
    ("groupby-two-keys", "SELECT grp, flag, count(*), sum(x) FROM t GROUP BY grp, flag", None),
    ("groupby-stddev", "SELECT grp, stddev_samp(x), var_samp(x) FROM t GROUP BY grp", None),
    ("count-distinct", "SELECT grp, count(DISTINCT code) FROM t GROUP BY grp", None),
    (
        "having",
        "SELECT code, sum(qty) AS s FROM t GROUP BY code HAVING sum(qty) > 17000",
        None,
    ),
    ("distinct", "SELECT DISTINCT grp, flag FROM t", None),
    ("order-limit", "SELECT id, x FROM t WHERE x IS NOT NULL ORDER BY x DESC, id LIMIT 7", None),
    ("order-offset", "SELECT id FROM t ORDER BY id LIMIT 5 OFFSET 2990", None),
    (
        "join-inner",
        "SELECT t.id, dim.label, t.x * dim.weight FROM t JOIN dim ON t.grp = dim.grp "
        "WHERE t.id < 200",
        None,
    ),
    (
        "join-left",
        "SELECT t.grp, dim.label, count(*) FROM t LEFT JOIN dim ON t.grp = dim.grp "
        "GROUP BY t.grp, dim.label",
        None,
    ),
    (
        "join-self",
        "SELECT a.id, b.id FROM t a JOIN t b ON a.id + 1 = b.id WHERE a.qty > 450 AND b.qty > 0",
        None,
    ),
    (
        "window-row-number",
        "SELECT id, row_number() OVER (PARTITION BY grp ORDER BY ts) FROM t WHERE id < 300",
        None,
    ),
    (
        "window-running-sum",
        "SELECT id, sum(qty) OVER (ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
        "FROM t",
        None,
    ),
    (
        "window-lag-rank",
        "SELECT id, lag(x, 1) OVER (ORDER BY id), rank() OVER (PARTITION BY code ORDER BY qty) "
        "FROM t WHERE id < 500",
        None,
    ),
    (
        "coalesce-case",
        "SELECT id, coalesce(grp, 'none'), CASE WHEN x > 110 THEN 'high' "
        "WHEN x < 90 THEN 'low' ELSE 'mid' END FROM t",
        None,
    ),
    (
        "null-aggregates",
        "SELECT sum(x), count(x), avg(qty) FROM t WHERE grp IS NULL",
        None,
    ),
    (
        "time-bucket-hour",
        "SELECT date_trunc('hour', ts) AS h, count(*), sum(qty) FROM t GROUP BY h",
        None,
    ),
    (
        "time-bucket-day",
        "SELECT date_trunc('day', ts) AS d, avg(x), max(qty) FROM t GROUP BY d",
        None,
    ),
    ("extract-hour", "SELECT extract(hour FROM ts) AS h, count(*) FROM t GROUP BY h", None),
    (
        "subquery",
        "SELECT id FROM t WHERE x > (SELECT avg(x) + 2 * stddev_samp(x) FROM t)",
        None,
    ),
    (
        "cte-union",
        "WITH hi AS (SELECT id FROM t WHERE qty > 490), lo AS (SELECT id FROM t WHERE qty < -45) "
        "SELECT id, 'hi' FROM hi UNION ALL SELECT id, 'lo' FROM lo",
        None,
    ),
    ("strings", "SELECT upper(grp), length(code), grp || '-' || code FROM t WHERE id < 50", None),
    (
        "arithmetic-casts",
        "SELECT id, CAST(qty AS DOUBLE) / 7, qty % 7, abs(qty) FROM t WHERE id < 100",
        None,
    ),
    (
        "time-travel-version",
        "SELECT count(*), sum(qty) FROM at_version('t', 0)",
        "SELECT count(*), sum(qty) FROM t_v0",
    ),
    (
        "time-travel-snapshot",
        "SELECT grp, max(ts) FROM at_snapshot('t', 'first') GROUP BY grp",
        "SELECT grp, max(ts) FROM t_v0 GROUP BY grp",
    ),
    (
        "time-travel-diff",
        "SELECT count(*) FROM t WHERE id NOT IN (SELECT id FROM at_version('t', 0))",
        "SELECT count(*) FROM t WHERE id NOT IN (SELECT id FROM t_v0)",
    ),
]


def test_there_are_at_least_30_queries():
    assert len(QUERIES) >= 30
    assert len({name for name, _, _ in QUERIES}) == len(QUERIES)


@pytest.mark.parametrize("name,query,duck_query", QUERIES, ids=[q[0] for q in QUERIES])
def test_results_equal_duckdb(engines, name, query, duck_query):
    lib, con = engines
    got = rows_of(sheaf_rows(lib, query))
    want = rows_of(con.execute(duck_query or query).fetchall())
    assert len(got) == len(want), (name, len(got), len(want))
    assert got == want, name
    assert len(want) > 0, f"{name}: an empty result proves nothing"


def test_a_selective_filter_loads_few_segments(engines):
    lib, _ = engines
    from sheaf import _lib

    def loaded():
        import json

        out = _lib.ffi.new("SheafBytes *")
        slot = _lib.errslot()
        _lib.check(_lib.lib.sheaf_library_stats(lib._h, out, slot), slot)
        return int(json.loads(_lib.take_bytes(out))["segments_loaded"])

    before = loaded()
    got = lib.sql("SELECT count(*) AS n FROM t WHERE id BETWEEN 10 AND 20", output_format="pyarrow")
    assert got.column(0).to_pylist() == [11]
    assert loaded() - before == 1  # of 6 segments (500 rows each)


def test_pandas_and_polars_outputs(engines):
    lib, _ = engines
    frame = lib.sql(
        "SELECT grp, count(*) AS n FROM t GROUP BY grp ORDER BY grp", output_format="pandas"
    )
    assert list(frame.columns) == ["grp", "n"]
    assert int(frame["n"].sum()) == N
    import polars

    pl_frame = lib.sql("SELECT id FROM t WHERE id < $1", [5], output_format="polars")
    assert isinstance(pl_frame, polars.DataFrame)
    assert pl_frame["id"].to_list() == [0, 1, 2, 3, 4]
