"""Conversions between Python data and Arrow C streams, and the shaping of read results.

Everything that knows pandas, pyarrow or polars is here, so the rest of the package only moves
Arrow C streams: what a write takes in, what a read gives back in each ``output_format``, and how
a pandas result is shaped to match what was stored (its index restored after a column
selection or a row range, aggregated results indexed by their keys).

Inputs (:func:`export_input`): pandas DataFrame / Series (through pyarrow's pandas conversion,
which keeps the index and the pandas metadata), pyarrow Table / RecordBatch / RecordBatchReader
(``_export_to_c``), polars DataFrame (``to_arrow()``), a mapping of column name -> numpy array or
list (cffi only, see :mod:`sheaf._arrow_c`), a bare 1-D or 2-D numpy array (cffi only, see
"numpy arrays" below), any object with ``__arrow_c_stream__`` (CPython) or with
``_export_to_c(address)``.

Outputs (:func:`import_output`): ``"pandas"``, ``"pyarrow"``, ``"polars"``, ``"numpy"``.

Data shapes Arrow has no direct form for:

* Duplicate column names (pandas allows them, an Arrow schema stored by Sheaf does not): the
  first column of a name keeps it, each later one is stored as ``"<name>.<k>"`` (``k`` = 1, 2,
  ... skipping names already taken: pandas' ``read_csv`` names), and the pandas metadata maps
  the stored name back to the pandas one. pandas output restores the names and their order;
  pyarrow, polars and numpy output, ``get_description`` and queries use the stored names.
* A bare numpy array (:data:`NDARRAY_KEY`): a 1-D array is one column ``"ndarray"`` (the name
  ArcticDB gives it), a 2-D array of ``k`` columns is ``k`` columns ``"0"`` .. ``"k-1"``, and
  the schema metadata records the dimensions and dtype, so that pandas and numpy output give
  back an ``ndarray`` of that dtype (see :func:`_ndarray_result`). Other shapes and dtypes Arrow
  cannot hold (complex, structured, object arrays of mixed values) raise
  :class:`sheaf.UnsupportedTypeError`.
* A pandas MultiIndex whose first level is a DatetimeIndex (or a sorted integer level) is indexed
  by that level, as a DatetimeIndex is: it is the Sheaf index column that ``update``,
  ``date_range`` and ``delete_data_in_range`` work on; the other levels are stored columns that
  the pandas metadata turns back into levels.
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
    "pandas_columns",
    "default_output_format",
    "check_output_format",
]

OUTPUT_FORMATS = ("pandas", "pyarrow", "polars", "numpy", "reader")


_SERIES_KEY = b"sheaf.pandas_series"
#: Schema metadata of a stored bare numpy array: JSON ``{"ndim": 1 | 2, "columns": k, "dtype":
#: numpy dtype string}``; the columns are ``"ndarray"`` (1-D) or ``"0"`` .. ``"k-1"`` (2-D).
NDARRAY_KEY = b"sheaf.numpy_ndarray"
#: The column of a stored 1-D numpy array.
NDARRAY_COLUMN = "ndarray"
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


def _label_text(label: Any) -> str:
    """The Arrow field name pyarrow gives a pandas column label."""
    if isinstance(label, str):
        return label
    if isinstance(label, bytes):
        return label.decode("utf-8")
    if isinstance(label, tuple):
        return str(tuple(map(_label_text, label)))
    return str(label)


def _unique_labels(frame: Any) -> Optional[Dict[int, Tuple[str, int]]]:
    """The renames that give every column of ``frame`` a field name of its own: ``{position:
    (stored name, position of the first column of that name)}``, ``None`` when the names are
    unique already. Later copies of a name get ``"<name>.<k>"``, ``k`` counting up from 1 past
    the names already taken by columns and index levels."""
    texts = [_label_text(label) for label in frame.columns]
    if len(set(texts)) == len(texts):
        return None
    taken = set(texts) | {_label_text(n) for n in frame.index.names if n is not None}
    first: Dict[str, int] = {}
    copies: Dict[str, int] = {}
    renames: Dict[int, Tuple[str, int]] = {}
    for pos, text in enumerate(texts):
        if text not in first:
            first[text] = pos
            continue
        k = copies.get(text, 0)
        while True:
            k += 1
            name = f"{text}.{k}"
            if name not in taken:
                break
        copies[text] = k
        taken.add(name)
        renames[pos] = (name, first[text])
    return renames


def _from_pandas_unique(pa: Any, frame: Any, preserve: Any) -> Any:
    """``pa.Table.from_pandas`` of a frame whose column names may repeat: the later copies are
    stored under the names :func:`_unique_labels` gives, and the pandas metadata maps each back
    to the pandas name (so ``to_pandas()`` restores the frame's columns, in order)."""
    renames = _unique_labels(frame)
    if renames is None:
        return pa.Table.from_pandas(frame, preserve_index=preserve)
    renamed = frame.copy(deep=False)
    # All as the field names pyarrow would give them (a mix of str and other labels would
    # make pyarrow warn); the column index's own description is put back below.
    renamed.columns = [
        renames[pos][0] if pos in renames else _label_text(label)
        for pos, label in enumerate(frame.columns)
    ]
    table = pa.Table.from_pandas(renamed, preserve_index=preserve)
    meta = json.loads(table.schema.metadata[b"pandas"])
    columns = meta["columns"]  # the frame's columns in order, then the index levels
    for pos, (_, source) in renames.items():
        columns[pos]["name"] = columns[source]["name"]
    # The column index as pyarrow describes the frame's own (the renames may change its dtype).
    firsts = [pos for pos in range(len(frame.columns)) if pos not in renames]
    empty = frame.iloc[:0, firsts].reset_index(drop=True)  # (preserve_index=False omits it)
    own = pa.Schema.from_pandas(empty).pandas_metadata
    meta["column_indexes"] = own["column_indexes"]
    return table.replace_schema_metadata(
        {**table.schema.metadata, b"pandas": json.dumps(meta).encode()}
    )


def _indexable(pd: Any, idx: Any) -> bool:
    """Whether the pandas index (or MultiIndex level) ``idx`` becomes the Sheaf index column: a
    DatetimeIndex, or an integer index sorted ascending without nulls."""
    return isinstance(idx, pd.DatetimeIndex) or (
        pd.api.types.is_integer_dtype(idx.dtype)
        and not pd.api.types.is_bool_dtype(idx.dtype)
        and str(idx.dtype).lower() != "uint64"
        and not idx.hasnans
        and idx.is_monotonic_increasing
    )


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
        table = _from_pandas_unique(pa, frame, preserve)
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TypeError(f"cannot convert the DataFrame to Arrow: {exc}") from exc
    if extra:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    chosen: Optional[str] = None
    if index is AUTO:
        meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
        index_columns = meta.get("index_columns", [])
        if index_columns and isinstance(index_columns[0], str):
            idx = frame.index
            if isinstance(idx, pd.MultiIndex):
                # its first level, as ArcticDB indexes a MultiIndex by it
                idx = idx.get_level_values(0)
            if _indexable(pd, idx):
                chosen = index_columns[0]
    else:
        chosen = index
    return table, chosen


def _export_ndarray(np: Any, array: Any, out: Any) -> None:
    """Fills ``out`` from a bare 1-D or 2-D numpy array (see :data:`NDARRAY_KEY`)."""
    what = f"a numpy array of shape {array.shape} and dtype {array.dtype}"
    if array.ndim not in (1, 2):
        raise errors.UnsupportedTypeError(
            f"cannot store {what}: Sheaf stores 1-D arrays (one column) and 2-D arrays (one "
            "column per array column); reshape it, or store a dict of 1-D arrays"
        )
    if array.ndim == 2 and array.shape[1] == 0:
        raise errors.UnsupportedTypeError(f"cannot store {what}: it has no columns")
    if not isinstance(array, np.ma.MaskedArray):
        array = np.asarray(array)  # e.g. a numpy.matrix, whose columns stay 2-D
    if array.ndim == 1:
        columns = {NDARRAY_COLUMN: array}
    else:
        columns = {str(j): array[:, j] for j in range(array.shape[1])}
    spec = {"ndim": array.ndim, "columns": len(columns), "dtype": array.dtype.str}
    try:
        _arrow_c.export_columns(columns, out, metadata={NDARRAY_KEY.decode(): json.dumps(spec)})
    except (TypeError, ValueError, OverflowError) as exc:
        raise errors.UnsupportedTypeError(f"cannot store {what}: {exc}") from exc


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
    np = _loaded("numpy")
    if np is not None and isinstance(data, np.ndarray):
        _export_ndarray(np, data, out)
        return chosen
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
        "DataFrame, a dict of numpy arrays or lists, a 1-D or 2-D numpy array, or an object "
        "with __arrow_c_stream__"
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
    stream: Any,
    output_format: str,
    index: Optional[str],
    rows: Optional[int] = None,
    metadata: Optional[Dict[str, str]] = None,
) -> Any:
    """Consumes ``stream`` (always released on return) into ``output_format``. ``metadata``,
    when given, is filled with the schema metadata of a ``"numpy"`` read. ``"reader"`` moves
    the stream into a ``pyarrow.RecordBatchReader`` unread: the library loads each segment as
    the reader's consumer asks for it."""
    if output_format == "reader":
        try:
            pa = _require("pyarrow", "output_format='reader'")
            return pa.RecordBatchReader._import_from_c(int(ffi.cast("uintptr_t", stream)))
        finally:
            _arrow_c.release_stream(stream)  # a no-op once pyarrow moved it
    try:
        if output_format == "numpy":
            return _arrow_c.import_columns(stream, index=index, rows=rows, metadata=metadata)
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


