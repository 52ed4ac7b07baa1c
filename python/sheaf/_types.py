"""The value types of the library API: what calls return and what batch calls take.

Results (:class:`VersionedItem`, :class:`VersionInfo`, :class:`SymbolDescription`,
:class:`DataError`, ...) and batch items (:class:`WritePayload`, :class:`ReadRequest`, ...) are
plain data: they hold no handle and call nothing, so they sit in a leaf that the option
encoding, the query builder and :mod:`sheaf.library` all import. The functions here build a
result from the JSON the library returns.
"""

from __future__ import annotations

import datetime as _dt
import enum
import re
import sys
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from .errors import SheafError, error_category, error_class

__all__ = [
    "AUTO",
    "VersionedItem",
    "SymbolVersion",
    "VersionInfo",
    "NameWithDType",
    "SymbolDescription",
    "DataError",
    "VersionRequestType",
    "WritePayload",
    "WriteMetadataPayload",
    "StageResult",
    "UpdatePayload",
    "ReadRequest",
    "ReadInfoRequest",
    "DeleteRequest",
]

EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class _Auto:
    """The default of ``index=``: choose the index column from the data (see ``Library.write``)."""

    def __repr__(self) -> str:
        return "AUTO"


AUTO: Any = _Auto()


@dataclass(frozen=True)
class VersionedItem:
    """The result of a read or a write.

    Attributes:
        symbol: the symbol.
        library: the library's name.
        data: the data read, in the requested ``output_format``; ``None`` for writes and
            metadata-only calls.
        version: the version number.
        metadata: the version's user metadata (``None`` if it has none; the raw ``bytes`` if
            it is not Sheaf's JSON, e.g. opaque bytes written through the C ABI).
        timestamp: when the version was committed, a timezone-aware :class:`datetime.datetime`
            in UTC (microsecond precision; ``timestamp_ns`` is exact). Writes fetch it right
            after committing; it is ``None`` only if a concurrent prune removed the new version
            before that.
        timestamp_ns: the commit time in nanoseconds since the Unix epoch (or ``None``).
        rows: the number of rows of the version (all of them, also for a ranged read).
        index: the version's Sheaf index column, if any.
        host: where the store lives (its URI, as the store was opened), as ArcticDB names its
            storage here; ``None`` for items made outside a library.
    """

    symbol: str
    library: str
    data: Any
    version: int
    metadata: Any = None
    timestamp: Optional[_dt.datetime] = None
    timestamp_ns: Optional[int] = None
    rows: Optional[int] = None
    index: Optional[str] = None
    host: Optional[str] = None


class SymbolVersion(NamedTuple):
    """A key of :meth:`Library.list_versions`."""

    symbol: str
    version: int


class VersionInfo(NamedTuple):
    """A value of :meth:`Library.list_versions`.

    ``date`` is the commit time (UTC datetime); ``deleted`` is True for a version deleted from
    the symbol's chain that a snapshot still holds; ``snapshots`` names the snapshots holding
    the version.
    """

    date: _dt.datetime
    deleted: bool
    snapshots: List[str]
    timestamp_ns: int
    rows: int
    index_column: Optional[str]
    has_metadata: bool


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


class WritePayload:
    """One item of :meth:`Library.write_batch` / :meth:`Library.append_batch`.

    Args:
        symbol: the symbol.
        data: anything :meth:`Library.write` takes.
        metadata: the version's metadata (``None`` = none).
        index: the Sheaf index column, as in :meth:`Library.write` (default: detected).

    It unpacks as ArcticDB's does, into the arguments of :meth:`Library.write`:
    ``lib.write(*payload)`` (symbol, data, then metadata when there is some).
    """

    __slots__ = ("data", "index", "metadata", "symbol")

    def __init__(self, symbol: str, data: Any, metadata: Any = None, *, index: Any = AUTO) -> None:
        self.symbol = symbol
        self.data = data
        self.metadata = metadata
        self.index = index

    def __iter__(self) -> Iterator[Any]:
        yield self.symbol
        yield self.data
        if self.metadata is not None:
            yield self.metadata

    def __repr__(self) -> str:
        return f"WritePayload({self.symbol!r}, <{type(self.data).__name__}>, {self.metadata!r})"


class WriteMetadataPayload:
    """One item of :meth:`Library.write_metadata_batch` (ArcticDB's): new ``metadata`` for
    ``symbol`` (``None`` = none)."""

    __slots__ = ("metadata", "symbol")

    def __init__(self, symbol: str, metadata: Any) -> None:
        self.symbol = symbol
        self.metadata = metadata

    def __iter__(self) -> Iterator[Any]:
        yield self.symbol
        yield self.metadata

    def __repr__(self) -> str:
        return f"WriteMetadataPayload({self.symbol!r}, {self.metadata!r})"


