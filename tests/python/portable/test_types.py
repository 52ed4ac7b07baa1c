"""Results built from the library's JSON (sheaf._types): descriptions' date ranges with and
without pandas, version listings, batch errors."""

from __future__ import annotations

import datetime as dt
import sys

import numpy as np
import pytest

import sheaf
from sheaf import DataError, _types

DAYS = np.array(["2024-01-01", "2024-01-03"], dtype="datetime64[ns]")


def _described(lib, symbol, tz=None, unit="ns"):
    data = {"ts": DAYS.astype(f"datetime64[{unit}]"), "a": [1, 2]}
    lib.write(symbol, sheaf.Columns(data, timezones={"ts": tz} if tz else None, index="ts"))
    return lib.get_description(symbol).date_range


@pytest.mark.parametrize("pandas", ["as installed", "hidden"])
def test_description_date_ranges(lib, monkeypatch, pandas):
    if pandas == "hidden":  # the datetime fallback (import pandas fails)
        monkeypatch.setitem(sys.modules, "pandas", None)
    for unit in ("ns", "us", "ms", "s"):
        first, last = _described(lib, "naive_" + unit, unit=unit)
        assert (first, last) == (dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 3))
        assert first.tzinfo is None and last.tzinfo is None
    first, last = _described(lib, "utc", "UTC")
    assert first.utcoffset() == last.utcoffset() == dt.timedelta(0)
    assert last == dt.datetime(2024, 1, 3, tzinfo=dt.timezone.utc)
    if pandas == "hidden":  # fixed offsets need neither pandas nor zoneinfo
        for tz in ("+05:30", "-0200"):
            first, last = _described(lib, "offset" + tz, tz)
            sign = -1 if tz[0] == "-" else 1
            offset = sign * dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[-2:]))
            assert first.utcoffset() == last.utcoffset() == offset
            assert first == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
            assert last == dt.datetime(2024, 1, 3, tzinfo=dt.timezone.utc)
        try:
            import zoneinfo  # noqa: F401  (Python 3.9+)
        except ImportError:
            return
        first, last = _described(lib, "ny", "America/New_York")
        assert first.utcoffset() == last.utcoffset() == dt.timedelta(hours=-5)


def test_version_listing_fields(lib):
    first = lib.write("s", {"a": np.arange(2)}, metadata={"m": 1})
    second = lib.write("s", {"a": np.arange(3)})
    lib.snapshot("snap")
    listed = {key.version: info for key, info in lib.list_versions("s").items()}
    assert listed[0].timestamp_ns == first.timestamp_ns and listed[0].has_metadata is True
    assert listed[1].timestamp_ns == second.timestamp_ns and listed[1].has_metadata is False
    assert listed[1].snapshots == ["snap"] and listed[0].snapshots == []


def test_batch_errors_become_their_exceptions(lib):
    (err,) = lib.read_batch(["missing"])
    assert isinstance(err, DataError) and err.error_code == 302
    exc = err.exception()
    assert type(exc) is sheaf.NoSuchSymbolError
    assert (str(exc), exc.code, exc.status_name) == (
        err.exception_string,
        302,
        "SHEAF_ERR_NO_SUCH_SYMBOL",
    )
    odd = DataError("s", None, 350, "NOT_FOUND", "gone", "SHEAF_ERR_SOMETHING_NEW").exception()
    assert type(odd) is sheaf.NotFoundError
    assert (odd.code, odd.status_name, str(odd)) == (350, "SHEAF_ERR_SOMETHING_NEW", "gone")
    # An error object without fields: a generic error with empty texts.
    bare = _types.data_error("s", 3, {})
    assert (bare.error_code, bare.error_category) == (100, "GENERIC")
    assert (bare.exception_string, bare.status_name, bare.version_request) == ("", "", 3)