def _ndarray_spec(raw: Any, names: List[str]) -> Optional[Tuple[int, Any]]:
    """``(ndim, dtype)`` of the stored numpy array a result with the columns ``names`` is made
    of (``raw``: the schema's :data:`NDARRAY_KEY` value); ``None`` when it is not one (no such
    metadata, or a query made other columns)."""
    if raw is None or not names:
        return None
    try:
        spec = json.loads(raw)
        ndim, count = int(spec["ndim"]), int(spec["columns"])
        dtype = _arrow_c._np().dtype(spec["dtype"])
    except (ValueError, TypeError, KeyError):
        return None
    allowed = {NDARRAY_COLUMN} if ndim == 1 else {str(j) for j in range(count)}
    if ndim not in (1, 2) or not set(names) <= allowed:
        return None
    return ndim, dtype


def _ndarray_column(np: Any, values: Any, mask: Optional[Any], dtype: Any) -> Tuple[Any, Any]:
    """One stored column of a numpy array back in the array's ``dtype``: ``(values, mask or
    None)``. Nulls are ``NaT`` in datetime and timedelta arrays and ``None`` in object arrays
    (what was stored as null); elsewhere (from a masked array) they stay masked."""
    kind = dtype.kind
    if mask is not None and not mask.any():
        mask = None
    if kind == "O":
        values = np.asarray(values).astype(object)
        if mask is not None:
            values[mask] = None
        return values, None
    if kind in "Mm":
        values = np.asarray(values).astype(dtype)
        if mask is not None:
            values[mask] = np.array("NaT", dtype=dtype)
        return values, None
    if kind in "US":
        items = np.asarray(values, dtype=object)
        if mask is not None:
            items = items.copy()
            items[mask] = "" if kind == "U" else b""
        # the width the values need, at least the stored one (appends may bring longer ones)
        natural = items.astype(kind) if len(items) else np.zeros(0, dtype=dtype)
        width = dtype if natural.dtype.itemsize <= dtype.itemsize else natural.dtype
        return natural.astype(width, copy=False), mask
    if mask is not None:
        values = np.where(mask, np.zeros(1, dtype=values.dtype)[0], values)
    values = np.asarray(values)
    if values.dtype != dtype:
        values = values.astype(dtype)
    elif not values.flags.writeable and values.flags.c_contiguous:
        values = _writable_view(np, values)
    return values, mask


