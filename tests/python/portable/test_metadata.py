"""Metadata at its edges: opaque bytes written through the C ABI, nesting and cycles, numpy
datetimes with nanoseconds (sheaf/_metadata.py states the rules)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys

import numpy as np
import pytest
from _hypothesis import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import sheaf
from sheaf import ReadRequest, _lib

HAVE_PANDAS = importlib.util.find_spec("pandas") is not None


def cols(n=3):
    return {"x": np.arange(n, dtype=np.int64)}


def write_raw_metadata(lib, symbol: str, raw: bytes) -> int:
    """A new version of ``symbol`` (same data) with ``raw`` as its metadata, written the way a C
    program does: ``sheaf_table_write_metadata`` with opaque bytes."""
    name = symbol.encode()
    version = _lib.ffi.new("uint64_t *")
    slot = _lib.errslot()
    buf = _lib.ffi.from_buffer("uint8_t[]", raw) if raw else _lib.ffi.new("uint8_t[1]")
    _lib.check(
        _lib.lib.sheaf_table_write_metadata(
            lib._h, name, len(name), buf, len(raw), _lib.NULL, 0, version, slot
        ),
        slot,
    )
    return int(version[0])


def nested(depth: int):
    """``depth`` lists inside each other: [[[...]]] (depth 1 is [])."""
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


OPAQUE = [
    pytest.param(b"\xff\xfe\x00binary", id="not-utf8"),
    pytest.param(b"plain text, not JSON {", id="not-json"),
    pytest.param(b"", id="empty"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="json-deeper-than-the-parser"),
    pytest.param(json.dumps(nested(101)).encode(), id="json-deeper-than-100"),
]


@pytest.mark.parametrize("raw", OPAQUE)
def test_metadata_that_is_not_sheaf_json_reads_back_as_the_raw_bytes(lib, raw):
    lib.write("s", cols(), metadata={"m": 1})
    version = write_raw_metadata(lib, "s", raw)
    item = lib.read("s")
    assert item.version == version == 1
    assert type(item.metadata) is bytes and item.metadata == raw
    assert item.data["x"].tolist() == [0, 1, 2]  # the data stays readable
    assert lib.read_metadata("s").metadata == raw
    assert lib.read("s", as_of=0).metadata == {"m": 1}
    (batch_item,) = lib.read_batch([ReadRequest("s")])
    assert batch_item.metadata == raw and batch_item.data["x"].tolist() == [0, 1, 2]
    (meta_item,) = lib.read_metadata_batch(["s"])
    assert meta_item.metadata == raw


def test_snapshot_metadata_that_is_not_json_reads_back_as_bytes(lib):
    lib.write("s", cols())
    name = b"snap"
    raw = b"\x00\x01 opaque"
    slot = _lib.errslot()
    _lib.check(
        _lib.lib.sheaf_snapshot_create(
            lib._h,
            name,
            len(name),
            _lib.ffi.from_buffer("uint8_t[]", raw),
            len(raw),
            _lib.NULL,
            0,
            slot,
        ),
        slot,
    )
    assert lib.list_snapshots() == {"snap": raw}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": [1, 2.5, null, true]}', {"a": [1, 2.5, None, True]}),  # JSON from C: parsed
        (json.dumps(nested(100)).encode(), nested(100)),  # at the limit: parsed
        (b'{"$datetime": "yesterday"}', {"$datetime": "yesterday"}),  # a tag that does not parse
        (b'{"$date": "2024-02-30"}', {"$date": "2024-02-30"}),
        (
            b'{"$datetime": "2024-01-02T03:04:05Z"}',  # "Z": fromisoformat takes it from 3.11
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
            if sys.version_info >= (3, 11)
            else {"$datetime": "2024-01-02T03:04:05Z"},
        ),
        (
            b'{"$datetime": "2024-01-02T03:04:05.123456000Z"}',  # nine digits, whole microseconds
            dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone.utc),
        ),
    ],
)
def test_json_written_from_c_reads_back_parsed(lib, raw, expected):
    lib.write("s", cols())
    write_raw_metadata(lib, "s", raw)
    assert lib.read("s").metadata == expected


@settings(max_examples=examples(50), deadline=None)
@given(st.binary(max_size=40) | st.text(max_size=20).map(lambda t: t.encode("utf-8")))
def test_any_bytes_from_c_never_break_a_read(raw):
    store = sheaf.open("mem://", output_format="numpy")
    lib = store.create_library("l")
    lib.write("s", cols())
    write_raw_metadata(lib, "s", raw)
    item = lib.read("s")  # never raises
    assert item.data["x"].tolist() == [0, 1, 2]
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        assert type(item.metadata) is bytes and item.metadata == raw
    else:  # JSON (shallow here): parsed, scalars unchanged
        assert type(item.metadata) is not bytes
        if not isinstance(parsed, (dict, list, float)):
            assert item.metadata == parsed
    store.close()


def test_nesting_at_the_limit_round_trips_and_one_more_level_is_refused(lib):
    lib.write("s", cols(), metadata={"deep": nested(99)})  # the dict is level 1
    assert lib.read("s").metadata == {"deep": nested(99)}
    with pytest.raises(ValueError, match="100 levels") as info:
        lib.write("s", cols(), metadata={"deep": nested(100)})
    assert not isinstance(info.value, RecursionError)
    with pytest.raises(ValueError, match="100 levels"):
        lib.write_metadata("s", nested(5000))  # far beyond Python's recursion limit
    assert [v.version for v in lib.list_versions("s")] == [0]  # nothing written


def test_cyclic_metadata_is_refused_with_a_value_error(lib):
    looped: dict = {"a": 1}
    looped["self"] = looped
    with pytest.raises(ValueError, match="contains itself") as info:
        lib.write("s", cols(), metadata=looped)
    assert "['self']" in str(info.value)
    chain: list = [1]
    chain.append({"back": chain})
    with pytest.raises(ValueError, match="contains itself"):
        lib.write("s", cols(), metadata=chain)
    assert "s" not in lib
    shared = [1, 2]  # the same list twice is not a cycle
    lib.write("s", cols(), metadata={"a": shared, "b": (shared, shared)})
    assert lib.read("s").metadata == {"a": [1, 2], "b": [[1, 2], [1, 2]]}


def test_numpy_datetimes_keep_their_nanoseconds(lib):
    stamp = np.datetime64("2024-01-02T03:04:05.123456789", "ns")
    lib.write("s", cols(), metadata={"t": stamp})
    got = lib.read("s").metadata["t"]
    if HAVE_PANDAS:
        import pandas as pd

        assert isinstance(got, pd.Timestamp) and got.tz is None
        assert got.value == stamp.astype("int64")  # exact, nanoseconds included
    else:  # no type of the standard library holds nanoseconds: the tag, unrounded
        assert got == {"$datetime": "2024-01-02T03:04:05.123456789"}
    whole_us = np.datetime64("2024-01-02T03:04:05.123456000", "ns")
    lib.write("s", cols(), metadata=[whole_us, np.datetime64("2024-01-02", "D")])
    assert lib.read("s").metadata == [dt.datetime(2024, 1, 2, 3, 4, 5, 123456), dt.date(2024, 1, 2)]


@pytest.mark.parametrize(
    "bad",
    [
        np.datetime64("NaT", "ns"),
        np.datetime64(1, "ps"),
        np.timedelta64(5, "s"),
    ],
    ids=["nat", "picoseconds", "timedelta"],
)
def test_numpy_values_metadata_cannot_hold_are_refused(lib, bad):
    with pytest.raises(TypeError, match="metadata"):
        lib.write("s", cols(), metadata={"v": bad})
    assert "s" not in lib
