"""Libraries: the versioned tables of a store (ArcticDB's ``Library``) and their lazy reads.

Everything :class:`Library` does is here, including each of its C calls: writes, reads, the
time-series calls, snapshots, batches, staged writes. "Where does a read happen" has one
answer: :meth:`Library.read` and the ``_read_*`` methods below it. The argument encoding
(:mod:`sheaf._options`), the result types (:mod:`sheaf._types`), the query builder
(:mod:`sheaf._query`) and the data conversions (:mod:`sheaf._convert`) are leaves it uses.
:class:`LazyDataFrame` lives here too (ArcticDB's placement): it is a read not yet made.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from . import _arrow_c, _capsule, _convert, _metadata, _objects, _options, _progress, _sql
from ._handle import Handle, StoreLike
from ._lib import NULL, call, ffi, lib, take_bytes
from ._options import LibraryOptions
from ._progress import ProgressArg
from ._query import QueryBuilder, plan_value, split_at_concat
from ._types import (
    AUTO,
    DataError,
    KeyType,
    MergeStrategy,
    ReadRequest,
    Size,
    StageResult,
    SymbolDescription,
    SymbolVersion,
    UpdatePayload,
    VersionedItem,
    VersionedItemWithJoin,
    VersionInfo,
    WriteMetadataPayload,
    WritePayload,
    data_error,
    sizes_by_kind,
    symbol_description,
    version_info,
    versioned_item,
)
from .errors import NotFoundError, StorageError

__all__ = [
    "Library",
    "LazyDataFrame",
    "LazyDataFrameCollection",
    "LazyDataFrameAfterJoin",
    "concat",
    "AsOf",
]

#: What ``as_of`` takes: ``None`` (latest), a version number (negative counts back), a snapshot
#: name, or a datetime (naive = UTC; the newest version written at or before it).
AsOf = Union[int, str, _dt.datetime, None]


def _rows_hint(data: Any) -> Optional[int]:
    """The number of rows ``data`` holds when it says so cheaply (a table or frame), for a
    progress bar's total; ``None`` for streams and dicts of columns."""
    rows = getattr(data, "num_rows", None)
    if isinstance(rows, int):
        return rows
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and shape and isinstance(shape[0], int):
        return shape[0]
    return None


def _meta_args(meta: Optional[bytes]) -> Tuple[Any, int]:
    """The ``(pointer, length)`` of encoded metadata (``NULL, 0``: none)."""
    if meta is None:
        return NULL, 0
    return ffi.from_buffer("uint8_t[]", meta), len(meta)


def _metadata_slices(payloads: List[Any]) -> Tuple[Any, List[Any]]:
    """A ``SheafSlice[]`` of the payloads' encoded metadata (``{NULL, 0}`` for none), and the
    buffers it points into (keep them alive until the call returns)."""
    slices = ffi.new("SheafSlice[]", len(payloads))
    keep: List[Any] = []
    for i, p in enumerate(payloads):
        meta = _options.metadata_bytes(p.metadata)
        if meta is not None:
            buf = ffi.from_buffer("uint8_t[]", meta)
            keep.append(buf)
            slices[i].data = buf
            slices[i].len = len(meta)
    return slices, keep


