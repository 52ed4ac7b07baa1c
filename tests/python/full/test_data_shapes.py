"""pandas data shapes Arrow has no direct form for: duplicate column names, bare numpy arrays,
and a MultiIndex whose first level is the time index.

- Duplicate column names: the first column of a name keeps it, later copies are stored as
  ``<name>.1``, ``<name>.2``, ...; pandas output restores the names and their order, and
  ``columns=["a"]`` gives every copy (ArcticDB gives none of them).
- A bare numpy array: 1-D as one column ``ndarray``, 2-D as columns ``"0"`` .. ``"k-1"``; pandas
  and numpy output give back an ``ndarray`` of the dtype and shape written.
- A MultiIndex is indexed by its first level when that level is a DatetimeIndex or a sorted
  integer level (as ArcticDB does): ``update``, ``date_range`` and ``delete_data_in_range`` work
  on it, and the other levels come back as levels.

The tests that pin the README's rows of differences from ArcticDB are marked so in their
docstrings.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest
from pandas.testing import assert_frame_equal as _assert_frame_equal

import sheaf
from sheaf import LibraryOptions, QueryBuilder, ReadRequest

DAYS = pd.date_range("2024-01-01", periods=5, name="time")


def assert_frame_equal(got, want, **kw):
    """pandas' check, without the ``freq`` of a DatetimeIndex (a read does not keep it)."""
    _assert_frame_equal(got, want, check_freq=False, **kw)


def dup_frame(index=DAYS):
    """Five rows; columns a (int64), a (float64), b (str), a (bool): three copies of ``a``."""
    n = len(index)
    return pd.DataFrame(
        {
            0: np.arange(n, dtype=np.int64) * 10,
            1: np.arange(n, dtype=np.float64) / 2,
            2: [f"s{i}" for i in range(n)],
            3: np.arange(n) % 2 == 0,
        },
        index=index,
    ).set_axis(["a", "a", "b", "a"], axis=1)


# -- duplicate column names -----------------------------------------------------------------------


def test_duplicate_column_names_round_trip_with_their_dtypes_and_order(lib):
    df = dup_frame()
    lib.write("s", df)
    got = lib.read("s").data
    assert_frame_equal(got, df)
    assert list(got.columns) == ["a", "a", "b", "a"]
    assert [str(t) for t in got.dtypes] == ["int64", "float64", str(df.dtypes.iloc[2]), "bool"]
    assert lib.read("s").index == "time"  # the DatetimeIndex is still the Sheaf index


def test_duplicate_column_names_are_stored_under_unique_names(lib):
    df = dup_frame()
    lib.write("s", df)
    table = lib.read("s", output_format="pyarrow").data
    assert table.column_names == ["a", "a.1", "b", "a.2", "time"]
    assert table.column("a.1").to_pylist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert table.column("a.2").to_pylist() == [True, False, True, False, True]
    assert_frame_equal(table.to_pandas(), df)  # the pandas metadata maps them back
    frame = lib.read("s", output_format="polars").data
    assert isinstance(frame, pl.DataFrame)
    assert frame.columns == ["a", "a.1", "b", "a.2", "time"]
    assert frame["a.1"].to_list() == [0.0, 0.5, 1.0, 1.5, 2.0]
    cols = lib.read("s", output_format="numpy").data
    assert list(cols) == ["a", "a.1", "b", "a.2", "time"]
    assert cols["a.2"].tolist() == [True, False, True, False, True]
    assert [c.name for c in lib.get_description("s").columns] == ["a", "a.1", "b", "a.2"]


