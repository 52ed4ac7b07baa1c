"""Progress of long calls: the library's per-thread progress callback
(``sheaf_progress_set_callback``), shown as ``tqdm`` bars or handed to a function of the
caller's.

The library reports ``(stage, unit, done, total)`` from the thread that made the call while the
call runs (``total`` 0 = not known in advance, as for the rows of a stream). A call taking
``progress=`` installs the callback for its own thread around the library call and removes it
after, so calls on other threads are not mixed in.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union

from ._config import logger
from ._lib import call, ffi, lib

__all__ = ["ProgressArg", "bars", "check", "reporting"]

#: What a ``progress=`` argument takes: ``False``/``None`` (nothing), ``True`` (a ``tqdm`` bar
#: per stage when tqdm is installed, nothing otherwise) or a function called as
#: ``fn(stage, unit, done, total)``.
ProgressArg = Union[None, bool, Callable[[str, str, int, int], Any]]

_local = threading.local()


class _Bars:
    """One tqdm bar per (stage, unit) seen, closed at the end of the call."""

    def __init__(self, tqdm: Any, description: str, hint: Optional[int]) -> None:
        self._tqdm = tqdm
        self._description = description
        self._hint = hint
        self._bars: Dict[Tuple[str, str], Any] = {}

    def __call__(self, stage: str, unit: str, done: int, total: int) -> None:
        key = (stage, unit)
        bar = self._bars.get(key)
        if bar is None:
            known = total or (self._hint if unit == "rows" else None)
            bar = self._tqdm(
                total=known,
                desc=f"{self._description} {stage}".strip(),
                unit=f" {unit}",
                unit_scale=True,
                leave=False,
            )
            self._bars[key] = bar
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def bars(description: str, rows: Optional[int] = None) -> Optional[_Bars]:
    """tqdm bars called as ``bars(stage, unit, done, total)`` for progress counted outside the
    library (``close()`` them at the end); ``None`` when tqdm is not installed."""
    sink = _sink(True, description, rows)
    return sink if isinstance(sink, _Bars) else None


def check(progress: ProgressArg) -> None:
    """Refuses a ``progress`` argument that is neither a bool nor a function (before a call
    exports any data)."""
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise TypeError(
            f"progress must be a bool or a function (stage, unit, done, total), not {progress!r}"
        )


def _sink(progress: ProgressArg, description: str, hint: Optional[int]) -> Any:
    check(progress)
    if progress is None or progress is False:
        return None
    if progress is True:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            return None
        return _Bars(tqdm, description, hint)
    return progress


def _on_progress(stage: Any, unit: Any, done: int, total: int, _user: Any) -> None:
    sink = getattr(_local, "sink", None)
    if sink is None:
        return
    try:
        sink(ffi.string(stage).decode(), ffi.string(unit).decode(), int(done), int(total))
    except Exception:  # an exception cannot cross back into the library
        # Reported once, then the call goes on without progress.
        logger.exception("the progress function raised; no more progress for this call")
        _local.sink = None


# Kept for the life of the process: installed for a thread only while one of its calls runs.
_CALLBACK = ffi.callback("SheafProgressCallback", _on_progress)


@contextlib.contextmanager
def reporting(
    progress: ProgressArg, description: str = "", rows: Optional[int] = None
) -> Iterator[None]:
    """Reports the progress of the library calls made in the block, as ``progress`` asks;
    ``rows`` is the number of rows a write will take in, when the caller knows it (the library
    streams and does not)."""
    sink = _sink(progress, description, rows)
    if sink is None:
        yield
        return
    previous = getattr(_local, "sink", None)
    _local.sink = sink
    if previous is None:
        call(lib.sheaf_progress_set_callback, _CALLBACK, ffi.NULL)
    try:
        yield
    finally:
        _local.sink = previous
        if previous is None:
            lib.sheaf_progress_set_callback(ffi.NULL, ffi.NULL, ffi.NULL)
        if isinstance(sink, _Bars):
            sink.close()
