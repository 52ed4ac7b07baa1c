"""User metadata as portable JSON: the encoding and decoding, a leaf with no library calls.

Metadata must be readable by a C program too, so it is JSON with tagged dates, never pickle.

Metadata is JSON-compatible values (``dict`` with ``str`` keys, ``list``/``tuple``, ``str``,
``int``, finite ``float``, ``bool``, ``None``; numpy scalars are taken as their Python value) plus
``datetime.datetime`` and ``datetime.date``, stored as UTF-8 JSON that any language can read.
Dates and datetimes use a tagged object::

    {"$datetime": "2024-01-01T00:00:00+00:00"}   # isoformat(); naive datetimes have no offset
    {"$date": "2024-01-01"}

A datetime with nanoseconds (a ``pandas.Timestamp``, or a ``numpy.datetime64`` of unit ``ns``)
keeps them: its ``$datetime`` string has nine fractional digits, and it reads back as a
``pandas.Timestamp`` equal to the one written (``datetime.datetime`` stops at microseconds).
Where pandas is not installed, such a value reads back as the tagged ``dict`` itself (nothing is
rounded away); a nine-digit string whose last three digits are zero reads back as a
``datetime.datetime``.

A user ``dict`` whose only key is one of ``$datetime``, ``$date`` or ``$escape`` is stored as
``{"$escape": {...}}`` so that it reads back unchanged. Tuples read back as lists.

Refused at write, nothing stored:

- a value of any other type (e.g. ``bytes``, ``set``, ``decimal.Decimal``, ``numpy.timedelta64``),
  NaN and infinities, ``NaT``: :class:`TypeError` (Sheaf never pickles);
- dicts and lists nested more than :data:`MAX_DEPTH` (100) deep, and structures that contain
  themselves: :class:`ValueError` saying so (instead of a ``RecursionError``). The limit keeps
  metadata within what common JSON parsers accept (serde_json's default stops at 128).

Metadata that is not Sheaf's JSON — bytes written through the C ABI, which stores metadata as
opaque bytes: not UTF-8, not JSON, or nested more than :data:`MAX_DEPTH` deep — reads back as the
raw :class:`bytes`, so the data of the version stays readable. Other JSON is returned as parsed
(a ``$datetime`` or ``$date`` tag whose string does not parse stays the tagged ``dict``).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from typing import Any, Dict, List, Set

__all__ = ["MAX_DEPTH", "encode", "decode"]

_TAGS = ("$datetime", "$date", "$escape")

#: How deep dicts and lists may nest in metadata (the top-level value is level 1).
MAX_DEPTH = 100

# An ISO datetime with more than six fractional digits (Python's fromisoformat takes at most
# six, and only exactly three or six before 3.11): the parts before, of and after the fraction.
_LONG_FRACTION = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{7,9})(Z|[+-]\d\d:\d\d)?$")


class _TooDeep(Exception):
    pass


def _container(value: Any, path: str, depth: int, ancestors: Set[int]) -> None:
    """Checks that a dict or list may be entered at ``depth`` (1 = the top-level value)."""
    if depth > MAX_DEPTH:
        where = path if len(path) <= 60 else f"{path[:30]}...{path[-20:]}"
        raise ValueError(
            f"metadata{where}: dicts and lists nest more than {MAX_DEPTH} levels deep "
            f"(the limit of Sheaf metadata)"
        )
    if id(value) in ancestors:
        raise ValueError(
            f"metadata{path}: the {type(value).__name__} contains itself (a cycle); "
            "metadata must be a tree"
        )


def _datetime(value: _dt.datetime, path: str) -> Dict[str, str]:
    text = value.isoformat()
    if text == "NaT":  # pandas.NaT is a datetime subclass
        raise TypeError(f"metadata{path}: NaT is not a point in time and cannot be stored")
    return {"$datetime": text}


def _numpy_scalar(value: Any, path: str) -> Any:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind == "M":  # numpy.datetime64: item() gives an int for ns and finer units
        import numpy as np

        if np.isnat(value):
            raise TypeError(f"metadata{path}: NaT is not a point in time and cannot be stored")
        unit = np.datetime_data(value.dtype)[0]
        if unit == "ns":
            return {"$datetime": str(np.datetime_as_string(value, unit="ns"))}
        if unit in ("ps", "fs", "as"):
            raise TypeError(
                f"metadata{path}: numpy.datetime64 of unit {unit!r} is finer than metadata "
                "holds (nanoseconds); convert it to datetime64[ns] first"
            )
    elif kind == "m":
        raise TypeError(
            f"metadata{path}: cannot store a numpy.timedelta64; metadata holds no durations "
            "(store a number of a stated unit instead)"
        )
    return None


def _walk(value: Any, path: str, depth: int, ancestors: Set[int]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(
                f"metadata{path}: {value!r} is not valid JSON (NaN and infinities are refused)"
            )
        return float(value)
    if isinstance(value, _dt.datetime):
        return _datetime(value, path)
    if isinstance(value, _dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        _container(value, path, depth + 1, ancestors)
        ancestors.add(id(value))
        out: Dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"metadata{path}: dict keys must be str, not {type(k).__name__} ({k!r})"
                )
            out[k] = _walk(v, f"{path}[{k!r}]", depth + 1, ancestors)
        ancestors.discard(id(value))
        if len(out) == 1 and next(iter(out)) in _TAGS:
            return {"$escape": out}
        return out
    if isinstance(value, (list, tuple)):
        _container(value, path, depth + 1, ancestors)
        ancestors.add(id(value))
        items = [_walk(v, f"{path}[{i}]", depth + 1, ancestors) for i, v in enumerate(value)]
        ancestors.discard(id(value))
        return items
    if (
        type(value).__module__ == "numpy"
        and hasattr(value, "item")
        and getattr(value, "ndim", 0) == 0
    ):
        special = _numpy_scalar(value, path)
        if special is not None:
            return special
        return _walk(value.item(), path, depth, ancestors)
    raise TypeError(
        f"metadata{path}: cannot store a value of type {type(value).__name__}; metadata must "
        "be JSON-compatible (dict with str keys, list, str, int, float, bool, None) or "
        "datetime/date (Sheaf does not pickle)"
    )


def encode(value: Any) -> bytes:
    """The JSON bytes for ``value``; raises :class:`TypeError` for what JSON cannot hold and
    :class:`ValueError` for structures nested deeper than :data:`MAX_DEPTH` or cyclic."""
    tree = _walk(value, "", 0, set())
    return json.dumps(tree, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _parse_datetime(text: str) -> Any:
    """A ``$datetime`` string as a datetime (a pandas.Timestamp when it has nanoseconds);
    ``None`` when it cannot be read without losing something."""
    m = _LONG_FRACTION.match(text)
    if m is None:
        return _dt.datetime.fromisoformat(text)  # ValueError for what is not ISO
    head, digits, zone = m.group(1), m.group(2).ljust(9, "0"), m.group(3) or ""
    if zone == "Z":
        zone = "+00:00"
    if digits[6:] == "000":
        return _dt.datetime.fromisoformat(f"{head}.{digits[:6]}{zone}")
    try:
        import pandas as pd
    except ImportError:
        return None
    return pd.Timestamp(f"{head}.{digits}{zone}")


def _restore(value: Any, depth: int) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, val),) = value.items()
            if key == "$datetime" and isinstance(val, str):
                try:
                    parsed = _parse_datetime(val)
                except ValueError:
                    parsed = None
                return value if parsed is None else parsed
            if key == "$date" and isinstance(val, str):
                try:
                    return _dt.date.fromisoformat(val)
                except ValueError:
                    return value
            if key == "$escape" and isinstance(val, dict):
                value = val  # the user's dict: its items are restored below
        if depth + 1 > MAX_DEPTH:
            raise _TooDeep
        return {k: _restore(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        if depth + 1 > MAX_DEPTH:
            raise _TooDeep
        items: List[Any] = [_restore(v, depth + 1) for v in value]
        return items
    return value


def decode(data: bytes) -> Any:
    """The value stored by :func:`encode`; other JSON is returned as parsed, and anything that is
    not Sheaf metadata (not UTF-8, not JSON, too deep) as the raw ``bytes``."""
    raw = bytes(data)
    try:
        return _restore(json.loads(raw.decode("utf-8")), 0)
    except (UnicodeDecodeError, ValueError, RecursionError, _TooDeep):
        return raw
