"""QueryBuilder with pandas, pyarrow and polars: results equal what pandas computes on the same
frame, the stored index is kept (a DatetimeIndex with its time zone; a RangeIndex re-based, or
a fresh 0..n after a filter), group-by keys become the index (a MultiIndex for several), and
NaN / nulls follow pandas' rules.

Where Sheaf's dtypes differ from pandas' (each spelled out where it happens):

* aggregated and projected columns carry no pandas metadata, so an integer column with nulls
  comes back as float64 (pyarrow's conversion), where pandas keeps a nullable ``Int64``;
* group-by keys of a categorical column come back as strings, not a ``CategoricalIndex``;
* resample drops empty buckets (ArcticDB's rule), so where pandas had to upcast an integer
  aggregate to float64 for its NaN rows, Sheaf keeps int64.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

import sheaf
from sheaf import QueryBuilder, ReadRequest, where


def make_frame(n=40, tz="UTC", seed=3):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=n, freq="37min", tz=tz, name="time")
    f = rng.normal(size=n).round(3)
    f[::6] = np.nan
    f[1::9] = 0.5
    nullable = pd.array(rng.integers(0, 10, n), dtype="Int64")
    nullable[::5] = pd.NA
    strings = rng.choice(["x", "y", "z", "xy"], n).astype(object)
    strings[2::7] = None
    return pd.DataFrame(
        {
            "a": rng.integers(-5, 6, n).astype(np.int64),
            "f": f,
            "n": nullable,
            "s": strings,
            "flag": rng.integers(0, 2, n).astype(bool),
            "g": rng.integers(0, 3, n).astype(np.int64),
        },
        index=idx,
    )


@pytest.fixture
def qlib(store):
    return store.create_library("q", rows_per_segment=4)


@pytest.fixture
def frame(qlib):
    df = make_frame()
    qlib.write("d", df)
    assert_frame_equal(qlib.read("d").data, df, check_freq=False)
    return df


def read(lib, q, symbol="d", **kwargs):
    return lib.read(symbol, query_builder=q, **kwargs).data


# --------------------------------------------------------------------------------------------
# Filters and projections against pandas
# --------------------------------------------------------------------------------------------

FILTERS = [
    ("gt", lambda q: q["a"] > 1, lambda d: d.a > 1),
    ("le-lit-left", lambda q: 0.2 >= q["f"], lambda d: d.f <= 0.2),  # noqa: SIM300
    ("ne-nan", lambda q: q["f"] != 0.5, lambda d: d.f != 0.5),  # NaN included, as pandas
    ("eq-str", lambda q: q["s"] == "x", lambda d: d.s == "x"),
    ("ne-str", lambda q: q["s"] != "x", lambda d: d.s != "x"),  # None included, as pandas
    ("isin", lambda q: q["s"].isin(["x", "z"]), lambda d: d.s.isin(["x", "z"])),
    ("isnotin", lambda q: q["s"].isnotin(["x", "z"]), lambda d: ~d.s.isin(["x", "z"])),
    ("isin-ints", lambda q: q["a"].isin(np.array([0, 1, 2])), lambda d: d.a.isin([0, 1, 2])),
    ("isnull-float", lambda q: q["f"].isnull(), lambda d: d.f.isna()),
    ("notnull-str", lambda q: q["s"].notnull(), lambda d: d.s.notna()),
    ("isnull-Int64", lambda q: q["n"].isnull(), lambda d: d.n.isna()),
    ("regex", lambda q: q["s"].regex_match("^x"), lambda d: d.s.str.contains("^x", na=False)),
    ("startswith", lambda q: q["s"].startswith("x"), lambda d: d.s.str.startswith("x", na=False)),
    ("endswith", lambda q: q["s"].endswith("y"), lambda d: d.s.str.endswith("y", na=False)),
    (
        "contains",
        lambda q: q["s"].contains("y"),
        lambda d: d.s.str.contains("y", regex=False, na=False),
    ),
    ("bool", lambda q: q["flag"], lambda d: d.flag),
    ("not-bool", lambda q: ~q["flag"], lambda d: ~d.flag),
    (
        "and-or",
        lambda q: ((q["a"] > 0) & (q["f"] < 0)) | (q["g"] == 2),
        lambda d: ((d.a > 0) & (d.f < 0)) | (d.g == 2),
    ),
    ("xor", lambda q: (q["a"] > 0) ^ q["flag"], lambda d: (d.a > 0) ^ d.flag),
    ("not", lambda q: ~(q["f"] > 0), lambda d: ~(d.f > 0)),
    ("col-col", lambda q: q["a"] < q["g"], lambda d: d.a < d.g),
    ("arith", lambda q: q["a"] * 2 - q["g"] > 0, lambda d: d.a * 2 - d.g > 0),
    (
        "timestamp",
        lambda q: q["time"] >= pd.Timestamp("2024-01-01 12:00", tz="UTC"),
        lambda d: d.index >= pd.Timestamp("2024-01-01 12:00", tz="UTC"),
    ),
    (
        "timestamp-naive-is-utc",
        lambda q: q["time"] < dt.datetime(2024, 1, 1, 6),
        lambda d: d.index < pd.Timestamp("2024-01-01 06:00", tz="UTC"),
    ),
    (
        "timestamp-other-zone",
        lambda q: q["time"] < pd.Timestamp("2024-01-01 07:00", tz="Europe/Paris"),
        lambda d: d.index < pd.Timestamp("2024-01-01 06:00", tz="UTC"),
    ),
    # nullable Int64: a missing value compares false (NaN's rule), except != (true)
    ("Int64-gt", lambda q: q["n"] > 4, lambda d: (d.n > 4).fillna(False)),
    ("Int64-ne", lambda q: q["n"] != 4, lambda d: (d.n != 4).fillna(True)),
    (
        "where",
        lambda q: where(q["flag"], q["a"], q["g"]) > 0,
        lambda d: pd.Series(np.where(d.flag, d.a, d.g), index=d.index) > 0,
    ),
]


@pytest.mark.parametrize(("name", "make", "mask"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters_match_pandas(qlib, frame, name, make, mask):
    q = QueryBuilder()
    got = read(qlib, q[make(q)])
    expected = frame[np.asarray(mask(frame), dtype=bool)]
    assert len(expected) not in (0, len(frame)), "the case should keep some rows, not all"
    assert_frame_equal(got, expected, check_freq=False)
    assert str(got.index.tz) == "UTC" and got.index.name == "time"


def test_filter_keeps_a_zoned_datetime_index(qlib):
    df = make_frame(tz="America/New_York")
    qlib.write("ny", df)
    q = QueryBuilder()
    q = q[q["a"] >= 0]
    got = read(qlib, q, "ny")
    assert str(got.index.tz) == "America/New_York"
    assert_frame_equal(got, df[df.a >= 0], check_freq=False)
    q = QueryBuilder().date_range((pd.Timestamp("2024-01-01 10:00", tz="America/New_York"), None))
    got = read(qlib, q, "ny")
    assert_frame_equal(
        got,
        df[df.index >= pd.Timestamp("2024-01-01 10:00", tz="America/New_York")],
        check_freq=False,
    )


PROJECTIONS = [
    ("mixed", lambda q: q["a"] * 2 + q["f"], lambda d: d.a * 2 + d.f),
    ("div", lambda q: q["a"] / q["g"], lambda d: d.a / d.g),  # x/0 = +-inf, 0/0 = NaN
    ("neg-abs", lambda q: -abs(q["a"]), lambda d: -d.a.abs()),
    ("pow", lambda q: q["a"] ** 2, lambda d: d.a**2),
    ("lit-left", lambda q: 1 - q["f"], lambda d: 1 - d.f),
    ("bool", lambda q: q["a"] > q["g"], lambda d: d.a > d.g),
    (
        "where",
        lambda q: where(q["f"] > 0, q["f"], 0.0),
        lambda d: pd.Series(np.where(d.f > 0, d.f, 0.0), index=d.index),
    ),
    (
        "where-str",
        lambda q: where(q["flag"], "yes", "no"),
        lambda d: pd.Series(np.where(d.flag, "yes", "no"), index=d.index).astype("str"),
    ),
]


@pytest.mark.parametrize(("name", "make", "value"), PROJECTIONS, ids=[p[0] for p in PROJECTIONS])
def test_projections_match_pandas(qlib, frame, name, make, value):
    q = QueryBuilder()
    q["new"] = make(q)
    got = read(qlib, q)
    expected = frame.assign(new=value(frame))
    assert list(got.columns) == [*frame.columns, "new"]  # an ordinary column, at the end
    assert_frame_equal(got, expected, check_freq=False)


def test_projection_of_a_nullable_int_is_float_with_nan(qlib, frame):
    # A projected column has no pandas metadata: int64 with nulls becomes float64 (pandas: Int64).
    q = QueryBuilder()
    q["m"] = q["n"] + 1
    got = read(qlib, q)
    assert got["m"].dtype == np.float64
    assert_series_equal(
        got["m"], (frame.n + 1).astype("float64"), check_names=False, check_freq=False
    )
    assert got["n"].dtype == "Int64"  # the stored column keeps its dtype


def test_division_by_a_negated_nullable_zero_is_what_pandas_gives(qlib):
    """``i / -n`` with a nullable Int64 ``n = 0``: pandas negates in Int64 (0, no -0), so the
    quotient is +inf; Sheaf does the same (docs/query-plan.md). The shape the projection
    property test once got wrong (its model negated in float64 and expected -inf)."""
    df = pd.DataFrame(
        {
            "i": np.array([1, -1, 1, 3], dtype=np.int64),
            "n": pd.array([0, 0, None, -2], dtype="Int64"),
        },
        index=pd.date_range("2024-01-01", periods=4, freq="h", name="ts"),
    )
    qlib.write("negzero", df)
    q = QueryBuilder()
    q["new"] = q["i"] / (-q["n"])
    got = qlib.read("negzero", query_builder=q).data["new"]
    pandas_says = (df["i"] / -df["n"]).to_numpy(dtype="float64", na_value=np.nan)
    np.testing.assert_array_equal(pandas_says, [np.inf, -np.inf, np.nan, 1.5])
    np.testing.assert_array_equal(got.to_numpy(dtype="float64"), pandas_says)
    assert got.iloc[0] == np.inf and np.signbit(got.iloc[1])


def test_projection_replacing_a_column_and_filtering_on_it(qlib, frame):
    q = QueryBuilder()
    q["f"] = q["f"] * 10
    q = q[q["f"] > 1]
    expected = frame.assign(f=frame.f * 10)
    assert_frame_equal(read(qlib, q), expected[expected.f > 1], check_freq=False)


def test_categorical_column_filter(qlib):
    df = pd.DataFrame(
        {"c": pd.Categorical(list("abcabcab")), "v": np.arange(8)},
        index=pd.date_range("2024", periods=8, freq="h", tz="UTC", name="t"),
    )
    qlib.write("cat", df)
    q = QueryBuilder()
    got = read(qlib, q[q["c"].isin(["a", "c"])], "cat")
    expected = df[df.c.isin(["a", "c"])]
    assert isinstance(got["c"].dtype, pd.CategoricalDtype)
    assert_frame_equal(got, expected, check_freq=False, check_categorical=False)
    assert got["c"].astype(str).tolist() == expected["c"].astype(str).tolist()


def test_series_filter_comes_back_as_a_series(qlib):
    ser = pd.Series(np.arange(6.0), name="v", index=pd.date_range("2024", periods=6, tz="UTC"))
    qlib.write("ser", ser)
    q = QueryBuilder()
    got = read(qlib, q[q["v"] > 2], "ser")
    assert_series_equal(got, ser[ser > 2], check_freq=False)


# --------------------------------------------------------------------------------------------
# Indexes
# --------------------------------------------------------------------------------------------


@pytest.fixture
def ranged(qlib):
    df = pd.DataFrame(
        {"a": np.arange(20, dtype=np.int64) % 7, "s": list("abcd") * 5},
        index=pd.RangeIndex(10, 70, 3),
    )
    qlib.write("r", df)
    named = df.rename_axis("row")
    qlib.write("rn", named)
    return df


def test_range_index_after_a_filter_is_fresh(qlib, ranged):
    q = QueryBuilder()
    q = q[q["a"] > 3]
    got = read(qlib, q, "r")
    expected = ranged[ranged.a > 3].reset_index(drop=True)
    assert isinstance(got.index, pd.RangeIndex)
    assert_frame_equal(got, expected)
    got = read(qlib, q, "rn")
    assert got.index.name == "row" and got.index.equals(pd.RangeIndex(len(expected)))
    # a filter then a head: still fresh
    got = read(qlib, QueryBuilder.from_json(q.to_json()).head(2), "r")
    assert_frame_equal(got, expected.iloc[:2])
    # empty
    none = QueryBuilder()
    got = read(qlib, none[none["a"] > 100], "r")
    assert len(got) == 0 and list(got.columns) == ["a", "s"]


@pytest.mark.parametrize(
    ("make", "select", "read_args"),
    [
        (lambda q: q.row_range((2, 5)), lambda d: d.iloc[2:5], {}),
        (lambda q: q.head(4), lambda d: d.iloc[:4], {}),
        (lambda q: q.head(-15), lambda d: d.iloc[:-15], {}),
        (lambda q: q.tail(3), lambda d: d.iloc[-3:], {}),
        (lambda q: q.tail(-17), lambda d: d.iloc[17:], {}),
        (lambda q: q.row_range((-8, None)).head(3), lambda d: d.iloc[-8:].iloc[:3], {}),
        (lambda q: q.head(5), lambda d: d.iloc[4:16].iloc[:5], {"row_range": (4, 16)}),
        (lambda q: q.tail(2), lambda d: d.iloc[:-5].iloc[-2:], {"row_range": (None, -5)}),
    ],
)
def test_range_index_after_row_selections_is_rebased(qlib, ranged, make, select, read_args):
    got = read(qlib, make(QueryBuilder()), "r", **read_args)
    assert_frame_equal(got, select(ranged))


def test_columns_selection_keeps_a_string_index_with_a_query(qlib):
    df = pd.DataFrame(
        {"a": np.arange(10), "f": np.linspace(0, 1, 10), "s": list("xyzxyzxyzx")},
        index=pd.Index([f"r{i}" for i in range(10)], name="key"),
    )
    qlib.write("k", df)
    q = QueryBuilder()
    q = q[q["a"] > 3]
    got = read(qlib, q, "k", columns=["f"])  # the stored index column is read again
    assert_frame_equal(got, df.loc[df.a > 3, ["f"]])
    q = QueryBuilder()
    q = q[q["key"].isin(["r1", "r7"])]
    assert_frame_equal(read(qlib, q, "k", columns=["s"]), df.loc[["r1", "r7"], ["s"]])
    q = QueryBuilder()
    q = q[q["a"] > 5]
    q["x"] = q["a"] * 2  # a projection stays in a column selection
    expected = df.loc[df.a > 5, ["f"]].assign(x=df.a[df.a > 5] * 2)
    assert_frame_equal(read(qlib, q, "k", columns=["f"]), expected)


# --------------------------------------------------------------------------------------------
# Group-by and resample against pandas
# --------------------------------------------------------------------------------------------


def pandas_agg(grouped, aggs):
    """What pandas computes for ``{out: (column, op)}`` on a GroupBy / Resampler."""
    return pd.DataFrame({out: getattr(grouped[column], op)() for out, (column, op) in aggs.items()})


GROUP_AGGS = {
    "a_sum": ("a", "sum"),
    "f_sum": ("f", "sum"),
    "f_mean": ("f", "mean"),
    "a_mean": ("a", "mean"),
    "f_min": ("f", "min"),
    "a_max": ("a", "max"),
    "f_count": ("f", "count"),
    "s_count": ("s", "count"),
    "s_first": ("s", "first"),
    "s_last": ("s", "last"),
    "f_first": ("f", "first"),
    "s_min": ("s", "min"),
    "f_median": ("f", "median"),
    "a_median": ("a", "median"),
    "f_std": ("f", "std"),
    "a_std": ("a", "std"),
}


@pytest.mark.parametrize("key", ["g", "s", "flag"])
def test_groupby_matches_pandas(qlib, frame, key):
    q = QueryBuilder().groupby(key).agg(GROUP_AGGS)
    got = read(qlib, q)
    expected = pandas_agg(frame.groupby(key), GROUP_AGGS)  # sorted, NaN keys dropped
    assert got.index.name == key
    assert_frame_equal(got, expected)


def test_groupby_several_keys_gives_a_multiindex(qlib, frame):
    aggs = {"total": ("a", "sum"), "avg": ("f", "mean"), "n": ("s", "count")}
    q = QueryBuilder().groupby(["s", "g"]).agg(aggs)
    got = read(qlib, q)
    assert isinstance(got.index, pd.MultiIndex) and list(got.index.names) == ["s", "g"]
    assert_frame_equal(got, pandas_agg(frame.groupby(["s", "g"]), aggs))


def test_groupby_output_name_defaults_to_the_column(qlib, frame):
    q = QueryBuilder().groupby("g").agg({"a": "sum", "f": "max"})
    expected = frame.groupby("g").agg({"a": "sum", "f": "max"})
    assert_frame_equal(read(qlib, q), expected)


def test_groupby_all_missing_group(qlib):
    df = pd.DataFrame(
        {
            "k": ["a", "a", "b", "b", "c"],
            "f": [np.nan, np.nan, 1.0, np.nan, 2.0],
            "s": [None, None, "x", None, "y"],
        }
    )
    qlib.write("m", df)
    aggs = {
        "sum": ("f", "sum"),  # 0 for the all-missing group (min_count=0)
        "mean": ("f", "mean"),
        "min": ("f", "min"),
        "max": ("f", "max"),
        "count": ("f", "count"),
        "median": ("f", "median"),
        "std": ("f", "std"),  # one value: NaN
        "first": ("s", "first"),
        "last": ("s", "last"),
    }
    got = read(qlib, QueryBuilder().groupby("k").agg(aggs), "m")
    expected = pandas_agg(df.groupby("k"), aggs)
    assert got.loc["a", "sum"] == 0 and np.isnan(got.loc["a", "mean"])
    assert_frame_equal(got, expected)


def test_groupby_nullable_int_and_categorical_dtypes(qlib, frame):
    # Aggregates of an Int64 column: int64, float64 where a group has no value (pandas: Int64).
    aggs = {"sum": ("n", "sum"), "max": ("n", "max"), "mean": ("n", "mean")}
    got = read(qlib, QueryBuilder().groupby("g").agg(aggs))
    expected = pandas_agg(frame.groupby("g"), aggs)
    assert got["sum"].dtype == np.int64
    assert_frame_equal(got, expected, check_dtype=False)
    # categorical keys come back as strings (pandas: a CategoricalIndex)
    cat = frame.assign(c=pd.Categorical(frame.s))
    qlib.write("cat", cat)
    got = read(qlib, QueryBuilder().groupby("c").agg({"a": "sum"}), "cat")
    expected = cat.groupby("c", observed=True).agg({"a": "sum"})
    assert got.index.tolist() == expected.index.astype(str).tolist()
    assert got["a"].tolist() == expected["a"].tolist()


def test_groupby_on_a_range_index_symbol_and_after_a_filter(qlib, ranged):
    q = QueryBuilder()
    q = q[q["a"] != 0]
    q = q.groupby("s").agg({"total": ("a", "sum"), "n": ("a", "count")})
    expected = pandas_agg(
        ranged[ranged.a != 0].groupby("s"), {"total": ("a", "sum"), "n": ("a", "count")}
    )
    assert_frame_equal(read(qlib, q, "r"), expected)


def test_groupby_in_pyarrow_polars_and_numpy_keeps_keys_as_columns(qlib, frame):
    import polars as pl

    aggs = {"total": ("a", "sum"), "avg": ("f", "mean")}
    q = QueryBuilder().groupby(["s", "g"]).agg(aggs)
    expected = pandas_agg(frame.groupby(["s", "g"]), aggs).reset_index()
    table = read(qlib, q, output_format="pyarrow")
    assert isinstance(table, pa.Table)
    assert table.column_names == ["s", "g", "total", "avg"]
    assert table.schema.metadata[b"sheaf:index"] == b'["s","g"]' or (
        __import__("json").loads(table.schema.metadata[b"sheaf:index"]) == ["s", "g"]
    )
    # pyarrow's own pandas conversion indexes by the keys, as output_format="pandas" does.
    as_pandas = read(qlib, q, output_format="pandas")
    assert list(as_pandas.index.names) == ["s", "g"]
    assert_frame_equal(table.to_pandas(), as_pandas)
    assert_frame_equal(table.to_pandas().reset_index(), expected, check_dtype=False)
    polars = read(qlib, q, output_format="polars")
    assert isinstance(polars, pl.DataFrame) and polars.columns == ["s", "g", "total", "avg"]
    assert_frame_equal(polars.to_pandas(), expected, check_dtype=False)
    cols = read(qlib, q, output_format="numpy")
    assert list(cols) == ["s", "g", "total", "avg"]
    assert cols["total"].tolist() == expected["total"].tolist()


def test_aggregates_read_as_pyarrow_convert_to_the_pandas_result(qlib, frame, store):
    """Group-by on one key and resampling (a DatetimeIndex, named or not): the pyarrow
    result's ``to_pandas()`` is the frame ``output_format="pandas"`` returns."""
    one = QueryBuilder().groupby("s").agg({"total": ("a", "sum")})
    bucketed = QueryBuilder().resample("1h").agg({"n": ("a", "count"), "m": ("f", "max")})
    for q in (one, bucketed):
        table = read(qlib, q, output_format="pyarrow")
        frame = read(qlib, q, output_format="pandas")
        assert_frame_equal(table.to_pandas(), frame)
    unnamed = store.create_library("unnamed_index")
    idx = pd.date_range("2024-01-01", periods=6, freq="20min")
    unnamed.write("u", pd.DataFrame({"v": [1, 2, 3, 4, 5, 6]}, index=idx))
    q = QueryBuilder().resample("1h").agg({"v": "sum"})
    frame = unnamed.read("u", query_builder=q).data
    assert frame.index.name is None and frame["v"].tolist() == [6, 15]
    table = unnamed.read("u", query_builder=q, output_format="pyarrow").data
    assert_frame_equal(table.to_pandas(), frame)


