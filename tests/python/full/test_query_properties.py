"""Property tests: random filters, projections, group-bys and resamples run by the library give
what pandas computes on the same random frame (several segments; int64, float64 with NaN,
nullable Int64, strings with None, bool).

The pandas side follows Sheaf's documented rules where they differ from pandas' own:
a comparison with a missing value is false and ``!=`` true (NaN's rule, for nullable Int64 too);
resample drops empty buckets; aggregates of a nullable Int64 column are compared as float64
(Sheaf returns int64, or float64 with NaN where there are nulls; pandas keeps Int64/Float64).
Arithmetic on the nullable Int64 column is computed by pandas on the Int64 array itself (not on
a float64 copy), so integer results have no negative zero: ``-n`` for ``n = 0`` is 0 and
``1 / -n`` is +inf, as in the engine (docs/query-plan.md); results are compared as float64.
"""

from __future__ import annotations

import itertools
import operator

import numpy as np
import pandas as pd
from _hypothesis import examples
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

import sheaf
from sheaf import QueryBuilder

_STORE = sheaf.open("mem://")
_LIB = _STORE.create_library("query-props", rows_per_segment=3)
_NAMES = itertools.count()
BASE = np.datetime64("2024-01-01T00:00", "ns")
MINUTE = np.timedelta64(1, "m")
STRINGS = ["a", "ab", "b", "ba", "c"]

SETTINGS = settings(
    max_examples=examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def frames(draw, max_rows=30):
    n = draw(st.integers(1, max_rows))

    def column(elements):
        return draw(st.lists(elements, min_size=n, max_size=n))

    offsets = sorted(column(st.integers(0, 720)))  # minutes; duplicates allowed
    floats = column(st.sampled_from([-2.5, -1.0, 0.0, 0.5, 1.0, 2.25, 3.0]) | st.just(np.nan))
    return pd.DataFrame(
        {
            "i": np.array(column(st.integers(-5, 5)), dtype=np.int64),
            "f": np.array(floats, dtype=np.float64),
            "n": pd.array(column(st.none() | st.integers(-5, 5)), dtype="Int64"),
            "s": pd.array(column(st.none() | st.sampled_from(STRINGS)), dtype="str"),
            "b": np.array(column(st.booleans()), dtype=bool),
            "k": np.array(column(st.integers(0, 3)), dtype=np.int64),
        },
        index=pd.DatetimeIndex(BASE + np.asarray(offsets, dtype=np.int64) * MINUTE, name="ts"),
    )


def write(df):
    symbol = f"s{next(_NAMES)}"
    _LIB.write(symbol, df)
    return symbol


def as_float(df, name):
    """A column as float64 with NaN where missing (null or NaN)."""
    return df[name].to_numpy(dtype="float64", na_value=np.nan)


# --------------------------------------------------------------------------------------------
# Random predicates: (build the expression, compute the mask with Sheaf's rules)
# --------------------------------------------------------------------------------------------

_CMP = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
}
_QCMP = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}
NUMERIC = ["i", "f", "n"]
literals = st.sampled_from([-3, -1, 0, 1, 2, 4]) | st.sampled_from([-1.5, 0.0, 0.5, 2.25])
PATTERNS = {
    "startswith": ("a", lambda s, p: s.str.startswith(p, na=False)),
    "endswith": ("b", lambda s, p: s.str.endswith(p, na=False)),
    "contains": ("b", lambda s, p: s.str.contains(p, regex=False, na=False)),
    "regex_match": ("^(?:a|c)$", lambda s, p: s.str.contains(p, regex=True, na=False)),
}


