"""Time series through Python with numpy only: append, update, delete_data_in_range, ranged
reads, head/tail, as_of forms, descriptions, snapshots, pruning, dynamic schemas, staged writes
and compaction."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

import sheaf

DAY = np.timedelta64(1, "D")
T0 = np.datetime64("2024-01-01T00:00:00", "ns")


def days(start, n):
    """``n`` consecutive days from day ``start`` (0 = 2024-01-01), as datetime64[ns]."""
    return T0 + np.arange(start, start + n) * DAY


def frame(start, n, value=None):
    vals = np.arange(start, start + n, dtype=np.int64) if value is None else np.full(n, value)
    return {"ts": days(start, n), "v": vals, "f": vals * 0.5}


def day(i):
    return dt.datetime(2024, 1, 1) + dt.timedelta(days=i)


def vals(item):
    return item.data["v"].tolist()


@pytest.fixture
def tslib(store):
    lib = store.create_library("ts", rows_per_segment=4)
    lib.write("s", frame(0, 10), index="ts", metadata={"k": 1})
    return lib


# --------------------------------------------------------------------------------------------
# append
# --------------------------------------------------------------------------------------------


def test_append_adds_rows_as_a_new_version(tslib):
    item = tslib.append("s", frame(10, 3))
    assert item.version == 1 and item.rows == 13 and item.data is None
    assert item.metadata is None  # metadata is not carried over
    assert isinstance(item.timestamp, dt.datetime)
    out = tslib.read("s")
    assert vals(out) == list(range(13)) and out.index == "ts"
    assert out.data["ts"].tolist() == days(0, 13).tolist()
    assert tslib.read("s", as_of=0).rows == 10
    assert tslib.read_metadata("s", as_of=0).metadata == {"k": 1}
    assert tslib.read_metadata("s").metadata is None
    with_meta = tslib.append("s", frame(13, 1), metadata={"k": 2})
    assert with_meta.metadata == {"k": 2} == tslib.read_metadata("s").metadata


def test_append_checks_index_order_unless_told_not_to(tslib):
    with pytest.raises(sheaf.UnsortedIndexError):
        tslib.append("s", frame(5, 2))
    assert tslib.read("s").version == 0
    tslib.append("s", frame(9, 1))  # equal to the last stored value is fine
    tslib.append("s", frame(5, 2), validate_index=False)
    assert vals(tslib.read("s")) == [*range(10), 9, 5, 6]


def test_append_creates_a_missing_symbol_and_checks_columns(store):
    lib = store.create_library("plain")
    assert lib.append("new", {"a": [1, 2]}).version == 0
    assert lib.read("new").data["a"].tolist() == [1, 2]
    with pytest.raises(sheaf.SchemaError):
        lib.append("new", {"b": [1]})
    with pytest.raises(sheaf.SchemaError):
        lib.append("new", {"a": [1.5]})


def test_append_prune_previous_versions_per_call_and_per_library(store):
    lib = store.create_library("p")
    lib.append("s", {"a": [1]})
    lib.append("s", {"a": [2]}, prune_previous_versions=True)
    assert [k.version for k in lib.list_versions("s")] == [1]
    pruning = store.create_library("q", prune_previous_versions=True)
    pruning.write("s", {"a": [1]})
    pruning.append("s", {"a": [2]})
    pruning.append("s", {"a": [3]}, prune_previous_versions=False)
    assert [k.version for k in pruning.list_versions("s")] == [2, 1]
    assert pruning.read("s").data["a"].tolist() == [1, 2, 3]


# --------------------------------------------------------------------------------------------
# update and delete_data_in_range
# --------------------------------------------------------------------------------------------


def test_update_replaces_the_span_of_the_new_data(tslib):
    # new rows on days 3 and 5: the span [3, 5] is replaced, so day 4 goes away
    new = {"ts": np.array([days(3, 1)[0], days(5, 1)[0]]), "v": [30, 50], "f": [0.0, 0.0]}
    item = tslib.update("s", new, metadata={"u": 1})
    assert item.version == 1 and item.rows == 9 and item.metadata == {"u": 1}
    assert vals(tslib.read("s")) == [0, 1, 2, 30, 50, 6, 7, 8, 9]
    assert vals(tslib.read("s", as_of=0)) == list(range(10))


def test_update_with_date_range_drops_new_rows_outside_it(tslib):
    tslib.update("s", frame(2, 6, value=-1), date_range=(day(4), day(5)))
    assert vals(tslib.read("s")) == [0, 1, 2, 3, -1, -1, 6, 7, 8, 9]
    # open ends
    tslib.update("s", frame(8, 5, value=-2), date_range=(day(9), None))
    assert vals(tslib.read("s")) == [0, 1, 2, 3, -1, -1, 6, 7, 8, -2, -2, -2, -2]
    tslib.update("s", frame(0, 1, value=-3), date_range=(None, day(1)))
    assert vals(tslib.read("s"))[:3] == [-3, 2, 3]


def test_update_extends_past_the_end_and_before_the_start(tslib):
    tslib.update("s", frame(8, 4, value=7))
    assert vals(tslib.read("s")) == [*range(8), 7, 7, 7, 7]
    tslib.update("s", frame(-2, 3, value=5))
    assert vals(tslib.read("s"))[:4] == [5, 5, 5, 1]
    assert tslib.read("s").data["ts"][0] == days(-2, 1)[0]


def test_update_empty_data_choices(tslib):
    """Sheaf's choices (README): empty data without date_range still makes a version with the
    same rows (as ArcticDB); with a date_range it deletes the range."""
    empty = {"ts": np.array([], dtype="datetime64[ns]"), "v": np.array([], np.int64), "f": []}
    empty["f"] = np.array([], dtype=np.float64)
    assert tslib.update("s", empty).version == 1
    assert vals(tslib.read("s")) == list(range(10))
    assert tslib.update("s", empty, date_range=(day(2), day(7))).version == 2
    assert vals(tslib.read("s")) == [0, 1, 8, 9]


def test_update_errors(tslib, store):
    with pytest.raises(sheaf.NoSuchSymbolError):
        tslib.update("missing", frame(0, 1))
    plain = store.create_library("plain")
    plain.write("noindex", {"ts": days(0, 2), "v": [1, 2], "f": [0.0, 0.0]})
    with pytest.raises(sheaf.SchemaError):
        plain.update("noindex", frame(0, 1))
    with pytest.raises(sheaf.SchemaError):
        tslib.update("s", {"ts": days(0, 1), "other": [1]})
    with pytest.raises(TypeError):
        tslib.update("s", frame(0, 1), date_range=(1.5, None))
    with pytest.raises(TypeError):
        tslib.update("s", frame(0, 1), date_range="2024-01-01")


def test_update_upsert_creates_a_missing_symbol(tslib):
    # A dict has no detectable index: without one named the data is written unindexed.
    tslib.update("plain", frame(0, 3), upsert=True)
    assert tslib.get_description("plain").index is None
    tslib.update("fresh", frame(0, 3), upsert=True, index="ts")
    assert vals(tslib.read("fresh")) == [0, 1, 2]
    assert tslib.get_description("fresh").index is not None


def test_update_upsert_of_an_existing_symbol_is_a_plain_update(tslib):
    tslib.update("s", frame(0, 2, value=9), upsert=True)
    assert vals(tslib.read("s"))[:3] == [9, 9, 2]


def test_update_prune_previous_versions(tslib):
    tslib.update("s", frame(0, 1, value=9), prune_previous_versions=True)
    assert [k.version for k in tslib.list_versions("s")] == [1]


def test_delete_data_in_range(tslib):
    item = tslib.delete_data_in_range("s", (day(2), day(4)))
    assert item.version == 1 and item.rows == 7
    assert item.metadata == {"k": 1}  # the latest metadata is kept
    assert vals(tslib.read("s")) == [0, 1, 5, 6, 7, 8, 9]
    tslib.delete_data_in_range("s", (day(8), None), prune_previous_versions=True)
    assert vals(tslib.read("s")) == [0, 1, 5, 6, 7]
    assert [k.version for k in tslib.list_versions("s")] == [2]
    with pytest.raises(TypeError):
        tslib.delete_data_in_range("s", None)
    with pytest.raises(sheaf.NoSuchSymbolError):
        tslib.delete_data_in_range("nope", (day(0), day(1)))


def test_integer_index_update_and_raw_bounds(store):
    lib = store.create_library("ints")
    lib.write("s", {"k": np.arange(0, 100, 10), "v": np.arange(10)}, index="k")
    lib.update("s", {"k": [25, 35], "v": [-1, -2]})
    assert lib.read("s").data["k"].tolist() == [0, 10, 20, 25, 35, 40, 50, 60, 70, 80, 90]
    assert lib.read("s", date_range=(20, 40)).data["v"].tolist() == [2, -1, -2, 4]
    lib.delete_data_in_range("s", (None, 20))
    assert lib.read("s").data["k"].tolist()[:2] == [25, 35]


# --------------------------------------------------------------------------------------------
# reads: ranges, columns, head and tail
# --------------------------------------------------------------------------------------------


def test_date_range_is_inclusive_with_open_ends(tslib):
    assert vals(tslib.read("s", date_range=(day(2), day(5)))) == [2, 3, 4, 5]
    assert vals(tslib.read("s", date_range=(None, day(1)))) == [0, 1]
    assert vals(tslib.read("s", date_range=(day(8), None))) == [8, 9]
    assert vals(tslib.read("s", date_range=[None, None])) == list(range(10))
    assert vals(tslib.read("s", date_range=(day(20), None))) == []
    # between two rows
    half = dt.timedelta(hours=12)
    assert vals(tslib.read("s", date_range=(day(2) + half, day(4) + half))) == [3, 4]
    # numpy bounds, and tz-aware bounds (an instant: UTC midnight is the naive index's value)
    assert vals(tslib.read("s", date_range=(days(3, 1)[0], np.datetime64("2024-01-04")))) == [3]
    utc = dt.timezone.utc
    assert vals(tslib.read("s", date_range=(day(3).replace(tzinfo=utc), day(3)))) == [3]
    assert vals(tslib.read("s", date_range=(dt.date(2024, 1, 3), dt.date(2024, 1, 3)))) == [2]


def test_date_range_loads_only_overlapping_segments(tslib):
    from sheaf import _lib

    def loaded():
        out = _lib.ffi.new("SheafBytes *")
        slot = _lib.errslot()
        _lib.check(_lib.lib.sheaf_library_stats(tslib._h, out, slot), slot)
        import json

        return json.loads(_lib.take_bytes(out))["segments_loaded"]

    before = loaded()
    assert vals(tslib.read("s", date_range=(day(0), day(1)))) == [0, 1]
    assert loaded() - before == 1  # rows_per_segment=4: 3 segments, one overlaps


def test_row_range_has_iloc_semantics(tslib):
    assert vals(tslib.read("s", row_range=(2, 5))) == [2, 3, 4]
    assert vals(tslib.read("s", row_range=(-3, None))) == [7, 8, 9]
    assert vals(tslib.read("s", row_range=(None, -8))) == [0, 1]
    assert vals(tslib.read("s", row_range=(5, 2))) == []
    assert vals(tslib.read("s", row_range=(0, 100))) == list(range(10))
    item = tslib.read("s", row_range=(3, 4))
    assert item.rows == 10  # the version's row count, not the slice's


def test_both_ranges_are_an_error(tslib):
    with pytest.raises(sheaf.InvalidArgumentError):
        tslib.read("s", date_range=(day(0), day(1)), row_range=(0, 1))


def test_date_range_needs_an_index(store):
    lib = store.create_library("plain")
    lib.write("s", {"v": [1, 2]})
    with pytest.raises(sheaf.SheafError) as info:
        lib.read("s", date_range=(day(0), day(1)))
    assert isinstance(info.value, ValueError)


def test_columns_selection_order_and_errors(tslib):
    out = tslib.read("s", columns=["f", "v"]).data
    assert list(out) == ["ts", "f", "v"]  # the index comes first unless listed
    out = tslib.read("s", columns=["v", "ts"]).data
    assert list(out) == ["v", "ts"]
    only_index = tslib.read("s", columns=[]).data
    assert list(only_index) == ["ts"] and len(only_index["ts"]) == 10
    with pytest.raises(sheaf.SchemaError) as info:
        tslib.read("s", columns=["v", "nope"])
    assert "nope" in str(info.value)
    with pytest.raises(TypeError):
        tslib.read("s", columns="v")
    combined = tslib.read("s", columns=["f"], row_range=(-2, None)).data
    assert combined["f"].tolist() == [4.0, 4.5]


def test_head_and_tail(tslib):
    assert vals(tslib.head("s")) == [0, 1, 2, 3, 4]
    assert vals(tslib.head("s", 2)) == [0, 1]
    assert vals(tslib.head("s", -7)) == [0, 1, 2]
    assert vals(tslib.head("s", 0)) == []
    assert vals(tslib.head("s", 50)) == list(range(10))
    assert vals(tslib.tail("s")) == [5, 6, 7, 8, 9]
    assert vals(tslib.tail("s", 2)) == [8, 9]
    assert vals(tslib.tail("s", -7)) == [7, 8, 9]
    assert vals(tslib.tail("s", 0)) == []
    assert vals(tslib.tail("s", 50)) == list(range(10))
    tslib.append("s", frame(10, 2))
    assert vals(tslib.tail("s", 1, as_of=0)) == [9]
    assert list(tslib.head("s", 1, columns=["f"]).data) == ["ts", "f"]
    with pytest.raises(TypeError):
        tslib.head("s", 1.5)


# --------------------------------------------------------------------------------------------
# as_of
# --------------------------------------------------------------------------------------------


def test_as_of_versions_negative_and_datetimes(tslib):
    time.sleep(0.002)
    between = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.002)
    tslib.append("s", frame(10, 1))
    tslib.append("s", frame(11, 1))
    assert tslib.read("s", as_of=-1).version == 2
    assert tslib.read("s", as_of=-3).version == 0
    assert tslib.read("s", as_of=1).rows == 11
    assert tslib.read("s", as_of=between).version == 0
    # a naive datetime is UTC
    assert tslib.read("s", as_of=between.replace(tzinfo=None)).version == 0
    # other zones are converted
    tokyo = between.astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert tslib.read("s", as_of=tokyo).version == 0
    assert tslib.read("s", as_of=np.datetime64(between.replace(tzinfo=None), "ns")).version == 0
    assert tslib.read("s", as_of=dt.datetime.now(dt.timezone.utc)).version == 2
    latest = tslib.read_metadata("s")
    assert tslib.read("s", as_of=latest.timestamp).version in (1, 2)  # microseconds truncated
    exact = np.datetime64(latest.timestamp_ns, "ns")  # the commit time itself: that version
    assert tslib.read("s", as_of=exact).version == 2
    assert tslib.read("s", as_of=exact - np.timedelta64(1, "ns")).version == 1
    with pytest.raises(sheaf.NoSuchVersionError):
        tslib.read("s", as_of=dt.datetime(2000, 1, 1))
    with pytest.raises(TypeError):
        tslib.read("s", as_of=dt.date(2024, 1, 1))
    with pytest.raises(TypeError):
        tslib.read("s", as_of=1.0)


def test_as_of_after_deletes_skips_deleted_versions(tslib):
    tslib.append("s", frame(10, 1))
    tslib.append("s", frame(11, 1))
    tslib.delete("s", versions=[1])
    assert tslib.read("s", as_of=-2).version == 0
    with pytest.raises(sheaf.NoSuchVersionError):
        tslib.read("s", as_of=1)


def test_has_symbol_with_as_of(tslib):
    tslib.append("s", frame(10, 1))
    tslib.snapshot("snap")
    assert tslib.has_symbol("s") and tslib.has_symbol("s", as_of=0)
    assert tslib.has_symbol("s", as_of=-2) and not tslib.has_symbol("s", as_of=-3)
    assert tslib.has_symbol("s", as_of="snap")
    assert not tslib.has_symbol("s", as_of="no-such-snapshot")
    assert not tslib.has_symbol("s", as_of=dt.datetime(2000, 1, 1))
    assert not tslib.has_symbol("other", as_of=0)


# --------------------------------------------------------------------------------------------
# descriptions
# --------------------------------------------------------------------------------------------


def test_get_description(tslib):
    desc = tslib.get_description("s")
    assert isinstance(desc, sheaf.SymbolDescription)
    assert desc.symbol == "s" and desc.version == 0 and desc.row_count == 10
    assert desc.columns == (
        sheaf.NameWithDType("v", "Int64", True),
        sheaf.NameWithDType("f", "Float64", True),
    )
    assert desc.index.name == "ts" and desc.index.dtype.startswith("Timestamp")
    assert desc.index_type == "timestamp" and desc.sorted == "ASCENDING"
    first, last = desc.date_range
    assert (first.year, first.month, first.day) == (2024, 1, 1)
    assert (last.year, last.month, last.day) == (2024, 1, 10)
    assert desc.index_range == (
        int(days(0, 1)[0].astype("int64")),
        int(days(9, 1)[0].astype("int64")),
    )
    assert desc.segments == 3 and desc.has_metadata is True
    before = time.time_ns()
    tslib.append("s", frame(10, 2))
    after = time.time_ns()
    latest = tslib.get_description("s")
    assert latest.row_count == 12
    assert before <= latest.last_update_time_ns <= after  # when version 1 was written
    assert latest.last_update_time == as_datetime(latest.last_update_time_ns)
    first = tslib.get_description("s", as_of=0)
    assert first.row_count == 10
    assert first.last_update_time_ns == desc.last_update_time_ns < before


def test_get_description_of_other_indexes(store):
    lib = store.create_library("d")
    lib.write("none", {"a": [1, 2, 3]})
    desc = lib.get_description("none")
    assert desc.index is None and desc.index_type == "none" and desc.sorted == "UNKNOWN"
    assert desc.date_range is None and desc.index_range is None and desc.row_count == 3
    lib.write("ints", {"k": [5, 7], "a": ["x", None]}, index="k")
    desc = lib.get_description("ints")
    assert desc.index_type == "integer" and desc.index_range == (5, 7) and desc.date_range is None
    dates = np.array(["2024-02-01", "2024-03-01"], dtype="datetime64[D]")
    lib.write("dates", {"d": dates, "a": [1, 2]}, index="d")
    desc = lib.get_description("dates")
    assert desc.index_type == "date"
    assert desc.date_range == (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
    lib.write("unsorted", {"k": [3, 1], "a": [1, 2]}, index="k", validate_index=False)
    assert lib.get_description("unsorted").sorted == "UNSORTED"
    with pytest.raises(sheaf.NoSuchSymbolError):
        lib.get_description("missing")


def test_description_date_range_keeps_the_time_zone(store):
    lib = store.create_library("tz")
    ts = sheaf.Columns(
        {"ts": days(0, 2).astype("datetime64[us]"), "a": [1, 2]},
        timezones={"ts": "America/New_York"},
        index="ts",
    )
    lib.write("s", ts)
    first, _ = lib.get_description("s").date_range
    assert first.astimezone(dt.timezone.utc).replace(tzinfo=None) == dt.datetime(2024, 1, 1)
    try:
        import zoneinfo  # noqa: F401  (Python 3.9+)
    except ImportError:  # Python 3.8 without pandas: the instant, in UTC
        assert first.utcoffset() == dt.timedelta(0)
    else:
        assert first.utcoffset() == dt.timedelta(hours=-5)


# --------------------------------------------------------------------------------------------
# snapshots and version listings
# --------------------------------------------------------------------------------------------


def test_snapshots(tslib):
    tslib.write("t", {"a": [1]})
    tslib.snapshot("first", metadata={"why": "eod", "at": dt.datetime(2024, 1, 1)})
    tslib.append("s", frame(10, 2))
    tslib.write("t", {"a": [2]})
    tslib.snapshot("only-s", skip_symbols=["t"])
    tslib.snapshot("pinned", versions={"s": 0, "t": 1})
    assert tslib.list_snapshots() == {
        "first": {"why": "eod", "at": dt.datetime(2024, 1, 1)},
        "only-s": None,
        "pinned": None,
    }
    assert tslib.list_snapshots(load_metadata=False) == ["first", "only-s", "pinned"]
    assert tslib.list_symbols(snapshot_name="only-s") == ["s"]
    assert tslib.list_symbols(snapshot_name="first") == ["s", "t"]
    assert tslib.read("s", as_of="first").rows == 10
    assert tslib.read("t", as_of="first").data["a"].tolist() == [1]
    assert tslib.read("s", as_of="pinned").version == 0
    assert tslib.read("t", as_of="pinned").version == 1
    with pytest.raises(sheaf.NoSuchSymbolError):
        tslib.read("t", as_of="only-s")  # skipped
    with pytest.raises(sheaf.SnapshotExistsError):
        tslib.snapshot("first")
    with pytest.raises(sheaf.NoSuchVersionError):
        tslib.snapshot("bad", versions={"s": 99})
    with pytest.raises(sheaf.NoSuchSnapshotError):
        tslib.read("s", as_of="nope")
    with pytest.raises(sheaf.NoSuchSnapshotError):
        tslib.list_symbols(snapshot_name="nope")
    tslib.delete_snapshot("only-s")
    assert "only-s" not in tslib.list_snapshots()
    with pytest.raises(sheaf.NoSuchSnapshotError):
        tslib.delete_snapshot("only-s")


def test_snapshot_keeps_deleted_versions_readable(tslib):
    tslib.snapshot("keep")
    tslib.append("s", frame(10, 1))
    tslib.delete("s", versions=[0])
    with pytest.raises(sheaf.NoSuchVersionError):
        tslib.read("s", as_of=0)
    assert vals(tslib.read("s", as_of="keep")) == list(range(10))
    tslib.delete("s")
    assert "s" not in tslib and tslib.list_symbols() == []
    item = tslib.read("s", as_of="keep")
    assert item.version == 0 and item.metadata == {"k": 1}
    assert vals(item) == list(range(10))
    assert tslib.read("s", as_of="keep", row_range=(0, 2)).data["v"].tolist() == [0, 1]
    assert tslib.list_symbols(snapshot_name="keep") == ["s"]
    versions = tslib.list_versions("s")
    assert list(versions) == [sheaf.SymbolVersion("s", 0)]
    info = versions[sheaf.SymbolVersion("s", 0)]
    assert info.deleted is True and info.snapshots == ["keep"]
    tslib.delete_snapshot("keep")
    with pytest.raises(sheaf.NoSuchSnapshotError):
        tslib.read("s", as_of="keep")
    assert tslib.list_versions("s") == {}


def test_list_versions_filters(tslib):
    tslib.append("s", frame(10, 1))
    tslib.write("t", {"a": [1]})
    tslib.snapshot("snap", versions={"s": 0})
    tslib.write("t", {"a": [2]})
    everything = tslib.list_versions()
    assert [tuple(k) for k in everything] == [("s", 1), ("s", 0), ("t", 1), ("t", 0)]
    assert everything[sheaf.SymbolVersion("s", 0)].snapshots == ["snap"]
    assert everything[sheaf.SymbolVersion("s", 1)].snapshots == []
    assert tslib.list_versions(skip_snapshots=True)[sheaf.SymbolVersion("s", 0)].snapshots == []
    latest = tslib.list_versions(latest_only=True)
    assert [tuple(k) for k in latest] == [("s", 1), ("t", 1)]
    assert [tuple(k) for k in tslib.list_versions("t", latest_only=True)] == [("t", 1)]
    assert [tuple(k) for k in tslib.list_versions(snapshot="snap")] == [("s", 0)]
    with pytest.raises(sheaf.NoSuchSnapshotError):
        tslib.list_versions(snapshot="nope")
    info = everything[sheaf.SymbolVersion("s", 1)]
    assert info.rows == 11 and info.index_column == "ts" and info.deleted is False


def test_list_symbols_regex(tslib):
    for name in ("eurusd", "usdjpy", "btc"):
        tslib.write(name, {"a": [1]})
    assert tslib.list_symbols(regex="usd") == ["eurusd", "usdjpy"]
    assert tslib.list_symbols(regex="^usd") == ["usdjpy"]
    assert tslib.list_symbols(regex="(?i)^EUR|^btc$") == ["btc", "eurusd"]
    tslib.snapshot("snap")
    tslib.write("usdchf", {"a": [1]})
    assert tslib.list_symbols(snapshot_name="snap", regex="usd$") == ["eurusd"]
    with pytest.raises(sheaf.InvalidArgumentError, match="not a regular expression"):
        tslib.list_symbols(regex="(unclosed")
    with pytest.raises(sheaf.InvalidArgumentError):
        tslib.list_symbols(regex="(?=lookahead)")


def test_list_symbols_regex_takes_linear_time_on_a_pathological_pattern(tslib):
    # Python's backtracking re needs about 2**40 steps for this name (it would not return within
    # the run); the library's regex is linear. Nothing here is timed.
    tslib.write("a" * 40 + "!", {"a": [1]})
    tslib.write("aaaa", {"a": [1]})
    assert tslib.list_symbols(regex="^(a+)+$") == ["aaaa"]


# --------------------------------------------------------------------------------------------
# pruning, dynamic schema, compaction
# --------------------------------------------------------------------------------------------


def test_prune_previous_versions_method(tslib):
    tslib.append("s", frame(10, 1))
    tslib.append("s", frame(11, 1))
    tslib.snapshot("snap", versions={"s": 0})
    tslib.prune_previous_versions("s")
    assert [k.version for k in tslib.list_versions("s")] == [2, 0]  # 0 only through the snapshot
    assert tslib.list_versions("s")[sheaf.SymbolVersion("s", 0)].deleted is True
    assert tslib.read("s", as_of="snap").rows == 10
    assert tslib.read("s").rows == 12
    with pytest.raises(sheaf.NoSuchSymbolError):
        tslib.prune_previous_versions("nope")


def test_dynamic_schema(store):
    lib = store.create_library("dyn", dynamic_schema=True)
    assert lib.options.dynamic_schema is True
    assert store.create_library("static").options.dynamic_schema is False
    assert (
        store.create_library(
            "via-options", sheaf.LibraryOptions(dynamic_schema=True)
        ).options.dynamic_schema
        is True
    )
    lib.write("s", {"ts": days(0, 2), "a": np.array([1, 2], dtype=np.int32)}, index="ts")
    # a new column, and a wider integer
    lib.append("s", {"ts": days(2, 1), "a": np.array([3], dtype=np.int64), "b": ["x"]})
    out = lib.read("s").data
    assert out["a"].dtype == np.int64 and out["a"].tolist() == [1, 2, 3]
    assert out["b"].tolist() == [None, None, "x"]
    # a missing column is null-filled; int -> float widening
    lib.append("s", {"ts": days(3, 1), "a": [4.5]})
    out = lib.read("s").data
    assert out["a"].tolist() == [1.0, 2.0, 3.0, 4.5]
    assert out["b"].tolist() == [None, None, "x", None]
    lib.update("s", {"ts": days(1, 1), "c": [True]})
    out = lib.read("s").data
    assert out["c"].tolist() == [None, True, None, None]
    assert out["a"].tolist() == [1.0, None, 3.0, 4.5]
    static = store["static"]
    static.write("s", {"a": [1]})
    with pytest.raises(sheaf.SchemaError):
        static.append("s", {"a": [1], "b": [2]})


def test_compact_data(tslib):
    for i in range(6):
        tslib.append("s", frame(10 + i, 1))
    assert tslib.get_description("s").segments == 9
    item = tslib.compact_data("s")
    assert item.version == 7 and item.rows == 16 and item.metadata is None
    assert tslib.get_description("s").segments == 4
    assert vals(tslib.read("s")) == list(range(16))
    again = tslib.compact_data("s")
    assert again.version == 7  # already compact: the latest version, unchanged
    tslib.write_metadata("s", {"m": 1})
    item = tslib.compact_data("s", rows_per_segment=16)
    assert item.metadata == {"m": 1} and tslib.get_description("s").segments == 1
    with pytest.raises(TypeError):
        tslib.compact_data("s", rows_per_segment="many")


# --------------------------------------------------------------------------------------------
# staged writes
# --------------------------------------------------------------------------------------------


def test_stage_and_finalize_write_and_append(tslib):
    tslib.stage("st", frame(4, 2), index="ts")
    tslib.stage("st", frame(0, 2), index="ts")
    tslib.stage("other", {"a": [1]})
    assert tslib.get_staged_symbols() == ["other", "st"]
    assert "st" not in tslib
    item = tslib.finalize_staged_data("st", metadata={"f": 1})
    assert item.version == 0 and item.rows == 4 and item.metadata == {"f": 1}
    assert vals(tslib.read("st")) == [0, 1, 4, 5]  # ordered by the index
    assert tslib.get_staged_symbols() == ["other"]
    tslib.stage("st", frame(6, 1), index="ts")
    tslib.finalize_staged_data("st", mode="append")
    assert vals(tslib.read("st")) == [0, 1, 4, 5, 6]
    assert tslib.delete_staged_data("other") == 1
    assert tslib.get_staged_symbols() == []
    with pytest.raises(sheaf.NotFoundError):
        tslib.finalize_staged_data("st")
    with pytest.raises(ValueError):
        tslib.finalize_staged_data("st", mode="upsert")


def test_overlapping_chunks_need_sort_and_finalize(tslib):
    tslib.stage("st", frame(0, 3), index="ts")
    tslib.stage("st", frame(1, 3), index="ts")
    with pytest.raises(sheaf.UnsortedIndexError):
        tslib.finalize_staged_data("st")
    assert tslib.get_staged_symbols() == ["st"]  # a failed finalize keeps the chunks
    item = tslib.sort_and_finalize_staged_data("st", prune_previous_versions=True)
    assert item.rows == 6
    assert tslib.read("st").data["ts"].tolist() == sorted(days(0, 3).tolist() + days(1, 3).tolist())
    assert vals(tslib.read("st")) == [0, 1, 1, 2, 2, 3]


def test_stage_validates_the_index(tslib):
    unsorted = {"ts": days(0, 3)[::-1].copy(), "v": [1, 2, 3], "f": [0.0, 0.0, 0.0]}
    with pytest.raises(sheaf.UnsortedIndexError):
        tslib.stage("st", unsorted, index="ts")
    tslib.stage("st", unsorted, validate_index=False, index="ts")
    assert tslib.sort_and_finalize_staged_data("st").rows == 3
    assert tslib.read("st").data["v"].tolist() == [3, 2, 1]


def test_stage_results_finalize_only_their_chunks(tslib):
    first = tslib.stage("st", frame(0, 2), index="ts")
    second = tslib.stage("st", frame(2, 2), index="ts")
    third = tslib.stage("st", frame(4, 2), index="ts")
    assert isinstance(first, sheaf.StageResult) and first.symbol == "st"
    assert len({first.chunk_id, second.chunk_id, third.chunk_id}) == 3
    item = tslib.finalize_staged_data("st", stage_results=[third, first])
    assert item.rows == 4 and vals(tslib.read("st")) == [0, 1, 4, 5]
    assert tslib.get_staged_symbols() == ["st"]  # the second chunk is still staged
    with pytest.raises(sheaf.NotFoundError, match=first.chunk_id):
        tslib.finalize_staged_data("st", stage_results=[first, second])  # first is gone
    assert tslib.get_staged_symbols() == ["st"]  # and the refusal finalized nothing
    with pytest.raises(ValueError):
        tslib.finalize_staged_data("other", stage_results=[second])
    with pytest.raises(TypeError):
        tslib.finalize_staged_data("st", stage_results=["not a result"])
    assert tslib.list_staged_chunks("st") == [second]  # what a process that lost it finds
    tslib.finalize_staged_data("st", mode=None, stage_results=[second])  # None: write
    assert vals(tslib.read("st")) == [2, 3] and tslib.get_staged_symbols() == []
    assert tslib.list_staged_chunks("st") == []
    later = tslib.stage("st", frame(9, 1), index="ts")
    earlier = tslib.stage("st", frame(7, 1), index="ts")
    assert tslib.list_staged_chunks("st") == [earlier, later]  # in index order


def test_stage_sorts_a_chunk_on_its_index_and_columns(tslib):
    unsorted = {"ts": days(0, 3)[[2, 0, 1]].copy(), "v": [3, 1, 2], "f": [0.0, 0.0, 0.0]}
    tslib.stage("st", unsorted, sort_on_index=True, index="ts")
    tslib.finalize_staged_data("st")
    assert vals(tslib.read("st")) == [1, 2, 3]
    ties = {"ts": days(0, 1).repeat(4), "v": [4, 2, 3, 1], "f": [1.0, 0.0, 1.0, 0.0]}
    tslib.stage("st", ties, sort_on_index=True, sort_columns=["f", "v"], index="ts")
    tslib.finalize_staged_data("st")
    assert vals(tslib.read("st")) == [1, 2, 3, 4]
    tslib.stage("plain", {"k": [3, 1, 2]}, sort_columns=["k"])
    tslib.finalize_staged_data("plain")
    assert tslib.read("plain").data["k"].tolist() == [1, 2, 3]
    with pytest.raises(sheaf.SchemaError, match="'nope'"):
        tslib.stage("bad", {"k": [1]}, sort_columns=["nope"])
    with pytest.raises(sheaf.InvalidArgumentError):
        tslib.stage("bad", {"k": [1]}, sort_on_index=True)  # no index to sort on
    with pytest.raises(TypeError):
        tslib.stage("bad", {"k": [1]}, sort_columns="k")
    assert "bad" not in tslib.get_staged_symbols()


def test_finalize_without_index_validation_and_dropping_data_on_failure(tslib):
    tslib.stage("st", frame(0, 3), index="ts")
    tslib.stage("st", frame(1, 3), index="ts")
    item = tslib.finalize_staged_data("st", validate_index=False)
    assert item.rows == 6 and vals(tslib.read("st")) == [0, 1, 2, 1, 2, 3]  # chunk order
    assert tslib.get_description("st").sorted == "UNSORTED"
    # Appending before the stored end: refused, and with delete_staged_data_on_failure the
    # refused chunks are dropped; without it they stay for another try.
    tslib.stage("s", frame(3, 2), index="ts")
    with pytest.raises(sheaf.UnsortedIndexError):
        tslib.finalize_staged_data("s", mode="append")
    assert tslib.get_staged_symbols() == ["s"]
    with pytest.raises(sheaf.UnsortedIndexError):
        tslib.finalize_staged_data("s", mode="append", delete_staged_data_on_failure=True)
    assert tslib.get_staged_symbols() == []
    assert vals(tslib.read("s")) == list(range(10))  # the symbol is untouched
    # Only the chunks being finalized are dropped.
    keep = tslib.stage("s", frame(20, 1), index="ts")
    bad = tslib.stage("s", {"ts": days(30, 1), "other": [1]}, index="ts")
    with pytest.raises(sheaf.SchemaError):
        tslib.sort_and_finalize_staged_data(
            "s", mode="append", stage_results=[bad], delete_staged_data_on_failure=True
        )
    item = tslib.finalize_staged_data("s", mode="append", stage_results=[keep])
    assert vals(tslib.read("s"))[-1] == 20 and tslib.get_staged_symbols() == []


# --------------------------------------------------------------------------------------------
# write results
# --------------------------------------------------------------------------------------------


def as_datetime(ns):
    """What ``timestamp`` must be for ``timestamp_ns``: UTC, truncated to microseconds."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=ns // 1000)