RESAMPLE_AGGS = {
    "a_sum": ("a", "sum"),
    "f_mean": ("f", "mean"),
    "f_max": ("f", "max"),
    "n_count": ("n", "count"),
    "s_first": ("s", "first"),
    "s_last": ("s", "last"),
    "f_std": ("f", "std"),
    "a_median": ("a", "median"),
    "a_min": ("a", "min"),
}


@pytest.mark.parametrize(
    ("rule", "kwargs"),
    [
        ("2h", {}),
        ("45min", {}),
        ("2h", {"closed": "right", "label": "right"}),
        ("2h", {"closed": "right"}),
        ("2h", {"label": "right"}),
        ("3h", {"origin": "epoch"}),
        ("3h", {"origin": "start"}),
        ("3h", {"origin": "end"}),
        ("3h", {"origin": "end_day"}),
        ("90min", {"offset": "15min"}),
        ("D", {}),
        (pd.Timedelta("100min"), {"origin": pd.Timestamp("2024-01-01 00:10", tz="UTC")}),
    ],
)
def test_resample_matches_pandas_without_empty_buckets(qlib, frame, rule, kwargs):
    sparse = frame[(frame.index.hour < 5) | (frame.index.hour > 15)]  # empty buckets between
    qlib.write("sparse", sparse)
    got = read(qlib, QueryBuilder().resample(rule, **kwargs).agg(RESAMPLE_AGGS), "sparse")
    resampler = sparse.resample(rule, **kwargs)
    expected = pandas_agg(resampler, RESAMPLE_AGGS)
    non_empty = resampler.size() > 0
    if rule != "D":
        assert not non_empty.all(), "the case should have empty buckets"
    expected = expected[non_empty]
    # pandas had NaN rows for the empty buckets, so it upcast the int64 minimum to float64
    expected["a_min"] = expected["a_min"].astype("int64")
    # pandas counts a nullable Int64 column as Int64; Sheaf's count is int64
    expected["n_count"] = expected["n_count"].astype("int64")
    assert_frame_equal(got, expected, check_freq=False)
    assert str(got.index.tz) == "UTC" and got.index.name == "time"


