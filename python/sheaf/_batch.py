"""Batch calls of :class:`sheaf.Library` (ArcticDB's ``*_batch`` methods): one C call per batch,
one result per item, a :class:`DataError` in place of an item that failed.

A batch is not atomic across symbols: each item commits (or fails) on its own. A symbol named
twice in a writing batch fails the whole batch (:class:`sheaf.InvalidArgumentError`, nothing
written), as in ArcticDB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import _arrow_c, _convert, _metadata
from . import _timeseries as _ts
from ._lib import check, errslot, ffi, lib, take_bytes
from .errors import SheafError, error_class

__all__ = [
    "WritePayload",
    "UpdatePayload",
    "ReadRequest",
    "ReadInfoRequest",
    "DeleteRequest",
    "DataError",
]

Handle = Any
#: Builds the result of a committed item: (symbol, version, metadata, info or None).
MakeCommitted = Callable[[str, int, Any, Optional[Dict[str, Any]]], Any]
#: Builds the result of a read item: (info, data, metadata).
MakeRead = Callable[[Dict[str, Any], Any, Any], Any]


class WritePayload:
    """One item of :meth:`Library.write_batch` / :meth:`Library.append_batch`.

    Args:
        symbol: the symbol.
        data: anything :meth:`Library.write` takes.
        metadata: the version's metadata (``None`` = none).
        index: the Sheaf index column, as in :meth:`Library.write` (default: detected).
    """

    __slots__ = ("data", "index", "metadata", "symbol")

    def __init__(
        self, symbol: str, data: Any, metadata: Any = None, *, index: Any = _convert.AUTO
    ) -> None:
        self.symbol = symbol
        self.data = data
        self.metadata = metadata
        self.index = index

    def __repr__(self) -> str:
        return f"WritePayload({self.symbol!r}, <{type(self.data).__name__}>, {self.metadata!r})"


class UpdatePayload:
    """One item of :meth:`Library.update_batch`: ``data`` replaces the span of its index (or
    ``date_range``) in ``symbol``, as in :meth:`Library.update`."""

    __slots__ = ("data", "date_range", "metadata", "symbol")

    def __init__(
        self, symbol: str, data: Any, metadata: Any = None, date_range: Any = None
    ) -> None:
        self.symbol = symbol
        self.data = data
        self.metadata = metadata
        self.date_range = date_range

    def __repr__(self) -> str:
        return (
            f"UpdatePayload({self.symbol!r}, <{type(self.data).__name__}>, {self.metadata!r}, "
            f"date_range={self.date_range!r})"
        )


class ReadRequest(NamedTuple):
    """One item of :meth:`Library.read_batch`; the fields are those of :meth:`Library.read`."""

    symbol: str
    as_of: Any = None
    date_range: Any = None
    row_range: Any = None
    columns: Optional[List[str]] = None
    #: A :class:`sheaf.QueryBuilder` for this item (``None``: the batch's shared one, if any).
    query_builder: Any = None


class ReadInfoRequest(NamedTuple):
    """One item of :meth:`Library.read_metadata_batch`."""

    symbol: str
    as_of: Any = None


class DeleteRequest(NamedTuple):
    """One item of :meth:`Library.delete_batch`: ``version_ids`` ``None`` deletes the symbol."""

    symbol: str
    version_ids: Optional[Sequence[int]] = None


_CATEGORIES = {
    100: "GENERIC",
    200: "STORAGE",
    300: "NOT_FOUND",
    400: "CONFLICT",
    500: "SCHEMA",
    600: "INVALID_ARGUMENT",
    700: "CLOSED",
    900: "INTERNAL",
}


@dataclass(frozen=True)
class DataError:
    """Stands in a batch result for an item that failed (ArcticDB's ``DataError``).

    Attributes:
        symbol: the item's symbol.
        version_request: what the item asked for: the ``as_of`` of a read, the versions of a
            delete, ``None`` for writes.
        error_code: the library's status code (e.g. 302).
        error_category: the code's range: ``"NOT_FOUND"``, ``"SCHEMA"``, ``"CONFLICT"``,
            ``"INVALID_ARGUMENT"``, ``"STORAGE"``, ``"CLOSED"``, ``"INTERNAL"`` or
            ``"GENERIC"``.
        exception_string: the library's message.
        status_name: the code's constant name (e.g. ``"SHEAF_ERR_NO_SUCH_SYMBOL"``).
    """

    symbol: str
    version_request: Any
    error_code: int
    error_category: str
    exception_string: str
    status_name: str

    def exception(self) -> SheafError:
        """The exception the same failure raises outside a batch (not raised here)."""
        return error_class(self.error_code)(
            self.exception_string, self.error_code, self.status_name
        )

    def __str__(self) -> str:
        return f"{self.symbol}: [{self.status_name}] {self.exception_string}"


def _data_error(symbol: str, request: Any, doc: Dict[str, Any]) -> DataError:
    code = int(doc.get("code", 100))
    return DataError(
        symbol=symbol,
        version_request=request,
        error_code=code,
        error_category=_CATEGORIES.get((code // 100) * 100, "GENERIC"),
        exception_string=str(doc.get("message", "")),
        status_name=str(doc.get("name", "")),
    )


def _items_bytes(items: List[Dict[str, Any]]) -> bytes:
    return json.dumps(items, separators=(",", ":")).encode()


def _symbol(value: Any) -> str:
    _ts.name_bytes(value, "symbol")
    return str(value)


# --------------------------------------------------------------------------------------------
# Writing batches
# --------------------------------------------------------------------------------------------


def commit_batch(
    h: Handle,
    kind: str,
    payloads: Sequence[Any],
    options: Callable[[Any, Optional[str]], Dict[str, Any]],
    make: MakeCommitted,
) -> List[Any]:
    """``kind`` is ``"write"``, ``"append"`` or ``"update"``; ``options(payload, chosen_index)``
    gives each item's options document."""
    fn = {
        "write": lib.sheaf_table_write_batch,
        "append": lib.sheaf_table_append_batch,
        "update": lib.sheaf_table_update_batch,
    }[kind]
    payloads = list(payloads)
    want = UpdatePayload if kind == "update" else WritePayload
    for p in payloads:
        if not isinstance(p, want):
            raise TypeError(f"{kind}_batch takes {want.__name__} objects, not {type(p).__name__}")
    n = len(payloads)
    if n == 0:
        return []
    streams = ffi.new("struct ArrowArrayStream[]", n)
    slices = ffi.new("SheafSlice[]", n)
    keep: List[Any] = []
    items: List[Dict[str, Any]] = []
    try:
        for i, p in enumerate(payloads):
            symbol = _symbol(p.symbol)
            meta = _ts.metadata_bytes(p.metadata)
            if meta is not None:
                buf = ffi.from_buffer("uint8_t[]", meta)
                keep.append(buf)
                slices[i].data = buf
                slices[i].len = len(meta)
            index = getattr(p, "index", _convert.AUTO)
            chosen = _convert.export_input(p.data, streams + i, index)
            doc = options(p, chosen)
            items.append({"symbol": symbol, "options": doc} if doc else {"symbol": symbol})
        text = _items_bytes(items)
    except BaseException:
        for i in range(n):
            _arrow_c.release_stream(streams + i)
        raise
    out = ffi.new("SheafBytes *")
    slot = errslot()
    check(fn(h, text, len(text), streams, slices, n, out, slot), slot)
    results = json.loads(take_bytes(out))
    done = [(p.symbol, int(r["version"])) for p, r in zip(payloads, results) if "error" not in r]
    infos = iter(committed_infos(h, done))
    output: List[Any] = []
    for p, r in zip(payloads, results):
        if "error" in r:
            output.append(_data_error(p.symbol, None, r["error"]))
        else:
            output.append(make(p.symbol, int(r["version"]), p.metadata, next(infos)))
    return output


def committed_infos(h: Handle, done: List[Tuple[str, int]]) -> List[Optional[Dict[str, Any]]]:
    """The infos of versions just committed, in one call (``None`` where one is gone)."""
    if not done:
        return []
    items = [{"symbol": s, "options": {"as_of": v}} for s, v in done]
    text = _items_bytes(items)
    metas = ffi.new("SheafBytes[]", len(done))
    out = ffi.new("SheafBytes *")
    slot = errslot()
    try:
        check(
            lib.sheaf_table_read_metadata_batch(h, text, len(text), metas, len(done), out, slot),
            slot,
        )
    finally:
        for i in range(len(done)):
            lib.sheaf_bytes_free(metas + i)
    return [r.get("info") for r in json.loads(take_bytes(out))]


# --------------------------------------------------------------------------------------------
# Reading batches
# --------------------------------------------------------------------------------------------


def _read_request(item: Any) -> ReadRequest:
    if isinstance(item, str):
        return ReadRequest(item)
    if isinstance(item, ReadRequest):
        return item
    raise TypeError(f"read_batch takes symbols (str) or ReadRequest objects, not {item!r}")


def _bind(
    reread: Callable[[str, Dict[str, Any]], Tuple[Any, Dict[str, Any], Any]], symbol: str
) -> Callable[[Dict[str, Any]], Tuple[Any, Dict[str, Any], Any]]:
    return lambda again: reread(symbol, again)


def read_batch(
    h: Handle,
    requests: Sequence[Any],
    fmt: str,
    make: MakeRead,
    reread: Callable[[str, Dict[str, Any]], Tuple[Any, Dict[str, Any], Any]],
    query_builder: Any = None,
) -> List[Any]:
    """Reads a batch; ``query_builder`` applies to the items without one of their own."""
    reqs = [_read_request(r) for r in requests]
    n = len(reqs)
    if n == 0:
        return []
    _ts.query_value(query_builder)  # type-checked even when every item has its own
    docs = [
        _ts.read_options(
            r.as_of,
            r.date_range,
            r.row_range,
            r.columns,
            query_builder if r.query_builder is None else r.query_builder,
        )
        for r in reqs
    ]
    items = [
        {"symbol": _symbol(r.symbol), "options": d} if d else {"symbol": _symbol(r.symbol)}
        for r, d in zip(reqs, docs)
    ]
    text = _items_bytes(items)
    streams = ffi.new("struct ArrowArrayStream[]", n)
    metas = ffi.new("SheafBytes[]", n)
    out = ffi.new("SheafBytes *")
    slot = errslot()
    results: List[Any] = []
    try:
        check(lib.sheaf_table_read_batch(h, text, len(text), streams, metas, n, out, slot), slot)
        outcome = json.loads(take_bytes(out))
        for i, (req, doc, res) in enumerate(zip(reqs, docs, outcome)):
            meta_raw = take_bytes(metas + i)
            if "error" in res:
                results.append(_data_error(req.symbol, req.as_of, res["error"]))
                continue
            info = res["info"]
            metadata = _metadata.decode(meta_raw) if info.get("has_metadata") else None
            data = _ts.import_data(streams + i, fmt, info, doc, _bind(reread, req.symbol))
            results.append(make(info, data, metadata))
    finally:
        for i in range(n):
            _arrow_c.release_stream(streams + i)
            lib.sheaf_bytes_free(metas + i)
    return results


def read_metadata_batch(
    h: Handle, symbols: Sequence[Any], as_ofs: Optional[Sequence[Any]], make: MakeRead
) -> List[Any]:
    reqs: List[ReadInfoRequest] = []
    for item in symbols:
        if isinstance(item, str):
            reqs.append(ReadInfoRequest(item))
        elif isinstance(item, (ReadInfoRequest, ReadRequest)):
            reqs.append(ReadInfoRequest(item.symbol, item.as_of))
        else:
            raise TypeError(
                f"read_metadata_batch takes symbols (str) or ReadInfoRequest objects, not {item!r}"
            )
    if as_ofs is not None:
        as_ofs = list(as_ofs)
        if len(as_ofs) != len(reqs):
            raise ValueError(
                f"as_ofs has {len(as_ofs)} entries for {len(reqs)} symbols; give one per symbol"
            )
        reqs = [ReadInfoRequest(r.symbol, a) for r, a in zip(reqs, as_ofs)]
    n = len(reqs)
    if n == 0:
        return []
    items: List[Dict[str, Any]] = []
    for r in reqs:
        value = _ts.as_of_value(r.as_of)
        entry: Dict[str, Any] = {"symbol": _symbol(r.symbol)}
        if value is not None:
            entry["options"] = {"as_of": value}
        items.append(entry)
    text = _items_bytes(items)
    metas = ffi.new("SheafBytes[]", n)
    out = ffi.new("SheafBytes *")
    slot = errslot()
    results: List[Any] = []
    try:
        check(lib.sheaf_table_read_metadata_batch(h, text, len(text), metas, n, out, slot), slot)
        for i, (req, res) in enumerate(zip(reqs, json.loads(take_bytes(out)))):
            meta_raw = take_bytes(metas + i)
            if "error" in res:
                results.append(_data_error(req.symbol, req.as_of, res["error"]))
                continue
            info = res["info"]
            metadata = _metadata.decode(meta_raw) if info.get("has_metadata") else None
            results.append(make(info, None, metadata))
    finally:
        for i in range(n):
            lib.sheaf_bytes_free(metas + i)
    return results


# --------------------------------------------------------------------------------------------
# Deleting batch
# --------------------------------------------------------------------------------------------


def _delete_request(item: Any) -> Tuple[str, Optional[List[int]]]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, DeleteRequest) or (isinstance(item, tuple) and len(item) == 2):
        symbol, versions = item
        if versions is None:
            return symbol, None
        if isinstance(versions, bool):
            raise TypeError("versions must be an int or a list of ints")
        listed = [versions] if isinstance(versions, int) else list(versions)
        for v in listed:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise TypeError(f"version numbers are non-negative ints, not {v!r}")
        return symbol, listed
    raise TypeError(f"delete_batch takes symbols (str) or DeleteRequest objects, not {item!r}")


def delete_batch(h: Handle, requests: Sequence[Any]) -> List[Optional[DataError]]:
    reqs = [_delete_request(r) for r in requests]
    if not reqs:
        return []
    items = [{"symbol": _symbol(s), "options": {"versions": v}} for s, v in reqs]
    text = _items_bytes(items)
    out = ffi.new("SheafBytes *")
    slot = errslot()
    check(lib.sheaf_table_delete_batch(h, text, len(text), out, slot), slot)
    return [
        _data_error(s, v, r["error"]) if "error" in r else None
        for (s, v), r in zip(reqs, json.loads(take_bytes(out)))
    ]