class UpdatePayload:
    """One item of :meth:`Library.update_batch`: ``data`` replaces the span of its index (or
    ``date_range``) in ``symbol``, as in :meth:`Library.update`. ``index_column`` names the
    index column of ``data`` where it cannot be detected (an Arrow table, a polars frame),
    as ``index=`` does for :meth:`Library.update`."""

    __slots__ = ("data", "date_range", "index", "metadata", "symbol")

    def __init__(
        self,
        symbol: str,
        data: Any,
        metadata: Any = None,
        date_range: Any = None,
        index_column: Optional[str] = None,
    ) -> None:
        self.symbol = symbol
        self.data = data
        self.metadata = metadata
        self.date_range = date_range
        self.index = AUTO if index_column is None else index_column

    @property
    def index_column(self) -> Optional[str]:
        return None if self.index is AUTO else self.index

    def __repr__(self) -> str:
        return (
            f"UpdatePayload({self.symbol!r}, <{type(self.data).__name__}>, {self.metadata!r}, "
            f"date_range={self.date_range!r})"
        )


@dataclass(frozen=True)
class StageResult:
    """What :meth:`Library.stage` returns (ArcticDB's ``StageResult``): the staged chunk, which
    ``finalize_staged_data(stage_results=[...])`` takes to finalize only some chunks."""

    symbol: str
    #: The chunk's id in the library (opaque).
    chunk_id: str


@dataclass(frozen=True)
class VersionedItemWithJoin:
    """What collecting a concatenation returns (ArcticDB's ``VersionedItemWithJoin``).

    Attributes:
        data: the concatenated rows in the output format.
        versions: one :class:`VersionedItem` (``data=None``, with its metadata) per symbol
            read, in order.
    """

    data: Any
    versions: List[VersionedItem]

    @property
    def metadata(self) -> List[Any]:
        """The metadata of each version read, in order."""
        return [v.metadata for v in self.versions]


class KeyType(enum.Enum):
    """Kinds of stored values :class:`sheaf.library.AdminTools` measures (ArcticDB's
    ``KeyType`` names where one matches)."""

    #: Segments: the compressed column data (staged chunks' data included).
    TABLE_DATA = "table_data"
    #: Version records: each version's schema, segment list, statistics and metadata.
    VERSION = "version"
    #: Staged chunks' records.
    APPEND_DATA = "append_data"
    #: Snapshots.
    SNAPSHOT_REF = "snapshot_ref"


@dataclass(frozen=True)
class Size:
    """Storage taken by one kind of value (ArcticDB's ``Size``)."""

    bytes_compressed: int
    count: int


def sizes_by_kind(doc: Dict[str, Any]) -> Dict[KeyType, Size]:
    """The ``{kind: {"bytes", "count"}}`` part of a sizes document, every kind present."""
    return {
        kind: Size(
            int(doc.get(kind.value, {}).get("bytes", 0)),
            int(doc.get(kind.value, {}).get("count", 0)),
        )
        for kind in KeyType
    }


class MergeAction(enum.Enum):
    """What :meth:`Library.merge_experimental` does with a row (ArcticDB's ``MergeAction``)."""

    DO_NOTHING = "do_nothing"
    UPDATE = "update"
    INSERT = "insert"


@dataclass(frozen=True)
class MergeStrategy:
    """How :meth:`Library.merge_experimental` treats rows (ArcticDB's ``MergeStrategy``).

    Attributes:
        matched: ``UPDATE`` (a stored row matched by a source row takes its values) or
            ``DO_NOTHING``.
        not_matched_by_target: ``INSERT`` (a source row that matches no stored row is added
            in index order) or ``DO_NOTHING``.
    """

    matched: MergeAction = MergeAction.UPDATE
    not_matched_by_target: MergeAction = MergeAction.INSERT


class ReadRequest(NamedTuple):
    """One item of :meth:`Library.read_batch`; the fields are those of :meth:`Library.read`."""

    symbol: str
    as_of: Any = None
    date_range: Any = None
    row_range: Any = None
    columns: Optional[List[str]] = None
    #: A :class:`sheaf.QueryBuilder` for this item (``None``: the batch's shared one, if any).
    query_builder: Any = None


class ReadInfoRequest(NamedTuple):
    """One item of :meth:`Library.read_metadata_batch`."""

    symbol: str
    as_of: Any = None


class DeleteRequest(NamedTuple):
    """One item of :meth:`Library.delete_batch`: ``version_ids`` ``None`` deletes the symbol."""

    symbol: str
    version_ids: Optional[Sequence[int]] = None