def test_duplicate_column_names(lib):
    """README row "duplicate column names": stored, described and queried as ``a.1``, ...;
    ``columns=["a"]`` gives every column named ``a`` (ArcticDB gives none of them); allowed
    with ``dynamic_schema``."""
    df = dup_frame()
    lib.write("s", df)
    assert [c.name for c in lib.get_description("s").columns] == ["a", "a.1", "b", "a.2"]
    got = lib.read("s", columns=["a"]).data
    assert list(got.columns) == ["a", "a", "a"]
    assert_frame_equal(got, df[["a"]])
    q = QueryBuilder()
    q = q[q["a.1"] > 1.0]  # queries name the stored column
    assert_frame_equal(lib.read("s", query_builder=q).data, df[df.iloc[:, 1] > 1.0])
    dyn = lib.store.create_library("dyn", LibraryOptions(dynamic_schema=True))
    dyn.write("s", df)
    assert_frame_equal(dyn.read("s").data, df)


@pytest.mark.parametrize(
    "columns",
    [["b", "a"], ["a", "b"], ["b"], ["a.1"], []],
    ids=["b-a", "a-b", "b", "stored-name", "none"],
)
def test_column_selection_of_duplicated_names(lib, columns):
    df = dup_frame()
    lib.write("s", df)
    got = lib.read("s", columns=columns).data
    # pandas: each name gives all of its columns, in stored order; a stored name selects
    # that one column, under its pandas name
    want = df.iloc[:, [1]] if columns == ["a.1"] else df[columns]
    assert_frame_equal(got, want)


def test_column_selection_of_duplicated_names_with_rows_and_queries(lib):
    df = dup_frame(pd.RangeIndex(5))
    lib.write("s", df)
    assert_frame_equal(lib.read("s", columns=["a"], row_range=(1, 4)).data, df[["a"]].iloc[1:4])
    assert_frame_equal(lib.head("s", 2, columns=["b", "a"]).data, df[["b", "a"]].iloc[:2])
    assert_frame_equal(lib.tail("s", 2, columns=["a"]).data, df[["a"]].iloc[-2:])
    q = QueryBuilder()
    q = q[q["b"] != "s2"]
    want = df[df["b"] != "s2"][["a"]].reset_index(drop=True)  # a filter re-bases a RangeIndex
    assert_frame_equal(lib.read("s", columns=["a"], query_builder=q).data, want)
    (item,) = lib.read_batch([ReadRequest("s", columns=["a"])])
    assert_frame_equal(item.data, df[["a"]])


def test_append_and_update_with_duplicate_column_names(lib):
    df = dup_frame()
    lib.write("s", df)
    more = dup_frame(pd.date_range("2024-01-06", periods=2, name="time"))
    lib.append("s", more)
    both = pd.concat([df, more])
    assert_frame_equal(lib.read("s").data, both)
    fix = dup_frame(pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="time"))
    fix.iloc[:, 0] = [-1, -2]
    fix.iloc[:, 2] = ["u", "v"]
    lib.update("s", fix)
    want = pd.concat([both.iloc[:1], fix, both.iloc[3:]])
    got = lib.read("s").data
    assert_frame_equal(got, want)
    assert got.iloc[1:3, 0].tolist() == [-1, -2] and got.iloc[1:3, 2].tolist() == ["u", "v"]
    assert list(got.columns) == ["a", "a", "b", "a"]


def test_a_copy_is_not_stored_under_a_name_already_taken(lib):
    df = pd.DataFrame([[1, 2, 3, 4]], columns=["a", "a.1", "a", "a.2"])
    lib.write("s", df)
    assert lib.read("s", output_format="pyarrow").data.column_names == ["a", "a.1", "a.3", "a.2"]
    assert_frame_equal(lib.read("s").data, df)
    got = lib.read("s", columns=["a"]).data
    assert got.to_numpy().tolist() == [[1, 3]] and list(got.columns) == ["a", "a"]


def test_duplicated_non_string_and_tuple_column_labels(lib):
    ints = pd.DataFrame([[1, 2.5, 3]], columns=pd.Index([7, 7, 8], name="k"))
    lib.write("ints", ints)
    got = lib.read("ints").data
    assert_frame_equal(got, ints)
    assert got.columns.dtype == np.dtype("int64") and got.columns.name == "k"
    assert lib.read("ints", output_format="pyarrow").data.column_names == ["7", "7.1", "8"]
    tuples = pd.DataFrame(
        [[1, 2, 3]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "x"), ("b", "y")])
    )
    lib.write("tuples", tuples)
    got = lib.read("tuples").data
    assert isinstance(got.columns, pd.MultiIndex)
    assert_frame_equal(got, tuples)


