"""Conversions between Python data and Arrow C streams, and the shaping of read results.

Everything that knows pandas, pyarrow or polars is here, so the rest of the package only moves
Arrow C streams: what a write takes in, what a read gives back in each ``output_format``, and how
a pandas result is shaped to match what was stored (its index restored after a column
selection or a row range, aggregated results indexed by their keys).

Inputs (:func:`export_input`): pandas DataFrame / Series (through pyarrow's pandas conversion,
which keeps the index and the pandas metadata), pyarrow Table / RecordBatch / RecordBatchReader
(``_export_to_c``), polars DataFrame (``to_arrow()``), a mapping of column name -> numpy array or
list (cffi only, see :mod:`sheaf._arrow_c`), any object with ``__arrow_c_stream__`` (CPython) or
with ``_export_to_c(address)``.

Outputs (:func:`import_output`): ``"pandas"``, ``"pyarrow"``, ``"polars"``, ``"numpy"``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import _arrow_c, _capsule, _lib, errors
from ._lib import ffi
from ._types import AUTO

__all__ = [
    "AUTO",
    "OUTPUT_FORMATS",
    "export_input",
    "import_output",
    "import_data",
    "missing_pandas_index",
    "default_output_format",
    "check_output_format",
]

OUTPUT_FORMATS = ("pandas", "pyarrow", "polars", "numpy")


_SERIES_KEY = b"sheaf.pandas_series"
#: Schema metadata of an aggregated query result: the JSON list of its key columns.
AGGREGATE_KEY = b"sheaf:index"
#: The column names pyarrow gives unnamed pandas index levels.
_UNNAMED_LEVEL = re.compile(r"^__index_level_\d+__$")
_default_format: Optional[str] = None


def _installed(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # pragma: no cover
        return False


def default_output_format() -> str:
    """``"pandas"`` when pandas and pyarrow are installed, else ``"numpy"``."""
    global _default_format
    if _default_format is None:
        _default_format = "pandas" if _installed("pandas") and _installed("pyarrow") else "numpy"
    return _default_format


def check_output_format(fmt: Optional[str]) -> Optional[str]:
    """Validates an ``output_format`` argument (``None`` = inherit)."""
    if fmt is None:
        return None
    if not isinstance(fmt, str) or fmt.lower() not in OUTPUT_FORMATS:
        raise ValueError(
            f"output_format must be one of {', '.join(map(repr, OUTPUT_FORMATS))}, not {fmt!r}"
        )
    return fmt.lower()


def _require(name: str, why: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"{why} needs {name} (pip install {name})") from exc


def _loaded(name: str) -> Any:
    return sys.modules.get(name)


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


def _pandas_to_arrow(pd: Any, data: Any, index: Any) -> Tuple[Any, Optional[str]]:
    pa = _require("pyarrow", "writing pandas data")
    extra: Dict[bytes, bytes] = {}
    if isinstance(data, pd.Series):
        name = data.name
        try:
            extra[_SERIES_KEY] = json.dumps({"name": name}).encode()
        except TypeError:
            raise TypeError(
                f"a Series name must be JSON-compatible (str, int, ...), not {type(name).__name__}"
            ) from None
        frame = data.to_frame(name="__series__" if name is None else name)
    else:
        frame = data
    preserve = None if isinstance(frame.index, pd.RangeIndex) else True
    try:
        table = pa.Table.from_pandas(frame, preserve_index=preserve)
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TypeError(f"cannot convert the DataFrame to Arrow: {exc}") from exc
    if extra:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    chosen: Optional[str] = None
    if index is AUTO:
        meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
        index_columns = meta.get("index_columns", [])
        if len(index_columns) == 1 and isinstance(index_columns[0], str):
            idx = frame.index
            if isinstance(idx, pd.DatetimeIndex) or (
                pd.api.types.is_integer_dtype(idx.dtype)
                and not pd.api.types.is_bool_dtype(idx.dtype)
                and str(idx.dtype).lower() != "uint64"
                and not idx.hasnans
                and idx.is_monotonic_increasing
            ):
                chosen = index_columns[0]
    else:
        chosen = index
    return table, chosen


def _export_pyarrow(pa: Any, data: Any, out: Any) -> None:
    if isinstance(data, pa.Table):
        reader = data.to_reader()
    elif isinstance(data, pa.RecordBatch):
        reader = pa.RecordBatchReader.from_batches(data.schema, [data])
    else:
        reader = data
    reader._export_to_c(int(ffi.cast("uintptr_t", out)))


def export_input(data: Any, out: Any, index: Any) -> Optional[str]:
    """Fills the ``struct ArrowArrayStream *`` ``out`` from ``data``.

    Returns the index column to pass to the library: ``index`` itself unless it is
    :data:`AUTO`, in which case the rule of ``Library.write`` applies.
    """
    pd = _loaded("pandas")
    if pd is not None and isinstance(data, (pd.DataFrame, pd.Series)):
        table, chosen = _pandas_to_arrow(pd, data, index)
        _export_pyarrow(_loaded("pyarrow"), table, out)
        return chosen
    chosen = None if index is AUTO else index
    pa = _loaded("pyarrow")
    if pa is not None and isinstance(data, (pa.Table, pa.RecordBatch, pa.RecordBatchReader)):
        _export_pyarrow(pa, data, out)
        return chosen
    pl = _loaded("polars")
    if pl is not None and isinstance(data, pl.DataFrame) and _installed("pyarrow"):
        # to_arrow() gives large_string; the stream protocol would give string_view.
        _export_pyarrow(_require("pyarrow", "polars input"), data.to_arrow(), out)
        return chosen
    if isinstance(data, _arrow_c.Columns):
        _arrow_c.export_columns(data, out, data.timezones)
        return data.index if index is AUTO else index
    if isinstance(data, Mapping):
        _arrow_c.export_columns(data, out)
        return chosen
    if hasattr(data, "__arrow_c_stream__") and _capsule.AVAILABLE:
        _capsule.move_from_capsule(data.__arrow_c_stream__(), out)
        return chosen
    if hasattr(data, "_export_to_c"):
        data._export_to_c(int(ffi.cast("uintptr_t", out)))
        return chosen
    raise TypeError(
        f"cannot write a {type(data).__module__}.{type(data).__qualname__}: expected a pandas "
        "DataFrame or Series, a pyarrow Table / RecordBatch / RecordBatchReader, a polars "
        "DataFrame, a dict of numpy arrays or lists, or an object with __arrow_c_stream__"
    )


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _pyarrow_error(exc: Exception) -> errors.SheafError:
    text = str(exc)
    code = _lib.code_in_message(text) or int(_lib.lib.SHEAF_ERR_GENERIC)
    return errors.error_class(code)(
        f"reading the stream failed: {text}", code, _lib.status_name(code)
    )


def _read_table(stream: Any) -> Any:
    pa = _require("pyarrow", "this output_format")
    reader = pa.RecordBatchReader._import_from_c(int(ffi.cast("uintptr_t", stream)))
    try:
        return reader.read_all()
    except pa.ArrowException as exc:
        raise _pyarrow_error(exc) from exc


def _aggregate_keys(md: Mapping[bytes, bytes]) -> Optional[List[str]]:
    """The key columns an aggregated query result names in its schema (``None``: not one)."""
    raw = md.get(AGGREGATE_KEY)
    if raw is None:
        return None
    try:
        keys = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return None
    return keys


def _writable_view(np: Any, values: Any) -> Any:
    """A writable array over the memory of the read-only array ``values``, keeping it alive.

    pyarrow hands out its zero-copy arrays read-only, but a read's buffers belong to its
    result alone (the library made them for this read; the Arrow table is dropped), so the
    DataFrame may own them: writing into a column must work as it does on any DataFrame."""
    if values.nbytes == 0:
        return values.copy()
    address = values.__array_interface__["data"][0]
    owner = ffi.gc(ffi.cast("char *", address), lambda _ptr, keep=values: None)
    return np.frombuffer(ffi.buffer(owner, values.nbytes), dtype=values.dtype)


def _owned_frame(pd: Any, frame: Any) -> Any:
    """``frame`` (from ``to_pandas(split_blocks=True)``: one block per column, numeric columns
    viewing the Arrow buffers) with those columns made writable, still without a copy."""
    np = _arrow_c._np()
    columns: Dict[int, Any] = {}
    changed = False
    # items() and not iloc: pandas' general indexing costs ~30 us a column, a third of a
    # small read.
    for i, (_, column) in enumerate(frame.items()):
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
            values = column.to_numpy()
            if not values.flags.writeable and values.flags.c_contiguous:
                columns[i] = _writable_view(np, values)
                changed = True
                continue
        columns[i] = column
    if not changed:
        return frame
    owned = pd.DataFrame(columns, index=frame.index, copy=False)
    owned.columns = frame.columns
    return owned


def _with_pandas_index(table: Any, index: Optional[str]) -> Any:
    """An aggregated result (group-by, resample) with pandas metadata naming its key columns as
    the index, so that ``table.to_pandas()`` gives the frame ``output_format="pandas"`` gives;
    other tables as they are."""
    md = table.schema.metadata or {}
    keys = _aggregate_keys(md)
    if keys is None or not any(k in table.column_names for k in keys):
        return table
    pa = _require("pyarrow", "this output_format")
    # pyarrow writes the metadata of the (empty) pandas result; its index levels are named by
    # their columns here so that the metadata points at them, then given their real names.
    frame = _to_pandas(table.slice(0, 0), index)
    names = list(frame.index.names)
    fields = [k for k in keys if k in table.column_names]
    frame.index.names = fields
    meta = json.loads(pa.Schema.from_pandas(frame, preserve_index=True).metadata[b"pandas"])
    for column in meta.get("columns", []):
        if column.get("field_name") in fields:
            column["name"] = names[fields.index(column["field_name"])]
    stripped = {k: v for k, v in md.items() if k != _SERIES_KEY}
    stripped[b"pandas"] = json.dumps(meta).encode()
    return table.replace_schema_metadata(stripped)


def _to_pandas(table: Any, index: Optional[str]) -> Any:
    pd = _require("pandas", "output_format='pandas'")
    md = table.schema.metadata or {}
    keys = _aggregate_keys(md)
    if keys is not None:
        # A group-by or resample result: indexed by its keys; no stored pandas metadata
        # applies to it (the library drops it, and it would describe other columns).
        stripped = {k: v for k, v in md.items() if k not in (b"pandas", _SERIES_KEY)}
        frame = table.replace_schema_metadata(stripped or None).to_pandas()
        keys = [k for k in keys if k in frame.columns]
        if keys:
            frame = frame.set_index(keys if len(keys) > 1 else keys[0])
            frame.index.names = [
                None if n is not None and _UNNAMED_LEVEL.match(str(n)) else n
                for n in frame.index.names
            ]
        return frame
    # One buffer per column (contiguous reads): pandas can take them as they are.
    if all(c.num_chunks == 1 for c in table.columns):
        frame = _owned_frame(pd, table.to_pandas(split_blocks=True))
    else:
        frame = table.to_pandas()
    if b"pandas" not in md and index is not None and index in frame.columns:
        frame = frame.set_index(index)
    series = md.get(_SERIES_KEY)
    if series is not None and frame.shape[1] == 1:
        out = frame.iloc[:, 0]
        out.name = json.loads(series).get("name")
        return out
    return frame


def import_output(
    stream: Any, output_format: str, index: Optional[str], rows: Optional[int] = None
) -> Any:
    """Consumes ``stream`` (always released on return) into ``output_format``."""
    try:
        if output_format == "numpy":
            return _arrow_c.import_columns(stream, index=index, rows=rows)
        table = _read_table(stream)
    finally:
        _arrow_c.release_stream(stream)
    if output_format == "pyarrow":
        return _with_pandas_index(table, index)
    if output_format == "pandas":
        return _to_pandas(table, index)
    if output_format == "polars":
        pl = _require("polars", "output_format='polars'")
        return pl.from_arrow(table)
    raise ValueError(f"unknown output_format {output_format!r}")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Shaping read results
# --------------------------------------------------------------------------------------------


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
    return _with_metadata(table, md)


def _with_metadata(table: Any, md: Dict[bytes, bytes]) -> Any:
    """``table`` with schema metadata ``md``, keeping its row count also when it has no
    columns (``columns=[]``): pyarrow's ``replace_schema_metadata`` rebuilds a table from its
    columns, and a table without columns comes back with 0 rows."""
    if table.num_columns:
        return table.replace_schema_metadata(md)
    pa = _require("pyarrow", "this output_format")
    rows = pa.RecordBatch.from_struct_array(pa.nulls(table.num_rows, type=pa.struct([])))
    return pa.Table.from_batches([rows.replace_schema_metadata(md)])


def import_data(stream: Any, fmt: str, info: Dict[str, Any], doc: Dict[str, Any]) -> Any:
    """Consumes ``stream`` (always released), the result of a read with the options ``doc`` of
    the version ``info``, into ``fmt``.

    A pandas RangeIndex is re-based to the rows read (a fresh ``0..n`` after a filter).
    Aggregated results (their schema names the key columns under ``sheaf:index``) are indexed
    by their keys in pandas; other formats keep them as columns. (A column selection that left
    out the stored pandas index is read again with it by the caller first, see
    :func:`missing_pandas_index`.)
    """
    index = info.get("index")
    total = int(info.get("rows", 0))
    queried = bool(doc.get("query"))
    ranged = "row_range" in doc or "date_range" in doc or queried
    if fmt == "numpy":
        cols = import_output(stream, "numpy", index, None if ranged else total)
        if queried and cols.index is not None and cols.index not in cols:
            cols.index = None  # e.g. a group-by: the index column is not in the result
        return cols
    if fmt == "polars":
        frame = import_output(stream, fmt, index, total)
        if index is not None and info.get("index_sorted") and index in frame.columns:
            # polars takes the flag on trust and uses it (joins, group_by_dynamic, filters on
            # the column); the library only sets it where the stored index ascends.
            frame = frame.with_columns(frame.get_column(index).set_sorted())
        return frame
    if fmt != "pandas":
        return import_output(stream, fmt, index, total)
    try:
        table = _read_table(stream)
    finally:
        _arrow_c.release_stream(stream)
    if AGGREGATE_KEY not in (table.schema.metadata or {}):
        table = _fix_range_index(table, _rows_read(total, doc))
    return _to_pandas(table, index)
