"""What every handle class shares: Store, Library, KeySpace and Collection.

Each wraps one library-owned handle (``self._h``, freed by ``ffi.gc`` when the object goes) and
closes the same way, so ``close()``, ``closed``, ``with`` blocks and ``repr`` are written once
here instead of four times. The C function that closes a handle is named by the subclass.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Protocol, TypeVar

from ._lib import call, lib

__all__ = ["Handle", "StoreLike"]

_H = TypeVar("_H", bound="Handle")


class StoreLike(Protocol):
    """What a handle opened from a store uses of it (:class:`sheaf.Store` is one); the handle
    modules name this protocol instead of importing ``sheaf.store``, which imports them."""

    @property
    def uri(self) -> str: ...

    @property
    def output_format(self) -> str: ...

    @property
    def arrow_string_format_default(self) -> Optional[str]: ...

    def _reopen_library(self, name: str, output_format: Optional[str]) -> Any: ...

    def kv(self, name: str) -> Any: ...

    def open_collection(self, name: str) -> Any: ...


class Handle:
    """A closable object over one library handle.

    Subclasses set ``_close_fn`` (the name of the ``sheaf_*_close`` C function). ``_name`` is
    what ``repr`` shows, ``_store`` the store the handle was opened from (``None`` for a store).
    """

    _close_fn: ClassVar[str]

    def __init__(self, handle: Any, name: str, store: Optional[StoreLike] = None) -> None:
        self._h: Any = handle
        self._name = name
        self._store = store
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called on this object."""
        return self._closed

    def close(self) -> None:
        """Closes the handle: later calls on it raise :class:`sheaf.ClosedError`; calls already
        running on other threads finish. Idempotent and thread-safe."""
        self._closed = True
        call(getattr(lib, self._close_fn), self._h)

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "" if self._store is None else f" in {self._store.uri!r}"
        state = " closed" if self._closed else ""
        return f"<sheaf.{type(self).__name__} {self._name!r}{where}{state}>"
