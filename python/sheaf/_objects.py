"""Opaque objects (``write_pickle``): how a Python object becomes a version of one binary
column and back.

The library stores such a version as any other (segments, checksums, snapshots) with its
format named in the version's ``content`` ("python-pickle" here; C writers name their own).
Unpickling runs code chosen by whoever wrote the bytes, so a read never unpickles unless the
caller passes ``allow_pickle=True``; objects of other formats read back as ``bytes``.
"""

from __future__ import annotations

import pickle
from typing import Any, Dict

from . import _arrow_c
from .errors import SchemaError

#: The ``content`` of versions written by ``write_pickle``.
PICKLE_FORMAT = "python-pickle"
#: The column an object's bytes are stored in.
OBJECT_COLUMN = "object"
#: How the bytes are cut into values (a segment holds a few of them).
CHUNK_BYTES = 16 << 20


def pickled_columns(obj: Any) -> Dict[str, Any]:
    """``obj`` pickled, as the one-column table ``write`` takes (with ``content``)."""
    import numpy as np

    raw = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(raw)
    starts = range(0, len(raw), CHUNK_BYTES)
    column = np.empty(max(1, len(starts)), dtype=object)
    column[0] = b""
    for i, start in enumerate(starts):
        column[i] = bytes(view[start : start + CHUNK_BYTES])
    return {OBJECT_COLUMN: column}


def object_from_stream(
    stream: Any, symbol: str, version: int, content: str, allow_pickle: bool, ranged: bool
) -> Any:
    """Consumes ``stream`` (always released), a read of a version holding an object of format
    ``content``: the unpickled object (``allow_pickle`` only), or the bytes of any other
    format."""
    try:
        if ranged:
            raise SchemaError(
                f"'{symbol}' v{version} holds an object ({content}), which is read whole: "
                "no row or date range, columns or query"
            )
        if content == PICKLE_FORMAT and not allow_pickle:
            raise SchemaError(
                f"'{symbol}' v{version} holds a pickled Python object; unpickling runs code "
                "chosen by its writer, so read it with allow_pickle=True (only from a store "
                "you trust)"
            )
        columns = _arrow_c.import_columns(stream)
    finally:
        _arrow_c.release_stream(stream)
    if len(columns) != 1:
        raise SchemaError(f"'{symbol}' v{version} is marked as an object but is not one column")
    values = next(iter(columns.values()))
    raw = b"".join(bytes(v) for v in values)
    if content == PICKLE_FORMAT:
        return pickle.loads(raw)  # the caller opted in with allow_pickle
    return raw
