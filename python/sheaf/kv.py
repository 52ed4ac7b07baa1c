"""Key spaces: Mochi Yokan's key-value model (modes, multi calls, listing) from Python.

This module holds :class:`KeySpace` with each of its C calls and the :class:`Mode` flags
(collections share them). The store opens key spaces (:meth:`sheaf.Store.kv` makes that call),
so nothing here imports the store; the packed-buffer helpers are in :mod:`sheaf._packed`.

Get one with :meth:`sheaf.Store.kv` (created on first use)::

    kv = store.kv("cache")
    kv.put("config", b'{"depth": 3}')
    kv.get("config")                                # b'{"depth": 3}'
    kv.put("config", b"x", sheaf.Mode.NEW_ONLY)     # KeyExistsError
    kv.put_multi([b"a", b"b"], [b"1", b"2"])        # [True, True]: one C call, one transaction
    for key, value in kv.items(prefix=b"a"):        # paged listing, one C call per page
        ...

Yokan's Python forms
    Code written for Yokan's Python binding finds its shapes here too: the ``*_packed`` calls
    (``put_packed(keys, key_sizes, values, value_sizes)``, ``get_packed`` into your buffer,
    ``exists_packed``, ``length_packed``, ``erase_packed``, ``list_keys_packed``,
    ``list_keyvals_packed``) take keys concatenated in one buffer with a list of sizes and are
    one C call each, without copying your buffer; the callback calls (``fetch``,
    ``fetch_multi``, ``fetch_packed``, ``iter``) call ``callback(index, key, value)`` as Yokan's
    do. Each method's documentation says where it differs from Yokan.

Keys and values
    ``str`` (encoded as UTF-8) or any C-contiguous buffer-protocol object: ``bytes``,
    ``bytearray``, ``memoryview``, numpy arrays, ... Single-key calls pass the object's memory
    to the library without copying it (``ffi.from_buffer``); ``*_multi`` calls pack keys (and
    values) into one buffer first — one copy, so the whole batch is a single C call. Keys and
    values always come back as ``bytes`` (or, with ``copy=False``, as read-only memoryviews of
    the library's buffer). A non-contiguous buffer raises :class:`NonContiguousBufferError`, a
    read-only buffer given to :meth:`KeySpace.get_into` :class:`ReadOnlyBufferError` (both
    ``TypeError`` and ``ValueError``).

Modes
    :class:`Mode` holds Yokan's flags with the library's values; combine them with ``|``. A
    flag a call does not take raises the library's :class:`sheaf.InvalidModeError`.

Errors
    A missing key is :class:`sheaf.NoSuchKeyError` (a ``KeyError``); ``NEW_ONLY`` on an existing
    key :class:`sheaf.KeyExistsError`; a too-small buffer :class:`sheaf.BufferTooSmallError` with
    ``.needed``; a WAIT that runs out :class:`sheaf.SheafTimeoutError` (a ``TimeoutError``); any
    call after :meth:`KeySpace.close` (or after the store was closed)
    :class:`sheaf.ClosedError`.
"""

from __future__ import annotations

import enum
import math
from array import array
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple, Union, cast

from ._handle import Handle, StoreLike
from ._lib import (
    NULL,
    SCRATCH_BYTES,
    call,
    check,
    errslot,
    ffi,
    lib,
    raise_error,
    scratch,
    take_bytes,
)
from ._packed import (
    NOT_FOUND,
    SIZE_MAX,
    buffer_arg,
    owned_view,
    pack,
    packed_arg,
    place,
    unpack,
    writable_buffer_arg,
)
from .errors import (
    BufferTooSmallError,
    InternalError,
    InvalidArgumentError,
    InvalidModeError,
    KeyExistsError,
    NoSuchKeyError,
    SheafTimeoutError,
)

__all__ = ["Mode", "KeySpace", "Key", "Value", "KeyValueCallback"]

#: What a key may be: ``str`` (UTF-8) or a bytes-like object (buffer protocol).
Key = Union[str, bytes, bytearray, memoryview, Any]
#: What a value may be (as :data:`Key`).
Value = Union[str, bytes, bytearray, memoryview, Any]
#: The callback of :meth:`KeySpace.fetch`, :meth:`KeySpace.fetch_multi`,
#: :meth:`KeySpace.fetch_packed` and :meth:`KeySpace.iter`: ``callback(index, key, value)``,
#: as in Yokan's Python binding (``value`` is ``None`` for a missing key). Its result is ignored;
#: an exception it raises stops the call and propagates.
KeyValueCallback = Callable[[int, Any, Any], Any]


