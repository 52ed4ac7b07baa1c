"""Regression tests for promises that broke under races and crashes (see tests/it/commit_protocol.rs
for the exhaustive crash-at-every-step and forced-interleaving checks behind them)."""

from __future__ import annotations

import numpy as np
import pytest

import sheaf


@pytest.fixture(params=["mem", "lmdb"])
def any_store(request, tmp_path):
    uri = "mem://" if request.param == "mem" else "lmdb://" + str(tmp_path / "store")
    store = sheaf.open(uri, output_format="numpy")
    yield store
    store.close()


def test_a_handle_to_a_deleted_library_cannot_write_into_it(any_store):
    lib = any_store.create_library("L")
    lib.write("kept", {"x": np.arange(3)})
    assert any_store.delete_library("L") is True
    with pytest.raises(sheaf.NoSuchLibraryError, match="was deleted"):
        lib.write("x", {"x": np.arange(3)})
    with pytest.raises(sheaf.NoSuchLibraryError):
        lib.stage("y", {"x": np.arange(3)})
    again = any_store.get_library("L", create_if_missing=True)
    assert again.list_symbols() == []
    # and a handle to the old incarnation stays refused after the name is re-created
    with pytest.raises(sheaf.NoSuchLibraryError):
        lib.append("kept", {"x": np.arange(3)})
    assert again.list_symbols() == []


def test_a_recreated_key_space_and_collection_start_empty(any_store):
    space = any_store.kv("space")
    space.put(b"k", b"v")
    assert any_store.drop_kv("space") is True
    with pytest.raises(sheaf.NotFoundError, match="was dropped"):
        space.put(b"k2", b"v")
    assert any_store.kv("space").count() == 0
    with pytest.raises(sheaf.NotFoundError):
        space.put(b"k3", b"v")  # the re-created space is another incarnation
    assert any_store.kv("space").count() == 0
    docs = any_store.create_collection("docs")
    docs.store_multi([{"a": 1}])
    any_store.drop_collection("docs")
    fresh = any_store.create_collection("docs")
    assert fresh.size() == 0
    with pytest.raises(sheaf.NoSuchCollectionError):
        docs.store_multi([{"a": 2}])
    assert fresh.size() == 0


def test_finalize_consumes_staged_chunks_once(any_store):
    lib = any_store.create_library("L")
    lib.stage("s", {"i": np.arange(0, 3)})
    lib.stage("s", {"i": np.arange(3, 5)})
    lib.finalize_staged_data("s", mode="append")
    assert sorted(lib.read("s").data["i"].tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(sheaf.NotFoundError):
        lib.finalize_staged_data("s", mode="append")
    assert sorted(lib.read("s").data["i"].tolist()) == [0, 1, 2, 3, 4]
    assert lib.get_staged_symbols() == []


def test_deleting_staged_data_then_finalizing_finds_nothing(any_store):
    lib = any_store.create_library("L")
    lib.write("s", {"i": np.arange(2)})
    lib.stage("s", {"i": np.arange(2, 4)})
    lib.delete_staged_data("s")
    with pytest.raises(sheaf.NotFoundError):
        lib.finalize_staged_data("s", mode="append")
    assert lib.read("s").data["i"].tolist() == [0, 1]


def test_append_without_index_onto_a_symbol_indexed_meanwhile_is_a_conflict_not_a_loss(any_store):
    # What the race did: the append had looked up a symbol without index, a write then made it
    # indexed. Sequentially, appending unindexed rows to an indexed symbol must keep every row.
    lib = any_store.create_library("L")
    ts = (np.arange(0, 100, dtype="int64") * 10**9).astype("datetime64[ns]")
    lib.write("s", {"ts": ts, "v": np.arange(100.0)}, index="ts")
    more = (np.arange(100, 110, dtype="int64") * 10**9).astype("datetime64[ns]")
    lib.append("s", {"ts": more, "v": np.arange(100.0, 110.0)})
    assert len(lib.read("s", date_range=(None, None)).data["v"]) == 110


def test_verify_and_reclaim_from_python(any_store):
    lib = any_store.create_library("L", rows_per_segment=10)
    lib.write("s", {"x": np.arange(100)})
    other = any_store.create_library("gone")
    other.write("y", {"x": np.arange(5)})
    report = any_store.verify()
    assert report["problems"] == [] and report["leftovers"] == []
    assert report["checked"] >= 10 + 1 + 2  # ten segments, a version, two registry entries
    any_store.delete_library("gone")
    assert any_store.verify()["leftovers"] == []  # the drop removed its data itself
    assert any_store.reclaim(grace_seconds=0) == {"removed_keys": 0, "kept_young_segments": 0}
    assert lib.read("s").data["x"].tolist() == list(range(100))
    with pytest.raises(sheaf.InvalidArgumentError):
        any_store.reclaim(grace_seconds=-1)


def test_verify_reports_a_damaged_segment_of_an_lmdb_store(tmp_path):
    path = tmp_path / "store"
    store = sheaf.open("lmdb://" + str(path), output_format="numpy")
    lib = store.create_library("L", compression="none")
    payload = np.arange(10_000, dtype="int64") * 7919
    lib.write("s", {"x": payload})
    store.close()
    data = (path / "data.mdb").read_bytes()
    marker = (payload[5000:5004]).tobytes()
    at = data.find(marker)
    assert at > 0
    damaged = bytearray(data)
    damaged[at] ^= 0x01
    (path / "data.mdb").write_bytes(bytes(damaged))
    store = sheaf.open("lmdb://" + str(path), output_format="numpy")
    report = store.verify()
    assert len(report["problems"]) == 1 and "checksum mismatch" in report["problems"][0]["problem"]
    with pytest.raises(sheaf.CorruptDataError, match="checksum mismatch"):
        store["L"].read("s")
    store.close()
