"""Exceptions raised by Sheaf.

Every error that comes out of the library is a :class:`SheafError` carrying the library's status
code (``.code``) and its constant name (``.status_name``). There is one subclass per status range,
each mixed with the builtin exception a Python programmer would naturally catch:

==========  ==============================  ===============================
codes       class                           also an instance of
==========  ==============================  ===============================
100-199     :class:`GenericError`           --
200-299     :class:`StorageError`           :class:`OSError`
300-399     :class:`NotFoundError`          :class:`KeyError`
400-499     :class:`ConflictError`          --
500-599     :class:`SchemaError`            :class:`ValueError`
600-699     :class:`InvalidArgumentError`   :class:`ValueError`
700-799     :class:`ClosedError`            :class:`ValueError` (like closed files)
900-999     :class:`InternalError`          :class:`RuntimeError`
==========  ==============================  ===============================

Several codes have a more precise class (e.g. :class:`NoSuchSymbolError`,
:class:`UnsortedIndexError`); :func:`error_class` gives the class used for a code.

Why a leaf: every module of the package raises these classes, so this one imports nothing of
the package. Each class carries its status (``default_code`` and the constant name ``status``);
the code -> class map (:data:`STATUS_CLASSES`) and the range classes are derived from the
classes themselves, so a new status needs only a new class here.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Type

__all__ = [
    "SheafError",
    "GenericError",
    "UnsupportedError",
    "SheafTimeoutError",
    "CancelledError",
    "StorageError",
    "SheafIOError",
    "StorageFullError",
    "CorruptDataError",
    "NotFoundError",
    "NoSuchLibraryError",
    "NoSuchSymbolError",
    "NoSuchVersionError",
    "NoSuchSnapshotError",
    "NoSuchKeyError",
    "NoSuchCollectionError",
    "NoSuchDocumentError",
    "ConflictError",
    "LibraryExistsError",
    "KeyExistsError",
    "SnapshotExistsError",
    "CollectionExistsError",
    "SchemaError",
    "UnsortedIndexError",
    "UnsupportedTypeError",
    "InvalidArgumentError",
    "NullPointerError",
    "InvalidUTF8Error",
    "InvalidNameError",
    "InvalidURIError",
    "InvalidJSONError",
    "BufferTooSmallError",
    "InvalidModeError",
    "UnknownConfigKeyError",
    "InvalidArrowError",
    "NonContiguousBufferError",
    "ReadOnlyBufferError",
    "ClosedError",
    "InternalError",
    "error_class",
    "error_category",
    "status_name",
    "STATUS_CLASSES",
]


class SheafError(Exception):
    """Base class of every error raised by Sheaf.

    Attributes:
        code: the library's status code (an ``int``, e.g. 302).
        status_name: the code's constant name (e.g. ``"SHEAF_ERR_NO_SUCH_SYMBOL"``).
        message: the library's message, with its cause chain.
    """

    #: The status code this class stands for when raised without one.
    default_code: int = 100
    #: The constant name of ``default_code``, as the library spells it.
    status: str = "SHEAF_ERR_GENERIC"
    #: The name of the status range (``DataError.error_category``); set on the range classes.
    category: str = "GENERIC"

    def __init__(self, message: str, code: Optional[int] = None, status_name: Optional[str] = None):
        super().__init__(message)
        self.message: str = message
        self.code: int = self.default_code if code is None else code
        self.status_name: str = status_name if status_name is not None else _name_of(self.code)

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message; every Sheaf error reads as plain text.
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code})"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.message, self.code, self.status_name))


# --- 100-199: generic ---------------------------------------------------------------------------
class GenericError(SheafError):
    """An error with no better category (status 100-199)."""

    default_code = 100
    status = "SHEAF_ERR_GENERIC"
    category = "GENERIC"


class UnsupportedError(GenericError, NotImplementedError):
    """The operation or option is not available in this build (SHEAF_ERR_UNSUPPORTED)."""

    default_code = 101
    status = "SHEAF_ERR_UNSUPPORTED"


class SheafTimeoutError(GenericError, TimeoutError):
    """A wait ran out of time (SHEAF_ERR_TIMEOUT)."""

    default_code = 102
    status = "SHEAF_ERR_TIMEOUT"


class CancelledError(GenericError):
    """The call was cancelled (SHEAF_ERR_CANCELLED): a SQL query stopped through its
    cancellation flag. Python raises ``KeyboardInterrupt`` itself when Ctrl-C stopped it."""

    default_code = 103
    status = "SHEAF_ERR_CANCELLED"


# --- 200-299: I/O and storage -------------------------------------------------------------------
class StorageError(SheafError, OSError):
    """The operating system or the storage backend failed (status 200-299)."""

    default_code = 201
    status = "SHEAF_ERR_STORAGE"
    category = "STORAGE"

    def __str__(self) -> str:
        return self.message


class SheafIOError(StorageError):
    """The operating system refused a file operation (SHEAF_ERR_IO)."""

    default_code = 200
    status = "SHEAF_ERR_IO"


class StorageFullError(StorageError):
    """The storage is full; for LMDB raise ``?map_size=`` or config ``lmdb.map_size``."""

    default_code = 202
    status = "SHEAF_ERR_STORAGE_FULL"


class CorruptDataError(StorageError):
    """Stored bytes could not be decoded (SHEAF_ERR_CORRUPT)."""

    default_code = 203
    status = "SHEAF_ERR_CORRUPT"


# --- 300-399: not found -------------------------------------------------------------------------
class NotFoundError(SheafError, KeyError):
    """Something named does not exist (status 300-399). Also a :class:`KeyError`."""

    default_code = 300
    status = "SHEAF_ERR_NOT_FOUND"
    category = "NOT_FOUND"

    def __str__(self) -> str:
        return self.message


class NoSuchLibraryError(NotFoundError):
    """No library of that name."""

    default_code = 301
    status = "SHEAF_ERR_NO_SUCH_LIBRARY"


class NoSuchSymbolError(NotFoundError):
    """No symbol of that name (or every version of it was deleted)."""

    default_code = 302
    status = "SHEAF_ERR_NO_SUCH_SYMBOL"


class NoSuchVersionError(NotFoundError):
    """The symbol exists but not the requested version."""

    default_code = 303
    status = "SHEAF_ERR_NO_SUCH_VERSION"


class NoSuchSnapshotError(NotFoundError):
    """No snapshot of that name."""

    default_code = 304
    status = "SHEAF_ERR_NO_SUCH_SNAPSHOT"


class NoSuchKeyError(NotFoundError):
    """No such key in a key space."""

    default_code = 305
    status = "SHEAF_ERR_NO_SUCH_KEY"


class NoSuchCollectionError(NotFoundError):
    """No collection of that name."""

    default_code = 306
    status = "SHEAF_ERR_NO_SUCH_COLLECTION"


class NoSuchDocumentError(NotFoundError):
    """No document with that id."""

    default_code = 307
    status = "SHEAF_ERR_NO_SUCH_DOCUMENT"


# --- 400-499: conflict --------------------------------------------------------------------------
class ConflictError(SheafError):
    """A commit kept losing races, or something already exists (status 400-499)."""

    default_code = 400
    status = "SHEAF_ERR_CONFLICT"
    category = "CONFLICT"


class LibraryExistsError(ConflictError):
    """A library of that name already exists."""

    default_code = 401
    status = "SHEAF_ERR_LIBRARY_EXISTS"


class KeyExistsError(ConflictError):
    """The key already exists."""

    default_code = 402
    status = "SHEAF_ERR_KEY_EXISTS"


class SnapshotExistsError(ConflictError):
    """A snapshot of that name already exists."""

    default_code = 403
    status = "SHEAF_ERR_SNAPSHOT_EXISTS"


class CollectionExistsError(ConflictError):
    """A collection of that name already exists."""

    default_code = 404
    status = "SHEAF_ERR_COLLECTION_EXISTS"


# --- 500-599: schema and data -------------------------------------------------------------------
class SchemaError(SheafError, ValueError):
    """The data does not fit the schema or the operation (status 500-599)."""

    default_code = 500
    status = "SHEAF_ERR_SCHEMA"
    category = "SCHEMA"


class UnsortedIndexError(SchemaError):
    """The index column is not sorted ascending (``validate_index=False`` allows it)."""

    default_code = 501
    status = "SHEAF_ERR_UNSORTED_INDEX"


class UnsupportedTypeError(SchemaError, TypeError):
    """A column type Sheaf does not store; the message names the column and the type."""

    default_code = 502
    status = "SHEAF_ERR_UNSUPPORTED_TYPE"


# --- 600-699: invalid argument ------------------------------------------------------------------
class InvalidArgumentError(SheafError, ValueError):
    """The caller passed something unusable (status 600-699)."""

    default_code = 600
    status = "SHEAF_ERR_INVALID_ARGUMENT"
    category = "INVALID_ARGUMENT"


class NullPointerError(InvalidArgumentError):
    """A required pointer was NULL (a bug in the binding if it happens from Python)."""

    default_code = 601
    status = "SHEAF_ERR_NULL_POINTER"


class InvalidUTF8Error(InvalidArgumentError):
    """Text that must be UTF-8 is not."""

    default_code = 602
    status = "SHEAF_ERR_INVALID_UTF8"


class InvalidNameError(InvalidArgumentError):
    """A library or symbol name is empty, longer than 255 bytes, or holds a control character."""

    default_code = 603
    status = "SHEAF_ERR_INVALID_NAME"


class InvalidURIError(InvalidArgumentError):
    """The store URI cannot be understood."""

    default_code = 604
    status = "SHEAF_ERR_INVALID_URI"


class InvalidJSONError(InvalidArgumentError):
    """An options document is not valid JSON or has unknown fields."""

    default_code = 605
    status = "SHEAF_ERR_INVALID_JSON"


class BufferTooSmallError(InvalidArgumentError):
    """A caller buffer is too small; the message says the size needed.

    Attributes:
        needed: the size in bytes the buffer must have (set by ``KeySpace.get_into``; ``None``
            when the call that failed did not report it).
    """

    default_code = 606
    status = "SHEAF_ERR_BUFFER_TOO_SMALL"
    needed: Optional[int] = None


class InvalidModeError(InvalidArgumentError):
    """A mode flag that makes no sense for the call."""

    default_code = 607
    status = "SHEAF_ERR_INVALID_MODE"


class UnknownConfigKeyError(InvalidArgumentError):
    """A configuration key the library does not know."""

    default_code = 608
    status = "SHEAF_ERR_UNKNOWN_CONFIG_KEY"


class InvalidArrowError(InvalidArgumentError):
    """Arrow input is malformed (bad offsets, invalid UTF-8, NULL buffers, a failing stream)."""

    default_code = 609
    status = "SHEAF_ERR_INVALID_ARROW"


class NonContiguousBufferError(InvalidArgumentError, TypeError):
    """A buffer passed to Sheaf is not C-contiguous (e.g. a strided numpy view). Raised by the
    Python package before any call; also a :class:`TypeError`."""


class ReadOnlyBufferError(InvalidArgumentError, TypeError):
    """A read-only buffer was passed where Sheaf must write (e.g. ``KeySpace.get_into``).
    Raised by the Python package before any call; also a :class:`TypeError`."""


# --- 700-799: closed ----------------------------------------------------------------------------
class ClosedError(SheafError, ValueError):
    """The handle (or its store) was closed. A :class:`ValueError`, like I/O on a closed file."""

    default_code = 700
    status = "SHEAF_ERR_CLOSED"
    category = "CLOSED"


# --- 900-999: internal --------------------------------------------------------------------------
class InternalError(SheafError, RuntimeError):
    """A bug in Sheaf, including a caught panic. Please report it."""

    default_code = 900
    status = "SHEAF_ERR_INTERNAL"
    category = "INTERNAL"


def _subclasses(cls: Type[SheafError]) -> List[Type[SheafError]]:
    out: List[Type[SheafError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


#: Status code -> exception class, for every code this binding knows by name: each class that
#: declares its own ``status`` (the Python-only buffer errors inherit theirs).
STATUS_CLASSES: Dict[int, Type[SheafError]] = {
    cls.default_code: cls for cls in _subclasses(SheafError) if "status" in vars(cls)
}

#: Range (``code // 100 * 100``) -> the class of the range: the direct subclasses of SheafError.
_RANGES: Dict[int, Type[SheafError]] = {
    cls.default_code // 100 * 100: cls for cls in SheafError.__subclasses__()
}


def error_class(code: int) -> Type[SheafError]:
    """The exception class for a status code: the exact class, else its range's class."""
    cls = STATUS_CLASSES.get(code)
    if cls is not None:
        return cls
    return _RANGES.get((code // 100) * 100, SheafError)


def error_category(code: int) -> str:
    """The name of a status code's range, e.g. ``"NOT_FOUND"`` (``"GENERIC"`` if unknown)."""
    return error_class(code).category


def status_name(code: int) -> str:
    """The constant name of a status code (``"SHEAF_ERR_UNKNOWN"`` for a code no class has),
    as ``sheaf_status_name`` spells it."""
    return _name_of(code)


def _name_of(code: int) -> str:
    if code == 0:
        return "SHEAF_OK"
    cls = STATUS_CLASSES.get(code)
    return cls.status if cls is not None else "SHEAF_ERR_UNKNOWN"
