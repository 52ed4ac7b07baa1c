"""Sheaf: an embedded, versioned store for Arrow tables.

This module gathers the public names; the code lives in the modules below it (see
``docs/architecture.md``: :mod:`sheaf.store`, :mod:`sheaf.library`, :mod:`sheaf.kv`,
:mod:`sheaf.collection`, :mod:`sheaf.query`, :mod:`sheaf.errors`).

Quick start::

    import sheaf
    with sheaf.open("lmdb:///tmp/demo") as store:
        lib = store.get_library("prices", create_if_missing=True)
        lib.write("eurusd", df, metadata={"source": "ecb"})
        item = lib.read("eurusd")            # VersionedItem: .data, .version, .metadata, ...
        old = lib.read("eurusd", as_of=-2)   # the version before the latest

The API follows ArcticDB (``Store`` is its ``Arctic``): ``create_library``, ``get_library``,
``list_libraries``, ``Library.write / read / read_metadata / write_metadata / list_symbols /
list_versions / delete``.

Time series: ``append``, ``update`` (replace a date range), ``delete_data_in_range``, reads with
``date_range`` / ``row_range`` / ``columns``, ``head`` / ``tail``, ``as_of`` as a version, a
snapshot name or a datetime (naive = UTC), ``get_description``, snapshots (``snapshot``,
``list_snapshots``, ``delete_snapshot``), batches (``write_batch`` with :class:`WritePayload`,
``read_batch`` with :class:`ReadRequest`, ... one call each; a :class:`DataError` stands for a
failed item), staged writes (``stage`` + ``finalize_staged_data``) and ``compact_data``.

Queries: ``read(symbol, query_builder=q)`` runs a :class:`QueryBuilder` (filters, projections,
group-bys, resampling, row selections; ArcticDB's API, see :mod:`sheaf.query`) in the library;
``read(symbol, lazy=True)`` returns a :class:`LazyDataFrame` to build on and ``collect()``.

Key-value spaces and JSON document collections (Mochi Yokan's model) live in the same store:
``store.kv(name)`` gives a :class:`KeySpace` (``put / get / *_multi / list_keys / items``, with
:class:`Mode` flags), ``store.create_collection(name)`` / ``open_collection`` a
:class:`Collection` (``store / load / update / list_docs``); see :mod:`sheaf.kv` and
:mod:`sheaf.collection`.

Data in: pandas (index kept), pyarrow, polars, dicts of numpy arrays or lists, and anything with
``__arrow_c_stream__``. Data out: ``output_format="pandas" | "pyarrow" | "polars" | "numpy"``, set
per call, per library or per store (pandas by default when pandas and pyarrow are installed,
else numpy).

The numpy form (:class:`Columns`) is a ``dict`` of column name -> numpy array; columns with nulls
are ``numpy.ma.MaskedArray``; strings are object arrays; timestamps are ``datetime64`` UTC
instants with the time zone in ``Columns.timezones``. It works without pyarrow, pandas or polars
(e.g. on PyPy), through the Arrow C structs and cffi alone.

``VersionedItem.timestamp`` is a timezone-aware ``datetime.datetime`` in UTC (``timestamp_ns``
is the exact nanosecond value).

Errors are :class:`SheafError` subclasses that are also the natural builtin exception
(``NoSuchSymbolError`` is a ``KeyError``, ``StorageError`` an ``OSError``, ...): see
:mod:`sheaf.errors`. Log records of the library go to the ``logging`` logger ``"sheaf"``
(enable more with :func:`set_log_level`).
"""

from __future__ import annotations