class Library(Handle):
    """A library of versioned symbols (ArcticDB's ``Library``); get one from a :class:`Store`.

    Safe to share between threads. ``symbol in lib`` tests for a live symbol, ``lib[symbol]``
    reads its latest version. Close it with :meth:`close` or a ``with`` block; it pickles as
    (store URI, library name) and reopens when unpickled.
    """

    _close_fn = "sheaf_library_close"
    _store: StoreLike

    def __init__(
        self, store: StoreLike, handle: Any, name: str, output_format: Optional[str] = None
    ) -> None:
        super().__init__(handle, name, store)
        self._output_format = _convert.check_output_format(output_format)
        #: Where the data lives, for VersionedItem.host (ArcticDB names its storage there).
        self._host = store.uri

    # -- properties ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The library's name."""
        return self._name

    @property
    def store(self) -> StoreLike:
        """The store this library was opened from (a :class:`sheaf.Store`)."""
        return self._store

    @property
    def output_format(self) -> str:
        """The default ``output_format`` of reads (the store's unless set here)."""
        return self._output_format or self._store.output_format

    @output_format.setter
    def output_format(self, value: Optional[str]) -> None:
        self._output_format = _convert.check_output_format(value)

    @property
    def arrow_string_format_default(self) -> Optional[str]:
        """The Arrow type of string columns in pyarrow and polars reads (the store's unless
        set here; ``None`` = as stored): ``"large_string"``, ``"string"``, ``"string_view"``
        or ``"categorical"`` (ArcticDB's ``ArrowOutputStringFormat`` names and pyarrow types
        are accepted when setting it)."""
        own: Optional[str] = getattr(self, "_string_format", None)
        return own if own is not None else self._store.arrow_string_format_default

    @arrow_string_format_default.setter
    def arrow_string_format_default(self, value: Any) -> None:
        self._string_format = _options.string_format(value, "arrow_string_format_default")

    @property
    def options(self) -> LibraryOptions:
        """The options the library was created with."""
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_library_describe, self._h, out)
        doc = json.loads(take_bytes(out))["options"]
        return LibraryOptions(
            rows_per_segment=doc.get("rows_per_segment"),
            compression=doc.get("compression"),
            prune_previous_versions=doc.get("prune_previous_versions"),
            dynamic_schema=doc.get("dynamic_schema"),
        )

    # -- lifecycle (close, closed, with: see Handle) ---------------------------------------------
    def __reduce__(self) -> Any:
        return (self._store._reopen_library, (self._name, self._output_format))

    # -- writing ---------------------------------------------------------------------------------
    def write(
        self,
        symbol: str,
        data: Any,
        metadata: Any = None,
        prune_previous_versions: Optional[bool] = None,
        validate_index: bool = True,
        *,
        index: Optional[str] = AUTO,
        progress: ProgressArg = False,
    ) -> VersionedItem:
        """Writes ``data`` as a new version of ``symbol``, replacing its content.

        Args:
            symbol: the symbol's name (UTF-8, 1-255 bytes, no control characters).
            data: a pandas DataFrame or Series (index kept; duplicate column names are stored
                as ``"<name>.1"``, ... and restored by pandas reads), a pyarrow Table,
                RecordBatch or RecordBatchReader (a reader is consumed), a polars DataFrame, a
                dict of numpy arrays or lists (masked arrays and ``None`` give nulls), a
                :class:`sheaf.Columns`, a bare 1-D or 2-D numpy array (columns ``"ndarray"``,
                or ``"0"`` .. ``"k-1"``; pandas and numpy reads give the array back), or any
                object with ``__arrow_c_stream__`` / ``_export_to_c``.
            metadata: JSON-compatible value stored with the version (datetimes allowed, at
                most 100 levels of dicts and lists); ``None`` = no metadata.
            prune_previous_versions: delete every earlier version after committing;
                ``None`` takes the library's option.
            validate_index: refuse an index column that is not sorted ascending.
            index: the Sheaf index column (timestamp, date or integer, no nulls): it drives
                order validation. By default (``AUTO``) a pandas DatetimeIndex is the index
                (its stored column is the index's name, or ``"__index_level_0__"`` when
                unnamed), as is an integer index that is sorted ascending, and the first level
                of a MultiIndex that is either (its other levels are columns); a RangeIndex is
                kept as pandas metadata only (no column); a :class:`sheaf.Columns` keeps the
                index it was read with; other inputs have none. ``None`` forces no index.
            progress: ``True`` shows a ``tqdm`` bar (when tqdm is installed; nothing
                otherwise) while the library takes the rows in; a function is called as
                ``fn(stage, unit, done, total)`` with the library's reports (see
                ``docs/progress.md``).

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
        version = self._stream_commit(
            lib.sheaf_table_write,
            symbol,
            data,
            metadata,
            index,
            lambda chosen: _options.write_options(chosen, validate_index, prune_previous_versions),
            progress,
        )
        return self._committed(symbol, version, metadata)

    def admin_tools(self) -> AdminTools:
        """Storage sizes of the library, per symbol and kind of value (ArcticDB's
        ``admin_tools()``)."""
        return AdminTools(self)

    def write_pickle(
        self,
        symbol: str,
        data: Any,
        metadata: Any = None,
        prune_previous_versions: Optional[bool] = None,
    ) -> VersionedItem:
        """Writes any picklable Python object as a new version of ``symbol`` (ArcticDB's
        ``write_pickle``): the library stores its bytes as an opaque object with the format
        ``"python-pickle"`` (C readers see one binary column and ``"content"`` in the version
        info). ``read(symbol, allow_pickle=True)`` gives the object back; without
        ``allow_pickle`` the read raises, since unpickling runs code chosen by the writer.
        Appends, updates and merges refuse such a version; a write replaces it.

        Raises:
            pickle.PicklingError / TypeError: ``data`` cannot be pickled (nothing is written).
        """
        version = self._stream_commit(
            lib.sheaf_table_write,
            symbol,
            _objects.pickled_columns(data),
            metadata,
            None,
            lambda _chosen: _pickle_options(prune_previous_versions),
        )
        return self._committed(symbol, version, metadata)

    def write_pickle_batch(
        self,
        payloads: Iterable[WritePayload],
        prune_previous_versions: Optional[bool] = None,
    ) -> List[Union[VersionedItem, DataError]]:
        """Writes many objects as :meth:`write_pickle` does, in one call: one
        :class:`VersionedItem` per :class:`WritePayload` (its ``data`` any picklable object),
        or a :class:`DataError` where that item failed."""
        pickled = []
        for p in payloads:
            if not isinstance(p, WritePayload):
                raise TypeError(
                    f"write_pickle_batch takes WritePayload objects, not {type(p).__name__}"
                )
            pickled.append(
                WritePayload(p.symbol, _objects.pickled_columns(p.data), p.metadata, index=None)
            )
        return self._commit_batch(
            "write", pickled, lambda _p, _chosen: _pickle_options(prune_previous_versions)
        )

    def _committed(self, symbol: str, version: int, metadata: Any = AUTO) -> VersionedItem:
        """The result of a commit: its info fetched from the library (``metadata`` AUTO = the
        version's own, read back). The version is committed whatever happens to the read-back:
        if the version is gone (a racing prune) or the storage fails to answer (a server lost
        after the commit), the item carries the version without its timestamp, since raising
        would tell the caller that a committed write failed (and a retried append would land
        twice)."""
        if metadata is AUTO:
            try:
                info, metadata = self._read_info(symbol, version)
            except (NotFoundError, StorageError):
                return VersionedItem(symbol, self._name, None, version, None, host=self._host)
            return versioned_item(info, self._name, None, metadata, host=self._host)
        found = self._committed_info(symbol, version)
        if found is None:
            return VersionedItem(symbol, self._name, None, version, metadata, host=self._host)
        return versioned_item(found, self._name, None, metadata, host=self._host)

    def write_metadata(
        self, symbol: str, metadata: Any, prune_previous_versions: Optional[bool] = None
    ) -> VersionedItem:
        """Writes a new version of ``symbol`` with the data of its latest version and new
        ``metadata`` (``None`` = no metadata). A symbol without versions gets a first version
        holding only the metadata (as in ArcticDB): its data is a table with no columns and no
        rows; a later :meth:`write` or :meth:`append` starts the data.

        Returns:
            A :class:`VersionedItem` with ``data=None``, the new ``version`` and its
            ``timestamp``.

        Raises:
            TypeError: the metadata is not JSON-compatible.
            ValueError: the metadata nests deeper than 100 levels or contains itself.
        """
        raw = _options.name_bytes(symbol, "symbol")
        meta_ptr, meta_len = _meta_args(_options.metadata_bytes(metadata))
        opts = _options.prune_options(prune_previous_versions)
        version = ffi.new("uint64_t *")
        call(
            lib.sheaf_table_write_metadata,
            self._h,
            raw,
            len(raw),
            meta_ptr,
            meta_len,
            opts or NULL,
            len(opts),
            version,
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
        arrow_string_format_default: Any = None,
        arrow_string_format_per_column: Optional[Dict[str, Any]] = None,
        allow_pickle: bool = False,
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
        arrow_string_format_default: Any = None,
        arrow_string_format_per_column: Optional[Dict[str, Any]] = None,
        allow_pickle: bool = False,
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
        arrow_string_format_default: Any = None,
        arrow_string_format_per_column: Optional[Dict[str, Any]] = None,
        allow_pickle: bool = False,
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
        arrow_string_format_default: Any = None,
        arrow_string_format_per_column: Optional[Dict[str, Any]] = None,
        allow_pickle: bool = False,
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
                A version written from a bare numpy array reads back as a ``numpy.ndarray`` in
                pandas and numpy output (of the rows and columns read).
                ``"reader"``: a ``pyarrow.RecordBatchReader`` that streams, one batch per
                stored segment loaded only as it is consumed (``duckdb.sql("… FROM
                reader")``, ``polars.from_arrow(reader)``, a loop): a symbol larger than
                memory can be scanned. The index is a plain column; errors while streaming
                come as ``pyarrow.ArrowException`` naming the Sheaf status.
            query_builder: a :class:`sheaf.QueryBuilder` whose clauses the library applies,
                in order, to the rows ``as_of``, ``date_range`` and ``row_range`` select
                (``columns`` then chooses the stored columns kept). Leading filters skip the
                segments their statistics rule out. pandas output of a group-by or resample
                is indexed by its keys (a MultiIndex for several); a stored RangeIndex becomes
                a fresh ``0..n`` after a filter; a DatetimeIndex or other stored index is
                kept.
            lazy: return a :class:`sheaf.LazyDataFrame` instead of reading: extend its query
                (it has the methods of :class:`sheaf.QueryBuilder`) and call ``collect()``.
            arrow_string_format_default: the Arrow type of the result's string columns in
                ``"pyarrow"`` and ``"polars"`` output: ``"large_string"``, ``"string"``,
                ``"string_view"`` or ``"categorical"`` (or a pyarrow type); ``None`` = the
                library's (:attr:`arrow_string_format_default`), else as stored. The library
                casts them while reading. pandas and numpy output ignore it.
            arrow_string_format_per_column: ``{column: format}`` for single columns, over the
                default. A column that is not a string column of the result raises
                :class:`sheaf.SchemaError`.
            allow_pickle: unpickle a version written by :meth:`write_pickle`. Unpickling runs
                code chosen by whoever wrote it, so without this such a read raises
                :class:`sheaf.SchemaError` (ArcticDB unpickles silently). Objects other
                programs wrote with a ``content`` format of their own read back as ``bytes``.
                Objects are read whole: no ranges, columns or queries.

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
                ("arrow_string_format_default", arrow_string_format_default),
                ("arrow_string_format_per_column", arrow_string_format_per_column),
            ):
                if value is not None:
                    args[key] = value
            _options.read_options(
                as_of, date_range, row_range, args.get("columns"), plan_value(query_builder)
            )
            return LazyDataFrame(self, symbol, args, query_builder)
        doc = self._read_doc(
            fmt,
            as_of,
            date_range,
            row_range,
            columns,
            query_builder,
            arrow_string_format_default,
            arrow_string_format_per_column,
        )
        stream, info, metadata = self._read_stream(symbol, doc)
        content = info.get("content")
        if content is not None:
            ranged = any(k in doc for k in ("row_range", "date_range", "columns")) or bool(
                doc.get("query")
            )
            data = _objects.object_from_stream(
                stream, symbol, int(info["version"]), str(content), allow_pickle, ranged
            )
        else:
            data = self._import_data(symbol, stream, fmt, info, doc)
        return versioned_item(info, self._name, data, metadata, host=self._host)

    def __getitem__(self, symbol: str) -> VersionedItem:
        return self.read(symbol)

    def sql(
        self,
        query: str,
        params: Optional[Sequence[Any]] = None,
        *,
        output_format: Optional[str] = None,
    ) -> Any:
        """Runs one SQL statement over this library's symbols (tables by bare name) inside the
        library (Apache DataFusion); works on every interpreter, PyPy included.

        Each table is one version, pinned when the statement is planned (the latest; or
        ``at_version('sym', 3)``, ``at_snapshot('sym', 'name')``,
        ``at_time('sym', TIMESTAMP '2024-01-01 00:00:00Z')``). Projections, filters on
        integer, string, bool and timestamp columns and limits are pushed into the read
        (``EXPLAIN`` shows them). ``INSERT INTO`` appends, ``CREATE TABLE … AS`` writes a new
        symbol, ``DELETE`` / ``UPDATE`` write a new version computed from the latest (re-run
        if another commit lands first); they return one row, ``count``. Ctrl-C cancels.

        Args:
            params: values bound to ``$1, $2, …`` (None, bool, int, float, str, date,
                datetime — naive datetimes are UTC), never spliced into the text.
            output_format: ``"pandas"``, ``"pyarrow"``, ``"polars"`` or ``"numpy"``; the
                library's default otherwise.

        Raises:
            InvalidArgumentError: a syntax error, an unknown table or function, a type error
                (DataFusion's message, with the position).
            SchemaError: an unknown or ambiguous column.
            UnsupportedError: DDL other than ``CREATE TABLE … AS``.
            ConflictError: a write kept losing races (``commit.max_retries``).
        """
        fmt = _convert.check_output_format(output_format) or self.output_format
        return _sql.sql_call(lib.sheaf_sql_cancellable, self._h, query, params, fmt)

    @overload
    def head(
        self,
        symbol: str,
        n: int = 5,
        as_of: AsOf = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        lazy: Literal[False] = False,
    ) -> VersionedItem: ...

    @overload
    def head(
        self,
        symbol: str,
        n: int = 5,
        as_of: AsOf = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        *,
        lazy: Literal[True],
    ) -> LazyDataFrame: ...

    def head(
        self,
        symbol: str,
        n: int = 5,
        as_of: AsOf = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        lazy: bool = False,
    ) -> Union[VersionedItem, LazyDataFrame]:
        """The first ``n`` rows of ``symbol`` (``n < 0``: all rows but the last ``-n``).

        Arguments and result as in :meth:`read` (``row_range=(0, n)``); ``lazy=True`` returns a
        :class:`sheaf.LazyDataFrame` whose further clauses apply to those rows.
        """
        rows = _options.head_range(n)
        if lazy:
            return self.read(symbol, as_of, None, rows, columns, output_format, lazy=True)
        return self.read(symbol, as_of, None, rows, columns, output_format)

    @overload
    def tail(
        self,
        symbol: str,
        n: int = 5,
        as_of: AsOf = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        lazy: Literal[False] = False,
    ) -> VersionedItem: ...

    @overload
    def tail(
        self,
        symbol: str,
        n: int = 5,
        as_of: AsOf = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        *,
        lazy: Literal[True],
    ) -> LazyDataFrame: ...

    def tail(
        self,
        symbol: str,
        n: int = 5,
        as_of: AsOf = None,
        columns: Optional[Iterable[str]] = None,
        output_format: Optional[str] = None,
        lazy: bool = False,
    ) -> Union[VersionedItem, LazyDataFrame]:
        """The last ``n`` rows of ``symbol`` (``n < 0``: all rows but the first ``-n``).

        Arguments and result as in :meth:`read` (``row_range=(-n, None)``); ``lazy=True`` returns a
        :class:`sheaf.LazyDataFrame` whose further clauses apply to those rows.
        """
        rows = _options.tail_range(n)
        if lazy:
            return self.read(symbol, as_of, None, rows, columns, output_format, lazy=True)
        return self.read(symbol, as_of, None, rows, columns, output_format)

    def read_metadata(self, symbol: str, as_of: AsOf = None) -> VersionedItem:
        """Reads only the metadata and version info of ``symbol`` (``data`` is None).

        Args:
            symbol: the symbol's name.
            as_of: as in :meth:`read`.

        Raises:
            NoSuchSymbolError, NoSuchVersionError, NoSuchSnapshotError: as in :meth:`read`.
        """
        info, metadata = self._read_info(symbol, as_of)
        return versioned_item(info, self._name, None, metadata, host=self._host)

    def get_description(self, symbol: str, as_of: AsOf = None) -> SymbolDescription:
        """Describes a version without reading its data: columns and types, index, row count,
        index range (``date_range`` for a timestamp index), sortedness, last update time.

        Raises:
            NoSuchSymbolError, NoSuchVersionError, NoSuchSnapshotError: as in :meth:`read`.
        """
        raw = _options.name_bytes(symbol, "symbol")
        opts = _options.as_of_options(as_of)
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_table_describe, self._h, raw, len(raw), opts or NULL, len(opts), out)
        return symbol_description(json.loads(take_bytes(out)))

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
        out = ffi.new("SheafBytes *")
        if snapshot_name is None and regex is None:
            call(lib.sheaf_table_list_symbols, self._h, out)
        else:
            options = _options.list_symbols_options(snapshot_name, regex)
            call(lib.sheaf_table_list_symbols_filtered, self._h, options, len(options), out)
        names: List[str] = json.loads(take_bytes(out))
        return names

    def has_symbol(self, symbol: str, as_of: AsOf = None) -> bool:
        """Whether ``symbol`` has a live version (with ``as_of``: whether that version, as in
        :meth:`read`, can be read)."""
        if as_of is not None:
            try:
                self.read_metadata(symbol, as_of)
            except NotFoundError:
                return False
            return True
        raw = _options.name_bytes(symbol, "symbol")
        out = ffi.new("bool *")
        call(lib.sheaf_table_has_symbol, self._h, raw, len(raw), out)
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
        opts = _options.query_versions_options(symbol, snapshot, latest_only)
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_table_query_versions, self._h, opts or NULL, len(opts), out)
        infos: List[Dict[str, Any]] = json.loads(take_bytes(out))
        result: Dict[SymbolVersion, VersionInfo] = {}
        for info in infos:
            key, value = version_info(info, skip_snapshots)
            result[key] = value
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
        index: Optional[str] = AUTO,
        progress: ProgressArg = False,
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
            progress: as in :meth:`write`.

        Returns:
            A :class:`VersionedItem` (``data=None``) with the new version and its timestamp.

        Raises:
            UnsortedIndexError: the new rows start before the stored ones end (or are not
                sorted) and ``validate_index`` is True.
            SchemaError: the columns differ from the stored ones.
        """
        version = self._stream_commit(
            lib.sheaf_table_append,
            symbol,
            data,
            metadata,
            index,
            lambda chosen: _options.write_options(chosen, validate_index, prune_previous_versions),
            progress,
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
        *,
        progress: ProgressArg = False,
    ) -> VersionedItem:
        """Replaces the rows of ``symbol`` whose index lies in the span of ``data`` (its first to
        last index value), or in ``date_range``, by the rows of ``data``, as a new version.
        Rows outside the span are kept; only the segments overlapping it are rewritten.

        Args:
            symbol: an indexed symbol (timestamp, date or integer index).
            data: as in :meth:`write`, with the stored index column (a pandas DatetimeIndex
                is one, as is the first level of a MultiIndex).
            metadata: the new version's metadata (not carried over).
            upsert: create a missing symbol from ``data`` (indexed by its index column, e.g.
                a pandas DatetimeIndex) instead of raising.
            date_range: ``(start, end)`` (inclusive; bounds as in :meth:`read`): the span to
                replace; rows of ``data`` outside it are dropped. Empty ``data`` with a
                ``date_range`` deletes the range.
            prune_previous_versions: as in :meth:`write`.
            index: the index column of ``data`` when it cannot be detected (a dict or an Arrow
                table), as in :meth:`write`; needed when ``upsert`` creates the symbol.
            progress: as in :meth:`write`.

        Empty ``data`` without ``date_range`` still makes a new version with the same rows
        (ArcticDB does the same).

        Raises:
            NoSuchSymbolError: the symbol does not exist and ``upsert`` is False.
            SchemaError: the symbol has no index, or the columns differ.
        """
        version = self._stream_commit(
            lib.sheaf_table_update,
            symbol,
            data,
            metadata,
            AUTO if index is None else index,
            lambda chosen: _options.update_options(
                date_range, upsert, prune_previous_versions, chosen
            ),
            progress,
        )
        return self._committed(symbol, version, metadata)

    def merge_experimental(
        self,
        symbol: str,
        source: Any,
        strategy: Optional[MergeStrategy] = None,
        on: Optional[List[str]] = None,
        metadata: Any = None,
        prune_previous_versions: Optional[bool] = None,
        index: Optional[str] = None,
    ) -> VersionedItem:
        """Merges ``source`` into the latest version of ``symbol`` as a new version, in one
        library call (ArcticDB's ``merge_experimental``).

        A source row matches a stored row when their index values and every ``on`` column are
        equal. With the default strategy matched rows take the source's values and the other
        source rows are inserted in index order (after stored rows of the same index value).
        Only the segments overlapping the source's index span are rewritten; a concurrent
        commit makes the merge run again against it, never over it.

        Args:
            symbol: an indexed symbol.
            source: as in :meth:`write`: the symbol's columns (any order, same types) with its
                index, sorted by the index.
            strategy: a :class:`MergeStrategy` (default: update matched rows, insert the rest).
            on: columns that must also be equal for rows to match.
            metadata: the new version's metadata (not carried over).
            prune_previous_versions: as in :meth:`write`.
            index: the index column of ``source`` when it cannot be detected (a dict or an Arrow
                table).

        Raises:
            NoSuchSymbolError: the symbol does not exist.
            SchemaError: the symbol has no index, or the columns differ.
            UnsortedIndexError: ``source`` is not sorted by its index.
            InvalidArgumentError: a stored row matches two source rows; actions that cannot
                apply (``matched=INSERT``, ``not_matched_by_target=UPDATE``, both
                ``DO_NOTHING``).
        """
        chosen_strategy = MergeStrategy() if strategy is None else strategy
        opts = _options.merge_call_options(chosen_strategy, on, prune_previous_versions)
        version = self._stream_commit(
            lib.sheaf_table_merge,
            symbol,
            source,
            metadata,
            AUTO if index is None else index,
            lambda _chosen: opts,
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
        if date_range is None:
            raise TypeError("delete_data_in_range needs a date_range")
        raw = _options.name_bytes(symbol, "symbol")
        opts = _options.options_bytes(
            _options.update_options(date_range, False, prune_previous_versions)
        )
        out = ffi.new("uint64_t *")
        call(lib.sheaf_table_delete_data_in_range, self._h, raw, len(raw), opts, len(opts), out)
        version = int(out[0])
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
        raw = _options.name_bytes(snap_name, "snapshot name")
        opts = _options.snapshot_options(skip_symbols, versions)
        meta_ptr, meta_len = _meta_args(_options.metadata_bytes(metadata))
        call(
            lib.sheaf_snapshot_create,
            self._h,
            raw,
            len(raw),
            meta_ptr,
            meta_len,
            opts or NULL,
            len(opts),
        )

    def list_snapshots(self, load_metadata: bool = True) -> Any:
        """The snapshots, by name: ``{name: metadata}`` (metadata ``None`` when there is
        none), or a list of names with ``load_metadata=False``."""
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_snapshot_list, self._h, out)
        snaps: List[Dict[str, Any]] = json.loads(take_bytes(out))
        if not load_metadata:
            return [s["name"] for s in snaps]
        return {
            s["name"]: self._snapshot_metadata(s["name"]) if s["has_metadata"] else None
            for s in snaps
        }

    def delete_snapshot(self, snapshot_name: str) -> None:
        """Deletes a snapshot; data of deleted versions only it held is removed.

        Raises:
            NoSuchSnapshotError: (a :class:`KeyError`) no snapshot of that name.
        """
        raw = _options.name_bytes(snapshot_name, "snapshot name")
        call(lib.sheaf_snapshot_delete, self._h, raw, len(raw))

    # -- batches ---------------------------------------------------------------------------------
    def write_batch(
        self,
        payloads: Iterable[WritePayload],
        prune_previous_versions: Optional[bool] = None,
        validate_index: bool = True,
        *,
        progress: ProgressArg = False,
    ) -> List[Union[VersionedItem, DataError]]:
        """Writes many symbols in one call: one :class:`VersionedItem` per
        :class:`WritePayload`, or a :class:`DataError` where that item failed. Not atomic
        across symbols. ``progress``: as in :meth:`write`, with a bar of the items done.

        Raises:
            InvalidArgumentError: a symbol appears twice (nothing is written).
            TypeError: an item's data or metadata cannot be converted (nothing is written).
        """
        return self._commit_batch(
            "write",
            list(payloads),
            lambda p, chosen: _options.write_options(
                chosen, validate_index, prune_previous_versions
            ),
            progress,
        )

    def append_batch(
        self,
        payloads: Iterable[WritePayload],
        prune_previous_versions: Optional[bool] = None,
        validate_index: bool = True,
        *,
        progress: ProgressArg = False,
    ) -> List[Union[VersionedItem, DataError]]:
        """Appends to many symbols in one call (each as :meth:`append`); results as in
        :meth:`write_batch`."""
        return self._commit_batch(
            "append",
            list(payloads),
            lambda p, chosen: _options.write_options(
                chosen, validate_index, prune_previous_versions
            ),
            progress,
        )

    def update_batch(
        self,
        payloads: Iterable[UpdatePayload],
        upsert: bool = False,
        prune_previous_versions: Optional[bool] = None,
        *,
        progress: ProgressArg = False,
    ) -> List[Union[VersionedItem, DataError]]:
        """Updates many symbols in one call (each :class:`UpdatePayload` as :meth:`update`,
        with its own ``date_range``); results as in :meth:`write_batch`."""
        return self._commit_batch(
            "update",
            list(payloads),
            lambda p, chosen: _options.update_options(
                p.date_range, upsert, prune_previous_versions, chosen
            ),
            progress,
        )

    @overload
    def read_batch(
        self,
        symbols: Iterable[Union[str, ReadRequest]],
        output_format: Optional[str] = None,
        query_builder: Optional[QueryBuilder] = None,
        lazy: Literal[False] = False,
    ) -> Union[List[Union[VersionedItem, DataError]], VersionedItemWithJoin]: ...

    @overload
    def read_batch(
        self,
        symbols: Iterable[Union[str, ReadRequest]],
        output_format: Optional[str] = None,
        query_builder: Optional[QueryBuilder] = None,
        *,
        lazy: Literal[True],
    ) -> LazyDataFrameCollection: ...

    def read_batch(
        self,
        symbols: Iterable[Union[str, ReadRequest]],
        output_format: Optional[str] = None,
        query_builder: Optional[QueryBuilder] = None,
        lazy: bool = False,
    ) -> Union[
        List[Union[VersionedItem, DataError]], LazyDataFrameCollection, VersionedItemWithJoin
    ]:
        """Reads many symbols in one call: symbols (latest version) or :class:`ReadRequest`
        objects (``as_of``, ``date_range``, ``row_range``, ``columns``, ``query_builder`` as
        in :meth:`read`; a symbol may appear more than once). ``query_builder`` here applies
        to every item that has none of its own. One :class:`VersionedItem` per item, or a
        :class:`DataError` where that item failed (a query error included).

        With ``lazy=True``, a :class:`LazyDataFrameCollection` instead: clauses added to it
        apply to every item, ``collect()`` reads, and :func:`sheaf.concat` joins the items
        into one result. A ``query_builder`` holding :meth:`QueryBuilder.concat` joins them
        too: its clauses before the concat apply to each item without a plan of its own, those
        after it to the whole, and the result is one :class:`VersionedItemWithJoin`."""
        fmt = _convert.check_output_format(output_format) or self.output_format
        plan = plan_value(query_builder)  # type-checks it first
        split = split_at_concat(plan) if plan is not None else None
        if split is not None:
            if lazy:
                raise ValueError(
                    "read_batch(lazy=True) with a concat in query_builder: call .concat() on "
                    "the LazyDataFrameCollection instead"
                )
            before, join, after = split
            collection = self.read_batch(
                symbols, output_format, QueryBuilder.from_json(before), lazy=True
            )
            return collection.concat(join).then(QueryBuilder.from_json(after)).collect()
        if lazy:
            shared = plan_value(query_builder)  # type-checked now, as a read would
            lazies: List[LazyDataFrame] = []
            for r in (_options.read_request(x) for x in symbols):
                args: Dict[str, Any] = {"output_format": fmt}
                for key in ("as_of", "date_range", "row_range", "columns"):
                    if getattr(r, key) is not None:
                        args[key] = getattr(r, key)
                own = r.query_builder
                if own is None and shared is not None:
                    own = query_builder
                lazies.append(LazyDataFrame(self, r.symbol, args, own))
            return LazyDataFrameCollection(lazies)
        return self._read_batch(list(symbols), fmt, query_builder)

    def read_metadata_batch(
        self, symbols: Iterable[Any], as_ofs: Optional[Iterable[AsOf]] = None
    ) -> List[Union[VersionedItem, DataError]]:
        """Reads the metadata of many symbols in one call (symbols or
        :class:`ReadInfoRequest` objects; ``as_ofs``, when given, one ``as_of`` per symbol).
        Results as in :meth:`read_batch`, with ``data=None``."""
        reqs = _options.read_info_requests(list(symbols), None if as_ofs is None else list(as_ofs))
        n = len(reqs)
        if n == 0:
            return []
        items: List[Dict[str, Any]] = []
        for r in reqs:
            value = _options.as_of_value(r.as_of)
            doc = {} if value is None else {"as_of": value}
            items.append(_options.batch_item(_options.batch_symbol(r.symbol), doc))
        text = _options.items_bytes(items)
        metas = ffi.new("SheafBytes[]", n)
        out = ffi.new("SheafBytes *")
        results: List[Union[VersionedItem, DataError]] = []
        try:
            call(lib.sheaf_table_read_metadata_batch, self._h, text, len(text), metas, n, out)
            for i, (req, res) in enumerate(zip(reqs, json.loads(take_bytes(out)))):
                meta_raw = take_bytes(metas + i)
                if "error" in res:
                    results.append(
                        data_error(
                            req.symbol,
                            req.as_of,
                            res["error"],
                            _options.version_request(req.as_of),
                        )
                    )
                    continue
                info = res["info"]
                metadata = _metadata.decode(meta_raw) if info.get("has_metadata") else None
                results.append(versioned_item(info, self._name, None, metadata, host=self._host))
        finally:
            for i in range(n):
                lib.sheaf_bytes_free(metas + i)
        return results

    def write_metadata_batch(
        self,
        write_metadata_payloads: Iterable[Any],
        prune_previous_versions: Optional[bool] = None,
    ) -> List[Union[VersionedItem, DataError]]:
        """Writes new metadata for many symbols in one call, each as :meth:`write_metadata`
        does (:class:`WriteMetadataPayload` items, or ``(symbol, metadata)`` pairs): one
        :class:`VersionedItem` per item, or a :class:`DataError` where that item failed. Not
        atomic across symbols.

        Raises:
            InvalidArgumentError: a symbol appears twice (nothing is written).
            TypeError: an item's metadata is not JSON-compatible (nothing is written).
        """
        payloads = [
            p if isinstance(p, WriteMetadataPayload) else WriteMetadataPayload(*p)
            for p in write_metadata_payloads
        ]
        n = len(payloads)
        if n == 0:
            return []
        option_doc: Dict[str, Any] = (
            {}
            if prune_previous_versions is None
            else {"prune_previous_versions": bool(prune_previous_versions)}
        )
        slices, _keep_alive = _metadata_slices(payloads)  # the slices point into these
        items = [_options.batch_item(_options.batch_symbol(p.symbol), option_doc) for p in payloads]
        text = _options.items_bytes(items)
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_table_write_metadata_batch, self._h, text, len(text), slices, n, out)
        return self._committed_batch(payloads, json.loads(take_bytes(out)))

    def get_description_batch(
        self, symbols: Iterable[Any], as_ofs: Optional[Iterable[AsOf]] = None
    ) -> List[Union[SymbolDescription, DataError]]:
        """Describes many versions in one call, as :meth:`get_description` does (symbols or
        :class:`ReadInfoRequest` objects; ``as_ofs``, when given, one ``as_of`` per symbol):
        one :class:`SymbolDescription` per item, or a :class:`DataError` where it failed."""
        reqs = _options.read_info_requests(list(symbols), None if as_ofs is None else list(as_ofs))
        n = len(reqs)
        if n == 0:
            return []
        items: List[Dict[str, Any]] = []
        for r in reqs:
            value = _options.as_of_value(r.as_of)
            doc = {} if value is None else {"as_of": value}
            items.append(_options.batch_item(_options.batch_symbol(r.symbol), doc))
        text = _options.items_bytes(items)
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_table_describe_batch, self._h, text, len(text), n, out)
        return [
            data_error(r.symbol, r.as_of, res["error"], _options.version_request(r.as_of))
            if "error" in res
            else symbol_description(res["description"])
            for r, res in zip(reqs, json.loads(take_bytes(out)))
        ]

    def delete_batch(
        self, items: Iterable[Any], *, progress: ProgressArg = False
    ) -> List[Optional[DataError]]:
        """Deletes many symbols (``str``) or some of their versions
        (:class:`DeleteRequest` ``(symbol, version_ids)``) in one call: ``None`` per item that
        succeeded, a :class:`DataError` where it failed.

        Raises:
            InvalidArgumentError: a symbol appears twice (nothing is deleted).
        """
        reqs = [_options.delete_request(r) for r in items]
        if not reqs:
            return []
        docs = [{"symbol": _options.batch_symbol(s), "options": {"versions": v}} for s, v in reqs]
        text = _options.items_bytes(docs)
        out = ffi.new("SheafBytes *")
        with _progress.reporting(progress, "delete_batch"):
            call(lib.sheaf_table_delete_batch, self._h, text, len(text), out)
        return [
            data_error(s, v, r["error"]) if "error" in r else None
            for (s, v), r in zip(reqs, json.loads(take_bytes(out)))
        ]

    # -- staged writes ---------------------------------------------------------------------------
    def stage(
        self,
        symbol: str,
        data: Any,
        validate_index: bool = True,
        sort_on_index: bool = False,
        sort_columns: Optional[List[str]] = None,
        *,
        index: Optional[str] = AUTO,
    ) -> StageResult:
        """Stores ``data`` as a chunk of ``symbol``, invisible until
        :meth:`finalize_staged_data`. Many writers (threads or processes) may stage one symbol
        at once. ``index`` is detected as in :meth:`write`.

        Args:
            sort_on_index: sort the chunk's rows by its index first (the library reads the
                chunk whole to sort it).
            sort_columns: sort by these columns too (after the index when sorting on it).

        Returns:
            A :class:`StageResult` naming the chunk, for
            ``finalize_staged_data(stage_results=[...])``.
        """
        raw = _options.name_bytes(symbol, "symbol")
        stream = ffi.new("struct ArrowArrayStream *")
        try:
            chosen = _convert.export_input(data, stream, index)
            opts = _options.options_bytes(
                _options.stage_options(chosen, validate_index, sort_on_index, sort_columns)
            )
        except BaseException:
            _arrow_c.release_stream(stream)
            raise
        out = ffi.new("SheafBytes *")
        call(
            lib.sheaf_table_stage_chunk,
            self._h,
            raw,
            len(raw),
            stream,
            opts or NULL,
            len(opts),
            out,
        )
        return StageResult(symbol, take_bytes(out).decode())

    def finalize_staged_data(
        self,
        symbol: str,
        mode: Any = "write",
        prune_previous_versions: Optional[bool] = None,
        metadata: Any = None,
        validate_index: bool = True,
        delete_staged_data_on_failure: bool = False,
        stage_results: Optional[List[StageResult]] = None,
        *,
        progress: ProgressArg = False,
    ) -> VersionedItem:
        """Commits the chunks staged for ``symbol`` as one new version: ``mode="write"``
        (or ``None``) replaces the content, ``"append"`` appends to it. With an index, chunks
        are ordered by it and must not overlap each other or start before the stored end
        (:class:`sheaf.UnsortedIndexError`; see :meth:`sort_and_finalize_staged_data`).

        Args:
            validate_index: ``False`` commits overlapping chunks in chunk order as a version
                marked unsorted (``date_range`` reads and ``update`` then refuse it).
            delete_staged_data_on_failure: when the finalize is refused for its data (schema,
                index order), drop the chunks it was finalizing instead of leaving them.
            stage_results: finalize only these chunks (from :meth:`stage`); the others stay
                staged.
            progress: as in :meth:`write`, with a bar of the chunks done.

        Raises:
            NotFoundError: nothing is staged for ``symbol``, or a ``stage_results`` chunk is
                no longer staged.
        """
        version = self._finalize(
            symbol,
            mode,
            metadata,
            prune_previous_versions,
            False,
            stage_results,
            validate_index,
            delete_staged_data_on_failure,
            progress,
        )
        return self._committed(symbol, version, metadata)

    def sort_and_finalize_staged_data(
        self,
        symbol: str,
        mode: Any = "write",
        prune_previous_versions: Optional[bool] = None,
        metadata: Any = None,
        delete_staged_data_on_failure: bool = False,
        stage_results: Optional[List[StageResult]] = None,
        *,
        progress: ProgressArg = False,
    ) -> VersionedItem:
        """:meth:`finalize_staged_data` after sorting the staged rows by the index (chunks may
        overlap)."""
        version = self._finalize(
            symbol,
            mode,
            metadata,
            prune_previous_versions,
            True,
            stage_results,
            True,
            delete_staged_data_on_failure,
            progress,
        )
        return self._committed(symbol, version, metadata)

    def get_staged_symbols(self) -> List[str]:
        """The symbols with staged chunks, in byte order."""
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_table_list_staged_symbols, self._h, out)
        names: List[str] = json.loads(take_bytes(out))
        return names

    def list_staged_chunks(self, symbol: str) -> List[StageResult]:
        """The chunks staged for ``symbol`` and not yet finalized or deleted, in index order, as
        the :class:`StageResult` objects :meth:`stage` returned (for a process that lost
        them); ``finalize_staged_data(stage_results=...)`` takes them."""
        raw = _options.name_bytes(symbol, "symbol")
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_table_list_staged_chunks, self._h, raw, len(raw), out)
        return [StageResult(symbol, str(c["id"])) for c in json.loads(take_bytes(out))]

    def delete_staged_data(self, symbol: str) -> int:
        """Removes the staged chunks of ``symbol``; returns how many there were."""
        raw = _options.name_bytes(symbol, "symbol")
        count = ffi.new("uint64_t *")
        call(lib.sheaf_table_delete_staged, self._h, raw, len(raw), count)
        return int(count[0])

    # -- maintenance -----------------------------------------------------------------------------
    def prune_previous_versions(self, symbol: str) -> None:
        """Deletes every live version of ``symbol`` but the latest (versions held by snapshots
        keep their data)."""
        raw = _options.name_bytes(symbol, "symbol")
        call(lib.sheaf_table_prune_previous_versions, self._h, raw, len(raw))

    def compact_data(
        self,
        symbol: str,
        rows_per_segment: Optional[int] = None,
        *,
        progress: ProgressArg = False,
    ) -> VersionedItem:
        """Rewrites the latest version of ``symbol`` into full segments (of ``rows_per_segment``
        rows, default the library's) as a new version with the same rows and metadata, e.g.
        after many small appends. Returns the latest version unchanged when it was already
        compact. ``progress``: as in :meth:`write`, with a bar of the segments rewritten."""
        raw = _options.name_bytes(symbol, "symbol")
        opts = _options.compact_options(rows_per_segment)
        out = ffi.new("uint64_t *")
        with _progress.reporting(progress, symbol):
            call(lib.sheaf_table_compact, self._h, raw, len(raw), opts or NULL, len(opts), out)
        version = int(out[0])
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
        raw = _options.name_bytes(symbol, "symbol")
        if versions is None:
            call(lib.sheaf_table_delete, self._h, raw, len(raw), NULL, 0)
            return
        items = _options.version_list(versions, "an iterable of ints")
        if not items:
            return
        arr = ffi.new("uint64_t[]", items)
        call(lib.sheaf_table_delete, self._h, raw, len(raw), arr, len(items))

    # -- the calls several methods share ---------------------------------------------------------
    def _stream_commit(
        self,
        fn: Any,
        symbol: str,
        data: Any,
        metadata: Any,
        index: Any,
        make_options: Callable[[Optional[str]], Dict[str, Any]],
        progress: ProgressArg = False,
    ) -> int:
        """Exports ``data``, builds the options (given the chosen index) and calls ``fn`` (one
        of ``sheaf_table_write`` / ``append`` / ``update``); returns the new version number."""
        _progress.check(progress)
        raw = _options.name_bytes(symbol, "symbol")
        meta = _options.metadata_bytes(metadata)
        stream = ffi.new("struct ArrowArrayStream *")
        try:
            chosen = _convert.export_input(data, stream, index)
            opts = _options.options_bytes(make_options(chosen))
        except BaseException:
            _arrow_c.release_stream(stream)
            raise
        meta_ptr, meta_len = _meta_args(meta)
        version = ffi.new("uint64_t *")
        with _progress.reporting(progress, symbol, _rows_hint(data)):
            call(
                fn,
                self._h,
                raw,
                len(raw),
                stream,
                meta_ptr,
                meta_len,
                opts or NULL,
                len(opts),
                version,
            )
        return int(version[0])

    def _finalize(
        self,
        symbol: str,
        mode: Any,
        metadata: Any,
        prune_previous_versions: Optional[bool],
        sort: bool,
        stage_results: Optional[List[StageResult]],
        validate_index: bool,
        delete_staged_data_on_failure: bool,
        progress: ProgressArg = False,
    ) -> int:
        raw = _options.name_bytes(symbol, "symbol")
        chunks: Optional[List[str]] = None
        if stage_results is not None:
            chunks = []
            for r in stage_results:
                if not isinstance(r, StageResult):
                    raise TypeError(
                        f"stage_results holds StageResult objects, not {type(r).__name__}"
                    )
                if r.symbol != symbol:
                    raise ValueError(f"a stage result of {r.symbol!r} cannot finalize {symbol!r}")
                chunks.append(r.chunk_id)
        opts = _options.finalize_options(
            mode,
            prune_previous_versions,
            sort,
            chunks,
            validate_index,
            delete_staged_data_on_failure,
        )
        meta_ptr, meta_len = _meta_args(_options.metadata_bytes(metadata))
        version = ffi.new("uint64_t *")
        with _progress.reporting(progress, symbol):
            call(
                lib.sheaf_table_finalize_staged,
                self._h,
                raw,
                len(raw),
                meta_ptr,
                meta_len,
                opts,
                len(opts),
                version,
            )
        return int(version[0])

    def _read_info(self, symbol: str, as_of: Any) -> Tuple[Dict[str, Any], Any]:
        """The version info and decoded metadata of ``symbol`` at ``as_of``."""
        raw = _options.name_bytes(symbol, "symbol")
        opts = _options.as_of_options(as_of)
        info_b = ffi.new("SheafBytes *")
        meta_b = ffi.new("SheafBytes *")
        call(
            lib.sheaf_table_read_metadata,
            self._h,
            raw,
            len(raw),
            opts or NULL,
            len(opts),
            info_b,
            meta_b,
        )
        info: Dict[str, Any] = json.loads(take_bytes(info_b))
        meta_raw = take_bytes(meta_b)
        return info, _metadata.decode(meta_raw) if info.get("has_metadata") else None

    def _committed_info(self, symbol: str, version: int) -> Optional[Dict[str, Any]]:
        """The info of a version just committed (``None`` if a racing prune removed it or the
        storage failed to answer: see :meth:`_committed`)."""
        raw = _options.name_bytes(symbol, "symbol")
        opts = b'{"as_of":%d}' % version
        info_b = ffi.new("SheafBytes *")
        try:
            call(
                lib.sheaf_table_read_metadata,
                self._h,
                raw,
                len(raw),
                opts,
                len(opts),
                info_b,
                NULL,
            )
        except (NotFoundError, StorageError):
            return None
        info: Dict[str, Any] = json.loads(take_bytes(info_b))
        return info

    def _read_doc(
        self,
        fmt: str,
        as_of: AsOf,
        date_range: Any,
        row_range: Any,
        columns: Optional[Iterable[str]],
        query_builder: Optional[QueryBuilder],
        strings_default: Any,
        strings_per_column: Optional[Dict[str, Any]],
    ) -> Dict[str, Any]:
        """The read options of a read into ``fmt``: a ``"reader"`` streams (no contiguous
        result), and the Arrow formats carry the string formats (the library's default when
        ``strings_default`` is None)."""
        doc = _options.read_options(
            as_of,
            date_range,
            row_range,
            columns,
            plan_value(query_builder),
            stream=fmt == "reader",
        )
        strings = _options.string_formats(
            self.arrow_string_format_default if strings_default is None else strings_default,
            strings_per_column,
        )
        if strings is not None and fmt in ("pyarrow", "polars", "reader"):
            doc["strings"] = strings
        return doc

    def _read_stream(
        self, symbol: str, doc: Dict[str, Any], into: Any = None
    ) -> Tuple[Any, Dict[str, Any], Any]:
        """Starts a read: (stream, info, decoded metadata). The caller consumes the stream
        (``into``, a ``struct ArrowArrayStream *`` to fill, when given)."""
        raw = _options.name_bytes(symbol, "symbol")
        opts = _options.options_bytes(doc)
        stream = ffi.new("struct ArrowArrayStream *") if into is None else into
        info_b = ffi.new("SheafBytes *")
        meta_b = ffi.new("SheafBytes *")
        call(
            lib.sheaf_table_read,
            self._h,
            raw,
            len(raw),
            opts or NULL,
            len(opts),
            stream,
            info_b,
            meta_b,
        )
        try:
            info: Dict[str, Any] = json.loads(take_bytes(info_b))
            meta_raw = take_bytes(meta_b)
            metadata = _metadata.decode(meta_raw) if info.get("has_metadata") else None
        except BaseException:
            _arrow_c.release_stream(stream)
            raise
        return stream, info, metadata

    def _import_data(
        self, symbol: str, stream: Any, fmt: str, info: Dict[str, Any], doc: Dict[str, Any]
    ) -> Any:
        """Consumes ``stream`` (always released) into ``fmt``. pandas output of a column
        selection keeps the stored pandas index columns and gives every copy of a duplicated
        column name: when the selection left them out, the version already resolved is read
        again with them (and the same query)."""
        if fmt == "pandas" and "columns" in doc:
            try:
                wanted = _convert.pandas_columns(stream, list(doc["columns"]))
                if wanted is not None:
                    _arrow_c.release_stream(stream)
                    again = dict(doc)  # the same query too
                    again["columns"] = wanted
                    if not isinstance(doc.get("as_of"), str):  # snapshots are immutable
                        again["as_of"] = int(info["version"])
                    stream, _, _ = self._read_stream(symbol, again)
            except BaseException:
                _arrow_c.release_stream(stream)
                raise
        return _convert.import_data(stream, fmt, info, doc)

    def _snapshot_metadata(self, name: str) -> Any:
        raw = _options.name_bytes(name, "snapshot name")
        out = ffi.new("SheafBytes *")
        has = ffi.new("bool *")
        call(lib.sheaf_snapshot_read_metadata, self._h, raw, len(raw), out, has)
        data = take_bytes(out)
        return _metadata.decode(data) if has[0] else None

    def _commit_batch(
        self,
        kind: str,
        payloads: List[Any],
        options: Callable[[Any, Optional[str]], Dict[str, Any]],
        progress: ProgressArg = False,
    ) -> List[Union[VersionedItem, DataError]]:
        """``kind`` is ``"write"``, ``"append"`` or ``"update"``; ``options(payload,
        chosen_index)`` gives each item's options document."""
        _progress.check(progress)
        fn = {
            "write": lib.sheaf_table_write_batch,
            "append": lib.sheaf_table_append_batch,
            "update": lib.sheaf_table_update_batch,
        }[kind]
        want = UpdatePayload if kind == "update" else WritePayload
        for p in payloads:
            if not isinstance(p, want):
                raise TypeError(
                    f"{kind}_batch takes {want.__name__} objects, not {type(p).__name__}"
                )
        n = len(payloads)
        if n == 0:
            return []
        streams = ffi.new("struct ArrowArrayStream[]", n)
        items: List[Dict[str, Any]] = []
        try:
            slices, _keep_alive = _metadata_slices(payloads)  # the slices point into these
            for i, p in enumerate(payloads):
                symbol = _options.batch_symbol(p.symbol)
                index = getattr(p, "index", AUTO)
                chosen = _convert.export_input(p.data, streams + i, index)
                items.append(_options.batch_item(symbol, options(p, chosen)))
            text = _options.items_bytes(items)
        except BaseException:
            for i in range(n):
                _arrow_c.release_stream(streams + i)
            raise
        out = ffi.new("SheafBytes *")
        with _progress.reporting(progress, f"{kind}_batch"):
            call(fn, self._h, text, len(text), streams, slices, n, out)
        return self._committed_batch(payloads, json.loads(take_bytes(out)))

    def _committed_batch(
        self, payloads: List[Any], results: List[Dict[str, Any]]
    ) -> List[Union[VersionedItem, DataError]]:
        """The results of a writing batch: a :class:`VersionedItem` (its info fetched in one
        call) per committed item, a :class:`DataError` per failed one."""
        done = [
            (p.symbol, int(r["version"])) for p, r in zip(payloads, results) if "error" not in r
        ]
        infos = iter(self._committed_infos(done))
        output: List[Union[VersionedItem, DataError]] = []
        for p, r in zip(payloads, results):
            if "error" in r:
                output.append(data_error(p.symbol, None, r["error"]))
                continue
            version, info = int(r["version"]), next(infos)
            if info is None:
                output.append(
                    VersionedItem(p.symbol, self._name, None, version, p.metadata, host=self._host)
                )
            else:
                output.append(versioned_item(info, self._name, None, p.metadata, host=self._host))
        return output

    def _committed_infos(self, done: List[Tuple[str, int]]) -> List[Optional[Dict[str, Any]]]:
        """The infos of versions just committed, in one call (``None`` where one is gone, and
        for all of them if the storage fails to answer: see :meth:`_committed`)."""
        if not done:
            return []
        items = [{"symbol": s, "options": {"as_of": v}} for s, v in done]
        text = _options.items_bytes(items)
        metas = ffi.new("SheafBytes[]", len(done))
        out = ffi.new("SheafBytes *")
        try:
            call(
                lib.sheaf_table_read_metadata_batch,
                self._h,
                text,
                len(text),
                metas,
                len(done),
                out,
            )
        except StorageError:
            return [None] * len(done)
        finally:
            for i in range(len(done)):
                lib.sheaf_bytes_free(metas + i)
        return [r.get("info") for r in json.loads(take_bytes(out))]

    def _read_concat(
        self, lazies: Sequence[LazyDataFrame], join: str, clauses: List[Dict[str, Any]]
    ) -> VersionedItemWithJoin:
        """Reads ``lazies`` concatenated (one call): each item's read and plan, then ``join``
        of the columns, then the plan ``clauses`` over the whole."""
        reqs = [lazy.read_request() for lazy in lazies]
        fmt = _convert.check_output_format(lazies[0].read_args.get("output_format"))
        fmt = fmt or self.output_format
        docs = [
            _options.read_options(
                r.as_of, r.date_range, r.row_range, r.columns, plan_value(r.query_builder)
            )
            for r in reqs
        ]
        items = [
            _options.batch_item(_options.batch_symbol(r.symbol), d) for r, d in zip(reqs, docs)
        ]
        text = _options.items_bytes(items)
        whole: Dict[str, Any] = {"join": join}
        if clauses:
            whole["query"] = clauses
        strings = _options.string_formats(self.arrow_string_format_default, None)
        if strings is not None and fmt in ("pyarrow", "polars"):
            whole["strings"] = strings
        opts = _options.options_bytes(whole)
        n = len(reqs)
        stream = ffi.new("struct ArrowArrayStream *")
        metas = ffi.new("SheafBytes[]", n)
        out = ffi.new("SheafBytes *")
        try:
            call(
                lib.sheaf_table_read_concat,
                self._h,
                text,
                len(text),
                opts,
                len(opts),
                stream,
                metas,
                n,
                out,
            )
            infos = json.loads(take_bytes(out))
            versions = []
            for i, info in enumerate(infos):
                raw = take_bytes(metas + i)
                metadata = _metadata.decode(raw) if info.get("has_metadata") else None
                versions.append(versioned_item(info, self._name, None, metadata, host=self._host))
            joined = {
                "index": infos[0].get("index"),
                "rows": sum(int(i.get("rows", 0)) for i in infos),
                "index_sorted": False,
            }
            data = _convert.import_data(stream, fmt, joined, {"concat": join, "query": clauses})
        finally:
            _arrow_c.release_stream(stream)
            for i in range(n):
                lib.sheaf_bytes_free(metas + i)
        return VersionedItemWithJoin(data=data, versions=versions)

    def _read_batch(
        self, requests: List[Any], fmt: str, query_builder: Any
    ) -> List[Union[VersionedItem, DataError]]:
        """Reads a batch; ``query_builder`` applies to the items without one of their own."""
        reqs = [_options.read_request(r) for r in requests]
        n = len(reqs)
        if n == 0:
            return []
        shared = plan_value(query_builder)  # type-checked even when every item has its own
        docs = [
            _options.read_options(
                r.as_of,
                r.date_range,
                r.row_range,
                r.columns,
                shared if r.query_builder is None else plan_value(r.query_builder),
                stream=fmt == "reader",
            )
            for r in reqs
        ]
        items = [
            _options.batch_item(_options.batch_symbol(r.symbol), d) for r, d in zip(reqs, docs)
        ]
        text = _options.items_bytes(items)
        streams = ffi.new("struct ArrowArrayStream[]", n)
        metas = ffi.new("SheafBytes[]", n)
        out = ffi.new("SheafBytes *")
        results: List[Union[VersionedItem, DataError]] = []
        try:
            call(lib.sheaf_table_read_batch, self._h, text, len(text), streams, metas, n, out)
            outcome = json.loads(take_bytes(out))
            for i, (req, doc, res) in enumerate(zip(reqs, docs, outcome)):
                meta_raw = take_bytes(metas + i)
                if "error" in res:
                    results.append(
                        data_error(
                            req.symbol,
                            req.as_of,
                            res["error"],
                            _options.version_request(req.as_of),
                        )
                    )
                    continue
                info = res["info"]
                metadata = _metadata.decode(meta_raw) if info.get("has_metadata") else None
                data = self._import_data(req.symbol, streams + i, fmt, info, doc)
                results.append(versioned_item(info, self._name, data, metadata, host=self._host))
        finally:
            for i in range(n):
                _arrow_c.release_stream(streams + i)
                lib.sheaf_bytes_free(metas + i)
        return results


