"""The query builder (ArcticDB's ``QueryBuilder``): filters, projections, group-bys, resampling
and row selections that the library runs while it reads, as one JSON query plan
(``docs/query-plan.md``).

It only builds the plan and calls nothing, so it knows no store or library: it imports only the
option encoding. :mod:`sheaf.query` is its public face (with ``LazyDataFrame``, which reads and
therefore lives in :mod:`sheaf.library`).

::

    from sheaf import QueryBuilder, where

    q = QueryBuilder()
    q = q[(q["price"] > 100) & q["ticker"].isin(["AAPL", "MSFT"])]
    q["notional"] = q["price"] * q["qty"]
    q = q.groupby("ticker").agg({"total": ("notional", "sum"), "trades": ("qty", "count")})
    lib.read("trades", query_builder=q).data       # indexed by ticker, sorted

    lazy = lib.read("trades", lazy=True)           # a LazyDataFrame: the same methods
    lazy = lazy[lazy["qty"] > 0].head(10)
    lazy.collect().data                            # one read

Nothing is evaluated in Python: each method returns a new builder with one more clause (the
builder it was called on stays as it was), :meth:`to_json` shows the plan, and
``Library.read(query_builder=q)`` sends it with the read (the library type-checks it against
the version's schema before loading any segment and skips the segments that leading filters
prove empty from their statistics).

Expressions (:class:`ExpressionNode`, made by ``q["column"]``) combine with ``< <= > >= == !=``,
``& | ^ ~`` (Python's ``and``, ``or``, ``not`` cannot be overloaded and raise ``TypeError``),
``+ - * / **``, unary ``-`` and ``abs()``, and the methods ``isin``, ``isnotin``, ``isnull``,
``notnull``, ``regex_match``, ``startswith``, ``endswith`` and ``contains``; :func:`where` is the
element-wise ternary. Literals are ints, floats, bools, strings, numpy scalars and datetimes
(``datetime.datetime``, ``datetime.date``, ``pandas.Timestamp``, ``numpy.datetime64``; a naive
one is UTC, as in ``read(date_range=...)``). ``None`` is not a literal: use ``isnull()``.

Semantics (pandas' where they overlap): a comparison with a missing value (null, or NaN in a
float column) is false, except ``!=`` which is true; a filter keeps the rows where its
expression is true; integer arithmetic wraps, ``/`` is float64 true division.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
from typing import (
    Any,
    Dict,
    Generic,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from . import _options

__all__ = [
    "QueryBuilder",
    "ExpressionNode",
    "GroupBy",
    "Resample",
    "where",
    "AGGREGATIONS",
]

#: The aggregation operators ``agg`` takes.
AGGREGATIONS = ("sum", "mean", "min", "max", "count", "first", "last", "median", "std")
_ORIGINS = ("epoch", "start_day", "start", "end", "end_day")
_SIDES = ("left", "right")

#: A JSON value (what :meth:`QueryBuilder.to_json` is made of).
JSON = Any

_Q = TypeVar("_Q", bound="QueryBuilder")


# --------------------------------------------------------------------------------------------
# Literals
# --------------------------------------------------------------------------------------------


def _none_error(what: str) -> ValueError:
    return ValueError(
        f"{what} cannot be None (nor NaN or NaT): missing values are no literals; test for "
        'them with q["col"].isnull() / q["col"].notnull()'
    )


def _numpy_scalar(value: Any) -> Any:
    """A numpy scalar or 0-d array as the matching Python value (datetimes stay numpy)."""
    if type(value).__name__ == "ndarray" and value.shape == ():
        value = value[()]
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind in ("b", "i", "u", "f", "U", "S"):
        return value.item()
    return value


def _value(value: Any, what: str) -> JSON:
    """The JSON form of a literal: a number, string, bool or ``{"ts": ns}``."""
    if type(value).__module__ == "numpy":
        value = _numpy_scalar(value)
    if value is None or _options.is_nat(value):
        raise _none_error(what)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise _none_error(what)
        if math.isinf(value):
            raise ValueError(
                f"{what} cannot be infinite (JSON has no infinity); compare with the largest "
                "finite value instead, or use isnull()/notnull()"
            )
        return float(value)
    if isinstance(value, str):
        return str(value)
    if _options.is_datetime_like(value):
        try:
            return {"ts": _options.to_ns(value, what)}
        except ValueError:
            raise _none_error(what) from None
    raise TypeError(
        f"{what} must be an int, float, bool, str, datetime (datetime, date, pandas.Timestamp, "
        f"numpy.datetime64) or an expression, not {type(value).__name__}"
    )


def _operand(value: Any, what: str = "a literal") -> JSON:
    """The EXPR document of an operand: an expression's own, or a literal's."""
    if isinstance(value, ExpressionNode):
        return value._doc
    if isinstance(value, QueryBuilder):
        raise TypeError('a QueryBuilder is not an expression: use q["column"] to refer to a column')
    doc = _value(value, what)
    return doc if isinstance(doc, dict) else {"lit": doc}


def _values(values: Any, what: str) -> List[JSON]:
    """The JSON list of the values of ``isin`` / ``isnotin``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        values = [values]
    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind in ("b", "i", "u", "f", "U") and hasattr(values, "tolist"):
        items = list(values.tolist())
    else:
        items = list(values)
    return [_value(v, f"a value of {what}") for v in items]


