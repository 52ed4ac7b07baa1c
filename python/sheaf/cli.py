"""The ``sheaf`` command line: look into a store, move tables in and out, run SQL.

Usage::

    sheaf STORE_URI COMMAND [ARGS] [--json]
    python -m sheaf STORE_URI COMMAND [ARGS] [--json]

``STORE_URI`` is what :func:`sheaf.open` takes: ``lmdb:///path``, a plain path (the same),
``s3://bucket/prefix?...``. Commands other than ``import`` refuse a local store directory that
does not exist (instead of creating an empty store there); ``import`` creates the store and
the library when they are missing.

Commands:

=====================================================  ===========================================
``libraries``                                          the library names
``symbols LIB [--snapshot S] [--regex R]``             the symbols of a library
``versions LIB SYMBOL [--snapshot S]``                 the versions of a symbol, newest first
``snapshots LIB``                                      the snapshots of a library, with metadata
``spaces [SPACE] [--prefix P] [-n N]``                 key spaces and key counts; a space's keys
``collections [NAME] [-n N] [--start ID]``             collections and sizes; a collection's docs
``head LIB SYMBOL [-n N] [--as-of V] [--columns a,b]`` the first rows, as a table
``tail LIB SYMBOL [-n N] [--as-of V] [--columns a,b]`` the last rows, as a table
``describe LIB SYMBOL [--as-of V]``                    columns, index, row count, metadata
``sizes [LIB [SYMBOL]] [--human]``                     storage taken per library, symbol or kind
``verify``                                             checks every checksum and reference
``reclaim [--grace DURATION] [--dry-run]``             removes what ``verify`` lists as leftovers
``export LIB SYMBOL FILE [--as-of V] [--format F]``     a version to Parquet, CSV or Arrow IPC
``import LIB SYMBOL FILE [--format F] [--append]``     Parquet, CSV or Arrow IPC into a new version
``sql QUERY [--library LIB] [--param VALUE ...]``      one SQL statement (Library.sql / Store.sql)
=====================================================  ===========================================

Output is an aligned plain-text table or list by default; ``--json`` prints one JSON document
on stdout instead (datetimes as ISO 8601 strings, NaN, infinities and nulls as ``null``). Reading
rows needs only numpy (``output_format="numpy"``), so the command works on PyPy and CPython 3.8
without pandas or pyarrow; ``export`` and ``import`` need pyarrow.

Exit codes (also in ``sheaf --help``):

- 0: success.
- 1: any other Sheaf error (:class:`sheaf.SheafError`: generic, unsupported, timeout, closed,
  internal).
- 2: usage error (argparse's: an unknown command or option, a malformed value).
- 3: not found: no such library, symbol, version, snapshot, key space, collection, store
  directory or input file (:class:`sheaf.NotFoundError`).
- 4: invalid argument or schema error (:class:`sheaf.InvalidArgumentError`,
  :class:`sheaf.SchemaError`; a file pyarrow cannot read or write).
- 5: conflict (:class:`sheaf.ConflictError`: a commit kept losing races, a name exists).
- 6: storage or corruption (:class:`sheaf.StorageError`, :class:`sheaf.CorruptDataError`; local
  file I/O errors; ``verify`` finding problems).
- 7: a missing optional dependency (pyarrow for ``export`` / ``import``, numpy for reading rows).
- 130: interrupted (Ctrl-C).

Errors are printed to stderr as ``sheaf: error: MESSAGE``, never as a traceback.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import math
import os
import re
import sys
import time
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    NoReturn,
    Optional,
    Sequence,
    TextIO,
    Tuple,
)

from . import errors
from ._types import KeyType
from .library import Library
from .store import Store

__all__ = [
    "main",
    "build_parser",
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_NOT_FOUND",
    "EXIT_INVALID",
    "EXIT_CONFLICT",
    "EXIT_STORAGE",
    "EXIT_MISSING_DEPENDENCY",
    "EXIT_INTERRUPTED",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INVALID = 4
EXIT_CONFLICT = 5
EXIT_STORAGE = 6
EXIT_MISSING_DEPENDENCY = 7
EXIT_INTERRUPTED = 130

EPILOG = """\
exit codes:
  0    success
  1    any other Sheaf error (generic, unsupported, timeout, closed, internal)
  2    usage error (unknown command or option, malformed value)
  3    not found (library, symbol, version, snapshot, key space, collection,
       store directory, input file)
  4    invalid argument or schema error (also a file pyarrow cannot read or write)
  5    conflict (a commit kept losing races, a name already exists)
  6    storage or corruption error (also local file I/O errors, problems found by verify)
  7    missing optional dependency (pyarrow for export/import, numpy for reading rows)
  130  interrupted

Errors go to stderr as "sheaf: error: MESSAGE". --json prints one JSON document on
stdout (datetimes as ISO 8601 strings, NaN and nulls as null).

examples:
  sheaf lmdb:///data/store libraries
  sheaf /data/store head prices eurusd -n 10 --as-of 3
  sheaf /data/store export prices eurusd eurusd.parquet
  sheaf /data/store sql "SELECT count(*) FROM prices.eurusd"
"""

#: Extensions that tell ``export`` / ``import`` the file format.
FORMAT_BY_EXTENSION = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
FORMATS = ("parquet", "csv", "arrow")
#: Schema metadata ``export`` writes into Parquet and Arrow files: the Sheaf index column, which
#: ``import`` makes the index again.
INDEX_METADATA_KEY = b"sheaf.index"

_SIZE_KINDS = [kind.value for kind in KeyType]
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$|^[+-]?(inf|nan)$", re.I)
_OFFSET_TZ = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_EPOCH = _dt.datetime(1970, 1, 1)
_NAT = -(2**63)
_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


class CliError(Exception):
    """An error of the command line itself, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class MissingDependencyError(CliError):
    """An optional package the command needs is not installed (exit code 7)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_MISSING_DEPENDENCY)


# ------------------------------------------------------------------------------------------------
# Exit codes
# ------------------------------------------------------------------------------------------------


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an exception (see the module documentation)."""
    if isinstance(exc, CliError):
        return exc.exit_code
    if isinstance(exc, errors.NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, (errors.SchemaError, errors.InvalidArgumentError)):
        return EXIT_INVALID
    if isinstance(exc, errors.ConflictError):
        return EXIT_CONFLICT
    if isinstance(exc, errors.StorageError):
        return EXIT_STORAGE
    return EXIT_ERROR


def _progress_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """``progress=True`` for the long library calls (the write of an import, ``verify``,
    ``reclaim``) when ``--progress`` is on (default: stderr is a terminal); tqdm draws the bars
    when it is installed."""
    return {"progress": True} if args.progress else {}


