"""Stores and libraries: ArcticDB's user model over Sheaf's C ABI."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Union

from . import _convert, _metadata
from ._arrow_c import release_stream
from ._lib import NULL, check, errslot, ffi, lib, take_bytes
from .errors import NotFoundError

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


def _as_of_json(as_of: Optional[int]) -> bytes:
    if as_of is None:
        return b""
    if isinstance(as_of, bool) or not hasattr(as_of, "__index__"):
        raise TypeError(
            f"as_of must be a version number (negative counts back from the latest) or None, "
            f"not {type(as_of).__name__}; snapshots and timestamps are not supported yet"
        )
    return b'{"as_of":%d}' % as_of.__index__()


@dataclass(frozen=True)
class LibraryOptions:
    """Options fixed when a library is created.

    Attributes:
        rows_per_segment: rows per stored segment (default 100 000).
        compression: ``"lz4"`` (default), ``"zstd"`` or ``"none"``.
        prune_previous_versions: whether each write deletes the earlier versions by default.
    """

    rows_per_segment: Optional[int] = None
    compression: Optional[str] = None
    prune_previous_versions: Optional[bool] = None

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
        metadata: the version's user metadata (``None`` if it has none).
        timestamp: when the version was committed, a timezone-aware :class:`datetime.datetime`
            in UTC (microsecond precision; ``timestamp_ns`` is exact). ``None`` for results of
            ``write`` (the C ABI's write returns only the version number).
        timestamp_ns: the commit time in nanoseconds since the Unix epoch (or ``None``).
        rows: the number of rows of the version (``None`` for writes).
        index: the version's Sheaf index column, if any (``None`` for writes).
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

    ``date`` is the commit time (UTC datetime); ``deleted`` is always False (only live versions
    are listed); ``snapshots`` is empty until Sheaf has snapshots.
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
    ) -> Library:
        """Creates a library and returns it.

        Args:
            name: the library's name (UTF-8, 1-255 bytes, no control characters).
            library_options: a :class:`LibraryOptions`; the keyword options below override it.
            rows_per_segment: rows per stored segment (default 100 000).
            compression: ``"lz4"`` (default), ``"zstd"`` or ``"none"``.
            prune_previous_versions: default of ``write(..., prune_previous_versions=None)``.
            output_format: default ``output_format`` of reads from this library object.

        Returns:
            The new :class:`Library`.

        Raises:
            LibraryExistsError: a library of that name exists.
            InvalidNameError: the name is not usable.
            ClosedError: the store was closed.
        """
        options = _merge_options(
            library_options, rows_per_segment, compression, prune_previous_versions
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

    def __getitem__(self, name: str) -> Library:
        return self.get_library(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has_library(name)


def _merge_options(
    base: Optional[LibraryOptions],
    rows_per_segment: Optional[int],
    compression: Optional[str],
    prune_previous_versions: Optional[bool],
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
            metadata: JSON-compatible value stored with the version (datetimes allowed);
                ``None`` = no metadata.
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
            A :class:`VersionedItem` with ``data=None``, the new ``version`` and ``metadata``.

        Raises:
            UnsortedIndexError: the index is not sorted and ``validate_index`` is True.
            UnsupportedTypeError: a column has a type Sheaf does not store.
            SchemaError: e.g. the index column is missing or has a wrong type.
            TypeError: ``data`` or ``metadata`` cannot be converted (e.g. an object column
                mixing types); nothing was written.
            ClosedError: the library or its store was closed.
        """
        raw = _name_bytes(symbol, "symbol")
        meta = None if metadata is None else _metadata.encode(metadata)
        stream = ffi.new("struct ArrowArrayStream *")
        try:
            chosen = _convert.export_input(data, stream, index)
            opts = _write_options(chosen, validate_index, prune_previous_versions)
        except BaseException:
            release_stream(stream)
            raise
        version = ffi.new("uint64_t *")
        slot = errslot()
        check(
            lib.sheaf_table_write(
                self._h,
                raw,
                len(raw),
                stream,
                ffi.from_buffer("uint8_t[]", meta) if meta else NULL,
                len(meta) if meta else 0,
                opts or NULL,
                len(opts),
                version,
                slot,
            ),
            slot,
        )
        return VersionedItem(symbol, self._name, None, int(version[0]), metadata)

    def write_metadata(
        self, symbol: str, metadata: Any, prune_previous_versions: Optional[bool] = None
    ) -> VersionedItem:
        """Writes a new version of ``symbol`` with the data of its latest version and new
        ``metadata`` (``None`` = no metadata).

        Returns:
            A :class:`VersionedItem` with ``data=None`` and the new ``version``.

        Raises:
            NoSuchSymbolError: the symbol does not exist.
            TypeError: the metadata is not JSON-compatible.
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
        return VersionedItem(symbol, self._name, None, int(version[0]), metadata)

    # -- reading ---------------------------------------------------------------------------------
    def read(
        self,
        symbol: str,
        as_of: Optional[int] = None,
        output_format: Optional[str] = None,
    ) -> VersionedItem:
        """Reads a version of ``symbol``.

        Args:
            symbol: the symbol's name.
            as_of: ``None`` for the latest version, a version number, or a negative number
                counting back over live versions (``-1`` = latest, ``-2`` = the one before).
            output_format: ``"pandas"`` (DataFrame, index restored from pandas metadata;
                without it, the Sheaf index column becomes the index), ``"pyarrow"``
                (``pyarrow.Table``, zero copy), ``"polars"`` (``polars.DataFrame``; an index
                column is a plain column) or ``"numpy"`` (:class:`sheaf.Columns`, a dict of
                numpy arrays; masked arrays where there are nulls). ``None`` = the library's.

        Returns:
            A :class:`VersionedItem` with ``data``, ``version``, ``metadata`` and
            ``timestamp``. Its ``data`` supports ``__arrow_c_stream__`` on CPython for every
            format (pandas >= 2.2, pyarrow, polars, :class:`sheaf.Columns`).

        Raises:
            NoSuchSymbolError: (a :class:`KeyError`) no live version of ``symbol``.
            NoSuchVersionError: (a :class:`KeyError`) ``as_of`` names no live version.
            ClosedError: the library or its store was closed.
            SheafError: a segment failed to load while streaming.
        """
        fmt = _convert.check_output_format(output_format) or self.output_format
        raw = _name_bytes(symbol, "symbol")
        opts = _as_of_json(as_of)
        stream = ffi.new("struct ArrowArrayStream *")
        info_b = ffi.new("SheafBytes *")
        meta_b = ffi.new("SheafBytes *")
        slot = errslot()
        check(
            lib.sheaf_table_read(
                self._h, raw, len(raw), opts or NULL, len(opts), stream, info_b, meta_b, slot
            ),
            slot,
        )
        try:
            info = json.loads(take_bytes(info_b))
            meta_raw = take_bytes(meta_b)
            metadata = _metadata.decode(meta_raw) if info.get("has_metadata") else None
        except BaseException:
            release_stream(stream)
            raise
        data = _convert.import_output(stream, fmt, info.get("index"), info.get("rows"))
        return _info_item(info, self._name, data, metadata)

    def __getitem__(self, symbol: str) -> VersionedItem:
        return self.read(symbol)

    def read_metadata(self, symbol: str, as_of: Optional[int] = None) -> VersionedItem:
        """Reads only the metadata and version info of ``symbol`` (``data`` is None).

        Args:
            symbol: the symbol's name.
            as_of: as in :meth:`read`.

        Raises:
            NoSuchSymbolError, NoSuchVersionError: as in :meth:`read`.
        """
        raw = _name_bytes(symbol, "symbol")
        opts = _as_of_json(as_of)
        info_b = ffi.new("SheafBytes *")
        meta_b = ffi.new("SheafBytes *")
        slot = errslot()
        check(
            lib.sheaf_table_read_metadata(
                self._h, raw, len(raw), opts or NULL, len(opts), info_b, meta_b, slot
            ),
            slot,
        )
        info = json.loads(take_bytes(info_b))
        meta_raw = take_bytes(meta_b)
        metadata = _metadata.decode(meta_raw) if info.get("has_metadata") else None
        return _info_item(info, self._name, None, metadata)

    # -- listing ---------------------------------------------------------------------------------
    def list_symbols(self) -> List[str]:
        """The symbols that have a live version, in byte order."""
        out = ffi.new("SheafBytes *")
        slot = errslot()
        check(lib.sheaf_table_list_symbols(self._h, out, slot), slot)
        names: List[str] = json.loads(take_bytes(out))
        return names

    def has_symbol(self, symbol: str, as_of: Optional[int] = None) -> bool:
        """Whether ``symbol`` has a live version (``as_of``: that version is live)."""
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

    def list_versions(self, symbol: Optional[str] = None) -> Dict[SymbolVersion, VersionInfo]:
        """The live versions of ``symbol`` (or of every symbol), newest first.

        Returns:
            ``{SymbolVersion(symbol, version): VersionInfo(date, deleted, snapshots, ...)}``
            in the library's order (per symbol, newest first).
        """
        out = ffi.new("SheafBytes *")
        slot = errslot()
        if symbol is None:
            check(lib.sheaf_table_list_versions(self._h, NULL, 0, out, slot), slot)
        else:
            raw = _name_bytes(symbol, "symbol")
            check(lib.sheaf_table_list_versions(self._h, raw, len(raw), out, slot), slot)
        result: Dict[SymbolVersion, VersionInfo] = {}
        for info in json.loads(take_bytes(out)):
            ns = int(info["timestamp_ns"])
            result[SymbolVersion(info["symbol"], int(info["version"]))] = VersionInfo(
                date=_utc(ns),
                deleted=bool(info["deleted"]),
                snapshots=[],
                timestamp_ns=ns,
                rows=int(info["rows"]),
                index_column=info.get("index"),
                has_metadata=bool(info["has_metadata"]),
            )
        return result

    # -- deleting --------------------------------------------------------------------------------
    def delete(self, symbol: str, versions: Union[int, Iterable[int], None] = None) -> None:
        """Deletes ``symbol`` (every version) or only the given ``versions``.

        Version numbers are never reused: the next write gets a number after the delete.

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


def _write_options(index: Optional[str], validate_index: bool, prune: Optional[bool]) -> bytes:
    doc: Dict[str, Any] = {}
    if index is not None:
        if not isinstance(index, str):
            raise TypeError(
                f"index must be a column name (str) or None, not {type(index).__name__}"
            )
        doc["index"] = index
    if not validate_index:
        doc["validate_index"] = False
    if prune is not None:
        doc["prune_previous_versions"] = bool(prune)
    return json.dumps(doc).encode() if doc else b""
