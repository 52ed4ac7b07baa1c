"""Document collections (Yokan's model) from Python.

This module holds :class:`Collection` with each of its C calls and the document encoding. The
store creates and opens collections (:meth:`sheaf.Store.create_collection` makes that call), so
nothing here imports the store.

Create one with :meth:`sheaf.Store.create_collection`, open it with
:meth:`sheaf.Store.open_collection`::

    people = store.create_collection("people")
    ada = people.store({"name": "Ada", "born": 1815})    # 0: ids are sequential from 0
    people.load(ada)                                      # {'name': 'Ada', 'born': 1815}
    people.list_docs(filter={"born": 1815})               # [(0, {'name': 'Ada', ...})]

Documents
    The library stores every document as bytes, with no type tag. This package writes a
    ``dict`` (any ``Mapping``) as compact UTF-8 JSON text, and a ``str`` or a bytes-like object
    (``bytes``, ``bytearray``, ``memoryview``, numpy arrays) as its bytes, unchanged. Reading
    (``load``, ``load_multi``, ``list_docs``, iteration) returns a ``dict`` when the stored bytes
    are a JSON object, and ``bytes`` otherwise — so raw bytes that happen to be a JSON object's
    text come back as a ``dict``. Pass ``raw=True`` to always get the stored ``bytes``.
    NaN and infinities are refused (``ValueError``): they are not JSON, and the library's
    filters could not read such a document.

Ids
    ``store`` gives ids 0, 1, 2, ... ; :meth:`Collection.last_id` is, as in Yokan, the id the
    *next* stored document will get (not the id of the last one stored), and erased ids are
    never reused. ``update(..., mode=Mode.UPDATE_NEW)`` may create a document at any id (an id
    beyond ``last_id()`` moves it forward).

Filters
    ``list_docs(filter={...})`` keeps documents whose top-level fields equal every field of the
    filter, compared as JSON values by the library: numbers by value (``1`` matches ``1.0``), but
    ``True`` is not ``1`` (unlike in Python). Documents that are not JSON objects match only an
    empty filter.

Every method is one C call (``*_multi`` forms pack their input into one buffer first); the
iterator is one call per page. Safe to share between threads.
"""

from __future__ import annotations

import json
from array import array
from typing import Any, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from ._handle import Handle, StoreLike
from ._lib import NULL, call, ffi, lib, take_bytes
from ._packed import NOT_FOUND, SIZE_MAX, buffer_arg, pack, sizes, unpack, writable_buffer_arg
from .errors import BufferTooSmallError
from .kv import Mode, mode_arg

__all__ = ["Collection", "Document"]

#: What ``store``/``update`` take: a ``dict`` (stored as JSON) or ``str``/bytes-like (raw).
Document = Union[Mapping[str, Any], str, bytes, bytearray, memoryview, Any]

_PAGE = 1000
_WS = b" \t\r\n"


def _encode(doc: Any, what: str = "document") -> Any:
    """A document as something the library takes as bytes (dicts become JSON text)."""
    if isinstance(doc, Mapping):
        try:
            text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError as exc:
            raise ValueError(f"{what} is not valid JSON: {exc}") from None
        return text.encode("utf-8")
    if isinstance(doc, (list, int, float, bool)) or doc is None:
        raise TypeError(
            f"a {what} is a dict (stored as JSON) or a str / bytes-like object (stored as is), "
            f"not {type(doc).__name__}; wrap it in a dict or pass json.dumps(...)"
        )
    return doc


def _decode(raw: Any, as_bytes: bool) -> Any:
    """The document as read back: a dict for a JSON object, else bytes (``as_bytes``: bytes)."""
    if raw is None or as_bytes:
        return raw
    if raw.lstrip(_WS)[:1] == b"{":
        try:
            value = json.loads(raw)
        except ValueError:
            return raw
        if isinstance(value, dict):
            return value
    return raw


def _id_arg(doc_id: int) -> int:
    if isinstance(doc_id, bool) or not isinstance(doc_id, int):
        raise TypeError(f"a document id is an int, not {type(doc_id).__name__}")
    if not 0 <= doc_id < 1 << 64:
        raise ValueError(f"document ids are 0..2**64-1, not {doc_id}")
    return int(doc_id)


def _ids_arg(ids: Iterable[int]) -> Tuple[Any, int]:
    seq = ids if isinstance(ids, (list, tuple)) else list(ids)
    if any(isinstance(i, bool) or not isinstance(i, int) for i in seq):
        raise TypeError("document ids are ints")
    try:
        arr = array("Q", seq)
    except OverflowError:
        raise ValueError("document ids are 0..2**64-1") from None
    if not arr:
        return NULL, 0
    return ffi.from_buffer("uint64_t[]", arr), len(arr)