# --------------------------------------------------------------------------------------------
# Rendering (repr / str)
# --------------------------------------------------------------------------------------------

_INFIX = {
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "and": "&",
    "or": "|",
    "xor": "^",
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "pow": "**",
}
_METHODS = ("isnull", "notnull")
_PATTERN_METHODS = ("regex_match", "startswith", "endswith", "contains")


def _render_ts(ns: Any) -> str:
    if isinstance(ns, int):
        when = _options.EPOCH + _dt.timedelta(microseconds=ns // 1000)
        text = when.strftime("%Y-%m-%dT%H:%M:%S")
        frac = ns % 10**9
        if frac:
            text += f".{frac:09d}".rstrip("0")
        return f"ts({text}Z)"
    return f"ts({ns!r})"


def _render_value(v: JSON) -> str:
    if isinstance(v, dict) and len(v) == 1 and ("ts" in v or "ns" in v):
        return _render_ts(next(iter(v.values())))
    return repr(v)


def _render(doc: JSON) -> str:
    """A Python-like rendering of an EXPR document."""
    if not isinstance(doc, dict):
        return repr(doc)
    if set(doc) == {"col"}:
        return f"col({doc['col']!r})"
    if set(doc) == {"lit"}:
        return repr(doc["lit"])
    if set(doc) == {"ts"}:
        return _render_ts(doc["ts"])
    op = doc.get("op")
    args = doc.get("args", [])
    if not isinstance(args, list):
        args = [args]
    parts = [_render(a) for a in args]
    if op in _INFIX and len(parts) == 2:
        return f"({parts[0]} {_INFIX[op]} {parts[1]})"
    if op == "not" and len(parts) == 1:
        return f"~{parts[0]}"
    if op == "neg" and len(parts) == 1:
        return f"-{parts[0]}"
    if op in ("isin", "isnotin") and len(parts) == 1:
        values = ", ".join(_render_value(v) for v in doc.get("values", []))
        return f"{parts[0]}.{op}([{values}])"
    if op in _METHODS and len(parts) == 1:
        return f"{parts[0]}.{op}()"
    if op in _PATTERN_METHODS and len(parts) == 1:
        return f"{parts[0]}.{op}({doc.get('pattern')!r})"
    extra = "".join(f", {k}={v!r}" for k, v in doc.items() if k not in ("op", "args"))
    return f"{op}({', '.join(parts)}{extra})"


def _render_aggs(aggs: Any) -> str:
    if not isinstance(aggs, list):
        return repr(aggs)
    items = []
    for a in aggs:
        if isinstance(a, dict):
            items.append(f"{a.get('name')!r}: ({a.get('column')!r}, {a.get('op')!r})")
        else:
            items.append(repr(a))
    return "{" + ", ".join(items) + "}"


#: The clause :meth:`QueryBuilder.concat` adds: Python splits a batch read's plan there (the
#: library runs the parts before and after it, see ``Library.read_batch``).
CONCAT = "concat"


def split_at_concat(
    plan: Sequence[Dict[str, JSON]],
) -> Optional[Tuple[List[Dict[str, JSON]], str, List[Dict[str, JSON]]]]:
    """``(before, join, after)`` of a plan with a concat clause; ``None`` without one."""
    for i, clause in enumerate(plan):
        if CONCAT in clause:
            body = clause[CONCAT]
            join = body.get("join", "outer") if isinstance(body, dict) else "outer"
            return list(plan[:i]), str(join), list(plan[i + 1 :])
    return None


def _render_clause(clause: JSON) -> str:
    if not isinstance(clause, dict) or len(clause) != 1:
        return json.dumps(clause)
    ((kind, body),) = clause.items()
    if kind == "filter":
        return f"filter {_render(body)}"
    if kind == "project" and isinstance(body, dict):
        return f"apply {body.get('name')!r} = {_render(body.get('expr'))}"
    if kind == "groupby" and isinstance(body, dict):
        return f"groupby({body.get('by')!r}).agg({_render_aggs(body.get('aggs'))})"
    if kind == "resample" and isinstance(body, dict):
        opts = "".join(
            f", {k}={body[k]!r}" for k in ("closed", "label", "origin", "offset") if k in body
        )
        return f"resample({body.get('rule')!r}{opts}).agg({_render_aggs(body.get('aggs'))})"
    if kind in ("date_range", "row_range") and isinstance(body, list):
        return f"{kind}(({', '.join(_render_value(v) for v in body)}))"
    if kind in ("head", "tail"):
        return f"{kind}({body!r})"
    if kind == CONCAT and isinstance(body, dict):
        return f"concat({body.get('join')!r})"
    return json.dumps(clause)


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------


class ExpressionNode:
    """An expression over the columns of a read: made by ``q["column"]`` and combined with
    Python operators; a boolean one filters (``q[expr]``), any one projects
    (``q["new"] = expr``).

    ``bool(expr)`` raises :class:`TypeError` (so do ``and``, ``or``, ``not`` and chained
    comparisons such as ``1 < q["a"] < 5``): use ``&``, ``|``, ``~`` and parentheses.
    """

    __slots__ = ("_doc",)

    # numpy scalars and arrays on the left defer to the reflected operators below.
    __array_ufunc__ = None

    def __init__(self, doc: Dict[str, JSON]) -> None:
        self._doc: Dict[str, JSON] = doc

    @classmethod
    def column(cls, name: str) -> ExpressionNode:
        """The column ``name`` (stored, or made by an earlier projection)."""
        if not isinstance(name, str):
            raise TypeError(f"a column name is a str, not {type(name).__name__}")
        return cls({"col": name})

    def to_json(self) -> Dict[str, JSON]:
        """The EXPR document of ``docs/query-plan.md`` (a copy)."""
        return copy.deepcopy(self._doc)

    def __repr__(self) -> str:
        return _render(self._doc)

    def __reduce__(self) -> Any:
        return (ExpressionNode, (self.to_json(),))

    def __bool__(self) -> bool:
        raise TypeError(
            "a query expression has no truth value: combine conditions with & (and), | (or), "
            "^ (xor) and ~ (not) instead of Python's and, or, not, and put each comparison in "
            'parentheses, e.g. (q["a"] > 1) & ~(q["b"] == 2); write 1 < q["a"] < 5 as '
            '(q["a"] > 1) & (q["a"] < 5)'
        )

    __hash__ = None  # type: ignore[assignment]

    # -- helpers ---------------------------------------------------------------------------------
    def _op(self, op: str, *others: Any) -> ExpressionNode:
        args = [self._doc] + [_operand(o, f"the operand of {op}") for o in others]
        return ExpressionNode({"op": op, "args": args})

    def _rop(self, op: str, other: Any) -> ExpressionNode:
        return ExpressionNode(
            {"op": op, "args": [_operand(other, f"the operand of {op}"), self._doc]}
        )

    # -- comparisons -----------------------------------------------------------------------------
    def __eq__(self, other: Any) -> ExpressionNode:  # type: ignore[override]
        return self._op("eq", other)

    def __ne__(self, other: Any) -> ExpressionNode:  # type: ignore[override]
        return self._op("ne", other)

    def __lt__(self, other: Any) -> ExpressionNode:
        return self._op("lt", other)

    def __le__(self, other: Any) -> ExpressionNode:
        return self._op("le", other)

    def __gt__(self, other: Any) -> ExpressionNode:
        return self._op("gt", other)

    def __ge__(self, other: Any) -> ExpressionNode:
        return self._op("ge", other)

    # -- boolean logic ---------------------------------------------------------------------------
    def __and__(self, other: Any) -> ExpressionNode:
        return self._op("and", other)

    def __rand__(self, other: Any) -> ExpressionNode:
        return self._rop("and", other)

    def __or__(self, other: Any) -> ExpressionNode:
        return self._op("or", other)

    def __ror__(self, other: Any) -> ExpressionNode:
        return self._rop("or", other)

    def __xor__(self, other: Any) -> ExpressionNode:
        return self._op("xor", other)

    def __rxor__(self, other: Any) -> ExpressionNode:
        return self._rop("xor", other)

    def __invert__(self) -> ExpressionNode:
        return self._op("not")

    # -- arithmetic ------------------------------------------------------------------------------
    def __add__(self, other: Any) -> ExpressionNode:
        return self._op("add", other)

    def __radd__(self, other: Any) -> ExpressionNode:
        return self._rop("add", other)

    def __sub__(self, other: Any) -> ExpressionNode:
        return self._op("sub", other)

    def __rsub__(self, other: Any) -> ExpressionNode:
        return self._rop("sub", other)

    def __mul__(self, other: Any) -> ExpressionNode:
        return self._op("mul", other)

    def __rmul__(self, other: Any) -> ExpressionNode:
        return self._rop("mul", other)

    def __truediv__(self, other: Any) -> ExpressionNode:
        return self._op("div", other)

    def __rtruediv__(self, other: Any) -> ExpressionNode:
        return self._rop("div", other)

    def __pow__(self, other: Any) -> ExpressionNode:
        return self._op("pow", other)

    def __rpow__(self, other: Any) -> ExpressionNode:
        return self._rop("pow", other)

    def __neg__(self) -> ExpressionNode:
        return self._op("neg")

    def __abs__(self) -> ExpressionNode:
        return self._op("abs")

    # -- membership and missing values -----------------------------------------------------------
    def isin(self, *values: Any) -> ExpressionNode:
        """True where the value is one of ``values`` (an iterable — list, set, numpy array,
        pandas Index — or the values themselves: ``isin(1, 2)``). A missing value is in no
        list."""
        doc = self._op("isin")
        doc._doc["values"] = _values(values[0] if len(values) == 1 else values, "isin")
        return doc

    def isnotin(self, *values: Any) -> ExpressionNode:
        """The negation of :meth:`isin` (a missing value is in no list, so it is kept)."""
        doc = self._op("isnotin")
        doc._doc["values"] = _values(values[0] if len(values) == 1 else values, "isnotin")
        return doc

    def isnull(self) -> ExpressionNode:
        """True where the value is missing (null, or NaN in a float column)."""
        return self._op("isnull")

    def notnull(self) -> ExpressionNode:
        """True where the value is present (neither null nor NaN)."""
        return self._op("notnull")

    isna = isnull
    notna = notnull

    # -- strings ---------------------------------------------------------------------------------
    def _pattern(self, op: str, pattern: Any) -> ExpressionNode:
        if not isinstance(pattern, str):
            raise TypeError(f"the pattern of {op} must be a str, not {type(pattern).__name__}")
        doc = self._op(op)
        doc._doc["pattern"] = str(pattern)
        return doc

    def regex_match(self, pattern: str) -> ExpressionNode:
        """True where the regular expression ``pattern`` (Rust ``regex`` syntax, close to
        Python's ``re`` without look-around and back-references) matches somewhere in the
        string value (``re.search``); missing values are false."""
        return self._pattern("regex_match", pattern)

    def startswith(self, prefix: str) -> ExpressionNode:
        """True where the string value starts with ``prefix`` (a literal, not a pattern)."""
        return self._pattern("startswith", prefix)

    def endswith(self, suffix: str) -> ExpressionNode:
        """True where the string value ends with ``suffix`` (a literal)."""
        return self._pattern("endswith", suffix)

    def contains(self, substring: str) -> ExpressionNode:
        """True where the string value contains ``substring`` (a literal, not a pattern)."""
        return self._pattern("contains", substring)


def where(condition: Any, left: Any, right: Any) -> ExpressionNode:
    """The element-wise ternary (ArcticDB's ``arcticdb.where``): ``left`` where ``condition``
    is true, else ``right`` (a missing condition counts as false). ``left`` and ``right`` are
    expressions or literals of one kind (both numeric, both strings, ...).

    >>> q["capped"] = where(q["x"] > 10, 10, q["x"])
    """
    if not isinstance(condition, ExpressionNode):
        raise TypeError(
            f"the condition of where() must be an expression, not {type(condition).__name__}"
        )
    return ExpressionNode(
        {
            "op": "where",
            "args": [
                condition._doc,
                _operand(left, "the second argument of where()"),
                _operand(right, "the third argument of where()"),
            ],
        }
    )


# --------------------------------------------------------------------------------------------
# Aggregations
# --------------------------------------------------------------------------------------------


def _aggs(spec: Any) -> List[Dict[str, str]]:
    """The AGG list of an ``agg`` dict: ``{"out": "op"}`` (column ``out``) or
    ``{"out": ("column", "op")}``."""
    if not isinstance(spec, Mapping):
        raise TypeError(
            "agg takes a dict: {output: op} or {output: (column, op)}, e.g. "
            '{"price": "mean", "volume": ("qty", "sum")}'
        )
    out: List[Dict[str, str]] = []
    for name, what in spec.items():
        if not isinstance(name, str):
            raise TypeError(f"aggregation output names are str, not {type(name).__name__}")
        if isinstance(what, str):
            column, op = name, what
        elif isinstance(what, (tuple, list)) and len(what) == 2:
            column, op = what
            if not isinstance(column, str):
                raise TypeError(
                    f"the column of aggregation {name!r} must be a str, not {type(column).__name__}"
                )
        else:
            raise TypeError(
                f"aggregation {name!r} must be an operator name or a (column, operator) pair, "
                f"not {what!r}"
            )
        if op not in AGGREGATIONS:
            raise ValueError(
                f"unknown aggregation {op!r} for {name!r}; use one of {', '.join(AGGREGATIONS)}"
            )
        out.append({"name": name, "column": column, "op": op})
    return out


class GroupBy(Generic[_Q]):
    """What :meth:`QueryBuilder.groupby` returns: call :meth:`agg` to add the clause."""

    __slots__ = ("_builder", "_by")

    def __init__(self, builder: _Q, by: List[str]) -> None:
        self._builder = builder
        self._by = by

    def agg(self, aggregations: Mapping[str, Any]) -> _Q:
        """A new builder: the one ``groupby`` was called on, then this group-by.

        Args:
            aggregations: ``{output: op}`` (aggregates the column ``output``) or
                ``{output: (column, op)}``; ops: ``sum``, ``mean``, ``min``, ``max``,
                ``count``, ``first``, ``last``, ``median``, ``std`` (``ddof=1``).

        The result has one row per distinct key, sorted by the keys ascending; rows whose key
        is missing are dropped (pandas' ``dropna=True``). pandas output is indexed by the keys
        (a MultiIndex for several); pyarrow, polars and numpy outputs have them as the first
        columns.

        Raises:
            ValueError: an unknown operator.
        """
        return self._builder._with({"groupby": {"by": list(self._by), "aggs": _aggs(aggregations)}})

    def __repr__(self) -> str:
        return f"GroupBy({self._by!r})"


class Resample(Generic[_Q]):
    """What :meth:`QueryBuilder.resample` returns: call :meth:`agg` to add the clause."""

    __slots__ = ("_body", "_builder")

    def __init__(self, builder: _Q, body: Dict[str, JSON]) -> None:
        self._builder = builder
        self._body = body

    def agg(self, aggregations: Mapping[str, Any]) -> _Q:
        """A new builder: the one ``resample`` was called on, then this resampling;
        ``aggregations`` as in
        :meth:`GroupBy.agg`. Buckets without rows are dropped (ArcticDB's rule; pandas shows
        them as NaN rows). pandas output is indexed by the bucket labels."""
        body = dict(self._body)
        body["aggs"] = _aggs(aggregations)
        return self._builder._with({"resample": body})

    def __repr__(self) -> str:
        return f"Resample({self._body!r})"


def _timedelta_ns(value: Any, what: str) -> Optional[int]:
    """Nanoseconds of a ``timedelta`` / ``pandas.Timedelta`` / pandas fixed offset /
    ``numpy.timedelta64`` (``None`` if ``value`` is none of them)."""
    if isinstance(value, _dt.timedelta):
        ns = getattr(value, "value", None)
        if isinstance(ns, int) and hasattr(value, "nanoseconds"):  # pandas.Timedelta
            return ns
        return (value.days * 86_400 + value.seconds) * 10**9 + value.microseconds * 1000
    if type(value).__name__ == "timedelta64":
        ns = int(value.astype("timedelta64[ns]").astype("int64"))
        if ns == -(2**63):
            raise ValueError(f"{what} is NaT")
        return ns
    nanos = getattr(value, "nanos", None)  # pandas Tick offsets (Minute(5), Hour(), ...)
    if isinstance(nanos, int) and not isinstance(nanos, bool):
        return nanos
    return None


def _rule(value: Any, what: str, positive: bool) -> JSON:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{what} is empty")
        return value
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a str or a timedelta, not bool")
    ns = _timedelta_ns(value, what)
    if ns is None and hasattr(value, "__index__"):
        ns = int(value.__index__())
    if ns is None:
        raise TypeError(
            f"{what} must be a str (e.g. '5min', '1h', 'D'), a datetime.timedelta, "
            f"pandas.Timedelta or numpy.timedelta64, or nanoseconds (int), not "
            f"{type(value).__name__}"
        )
    if positive and ns <= 0:
        raise ValueError(f"{what} must be positive, not {ns} ns")
    return ns


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------


class QueryBuilder:
    """A query plan: an ordered list of clauses the library applies while it reads
    (ArcticDB's ``QueryBuilder``).

    * ``q["col"]`` is a column (:class:`ExpressionNode`); ``q[expr]`` adds a filter and returns
      the builder (``q = q[...]`` works, as in ArcticDB, and so does chaining).
    * ``q["new"] = expr`` / ``q.apply("new", expr)`` adds a column (or replaces a data column).
    * ``q.groupby(keys).agg({...})``, ``q.resample(rule).agg({...})``: aggregations.
    * ``q.date_range((start, end))``, ``q.row_range((start, end))``, ``q.head(n)``,
      ``q.tail(n)``: row selections at that point of the plan (leading ones are merged into
      the read, so only the segments they touch are loaded).
    * ``q.then(other)`` appends the clauses of another builder.

    A builder is a value, as in ArcticDB: each method returns a new builder with the clause
    added and leaves the one it was called on as it was, so a base query can be reused
    (``x = q[q["a"] == 1]; y = q[q["a"] == 0]`` are two different queries and ``q`` has
    neither filter). Only ``q["new"] = expr`` changes ``q`` itself, as an assignment does. A
    builder is copyable, comparable (``==`` compares plans), picklable, and :meth:`to_json`
    gives the plan sent to the library.
    """

    def __init__(self) -> None:
        self._clauses: List[Dict[str, JSON]] = []

    # -- building --------------------------------------------------------------------------------
    def __getitem__(self, item: Any) -> Any:
        """``q["col"]``: the column expression; ``q[expr]``: a new builder, ``q`` then the
        filter ``expr`` (a boolean expression, or a bool column on its own)."""
        if isinstance(item, str):
            return ExpressionNode.column(item)
        if isinstance(item, ExpressionNode):
            return self._with({"filter": item.to_json()})
        raise TypeError(
            'q[...] takes a column name (q["price"]) or a boolean expression '
            f'(q[q["price"] > 100]), not {type(item).__name__}'
        )

    def __setitem__(self, name: str, expr: Any) -> None:
        """``q["new"] = expr``: adds the column to ``q`` itself (an assignment), otherwise
        as :meth:`apply`."""
        self._clauses = self.apply(name, expr)._clauses

    def apply(self: _Q, name: str, expr: Any) -> _Q:
        """A new builder: this one, then the column ``name`` computed by ``expr`` (replacing
        a data column of that name; the index column cannot be replaced)."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"the name of a new column is a non-empty str, not {name!r}")
        return self._with(
            {"project": {"name": name, "expr": copy.deepcopy(_operand(expr, "a projection"))}}
        )

    def groupby(self: _Q, by: Union[str, Sequence[str]]) -> GroupBy[_Q]:
        """Groups by one column or several (``["a", "b"]``); call ``.agg({...})`` on the result
        (see :meth:`GroupBy.agg`), which returns the new builder."""
        keys = [by] if isinstance(by, str) else list(by)
        if not keys:
            raise ValueError("groupby needs at least one key column")
        for k in keys:
            if not isinstance(k, str):
                raise TypeError(f"groupby keys are column names (str), not {type(k).__name__}")
        return GroupBy(self, keys)

    def resample(
        self: _Q,
        rule: Any,
        closed: Optional[str] = None,
        label: Optional[str] = None,
        offset: Any = None,
        origin: Any = "start_day",
    ) -> Resample[_Q]:
        """Time buckets of the timestamp index; call ``.agg({...})`` on the result.

        Args:
            rule: the bucket width: a fixed frequency string (``"5min"``, ``"30s"``, ``"1h"``,
                ``"D"``; units ``ns``, ``us``, ``ms``, ``s``, ``min``/``T``, ``h``/``H``,
                ``D``), a ``datetime.timedelta`` / ``pandas.Timedelta`` /
                ``numpy.timedelta64`` / pandas fixed offset, or nanoseconds (``int``).
            closed: which side of a bucket is closed, ``"left"`` or ``"right"``; ``None`` =
                pandas' default (``"left"``, ``"right"`` for origins ``end`` / ``end_day``).
            label: which edge labels a bucket, ``"left"`` or ``"right"``; ``None`` as
                ``closed``.
            offset: added to the origin: a frequency string or a timedelta (``None`` = none).
            origin: ``"epoch"``, ``"start_day"`` (midnight of the first row's day; the
                default), ``"start"``, ``"end"``, ``"end_day"``, or a datetime
                (``pandas.Timestamp``, ``datetime.datetime``, ``numpy.datetime64``; naive =
                UTC).

        Raises:
            ValueError: a bad ``closed``, ``label`` or ``origin``, or a non-positive rule.
        """
        body: Dict[str, JSON] = {"rule": _rule(rule, "the resample rule", True)}
        for what, side in (("closed", closed), ("label", label)):
            if side is not None:
                if side not in _SIDES:
                    raise ValueError(f"{what} must be 'left', 'right' or None, not {side!r}")
                body[what] = side
        if isinstance(origin, str):
            if origin not in _ORIGINS:
                raise ValueError(
                    f"origin must be one of {', '.join(map(repr, _ORIGINS))} or a datetime, "
                    f"not {origin!r}"
                )
            body["origin"] = origin
        elif _options.is_datetime_like(origin) and not _options.is_nat(origin):
            body["origin"] = {"ns": _options.to_ns(origin, "origin")}
        else:
            raise TypeError(
                f"origin must be a str ({', '.join(_ORIGINS)}) or a datetime, not {origin!r}"
            )
        if offset is not None:
            body["offset"] = _rule(offset, "the resample offset", False)
        return Resample(self, body)

    def date_range(self: _Q, date_range: Tuple[Any, Any]) -> _Q:
        """Keeps the rows whose index lies in ``(start, end)`` (inclusive; ``None`` = open;
        bounds as in ``Library.read(date_range=...)``): a new builder."""
        return self._with({"date_range": _options.date_range_value(date_range)})

    def row_range(self: _Q, row_range: Tuple[Optional[int], Optional[int]]) -> _Q:
        """Keeps the rows ``start:end`` of the rows at this point (Python slice semantics: end
        exclusive, negatives count from the end, ``None`` = open): a new builder."""
        return self._with({"row_range": _options.row_range_value(row_range)})

    def head(self: _Q, n: int = 5) -> _Q:
        """Keeps the first ``n`` rows (``n < 0``: all but the last ``-n``)."""
        return self._with({"head": _options.count(n, "n")})

    def tail(self: _Q, n: int = 5) -> _Q:
        """Keeps the last ``n`` rows (``n < 0``: all but the first ``-n``)."""
        return self._with({"tail": _options.count(n, "n")})

    def concat(self: _Q, join: str = "outer") -> _Q:
        """Joins the symbols of a batch read into one result (ArcticDB's
        ``QueryBuilder.concat``): in ``Library.read_batch(..., query_builder=q)``, the clauses
        before it run on each symbol, then the rows are concatenated (``join="outer"``: every
        column, ``"inner"``: the shared ones; see :func:`sheaf.concat`), then the clauses after
        it run over the whole. A plan holds at most one; a single read refuses it."""
        if join not in ("outer", "inner"):
            raise ValueError(f"join is 'outer' or 'inner', not {join!r}")
        if any(CONCAT in c for c in self._clauses):
            raise ValueError("a plan concatenates once")
        return self._with({CONCAT: {"join": join}})

    def then(self: _Q, other: QueryBuilder) -> _Q:
        """A new builder: this one's clauses, then ``other``'s."""
        if not isinstance(other, QueryBuilder):
            raise TypeError(f"then() takes a QueryBuilder, not {type(other).__name__}")
        new = self.__copy__()
        new._clauses.extend(copy.deepcopy(other._clauses))
        return new

    def _with(self: _Q, clause: Dict[str, JSON]) -> _Q:
        """A copy of this builder with ``clause`` added at the end."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        # Clauses are never changed once added, so the copies may share them.
        new._clauses = [*self._clauses, clause]
        return new

    # -- the plan --------------------------------------------------------------------------------
    def to_json(self) -> List[Dict[str, JSON]]:
        """The plan as Python objects (a copy): the JSON array of clauses of
        ``docs/query-plan.md`` that ``Library.read`` puts under ``"query"``."""
        return copy.deepcopy(self._clauses)

    @classmethod
    def from_json(cls, plan: Union[str, bytes, Sequence[Mapping[str, JSON]]]) -> QueryBuilder:
        """A builder holding ``plan`` (JSON text or the list :meth:`to_json` gives), as it is:
        the library checks it when it is used."""
        if isinstance(plan, (str, bytes)):
            plan = json.loads(plan)
        if not isinstance(plan, Sequence) or isinstance(plan, (str, bytes)):
            raise TypeError("a query plan is a list of clauses")
        q = cls()
        for clause in plan:
            if not isinstance(clause, Mapping):
                raise TypeError(f"a clause is a JSON object, not {clause!r}")
            q._clauses.append(copy.deepcopy(dict(clause)))
        return q

    def __len__(self) -> int:
        """The number of clauses."""
        return len(self._clauses)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QueryBuilder):
            return NotImplemented
        return self._clauses == other._clauses

    __hash__ = None  # type: ignore[assignment]

    def __copy__(self: _Q) -> _Q:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._clauses = copy.deepcopy(self._clauses)
        return new

    def __deepcopy__(self: _Q, memo: Dict[int, Any]) -> _Q:
        return self.__copy__()

    def copy(self: _Q) -> _Q:
        """An independent copy of the builder."""
        return self.__copy__()

    def _lines(self) -> List[str]:
        return [_render_clause(c) for c in self._clauses]

    def __repr__(self) -> str:
        return f"QueryBuilder({' | '.join(self._lines())})"

    def __str__(self) -> str:
        lines = self._lines()
        if not lines:
            return "QueryBuilder (no clauses)"
        return "QueryBuilder\n" + "\n".join(f"  {i}. {line}" for i, line in enumerate(lines, 1))


def plan_value(query_builder: Any) -> Optional[List[JSON]]:
    """The ``"query"`` value of a read for ``query_builder`` (``None``: none, or no clauses)."""
    if query_builder is None:
        return None
    if not isinstance(query_builder, QueryBuilder):
        raise TypeError(
            f"query_builder must be a sheaf.QueryBuilder, not {type(query_builder).__name__}"
        )
    plan = query_builder.to_json()
    return plan or None