class LazyDataFrame(QueryBuilder):
    """What ``Library.read(..., lazy=True)`` returns (ArcticDB's ``LazyDataFrame``): a read not
    yet made, with a :class:`QueryBuilder` to extend. It has every method of
    :class:`QueryBuilder` (``lazy[expr]``, ``lazy["new"] = expr``, ``lazy["col"]`` for
    expressions, ``apply``, ``groupby(...).agg``, ``resample(...).agg``, ``date_range``,
    ``row_range``, ``head``, ``tail``, ``then``), and :meth:`collect` makes the read (one
    call) and returns its :class:`sheaf.VersionedItem`.
    """

    def __init__(
        self,
        library: Library,
        symbol: str,
        read_args: Optional[Mapping[str, Any]] = None,
        query_builder: Optional[QueryBuilder] = None,
    ) -> None:
        super().__init__()
        self._library = library
        self._symbol = symbol
        self._read_args: Dict[str, Any] = dict(read_args or {})
        if query_builder is not None:
            if not isinstance(query_builder, QueryBuilder):
                raise TypeError(
                    f"query_builder must be a QueryBuilder, not {type(query_builder).__name__}"
                )
            self._clauses = query_builder.to_json()

    @property
    def symbol(self) -> str:
        """The symbol to read."""
        return self._symbol

    @property
    def library(self) -> Library:
        """The library to read from."""
        return self._library

    @property
    def query_builder(self) -> QueryBuilder:
        """The plan so far, as a plain :class:`QueryBuilder` (a copy)."""
        return QueryBuilder.from_json(self._clauses)

    @property
    def read_args(self) -> Dict[str, Any]:
        """The arguments of the read (``as_of``, ``date_range``, ``row_range``, ``columns``,
        ``output_format``, ...) that were given (a copy)."""
        return dict(self._read_args)

    def read_request(self) -> ReadRequest:
        """This read as a :class:`ReadRequest` (for :meth:`Library.read_batch`)."""
        args = self._read_args
        return ReadRequest(
            self._symbol,
            as_of=args.get("as_of"),
            date_range=args.get("date_range"),
            row_range=args.get("row_range"),
            columns=args.get("columns"),
            query_builder=self.query_builder,
        )

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
        """The read with the plan built so far as an Arrow C stream (the PyCapsule interface),
        one batch per stored segment loaded as the consumer asks for it: DuckDB, polars and
        pyarrow take it without the result being materialised. Each call makes a new read.
        ``requested_schema`` is not applied (the stream has the stored types). CPython only
        (PyPy: ``collect`` with ``output_format="reader"``)."""
        if not _capsule.AVAILABLE:
            raise NotImplementedError(
                "__arrow_c_stream__ needs ctypes.pythonapi (CPython); on PyPy use "
                "collect() with output_format='reader'"
            )
        args = self._read_args
        doc = self._library._read_doc(
            "reader",
            args.get("as_of"),
            args.get("date_range"),
            args.get("row_range"),
            args.get("columns"),
            self.query_builder,
            args.get("arrow_string_format_default"),
            args.get("arrow_string_format_per_column"),
        )

        def fill(out: Any) -> None:
            self._library._read_stream(self._symbol, doc, out)

        return _capsule.export_capsule(fill)

    def collect(self) -> VersionedItem:
        """Makes the read with the plan built so far (one call) and returns the
        :class:`sheaf.VersionedItem`."""
        args = self._read_args
        return self._library.read(
            self._symbol,
            as_of=args.get("as_of"),
            date_range=args.get("date_range"),
            row_range=args.get("row_range"),
            columns=args.get("columns"),
            output_format=args.get("output_format"),
            query_builder=self.query_builder,
            arrow_string_format_default=args.get("arrow_string_format_default"),
            arrow_string_format_per_column=args.get("arrow_string_format_per_column"),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazyDataFrame):
            return NotImplemented
        return (
            self._library is other._library
            and self._symbol == other._symbol
            and self._read_args == other._read_args
            and self._clauses == other._clauses
        )

    __hash__ = None

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self._read_args.items())
        return (
            f"LazyDataFrame({self._library.name!r}, {self._symbol!r}{args}: "
            f"{' | '.join(self._lines())})"
        )

    def __str__(self) -> str:
        return f"LazyDataFrame of {self._symbol!r}: " + QueryBuilder.__str__(self)


