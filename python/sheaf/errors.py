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
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "SheafError",
    "GenericError",
    "UnsupportedError",
    "SheafTimeoutError",
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

    def __init__(self, message: str, code: Optional[int] = None, status_name: Optional[str] = None):
        super().__init__(message)
        self.message: str = message
        self.code: int = self.default_code if code is None else code
        self.status_name: str = status_name if status_name is not None else _status_name(self.code)

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


class UnsupportedError(GenericError, NotImplementedError):
    """The operation or option is not available in this build (SHEAF_ERR_UNSUPPORTED)."""

    default_code = 101


class SheafTimeoutError(GenericError, TimeoutError):
    """A wait ran out of time (SHEAF_ERR_TIMEOUT)."""

    default_code = 102


# --- 200-299: I/O and storage -------------------------------------------------------------------
class StorageError(SheafError, OSError):
    """The operating system or the storage backend failed (status 200-299)."""

    default_code = 201

    def __str__(self) -> str:
        return self.message


class SheafIOError(StorageError):
    """The operating system refused a file operation (SHEAF_ERR_IO)."""

    default_code = 200


class StorageFullError(StorageError):
    """The storage is full; for LMDB raise ``?map_size=`` or config ``lmdb.map_size``."""

    default_code = 202


class CorruptDataError(StorageError):
    """Stored bytes could not be decoded (SHEAF_ERR_CORRUPT)."""

    default_code = 203


# --- 300-399: not found -------------------------------------------------------------------------
class NotFoundError(SheafError, KeyError):
    """Something named does not exist (status 300-399). Also a :class:`KeyError`."""

    default_code = 300

    def __str__(self) -> str:
        return self.message


class NoSuchLibraryError(NotFoundError):
    """No library of that name."""

    default_code = 301


class NoSuchSymbolError(NotFoundError):
    """No symbol of that name (or every version of it was deleted)."""

    default_code = 302


class NoSuchVersionError(NotFoundError):
    """The symbol exists but not the requested version."""

    default_code = 303


class NoSuchSnapshotError(NotFoundError):
    """No snapshot of that name."""

    default_code = 304


class NoSuchKeyError(NotFoundError):
    """No such key in a key space."""

    default_code = 305


class NoSuchCollectionError(NotFoundError):
    """No collection of that name."""

    default_code = 306


class NoSuchDocumentError(NotFoundError):
    """No document with that id."""

    default_code = 307


# --- 400-499: conflict --------------------------------------------------------------------------
class ConflictError(SheafError):
    """A commit kept losing races, or something already exists (status 400-499)."""

    default_code = 400


class LibraryExistsError(ConflictError):
    """A library of that name already exists."""

    default_code = 401


class KeyExistsError(ConflictError):
    """The key already exists."""

    default_code = 402


class SnapshotExistsError(ConflictError):
    """A snapshot of that name already exists."""

    default_code = 403


class CollectionExistsError(ConflictError):
    """A collection of that name already exists."""

    default_code = 404


# --- 500-599: schema and data -------------------------------------------------------------------
class SchemaError(SheafError, ValueError):
    """The data does not fit the schema or the operation (status 500-599)."""

    default_code = 500


class UnsortedIndexError(SchemaError):
    """The index column is not sorted ascending (``validate_index=False`` allows it)."""

    default_code = 501


class UnsupportedTypeError(SchemaError, TypeError):
    """A column type Sheaf does not store; the message names the column and the type."""

    default_code = 502


# --- 600-699: invalid argument ------------------------------------------------------------------
class InvalidArgumentError(SheafError, ValueError):
    """The caller passed something unusable (status 600-699)."""

    default_code = 600


class NullPointerError(InvalidArgumentError):
    """A required pointer was NULL (a bug in the binding if it happens from Python)."""

    default_code = 601


class InvalidUTF8Error(InvalidArgumentError):
    """Text that must be UTF-8 is not."""

    default_code = 602


