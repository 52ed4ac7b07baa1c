"""Yokan's packed layout and zero-copy buffers: how keys, values and documents cross the C ABI.

Key spaces (:mod:`sheaf.kv`) and collections (:mod:`sheaf.collection`) pass single items as
pointers into the caller's own memory and batches as one packed buffer plus a ``size_t`` array;
results come back the same way. Both modules share these helpers, which is why they sit in a
module of their own below both.

The ``*_packed`` calls (Yokan's Python ``put_packed``, ``get_packed``, ...) take the caller's
packed buffer and sizes as they are (:func:`packed_arg`: checked, not copied) and write results
into a caller's buffer the way Yokan's packed calls do (:func:`place`).
"""

from __future__ import annotations

from array import array
from itertools import accumulate
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from ._lib import ffi, lib, take_bytes
from .errors import InvalidArgumentError, NonContiguousBufferError, ReadOnlyBufferError

__all__ = [
    "NOT_FOUND",
    "SIZE_MAX",
    "buffer_arg",
    "writable_buffer_arg",
    "pack",
    "unpack",
    "sizes",
    "owned_view",
    "TOO_SMALL",
    "sizes_arg",
    "packed_arg",
    "place",
]

#: The size the library reports for a missing key or document (``SHEAF_SIZE_NOT_FOUND``).
NOT_FOUND: int = int(lib.SHEAF_SIZE_NOT_FOUND)
#: The largest ``size_t``: "no limit" for counts.
SIZE_MAX: int = (1 << (8 * int(ffi.sizeof("size_t")))) - 1
_SIZE_T_CODE = {4: "I", 8: "Q"}[ffi.sizeof("size_t")]
#: The size the ``*_packed`` calls report for an item that did not fit the caller's buffer (as
#: Yokan's Python binding reports ``YOKAN_SIZE_TOO_SMALL``).
TOO_SMALL: int = -1


def _memoryview(x: Any, what: str) -> memoryview:
    try:
        return memoryview(x)
    except TypeError:
        raise TypeError(
            f"{what} must be a str or a bytes-like object (buffer protocol), not {type(x).__name__}"
        ) from None


def buffer_arg(x: Any, what: str) -> Tuple[Any, int]:
    """``(pointer-compatible object, byte length)`` for a key or value, without copying
    (``str`` is encoded to UTF-8)."""
    cls = x.__class__
    if cls is bytes:
        return x, len(x)
    if cls is str:
        raw = x.encode("utf-8")
        return raw, len(raw)
    with _memoryview(x, what) as view:
        if not view.c_contiguous:
            raise NonContiguousBufferError(
                f"{what} must be a C-contiguous buffer (got a strided or Fortran-ordered "
                f"{type(x).__name__}; copy it first, e.g. numpy.ascontiguousarray)"
            )
    c = ffi.from_buffer("uint8_t[]", x)
    return c, len(c)


def writable_buffer_arg(x: Any, what: str) -> Tuple[Any, int]:
    """``(uint8_t[] over the caller's memory, capacity in bytes)`` for a buffer to fill."""
    with _memoryview(x, what) as view:
        if view.readonly:
            raise ReadOnlyBufferError(
                f"{what} must be writable (got a read-only {type(x).__name__}; "
                "use a bytearray or a writable numpy array)"
            )
        if not view.c_contiguous:
            raise NonContiguousBufferError(
                f"{what} must be a C-contiguous buffer (got a strided or Fortran-ordered "
                f"{type(x).__name__})"
            )
    c = ffi.from_buffer("uint8_t[]", x, require_writable=True)
    return c, len(c)


def _flat(x: Any, what: str) -> Any:
    """One item of a packed batch as something ``bytes.join`` takes and ``len`` measures in
    bytes."""
    cls = x.__class__
    if cls is bytes:
        return x
    if cls is str:
        return x.encode("utf-8")
    view = _memoryview(x, what)
    if not view.c_contiguous:
        raise NonContiguousBufferError(
            f"{what} must be C-contiguous buffers (got a strided or Fortran-ordered "
            f"{type(x).__name__})"
        )
    if view.ndim == 1 and view.itemsize == 1:
        return view
    if view.nbytes == 0:
        return b""
    return view.cast("B")


def pack(items: Iterable[Any], what: str) -> Tuple[bytes, Any, int]:
    """Yokan's packed layout: ``(concatenated bytes, size_t sizes array, n)``.

    This is the one copy of a batch: every item is copied once into the packed buffer.
    """
    seq = items if isinstance(items, (list, tuple)) else list(items)
    kinds = set(map(type, seq))
    if kinds <= {bytes}:
        parts: Sequence[Any] = seq
    elif kinds <= {str}:
        parts = [s.encode("utf-8") for s in seq]
    else:
        parts = [_flat(x, what) for x in seq]
    data = b"".join(parts)
    lengths = array(_SIZE_T_CODE, map(len, parts))
    return data, ffi.from_buffer("size_t[]", lengths), len(parts)