class Mode(enum.IntFlag):
    """Mode flags of key-space and document calls (Yokan's names; the library's values).

    ``NOTIFY`` and ``WAIT`` are the same bit (``WAIT`` applies to gets, ``NOTIFY`` to puts), so
    ``Mode.NOTIFY is Mode.WAIT``. ``KEEP_LAST`` includes the ``IGNORE_KEYS`` bit.
    """

    DEFAULT = int(lib.SHEAF_MODE_DEFAULT)
    #: Listings include ``from_key``.
    INCLUSIVE = int(lib.SHEAF_MODE_INCLUSIVE)
    #: ``put`` appends to the existing value (atomically).
    APPEND = int(lib.SHEAF_MODE_APPEND)
    #: ``get`` and listings also erase what they return, atomically (a queue pop).
    CONSUME = int(lib.SHEAF_MODE_CONSUME)
    #: ``get`` of a missing key waits (see ``timeout``).
    WAIT = int(lib.SHEAF_MODE_WAIT)
    #: ``put`` wakes waiting gets (the same bit as WAIT).
    NOTIFY = int(lib.SHEAF_MODE_NOTIFY)
    #: ``put`` only if the key is absent (else :class:`sheaf.KeyExistsError`).
    NEW_ONLY = int(lib.SHEAF_MODE_NEW_ONLY)
    #: ``put`` only if the key exists (else :class:`sheaf.NoSuchKeyError`).
    EXIST_ONLY = int(lib.SHEAF_MODE_EXIST_ONLY)
    #: Listings strip the filter (prefix, or suffix with SUFFIX) from returned keys.
    NO_PREFIX = int(lib.SHEAF_MODE_NO_PREFIX)
    #: Listings return values only (keys come back empty).
    IGNORE_KEYS = int(lib.SHEAF_MODE_IGNORE_KEYS)
    #: Like IGNORE_KEYS, but the last key of a listing is returned (to continue paging).
    KEEP_LAST = int(lib.SHEAF_MODE_KEEP_LAST)
    #: The listing filter is a suffix instead of a prefix.
    SUFFIX = int(lib.SHEAF_MODE_SUFFIX)
    #: Yokan's "no RDMA" hint: accepted by every call and ignored (an embedded store has none).
    NO_RDMA = int(lib.SHEAF_MODE_NO_RDMA)
    #: A document update may create the id.
    UPDATE_NEW = int(lib.SHEAF_MODE_UPDATE_NEW)


_WAIT = int(lib.SHEAF_MODE_WAIT)
_SUFFIX = int(lib.SHEAF_MODE_SUFFIX)
_INCLUSIVE = int(lib.SHEAF_MODE_INCLUSIVE)
_NO_PREFIX = int(lib.SHEAF_MODE_NO_PREFIX)
_IGNORE_KEYS = int(lib.SHEAF_MODE_IGNORE_KEYS)
_KEEP_LAST = int(lib.SHEAF_MODE_KEEP_LAST)
_NO_RDMA = int(lib.SHEAF_MODE_NO_RDMA)
_NEW_ONLY = int(lib.SHEAF_MODE_NEW_ONLY)
_EXIST_ONLY = int(lib.SHEAF_MODE_EXIST_ONLY)
_OK = int(lib.SHEAF_OK)
_KEY_EXISTS = KeyExistsError.default_code
_NO_SUCH_KEY = NoSuchKeyError.default_code
_U32_MAX = 0xFFFFFFFF
_BUFFER_TOO_SMALL = int(lib.SHEAF_ERR_BUFFER_TOO_SMALL)
# One slice of an unbounded WAIT: the C call cannot be interrupted, so Ctrl-C is seen between
# slices.
_WAIT_SLICE_MS = 1000
_PAGE = 1000


# -- conversions ---------------------------------------------------------------------------------
def mode_arg(mode: Union[int, Mode]) -> int:
    """A mode as the C ``uint32_t``; bits outside 32 bits raise :class:`InvalidModeError`."""
    value: int
    if mode.__class__ is int:
        value = mode
    elif isinstance(mode, int) and not isinstance(mode, bool):
        value = int(mode)
    else:
        raise TypeError(f"mode must be a sheaf.Mode or an int, not {type(mode).__name__}")
    if not 0 <= value <= _U32_MAX:
        raise InvalidModeError(f"mode {value:#x} has bits outside the 32 mode bits")
    return value


def modeless_arg(mode: Union[int, Mode], what: str) -> None:
    """The mode of a call whose Yokan form takes one but whose C call takes none: only
    ``NO_RDMA`` (accepted everywhere and ignored) passes; any other bit raises
    :class:`InvalidModeError`, as the library does for a flag a call does not take."""
    extra = mode_arg(mode) & ~_NO_RDMA
    if extra:
        raise InvalidModeError(f"{what} does not take mode bits {extra:#x}")


def callback_arg(callback: Any, what: str) -> None:
    """Checks that a Yokan-style callback can be called (before any C call is made)."""
    if not callable(callback):
        raise TypeError(f"{what}: callback must be callable, not {type(callback).__name__}")


def batch_size_arg(batch_size: int) -> int:
    """Yokan's ``batch_size``: an int >= 0, where 0 means "the call's default"."""
    if isinstance(batch_size, bool) or not hasattr(batch_size, "__index__"):
        raise TypeError(f"batch_size must be an int, not {type(batch_size).__name__}")
    n = batch_size.__index__()
    if n < 0:
        raise InvalidArgumentError(f"batch_size must be >= 0, not {n}")
    return int(n)


def _bytes_of(x: Any, what: str) -> bytes:
    """A key-like argument as ``bytes`` (after the checks of :func:`buffer_arg`)."""
    ptr, n = buffer_arg(x, what)
    return ptr if ptr.__class__ is bytes else ffi.buffer(ptr, n)[:]


def _count_arg(count: Optional[int]) -> int:
    if count is None:
        return SIZE_MAX
    if isinstance(count, bool) or not hasattr(count, "__index__"):
        raise TypeError(f"count must be an int or None, not {type(count).__name__}")
    n = count.__index__()
    if n < 0:
        raise ValueError(f"count must be >= 0, not {n}")
    return min(n, SIZE_MAX)


def _timeout_ms(timeout: float) -> int:
    if timeout < 0 or math.isnan(timeout):
        raise ValueError(f"timeout must be >= 0 seconds, not {timeout}")
    if math.isinf(timeout):
        return (1 << 64) - 1
    return min(math.ceil(timeout * 1000), (1 << 64) - 1)


def _waiting_call(attempt: Callable[[int, int], int], m: int, timeout: Optional[float]) -> None:
    """Runs ``attempt(mode, timeout_ms)`` (a C call given this thread's error slot) for a get
    that may wait: ``timeout`` seconds (adding WAIT), or with WAIT and no timeout until the key
    appears, in slices of a second so that Ctrl-C is seen between C calls."""
    slot = errslot()
    if timeout is not None:
        check(attempt(m | _WAIT, _timeout_ms(timeout)), slot)
    elif m & _WAIT:
        while True:
            try:
                check(attempt(m, _WAIT_SLICE_MS), slot)
                return
            except SheafTimeoutError:
                continue
    else:
        check(attempt(m, 0), slot)