def test_duplicated_column_named_like_the_index(lib):
    df = pd.DataFrame(
        [[1, 2], [3, 4]], columns=["t", "t"], index=pd.date_range("2024-01-01", periods=2, name="t")
    )
    lib.write("s", df)
    assert_frame_equal(lib.read("s").data, df)
    assert_frame_equal(lib.read("s", columns=["t"]).data, df)


# -- bare numpy arrays ----------------------------------------------------------------------------

ARRAYS = {
    "int32-1d": np.arange(5, dtype=np.int32),
    "float64-2d": np.arange(12.0).reshape(4, 3) / 3,
    "fortran-order": np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
    "strided": np.arange(20).reshape(4, 5)[::2, 1:4],
    "bool-2d": np.array([[True, False], [False, True], [True, True]]),
    "float16-nan": np.array([1.5, np.nan, -2.0], dtype=np.float16),
    "uint64": np.array([1, 2**63 + 5], dtype=np.uint64),
    "big-endian": np.array([[1, -2], [3, 4]], dtype=">i4"),
    "unicode": np.array(["a", "żółw", ""], dtype="<U7"),
    "bytes": np.array([[b"a", b"bcd"], [b"", b"x"]]),
    "object-str-none": np.array(["a", None, "c"], dtype=object),
    "object-int-none": np.array([[1, None], [3, 4]], dtype=object),
    "datetime-ns-nat": np.array(["2024-01-01T00:00:00.000000001", "NaT"], dtype="M8[ns]"),
    "datetime-days-nat": np.array(["2024-02-29", "NaT", "1900-01-01"], dtype="M8[D]"),
    "datetime-hours": np.array(["2024-01-01T05", "2024-01-02T07"], dtype="M8[h]"),
    "timedelta-ms": np.array([[1, -2], [3, 4]], dtype="m8[ms]"),
    "empty-1d": np.zeros(0, dtype=np.float32),
    "empty-2d": np.zeros((0, 3), dtype=np.int16),
}


