"""Metadata with pandas values: Timestamps keep their nanoseconds and time zone offset."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_a_nanosecond_timestamp_round_trips_exactly(lib, tz):
    stamp = pd.Timestamp("2024-03-31T01:59:59.123456789", tz=tz)
    lib.write("s", pd.DataFrame({"a": [1]}), metadata={"at": stamp, "list": [stamp]})
    for got in (lib.read("s").metadata, lib.read_metadata("s").metadata):
        at = got["at"]
        assert isinstance(at, pd.Timestamp)
        assert at == stamp and at.value == stamp.value and at.nanosecond == 789
        assert at.utcoffset() == stamp.utcoffset()  # the offset is kept (the zone's name is not)
        assert got["list"] == [stamp]


def test_timestamps_without_nanoseconds_read_back_as_datetime(lib):
    stamp = pd.Timestamp("2024-01-04T05:06:07.250", tz="UTC")
    lib.write("s", pd.DataFrame({"a": [1]}), metadata={"at": stamp})
    at = lib.read("s").metadata["at"]
    assert type(at) is dt.datetime and at == stamp


def test_nat_is_refused(lib):
    with pytest.raises(TypeError, match="NaT"):
        lib.write("s", pd.DataFrame({"a": [1]}), metadata={"at": pd.NaT})
    with pytest.raises(TypeError, match="NaT"):
        lib.write("s", pd.DataFrame({"a": [1]}), metadata=[np.datetime64("NaT")])
    assert "s" not in lib
