"""Key-value benchmark of one engine on the interpreter running it (CPython or PyPy; standard
library plus the engine's package): ``python kv_worker.py '<json spec>'``.

Engines:
- ``sheaf``: ``store.kv(name)`` on an lmdb:// store (single calls, ``put_multi``/``get_multi``,
  ``list_keys``/``list_keyvals``; each call is one LMDB transaction).
- ``lmdb``: py-lmdb with its default (durable) flags, as Sheaf opens LMDB: a single put or get
  is its own transaction; a batch is one transaction (``putmulti``; gets as a ``txn.get`` loop,
  and as ``getmulti`` reported separately); listing is a cursor from ``set_range(prefix)``.
- ``sqlite``: sqlite3, ``WITHOUT ROWID`` table, WAL with ``synchronous=FULL`` (a durable commit
  per put, as LMDB); batches are one transaction (``executemany``; gets ``WHERE k IN (...)``).
- ``dict``: a Python dict (no persistence: the floor); a prefix listing scans every key.

Keys are 16 bytes, ``b"k%03d:%011d"`` (1000 prefixes ``kNNN:``); values 100 random bytes; keys
are written and read in shuffled order.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import dir_size, emit, fresh_dir, perf_counter, spec_from_argv

GROUPS = 1000
VALUE_SIZE = 100


def make_keys(n: int, seed: int) -> List[bytes]:
    keys = [b"k%03d:%011d" % (i % GROUPS, i) for i in range(n)]
    random.Random(seed).shuffle(keys)
    return keys


def make_values(n: int, seed: int) -> List[bytes]:
    rng = random.Random(seed)
    blob = bytes(rng.getrandbits(8) for _ in range(VALUE_SIZE * 1024))
    # 1024 distinct random values, each rotated per key, so no two neighbours are equal.
    out = []
    for i in range(n):
        j = (i * 7919) % (VALUE_SIZE * 1024 - VALUE_SIZE)
        out.append(blob[j : j + VALUE_SIZE])
    return out


def prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


class SheafKV:
    def __init__(self, path: str) -> None:
        import sheaf

        self.sheaf = sheaf
        self.store = sheaf.open("lmdb://" + os.path.abspath(path))
        self.kv = self.store.kv("bench")

    def put_batch(self, keys: List[bytes], values: List[bytes]) -> None:
        self.kv.put_multi(keys, values)

    def get_batch(self, keys: List[bytes]) -> List[Any]:
        return self.kv.get_multi(keys)

    def single_get(self) -> Callable[[bytes], Any]:
        return self.kv.get

    def single_put(self) -> Callable[[bytes, bytes], Any]:
        return self.kv.put

    def list_keys(self, prefix: bytes) -> List[bytes]:
        return self.kv.list_keys(prefix=prefix)

    def list_items(self, prefix: bytes) -> List[Any]:
        return self.kv.list_keyvals(prefix=prefix)

    def close(self) -> None:
        self.kv.close()
        self.store.close()


class LmdbKV:
    def __init__(self, path: str) -> None:
        import lmdb

        self.env = lmdb.open(path, map_size=64 << 30)

    def put_batch(self, keys: List[bytes], values: List[bytes]) -> None:
        with self.env.begin(write=True) as txn:
            txn.cursor().putmulti(zip(keys, values))

    def get_batch(self, keys: List[bytes]) -> List[Any]:
        with self.env.begin() as txn:
            get = txn.get
            return [get(k) for k in keys]

    def get_batch_getmulti(self, keys: List[bytes]) -> List[Any]:
        with self.env.begin() as txn:
            return txn.cursor().getmulti(keys)  # type: ignore[no-any-return]

    def single_get(self) -> Callable[[bytes], Any]:
        env = self.env

        def get(key: bytes) -> Any:
            with env.begin() as txn:
                return txn.get(key)

        return get

    def single_put(self) -> Callable[[bytes, bytes], Any]:
        env = self.env

        def put(key: bytes, value: bytes) -> Any:
            with env.begin(write=True) as txn:
                return txn.put(key, value)

        return put

    def list_keys(self, prefix: bytes) -> List[bytes]:
        out = []
        with self.env.begin() as txn:
            cur = txn.cursor()
            if cur.set_range(prefix):
                for key in cur.iternext(keys=True, values=False):
                    if not key.startswith(prefix):
                        break
                    out.append(key)
        return out

    def list_items(self, prefix: bytes) -> List[Any]:
        out = []
        with self.env.begin() as txn:
            cur = txn.cursor()
            if cur.set_range(prefix):
                for key, value in cur.iternext(keys=True, values=True):
                    if not key.startswith(prefix):
                        break
                    out.append((key, value))
        return out

    def close(self) -> None:
        self.env.close()


class SqliteKV:
    CHUNK = 500

    def __init__(self, path: str) -> None:
        import sqlite3

        self.db = sqlite3.connect(os.path.join(path, "kv.sqlite"), isolation_level=None)
        self._run("PRAGMA journal_mode=WAL")
        self._run("PRAGMA synchronous=FULL")
        self._run("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")

    def _run(self, sql: str) -> None:
        # Cursors are closed at once: on PyPy one left to the GC keeps its statement active,
        # and COMMIT then fails with "SQL statements in progress".
        cursor = self.db.execute(sql)
        cursor.fetchall()
        cursor.close()

    def put_batch(self, keys: List[bytes], values: List[bytes]) -> None:
        self._run("BEGIN")
        cursor = self.db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", zip(keys, values))
        cursor.close()
        self._run("COMMIT")

    def get_batch(self, keys: List[bytes]) -> List[Any]:
        found: Dict[bytes, bytes] = {}
        self._run("BEGIN")
        for s in range(0, len(keys), self.CHUNK):
            chunk = keys[s : s + self.CHUNK]
            sql = "SELECT k, v FROM kv WHERE k IN ({})".format(",".join("?" * len(chunk)))
            cursor = self.db.execute(sql, chunk)
            found.update(cursor.fetchall())
            cursor.close()
        self._run("COMMIT")
        return [found.get(k) for k in keys]

    def single_get(self) -> Callable[[bytes], Any]:
        execute = self.db.execute

        def get(key: bytes) -> Any:
            cursor = execute("SELECT v FROM kv WHERE k = ?", (key,))
            rows = cursor.fetchall()
            cursor.close()
            return rows[0][0] if rows else None

        return get

    def single_put(self) -> Callable[[bytes, bytes], Any]:
        execute = self.db.execute

        def put(key: bytes, value: bytes) -> Any:
            execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value)).close()

        return put

    def list_keys(self, prefix: bytes) -> List[bytes]:
        sql = "SELECT k FROM kv WHERE k >= ? AND k < ? ORDER BY k"
        cursor = self.db.execute(sql, (prefix, prefix_end(prefix)))
        out = [r[0] for r in cursor.fetchall()]
        cursor.close()
        return out

    def list_items(self, prefix: bytes) -> List[Any]:
        sql = "SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k"
        cursor = self.db.execute(sql, (prefix, prefix_end(prefix)))
        out = cursor.fetchall()
        cursor.close()
        return out

    def close(self) -> None:
        self.db.close()


class DictKV:
    def __init__(self, path: str) -> None:
        self.d: Dict[bytes, bytes] = {}

    def put_batch(self, keys: List[bytes], values: List[bytes]) -> None:
        self.d.update(zip(keys, values))

    def get_batch(self, keys: List[bytes]) -> List[Any]:
        get = self.d.get
        return [get(k) for k in keys]

    def single_get(self) -> Callable[[bytes], Any]:
        return self.d.__getitem__

    def single_put(self) -> Callable[[bytes, bytes], Any]:
        return self.d.__setitem__

    def list_keys(self, prefix: bytes) -> List[bytes]:
        return sorted(k for k in self.d if k.startswith(prefix))

    def list_items(self, prefix: bytes) -> List[Any]:
        d = self.d
        return [(k, d[k]) for k in self.list_keys(prefix)]

    def close(self) -> None:
        pass


ENGINES = {"sheaf": SheafKV, "lmdb": LmdbKV, "sqlite": SqliteKV, "dict": DictKV}


def timed(fn: Callable[[], Any]) -> float:
    t0 = perf_counter()
    fn()
    return perf_counter() - t0


def load_all(engine: Any, keys: List[bytes], values: List[bytes], batch: int) -> float:
    t0 = perf_counter()
    for s in range(0, len(keys), batch):
        engine.put_batch(keys[s : s + batch], values[s : s + batch])
    return perf_counter() - t0


def get_all(fn: Callable[[List[bytes]], List[Any]], keys: List[bytes], batch: int) -> Any:
    """Time of getting every key in batches, and the first batch's values."""
    got: List[Any] = []
    t0 = perf_counter()
    for s in range(0, len(keys), batch):
        got.append(fn(keys[s : s + batch]))
    return perf_counter() - t0, got[0]


