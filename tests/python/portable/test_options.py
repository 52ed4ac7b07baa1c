"""How arguments become the library's option documents (sheaf._options), checked on the
documents themselves and, where the library's answer shows it, through a library.

pandas is not part of the portable suite: its ``Timestamp`` and ``NaT`` are stood in for by
look-alikes with the attributes ``_options`` reads (``full/test_pandas.py`` checks the real
ones give the same answers).
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import json

import numpy as np
import pytest

from sheaf import LibraryOptions, _options

NS = 10**9


class Timestamp(dt.datetime):
    """A pandas.Timestamp look-alike: a datetime with ``value`` (ns since the epoch, including
    the nanoseconds a datetime cannot hold) and ``nanosecond``."""

    nanosecond = 7

    @property
    def value(self) -> int:
        return calendar.timegm(self.timetuple()) * NS + self.microsecond * 1000 + 7


class NaTType(dt.datetime):
    """pandas.NaT's look-alike: its type is named ``NaTType`` and it has an integer ``value``."""

    value = -(2**63)
    nanosecond = -1


class WithValue(dt.datetime):
    """A datetime subclass with an unrelated ``value`` (no ``nanosecond``): not a Timestamp."""

    value = 12345


# -- datetimes ------------------------------------------------------------------------------------
def test_to_ns_takes_a_timestamps_own_nanoseconds():
    ts = Timestamp(2024, 1, 2, 3, 4, 5, 6)
    plain = dt.datetime(2024, 1, 2, 3, 4, 5, 6)
    assert _options.to_ns(plain, "x") == 1704164645_000006000
    assert _options.to_ns(ts, "x") == 1704164645_000006007
    assert _options.as_of_value(ts) == {"timestamp_ns": 1704164645_000006007}
    assert _options.date_range_value((ts, None)) == [{"ns": 1704164645_000006007}, None]
    # Only a value *and* a nanosecond make a Timestamp: other datetimes are converted.
    assert _options.to_ns(WithValue(2024, 1, 2, 3, 4, 5, 6), "x") == 1704164645_000006000


def test_to_ns_of_aware_naive_and_dates():
    paris = dt.timezone(dt.timedelta(hours=1))
    assert _options.to_ns(dt.datetime(1970, 1, 1, 1, tzinfo=paris), "x") == 0
    assert _options.to_ns(dt.datetime(1969, 12, 31, 23, 59, 59, 999999), "x") == -1000
    assert _options.to_ns(dt.date(1970, 1, 3), "x") == 2 * 86_400 * NS
    assert _options.to_ns(np.datetime64("1970-01-01T00:00:01.5"), "x") == 1_500_000_000
    assert _options.to_ns(np.datetime64(-5, "ns"), "x") == -5


def test_nat_is_an_error_as_a_point_and_open_as_a_bound():
    nat = NaTType(1970, 1, 1)
    with pytest.raises(ValueError, match="as_of"):
        _options.as_of_value(nat)
    with pytest.raises(ValueError, match="NaT"):
        _options.to_ns(np.datetime64("NaT", "ns"), "x")
    assert _options.date_range_value((nat, nat)) == [None, None]
    assert _options.date_range_value((None, np.datetime64(3, "ns"))) == [None, {"ns": 3}]


def test_range_errors_name_the_bad_end():
    with pytest.raises(ValueError, match="date_range start"):
        _options.date_range_value((np.datetime64("NaT", "ns"), None))
    with pytest.raises(ValueError, match="date_range end"):
        _options.date_range_value((None, np.datetime64("NaT", "ns")))
    with pytest.raises(TypeError, match="date_range end"):
        _options.date_range_value((None, "tomorrow"))


def test_ranges_are_pairs():
    for bad in [(1, 2, 3), (1,), b"ab", "ab", 5]:
        with pytest.raises(TypeError):
            _options.date_range_value(bad)
        with pytest.raises(TypeError):
            _options.row_range_value(bad)
    assert _options.row_range_value([np.int64(2), None]) == [2, None]


# -- finalize modes -------------------------------------------------------------------------------
class Method(enum.Enum):  # e.g. ArcticDB's StagedDataFinalizeMethod: the member name is the mode
    WRITE = 1
    APPEND = 2


class Named:
    name = "Append"  # has a name, no value


class Valued:
    value = "APPEND"  # has a value, no name


