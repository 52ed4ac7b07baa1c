"""User metadata as portable JSON.

Metadata is JSON-compatible values (``dict`` with ``str`` keys, ``list``/``tuple``, ``str``,
``int``, finite ``float``, ``bool``, ``None``; numpy scalars are taken as their Python value) plus
``datetime.datetime`` and ``datetime.date``, stored as UTF-8 JSON that any language can read.
Dates and datetimes use a tagged object::

    {"$datetime": "2024-01-01T00:00:00+00:00"}   # isoformat(); naive datetimes have no offset
    {"$date": "2024-01-01"}

A user ``dict`` whose only key is one of ``$datetime``, ``$date`` or ``$escape`` is stored as
``{"$escape": {...}}`` so that it reads back unchanged. Tuples read back as lists. Anything else
raises :class:`TypeError` (Sheaf never pickles).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any, Dict, List

__all__ = ["encode", "decode"]

_TAGS = ("$datetime", "$date", "$escape")


def _walk(value: Any, path: str) -> Any:
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
        return {"$datetime": value.isoformat()}
    if isinstance(value, _dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        out: Dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"metadata{path}: dict keys must be str, not {type(k).__name__} ({k!r})"
                )
            out[k] = _walk(v, f"{path}[{k!r}]")
        if len(out) == 1 and next(iter(out)) in _TAGS:
            return {"$escape": out}
        return out
    if isinstance(value, (list, tuple)):
        return [_walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if (
        type(value).__module__ == "numpy"
        and hasattr(value, "item")
        and getattr(value, "ndim", 0) == 0
    ):
        return _walk(value.item(), path)
    raise TypeError(
        f"metadata{path}: cannot store a value of type {type(value).__name__}; metadata must "
        "be JSON-compatible (dict with str keys, list, str, int, float, bool, None) or "
        "datetime/date (Sheaf does not pickle)"
    )


def encode(value: Any) -> bytes:
    """The JSON bytes for ``value``; raises :class:`TypeError` for what JSON cannot hold."""
    return json.dumps(_walk(value, ""), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, val),) = value.items()
            if key == "$datetime" and isinstance(val, str):
                return _dt.datetime.fromisoformat(val)
            if key == "$date" and isinstance(val, str):
                return _dt.date.fromisoformat(val)
            if key == "$escape" and isinstance(val, dict):
                return {k: _restore(v) for k, v in val.items()}
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        items: List[Any] = [_restore(v) for v in value]
        return items
    return value


def decode(data: bytes) -> Any:
    """The value stored by :func:`encode` (other JSON is returned as parsed)."""
    return _restore(json.loads(data.decode("utf-8")))
