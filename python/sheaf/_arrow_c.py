"""The Arrow C Data Interface with cffi alone: no pyarrow, pandas or polars needed.

Why: PyPy and minimal installs have no pyarrow, yet must write and read tables; this module is
the numpy path under :mod:`sheaf._convert`.

* :func:`export_columns` fills an ``ArrowArrayStream`` from a mapping of column name to numpy
  array or Python list (the producer: ``ffi.callback`` functions, created once for the life of the
  process; every stream, schema and array keeps its own buffers alive until released).
* :func:`import_columns` drains an ``ArrowArrayStream`` into a :class:`Columns` mapping of column
  name to numpy array (the consumer: walks the ``ArrowSchema`` formats and ``ArrowArray`` buffers).

Conventions of the numpy form (documented in the package docstring too):

* a column with at least one null comes back as a ``numpy.ma.MaskedArray`` (``mask`` True where
  null); a column without nulls as a plain ``numpy.ndarray``;
* strings and binaries are ``object`` arrays of ``str`` / ``bytes`` (``None`` under the mask);
* timestamps are ``datetime64[s|ms|us|ns]`` holding UTC instants; the column's time zone, if any,
  is in :attr:`Columns.timezones`; ``date32`` is ``datetime64[D]``, ``date64`` ``datetime64[ms]``,
  durations and times of day are ``timedelta64``;
* dictionary-encoded columns (pandas categoricals) are decoded to their values.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import itertools
import struct
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple

from . import _capsule, _lib, errors
from ._lib import ffi

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = ["Columns", "export_columns", "import_columns", "release_stream"]

_NULLABLE = 2  # ARROW_FLAG_NULLABLE
_INT32_MAX = 2**31 - 1


def _np() -> Any:
    try:
        import numpy
    except ImportError as exc:  # pragma: no cover - numpy is in every tested environment
        raise ImportError(
            "sheaf needs numpy for numpy/list input and output_format='numpy' "
            "(pip install 'sheaf[numpy]')"
        ) from exc
    return numpy


class Columns(Dict[str, Any]):
    """A table as a ``dict`` of column name -> numpy array (``output_format="numpy"``).

    Columns with nulls are ``numpy.ma.MaskedArray``. Extra attributes:

    Attributes:
        timezones: column name -> IANA or offset time zone of timestamp columns that have one
            (the ``datetime64`` values are UTC instants).
        index: the name of the Sheaf index column of the version read, or ``None``.

    On CPython it implements ``__arrow_c_stream__``: ``pyarrow.RecordBatchReader.from_stream(cols)``
    or any consumer of the protocol reads it without copying numeric columns, time zones
    included (``pyarrow.table(cols)`` and ``polars.DataFrame(cols)`` see a ``dict`` first and
    convert it as one: same values, no time zones). On every interpreter
    ``cols._export_to_c(address)`` fills a caller-allocated ``struct ArrowArrayStream``.
    """

    def __init__(
        self,
        data: Optional[Mapping[str, Any]] = None,
        *,
        timezones: Optional[Mapping[str, str]] = None,
        index: Optional[str] = None,
    ) -> None:
        super().__init__(data or {})
        self.timezones: Dict[str, str] = dict(timezones or {})
        self.index: Optional[str] = index

    def __repr__(self) -> str:
        cols = ", ".join(f"{k!r}: {getattr(v, 'dtype', type(v).__name__)}" for k, v in self.items())
        rows = len(next(iter(self.values()))) if self else 0
        return f"Columns({rows} rows; {{{cols}}})"

    def num_rows(self) -> int:
        """The number of rows (0 for a table without columns)."""
        return len(next(iter(self.values()))) if self else 0

    def _export_to_c(self, address: int) -> None:
        """Fills the ``struct ArrowArrayStream`` at ``address`` (raw-address export, any VM)."""
        export_columns(self, ffi.cast("struct ArrowArrayStream *", address), self.timezones)

    if _capsule.AVAILABLE:

        def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
            """The Arrow PyCapsule stream protocol (CPython only)."""
            return _capsule.export_capsule(lambda s: export_columns(self, s, self.timezones))


# --------------------------------------------------------------------------------------------
# Producer
# --------------------------------------------------------------------------------------------


class _Col:
    """One column ready to export: Arrow format, buffers (numpy arrays) and null count."""

    __slots__ = ("buffers", "fmt", "length", "name", "null_count")

    def __init__(
        self, name: str, fmt: str, length: int, null_count: int, buffers: List[Optional[Any]]
    ) -> None:
        self.name = name
        self.fmt = fmt
        self.length = length
        self.null_count = null_count
        self.buffers = buffers


_INT_FORMATS = {
    "i1": "c",
    "u1": "C",
    "i2": "s",
    "u2": "S",
    "i4": "i",
    "u4": "I",
    "i8": "l",
    "u8": "L",
    "f2": "e",
    "f4": "f",
    "f8": "g",
}
_TIME_UNITS = {"s": "s", "ms": "m", "us": "u", "ns": "n"}


def _tz_name(tz: Optional[_dt.tzinfo], sample: _dt.datetime) -> str:
    if tz is None:
        return ""
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if isinstance(key, str):
        return key
    if tz is _dt.timezone.utc:
        return "UTC"
    off = sample.utcoffset() or _dt.timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _validity(np: Any, mask: Any) -> Tuple[Optional[Any], int]:
    if mask is None:
        return None, 0
    nulls = int(mask.sum())
    if nulls == 0:
        return None, 0
    return np.packbits(~mask, bitorder="little"), nulls


def _string_buffers(np: Any, name: str, values: List[Any], binary: bool) -> Tuple[str, Any, Any]:
    encoded: List[bytes] = []
    for v in values:
        if v is None:
            encoded.append(b"")
        elif binary:
            encoded.append(bytes(v))
        else:
            encoded.append(v.encode("utf-8"))
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    total = int(lengths.sum())
    large = total > _INT32_MAX
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
    fmt = ("Z" if large else "z") if binary else ("U" if large else "u")
    return fmt, offsets, data


def _infer_kind(name: str, values: Iterable[Any]) -> str:
    """The Arrow-level kind of a list of Python values (None ignored)."""
    kinds = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, int):
            kinds.add("int")
        elif isinstance(v, float):
            kinds.add("float")
        elif isinstance(v, str):
            kinds.add("str")
        elif isinstance(v, (bytes, bytearray, memoryview)):
            kinds.add("bytes")
        elif isinstance(v, _dt.datetime):
            kinds.add("datetime")
        elif isinstance(v, _dt.date):
            kinds.add("date")
        elif isinstance(v, _dt.timedelta):
            kinds.add("timedelta")
        elif type(v).__module__ == "numpy" and hasattr(v, "item"):
            # numpy scalars inside lists or object arrays
            item = v.item()
            kinds.add(_infer_kind(name, [item]) if item is not None else "null")
        else:
            raise TypeError(
                f"column {name!r}: cannot store a value of type {type(v).__name__} "
                f"({v!r}); columns hold numbers, bools, str, bytes, datetime, date or timedelta"
            )
    kinds.discard("null")
    if not kinds:
        return "null"
    if kinds == {"int", "float"}:
        return "float"
    if len(kinds) > 1:
        raise TypeError(
            f"column {name!r} mixes values of types {', '.join(sorted(kinds))}; "
            "a column must hold values of one type (None marks a null)"
        )
    return kinds.pop()


def _from_pylist(np: Any, name: str, values: List[Any]) -> _Col:
    values = [
        v.item() if type(v).__module__ == "numpy" and hasattr(v, "item") else v for v in values
    ]
    n = len(values)
    kind = _infer_kind(name, values)
    mask = np.fromiter((v is None for v in values), dtype=bool, count=n)
    validity, nulls = _validity(np, mask)
    if kind == "null":
        return _Col(name, "n", n, n, [])
    if kind in ("str", "bytes"):
        fmt, offsets, data = _string_buffers(np, name, values, kind == "bytes")
        return _Col(name, fmt, n, nulls, [validity, offsets, data])
    if kind == "bool":
        bits = np.packbits(np.array([bool(v) for v in values], dtype=bool), bitorder="little")
        return _Col(name, "b", n, nulls, [validity, bits])
    if kind == "int":
        ints = [0 if v is None else v for v in values]
        try:
            arr = np.array(ints, dtype=np.int64)
        except OverflowError:
            try:
                arr = np.array(ints, dtype=np.uint64)
            except OverflowError:
                raise OverflowError(f"column {name!r}: integers do not fit in 64 bits") from None
        return _from_numpy(np, name, arr, mask)
    if kind == "float":
        return _from_numpy(
            np,
            name,
            np.array([0.0 if v is None else float(v) for v in values], dtype=np.float64),
            mask,
        )
    if kind == "datetime":
        aware = {
            v.tzinfo is not None and v.utcoffset() is not None for v in values if v is not None
        }
        if len(aware) > 1:
            raise TypeError(f"column {name!r} mixes naive and timezone-aware datetimes")
        tz = ""
        if aware == {True}:
            first = next(v for v in values if v is not None)
            names = {_tz_name(v.tzinfo, v) for v in values if v is not None}
            tz = names.pop() if len(names) == 1 else "UTC"
            if tz != _tz_name(first.tzinfo, first):  # pragma: no cover - defensive
                tz = "UTC"
            epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        else:
            epoch = _dt.datetime(1970, 1, 1)
        one_us = _dt.timedelta(microseconds=1)
        micros = np.array(
            [0 if v is None else (v - epoch) // one_us for v in values], dtype=np.int64
        )
        return _Col(name, "tsu:" + tz, n, nulls, [validity, micros])
    if kind == "date":
        epoch_d = _dt.date(1970, 1, 1)
        days = np.array([0 if v is None else (v - epoch_d).days for v in values], dtype=np.int32)
        return _Col(name, "tdD", n, nulls, [validity, days])
    if kind == "timedelta":
        one_us = _dt.timedelta(microseconds=1)
        micros = np.array([0 if v is None else v // one_us for v in values], dtype=np.int64)
        return _Col(name, "tDu", n, nulls, [validity, micros])
    raise AssertionError(kind)  # pragma: no cover


def _from_numpy(np: Any, name: str, arr: Any, mask: Optional[Any], tz: str = "") -> _Col:
    if arr.ndim != 1:
        raise ValueError(f"column {name!r} must be one-dimensional (got shape {arr.shape})")
    n = len(arr)
    kind = arr.dtype.kind
    if kind == "O":
        values = arr.tolist()
        if mask is not None:
            values = [None if m else v for v, m in zip(values, mask.tolist())]
        return _from_pylist(np, name, values)
    if kind in "US":
        values = arr.tolist()
        if mask is not None:
            values = [None if m else v for v, m in zip(values, mask.tolist())]
        fmt, offsets, data = _string_buffers(np, name, values, kind == "S")
        validity, nulls = _validity(np, mask)
        return _Col(name, fmt, n, nulls, [validity, offsets, data])
    if kind in "Mm":
        unit = np.datetime_data(arr.dtype)[0]
        nat = np.isnat(arr)
        if nat.any():
            mask = nat if mask is None else (mask | nat)
        validity, nulls = _validity(np, mask)
        if kind == "M" and unit == "D":
            days = arr.view(np.int64)
            valid = days[~nat]  # NaT is the smallest int64
            if len(valid) and (valid.min() < -_INT32_MAX or valid.max() > _INT32_MAX):
                raise OverflowError(f"column {name!r}: dates out of the date32 range")
            return _Col(name, "tdD", n, nulls, [validity, np.where(nat, 0, days).astype(np.int32)])
        if unit not in _TIME_UNITS:
            if kind == "M":
                arr = arr.astype("datetime64[s]")
            else:
                raise TypeError(
                    f"column {name!r}: timedelta64[{unit}] is not supported (use s/ms/us/ns)"
                )
            unit = "s"
        prefix = "ts" if kind == "M" else "tD"
        fmt = f"{prefix}{_TIME_UNITS[unit]}" + (":" + tz if kind == "M" else "")
        data = np.ascontiguousarray(arr).view(np.int64)
        return _Col(name, fmt, n, nulls, [validity, data])
    validity, nulls = _validity(np, mask)
    if kind == "b":
        return _Col(name, "b", n, nulls, [validity, np.packbits(arr, bitorder="little")])
    key = f"{kind}{arr.dtype.itemsize}"
    fixed_fmt = _INT_FORMATS.get(key)
    if fixed_fmt is None:
        raise TypeError(f"column {name!r}: numpy dtype {arr.dtype} is not supported")
    data = np.ascontiguousarray(arr)
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    return _Col(name, fixed_fmt, n, nulls, [validity, data])


def prepare_columns(
    columns: Mapping[str, Any], timezones: Optional[Mapping[str, str]] = None
) -> List[_Col]:
    """Converts a mapping of name -> numpy array / list into exportable columns.

    Raises TypeError / ValueError with the column's name for unusable values, before any
    library call is made.
    """
    np = _np()
    timezones = timezones or {}
    out: List[_Col] = []
    length: Optional[int] = None
    for name, values in columns.items():
        if not isinstance(name, str):
            raise TypeError(f"column names must be str, not {type(name).__name__} ({name!r})")
        if isinstance(values, np.ma.MaskedArray):
            col = _from_numpy(
                np, name, values.data, np.ma.getmaskarray(values), timezones.get(name, "")
            )
        elif isinstance(values, np.ndarray):
            col = _from_numpy(np, name, values, None, timezones.get(name, ""))
        elif isinstance(values, (list, tuple, range)):
            col = _from_pylist(np, name, list(values))
        else:
            raise TypeError(
                f"column {name!r}: expected a numpy array or a list, not {type(values).__name__}"
            )
        if length is None:
            length = col.length
        elif col.length != length:
            raise ValueError(
                f"columns have different lengths: {out[0].name!r} has {length} values, "
                f"{name!r} has {col.length}"
            )
        out.append(col)
    return out


# Everything a live exported struct needs is kept here until its release callback runs.
_LIVE: Dict[int, Any] = {}
_ids = itertools.count(1)


def _keep(obj: Any) -> Any:
    ident = next(_ids)
    _LIVE[ident] = obj
    return ffi.cast("void *", ident)


def _schema_release(schema: Any) -> None:
    try:
        for i in range(schema.n_children):
            child = schema.children[i]
            if child.release != ffi.NULL:
                child.release(child)
        _LIVE.pop(int(ffi.cast("uintptr_t", schema.private_data)), None)
    finally:
        schema.release = ffi.NULL


def _array_release(array: Any) -> None:
    try:
        for i in range(array.n_children):
            child = array.children[i]
            if child.release != ffi.NULL:
                child.release(child)
        _LIVE.pop(int(ffi.cast("uintptr_t", array.private_data)), None)
    finally:
        array.release = ffi.NULL


_schema_release_cb = ffi.callback("void(struct ArrowSchema *)", _schema_release)
_array_release_cb = ffi.callback("void(struct ArrowArray *)", _array_release)


def encode_metadata(metadata: Mapping[str, str]) -> bytes:
    """An ``ArrowSchema.metadata`` map (int32 count, then length-prefixed pairs): the inverse of
    :func:`parse_metadata`."""
    parts = [struct.pack("<i", len(metadata))]
    for key, value in metadata.items():
        for text in (key, value):
            raw = text.encode("utf-8")
            parts += [struct.pack("<i", len(raw)), raw]
    return b"".join(parts)


def _fill_schema(
    out: Any,
    fmt: str,
    name: str,
    children: List[Tuple[str, str]],
    flags: int,
    metadata: Optional[bytes] = None,
) -> None:
    keep: List[Any] = []
    c_fmt = ffi.new("char[]", fmt.encode("utf-8"))
    c_name = ffi.new("char[]", name.encode("utf-8"))
    keep += [c_fmt, c_name]
    out.format = c_fmt
    out.name = c_name
    if metadata:
        c_metadata = ffi.new("char[]", metadata)
        keep.append(c_metadata)
        out.metadata = c_metadata
    else:
        out.metadata = ffi.NULL
    out.flags = flags
    out.n_children = len(children)
    out.dictionary = ffi.NULL
    if children:
        structs = ffi.new("struct ArrowSchema[]", len(children))
        ptrs = ffi.new("struct ArrowSchema *[]", len(children))
        keep += [structs, ptrs]
        for i, (cname, cfmt) in enumerate(children):
            _fill_schema(structs[i], cfmt, cname, [], _NULLABLE)
            ptrs[i] = structs + i
        out.children = ptrs
    else:
        out.children = ffi.NULL
    out.private_data = _keep(keep)
    out.release = _schema_release_cb


def _fill_array(
    out: Any, length: int, null_count: int, buffers: List[Optional[Any]], children: List[_Col]
) -> None:
    keep: List[Any] = []
    out.length = length
    out.null_count = null_count
    out.offset = 0
    out.n_buffers = len(buffers)
    c_bufs = ffi.new("const void *[]", max(len(buffers), 1))
    keep.append(c_bufs)
    for i, buf in enumerate(buffers):
        if buf is None:
            c_bufs[i] = ffi.NULL
        else:
            keep.append(buf)
            ptr = ffi.from_buffer(buf)
            keep.append(ptr)
            c_bufs[i] = ptr
    out.buffers = c_bufs
    out.n_children = len(children)
    out.dictionary = ffi.NULL
    if children:
        structs = ffi.new("struct ArrowArray[]", len(children))
        ptrs = ffi.new("struct ArrowArray *[]", len(children))
        keep += [structs, ptrs]
        for i, col in enumerate(children):
            _fill_array(structs[i], col.length, col.null_count, col.buffers, [])
            ptrs[i] = structs + i
        out.children = ptrs
    else:
        out.children = ffi.NULL
    out.private_data = _keep(keep)
    out.release = _array_release_cb


class _StreamState:
    __slots__ = ("cols", "done", "error", "length", "metadata")

    def __init__(self, cols: List[_Col], metadata: Optional[bytes] = None) -> None:
        self.cols = cols
        self.length = cols[0].length if cols else 0
        self.done = False
        self.error: Any = ffi.NULL
        self.metadata = metadata


def _state(stream: Any) -> _StreamState:
    state = _LIVE.get(int(ffi.cast("uintptr_t", stream.private_data)))
    if not isinstance(state, _StreamState):
        raise RuntimeError("the stream was already released")
    return state


def _set_error(stream: Any, exc: BaseException) -> int:
    try:
        state = _state(stream)
        state.error = ffi.new("char[]", f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))
    except Exception:  # pragma: no cover - nothing better to do inside a C callback
        pass
    return 5  # EIO


def _stream_get_schema(stream: Any, out: Any) -> int:
    try:
        state = _state(stream)
        _fill_schema(out, "+s", "", [(c.name, c.fmt) for c in state.cols], 0, state.metadata)
        return 0
    except Exception as exc:
        return _set_error(stream, exc)


def _stream_get_next(stream: Any, out: Any) -> int:
    try:
        state = _state(stream)
        if state.done:
            out.release = ffi.NULL
            return 0
        state.done = True
        _fill_array(out, state.length, 0, [None], state.cols)
        return 0
    except Exception as exc:
        return _set_error(stream, exc)


def _stream_get_last_error(stream: Any) -> Any:
    try:
        return _state(stream).error
    except Exception:
        return ffi.NULL


def _stream_release(stream: Any) -> None:
    try:
        _LIVE.pop(int(ffi.cast("uintptr_t", stream.private_data)), None)
    finally:
        stream.release = ffi.NULL


_get_schema_cb = ffi.callback(
    "int(struct ArrowArrayStream *, struct ArrowSchema *)", _stream_get_schema
)
_get_next_cb = ffi.callback("int(struct ArrowArrayStream *, struct ArrowArray *)", _stream_get_next)
_get_last_error_cb = ffi.callback("const char *(struct ArrowArrayStream *)", _stream_get_last_error)
_stream_release_cb = ffi.callback("void(struct ArrowArrayStream *)", _stream_release)


def export_columns(
    columns: Mapping[str, Any],
    out: Any,
    timezones: Optional[Mapping[str, str]] = None,
    metadata: Optional[Mapping[str, str]] = None,
) -> None:
    """Fills the ``struct ArrowArrayStream *`` ``out`` with one batch holding ``columns``
    (``metadata``: the schema's key-value metadata, if any).

    Numeric numpy arrays are exported without copying; the stream keeps them alive until it
    and its arrays are released.
    """
    cols = prepare_columns(columns, timezones)
    state = _StreamState(cols, encode_metadata(metadata) if metadata else None)
    out.get_schema = _get_schema_cb
    out.get_next = _get_next_cb
    out.get_last_error = _get_last_error_cb
    out.private_data = _keep(state)
    out.release = _stream_release_cb


def release_stream(stream: Any) -> None:
    """Releases ``stream`` unless it is already released (moved or consumed)."""
    if stream.release != ffi.NULL:
        stream.release(stream)


# --------------------------------------------------------------------------------------------
# Consumer
# --------------------------------------------------------------------------------------------


class _Field:
    __slots__ = ("children", "dictionary", "fmt", "name")

    def __init__(
        self, name: str, fmt: str, dictionary: Optional[_Field], children: List[_Field]
    ) -> None:
        self.name = name
        self.fmt = fmt
        self.dictionary = dictionary
        self.children = children


def _parse_field(schema: Any) -> _Field:
    name = ffi.string(schema.name).decode("utf-8") if schema.name != ffi.NULL else ""
    fmt = ffi.string(schema.format).decode("utf-8")
    dictionary = _parse_field(schema.dictionary) if schema.dictionary != ffi.NULL else None
    children = [_parse_field(schema.children[i]) for i in range(schema.n_children)]
    return _Field(name, fmt, dictionary, children)


def parse_metadata(raw: Any) -> Dict[str, str]:
    """Decodes an ``ArrowSchema.metadata`` map (int32 count, then length-prefixed pairs)."""
    if raw == ffi.NULL:
        return {}
    (count,) = struct.unpack("<i", ffi.buffer(raw, 4)[:])
    pos = 4
    out: Dict[str, str] = {}
    for _ in range(count):
        (klen,) = struct.unpack("<i", ffi.buffer(raw + pos, 4)[:])
        key = ffi.buffer(raw + pos + 4, klen)[:]
        pos += 4 + klen
        (vlen,) = struct.unpack("<i", ffi.buffer(raw + pos, 4)[:])
        val = ffi.buffer(raw + pos + 4, vlen)[:]
        pos += 4 + vlen
        out[key.decode("utf-8", "replace")] = val.decode("utf-8", "replace")
    return out


_FIXED = {
    "c": "i1",
    "C": "u1",
    "s": "i2",
    "S": "u2",
    "i": "i4",
    "I": "u4",
    "l": "i8",
    "L": "u8",
    "e": "f2",
    "f": "f4",
    "g": "f8",
}
_UNITS = {"s": "s", "m": "ms", "u": "us", "n": "ns"}


def _fixed(np: Any, array: Any, index: int, dtype: str, offset: int, length: int) -> Any:
    itemsize = np.dtype(dtype).itemsize
    ptr = array.buffers[index]
    if length == 0 or ptr == ffi.NULL:
        return np.zeros(length, dtype=dtype)
    raw = np.frombuffer(ffi.buffer(ptr, (offset + length) * itemsize), dtype=dtype)
    return raw[offset : offset + length]  # a view: copied by import_columns before release


def _bits(np: Any, ptr: Any, offset: int, length: int) -> Any:
    if length == 0:
        return np.zeros(0, dtype=bool)
    raw = np.frombuffer(ffi.buffer(ptr, (offset + length + 7) // 8), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[offset : offset + length].astype(bool)


def _view_items(
    np: Any, array: Any, offset: int, length: int, text: bool, mask: Optional[Any]
) -> List[Any]:
    """The values of a string_view / binary_view array (16-byte views: length, then 12 inline
    bytes, or a 4-byte prefix, a data-buffer index and an offset)."""
    if length == 0:
        return []
    views = np.frombuffer(
        ffi.buffer(array.buffers[1], (offset + length) * 16), dtype=np.uint8
    ).reshape(-1, 16)[offset:]
    meta = views.view("<i4")  # per row: length, prefix, buffer index, offset
    n_data = int(array.n_buffers) - 3
    sizes = (
        np.frombuffer(ffi.buffer(array.buffers[n_data + 2], 8 * n_data), dtype="<i8").tolist()
        if n_data > 0
        else []
    )
    data = [bytes(ffi.buffer(array.buffers[2 + i], sizes[i])) for i in range(n_data)]
    raw = views.tobytes()
    nulls = mask.tolist() if mask is not None else [False] * length
    items: List[Any] = []
    for row in range(length):
        if nulls[row]:  # a null slot's view may hold anything
            items.append(None)
            continue
        size = int(meta[row, 0])
        if size <= 12:
            value = raw[row * 16 + 4 : row * 16 + 4 + size]
        else:
            buf, start = int(meta[row, 2]), int(meta[row, 3])
            value = data[buf][start : start + size]
        items.append(value.decode("utf-8") if text else value)
    return items


def _convert(np: Any, field: _Field, array: Any) -> Tuple[Any, Optional[Any]]:
    """One array of one field -> (values, mask or None); values may view the Arrow buffers."""
    length = int(array.length)
    offset = int(array.offset)
    fmt = field.fmt
    mask = None
    if fmt == "n":
        return np.array([None] * length, dtype=object), np.ones(length, dtype=bool)
    if array.null_count != 0 and array.n_buffers > 0 and array.buffers[0] != ffi.NULL:
        mask = ~_bits(np, array.buffers[0], offset, length)
        if not mask.any():
            mask = None
    if field.dictionary is not None:
        indices = _fixed(np, array, 1, _FIXED[fmt], offset, length)
        values, vmask = _convert(np, field.dictionary, array.dictionary)
        if mask is not None:
            indices = np.where(mask, 0, indices)
        if len(values) == 0:
            out = values[:0].repeat(0) if length == 0 else np.array([None] * length, dtype=object)
        else:
            out = values[indices]
        if vmask is not None:
            vm = vmask[indices]
            mask = vm if mask is None else (mask | vm)
        if mask is not None and out.dtype == object:
            out[mask] = None
        return out, mask
    if fmt in _FIXED:
        return _fixed(np, array, 1, _FIXED[fmt], offset, length), mask
    if fmt == "b":
        values = _bits(np, array.buffers[1], offset, length) if length else np.zeros(0, dtype=bool)
        return values, mask
    if fmt in ("u", "U", "z", "Z"):
        off_dtype = "i4" if fmt in ("u", "z") else "i8"
        offsets = (
            _fixed(np, array, 1, off_dtype, offset, length + 1)
            if length
            else np.zeros(1, off_dtype)
        )
        start, end = int(offsets[0]), int(offsets[-1])
        data = bytes(ffi.buffer(array.buffers[2], end)) if end > 0 else b""
        bounds = offsets.tolist()
        if fmt in ("u", "U"):
            items: List[Any] = [data[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:])]
        else:
            items = [data[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        del start
        out = np.empty(length, dtype=object)
        out[:] = items
        if mask is not None:
            out[mask] = None
        return out, mask
    if fmt in ("vu", "vz"):
        out = np.empty(length, dtype=object)
        out[:] = _view_items(np, array, offset, length, fmt == "vu", mask)
        if mask is not None:
            out[mask] = None
        return out, mask
    if fmt.startswith("w:"):
        width = int(fmt[2:])
        ptr = array.buffers[1]
        data = bytes(ffi.buffer(ptr, (offset + length) * width)) if length else b""
        out = np.empty(length, dtype=object)
        out[:] = [data[(offset + i) * width : (offset + i + 1) * width] for i in range(length)]
        if mask is not None:
            out[mask] = None
        return out, mask
    if fmt.startswith("ts"):
        unit = _UNITS[fmt[2]]
        ints = _fixed(np, array, 1, "i8", offset, length)
        return ints.view(f"datetime64[{unit}]"), mask
    if fmt == "tdD":
        return _fixed(np, array, 1, "i4", offset, length).astype("datetime64[D]"), mask
    if fmt == "tdm":
        return _fixed(np, array, 1, "i8", offset, length).view("datetime64[ms]"), mask
    if fmt.startswith("tD"):
        unit = _UNITS[fmt[2]]
        return _fixed(np, array, 1, "i8", offset, length).view(f"timedelta64[{unit}]"), mask
    if fmt in ("tts", "ttm"):
        return _fixed(np, array, 1, "i4", offset, length).astype(
            f"timedelta64[{_UNITS[fmt[2]]}]"
        ), mask
    if fmt in ("ttu", "ttn"):
        return _fixed(np, array, 1, "i8", offset, length).view(
            f"timedelta64[{_UNITS[fmt[2]]}]"
        ), mask
    if fmt.startswith("d:"):
        parts = fmt[2:].split(",")
        scale = int(parts[1])
        width = int(parts[2]) // 8 if len(parts) > 2 else 16
        ptr = array.buffers[1]
        data = bytes(ffi.buffer(ptr, (offset + length) * width)) if length else b""
        out = np.empty(length, dtype=object)
        out[:] = [
            decimal.Decimal(
                int.from_bytes(
                    data[(offset + i) * width : (offset + i + 1) * width], "little", signed=True
                )
            ).scaleb(-scale)
            for i in range(length)
        ]
        if mask is not None:
            out[mask] = None
        return out, mask
    raise TypeError(
        f"column {field.name!r}: Arrow type {fmt!r} has no numpy form here; "
        "read it with output_format='pyarrow'"
    )


def _empty_for(np: Any, field: _Field) -> Any:
    fmt = field.fmt
    if field.dictionary is not None:
        return _empty_for(np, field.dictionary)
    if fmt in _FIXED:
        return np.zeros(0, dtype=_FIXED[fmt])
    if fmt == "b":
        return np.zeros(0, dtype=bool)
    if fmt.startswith("ts"):
        return np.zeros(0, dtype=f"datetime64[{_UNITS[fmt[2]]}]")
    if fmt == "tdD":
        return np.zeros(0, dtype="datetime64[D]")
    if fmt == "tdm":
        return np.zeros(0, dtype="datetime64[ms]")
    if fmt.startswith(("tD", "tt")):
        return np.zeros(0, dtype=f"timedelta64[{_UNITS[fmt[2]]}]")
    return np.zeros(0, dtype=object)


def stream_error(stream: Any, rc: int, what: str) -> Exception:
    """The exception for a failed stream callback (message from ``get_last_error``)."""
    detail = ""
    try:
        msg = stream.get_last_error(stream)
        if msg != ffi.NULL:
            detail = ffi.string(msg).decode("utf-8", "replace")
    except Exception:  # pragma: no cover
        pass
    code = _lib.code_in_message(detail) or int(_lib.lib.SHEAF_ERR_GENERIC)
    message = f"{what} failed (errno {rc})" + (f": {detail}" if detail else "")
    return errors.error_class(code)(message, code, _lib.status_name(code))


def import_columns(
    stream: Any,
    index: Optional[str] = None,
    rows: Optional[int] = None,
    metadata: Optional[Dict[str, str]] = None,
) -> Columns:
    """Drains (and releases) the ``struct ArrowArrayStream *`` ``stream`` into :class:`Columns`.

    ``rows`` (the total row count, when known) lets every column be copied once, straight into
    its final array, while the batch is still owned by the stream. ``metadata``, when given, is
    filled with the schema's key-value metadata.
    """
    np = _np()
    schema = ffi.new("struct ArrowSchema *")
    try:
        rc = stream.get_schema(stream, schema)
        if rc:
            raise stream_error(stream, rc, "reading the stream's schema")
        try:
            top = _parse_field(schema)
            if metadata is not None:
                metadata.update(parse_metadata(schema.metadata))
        finally:
            if schema.release != ffi.NULL:
                schema.release(schema)
        if top.fmt != "+s":
            raise TypeError(f"expected a stream of struct arrays, got format {top.fmt!r}")
        fields = top.children
        dests: List[Optional[Any]] = [None] * len(fields)
        parts: List[List[Any]] = [[] for _ in fields]
        masks: List[List[Tuple[int, Any]]] = [[] for _ in fields]
        pos = 0
        array = ffi.new("struct ArrowArray *")
        while True:
            rc = stream.get_next(stream, array)
            if rc:
                raise stream_error(stream, rc, "reading the next batch")
            if array.release == ffi.NULL:
                break
            try:
                n = int(array.length)
                for i, field in enumerate(fields):
                    values, mask = _convert(np, field, array.children[i])
                    if mask is not None:
                        masks[i].append((pos, mask))
                    if rows is not None and pos + n <= rows:
                        dest = dests[i]
                        if dest is None:
                            dest = dests[i] = np.empty(rows, dtype=values.dtype)
                        dest[pos : pos + n] = values
                    else:
                        parts[i].append(np.array(values, copy=True))
                pos += n
            finally:
                if array.release != ffi.NULL:
                    array.release(array)
    finally:
        release_stream(stream)
    out = Columns(index=index)
    for i, field in enumerate(fields):
        if rows is not None and pos == rows and (dests[i] is not None or rows == 0):
            values = dests[i] if dests[i] is not None else _empty_for(np, field)
        elif parts[i] or dests[i] is not None:
            dest = dests[i]
            head = [dest[: min(pos, rows or 0)]] if dest is not None else []
            values = np.concatenate(head + parts[i])
        else:
            values = _empty_for(np, field)
        if masks[i]:
            mask = np.zeros(len(values), dtype=bool)
            for start, m in masks[i]:
                mask[start : start + len(m)] = m
            if values.dtype == object:
                values[mask] = None
            out[field.name] = np.ma.MaskedArray(values, mask=mask)
        else:
            out[field.name] = values
        if field.fmt.startswith("ts") and len(field.fmt) > 4:
            out.timezones[field.name] = field.fmt[4:]
    return out