@st.composite
def predicates(draw, depth=0):
    kinds = ["cmp", "cmp", "colcol", "isin", "null", "string", "strcmp", "bool"]
    if depth < 2:
        kinds += ["and", "or", "xor", "not"] * 2
    kind = draw(st.sampled_from(kinds))
    if kind == "cmp":
        name, op_name, value = (
            draw(st.sampled_from(NUMERIC)),
            draw(st.sampled_from(list(_CMP))),
            draw(literals),
        )
        flip = draw(st.booleans())  # the literal on the left: Python reflects the comparison

        def build(q):
            return _QCMP[op_name](value, q[name]) if flip else _QCMP[op_name](q[name], value)

        def mask(df):
            vals = as_float(df, name)  # NaN: false, except != (numpy's rule is Sheaf's)
            return _CMP[op_name](value, vals) if flip else _CMP[op_name](vals, value)

        return build, mask
    if kind == "colcol":
        left, right = draw(st.sampled_from(NUMERIC)), draw(st.sampled_from(NUMERIC))
        op_name = draw(st.sampled_from(list(_CMP)))
        return (
            lambda q: _QCMP[op_name](q[left], q[right]),
            lambda df: _CMP[op_name](as_float(df, left), as_float(df, right)),
        )
    if kind == "isin":
        name = draw(st.sampled_from(["i", "n", "s"]))
        negate = draw(st.booleans())
        if name == "s":
            values = draw(st.lists(st.sampled_from(STRINGS), max_size=3))
        else:
            values = draw(st.lists(st.integers(-5, 5), max_size=4))

        def build(q):
            return q[name].isnotin(values) if negate else q[name].isin(values)

        def mask(df):
            inside = df[name].isin(values).fillna(False).to_numpy(dtype=bool)
            return ~inside if negate else inside  # a missing value is in no list

        return build, mask
    if kind == "null":
        name, negate = draw(st.sampled_from(["f", "n", "s"])), draw(st.booleans())
        return (
            lambda q: q[name].notnull() if negate else q[name].isnull(),
            lambda df: df[name].notna().to_numpy() if negate else df[name].isna().to_numpy(),
        )
    if kind == "string":
        method = draw(st.sampled_from(sorted(PATTERNS)))
        pattern, pandas_fn = PATTERNS[method]
        return (
            lambda q: getattr(q["s"], method)(pattern),
            lambda df: pandas_fn(df["s"], pattern).to_numpy(dtype=bool),
        )
    if kind == "strcmp":
        op_name, value = draw(st.sampled_from(list(_CMP))), draw(st.sampled_from(STRINGS))

        def mask(df):
            present = df["s"].notna().to_numpy()
            vals = df["s"].fillna("").to_numpy(dtype=object)
            hit = np.array([_CMP[op_name](v, value) for v in vals], dtype=bool)
            return np.where(present, hit, op_name == "ne")

        return (lambda q: _QCMP[op_name](q["s"], value)), mask
    if kind == "bool":
        negate = draw(st.booleans())
        return (
            lambda q: ~q["b"] if negate else q["b"],
            lambda df: ~df["b"].to_numpy() if negate else df["b"].to_numpy(),
        )
    if kind == "not":
        inner_build, inner_mask = draw(predicates(depth + 1))
        return (lambda q: ~inner_build(q)), (lambda df: ~inner_mask(df))
    (lb, lm), (rb, rm) = draw(predicates(depth + 1)), draw(predicates(depth + 1))
    q_op = {"and": operator.and_, "or": operator.or_, "xor": operator.xor}[kind]
    return (lambda q: q_op(lb(q), rb(q))), (lambda df: q_op(lm(df), rm(df)))


@SETTINGS
@given(frames(), predicates())
def test_filters_match_pandas(df, predicate):
    build, mask = predicate
    symbol = write(df)
    q = QueryBuilder()
    q = q[build(q)]
    got = _LIB.read(symbol, query_builder=q).data
    expected = df[np.asarray(mask(df), dtype=bool)]
    assert_frame_equal(got, expected, check_freq=False)


# --------------------------------------------------------------------------------------------
# Random arithmetic
# --------------------------------------------------------------------------------------------

arith_literals = st.sampled_from([-2, 1, 3]) | st.sampled_from([0.5, -1.25, 2.0])


