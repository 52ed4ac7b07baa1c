"""Stores: where a Sheaf store is opened (ArcticDB's ``Arctic``), and the facade of the package.

:class:`Store` and :func:`open` are the entry point: a store opens libraries
(:mod:`sheaf.library`), key spaces (:mod:`sheaf.kv`) and collections
(:mod:`sheaf.collection`), so this module sits above them all and makes each of their C calls
that take the store handle. The names that were importable from here before the package had a
floor plan (``Library``, ``VersionedItem``, ...) are re-exported.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence

from . import _convert, _options, _progress, _sql
from ._handle import Handle
from ._lib import NULL, call, ffi, lib, take_bytes
from ._options import LibraryOptions
from ._progress import ProgressArg
from ._query import QueryBuilder
from ._types import (
    DataError,
    ReadRequest,
    SymbolDescription,
    SymbolVersion,
    UpdatePayload,
    VersionedItem,
    VersionInfo,
    WritePayload,
)
from .collection import Collection
from .kv import KeySpace
from .library import LazyDataFrame, Library

__all__ = [
    "Store",
    "Library",
    "LibraryOptions",
    "VersionedItem",
    "SymbolVersion",
    "VersionInfo",
    "open",
]

# Importable from here as before (not in __all__).
_REEXPORTED = (
    DataError,
    LazyDataFrame,
    QueryBuilder,
    ReadRequest,
    SymbolDescription,
    UpdatePayload,
    WritePayload,
)


def _space_name(name: str, what: str) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"{what} name must be a str, not {type(name).__name__}")
    return name.encode("utf-8")


class Store(Handle):
    """An open Sheaf store (ArcticDB's ``Arctic``).

    ``Store(uri)`` and :func:`sheaf.open` are the same. URIs: ``"mem://"`` (a private in-memory
    store), ``"mem://NAME"`` (in-memory, shared by name within the process),
    ``"lmdb:///absolute/path[?map_size=64GB]"`` or a plain path (LMDB on disk, safe for several
    processes at once), ``"s3://BUCKET[/PREFIX]?endpoint=...&region=..."`` (an S3 bucket shared by
    any number of processes and machines; credentials from the ``AWS_*`` environment variables,
    never from the URI; see the README's "Sharing a store across machines").

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

    _close_fn = "sheaf_store_close"

    def __init__(self, uri: str, output_format: Optional[str] = None) -> None:
        self._output_format = _convert.check_output_format(output_format)
        raw = _options.name_bytes(uri, "uri")
        out = ffi.new("SheafStore **")
        call(lib.sheaf_store_open, raw, len(raw), out)
        super().__init__(ffi.gc(out[0], lib.sheaf_store_free), uri)
        self._uri = uri

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
    def arrow_string_format_default(self) -> Optional[str]:
        """The Arrow type of string columns in pyarrow and polars reads from this store's
        libraries (``"large_string"``, ``"string"``, ``"string_view"`` or ``"categorical"``;
        ``None`` = as stored). Libraries and single reads may choose their own."""
        return getattr(self, "_string_format", None)

    @arrow_string_format_default.setter
    def arrow_string_format_default(self, value: Any) -> None:
        self._string_format = _options.string_format(value, "arrow_string_format_default")

    # -- lifecycle (close, closed, with: see Handle) ---------------------------------------------
    def close(self) -> None:
        """Closes the store: later calls on it and on its libraries, key spaces and collections
        raise :class:`sheaf.ClosedError`; calls already running on other threads finish.
        Idempotent and thread-safe."""
        super().close()

    def __reduce__(self) -> Any:
        return (Store, (self._uri, self._output_format))

    def _reopen_library(self, name: str, output_format: Optional[str]) -> Library:
        # How a pickled Library comes back: (this store, unpickled, reopens it).
        return self.get_library(name, output_format=output_format)

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
        options = _options.merge_options(
            library_options, rows_per_segment, compression, prune_previous_versions, dynamic_schema
        )
        raw = _options.name_bytes(name, "library name")
        opts = options.to_json()
        out = ffi.new("SheafLibrary **")
        call(lib.sheaf_library_create, self._h, raw, len(raw), opts or NULL, len(opts), out)
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
        raw = _options.name_bytes(name, "library name")
        opts = (library_options or LibraryOptions()).to_json() if create_if_missing else b""
        out = ffi.new("SheafLibrary **")
        call(
            lib.sheaf_library_open,
            self._h,
            raw,
            len(raw),
            bool(create_if_missing),
            opts or NULL,
            len(opts),
            out,
        )
        return Library(self, ffi.gc(out[0], lib.sheaf_library_free), name, output_format)

    def delete_library(self, name: str) -> bool:
        """Deletes a library and all its data. A missing library is not an error.

        Returns:
            Whether the library existed.
        """
        raw = _options.name_bytes(name, "library name")
        existed = ffi.new("bool *")
        call(lib.sheaf_library_delete, self._h, raw, len(raw), existed)
        return bool(existed[0])

    def has_library(self, name: str) -> bool:
        """Whether a library of that name exists."""
        raw = _options.name_bytes(name, "library name")
        out = ffi.new("bool *")
        call(lib.sheaf_library_exists, self._h, raw, len(raw), out)
        return bool(out[0])

    def sql(
        self,
        query: str,
        params: Optional[Sequence[Any]] = None,
        *,
        output_format: Optional[str] = None,
    ) -> Any:
        """:meth:`Library.sql` across the store's libraries: tables are ``library.symbol``
        (quote names that need it, ``"my lib"."sym"``); the time-travel functions take
        ``'library.symbol'``. ``output_format`` defaults to the store's."""
        fmt = _convert.check_output_format(output_format) or self.output_format
        return _sql.sql_call(lib.sheaf_store_sql_cancellable, self._h, query, params, fmt)

    def list_libraries(self) -> List[str]:
        """The names of the store's libraries, in byte order."""
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_library_list, self._h, out)
        names: List[str] = json.loads(take_bytes(out))
        return names

    def verify(self, *, progress: ProgressArg = False) -> Dict[str, Any]:
        """Checks every stored record, snapshot, staged chunk and registry entry (checksums) and
        every segment they refer to (present, checksum matching), and lists keys nothing refers
        to. Reads all data. Returns ``{"checked": int, "problems": [{"key", "problem"}],
        "leftovers": [{"key", "kind", "written_ns"}]}``; damage is reported in ``problems``,
        not raised. ``kind`` is ``"unreferenced_segment"``, ``"consumed_chunk"`` or
        ``"dropped_data"``. ``progress``: ``True`` shows a ``tqdm`` bar of the libraries, key
        spaces and collections checked (when tqdm is installed); a function gets
        ``fn(stage, unit, done, total)``."""
        out = ffi.new("SheafBytes *")
        with _progress.reporting(progress, "verify"):
            call(lib.sheaf_store_verify, self._h, out)
        report: Dict[str, Any] = json.loads(take_bytes(out))
        return report

    def reclaim(
        self, grace_seconds: float = 86400.0, *, progress: ProgressArg = False
    ) -> Dict[str, int]:
        """Removes the leftovers :meth:`verify` lists: data of dropped libraries, key spaces and
        collections and consumed staged chunks at once; unreferenced segments once older than
        ``grace_seconds`` (a write in progress has segments its version will refer to when it
        commits). Safe beside other processes if no single write takes longer than the grace
        period. Returns ``{"removed_keys": int, "kept_young_segments": int}``. ``progress``: as
        in :meth:`verify`, then a bar of the keys removed."""
        options = json.dumps({"grace_seconds": grace_seconds}).encode()
        out = ffi.new("SheafBytes *")
        with _progress.reporting(progress, "reclaim"):
            call(lib.sheaf_store_reclaim, self._h, options, len(options), out)
        report: Dict[str, int] = json.loads(take_bytes(out))
        return report

    def __getitem__(self, name: str) -> Library:
        return self.get_library(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has_library(name)

    # -- key spaces and collections (see sheaf.kv and sheaf.collection) --------------------------
    def kv(self, name: str) -> KeySpace:
        """The key space ``name`` (created on first use): a :class:`sheaf.KeySpace`."""
        raw = _space_name(name, "key space")
        out = ffi.new("SheafKeySpace **")
        call(lib.sheaf_kv_open, self._h, raw, len(raw), out)
        return KeySpace(self, ffi.gc(out[0], lib.sheaf_kv_free), name)

    def list_kv(self) -> List[str]:
        """The names of the store's key spaces, in byte order."""
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_kv_list_spaces, self._h, out)
        names: List[str] = json.loads(take_bytes(out))
        return names

    def drop_kv(self, name: str) -> bool:
        """Drops a key space and all its entries; returns whether it existed."""
        raw = _space_name(name, "key space")
        out = ffi.new("bool *")
        call(lib.sheaf_kv_drop, self._h, raw, len(raw), out)
        return bool(out[0])

    def create_collection(self, name: str) -> Collection:
        """Creates a document collection (:class:`sheaf.Collection`).

        Raises:
            CollectionExistsError: a collection of that name exists.
        """
        raw = _space_name(name, "collection")
        out = ffi.new("SheafCollection **")
        call(lib.sheaf_collection_create, self._h, raw, len(raw), out)
        return Collection(self, ffi.gc(out[0], lib.sheaf_collection_free), name)

    def open_collection(self, name: str) -> Collection:
        """Opens a document collection.

        Raises:
            NoSuchCollectionError: (a :class:`KeyError`) there is no collection of that name.
        """
        raw = _space_name(name, "collection")
        out = ffi.new("SheafCollection **")
        call(lib.sheaf_collection_open, self._h, raw, len(raw), out)
        return Collection(self, ffi.gc(out[0], lib.sheaf_collection_free), name)

    def drop_collection(self, name: str) -> None:
        """Drops a collection and its documents.

        Raises:
            NoSuchCollectionError: there is no collection of that name.
        """
        raw = _space_name(name, "collection")
        call(lib.sheaf_collection_drop, self._h, raw, len(raw))

    def collection_exists(self, name: str) -> bool:
        """Whether a collection of that name exists."""
        raw = _space_name(name, "collection")
        out = ffi.new("bool *")
        call(lib.sheaf_collection_exists, self._h, raw, len(raw), out)
        return bool(out[0])

    def list_collections(self) -> List[str]:
        """The names of the store's collections, in byte order."""
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_collection_list, self._h, out)
        names: List[str] = json.loads(take_bytes(out))
        return names


def open(uri: str, output_format: Optional[str] = None) -> Store:
    """Opens a store; the same as ``Store(uri, output_format)``."""
    return Store(uri, output_format)
