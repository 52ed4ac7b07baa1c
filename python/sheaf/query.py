"""Queries, the public face: ArcticDB's ``QueryBuilder`` (filters, projections, group-bys,
resampling and row selections that the library runs while it reads, as one JSON query plan,
``docs/query-plan.md``) and ``LazyDataFrame``.

The builder itself lives in :mod:`sheaf._query`, a leaf that knows no store; ``LazyDataFrame``
reads, so it lives with the reads in :mod:`sheaf.library`. This module gathers both under the
name users import them from.

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

Nothing is evaluated in Python: each method appends a clause to the plan, :meth:`to_json` shows
it, and ``Library.read(query_builder=q)`` sends it with the read (the library type-checks it
against the version's schema before loading any segment and skips the segments that leading
filters prove empty from their statistics).

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

from ._query import AGGREGATIONS, ExpressionNode, GroupBy, QueryBuilder, Resample, where
from .library import LazyDataFrame

__all__ = [
    "QueryBuilder",
    "ExpressionNode",
    "GroupBy",
    "Resample",
    "LazyDataFrame",
    "where",
    "AGGREGATIONS",
]
