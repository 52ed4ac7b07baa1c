"""Property tests: metadata and nullable columns survive a round trip unchanged."""

from __future__ import annotations

import datetime as dt

import numpy as np
from _hypothesis import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sheaf

_STORE = sheaf.open("mem://", output_format="numpy")
_LIB = _STORE.create_library("props")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes(timezones=st.none() | st.just(dt.timezone.utc))
    | st.dates()
)
metadata = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)

SETTINGS = settings(
    max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(metadata)
def test_metadata_round_trip(value):
    _LIB.write("m", {"a": [1]}, metadata=value)
    assert _LIB.read_metadata("m").metadata == value


@SETTINGS
@given(
    st.lists(st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=50),
    st.lists(st.none() | st.text(), max_size=50),
)
def test_nullable_columns_round_trip(ints, texts):
    n = min(len(ints), len(texts))
    ints, texts = ints[:n], texts[:n]
    _LIB.write("c", {"i": ints, "s": texts})
    out = _LIB.read("c").data
    assert out["i"].tolist() == ints
    assert out["s"].tolist() == texts
    assert len(out["i"]) == n
    if ints and all(v is not None for v in ints):
        assert type(out["i"]) is np.ndarray
