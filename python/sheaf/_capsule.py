"""``PyCapsule`` helpers for the Arrow PyCapsule interface, through ``ctypes.pythonapi``.

Kept apart because it is the one place that touches CPython's C API; both the cffi Arrow structs
(:mod:`sheaf._arrow_c`) and the conversions (:mod:`sheaf._convert`) use it.

CPython only: PyPy has no ``ctypes.pythonapi``, so :data:`AVAILABLE` is False there and Sheaf
offers the raw-address form instead (``_export_to_c(address)`` and objects with
``_export_to_c``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from ._lib import ffi

__all__ = ["AVAILABLE", "export_capsule", "move_from_capsule"]

_STREAM_NAME = b"arrow_array_stream"

try:
    import ctypes

    _api = ctypes.pythonapi
    _New = _api.PyCapsule_New
    _New.restype = ctypes.py_object
    _New.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    _GetPointer = _api.PyCapsule_GetPointer
    _GetPointer.restype = ctypes.c_void_p
    _GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    # The destructor gets the dying capsule: read its pointer without taking a reference.
    _GetPointerRaw = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)(
        ("PyCapsule_GetPointer", _api)
    )
    _NAME_BUF = ctypes.create_string_buffer(_STREAM_NAME)
    _NAME_ADDR = ctypes.addressof(_NAME_BUF)
    AVAILABLE = True
except (ImportError, AttributeError):  # PyPy, or a Python without ctypes
    AVAILABLE = False

# Capsule-owned stream structs, by address, until the capsule is destroyed.
_OWNED: Dict[int, Any] = {}

if AVAILABLE:

    def _destroy(capsule: int) -> None:
        try:
            address = _GetPointerRaw(capsule, _NAME_ADDR)
            if not address:
                return
            stream = _OWNED.pop(int(address), None)
            if stream is not None and stream.release != ffi.NULL:
                stream.release(stream)
        except Exception:  # pragma: no cover - must not raise into the capsule's dealloc
            pass

    # Kept for the life of the process: capsules may outlive any caller.
    _destructor: Any = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_destroy)
    _DESTRUCTOR_ADDR = ctypes.cast(_destructor, ctypes.c_void_p).value


def export_capsule(fill: Callable[[Any], None]) -> object:
    """A new ``arrow_array_stream`` capsule whose stream ``fill(struct ArrowArrayStream *)`` fills.

    The capsule owns the struct; if no consumer moves the stream out, its destructor
    releases it.
    """
    if not AVAILABLE:  # pragma: no cover
        raise NotImplementedError("PyCapsules need ctypes.pythonapi (CPython)")
    stream = ffi.new("struct ArrowArrayStream *")
    fill(stream)
    address = int(ffi.cast("uintptr_t", stream))
    _OWNED[address] = stream
    try:
        capsule: object = _New(address, _NAME_ADDR, _DESTRUCTOR_ADDR)
    except BaseException:
        _OWNED.pop(address, None)
        if stream.release != ffi.NULL:
            stream.release(stream)
        raise
    return capsule


def move_from_capsule(capsule: object, out: Any) -> None:
    """Moves the stream of an ``arrow_array_stream`` capsule into ``out`` (marks the source
    released, as the protocol asks of a consumer)."""
    if not AVAILABLE:  # pragma: no cover
        raise NotImplementedError("PyCapsules need ctypes.pythonapi (CPython)")
    address = _GetPointer(capsule, _STREAM_NAME)
    if not address:  # pragma: no cover - GetPointer raised already
        raise ValueError("not an arrow_array_stream capsule")
    src = ffi.cast("struct ArrowArrayStream *", address)
    if src.release == ffi.NULL:
        raise ValueError("the Arrow stream in this capsule was already consumed")
    ffi.memmove(out, src, ffi.sizeof("struct ArrowArrayStream"))
    src.release = ffi.NULL