class Collection(Handle):
    """A document collection of a store; see the module documentation for how documents,
    ids and filters work.

    ``len(c)`` is :meth:`size`, ``c[id]`` is :meth:`load`, ``iter(c)`` yields ``(id, doc)``.
    Close with :meth:`close` or a ``with`` block (later calls raise
    :class:`sheaf.ClosedError`); it pickles as (store URI, name) and reopens when unpickled.
    """

    _close_fn = "sheaf_collection_close"
    _store: StoreLike

    def __init__(self, store: StoreLike, handle: Any, name: str) -> None:
        super().__init__(handle, name, store)

    # -- properties and lifecycle (close, closed, with: see Handle) ------------------------------
    @property
    def name(self) -> str:
        """The collection's name."""
        return self._name

    def __reduce__(self) -> Any:
        return (self._store.open_collection, (self._name,))

    # -- counters --------------------------------------------------------------------------------
    def _counters(self) -> Tuple[int, int]:
        size = ffi.new("uint64_t[2]")
        call(lib.sheaf_collection_size, self._h, size, size + 1)
        return int(size[0]), int(size[1])

    def size(self) -> int:
        """The number of documents."""
        return self._counters()[0]

    def last_id(self) -> int:
        """The id the next stored document will get (Yokan's "last id"): 0 for a new
        collection, one past the highest id ever used otherwise. Erasing does not lower it."""
        return self._counters()[1]

    def __len__(self) -> int:
        return self.size()

    # -- single documents ------------------------------------------------------------------------
    def store(self, doc: Document) -> int:
        """Stores a document and returns its id (sequential from 0)."""
        d, dn = buffer_arg(_encode(doc), "document")
        out = ffi.new("uint64_t *")
        call(lib.sheaf_doc_store, self._h, d, dn, out)
        return int(out[0])

    def load(self, doc_id: int, *, raw: bool = False) -> Any:
        """The document with this id: a ``dict`` when it is a JSON object, else ``bytes``
        (``raw=True``: always the stored ``bytes``).

        Raises:
            NoSuchDocumentError: no document has this id (a ``KeyError``).
        """
        out = ffi.new("SheafBytes *")
        call(lib.sheaf_doc_load, self._h, _id_arg(doc_id), out)
        return _decode(take_bytes(out), raw)

    def load_into(self, doc_id: int, buffer: Any) -> int:
        """Copies the stored bytes of a document into ``buffer`` (a writable, C-contiguous
        buffer: ``bytearray``, writable ``memoryview``, numpy array) and returns their size, as
        Yokan's ``doc_load`` into a caller's buffer does (and :meth:`KeySpace.get_into`).

        Raises:
            BufferTooSmallError: the document does not fit; ``.needed`` is its size.
            NoSuchDocumentError: no document has this id (a ``KeyError``).
            ReadOnlyBufferError, NonContiguousBufferError: ``buffer`` cannot be written.
        """
        buf, capacity = writable_buffer_arg(buffer, "buffer")
        size = ffi.new("size_t *")
        try:
            call(lib.sheaf_doc_load_into, self._h, _id_arg(doc_id), buf, capacity, size)
        except BufferTooSmallError as exc:
            exc.needed = int(size[0])
            raise
        return int(size[0])

    def __getitem__(self, doc_id: int) -> Any:
        return self.load(doc_id)

    def update(self, doc_id: int, doc: Document, mode: Union[int, Mode] = 0) -> None:
        """Replaces the document with this id.

        Args:
            mode: ``Mode.UPDATE_NEW`` creates the document when the id is free.

        Raises:
            NoSuchDocumentError: no document has this id (and no ``UPDATE_NEW``).
        """
        self.update_multi([doc_id], [doc], mode)

    def erase(self, doc_id: int) -> None:
        """Erases the document with this id.

        Raises:
            NoSuchDocumentError: no document has this id.
        """
        self.erase_multi([doc_id])

    def length(self, doc_id: int) -> Optional[int]:
        """The stored size in bytes of a document, or ``None`` when the id is free.

        (The C ABI has no document-length call yet: this loads the document.)
        """
        return self.length_multi([doc_id])[0]

    # -- batches (one C call each) ---------------------------------------------------------------
    def store_multi(self, docs: Iterable[Document]) -> List[int]:
        """Stores documents in one C call and one transaction; returns their (consecutive)
        ids. The documents are copied once into a packed buffer."""
        data, sizes, n = pack([_encode(d) for d in docs], "documents")
        if n == 0:
            return []
        ids = array("Q", bytes(8 * n))
        call(lib.sheaf_doc_store_multi, self._h, n, data, sizes, ffi.from_buffer("uint64_t[]", ids))
        return ids.tolist()

    def load_multi(self, ids: Iterable[int], *, raw: bool = False) -> List[Any]:
        """The documents with these ids in one C call, ``None`` for free ids."""
        id_buf, n = _ids_arg(ids)
        if n == 0:
            return []
        out = ffi.new("SheafBytes[2]")
        call(lib.sheaf_doc_load_multi, self._h, n, id_buf, out, out + 1)
        return [_decode(d, raw) for d in unpack(out + 0, out + 1)]

    def length_multi(self, ids: Iterable[int]) -> List[Optional[int]]:
        """The stored sizes of these documents, ``None`` for free ids (one C call; it loads
        the documents, as the C ABI has no length-only call)."""
        id_buf, n = _ids_arg(ids)
        if n == 0:
            return []
        out = ffi.new("SheafBytes[2]")
        call(lib.sheaf_doc_load_multi, self._h, n, id_buf, out, out + 1)
        lib.sheaf_bytes_free(out + 0)
        return [None if s == NOT_FOUND else s for s in sizes(out + 1)]

    def update_multi(
        self, ids: Iterable[int], docs: Iterable[Document], mode: Union[int, Mode] = 0
    ) -> None:
        """Replaces documents in one C call and one transaction; all or nothing.

        Raises:
            NoSuchDocumentError: an id is free and ``mode`` lacks ``UPDATE_NEW`` (nothing
                changes).
        """
        id_buf, n = _ids_arg(ids)
        data, sizes, nd = pack([_encode(d) for d in docs], "documents")
        if n != nd:
            raise ValueError(f"update_multi got {n} ids but {nd} documents")
        m = mode_arg(mode)
        if n == 0:
            return
        call(lib.sheaf_doc_update_multi, self._h, n, id_buf, data, sizes, m)

    def erase_multi(self, ids: Iterable[int]) -> None:
        """Erases documents in one C call and one transaction; all or nothing.

        Raises:
            NoSuchDocumentError: an id is free (nothing is erased).
        """
        id_buf, n = _ids_arg(ids)
        if n == 0:
            return
        call(lib.sheaf_doc_erase_multi, self._h, n, id_buf)

    # -- listing ---------------------------------------------------------------------------------
    def list_docs(
        self,
        start_id: int = 0,
        count: Optional[int] = None,
        filter: Optional[Mapping[str, Any]] = None,
        *,
        raw: bool = False,
    ) -> List[Tuple[int, Any]]:
        """Up to ``count`` ``(id, document)`` pairs with id >= ``start_id``, in id order, in one
        C call.

        Args:
            count: the most documents to return; ``None`` for no limit.
            filter: keep documents whose top-level fields equal all of these (sent to the
                library as JSON; see the module documentation).
            raw: return the stored ``bytes`` of every document.
        """
        if count is None:
            n = SIZE_MAX
        else:
            if isinstance(count, bool) or not isinstance(count, int):
                raise TypeError(f"count must be an int or None, not {type(count).__name__}")
            if count < 0:
                raise ValueError(f"count must be >= 0, not {count}")
            n = min(count, SIZE_MAX)
        if filter is None:
            f: Any = NULL
            fn = 0
        elif isinstance(filter, Mapping):
            f = _encode(filter, "filter")
            fn = len(f)
        else:
            raise TypeError(f"filter must be a dict or None, not {type(filter).__name__}")
        out = ffi.new("SheafBytes[3]")
        call(lib.sheaf_doc_list, self._h, _id_arg(start_id), n, f, fn, out, out + 1, out + 2)
        ids = sizes(out + 0)  # uint64_t ids, laid out as the sizes are
        docs = unpack(out + 1, out + 2)
        return [(i, _decode(d, raw)) for i, d in zip(ids, docs)]

    def items(
        self,
        start_id: int = 0,
        filter: Optional[Mapping[str, Any]] = None,
        *,
        raw: bool = False,
        page_size: int = _PAGE,
    ) -> Iterator[Tuple[int, Any]]:
        """Iterates over ``(id, document)`` pairs in id order, one C call per ``page_size``
        documents (not a snapshot: each page sees the collection as it is then)."""
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, not {page_size}")
        start = start_id
        while True:
            page = self.list_docs(start, page_size, filter, raw=raw)
            yield from page
            if len(page) < page_size or page[-1][0] == (1 << 64) - 1:
                return
            start = page[-1][0] + 1

    def __iter__(self) -> Iterator[Tuple[int, Any]]:
        return self.items()
