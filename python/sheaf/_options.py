"""How Python arguments become the library's option documents and names.

Every call of the C ABI that takes options takes a JSON document; this module turns ``as_of``,
``date_range``, ``row_range``, ``columns``, write / update / finalize / snapshot options,
library options and batch items into those documents, and checks the arguments on the way
(``TypeError`` / ``ValueError`` before any call). It calls nothing, so the query builder and
:mod:`sheaf.library` share it; the encodings are the library's (see ``include/sheaf.h``).

Conventions:

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
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from . import _metadata
from ._types import (
    DeleteRequest,
    MergeAction,
    MergeStrategy,
    ReadInfoRequest,
    ReadRequest,
    VersionRequestType,
)

__all__ = [
    "LibraryOptions",
    "as_of_value",
    "date_range_value",
    "row_range_value",
    "read_options",
    "write_options",
    "update_options",
    "head_range",
    "tail_range",
]

EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_EPOCH_NAIVE = _dt.datetime(1970, 1, 1)
_NS_PER_DAY = 86_400 * 10**9
_COMPRESSIONS = ("lz4", "zstd", "none")
_FINALIZE_MODES = ("write", "append")


def options_bytes(doc: Dict[str, Any]) -> bytes:
    """The JSON text of an options document (``b""`` when empty: the library's defaults)."""
    return json.dumps(doc, separators=(",", ":")).encode() if doc else b""


def name_bytes(name: str, what: str) -> bytes:
    """A name as UTF-8 for the C ABI (``TypeError`` unless it is a ``str``)."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    return name.encode("utf-8")


def is_nat(value: Any) -> bool:
    return type(value).__name__ == "NaTType"


def to_ns(value: Any, what: str) -> int:
    """Nanoseconds since the Unix epoch of a datetime-like (naive = UTC)."""
    if isinstance(value, _dt.datetime):
        if is_nat(value):
            raise ValueError(f"{what} is NaT")
        ns = getattr(value, "value", None)
        if isinstance(ns, int) and hasattr(value, "nanosecond"):  # pandas.Timestamp
            return ns
        delta = value - (EPOCH if value.tzinfo is not None else _EPOCH_NAIVE)
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


def is_datetime_like(value: Any) -> bool:
    return isinstance(value, _dt.date) or type(value).__name__ == "datetime64"


def as_of_value(as_of: Any) -> Any:
    """The JSON value of an ``as_of`` argument (``None`` = latest)."""
    if as_of is None or isinstance(as_of, str):
        return as_of
    if isinstance(as_of, bool):
        raise TypeError("as_of must be a version number, a snapshot name or a datetime, not bool")
    if is_datetime_like(as_of):
        if not isinstance(as_of, _dt.datetime) and isinstance(as_of, _dt.date):
            raise TypeError("as_of must be a datetime (with a time), not a date")
        return {"timestamp_ns": to_ns(as_of, "as_of")}
    if hasattr(as_of, "__index__"):
        return as_of.__index__()
    raise TypeError(
        "as_of must be None, a version number (negative counts back from the latest), a "
        f"snapshot name (str) or a datetime, not {type(as_of).__name__}"
    )


def version_request(as_of: Any) -> Tuple[VersionRequestType, Any]:
    """A read's ``as_of`` as ArcticDB's ``DataError`` reports it: ``(LATEST, None)``,
    ``(SPECIFIC, version)``, ``(SNAPSHOT, name)`` or ``(TIMESTAMP, nanoseconds since the
    epoch)``."""
    value = as_of_value(as_of)
    if value is None:
        return VersionRequestType.LATEST, None
    if isinstance(value, str):
        return VersionRequestType.SNAPSHOT, value
    if isinstance(value, dict):
        return VersionRequestType.TIMESTAMP, value["timestamp_ns"]
    return VersionRequestType.SPECIFIC, value


def _bound(value: Any, what: str) -> Any:
    if value is None or is_nat(value):
        return None
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a datetime-like, an int or None, not bool")
    if is_datetime_like(value):
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
    """The JSON value of a ``row_range`` (``iloc`` semantics; ``None`` ends are open)."""
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
    """A list of column names (also symbols to skip), checked."""
    if isinstance(columns, (str, bytes)):
        raise TypeError("columns must be a list of column names, not a single string")
    names = list(columns)
    for c in names:
        if not isinstance(c, str):
            raise TypeError(f"column names are str, not {type(c).__name__} ({c!r})")
    return names


def read_options(
    as_of: Any = None,
    date_range: Any = None,
    row_range: Any = None,
    columns: Any = None,
    plan: Optional[List[Any]] = None,
    stream: bool = False,
) -> Dict[str, Any]:
    """The read options document (only the fields that are set); ``plan`` is a query plan
    (``QueryBuilder.to_json()``; ``None`` or empty: no query). A read without a query asks
    for one contiguous buffer per column: a Python read collects its whole result, and pandas
    and numpy then take the columns without copying them. ``stream``: a read handed on
    unread (a reader), one batch per segment loaded as it is consumed."""
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
    if plan:
        doc["query"] = plan
    elif not stream:
        doc["contiguous"] = True
    return doc


#: The Arrow string types a read can give string columns (ArcticDB's names accepted too).
STRING_FORMATS = {
    "large_string": "large_string",
    "large_utf8": "large_string",
    "string": "string",
    "utf8": "string",
    "small_string": "string",
    "string_view": "string_view",
    "utf8_view": "string_view",
    "categorical": "categorical",
}


def string_format(value: Any, what: str) -> Optional[str]:
    """One string format: ``None``, a name (``"large_string"``, ``"string"``,
    ``"string_view"``, ``"categorical"``; ArcticDB's ``ArrowOutputStringFormat`` members and
    ``"SMALL_STRING"`` too, any case) or a pyarrow type (``pa.large_string()``,
    ``pa.string()``, ``pa.string_view()``, a dictionary of strings)."""
    if value is None:
        return None
    name = getattr(value, "name", None)  # an enum member, e.g. ArrowOutputStringFormat
    text = value if isinstance(value, str) else name if isinstance(name, str) else str(value)
    if text.startswith("dictionary<"):
        text = "categorical"
    found = STRING_FORMATS.get(text.lower())
    if found is None:
        raise ValueError(
            f"{what} must be one of {sorted(set(STRING_FORMATS.values()))} or a pyarrow string "
            f"type, not {value!r}"
        )
    return found


def string_formats(default: Any, per_column: Any) -> Optional[Dict[str, Any]]:
    """The ``strings`` read option, or ``None`` when nothing is asked."""
    doc: Dict[str, Any] = {}
    chosen = string_format(default, "arrow_string_format_default")
    if chosen is not None:
        doc["default"] = chosen
    if per_column:
        if not isinstance(per_column, dict):
            raise TypeError(
                "arrow_string_format_per_column must be a dict of column name -> format, not "
                f"{type(per_column).__name__}"
            )
        columns: Dict[str, str] = {}
        for name, value in per_column.items():
            if not isinstance(name, str):
                raise TypeError(f"column names are str, not {type(name).__name__}")
            fmt = string_format(value, f"the string format of column {name!r}")
            if fmt is not None:
                columns[name] = fmt
        if columns:
            doc["columns"] = columns
    return doc or None


def as_of_options(as_of: Any) -> bytes:
    """The options text of a call that takes only ``as_of``."""
    value = as_of_value(as_of)
    return b"" if value is None else options_bytes({"as_of": value})


def count(n: Any, what: str) -> int:
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    return int(n.__index__())


def head_range(n: Any) -> List[Optional[int]]:
    """``head(n)``: the first ``n`` rows; ``head(-k)``: all but the last ``k``."""
    n = count(n, "n")
    return [0, n]


def tail_range(n: Any) -> List[Optional[int]]:
    """``tail(n)``: the last ``n`` rows; ``tail(-k)``: all but the first ``k``."""
    n = count(n, "n")
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


def merge_call_options(
    strategy: Any, on: Optional[Sequence[str]], prune_previous_versions: Optional[bool]
) -> Dict[str, Any]:
    """Merge options: the strategy's actions, the ``on`` columns, pruning."""
    if not isinstance(strategy, MergeStrategy):
        raise TypeError(f"strategy is a sheaf.MergeStrategy, not {type(strategy).__name__}")

    def action(value: Any, field: str) -> str:
        if isinstance(value, MergeAction):
            return value.value
        if isinstance(value, str) and value.lower() in ("do_nothing", "update", "insert"):
            return value.lower()
        raise TypeError(f"MergeStrategy.{field} is a sheaf.MergeAction, not {value!r}")

    doc: Dict[str, Any] = {
        "matched": action(strategy.matched, "matched"),
        "not_matched_by_target": action(strategy.not_matched_by_target, "not_matched_by_target"),
    }
    if on is not None:
        if isinstance(on, str) or not all(isinstance(c, str) for c in on):
            raise TypeError("on is a list of column names")
        doc["on"] = list(on)
    if prune_previous_versions is not None:
        doc["prune_previous_versions"] = bool(prune_previous_versions)
    return doc


def write_options(
    index: Optional[str], validate_index: bool, prune_previous_versions: Optional[bool]
) -> Dict[str, Any]:
    """Write / append / stage options: the index column, index validation, pruning."""
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
    """User metadata as Sheaf's JSON bytes (``None``: no metadata)."""
    return None if metadata is None else _metadata.encode(metadata)


def _mode_name(mode: Any) -> str:
    name = mode if isinstance(mode, str) else getattr(mode, "name", getattr(mode, "value", mode))
    if not isinstance(name, str) or name.lower() not in _FINALIZE_MODES:
        raise ValueError(f"mode must be 'write' or 'append', not {mode!r}")
    return name.lower()


def finalize_options(
    mode: Any,
    prune_previous_versions: Optional[bool],
    sort: bool,
    chunks: Optional[List[str]] = None,
    validate_index: bool = True,
    delete_staged_data_on_failure: bool = False,
) -> bytes:
    """The options text of ``finalize_staged_data`` / ``sort_and_finalize_staged_data``
    (``mode`` ``None`` = write, as ArcticDB)."""
    doc: Dict[str, Any] = {"mode": "write" if mode is None else _mode_name(mode)}
    if sort:
        doc["sort"] = True
    if prune_previous_versions is not None:
        doc["prune_previous_versions"] = bool(prune_previous_versions)
    if chunks is not None:
        doc["chunks"] = chunks
    if not validate_index:
        doc["validate_index"] = False
    if delete_staged_data_on_failure:
        doc["delete_staged_data_on_failure"] = True
    return options_bytes(doc)


def stage_options(
    index: Optional[str], validate_index: bool, sort_on_index: bool, sort_columns: Any
) -> Dict[str, Any]:
    """The options document of ``stage``."""
    doc = write_options(index, validate_index, None)
    if sort_on_index:
        doc["sort_on_index"] = True
    if sort_columns:
        if isinstance(sort_columns, str) or not all(isinstance(c, str) for c in sort_columns):
            raise TypeError("sort_columns must be a list of column names")
        doc["sort_columns"] = list(sort_columns)
    return doc


def compact_options(rows_per_segment: Optional[int]) -> bytes:
    """The options text of ``compact_data``."""
    doc: Dict[str, Any] = {}
    if rows_per_segment is not None:
        doc["rows_per_segment"] = count(rows_per_segment, "rows_per_segment")
    return options_bytes(doc)


def prune_options(prune_previous_versions: Optional[bool]) -> bytes:
    """The options text of ``write_metadata`` (only ``prune_previous_versions``)."""
    if prune_previous_versions is None:
        return b""
    return b'{"prune_previous_versions":%s}' % (b"true" if prune_previous_versions else b"false")


def snapshot_options(
    skip_symbols: Optional[Iterable[str]], versions: Optional[Dict[str, int]]
) -> bytes:
    """The options text of ``snapshot``: symbols to skip, or the exact versions to pin."""
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
    return options_bytes(doc)


def list_symbols_options(snapshot_name: Optional[str], regex: Optional[str]) -> bytes:
    """The options text of a filtered symbol listing."""
    if snapshot_name is not None:
        name_bytes(snapshot_name, "snapshot name")
    if regex is not None and not isinstance(regex, str):
        raise TypeError(f"regex must be a str, not {type(regex).__name__}")
    return json.dumps({"snapshot": snapshot_name, "regex": regex}).encode()


def query_versions_options(
    symbol: Optional[str], snapshot: Optional[str], latest_only: bool
) -> bytes:
    """The options text of ``list_versions``."""
    doc: Dict[str, Any] = {}
    if symbol is not None:
        name_bytes(symbol, "symbol")
        doc["symbol"] = symbol
    if snapshot is not None:
        name_bytes(snapshot, "snapshot")
        doc["snapshot"] = snapshot
    if latest_only:
        doc["latest_only"] = True
    return options_bytes(doc)


def version_list(versions: Any, what: str) -> List[int]:
    """Version numbers of a delete: an int or an iterable of non-negative ints."""
    if isinstance(versions, bool):
        raise TypeError(f"versions must be an int or {what}")
    items = [versions] if isinstance(versions, int) else list(versions)
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise TypeError(f"version numbers are non-negative ints, not {v!r}")
    return items


@dataclass(frozen=True)
class LibraryOptions:
    """Options fixed when a library is created.

    Attributes:
        rows_per_segment: rows per stored segment (default 100 000).
        compression: ``"lz4"`` (default), ``"zstd"`` or ``"none"``.
        prune_previous_versions: whether each write (write, append, update, ...) deletes the
            earlier versions by default (a call's ``prune_previous_versions`` overrides it).
        dynamic_schema: whether ``append`` and ``update`` (and staged appends) may change the
            columns: add columns (null in older rows), omit stored ones (null-filled), widen an
            integer to a wider integer or to float64, float32 to float64. Without it the
            columns must match the stored ones (:class:`sheaf.SchemaError`).
    """

    rows_per_segment: Optional[int] = None
    compression: Optional[str] = None
    prune_previous_versions: Optional[bool] = None
    dynamic_schema: Optional[bool] = None

    def to_json(self) -> bytes:
        doc: Dict[str, Any] = {}
        if self.rows_per_segment is not None:
            if isinstance(self.rows_per_segment, bool) or not isinstance(
                self.rows_per_segment, int
            ):
                raise TypeError("rows_per_segment must be an int")
            doc["rows_per_segment"] = self.rows_per_segment
        if self.compression is not None:
            if self.compression not in _COMPRESSIONS:
                raise ValueError(
                    f"compression must be one of {', '.join(map(repr, _COMPRESSIONS))}, "
                    f"not {self.compression!r}"
                )
            doc["compression"] = self.compression
        if self.prune_previous_versions is not None:
            doc["prune_previous_versions"] = bool(self.prune_previous_versions)
        if self.dynamic_schema is not None:
            doc["dynamic_schema"] = bool(self.dynamic_schema)
        return json.dumps(doc).encode() if doc else b""


def merge_options(
    base: Optional[LibraryOptions],
    rows_per_segment: Optional[int],
    compression: Optional[str],
    prune_previous_versions: Optional[bool],
    dynamic_schema: Optional[bool] = None,
) -> LibraryOptions:
    """``base`` with the keyword options that are not ``None`` put over it."""
    base = base or LibraryOptions()
    return LibraryOptions(
        rows_per_segment=base.rows_per_segment if rows_per_segment is None else rows_per_segment,
        compression=base.compression if compression is None else compression,
        prune_previous_versions=(
            base.prune_previous_versions
            if prune_previous_versions is None
            else prune_previous_versions
        ),
        dynamic_schema=base.dynamic_schema if dynamic_schema is None else dynamic_schema,
    )


def items_bytes(items: List[Dict[str, Any]]) -> bytes:
    return json.dumps(items, separators=(",", ":")).encode()


def batch_symbol(value: Any) -> str:
    name_bytes(value, "symbol")
    return str(value)


def read_request(item: Any) -> ReadRequest:
    if isinstance(item, str):
        return ReadRequest(item)
    if isinstance(item, ReadRequest):
        return item
    raise TypeError(f"read_batch takes symbols (str) or ReadRequest objects, not {item!r}")


def delete_request(item: Any) -> Tuple[str, Optional[List[int]]]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, DeleteRequest) or (isinstance(item, tuple) and len(item) == 2):
        symbol, versions = item
        if versions is None:
            return symbol, None
        return symbol, version_list(versions, "a list of ints")
    raise TypeError(f"delete_batch takes symbols (str) or DeleteRequest objects, not {item!r}")


