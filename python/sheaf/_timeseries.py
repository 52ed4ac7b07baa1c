"""The time-series side of :class:`sheaf.Library`: option documents, reads with ranges and
column selections, descriptions, snapshots, staged writes and compaction.

Everything here is argument conversion and result decoding around one C call each; the
storage logic lives in the library. ``Library`` methods in :mod:`sheaf.store` stay thin and call
the functions below with their handle.

Conventions of the conversions:

* ``as_of``: ``None`` (latest), an ``int`` version (negative counts back over live versions), a
  ``str`` snapshot name, or a ``datetime.datetime`` / ``pandas.Timestamp`` /
  ``numpy.datetime64`` (the newest live version written at or before that instant; a naive
  datetime is taken as UTC).
* ``date_range`` bounds: ``None`` (open), a datetime-like as above (sent as nanoseconds since the
  epoch, converted by the library to the index unit; a naive one is UTC, which for a naive
  index means "the same wall-clock time"), a ``datetime.date`` (its midnight), or an ``int`` (a
  raw index value, e.g. for an integer index).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

from . import _arrow_c, _convert, _metadata
from ._lib import NULL, check, errslot, ffi, lib, take_bytes

__all__ = [
    "NameWithDType",
    "SymbolDescription",
    "as_of_value",
    "date_range_value",
    "read_options",
    "head_range",
    "tail_range",
]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_EPOCH_NAIVE = _dt.datetime(1970, 1, 1)
_NS_PER_DAY = 86_400 * 10**9

Handle = Any


# --------------------------------------------------------------------------------------------
# Small conversions
# --------------------------------------------------------------------------------------------


def options_bytes(doc: Dict[str, Any]) -> bytes:
    """The JSON text of an options document (``b""`` when empty: the library's defaults)."""
    return json.dumps(doc, separators=(",", ":")).encode() if doc else b""


def name_bytes(name: str, what: str) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    return name.encode("utf-8")


def _is_nat(value: Any) -> bool:
    return type(value).__name__ == "NaTType"


def to_ns(value: Any, what: str) -> int:
    """Nanoseconds since the Unix epoch of a datetime-like (naive = UTC)."""
    if isinstance(value, _dt.datetime):
        if _is_nat(value):
            raise ValueError(f"{what} is NaT")
        ns = getattr(value, "value", None)
        if isinstance(ns, int) and hasattr(value, "nanosecond"):  # pandas.Timestamp
            return ns
        delta = value - (_EPOCH if value.tzinfo is not None else _EPOCH_NAIVE)
        return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    if isinstance(value, _dt.date):
        return (value - _dt.date(1970, 1, 1)).days * _NS_PER_DAY
    if type(value).__name__ == "datetime64":
        ns = int(value.astype("datetime64[ns]").astype("int64"))
        if ns == -(2**63):  # NaT
            raise ValueError(f"{what} is NaT")
        return ns
    raise TypeError(
        f"{what} must be a datetime.datetime, pandas.Timestamp or numpy.datetime64, "
        f"not {type(value).__name__}"
    )


def _is_datetime_like(value: Any) -> bool:
    return isinstance(value, _dt.date) or type(value).__name__ == "datetime64"


def as_of_value(as_of: Any) -> Any:
    """The JSON value of an ``as_of`` argument (``None`` = latest)."""
    if as_of is None or isinstance(as_of, str):
        return as_of
    if isinstance(as_of, bool):
        raise TypeError("as_of must be a version number, a snapshot name or a datetime, not bool")
    if _is_datetime_like(as_of):
        if not isinstance(as_of, _dt.datetime) and isinstance(as_of, _dt.date):
            raise TypeError("as_of must be a datetime (with a time), not a date")
        return {"timestamp_ns": to_ns(as_of, "as_of")}
    if hasattr(as_of, "__index__"):
        return as_of.__index__()
    raise TypeError(
        "as_of must be None, a version number (negative counts back from the latest), a "
        f"snapshot name (str) or a datetime, not {type(as_of).__name__}"
    )


def _bound(value: Any, what: str) -> Any:
    if value is None or _is_nat(value):
        return None
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a datetime-like, an int or None, not bool")
    if _is_datetime_like(value):
        return {"ns": to_ns(value, what)}
    if hasattr(value, "__index__"):
        return value.__index__()
    raise TypeError(
        f"{what} must be a datetime.datetime, pandas.Timestamp, numpy.datetime64, date, an int "
        f"(a raw index value) or None, not {type(value).__name__}"
    )


def _pair(value: Any, what: str) -> Tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{what} must be a (start, end) pair, not {value!r}")
    start, end = value
    return start, end


def date_range_value(date_range: Any) -> List[Any]:
    """The JSON value of a ``date_range`` (inclusive; ``None`` ends are open)."""
    start, end = _pair(date_range, "date_range")
    return [_bound(start, "date_range start"), _bound(end, "date_range end")]


def row_range_value(row_range: Any) -> List[Optional[int]]:
    start, end = _pair(row_range, "row_range")
    out: List[Optional[int]] = []
    for v in (start, end):
        if v is None:
            out.append(None)
        elif isinstance(v, bool) or not hasattr(v, "__index__"):
            raise TypeError(f"row_range bounds must be ints or None, not {type(v).__name__}")
        else:
            out.append(v.__index__())
    return out


def columns_value(columns: Any) -> List[str]:
    if isinstance(columns, (str, bytes)):
        raise TypeError("columns must be a list of column names, not a single string")
    names = list(columns)
    for c in names:
        if not isinstance(c, str):
            raise TypeError(f"column names are str, not {type(c).__name__} ({c!r})")
    return names


def query_value(query_builder: Any) -> Optional[List[Any]]:
    """The ``"query"`` value of a :class:`sheaf.QueryBuilder` (``None``: none, or no clauses)."""
    if query_builder is None:
        return None
    from .query import QueryBuilder

    if not isinstance(query_builder, QueryBuilder):
        raise TypeError(
            f"query_builder must be a sheaf.QueryBuilder, not {type(query_builder).__name__}"
        )
    plan = query_builder.to_json()
    return plan or None


def read_options(
    as_of: Any = None,
    date_range: Any = None,
    row_range: Any = None,
    columns: Any = None,
    query_builder: Any = None,
) -> Dict[str, Any]:
    """The read options document (only the fields that are set)."""
    doc: Dict[str, Any] = {}
    value = as_of_value(as_of)
    if value is not None:
        doc["as_of"] = value
    if date_range is not None:
        doc["date_range"] = date_range_value(date_range)
    if row_range is not None:
        doc["row_range"] = row_range_value(row_range)
    if columns is not None:
        doc["columns"] = columns_value(columns)
    plan = query_value(query_builder)
    if plan is not None:
        doc["query"] = plan
    return doc


def as_of_options(as_of: Any) -> bytes:
    value = as_of_value(as_of)
    return b"" if value is None else options_bytes({"as_of": value})


def _count(n: Any, what: str) -> int:
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    return int(n.__index__())


def head_range(n: Any) -> List[Optional[int]]:
    """``head(n)``: the first ``n`` rows; ``head(-k)``: all but the last ``k``."""
    n = _count(n, "n")
    return [0, n]


def tail_range(n: Any) -> List[Optional[int]]:
    """``tail(n)``: the last ``n`` rows; ``tail(-k)``: all but the first ``k``."""
    n = _count(n, "n")
    return [0, 0] if n == 0 else [-n, None]


def update_options(
    date_range: Any,
    upsert: bool,
    prune_previous_versions: Optional[bool],
    index: Optional[str] = None,
) -> Dict[str, Any]:
    """Update options; with ``upsert``, ``index`` (the data's index column) lets the library
    create a missing symbol."""
    doc: Dict[str, Any] = {}
    if date_range is not None:
        doc["date_range"] = date_range_value(date_range)
    if upsert:
        doc["upsert"] = True
        if index is not None:
            doc["index"] = index
    if prune_previous_versions is not None:
        doc["prune_previous_versions"] = bool(prune_previous_versions)
    return doc


def write_options(
    index: Optional[str], validate_index: bool, prune_previous_versions: Optional[bool]
) -> Dict[str, Any]:
    doc: Dict[str, Any] = {}
    if index is not None:
        if not isinstance(index, str):
            raise TypeError(
                f"index must be a column name (str) or None, not {type(index).__name__}"
            )
        doc["index"] = index
    if not validate_index:
        doc["validate_index"] = False
    if prune_previous_versions is not None:
        doc["prune_previous_versions"] = bool(prune_previous_versions)
    return doc


def metadata_bytes(metadata: Any) -> Optional[bytes]:
    return None if metadata is None else _metadata.encode(metadata)


def _meta_args(meta: Optional[bytes]) -> Tuple[Any, int]:
    if meta is None:
        return NULL, 0
    return ffi.from_buffer("uint8_t[]", meta), len(meta)


# --------------------------------------------------------------------------------------------
# Calls that move a stream in (write, append, update, stage)
# --------------------------------------------------------------------------------------------


def stream_commit(
    fn: Any,
    h: Handle,
    symbol: str,
    data: Any,
    metadata: Any,
    index: Any,
    make_options: Callable[[Optional[str]], Dict[str, Any]],
) -> int:
    """Exports ``data``, builds the options (given the chosen index) and calls ``fn`` (one of
    ``sheaf_table_write`` / ``append`` / ``update``); returns the new version number."""
    raw = name_bytes(symbol, "symbol")
    meta = metadata_bytes(metadata)
    stream = ffi.new("struct ArrowArrayStream *")
    try:
        chosen = _convert.export_input(data, stream, index)
        opts = options_bytes(make_options(chosen))
    except BaseException:
        _arrow_c.release_stream(stream)
        raise
    meta_ptr, meta_len = _meta_args(meta)
    version = ffi.new("uint64_t *")
    slot = errslot()
    check(
        fn(h, raw, len(raw), stream, meta_ptr, meta_len, opts or NULL, len(opts), version, slot),
        slot,
    )
    return int(version[0])


def stage(h: Handle, symbol: str, data: Any, validate_index: bool, index: Any) -> None:
    raw = name_bytes(symbol, "symbol")
    stream = ffi.new("struct ArrowArrayStream *")
    try:
        chosen = _convert.export_input(data, stream, index)
        opts = options_bytes(write_options(chosen, validate_index, None))
    except BaseException:
        _arrow_c.release_stream(stream)
        raise
    slot = errslot()
    check(lib.sheaf_table_stage(h, raw, len(raw), stream, opts or NULL, len(opts), slot), slot)


_FINALIZE_MODES = ("write", "append")


def _mode_name(mode: Any) -> str:
    name = mode if isinstance(mode, str) else getattr(mode, "name", getattr(mode, "value", mode))
    if not isinstance(name, str) or name.lower() not in _FINALIZE_MODES:
        raise ValueError(f"mode must be 'write' or 'append', not {mode!r}")
    return name.lower()


def finalize_staged(
    h: Handle,
    symbol: str,
    mode: Any,
    metadata: Any,
    prune_previous_versions: Optional[bool],
    sort: bool,
) -> int:
    raw = name_bytes(symbol, "symbol")
    doc: Dict[str, Any] = {"mode": _mode_name(mode)}
    if sort:
        doc["sort"] = True
    if prune_previous_versions is not None:
        doc["prune_previous_versions"] = bool(prune_previous_versions)
    opts = options_bytes(doc)
    meta_ptr, meta_len = _meta_args(metadata_bytes(metadata))
    version = ffi.new("uint64_t *")
    slot = errslot()
    check(
        lib.sheaf_table_finalize_staged(
            h, raw, len(raw), meta_ptr, meta_len, opts, len(opts), version, slot
        ),
        slot,
    )
    return int(version[0])


def staged_symbols(h: Handle) -> List[str]:
    out = ffi.new("SheafBytes *")
    slot = errslot()
    check(lib.sheaf_table_list_staged_symbols(h, out, slot), slot)
    names: List[str] = json.loads(take_bytes(out))
    return names


def delete_staged(h: Handle, symbol: str) -> int:
    raw = name_bytes(symbol, "symbol")
    count = ffi.new("uint64_t *")
    slot = errslot()
    check(lib.sheaf_table_delete_staged(h, raw, len(raw), count, slot), slot)
    return int(count[0])


# --------------------------------------------------------------------------------------------
# Other commits
# --------------------------------------------------------------------------------------------


def delete_data_in_range(
    h: Handle, symbol: str, date_range: Any, prune_previous_versions: Optional[bool]
) -> int:
    if date_range is None:
        raise TypeError("delete_data_in_range needs a date_range")
    raw = name_bytes(symbol, "symbol")
    opts = options_bytes(update_options(date_range, False, prune_previous_versions))
    version = ffi.new("uint64_t *")
    slot = errslot()
    check(
        lib.sheaf_table_delete_data_in_range(h, raw, len(raw), opts, len(opts), version, slot),
        slot,
    )
    return int(version[0])


def compact(h: Handle, symbol: str, rows_per_segment: Optional[int]) -> int:
    raw = name_bytes(symbol, "symbol")
    doc: Dict[str, Any] = {}
    if rows_per_segment is not None:
        doc["rows_per_segment"] = _count(rows_per_segment, "rows_per_segment")
    opts = options_bytes(doc)
    version = ffi.new("uint64_t *")
    slot = errslot()
    check(lib.sheaf_table_compact(h, raw, len(raw), opts or NULL, len(opts), version, slot), slot)
    return int(version[0])


def prune_previous_versions(h: Handle, symbol: str) -> None:
    raw = name_bytes(symbol, "symbol")
    slot = errslot()
    check(lib.sheaf_table_prune_previous_versions(h, raw, len(raw), slot), slot)


def read_info(h: Handle, symbol: str, as_of: Any) -> Tuple[Dict[str, Any], Any]:
    """The version info and decoded metadata of ``symbol`` at ``as_of``."""
    raw = name_bytes(symbol, "symbol")
    opts = as_of_options(as_of)
    info_b = ffi.new("SheafBytes *")
    meta_b = ffi.new("SheafBytes *")
    slot = errslot()
    check(
        lib.sheaf_table_read_metadata(
            h, raw, len(raw), opts or NULL, len(opts), info_b, meta_b, slot
        ),
        slot,
    )
    info: Dict[str, Any] = json.loads(take_bytes(info_b))
    meta_raw = take_bytes(meta_b)
    return info, _metadata.decode(meta_raw) if info.get("has_metadata") else None


def committed_info(h: Handle, symbol: str, version: int) -> Optional[Dict[str, Any]]:
    """The info of a version just committed (``None`` if a racing prune removed it already)."""
    from .errors import NotFoundError

    raw = name_bytes(symbol, "symbol")
    opts = b'{"as_of":%d}' % version
    info_b = ffi.new("SheafBytes *")
    slot = errslot()
    try:
        check(
            lib.sheaf_table_read_metadata(h, raw, len(raw), opts, len(opts), info_b, NULL, slot),
            slot,
        )
    except NotFoundError:
        return None
    info: Dict[str, Any] = json.loads(take_bytes(info_b))
    return info


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def read_stream(h: Handle, symbol: str, doc: Dict[str, Any]) -> Tuple[Any, Dict[str, Any], Any]:
    """Starts a read: (stream, info, decoded metadata). The caller consumes the stream."""
    raw = name_bytes(symbol, "symbol")
    opts = options_bytes(doc)
    stream = ffi.new("struct ArrowArrayStream *")
    info_b = ffi.new("SheafBytes *")
    meta_b = ffi.new("SheafBytes *")
    slot = errslot()
    check(
        lib.sheaf_table_read(
            h, raw, len(raw), opts or NULL, len(opts), stream, info_b, meta_b, slot
        ),
        slot,
    )
    try:
        info: Dict[str, Any] = json.loads(take_bytes(info_b))
        meta_raw = take_bytes(meta_b)
        metadata = _metadata.decode(meta_raw) if info.get("has_metadata") else None
    except BaseException:
        _arrow_c.release_stream(stream)
        raise
    return stream, info, metadata


def _pandas_meta(raw: Optional[str]) -> Optional[Dict[str, Any]]:
    if not raw:
        return None
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def _peek_schema(stream: Any) -> Tuple[List[str], Dict[str, str]]:
    """The column names and schema metadata of an unconsumed stream (it stays usable)."""
    schema = ffi.new("struct ArrowSchema *")
    rc = stream.get_schema(stream, schema)
    if rc:
        raise _arrow_c.stream_error(stream, rc, "reading the stream's schema")
    try:
        names = [
            ffi.string(schema.children[i].name).decode("utf-8") for i in range(schema.n_children)
        ]
        return names, _arrow_c.parse_metadata(schema.metadata)
    finally:
        if schema.release != ffi.NULL:
            schema.release(schema)


def missing_pandas_index(stream: Any) -> List[str]:
    """Index columns the stored pandas metadata names but a column selection left out."""
    names, md = _peek_schema(stream)
    meta = _pandas_meta(md.get("pandas"))
    if meta is None:
        return []
    wanted = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    return [c for c in wanted if c not in names]


def _rows_read(total: int, doc: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    """The positions ``[lo, hi)`` in the version of the rows a read returns, when its options
    only select rows by position (``row_range``, and query clauses ``row_range`` / ``head`` /
    ``tail``); ``None`` when they cannot be known (a date range, a filter, an aggregation)."""
    if "date_range" in doc:
        return None
    lo, hi = 0, total
    row_range = doc.get("row_range")
    if row_range is not None:
        lo, hi, _ = slice(row_range[0], row_range[1]).indices(total)
        hi = max(lo, hi)
    for clause in doc.get("query") or []:
        if not isinstance(clause, dict) or len(clause) != 1:
            return None
        ((kind, arg),) = clause.items()
        if kind == "row_range" and isinstance(arg, list) and len(arg) == 2:
            a, b, _ = slice(arg[0], arg[1]).indices(hi - lo)
            lo, hi = lo + a, lo + max(a, b)
        elif kind == "head" and isinstance(arg, int):
            hi = min(lo + arg, hi) if arg >= 0 else max(lo, hi + arg)
        elif kind == "tail" and isinstance(arg, int):
            lo = max(lo, hi - arg) if arg >= 0 else min(hi, lo - arg)
        else:
            return None
    return lo, hi


def _fix_range_index(table: Any, rows: Optional[Tuple[int, int]]) -> Any:
    """Makes a stored RangeIndex describe the rows actually read.

    ``rows``: the positions ``[lo, hi)`` of the rows read in the version (see
    :func:`_rows_read`); the range continues with its step, also over rows appended after the
    first write. ``None`` (rows filtered by a query or a date range): a fresh ``RangeIndex``
    ``0..n`` (ArcticDB does the same), with the stored index's name.
    """
    md = table.schema.metadata or {}
    meta = _pandas_meta(md.get(b"pandas", b"").decode("utf-8", "replace") or None)
    if meta is None:
        return table
    columns = meta.get("index_columns", [])
    ranges = [c for c in columns if isinstance(c, dict) and c.get("kind") == "range"]
    if len(ranges) != 1 or len(columns) != 1:
        return table
    entry = ranges[0]
    start, step = int(entry.get("start", 0)), int(entry.get("step", 1)) or 1
    if rows is not None and rows[1] - rows[0] == table.num_rows:
        new = (start + step * rows[0], start + step * rows[1], step)
    else:
        new = (0, int(table.num_rows), 1)
    if new == (entry.get("start"), entry.get("stop"), entry.get("step")):
        return table
    entry["start"], entry["stop"], entry["step"] = new
    md = dict(md)
    md[b"pandas"] = json.dumps(meta).encode()
    return table.replace_schema_metadata(md)


def import_data(
    stream: Any,
    fmt: str,
    info: Dict[str, Any],
    doc: Dict[str, Any],
    reread: Callable[[Dict[str, Any]], Tuple[Any, Dict[str, Any], Any]],
) -> Any:
    """Consumes ``stream`` (always released) into ``fmt``.

    pandas output of a column selection keeps the pandas index columns (one more read, at the
    version already resolved, with the same query, when the selection left them out); a
    RangeIndex is re-based to the rows read (a fresh ``0..n`` after a filter). Aggregated
    results (their schema names the key columns under ``sheaf:index``) are indexed by their
    keys in pandas; other formats keep them as columns.
    """
    index = info.get("index")
    total = int(info.get("rows", 0))
    queried = bool(doc.get("query"))
    ranged = "row_range" in doc or "date_range" in doc or queried
    if fmt == "numpy":
        cols = _convert.import_output(stream, "numpy", index, None if ranged else total)
        if queried and cols.index is not None and cols.index not in cols:
            cols.index = None  # e.g. a group-by: the index column is not in the result
        return cols
    if fmt != "pandas":
        return _convert.import_output(stream, fmt, index, total)
    try:
        if "columns" in doc:
            missing = missing_pandas_index(stream)
            if missing:
                _arrow_c.release_stream(stream)
                again = dict(doc)  # the same query too
                again["columns"] = list(doc["columns"]) + missing
                if not isinstance(doc.get("as_of"), str):  # snapshots are immutable
                    again["as_of"] = int(info["version"])
                stream, info, _ = reread(again)
        table = _convert._read_table(stream)
    finally:
        _arrow_c.release_stream(stream)
    if _convert.AGGREGATE_KEY not in (table.schema.metadata or {}):
        table = _fix_range_index(table, _rows_read(total, doc))
    return _convert._to_pandas(table, index)


# --------------------------------------------------------------------------------------------
# Descriptions
# --------------------------------------------------------------------------------------------


class NameWithDType(NamedTuple):
    """A column of a :class:`SymbolDescription`: its name, Arrow type (as the library spells
    it, e.g. ``"Int64"``, ``"LargeUtf8"``, ``'Timestamp(ns, "UTC")'``) and nullability."""

    name: str
    dtype: str
    nullable: bool = True


@dataclass(frozen=True)
class SymbolDescription:
    """What :meth:`Library.get_description` returns (ArcticDB's ``SymbolDescription``).

    Attributes:
        symbol: the symbol.
        version: the version described.
        columns: the data columns (the index column excluded) as :class:`NameWithDType`.
        index: the Sheaf index column, or ``None`` (e.g. a pandas RangeIndex).
        index_type: ``"timestamp"``, ``"date"``, ``"integer"`` or ``"none"``.
        row_count: the number of rows.
        date_range: ``(first, last)`` index values of a timestamp or date index:
            ``pandas.Timestamp`` when pandas is installed, else ``datetime.datetime``
            (microseconds; naive for a naive index; for an index with a time zone, aware in
            that zone, or in UTC where the zone cannot be resolved: Python 3.8 has no
            ``zoneinfo``) or ``datetime.date``; ``None`` for other indexes and empty symbols.
        index_range: ``(first, last)`` raw index values (integers in the index unit), or ``None``.
        sorted: ``"ASCENDING"``, ``"UNSORTED"`` or ``"UNKNOWN"`` (no index).
        last_update_time: when the version was written (UTC datetime).
        last_update_time_ns: the same in nanoseconds since the epoch.
        segments: the number of stored segments.
        stored_bytes: the bytes those segments take in storage (after compression).
        has_metadata: whether the version has user metadata.
    """

    symbol: str
    version: int
    columns: Tuple[NameWithDType, ...]
    index: Optional[NameWithDType]
    index_type: str
    row_count: int
    date_range: Optional[Tuple[Any, Any]]
    index_range: Optional[Tuple[int, int]]
    sorted: str
    last_update_time: _dt.datetime
    last_update_time_ns: int
    segments: int
    stored_bytes: int
    has_metadata: bool


_TS = re.compile(r'^Timestamp\(\s*([A-Za-zµ]+)\s*(?:,\s*(?:Some\()?\s*"([^"]*)"\s*\)?)?\s*\)$')
_UNIT_NS = {
    "s": 10**9,
    "second": 10**9,
    "ms": 10**6,
    "millisecond": 10**6,
    "us": 10**3,
    "µs": 10**3,
    "microsecond": 10**3,
    "ns": 1,
    "nanosecond": 1,
}


def _timestamp_type(dtype: str) -> Optional[Tuple[int, Optional[str]]]:
    m = _TS.match(dtype)
    if not m:
        return None
    unit = _UNIT_NS.get(m.group(1).lower())
    if unit is None:
        return None
    return unit, m.group(2)


def _instant(ns: int, tz: Optional[str]) -> Any:
    import sys

    pd = sys.modules.get("pandas")
    if pd is None:
        try:
            import pandas as pd
        except ImportError:
            pd = None
    if pd is not None:
        ts = pd.Timestamp(ns, unit="ns", tz="UTC" if tz else None)
        return ts.tz_convert(tz) if tz else ts
    when = _EPOCH + _dt.timedelta(microseconds=ns // 1000)
    if not tz:
        return when.replace(tzinfo=None)
    return when.astimezone(_tzinfo(tz))


def _tzinfo(tz: str) -> _dt.tzinfo:
    m = re.match(r"^([+-])(\d\d):?(\d\d)$", tz)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return _dt.timezone(sign * _dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    if tz.upper() in ("UTC", "Z"):
        return _dt.timezone.utc
    try:
        from zoneinfo import ZoneInfo  # Python 3.9+

        return ZoneInfo(tz)
    except Exception:
        return _dt.timezone.utc


def _column(doc: Dict[str, Any]) -> NameWithDType:
    return NameWithDType(str(doc["name"]), str(doc["type"]), bool(doc.get("nullable", True)))


def describe(h: Handle, symbol: str, as_of: Any) -> SymbolDescription:
    raw = name_bytes(symbol, "symbol")
    opts = as_of_options(as_of)
    out = ffi.new("SheafBytes *")
    slot = errslot()
    check(lib.sheaf_table_describe(h, raw, len(raw), opts or NULL, len(opts), out, slot), slot)
    doc = json.loads(take_bytes(out))
    index = _column(doc["index"]) if doc.get("index") else None
    raw_range = doc.get("index_range")
    index_range = (int(raw_range[0]), int(raw_range[1])) if raw_range else None
    index_type = "none"
    date_range: Optional[Tuple[Any, Any]] = None
    if index is not None:
        ts = _timestamp_type(index.dtype)
        if ts is not None:
            index_type = "timestamp"
            if index_range is not None:
                unit, tz = ts
                date_range = (
                    _instant(index_range[0] * unit, tz),
                    _instant(index_range[1] * unit, tz),
                )
        elif index.dtype in ("Date32", "Date64"):
            index_type = "date"
            if index_range is not None:
                per_day = 1 if index.dtype == "Date32" else 86_400_000
                date_range = (
                    _dt.date(1970, 1, 1) + _dt.timedelta(days=index_range[0] // per_day),
                    _dt.date(1970, 1, 1) + _dt.timedelta(days=index_range[1] // per_day),
                )
        else:
            index_type = "integer"
    ns = int(doc["last_update_time_ns"])
    return SymbolDescription(
        symbol=doc["symbol"],
        version=int(doc["version"]),
        columns=tuple(_column(c) for c in doc["columns"]),
        index=index,
        index_type=index_type,
        row_count=int(doc["row_count"]),
        date_range=date_range,
        index_range=index_range,
        sorted=str(doc["sorted"]),
        last_update_time=_EPOCH + _dt.timedelta(microseconds=ns // 1000),
        last_update_time_ns=ns,
        segments=int(doc.get("segments", 0)),
        stored_bytes=int(doc.get("stored_bytes", 0)),
        has_metadata=bool(doc.get("has_metadata")),
    )


# --------------------------------------------------------------------------------------------
# Listings and snapshots
# --------------------------------------------------------------------------------------------


def list_symbols(h: Handle, snapshot_name: Optional[str], regex: Optional[str] = None) -> List[str]:
    out = ffi.new("SheafBytes *")
    slot = errslot()
    if snapshot_name is None and regex is None:
        check(lib.sheaf_table_list_symbols(h, out, slot), slot)
    else:
        if snapshot_name is not None:
            name_bytes(snapshot_name, "snapshot name")
        if regex is not None and not isinstance(regex, str):
            raise TypeError(f"regex must be a str, not {type(regex).__name__}")
        options = json.dumps({"snapshot": snapshot_name, "regex": regex}).encode()
        check(lib.sheaf_table_list_symbols_filtered(h, options, len(options), out, slot), slot)
    names: List[str] = json.loads(take_bytes(out))
    return names


def query_versions(
    h: Handle, symbol: Optional[str], snapshot: Optional[str], latest_only: bool
) -> List[Dict[str, Any]]:
    doc: Dict[str, Any] = {}
    if symbol is not None:
        name_bytes(symbol, "symbol")
        doc["symbol"] = symbol
    if snapshot is not None:
        name_bytes(snapshot, "snapshot")
        doc["snapshot"] = snapshot
    if latest_only:
        doc["latest_only"] = True
    opts = options_bytes(doc)
    out = ffi.new("SheafBytes *")
    slot = errslot()
    check(lib.sheaf_table_query_versions(h, opts or NULL, len(opts), out, slot), slot)
    infos: List[Dict[str, Any]] = json.loads(take_bytes(out))
    return infos


def create_snapshot(
    h: Handle,
    name: str,
    metadata: Any,
    skip_symbols: Optional[Iterable[str]],
    versions: Optional[Dict[str, int]],
) -> None:
    raw = name_bytes(name, "snapshot name")
    doc: Dict[str, Any] = {}
    if skip_symbols is not None:
        doc["skip_symbols"] = columns_value(skip_symbols)
    if versions is not None:
        pinned: Dict[str, int] = {}
        for sym, v in dict(versions).items():
            name_bytes(sym, "symbol")
            if isinstance(v, bool) or not hasattr(v, "__index__") or v.__index__() < 0:
                raise TypeError(f"versions[{sym!r}] must be a version number, not {v!r}")
            pinned[sym] = v.__index__()
        doc["versions"] = pinned
    opts = options_bytes(doc)
    meta_ptr, meta_len = _meta_args(metadata_bytes(metadata))
    slot = errslot()
    check(
        lib.sheaf_snapshot_create(
            h, raw, len(raw), meta_ptr, meta_len, opts or NULL, len(opts), slot
        ),
        slot,
    )


def list_snapshots(h: Handle) -> List[Dict[str, Any]]:
    out = ffi.new("SheafBytes *")
    slot = errslot()
    check(lib.sheaf_snapshot_list(h, out, slot), slot)
    snaps: List[Dict[str, Any]] = json.loads(take_bytes(out))
    return snaps


def snapshot_metadata(h: Handle, name: str) -> Any:
    raw = name_bytes(name, "snapshot name")
    out = ffi.new("SheafBytes *")
    has = ffi.new("bool *")
    slot = errslot()
    check(lib.sheaf_snapshot_read_metadata(h, raw, len(raw), out, has, slot), slot)
    data = take_bytes(out)
    return _metadata.decode(data) if has[0] else None


def delete_snapshot(h: Handle, name: str) -> None:
    raw = name_bytes(name, "snapshot name")
    slot = errslot()
    check(lib.sheaf_snapshot_delete(h, raw, len(raw), slot), slot)