class InvalidNameError(InvalidArgumentError):
    """A library or symbol name is empty, longer than 255 bytes, or holds a control character."""

    default_code = 603


class InvalidURIError(InvalidArgumentError):
    """The store URI cannot be understood."""

    default_code = 604


class InvalidJSONError(InvalidArgumentError):
    """An options document is not valid JSON or has unknown fields."""

    default_code = 605


class BufferTooSmallError(InvalidArgumentError):
    """A caller buffer is too small; the message says the size needed.

    Attributes:
        needed: the size in bytes the buffer must have (set by ``KeySpace.get_into``; ``None``
            when the call that failed did not report it).
    """

    default_code = 606
    needed: Optional[int] = None


class InvalidModeError(InvalidArgumentError):
    """A mode flag that makes no sense for the call."""

    default_code = 607


class UnknownConfigKeyError(InvalidArgumentError):
    """A configuration key the library does not know."""

    default_code = 608


class InvalidArrowError(InvalidArgumentError):
    """Arrow input is malformed (bad offsets, invalid UTF-8, NULL buffers, a failing stream)."""

    default_code = 609


class NonContiguousBufferError(InvalidArgumentError, TypeError):
    """A buffer passed to Sheaf is not C-contiguous (e.g. a strided numpy view). Raised by the
    Python package before any call; also a :class:`TypeError`."""

    default_code = 600


class ReadOnlyBufferError(InvalidArgumentError, TypeError):
    """A read-only buffer was passed where Sheaf must write (e.g. ``KeySpace.get_into``).
    Raised by the Python package before any call; also a :class:`TypeError`."""

    default_code = 600


# --- 700-799: closed ----------------------------------------------------------------------------
class ClosedError(SheafError, ValueError):
    """The handle (or its store) was closed. A :class:`ValueError`, like I/O on a closed file."""

    default_code = 700


# --- 900-999: internal --------------------------------------------------------------------------
class InternalError(SheafError, RuntimeError):
    """A bug in Sheaf, including a caught panic. Please report it."""

    default_code = 900


_EXACT: Dict[int, Type[SheafError]] = {
    cls.default_code: cls
    for cls in (
        GenericError,
        UnsupportedError,
        SheafTimeoutError,
        SheafIOError,
        StorageError,
        StorageFullError,
        CorruptDataError,
        NotFoundError,
        NoSuchLibraryError,
        NoSuchSymbolError,
        NoSuchVersionError,
        NoSuchSnapshotError,
        NoSuchKeyError,
        NoSuchCollectionError,
        NoSuchDocumentError,
        ConflictError,
        LibraryExistsError,
        KeyExistsError,
        SnapshotExistsError,
        CollectionExistsError,
        SchemaError,
        UnsortedIndexError,
        UnsupportedTypeError,
        InvalidArgumentError,
        NullPointerError,
        InvalidUTF8Error,
        InvalidNameError,
        InvalidURIError,
        InvalidJSONError,
        BufferTooSmallError,
        InvalidModeError,
        UnknownConfigKeyError,
        InvalidArrowError,
        ClosedError,
        InternalError,
    )
}

_RANGES: Dict[int, Type[SheafError]] = {
    100: GenericError,
    200: StorageError,
    300: NotFoundError,
    400: ConflictError,
    500: SchemaError,
    600: InvalidArgumentError,
    700: ClosedError,
    900: InternalError,
}

#: Status code -> exception class, for every code this binding knows by name.
STATUS_CLASSES: Dict[int, Type[SheafError]] = dict(_EXACT)


def error_class(code: int) -> Type[SheafError]:
    """The exception class for a status code: the exact class, else its range's class."""
    cls = _EXACT.get(code)
    if cls is not None:
        return cls
    return _RANGES.get((code // 100) * 100, SheafError)


def _status_name(code: int) -> str:
    # Filled in by sheaf._lib once the library is loaded (avoids an import cycle).
    from . import _lib

    return _lib.status_name(code)