@pytest.mark.parametrize(
    ("rule", "kwargs"),
    [("3h", {}), ("D", {}), ("3h", {"origin": "end_day"}), ("5h", {"closed": "right"})],
)
def test_resample_of_a_zoned_index_uses_midnight_in_its_zone(qlib, rule, kwargs):
    # pandas' start_day / end_day (and the day buckets) are midnights in the index's zone
    idx = pd.date_range("2024-01-01 00:30", periods=10, freq="2h", tz="Europe/Paris", name="t")
    df = pd.DataFrame({"a": np.arange(10, dtype=np.int64)}, index=idx)
    qlib.write("paris", df)
    got = read(qlib, QueryBuilder().resample(rule, **kwargs).agg({"a": "sum"}), "paris")
    resampler = df.resample(rule, **kwargs)
    expected = resampler.agg({"a": "sum"})[resampler.size() > 0]
    assert_frame_equal(got, expected, check_freq=False)


def test_resample_after_a_filter_and_projection(qlib, frame):
    q = QueryBuilder()
    q = q[q["flag"]]
    q["x"] = q["a"] * q["g"]
    q = q.resample("3h").agg({"x": "sum", "f": "mean"})
    filtered = frame[frame.flag].assign(x=lambda d: d.a * d.g)
    resampler = filtered.resample("3h")
    expected = resampler.agg({"x": "sum", "f": "mean"})[resampler.size() > 0]
    assert_frame_equal(read(qlib, q), expected, check_freq=False)


