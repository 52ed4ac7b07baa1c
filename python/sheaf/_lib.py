"""The native library and the one way to call it: ``ffi``, ``lib`` and :func:`call`.

Every module that talks to ``libsheaf.so`` goes through here, so loading (the generated cffi
ABI-mode module, the ABI version check), the per-thread error slot and the translation of a
failed status into a :mod:`sheaf.errors` exception live in one place.

Nothing here needs a compiler or pycparser: ``sheaf._native._sheaf_cffi`` was generated when the
wheel was built, and ``libsheaf.so`` sits next to it. The library is opened once, by absolute
path, and never closed (a second ``dlopen`` reference pins it for the life of the process).
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Dict, Optional

from . import errors

__all__ = [
    "ffi",
    "lib",
    "LIB_PATH",
    "call",
    "check",
    "errslot",
    "status_name",
    "take_bytes",
    "NULL",
]

_HERE = os.path.dirname(os.path.abspath(__file__))
LIB_PATH = os.path.join(_HERE, "_native", "libsheaf.so")

try:
    from ._native._sheaf_cffi import ffi as _ffi
except ImportError as exc:  # pragma: no cover - only with a broken install
    raise ImportError(
        "sheaf: the generated cffi module sheaf._native._sheaf_cffi is missing; "
        "install sheaf from its wheel (python/build_wheel.py builds one)"
    ) from exc

ffi: Any = _ffi

try:
    lib: Any = ffi.dlopen(LIB_PATH)
except OSError as exc:
    raise ImportError(f"sheaf: cannot load the native library {LIB_PATH}: {exc}") from exc

# cffi closes a library when its lib object is collected; keep a second, never-released
# reference so the code stays mapped even while the interpreter tears modules down.
try:
    import ctypes as _ctypes

    _PIN: Optional[object] = _ctypes.CDLL(LIB_PATH)
except Exception:  # pragma: no cover - ctypes missing (some embedded builds)
    _PIN = None

_abi = int(lib.sheaf_abi_version())
if _abi != int(lib.SHEAF_ABI_VERSION):
    raise ImportError(
        f"sheaf: the native library {LIB_PATH} implements C ABI version {_abi}, but this "
        f"Python package was generated for ABI version {int(lib.SHEAF_ABI_VERSION)}; "
        "reinstall sheaf so that the package and the library come from the same build"
    )

NULL: Any = ffi.NULL
#: The library's version string, e.g. "0.1.0".
LIBRARY_VERSION: str = ffi.string(lib.sheaf_version()).decode("ascii")

_status_names: Dict[int, str] = {}


def status_name(code: int) -> str:
    """The constant name of a status code, as the library spells it."""
    name = _status_names.get(code)
    if name is None:
        name = ffi.string(lib.sheaf_status_name(code)).decode("ascii")
        _status_names[code] = name
    return name


_tls = threading.local()


def errslot() -> Any:
    """This thread's reusable ``SheafError **`` (allocated once per thread)."""
    try:
        return _tls.slot
    except AttributeError:
        slot = _tls.slot = ffi.new("SheafError **")
        return slot


#: Bytes of this thread's scratch buffer for small values read by single calls.
SCRATCH_BYTES = 4096


class Scratch:
    """One thread's reusable out-arguments for single calls (a value buffer, a size, the error
    slot): allocating them per call costs more than the call itself."""

    __slots__ = ("buffer", "size", "slot")

    def __init__(self) -> None:
        self.buffer = ffi.new("char[]", SCRATCH_BYTES)
        self.size = ffi.new("size_t *")
        self.slot = errslot()


def scratch() -> Scratch:
    """This thread's :class:`Scratch`."""
    try:
        return _tls.scratch  # type: ignore[no-any-return]
    except AttributeError:
        made = _tls.scratch = Scratch()
        return made


def raise_error(status: int, slot: Any) -> None:
    """Turns a failed call's status and ``*slot`` into the matching exception (and frees it)."""
    err = slot[0]
    if err == ffi.NULL:
        message = f"{status_name(status)} (the library gave no message)"
        code = int(status)
    else:
        slot[0] = ffi.NULL
        try:
            code = int(lib.sheaf_error_code(err))
            message = ffi.string(lib.sheaf_error_message(err)).decode("utf-8", "replace")
        finally:
            lib.sheaf_error_free(err)
    raise errors.error_class(code)(message, code, status_name(code))


def check(status: int, slot: Any) -> None:
    """Raises when ``status`` is not ``SHEAF_OK``."""
    if status:
        raise_error(status, slot)


def call(fn: Any, *args: Any) -> None:
    """Calls the C function ``fn(*args, err)`` with this thread's error slot as the last
    argument, and raises the matching :mod:`sheaf.errors` exception when it fails."""
    try:
        slot = _tls.slot
    except AttributeError:
        slot = errslot()
    status = fn(*args, slot)
    if status:
        raise_error(status, slot)


def take_bytes(b: Any) -> bytes:
    """Copies a ``SheafBytes`` into Python bytes and frees it."""
    if b.len == 0:
        lib.sheaf_bytes_free(b)
        return b""
    try:
        return ffi.unpack(ffi.cast("char *", b.data), b.len)  # type: ignore[no-any-return]
    finally:
        lib.sheaf_bytes_free(b)


def all_status_codes() -> Dict[str, int]:
    """Every ``SHEAF_ERR_*`` constant of the cdef this package was generated from."""
    return {name: int(getattr(lib, name)) for name in dir(lib) if name.startswith("SHEAF_ERR_")}


_CODES_BY_NAME: Optional[Dict[str, int]] = None


def code_in_message(message: str) -> Optional[int]:
    """The status code named in ``message`` (e.g. "SHEAF_ERR_CLOSED"), if any.

    Stream callbacks can only return an errno; when the library names the status in the
    ``get_last_error`` text, the matching exception class is used.
    """
    global _CODES_BY_NAME
    if "SHEAF_ERR_" not in message:
        return None
    if _CODES_BY_NAME is None:
        _CODES_BY_NAME = all_status_codes()
    for name in re.findall(r"SHEAF_ERR_[A-Z0-9_]+", message):
        code = _CODES_BY_NAME.get(name)
        if code is not None:
            return code
    return None
