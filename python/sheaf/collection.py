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

Yokan's Python forms
    ``store_packed(documents, doc_sizes)``, ``update_packed``, ``load_packed`` into your buffer
    and ``list_docs_packed`` take and give documents packed in one buffer with a list of sizes
    (the stored bytes as they are: no JSON encoding or decoding); ``fetch``, ``fetch_multi`` and
    ``iter`` call ``callback(index, id, document)`` as Yokan's do. Each method's documentation
    says where it differs from Yokan.

Every method is one C call (``*_multi`` forms pack their input into one buffer first); the
iterators (``items``, ``iter``) are one call per page. Safe to share between threads.
"""

from __future__ import annotations

import json
from array import array
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Tuple, Union, cast

from ._handle import Handle, StoreLike
from ._lib import NULL, call, ffi, lib, take_bytes
from ._packed import (
    NOT_FOUND,
    SIZE_MAX,
    buffer_arg,
    pack,
    packed_arg,
    place,
    sizes,
    unpack,
    writable_buffer_arg,
)
from .errors import BufferTooSmallError, InvalidArgumentError
from .kv import Mode, batch_size_arg, callback_arg, mode_arg, modeless_arg

__all__ = ["Collection", "Document", "DocumentCallback"]

#: What ``store``/``update`` take: a ``dict`` (stored as JSON) or ``str``/bytes-like (raw).
Document = Union[Mapping[str, Any], str, bytes, bytearray, memoryview, Any]
#: The callback of :meth:`Collection.fetch`, :meth:`Collection.fetch_multi` and
#: :meth:`Collection.iter`: ``callback(index, id, document)``, as in Yokan's Python binding
#: (``document`` is ``None`` for a free id). Its result is ignored; an exception it raises stops
#: the call and propagates.
DocumentCallback = Callable[[int, int, Any], Any]

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


def _filter_arg(filter: Any) -> Tuple[Any, int]:
    """A listing filter as (JSON text or NULL, length): ``None``, a ``dict``, or Yokan's
    default empty filter (``b""`` / ``""``), which means none."""
    if filter is None:
        return NULL, 0
    if isinstance(filter, Mapping):
        f = _encode(filter, "filter")
        return f, len(f)
    if isinstance(filter, (str, bytes)) and not filter:
        return NULL, 0
    raise TypeError(
        f"filter must be a dict (or None / empty for no filter), not {type(filter).__name__}"
    )


def _count(count: Optional[int]) -> int:
    if count is None:
        return SIZE_MAX
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int or None, not {type(count).__name__}")
    if count < 0:
        raise ValueError(f"count must be >= 0, not {count}")
    return min(count, SIZE_MAX)


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
        if filter is not None and not isinstance(filter, Mapping):
            raise TypeError(f"filter must be a dict or None, not {type(filter).__name__}")
        out = self._list_call(start_id, _count(count), filter)
        ids = sizes(out + 0)  # uint64_t ids, laid out as the sizes are
        docs = unpack(out + 1, out + 2)
        return [(i, _decode(d, raw)) for i, d in zip(ids, docs)]

    def _list_call(self, start_id: int, n: int, filter: Any) -> Any:
        """One ``sheaf_doc_list`` call; returns its three ``SheafBytes`` (ids, documents,
        sizes) for the caller to unpack or place (and so free)."""
        f, fn = _filter_arg(filter)
        out = ffi.new("SheafBytes[3]")
        call(lib.sheaf_doc_list, self._h, _id_arg(start_id), n, f, fn, out, out + 1, out + 2)
        return out

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

    # -- Yokan's packed forms (one C call each; the stored bytes as they are) ---------------------
    def store_packed(
        self, documents: Any, doc_sizes: Iterable[int], mode: Union[int, Mode] = 0
    ) -> List[int]:
        """Stores ``len(doc_sizes)`` documents given one after the other in ``documents``
        (``doc_sizes[i]`` bytes each; stored as they are, no JSON encoding) in one C call and
        one transaction, without copying your buffer; returns their (consecutive) ids.

        As Yokan's ``store_packed(documents, doc_sizes, mode)``. ``mode`` is there for Yokan's
        signature: the C call takes none, so only ``NO_RDMA`` (ignored) is accepted.

        Raises:
            InvalidArgumentError: the sizes add up to more than ``documents`` holds.
        """
        data, dsizes, n = packed_arg(documents, doc_sizes, "documents")
        modeless_arg(mode, "store_packed")
        if n == 0:
            return []
        ids = array("Q", bytes(8 * n))
        call(
            lib.sheaf_doc_store_multi, self._h, n, data, dsizes, ffi.from_buffer("uint64_t[]", ids)
        )
        return ids.tolist()

    def update_packed(
        self,
        ids: Iterable[int],
        documents: Any,
        doc_sizes: Iterable[int],
        mode: Union[int, Mode] = 0,
    ) -> None:
        """Replaces the documents with these ids by packed documents (as :meth:`store_packed`
        takes them) in one C call and one transaction; all or nothing, as
        :meth:`update_multi`.

        As Yokan's ``update_packed(ids, documents, doc_sizes, mode)`` (which returns the ids).

        Raises:
            InvalidArgumentError: ``ids`` and ``doc_sizes`` differ in length, or the sizes add
                up to more than ``documents`` holds.
            NoSuchDocumentError: an id is free and ``mode`` lacks ``UPDATE_NEW`` (nothing
                changes).
        """
        id_buf, n = _ids_arg(ids)
        data, dsizes, nd = packed_arg(documents, doc_sizes, "documents")
        if n != nd:
            raise InvalidArgumentError(f"update_packed got {n} ids but {nd} document sizes")
        m = mode_arg(mode)
        if n == 0:
            return
        call(lib.sheaf_doc_update_multi, self._h, n, id_buf, data, dsizes, m)

    def load_packed(
        self, ids: Iterable[int], buffer: Any, mode: Union[int, Mode] = 0
    ) -> List[Optional[int]]:
        """Copies the stored bytes of these documents into your writable ``buffer``, one after
        the other, in one C call, and returns each one's size: ``None`` for a free id, ``-1``
        for a document that did not fit (and every later one, as in Yokan's packed calls and
        :meth:`KeySpace.get_packed`).

        As Yokan's ``load_packed(ids, buffer, mode)``; ``mode`` as in :meth:`store_packed`.

        Raises:
            ReadOnlyBufferError, NonContiguousBufferError: ``buffer`` cannot be written.
        """
        id_buf, n = _ids_arg(ids)
        buf, capacity = writable_buffer_arg(buffer, "buffer")
        modeless_arg(mode, "load_packed")
        if n == 0:
            return []
        out = ffi.new("SheafBytes[2]")
        call(lib.sheaf_doc_load_multi, self._h, n, id_buf, out, out + 1)
        return place(out + 0, out + 1, buf, capacity)

    def list_docs_packed(
        self,
        start_id: int,
        buffer: Any,
        count: int,
        filter: Union[Mapping[str, Any], str, bytes, None] = None,
        mode: Union[int, Mode] = 0,
    ) -> List[Tuple[int, int]]:
        """Lists up to ``count`` documents with id >= ``start_id`` (and matching ``filter``, as
        in :meth:`list_docs`) into your writable ``buffer``, one after the other, in one C
        call; returns ``(id, size)`` per document found, size ``-1`` for one that did not fit
        (and every later one).

        As Yokan's ``list_docs_packed(start_id, buffer, count, filter, mode)``, except that
        ``filter`` is Sheaf's (a ``dict`` of top-level fields; ``None`` or Yokan's empty
        default: every document); ``mode`` as in :meth:`store_packed`.
        """
        buf, capacity = writable_buffer_arg(buffer, "buffer")
        modeless_arg(mode, "list_docs_packed")
        out = self._list_call(start_id, _count(count), filter)
        ids = sizes(out + 0)
        placed = place(out + 1, out + 2, buf, capacity)
        return [(int(i), cast(int, s)) for i, s in zip(ids, placed)]

    # -- Yokan's callback forms ----------------------------------------------------------------
    def fetch(
        self,
        id: int,
        callback: DocumentCallback,
        mode: Union[int, Mode] = 0,
        *,
        raw: bool = False,
    ) -> None:
        """Calls ``callback(0, id, document)`` with the document (``None`` for a free id); one
        C call. As Yokan's ``fetch(id, callback, mode)``, except that the document is decoded
        as :meth:`load` does (a ``dict`` for a JSON object, else ``bytes``; ``raw=True``:
        always ``bytes``) where Yokan passes a memoryview valid during the callback. ``mode``
        as in :meth:`store_packed`.

        Raises:
            Whatever ``callback`` raises.
        """
        self.fetch_multi([id], callback, mode, raw=raw)

    def fetch_multi(
        self,
        ids: Iterable[int],
        callback: DocumentCallback,
        mode: Union[int, Mode] = 0,
        batch_size: int = 0,
        *,
        raw: bool = False,
    ) -> None:
        """Calls ``callback(i, ids[i], document)`` for each id in order (``None`` for a free
        id), loading the documents with one :meth:`load_multi` call — one per ``batch_size``
        ids when ``batch_size`` > 0. As Yokan's ``fetch_multi(ids, callback, mode,
        batch_size)``; documents as in :meth:`fetch`.

        Raises:
            Whatever ``callback`` raises (later callbacks are not made).
        """
        callback_arg(callback, "fetch_multi")
        seq = ids if isinstance(ids, (list, tuple)) else list(ids)
        _ids_arg(seq)  # every id is checked before the first batch is read
        step = batch_size_arg(batch_size) or len(seq)
        modeless_arg(mode, "fetch_multi")
        for start in range(0, len(seq), max(step, 1)):
            chunk = seq[start : start + step]
            docs = self.load_multi(chunk, raw=raw)
            for i, (doc_id, doc) in enumerate(zip(chunk, docs), start):
                callback(i, doc_id, doc)

    def iter(
        self,
        callback: DocumentCallback,
        from_id: int = 0,
        filter: Union[Mapping[str, Any], str, bytes, None] = None,
        count: Optional[int] = 0,
        mode: Union[int, Mode] = 0,
        batch_size: int = 0,
        *,
        raw: bool = False,
    ) -> None:
        """Calls ``callback(i, id, document)`` for each document with id >= ``from_id`` (and
        matching ``filter``) in id order, reading them ``batch_size`` at a time (one C call
        each; 0: 1000). As Yokan's ``iter(callback, from_id, filter, count, mode,
        batch_size)``: ``count`` 0 (or ``None``) means all; ``filter`` and documents as in
        :meth:`list_docs_packed` and :meth:`fetch`; ``mode`` as in :meth:`store_packed`. Not a
        snapshot: each batch sees the collection as it is when it is read.

        Raises:
            Whatever ``callback`` raises (the iteration stops).
        """
        callback_arg(callback, "iter")
        remaining = None if count is None or count == 0 else _count(count)
        page = batch_size_arg(batch_size) or _PAGE
        modeless_arg(mode, "iter")
        _filter_arg(filter)
        start = _id_arg(from_id)
        index = 0
        while True:
            want = page if remaining is None else min(page, remaining)
            if want == 0:
                return
            out = self._list_call(start, want, filter)
            ids = sizes(out + 0)
            docs = unpack(out + 1, out + 2)
            for doc_id, doc in zip(ids, docs):
                callback(index, int(doc_id), _decode(doc, raw))
                index += 1
            if remaining is not None:
                remaining -= len(ids)
            if len(ids) < want or ids[-1] == (1 << 64) - 1:
                return
            start = ids[-1] + 1