class AdminTools:
    """What :meth:`Library.admin_tools` returns (ArcticDB's ``AdminTools``): the storage a
    library's tables take, measured by the library on the stored values (one call each)."""

    def __init__(self, library: Library) -> None:
        self._library = library

    def _sizes(self, symbol: Optional[str]) -> Dict[str, Any]:
        raw = NULL if symbol is None else _options.name_bytes(symbol, "symbol")
        out = ffi.new("SheafBytes *")
        call(
            lib.sheaf_table_storage_sizes,
            self._library._h,
            raw,
            0 if symbol is None else len(raw),
            out,
        )
        doc: Dict[str, Any] = json.loads(take_bytes(out))
        return doc

    def get_sizes(self) -> Dict[KeyType, Size]:
        """Bytes and number of values of each :class:`KeyType` in the whole library."""
        return sizes_by_kind(self._sizes(None)["total"])

    def get_sizes_by_symbol(self) -> Dict[str, Dict[KeyType, Size]]:
        """:meth:`get_sizes` per symbol (snapshots belong to no symbol)."""
        return {s: sizes_by_kind(d) for s, d in self._sizes(None)["symbols"].items()}

    def get_sizes_for_symbol(self, symbol: str) -> Dict[KeyType, Size]:
        """:meth:`get_sizes` of one symbol (all zero for a symbol with nothing stored)."""
        return sizes_by_kind(self._sizes(symbol)["total"])