class VersionRequestType(enum.Enum):
    """What a read item of a batch asked for (ArcticDB's ``VersionRequestType``)."""

    SNAPSHOT = "snapshot"
    TIMESTAMP = "timestamp"
    SPECIFIC = "specific"
    LATEST = "latest"


@dataclass(frozen=True)
class DataError:
    """Stands in a batch result for an item that failed (ArcticDB's ``DataError``).

    Attributes:
        symbol: the item's symbol.
        version_request: what the item asked for: the ``as_of`` of a read, the versions of a
            delete, ``None`` for writes.
        error_code: the library's status code (e.g. 302).
        error_category: the code's range: ``"NOT_FOUND"``, ``"SCHEMA"``, ``"CONFLICT"``,
            ``"INVALID_ARGUMENT"``, ``"STORAGE"``, ``"CLOSED"``, ``"INTERNAL"`` or
            ``"GENERIC"``.
        exception_string: the library's message.
        status_name: the code's constant name (e.g. ``"SHEAF_ERR_NO_SUCH_SYMBOL"``).
        version_request_type: for a read item, a :class:`VersionRequestType` (``LATEST``,
            ``SPECIFIC``, ``SNAPSHOT`` or ``TIMESTAMP``); ``None`` for writes and deletes.
        version_request_data: for a read item, the version number, snapshot name or time
            (nanoseconds since the epoch; a naive datetime is UTC) it asked for; ``None`` for
            ``LATEST``, writes and deletes.
    """

    symbol: str
    version_request: Any
    error_code: int
    error_category: str
    exception_string: str
    status_name: str
    version_request_type: Optional[VersionRequestType] = None
    version_request_data: Any = None

    def exception(self) -> SheafError:
        """The exception the same failure raises outside a batch (not raised here)."""
        return error_class(self.error_code)(
            self.exception_string, self.error_code, self.status_name
        )

    def __str__(self) -> str:
        return f"{self.symbol}: [{self.status_name}] {self.exception_string}"


def utc(ns: int) -> _dt.datetime:
    """A UTC datetime (microseconds) from nanoseconds since the Unix epoch."""
    return EPOCH + _dt.timedelta(microseconds=ns // 1000)


def versioned_item(
    info: Dict[str, Any], library: str, data: Any, metadata: Any, host: Optional[str] = None
) -> VersionedItem:
    """The :class:`VersionedItem` of a version info document."""
    ns = int(info["timestamp_ns"])
    return VersionedItem(
        symbol=info["symbol"],
        library=library,
        data=data,
        version=int(info["version"]),
        metadata=metadata,
        timestamp=utc(ns),
        timestamp_ns=ns,
        rows=int(info["rows"]),
        index=info.get("index"),
        host=host,
    )


def version_info(info: Dict[str, Any], skip_snapshots: bool) -> Tuple[SymbolVersion, VersionInfo]:
    """One entry of ``Library.list_versions`` from a version info document."""
    ns = int(info["timestamp_ns"])
    return SymbolVersion(info["symbol"], int(info["version"])), VersionInfo(
        date=utc(ns),
        deleted=bool(info["deleted"]),
        snapshots=[] if skip_snapshots else list(info.get("snapshots", [])),
        timestamp_ns=ns,
        rows=int(info["rows"]),
        index_column=info.get("index"),
        has_metadata=bool(info["has_metadata"]),
    )


def data_error(
    symbol: str,
    request: Any,
    doc: Dict[str, Any],
    requested: Tuple[Optional[VersionRequestType], Any] = (None, None),
) -> DataError:
    """The :class:`DataError` of a failed batch item (``doc``: its ``"error"`` object;
    ``requested``: a read item's version request type and data)."""
    code = int(doc.get("code", 100))
    kind, data = requested
    return DataError(
        symbol=symbol,
        version_request=request,
        error_code=code,
        error_category=error_category(code),
        exception_string=str(doc.get("message", "")),
        status_name=str(doc.get("name", "")),
        version_request_type=kind,
        version_request_data=data,
    )


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
    pd = sys.modules.get("pandas")
    if pd is None:
        try:
            import pandas as pd
        except ImportError:
            pd = None
    if pd is not None:
        ts = pd.Timestamp(ns, unit="ns", tz="UTC" if tz else None)
        return ts.tz_convert(tz) if tz else ts
    when = EPOCH + _dt.timedelta(microseconds=ns // 1000)
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


def symbol_description(doc: Dict[str, Any]) -> SymbolDescription:
    """The :class:`SymbolDescription` of the library's description document."""
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
        last_update_time=utc(ns),
        last_update_time_ns=ns,
        segments=int(doc.get("segments", 0)),
        stored_bytes=int(doc.get("stored_bytes", 0)),
        has_metadata=bool(doc.get("has_metadata")),
    )
