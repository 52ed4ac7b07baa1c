"""SQL calls (``Library.sql`` / ``Store.sql``): parameters as the JSON list the C ABI binds to
``$1, $2, …``, the result stream into an output format, and Ctrl-C turned into a cancellation.

The statement runs and its stream is consumed on a worker thread while the calling thread
waits in short, interruptible steps: a ``KeyboardInterrupt`` there sets the query's
cancellation flag (``sheaf_cancel_trigger``), waits for the worker to stop, and is re-raised.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import _arrow_c, _convert
from ._lib import NULL, call, ffi, lib
from .errors import InvalidArgumentError

__all__ = ["params_json", "run_sql"]


def _param(i: int, value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(
                f"SQL parameter ${i}: {value!r} cannot be bound (JSON has no NaN or infinity)"
            )
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        delta = value - _dt.datetime(1970, 1, 1)
        ns = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        return {"timestamp_ns": ns}
    if isinstance(value, _dt.date):
        return value.isoformat()
    # numpy / pandas scalars: numbers and timestamps through their Python equivalents.
    for convert in ("to_pydatetime", "item"):
        method = getattr(value, convert, None)
        if callable(method):
            return _param(i, method())
    raise InvalidArgumentError(
        f"SQL parameter ${i} has type {type(value).__name__}: parameters are None, bool, int, "
        "float, str, datetime.date or datetime.datetime (naive = UTC)"
    )


def params_json(params: Optional[Sequence[Any]]) -> bytes:
    """The parameters as the JSON list ``sheaf_sql`` binds (empty bytes: none)."""
    if params is None:
        return b""
    if isinstance(params, (str, bytes, dict)):
        raise InvalidArgumentError(
            "params is a list of values bound to $1, $2, … (not a string or a mapping)"
        )
    values: List[Any] = [_param(i + 1, v) for i, v in enumerate(params)]
    return json.dumps(values).encode()


def run_sql(
    start: Callable[[Any, Any], None],
    output_format: str,
) -> Any:
    """Runs ``start(cancel, stream)`` (a ``sheaf_*sql_cancellable`` call filling ``stream``)
    and converts the stream to ``output_format``, on a worker thread; Ctrl-C cancels."""
    cancel_out = ffi.new("SheafCancel **")
    call(lib.sheaf_cancel_new, cancel_out)
    cancel = cancel_out[0]
    outcome: Dict[str, Any] = {}

    def work() -> None:
        stream = ffi.new("struct ArrowArrayStream *")
        try:
            start(cancel, stream)
            outcome["data"] = _convert.import_output(stream, output_format, None)
        except BaseException as exc:  # handed to the caller's thread
            _arrow_c.release_stream(stream)
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="sheaf-sql", daemon=True)
    try:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.05)
        except KeyboardInterrupt:
            call(lib.sheaf_cancel_trigger, cancel)
            worker.join()
            raise
    finally:
        lib.sheaf_cancel_free(cancel)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["data"]


def sql_call(fn: Any, handle: Any, query: str, params: Optional[Sequence[Any]], fmt: str) -> Any:
    """``fn`` (``sheaf_sql_cancellable`` or ``sheaf_store_sql_cancellable``) on ``handle``."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, not {type(query).__name__}")
    text = query.encode()
    args = params_json(params)

    def start(cancel: Any, stream: Any) -> None:
        call(fn, handle, text, len(text), args or NULL, len(args), cancel, stream)

    return run_sql(start, fmt)
