"""Sheaf queries: filters, projections, group-by, resample and lazy reads, run by the library.

    python examples/python/queries.py

The same code as README's "Queries from Python" (pandas required); each result is checked
against what pandas computes on the frame, so the example fails loudly if either drifts.
"""

import pandas as pd

import sheaf
from sheaf import QueryBuilder, where

store = sheaf.open("mem://")
lib = store.get_library("trades", create_if_missing=True)
frame = pd.DataFrame(
    {
        "ticker": ["AAPL", "MSFT", "AAPL", "IBM"],
        "price": [190.0, 410.0, 191.5, None],
        "qty": [10, 5, 7, 3],
    },
    index=pd.date_range("2024-01-01 09:30", periods=4, freq="15min", tz="UTC", name="time"),
)
lib.write("t", frame)

q = QueryBuilder()
q = q[(q["price"] > 100) & q["ticker"].isin(["AAPL", "MSFT"])]
q["notional"] = q["price"] * q["qty"]
q["size"] = where(q["qty"] > 6, "big", "small")
print(q)
filtered = lib.read("t", query_builder=q).data
print(filtered, "\n")
expected = frame[(frame.price > 100) & frame.ticker.isin(["AAPL", "MSFT"])].copy()
expected["notional"] = expected.price * expected.qty
assert filtered.index.equals(expected.index)
assert filtered["notional"].tolist() == expected["notional"].tolist()
assert filtered["size"].tolist() == ["big", "small", "big"]

g = QueryBuilder().groupby("ticker").agg({"qty": "sum", "avg": ("price", "mean")})
grouped = lib.read("t", query_builder=g).data
print(grouped, "\n")
pandas_grouped = frame.groupby("ticker").agg(qty=("qty", "sum"), avg=("price", "mean"))
assert grouped["qty"].tolist() == pandas_grouped["qty"].tolist()
assert grouped.index.tolist() == ["AAPL", "IBM", "MSFT"]

r = QueryBuilder().resample("30min").agg({"qty": "sum", "last": ("price", "last")})
resampled = lib.read("t", query_builder=r).data
print(resampled, "\n")
assert resampled["qty"].tolist() == frame.resample("30min")["qty"].sum().tolist()

lazy = lib.read("t", lazy=True)
lazy = lazy[lazy["qty"] >= 5].head(2)
head = lazy.collect().data
print(head)
assert head["qty"].tolist() == [10, 5]