def _progress_bars(args: argparse.Namespace, description: str) -> Any:
    """Bars for what the command line counts itself (the rows an export writes), or None."""
    from . import _progress

    return _progress.bars(description) if args.progress else None


# ------------------------------------------------------------------------------------------------
# Optional dependencies
# ------------------------------------------------------------------------------------------------


def _import_optional(name: str, why: str, install: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{why} needs {name.partition('.')[0]}, which is not installed ({install})"
        ) from exc


def _numpy() -> Any:
    return _import_optional("numpy", "reading rows", "pip install numpy")


def _pyarrow(command: str) -> Any:
    return _import_optional("pyarrow", command, "pip install pyarrow, or 'sheaf[pyarrow]'")


# ------------------------------------------------------------------------------------------------
# Values: numpy columns -> Python values -> text cells or JSON
# ------------------------------------------------------------------------------------------------


class _Nan:
    """Marks a float NaN among the values of a column (``NaN`` in tables, null in JSON)."""

    def __repr__(self) -> str:
        return "NaN"


NAN = _Nan()


def _zone(name: Optional[str]) -> Optional[_dt.tzinfo]:
    """The tzinfo of an Arrow time zone string (``None``: naive). A zone Python cannot resolve
    (no ``zoneinfo`` on 3.8, no tz database) is shown in UTC."""
    if not name:
        return None
    if name.upper() in ("UTC", "Z", "ETC/UTC", "GMT"):
        return _dt.timezone.utc
    m = _OFFSET_TZ.match(name)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        delta = _dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return _dt.timezone(sign * delta)
    try:
        zoneinfo = importlib.import_module("zoneinfo")
        zone: _dt.tzinfo = zoneinfo.ZoneInfo(name)
        return zone
    except Exception:  # no zoneinfo (3.8), no tz database, unknown name
        return _dt.timezone.utc


def _fraction_digits(ns_values: Sequence[Optional[int]]) -> int:
    digits = 0
    for ns in ns_values:
        if ns is None:
            continue
        if ns % 1000:
            return 9
        if ns % 10**6:
            digits = 6
        elif ns % 10**9 and digits < 3:
            digits = 3
    return digits


def _instant_text(ns: int, digits: int, zone: Optional[_dt.tzinfo], sep: str) -> str:
    seconds, frac = divmod(ns, 10**9)
    moment = _EPOCH + _dt.timedelta(seconds=seconds)
    if zone is not None:
        moment = moment.replace(tzinfo=_dt.timezone.utc).astimezone(zone)
    text = moment.isoformat(sep=sep)
    if digits:
        # isoformat pads the year to 4 digits: the seconds end at character 19.
        text = text[:19] + "." + f"{frac:09d}"[:digits] + text[19:]
    return text


