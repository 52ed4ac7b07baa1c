"""Dask DataFrames over Sheaf symbols: :func:`read` and :func:`write`.

::

    import sheaf.dask

    ddf = sheaf.dask.read("lmdb:///data/store", "prices", "eurusd")   # one partition per
    ddf["bid"].mean().compute()                                       # 4 stored segments

    sheaf.dask.write(ddf, "lmdb:///data/store", "prices", "eurusd-copy")

Every partition is read or written by the worker that computes it: a task carries the store's
URI, the library and symbol names and its row range (a few dozen bytes), and the worker opens
the store itself (once per process; an open ``Store`` or ``Library`` is never shipped). The
store must therefore be reachable from every worker under the same URI: ``lmdb://`` for workers
on one machine. ``mem://NAME`` is process-local and works only with dask's threaded scheduler
in the process that holds the store; a private ``mem://`` is refused.

dask is imported when a function here is first called (``import sheaf`` and ``import
sheaf.dask`` never import it); without it they raise :class:`ImportError` saying what to
install.

This module sits above the facades (it imports :mod:`sheaf.store`); nothing in the package
imports it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import threading
import uuid
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from . import _arrow_c, _convert, _options
from ._lib import ffi
from ._query import QueryBuilder, plan_value
from ._types import AUTO, StageResult, VersionedItem
from .errors import ConflictError, InvalidArgumentError
from .library import AsOf, Library
from .store import Store

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["read", "write", "SEGMENTS_PER_PARTITION", "ROW_LOCAL_CLAUSES"]

#: Stored segments per partition of :func:`read` by default. A segment holds
#: ``rows_per_segment`` rows (100 000 unless the library says otherwise), so a partition is
#: about 400 000 rows: large enough that the per-task cost (a task, a store lookup, one read
#: call) is small beside the decoding, small enough to keep every worker busy on a symbol of
#: a few dozen segments and a partition in a worker's memory.
SEGMENTS_PER_PARTITION = 4

#: The query clauses :func:`read` runs on each partition apart: they look at one row at a
#: time, so the partitions' results put together are the whole read's.
ROW_LOCAL_CLAUSES = ("filter", "project")


def _dask() -> Tuple[Any, Any]:
    """The ``dask`` and ``dask.dataframe`` modules, imported now (not when Sheaf is)."""
    try:
        import dask
        import dask.dataframe as dd_module
    except ImportError as exc:
        raise ImportError(
            "sheaf.dask needs dask with its DataFrame support (which also needs pandas and "
            "pyarrow): pip install 'dask[dataframe]', and 'dask[distributed]' for a cluster "
            f"({exc})"
        ) from exc
    return dask, dd_module


def _check_uri(uri: str) -> str:
    if not isinstance(uri, str):
        raise TypeError(f"uri must be a str, not {type(uri).__name__}")
    if uri == "mem://":
        raise InvalidArgumentError(
            "a private 'mem://' store cannot be shared with dask workers (each would open a "
            "new empty store): use an 'lmdb://' store (or 'mem://NAME' with dask's threaded "
            "scheduler, in the process that holds it)"
        )
    return uri


# -- the stores workers open -----------------------------------------------------------------
_STORES: Dict[Tuple[int, str], Store] = {}
_STORES_LOCK = threading.Lock()


@contextlib.contextmanager
def _worker_library(uri: str, library: str) -> Iterator[Library]:
    """``library`` of the store at ``uri``, opened in this process for one task. The store is
    opened once per process (and URI) and kept for the process's later tasks (keyed by
    process id too: an LMDB store cannot cross a ``fork()``) — except a ``mem://NAME`` store,
    opened and closed per task so that it lives no longer than its owner keeps it."""
    cached = not uri.startswith("mem://")
    if cached:
        key = (os.getpid(), uri)
        with _STORES_LOCK:
            store = _STORES.get(key)
            if store is None or store.closed:
                store = Store(uri, output_format="pandas")
                _STORES[key] = store
    else:
        store = Store(uri, output_format="pandas")
    try:
        with store.get_library(library) as lib:
            yield lib
    finally:
        if not cached:
            store.close()


# -- reading ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _ReadTask:
    """What one partition's task carries: names, the pinned version and a row range."""

    uri: str
    library: str
    symbol: str
    #: What the read asks for: the version number, or the snapshot name that holds it (a
    #: snapshot keeps a version readable after it was deleted; a number does not).
    as_of: Union[int, str]
    #: The version pinned when the graph was built (checked against the one read).
    version: int
    start: int
    stop: int
    columns: Optional[Tuple[str, ...]]
    #: The query plan as JSON text (``None``: no query).
    plan: Optional[str]


