"""Yokan's Python forms on key spaces and collections: the ``*_packed`` calls (keys, values and
documents concatenated in one buffer with a sizes list, one C call each) and the callback calls
(``fetch``, ``fetch_multi``, ``fetch_packed``, ``iter`` with ``callback(index, key, value)``)."""

from __future__ import annotations

import threading
from array import array
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

import sheaf
import sheaf.collection
import sheaf.kv
from sheaf import Mode


@pytest.fixture
def kv(store):
    return store.kv("yokan")


@pytest.fixture
def coll(store):
    return store.create_collection("yokan")


def _packed(items: List[bytes]) -> Tuple[bytes, List[int]]:
    return b"".join(items), [len(x) for x in items]


class _CountingLib:
    """Stands in for the cffi ``lib`` of sheaf.kv / sheaf.collection and records which key-space
    and document C functions are called."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.calls: List[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not name.startswith(("sheaf_kv_", "sheaf_doc_")):
            return attr
        calls = self.calls

        def counted(*args: Any) -> Any:
            calls.append(name)
            return attr(*args)

        return counted


@pytest.fixture
def c_calls(monkeypatch):
    counting = _CountingLib(sheaf.kv.lib)
    monkeypatch.setattr(sheaf.kv, "lib", counting)
    monkeypatch.setattr(sheaf.collection, "lib", counting)
    return counting.calls


class _Recorder:
    def __init__(self) -> None:
        self.calls: List[Tuple[int, Any, Any]] = []

    def __call__(self, index: int, key: Any, value: Any) -> None:
        self.calls.append((index, key, value))
        if len(self.calls) > 1000:  # an iteration that does not end fails instead of hanging
            raise AssertionError("more callbacks than there are items")


# -- put_packed / get_packed -----------------------------------------------------------------------
def test_put_packed_then_get_packed_round_trip(kv, c_calls):
    keys, key_sizes = _packed([b"alpha", b"b", b"gamma-ray"])
    values, value_sizes = _packed([b"1", b"", b"three!"])
    assert kv.put_packed(keys, key_sizes, values, value_sizes) == [True, True, True]
    assert c_calls == ["sheaf_kv_put_multi"]
    assert kv.get_multi(["alpha", "b", "gamma-ray"]) == [b"1", b"", b"three!"]

    del c_calls[:]
    query, query_sizes = _packed([b"gamma-ray", b"nope", b"alpha", b"b"])
    out = bytearray(b"\xee" * 16)
    assert kv.get_packed(query, query_sizes, out) == [6, None, 1, 0]
    assert c_calls == ["sheaf_kv_get_multi"]
    assert bytes(out[:7]) == b"three!1"  # packed in key order, missing keys take no room
    assert bytes(out[7:]) == b"\xee" * 9  # the rest of the buffer is untouched


def test_packed_calls_take_any_buffer_and_any_int_sequence(kv):
    keys = np.frombuffer(b"k1k22", dtype=np.uint8)
    values = memoryview(bytearray(b"vv-www"))
    assert kv.put_packed(keys, np.array([2, 3]), values, array("Q", [2, 4])) == [True, True]
    out = np.zeros(8, dtype=np.uint8)
    assert kv.get_packed(bytearray(b"k22k1"), (3, 2), out) == [4, 2]
    assert out.tobytes() == b"-wwwvv\x00\x00"
    # sizes may add up to less than the buffer: the rest is ignored (as in Yokan)
    assert kv.get_packed(b"k1IGNORED", [2], bytearray(2)) == [2]
    # str is UTF-8, as everywhere
    assert kv.put_packed("ék", [2, 1], "xy", [1, 1]) == [True, True]
    assert kv.get_multi(["é", "k"]) == [b"x", b"y"]


def test_get_packed_too_small_marks_that_value_and_every_later_one(kv):
    kv.put_multi(["a", "b", "c", "d"], [b"AAAA", b"BB", b"C", b"DDD"])
    keys, sizes = _packed([b"a", b"b", b"zz", b"c", b"d"])
    out = bytearray(5)
    # a fits (4); b (2) does not, so b, c and d are -1 even though c (1) would fit; zz is missing
    assert kv.get_packed(keys, sizes, out) == [4, -1, None, -1, -1]
    assert bytes(out[:4]) == b"AAAA"
    out = bytearray(7)
    assert kv.get_packed(keys, sizes, out) == [4, 2, None, 1, -1]
    assert bytes(out) == b"AAAABBC"
    assert kv.get_packed(keys, sizes, bytearray(0)) == [-1, -1, None, -1, -1]


def test_get_packed_consume_and_modes(kv):
    kv.put_multi(["q1", "q2", "keep"], [b"one", b"two", b"k"])
    out = bytearray(16)
    assert kv.get_packed(b"q1q2q3", [2, 2, 2], out, Mode.CONSUME) == [3, 3, None]
    assert bytes(out[:6]) == b"onetwo"
    assert kv.list_keys() == [b"keep"]
    assert kv.get_packed(b"keep", [4], out, Mode.NO_RDMA) == [1]
    with pytest.raises(sheaf.InvalidModeError):
        kv.get_packed(b"keep", [4], out, Mode.APPEND)
    with pytest.raises(sheaf.InvalidModeError):
        kv.get_packed(b"keep", [4], out, Mode.WAIT)  # as get_multi: one key waits, not a batch


def test_put_packed_modes_report_refused_keys(kv):
    kv.put("old", b"1")
    keys, key_sizes = _packed([b"old", b"new"])
    assert kv.put_packed(keys, key_sizes, b"xy", [1, 1], Mode.NEW_ONLY) == [False, True]
    assert kv.get_multi(["old", "new"]) == [b"1", b"y"]
    keys, key_sizes = _packed([b"old", b"gone"])
    assert kv.put_packed(keys, key_sizes, b"AB", [1, 1], Mode.EXIST_ONLY) == [True, False]
    assert kv.get_multi(["old", "gone"]) == [b"A", None]
    assert kv.put_packed(b"old", [3], b"+", [1], Mode.APPEND) == [True]
    assert kv.get("old") == b"A+"
    with pytest.raises(sheaf.InvalidModeError):
        kv.put_packed(b"old", [3], b"+", [1], Mode.CONSUME)
    assert kv.put_packed(b"", [], b"", []) == []


def test_packed_input_errors_are_clear_and_change_nothing(kv, c_calls):
    with pytest.raises(sheaf.InvalidArgumentError, match="2 key sizes but 1 value sizes"):
        kv.put_packed(b"ab", [1, 1], b"x", [1])
    with pytest.raises(sheaf.InvalidArgumentError, match="add up to 5 bytes"):
        kv.put_packed(b"ab", [5], b"x", [1])  # would read past the keys buffer
    with pytest.raises(sheaf.InvalidArgumentError, match="values"):
        kv.put_packed(b"ab", [2], b"x", [2])
    with pytest.raises(sheaf.InvalidArgumentError):
        kv.put_packed(b"ab", [-1, 3], b"xy", [1, 1])
    with pytest.raises(TypeError):
        kv.put_packed(b"ab", [1.0, 1.0], b"xy", [1, 1])
    with pytest.raises(TypeError):
        kv.put_packed(b"ab", "11", b"xy", [1, 1])
    with pytest.raises(TypeError):
        kv.put_packed(b"ab", 2, b"xy", [1, 1])
    with pytest.raises(TypeError):
        kv.put_packed(12, [1], b"x", [1])
    with pytest.raises(sheaf.NonContiguousBufferError):
        kv.put_packed(np.arange(8, dtype=np.uint8)[::2], [2, 2], b"xy", [1, 1])
    for call in (kv.exists_packed, kv.length_packed, kv.erase_packed):
        with pytest.raises(sheaf.InvalidArgumentError):
            call(b"abc", [2, 2])
    with pytest.raises(sheaf.InvalidArgumentError):
        kv.get_packed(b"abc", [4], bytearray(8))
    assert c_calls == []  # refused before any C call
    assert kv.count() == 0
    # the library's own checks still apply: a key longer than 448 bytes
    with pytest.raises(sheaf.InvalidArgumentError, match="448"):
        kv.put_packed(b"k" * 450, [1, 449], b"xy", [1, 1])
    assert kv.count() == 0


def test_get_packed_refuses_an_unwritable_buffer_before_consuming(kv, c_calls):
    kv.put("k", b"v")
    del c_calls[:]
    with pytest.raises(sheaf.ReadOnlyBufferError):
        kv.get_packed(b"k", [1], b"read-only", Mode.CONSUME)
    with pytest.raises(sheaf.NonContiguousBufferError):
        kv.get_packed(b"k", [1], np.zeros(8, dtype=np.uint8)[::2], Mode.CONSUME)
    assert c_calls == []
    assert kv.get("k") == b"v"


# -- exists / length / erase -------------------------------------------------------------------
def test_exists_length_erase_packed(kv, c_calls):
    kv.put_multi(["a", "bb", "ccc"], [b"1", b"22", b""])
    del c_calls[:]
    keys, sizes = _packed([b"bb", b"zz", b"ccc", b"a"])
    assert kv.exists_packed(keys, sizes) == [True, False, True, True]
    assert kv.length_packed(keys, sizes) == [2, None, 0, 1]
    assert kv.erase_packed(keys, sizes) == [True, False, True, True]
    assert kv.exists_packed(keys, sizes) == [False, False, False, False]
    assert kv.length_packed(keys, sizes, Mode.NO_RDMA) == [None, None, None, None]
    assert c_calls == [
        "sheaf_kv_exists_multi",
        "sheaf_kv_length_multi",
        "sheaf_kv_erase_multi",
        "sheaf_kv_exists_multi",
        "sheaf_kv_length_multi",
    ]
    assert kv.count() == 0
    for call in (kv.exists_packed, kv.length_packed, kv.erase_packed):
        assert call(b"", []) == []
        with pytest.raises(sheaf.InvalidModeError):
            call(keys, sizes, Mode.CONSUME)  # the C call takes no mode: only NO_RDMA passes
        with pytest.raises(TypeError):
            call(keys, sizes, "0")


# -- list_keys_packed / list_keyvals_packed ------------------------------------------------------
@pytest.fixture
def fruit(kv):
    names = ["apple", "apricot", "banana", "blueberry", "cherry", "grape.json", "kiwi.json"]
    kv.put_multi(names, [n.upper().encode() for n in names])
    return kv


def _split(buf: Any, sizes: List[int]) -> List[bytes]:
    out, pos = [], 0
    raw = bytes(buf)
    for s in sizes:
        out.append(raw[pos : pos + s])
        pos += s
    return out


def test_list_keys_packed(fruit, c_calls):
    kv = fruit
    buf = bytearray(64)
    sizes = kv.list_keys_packed(buf, 3)
    assert c_calls == ["sheaf_kv_list"]
    assert sizes == [5, 7, 6]
    assert _split(buf, sizes) == [b"apple", b"apricot", b"banana"]
    # as many sizes as keys found (Yokan stops at NO_MORE_KEYS)
    assert kv.list_keys_packed(buf, 100, b"", b"b") == [6, 9]
    assert _split(buf, [6, 9]) == [b"banana", b"blueberry"]
    assert kv.list_keys_packed(buf, 0) == []
    # from_key is exclusive unless INCLUSIVE
    sizes = kv.list_keys_packed(buf, 2, "banana")
    assert _split(buf, sizes) == [b"blueberry", b"cherry"]
    sizes = kv.list_keys_packed(buf, 2, "banana", mode=Mode.INCLUSIVE)
    assert _split(buf, sizes) == [b"banana", b"blueberry"]
    # NO_PREFIX strips the filter
    sizes = kv.list_keys_packed(buf, 10, filter="ap", mode=Mode.NO_PREFIX)
    assert sizes == [3, 5]
    assert _split(buf, sizes) == [b"ple", b"ricot"]
    sizes = kv.list_keys_packed(buf, 10, b"apple", "ap", Mode.NO_PREFIX | Mode.INCLUSIVE)
    assert _split(buf, sizes) == [b"ple", b"ricot"]
    sizes = kv.list_keys_packed(buf, 10, filter=".json", mode=Mode.SUFFIX | Mode.NO_PREFIX)
    assert _split(buf, sizes) == [b"grape", b"kiwi"]
    # IGNORE_KEYS: empty keys; KEEP_LAST: all but the last empty
    assert kv.list_keys_packed(buf, 10, filter="b", mode=Mode.IGNORE_KEYS) == [0, 0]
    assert kv.list_keys_packed(buf, 10, filter="b", mode=Mode.KEEP_LAST) == [0, 9]
    assert bytes(buf[:9]) == b"blueberry"


def test_list_keys_packed_too_small_and_consume(fruit):
    kv = fruit
    buf = bytearray(12)
    # apple (5) + apricot (7) fill it exactly; banana does not fit, nor anything after it
    assert kv.list_keys_packed(buf, 4) == [5, 7, -1, -1]
    assert bytes(buf) == b"appleapricot"
    assert kv.list_keys_packed(bytearray(4), 2) == [-1, -1]
    assert kv.list_keys_packed(buf, 1, filter="b", mode=Mode.CONSUME) == [6]
    assert bytes(buf[:6]) == b"banana"
    assert not kv.exists("banana")
    with pytest.raises(sheaf.ReadOnlyBufferError):
        kv.list_keys_packed(b"x" * 10, 1)
    with pytest.raises(sheaf.InvalidModeError):
        kv.list_keys_packed(buf, 1, mode=Mode.APPEND)
    with pytest.raises(ValueError):
        kv.list_keys_packed(buf, -1)


def test_list_keyvals_packed(fruit, c_calls):
    kv = fruit
    kbuf, vbuf = bytearray(32), bytearray(32)
    pairs = kv.list_keyvals_packed(kbuf, vbuf, 2, "apricot", "b")
    assert c_calls == ["sheaf_kv_list"]
    assert pairs == [(6, 6), (9, 9)]
    assert _split(kbuf, [6, 9]) == [b"banana", b"blueberry"]
    assert _split(vbuf, [6, 9]) == [b"BANANA", b"BLUEBERRY"]
    pairs = kv.list_keyvals_packed(kbuf, vbuf, 5, filter=".json", mode=Mode.SUFFIX | Mode.NO_PREFIX)
    assert pairs == [(5, 10), (4, 9)]
    assert _split(kbuf, [5, 4]) == [b"grape", b"kiwi"]
    assert _split(vbuf, [10, 9]) == [b"GRAPE.JSON", b"KIWI.JSON"]
    # the two buffers fill independently: keys fit here, values run out after the first
    kbuf, vbuf = bytearray(32), bytearray(6)
    assert kv.list_keyvals_packed(kbuf, vbuf, 3) == [(5, 5), (7, -1), (6, -1)]
    assert _split(kbuf, [5, 7, 6]) == [b"apple", b"apricot", b"banana"]
    assert bytes(vbuf[:5]) == b"APPLE"
    # and the other way round
    assert kv.list_keyvals_packed(bytearray(6), bytearray(64), 2) == [(5, 5), (-1, 7)]
    assert kv.list_keyvals_packed(kbuf, vbuf, 0) == []
    assert kv.list_keyvals_packed(kbuf, bytearray(64), 10, filter="b", mode=Mode.KEEP_LAST) == [
        (0, 6),
        (9, 9),
    ]
    assert kv.list_keyvals_packed(kbuf, bytearray(64), 1, mode=Mode.CONSUME) == [(5, 5)]
    assert not kv.exists("apple")


# -- fetch / fetch_multi / fetch_packed ------------------------------------------------------------
def test_fetch_calls_back_with_the_value_or_none(kv, c_calls):
    kv.put("key", b"value")
    del c_calls[:]
    rec = _Recorder()
    kv.fetch("key", rec)
    assert rec.calls == [(0, "key", b"value")]  # the key as given: a str stays a str (Yokan)
    assert c_calls == ["sheaf_kv_get_multi"]
    key = bytearray(b"key")
    kv.fetch(key, rec)
    assert rec.calls[1] == (0, key, b"value") and rec.calls[1][1] is key
    kv.fetch("missing", rec)
    assert rec.calls[2] == (0, "missing", None)
    kv.fetch(b"key", rec, copy=False)
    view = rec.calls[3][2]
    assert isinstance(view, memoryview) and view.readonly and bytes(view) == b"value"
    kv.fetch("key", rec, Mode.CONSUME)
    assert rec.calls[4] == (0, "key", b"value")
    assert not kv.exists("key")
    with pytest.raises(TypeError):
        kv.fetch("key", "not callable")
    with pytest.raises(TypeError):
        kv.fetch(3.5, rec)
    with pytest.raises(sheaf.InvalidModeError):
        kv.fetch("key", rec, Mode.APPEND)
    assert len(rec.calls) == 5


def test_fetch_waits_like_get(kv):
    rec = _Recorder()
    with pytest.raises(sheaf.SheafTimeoutError):
        kv.fetch("late", rec, timeout=0.05)
    assert rec.calls == []
    timer = threading.Timer(0.05, lambda: kv.put("late", b"here", Mode.NOTIFY))
    timer.start()
    try:
        kv.fetch("late", rec, Mode.WAIT, timeout=10.0)
    finally:
        timer.join()
    assert rec.calls == [(0, "late", b"here")]


def test_fetch_multi_order_indexes_and_missing_keys(kv, c_calls):
    kv.put_multi(["a", "b", "c"], [b"1", b"2", b"3"])
    del c_calls[:]
    rec = _Recorder()
    keys = ["c", b"missing", bytearray(b"a"), "b"]
    kv.fetch_multi(keys, rec)
    assert c_calls == ["sheaf_kv_get_multi"]  # one get_multi call, then the callbacks
    assert rec.calls == [
        (0, "c", b"3"),
        (1, b"missing", None),
        (2, bytearray(b"a"), b"1"),
        (3, "b", b"2"),
    ]
    assert rec.calls[2][1] is keys[2]
    del c_calls[:]
    rec = _Recorder()
    kv.fetch_multi(iter(["a", "b", "c", "d", "e"]), rec, batch_size=2)
    assert c_calls == ["sheaf_kv_get_multi"] * 3
    assert [c[0] for c in rec.calls] == [0, 1, 2, 3, 4]
    assert [c[2] for c in rec.calls] == [b"1", b"2", b"3", None, None]
    rec = _Recorder()
    kv.fetch_multi([], rec)
    assert rec.calls == []
    kv.fetch_multi(["a"], rec, copy=False)
    assert isinstance(rec.calls[0][2], memoryview) and bytes(rec.calls[0][2]) == b"1"
    with pytest.raises(sheaf.InvalidArgumentError):
        kv.fetch_multi(["a"], rec, batch_size=-1)
    with pytest.raises(sheaf.InvalidModeError):
        kv.fetch_multi(["a"], rec, Mode.WAIT)


def test_fetch_multi_consume_and_a_raising_callback(kv):
    kv.put_multi(["k1", "k2", "k3", "k4", "k5"], [b"1", b"2", b"3", b"4", b"5"])
    seen: List[Tuple[int, Any, Any]] = []

    def stop_at_third(index: int, key: Any, value: Any) -> None:
        seen.append((index, key, value))
        if index == 2:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        kv.fetch_multi(["k1", "k2", "k3", "k4", "k5"], stop_at_third, Mode.CONSUME, batch_size=2)
    assert seen == [(0, "k1", b"1"), (1, "k2", b"2"), (2, "k3", b"3")]
    # the batches read were consumed (k1..k4); the one after the raise was never read
    assert kv.list_keys() == [b"k5"]
    # a bad key anywhere is refused before the first batch is read
    with pytest.raises(TypeError):
        kv.fetch_multi(["k5", 7], _Recorder(), Mode.CONSUME, batch_size=1)
    assert kv.list_keys() == [b"k5"]


def test_fetch_packed(kv, c_calls):
    kv.put_multi(["x", "yy", "zzz"], [b"X", b"YY", b"ZZZ"])
    del c_calls[:]
    keys, sizes = _packed([b"zzz", b"no", b"x", b"yy"])
    rec = _Recorder()
    kv.fetch_packed(keys, sizes, rec)
    assert c_calls == ["sheaf_kv_get_multi"]
    assert rec.calls == [(0, b"zzz", b"ZZZ"), (1, b"no", None), (2, b"x", b"X"), (3, b"yy", b"YY")]
    del c_calls[:]
    rec = _Recorder()
    kv.fetch_packed(bytearray(keys), np.array(sizes), rec, batch_size=3)
    assert c_calls == ["sheaf_kv_get_multi"] * 2
    assert [(i, k) for i, k, _ in rec.calls] == [(0, b"zzz"), (1, b"no"), (2, b"x"), (3, b"yy")]
    assert [v for _, _, v in rec.calls] == [b"ZZZ", None, b"X", b"YY"]
    kv.fetch_packed(b"", [], rec)
    assert len(rec.calls) == 4
    with pytest.raises(sheaf.InvalidArgumentError):
        kv.fetch_packed(b"xy", [3], rec)

    def boom(index: int, key: Any, value: Any) -> None:
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        kv.fetch_packed(keys, sizes, boom)


# -- iter ------------------------------------------------------------------------------------------
def test_iter_order_indexes_and_arguments(fruit, c_calls):
    kv = fruit
    rec = _Recorder()
    kv.iter(rec)
    assert c_calls == ["sheaf_kv_list"]
    assert rec.calls == [(i, k, v) for i, (k, v) in enumerate(kv.list_keyvals())]
    assert rec.calls[0] == (0, b"apple", b"APPLE")
    rec = _Recorder()
    kv.iter(rec, from_key="apricot", filter="b")
    assert rec.calls == [(0, b"banana", b"BANANA"), (1, b"blueberry", b"BLUEBERRY")]
    rec = _Recorder()
    kv.iter(rec, "apricot", count=2, mode=Mode.INCLUSIVE)
    assert rec.calls == [(0, b"apricot", b"APRICOT"), (1, b"banana", b"BANANA")]
    rec = _Recorder()
    kv.iter(rec, filter="b", ignore_values=True)
    assert rec.calls == [(0, b"banana", None), (1, b"blueberry", None)]
    del c_calls[:]
    rec = _Recorder()
    kv.iter(rec, batch_size=2)
    assert c_calls == ["sheaf_kv_list"] * 4  # 7 pairs: 2 + 2 + 2 + 1
    assert [i for i, _, _ in rec.calls] == list(range(7))
    rec = _Recorder()
    kv.iter(rec, filter="zzz")
    assert rec.calls == []
    rec = _Recorder()
    kv.iter(rec, count=1, copy=False)
    assert isinstance(rec.calls[0][2], memoryview) and bytes(rec.calls[0][2]) == b"APPLE"


_ITER_MODES = [
    0,
    Mode.INCLUSIVE,
    Mode.NO_PREFIX,
    Mode.NO_PREFIX | Mode.INCLUSIVE,
    Mode.IGNORE_KEYS,
    Mode.KEEP_LAST,
    Mode.KEEP_LAST | Mode.NO_PREFIX,
    Mode.SUFFIX,
    Mode.SUFFIX | Mode.NO_PREFIX,
    Mode.SUFFIX | Mode.KEEP_LAST | Mode.NO_PREFIX,
]


@pytest.mark.parametrize("mode", _ITER_MODES)
@pytest.mark.parametrize("batch_size", [1, 2, 3, 0])
def test_iter_gives_what_one_listing_gives(kv, mode, batch_size):
    keys = [b"a", b"b", b"b.x", b"ba", b"bb", b"bb.x", b"bba", b"c", b"c.x", b"\xff"]
    kv.put_multi(keys, [k.upper() for k in keys])
    filters = [b".x", b""] if mode & Mode.SUFFIX else [b"b", b"bb", b"", b"z"]
    for filt in filters:
        for from_key in [b"", b"b", b"bb", b"a0"]:
            for count in [0, 1, 2, 3, 4, 5, 100]:
                want = kv.list_keyvals(from_key, filt, count or None, mode)
                rec = _Recorder()
                kv.iter(rec, from_key, filt, count, mode, batch_size)
                got = [(k, v) for _, k, v in rec.calls]
                assert got == want, (filt, from_key, count)
                assert [i for i, _, _ in rec.calls] == list(range(len(want)))


def test_iter_pages_resume_right_after_the_last_key(kv):
    longest = b"a" + b"\xff" * 447  # a key of the longest length: paging resumes after it too
    keys = [b"", b"\x00", b"a", b"a\x00", b"a\x00\x00", b"aA", b"aXX", longest, b"b"]
    kv.put_multi(keys, keys)
    assert kv.list_keys() == keys
    for batch_size in (1, 2, 3):
        rec = _Recorder()
        kv.iter(rec, batch_size=batch_size)
        assert [k for _, k, _ in rec.calls] == keys
        rec = _Recorder()
        kv.iter(rec, filter=b"a", mode=Mode.NO_PREFIX, batch_size=batch_size)
        assert [k for _, k, _ in rec.calls] == [b"", b"\x00", b"\x00\x00", b"A", b"XX", longest[1:]]
        rec = _Recorder()
        kv.iter(rec, mode=Mode.KEEP_LAST, batch_size=batch_size)
        assert [k for _, k, _ in rec.calls] == [b""] * 8 + [b"b"]
        assert [v for _, _, v in rec.calls] == keys


def test_iter_consume_and_a_raising_callback(kv):
    names = ["j0", "j1", "j2", "j3", "j4", "other"]
    kv.put_multi(names, [n.encode() for n in names])
    seen: List[Tuple[int, Any, Any]] = []

    def stop_at_2(index: int, key: Any, value: Any) -> None:
        seen.append((index, key, value))
        if index == 2:
            raise ValueError("callback failed")

    with pytest.raises(ValueError, match="callback failed"):
        kv.iter(stop_at_2, filter="j", mode=Mode.CONSUME, batch_size=2)
    assert seen == [(0, b"j0", b"j0"), (1, b"j1", b"j1"), (2, b"j2", b"j2")]
    # the batches read (j0 j1, j2 j3) are consumed; j4 was never read
    assert kv.list_keys() == [b"j4", b"other"]
    rec = _Recorder()
    kv.iter(rec, filter="j", mode=Mode.CONSUME, batch_size=1)
    assert rec.calls == [(0, b"j4", b"j4")]
    assert kv.list_keys() == [b"other"]


def test_iter_argument_errors(kv):
    kv.put("k", b"v")
    rec = _Recorder()
    with pytest.raises(TypeError):
        kv.iter(None)
    with pytest.raises(sheaf.InvalidArgumentError):
        kv.iter(rec, batch_size=-1)
    with pytest.raises(TypeError):
        kv.iter(rec, batch_size=1.5)
    with pytest.raises(ValueError):
        kv.iter(rec, count=-1)
    with pytest.raises(sheaf.InvalidModeError):
        kv.iter(rec, mode=Mode.APPEND)
    with pytest.raises(TypeError):
        kv.iter(rec, filter=3)
    assert rec.calls == []


# -- collections ---------------------------------------------------------------------------------
def test_store_packed_load_packed_round_trip(coll, c_calls):
    docs, sizes = _packed([b'{"a":1}', b"raw", b"", b"tail"])
    assert coll.store_packed(docs, sizes) == [0, 1, 2, 3]
    assert c_calls == ["sheaf_doc_store_multi"]
    assert coll.load_multi([0, 1, 2, 3], raw=True) == [b'{"a":1}', b"raw", b"", b"tail"]
    assert coll.load(0) == {"a": 1}  # stored as they are: JSON text reads back as a dict
    del c_calls[:]
    out = bytearray(b"#" * 16)
    assert coll.load_packed([3, 9, 1, 2], out) == [4, None, 3, 0]
    assert c_calls == ["sheaf_doc_load_multi"]
    assert bytes(out) == b"tailraw" + b"#" * 9
    # too small: that document and every later one is -1
    assert coll.load_packed([1, 3, 2, 0], bytearray(5)) == [3, -1, -1, -1]
    assert coll.store_packed(b"", []) == []
    assert coll.load_packed([], bytearray(1)) == []


def test_collection_packed_errors(coll, c_calls):
    with pytest.raises(sheaf.InvalidArgumentError):
        coll.store_packed(b"abc", [2, 2])
    with pytest.raises(sheaf.InvalidModeError):
        coll.store_packed(b"abc", [3], Mode.CONSUME)
    with pytest.raises(TypeError):
        coll.store_packed(b"abc", [3.0])
    with pytest.raises(sheaf.InvalidArgumentError, match="2 ids but 1 document sizes"):
        coll.update_packed([0, 1], b"abc", [3])
    with pytest.raises(sheaf.ReadOnlyBufferError):
        coll.load_packed([0], b"read-only")
    with pytest.raises(sheaf.InvalidModeError):
        coll.load_packed([0], bytearray(4), Mode.CONSUME)
    assert c_calls == []
    assert coll.store_packed(b"abc", [3], Mode.NO_RDMA) == [0]


def test_update_packed(coll):
    coll.store_multi([b"zero", b"one"])
    assert coll.update_packed([1, 0], b"ONEZERO!", [3, 5]) is None
    assert coll.load_multi([0, 1], raw=True) == [b"ZERO!", b"ONE"]
    with pytest.raises(sheaf.NoSuchDocumentError):
        coll.update_packed([0, 7], b"xy", [1, 1])
    assert coll.load_multi([0, 7], raw=True) == [b"ZERO!", None]  # all or nothing
    coll.update_packed([0, 7], b"xy", [1, 1], Mode.UPDATE_NEW)
    assert coll.load_multi([0, 7], raw=True) == [b"x", b"y"]
    assert coll.last_id() == 8


def test_list_docs_packed(coll, c_calls):
    coll.store_multi([{"k": 1}, b"raw", {"k": 2}, {"k": 1, "x": 0}])
    del c_calls[:]
    buf = bytearray(64)
    listed = coll.list_docs_packed(0, buf, 10)
    assert c_calls == ["sheaf_doc_list"]
    assert listed == [(0, 7), (1, 3), (2, 7), (3, 13)]
    assert bytes(buf[:30]) == b'{"k":1}raw{"k":2}{"k":1,"x":0}'
    assert coll.list_docs_packed(1, buf, 2) == [(1, 3), (2, 7)]
    assert coll.list_docs_packed(0, buf, 10, {"k": 1}) == [(0, 7), (3, 13)]
    assert coll.list_docs_packed(0, buf, 10, b"") == [(0, 7), (1, 3), (2, 7), (3, 13)]
    assert coll.list_docs_packed(0, bytearray(12), 10) == [(0, 7), (1, 3), (2, -1), (3, -1)]
    assert coll.list_docs_packed(0, buf, 0) == []
    with pytest.raises(TypeError):
        coll.list_docs_packed(0, buf, 10, "k=1")
    with pytest.raises(sheaf.InvalidModeError):
        coll.list_docs_packed(0, buf, 10, None, Mode.CONSUME)


def test_collection_fetch_and_fetch_multi(coll, c_calls):
    coll.store_multi([{"name": "Ada"}, b"raw", {"name": "Alan"}])
    coll.erase(1)
    del c_calls[:]
    rec = _Recorder()
    coll.fetch(0, rec)
    assert rec.calls == [(0, 0, {"name": "Ada"})]
    assert c_calls == ["sheaf_doc_load_multi"]
    coll.fetch(1, rec)
    assert rec.calls[1] == (0, 1, None)
    coll.fetch(2, rec, raw=True)
    assert rec.calls[2] == (0, 2, b'{"name":"Alan"}')
    del c_calls[:]
    rec = _Recorder()
    coll.fetch_multi([2, 1, 0, 99], rec)
    assert c_calls == ["sheaf_doc_load_multi"]
    assert rec.calls == [
        (0, 2, {"name": "Alan"}),
        (1, 1, None),
        (2, 0, {"name": "Ada"}),
        (3, 99, None),
    ]
    del c_calls[:]
    rec = _Recorder()
    coll.fetch_multi(range(3), rec, batch_size=2)
    assert c_calls == ["sheaf_doc_load_multi"] * 2
    assert [(i, d) for i, d, _ in rec.calls] == [(0, 0), (1, 1), (2, 2)]
    with pytest.raises(TypeError):
        coll.fetch_multi([0, "1"], rec)
    with pytest.raises(TypeError):
        coll.fetch(0, 42)
    with pytest.raises(sheaf.InvalidModeError):
        coll.fetch(0, rec, Mode.CONSUME)

    def boom(index: int, doc_id: int, doc: Any) -> None:
        raise LookupError(f"stop at {doc_id}")

    with pytest.raises(LookupError, match="stop at 2"):
        coll.fetch_multi([2, 0], boom)


def test_collection_iter(coll, c_calls):
    docs: List[Dict[str, int]] = [{"i": i, "even": int(i % 2 == 0)} for i in range(7)]
    coll.store_multi(docs)
    coll.erase(3)
    del c_calls[:]
    rec = _Recorder()
    coll.iter(rec)
    assert c_calls == ["sheaf_doc_list"]
    assert rec.calls == [(n, i, docs[i]) for n, i in enumerate([0, 1, 2, 4, 5, 6])]
    for batch_size in (1, 2, 4):
        rec = _Recorder()
        coll.iter(rec, 1, {"even": 1}, 0, 0, batch_size)
        assert rec.calls == [(0, 2, docs[2]), (1, 4, docs[4]), (2, 6, docs[6])]
        rec = _Recorder()
        coll.iter(rec, from_id=2, count=3, batch_size=batch_size)
        assert [(n, i) for n, i, _ in rec.calls] == [(0, 2), (1, 4), (2, 5)]
    del c_calls[:]
    coll.iter(_Recorder(), batch_size=2)
    assert c_calls == ["sheaf_doc_list"] * 4  # 6 documents: 2 + 2 + 2, then an empty page
    rec = _Recorder()
    coll.iter(rec, count=1, raw=True)
    assert rec.calls == [(0, 0, b'{"i":0,"even":1}')]
    rec = _Recorder()
    coll.iter(rec, filter=b"")  # Yokan's default filter: none
    assert len(rec.calls) == 6
    seen: List[int] = []

    def stop(index: int, doc_id: int, doc: Any) -> None:
        seen.append(doc_id)
        if doc_id == 4:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        coll.iter(stop, batch_size=2)
    assert seen == [0, 1, 2, 4]
    with pytest.raises(TypeError):
        coll.iter(rec, filter="even")
    with pytest.raises(sheaf.InvalidModeError):
        coll.iter(rec, mode=Mode.CONSUME)
    with pytest.raises(sheaf.InvalidArgumentError):
        coll.iter(rec, batch_size=-2)