def _pickle_options(prune_previous_versions: Optional[bool]) -> Dict[str, Any]:
    doc = _options.write_options(None, True, prune_previous_versions)
    doc["content"] = _objects.PICKLE_FORMAT
    return doc


def _same_library(lazies: Sequence[LazyDataFrame], what: str) -> Library:
    if not lazies:
        raise ValueError(f"{what} needs at least one LazyDataFrame")
    for lazy in lazies:
        if not isinstance(lazy, LazyDataFrame):
            raise TypeError(f"{what} takes LazyDataFrame objects, not {type(lazy).__name__}")
    library = lazies[0].library
    if any(lazy.library is not library for lazy in lazies):
        raise ValueError(f"{what}: every LazyDataFrame must read from the same Library")
    return library


class LazyDataFrameCollection(QueryBuilder):
    """What ``Library.read_batch(..., lazy=True)`` returns (ArcticDB's
    ``LazyDataFrameCollection``): reads not yet made. Clauses added to the collection (it has
    every method of :class:`QueryBuilder`) apply to every symbol, after each one's own;
    :meth:`split` gives the single :class:`LazyDataFrame` objects for per-symbol clauses,
    :meth:`collect` makes the reads in one call, and :meth:`concat` (or :func:`sheaf.concat`)
    joins them into one result.
    """

    def __init__(self, lazy_dataframes: Sequence[LazyDataFrame]) -> None:
        super().__init__()
        self._lazies: List[LazyDataFrame] = list(lazy_dataframes)
        if self._lazies:
            _same_library(self._lazies, "LazyDataFrameCollection")

    def split(self) -> List[LazyDataFrame]:
        """One :class:`LazyDataFrame` per symbol, each with its own clauses and then the
        collection's."""
        shared = QueryBuilder.from_json(self._clauses)
        return [lazy.then(shared) for lazy in self._lazies]

    def collect(self) -> Union[List[Union[VersionedItem, DataError]], VersionedItemWithJoin]:
        """Makes the reads (one call, as :meth:`Library.read_batch`): one
        :class:`VersionedItem` per symbol, or a :class:`DataError` where that item failed.
        When the collection's clauses hold a :meth:`concat` (``collection.concat()``), the
        symbols are joined instead: the clauses before it run per symbol, those after it over
        the whole, and the result is one :class:`VersionedItemWithJoin`."""
        split = split_at_concat(self._clauses)
        if split is not None:
            before, join, after = split
            lazies = [lazy.then(QueryBuilder.from_json(before)) for lazy in self._lazies]
            return concat(lazies, join).then(QueryBuilder.from_json(after)).collect()
        lazies = self.split()
        if not lazies:
            return []
        library = lazies[0].library
        fmt = _convert.check_output_format(lazies[0].read_args.get("output_format"))
        return library._read_batch(
            [lazy.read_request() for lazy in lazies], fmt or library.output_format, None
        )

    def __len__(self) -> int:
        return len(self._lazies)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazyDataFrameCollection):
            return NotImplemented
        return self._lazies == other._lazies and self._clauses == other._clauses

    __hash__ = None

    def __repr__(self) -> str:
        symbols = ", ".join(repr(lazy.symbol) for lazy in self._lazies)
        return f"LazyDataFrameCollection([{symbols}]: {' | '.join(self._lines())})"


