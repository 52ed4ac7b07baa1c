"""write_pickle (opaque objects, never unpickled without consent) and admin_tools sizes,
through Python with numpy only."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import sheaf
from sheaf import KeyType, Size, WritePayload


class Recorder:
    """Unpickling it records the fact: the test of "a plain read never unpickles"."""

    loaded = 0

    def __reduce__(self):
        return (_note_load, ())


def _note_load():
    Recorder.loaded += 1
    return "loaded"


def test_write_pickle_round_trips_any_object_and_keeps_metadata(lib):
    obj = {"nested": [1, 2.5, None, {"b": b"\x00\xff"}], "set": {1, 2}, "t": (1, "x")}
    item = lib.write_pickle("p", obj, metadata={"m": 1})
    assert item.version == 0 and item.metadata == {"m": 1} and item.index is None
    back = lib.read("p", allow_pickle=True)
    assert back.data == obj and back.metadata == {"m": 1}
    # Bigger than one 16 MiB value: the bytes are cut and joined in order.
    big = np.arange(3_000_000, dtype=np.int64) * 7
    lib.write_pickle("big", big)
    got = lib.read("big", allow_pickle=True).data
    assert got.dtype == big.dtype and np.array_equal(got, big)


def test_a_plain_read_never_unpickles(lib):
    Recorder.loaded = 0
    lib.write_pickle("p", Recorder())
    with pytest.raises(sheaf.SchemaError, match="allow_pickle"):
        lib.read("p")
    with pytest.raises(sheaf.SchemaError):
        lib.read("p", lazy=True).collect()
    with pytest.raises(sheaf.SchemaError, match="whole"):
        lib.read("p", row_range=(0, 1), allow_pickle=True)
    assert Recorder.loaded == 0
    assert lib.read("p", allow_pickle=True).data == "loaded" and Recorder.loaded == 1


def test_an_object_refuses_table_operations_and_a_write_replaces_it(lib):
    lib.write_pickle("p", [1, 2, 3])
    chunk = {"object": np.array([b"x"], dtype=object)}
    with pytest.raises(sheaf.SchemaError, match="object"):
        lib.append("p", chunk)
    with pytest.raises(sheaf.SchemaError):
        lib.update("p", chunk)
    lib.write_metadata("p", {"k": 2})  # keeps the object
    assert lib.read("p", allow_pickle=True).data == [1, 2, 3]
    lib.write("p", {"v": np.arange(3)})
    assert list(lib.read("p").data["v"]) == [0, 1, 2]
    assert lib.read("p", as_of=0, allow_pickle=True).data == [1, 2, 3]


def test_objects_of_other_formats_read_back_as_bytes(lib):
    # What a C program writes with "content": the bytes, never interpreted.
    payload = pickle.dumps("not for unpickling")
    lib._stream_commit(
        sheaf._lib.lib.sheaf_table_write,
        "raw",
        {"blob": np.array([payload[:5], payload[5:]], dtype=object)},
        None,
        None,
        lambda _chosen: {"content": "application/x-mine"},
    )
    assert lib.read("raw").data == payload
    with pytest.raises(sheaf.SchemaError, match="binary"):
        lib._stream_commit(
            sheaf._lib.lib.sheaf_table_write,
            "bad",
            {"v": np.arange(2)},
            None,
            None,
            lambda _chosen: {"content": "x"},
        )
    with pytest.raises(sheaf.InvalidArgumentError, match="format"):
        lib._stream_commit(
            sheaf._lib.lib.sheaf_table_write,
            "bad",
            {"blob": np.array([b"x"], dtype=object)},
            None,
            None,
            lambda _chosen: {"content": "has space"},
        )


def test_write_pickle_batch(lib):
    results = lib.write_pickle_batch(
        [WritePayload("a", {"x": 1}, metadata=1), WritePayload("b", [object.__name__])]
    )
    assert [r.version for r in results] == [0, 0]
    assert lib.read("a", allow_pickle=True).data == {"x": 1}
    assert lib.read_metadata("a").metadata == 1
    assert lib.read("b", allow_pickle=True).data == ["object"]
    with pytest.raises(TypeError):
        lib.write_pickle_batch([("a", 1)])  # type: ignore[list-item]
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        lib.write_pickle("bad", lambda: 1)
    assert not lib.has_symbol("bad")


def test_admin_tools_sizes_per_symbol_and_kind(lib):
    tools = lib.admin_tools()
    empty = tools.get_sizes()
    assert set(empty) == set(KeyType) and all(s == Size(0, 0) for s in empty.values())
    lib.write("t", {"v": np.arange(10_000)})
    lib.append("t", {"v": np.arange(5)})
    lib.write_pickle("p", b"\x01" * 50_000)
    lib.stage("st", {"v": np.arange(3)})
    lib.snapshot("snap")
    by_symbol = tools.get_sizes_by_symbol()
    assert set(by_symbol) == {"t", "p", "st"}
    t = by_symbol["t"]
    assert t[KeyType.VERSION].count == 2 and t[KeyType.TABLE_DATA].count == 2
    assert t[KeyType.TABLE_DATA].bytes_compressed > 1000  # 10,000 int64s, compressed
    assert t == tools.get_sizes_for_symbol("t")
    assert by_symbol["st"][KeyType.APPEND_DATA].count == 1
    assert by_symbol["p"][KeyType.TABLE_DATA].bytes_compressed > 0
    total = tools.get_sizes()
    assert total[KeyType.SNAPSHOT_REF].count == 1
    for kind in (KeyType.TABLE_DATA, KeyType.VERSION, KeyType.APPEND_DATA):
        assert total[kind] == Size(
            sum(s[kind].bytes_compressed for s in by_symbol.values()),
            sum(s[kind].count for s in by_symbol.values()),
        )
    # Deleting a symbol frees its values (the snapshot keeps the ones it pins).
    lib.delete_snapshot("snap")
    lib.delete("p")
    after = tools.get_sizes_for_symbol("p")
    assert after[KeyType.TABLE_DATA] == Size(0, 0)
    assert tools.get_sizes_for_symbol("never") == {k: Size(0, 0) for k in KeyType}
    with pytest.raises(sheaf.InvalidNameError):
        tools.get_sizes_for_symbol("")
