"""polars LazyFrames over Sheaf symbols, through polars' IO-plugin interface.

:func:`scan` pins one version of a symbol and returns a ``polars.LazyFrame``. When polars
collects it (eagerly or with the streaming engine), the column selection, the filters and a row
limit it pushes into the scan become a Sheaf read: only the needed columns are loaded, filters on
integer, string, bool and timestamp columns (comparisons with a literal, ``is_between``,
``is_null`` / ``is_not_null``, a bare bool column, joined by ``&``) skip the segments their
statistics rule out, and a limit stops the read early. Each batch polars receives is one stored
segment, so a symbol larger than memory can be scanned.

polars also re-applies its whole predicate to every batch, so what Sheaf cannot express (float
comparisons, whose NaN rules differ, ``is_in``, arithmetic, ``|``) is still filtered exactly,
only without skipping segments.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ._query import ExpressionNode, QueryBuilder

if TYPE_CHECKING:
    from .library import Library

__all__ = ["scan", "pushdown"]

_COMPARISONS = {"Eq": "==", "NotEq": "!=", "Lt": "<", "LtEq": "<=", "Gt": ">", "GtEq": ">="}
#: The operator with its operands swapped: ``5 < a`` is ``a > 5``.
_MIRRORED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_UNIT_NS = {"Nanoseconds": 1, "Microseconds": 1_000, "Milliseconds": 1_000_000}


def _kind(dtype: Any) -> Optional[str]:
    """The literal kind Sheaf can compare a column of polars type ``dtype`` with, if any."""
    import polars as pl

    if dtype.is_integer():
        return "int"
    if dtype == pl.String:
        return "str"
    if dtype == pl.Boolean:
        return "bool"
    if isinstance(dtype, pl.Datetime):
        return "ts"
    return None


def _literal(doc: Any, kind: str) -> Optional[ExpressionNode]:
    """A Sheaf operand for the polars literal ``doc`` compared with a ``kind`` column (``None``
    when it does not fit the column)."""
    if isinstance(doc, dict) and set(doc) == {"Alias"}:
        doc = doc["Alias"][0]
    lit = doc.get("Literal") if isinstance(doc, dict) else None
    if not isinstance(lit, dict) or len(lit) != 1:
        return None
    ((_, value),) = lit.items()  # {"Dyn": {...}} or {"Scalar": {...}}
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((tag, payload),) = value.items()
    if (
        kind == "int"
        and isinstance(payload, int)
        and not isinstance(payload, bool)
        and tag.startswith(("Int", "UInt"))
    ):
        return ExpressionNode({"lit": payload})
    if kind == "str" and tag == "String" and isinstance(payload, str):
        return ExpressionNode({"lit": payload})
    if kind == "bool" and tag == "Boolean" and isinstance(payload, bool):
        return ExpressionNode({"lit": payload})
    if kind == "ts" and tag == "Datetime" and isinstance(payload, list) and len(payload) == 3:
        raw, unit = payload[0], payload[1]
        if isinstance(raw, int) and unit in _UNIT_NS:
            return ExpressionNode({"ts": raw * _UNIT_NS[unit]})
    return None


def _column(doc: Any, kinds: Dict[str, str]) -> Optional[Tuple[str, str]]:
    if isinstance(doc, dict) and isinstance(doc.get("Column"), str) and doc["Column"] in kinds:
        return doc["Column"], kinds[doc["Column"]]
    return None


def _condition(doc: Any, kinds: Dict[str, str]) -> Optional[ExpressionNode]:
    """The Sheaf filter equal to one polars condition, or ``None`` when it has none."""
    col = _column(doc, kinds)
    if col is not None:
        name, kind = col
        return ExpressionNode.column(name) if kind == "bool" else None
    if not isinstance(doc, dict):
        return None
    binary = doc.get("BinaryExpr")
    if isinstance(binary, dict) and binary.get("op") in _COMPARISONS:
        op = _COMPARISONS[binary["op"]]
        left, right = binary.get("left"), binary.get("right")
        col = _column(left, kinds)
        if col is None:
            col, op, right = _column(right, kinds), _MIRRORED[op], left
        if col is None:
            return None
        value = _literal(right, col[1])
        if value is None:
            return None
        node = ExpressionNode.column(col[0])
        return {
            "==": node.__eq__,
            "!=": node.__ne__,
            "<": node.__lt__,
            "<=": node.__le__,
            ">": node.__gt__,
            ">=": node.__ge__,
        }[op](value)
    function = doc.get("Function")
    if isinstance(function, dict):
        inputs = function.get("input") or []
        spec = function.get("function")
        col = _column(inputs[0], kinds) if inputs else None
        if col is None:
            return None
        node = ExpressionNode.column(col[0])
        if spec == {"Boolean": "IsNull"} and len(inputs) == 1:
            return node.isnull()
        if spec == {"Boolean": "IsNotNull"} and len(inputs) == 1:
            return node.notnull()
        between = spec.get("Boolean", {}).get("IsBetween") if isinstance(spec, dict) else None
        if isinstance(between, dict) and len(inputs) == 3:
            low, high = _literal(inputs[1], col[1]), _literal(inputs[2], col[1])
            closed = between.get("closed")
            if low is None or high is None or closed not in ("Both", "Left", "Right", "None"):
                return None
            lower = node >= low if closed in ("Both", "Left") else node > low
            upper = node <= high if closed in ("Both", "Right") else node < high
            return lower & upper
    return None


def _conjuncts(doc: Any) -> List[Any]:
    binary = doc.get("BinaryExpr") if isinstance(doc, dict) else None
    if isinstance(binary, dict) and binary.get("op") in ("And", "LogicalAnd"):
        return _conjuncts(binary.get("left")) + _conjuncts(binary.get("right"))
    return [doc]


def pushdown(predicate: Any, schema: Any) -> Tuple[Optional[ExpressionNode], bool]:
    """The part of the polars ``predicate`` Sheaf can apply to a symbol with polars
    ``schema``, and whether that part is all of it. Conditions Sheaf cannot express exactly are
    left out (polars applies them)."""
    if predicate is None:
        return None, True
    try:
        doc = json.loads(predicate.meta.serialize(format="json"))
    except Exception:  # an expression polars cannot serialise is not pushed
        return None, False
    kinds = {name: k for name, dtype in schema.items() if (k := _kind(dtype)) is not None}
    pushed: Optional[ExpressionNode] = None
    complete = True
    for part in _conjuncts(doc):
        condition = _condition(part, kinds)
        if condition is None:
            complete = False
            continue
        pushed = condition if pushed is None else pushed & condition
    return pushed, complete


def scan(library: Library, symbol: str, as_of: Any = None) -> Any:
    """A ``polars.LazyFrame`` over version ``as_of`` (as in :meth:`Library.read`; the latest
    by default, pinned now: later writes do not change what it reads) of ``symbol``.

    Raises:
        ImportError: polars is not installed.
        NoSuchSymbolError, NoSuchVersionError: as :meth:`Library.read`.
    """
    import polars as pl
    from polars.io.plugins import register_io_source

    head = library.read(symbol, as_of=as_of, row_range=(0, 0), output_format="polars")
    version = head.version
    schema = head.data.schema

    def source(
        with_columns: Optional[List[str]],
        predicate: Any,
        n_rows: Optional[int],
        batch_size: Optional[int],
    ) -> Iterator[Any]:
        pushed, complete = pushdown(predicate, schema)
        needed: Optional[Sequence[str]] = None
        if with_columns is not None:
            wanted = list(with_columns)
            if predicate is not None:
                wanted += [c for c in predicate.meta.root_names() if c not in wanted]
            needed = wanted
        query = QueryBuilder()
        if pushed is not None:
            query = query[pushed]
        # A limit is Sheaf's only when Sheaf applies the whole filter before it.
        if n_rows is not None and complete:
            query = query.head(n_rows)
        item = library.read(
            symbol,
            as_of=version,
            columns=needed,
            query_builder=query if len(query) else None,
            output_format="reader",
        )
        left = n_rows
        for batch in item.data:
            frame = pl.from_arrow(batch)
            if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a batch is a table
                frame = frame.to_frame()
            if predicate is not None:
                frame = frame.filter(predicate)
            if with_columns is not None:
                frame = frame.select(with_columns)
            if left is not None:
                frame = frame.head(left)
                left -= frame.height
            if frame.height:
                yield frame
            if left is not None and left <= 0:
                return

    return register_io_source(source, schema=schema)