class LazyDataFrameAfterJoin(QueryBuilder):
    """What :func:`sheaf.concat` returns (ArcticDB's ``LazyDataFrameAfterJoin``): a
    concatenation not yet read. Clauses added to it (the methods of :class:`QueryBuilder`) run
    over the concatenated rows; :meth:`collect` makes the whole read in one library call."""

    def __init__(self, lazy_dataframes: Sequence[LazyDataFrame], join: str = "outer") -> None:
        super().__init__()
        self._lazies: List[LazyDataFrame] = list(lazy_dataframes)
        self._library = _same_library(self._lazies, "concat")
        if join not in ("outer", "inner"):
            raise ValueError(f"join is 'outer' or 'inner', not {join!r}")
        self._join = join

    @property
    def join(self) -> str:
        """``"outer"`` (every column of any symbol) or ``"inner"`` (the columns all have)."""
        return self._join

    def collect(self) -> VersionedItemWithJoin:
        """Reads and concatenates (one call): a :class:`VersionedItemWithJoin` whose ``data``
        is the result and ``versions`` the versions read (``data=None``)."""
        return self._library._read_concat(self._lazies, self._join, self._clauses)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazyDataFrameAfterJoin):
            return NotImplemented
        return (
            self._lazies == other._lazies
            and self._join == other._join
            and self._clauses == other._clauses
        )

    __hash__ = None

    def __repr__(self) -> str:
        symbols = ", ".join(repr(lazy.symbol) for lazy in self._lazies)
        return (
            f"LazyDataFrameAfterJoin([{symbols}], join={self._join!r}: {' | '.join(self._lines())})"
        )


