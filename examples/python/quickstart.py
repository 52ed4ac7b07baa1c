"""Sheaf quick start: write a one-million-row time series twice, read both versions back.

    python examples/python/quickstart.py [STORE_PATH]

STORE_PATH defaults to the repository's demo-store/. Uses pandas when it is installed,
otherwise plain numpy arrays (e.g. on PyPy).
"""

import os
import sys
import time

import numpy as np

import sheaf

ROWS, COLS = 1_000_000, 10
repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
path = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "demo-store"))

try:
    import pandas as pd
except ImportError:
    pd = None

rng = np.random.default_rng(42)
prices = 100 + np.cumsum(rng.normal(scale=0.1, size=(ROWS, COLS)), axis=0)
times = np.datetime64("2024-01-01T00:00:00", "ns") + np.arange(ROWS) * np.timedelta64(1, "s")
names = [f"c{i}" for i in range(COLS)]
if pd is not None:
    data = pd.DataFrame(prices, columns=names, index=pd.DatetimeIndex(times, name="time"))
    fmt = "pandas"
else:
    data = {"time": times, **{n: prices[:, i].copy() for i, n in enumerate(names)}}
    fmt = "numpy"


def timed(label, fn):
    t0 = time.perf_counter()
    result = fn()
    print(f"{label:<28} {1000 * (time.perf_counter() - t0):8.1f} ms")
    return result


with sheaf.open(f"lmdb://{path}", output_format=fmt) as store:
    lib = store.get_library("demo", create_if_missing=True)
    # pandas: the DatetimeIndex becomes the index by itself; numpy: name the index column
    kw = {} if pd is not None else {"index": "time"}
    v1 = timed("write", lambda: lib.write("prices", data, metadata={"source": "quickstart"}, **kw))
    if pd is not None:
        data2 = data * 1.01
    else:
        data2 = {k: (v * 1.01 if k != "time" else v) for k, v in data.items()}
    v2 = timed("write (modified)", lambda: lib.write("prices", data2, **kw))
    latest = timed("read latest", lambda: lib.read("prices"))
    first = timed("read as_of=0", lambda: lib.read("prices", as_of=0))


def shape(d):
    return d.shape if hasattr(d, "shape") else (len(next(iter(d.values()))), len(d))


print(
    f"versions written: {v1.version}, {v2.version}; latest is v{latest.version}, "
    f"metadata {first.metadata}"
)
print(f"latest shape {shape(latest.data)}, as_of=0 shape {shape(first.data)} ({fmt})")
print(f"store: {path}")