def _ndarray_result(
    np: Any, ndim: int, dtype: Any, columns: List[Tuple[Any, Optional[Any]]]
) -> Any:
    """The numpy array made of the stored columns ``(values, mask)`` read (in the order read): a
    1-D array from its one column, a 2-D array of the columns read; a ``numpy.ma.MaskedArray``
    where nulls remain (a masked array was written)."""
    restored = [_ndarray_column(np, values, mask, dtype) for values, mask in columns]
    masked = any(mask is not None for _, mask in restored)
    if ndim == 1:
        values, mask = restored[0]
        return np.ma.MaskedArray(values, mask=mask) if masked else values
    widths = [values.dtype for values, _ in restored]
    out_dtype = max(widths, key=lambda d: d.itemsize) if dtype.kind in "US" else dtype
    rows = len(restored[0][0])
    out = np.empty((rows, len(restored)), dtype=out_dtype)
    mask2d = np.zeros(out.shape, dtype=bool) if masked else None
    for j, (values, mask) in enumerate(restored):
        out[:, j] = values
        if mask is not None and mask2d is not None:
            mask2d[:, j] = mask
    return np.ma.MaskedArray(out, mask=mask2d) if masked else out


def _ndarray_from_table(table: Any) -> Any:
    """The stored numpy array a pyarrow ``table`` holds (``None``: not one)."""
    md = table.schema.metadata or {}
    spec = _ndarray_spec(md.get(NDARRAY_KEY), table.column_names)
    if spec is None:
        return None
    np = _arrow_c._np()
    columns: List[Tuple[Any, Optional[Any]]] = []
    for column in table.columns:
        mask = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else None
        columns.append((column.to_numpy(zero_copy_only=False), mask))
    return _ndarray_result(np, spec[0], spec[1], columns)


