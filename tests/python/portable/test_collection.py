"""Document collections from Python: ids, JSON and raw documents, batches, filters, lifecycle."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import sheaf
from sheaf import Mode


@pytest.fixture
def coll(store):
    return store.create_collection("docs")


def test_create_open_drop_exists_list(store):
    assert store.list_collections() == []
    assert not store.collection_exists("people")
    with pytest.raises(sheaf.NoSuchCollectionError) as info:
        store.open_collection("people")
    assert isinstance(info.value, KeyError)
    people = store.create_collection("people")
    with pytest.raises(sheaf.CollectionExistsError):
        store.create_collection("people")
    people.store({"name": "Ada"})
    assert store.open_collection("people").load(0) == {"name": "Ada"}
    store.create_collection("animals")
    assert store.list_collections() == ["animals", "people"]
    assert store.collection_exists("people")
    store.drop_collection("people")
    assert not store.collection_exists("people")
    with pytest.raises(sheaf.NoSuchCollectionError):
        store.drop_collection("people")
    with pytest.raises(sheaf.InvalidNameError):
        store.create_collection("")
    # a collection and a key space of the same name are different things
    store.kv("animals").put("k", b"v")
    assert store.open_collection("animals").size() == 0


def test_ids_are_sequential_and_last_id_is_the_next_id(coll):
    assert coll.size() == 0 and coll.last_id() == 0 and len(coll) == 0
    assert [coll.store({"i": i}) for i in range(3)] == [0, 1, 2]
    assert coll.last_id() == 3 and coll.size() == 3
    coll.erase(2)
    assert coll.last_id() == 3 and coll.size() == 2  # ids are never reused
    assert coll.store({"i": 3}) == 3
    assert coll.store_multi([{"i": 4}, {"i": 5}]) == [4, 5]
    assert coll.store_multi([]) == []


def test_json_and_raw_documents(coll):
    doc = {"name": "Ada", "tags": ["x", "y"], "n": 1.5, "ok": True, "none": None, "uni": "é☃"}
    a = coll.store(doc)
    b = coll.store(b"\x00raw bytes")
    c = coll.store("plain text")
    d = coll.store(b'  {"looks": "like json"}')
    e = coll.store(np.arange(4, dtype=np.uint8))
    f = coll.store(b"[1, 2]")  # JSON, but not an object: stays bytes
    assert coll.load(a) == doc
    assert coll.load(b) == b"\x00raw bytes"
    assert coll.load(c) == b"plain text"
    assert coll.load(d) == {"looks": "like json"}  # documented: JSON-object bytes read as dicts
    assert coll.load(d, raw=True) == b'  {"looks": "like json"}'
    assert coll.load(e) == b"\x00\x01\x02\x03"
    assert coll.load(f) == b"[1, 2]"
    assert coll.load(a, raw=True) == (
        b'{"name":"Ada","tags":["x","y"],"n":1.5,"ok":true,"none":null,' + '"uni":"é☃"}'.encode()
    )
    assert coll[a] == doc
    assert coll.length(a) == len(coll.load(a, raw=True))
    assert coll.length(99) is None


def test_unstorable_documents(coll):
    for bad in ([1, 2], 3, None, 1.5):
        with pytest.raises(TypeError):
            coll.store(bad)
    with pytest.raises(ValueError):
        coll.store({"x": float("nan")})
    with pytest.raises(TypeError):
        coll.store({1j: 1})
    with pytest.raises(sheaf.NonContiguousBufferError):
        coll.store(np.arange(10)[::2])
    assert coll.size() == 0


def test_load_missing_and_bad_ids(coll):
    coll.store({})
    with pytest.raises(sheaf.NoSuchDocumentError) as info:
        coll.load(5)
    assert isinstance(info.value, KeyError)
    with pytest.raises(ValueError):
        coll.load(-1)
    with pytest.raises(TypeError):
        coll.load("0")
    with pytest.raises(TypeError):
        coll.load(True)
    assert coll.load(0) == {}


def test_update(coll):
    coll.store({"v": 1})
    coll.update(0, {"v": 2})
    assert coll.load(0) == {"v": 2}
    with pytest.raises(sheaf.NoSuchDocumentError):
        coll.update(7, {"v": 7})
    assert coll.size() == 1 and coll.last_id() == 1
    coll.update(7, {"v": 7}, Mode.UPDATE_NEW)
    assert coll.load(7) == {"v": 7}
    assert coll.size() == 2 and coll.last_id() == 8  # an id beyond last_id moves it forward
    assert coll.store({"v": 8}) == 8
    with pytest.raises(sheaf.InvalidModeError):
        coll.update(0, {}, Mode.NEW_ONLY)


def test_multi_forms_are_all_or_nothing(coll):
    ids = coll.store_multi([{"i": i} for i in range(5)])
    assert coll.load_multi([4, 9, 0]) == [{"i": 4}, None, {"i": 0}]
    assert coll.load_multi(iter([1]), raw=True) == [b'{"i":1}']
    assert coll.load_multi([]) == []
    assert coll.length_multi([0, 9]) == [7, None]
    with pytest.raises(sheaf.NoSuchDocumentError):
        coll.update_multi([0, 9], [{"new": 0}, {"new": 9}])
    assert coll.load(0) == {"i": 0}  # nothing changed
    coll.update_multi([0, 9], [{"new": 0}, b"raw"], Mode.UPDATE_NEW)
    assert coll.load_multi([0, 9]) == [{"new": 0}, b"raw"]
    with pytest.raises(ValueError):
        coll.update_multi([0, 1], [{}])
    with pytest.raises(sheaf.NoSuchDocumentError):
        coll.erase_multi([1, 2, 42])
    assert coll.size() == 6  # nothing erased
    coll.erase_multi(ids[1:3])
    assert coll.size() == 4
    with pytest.raises(sheaf.NoSuchDocumentError):
        coll.erase(1)
    coll.erase_multi([])
    coll.update_multi([], [])


def test_list_docs_and_filters(coll):
    coll.store_multi(
        [
            {"kind": "cat", "age": 3},
            {"kind": "dog", "age": 3},
            b"not json",
            {"kind": "cat", "age": 5, "tags": ["a"]},
            {"kind": "cat", "age": 3.0},
        ]
    )
    everything = coll.list_docs()
    assert [i for i, _ in everything] == [0, 1, 2, 3, 4]
    assert everything[2] == (2, b"not json")
    assert coll.list_docs(start_id=3) == everything[3:]
    assert coll.list_docs(count=2) == everything[:2]
    assert coll.list_docs(count=0) == []
    assert coll.list_docs(filter={}) == everything
    assert [i for i, _ in coll.list_docs(filter={"kind": "cat"})] == [0, 3, 4]
    # compared as JSON values by the library: numbers by value, so 3 matches 3.0
    assert [i for i, _ in coll.list_docs(filter={"kind": "cat", "age": 3})] == [0, 4]
    assert [i for i, _ in coll.list_docs(filter={"age": 5.0})] == [3]
    assert coll.list_docs(filter={"kind": True}) == []
    assert [i for i, _ in coll.list_docs(filter={"tags": ["a"]})] == [3]
    assert coll.list_docs(filter={"kind": "cat"}, count=1, start_id=1) == [everything[3]]
    assert coll.list_docs(filter={"kind": "cat"}, raw=True)[0] == (0, b'{"kind":"cat","age":3}')
    assert coll.list_docs(filter={"missing": 1}) == []
    # a huge count is no limit (2**62 once made the library loop forever)
    assert coll.list_docs(count=2**62) == everything
    assert coll.list_docs(count=2**70) == everything
    with pytest.raises(TypeError):
        coll.list_docs(filter='{"kind": "cat"}')
    with pytest.raises(ValueError):
        coll.list_docs(count=-1)


@pytest.mark.parametrize("page_size", [1, 2, 1000])
def test_iteration(coll, page_size):
    coll.store_multi([{"i": i, "even": i % 2 == 0} for i in range(7)])
    coll.erase(3)
    stored = [(i, {"i": i, "even": i % 2 == 0}) for i in range(7) if i != 3]
    assert list(coll.items(page_size=page_size)) == stored
    assert [i for i, _ in coll.items(filter={"even": True}, page_size=page_size)] == [0, 2, 4, 6]
    assert [i for i, _ in coll.items(start_id=4, page_size=page_size)] == [4, 5, 6]
    assert list(coll) == stored


def test_closed_collection(store):
    c = store.create_collection("c")
    c.store({"a": 1})
    with c:
        assert c.size() == 1
    assert c.closed
    c.close()
    for call in (
        lambda: c.load(0),
        lambda: c.store({}),
        c.size,
        c.list_docs,
        lambda: c.load_multi([0]),
        lambda: c.update(0, {}),
        lambda: c.erase(0),
    ):
        with pytest.raises(sheaf.ClosedError):
            call()
    other = store.open_collection("c")
    assert other.load(0) == {"a": 1}
    store.close()
    with pytest.raises(sheaf.ClosedError):
        other.load(0)


def test_pickle_reopens(lmdb_uri):
    with sheaf.open(lmdb_uri) as store:
        c = store.create_collection("p")
        c.store({"x": 1})
        again = pickle.loads(pickle.dumps(c))
        assert again.name == "p" and again.load(0) == {"x": 1}
        assert "Collection" in repr(again)


def test_dropped_collection_handle(store):
    c = store.create_collection("gone")
    c.store({})
    store.drop_collection("gone")
    with pytest.raises(sheaf.NoSuchCollectionError):
        c.store({})
    with pytest.raises(sheaf.NoSuchCollectionError):
        c.size()


# -- id and argument edges ----------------------------------------------------------------------
def test_ids_up_to_the_largest_uint64(coll):
    top = (1 << 64) - 1
    coll.update(1 << 63, {"half": 1}, Mode.UPDATE_NEW)
    assert coll.store_multi([{"next": 1}]) == [(1 << 63) + 1]
    coll.update_multi([top], [{"top": 1}], Mode.UPDATE_NEW)
    assert coll.load(top) == {"top": 1}
    assert coll.load_multi([1 << 63, top, 0]) == [{"half": 1}, {"top": 1}, None]
    # The last page ends at the largest id: iteration stops there instead of asking past it.
    for page_size in (1, 2, 1000):
        assert [i for i, _ in coll.items(start_id=1 << 63, page_size=page_size)] == [
            1 << 63,
            (1 << 63) + 1,
            top,
        ]
    for bad in (1 << 64, -1):
        with pytest.raises(ValueError):
            coll.load(bad)
        with pytest.raises(ValueError):
            coll.load_multi([bad])
    for bad in (True, 1.0, "1"):
        with pytest.raises(TypeError):
            coll.load(bad)
        with pytest.raises(TypeError):
            coll.load_multi([bad])


def test_list_docs_count_is_an_int(coll):
    coll.store_multi([{"a": 1}, {"a": 2}])
    for bad in (True, 1.0):
        with pytest.raises(TypeError):
            coll.list_docs(count=bad)
    with pytest.raises(ValueError):
        coll.list_docs(count=-1)
    assert coll.list_docs(count=1) == [(0, {"a": 1})]


def test_items_raw_and_one_page_at_a_time(coll):
    coll.store_multi([{"a": 1}, {"a": 2}, {"a": 3}])
    assert list(coll.items(raw=True, page_size=2)) == [
        (0, b'{"a":1}'),
        (1, b'{"a":2}'),
        (2, b'{"a":3}'),
    ]
    it = coll.items(page_size=2)
    assert [next(it), next(it)] == [(0, {"a": 1}), (1, {"a": 2})]
    coll.erase(2)  # not a snapshot: the next page sees the collection as it is then
    coll.store({"a": 4})
    assert list(it) == [(3, {"a": 4})]


def test_load_into_a_callers_buffer(coll):
    first = coll.store({"name": "Ada"})
    second = coll.store(b"\x00binary\xff")
    buf = bytearray(64)
    n = coll.load_into(first, buf)
    assert json.loads(bytes(buf[:n])) == {"name": "Ada"}
    arr = np.zeros(16, dtype=np.uint8)
    assert coll.load_into(second, arr) == 8 and arr[:8].tobytes() == b"\x00binary\xff"
    assert arr[8:].tolist() == [0] * 8  # nothing written past the document
    small = bytearray(3)
    with pytest.raises(sheaf.BufferTooSmallError) as info:
        coll.load_into(second, small)
    assert info.value.needed == 8 and small == bytearray(3)
    with pytest.raises(sheaf.NoSuchDocumentError):
        coll.load_into(99, buf)
    with pytest.raises(sheaf.ReadOnlyBufferError):
        coll.load_into(first, b"immutable bytes here")
    assert coll.load_into(coll.store(b""), bytearray(0)) == 0  # empty document, empty buffer