def concat(
    lazy_dataframes: Union[LazyDataFrameCollection, Sequence[LazyDataFrame]],
    join: str = "outer",
) -> LazyDataFrameAfterJoin:
    """Concatenates symbols (ArcticDB's ``concat``): the rows of each read (its own
    ``as_of``, ranges, columns and clauses applied first), one after another in order. The
    library does the work while reading, in one call.

    Args:
        lazy_dataframes: a :class:`LazyDataFrameCollection` (``read_batch(..., lazy=True)``)
            or a list of :class:`LazyDataFrame` of one library.
        join: ``"outer"`` keeps every column of any symbol (missing values are null: NaN in
            pandas float columns, ``None``/``NaN`` as pandas shows nulls); ``"inner"`` keeps
            only the columns every symbol has.

    Every symbol must have the same kind of index (the same index column and type, or row
    numbers: the result then has a fresh ``0..n`` RangeIndex). A column kept must have one type
    across symbols or types that widen (e.g. int32 and int64, int and float).

    Returns:
        A :class:`LazyDataFrameAfterJoin`: add clauses that run over the whole (e.g.
        ``resample``, which needs the concatenated index ascending) and ``collect()``.
    """
    if isinstance(lazy_dataframes, LazyDataFrameCollection):
        lazies = lazy_dataframes.split()
    else:
        lazies = list(lazy_dataframes)
    return LazyDataFrameAfterJoin(lazies, join)
