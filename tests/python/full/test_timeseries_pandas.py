"""Time series with pandas, pyarrow and polars: DatetimeIndex frames through append / update /
date_range reads, column selections that keep the pandas index, RangeIndex slices, descriptions,
batches, polars input, and errors raised while a stream is consumed."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

import sheaf
from sheaf import ReadRequest, UpdatePayload, WritePayload


def ts_frame(start="2024-01-01", n=10, tz=None, freq="D", name=None, seed=0):
    idx = pd.date_range(start, periods=n, freq=freq, tz=tz, name=name)
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"a": np.arange(n, dtype=np.int64), "b": rng.random(n), "c": [f"s{i}" for i in range(n)]},
        index=idx,
    )


@pytest.fixture
def tlib(store):
    return store.create_library("ts", rows_per_segment=3)


@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
def test_append_update_and_date_range_with_a_datetime_index(tlib, tz):
    df = ts_frame(tz=tz)
    tlib.write("s", df.iloc[:6])
    tlib.append("s", df.iloc[6:])
    assert_frame_equal(tlib.read("s").data, df, check_freq=False)
    # update days 3..4 with new values
    new = pd.DataFrame({"a": [-3, -4], "b": [0.0, 0.0], "c": ["x", "y"]}, index=df.index[3:5])
    tlib.update("s", new)
    expected = pd.concat([df.iloc[:3], new, df.iloc[5:]])
    assert_frame_equal(tlib.read("s").data, expected, check_freq=False)
    # inclusive date_range with pandas Timestamps
    start, end = df.index[2], df.index[5]
    got = tlib.read("s", date_range=(start, end)).data
    assert_frame_equal(got, expected.loc[start:end], check_freq=False)
    got = tlib.read("s", date_range=(None, df.index[1])).data
    assert_frame_equal(got, expected.iloc[:2], check_freq=False)
    # delete a range
    tlib.delete_data_in_range("s", (df.index[0], df.index[2]))
    assert_frame_equal(tlib.read("s").data, expected.iloc[3:], check_freq=False)
    assert_frame_equal(tlib.read("s", as_of=1).data, df, check_freq=False)


def test_update_with_an_explicit_date_range_and_timestamps_of_another_zone(tlib):
    df = ts_frame(tz="UTC", freq="h", n=24)
    tlib.write("s", df)
    new = ts_frame(tz="UTC", freq="h", n=24, seed=5)
    new["a"] = -1
    tokyo = "Asia/Tokyo"
    lo = pd.Timestamp("2024-01-01 10:00", tz="UTC").tz_convert(tokyo)  # same instants
    hi = pd.Timestamp("2024-01-01 12:00", tz="UTC").tz_convert(tokyo)
    tlib.update("s", new, date_range=(lo, hi))
    got = tlib.read("s").data
    assert (got["a"].iloc[10:13] == -1).all()
    assert (got["a"].drop(got.index[10:13]) == df["a"].drop(df.index[10:13])).all()
    assert len(got) == 24


def test_naive_datetimes_are_utc(tlib):
    df = ts_frame(tz="UTC", freq="h", n=5)
    tlib.write("s", df)
    naive = tlib.read("s", date_range=(dt.datetime(2024, 1, 1, 1), dt.datetime(2024, 1, 1, 2)))
    assert list(naive.data["a"]) == [1, 2]


def test_column_selection_keeps_the_datetime_index(tlib):
    df = ts_frame(name="when")
    tlib.write("s", df)
    got = tlib.read("s", columns=["c", "a"]).data
    assert_frame_equal(got, df[["c", "a"]], check_freq=False)
    only_index = tlib.read("s", columns=[]).data
    assert list(only_index.columns) == [] and only_index.index.equals(df.index)
    got = tlib.read("s", columns=["b"], date_range=(df.index[4], None)).data
    assert_frame_equal(got, df[["b"]].iloc[4:], check_freq=False)
    with pytest.raises(sheaf.SchemaError):
        tlib.read("s", columns=["zz"])


def test_no_columns_on_a_range_index_keeps_the_rows_read(tlib):
    """``columns=[]`` returns the index alone, with as many rows as the read selects: ranged
    reads, head/tail, queries and appended versions (pyarrow drops the row count of a table
    without columns when its metadata is replaced)."""
    df = pd.DataFrame({"c": range(10)})
    tlib.write("s", df)
    cases = {
        "row_range": (tlib.read("s", columns=[], row_range=(2, 5)).data, df[[]].iloc[2:5]),
        "head": (tlib.head("s", 3, columns=[]).data, df[[]].iloc[:3]),
        "tail": (tlib.tail("s", 3, columns=[]).data, df[[]].iloc[-3:]),
    }
    q = sheaf.QueryBuilder()
    q = q[q["c"] > 3]
    filtered = tlib.read("s", columns=[], query_builder=q).data
    cases["query"] = (filtered, pd.DataFrame(index=pd.RangeIndex(6), columns=df[[]].columns))
    for name, (got, want) in cases.items():
        assert_frame_equal(got, want, obj=name)
    table = tlib.read("s", columns=[], row_range=(2, 5), output_format="pyarrow").data
    assert table.num_rows == 3
    tlib.append("s", pd.DataFrame({"c": range(10, 14)}, index=pd.RangeIndex(10, 14)))
    both = pd.DataFrame({"c": range(14)})
    assert_frame_equal(tlib.read("s", columns=[]).data, both[[]])
    assert_frame_equal(tlib.read("s", columns=[], row_range=(8, 12)).data, both[[]].iloc[8:12])


@pytest.mark.parametrize(
    "index",
    [
        pd.Index(["x", "y", "z", "w", "v"], name="k"),
        pd.Index(["x", "y", "z", "w", "v"]),
        pd.Index([5, 3, 9, 1, 0]),  # unsorted ints: no Sheaf index
        pd.MultiIndex.from_arrays([list("aabbc"), [1, 2, 1, 2, 1]], names=["l0", "l1"]),
    ],
    ids=["named-str", "unnamed-str", "unsorted-int", "multi"],
)
def test_column_selection_keeps_other_pandas_indexes(tlib, index):
    df = pd.DataFrame(
        {"a": np.arange(5), "b": list("pqrst"), "c": np.linspace(0, 1, 5)}, index=index
    )
    tlib.write("s", df)
    assert_frame_equal(tlib.read("s", columns=["c", "a"]).data, df[["c", "a"]])
    assert_frame_equal(tlib.read("s", columns=["b"], row_range=(1, 3)).data, df[["b"]].iloc[1:3])
    assert_frame_equal(tlib.read("s", columns=[]).data, df[[]])
    assert_frame_equal(tlib.tail("s", 2, columns=["a"]).data, df[["a"]].iloc[-2:])
    (item,) = tlib.read_batch([ReadRequest("s", columns=["a"])])
    assert_frame_equal(item.data, df[["a"]])


def test_column_selection_through_a_snapshot_of_a_deleted_version(tlib):
    df = pd.DataFrame({"a": [1, 2], "b": [3, 4]}, index=pd.Index(["x", "y"], name="k"))
    tlib.write("s", df)
    tlib.snapshot("snap")
    tlib.delete("s")
    assert_frame_equal(tlib.read("s", as_of="snap", columns=["b"]).data, df[["b"]])


@pytest.mark.parametrize("index", [pd.RangeIndex(8), pd.RangeIndex(10, 26, 2, name="r")])
def test_row_ranges_of_a_range_index(tlib, index):
    df = pd.DataFrame({"a": np.arange(8), "b": list("abcdefgh")}, index=index)
    tlib.write("s", df)
    for rr in [(2, 5), (-3, None), (None, -6), (5, 2), (0, 100)]:
        got = tlib.read("s", row_range=rr).data
        assert_frame_equal(got, df.iloc[slice(*rr)], check_index_type=True)
        assert isinstance(got.index, pd.RangeIndex)
    assert_frame_equal(tlib.head("s", 3).data, df.iloc[:3])
    assert_frame_equal(tlib.head("s", -3).data, df.iloc[:-3])
    assert_frame_equal(tlib.tail("s", 3).data, df.iloc[-3:])
    assert_frame_equal(tlib.tail("s", -3).data, df.iloc[3:])
    assert_frame_equal(tlib.tail("s", 2, columns=["b"]).data, df[["b"]].iloc[-2:])


def test_appending_to_a_range_index_continues_it(tlib):
    df = pd.DataFrame({"a": np.arange(4)}, index=pd.RangeIndex(10, 18, 2))
    tlib.write("s", df)
    tlib.append("s", pd.DataFrame({"a": [4, 5]}))
    got = tlib.read("s").data
    assert list(got["a"]) == [0, 1, 2, 3, 4, 5]
    assert got.index.equals(pd.RangeIndex(10, 22, 2))
    assert list(tlib.tail("s", 2).data.index) == [18, 20]


def test_series_with_ranges(tlib):
    s = pd.Series(np.arange(6.0), index=pd.date_range("2024-01-01", periods=6), name="px")
    tlib.write("s", s)
    got = tlib.read("s", row_range=(1, 3)).data
    assert_series_equal(got, s.iloc[1:3], check_freq=False)
    more = pd.Series([6.0], index=pd.date_range("2024-01-07", periods=1), name="px")
    tlib.append("s", more)
    assert_series_equal(tlib.tail("s", 2).data, pd.concat([s, more]).iloc[-2:], check_freq=False)


def test_get_description_with_pandas(tlib):
    df = ts_frame(tz="Europe/Paris", freq="h", n=30)
    before = time.time_ns()
    tlib.write("s", df, metadata={"m": 1})
    after = time.time_ns()
    desc = tlib.get_description("s")
    first, last = desc.date_range
    assert isinstance(first, pd.Timestamp)
    assert first == df.index[0] and last == df.index[-1]
    assert str(first.tz) == "Europe/Paris"
    assert desc.row_count == 30 and desc.segments == 10
    assert [c.name for c in desc.columns] == ["a", "b", "c"]
    assert desc.columns[0].dtype == "Int64"
    assert desc.index.name == "__index_level_0__"
    assert before <= desc.last_update_time_ns <= after  # the time of this write
    written = pd.Timestamp(desc.last_update_time_ns, tz="UTC")
    assert pd.Timestamp(desc.last_update_time) == written.floor("us")
    naive = ts_frame(n=3)
    tlib.write("n", naive)
    first, last = tlib.get_description("n").date_range
    assert first.tz is None and first == naive.index[0] and last == naive.index[-1]


def test_as_of_with_pandas_timestamps(tlib):
    tlib.write("s", ts_frame(n=2))
    between = pd.Timestamp.now(tz="UTC")
    tlib.append("s", ts_frame(start="2024-02-01", n=1))
    assert tlib.read("s", as_of=between).version == 0
    assert tlib.read("s", as_of=between.tz_localize(None)).version == 0
    assert tlib.read("s", as_of=pd.Timestamp.now(tz="UTC")).version == 1


def test_pyarrow_and_polars_output_of_ranged_reads(tlib):
    df = ts_frame(name="ts")
    tlib.write("s", df)
    table = tlib.read("s", row_range=(2, 4), columns=["a"], output_format="pyarrow").data
    assert isinstance(table, pa.Table) and table.column_names == ["ts", "a"]
    assert table.column("a").to_pylist() == [2, 3]
    frame = tlib.read(
        "s", date_range=(df.index[7], None), columns=["c"], output_format="polars"
    ).data
    assert isinstance(frame, pl.DataFrame) and frame.columns == ["ts", "c"]
    assert frame["c"].to_list() == ["s7", "s8", "s9"]


def test_batches_with_pandas(tlib):
    a, b = ts_frame(n=4), ts_frame(n=4, seed=3)
    results = tlib.write_batch([WritePayload("a", a), WritePayload("b", b, metadata={"m": 1})])
    assert [r.index for r in results] == ["__index_level_0__"] * 2
    upd = pd.DataFrame({"a": [-1], "b": [0.5], "c": ["u"]}, index=a.index[1:2])
    (u,) = tlib.update_batch([UpdatePayload("a", upd, date_range=(a.index[1], a.index[2]))])
    assert u.version == 1
    items = tlib.read_batch(["a", ReadRequest("b", date_range=(b.index[2], None), columns=["c"])])
    assert_frame_equal(items[0].data, pd.concat([a.iloc[:1], upd, a.iloc[3:]]), check_freq=False)
    assert_frame_equal(items[1].data, b[["c"]].iloc[2:], check_freq=False)
    assert items[1].metadata == {"m": 1}


def test_polars_input_and_string_views(tlib):
    p = pl.DataFrame({"x": [1, 2, 3], "s": ["a", None, "a fairly long string value"]})
    tlib.write("p", p)
    tlib.append("p", pl.DataFrame({"x": [4], "s": ["d"]}))
    out = tlib.read("p", output_format="polars").data
    assert out["s"].to_list() == ["a", None, "a fairly long string value", "d"]

    class Producer:
        """A generic ``__arrow_c_stream__`` producer (polars exports string_view / binary_view)."""

        def __init__(self, obj):
            self.obj = obj

        def __arrow_c_stream__(self, requested_schema=None):
            return self.obj.__arrow_c_stream__(requested_schema)

    views = pl.DataFrame(
        {
            "x": [1, 2, 3],
            "s": ["short", None, "a string longer than twelve bytes"],
            "b": [b"\x00\x01", b"y" * 40, None],
        }
    )
    tlib.write("v", Producer(views))
    table = tlib.read("v", output_format="pyarrow").data
    assert table.schema.field("s").type == pa.string_view()
    assert table.column("s").to_pylist() == views["s"].to_list()
    numpy_cols = tlib.read("v", output_format="numpy").data
    assert numpy_cols["s"].tolist() == ["short", None, "a string longer than twelve bytes"]
    assert numpy_cols["b"].tolist() == [b"\x00\x01", b"y" * 40, None]
    assert tlib.read("v", output_format="pandas").data["s"].tolist()[0] == "short"
    assert tlib.read("v", output_format="polars").data.equals(views)
    tlib.append("v", Producer(pl.DataFrame({"x": [4], "s": ["z"], "b": [b"q"]})))
    assert tlib.read("v", row_range=(-1, None), output_format="numpy").data["s"].tolist() == ["z"]


@pytest.mark.parametrize("fmt", ["pyarrow", "pandas", "polars", "numpy"])
def test_stream_errors_map_to_the_status_class(store, fmt):
    """A segment that fails to load while the stream is consumed is reported through the
    stream's get_last_error as "[SHEAF_ERR_NAME] message": the matching exception is raised."""
    from sheaf import _convert, _lib

    lib = store.create_library("e", rows_per_segment=2)
    lib.write("s", {"a": np.arange(8)})
    # Two read threads load at most three of the four segments ahead of the consumer: the
    # last one is loaded only after the delete, whatever the timing.
    sheaf.set_config_int("read.threads", 2)
    stream = _lib.ffi.new("struct ArrowArrayStream *")
    slot = _lib.errslot()
    _lib.check(
        _lib.lib.sheaf_table_read(
            lib._h, b"s", 1, _lib.NULL, 0, stream, _lib.NULL, _lib.NULL, slot
        ),
        slot,
    )
    sheaf.set_config_int("read.threads", 0)  # read by the read above; the default again
    lib.delete("s")  # the segments go away under the open stream
    with pytest.raises(sheaf.NoSuchVersionError) as info:
        _convert.import_output(stream, fmt, None, 8)
    assert info.value.code == 303 and isinstance(info.value, KeyError)
    assert "SHEAF_ERR_NO_SUCH_VERSION" in str(info.value)


def test_staged_pandas_chunks_detect_the_index_like_write(tlib):
    df = ts_frame(n=9)
    chunks = [df.iloc[6:], df.iloc[:3], df.iloc[3:6]]
    for chunk in chunks:
        tlib.stage("st", chunk)  # the DatetimeIndex is the index, as in write
    assert tlib.get_staged_symbols() == ["st"]
    item = tlib.finalize_staged_data("st")
    assert item.index == "__index_level_0__" and item.rows == 9
    assert_frame_equal(tlib.read("st").data, df, check_freq=False)
    more = ts_frame(start="2024-01-10", n=2)
    tlib.stage("st", more)
    tlib.finalize_staged_data("st", mode="append", metadata={"batch": 2})
    assert_frame_equal(tlib.read("st").data, pd.concat([df, more]), check_freq=False)
    assert tlib.read("st").metadata == {"batch": 2}
    tlib.stage("st", df.iloc[:2])
    tlib.stage("st", df.iloc[1:3])
    tlib.sort_and_finalize_staged_data("st")
    got = tlib.read("st").data
    assert list(got.index) == sorted([*df.index[:2], *df.index[1:3]])