def _read_rows(library: Library, task: _ReadTask) -> Any:
    """The pandas frame of ``task``'s rows, read through ``library``."""
    query = None if task.plan is None else QueryBuilder.from_json(task.plan)
    item = library.read(
        task.symbol,
        as_of=task.as_of,
        row_range=(task.start, task.stop),
        columns=None if task.columns is None else list(task.columns),
        query_builder=query,
        output_format="pandas",
    )
    if item.version != task.version:
        raise ConflictError(
            f"{task.symbol!r}: snapshot {task.as_of!r} held version {task.version} when the "
            f"dask graph was built and holds version {item.version} now (it was deleted and "
            "taken again); build the graph again"
        )
    return item.data


def _read_partition(task: _ReadTask) -> Any:
    """A partition of :func:`read`, computed on the worker that runs it."""
    with _worker_library(task.uri, task.library) as library:
        return _read_rows(library, task)


def _row_local_plan(query_builder: Optional[QueryBuilder]) -> List[Any]:
    """The clauses of ``query_builder``, refused unless every one is row-local."""
    plan: List[Any] = plan_value(query_builder) or []
    for clause in plan:
        kind = next(iter(clause)) if isinstance(clause, dict) and len(clause) == 1 else clause
        if kind not in ROW_LOCAL_CLAUSES:
            raise InvalidArgumentError(
                f"sheaf.dask.read runs the query on each partition apart, so it takes only "
                f"filters and new columns (clauses {', '.join(ROW_LOCAL_CLAUSES)}), not "
                f"{kind!r}: pass a date range as date_range=, or aggregate the dask DataFrame "
                "(ddf.groupby(...), ddf.resample(...), ddf.head(...)), or run the whole query "
                "with Library.read"
            )
    return plan


def _date_range_plan(date_range: Any, index: Optional[str], index_type: str) -> List[Any]:
    """The clauses that apply ``date_range`` to a partition's rows: the ``date_range`` clause,
    led (for a timestamp index) by the same bounds as a filter on the index column, which
    lets the library skip the partition's segments whose index statistics lie outside the
    range (a ``date_range`` clause after a row range is applied row by row)."""
    bounds = _options.date_range_value(date_range)
    clauses: List[Any] = []
    if index is not None and index_type == "timestamp":
        import numpy as np

        q = QueryBuilder()
        expr = None
        for bound, lower in zip(bounds, (True, False)):
            if isinstance(bound, dict):
                at = np.datetime64(int(bound["ns"]), "ns")
                side = q[index] >= at if lower else q[index] <= at
                expr = side if expr is None else expr & side
        if expr is not None:
            clauses.extend(q[expr].to_json())
    clauses.append({"date_range": bounds})
    return clauses


