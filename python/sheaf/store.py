"""Stores and libraries: ArcticDB's user model over Sheaf's C ABI."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Literal, NamedTuple, Optional, Union, overload

from . import _batch, _convert, _metadata
from . import _timeseries as _ts
from . import collection as _collection
from . import kv as _kv
from ._batch import DataError, ReadRequest, UpdatePayload, WritePayload
from ._lib import NULL, check, errslot, ffi, lib, take_bytes
from ._timeseries import SymbolDescription
from .errors import NotFoundError
from .query import LazyDataFrame, QueryBuilder

__all__ = [
    "Store",
    "Library",
    "LibraryOptions",
    "VersionedItem",
    "SymbolVersion",
    "VersionInfo",
    "open",
]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_COMPRESSIONS = ("lz4", "zstd", "none")


def _utc(ns: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=ns // 1000)


def _name_bytes(name: str, what: str) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    return name.encode("utf-8")


#: What ``as_of`` takes: ``None`` (latest), a version number (negative counts back), a snapshot
#: name, or a datetime (naive = UTC; the newest version written at or before it).
AsOf = Union[int, str, _dt.datetime, None]


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


def _info_item(info: Dict[str, Any], library: str, data: Any, metadata: Any) -> VersionedItem:
    ns = int(info["timestamp_ns"])
    return VersionedItem(
        symbol=info["symbol"],
        library=library,
        data=data,
        version=int(info["version"]),
        metadata=metadata,
        timestamp=_utc(ns),
        timestamp_ns=ns,
        rows=int(info["rows"]),
        index=info.get("index"),
    )


class Store:
    """An open Sheaf store (ArcticDB's ``Arctic``).

    ``Store(uri)`` and :func:`sheaf.open` are the same. URIs: ``"mem://"`` (a private in-memory
    store), ``"mem://NAME"`` (in-memory, shared by name within the process),
    ``"lmdb:///absolute/path[?map_size=64GB]"`` or a plain path (LMDB on disk, safe for several
    processes at once).

    A store is safe to share between threads. Close it with :meth:`close` or a ``with`` block;
    after that, every call on it or on its libraries raises :class:`sheaf.ClosedError`. A store
    pickles as its URI (and default output format) and reopens when unpickled.

    Args:
        uri: where the store lives.
        output_format: default ``output_format`` of reads from this store's libraries
            (``"pandas"``, ``"pyarrow"``, ``"polars"`` or ``"numpy"``); ``None`` = pandas when
            pandas and pyarrow are installed, else numpy.

    Raises:
        InvalidURIError: the URI cannot be understood.
        StorageError: the storage cannot be opened.
    """

    def __init__(self, uri: str, output_format: Optional[str] = None) -> None:
        self._output_format = _convert.check_output_format(output_format)
        raw = _name_bytes(uri, "uri")
        out = ffi.new("SheafStore **")
        slot = errslot()
        check(lib.sheaf_store_open(raw, len(raw), out, slot), slot)
        self._h: Any = ffi.gc(out[0], lib.sheaf_store_free)
        self._uri = uri
        self._closed = False

    # -- properties ------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        """The URI the store was opened with."""
        return self._uri

    @property
    def output_format(self) -> str:
        """The default ``output_format`` of this store's libraries."""
        return self._output_format or _convert.default_output_format()

    @output_format.setter
    def output_format(self, value: Optional[str]) -> None:
        self._output_format = _convert.check_output_format(value)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called on this object."""
        return self._closed

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Closes the store: later calls on it and on its libraries raise
        :class:`sheaf.ClosedError`; calls already running on other threads finish.
        Idempotent and thread-safe."""
        self._closed = True
        slot = errslot()
        check(lib.sheaf_store_close(self._h, slot), slot)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Any:
        return (Store, (self._uri, self._output_format))

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<sheaf.Store {self._uri!r}{state}>"

    # -- libraries -------------------------------------------------------------------------------
    def create_library(
        self,
        name: str,
        library_options: Optional[LibraryOptions] = None,
        *,
        rows_per_segment: Optional[int] = None,
        compression: Optional[str] = None,
        prune_previous_versions: Optional[bool] = None,
        output_format: Optional[str] = None,
        dynamic_schema: Optional[bool] = None,
    ) -> Library:
        """Creates a library and returns it.

        Args:
            name: the library's name (UTF-8, 1-255 bytes, no control characters).
            library_options: a :class:`LibraryOptions`; the keyword options below override it.
            rows_per_segment: rows per stored segment (default 100 000).
            compression: ``"lz4"`` (default), ``"zstd"`` or ``"none"``.
            prune_previous_versions: default of ``write(..., prune_previous_versions=None)``.
            output_format: default ``output_format`` of reads from this library object.
            dynamic_schema: let ``append`` / ``update`` change the columns (see
                :class:`LibraryOptions`).

        Returns:
            The new :class:`Library`.

        Raises:
            LibraryExistsError: a library of that name exists.
            InvalidNameError: the name is not usable.
            ClosedError: the store was closed.
        """
        options = _merge_options(
            library_options, rows_per_segment, compression, prune_previous_versions, dynamic_schema
        )
        raw = _name_bytes(name, "library name")
        opts = options.to_json()
        out = ffi.new("SheafLibrary **")
        slot = errslot()
        check(
            lib.sheaf_library_create(self._h, raw, len(raw), opts or NULL, len(opts), out, slot),
            slot,
        )
        return Library(self, ffi.gc(out[0], lib.sheaf_library_free), name, output_format)

    def get_library(
        self,
        name: str,
        create_if_missing: bool = False,
        library_options: Optional[LibraryOptions] = None,
        *,
        output_format: Optional[str] = None,
    ) -> Library:
        """Opens a library.

        Args:
            name: the library's name.
            create_if_missing: create it (with ``library_options``) when it does not exist.
            library_options: options used only when the library is created here.
            output_format: default ``output_format`` of reads from this library object
                (``None`` = the store's).

        Raises:
            NoSuchLibraryError: (a :class:`KeyError`) the library does not exist and
                ``create_if_missing`` is False.
            ClosedError: the store was closed.
        """
        raw = _name_bytes(name, "library name")
        opts = (library_options or LibraryOptions()).to_json() if create_if_missing else b""
        out = ffi.new("SheafLibrary **")
        slot = errslot()
        check(
            lib.sheaf_library_open(
                self._h, raw, len(raw), bool(create_if_missing), opts or NULL, len(opts), out, slot
            ),
            slot,
        )
        return Library(self, ffi.gc(out[0], lib.sheaf_library_free), name, output_format)

    def delete_library(self, name: str) -> bool:
        """Deletes a library and all its data. A missing library is not an error.

        Returns:
            Whether the library existed.
        """
        raw = _name_bytes(name, "library name")
        existed = ffi.new("bool *")
        slot = errslot()
        check(lib.sheaf_library_delete(self._h, raw, len(raw), existed, slot), slot)
        return bool(existed[0])

    def has_library(self, name: str) -> bool:
        """Whether a library of that name exists."""
        raw = _name_bytes(name, "library name")
        out = ffi.new("bool *")
        slot = errslot()
        check(lib.sheaf_library_exists(self._h, raw, len(raw), out, slot), slot)
        return bool(out[0])

    def list_libraries(self) -> List[str]:
        """The names of the store's libraries, in byte order."""
        out = ffi.new("SheafBytes *")
        slot = errslot()
        check(lib.sheaf_library_list(self._h, out, slot), slot)
        names: List[str] = json.loads(take_bytes(out))
        return names

    def verify(self) -> Dict[str, Any]:
        """Checks every stored record, snapshot, staged chunk and registry entry (checksums) and
        every segment they refer to (present, checksum matching), and lists keys nothing refers
        to. Reads all data. Returns ``{"checked": int, "problems": [{"key", "problem"}],
        "leftovers": [{"key", "kind", "written_ns"}]}``; damage is reported in ``problems``,
        not raised. ``kind`` is ``"unreferenced_segment"``, ``"consumed_chunk"`` or
        ``"dropped_data"``."""
        out = ffi.new("SheafBytes *")
        slot = errslot()
        check(lib.sheaf_store_verify(self._h, out, slot), slot)
        report: Dict[str, Any] = json.loads(take_bytes(out))
        return report

    def reclaim(self, grace_seconds: float = 86400.0) -> Dict[str, int]:
        """Removes the leftovers :meth:`verify` lists: data of dropped libraries, key spaces and
        collections and consumed staged chunks at once; unreferenced segments once older than
        ``grace_seconds`` (a write in progress has segments its version will refer to when it
        commits). Safe beside other processes if no single write takes longer than the grace
        period. Returns ``{"removed_keys": int, "kept_young_segments": int}``."""
        options = json.dumps({"grace_seconds": grace_seconds}).encode()
        out = ffi.new("SheafBytes *")
        slot = errslot()
        check(lib.sheaf_store_reclaim(self._h, options, len(options), out, slot), slot)
        report: Dict[str, int] = json.loads(take_bytes(out))
        return report

    def __getitem__(self, name: str) -> Library:
        return self.get_library(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has_library(name)

    # -- key spaces and collections (see sheaf.kv and sheaf.collection) --------------------------
    def kv(self, name: str) -> _kv.KeySpace:
        """The key space ``name`` (created on first use): a :class:`sheaf.KeySpace`."""
        return _kv.open_kv(self, name)

    def list_kv(self) -> List[str]:
        """The names of the store's key spaces, in byte order."""
        return _kv.list_kv(self)

    def drop_kv(self, name: str) -> bool:
        """Drops a key space and all its entries; returns whether it existed."""
        return _kv.drop_kv(self, name)

    def create_collection(self, name: str) -> _collection.Collection:
        """Creates a document collection (:class:`sheaf.Collection`).

        Raises:
            CollectionExistsError: a collection of that name exists.
        """
        return _collection.create_collection(self, name)

    def open_collection(self, name: str) -> _collection.Collection:
        """Opens a document collection.

        Raises:
            NoSuchCollectionError: (a :class:`KeyError`) there is no collection of that name.
        """
        return _collection.open_collection(self, name)

    def drop_collection(self, name: str) -> None:
        """Drops a collection and its documents.

        Raises:
            NoSuchCollectionError: there is no collection of that name.
        """
        _collection.drop_collection(self, name)

    def collection_exists(self, name: str) -> bool:
        """Whether a collection of that name exists."""
        return _collection.collection_exists(self, name)

    def list_collections(self) -> List[str]:
        """The names of the store's collections, in byte order."""
        return _collection.list_collections(self)


def _merge_options(
    base: Optional[LibraryOptions],
    rows_per_segment: Optional[int],
    compression: Optional[str],
    prune_previous_versions: Optional[bool],
    dynamic_schema: Optional[bool] = None,
) -> LibraryOptions:
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


def open(uri: str, output_format: Optional[str] = None) -> Store:
    """Opens a store; the same as ``Store(uri, output_format)``."""
    return Store(uri, output_format)


def _reopen_library(
    uri: str, name: str, output_format: Optional[str], store_format: Optional[str]
) -> Library:
    return Store(uri, store_format).get_library(name, output_format=output_format)


class Library:
    """A library of versioned symbols (ArcticDB's ``Library``); get one from a :class:`Store`.

    Safe to share between threads. ``symbol in lib`` tests for a live symbol, ``lib[symbol]``
    reads its latest version. Close it with :meth:`close` or a ``with`` block; it pickles as
    (store URI, library name) and reopens when unpickled.
    """

    def __init__(
        self, store: Store, handle: Any, name: str, output_format: Optional[str] = None
    ) -> None:
        self._store = store
        self._h = handle
        self._name = name
        self._output_format = _convert.check_output_format(output_format)
        self._closed = False

    # -- properties ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The library's name."""
        return self._name

    @property
    def store(self) -> Store:
        """The store this library was opened from."""
        return self._store

    @property
    def output_format(self) -> str:
        """The default ``output_format`` of reads (the store's unless set here)."""
        return self._output_format or self._store.output_format

    @output_format.setter
    def output_format(self, value: Optional[str]) -> None:
        self._output_format = _convert.check_output_format(value)

    @property
    def options(self) -> LibraryOptions:
        """The options the library was created with."""
        out = ffi.new("SheafBytes *")
        slot = errslot()
        check(lib.sheaf_library_describe(self._h, out, slot), slot)
        doc = json.loads(take_bytes(out))["options"]
        return LibraryOptions(
            rows_per_segment=doc.get("rows_per_segment"),
            compression=doc.get("compression"),
            prune_previous_versions=doc.get("prune_previous_versions"),
            dynamic_schema=doc.get("dynamic_schema"),
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called on this object."""
        return self._closed

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Closes this library handle: later calls on it raise :class:`sheaf.ClosedError`.
        Idempotent and thread-safe; the store stays open."""
        self._closed = True
        slot = errslot()
        check(lib.sheaf_library_close(self._h, slot), slot)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Any:
        return (
            _reopen_library,
            (self._store.uri, self._name, self._output_format, self._store._output_format),
        )

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<sheaf.Library {self._name!r} in {self._store.uri!r}{state}>"

    # -- writing ---------------------------------------------------------------------------------
    def write(
        self,
        symbol: str,
        data: Any,
        metadata: Any = None,
        prune_previous_versions: Optional[bool] = None,
        validate_index: bool = True,
        *,
        index: Optional[str] = _convert.AUTO,
    ) -> VersionedItem:
        """Writes ``data`` as a new version of ``symbol``, replacing its content.

        Args:
            symbol: the symbol's name (UTF-8, 1-255 bytes, no control characters).
            data: a pandas DataFrame or Series (index kept), a pyarrow Table, RecordBatch or
                RecordBatchReader (a reader is consumed), a polars DataFrame, a dict of numpy
                arrays or lists (masked arrays and ``None`` give nulls), a :class:`sheaf.Columns`,
                or any object with ``__arrow_c_stream__`` / ``_export_to_c``.
            metadata: JSON-compatible value stored with the version (datetimes allowed, at
                most 100 levels of dicts and lists); ``None`` = no metadata.
            prune_previous_versions: delete every earlier version after committing;
                ``None`` takes the library's option.
            validate_index: refuse an index column that is not sorted ascending.
            index: the Sheaf index column (timestamp, date or integer, no nulls): it drives
                order validation. By default (``AUTO``) a pandas DatetimeIndex is the index
                (its stored column is the index's name, or ``"__index_level_0__"`` when
                unnamed), as is an integer index that is sorted ascending; a RangeIndex is kept
                as pandas metadata only (no column); a :class:`sheaf.Columns` keeps the index it
                was read with; other inputs have none. ``None`` forces no index.

        Returns:
            A :class:`VersionedItem` with ``data=None``, the new ``version``, ``metadata`` and
            the commit ``timestamp`` (fetched with one more call).

        Raises:
            UnsortedIndexError: the index is not sorted and ``validate_index`` is True.
            UnsupportedTypeError: a column has a type Sheaf does not store.
            SchemaError: e.g. the index column is missing or has a wrong type.
            TypeError: ``data`` or ``metadata`` cannot be converted (e.g. an object column
                mixing types); nothing was written.
            ValueError: ``metadata`` nests deeper than 100 levels or contains itself.
            ClosedError: the library or its store was closed.
        """
        version = _ts.stream_commit(
            lib.sheaf_table_write,
            self._h,
            symbol,
            data,
            metadata,
            index,
            lambda chosen: _ts.write_options(chosen, validate_index, prune_previous_versions),
        )
        return self._committed(symbol, version, metadata)

    def _committed(self, symbol: str, version: int, metadata: Any = _convert.AUTO) -> VersionedItem:
        """The result of a commit: its info fetched from the library (``metadata`` AUTO = the
        version's own, read back)."""
        if metadata is _convert.AUTO:
            try:
                info, metadata = _ts.read_info(self._h, symbol, version)
            except NotFoundError:
                return VersionedItem(symbol, self._name, None, version, None)
            return _info_item(info, self._name, None, metadata)
        found = _ts.committed_info(self._h, symbol, version)
        if found is None:
            return VersionedItem(symbol, self._name, None, version, metadata)
        return _info_item(found, self._name, None, metadata)

    def write_metadata(
        self, symbol: str, metadata: Any, prune_previous_versions: Optional[bool] = None
    ) -> VersionedItem:
        """Writes a new version of ``symbol`` with the data of its latest version and new
        ``metadata`` (``None`` = no metadata).

        Returns:
            A :class:`VersionedItem` with ``data=None``, the new ``version`` and its
            ``timestamp``.

        Raises:
            NoSuchSymbolError: the symbol does not exist.
            TypeError: the metadata is not JSON-compatible.
            ValueError: the metadata nests deeper than 100 levels or contains itself.
        """
        raw = _name_bytes(symbol, "symbol")
        meta = None if metadata is None else _metadata.encode(metadata)
        opts = (
            b'{"prune_previous_versions":%s}' % (b"true" if prune_previous_versions else b"false")
            if prune_previous_versions is not None
            else b""
        )
        version = ffi.new("uint64_t *")
        slot = errslot()
        check(
            lib.sheaf_table_write_metadata(
                self._h,
                raw,
                len(raw),
                ffi.from_buffer("uint8_t[]", meta) if meta else NULL,
                len(meta) if meta else 0,
                opts or NULL,
                len(opts),
                version,
                slot,
            ),
            slot,
        )
        return self._committed(symbol, int(version[0]), metadata)

    # -- reading ---------------------------------------------------------------------------------
    @overload
    def read(
        self,
        symbol: str,
        as_of: AsOf = None,
        date_range: Any = None,
        row_range: Any = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        query_builder: Optional[QueryBuilder] = None,
        lazy: Literal[False] = False,
    ) -> VersionedItem: ...

    @overload
    def read(
        self,
        symbol: str,
        as_of: AsOf = None,
        date_range: Any = None,
        row_range: Any = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        query_builder: Optional[QueryBuilder] = None,
        *,
        lazy: Literal[True],
    ) -> LazyDataFrame: ...

    @overload
    def read(
        self,
        symbol: str,
        as_of: AsOf = None,
        date_range: Any = None,
        row_range: Any = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        query_builder: Optional[QueryBuilder] = None,
        lazy: bool = False,
    ) -> Union[VersionedItem, LazyDataFrame]: ...

    def read(
        self,
        symbol: str,
        as_of: AsOf = None,
        date_range: Any = None,
        row_range: Any = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        query_builder: Optional[QueryBuilder] = None,
        lazy: bool = False,
    ) -> Union[VersionedItem, LazyDataFrame]:
        """Reads a version of ``symbol``, optionally only some rows and columns, optionally
        through a query (filters, projections, aggregations) run by the library.

        Args:
            symbol: the symbol's name.
            as_of: ``None`` for the latest version; a version number; a negative number
                counting back over live versions (``-1`` = latest, ``-2`` = the one before); a
                snapshot name (``str``: the version that snapshot holds, even if it was deleted
                since); or a ``datetime`` / ``pandas.Timestamp`` (the newest live version
                written at or before it; a naive datetime is taken as UTC).
            date_range: ``(start, end)``, inclusive at both ends, ``None`` = open; datetimes,
                ``pandas.Timestamp`` or ``numpy.datetime64`` (a naive bound is UTC, i.e. the
                same wall-clock time for a naive index), or ints (raw values of an integer
                index). Needs an index column; only the segments overlapping it are loaded.
            row_range: ``(start, end)`` with ``iloc`` semantics: end exclusive, negative values
                count from the end, ``None`` = open. Cannot be combined with ``date_range``.
            columns: the columns to return, in this order (``[]`` = only the index); the index
                column always comes along. An unknown name raises :class:`sheaf.SchemaError`
                (ArcticDB ignores it). pandas output keeps the stored pandas index.
            output_format: ``"pandas"`` (DataFrame, index restored from pandas metadata;
                without it, the Sheaf index column becomes the index), ``"pyarrow"``
                (``pyarrow.Table``, zero copy), ``"polars"`` (``polars.DataFrame``; an index
                column is a plain column) or ``"numpy"`` (:class:`sheaf.Columns`, a dict of
                numpy arrays; masked arrays where there are nulls). ``None`` = the library's.
            query_builder: a :class:`sheaf.QueryBuilder` whose clauses the library applies,
                in order, to the rows ``as_of``, ``date_range`` and ``row_range`` select
                (``columns`` then chooses the stored columns kept). Leading filters skip the
                segments their statistics rule out. pandas output of a group-by or resample
                is indexed by its keys (a MultiIndex for several); a stored RangeIndex becomes
                a fresh ``0..n`` after a filter; a DatetimeIndex or other stored index is
                kept.
            lazy: return a :class:`sheaf.LazyDataFrame` instead of reading: extend its query
                (it has the methods of :class:`sheaf.QueryBuilder`) and call ``collect()``.

        Returns:
            A :class:`VersionedItem` with ``data``, ``version``, ``metadata`` and
            ``timestamp``. Its ``data`` supports ``__arrow_c_stream__`` on CPython for every
            format (pandas >= 2.2, pyarrow, polars, :class:`sheaf.Columns`). With ``lazy``, a
            :class:`sheaf.LazyDataFrame`.

        Raises:
            NoSuchSymbolError: (a :class:`KeyError`) no live version of ``symbol``.
            NoSuchVersionError: (a :class:`KeyError`) ``as_of`` names no live version.
            NoSuchSnapshotError: (a :class:`KeyError`) ``as_of`` names no snapshot.
            SchemaError: an unknown column, or a ``date_range`` on a symbol without index.
            InvalidArgumentError: ``date_range`` and ``row_range`` together; an unknown
                query clause or operator.
            SchemaError: a query names a missing column, or mixes types (e.g. a string
                column compared with a number).
            ClosedError: the library or its store was closed.
            SheafError: a segment failed to load while streaming.
        """
        fmt = _convert.check_output_format(output_format) or self.output_format
        if lazy:
            args: Dict[str, Any] = {}
            for key, value in (
                ("as_of", as_of),
                ("date_range", date_range),
                ("row_range", row_range),
                ("columns", None if columns is None else list(columns)),
                ("output_format", output_format),
            ):
                if value is not None:
                    args[key] = value
            _ts.read_options(as_of, date_range, row_range, args.get("columns"), query_builder)
            return LazyDataFrame(self, symbol, args, query_builder)
        doc = _ts.read_options(as_of, date_range, row_range, columns, query_builder)
        stream, info, metadata = _ts.read_stream(self._h, symbol, doc)
        data = _ts.import_data(
            stream, fmt, info, doc, lambda again: _ts.read_stream(self._h, symbol, again)
        )
        return _info_item(info, self._name, data, metadata)

    def __getitem__(self, symbol: str) -> VersionedItem:
        return self.read(symbol)

    def head(
        self,
        symbol: str,
        n: int = 5,
        as_of: AsOf = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
    ) -> VersionedItem:
        """The first ``n`` rows of ``symbol`` (``n < 0``: all rows but the last ``-n``).

        Arguments and result as in :meth:`read` (``row_range=(0, n)``).
        """
        return self.read(symbol, as_of, None, _ts.head_range(n), columns, output_format)

    def tail(
        self,
        symbol: str,
        n: int = 5,
        as_of: AsOf = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
    ) -> VersionedItem:
        """The last ``n`` rows of ``symbol`` (``n < 0``: all rows but the first ``-n``).

        Arguments and result as in :meth:`read` (``row_range=(-n, None)``).
        """
        return self.read(symbol, as_of, None, _ts.tail_range(n), columns, output_format)

    def read_metadata(self, symbol: str, as_of: AsOf = None) -> VersionedItem:
        """Reads only the metadata and version info of ``symbol`` (``data`` is None).

        Args:
            symbol: the symbol's name.
            as_of: as in :meth:`read`.

        Raises:
            NoSuchSymbolError, NoSuchVersionError, NoSuchSnapshotError: as in :meth:`read`.
        """
        info, metadata = _ts.read_info(self._h, symbol, as_of)
        return _info_item(info, self._name, None, metadata)

    def get_description(self, symbol: str, as_of: AsOf = None) -> SymbolDescription:
        """Describes a version without reading its data: columns and types, index, row count,
        index range (``date_range`` for a timestamp index), sortedness, last update time.

        Raises:
            NoSuchSymbolError, NoSuchVersionError, NoSuchSnapshotError: as in :meth:`read`.
        """
        return _ts.describe(self._h, symbol, as_of)

    # -- listing ---------------------------------------------------------------------------------
    def list_symbols(
        self, snapshot_name: Optional[str] = None, regex: Optional[str] = None
    ) -> List[str]:
        """The symbols that have a live version (or that the snapshot ``snapshot_name`` holds),
        in byte order; ``regex`` keeps those it matches anywhere (like ``re.search``). The
        pattern is matched inside the library with Rust's ``regex`` syntax, in time linear in
        the name whatever the pattern (Python's backtracking ``re`` can take forever on patterns
        such as ``^(a+)+$``); backreferences and lookaround are refused.

        Raises:
            NoSuchSnapshotError: (a :class:`KeyError`) no snapshot of that name.
            InvalidArgumentError: (a :class:`ValueError`) the pattern is not a valid regex.
        """
        return _ts.list_symbols(self._h, snapshot_name, regex)

    def has_symbol(self, symbol: str, as_of: AsOf = None) -> bool:
        """Whether ``symbol`` has a live version (with ``as_of``: whether that version, as in
        :meth:`read`, can be read)."""
        if as_of is not None:
            try:
                self.read_metadata(symbol, as_of)
            except NotFoundError:
                return False
            return True
        raw = _name_bytes(symbol, "symbol")
        out = ffi.new("bool *")
        slot = errslot()
        check(lib.sheaf_table_has_symbol(self._h, raw, len(raw), out, slot), slot)
        return bool(out[0])

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and self.has_symbol(symbol)

    def list_versions(
        self,
        symbol: Optional[str] = None,
        snapshot: Optional[str] = None,
        latest_only: bool = False,
        skip_snapshots: bool = False,
    ) -> Dict[SymbolVersion, VersionInfo]:
        """The versions of ``symbol`` (or of every symbol), newest first: the live ones and the
        deleted ones a snapshot still holds (``deleted=True``).

        Args:
            symbol: one symbol, or ``None`` for all.
            snapshot: only the versions this snapshot holds.
            latest_only: only the newest version of each symbol.
            skip_snapshots: leave ``VersionInfo.snapshots`` empty.

        Returns:
            ``{SymbolVersion(symbol, version): VersionInfo(date, deleted, snapshots, ...)}``
            in the library's order (per symbol, newest first).

        Raises:
            NoSuchSnapshotError: ``snapshot`` does not exist.
        """
        result: Dict[SymbolVersion, VersionInfo] = {}
        for info in _ts.query_versions(self._h, symbol, snapshot, latest_only):
            ns = int(info["timestamp_ns"])
            result[SymbolVersion(info["symbol"], int(info["version"]))] = VersionInfo(
                date=_utc(ns),
                deleted=bool(info["deleted"]),
                snapshots=[] if skip_snapshots else list(info.get("snapshots", [])),
                timestamp_ns=ns,
                rows=int(info["rows"]),
                index_column=info.get("index"),
                has_metadata=bool(info["has_metadata"]),
            )
        return result

    # -- time series -----------------------------------------------------------------------------
    def append(
        self,
        symbol: str,
        data: Any,
        metadata: Any = None,
        prune_previous_versions: Optional[bool] = None,
        validate_index: bool = True,
        *,
        index: Optional[str] = _convert.AUTO,
    ) -> VersionedItem:
        """Appends the rows of ``data`` to the latest version of ``symbol`` as a new version
        (a missing symbol is created). Concurrent appends, from threads or processes, all land.

        Args:
            symbol: the symbol.
            data: as in :meth:`write`; its columns must match the stored ones unless the
                library has ``dynamic_schema``.
            metadata: the new version's metadata (not carried over from the previous one).
            prune_previous_versions: as in :meth:`write`.
            validate_index: refuse data whose first index value is below the last stored one,
                or that is not sorted.
            index: as in :meth:`write`; must be the stored index when given.

        Returns:
            A :class:`VersionedItem` (``data=None``) with the new version and its timestamp.

        Raises:
            UnsortedIndexError: the new rows start before the stored ones end (or are not
                sorted) and ``validate_index`` is True.
            SchemaError: the columns differ from the stored ones.
        """
        version = _ts.stream_commit(
            lib.sheaf_table_append,
            self._h,
            symbol,
            data,
            metadata,
            index,
            lambda chosen: _ts.write_options(chosen, validate_index, prune_previous_versions),
        )
        return self._committed(symbol, version, metadata)

    def update(
        self,
        symbol: str,
        data: Any,
        metadata: Any = None,
        upsert: bool = False,
        date_range: Any = None,
        prune_previous_versions: Optional[bool] = None,
        index: Optional[str] = None,
    ) -> VersionedItem:
        """Replaces the rows of ``symbol`` whose index lies in the span of ``data`` (its first to
        last index value), or in ``date_range``, by the rows of ``data``, as a new version.
        Rows outside the span are kept; only the segments overlapping it are rewritten.

        Args:
            symbol: an indexed symbol (timestamp, date or integer index).
            data: as in :meth:`write`, with the stored index column (a pandas DatetimeIndex
                is one).
            metadata: the new version's metadata (not carried over).
            upsert: create a missing symbol from ``data`` (indexed by its index column, e.g.
                a pandas DatetimeIndex) instead of raising.
            date_range: ``(start, end)`` (inclusive; bounds as in :meth:`read`): the span to
                replace; rows of ``data`` outside it are dropped. Empty ``data`` with a
                ``date_range`` deletes the range.
            prune_previous_versions: as in :meth:`write`.
            index: the index column of ``data`` when it cannot be detected (a dict or an Arrow
                table), as in :meth:`write`; needed when ``upsert`` creates the symbol.

        Empty ``data`` without ``date_range`` still makes a new version with the same rows
        (ArcticDB does the same).

        Raises:
            NoSuchSymbolError: the symbol does not exist and ``upsert`` is False.
            SchemaError: the symbol has no index, or the columns differ.
        """
        version = _ts.stream_commit(
            lib.sheaf_table_update,
            self._h,
            symbol,
            data,
            metadata,
            _convert.AUTO if index is None else index,
            lambda chosen: _ts.update_options(date_range, upsert, prune_previous_versions, chosen),
        )
        return self._committed(symbol, version, metadata)

    def delete_data_in_range(
        self, symbol: str, date_range: Any, prune_previous_versions: Optional[bool] = None
    ) -> VersionedItem:
        """A new version of ``symbol`` without the rows whose index lies in ``date_range``
        (inclusive; bounds as in :meth:`read`). The latest metadata is kept.

        Returns:
            A :class:`VersionedItem` (``data=None``) with the new version and its metadata.
        """
        version = _ts.delete_data_in_range(self._h, symbol, date_range, prune_previous_versions)
        return self._committed(symbol, version)

    # -- snapshots -------------------------------------------------------------------------------
    def snapshot(
        self,
        snap_name: str,
        metadata: Any = None,
        skip_symbols: Optional[Iterable[str]] = None,
        versions: Optional[Dict[str, int]] = None,
    ) -> None:
        """Pins versions under the name ``snap_name``: by default the latest version of every
        symbol (but ``skip_symbols``), or exactly ``versions`` (``{symbol: version}``). Pinned
        versions stay readable (``read(symbol, as_of=snap_name)``) and keep their data after
        they are deleted.

        Raises:
            SnapshotExistsError: a snapshot of that name exists.
            NoSuchVersionError: a version in ``versions`` is not live.
        """
        _ts.create_snapshot(self._h, snap_name, metadata, skip_symbols, versions)

    def list_snapshots(self, load_metadata: bool = True) -> Any:
        """The snapshots, by name: ``{name: metadata}`` (metadata ``None`` when there is
        none), or a list of names with ``load_metadata=False``."""
        snaps = _ts.list_snapshots(self._h)
        if not load_metadata:
            return [s["name"] for s in snaps]
        return {
            s["name"]: _ts.snapshot_metadata(self._h, s["name"]) if s["has_metadata"] else None
            for s in snaps
        }

    def delete_snapshot(self, snapshot_name: str) -> None:
        """Deletes a snapshot; data of deleted versions only it held is removed.

        Raises:
            NoSuchSnapshotError: (a :class:`KeyError`) no snapshot of that name.
        """
        _ts.delete_snapshot(self._h, snapshot_name)

    # -- batches ---------------------------------------------------------------------------------
    def _batch_item(self, symbol: str, version: int, metadata: Any, info: Any) -> VersionedItem:
        if info is None:
            return VersionedItem(symbol, self._name, None, version, metadata)
        return _info_item(info, self._name, None, metadata)

    def write_batch(
        self,
        payloads: Iterable[WritePayload],
        prune_previous_versions: Optional[bool] = None,
        validate_index: bool = True,
    ) -> List[Union[VersionedItem, DataError]]:
        """Writes many symbols in one call: one :class:`VersionedItem` per
        :class:`WritePayload`, or a :class:`DataError` where that item failed. Not atomic
        across symbols.

        Raises:
            InvalidArgumentError: a symbol appears twice (nothing is written).
            TypeError: an item's data or metadata cannot be converted (nothing is written).
        """
        return _batch.commit_batch(
            self._h,
            "write",
            list(payloads),
            lambda p, chosen: _ts.write_options(chosen, validate_index, prune_previous_versions),
            self._batch_item,
        )

    def append_batch(
        self,
        payloads: Iterable[WritePayload],
        prune_previous_versions: Optional[bool] = None,
        validate_index: bool = True,
    ) -> List[Union[VersionedItem, DataError]]:
        """Appends to many symbols in one call (each as :meth:`append`); results as in
        :meth:`write_batch`."""
        return _batch.commit_batch(
            self._h,
            "append",
            list(payloads),
            lambda p, chosen: _ts.write_options(chosen, validate_index, prune_previous_versions),
            self._batch_item,
        )

    def update_batch(
        self,
        payloads: Iterable[UpdatePayload],
        upsert: bool = False,
        prune_previous_versions: Optional[bool] = None,
    ) -> List[Union[VersionedItem, DataError]]:
        """Updates many symbols in one call (each :class:`UpdatePayload` as :meth:`update`,
        with its own ``date_range``); results as in :meth:`write_batch`."""
        return _batch.commit_batch(
            self._h,
            "update",
            list(payloads),
            lambda p, chosen: _ts.update_options(
                p.date_range, upsert, prune_previous_versions, chosen
            ),
            self._batch_item,
        )

    def read_batch(
        self,
        symbols: Iterable[Union[str, ReadRequest]],
        output_format: Optional[str] = None,
        query_builder: Optional[QueryBuilder] = None,
    ) -> List[Union[VersionedItem, DataError]]:
        """Reads many symbols in one call: symbols (latest version) or :class:`ReadRequest`
        objects (``as_of``, ``date_range``, ``row_range``, ``columns``, ``query_builder`` as
        in :meth:`read`; a symbol may appear more than once). ``query_builder`` here applies
        to every item that has none of its own. One :class:`VersionedItem` per item, or a
        :class:`DataError` where that item failed (a query error included)."""
        fmt = _convert.check_output_format(output_format) or self.output_format
        return _batch.read_batch(
            self._h,
            list(symbols),
            fmt,
            lambda info, data, meta: _info_item(info, self._name, data, meta),
            lambda sym, again: _ts.read_stream(self._h, sym, again),
            query_builder,
        )

    def read_metadata_batch(
        self, symbols: Iterable[Any], as_ofs: Optional[Iterable[AsOf]] = None
    ) -> List[Union[VersionedItem, DataError]]:
        """Reads the metadata of many symbols in one call (symbols or
        :class:`ReadInfoRequest` objects; ``as_ofs``, when given, one ``as_of`` per symbol).
        Results as in :meth:`read_batch`, with ``data=None``."""
        return _batch.read_metadata_batch(
            self._h,
            list(symbols),
            None if as_ofs is None else list(as_ofs),
            lambda info, data, meta: _info_item(info, self._name, data, meta),
        )

    def delete_batch(self, items: Iterable[Any]) -> List[Optional[DataError]]:
        """Deletes many symbols (``str``) or some of their versions
        (:class:`DeleteRequest` ``(symbol, version_ids)``) in one call: ``None`` per item that
        succeeded, a :class:`DataError` where it failed.

        Raises:
            InvalidArgumentError: a symbol appears twice (nothing is deleted).
        """
        return _batch.delete_batch(self._h, list(items))

    # -- staged writes ---------------------------------------------------------------------------
    def stage(
        self,
        symbol: str,
        data: Any,
        validate_index: bool = True,
        *,
        index: Optional[str] = _convert.AUTO,
    ) -> None:
        """Stores ``data`` as a chunk of ``symbol``, invisible until
        :meth:`finalize_staged_data`. Many writers (threads or processes) may stage one symbol
        at once. ``index`` is detected as in :meth:`write`."""
        _ts.stage(self._h, symbol, data, validate_index, index)

    def finalize_staged_data(
        self,
        symbol: str,
        mode: Any = "write",
        prune_previous_versions: Optional[bool] = None,
        metadata: Any = None,
    ) -> VersionedItem:
        """Commits every chunk staged for ``symbol`` as one new version: ``mode="write"``
        replaces the content, ``"append"`` appends to it. With an index, chunks are ordered by
        it and must not overlap (:class:`sheaf.UnsortedIndexError`; see
        :meth:`sort_and_finalize_staged_data`).

        Raises:
            NotFoundError: nothing is staged for ``symbol``.
        """
        version = _ts.finalize_staged(
            self._h, symbol, mode, metadata, prune_previous_versions, sort=False
        )
        return self._committed(symbol, version, metadata)

    def sort_and_finalize_staged_data(
        self,
        symbol: str,
        mode: Any = "write",
        prune_previous_versions: Optional[bool] = None,
        metadata: Any = None,
    ) -> VersionedItem:
        """:meth:`finalize_staged_data` after sorting all staged rows by the index (chunks may
        overlap)."""
        version = _ts.finalize_staged(
            self._h, symbol, mode, metadata, prune_previous_versions, sort=True
        )
        return self._committed(symbol, version, metadata)

    def get_staged_symbols(self) -> List[str]:
        """The symbols with staged chunks, in byte order."""
        return _ts.staged_symbols(self._h)

    def delete_staged_data(self, symbol: str) -> int:
        """Removes the staged chunks of ``symbol``; returns how many there were."""
        return _ts.delete_staged(self._h, symbol)

    # -- maintenance -----------------------------------------------------------------------------
    def prune_previous_versions(self, symbol: str) -> None:
        """Deletes every live version of ``symbol`` but the latest (versions held by snapshots
        keep their data)."""
        _ts.prune_previous_versions(self._h, symbol)

    def compact_data(self, symbol: str, rows_per_segment: Optional[int] = None) -> VersionedItem:
        """Rewrites the latest version of ``symbol`` into full segments (of ``rows_per_segment``
        rows, default the library's) as a new version with the same rows and metadata, e.g.
        after many small appends. Returns the latest version unchanged when it was already
        compact."""
        version = _ts.compact(self._h, symbol, rows_per_segment)
        return self._committed(symbol, version)

    # -- deleting --------------------------------------------------------------------------------
    def delete(self, symbol: str, versions: Union[int, Iterable[int], None] = None) -> None:
        """Deletes ``symbol`` (every version) or only the given ``versions``.

        Version numbers are never reused: the next write gets a number after the delete.
        Versions a snapshot holds stay readable through the snapshot.

        Raises:
            NoSuchSymbolError: the symbol has no live version.
            NoSuchVersionError: a listed version is not live (nothing is deleted then).
        """
        raw = _name_bytes(symbol, "symbol")
        slot = errslot()
        if versions is None:
            check(lib.sheaf_table_delete(self._h, raw, len(raw), NULL, 0, slot), slot)
            return
        if isinstance(versions, bool):
            raise TypeError("versions must be an int or an iterable of ints")
        items = [versions] if isinstance(versions, int) else list(versions)
        for v in items:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise TypeError(f"version numbers are non-negative ints, not {v!r}")
        if not items:
            return
        arr = ffi.new("uint64_t[]", items)
        check(lib.sheaf_table_delete(self._h, raw, len(raw), arr, len(items), slot), slot)
