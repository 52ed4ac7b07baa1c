"""Lazy interop: reads that stream segment by segment into pyarrow, DuckDB and polars, the
polars scan with its pushdown, and the memory a streamed DuckDB aggregation needs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import sheaf
import sheaf.polars as sheaf_polars


@pytest.fixture
def seglib(store):
    """A library storing 1 000 rows per segment."""
    return store.create_library("seg", sheaf.LibraryOptions(rows_per_segment=1000))


def _same(got: pa.Table, want: pa.Table) -> bool:
    """Equal columns and values, NaN equal to NaN (``Table.equals`` says NaN != NaN)."""
    return got.schema.remove_metadata().equals(want.schema.remove_metadata()) and bool(
        got.to_pandas().equals(want.to_pandas())
    )


def _table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[::97] = np.nan
    k = rng.integers(0, 10, size=n)
    return pa.table(
        {
            "t": pa.array(np.arange(n, dtype="int64") * 1_000_000_000, pa.timestamp("ns")),
            "k": pa.array(k, mask=(np.arange(n) % 13 == 0)),
            "x": x,
            "s": pa.array([f"n{i % 7}" for i in range(n)]),
            "b": pa.array(np.arange(n) % 3 == 0),
        }
    )


def test_a_reader_streams_one_batch_per_segment(seglib):
    data = _table(4500)
    seglib.write("sym", data, index="t")
    item = seglib.read("sym", output_format="reader")
    assert isinstance(item.data, pa.RecordBatchReader)
    assert item.version == 0
    batches = list(item.data)
    assert [b.num_rows for b in batches] == [1000, 1000, 1000, 1000, 500]
    assert _same(pa.Table.from_batches(batches), data)


def test_a_reader_takes_ranges_columns_and_queries(seglib):
    data = _table(4500)
    seglib.write("sym", data, index="t")
    q = sheaf.QueryBuilder()
    q = q[q["k"] == 3]
    got = seglib.read(
        "sym", columns=["k", "s"], query_builder=q, output_format="reader"
    ).data.read_all()
    want = data.filter(pa.compute.equal(data["k"], 3)).select(["t", "k", "s"])
    assert _same(got, want)
    head = seglib.read("sym", row_range=(10, 20), output_format="reader").data.read_all()
    assert _same(head, data.slice(10, 10))


def test_the_lazy_arrow_stream_is_a_new_read_each_time(seglib):
    data = _table(2500)
    seglib.write("sym", data, index="t")
    lazy = seglib.read("sym", lazy=True)
    lazy = lazy[lazy["s"] == "n3"]
    want = data.filter(pa.compute.equal(data["s"], "n3"))
    first = pa.RecordBatchReader.from_stream(lazy)
    assert _same(first.read_all(), want)
    newer = _table(700, seed=1)
    seglib.write("sym", newer, index="t")
    again = pa.table(lazy)  # pyarrow takes __arrow_c_stream__ too; the latest version now
    assert _same(again, newer.filter(pa.compute.equal(newer["s"], "n3")))


def test_duckdb_and_polars_consume_readers_and_lazy_reads(seglib):
    data = _table(6000)
    seglib.write("sym", data, index="t")
    frame = data.to_pandas()
    query = (
        "SELECT s, sum(x) FILTER (WHERE NOT isnan(x)) AS x, count(k) AS n FROM {} "
        "GROUP BY s ORDER BY s"
    )
    want = duckdb.sql(query.format("frame")).fetchall()

    reader = seglib.read("sym", output_format="reader").data  # noqa: F841 - DuckDB finds it
    got = duckdb.sql(query.format("reader")).fetchall()
    assert [r[0] for r in got] == [f"n{i}" for i in range(7)]
    assert [r[2] for r in got] == [r[2] for r in want]
    np.testing.assert_allclose([r[1] for r in got], [r[1] for r in want])

    lazy = seglib.read("sym", lazy=True)  # noqa: F841 - DuckDB scans its __arrow_c_stream__
    count = duckdb.sql("SELECT count(*) FROM lazy WHERE b").fetchall()
    assert count == [(int(frame["b"].sum()),)]

    polars_frame = pl.from_arrow(seglib.read("sym", output_format="reader").data)
    assert polars_frame.height == 6000
    assert polars_frame["k"].null_count() == int(frame["k"].isna().sum())


PREDICATES = [
    pl.col("k") > 4,
    (pl.col("k") >= 2) & (pl.col("s") == "n1"),
    pl.col("s") != "n0",
    pl.col("b"),
    pl.col("k").is_null(),
    pl.col("k").is_not_null() & pl.col("b"),
    pl.col("k").is_between(3, 6),
    pl.col("k").is_between(3, 6, closed="none"),
    pl.col("t") >= pl.datetime(1970, 1, 1, 1, 0, 0),
    5 < pl.col("k"),  # noqa: SIM300 - the literal on the left is the case under test
    pl.col("x") > 0.5,  # floats: polars alone (NaN rules), still exact
    pl.col("k").is_in([1, 2]),
    (pl.col("k") == 1) | (pl.col("s") == "n2"),
    (pl.col("x") < 0) & (pl.col("k") < 3),
]


@pytest.mark.parametrize("predicate", PREDICATES, ids=[str(p) for p in PREDICATES])
def test_polars_scan_matches_polars_on_the_whole_frame(seglib, predicate):
    data = _table(5500)
    seglib.write("sym", data, index="t")
    whole = pl.from_arrow(data)
    lazy = sheaf_polars.scan(seglib, "sym")
    got = lazy.filter(predicate).select("t", "k", "s").collect()
    want = whole.filter(predicate).select("t", "k", "s")
    assert got.equals(want)
    limited = lazy.filter(predicate).head(17).collect()
    assert limited.equals(whole.filter(predicate).head(17))


def test_polars_scan_pushes_columns_filters_and_limits_into_the_read(seglib, monkeypatch):
    seglib.write("sym", _table(5000), index="t")
    calls = []
    original = sheaf.Library.read

    def spy(self, symbol, *args, **kwargs):
        calls.append(kwargs)
        return original(self, symbol, *args, **kwargs)

    monkeypatch.setattr(sheaf.Library, "read", spy)
    lazy = sheaf_polars.scan(seglib, "sym")
    calls.clear()
    out = lazy.filter((pl.col("k") == 3) & (pl.col("x") > 0)).select("s").head(5).collect()
    assert out.columns == ["s"] and out.height == 5
    (call,) = calls
    assert set(call["columns"]) == {"s", "k", "x"}
    plan = json.dumps(call["query_builder"].to_json())
    assert '"col": "k"' in plan and '"col": "x"' not in plan  # the float half stays in polars
    assert "head" not in plan  # not all of the filter is Sheaf's, so neither is the limit

    calls.clear()
    assert lazy.select("k").head(4).collect().height == 4  # no filter: the limit is Sheaf's
    (call,) = calls
    assert call["columns"] == ["k"]
    assert "head" in json.dumps(call["query_builder"].to_json())


def test_polars_scan_pins_the_version_it_was_made_for(seglib):
    seglib.write("sym", _table(100), index="t")
    lazy = sheaf_polars.scan(seglib, "sym")
    seglib.write("sym", _table(50), index="t")
    assert lazy.collect().height == 100
    assert sheaf_polars.scan(seglib, "sym").collect().height == 50
    assert sheaf_polars.scan(seglib, "sym", as_of=0).select(pl.len()).collect().item() == 100


_PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, time
    import duckdb, sheaf

    def anon_kib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        raise RuntimeError("no RssAnon")

    uri, mode = sys.argv[1], sys.argv[2]
    lib = sheaf.open(uri).get_library("big")
    duckdb.sql("SELECT 1").fetchall()  # DuckDB's own start-up is not the scan's memory
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], anon_kib())
            time.sleep(0.002)

    base = anon_kib()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        if mode == "stream":
            reader = lib.read("sym", output_format="reader").data
            query = "SELECT k, avg(x0 + x1 + x2 + x3) FROM reader GROUP BY k"
        else:
            whole = lib.read("sym", output_format="pyarrow").data
            query = "SELECT k, avg(x0 + x1 + x2 + x3) FROM whole GROUP BY k"
        result = duckdb.sql(query).fetchall()
    finally:
        stop.set()
        sampler.join()
    print(json.dumps({"groups": len(result), "peak_kib": max(peak[0], anon_kib()) - base}))
    """
)


