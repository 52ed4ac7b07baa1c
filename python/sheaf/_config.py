"""Process-wide configuration and the bridge from the library's log to :mod:`logging`.

Configuration and the log callback belong to the loaded library, not to any store, so they
have a module of their own that only needs :mod:`sheaf._lib`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
from typing import Any, Dict, Union

from ._lib import call, ffi, lib

__all__ = ["set_config_int", "set_config_string", "set_log_level", "logger", "TRACE"]

#: Python logging level used for the library's ``SHEAF_LOG_TRACE`` records.
TRACE = 5
logging.addLevelName(TRACE, "TRACE")

#: The logger that receives the library's records.
logger = logging.getLogger("sheaf")

_LEVELS: Dict[int, int] = {
    int(lib.SHEAF_LOG_ERROR): logging.ERROR,
    int(lib.SHEAF_LOG_WARN): logging.WARNING,
    int(lib.SHEAF_LOG_INFO): logging.INFO,
    int(lib.SHEAF_LOG_DEBUG): logging.DEBUG,
    int(lib.SHEAF_LOG_TRACE): TRACE,
}


def set_config_int(key: str, value: int) -> None:
    """Sets an integer configuration value for the whole process.

    Keys: ``log_level`` (0 off, 1 error, 2 warn - the default -, 3 info, 4 debug, 5 trace),
    ``lmdb.map_size`` (bytes; LMDB stores opened afterwards), ``commit.max_retries``,
    ``read.threads`` (threads one read uses to load and decode segments; 0, the default, is one
    per core, 1 only the calling thread).

    Raises:
        UnknownConfigKeyError: for a key the library does not know.
        InvalidArgumentError: for a value out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"config value must be an int, not {type(value).__name__}")
    k = key.encode("utf-8")
    call(lib.sheaf_config_set_int, k, len(k), value)


def set_config_string(key: str, value: str) -> None:
    """Sets a configuration value from text, e.g. ``set_config_string("lmdb.map_size", "1TB")``
    or ``set_config_string("log_level", "debug")``.

    Raises:
        UnknownConfigKeyError: for a key the library does not know.
        InvalidArgumentError: for a value it cannot parse.
    """
    k = key.encode("utf-8")
    v = value.encode("utf-8")
    call(lib.sheaf_config_set_string, k, len(k), v, len(v))


def set_log_level(level: Union[int, str]) -> None:
    """Sets which records the library produces: a :mod:`logging` level (``logging.DEBUG``), or
    a name: ``"off"``, ``"error"``, ``"warn"`` / ``"warning"``, ``"info"``, ``"debug"``,
    ``"trace"`` (any case; ``"critical"`` is taken as ``"error"``, the library's most severe).

    A :mod:`logging` level keeps the records at or above it: ``logging.INFO`` (or any level
    above DEBUG up to INFO) gives info, warnings and errors; ``logging.CRITICAL`` gives errors
    (the library has no critical records); a level above ``logging.CRITICAL`` turns the
    library's records off; :data:`TRACE` or lower gives every record. Records go to the
    ``"sheaf"`` logger; its own level and handlers still apply.

    Raises:
        InvalidArgumentError: an unknown name.
        TypeError: ``level`` is neither an ``int`` nor a ``str`` (``bool`` included).
    """
    if isinstance(level, str):
        name = level.lower()
        set_config_string("log_level", "error" if name in ("critical", "fatal") else name)
        return
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"log level must be an int or a str, not {type(level).__name__}")
    if level <= TRACE:
        sheaf_level = 5
    elif level <= logging.DEBUG:
        sheaf_level = 4
    elif level <= logging.INFO:
        sheaf_level = 3
    elif level <= logging.WARNING:
        sheaf_level = 2
    elif level <= logging.CRITICAL:
        sheaf_level = 1
    else:
        sheaf_level = 0
    set_config_int("log_level", sheaf_level)


def _on_log(level: int, message: Any, length: int, user_data: Any) -> None:
    try:
        text = ffi.unpack(message, length).decode("utf-8", "replace")
        logger.log(_LEVELS.get(level, logging.INFO), "%s", text)
    except Exception:  # pragma: no cover - never raise into the library
        pass


# Kept for the life of the process: the library may call it from any thread at any time.
_LOG_CALLBACK = ffi.callback("void(int32_t, const char *, size_t, void *)", _on_log)


def _install() -> None:
    call(lib.sheaf_log_set_callback, _LOG_CALLBACK, ffi.NULL)


def _uninstall() -> None:
    with contextlib.suppress(Exception):
        lib.sheaf_log_set_callback(ffi.NULL, ffi.NULL, ffi.NULL)


_install()
atexit.register(_uninstall)
