"""Key spaces from Python: single calls, modes, buffers, batches, listing, lifecycle."""

from __future__ import annotations

import gc
import math
import pickle
import sys
import threading
import time

import numpy as np
import pytest

import sheaf
from sheaf import Mode, _lib
from sheaf._lib import lib


@pytest.fixture
def kv(store):
    return store.kv("space")


# -- modes ---------------------------------------------------------------------------------------
def test_mode_flags_take_the_library_values():
    names = ["DEFAULT", "INCLUSIVE", "APPEND", "CONSUME", "WAIT", "NOTIFY", "NEW_ONLY"]
    names += ["EXIST_ONLY", "NO_PREFIX", "IGNORE_KEYS", "KEEP_LAST", "SUFFIX", "UPDATE_NEW"]
    names += ["NO_RDMA"]
    for name in names:
        assert int(getattr(Mode, name)) == int(getattr(lib, "SHEAF_MODE_" + name)), name
    # Yokan's published values (include/yokan/common.h): Yokan code's numbers mean the same.
    yokan = {"DEFAULT": 0, "INCLUSIVE": 0x1, "APPEND": 0x2, "CONSUME": 0x4, "WAIT": 0x8}
    yokan.update({"NOTIFY": 0x8, "NEW_ONLY": 0x10, "EXIST_ONLY": 0x20, "NO_PREFIX": 0x40})
    yokan.update({"IGNORE_KEYS": 0x80, "KEEP_LAST": 0x180, "SUFFIX": 0x200})
    yokan.update({"NO_RDMA": 0x4000, "UPDATE_NEW": 0x8000})
    assert {name: int(getattr(Mode, name)) for name in yokan} == yokan
    assert Mode.NOTIFY is Mode.WAIT
    assert Mode.KEEP_LAST & Mode.IGNORE_KEYS == Mode.IGNORE_KEYS
    assert isinstance(Mode.NEW_ONLY | Mode.NOTIFY, int)


def test_no_rdma_is_accepted_and_ignored(kv, store):
    kv.put("r", b"1", Mode.NO_RDMA)
    kv.put("r", b"2", Mode.NO_RDMA | Mode.APPEND)
    assert kv.get("r", Mode.NO_RDMA) == b"12"
    assert kv.get_multi(["r", "missing"], Mode.NO_RDMA) == [b"12", None]
    assert kv.list_keys(mode=Mode.NO_RDMA) == [b"r"]
    with pytest.raises(sheaf.InvalidModeError):
        kv.put("r", b"x", 0x1000)  # Yokan's FILTER_VALUE: not a mode Sheaf takes


def test_invalid_modes_raise_the_library_error(kv):
    with pytest.raises(sheaf.InvalidModeError):
        kv.put("k", b"v", Mode.INCLUSIVE)  # a listing flag
    with pytest.raises(sheaf.InvalidModeError):
        kv.put("k", b"v", Mode.NEW_ONLY | Mode.EXIST_ONLY)
    with pytest.raises(sheaf.InvalidModeError):
        kv.put("k", b"v", 1 << 20)  # a bit the library does not know
    with pytest.raises(sheaf.InvalidModeError):
        kv.put("k", b"v", 1 << 40)  # does not even fit the C uint32_t
    with pytest.raises(sheaf.InvalidModeError):
        kv.get("k", Mode.APPEND)
    with pytest.raises(sheaf.InvalidModeError):
        kv.get_multi(["k"], Mode.WAIT)
    with pytest.raises(sheaf.InvalidModeError):
        kv.list_keys(mode=Mode.APPEND)
    with pytest.raises(sheaf.InvalidModeError):
        kv.put_multi(["k"], [b"v"], Mode.CONSUME)
    with pytest.raises(TypeError):
        kv.put("k", b"v", "NEW_ONLY")
    assert kv.count() == 0