def read_info_requests(
    symbols: Sequence[Any], as_ofs: Optional[Sequence[Any]]
) -> List[ReadInfoRequest]:
    """The items of ``read_metadata_batch``: symbols or requests, with ``as_ofs`` applied."""
    reqs: List[ReadInfoRequest] = []
    for item in symbols:
        if isinstance(item, str):
            reqs.append(ReadInfoRequest(item))
        elif isinstance(item, (ReadInfoRequest, ReadRequest)):
            reqs.append(ReadInfoRequest(item.symbol, item.as_of))
        else:
            raise TypeError(
                f"read_metadata_batch takes symbols (str) or ReadInfoRequest objects, not {item!r}"
            )
    if as_ofs is not None:
        as_ofs = list(as_ofs)
        if len(as_ofs) != len(reqs):
            raise ValueError(
                f"as_ofs has {len(as_ofs)} entries for {len(reqs)} symbols; give one per symbol"
            )
        reqs = [ReadInfoRequest(r.symbol, a) for r, a in zip(reqs, as_ofs)]
    return reqs


def batch_item(symbol: str, doc: Dict[str, Any]) -> Dict[str, Any]:
    """One item of a batch document: the symbol and its options (left out when empty)."""
    return {"symbol": symbol, "options": doc} if doc else {"symbol": symbol}