def test_resample_of_a_naive_unnamed_index(qlib):
    df = pd.DataFrame(
        {"v": np.arange(12.0)}, index=pd.date_range("2024-01-01", periods=12, freq="25min")
    )
    qlib.write("u", df)
    got = read(qlib, QueryBuilder().resample("1h").agg({"v": "sum", "n": ("v", "count")}), "u")
    expected = pandas_agg(df.resample("1h"), {"v": ("v", "sum"), "n": ("v", "count")})
    assert got.index.name is None and got.index.tz is None
    assert_frame_equal(got, expected, check_freq=False)


# --------------------------------------------------------------------------------------------
# Lazy reads, batches, other formats
# --------------------------------------------------------------------------------------------


def test_lazy_dataframe_with_pandas(qlib, frame):
    lazy = qlib.read("d", lazy=True, date_range=(pd.Timestamp("2024-01-01 05:00", tz="UTC"), None))
    lazy = lazy[lazy["a"] > -3]
    lazy["x"] = lazy["f"] * 2
    lazy = lazy.groupby("g").agg({"x": "mean", "a": "max"})
    got = lazy.collect().data
    part = frame[frame.index >= pd.Timestamp("2024-01-01 05:00", tz="UTC")]
    part = part[part.a > -3].assign(x=lambda d: d.f * 2)
    assert_frame_equal(got, part.groupby("g").agg({"x": "mean", "a": "max"}))