def assert_same_array(got, want):
    assert type(got) is np.ndarray, type(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype == object:
        assert got.tolist() == want.tolist()
    else:
        np.testing.assert_array_equal(got, want)  # NaN and NaT compare equal here


@pytest.mark.parametrize("fmt", ["pandas", "numpy"])
@pytest.mark.parametrize("name", list(ARRAYS))
def test_numpy_array_round_trips_with_dtype_and_shape(lib, name, fmt):
    arr = ARRAYS[name]
    lib.write("s", arr)
    got = lib.read("s", output_format=fmt).data
    assert_same_array(got, arr)
    got[...] = got  # writable, as a read's arrays are
    assert got.flags.writeable


def test_numpy_array_is_a_table_in_pyarrow_and_polars_output(lib):
    arr = np.arange(6, dtype=np.int64).reshape(2, 3)
    lib.write("two", arr)
    table = lib.read("two", output_format="pyarrow").data
    assert table.column_names == ["0", "1", "2"]
    assert table.column("1").to_pylist() == [1, 4]
    assert b"sheaf.numpy_ndarray" in table.schema.metadata
    frame = lib.read("two", output_format="polars").data
    assert frame.columns == ["0", "1", "2"] and frame["2"].to_list() == [2, 5]
    assert [c.name for c in lib.get_description("two").columns] == ["0", "1", "2"]
    lib.write("one", np.array([1.5, 2.5]))
    assert lib.read("one", output_format="pyarrow").data.column_names == ["ndarray"]
    assert lib.read("one", output_format="polars").data["ndarray"].to_list() == [1.5, 2.5]


def test_numpy_array_rows_and_columns_read(lib):
    arr = np.arange(15, dtype=np.int64).reshape(5, 3)
    lib.write("s", arr)
    assert_same_array(lib.read("s", row_range=(1, 3)).data, arr[1:3])
    assert_same_array(lib.read("s", columns=["2", "0"]).data, arr[:, [2, 0]])
    assert_same_array(lib.head("s", 2).data, arr[:2])
    assert_same_array(lib.tail("s", 1, output_format="numpy").data, arr[-1:])
    q = QueryBuilder()
    q = q[q["1"] > 6]
    assert_same_array(lib.read("s", query_builder=q).data, arr[arr[:, 1] > 6])
    assert_same_array(lib.read("s", lazy=True).row_range((3, 5)).collect().data, arr[3:5])
    (item,) = lib.read_batch(["s"])
    assert_same_array(item.data, arr)
    # A query that makes other columns gives the usual frame.
    p = QueryBuilder()
    p["x"] = p["1"] * 2
    got = lib.read("s", query_builder=p).data
    assert isinstance(got, pd.DataFrame) and got["x"].tolist() == (arr[:, 1] * 2).tolist()


def test_numpy_array_append_adds_rows(lib):
    arr = np.arange(6, dtype=np.int64).reshape(3, 2)
    lib.write("s", arr)
    lib.append("s", np.array([[100, 101]]))
    assert_same_array(lib.read("s").data, np.vstack([arr, [[100, 101]]]))
    with pytest.raises(sheaf.SchemaError):
        lib.append("s", np.array([[1.0, 2.0]]))  # another dtype: other column types
    lib.write("u", np.array(["a", "bb"]))
    lib.append("u", np.array(["cccc"]))
    got = lib.read("u").data
    assert got.dtype == np.dtype("<U4") and got.tolist() == ["a", "bb", "cccc"]


def test_masked_numpy_array_reads_back_masked(lib):
    arr = np.ma.MaskedArray([[1, 2], [3, 4]], mask=[[False, True], [False, False]])
    lib.write("s", arr)
    for fmt in ("pandas", "numpy"):
        got = lib.read("s", output_format=fmt).data
        assert isinstance(got, np.ma.MaskedArray) and got.dtype == arr.dtype
        assert got.mask.tolist() == [[False, True], [False, False]]
        assert got.compressed().tolist() == [1, 3, 4]


@pytest.mark.parametrize(
    "arr, words",
    [
        (np.zeros((2, 3, 4)), ["(2, 3, 4)", "1-D", "2-D"]),
        (np.array(1.0), ["shape ()"]),
        (np.zeros((3, 0)), ["no columns"]),
        (np.array([1 + 2j]), ["complex"]),
        (np.array(["a", 1], dtype=object), ["mixes"]),
        (np.zeros(2, dtype=[("x", "i4")]), ["not supported"]),
        (np.array([1.0], dtype=np.longdouble), ["float128"]),
    ],
    ids=["3d", "0d", "no-columns", "complex", "object-mixed", "structured", "longdouble"],
)
def test_numpy_arrays_arrow_cannot_hold_are_refused(lib, arr, words):
    if arr.dtype == np.longdouble and np.dtype(np.longdouble).itemsize == 8:
        pytest.skip("long double is float64 on this platform")
    with pytest.raises(sheaf.UnsupportedTypeError) as info:
        lib.write("s", arr)
    assert isinstance(info.value, TypeError)
    for w in words:
        assert w in str(info.value), str(info.value)
    assert "s" not in lib


# -- MultiIndex with the time index first -------------------------------------------------------


def multi(times, syms, values, tz=None, names=("time", "sym")):
    index = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex(times, tz=tz).as_unit("ns"), syms], names=list(names)
    )
    return pd.DataFrame({"v": np.asarray(values, dtype=np.float64)}, index=index)


BASE = multi(
    ["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"],
    ["x", "y", "x", "y", "x"],
    [1, 2, 3, 4, 5],
)


