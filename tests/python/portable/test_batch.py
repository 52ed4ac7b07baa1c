"""Batch calls: one C call per batch, one result per item, DataError for failed items."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

import sheaf
from sheaf import (
    DataError,
    DeleteRequest,
    ReadInfoRequest,
    ReadRequest,
    UpdatePayload,
    VersionRequestType,
    WriteMetadataPayload,
    WritePayload,
)

T0 = np.datetime64("2024-01-01", "ns")


def days(start, n):
    return T0 + np.arange(start, start + n) * np.timedelta64(1, "D")


def ts_frame(start, n, value=0):
    return {"ts": days(start, n), "v": np.full(n, value, dtype=np.int64)}


def test_write_batch(lib):
    lib.write("b", {"a": [0]})
    before = time.time_ns()
    results = lib.write_batch(
        [
            WritePayload("a", {"a": [1, 2]}, metadata={"m": "a"}),
            WritePayload("b", {"a": [3]}),
            WritePayload("c", ts_frame(0, 3), index="ts"),
            WritePayload("bad name\n", {"a": [1]}),
        ]
    )
    after = time.time_ns()
    assert len(results) == 4
    a, b, c, bad = results
    assert (a.symbol, a.version, a.metadata, a.rows) == ("a", 0, {"m": "a"}, 2)
    assert (b.symbol, b.version) == ("b", 1)
    assert c.index == "ts" and lib.read("c").index == "ts"
    for item in (a, b, c):
        assert isinstance(item, sheaf.VersionedItem) and item.timestamp is not None
        assert before <= item.timestamp_ns <= after  # this commit's time, not an older one's
        assert item.timestamp_ns == lib.read_metadata(item.symbol).timestamp_ns
    assert isinstance(bad, DataError)
    assert bad.symbol == "bad name\n" and bad.version_request is None
    assert bad.error_code == 603 and bad.status_name == "SHEAF_ERR_INVALID_NAME"
    assert bad.error_category == "INVALID_ARGUMENT"
    assert isinstance(bad.exception(), sheaf.InvalidNameError)
    assert "SHEAF_ERR_INVALID_NAME" in str(bad)
    assert lib.read("a").metadata == {"m": "a"}
    assert lib.read("a").data["a"].tolist() == [1, 2]


def test_write_batch_options(store):
    lib = store.create_library("p")
    lib.write("s", {"a": [1]})
    lib.write_batch([WritePayload("s", {"a": [2]})], prune_previous_versions=True)
    assert [k.version for k in lib.list_versions("s")] == [1]
    unsorted = {"ts": days(0, 3)[::-1].copy(), "v": [1, 2, 3]}
    (err,) = lib.write_batch([WritePayload("u", unsorted, index="ts")])
    assert isinstance(err, DataError) and isinstance(err.exception(), sheaf.UnsortedIndexError)
    (ok,) = lib.write_batch([WritePayload("u", unsorted, index="ts")], validate_index=False)
    assert ok.version == 0


def test_duplicate_symbols_fail_the_whole_batch(lib):
    with pytest.raises(sheaf.InvalidArgumentError) as info:
        lib.write_batch([WritePayload("x", {"a": [1]}), WritePayload("x", {"a": [2]})])
    assert "x" in str(info.value)
    assert "x" not in lib
    lib.write("x", {"a": [0]})
    with pytest.raises(sheaf.InvalidArgumentError):
        lib.append_batch([WritePayload("x", {"a": [1]}), WritePayload("x", {"a": [2]})])
    with pytest.raises(sheaf.InvalidArgumentError):
        lib.delete_batch(["x", "x"])
    assert lib.read("x").version == 0


def test_unconvertible_item_fails_before_anything_is_written(lib):
    with pytest.raises(TypeError):
        lib.write_batch([WritePayload("ok", {"a": [1]}), WritePayload("bad", object())])
    with pytest.raises(TypeError):
        lib.write_batch([WritePayload("ok", {"a": [1]}, metadata={"f": object()})])
    with pytest.raises(TypeError):
        lib.write_batch([("ok", {"a": [1]})])
    assert lib.list_symbols() == []
    assert lib.write_batch([]) == []


def test_append_batch(lib):
    lib.write("a", {"a": [1]})
    lib.write("b", {"a": [1]})
    results = lib.append_batch(
        [
            WritePayload("a", {"a": [2]}, metadata={"v": 2}),
            WritePayload("b", {"other": [2]}),
            WritePayload("new", {"a": [9]}),
        ]
    )
    a, b, new = results
    assert (a.version, a.rows, a.metadata) == (1, 2, {"v": 2})
    assert isinstance(b, DataError) and b.error_category == "SCHEMA"
    assert isinstance(b.exception(), sheaf.SchemaError)
    assert new.version == 0
    assert lib.read("a").data["a"].tolist() == [1, 2]
    assert lib.read("b").version == 0


def test_update_batch(lib):
    lib.write("a", ts_frame(0, 5), index="ts")
    lib.write("b", ts_frame(0, 5), index="ts")
    results = lib.update_batch(
        [
            UpdatePayload("a", ts_frame(1, 2, value=7), metadata={"u": 1}),
            UpdatePayload(
                "b",
                ts_frame(0, 5, value=8),
                date_range=(dt.datetime(2024, 1, 4), None),
            ),
            UpdatePayload("missing", ts_frame(0, 1)),
        ],
        prune_previous_versions=True,
    )
    a, b, missing = results
    assert a.version == 1 and a.metadata == {"u": 1}
    assert lib.read("a").data["v"].tolist() == [0, 7, 7, 0, 0]
    assert b.version == 1 and lib.read("b").data["v"].tolist() == [0, 0, 0, 8, 8]
    assert isinstance(missing, DataError) and missing.error_code == 302
    assert [k.version for k in lib.list_versions("a")] == [1]
    with pytest.raises(TypeError):
        lib.update_batch([WritePayload("a", ts_frame(0, 1))])


def test_read_batch(lib):
    lib.write("a", ts_frame(0, 6), index="ts", metadata={"m": 1})
    lib.append("a", ts_frame(6, 2, value=1))
    lib.write("b", {"x": [1, 2, 3]})
    results = lib.read_batch(
        [
            "a",
            ReadRequest("a", as_of=0),
            ReadRequest("a", date_range=(dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 3))),
            ReadRequest("b", row_range=(-2, None)),
            ReadRequest("a", columns=[], row_range=(0, 1)),
            "missing",
            ReadRequest("a", as_of=9),
        ]
    )
    latest, first, ranged, rows, index_only, missing, bad_version = results
    assert latest.version == 1 and latest.data["ts"].tolist() == days(0, 8).tolist()
    assert latest.metadata is None
    assert first.version == 0 and first.metadata == {"m": 1} and len(first.data["v"]) == 6
    assert ranged.data["ts"].tolist() == days(1, 2).tolist()
    assert rows.data["x"].tolist() == [2, 3]
    assert list(index_only.data) == ["ts"] and len(index_only.data["ts"]) == 1
    assert isinstance(missing, DataError) and missing.error_code == 302
    assert isinstance(bad_version, DataError)
    assert (
        bad_version.version_request == 9 and bad_version.status_name == "SHEAF_ERR_NO_SUCH_VERSION"
    )
    assert lib.read_batch([]) == []
    with pytest.raises(TypeError):
        lib.read_batch([3])


def test_read_batch_through_a_snapshot(lib):
    lib.write("a", {"x": [1]})
    lib.snapshot("s")
    lib.delete("a")
    (item,) = lib.read_batch([ReadRequest("a", as_of="s")])
    assert item.data["x"].tolist() == [1]


def test_read_metadata_batch(lib):
    lib.write("a", {"x": [1]}, metadata={"v": 0})
    lib.write("a", {"x": [1]}, metadata={"v": 1})
    lib.write("b", {"x": [1]})
    results = lib.read_metadata_batch(["a", "b", "nope"])
    assert results[0].metadata == {"v": 1} and results[0].data is None
    assert results[1].metadata is None and results[1].version == 0
    assert isinstance(results[2], DataError)
    older = lib.read_metadata_batch(["a", "a"], as_ofs=[0, -1])
    assert [r.metadata for r in older] == [{"v": 0}, {"v": 1}]
    requests = lib.read_metadata_batch([ReadInfoRequest("a", 0), ReadRequest("a", as_of=1)])
    assert [r.version for r in requests] == [0, 1]
    with pytest.raises(ValueError):
        lib.read_metadata_batch(["a"], as_ofs=[0, 1])


def test_delete_batch(lib):
    for v in range(3):
        lib.write("a", {"x": [v]})
    lib.write("b", {"x": [1]})
    results = lib.delete_batch([DeleteRequest("a", [0, 1]), "b", "missing", ("c", None)])
    assert results[:2] == [None, None]
    assert isinstance(results[2], DataError) and results[2].error_code == 302
    assert isinstance(results[3], DataError)
    assert [k.version for k in lib.list_versions("a")] == [2]
    assert "b" not in lib
    (err,) = lib.delete_batch([DeleteRequest("a", [0])])
    assert isinstance(err, DataError) and err.version_request == [0]
    assert err.error_code == 303
    assert lib.delete_batch([]) == []


def test_data_errors_say_which_version_a_read_asked_for(lib):
    lib.write("a", {"x": [1]})
    lib.snapshot("snap")
    when = dt.datetime(1999, 1, 2, 3, 4, 5, 6)  # naive: UTC
    results = lib.read_batch(
        [
            "missing",
            ReadRequest("a", as_of=7),
            ReadRequest("a", as_of=-5),
            ReadRequest("a", as_of="no snapshot"),
            ReadRequest("a", as_of=when),
        ]
    )
    assert all(isinstance(r, DataError) for r in results)
    assert [(r.version_request_type, r.version_request_data) for r in results] == [
        (VersionRequestType.LATEST, None),
        (VersionRequestType.SPECIFIC, 7),
        (VersionRequestType.SPECIFIC, -5),
        (VersionRequestType.SNAPSHOT, "no snapshot"),
        (VersionRequestType.TIMESTAMP, 915246245000006000),
    ]
    (meta,) = lib.read_metadata_batch([ReadInfoRequest("a", 3)])
    assert (meta.version_request_type, meta.version_request_data) == (
        VersionRequestType.SPECIFIC,
        3,
    )
    # Writes and deletes ask for no version.
    (bad,) = lib.write_batch([WritePayload("bad name\n", {"a": [1]})])
    assert (bad.version_request_type, bad.version_request_data) == (None, None)
    (gone,) = lib.delete_batch([DeleteRequest("a", [5])])
    assert gone.version_request_type is None


def test_payloads_unpack_into_the_single_calls(lib):
    payload = WritePayload("a", {"x": [1, 2]}, {"m": 1})
    symbol, data, metadata = payload
    assert (symbol, metadata) == ("a", {"m": 1}) and data is payload.data
    item = lib.write(*payload)
    assert (item.version, lib.read("a").metadata) == (0, {"m": 1})
    assert len(list(WritePayload("b", {"x": [1]}))) == 2  # no metadata, no third argument
    lib.write(*WritePayload("b", {"x": [1]}))
    assert lib.read("b").metadata is None
    assert tuple(WriteMetadataPayload("a", {"n": 2})) == ("a", {"n": 2})
    lib.write_metadata(*WriteMetadataPayload("a", {"n": 2}))
    assert lib.read("a").metadata == {"n": 2}


def test_update_payload_names_the_index_of_data_without_one(lib):
    lib.write("a", ts_frame(0, 5), index="ts")
    # An upsert of a missing symbol needs the index named: a dict of arrays has none.
    payload = UpdatePayload("new", ts_frame(0, 2, value=3), index_column="ts")
    assert payload.index_column == "ts" and UpdatePayload("a", {}).index_column is None
    made, updated = lib.update_batch(
        [payload, UpdatePayload("a", ts_frame(1, 1, value=9), index_column="ts")], upsert=True
    )
    assert made.version == 0 and made.index == "ts"
    assert lib.read("new").data["v"].tolist() == [3, 3]
    assert updated.version == 1 and lib.read("a").data["v"].tolist() == [0, 9, 0, 0, 0]
    # Without an index named, the upsert writes the data unindexed (ArcticDB writes it too);
    # a later update with rows then needs an index.
    (made,) = lib.update_batch([UpdatePayload("other", ts_frame(0, 1))], upsert=True)
    assert made.version == 0 and made.index is None
    (refused,) = lib.update_batch([UpdatePayload("other", ts_frame(1, 1))])
    assert isinstance(refused, DataError) and refused.error_category == "SCHEMA"


def test_write_metadata_batch(lib):
    lib.write("a", {"x": [1, 2]}, metadata={"v": 0})
    lib.write("b", {"x": [3]})
    results = lib.write_metadata_batch(
        [
            WriteMetadataPayload("a", {"v": 1}),
            ("b", None),
            WriteMetadataPayload("fresh", {"only": "metadata"}),
            WriteMetadataPayload("bad name\n", {}),
        ]
    )
    a, b, fresh, bad = results
    assert (a.symbol, a.version, a.metadata, a.rows) == ("a", 1, {"v": 1}, 2)
    assert lib.read("a").data["x"].tolist() == [1, 2]  # the data is the latest version's
    assert (b.version, lib.read("b").metadata) == (1, None)
    assert (fresh.version, fresh.rows, lib.read("fresh").metadata) == (0, 0, {"only": "metadata"})
    assert isinstance(bad, DataError) and bad.status_name == "SHEAF_ERR_INVALID_NAME"
    pruned = lib.write_metadata_batch([WriteMetadataPayload("a", {"v": 2})], True)
    assert pruned[0].version == 2 and [k.version for k in lib.list_versions("a")] == [2]
    with pytest.raises(sheaf.InvalidArgumentError):
        lib.write_metadata_batch([("a", 1), ("a", 2)])
    assert lib.read("a").metadata == {"v": 2}  # nothing was written
    with pytest.raises(TypeError):
        lib.write_metadata_batch([("a", object())])
    assert lib.write_metadata_batch([]) == []


def test_get_description_batch(lib):
    lib.write("a", ts_frame(0, 4), index="ts", metadata={"m": 1})
    lib.append("a", ts_frame(4, 2))
    lib.write("b", {"x": [1.5]})
    results = lib.get_description_batch(["a", ReadInfoRequest("a", 0), "b", "missing"])
    latest, first, b, missing = results
    assert (latest.version, latest.row_count, latest.index.name) == (1, 6, "ts")
    assert (first.version, first.row_count, first.has_metadata) == (0, 4, True)
    assert latest == lib.get_description("a") and first == lib.get_description("a", as_of=0)
    assert [c.name for c in b.columns] == ["x"] and b.row_count == 1
    assert isinstance(missing, DataError) and missing.error_code == 302
    assert missing.version_request_type is VersionRequestType.LATEST
    by_as_of = lib.get_description_batch(["a", "a"], as_ofs=[0, -1])
    assert [d.row_count for d in by_as_of] == [4, 6]
    assert lib.get_description_batch([]) == []