# -- single keys ---------------------------------------------------------------------------------
def test_put_get_str_and_buffers(kv):
    kv.put("text", "héllo")
    assert kv.get("text") == "héllo".encode()
    for key in (b"text", bytearray(b"text"), memoryview(b"text")):
        assert kv.get(key) == "héllo".encode()
    kv.put(bytearray(b"ba"), bytearray(b"\x00\x01"))
    assert kv.get("ba") == b"\x00\x01"
    arr = np.arange(6, dtype=np.float64).reshape(2, 3)
    kv.put(np.frombuffer(b"np-key", dtype=np.uint8), arr)
    out = kv.get("np-key")
    assert type(out) is bytes and len(out) == arr.nbytes
    assert np.array_equal(np.frombuffer(out).reshape(2, 3), arr)
    kv.put(b"", b"")  # the empty key and the empty value are both fine
    assert kv.get(b"") == b""
    assert kv.length(b"") == 0


def test_missing_key_is_a_key_error(kv):
    with pytest.raises(sheaf.NoSuchKeyError) as info:
        kv.get("nope")
    assert isinstance(info.value, KeyError)
    with pytest.raises(KeyError):
        kv["nope"]
    assert kv.length("nope") is None
    assert kv.exists("nope") is False
    assert kv.erase("nope") is False


def test_exists_length_erase_count_erase_range(kv):
    for k in ("a1", "a2", "b1"):
        kv.put(k, k * 3)
    assert kv.exists("a1") and "a2" in kv and "zz" not in kv and 5 not in kv
    assert kv.length("a1") == 6
    assert kv.count() == len(kv) == 3
    assert kv.erase("a1") is True
    assert kv.erase_range("a") == 1
    assert kv.list_keys() == [b"b1"]
    assert kv.erase_range() == 1
    assert kv.count() == 0


def test_dict_sugar(kv):
    kv["x"] = b"1"
    assert kv["x"] == b"1"
    del kv["x"]
    with pytest.raises(KeyError):
        del kv["x"]
    kv.put_multi(["b", "a"], [b"2", b"1"])
    assert list(kv) == [b"a", b"b"]


def test_new_only_exist_only_append(kv):
    kv.put("k", b"one", Mode.NEW_ONLY)
    with pytest.raises(sheaf.KeyExistsError):
        kv.put("k", b"two", Mode.NEW_ONLY)
    assert kv.get("k") == b"one"
    with pytest.raises(sheaf.NoSuchKeyError):
        kv.put("missing", b"x", Mode.EXIST_ONLY)
    assert not kv.exists("missing")
    kv.put("k", b"three", Mode.EXIST_ONLY)
    kv.put("k", b"+four", Mode.APPEND)
    assert kv.get("k") == b"three+four"
    kv.put("fresh", b"start", Mode.APPEND)  # append to nothing creates
    assert kv.get("fresh") == b"start"
    with pytest.raises(sheaf.KeyExistsError):
        kv.put("fresh", b"!", Mode.APPEND | Mode.NEW_ONLY)


def test_consume_pops(kv):
    kv.put("job", b"payload")
    assert kv.get("job", Mode.CONSUME) == b"payload"
    assert not kv.exists("job")
    with pytest.raises(sheaf.NoSuchKeyError):
        kv.get("job", Mode.CONSUME)


def test_wait_times_out(kv):
    t0 = time.monotonic()
    with pytest.raises(sheaf.SheafTimeoutError) as info:
        kv.get("late", timeout=0.05)
    assert isinstance(info.value, TimeoutError)
    assert 0.04 < time.monotonic() - t0 < 2
    with pytest.raises(ValueError):
        kv.get("late", timeout=-1)


@pytest.mark.parametrize("explicit_wait", [False, True])
def test_wait_is_woken_by_a_notify_put(kv, explicit_wait):
    def later():
        time.sleep(0.1)
        kv.put("late", b"here", Mode.NOTIFY)

    t = threading.Thread(target=later)
    t.start()
    try:
        if explicit_wait:  # WAIT without a timeout: until the key appears
            assert kv.get("late", Mode.WAIT | Mode.CONSUME) == b"here"
        else:
            assert kv.get("late", Mode.CONSUME, timeout=10) == b"here"
    finally:
        t.join()
    assert not kv.exists("late")