from . import _lib as _lib_mod
from . import errors
from ._arrow_c import Columns
from ._config import TRACE, set_config_int, set_config_string, set_log_level
from ._lib import LIBRARY_VERSION as _LIBRARY_VERSION
from ._options import LibraryOptions
from ._types import (
    DataError,
    DeleteRequest,
    KeyType,
    MergeAction,
    MergeStrategy,
    NameWithDType,
    ReadInfoRequest,
    ReadRequest,
    Size,
    StageResult,
    SymbolDescription,
    SymbolVersion,
    UpdatePayload,
    VersionedItem,
    VersionedItemWithJoin,
    VersionInfo,
    VersionRequestType,
    WriteMetadataPayload,
    WritePayload,
)
from .collection import Collection
from .errors import (
    BufferTooSmallError,
    CancelledError,
    ClosedError,
    CollectionExistsError,
    ConflictError,
    CorruptDataError,
    GenericError,
    InternalError,
    InvalidArgumentError,
    InvalidArrowError,
    InvalidJSONError,
    InvalidModeError,
    InvalidNameError,
    InvalidURIError,
    InvalidUTF8Error,
    KeyExistsError,
    LibraryExistsError,
    NonContiguousBufferError,
    NoSuchCollectionError,
    NoSuchDocumentError,
    NoSuchKeyError,
    NoSuchLibraryError,
    NoSuchSnapshotError,
    NoSuchSymbolError,
    NoSuchVersionError,
    NotFoundError,
    NullPointerError,
    ReadOnlyBufferError,
    SchemaError,
    SheafError,
    SheafIOError,
    SheafTimeoutError,
    SnapshotExistsError,
    StorageError,
    StorageFullError,
    UnknownConfigKeyError,
    UnsortedIndexError,
    UnsupportedError,
    UnsupportedTypeError,
)
from .kv import KeySpace, Mode
from .library import (
    LazyDataFrame,
    LazyDataFrameAfterJoin,
    LazyDataFrameCollection,
    Library,
    concat,
)
from .query import ExpressionNode, QueryBuilder, where
from .store import Store, open

__version__ = _LIBRARY_VERSION
#: The C ABI version this package was generated for.
ABI_VERSION: int = int(_lib_mod.lib.SHEAF_ABI_VERSION)


def library_version() -> str:
    """The version of the loaded native library, e.g. ``"0.1.0"``."""
    return _LIBRARY_VERSION


__all__ = [
    "open",
    "Store",
    "Library",
    "LibraryOptions",
    "VersionedItem",
    "SymbolVersion",
    "VersionInfo",
    "SymbolDescription",
    "NameWithDType",
    "WritePayload",
    "WriteMetadataPayload",
    "StageResult",
    "MergeAction",
    "KeyType",
    "Size",
    "MergeStrategy",
    "VersionRequestType",
    "UpdatePayload",
    "ReadRequest",
    "ReadInfoRequest",
    "DeleteRequest",
    "DataError",
    "QueryBuilder",
    "ExpressionNode",
    "LazyDataFrame",
    "LazyDataFrameCollection",
    "LazyDataFrameAfterJoin",
    "concat",
    "VersionedItemWithJoin",
    "where",
    "Columns",
    "KeySpace",
    "Collection",
    "Mode",
    "set_config_int",
    "set_config_string",
    "set_log_level",
    "library_version",
    "TRACE",
    "errors",
    "SheafError",
    "GenericError",
    "UnsupportedError",
    "SheafTimeoutError",
    "CancelledError",
    "StorageError",
    "SheafIOError",
    "StorageFullError",
    "CorruptDataError",
    "NotFoundError",
    "NoSuchLibraryError",
    "NoSuchSymbolError",
    "NoSuchVersionError",
    "NoSuchSnapshotError",
    "NoSuchKeyError",
    "NoSuchCollectionError",
    "NoSuchDocumentError",
    "ConflictError",
    "LibraryExistsError",
    "KeyExistsError",
    "SnapshotExistsError",
    "CollectionExistsError",
    "SchemaError",
    "UnsortedIndexError",
    "UnsupportedTypeError",
    "InvalidArgumentError",
    "NullPointerError",
    "InvalidUTF8Error",
    "InvalidNameError",
    "InvalidURIError",
    "InvalidJSONError",
    "BufferTooSmallError",
    "InvalidModeError",
    "UnknownConfigKeyError",
    "InvalidArrowError",
    "NonContiguousBufferError",
    "ReadOnlyBufferError",
    "ClosedError",
    "InternalError",
]