def _ndarray_from_columns(cols: Any, md: Mapping[str, str]) -> Any:
    """The stored numpy array a numpy read's :class:`sheaf.Columns` hold (``None``: not one)."""
    spec = _ndarray_spec(md.get(NDARRAY_KEY.decode()), list(cols))
    if spec is None:
        return None
    np = _arrow_c._np()
    columns: List[Tuple[Any, Optional[Any]]] = []
    for values in cols.values():
        if isinstance(values, np.ma.MaskedArray):
            columns.append((values.data, np.ma.getmaskarray(values)))
        else:
            columns.append((values, None))
    return _ndarray_result(np, spec[0], spec[1], columns)


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


def pandas_columns(stream: Any, requested: List[str]) -> Optional[List[str]]:
    """The columns a pandas read of the column selection ``requested`` must read, when they
    are not the ones the unconsumed ``stream`` read (``None``: they are): each name followed by
    the stored copies of a duplicated pandas column name (``columns=["a"]`` gives every column
    named ``a``, as ``frame[["a"]]`` does), then the stored pandas index columns the selection
    left out."""
    names, md = _peek_schema(stream)
    meta = _pandas_meta(md.get("pandas"))
    if meta is None:
        return None
    copies: Dict[str, List[str]] = {}
    for column in meta.get("columns", []):
        if not isinstance(column, dict):
            continue
        field, name = column.get("field_name"), column.get("name")
        if isinstance(field, str) and isinstance(name, str) and field != name:
            copies.setdefault(name, []).append(field)
    wanted: List[str] = []
    for name in requested:
        wanted.append(name)
        wanted += [c for c in copies.get(name, []) if c not in requested and c not in wanted]
    index = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    wanted += [c for c in index if c not in names and c not in wanted]
    return None if wanted == list(requested) else wanted


def _rows_read(total: int, doc: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    """The positions ``[lo, hi)`` in the version of the rows a read returns, when its options
    only select rows by position (``row_range``, and query clauses ``row_range`` / ``head`` /
    ``tail``); ``None`` when they cannot be known (a date range, a filter, an aggregation)."""
    if "date_range" in doc or "concat" in doc:
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
    :func:`pandas_columns`.)
    """
    index = info.get("index")
    total = int(info.get("rows", 0))
    queried = bool(doc.get("query"))
    ranged = "row_range" in doc or "date_range" in doc or "concat" in doc or queried
    if fmt == "numpy":
        md: Dict[str, str] = {}
        cols = import_output(stream, "numpy", index, None if ranged else total, md)
        if NDARRAY_KEY.decode() in md and AGGREGATE_KEY.decode() not in md:
            array = _ndarray_from_columns(cols, md)
            if array is not None:
                return array
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
    schema_md = table.schema.metadata or {}
    if AGGREGATE_KEY not in schema_md:
        if NDARRAY_KEY in schema_md:
            array = _ndarray_from_table(table)
            if array is not None:
                return array
        table = _fix_range_index(table, _rows_read(total, doc))
    return _to_pandas(table, index)
