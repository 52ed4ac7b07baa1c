"""One test per row of the README's tables of deliberate differences from ArcticDB and Yokan.

Each test is named after its row and asserts Sheaf's side of it; a row added to those tables
gets its test here (and a behaviour changed back to ArcticDB's or Yokan's loses its row).
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import sheaf
from sheaf import Mode

# -- "Where Sheaf deliberately differs from ArcticDB" ---------------------------------------------


def test_concurrent_writers_of_one_symbol_all_land(lib):
    lib.write("s", {"v": np.zeros(0, dtype=np.int64)})
    per_thread, threads = 20, 4

    def appender(t: int) -> None:
        for i in range(per_thread):
            lib.append("s", {"v": np.array([t * 1000 + i])})

    workers = [threading.Thread(target=appender, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    values = sorted(lib.read("s").data["v"].tolist())
    assert values == sorted(t * 1000 + i for t in range(threads) for i in range(per_thread))
    versions = sorted(k.version for k in lib.list_versions("s"))
    assert versions == list(range(threads * per_thread + 1))  # contiguous, none lost


def test_version_numbers_after_a_delete_are_never_reused(lib):
    lib.write("s", {"v": [1]})
    lib.write("s", {"v": [2]})
    lib.delete("s")  # a commit of its own: it takes version 2
    assert "s" not in lib
    assert lib.write("s", {"v": [3]}).version == 3
    lib.delete("s", versions=[3])
    assert lib.write("s", {"v": [4]}).version == 5


def test_names_are_any_utf8_up_to_255_bytes_without_control_characters(lib):
    for name in ("a*b<c>", "ünïcode ✓", "x" * 255, "with space"):
        lib.write(name, {"v": [1]})
        assert name in lib
    for bad in ("", "x" * 256, "tab\there", "new\nline", "ü" * 128):  # 256 bytes of UTF-8
        with pytest.raises(sheaf.InvalidNameError):
            lib.write(bad, {"v": [1]})


def test_unknown_column_types_are_refused_up_front_naming_the_column(lib):
    with pytest.raises(TypeError) as info:
        lib.write("s", {"fine": np.arange(2), "c": np.array([1 + 2j, 3j])})
    assert "'c'" in str(info.value) and "complex" in str(info.value)
    assert "s" not in lib


def test_write_metadata_of_a_missing_symbol_makes_a_table_without_columns(lib):
    item = lib.write_metadata("fresh", {"m": 1})
    read = lib.read("fresh")
    assert (item.version, read.rows, dict(read.data), read.metadata) == (0, 0, {}, {"m": 1})


# -- "Where the Python API differs from ArcticDB on purpose" -------------------------------------


def test_unknown_columns_raise_and_columns_come_in_the_requested_order(lib):
    lib.write("s", {"a": [1], "b": [2], "c": [3]})
    assert list(lib.read("s", columns=["c", "a"]).data) == ["c", "a"]
    with pytest.raises(sheaf.SchemaError):
        lib.read("s", columns=["a", "nope"])


def test_get_description_names_one_index_and_arrow_types(lib):
    ts = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]")
    lib.write("s", {"ts": ts, "v": np.array([1, 2], dtype=np.int64)}, index="ts")
    lib.write("plain", {"v": [1.5]})
    description = lib.get_description("s")
    assert description.index is not None and description.index.name == "ts"
    assert [(c.name, c.dtype) for c in description.columns] == [("v", "Int64")]
    assert lib.get_description("plain").index is None
    assert lib.get_description("plain").date_range is None


def test_data_error_codes_are_sheaf_status_codes(lib):
    (missing,) = lib.read_batch(["nope"])
    assert isinstance(missing.error_code, int) and missing.error_code == 302
    assert missing.status_name == "SHEAF_ERR_NO_SUCH_SYMBOL"
    assert isinstance(missing.exception(), sheaf.NoSuchSymbolError)


def test_delete_staged_data_returns_how_many_chunks_it_removed(lib):
    for i in range(3):
        lib.stage("s", {"v": [i]})
    assert lib.delete_staged_data("s") == 3
    assert lib.delete_staged_data("s") == 0


def test_group_by_output_is_sorted_by_key(lib):
    lib.write("s", {"k": ["b", "c", "a", "b", "c"], "v": [1, 2, 3, 4, 5]})
    q = sheaf.QueryBuilder()
    out = lib.read("s", query_builder=q.groupby("k").agg({"v": "sum"})).data
    assert out["k"].tolist() == ["a", "b", "c"] and out["v"].tolist() == [3, 5, 7]


def test_errors_are_also_the_builtin_exceptions(lib):
    assert issubclass(sheaf.NoSuchSymbolError, KeyError)
    assert issubclass(sheaf.InvalidNameError, ValueError)
    assert issubclass(sheaf.StorageError, OSError)
    with pytest.raises(KeyError):
        lib.read("nope")
    with pytest.raises(ValueError):
        lib.write("", {"v": [1]})


def test_a_bare_numpy_array(lib):
    # 1-D: one column "ndarray"; 2-D: columns "0" .. "k-1"; rows and columns can be selected.
    lib.write("one", np.array([1.5, 2.5, 3.5]))
    got = lib.read("one").data
    assert type(got) is np.ndarray and got.tolist() == [1.5, 2.5, 3.5]
    assert [c.name for c in lib.get_description("one").columns] == ["ndarray"]
    arr = np.arange(12, dtype=np.int32).reshape(4, 3)
    lib.write("two", arr)
    assert [c.name for c in lib.get_description("two").columns] == ["0", "1", "2"]
    got = lib.read("two").data
    assert got.dtype == np.int32 and got.shape == (4, 3) and got.tolist() == arr.tolist()
    assert lib.read("two", row_range=(1, 3), columns=["2", "1"]).data.tolist() == [[5, 4], [8, 7]]
    assert lib.head("two", 1).data.tolist() == [[0, 1, 2]]
    with pytest.raises(sheaf.UnsupportedTypeError) as info:
        lib.write("three", np.zeros((2, 2, 2)))
    assert "(2, 2, 2)" in str(info.value)
    assert "three" not in lib


def test_reading_a_pickled_object(lib):
    lib.write_pickle("p", {"a": [1, 2]})
    with pytest.raises(sheaf.SchemaError, match="allow_pickle"):
        lib.read("p")
    assert lib.read("p", allow_pickle=True).data == {"a": [1, 2]}


# -- "Where Sheaf's collections differ from Yokan's on purpose" -----------------------------------


def test_erasing_a_free_document_id_raises(store):
    docs = store.create_collection("docs")
    docs.store({"a": 1})
    with pytest.raises(sheaf.NoSuchDocumentError):
        docs.erase(1)
    docs.erase(0)
    with pytest.raises(KeyError):  # NoSuchDocumentError is a KeyError; erased is free
        docs.erase(0)


def test_erase_multi_is_all_or_nothing(store):
    docs = store.create_collection("docs")
    docs.store_multi([b"a", b"b"])
    with pytest.raises(sheaf.NoSuchDocumentError):
        docs.erase_multi([0, 7])
    assert docs.load_multi([0, 1]) == [b"a", b"b"]  # nothing was erased


def test_updating_an_erased_id_raises_unless_update_new(store):
    docs = store.create_collection("docs")
    docs.store_multi([b"a", b"b"])
    docs.erase(0)
    with pytest.raises(sheaf.NoSuchDocumentError):
        docs.update(0, b"again")
    docs.update(0, b"again", Mode.UPDATE_NEW)
    assert docs.load(0) == b"again" and docs.last_id() == 2


def test_open_collection_checks_that_it_exists(store):
    with pytest.raises(sheaf.NoSuchCollectionError):
        store.open_collection("nope")
    store.create_collection("yes")
    assert store.open_collection("yes").size() == 0


def test_load_returns_a_dict_for_a_stored_json_object(store):
    docs = store.create_collection("docs")
    ids = docs.store_multi([{"a": 1}, b'{"b": 2}', b"[1, 2]", "text"])
    assert docs.load_multi(ids) == [{"a": 1}, {"b": 2}, b"[1, 2]", b"text"]
    assert json.loads(docs.load(ids[0], raw=True)) == {"a": 1}  # raw: the stored bytes