# -- zero copy out, caller buffers ---------------------------------------------------------------
def test_get_without_copy_is_a_read_only_view_that_outlives_everything(store):
    kv = store.kv("views")
    payload = np.arange(1000, dtype=np.int32)
    kv.put("arr", payload)
    view = kv.get("arr", copy=False)
    assert isinstance(view, memoryview) and view.readonly and view.nbytes == payload.nbytes
    arr = np.frombuffer(view, dtype=np.int32)
    assert not arr.flags.writeable
    with pytest.raises((TypeError, ValueError)):
        view[0] = 1
    del view
    kv.put("arr", b"overwritten")  # the view is a snapshot owned by Python, not the store
    kv.close()
    store.close()
    gc.collect()
    assert np.array_equal(arr, payload)
    empty = sheaf.open("mem://").kv("e")
    empty.put("z", b"")
    assert empty.get("z", copy=False).nbytes == 0


def test_get_multi_without_copy(kv):
    kv.put_multi(["a", "b"], [b"AAA", b"BB"])
    a, b, missing = kv.get_multi(["a", "b", "c"], copy=False)
    assert missing is None
    assert bytes(a) == b"AAA" and bytes(b) == b"BB" and a.readonly


def test_views_of_every_size_and_their_buffers_freed_cleanly(kv, monkeypatch):
    # The library's buffer is freed by a cffi destructor when the last view goes; an error
    # there would only reach sys.unraisablehook, so collect what reaches it.
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append, raising=False)
    kv.put_multi(["0", "1", "2"], [b"", b"x", b"yz"])
    for key, value in [("0", b""), ("1", b"x"), ("2", b"yz")]:
        view = kv.get(key, copy=False)
        assert bytes(view) == value and view.readonly
        del view
        gc.collect()
    views = kv.get_multi(["2", "1", "0", "none"], copy=False)
    assert [None if v is None else bytes(v) for v in views] == [b"yz", b"x", b"", None]
    del views
    gc.collect()
    assert unraisable == []


def test_multi_values_of_any_shape_are_their_bytes(kv):
    values = [
        np.array([[5]], dtype=np.uint8),  # one byte, two dimensions
        np.zeros((0, 3), dtype=np.int32),  # no bytes, two dimensions
        np.array([[1, -2]], dtype=np.int16),
        memoryview(b"abcd").cast("B", (2, 2)),
    ]
    keys = ["one", "none", "ints", "2x2"]
    assert kv.put_multi(keys, values) == [True] * 4
    assert kv.get_multi(keys) == [b"\x05", b"", values[2].tobytes(), b"abcd"]


def test_get_into(kv):
    kv.put("v", b"0123456789")
    buf = bytearray(16)
    assert kv.get_into("v", buf) == 10
    assert bytes(buf[:10]) == b"0123456789"
    target = np.zeros(10, dtype=np.uint8)
    assert kv.get_into("v", target) == 10
    assert target.tobytes() == b"0123456789"
    assert kv.get_into("v", memoryview(bytearray(10))) == 10


def test_get_into_too_small_reports_the_size_needed(kv):
    kv.put("v", b"0123456789")
    small = bytearray(4)
    with pytest.raises(sheaf.BufferTooSmallError) as info:
        kv.get_into("v", small)
    assert info.value.needed == 10
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, KeyError)
    with pytest.raises(sheaf.BufferTooSmallError):
        kv.get_into("v", small, Mode.CONSUME)
    assert kv.exists("v")  # a refused CONSUME does not erase
    assert kv.get_into("v", bytearray(10), Mode.CONSUME) == 10
    assert not kv.exists("v")
    with pytest.raises(sheaf.NoSuchKeyError) as missing:
        kv.get_into("v", bytearray(10))
    assert not isinstance(missing.value, sheaf.BufferTooSmallError)
    with pytest.raises(sheaf.SheafTimeoutError):
        kv.get_into("v", bytearray(10), timeout=0.02)


