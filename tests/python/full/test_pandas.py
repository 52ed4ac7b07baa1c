"""pandas frames and series round-trip with their index, dtypes and time zones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

import sheaf


def rt(lib, obj, **kw):
    lib.write("s", obj, **kw)
    return lib.read("s", output_format="pandas")


def frame(n=6, index=None):
    rng = np.random.default_rng(3)
    return pd.DataFrame({"a": rng.random(n), "b": np.arange(n, dtype=np.int32)}, index=index)


def test_default_output_is_pandas(lib):
    assert lib.output_format == "pandas"
    lib.write("s", frame())
    assert isinstance(lib.read("s").data, pd.DataFrame)


@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
@pytest.mark.parametrize("name", [None, "date"])
def test_datetime_index(lib, tz, name):
    idx = pd.date_range("2024-01-01", periods=6, freq="h", tz=tz, name=name)
    df = frame(index=idx)
    item = rt(lib, df)
    assert_frame_equal(item.data, df, check_freq=False)
    assert item.index == (name or "__index_level_0__")
    assert str(item.data.index.tz) == str(tz) if tz else item.data.index.tz is None


def test_unsorted_datetime_index_is_refused_unless_not_validated(lib):
    idx = pd.DatetimeIndex(["2024-01-02", "2024-01-01", "2024-01-03"])
    df = frame(3, index=idx)
    with pytest.raises(sheaf.UnsortedIndexError) as info:
        lib.write("s", df)
    assert isinstance(info.value, ValueError)
    assert "s" not in lib
    item = rt(lib, df, validate_index=False)
    assert_frame_equal(item.data, df)
    assert item.index == "__index_level_0__"


def test_explicit_index_none_still_keeps_the_pandas_index(lib):
    idx = pd.DatetimeIndex(["2024-01-02", "2024-01-01", "2024-01-03"])
    df = frame(3, index=idx)
    item = rt(lib, df, index=None)
    assert item.index is None
    assert_frame_equal(item.data, df)


@pytest.mark.parametrize(
    "index",
    [
        pd.RangeIndex(6),
        pd.RangeIndex(10, 22, 2, name="r"),
    ],
)
def test_range_index(lib, index):
    df = frame(index=index)
    item = rt(lib, df)
    assert isinstance(item.data.index, pd.RangeIndex)
    assert_frame_equal(item.data, df)
    assert item.index is None


def test_sorted_integer_index_becomes_the_sheaf_index(lib):
    df = frame(index=pd.Index([3, 5, 5, 9, 10, 40], name="k"))
    item = rt(lib, df)
    assert item.index == "k"
    assert_frame_equal(item.data, df)


def test_unsorted_integer_and_string_indexes_are_kept_without_sheaf_index(lib):
    df = frame(index=pd.Index([3, 1, 2, 9, 10, 4]))
    item = rt(lib, df)
    assert item.index is None
    assert_frame_equal(item.data, df)
    df = frame(index=pd.Index(["x", "a", "żółw", "b", "c", "d"], name="key"))
    item = rt(lib, df)
    assert item.index is None
    assert_frame_equal(item.data, df)


def test_multi_index(lib):
    idx = pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["l", "n"])
    df = frame(index=idx)
    assert_frame_equal(rt(lib, df).data, df)


def test_nullable_categorical_tz_columns(lib):
    df = pd.DataFrame(
        {
            "i": pd.array([1, None, 3, 4], dtype="Int64"),
            "u8": pd.array([1, 2, None, 255], dtype="UInt8"),
            "f": pd.array([1.5, None, 2.5, 0.0], dtype="Float64"),
            "b": pd.array([True, None, False, True], dtype="boolean"),
            "cat": pd.Categorical(["x", "y", None, "x"], categories=["y", "x"], ordered=True),
            "tz": pd.date_range("2024-03-10", periods=4, freq="D", tz="Europe/Paris"),
            "naive": pd.to_datetime(["2024-01-01", None, "2024-01-03", "2024-01-04"]),
            "s": ["a", None, "ç", "d"],
            "plain_f": [1.0, np.nan, 3.0, 4.0],
        }
    )
    out = rt(lib, df).data
    assert_frame_equal(out, df)
    assert str(out["i"].dtype) == "Int64" and out["i"].isna().tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert isinstance(out["cat"].dtype, pd.CategoricalDtype) and out["cat"].cat.ordered
    assert list(out["cat"].cat.categories) == ["y", "x"]
    assert str(out["tz"].dt.tz) == "Europe/Paris"


def test_series(lib):
    s = pd.Series([1.5, 2.5, None], name="px", index=pd.date_range("2024", periods=3))
    out = rt(lib, s).data
    assert isinstance(out, pd.Series)
    assert_series_equal(out, s, check_freq=False)
    unnamed = pd.Series(["a", "b"])
    out = rt(lib, unnamed).data
    assert isinstance(out, pd.Series) and out.name is None
    assert_series_equal(out, unnamed)


def test_mixed_object_column_is_a_clear_type_error(lib):
    df = pd.DataFrame({"ok": [1, 2, 3], "mixed": [1, "two", 3.0]})
    with pytest.raises(TypeError) as info:
        lib.write("s", df)
    assert "mixed" in str(info.value)
    assert "s" not in lib


def test_pandas_output_uses_sheaf_index_without_pandas_metadata(lib):
    ts = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]")
    lib.write("s", {"ts": ts, "v": [1.0, 2.0]}, index="ts")
    out = lib.read("s").data
    assert out.index.name == "ts" and list(out.columns) == ["v"]
    assert out.index[1] == pd.Timestamp("2024-01-02")


def test_large_frame_many_segments(store):
    lib = store.create_library("big", rows_per_segment=7_000)
    idx = pd.date_range("2020-01-01", periods=50_000, freq="min", tz="UTC")
    df = pd.DataFrame(
        {f"c{i}": np.random.default_rng(i).random(len(idx)) for i in range(3)}, index=idx
    )
    lib.write("s", df)
    assert_frame_equal(lib.read("s").data, df, check_freq=False)


def test_timestamps_and_nat_as_options():
    # What portable/test_options.py's look-alikes stand in for: a Timestamp's own nanoseconds
    # (tz-aware or naive = UTC), NaT an error as a point in time and an open range end.
    from sheaf import _options

    ts = pd.Timestamp("2024-01-02 03:04:05.000006007")
    assert _options.to_ns(ts, "x") == 1704164645_000006007 == ts.value
    aware = pd.Timestamp("2024-01-02 04:04:05.000006007", tz="Europe/Paris")
    assert _options.as_of_value(aware) == {"timestamp_ns": 1704164645_000006007}
    assert _options.date_range_value((pd.NaT, ts)) == [None, {"ns": 1704164645_000006007}]
    with pytest.raises(ValueError, match="as_of is NaT"):
        _options.as_of_value(pd.NaT)