@st.composite
def arithmetic(draw, depth=0):
    """(build, evaluate, uses_n): an expression with at least one column."""
    kinds = ["col", "col"] + (["binary", "binary", "neg", "abs"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "col":
        name = draw(st.sampled_from(NUMERIC))
        if name == "n":  # pandas' nullable Int64 arithmetic; compared as float64 with NaN
            return (lambda q: q["n"]), (lambda df: df["n"].array), True
        return (lambda q: q[name]), (lambda df: df[name].to_numpy()), False
    if kind in ("neg", "abs"):
        b, e, uses_n = draw(arithmetic(depth + 1))
        if kind == "neg":
            return (lambda q: -b(q)), (lambda df: -e(df)), uses_n
        return (lambda q: abs(b(q))), (lambda df: np.abs(e(df))), uses_n
    op_name = draw(st.sampled_from(["add", "sub", "mul", "div"]))
    py_op = {
        "add": operator.add,
        "sub": operator.sub,
        "mul": operator.mul,
        "div": operator.truediv,
    }[op_name]
    lb, le, ln = draw(arithmetic(depth + 1))
    if draw(st.booleans()):
        value = draw(arith_literals)
        rb, re_, rn = (lambda q: value), (lambda df: value), False
    else:
        rb, re_, rn = draw(arithmetic(depth + 1))
    if draw(st.booleans()):
        lb, le, rb, re_ = rb, re_, lb, le

    def evaluate(df):
        with np.errstate(divide="ignore", invalid="ignore"):
            return py_op(le(df), re_(df))

    return (lambda q: py_op(lb(q), rb(q))), evaluate, ln or rn


@SETTINGS
@given(frames(), arithmetic(), st.booleans())
def test_projections_match_numpy(df, expression, then_filter):
    build, evaluate, uses_n = expression
    symbol = write(df)
    q = QueryBuilder()
    q["new"] = build(q)
    result = evaluate(df)
    if isinstance(result, pd.api.extensions.ExtensionArray):  # Int64 / Float64: NA as NaN
        values = result.to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = np.asarray(result)
    expected = df.assign(new=values)
    if then_filter:
        q = q[q["new"] > 0]
        with np.errstate(invalid="ignore"):
            expected = expected[np.asarray(values.astype("float64") > 0)]
    got = _LIB.read(symbol, query_builder=q).data
    assert list(got.columns) == [*df.columns, "new"]
    if uses_n:  # Sheaf: int64 (float64 where nulls), pandas model: float64 with NaN
        got = got.assign(new=got["new"].astype("float64"))
        expected = expected.assign(new=expected["new"].astype("float64"))
    assert_frame_equal(got, expected, check_freq=False)


# --------------------------------------------------------------------------------------------
# Aggregations
# --------------------------------------------------------------------------------------------

_NUMERIC_OPS = ["sum", "mean", "min", "max", "count", "first", "last", "median", "std"]
_AGG_CHOICES = [(c, o) for c in NUMERIC for o in _NUMERIC_OPS] + [
    ("s", o) for o in ("min", "max", "count", "first", "last")
]
aggregations = st.lists(st.sampled_from(_AGG_CHOICES), min_size=1, max_size=5, unique=True).map(
    lambda pairs: {f"{c}_{o}": (c, o) for c, o in pairs}
)


def pandas_agg(grouped, aggs):
    return pd.DataFrame({out: getattr(grouped[col], op)() for out, (col, op) in aggs.items()})


def _floats_for_nullable(frame, aggs):
    """Aggregates of the nullable Int64 column ``n`` as float64 (NaN where missing)."""
    names = [out for out, (col, op) in aggs.items() if col == "n" and op != "count"]
    return frame.astype({name: "float64" for name in names})


def _compare_aggregates(got, expected, aggs):
    got = _floats_for_nullable(got, aggs)
    expected = _floats_for_nullable(expected, aggs)
    counts = [out for out, (col, op) in aggs.items() if op == "count"]
    expected = expected.astype({name: "int64" for name in counts})
    if len(expected) == 0:
        assert len(got) == 0 and list(got.columns) == list(expected.columns)
        return
    assert_frame_equal(got, expected, check_freq=False, check_index_type=False)


@SETTINGS
@given(
    frames(),
    st.lists(st.sampled_from(["k", "s", "b"]), min_size=1, max_size=3, unique=True),
    aggregations,
    st.none() | predicates(depth=1),
)
def test_groupby_matches_pandas(df, keys, aggs, predicate):
    symbol = write(df)
    q = QueryBuilder()
    source = df
    if predicate is not None:
        q = q[predicate[0](q)]
        source = df[np.asarray(predicate[1](df), dtype=bool)]
    q = q.groupby(keys).agg(aggs)
    got = _LIB.read(symbol, query_builder=q).data
    expected = pandas_agg(source.groupby(keys if len(keys) > 1 else keys[0]), aggs)
    _compare_aggregates(got, expected, aggs)


@SETTINGS
@given(
    frames(),
    st.sampled_from(["7min", "15min", "45min", "1h", "2h", "1D"]),
    st.sampled_from([None, "left", "right"]),
    st.sampled_from([None, "left", "right"]),
    st.sampled_from(["start_day", "epoch", "start", "end", "end_day"]),
    st.none() | st.sampled_from(["5min", "1h"]),
    aggregations,
)
def test_resample_matches_pandas(df, rule, closed, label, origin, offset, aggs):
    # Sheaf's edges are origin + offset + k * rule for every origin (docs/query-plan.md);
    # pandas shifts end / end_day origins by the offset differently (or raises "Values falls
    # before first bin"), so those combinations are pinned by the explicit tests instead.
    assume(not (offset is not None and origin in ("end", "end_day")))
    symbol = write(df)
    q = QueryBuilder().resample(rule, closed=closed, label=label, origin=origin, offset=offset)
    q = q.agg(aggs)
    got = _LIB.read(symbol, query_builder=q).data
    resampler = df.resample(rule, closed=closed, label=label, origin=origin, offset=offset)
    expected = pandas_agg(resampler, aggs)[resampler.size() > 0]  # empty buckets dropped
    # pandas upcast int64 aggregates to float64 for the NaN rows of the empty buckets
    ints = [o for o, (c, op) in aggs.items() if c == "i" and op in ("min", "max", "first", "last")]
    expected = expected.astype({name: "int64" for name in ints})
    assert got.index.name == "ts"
    _compare_aggregates(got, expected, aggs)