def test_get_into_refuses_unwritable_buffers(kv):
    kv.put("v", b"x")
    for readonly in (b"12345", memoryview(bytearray(5)).toreadonly(), np.zeros(5, np.uint8)[::1]):
        if isinstance(readonly, np.ndarray):
            readonly.flags.writeable = False
        with pytest.raises(sheaf.ReadOnlyBufferError) as info:
            kv.get_into("v", readonly)
        assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    with pytest.raises(sheaf.NonContiguousBufferError):
        kv.get_into("v", np.zeros(10, np.uint8)[::2])
    with pytest.raises(TypeError):
        kv.get_into("v", "a str is not a buffer")


def test_non_contiguous_inputs_are_refused(kv):
    strided = np.arange(10, dtype=np.int64)[::2]
    with pytest.raises(sheaf.NonContiguousBufferError) as info:
        kv.put("k", strided)
    assert isinstance(info.value, TypeError)
    with pytest.raises(sheaf.NonContiguousBufferError):
        kv.put(strided, b"v")
    with pytest.raises(sheaf.NonContiguousBufferError):
        kv.put_multi(["k"], [np.asfortranarray(np.ones((3, 3)))])
    with pytest.raises(TypeError):
        kv.put("k", 42)
    with pytest.raises(TypeError):
        kv.put_multi(["k"], [None])
    assert kv.count() == 0
    kv.put("k", np.ascontiguousarray(strided))
    assert kv.get("k") == np.ascontiguousarray(strided).tobytes()


# -- batches -------------------------------------------------------------------------------------
def test_put_multi_reports_refused_keys(kv):
    assert kv.put_multi([], []) == []
    assert kv.put_multi(["a", "b"], [b"1", b"2"]) == [True, True]
    assert kv.put_multi(["a", "c", "b", "d"], [b"x"] * 4, Mode.NEW_ONLY) == [
        False,
        True,
        False,
        True,
    ]
    assert kv.get_multi(["a", "b", "c", "d"]) == [b"1", b"2", b"x", b"x"]
    assert kv.put_multi(["a", "zz"], [b"!", b"!"], Mode.EXIST_ONLY | Mode.APPEND) == [True, False]
    assert kv.get("a") == b"1!" and not kv.exists("zz")
    with pytest.raises(ValueError):
        kv.put_multi(["a", "b"], [b"1"])


def test_multi_calls_mix_key_types(kv):
    keys = ["s", b"b", bytearray(b"ba"), memoryview(b"mv"), np.frombuffer(b"np", np.uint8)]
    values = [b"1", "2", np.arange(3, dtype=np.int16), np.ones((2, 2), np.uint8), bytearray(b"")]
    assert kv.put_multi(keys, values) == [True] * 5
    out = kv.get_multi(iter([b"s", "b", "ba", "mv", "np", "none"]))
    assert out == [b"1", b"2", np.arange(3, dtype=np.int16).tobytes(), b"\x01" * 4, b"", None]
    assert kv.exists_multi(["s", "none", "np"]) == [True, False, True]
    assert kv.length_multi(["ba", "none", "np"]) == [6, None, 0]
    assert kv.erase_multi(["s", "none"]) == [True, False]
    assert kv.count() == 4
    assert kv.get_multi([]) == [] and kv.exists_multi([]) == [] and kv.erase_multi([]) == []


def test_get_multi_consume(kv):
    kv.put_multi(["a", "b"], [b"1", b"2"])
    assert kv.get_multi(["a", "x", "b"], Mode.CONSUME) == [b"1", None, b"2"]
    assert kv.count() == 0


# -- listing -------------------------------------------------------------------------------------
@pytest.fixture
def filled(kv):
    keys = ["apple", "apricot", "banana", "blueberry", "cherry", "grape.json", "kiwi.json"]
    kv.put_multi(keys, [k.upper() for k in keys])
    return kv