def test_finalize_modes_as_enums_names_and_values():
    def mode(m):
        return json.loads(_options.finalize_options(m, None, False))["mode"]

    assert mode("write") == "write" and mode("APPEND") == "append"
    assert mode(Method.WRITE) == "write" and mode(Method.APPEND) == "append"
    assert mode(Named()) == "append" and mode(Valued()) == "append"
    assert mode(None) == "write"  # as ArcticDB: no mode is a write
    other = enum.Enum("Other", "UPSERT")
    for bad in [1, "upsert", other.UPSERT]:
        with pytest.raises(ValueError):
            mode(bad)


def test_finalize_options_document():
    assert json.loads(_options.finalize_options("append", None, False)) == {"mode": "append"}
    assert json.loads(_options.finalize_options("write", True, True)) == {
        "mode": "write",
        "sort": True,
        "prune_previous_versions": True,
    }
    assert json.loads(_options.finalize_options("write", 0, False)) == {
        "mode": "write",
        "prune_previous_versions": False,
    }
    assert json.loads(_options.finalize_options(None, None, False, ["a"], False, True)) == {
        "mode": "write",
        "chunks": ["a"],
        "validate_index": False,
        "delete_staged_data_on_failure": True,
    }


def _live(lib, symbol):
    return sorted(v.version for v in lib.list_versions(symbol))


def test_finalize_and_write_metadata_prune_as_asked(store):
    lib = store.create_library("pruning", prune_previous_versions=True)
    lib.write("s", {"a": np.arange(2)}, prune_previous_versions=False)
    lib.write("s", {"a": np.arange(3)}, prune_previous_versions=False)
    assert _live(lib, "s") == [0, 1]
    lib.write_metadata("s", {"m": 1}, prune_previous_versions=False)
    assert _live(lib, "s") == [0, 1, 2]
    lib.stage("s", {"a": np.arange(1)})
    lib.finalize_staged_data("s", mode=Method.APPEND, prune_previous_versions=False)
    assert _live(lib, "s") == [0, 1, 2, 3]
    assert lib.read("s").data["a"].tolist() == [0, 1, 2, 0]
    lib.stage("s", {"a": np.arange(1)})
    lib.finalize_staged_data("s", mode="append")  # the library's default: prune
    assert _live(lib, "s") == [4]
    lib.write("s", {"a": np.arange(2)}, prune_previous_versions=False)
    lib.write_metadata("s", {"m": 2})
    assert _live(lib, "s") == [6]
    lib.write_metadata("s", {"m": 3}, prune_previous_versions=True)
    assert _live(lib, "s") == [7] and lib.read("s").metadata == {"m": 3}

    keep = store.create_library("keeping")
    keep.write("s", {"a": np.arange(2)})
    keep.stage("s", {"a": np.arange(1)})
    keep.finalize_staged_data("s", mode="write", prune_previous_versions=True)
    assert _live(keep, "s") == [1]
    assert _options.prune_options(False) == b'{"prune_previous_versions":false}'
    assert _options.prune_options(None) == b""


# -- library options ------------------------------------------------------------------------------
def test_library_options_are_kept_unless_a_keyword_overrides_them(store):
    base = LibraryOptions(
        rows_per_segment=2, compression="zstd", prune_previous_versions=True, dynamic_schema=True
    )
    assert store.create_library("base", library_options=base).options == base
    over = store.create_library(
        "over",
        library_options=base,
        rows_per_segment=3,
        compression="none",
        prune_previous_versions=False,
        dynamic_schema=False,
    )
    assert over.options == LibraryOptions(3, "none", False, False)
    assert _options.merge_options(base, None, None, None, None) == base
    with pytest.raises(TypeError):
        LibraryOptions(rows_per_segment=True).to_json()
    with pytest.raises(TypeError):
        store.create_library("bad", rows_per_segment=2.0)


# -- versions ----------------------------------------------------------------------------------
def test_version_numbers_are_not_bools(lib):
    lib.write("s", {"a": np.arange(2)})
    lib.write("s", {"a": np.arange(3)})
    for bad in [True, [True], [0, -1], ["0"]]:
        with pytest.raises(TypeError):
            lib.delete("s", bad)
    for bad in [True, False, "0", -1, 1.0]:
        with pytest.raises(TypeError):
            lib.snapshot("snap", versions={"s": bad})
    lib.snapshot("snap", versions={"s": np.int64(0)})
    assert lib.read("s", as_of="snap").data["a"].tolist() == [0, 1]
    assert _live(lib, "s") == [0, 1]