def span(df, start, end):
    """``df``'s rows whose first level lies in ``[start, end]`` (``None`` = open)."""
    t = df.index.get_level_values(0)
    keep = np.ones(len(df), dtype=bool)
    if start is not None:
        keep &= t >= pd.Timestamp(start)
    if end is not None:
        keep &= t <= pd.Timestamp(end)
    return df[keep]


def test_multi_index_first_level_is_the_sheaf_index(lib):
    item = lib.write("s", BASE)
    assert item.version == 0
    read = lib.read("s")
    assert read.index == "time"
    assert_frame_equal(read.data, BASE)
    desc = lib.get_description("s")
    assert desc.index.name == "time" and [c.name for c in desc.columns] == ["v", "sym"]
    assert desc.date_range == (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-04"))


@pytest.mark.parametrize(
    "bounds", [("2024-01-02", "2024-01-03"), ("2024-01-01", "2024-01-01"), (None, "2024-01-02")]
)
def test_multi_index_date_range(lib, bounds):
    lib.write("s", BASE)
    start, end = (None if b is None else pd.Timestamp(b) for b in bounds)
    got = lib.read("s", date_range=(start, end)).data
    assert_frame_equal(got, span(BASE, *bounds))
    cols = lib.read("s", date_range=(start, end), columns=["v"]).data
    assert_frame_equal(cols, span(BASE, *bounds)[["v"]])  # the levels come along


def test_multi_index_update_replaces_the_span_of_its_first_level(lib):
    lib.write("s", BASE)
    fix = multi(["2024-01-02", "2024-01-02", "2024-01-03"], ["z", "w", "q"], [9, 8, 7])
    lib.update("s", fix)
    want = pd.concat([span(BASE, None, "2024-01-01"), fix, span(BASE, "2024-01-04", None)])
    got = lib.read("s").data
    assert_frame_equal(got, want)
    assert got.index.get_level_values("sym").tolist() == ["x", "y", "z", "w", "q", "x"]
    assert lib.read("s", as_of=0).data.equals(BASE)


def test_multi_index_update_with_date_range_and_upsert(lib):
    lib.write("s", BASE)
    fix = multi(["2024-01-03"], ["q"], [7])
    lib.update("s", fix, date_range=(pd.Timestamp("2024-01-03"), None))
    assert_frame_equal(lib.read("s").data, pd.concat([span(BASE, None, "2024-01-02"), fix]))
    with pytest.raises(sheaf.NoSuchSymbolError):
        lib.update("new", fix)
    lib.update("new", fix, upsert=True)
    assert lib.read("new").index == "time"
    assert_frame_equal(lib.read("new").data, fix)
    (res,) = lib.update_batch([sheaf.UpdatePayload("new", multi(["2024-01-03"], ["r"], [6]))])
    assert not isinstance(res, sheaf.DataError)
    assert lib.read("new").data.index.get_level_values("sym").tolist() == ["r"]


def test_multi_index_delete_data_in_range_and_append(lib):
    lib.write("s", BASE)
    lib.delete_data_in_range("s", (pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")))
    kept = pd.concat([span(BASE, None, "2024-01-01"), span(BASE, "2024-01-04", None)])
    assert_frame_equal(lib.read("s").data, kept)
    more = multi(["2024-01-04", "2024-01-05"], ["y", "x"], [6, 7])
    lib.append("s", more)
    assert_frame_equal(lib.read("s").data, pd.concat([kept, more]))
    with pytest.raises(sheaf.UnsortedIndexError):
        lib.append("s", multi(["2024-01-01"], ["x"], [0]))


def test_multi_index_with_an_unsorted_first_level_is_refused_unless_not_validated(lib):
    df = multi(["2024-01-02", "2024-01-01"], ["a", "b"], [1, 2])
    with pytest.raises(sheaf.UnsortedIndexError):
        lib.write("s", df)
    assert "s" not in lib
    lib.write("s", df, validate_index=False)
    assert_frame_equal(lib.read("s").data, df)


def test_multi_index_three_levels_with_a_time_zone(lib):
    index = pd.MultiIndex.from_arrays(
        [
            pd.date_range("2024-01-01", periods=4, tz="America/New_York", unit="ns"),
            [1, 2, 3, 4],
            ["a", "b", "c", "d"],
        ],
        names=["t", "i", "s"],
    )
    df = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0], "w": ["p", "q", "r", "s"]}, index=index)
    lib.write("s", df)
    assert_frame_equal(lib.read("s").data, df)
    start = pd.Timestamp("2024-01-02", tz="America/New_York")
    assert_frame_equal(lib.read("s", date_range=(start, None)).data, df.iloc[1:])
    fix = df.iloc[1:3].copy()
    fix["v"] = [20.0, 30.0]
    lib.update("s", fix)
    assert lib.read("s").data["v"].tolist() == [1.0, 20.0, 30.0, 4.0]
    assert lib.read("s").data.index.get_level_values("t").tz is not None