def test_read_batch_with_pandas_output(qlib, frame):
    qlib.write("d2", frame.iloc[:20])
    shared = QueryBuilder()
    shared = shared[shared["g"] == 1]
    grouped = QueryBuilder().groupby("s").agg({"a": "sum"})
    first, second, third = qlib.read_batch(
        ["d", ReadRequest("d2"), ReadRequest("d", query_builder=grouped)], query_builder=shared
    )
    assert_frame_equal(first.data, frame[frame.g == 1], check_freq=False)
    assert_frame_equal(second.data, frame.iloc[:20][frame.iloc[:20].g == 1], check_freq=False)
    assert_frame_equal(third.data, frame.groupby("s").agg({"a": "sum"}))


def test_filter_in_pyarrow_and_polars(qlib, frame):
    import polars as pl

    q = QueryBuilder()
    q = q[q["s"].isin(["x", "y"]) & (q["f"] > -1)]
    q["b"] = q["a"] + 1
    expected = frame[frame.s.isin(["x", "y"]) & (frame.f > -1)].assign(b=lambda d: d.a + 1)
    table = read(qlib, q, output_format="pyarrow")
    assert b"pandas" in table.schema.metadata  # kept for filters and projections
    assert b"sheaf:index" not in table.schema.metadata
    assert table.num_rows == len(expected)
    assert table.column("b").to_pylist() == expected["b"].tolist()
    assert_frame_equal(table.to_pandas(), expected, check_freq=False)
    polars = read(qlib, q, output_format="polars")
    assert isinstance(polars, pl.DataFrame)
    assert polars["a"].to_list() == expected["a"].tolist()
    assert polars["time"].to_list() == expected.index.to_pydatetime().tolist()


def test_engine_errors_with_pandas_output(qlib, frame):
    q = QueryBuilder()
    with pytest.raises(sheaf.SchemaError, match="nope"):
        read(qlib, q[q["nope"] > 1])
    q = QueryBuilder()
    with pytest.raises(sheaf.SchemaError):
        read(qlib, q[q["s"] > 1])
    q = QueryBuilder()
    with pytest.raises(sheaf.SchemaError):
        read(qlib, q[q["s"] > 1], output_format="pyarrow")