def sizes(b: Any) -> array[int]:
    """A ``SheafBytes`` of native ``uint64_t`` sizes as an ``array('Q')`` (frees it)."""
    out = array("Q")
    if b.len:
        out.frombytes(ffi.buffer(b.data, b.len))
    lib.sheaf_bytes_free(b)
    return out


def owned_view(b: Any) -> memoryview:
    """A read-only memoryview of a library-owned ``SheafBytes`` without copying; the bytes are
    freed (``sheaf_bytes_free``) when the last view or object derived from it is collected."""
    n = int(b.len)
    if n == 0:
        lib.sheaf_bytes_free(b)
        return memoryview(b"")

    def free(data: Any, n: int = n) -> None:
        holder = ffi.new("SheafBytes *")
        holder.data = data
        holder.len = n
        lib.sheaf_bytes_free(holder)

    owned = ffi.gc(b.data, free, n)
    return memoryview(ffi.buffer(owned, n)).toreadonly()


def unpack(data_b: Any, sizes_b: Any, copy: bool = True) -> List[Any]:
    """Splits a packed ``SheafBytes`` by its ``uint64_t`` sizes (``None`` for
    ``SHEAF_SIZE_NOT_FOUND``); frees both. ``copy=False``: memoryview slices of the library's
    buffer instead of ``bytes``."""
    counts = sizes(sizes_b)
    data: Any = take_bytes(data_b) if copy else owned_view(data_b)
    if NOT_FOUND not in counts:
        ends = list(accumulate(counts))
        return [data[e - s : e] for s, e in zip(counts, ends)]
    out: List[Any] = []
    pos = 0
    for s in counts:
        if s == NOT_FOUND:
            out.append(None)
        else:
            end = pos + s
            out.append(data[pos:end])
            pos = end
    return out


# -- the caller's own packed buffers (the *_packed calls) ------------------------------------------
def sizes_arg(item_sizes: Iterable[Any], what: str) -> array[int]:
    """A caller's list of item sizes (any iterable of non-negative ints: list, tuple,
    ``array``, numpy array) as a native ``size_t`` array."""
    if isinstance(item_sizes, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be a sequence of ints, not {type(item_sizes).__name__}")
    try:
        seq = list(item_sizes)
    except TypeError:
        raise TypeError(
            f"{what} must be a sequence of ints, not {type(item_sizes).__name__}"
        ) from None
    values = []
    for s in seq:
        if isinstance(s, bool) or not hasattr(s, "__index__"):
            raise TypeError(f"{what} must hold ints, not {type(s).__name__}")
        v = s.__index__()
        if not 0 <= v <= SIZE_MAX:
            raise InvalidArgumentError(f"{what} must be sizes in bytes (0..{SIZE_MAX}), not {v}")
        values.append(v)
    return array(_SIZE_T_CODE, values)


def packed_arg(data: Any, item_sizes: Iterable[Any], what: str) -> Tuple[Any, Any, int]:
    """``(pointer to data, size_t[] sizes, n)`` for a caller's packed buffer and its sizes, with
    no copy of the data. The sizes may add up to less than the buffer (the rest is ignored, as in
    Yokan) but not to more: that raises :class:`InvalidArgumentError` before the library reads
    past the buffer."""
    lengths = sizes_arg(item_sizes, what + " sizes")
    ptr, nbytes = buffer_arg(data, what)
    total = sum(lengths)
    if total > nbytes:
        raise InvalidArgumentError(
            f"{what}: the sizes add up to {total} bytes but the buffer holds only {nbytes}"
        )
    return ptr, ffi.from_buffer("size_t[]", lengths), len(lengths)


def place(data_b: Any, sizes_b: Any, buffer: Any, capacity: int) -> List[Optional[int]]:
    """Writes a packed library result (``SheafBytes`` data and ``uint64_t`` sizes) into a
    caller's buffer the way Yokan's packed calls fill theirs, and frees both.

    Items are written one after the other from the start of ``buffer``. Returns each item's
    size; ``None`` for a missing one (``SHEAF_SIZE_NOT_FOUND``); :data:`TOO_SMALL` (-1) for one
    that did not fit — and, as in Yokan, for every present item after the first that did not
    fit, so what was written is always a prefix of the result. One ``memmove``.
    """
    counts = sizes(sizes_b)
    out: List[Optional[int]] = []
    used = 0
    full = False
    for s in counts:
        if s == NOT_FOUND:
            out.append(None)
        elif full or used + s > capacity:
            full = True
            out.append(TOO_SMALL)
        else:
            out.append(int(s))
            used += s
    try:
        if used:
            ffi.memmove(buffer, data_b.data, used)
    finally:
        lib.sheaf_bytes_free(data_b)
    return out
