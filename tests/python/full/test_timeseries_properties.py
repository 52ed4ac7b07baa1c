"""Property test: random sequences of write / append / update / delete_data_in_range on a
DatetimeIndex frame give, at every version, the frame a pandas model predicts."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from _hypothesis import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

import sheaf

_STORE = sheaf.open("mem://")
_LIB = _STORE.create_library("ts-props", rows_per_segment=3)
_NAMES = itertools.count()
BASE = np.datetime64("2024-01-01T00:00", "ns")
MINUTE = np.timedelta64(1, "m")


def at(offset):
    return pd.Timestamp(BASE + offset * MINUTE)


def make_frame(offsets, seed):
    offsets = np.asarray(offsets, dtype=np.int64)
    idx = pd.DatetimeIndex(BASE + offsets * MINUTE, name="ts")
    n = len(offsets)
    return pd.DataFrame(
        {"a": np.arange(seed, seed + n, dtype=np.int64), "b": np.arange(n) * 0.25 + seed},
        index=idx,
    )


def empty_like(frame):
    return frame.iloc[:0]


# Offsets are minutes from BASE; frames have sorted, unique offsets.
sorted_offsets = st.lists(st.integers(0, 40), min_size=1, max_size=6, unique=True).map(sorted)
bound = st.none() | st.integers(-2, 42)
ops = st.one_of(
    st.tuples(st.just("write"), sorted_offsets),
    st.tuples(st.just("append"), st.integers(0, 3), st.lists(st.integers(1, 4), max_size=5)),
    st.tuples(st.just("update"), sorted_offsets, st.none() | st.tuples(bound, bound)),
    st.tuples(st.just("delete"), st.tuples(bound, bound)),
)


def span(model, lo, hi):
    """Rows of ``model`` outside [lo, hi] (None = open)."""
    keep = np.ones(len(model), dtype=bool)
    inside = np.ones(len(model), dtype=bool)
    if lo is not None:
        inside &= model.index >= at(lo)
    if hi is not None:
        inside &= model.index <= at(hi)
    keep &= ~inside
    return model[keep], model[inside]


def apply(model, op, seed):
    """(new model, data passed, kwargs) for one operation."""
    kind = op[0]
    if kind == "write":
        data = make_frame(op[1], seed)
        return data, ("write", data, {})
    if kind == "append":
        last = (
            int((model.index[-1] - pd.Timestamp(BASE)) / pd.Timedelta(minutes=1))
            if len(model)
            else 0
        )
        offsets = np.cumsum([last + op[1], *op[2]])
        data = make_frame(offsets, seed)
        return pd.concat([model, data]), ("append", data, {})
    if kind == "update":
        data = make_frame(op[1], seed)
        kwargs = {}
        if op[2] is None:
            lo, hi = op[1][0], op[1][-1]
            new = data
        else:
            lo, hi = op[2]
            if lo is not None and hi is not None and lo > hi:
                lo, hi = hi, lo
            kwargs["date_range"] = (None if lo is None else at(lo), None if hi is None else at(hi))
            _, new = span(data, lo, hi)
        outside, _ = span(model, lo, hi)
        before = outside[outside.index < at(lo)] if lo is not None else outside.iloc[:0]
        after = outside[outside.index > at(hi)] if hi is not None else outside.iloc[:0]
        return pd.concat([before, new, after]), ("update", data, kwargs)
    lo, hi = op[1]
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    rng = (None if lo is None else at(lo), None if hi is None else at(hi))
    outside, _ = span(model, lo, hi)
    return outside, ("delete", None, {"date_range": rng})


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.tuples(st.just("write"), sorted_offsets), st.lists(ops, max_size=7))
def test_operations_match_a_pandas_model(first, rest):
    symbol = f"s{next(_NAMES)}"
    model = empty_like(make_frame([0], 0))
    snapshots = []
    for seed, op in enumerate([first, *rest]):
        model, (kind, data, kwargs) = apply(model, op, 100 * seed)
        if kind == "write":
            item = _LIB.write(symbol, data)
        elif kind == "append":
            item = _LIB.append(symbol, data)
        elif kind == "update":
            item = _LIB.update(symbol, data, **kwargs)
        else:
            item = _LIB.delete_data_in_range(symbol, **kwargs)
        assert item.version == len(snapshots)
        assert item.rows == len(model)
        snapshots.append(model)
    for version, expected in enumerate(snapshots):
        got = _LIB.read(symbol, as_of=version).data
        assert_frame_equal(got, expected, check_freq=False)
    # ranged reads of the latest version agree with the model too
    latest = snapshots[-1]
    if len(latest):
        lo, hi = latest.index[len(latest) // 3], latest.index[-1]
        got = _LIB.read(symbol, date_range=(lo, hi), columns=["b"]).data
        assert_frame_equal(got, latest.loc[lo:hi, ["b"]], check_freq=False)
        assert_frame_equal(_LIB.tail(symbol, 2).data, latest.iloc[-2:], check_freq=False)
