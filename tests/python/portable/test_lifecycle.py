"""close(), context managers, pickling and persistence."""

from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pytest

import sheaf


def test_close_semantics(lmdb_uri):
    store = sheaf.open(lmdb_uri, output_format="numpy")
    lib = store.create_library("l")
    lib.write("s", {"a": [1, 2]})
    store.close()
    store.close()  # idempotent
    assert store.closed and "closed" in repr(store)
    for call in (
        lambda: lib.read("s"),
        lambda: lib.write("s", {"a": [1]}),
        lib.list_symbols,
        store.list_libraries,
        lambda: store.get_library("l"),
        lambda: store.create_library("m"),
    ):
        with pytest.raises(sheaf.ClosedError) as info:
            call()
        assert isinstance(info.value, ValueError)
        assert info.value.code == 700
    # reopening the same path works and the data is there
    with sheaf.open(lmdb_uri, output_format="numpy") as again:
        assert again["l"].read("s").data["a"].tolist() == [1, 2]
    assert again.closed


def test_library_close_leaves_store_open(store):
    with store.create_library("l") as lib:
        lib.write("s", {"a": [1]})
    assert lib.closed
    with pytest.raises(sheaf.ClosedError):
        lib.read("s")
    lib.close()
    assert store["l"].read("s").data["a"].tolist() == [1]


def test_store_pickles_as_uri_and_reopens(lmdb_uri):
    with sheaf.open(lmdb_uri, output_format="numpy") as store:
        store.create_library("l").write("s", {"a": np.arange(3)})
        clone = pickle.loads(pickle.dumps(store))
        assert isinstance(clone, sheaf.Store) and clone is not store
        assert clone.uri == lmdb_uri and clone.output_format == "numpy"
        assert clone.list_libraries() == ["l"]
        clone.close()


def test_library_pickles_as_uri_and_name(lmdb_uri):
    with sheaf.open(lmdb_uri) as store:
        lib = store.create_library("l", output_format="numpy")
        lib.write("s", {"a": np.arange(3)})
        data = pickle.dumps(lib)
    clone = pickle.loads(data)
    assert isinstance(clone, sheaf.Library) and clone.name == "l"
    assert clone.output_format == "numpy"
    assert clone.read("s").data["a"].tolist() == [0, 1, 2]
    clone.store.close()


def test_named_memory_store_is_shared_in_process():
    a = sheaf.open("mem://shared-test", output_format="numpy")
    a.create_library("l").write("s", {"v": [1]})
    b = pickle.loads(pickle.dumps(a))
    assert b.get_library("l").read("s").data["v"].tolist() == [1]
    a.close()
    b.close()


def test_output_format_precedence(store):
    assert store.output_format == "numpy"
    lib = store.create_library("l")
    assert lib.output_format == "numpy"
    store.output_format = None  # the default: pandas where pandas and pyarrow are installed
    have_pandas = all(importlib.util.find_spec(m) is not None for m in ("pandas", "pyarrow"))
    assert store.output_format == ("pandas" if have_pandas else "numpy")
    store.output_format = "numpy"
    lib.write("s", {"a": [1]})
    assert isinstance(lib.read("s").data, sheaf.Columns)


def test_repr(store):
    lib = store.create_library("l")
    assert repr(lib) == "<sheaf.Library 'l' in 'mem://'>"
    assert repr(store) == "<sheaf.Store 'mem://'>"