def _duration_text(ns: int) -> str:
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    days, rest = divmod(ns, 86_400 * 10**9)
    hours, rest = divmod(rest, 3_600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds, frac = divmod(rest, 10**9)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    if days:
        text = f"{days} day{'s' if days != 1 else ''} {text}"
    return sign + text


def _column_values(array: Any, tz: Optional[str], sep: str) -> List[Any]:
    """The values of a numpy column as Python values: ``None`` for nulls (masked entries, NaT),
    :data:`NAN` for NaN, ISO 8601 strings for dates, times and instants (``sep`` between date
    and time), ``HH:MM:SS[.f]`` strings (with days) for durations and times of day."""
    np = _numpy()
    mask: Optional[List[bool]] = None
    if isinstance(array, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(array).tolist()
        array = array.data
    array = np.asarray(array)
    kind = array.dtype.kind
    values: List[Any]
    if kind == "M":
        unit, _count = np.datetime_data(array.dtype)
        raw = array.view("int64").tolist()
        if unit == "D":
            values = [None if v == _NAT else _date_text(np, v) for v in raw]
        elif unit in _NS:
            nss = [None if v == _NAT else v * _NS[unit] for v in raw]
            digits = _fraction_digits(nss)
            zone = _zone(tz)
            values = [None if v is None else _safe_instant(np, v, digits, zone, sep) for v in nss]
        else:
            values = [None if v == _NAT else str(np.datetime64(v, unit)) for v in raw]
    elif kind == "m":
        unit, _count = np.datetime_data(array.dtype)
        raw = array.view("int64").tolist()
        factor = _NS.get(unit)
        if factor is None:
            values = [None if v == _NAT else f"{v}{unit}" for v in raw]
        else:
            values = [None if v == _NAT else _duration_text(v * factor) for v in raw]
    elif kind == "f":
        # float16/32 print their own shortest repr (0.1, not 0.10000000149011612).
        short = array.dtype.itemsize < 8
        values = [float(str(v)) for v in array] if short else array.tolist()
        values = [NAN if math.isnan(v) else v for v in values]
    else:
        values = array.tolist()
    if mask is not None:
        values = [None if m else v for v, m in zip(values, mask)]
    return values


def _date_text(np: Any, days: int) -> str:
    try:
        return (_dt.date(1970, 1, 1) + _dt.timedelta(days=days)).isoformat()
    except OverflowError:
        return str(np.datetime64(days, "D"))


def _safe_instant(np: Any, ns: int, digits: int, zone: Optional[_dt.tzinfo], sep: str) -> str:
    try:
        return _instant_text(ns, digits, zone, sep)
    except (OverflowError, ValueError):  # beyond Python's years 1-9999
        return str(np.datetime64(ns, "ns"))


def _json_value(value: Any) -> Any:
    """A Python value of :func:`_column_values` (or of metadata) as a JSON value."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if value is NAN:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _json_value(item())
    return str(value)  # Decimal and anything else: exact text


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_control(m: Any) -> str:
    char: str = m.group(0)
    return _ESCAPES.get(char, f"\\x{ord(char):02x}")


def _plural(n: int, word: str, words: Optional[str] = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _iso_text(value: Any, sep: str) -> str:
    """A datetime (or ``pandas.Timestamp``) or a date in ISO 8601."""
    try:
        return str(value.isoformat(sep=sep))
    except TypeError:  # a date: no time to separate
        return str(value.isoformat())


def _text_value(value: Any) -> str:
    """A Python value of :func:`_column_values` as a table cell."""
    if value is None:
        return "null"
    if value is NAN:
        return "NaN"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        # One line per row: control characters as escapes (\n, \t, \x00, ...).
        return _CONTROL.sub(_escape_control, value)
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(value))
    if isinstance(value, (dict, list)):
        return json.dumps(_json_value(value), ensure_ascii=False)
    return str(value)


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------


class Table:
    """Rows of cells to print aligned; numeric columns are right-aligned."""

    def __init__(self, headers: Sequence[str], numeric: Optional[Sequence[bool]] = None) -> None:
        self.headers = list(headers)
        self.numeric = list(numeric) if numeric is not None else [False] * len(self.headers)
        self.rows: List[List[str]] = []

    def add(self, *cells: Any) -> None:
        self.rows.append([_text_value(c) for c in cells])

    def render(self, max_width: int) -> List[str]:
        if not self.headers:
            return ["(no columns)"]

        def cut(text: str) -> str:
            if max_width > 3 and len(text) > max_width:
                return text[: max_width - 3] + "..."
            return text

        rows = [[cut(c) for c in row] for row in self.rows]
        heads = [cut(h) for h in self.headers]
        widths = [len(h) for h in heads]
        for row in rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(cells: Sequence[str]) -> str:
            parts = [
                c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, self.numeric)
            ]
            return "  ".join(parts).rstrip()

        out = [line(heads), "  ".join("-" * w for w in widths)]
        out.extend(line(row) for row in rows)
        return out


class Output:
    """Where a command writes: people's text or one JSON document, on stdout."""

    def __init__(self, as_json: bool, max_width: int) -> None:
        self.as_json = as_json
        self.max_width = max_width

    @staticmethod
    def _stream() -> TextIO:
        return sys.stdout  # looked up at each write: tests capture it

    def line(self, text: str = "") -> None:
        self._stream().write(text + "\n")

    def table(self, table: Table, cut: bool = True) -> None:
        """Prints ``table``; ``cut=False`` keeps every cell whole (keys, problems)."""
        for text in table.render(self.max_width if cut else 0):
            self.line(text)

    def json(self, doc: Any) -> None:
        text = json.dumps(_json_value(doc), ensure_ascii=False, allow_nan=False, indent=2)
        self.line(text)

    def names(self, names: Sequence[str]) -> None:
        """A list of names: one per line, or a JSON list."""
        if self.as_json:
            self.json(list(names))
        else:
            for name in names:
                self.line(name)


def _frame_columns(data: Any) -> Tuple[List[str], List[Any], Dict[str, str], Optional[str]]:
    """(names, numpy arrays, time zones, index) of a numpy read result: a
    :class:`sheaf.Columns`, or the bare ``ndarray`` of a symbol written from one."""
    np = _numpy()
    if isinstance(data, np.ndarray):  # a stored bare numpy array (masked arrays included)
        if data.ndim == 1:
            return ["ndarray"], [data], {}, None
        return (
            [str(i) for i in range(data.shape[1])],
            [data[:, i] for i in range(data.shape[1])],
            {},
            None,
        )
    if isinstance(data, dict):
        names = list(data.keys())
        index = getattr(data, "index", None)
        if index is not None and index in data:
            names.remove(index)
            names.insert(0, index)
        zones: Dict[str, str] = dict(getattr(data, "timezones", {}) or {})
        return names, [data[n] for n in names], zones, index
    raise CliError(
        f"cannot show a {type(data).__name__} as a table (an object stored with write_pickle "
        "or by another program)",
        EXIT_INVALID,
    )


def _records(data: Any, sep: str) -> Tuple[List[str], List[List[Any]], Optional[str]]:
    """(column names, rows of Python values, index column) of a numpy read result."""
    names, arrays, zones, index = _frame_columns(data)
    columns = [_column_values(a, zones.get(n), sep) for n, a in zip(names, arrays)]
    rows = [list(r) for r in zip(*columns)] if columns else []
    return names, rows, index


def _numeric_flags(data: Any, names: Sequence[str]) -> List[bool]:
    np = _numpy()
    _names, arrays, _zones, _index = _frame_columns(data)
    return [np.asarray(a).dtype.kind in "iuf" for a in arrays]


def _show_frame(out: Output, data: Any) -> Tuple[List[str], List[List[Any]], Optional[str]]:
    """Prints a numpy read result as a table (text mode) and returns its records."""
    sep = "T" if out.as_json else " "
    names, rows, index = _records(data, sep)
    if not out.as_json:
        table = Table(names, _numeric_flags(data, names))
        for row in rows:
            table.add(*row)
        out.table(table)
    return names, rows, index


# ------------------------------------------------------------------------------------------------
# Argument values
# ------------------------------------------------------------------------------------------------


def _parse_datetime(text: str) -> _dt.datetime:
    """An ISO 8601 date or date-time (``Z`` allowed; naive = UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        return _dt.datetime.fromisoformat(value)
    except ValueError:
        pass
    try:
        day = _dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or date-time: {text!r}") from None
    return _dt.datetime(day.year, day.month, day.day)


def parse_as_of(text: str) -> Any:
    """``--as-of``: a version number (negative counts back from the latest), an ISO 8601 date
    or date-time (the newest version written at or before it; naive = UTC), else a snapshot
    name."""
    if _INT_TEXT.match(text.strip()):
        return int(text)
    if _DATE_LIKE.match(text.strip()):
        return _parse_datetime(text)
    return text


def parse_columns(text: str) -> List[str]:
    """``--columns a,b``: names separated by commas (``""``: only the index)."""
    return [c.strip() for c in text.split(",") if c.strip()]


def parse_duration(text: str) -> float:
    """``--grace``: seconds, or a number with a unit ``s``, ``m``, ``h``, ``d``."""
    m = re.match(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*$", text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (seconds, or a number with s, m, h or d: 30m, 1d)"
        )
    factor = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return float(m.group(1)) * factor


def _count_arg(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _non_negative(text: str) -> int:
    n = _count_arg(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {n}")
    return n


_PARAM_TYPES = ("str", "int", "float", "bool", "date", "datetime", "null")


def parse_param(text: str) -> Any:
    """``--param``: ``TYPE:VALUE`` with TYPE one of str, int, float, bool, date, datetime, null;
    or a bare value read as null, true / false, an integer, a float, an ISO date or date-time,
    else a string."""
    kind, colon, rest = text.partition(":")
    if colon and kind in _PARAM_TYPES:
        return _typed_param(kind, rest)
    lowered = text.lower()
    if lowered == "null":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT_TEXT.match(text):
        return int(text)
    if _FLOAT_TEXT.match(text):
        return float(text)
    if _DATE_LIKE.match(text):
        if len(text.strip()) == 10:
            try:
                return _dt.date.fromisoformat(text.strip())
            except ValueError:
                pass
        try:
            return _parse_datetime(text)
        except argparse.ArgumentTypeError:
            return text
    return text


def _typed_param(kind: str, value: str) -> Any:
    try:
        if kind == "str":
            return value
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        if kind == "date":
            return _dt.date.fromisoformat(value)
        if kind == "datetime":
            return _parse_datetime(value)
        if value:
            raise ValueError(value)
        return None  # null:
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"not a {kind}: {value!r}") from None


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text!r}") from None


# ------------------------------------------------------------------------------------------------
# The store
# ------------------------------------------------------------------------------------------------


def _local_path(uri: str) -> Optional[str]:
    """The directory of a local LMDB store URI (``None`` for other schemes)."""
    if uri.startswith("lmdb://"):
        return uri[len("lmdb://") :].split("?", 1)[0] or None
    if "://" in uri:
        return None
    return uri.split("?", 1)[0] or None


def open_store(uri: str, create: bool) -> Store:
    """Opens the store; a local store directory that does not exist is refused unless
    ``create`` (LMDB would create an empty store there)."""
    path = _local_path(uri)
    if not create and path is not None and not os.path.isdir(path):
        raise CliError(f"no store at {path} (no such directory)", EXIT_NOT_FOUND)
    return Store(uri, output_format="numpy")


def _library(store: Store, name: str) -> Library:
    return store.get_library(name)


# ------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, Store, Output], int]


def cmd_libraries(args: argparse.Namespace, store: Store, out: Output) -> int:
    out.names(store.list_libraries())
    return EXIT_OK


def cmd_symbols(args: argparse.Namespace, store: Store, out: Output) -> int:
    lib = _library(store, args.library)
    out.names(lib.list_symbols(snapshot_name=args.snapshot, regex=args.regex))
    return EXIT_OK


def cmd_versions(args: argparse.Namespace, store: Store, out: Output) -> int:
    lib = _library(store, args.library)
    versions = lib.list_versions(args.symbol, snapshot=args.snapshot)
    if not versions:
        where = f" in snapshot {args.snapshot!r}" if args.snapshot else ""
        raise errors.NoSuchSymbolError(
            f"no symbol {args.symbol!r} in library {args.library!r}{where}"
        )
    docs: List[Dict[str, Any]] = [
        {
            "version": key.version,
            "date": info.date,
            "rows": info.rows,
            "deleted": info.deleted,
            "snapshots": list(info.snapshots),
            "has_metadata": info.has_metadata,
            "index": info.index_column,
        }
        for key, info in versions.items()
    ]
    if out.as_json:
        out.json(docs)
        return EXIT_OK
    table = Table(
        ["version", "date", "rows", "deleted", "snapshots"], [True, False, True, False, False]
    )
    for d in docs:
        table.add(
            d["version"],
            d["date"].isoformat(sep=" "),
            d["rows"],
            "deleted" if d["deleted"] else "",
            ", ".join(d["snapshots"]),
        )
    out.table(table)
    return EXIT_OK


def cmd_snapshots(args: argparse.Namespace, store: Store, out: Output) -> int:
    lib = _library(store, args.library)
    snaps: Dict[str, Any] = lib.list_snapshots()
    if out.as_json:
        out.json([{"name": name, "metadata": meta} for name, meta in snaps.items()])
        return EXIT_OK
    table = Table(["snapshot", "metadata"])
    for name, meta in snaps.items():
        table.add(name, "" if meta is None else json.dumps(_json_value(meta), ensure_ascii=False))
    out.table(table)
    return EXIT_OK


def _key_text(key: bytes) -> Dict[str, Any]:
    try:
        return {"key": key.decode("utf-8")}
    except UnicodeDecodeError:
        return {"key": key.decode("utf-8", "backslashreplace"), "key_hex": key.hex()}


def cmd_spaces(args: argparse.Namespace, store: Store, out: Output) -> int:
    names = store.list_kv()
    if args.space is None:
        counts = [(name, store.kv(name).count()) for name in names]
        if out.as_json:
            out.json([{"name": n, "keys": c} for n, c in counts])
            return EXIT_OK
        table = Table(["space", "keys"], [False, True])
        for name, count in counts:
            table.add(name, count)
        out.table(table)
        return EXIT_OK
    if args.space not in names:  # store.kv() would create it
        raise errors.NotFoundError(f"no key space {args.space!r}")
    space = store.kv(args.space)
    total = space.count()
    limit = None if args.n == 0 else args.n
    prefix = args.prefix.encode("utf-8")
    entries: List[Dict[str, Any]] = []
    for key in space.keys(prefix):
        if limit is not None and len(entries) >= limit:
            break
        entry = _key_text(key)
        entry["length"] = space.length(key)
        entries.append(entry)
    if out.as_json:
        out.json({"space": args.space, "keys": total, "entries": entries})
        return EXIT_OK
    table = Table(["key", "length"], [False, True])
    for e in entries:
        shown = e["key"] if "key_hex" not in e else repr(bytes.fromhex(e["key_hex"]))
        table.add(shown, e["length"])
    out.table(table)
    out.line(f"({_plural(len(entries), 'key')} shown; {total} in the space)")
    return EXIT_OK


def cmd_collections(args: argparse.Namespace, store: Store, out: Output) -> int:
    if args.collection is None:
        rows = []
        for name in store.list_collections():
            coll = store.open_collection(name)
            rows.append({"name": name, "documents": coll.size(), "next_id": coll.last_id()})
        if out.as_json:
            out.json(rows)
            return EXIT_OK
        table = Table(["collection", "documents", "next_id"], [False, True, True])
        for r in rows:
            table.add(r["name"], r["documents"], r["next_id"])
        out.table(table)
        return EXIT_OK
    coll = store.open_collection(args.collection)
    docs = coll.list_docs(args.start, None if args.n == 0 else args.n)
    if out.as_json:
        out.json(
            {
                "collection": args.collection,
                "documents": coll.size(),
                "docs": [{"id": i, "doc": d} for i, d in docs],
            }
        )
        return EXIT_OK
    table = Table(["id", "document"], [True, False])
    for i, d in docs:
        table.add(i, d)
    out.table(table)
    out.line(f"({_plural(len(docs), 'document')} shown; {coll.size()} in the collection)")
    return EXIT_OK


def _head_or_tail(args: argparse.Namespace, store: Store, out: Output, which: str) -> int:
    lib = _library(store, args.library)
    read = lib.head if which == "head" else lib.tail
    item = read(args.symbol, args.n, as_of=args.as_of, columns=args.columns, output_format="numpy")
    names, rows, index = _show_frame(out, item.data)
    if out.as_json:
        out.json(
            {
                "library": args.library,
                "symbol": args.symbol,
                "version": item.version,
                "total_rows": item.rows,
                "index": index,
                "columns": names,
                "rows": [dict(zip(names, r)) for r in rows],
            }
        )
    else:
        out.line(f"({len(rows)} of {item.rows} rows; version {item.version})")
    return EXIT_OK


def cmd_head(args: argparse.Namespace, store: Store, out: Output) -> int:
    return _head_or_tail(args, store, out, "head")


def cmd_tail(args: argparse.Namespace, store: Store, out: Output) -> int:
    return _head_or_tail(args, store, out, "tail")


def cmd_describe(args: argparse.Namespace, store: Store, out: Output) -> int:
    lib = _library(store, args.library)
    desc = lib.get_description(args.symbol, as_of=args.as_of)
    # The same version again: a snapshot name still names it, a number or time is pinned.
    pinned = args.as_of if isinstance(args.as_of, str) else desc.version
    metadata = lib.read_metadata(args.symbol, as_of=pinned).metadata
    doc: Dict[str, Any] = {
        "library": args.library,
        "symbol": desc.symbol,
        "version": desc.version,
        "rows": desc.row_count,
        "index": None
        if desc.index is None
        else {"name": desc.index.name, "dtype": desc.index.dtype, "nullable": desc.index.nullable},
        "index_type": desc.index_type,
        "date_range": None if desc.date_range is None else list(desc.date_range),
        "index_range": None if desc.index_range is None else list(desc.index_range),
        "sorted": desc.sorted,
        "last_update_time": desc.last_update_time,
        "segments": desc.segments,
        "stored_bytes": desc.stored_bytes,
        "has_metadata": desc.has_metadata,
        "metadata": metadata,
        "columns": [
            {"name": c.name, "dtype": c.dtype, "nullable": c.nullable} for c in desc.columns
        ],
    }
    if out.as_json:
        out.json(doc)
        return EXIT_OK
    if desc.index is None:
        index_text = "none"
    else:
        index_text = f"{desc.index.name} ({desc.index.dtype}, {desc.index_type}, {desc.sorted})"
    fields: List[Tuple[str, str]] = [
        ("library", args.library),
        ("symbol", desc.symbol),
        ("version", str(desc.version)),
        ("written", desc.last_update_time.isoformat(sep=" ")),
        ("rows", str(desc.row_count)),
        ("index", index_text),
    ]
    if desc.date_range is not None:
        first, last = (_iso_text(v, " ") for v in desc.date_range)
        fields.append(("date range", f"{first} .. {last}"))
    elif desc.index_range is not None:
        fields.append(("index range", f"{desc.index_range[0]} .. {desc.index_range[1]}"))
    fields.append(("segments", str(desc.segments)))
    fields.append(("stored bytes", str(desc.stored_bytes)))
    if desc.has_metadata:
        fields.append(("metadata", json.dumps(_json_value(metadata), ensure_ascii=False)))
    width = max(len(k) for k, _ in fields) + 1
    for key, value in fields:
        out.line(f"{(key + ':').ljust(width)} {value}")
    out.line()
    table = Table(["column", "dtype", "nullable"])
    for c in desc.columns:
        table.add(c.name, c.dtype, "yes" if c.nullable else "no")
    out.table(table)
    return EXIT_OK


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def _sizes_doc(sizes: Dict[KeyType, Any]) -> Dict[str, Any]:
    doc: Dict[str, Any] = {
        kind.value: {"bytes": s.bytes_compressed, "count": s.count} for kind, s in sizes.items()
    }
    doc["total_bytes"] = sum(s.bytes_compressed for s in sizes.values())
    return doc


def cmd_sizes(args: argparse.Namespace, store: Store, out: Output) -> int:
    def num(n: int) -> str:
        return _human(n) if args.human else str(n)

    kinds_numeric = [False] + [True] * (len(_SIZE_KINDS) + 1)

    def sizes_table(first: str, docs: Dict[str, Dict[str, Any]]) -> Table:
        """One row per library or symbol: its bytes per kind, then its total."""
        table = Table([first, *_SIZE_KINDS, "total"], kinds_numeric)
        for name, d in docs.items():
            table.add(name, *(num(d[k]["bytes"]) for k in _SIZE_KINDS), num(d["total_bytes"]))
        return table

    if args.library is None:
        libs = {
            name: _sizes_doc(store[name].admin_tools().get_sizes())
            for name in store.list_libraries()
        }
        total = sum(d["total_bytes"] for d in libs.values())
        if out.as_json:
            out.json({"libraries": libs, "total_bytes": total})
            return EXIT_OK
        out.table(sizes_table("library", libs))
        out.line(f"(bytes; {num(total)} in {_plural(len(libs), 'library', 'libraries')})")
        return EXIT_OK
    lib = _library(store, args.library)
    tools = lib.admin_tools()
    if args.symbol is None:
        symbols = {s: _sizes_doc(v) for s, v in tools.get_sizes_by_symbol().items()}
        total_doc = _sizes_doc(tools.get_sizes())
        if out.as_json:
            out.json({"library": args.library, "symbols": symbols, "total": total_doc})
            return EXIT_OK
        out.table(sizes_table("symbol", symbols))
        out.line(f"(bytes; library total {num(total_doc['total_bytes'])}, snapshots included)")
        return EXIT_OK
    sizes = tools.get_sizes_for_symbol(args.symbol)
    if not any(s.count for s in sizes.values()) and not lib.has_symbol(args.symbol):
        raise errors.NoSuchSymbolError(f"no symbol {args.symbol!r} in library {args.library!r}")
    doc = _sizes_doc(sizes)
    if out.as_json:
        out.json({"library": args.library, "symbol": args.symbol, "sizes": doc})
        return EXIT_OK
    table = Table(["kind", "count", "bytes"], [False, True, True])
    for kind in _SIZE_KINDS:
        table.add(kind, doc[kind]["count"], num(doc[kind]["bytes"]))
    out.table(table)
    out.line(f"(total {num(doc['total_bytes'])})")
    return EXIT_OK


def _ns_text(ns: Any) -> str:
    if ns is None:
        return ""
    return _instant_text(int(ns), 0, _dt.timezone.utc, " ")


#: How many leftovers ``verify`` and ``reclaim --dry-run`` list as text (``--json``: all).
LISTED_LEFTOVERS = 20


def _more_leftovers(out: Output, count: int) -> None:
    if count > LISTED_LEFTOVERS:
        out.line(f"(and {count - LISTED_LEFTOVERS} more; --json lists them all)")


def cmd_verify(args: argparse.Namespace, store: Store, out: Output) -> int:
    report = store.verify(**_progress_kwargs(args))
    problems: List[Dict[str, Any]] = list(report.get("problems", []))
    leftovers: List[Dict[str, Any]] = list(report.get("leftovers", []))
    if out.as_json:
        doc = dict(report)
        doc["ok"] = not problems
        out.json(doc)
    else:
        out.line(
            f"checked {_plural(int(report.get('checked', 0)), 'stored value')}: "
            f"{_plural(len(problems), 'problem')}, {_plural(len(leftovers), 'leftover')}"
        )
        if problems:
            out.line()
            table = Table(["key", "problem"])
            for p in problems:
                table.add(p.get("key"), p.get("problem"))
            out.table(table, cut=False)
        if leftovers:
            out.line()
            table = Table(["key", "kind", "written"])
            for x in leftovers[:LISTED_LEFTOVERS]:
                table.add(x.get("key"), x.get("kind"), _ns_text(x.get("written_ns")))
            out.table(table, cut=False)
            _more_leftovers(out, len(leftovers))
            out.line("(reclaim removes leftovers)")
    if problems:
        raise CliError(
            f"verify found {_plural(len(problems), 'damaged or missing stored value')}",
            EXIT_STORAGE,
        )
    return EXIT_OK


def cmd_reclaim(args: argparse.Namespace, store: Store, out: Output) -> int:
    grace: float = args.grace
    if not args.dry_run:
        result = store.reclaim(grace_seconds=grace, **_progress_kwargs(args))
        if out.as_json:
            doc: Dict[str, Any] = dict(result)
            doc["dry_run"] = False
            out.json(doc)
        else:
            out.line(
                f"removed {result.get('removed_keys', 0)} keys; kept "
                f"{result.get('kept_young_segments', 0)} unreferenced segments younger than "
                f"the grace period ({grace:g} s)"
            )
        return EXIT_OK
    report = store.verify(**_progress_kwargs(args))
    cutoff = time.time_ns() - int(grace * 10**9)
    remove: List[Dict[str, Any]] = []
    keep: List[Dict[str, Any]] = []
    for x in report.get("leftovers", []):
        written = x.get("written_ns")
        young = x.get("kind") == "unreferenced_segment" and written is not None and written > cutoff
        (keep if young else remove).append(x)
    if out.as_json:
        out.json(
            {
                "dry_run": True,
                "removed_keys": len(remove),
                "kept_young_segments": len(keep),
                "would_remove": remove,
                "would_keep": keep,
            }
        )
        return EXIT_OK
    out.line(
        f"would remove {len(remove)} keys; would keep {len(keep)} unreferenced segments "
        f"younger than the grace period ({grace:g} s)"
    )
    if remove or keep:
        table = Table(["key", "kind", "written", "action"])
        rows = [(x, "remove") for x in remove] + [(x, "keep") for x in keep]
        for x, action in rows[:LISTED_LEFTOVERS]:
            table.add(x.get("key"), x.get("kind"), _ns_text(x.get("written_ns")), action)
        out.table(table, cut=False)
        _more_leftovers(out, len(rows))
    return EXIT_OK


# -- export / import -----------------------------------------------------------------------------


def file_format(path: str, given: Optional[str]) -> str:
    """The format of ``path``: ``given``, else guessed from its extension."""
    if given:
        return given
    lowered = path.lower()
    for ext, fmt in FORMAT_BY_EXTENSION.items():
        if lowered.endswith(ext):
            return fmt
    raise CliError(
        f"cannot tell the format of {path!r} from its extension "
        f"({', '.join(FORMAT_BY_EXTENSION)}); pass --format {'|'.join(FORMATS)}",
        EXIT_USAGE,
    )


def _arrow_errors(pa: Any) -> Tuple[Any, ...]:
    return (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


class _FileWriter:
    """Writes record batches to a Parquet, CSV or Arrow IPC file as they arrive."""

    def __init__(self, pa: Any, sink: Any, schema: Any, fmt: str) -> None:
        if fmt == "parquet":
            pq = _import_optional(
                "pyarrow.parquet", "parquet files", "a pyarrow build with parquet"
            )
            self._writer: Any = pq.ParquetWriter(sink, schema)
        elif fmt == "csv":
            pacsv = _import_optional("pyarrow.csv", "csv files", "a pyarrow build with csv")
            self._writer = pacsv.CSVWriter(sink, schema)
        else:
            ipc = importlib.import_module("pyarrow.ipc")
            self._writer = ipc.new_file(sink, schema)
        self._fmt = fmt

    def write(self, batch: Any) -> None:
        if self._fmt == "parquet":
            self._writer.write_batch(batch)
        else:
            self._writer.write(batch)

    def close(self) -> None:
        self._writer.close()


def _stream_to_file(pa: Any, reader: Any, sink: Any, fmt: str, progress: Any) -> int:
    """Copies the batches of ``reader`` into ``sink`` one at a time (a symbol larger than
    memory exports); returns the rows written."""
    writer = _FileWriter(pa, sink, reader.schema, fmt)
    rows = 0
    try:
        for batch in reader:
            writer.write(batch)
            rows += batch.num_rows
            if progress is not None:
                progress("export", "rows", rows, 0)
    finally:
        writer.close()
    return rows


def cmd_export(args: argparse.Namespace, store: Store, out: Output) -> int:
    fmt = file_format(args.file, args.format)
    pa = _pyarrow("export")
    lib = _library(store, args.library)
    item = lib.read(
        args.symbol,
        as_of=args.as_of,
        columns=args.columns,
        output_format="reader",
    )
    reader = item.data
    if not isinstance(reader, pa.RecordBatchReader):
        raise CliError(
            f"{args.library}/{args.symbol} version {item.version} is an object, not a table",
            EXIT_INVALID,
        )
    if item.index is not None and item.index in reader.schema.names:
        md = dict(reader.schema.metadata or {})
        md[INDEX_METADATA_KEY] = item.index.encode("utf-8")
        reader = pa.RecordBatchReader.from_batches(reader.schema.with_metadata(md), reader)
    bars = _progress_bars(args, f"{args.library}/{args.symbol}")
    try:
        if args.file == "-":
            buffer = pa.BufferOutputStream()
            rows = _stream_to_file(pa, reader, buffer, fmt, bars)
            sys.stdout.flush()
            sys.stdout.buffer.write(buffer.getvalue().to_pybytes())
            sys.stdout.buffer.flush()
        else:
            target = os.path.abspath(args.file)
            temp = os.path.join(
                os.path.dirname(target), f".{os.path.basename(target)}.{os.getpid()}.tmp"
            )
            try:
                rows = _stream_to_file(pa, reader, temp, fmt, bars)
                os.replace(temp, target)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
    except _arrow_errors(pa) as exc:
        raise CliError(f"cannot write {fmt}: {exc}", EXIT_INVALID) from exc
    finally:
        if bars is not None:
            bars.close()
    doc = {
        "library": args.library,
        "symbol": args.symbol,
        "version": item.version,
        "rows": rows,
        "file": args.file,
        "format": fmt,
    }
    if args.file == "-":
        return EXIT_OK  # stdout holds the file
    if out.as_json:
        out.json(doc)
    else:
        out.line(
            f"wrote {_plural(rows, 'row')} of {args.library}/{args.symbol} version "
            f"{item.version} to {args.file} ({fmt})"
        )
    return EXIT_OK


def _open_source(pa: Any, path: str, fmt: str) -> Tuple[Any, Iterator[Any]]:
    """(schema, batches) of an input file (``-``: stdin, read whole)."""
    source: Any = path
    if path == "-":
        source = pa.BufferReader(sys.stdin.buffer.read())
    elif not os.path.exists(path):
        raise CliError(f"no such file: {path}", EXIT_NOT_FOUND)
    if fmt == "parquet":
        pq = _import_optional("pyarrow.parquet", "parquet files", "a pyarrow build with parquet")
        pf = pq.ParquetFile(source)
        return pf.schema_arrow, iter(pf.iter_batches())
    if fmt == "csv":
        pacsv = _import_optional("pyarrow.csv", "csv files", "a pyarrow build with csv")
        reader = pacsv.open_csv(source)
        return reader.schema, iter(reader)
    ipc = importlib.import_module("pyarrow.ipc")
    try:
        f = ipc.open_file(source)
    except pa.ArrowInvalid:  # not the file format: the stream format
        if path == "-":
            source.seek(0)
        stream = ipc.open_stream(source)
        return stream.schema, iter(stream)
    return f.schema, (f.get_batch(i) for i in range(f.num_record_batches))


def _index_of(pa: Any, schema: Any) -> Optional[str]:
    """The index column a file names: Sheaf's own key (``export`` writes it), else the first
    pandas index column when it is a timestamp or date column."""
    md = schema.metadata or {}
    raw = md.get(INDEX_METADATA_KEY)
    if raw is not None:
        name = raw.decode("utf-8")
        return name if name in schema.names else None
    pandas_md = md.get(b"pandas")
    if pandas_md is None:
        return None
    try:
        cols = json.loads(pandas_md).get("index_columns") or []
    except (ValueError, AttributeError):
        return None
    if cols and isinstance(cols[0], str) and cols[0] in schema.names:
        kind = schema.field(cols[0]).type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return str(cols[0])
    return None


def check_import(args: argparse.Namespace) -> None:
    """What ``import`` checks before the store is opened (and perhaps created): the format,
    pyarrow, and that the input file exists."""
    file_format(args.file, args.format)
    _pyarrow("import")
    if args.file != "-" and not os.path.exists(args.file):
        raise CliError(f"no such file: {args.file}", EXIT_NOT_FOUND)


def cmd_import(args: argparse.Namespace, store: Store, out: Output) -> int:
    fmt = file_format(args.file, args.format)
    pa = _pyarrow("import")
    try:
        schema, batches = _open_source(pa, args.file, fmt)
    except _arrow_errors(pa) as exc:
        raise CliError(f"cannot read {args.file} as {fmt}: {exc}", EXIT_INVALID) from exc
    lib = store.get_library(args.library, create_if_missing=True)
    md = {k: v for k, v in (schema.metadata or {}).items() if k != INDEX_METADATA_KEY}
    detected = None if args.no_index else (args.index or _index_of(pa, schema))
    schema = schema.with_metadata(md) if md else schema.remove_metadata()
    exists = args.append and lib.has_symbol(args.symbol)
    target = schema
    if exists:
        stored = lib.head(args.symbol, 0, output_format="pyarrow").data.schema
        if set(stored.names) == set(schema.names) and len(stored.names) == len(schema.names):
            # The stored order and types (a CSV file infers its own; appends must match).
            target = pa.schema(list(stored), metadata=md or None)
    counted = [0]

    def reshaped() -> Iterator[Any]:
        for batch in batches:
            table = pa.Table.from_batches([batch]).replace_schema_metadata(md or None)
            if target is not schema:
                table = table.select(target.names).cast(target)
            counted[0] += table.num_rows
            yield from table.to_batches()

    reader = pa.RecordBatchReader.from_batches(target, reshaped())
    kwargs: Dict[str, Any] = dict(_progress_kwargs(args))
    kwargs["validate_index"] = args.validate_index
    if args.no_index:
        kwargs["index"] = None
    elif args.index or (detected and not exists):
        kwargs["index"] = detected
    try:
        if args.append:
            item = lib.append(args.symbol, reader, metadata=args.metadata, **kwargs)
        else:
            item = lib.write(args.symbol, reader, metadata=args.metadata, **kwargs)
    except _arrow_errors(pa) as exc:
        raise CliError(f"cannot read {args.file} as {fmt}: {exc}", EXIT_INVALID) from exc
    doc = {
        "library": args.library,
        "symbol": args.symbol,
        "version": item.version,
        "rows_imported": counted[0],
        "rows": item.rows,
        "index": item.index,
        "appended": bool(args.append),
    }
    if out.as_json:
        out.json(doc)
    else:
        verb = "appended" if args.append else "wrote"
        out.line(
            f"{verb} {_plural(counted[0], 'row')} from {args.file} ({fmt}): "
            f"{args.library}/{args.symbol} version {item.version}, {_plural(item.rows or 0, 'row')}"
        )
    return EXIT_OK


def cmd_sql(args: argparse.Namespace, store: Store, out: Output) -> int:
    params = args.param
    if args.library is not None:
        data = _library(store, args.library).sql(args.query, params, output_format="numpy")
    else:
        data = store.sql(args.query, params, output_format="numpy")
    names, rows, _index = _show_frame(out, data)
    if out.as_json:
        out.json({"columns": names, "rows": [dict(zip(names, r)) for r in rows]})
    else:
        out.line(f"({_plural(len(rows), 'row')})")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# The parser
# ------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with ``sheaf: error:`` as the prefix of usage errors whatever the program
    name (``python -m sheaf`` included)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"sheaf: error: {message}\n")


def _add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="report progress on stderr (default: when stderr is a terminal)",
    )
    p.add_argument(
        "--no-progress", dest="progress", action="store_false", help="do not report progress"
    )


def _add_version_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("library", metavar="LIB", help="the library")
    p.add_argument("symbol", metavar="SYMBOL", help="the symbol")


def _add_as_of(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as-of",
        type=parse_as_of,
        default=None,
        metavar="V",
        help="a version number (negative: counting back from the latest), an ISO 8601 date "
        "or date-time (the newest version written by then; naive = UTC), or a snapshot name "
        "(default: the latest version)",
    )


def _add_output_options(p: argparse.ArgumentParser, default: Any) -> None:
    """``--json`` and ``--max-width``, on the main parser (with their defaults) and on each
    command (``default=SUPPRESS``: given after the command, they override; not given, the main
    parser's value stays)."""
    p.add_argument(
        "--json",
        action="store_true",
        default=False if default is None else default,
        help="print one JSON document on stdout",
    )
    p.add_argument(
        "--max-width",
        type=_non_negative,
        default=60 if default is None else default,
        metavar="N",
        help="cut table cells to N characters (0: never; default 60)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sheaf``."""
    parser = _Parser(
        prog="sheaf",
        description="Look into a Sheaf store, move tables in and out, run SQL.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_output_options(parser, None)
    parser.add_argument("--version", action="version", version=f"sheaf {_package_version()}")
    parser.add_argument(
        "uri",
        metavar="STORE_URI",
        help="the store: lmdb:///path, a plain path, s3://bucket/prefix?... (as sheaf.open)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def command(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_output_options(p, argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    command("libraries", cmd_libraries, "list the libraries")

    p = command("symbols", cmd_symbols, "list the symbols of a library")
    p.add_argument("library", metavar="LIB")
    p.add_argument("--snapshot", metavar="S", help="the symbols snapshot S holds")
    p.add_argument("--regex", metavar="R", help="only the names R matches (Rust regex syntax)")

    p = command("versions", cmd_versions, "list the versions of a symbol, newest first")
    _add_version_args(p)
    p.add_argument("--snapshot", metavar="S", help="only the versions snapshot S holds")

    p = command("snapshots", cmd_snapshots, "list the snapshots of a library")
    p.add_argument("library", metavar="LIB")

    p = command("spaces", cmd_spaces, "list the key spaces, or the keys of one")
    p.add_argument("space", metavar="SPACE", nargs="?", help="list the keys of this space")
    p.add_argument("--prefix", default="", help="only keys starting with this (UTF-8) prefix")
    p.add_argument(
        "-n", type=_non_negative, default=100, help="list at most N keys (0: all; default 100)"
    )

    p = command("collections", cmd_collections, "list the collections, or the documents of one")
    p.add_argument("collection", metavar="NAME", nargs="?", help="list this collection's documents")
    p.add_argument("--start", type=_non_negative, default=0, metavar="ID", help="first id")
    p.add_argument(
        "-n", type=_non_negative, default=100, help="list at most N documents (0: all; default 100)"
    )

    for name, func, what, other_end in (
        ("head", cmd_head, "the first rows", "last"),
        ("tail", cmd_tail, "the last rows", "first"),
    ):
        p = command(name, func, f"print {what} of a symbol as a table")
        _add_version_args(p)
        p.add_argument(
            "-n",
            type=_count_arg,
            default=5,
            help=f"how many rows (default 5; negative: all but the {other_end} -N)",
        )
        _add_as_of(p)
        p.add_argument(
            "--columns",
            type=parse_columns,
            default=None,
            metavar="a,b",
            help="only these columns, in this order (the index comes along)",
        )

    p = command("describe", cmd_describe, "describe a version: columns, index, rows, metadata")
    _add_version_args(p)
    _add_as_of(p)

    p = command("sizes", cmd_sizes, "storage taken per library, per symbol, or per kind")
    p.add_argument("library", metavar="LIB", nargs="?", help="per symbol of this library")
    p.add_argument("symbol", metavar="SYMBOL", nargs="?", help="per kind of value of this symbol")
    p.add_argument("-H", "--human", action="store_true", help="sizes as KiB, MiB, ...")

    p = command("verify", cmd_verify, "check every checksum and reference; list leftovers")
    _add_progress(p)

    p = command("reclaim", cmd_reclaim, "remove the leftovers verify lists")
    p.add_argument(
        "--grace",
        type=parse_duration,
        default=86400.0,
        metavar="DURATION",
        help="keep unreferenced segments younger than this (seconds, or 30m, 12h, 1d; "
        "default 1d): a write still running may refer to them when it commits",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="only show what would be removed (runs verify, which reads all data)",
    )
    _add_progress(p)

    p = command("export", cmd_export, "write a version of a symbol to a Parquet, CSV or Arrow file")
    _add_version_args(p)
    p.add_argument("file", metavar="FILE", help="the file to write (-: stdout, needs --format)")
    _add_as_of(p)
    p.add_argument("--format", choices=FORMATS, help="default: from the extension of FILE")
    p.add_argument(
        "--columns", type=parse_columns, default=None, metavar="a,b", help="only these columns"
    )
    _add_progress(p)

    p = command("import", cmd_import, "write a Parquet, CSV or Arrow file as a new version")
    _add_version_args(p)
    p.add_argument("file", metavar="FILE", help="the file to read (-: stdin, needs --format)")
    p.add_argument("--format", choices=FORMATS, help="default: from the extension of FILE")
    p.add_argument("--append", action="store_true", help="append the rows to the latest version")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--index",
        metavar="COL",
        help="the index column (timestamp, date or integer); default: the one the file names "
        "(written by export, or a pandas timestamp index)",
    )
    group.add_argument("--no-index", action="store_true", help="write without an index column")
    p.add_argument(
        "--metadata", type=_json_arg, default=None, metavar="JSON", help="the version's metadata"
    )
    p.add_argument(
        "--no-validate-index",
        dest="validate_index",
        action="store_false",
        help="accept an index that is not sorted ascending (or, with --append, that starts "
        "before the stored rows end)",
    )
    _add_progress(p)

    p = command(
        "sql", cmd_sql, "run one SQL statement (tables: library.symbol, or symbol with --library)"
    )
    p.add_argument("query", metavar="QUERY", help="the statement")
    p.add_argument(
        "--library", metavar="LIB", help="run in this library (tables by bare symbol name)"
    )
    p.add_argument(
        "-p",
        "--param",
        type=parse_param,
        action="append",
        default=None,
        metavar="VALUE",
        help="a value for $1, $2, ... (repeat; TYPE:VALUE with TYPE str, int, float, bool, "
        "date, datetime or null forces a type, else it is guessed)",
    )
    return parser


def _package_version() -> str:
    from . import _lib

    return str(_lib.LIBRARY_VERSION)


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------


def _error(message: str) -> None:
    sys.stderr.write(f"sheaf: error: {message}\n")
    sys.stderr.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line on ``argv`` (default ``sys.argv[1:]``) and returns the exit code
    (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "progress", False) is None:
        args.progress = sys.stderr.isatty()
    out = Output(bool(args.json), int(args.max_width))
    store: Optional[Store] = None
    try:
        if args.command == "import":
            check_import(args)
        store = open_store(args.uri, create=args.command == "import")
        code: int = args.func(args, store, out)
        sys.stdout.flush()
        return code
    except errors.SheafError as exc:
        _error(f"{exc.message} ({exc.status_name})")
        return exit_code_for(exc)
    except CliError as exc:
        _error(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`sheaf ... | head`): stop quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 128 + 13  # as a process killed by SIGPIPE
    except FileNotFoundError as exc:
        _error(str(exc))
        return EXIT_NOT_FOUND
    except OSError as exc:
        _error(str(exc))
        return EXIT_STORAGE
    finally:
        if store is not None:
            store.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