def test_list_keys_prefix_from_key_inclusive(filled):
    kv = filled
    assert kv.list_keys() == [
        b"apple",
        b"apricot",
        b"banana",
        b"blueberry",
        b"cherry",
        b"grape.json",
        b"kiwi.json",
    ]
    assert kv.list_keys(prefix="ap") == [b"apple", b"apricot"]
    assert kv.list_keys(prefix="b", count=1) == [b"banana"]
    after_banana = [b"blueberry", b"cherry", b"grape.json", b"kiwi.json"]
    assert kv.list_keys(from_key="banana") == after_banana
    assert kv.list_keys(from_key="banana", count=2, mode=Mode.INCLUSIVE) == [
        b"banana",
        b"blueberry",
    ]
    assert kv.list_keys(from_key="b", prefix="b") == [b"banana", b"blueberry"]
    assert kv.list_keys(from_key="banana", prefix="b") == [b"blueberry"]
    assert kv.list_keys(prefix="ap", mode=Mode.NO_PREFIX) == [b"ple", b"ricot"]
    assert kv.list_keys(count=0) == []
    assert kv.list_keys(prefix="zzz") == []


def test_list_keys_suffix(filled):
    kv = filled
    assert kv.list_keys(suffix=".json") == [b"grape.json", b"kiwi.json"]
    assert kv.list_keys(prefix=".json", mode=Mode.SUFFIX) == [b"grape.json", b"kiwi.json"]
    assert kv.list_keys(suffix=".json", mode=Mode.NO_PREFIX) == [b"grape", b"kiwi"]
    assert kv.list_keys(suffix="y", from_key="blueberry", mode=Mode.INCLUSIVE) == [
        b"blueberry",
        b"cherry",
    ]
    assert kv.list_keys(suffix="y", count=1) == [b"blueberry"]
    with pytest.raises(ValueError):
        kv.list_keys(prefix="a", suffix="b")


def test_list_keyvals_and_key_modes(filled):
    kv = filled
    assert kv.list_keyvals(prefix="ap") == [(b"apple", b"APPLE"), (b"apricot", b"APRICOT")]
    assert kv.list_keyvals(prefix="b", mode=Mode.IGNORE_KEYS) == [
        (b"", b"BANANA"),
        (b"", b"BLUEBERRY"),
    ]
    assert kv.list_keyvals(prefix="b", mode=Mode.KEEP_LAST) == [
        (b"", b"BANANA"),
        (b"blueberry", b"BLUEBERRY"),
    ]
    assert kv.list_keyvals(suffix=".json", mode=Mode.NO_PREFIX) == [
        (b"grape", b"GRAPE.JSON"),
        (b"kiwi", b"KIWI.JSON"),
    ]


def test_list_consume_pops_in_key_order(filled):
    kv = filled
    assert kv.list_keyvals(prefix="b", count=1, mode=Mode.CONSUME) == [(b"banana", b"BANANA")]
    assert kv.list_keys(prefix="b", mode=Mode.CONSUME) == [b"blueberry"]
    assert kv.list_keys(prefix="b") == []
    assert kv.count() == 5


@pytest.mark.parametrize("page_size", [1, 2, 3, 1000])
def test_iteration_pages(filled, page_size):
    kv = filled
    everything = kv.list_keyvals()
    assert list(kv.items(page_size=page_size)) == everything
    assert list(kv.keys(page_size=page_size)) == [k for k, _ in everything]
    assert list(kv.keys("b", page_size=page_size)) == [b"banana", b"blueberry"]
    assert list(kv.keys(suffix=".json", page_size=page_size)) == [b"grape.json", b"kiwi.json"]
    assert list(kv.keys(from_key="cherry", page_size=page_size)) == [b"grape.json", b"kiwi.json"]
    assert next(kv.keys(from_key="cherry", inclusive=True, page_size=page_size)) == b"cherry"
    assert list(kv.items("zzz", page_size=page_size)) == []
    with pytest.raises(ValueError):
        list(kv.keys(page_size=0))