def test_commits_return_real_timestamps(tslib):
    """Each commit returns its own commit time: inside the clock readings taken just before and
    just after the call (so not the time of another version), in step with its version."""
    calls = [
        (lambda: tslib.write("w", {"a": [1]}), ("w", 0, 1)),
        (lambda: tslib.append("w", {"a": [2]}), ("w", 1, 2)),
        (lambda: tslib.write_metadata("w", {"m": 1}), ("w", 2, 2)),
        (lambda: tslib.update("s", frame(0, 1, value=5)), ("s", 1, 10)),
        (lambda: tslib.delete_data_in_range("s", (day(9), None)), ("s", 2, 9)),
    ]
    for call, (symbol, version, rows) in calls:
        before = time.time_ns()
        item = call()
        after = time.time_ns()
        assert (item.symbol, item.version, item.rows) == (symbol, version, rows)
        assert before <= item.timestamp_ns <= after, (before, item.timestamp_ns, after)
        assert item.timestamp == as_datetime(item.timestamp_ns)
        # a later read of that version reports the same commit time
        assert tslib.read_metadata(symbol, as_of=version).timestamp_ns == item.timestamp_ns


def test_stream_errors_map_to_the_status_class(store):
    """A segment that fails to load while the stream is consumed comes back through
    get_last_error as "[SHEAF_ERR_NAME] message"; numpy output raises the matching class."""
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
    lib.delete("s")
    with pytest.raises(sheaf.NoSuchVersionError) as info:
        _convert.import_output(stream, "numpy", None, 8)
    assert info.value.status_name == "SHEAF_ERR_NO_SUCH_VERSION"
    assert stream.release == _lib.NULL  # released on the error path too