def test_multi_index_unnamed_levels(lib):
    df = pd.DataFrame(
        {"v": [1.0, 2.0, 3.0]},
        index=pd.MultiIndex.from_arrays(
            [pd.date_range("2024-01-01", periods=3, unit="ns"), ["a", "b", "c"]]
        ),
    )
    lib.write("s", df)
    assert lib.read("s").index == "__index_level_0__"
    assert_frame_equal(lib.read("s").data, df)
    got = lib.read("s", date_range=(pd.Timestamp("2024-01-02"), None)).data
    assert_frame_equal(got, df.iloc[1:])
    assert list(got.index.names) == [None, None]


def test_multi_index_without_a_time_or_sorted_integer_first_level_has_no_sheaf_index(lib):
    df = pd.DataFrame(
        {"v": [1.0, 2.0]},
        index=pd.MultiIndex.from_arrays(
            [["b", "a"], pd.date_range("2024-01-01", periods=2)], names=["s", "t"]
        ),
    )
    lib.write("s", df)
    assert lib.read("s").index is None
    assert_frame_equal(lib.read("s").data, df)
    with pytest.raises(sheaf.SchemaError):
        lib.read("s", date_range=(pd.Timestamp("2024-01-01"), None))


def test_update_date_range_delete_data_in_range_on_an_integer_index(lib):
    """README row "update, date_range, delete_data_in_range on an integer index": a sorted
    integer index (or a MultiIndex whose first level is one) works, with int bounds (ArcticDB
    supports timestamp indexes only)."""
    plain = pd.DataFrame({"v": [1, 2, 3, 4]}, index=pd.Index([10, 20, 30, 40], name="k"))
    lib.write("plain", plain)
    lib.update("plain", pd.DataFrame({"v": [-2]}, index=pd.Index([20], name="k")))
    assert lib.read("plain").data["v"].tolist() == [1, -2, 3, 4]
    assert_frame_equal(
        lib.read("plain", date_range=(20, 30)).data,
        pd.DataFrame({"v": [-2, 3]}, index=pd.Index([20, 30], name="k")),
    )
    lib.delete_data_in_range("plain", (15, 35))
    assert lib.read("plain").data.index.tolist() == [10, 40]
    index = pd.MultiIndex.from_arrays([[1, 2, 2, 3], ["a", "b", "c", "d"]], names=["i", "s"])
    df = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0]}, index=index)
    lib.write("multi", df)
    assert lib.read("multi").index == "i"
    fix = pd.DataFrame(
        {"v": [9.0]}, index=pd.MultiIndex.from_arrays([[2], ["z"]], names=["i", "s"])
    )
    lib.update("multi", fix)
    assert_frame_equal(lib.read("multi").data, pd.concat([df.iloc[:1], fix, df.iloc[3:]]))
    assert_frame_equal(lib.read("multi", date_range=(3, None)).data, df.iloc[3:])


def test_timestamps_in_object_arrays_and_python_datetimes(lib):
    arr = np.array([dt.datetime(2024, 1, 1, 12), None], dtype=object)
    lib.write("s", arr)
    got = lib.read("s").data
    assert got.dtype == object and got.tolist() == [dt.datetime(2024, 1, 1, 12), None]
