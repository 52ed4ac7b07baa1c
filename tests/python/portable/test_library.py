"""Stores, libraries, versions, deletes and metadata."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

import sheaf


def cols(n=5, start=0):
    return {"x": np.arange(start, start + n, dtype=np.int64), "y": np.linspace(0, 1, n)}


def test_libraries(store):
    assert store.list_libraries() == []
    store.create_library("b")
    store.create_library("a", rows_per_segment=10, compression="zstd", prune_previous_versions=True)
    assert store.list_libraries() == ["a", "b"]
    assert store.has_library("a") and "a" in store and "zz" not in store
    opts = store["a"].options
    assert opts == sheaf.LibraryOptions(10, "zstd", True, False)
    assert store["b"].options.compression == "lz4"
    with pytest.raises(sheaf.LibraryExistsError):
        store.create_library("a")
    with pytest.raises(KeyError):
        store["missing"]
    with pytest.raises(sheaf.NoSuchLibraryError):
        store.get_library("missing")
    lib = store.get_library(
        "new", create_if_missing=True, library_options=sheaf.LibraryOptions(compression="none")
    )
    assert lib.options.compression == "none"
    assert store.delete_library("new") is True
    assert store.delete_library("new") is False
    assert "new" not in store.list_libraries()


def test_library_options_validation(store):
    with pytest.raises(ValueError):
        store.create_library("x", compression="snappy")
    with pytest.raises(sheaf.InvalidArgumentError):
        store.create_library("x", rows_per_segment=0)
    with pytest.raises(sheaf.InvalidNameError):
        store.create_library("")
    with pytest.raises(ValueError):
        store.create_library("bad\nname")


def test_write_read_versions(lib):
    t0 = time.time_ns()
    w0 = lib.write("s", cols(3))
    t1 = time.time_ns()
    assert (w0.symbol, w0.library, w0.version, w0.data) == ("s", "lib", 0, None)
    w1 = lib.write("s", cols(4, start=10))
    t2 = time.time_ns()
    assert w1.version == 1
    latest = lib.read("s")
    assert latest.version == 1 and latest.rows == 4
    assert latest.data["x"].tolist() == [10, 11, 12, 13]
    assert isinstance(latest.timestamp, dt.datetime)
    assert latest.timestamp.tzinfo is not None
    # each version reads back the time it was committed: within the clock readings around it
    assert t1 <= latest.timestamp_ns <= t2
    assert t0 <= lib.read("s", as_of=0).timestamp_ns <= t1
    assert latest.timestamp_ns // 1000 == int(
        (latest.timestamp - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
        / dt.timedelta(microseconds=1)
    )
    assert lib.read("s", as_of=0).data["x"].tolist() == [0, 1, 2]
    assert lib.read("s", as_of=-1).version == 1
    assert lib.read("s", as_of=-2).data["x"].tolist() == [0, 1, 2]
    assert lib.read("s", as_of=np.int64(0)).version == 0
    with pytest.raises(sheaf.NoSuchVersionError):
        lib.read("s", as_of=5)
    with pytest.raises(KeyError):
        lib.read("s", as_of=-3)
    with pytest.raises(sheaf.NoSuchSnapshotError):
        lib.read("s", as_of="snap")  # a str names a snapshot
    with pytest.raises(TypeError):
        lib.read("s", as_of=True)
    assert lib["s"].version == 1
    assert "s" in lib and "t" not in lib and 3 not in lib
    assert lib.has_symbol("s") and lib.has_symbol("s", as_of=0)
    assert not lib.has_symbol("s", as_of=7)


def test_list_and_delete(lib):
    for v in range(4):
        lib.write("a", cols(v + 1))
    lib.write("b", cols(2))
    assert lib.list_symbols() == ["a", "b"]
    versions = lib.list_versions("a")
    assert [k.version for k in versions] == [3, 2, 1, 0]
    assert all(k.symbol == "a" for k in versions)
    info = versions[sheaf.SymbolVersion("a", 2)]
    assert info.rows == 3 and info.deleted is False and info.snapshots == []
    assert isinstance(info.date, dt.datetime)
    everything = lib.list_versions()
    assert len(everything) == 5 and sheaf.SymbolVersion("b", 0) in everything

    lib.delete("a", versions=[1, 2])
    assert [k.version for k in lib.list_versions("a")] == [3, 0]
    with pytest.raises(sheaf.NoSuchVersionError):
        lib.read("a", as_of=1)
    assert lib.read("a", as_of=-2).version == 0
    with pytest.raises(sheaf.NoSuchVersionError):
        lib.delete("a", versions=1)  # not live any more
    lib.delete("a", 3)
    assert lib.read("a").version == 0
    lib.delete("a")
    assert "a" not in lib and lib.list_symbols() == ["b"]
    with pytest.raises(sheaf.NoSuchSymbolError):
        lib.read("a")
    with pytest.raises(sheaf.NoSuchSymbolError):
        lib.delete("a")
    # numbers are never reused: the deletes took numbers too
    assert lib.write("a", cols(1)).version > 3
    with pytest.raises(TypeError):
        lib.delete("b", versions=[-1])


def test_prune_previous_versions(store):
    lib = store.create_library("p", prune_previous_versions=True)
    lib.write("s", cols(1))
    lib.write("s", cols(2))
    assert [k.version for k in lib.list_versions("s")] == [1]
    lib.write("s", cols(3), prune_previous_versions=False)
    assert [k.version for k in lib.list_versions("s")] == [2, 1]
    plain = store.create_library("q")
    plain.write("s", cols(1))
    plain.write("s", cols(2))
    plain.write("s", cols(3), prune_previous_versions=True)
    assert [k.version for k in plain.list_versions("s")] == [2]


METADATA = {
    "source": "ecb",
    "n": 3,
    "ratio": 0.25,
    "flags": [True, False, None],
    "nested": {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc),
        "naive": dt.datetime(2024, 1, 2, 3, 4, 5),
        "day": dt.date(2024, 2, 29),
        "offset": dt.datetime(2024, 1, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=9))),
    },
    "tricky": {"$datetime": "not a date"},
    "unicode": "żółw ✓",
}


def test_metadata_round_trip(lib):
    w = lib.write("s", cols(2), metadata=METADATA)
    assert w.metadata is METADATA
    got = lib.read("s").metadata
    assert got == METADATA
    assert got["nested"]["when"].tzinfo is not None
    assert got["nested"]["naive"].tzinfo is None
    assert type(got["nested"]["day"]) is dt.date
    assert lib.read_metadata("s").metadata == METADATA
    assert lib.read_metadata("s").data is None


def test_metadata_is_portable_json(lib):
    lib.write("s", cols(1), metadata={"t": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)})
    from sheaf import _lib

    info = _lib.ffi.new("SheafBytes *")
    meta = _lib.ffi.new("SheafBytes *")
    slot = _lib.errslot()
    _lib.check(
        _lib.lib.sheaf_table_read_metadata(lib._h, b"s", 1, _lib.NULL, 0, info, meta, slot), slot
    )
    _lib.take_bytes(info)
    assert _lib.take_bytes(meta) == b'{"t":{"$datetime":"2024-01-01T00:00:00+00:00"}}'


def test_metadata_none_and_tuples(lib):
    lib.write("s", cols(1))
    assert lib.read("s").metadata is None
    lib.write("s", cols(1), metadata=(1, 2))
    assert lib.read("s").metadata == [1, 2]
    lib.write("s", cols(1), metadata={"v": np.float64(1.5), "i": np.int32(3)})
    assert lib.read("s").metadata == {"v": 1.5, "i": 3}


@pytest.mark.parametrize(
    "bad",
    [
        {"f": lambda: 1},
        {1: "int key"},
        object(),
        {"s": {1, 2}},
        {"b": b"bytes"},
        [float("nan")],
    ],
)
def test_bad_metadata_raises_type_error_and_writes_nothing(lib, bad):
    with pytest.raises(TypeError) as info:
        lib.write("s", cols(1), metadata=bad)
    assert "metadata" in str(info.value)
    assert "s" not in lib


def test_write_metadata(lib):
    lib.write("s", cols(3), metadata={"v": 1})
    w = lib.write_metadata("s", {"v": 2})
    assert w.version == 1
    item = lib.read("s")
    assert item.metadata == {"v": 2} and item.data["x"].tolist() == [0, 1, 2]
    assert lib.read("s", as_of=0).metadata == {"v": 1}
    lib.write_metadata("s", None, prune_previous_versions=True)
    assert lib.read("s").metadata is None
    assert [k.version for k in lib.list_versions("s")] == [2]
    with pytest.raises(TypeError):
        lib.write_metadata("s", {"x": object()})


def test_write_metadata_of_a_symbol_without_data_is_a_version_of_its_own(lib):
    item = lib.write_metadata("fresh", {"source": "ecb"})
    assert (item.version, item.rows, item.metadata) == (0, 0, {"source": "ecb"})
    assert "fresh" in lib and lib.list_symbols() == ["fresh"]
    read = lib.read("fresh")
    assert (read.metadata, read.rows, dict(read.data)) == ({"source": "ecb"}, 0, {})
    description = lib.get_description("fresh")
    assert (description.columns, description.row_count, description.index) == ((), 0, None)
    # The data comes with a later write or append; the metadata-only version stays in the
    # history.
    lib.append("fresh", cols(2))
    assert lib.read("fresh").data["x"].tolist() == [0, 1] and lib.read("fresh").metadata is None
    lib.write("fresh", cols(2))
    assert lib.read("fresh").data["x"].tolist() == [0, 1]
    assert lib.read("fresh", as_of=0).metadata == {"source": "ecb"}
    # After a delete the symbol has no versions again: metadata starts it anew.
    lib.delete("fresh")
    assert lib.write_metadata("fresh", None).rows == 0 and "fresh" in lib


def test_versioned_items_name_the_store_they_came_from(store, lmdb_uri):
    lib = store.create_library("hosted")
    assert lib.write("s", cols(1)).host == store.uri == "mem://"
    assert lib.read("s").host == "mem://" and lib.read_metadata("s").host == "mem://"
    with sheaf.open(lmdb_uri) as disk:
        other = disk.create_library("l")
        assert other.write("s", cols(1)).host == lmdb_uri
        assert [i.host for i in other.read_batch(["s"])] == [lmdb_uri]


def test_index_validation(lib):
    ts = np.array(["2024-01-03", "2024-01-01", "2024-01-02"], dtype="datetime64[ns]")
    with pytest.raises(sheaf.UnsortedIndexError) as info:
        lib.write("s", {"ts": ts, "v": [1, 2, 3]}, index="ts")
    assert isinstance(info.value, ValueError) and "ts" in str(info.value)
    assert "s" not in lib
    lib.write("s", {"ts": ts, "v": [1, 2, 3]}, index="ts", validate_index=False)
    assert lib.read("s").index == "ts"
    lib.write("s", {"ts": np.sort(ts), "v": [1, 2, 3]}, index="ts")
    item = lib.read("s")
    assert item.index == "ts" and item.data.index == "ts"
    with pytest.raises(sheaf.SchemaError):
        lib.write("s", {"v": [1.0, 2.0]}, index="v")  # float index
    with pytest.raises(sheaf.SchemaError):
        lib.write("s", {"v": [1, 2]}, index="nope")
    with pytest.raises(TypeError):
        lib.write("s", {"v": [1, 2]}, index=3)


def test_names(lib):
    with pytest.raises(sheaf.InvalidNameError):
        lib.write("", cols(1))
    with pytest.raises(sheaf.InvalidNameError):
        lib.write("x" * 256, cols(1))
    lib.write("ünïcode ✓", cols(1))
    assert lib.list_symbols() == ["ünïcode ✓"]
    with pytest.raises(TypeError):
        lib.write(5, cols(1))


def test_output_format_validation(store, lib):
    with pytest.raises(ValueError):
        lib.read("x", output_format="excel")
    with pytest.raises(ValueError):
        sheaf.open("mem://", output_format="csv")
    with pytest.raises(ValueError):
        store.get_library("lib", output_format="nope")


def test_invalid_uri():
    with pytest.raises(sheaf.InvalidURIError, match="gs://, az://"):
        sheaf.open("s3x://bucket")
    with pytest.raises(sheaf.InvalidURIError, match="credentials do not go in the URI"):
        sheaf.open("az://container?account_key=secret")
    with pytest.raises(sheaf.UnsupportedError, match="lmdb:///PATH") as refused:
        sheaf.open("file:///tmp/store")
    assert not isinstance(refused.value, OSError)