def test_binary_keys_sort_by_bytes(kv):
    keys = [b"\x00", b"\x00\x00", b"\x01", b"\xff", b"a\x00b", b"a"]
    kv.put_multi(keys, keys)
    assert kv.list_keys() == sorted(keys)
    assert kv.list_keys(prefix=b"a") == [b"a", b"a\x00b"]
    assert kv.get(b"a\x00b") == b"a\x00b"


# -- spaces, lifecycle ---------------------------------------------------------------------------
def test_spaces_are_separate_and_listed(store):
    a, b = store.kv("a"), store.kv("b")
    a.put("k", b"in a")
    assert not b.exists("k")
    assert store.kv("a").get("k") == b"in a"  # reopening sees the same data
    assert store.list_kv() == ["a", "b"]
    assert store.drop_kv("a") is True
    assert store.drop_kv("a") is False
    assert store.list_kv() == ["b"]
    assert store.kv("a").count() == 0
    with pytest.raises(sheaf.InvalidNameError):
        store.kv("")
    with pytest.raises(TypeError):
        store.kv(b"bytes")


def test_closed_key_space(store):
    kv = store.kv("c")
    kv.put("k", b"v")
    with kv:
        assert kv.get("k") == b"v"
    assert kv.closed
    kv.close()  # idempotent
    for call in (
        lambda: kv.get("k"),
        lambda: kv.put("k", b"v"),
        lambda: kv.get_multi(["k"]),
        kv.list_keys,
        kv.count,
        lambda: kv.get_into("k", bytearray(1)),
    ):
        with pytest.raises(sheaf.ClosedError):
            call()
    assert store.kv("c").get("k") == b"v"  # a new handle works; the data stayed
    other = store.kv("c")
    store.close()
    with pytest.raises(sheaf.ClosedError):
        other.get("k")
    with pytest.raises(sheaf.ClosedError):
        store.kv("c")


def test_pickle_reopens(lmdb_uri):
    with sheaf.open(lmdb_uri) as store:
        kv = store.kv("p")
        kv.put("k", b"v")
        again = pickle.loads(pickle.dumps(kv))
        assert again.name == "p" and again.get("k") == b"v"
        assert "KeySpace" in repr(again)


def test_threads_share_a_key_space(kv):
    errors = []

    def work(t):
        try:
            keys = [f"{t}-{i}" for i in range(200)]
            for k in keys[:100]:
                kv.put(k, k)
            kv.put_multi(keys[100:], keys[100:])
            assert kv.get_multi(keys) == [k.encode() for k in keys]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert kv.count() == 800


# -- argument edges --------------------------------------------------------------------------------
def test_timeouts_zero_infinite_and_huge(kv):
    kv.put("here", b"v")
    with pytest.raises(sheaf.SheafTimeoutError):
        kv.get("missing", timeout=0)  # zero is a valid timeout: no wait at all
    with pytest.raises(sheaf.SheafTimeoutError):
        kv.get_into("missing", bytearray(4), timeout=0)
    for timeout in (math.inf, 1e30, 2.0**64):  # the C timeout saturates at its maximum
        assert kv.get("here", timeout=timeout) == b"v"
        assert kv.get_into("here", bytearray(4), timeout=timeout) == 1
    for bad in (-0.001, math.nan, -math.inf):
        with pytest.raises(ValueError):
            kv.get("here", timeout=bad)


def test_an_unbounded_wait_outlasts_its_slices(kv, monkeypatch):
    # Unbounded WAITs run in slices (so Ctrl-C is seen); with 1 ms slices several run out
    # before the put, and the get must go on waiting and return the value.
    monkeypatch.setattr(sheaf.kv, "_WAIT_SLICE_MS", 1)

    def later():
        time.sleep(0.05)
        kv.put("late", b"here", Mode.NOTIFY)

    t = threading.Thread(target=later)
    t.start()
    try:
        assert kv.get("late", Mode.WAIT) == b"here"
    finally:
        t.join()
    assert _lib.errslot()[0] == _lib.ffi.NULL