# -- the key space -------------------------------------------------------------------------------
class KeySpace(Handle):
    """A key space of a store (Yokan's database); get one with :meth:`sheaf.Store.kv`.

    Keys are ordered by their bytes. Safe to share between threads (the library releases the
    GIL in every call). Every method is one C call, except the iterators (one per page) and an
    unbounded ``WAIT`` (one per second waited, so Ctrl-C works). Close with :meth:`close` or a
    ``with`` block; it pickles as (store URI, name) and reopens when unpickled.

    ``kv[key]``, ``kv[key] = value``, ``del kv[key]``, ``key in kv``, ``len(kv)`` and
    ``iter(kv)`` (the keys) work as on a dict.
    """

    _close_fn = "sheaf_kv_close"
    _store: StoreLike

    def __init__(self, store: StoreLike, handle: Any, name: str) -> None:
        super().__init__(handle, name, store)

    # -- properties and lifecycle (close, closed, with: see Handle) ------------------------------
    @property
    def name(self) -> str:
        """The key space's name."""
        return self._name

    @property
    def store(self) -> StoreLike:
        """The store this key space belongs to (a :class:`sheaf.Store`)."""
        return self._store

    def __reduce__(self) -> Any:
        return (self._store.kv, (self._name,))

    # -- single keys -----------------------------------------------------------------------------
    def put(self, key: Key, value: Value, mode: Union[int, Mode] = 0) -> None:
        """Stores ``value`` at ``key``.

        Args:
            mode: ``APPEND`` (append to the existing value), ``NEW_ONLY``, ``EXIST_ONLY``,
                ``NOTIFY`` (wake gets waiting for the key).

        Raises:
            KeyExistsError: ``NEW_ONLY`` and the key exists.
            NoSuchKeyError: ``EXIST_ONLY`` and the key is missing.
            InvalidModeError: a mode ``put`` does not take.
        """
        k, kn = (key, len(key)) if key.__class__ is bytes else buffer_arg(key, "key")
        v, vn = (value, len(value)) if value.__class__ is bytes else buffer_arg(value, "value")
        m = mode if mode.__class__ is int and 0 <= mode <= _U32_MAX else mode_arg(mode)
        call(lib.sheaf_kv_put, self._h, k, kn, v, vn, m)

    def get(
        self,
        key: Key,
        mode: Union[int, Mode] = 0,
        timeout: Optional[float] = None,
        *,
        copy: bool = True,
    ) -> Any:
        """The value at ``key``.

        Args:
            mode: ``CONSUME`` (also erase it, atomically: a queue pop), ``WAIT`` (wait for a
                missing key; without ``timeout``, until it appears).
            timeout: seconds to wait for a missing key; implies ``WAIT``.
            copy: ``True`` (default) returns ``bytes``. ``False`` returns a read-only
                ``memoryview`` of the library's own buffer, with no copy (``numpy.frombuffer``
                takes it too); the buffer is freed when the last object using it is collected.

        Raises:
            NoSuchKeyError: the key is missing (a ``KeyError``).
            SheafTimeoutError: ``timeout`` passed before the key appeared.
        """
        if (
            copy
            and key.__class__ is bytes
            and mode.__class__ is int
            and mode == 0
            and timeout is None
        ):
            # The common case in one crossing: a small value lands in this thread's scratch
            # buffer (a larger one takes the general path below).
            s = scratch()
            status = lib.sheaf_kv_get_into(
                self._h, key, len(key), 0, 0, s.buffer, SCRATCH_BYTES, s.size, s.slot
            )
            if not status:
                return ffi.unpack(s.buffer, s.size[0])
            if status != _BUFFER_TOO_SMALL:
                raise_error(status, s.slot)
            if s.slot[0] != NULL:
                lib.sheaf_error_free(s.slot[0])
                s.slot[0] = NULL
        k, kn = (key, len(key)) if key.__class__ is bytes else buffer_arg(key, "key")
        m = mode if mode.__class__ is int and 0 <= mode <= _U32_MAX else mode_arg(mode)
        out = ffi.new("SheafBytes *")
        if timeout is None and not m & _WAIT:
            call(lib.sheaf_kv_get, self._h, k, kn, m, 0, out)
        else:
            h = self._h
            _waiting_call(
                lambda m, ms: lib.sheaf_kv_get(h, k, kn, m, ms, out, errslot()), m, timeout
            )
        return take_bytes(out) if copy else owned_view(out)

    def get_into(
        self,
        key: Key,
        buffer: Any,
        mode: Union[int, Mode] = 0,
        timeout: Optional[float] = None,
    ) -> int:
        """Copies the value at ``key`` into ``buffer`` (a writable, C-contiguous buffer:
        ``bytearray``, writable ``memoryview``, numpy array) and returns its size in bytes.

        Args:
            mode: ``CONSUME`` and ``WAIT`` as in :meth:`get`.
            timeout: seconds to wait for a missing key; implies ``WAIT``.

        Raises:
            BufferTooSmallError: the value does not fit; ``.needed`` is its size (with
                ``CONSUME`` the key is not erased).
            NoSuchKeyError: the key is missing.
            ReadOnlyBufferError, NonContiguousBufferError: ``buffer`` cannot be written.
        """
        k, kn = (key, len(key)) if key.__class__ is bytes else buffer_arg(key, "key")
        buf, capacity = writable_buffer_arg(buffer, "buffer")
        m = mode_arg(mode)
        size = ffi.new("size_t *")
        h = self._h
        try:
            _waiting_call(
                lambda m, ms: lib.sheaf_kv_get_into(
                    h, k, kn, m, ms, buf, capacity, size, errslot()
                ),
                m,
                timeout,
            )
        except BufferTooSmallError as exc:
            exc.needed = int(size[0])
            raise
        return int(size[0])

    def exists(self, key: Key) -> bool:
        """Whether ``key`` exists."""
        k, kn = (key, len(key)) if key.__class__ is bytes else buffer_arg(key, "key")
        out = ffi.new("bool *")
        call(lib.sheaf_kv_exists, self._h, k, kn, out)
        return bool(out[0])

    def length(self, key: Key) -> Optional[int]:
        """The size in bytes of the value at ``key``, or ``None`` when the key is missing."""
        k, kn = (key, len(key)) if key.__class__ is bytes else buffer_arg(key, "key")
        out = ffi.new("uint64_t *")
        call(lib.sheaf_kv_length, self._h, k, kn, out)
        n = int(out[0])
        return None if n == NOT_FOUND else n

    def erase(self, key: Key) -> bool:
        """Erases ``key`` (a missing key is fine); returns whether it existed."""
        k, kn = (key, len(key)) if key.__class__ is bytes else buffer_arg(key, "key")
        out = ffi.new("bool *")
        call(lib.sheaf_kv_erase, self._h, k, kn, out)
        return bool(out[0])

    def count(self) -> int:
        """The number of keys in the space."""
        out = ffi.new("uint64_t *")
        call(lib.sheaf_kv_count, self._h, out)
        return int(out[0])

    def erase_range(self, prefix: Key = b"") -> int:
        """Erases every key starting with ``prefix`` (``b""``: every key); returns how many."""
        p, pn = buffer_arg(prefix, "prefix")
        out = ffi.new("uint64_t *")
        call(lib.sheaf_kv_erase_range, self._h, p, pn, out)
        return int(out[0])

    # -- batches (one C call each, packed layout) ------------------------------------------------
    def put_multi(
        self, keys: Iterable[Key], values: Iterable[Value], mode: Union[int, Mode] = 0
    ) -> List[bool]:
        """Stores many pairs in one C call and one transaction.

        Every key is attempted. Returns one ``bool`` per key: ``True`` when it was stored,
        ``False`` when the mode refused it — with ``NEW_ONLY`` the key existed (the library's
        ``SHEAF_ERR_KEY_EXISTS``), with ``EXIST_ONLY`` it was missing
        (``SHEAF_ERR_NO_SUCH_KEY``). Refused keys are reported, not raised; anything else
        (invalid mode, closed handle, storage failure) raises and stores nothing.

        ``keys`` and ``values`` are copied once into packed buffers.
        """
        kd, ks, n = pack(keys, "keys")
        vd, vs, nv = pack(values, "values")
        if n != nv:
            raise ValueError(f"put_multi got {n} keys but {nv} values")
        if n == 0:
            return []
        return self._put_packed_call(n, kd, ks, vd, vs, mode_arg(mode), "put_multi")

    def _put_packed_call(
        self, n: int, kd: Any, ks: Any, vd: Any, vs: Any, m: int, what: str
    ) -> List[bool]:
        """One ``sheaf_kv_put_multi`` call (``n`` >= 1); one ``bool`` per key (see put_multi)."""
        statuses = ffi.new("int32_t[]", n)
        statuses[0] = -1  # stays -1 when the call fails as a whole (no per-key statuses)
        slot = errslot()
        status = lib.sheaf_kv_put_multi(self._h, n, kd, ks, vd, vs, m, statuses, slot)
        if status and statuses[0] == -1:
            check(status, slot)
        if status:
            err = slot[0]
            if err != NULL:
                slot[0] = NULL
                lib.sheaf_error_free(err)
        refused = _KEY_EXISTS if m & _NEW_ONLY else _NO_SUCH_KEY if m & _EXIST_ONLY else None
        result = [s == _OK for s in ffi.unpack(statuses, n)]
        if not all(result):
            odd = {int(s) for s in ffi.unpack(statuses, n)} - {_OK, refused}
            if odd:
                raise InternalError(f"{what}: unexpected per-key statuses {sorted(odd)}")
        return result

    def get_multi(
        self, keys: Iterable[Key], mode: Union[int, Mode] = 0, *, copy: bool = True
    ) -> List[Any]:
        """The values of many keys in one C call (read at one point in time; with ``CONSUME``,
        taken and erased in one transaction). Missing keys give ``None``.

        ``copy=False``: read-only memoryviews into one library-owned buffer instead of
        ``bytes`` (freed when the last of them is collected).
        """
        kd, ks, n = pack(keys, "keys")
        if n == 0:
            return []
        out = ffi.new("SheafBytes[2]")
        call(lib.sheaf_kv_get_multi, self._h, n, kd, ks, mode_arg(mode), out, out + 1)
        return unpack(out + 0, out + 1, copy)

    def exists_multi(self, keys: Iterable[Key]) -> List[bool]:
        """Whether each key exists (one C call)."""
        return self._exists_call(*pack(keys, "keys"))

    def length_multi(self, keys: Iterable[Key]) -> List[Optional[int]]:
        """The value size of each key, ``None`` for missing keys (one C call)."""
        return self._length_call(*pack(keys, "keys"))

    def erase_multi(self, keys: Iterable[Key]) -> List[bool]:
        """Erases many keys in one C call and one transaction; returns which existed."""
        return self._erase_call(*pack(keys, "keys"))

    def _exists_call(self, kd: Any, ks: Any, n: int) -> List[bool]:
        if n == 0:
            return []
        flags = ffi.new("uint8_t[]", n)
        call(lib.sheaf_kv_exists_multi, self._h, n, kd, ks, flags)
        return [f != 0 for f in ffi.buffer(flags)[:]]

    def _length_call(self, kd: Any, ks: Any, n: int) -> List[Optional[int]]:
        if n == 0:
            return []
        lengths = array("Q", bytes(8 * n))
        call(lib.sheaf_kv_length_multi, self._h, n, kd, ks, ffi.from_buffer("uint64_t[]", lengths))
        return [None if x == NOT_FOUND else x for x in lengths]

    def _erase_call(self, kd: Any, ks: Any, n: int) -> List[bool]:
        if n == 0:
            return []
        existed = ffi.new("uint8_t[]", n)
        call(lib.sheaf_kv_erase_multi, self._h, n, kd, ks, existed)
        return [f != 0 for f in ffi.buffer(existed)[:]]

    # -- Yokan's packed forms (one C call each; your buffers are not copied) ----------------------
    def put_packed(
        self,
        keys: Any,
        key_sizes: Iterable[int],
        values: Any,
        value_sizes: Iterable[int],
        mode: Union[int, Mode] = 0,
    ) -> List[bool]:
        """Stores ``len(key_sizes)`` pairs given in Yokan's packed layout: ``keys`` holds the
        keys one after the other (``key_sizes[i]`` bytes each), ``values`` likewise. One C call
        and one transaction, as :meth:`put_multi`; the buffers go to the library without a copy.

        As Yokan's ``put_packed(keys, key_sizes, values, value_sizes, mode)``, which returns
        ``None``; here the result is :meth:`put_multi`'s, one ``bool`` per key (``False``: the
        mode refused it — with ``NEW_ONLY`` the key existed, with ``EXIST_ONLY`` it was
        missing), where Yokan raises.

        Raises:
            InvalidArgumentError: ``key_sizes`` and ``value_sizes`` differ in length, or the
                sizes add up to more bytes than their buffer holds (nothing is stored).
            InvalidModeError: a mode ``put`` does not take.
        """
        kd, ks, n = packed_arg(keys, key_sizes, "keys")
        vd, vs, nv = packed_arg(values, value_sizes, "values")
        if n != nv:
            raise InvalidArgumentError(
                f"put_packed got {n} key sizes but {nv} value sizes (they go in pairs)"
            )
        m = mode_arg(mode)
        if n == 0:
            return []
        return self._put_packed_call(n, kd, ks, vd, vs, m, "put_packed")

    def get_packed(
        self,
        keys: Any,
        key_sizes: Iterable[int],
        values: Any,
        mode: Union[int, Mode] = 0,
    ) -> List[Optional[int]]:
        """Reads the values of packed keys (as :meth:`put_packed`) into your writable buffer
        ``values``, one after the other, in one C call (:meth:`get_multi`'s), and returns each
        value's size: ``None`` for a missing key, ``-1`` for a value that did not fit.

        As Yokan's ``get_packed(keys, key_sizes, values, mode)``. As in Yokan, once one value
        does not fit every later present value is reported ``-1`` too (so the bytes written are
        always the sizes' prefix, in order); ``-1`` is what Yokan's other Python calls report
        for "buffer too small" (its ``get_packed`` leaves ``YOKAN_SIZE_TOO_SMALL`` as a number).

        Mode: ``CONSUME`` (the keys are read and erased in one transaction). As in Yokan, a
        consumed value that did not fit (``-1``) is erased all the same: size ``values`` with
        :meth:`length_packed`, or use :meth:`get_multi` (``CONSUME``), which returns every
        value. ``WAIT`` is not taken (:meth:`get` and :meth:`fetch` wait for one key).

        Raises:
            InvalidArgumentError: the key sizes add up to more than ``keys`` holds.
            ReadOnlyBufferError, NonContiguousBufferError: ``values`` cannot be written.
        """
        kd, ks, n = packed_arg(keys, key_sizes, "keys")
        buf, capacity = writable_buffer_arg(values, "values")
        m = mode_arg(mode)
        if n == 0:
            return []
        out = ffi.new("SheafBytes[2]")
        call(lib.sheaf_kv_get_multi, self._h, n, kd, ks, m, out, out + 1)
        return place(out + 0, out + 1, buf, capacity)

    def exists_packed(
        self, keys: Any, key_sizes: Iterable[int], mode: Union[int, Mode] = 0
    ) -> List[bool]:
        """Whether each of the packed keys exists (one C call), as Yokan's
        ``exists_packed(keys, key_sizes, mode)``. ``mode`` is there for Yokan's signature: the
        C call takes none, so only ``NO_RDMA`` (ignored) is accepted."""
        kd, ks, n = packed_arg(keys, key_sizes, "keys")
        modeless_arg(mode, "exists_packed")
        return self._exists_call(kd, ks, n)

    def length_packed(
        self, keys: Any, key_sizes: Iterable[int], mode: Union[int, Mode] = 0
    ) -> List[Optional[int]]:
        """The value size of each of the packed keys, ``None`` for a missing key (one C call),
        as Yokan's ``length_packed(keys, key_sizes, mode)``; ``mode`` as in
        :meth:`exists_packed`."""
        kd, ks, n = packed_arg(keys, key_sizes, "keys")
        modeless_arg(mode, "length_packed")
        return self._length_call(kd, ks, n)

    def erase_packed(
        self, keys: Any, key_sizes: Iterable[int], mode: Union[int, Mode] = 0
    ) -> List[bool]:
        """Erases the packed keys in one C call and one transaction (missing keys are fine).

        As Yokan's ``erase_packed(keys, key_sizes, mode)``, which returns ``None``; here the
        result is :meth:`erase_multi`'s (which keys existed). ``mode`` as in
        :meth:`exists_packed`."""
        kd, ks, n = packed_arg(keys, key_sizes, "keys")
        modeless_arg(mode, "erase_packed")
        return self._erase_call(kd, ks, n)

    def list_keys_packed(
        self,
        keys: Any,
        count: int,
        from_key: Optional[Key] = b"",
        filter: Key = b"",
        mode: Union[int, Mode] = 0,
    ) -> List[int]:
        """Lists up to ``count`` keys into your writable buffer ``keys``, one after the other,
        in one C call, and returns their sizes (as many as were found; ``-1`` for a key that
        did not fit, and every one after it, as in :meth:`get_packed`).

        As Yokan's ``list_keys_packed(keys, count, from_key, filter, mode)``: ``from_key`` is
        exclusive unless ``INCLUSIVE`` (empty: from the start), ``filter`` is a prefix (a
        suffix with ``SUFFIX``); modes as in :meth:`list_keys` (``NO_PREFIX``, ``IGNORE_KEYS``,
        ``KEEP_LAST``, ``CONSUME``: as in Yokan, a consumed key that did not fit is erased all
        the same). ``from_key`` and ``filter`` default to empty here.
        """
        buf, capacity = writable_buffer_arg(keys, "keys")
        out = self._list_call(from_key, filter, _count_arg(count), mode_arg(mode), False)
        return cast(List[int], place(out + 0, out + 1, buf, capacity))

    def list_keyvals_packed(
        self,
        keys: Any,
        values: Any,
        count: int,
        from_key: Optional[Key] = b"",
        filter: Key = b"",
        mode: Union[int, Mode] = 0,
    ) -> List[Tuple[int, int]]:
        """Lists up to ``count`` pairs into your writable buffers ``keys`` and ``values`` (each
        packed, one after the other) in one C call, and returns ``(key size, value size)`` per
        pair found; ``-1`` marks a key (or value) that did not fit its buffer, and every key
        (value) after it — the two buffers fill independently, as in Yokan.

        As Yokan's ``list_keyvals_packed(keys, values, count, from_key, filter, mode)``;
        arguments and modes as in :meth:`list_keys_packed`.
        """
        kbuf, kcap = writable_buffer_arg(keys, "keys")
        vbuf, vcap = writable_buffer_arg(values, "values")
        out = self._list_call(from_key, filter, _count_arg(count), mode_arg(mode), True)
        key_sizes = place(out + 0, out + 1, kbuf, kcap)
        value_sizes = place(out + 2, out + 3, vbuf, vcap)
        return list(zip(cast(List[int], key_sizes), cast(List[int], value_sizes)))

    # -- Yokan's callback forms ----------------------------------------------------------------
    def fetch(
        self,
        key: Key,
        callback: KeyValueCallback,
        mode: Union[int, Mode] = 0,
        timeout: Optional[float] = None,
        *,
        copy: bool = True,
    ) -> None:
        """Calls ``callback(0, key, value)`` with the value at ``key``, or ``None`` when the key
        is missing; one C call. As Yokan's ``fetch(key, callback, mode)``.

        ``key`` is passed to the callback as you gave it (a ``str`` stays a ``str``, as in
        Yokan). ``value`` is ``bytes`` — Yokan passes a memoryview that is valid only during
        the callback; ``copy=False`` passes a read-only memoryview of the library's buffer,
        valid as long as it is referenced.

        Args:
            mode: ``CONSUME``; ``WAIT`` (or ``timeout``, in seconds) waits for a missing key as
                :meth:`get` does and raises :class:`SheafTimeoutError` when the wait runs out.

        Raises:
            Whatever ``callback`` raises.
        """
        callback_arg(callback, "fetch")
        buffer_arg(key, "key")
        m = mode_arg(mode)
        if timeout is not None or m & _WAIT:
            value = self.get(key, m, timeout, copy=copy)
        else:
            value = self.get_multi([key], m, copy=copy)[0]
        callback(0, key, value)

    def fetch_multi(
        self,
        keys: Iterable[Key],
        callback: KeyValueCallback,
        mode: Union[int, Mode] = 0,
        batch_size: int = 0,
        *,
        copy: bool = True,
    ) -> None:
        """Calls ``callback(i, keys[i], value)`` for each key in order (``value`` ``None`` for
        a missing key), reading the values with one :meth:`get_multi` call — one per
        ``batch_size`` keys when ``batch_size`` > 0. As Yokan's
        ``fetch_multi(keys, callback, mode, batch_size)``.

        Keys are passed to the callback as you gave them, values as in :meth:`fetch`. Mode:
        ``CONSUME`` (each C call takes and erases its keys in one transaction; if the callback
        raises, the keys of that call are already gone and later batches are not read).
        ``WAIT`` is not taken (as in :meth:`get_multi`).

        Raises:
            Whatever ``callback`` raises (later callbacks are not made).
        """
        callback_arg(callback, "fetch_multi")
        seq = keys if isinstance(keys, (list, tuple)) else list(keys)
        step = batch_size_arg(batch_size) or len(seq)
        m = mode_arg(mode)
        if step < len(seq):
            for k in seq:  # every key is checked before the first batch is read
                buffer_arg(k, "keys")
        for start in range(0, len(seq), max(step, 1)):
            chunk = seq[start : start + step]
            values = self.get_multi(chunk, m, copy=copy)
            for i, (k, v) in enumerate(zip(chunk, values), start):
                callback(i, k, v)

    def fetch_packed(
        self,
        keys: Any,
        key_sizes: Iterable[int],
        callback: KeyValueCallback,
        mode: Union[int, Mode] = 0,
        batch_size: int = 0,
        *,
        copy: bool = True,
    ) -> None:
        """:meth:`fetch_multi` for packed keys (as :meth:`get_packed` takes them), as Yokan's
        ``fetch_packed(keys, key_sizes, callback, mode, batch_size)``: one C call (per
        ``batch_size`` keys). The callback gets each key as ``bytes`` (Yokan: a memoryview
        valid during the callback), values as in :meth:`fetch`.

        Raises:
            InvalidArgumentError: the key sizes add up to more than ``keys`` holds.
            Whatever ``callback`` raises (later callbacks are not made).
        """
        callback_arg(callback, "fetch_packed")
        _, ks, n = packed_arg(keys, key_sizes, "keys")
        step = batch_size_arg(batch_size) or n
        m = mode_arg(mode)
        if n == 0:
            return
        lengths = list(ffi.unpack(ks, n))
        raw = _bytes_of(keys, "keys")  # the callback's keys are slices of it
        base = ffi.from_buffer("uint8_t[]", raw)
        offset = 0
        for start in range(0, n, step):
            count = min(step, n - start)
            out = ffi.new("SheafBytes[2]")
            call(lib.sheaf_kv_get_multi, self._h, count, base + offset, ks + start, m, out, out + 1)
            values = unpack(out + 0, out + 1, copy)
            for i, v in enumerate(values, start):
                size = lengths[i]
                callback(i, raw[offset : offset + size], v)
                offset += size

    def iter(
        self,
        callback: KeyValueCallback,
        from_key: Optional[Key] = b"",
        filter: Key = b"",
        count: Optional[int] = 0,
        mode: Union[int, Mode] = 0,
        batch_size: int = 0,
        ignore_values: bool = False,
        *,
        copy: bool = True,
    ) -> None:
        """Calls ``callback(i, key, value)`` for each pair :meth:`list_keyvals` would return
        for ``(from_key, filter, count, mode)``, in key order, reading them ``batch_size`` at
        a time (one C call each; 0: 1000). As Yokan's ``iter(callback, from_key, filter, count,
        mode, batch_size, ignore_values)``.

        Args:
            from_key: start after it (``INCLUSIVE``: at it); empty: from the start.
            filter: a key prefix (a suffix with ``SUFFIX``).
            count: the most pairs; 0 (Yokan's "all") or ``None`` for no limit.
            mode: as in :meth:`list_keyvals` — ``NO_PREFIX`` strips the filter from the keys
                given to the callback, ``IGNORE_KEYS`` gives empty keys, ``KEEP_LAST`` empty
                keys but the very last, ``CONSUME`` erases each batch as it is read. (Yokan's
                own ``iter`` leaves keys whole under these modes; here ``iter`` and
                ``list_keyvals`` agree.)
            ignore_values: the callback gets ``None`` for values (and they are not read).
            copy: values as ``bytes`` (default) or read-only memoryviews (see :meth:`fetch`).

        Not a snapshot: each batch sees the space as it is when it is read.

        Raises:
            Whatever ``callback`` raises (the iteration stops; with ``CONSUME`` the pairs of
            the batch being delivered are already erased).
        """
        callback_arg(callback, "iter")
        limit = None if count is None or count == 0 else _count_arg(count)
        page = batch_size_arg(batch_size) or _PAGE
        m = mode_arg(mode)
        index = 0
        for keys, values in self._listing_pages(
            from_key, filter, limit, m, page, not ignore_values, copy
        ):
            for k, v in zip(keys, values):
                callback(index, k, v)
                index += 1

    # -- listing ---------------------------------------------------------------------------------
    def _list_call(
        self,
        from_key: Optional[Key],
        filt: Key,
        count: int,
        m: int,
        with_values: bool,
        what: str = "filter",
    ) -> Any:
        """One ``sheaf_kv_list`` call; returns its four ``SheafBytes`` (the last two empty
        without values) for the caller to unpack or place (and so free)."""
        f, fn = buffer_arg(filt, what)
        k, kn = (NULL, 0) if from_key is None else buffer_arg(from_key, "from_key")
        out = ffi.new("SheafBytes[4]")
        call(
            lib.sheaf_kv_list,
            self._h,
            k,
            kn,
            f,
            fn,
            count,
            m,
            out,
            out + 1,
            (out + 2) if with_values else NULL,
            (out + 3) if with_values else NULL,
        )
        return out

    def _listing_pages(
        self,
        from_key: Optional[Key],
        filt: Key,
        limit: Optional[int],
        m: int,
        page: int,
        with_values: bool,
        copy: bool,
    ) -> Iterator[Tuple[List[bytes], List[Any]]]:
        """Pages (one C call each) that, put together, are what one listing call with
        ``(from_key, filt, limit, m)`` returns — whatever the mode: each page resumes after the
        previous page's last key (exclusively, so a key of the longest length works), rebuilt
        whole when ``NO_PREFIX`` stripped it, and kept by asking for ``KEEP_LAST`` when
        ``IGNORE_KEYS`` would blank it. Values are ``None`` without ``with_values``."""
        fb = _bytes_of(filt, "filter")
        strip = m & _NO_PREFIX
        suffix = m & _SUFFIX
        ignore = m & _IGNORE_KEYS
        keep_last = m & _KEEP_LAST == _KEEP_LAST
        call_mode = m | _KEEP_LAST if ignore else m
        start = from_key
        remaining = limit
        # With KEEP_LAST, the last pair of a full page shows its key only if no pair follows:
        # it waits for the next page.
        held: Optional[Tuple[bytes, Any]] = None
        while True:
            want = page if remaining is None else min(page, remaining)
            if want == 0:
                break
            out = self._list_call(start, fb, want, call_mode, with_values)
            keys: List[bytes] = unpack(out + 0, out + 1)
            values: List[Any] = (
                unpack(out + 2, out + 3, copy) if with_values else [None] * len(keys)
            )
            n = len(keys)
            if held is not None:
                if n == 0:
                    break  # the held pair was the last one
                yield [b""], [held[1]]
                held = None
            if n == 0:
                break
            last = keys[-1]
            final = n < want or (remaining is not None and remaining == n)
            if remaining is not None:
                remaining -= n
            start = (last + fb if suffix else fb + last) if strip else last
            if start:
                call_mode &= ~_INCLUSIVE
            else:  # after the empty key (an empty from_key means "from the start")
                start, call_mode = b"\x00", call_mode | _INCLUSIVE
            if ignore:
                keys = [b""] * n
                if keep_last:
                    if final:
                        keys[-1] = last
                    else:
                        held = (last, values[-1])
                        keys, values = keys[:-1], values[:-1]
            if keys:
                yield keys, values
            if final:
                break
        if held is not None:
            yield [held[0]], [held[1]]

    def _list(
        self,
        from_key: Optional[Key],
        prefix: Key,
        suffix: Optional[Key],
        count: Optional[int],
        mode: Union[int, Mode],
        with_values: bool,
    ) -> Tuple[List[bytes], Optional[List[bytes]]]:
        m = mode_arg(mode)
        filt, what = prefix, "prefix"
        if suffix is not None:
            if buffer_arg(prefix, "prefix")[1]:
                raise ValueError("give either prefix or suffix, not both")
            filt, what = suffix, "suffix"
            m |= _SUFFIX
        out = self._list_call(from_key, filt, _count_arg(count), m, with_values, what)
        keys: List[bytes] = unpack(out + 0, out + 1)
        values: Optional[List[bytes]] = unpack(out + 2, out + 3) if with_values else None
        return keys, values

    def list_keys(
        self,
        from_key: Optional[Key] = None,
        prefix: Key = b"",
        count: Optional[int] = None,
        mode: Union[int, Mode] = 0,
        *,
        suffix: Optional[Key] = None,
    ) -> List[bytes]:
        """Up to ``count`` keys (``None``: all) in key order, in one C call.

        Args:
            from_key: start after this key (``Mode.INCLUSIVE``: at it); ``None`` or empty: from
                the start, as in Yokan (so to start after the empty key, pass
                ``from_key=b"\\x00", mode=Mode.INCLUSIVE``).
            prefix: only keys starting with it (with ``Mode.SUFFIX``: ending with it).
            count: the most keys to return; ``None`` for no limit.
            mode: ``INCLUSIVE``, ``SUFFIX``, ``NO_PREFIX`` (strip the filter from the returned
                keys), ``IGNORE_KEYS`` / ``KEEP_LAST`` (keys come back empty / all but the
                last), ``CONSUME`` (erase what is returned, atomically).
            suffix: shorthand for ``prefix=suffix, mode=mode | Mode.SUFFIX``.
        """
        return self._list(from_key, prefix, suffix, count, mode, False)[0]

    def list_keyvals(
        self,
        from_key: Optional[Key] = None,
        prefix: Key = b"",
        count: Optional[int] = None,
        mode: Union[int, Mode] = 0,
        *,
        suffix: Optional[Key] = None,
    ) -> List[Tuple[bytes, bytes]]:
        """Up to ``count`` ``(key, value)`` pairs in key order, in one C call; arguments as in
        :meth:`list_keys`."""
        keys, values = self._list(from_key, prefix, suffix, count, mode, True)
        assert values is not None
        return list(zip(keys, values))

    def _pages(
        self,
        prefix: Key,
        suffix: Optional[Key],
        from_key: Optional[Key],
        inclusive: bool,
        page_size: int,
        with_values: bool,
    ) -> Iterator[Tuple[List[bytes], Optional[List[bytes]]]]:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, not {page_size}")
        mode = int(Mode.INCLUSIVE) if inclusive and from_key is not None else 0
        start = from_key
        while True:
            keys, values = self._list(start, prefix, suffix, page_size, mode, with_values)
            if keys:
                yield keys, values
            if len(keys) < page_size:
                return
            # Resume strictly after the last key (exclusive from_key). An empty from_key means
            # "from the start" to the library, so "after b''" is spelled "from b'\\x00',
            # inclusively" (the successor key of a 448-byte key would be too long a key).
            if keys[-1]:
                start, mode = keys[-1], 0
            else:
                start, mode = b"\x00", int(Mode.INCLUSIVE)

    def keys(
        self,
        prefix: Key = b"",
        *,
        suffix: Optional[Key] = None,
        from_key: Optional[Key] = None,
        inclusive: bool = False,
        page_size: int = _PAGE,
    ) -> Iterator[bytes]:
        """Iterates over the keys starting with ``prefix`` (or ending with ``suffix``), in key
        order, one C call per ``page_size`` keys. Not a snapshot: each page sees the space as it
        is when it is read."""
        for keys, _ in self._pages(prefix, suffix, from_key, inclusive, page_size, False):
            yield from keys

    def items(
        self,
        prefix: Key = b"",
        *,
        suffix: Optional[Key] = None,
        from_key: Optional[Key] = None,
        inclusive: bool = False,
        page_size: int = _PAGE,
    ) -> Iterator[Tuple[bytes, bytes]]:
        """Iterates over ``(key, value)`` pairs like :meth:`keys`."""
        for keys, values in self._pages(prefix, suffix, from_key, inclusive, page_size, True):
            assert values is not None
            yield from zip(keys, values)

    # -- dict-like sugar ---------------------------------------------------------------------------
    def __getitem__(self, key: Key) -> bytes:
        value: bytes = self.get(key)
        return value

    def __setitem__(self, key: Key, value: Value) -> None:
        self.put(key, value)

    def __delitem__(self, key: Key) -> None:
        if not self.erase(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            return self.exists(key)
        except TypeError:
            return False

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()