def _row_ranges(
    rows: int, segments: int, rows_per_segment: Optional[int], per_partition: int
) -> List[Tuple[int, int]]:
    """The row ranges of the partitions: ``ceil(segments / per_partition)`` ranges of about
    equal size. When the version has exactly as many segments as full segments of
    ``rows_per_segment`` need (a version written in one go, or compacted), its segments start
    at multiples of ``rows_per_segment``, and the cuts fall on segment boundaries so that no
    segment is loaded by two partitions."""
    if rows <= 0:
        return [(0, 0)]
    parts = max(1, -(-max(segments, 1) // per_partition))
    if rows_per_segment and segments == -(-rows // rows_per_segment):
        step = per_partition * rows_per_segment
    else:
        step = -(-rows // parts)
    return [(lo, min(lo + step, rows)) for lo in range(0, rows, step)]


def _read_tasks(
    lib: Library,
    uri: str,
    symbol: str,
    columns: Optional[Tuple[str, ...]],
    date_range: Any,
    as_of: AsOf,
    plan: List[Any],
    segments_per_partition: int,
) -> List[_ReadTask]:
    """The partitions' tasks of :func:`read`: the version ``as_of`` pinned, its rows cut."""
    description = lib.get_description(symbol, as_of=as_of)
    if date_range is not None:
        index = description.index.name if description.index is not None else None
        plan = _date_range_plan(date_range, index, description.index_type) + plan
    ranges = _row_ranges(
        description.row_count,
        description.segments,
        lib.options.rows_per_segment,
        segments_per_partition,
    )
    return [
        _ReadTask(
            uri=uri,
            library=lib.name,
            symbol=symbol,
            as_of=as_of if isinstance(as_of, str) else description.version,
            version=description.version,
            start=start,
            stop=stop,
            columns=columns,
            plan=json.dumps(plan) if plan else None,
        )
        for start, stop in ranges
    ]


def read(
    uri: str,
    library: str,
    symbol: str,
    *,
    columns: Optional[Iterable[str]] = None,
    date_range: Any = None,
    as_of: AsOf = None,
    query_builder: Optional[QueryBuilder] = None,
    output_format: Optional[str] = None,
    segments_per_partition: int = SEGMENTS_PER_PARTITION,
) -> Union[dd.DataFrame, dd.Series]:
    """A version of ``symbol`` as a dask DataFrame (a dask Series for a symbol written from
    a pandas Series), each partition read by the worker that computes it.

    Building the graph reads only the version's description (one call on the driver) and a
    0-row read for the schema (dask's ``meta``). The version is pinned then: ``as_of`` is
    resolved to its version number, and every partition reads that version, so writes that
    land while the graph is computed do not tear the result. (A version deleted meanwhile,
    e.g. by a pruning write, fails the partitions that read it with
    :class:`sheaf.NoSuchVersionError`; a snapshot name stays the snapshot's version.)

    Partitions: the version's rows are cut into ``ceil(segments / segments_per_partition)``
    ranges of about equal size (:data:`SEGMENTS_PER_PARTITION` segments each by default; on
    segment boundaries when the segments are full ones, see ``get_description().segments``),
    and partition ``i`` reads ``row_range`` ``i`` — only the segments that overlap it are
    loaded. ``date_range``, ``columns`` and the query apply to each partition's rows, so
    partitions outside a date range come out empty. Divisions are unknown.

    The pandas index is what :meth:`Library.read` gives for those rows: a stored
    DatetimeIndex or integer index as stored; a stored ``RangeIndex`` continues across the
    partitions (each has its rows' positions), but restarts at 0 in every partition after a
    filter (as ``Library.read`` renumbers a filtered read, per partition here). String
    columns follow dask's ``dataframe.convert-string`` setting when the graph is built: on
    (dask's default) they become dask's ``string[pyarrow]``; off, they keep the dtype
    ``Library.read`` gives.

    Args:
        uri: the store's URI, opened by each worker (``lmdb://...``).
        library: the library's name.
        symbol: the symbol's name.
        columns: the columns to read, in this order (as in :meth:`Library.read`).
        date_range: ``(start, end)``, inclusive, ``None`` = open (as in
            :meth:`Library.read`); applied to each partition's rows. With a timestamp index
            the library skips the segments outside it.
        as_of: the version (as in :meth:`Library.read`); ``None`` = the latest, resolved now.
        query_builder: a :class:`sheaf.QueryBuilder` of filters and new columns only (its
            clauses ``filter`` / ``project``, see :data:`ROW_LOCAL_CLAUSES`), run by the
            library on each partition as the worker reads it (leading filters skip segments
            by their statistics). Aggregations (``groupby``, ``resample``) and row selections
            (``head``, ``tail``, ``row_range``, ``date_range`` clauses) need every row at once
            and are refused with :class:`sheaf.InvalidArgumentError`: aggregate the dask
            DataFrame instead, or pass ``date_range=``.
        output_format: ``None`` or ``"pandas"``: dask DataFrames hold pandas frames.
        segments_per_partition: stored segments per partition (at least 1).

    Returns:
        A ``dask.dataframe.DataFrame`` (or ``Series``) of ``ceil(segments /
        segments_per_partition)`` partitions (one for an empty version), with ``meta``
        (columns, dtypes, index) from a 0-row read of the pinned version.

    Raises:
        ImportError: dask (with its DataFrame support) is not installed.
        NoSuchLibraryError, NoSuchSymbolError, NoSuchVersionError, NoSuchSnapshotError: (a
            :class:`KeyError`) when the graph is built, as :meth:`Library.read` would.
        SchemaError: an unknown column or a query that does not fit the schema (found by the
            0-row read, when the graph is built).
        InvalidArgumentError: an aggregating or row-selecting query, a private ``mem://``
            store, an ``output_format`` other than pandas, ``segments_per_partition < 1``, or
            a version that is a bare numpy array.
    """
    _, dd_module = _dask()
    _check_uri(uri)
    if _convert.check_output_format(output_format) not in (None, "pandas"):
        raise InvalidArgumentError(
            f"sheaf.dask.read gives a dask DataFrame of pandas partitions; output_format "
            f"must be 'pandas' or None, not {output_format!r}"
        )
    if (
        isinstance(segments_per_partition, bool)
        or not isinstance(segments_per_partition, int)
        or segments_per_partition < 1
    ):
        raise InvalidArgumentError(
            f"segments_per_partition must be an int >= 1, not {segments_per_partition!r}"
        )
    plan = _row_local_plan(query_builder)
    wanted = None if columns is None else tuple(_options.columns_value(columns))
    with Store(uri, output_format="pandas") as store, store.get_library(library) as lib:
        tasks = _read_tasks(
            lib, uri, symbol, wanted, date_range, as_of, plan, segments_per_partition
        )
        meta = _read_rows(lib, dataclasses.replace(tasks[0], start=0, stop=0))
    import pandas as pd

    if not isinstance(meta, (pd.DataFrame, pd.Series)):
        raise InvalidArgumentError(
            f"{symbol!r} reads as a {type(meta).__name__}, not a pandas DataFrame or Series "
            "(a version written from a bare numpy array): sheaf.dask.read cannot partition it"
        )
    result: Union[dd.DataFrame, dd.Series] = dd_module.from_map(
        _read_partition,
        tasks,
        meta=meta,
        label=f"sheaf-read-{symbol}",
        enforce_metadata=False,
    )
    return result


# -- writing ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _StageTask:
    """What every partition's staging task carries besides its data."""

    uri: str
    library: str
    symbol: str
    #: The Sheaf index column, chosen once from the frame's ``meta`` (``None``: none).
    index: Optional[str]


@dataclasses.dataclass(frozen=True)
class _StageFailed:
    """What a staging task returns instead of raising, so that the computation waits for
    every partition (a raise ends it at once, with other partitions still staging)."""

    error: BaseException


def _stage_partition(
    task: _StageTask, frame: Any, after: Union[str, _StageFailed, None] = None
) -> Union[str, _StageFailed]:
    """Stages one partition from the worker that computed it; returns the chunk's id.
    ``after`` (the previous partition's result) orders the task after that one; a failed
    previous partition is passed on (nothing after it is staged)."""
    if isinstance(after, _StageFailed):
        return after
    try:
        with _worker_library(task.uri, task.library) as library:
            return library.stage(task.symbol, frame, index=task.index).chunk_id
    except Exception as error:  # re-raised by write() once every partition is done
        return _StageFailed(error)


def _compute_every_partition(dask_module: Any, staged: List[Any]) -> List[str]:
    """The chunk ids of ``staged``, raising the first failure only once every partition has
    finished, so that when write() raises no partition of it is still staging (a later
    ``delete_staged_data`` removes them all). On a distributed client the wait covers
    failures upstream of the staging too (a partition that cannot be computed)."""
    # The scheduler dask.compute would use (a configured one wins over a default client).
    client: Any = getattr(dask_module.base.get_scheduler(), "__self__", None)
    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        distributed = None
    if distributed is not None and isinstance(client, distributed.Client):
        futures = client.compute(staged)
        distributed.wait(futures)
        results = client.gather(futures)
    else:
        results = list(dask_module.compute(*staged))
    for result in results:
        if isinstance(result, _StageFailed):
            raise result.error
    return [str(r) for r in results]


def _index_of(meta: Any, index: Any) -> Optional[str]:
    """The Sheaf index column of frames like ``meta`` (``index`` unless it is ``AUTO``, then
    the rule of :meth:`Library.write`)."""
    if index is not AUTO:
        if index is not None and not isinstance(index, str):
            raise TypeError(f"index must be a column name (str), None or AUTO, not {index!r}")
        return index
    stream = ffi.new("struct ArrowArrayStream *")
    try:
        return _convert.export_input(meta, stream, AUTO)
    finally:
        _arrow_c.release_stream(stream)


def write(
    ddf: Union[dd.DataFrame, dd.Series],
    uri: str,
    library: str,
    symbol: str,
    *,
    index: Optional[str] = AUTO,
    metadata: Any = None,
) -> VersionedItem:
    """Writes a dask DataFrame (or Series) as a new version of ``symbol``, replacing its
    content, with each partition stored by the worker that computes it.

    Each partition is staged (:meth:`Library.stage`) on its worker; when all are, this
    process commits exactly those chunks as one version
    (``finalize_staged_data(symbol, mode="write", stage_results=[...])``). So a failure —
    a partition that raises, a worker killed mid-write — commits nothing, and running the
    write again is safe: it finalizes only its own chunks. A failed write raises only once
    every partition has finished (none is still staging), and the chunks it staged stay
    staged (``Library.list_staged_chunks``) until ``Library.delete_staged_data(symbol)``
    removes them; a plain ``finalize_staged_data(symbol)`` would commit them too. A finalize
    refused for the data (partitions that overlap, columns that differ) drops its chunks.

    Row order: with an index column (a DatetimeIndex, a sorted integer index, or ``index=``
    naming a column) the library orders the chunks by it — partitions must not overlap
    (:class:`sheaf.UnsortedIndexError`). Without one (a ``RangeIndex``, ``index=None``) the
    library keeps chunks in the order they were staged, so the partitions are staged one
    after the other (each still computed in parallel, and each stage encodes its segments on
    every core of its machine).

    Args:
        ddf: a ``dask.dataframe.DataFrame`` or ``Series`` of pandas partitions.
        uri: the store's URI, opened by each worker (``lmdb://...``).
        library: the library's name (it must exist).
        symbol: the symbol's name.
        index: the Sheaf index column, as in :meth:`Library.write`: ``AUTO`` (the default)
            detects it from the frame's ``meta``; a name names it; ``None`` stores no index.
            The choice is made once, so every partition is stored alike.
        metadata: the version's metadata (as in :meth:`Library.write`).

    Returns:
        The :class:`VersionedItem` of the new version (``data=None``).

    Raises:
        ImportError: dask (with its DataFrame support) is not installed.
        TypeError: ``ddf`` is not a dask DataFrame or Series, or ``metadata`` cannot be
            stored (before anything is computed).
        NoSuchLibraryError: the library does not exist (before anything is computed).
        UnsortedIndexError: a partition's index is unsorted, or partitions overlap.
        SchemaError: partitions of different columns (without ``dynamic_schema``).
        ConflictError: the library consumed the chunks in another order than the
            partitions' (this process checks before committing; nothing is committed).
        Exception: whatever computing a partition raised (nothing is committed).
    """
    dask_module, dd_module = _dask()
    if not isinstance(ddf, (dd_module.DataFrame, dd_module.Series)):
        raise TypeError(
            f"sheaf.dask.write takes a dask DataFrame or Series, not {type(ddf).__name__}"
        )
    _check_uri(uri)
    _options.name_bytes(symbol, "symbol")
    _options.metadata_bytes(metadata)  # refused now, before any partition is computed
    chosen = _index_of(ddf._meta, index)
    with Store(uri) as store, store.get_library(library) as lib:
        task = _StageTask(uri=uri, library=library, symbol=symbol, index=chosen)
        run = uuid.uuid4().hex
        stage = dask_module.delayed(_stage_partition, pure=False)
        staged: List[Any] = []
        for i, part in enumerate(ddf.to_delayed()):
            # Without an index, chunks are committed in the order they were staged: chain them.
            after = staged[-1] if chosen is None and staged else None
            staged.append(stage(task, part, after, dask_key_name=f"sheaf-stage-{run}-{i}"))
        ids = _compute_every_partition(dask_module, staged)
        if chosen is None and ids != sorted(ids):
            raise ConflictError(
                f"the partitions of {symbol!r} were staged out of order (chunks {ids}); "
                "nothing was committed: write again"
            )
        return lib.finalize_staged_data(
            symbol,
            mode="write",
            metadata=metadata,
            delete_staged_data_on_failure=True,
            stage_results=[StageResult(symbol, chunk) for chunk in ids],
        )