def test_counts_and_modes_are_checked_before_the_call(kv):
    kv.put_multi(["a", "b"], [b"1", b"2"])
    for bad in (True, 1.0, "1"):
        with pytest.raises(TypeError):
            kv.list_keys(count=bad)
    with pytest.raises(ValueError):
        kv.list_keys(count=-1)
    assert kv.list_keys(count=np.int64(1)) == [b"a"]
    for bad in (-1, 1 << 32):
        with pytest.raises(sheaf.InvalidModeError):
            kv.get("a", bad)
        with pytest.raises(sheaf.InvalidModeError):
            kv.put("a", b"x", bad)
    with pytest.raises(TypeError):
        kv.get("a", 1.0)


def test_refused_keys_leave_the_error_slot_empty(kv):
    kv.put("a", b"1")
    assert kv.put_multi(["a", "b"], [b"x", b"y"], Mode.NEW_ONLY) == [False, True]
    assert _lib.errslot()[0] == _lib.ffi.NULL
    assert kv.put_multi(["c", "b"], [b"x", b"z"], Mode.EXIST_ONLY) == [False, True]
    assert _lib.errslot()[0] == _lib.ffi.NULL
    assert kv.get_multi(["a", "b", "c"]) == [b"1", b"z", None]


def test_values_come_back_as_bytes_unless_asked(kv):
    kv.put_multi(["a", "b"], [b"1", b""])
    for values in (kv.get_multi(["a", "b"]), [v for _, v in kv.items()], kv.list_keys()):
        assert all(type(v) is bytes for v in values), values
    assert all(type(v) is memoryview for v in kv.get_multi(["a", "b"], copy=False))


def test_listing_defaults_start_after_from_key(kv):
    kv.put_multi(["a", "b", "ab", "ca", "cb"], [b"1", b"2", b"3", b"4", b"5"])
    assert kv.list_keyvals(from_key="ca") == [(b"cb", b"5")]
    assert [k for k, _ in kv.items(from_key="ab")] == [b"b", b"ca", b"cb"]
    assert [k for k, _ in kv.items(from_key="ab", inclusive=True)] == [b"ab", b"b", b"ca", b"cb"]
    assert list(kv.items(suffix="b", from_key="ab")) == [(b"b", b"2"), (b"cb", b"5")]
    assert list(kv.keys(suffix="b", from_key="ab", inclusive=True)) == [b"ab", b"b", b"cb"]


def test_pages_resume_right_after_the_last_key(kv):
    keys = [b"a", b"a\x00", b"a\x00\x00", b"aA", b"aXX", b"b"]
    kv.put_multi(keys, [b""] * len(keys))
    for page_size in (1, 2, 3):
        assert list(kv.keys(page_size=page_size)) == keys
        assert [k for k, _ in kv.items(page_size=page_size)] == keys


def test_iteration_reads_one_page_at_a_time(kv):
    # Not a snapshot: a page read after a put or an erase sees it (one C call per page).
    kv.put_multi(["a", "b", "c"], [b"1", b"2", b"3"])
    it = kv.keys(page_size=2)
    assert [next(it), next(it)] == [b"a", b"b"]
    kv.put("bb", b"4")
    kv.erase("c")
    assert list(it) == [b"bb"]


def test_paging_resumes_after_the_longest_key_and_the_empty_key(store):
    kv = store.kv("paging")
    longest = b"a" * 448
    keys = [b"", longest, longest[:-1] + b"b", b"c"]
    for k in keys:
        kv.put(k, b"v" + k[:1])
    assert list(kv.keys(page_size=1)) == sorted(keys)
    assert [k for k, _ in kv.items(page_size=1)] == sorted(keys)
