"""SQL inside Sheaf: queries with parameters, time travel, writes that are versioned commits.

    python examples/python/sql.py

The same code as README's "SQL from Python (and C)" (pandas required); each result is checked
against pandas on the same frame, so the example fails loudly if either drifts.
"""

import datetime as dt

import pandas as pd

import sheaf

lib = sheaf.open("mem://").get_library("trades", create_if_missing=True)
frame = pd.DataFrame(
    {"ticker": ["AAPL", "MSFT", "AAPL"], "price": [190.0, 410.0, 191.5], "qty": [10, 5, 7]},
    index=pd.date_range("2024-01-01 09:30", periods=3, freq="15min", name="time"),
)
lib.write("t", frame)

by_ticker = lib.sql(
    "SELECT ticker, sum(qty) AS qty, avg(price) AS price FROM t WHERE price > $1 "
    "GROUP BY ticker ORDER BY ticker",
    [100.0],
)
print(by_ticker)
expected = (
    frame[frame["price"] > 100].groupby("ticker").agg(qty=("qty", "sum"), price=("price", "mean"))
)
assert by_ticker["qty"].tolist() == expected["qty"].tolist()
assert by_ticker["price"].tolist() == expected["price"].tolist()

since = lib.sql(
    "SELECT ticker FROM t WHERE time >= $1 ORDER BY time", [dt.datetime(2024, 1, 1, 9, 45)]
)
assert since["ticker"].tolist() == ["MSFT", "AAPL"]

inserted = lib.sql(
    "INSERT INTO t (time, ticker, price, qty) "
    "SELECT time + INTERVAL '1 day', ticker, price, qty FROM t"
)
print(inserted)
assert inserted["count"].tolist() == [3]
assert lib.read("t").version == 1
assert len(lib.sql("SELECT * FROM at_version('t', 0)", output_format="pyarrow")) == 3

updated = lib.sql("UPDATE t SET qty = qty * 2 WHERE ticker = 'MSFT'")
assert updated["count"].tolist() == [2]
assert lib.read("t").data["qty"].tolist() == [10, 10, 7, 10, 10, 7]

plan = lib.sql("EXPLAIN SELECT price FROM t WHERE ticker = 'AAPL' LIMIT 3")
physical = plan["plan"].iloc[-1]
print(physical)
assert "SheafScan: trades.t version=2 columns=[ticker, price] pushed_filters=[ticker =" in physical
print("sql example: ok")