def test_a_streamed_duckdb_aggregation_needs_a_fraction_of_the_symbol(tmp_path):
    """The symbol is 10M rows x 5 columns = 400 MB; streamed through a reader, DuckDB's
    aggregation over it holds a few batches at a time (DuckDB pulls up to a million rows per
    scan thread, about 70 MB here, whatever the symbol's size). The same query over a materialised
    read is the control: it must need the whole symbol, or the measurement proves nothing.
    Anonymous memory is measured (RssAnon): LMDB's map is file-backed and read through."""
    uri = "lmdb://" + str(tmp_path / "store")
    store = sheaf.open(uri)
    lib = store.create_library("big")
    rows, parts = 10_000_000, 10
    size = rows * 5 * 8
    for p in range(parts):
        n = rows // parts
        rng = np.random.default_rng(p)
        part = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
        part["k"] = rng.integers(0, 100, size=n)
        (lib.write if p == 0 else lib.append)("sym", part)
    store.close()

    def peak(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _PEAK_SCRIPT, uri, mode],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out)
        assert result["groups"] == 100
        return int(result["peak_kib"]) * 1024

    streamed, materialised = peak("stream"), peak("materialise")
    assert materialised > 0.9 * size, (materialised, size)
    assert streamed < 0.25 * size, (streamed, size)