def call_each(fn: Callable[..., Any], args: List[Any]) -> float:
    t0 = perf_counter()
    for a in args:
        fn(*a)
    return perf_counter() - t0


def list_each(fn: Callable[[bytes], List[Any]], prefixes: List[bytes]) -> Any:
    """Time of listing every prefix, and the number of keys of the first."""
    counts: List[int] = []
    t0 = perf_counter()
    for p in prefixes:
        counts.append(len(fn(p)))
    return perf_counter() - t0, counts[0]


def main() -> None:
    spec = spec_from_argv()
    name: str = spec["engine"]
    n: int = spec["n"]
    batch: int = spec.get("batch", 10_000)
    reps: int = spec.get("reps", 3)
    fast_reps: int = spec.get("fast_reps", 5)
    n_single_put: int = spec.get("single_puts", 1000)
    n_single_get: int = spec.get("single_gets", 100_000)
    n_prefixes: int = spec.get("prefixes", 200)
    root: str = spec["dir"]
    make = ENGINES[name]

    keys = make_keys(n, 1)
    values = make_values(n, 2)
    read_order = list(keys)
    random.Random(3).shuffle(read_order)
    sample = random.Random(4).sample(range(n), min(1000, n))
    expected = dict(zip(keys, values))
    groups = sorted({k[:5] for k in keys})
    prefixes = random.Random(5).sample(groups, min(n_prefixes, len(groups)))
    if name == "dict":  # every listing is a full scan: fewer of them
        prefixes = prefixes[: max(5, len(prefixes) // 20)]
    result: Dict[str, Any] = {"n": n, "batch": batch, "python": sys.version.split()[0]}
    result["implementation"] = sys.implementation.name
    per_key: Dict[str, List[float]] = {}

    # -- batched puts: every repetition loads all n keys into a fresh store ----------------------
    engine: Optional[Any] = None
    times = []
    for _ in range(reps):
        if engine is not None:
            engine.close()
        engine = make(fresh_dir(os.path.join(root, name)))
        times.append(load_all(engine, keys, values, batch) / n)
    assert engine is not None
    per_key["put_batch"] = times
    if name != "dict":
        result["disk_bytes"] = dir_size(os.path.join(root, name))["allocated"]

    # -- batched gets (the first loop is a warm-up) -----------------------------------------------
    variants = [("get_batch", engine.get_batch)]
    if hasattr(engine, "get_batch_getmulti"):
        variants.append(("get_batch_getmulti", engine.get_batch_getmulti))
    for op, fn in variants:
        times = []
        for _ in range(fast_reps + 1):
            elapsed, first = get_all(fn, read_order, batch)
            times.append(elapsed / n)
            for i in range(min(50, len(first))):
                item = first[i]
                value = item[1] if isinstance(item, tuple) else item
                if bytes(value) != expected[read_order[i]]:
                    raise AssertionError(f"{name}: wrong value for {read_order[i]!r}")
        per_key[op] = times[1:]

    # -- single gets (each its own call / transaction) -------------------------------------------
    get = engine.single_get()
    single_keys = [(read_order[i % n],) for i in range(n_single_get)]
    times = [call_each(get, single_keys) / n_single_get for _ in range(fast_reps + 1)]
    per_key["get_single"] = times[1:]
    for i in sample[:20]:
        if bytes(get(keys[i])) != values[i]:
            raise AssertionError(f"{name}: wrong value for {keys[i]!r}")

    # -- single puts (each its own commit: with LMDB and SQLite, a durable one) -------------------
    put = engine.single_put()
    times = []
    for r in range(reps):
        pairs = [(b"x%02d%013d" % (r, i), values[i]) for i in range(n_single_put)]
        times.append(call_each(put, pairs) / n_single_put)
    per_key["put_single"] = times

    # -- prefix listing (the first loop is a warm-up) ---------------------------------------------
    per_group = sum(1 for k in keys if k.startswith(prefixes[0]))
    for op, fn in (("list_keys", engine.list_keys), ("list_items", engine.list_items)):
        times = []
        for _ in range(fast_reps + 1):
            elapsed, count = list_each(fn, prefixes)
            times.append(elapsed / len(prefixes))
            if count != per_group:
                raise AssertionError(f"{name}: {op} found {count} keys, not {per_group}")
        per_key[op] = times[1:]
    result["keys_per_prefix"] = per_group
    result["prefixes"] = len(prefixes)
    engine.close()

    result["times"] = per_key
    if name == "sheaf":
        import sheaf

        result["sheaf"] = sheaf.__version__
    elif name == "lmdb":
        import lmdb

        result["lmdb"] = lmdb.__version__
    elif name == "sqlite":
        import sqlite3

        result["sqlite"] = sqlite3.sqlite_version
    emit(result)


if __name__ == "__main__":
    main()
