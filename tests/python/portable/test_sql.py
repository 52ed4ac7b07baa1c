"""SQL from Python with numpy only (every interpreter, PyPy included): queries compared with
values computed here, parameters, time travel, writes and their counts, errors, cancellation
(Ctrl-C and another thread), two processes inserting into one symbol."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import threading

import numpy as np
import pytest

import sheaf

DAY_NS = 86_400 * 10**9
N = 60


def frame(start, n):
    ids = np.arange(start, start + n, dtype=np.int64)
    return {
        "ts": (ids * DAY_NS).astype("datetime64[ns]"),
        "k": ids,
        "x": ids / 2.0,
        "s": [f"s{i % 3}" for i in ids],
    }


@pytest.fixture(params=["mem", "lmdb"])
def lib(request, tmp_path):
    uri = "mem://" if request.param == "mem" else "lmdb://" + str(tmp_path / "store")
    store = sheaf.open(uri, output_format="numpy")
    library = store.create_library("lib", rows_per_segment=10)
    library.write("t", frame(0, N), index="ts")
    yield library
    store.close()


def segments_loaded(library):
    from sheaf import _lib

    out = _lib.ffi.new("SheafBytes *")
    slot = _lib.errslot()
    _lib.check(_lib.lib.sheaf_library_stats(library._h, out, slot), slot)
    return int(json.loads(_lib.take_bytes(out))["segments_loaded"])


def ints(data, name):
    return [int(v) for v in data[name]]


def test_a_group_by_matches_plain_python(lib):
    got = lib.sql(
        "SELECT s, count(*) AS n, sum(k) AS total, avg(x) AS mean FROM t "
        "WHERE k >= 12 GROUP BY s ORDER BY s"
    )
    for row, key in enumerate(["s0", "s1", "s2"]):
        ks = [k for k in range(12, N) if f"s{k % 3}" == key]
        assert str(got["s"][row]) == key
        assert int(got["n"][row]) == len(ks)
        assert int(got["total"][row]) == sum(ks)
        assert float(got["mean"][row]) == pytest.approx(sum(ks) / 2.0 / len(ks))


def test_pushdown_loads_only_matching_segments(lib):
    before = segments_loaded(lib)
    got = lib.sql("SELECT k FROM t WHERE k BETWEEN 41 AND 44 ORDER BY k")
    assert ints(got, "k") == [41, 42, 43, 44]
    assert segments_loaded(lib) - before == 1


def test_parameters_bind_values_of_every_kind(lib):
    got = lib.sql(
        "SELECT k FROM t WHERE s = $1 AND k < $2 AND ts >= $3 ORDER BY k",
        ["s1", 20, dt.datetime(1970, 1, 5)],
    )
    assert ints(got, "k") == [4, 7, 10, 13, 16, 19]
    # a quote in a value stays a value
    assert ints(lib.sql("SELECT count(*) AS n FROM t WHERE s = $1", ["s1' OR 'a'='a"]), "n") == [0]
    with pytest.raises(sheaf.InvalidArgumentError):
        lib.sql("SELECT $1", [float("nan")])
    with pytest.raises(sheaf.InvalidArgumentError):
        lib.sql("SELECT $1", "not a list")


def test_time_travel_and_writes(lib):
    assert ints(
        lib.sql("INSERT INTO t VALUES (TIMESTAMP '1971-01-01', 500, 1.0, 'z')"), "count"
    ) == [1]
    assert ints(lib.sql("SELECT count(*) AS n FROM t"), "n") == [N + 1]
    assert ints(lib.sql("SELECT count(*) AS n FROM at_version('t', 0)"), "n") == [N]
    assert ints(lib.sql("DELETE FROM t WHERE k >= 30"), "count") == [N + 1 - 30]
    assert ints(lib.sql("UPDATE t SET k = k * 10 WHERE k < 3"), "count") == [3]
    assert ints(lib.sql("SELECT k FROM t WHERE k < 40 ORDER BY ts"), "k")[:5] == [0, 10, 20, 3, 4]
    assert lib.read("t").version == 3
    assert ints(lib.sql("SELECT count(*) AS n FROM at_version('t', 1)"), "n") == [N + 1]
    assert ints(lib.sql("CREATE TABLE small AS SELECT k FROM t WHERE k < 5"), "count") == [3]
    assert sorted(lib.list_symbols()) == ["small", "t"]


def test_errors_carry_datafusion_messages(lib):
    with pytest.raises(sheaf.InvalidArgumentError, match="SELEC"):
        lib.sql("SELEC k FROM t")
    with pytest.raises(sheaf.SchemaError, match="nope"):
        lib.sql("SELECT nope FROM t")
    with pytest.raises(sheaf.InvalidArgumentError, match="missing"):
        lib.sql("SELECT * FROM missing")
    with pytest.raises(sheaf.NoSuchVersionError):
        lib.sql("SELECT * FROM at_version('t', 9)")


def test_store_sql_joins_libraries(lib):
    store = lib.store
    other = store.create_library("other")
    other.write("u", frame(0, 5), index="ts")
    got = store.sql("SELECT count(*) AS n FROM lib.t JOIN other.u ON t.k = u.k")
    assert ints(got, "n") == [5]


SLOW = "SELECT count(*) AS n FROM t a, t b, t c, t d, t e WHERE a.x + b.x + c.x + d.x + e.x < 0"


def test_keyboard_interrupt_cancels_the_query(lib, monkeypatch):
    # Ctrl-C arrives while the query runs (the third wait, 0.1 s in): the waiting thread's
    # join raises it, as the signal handler would; the query is cancelled, KeyboardInterrupt
    # propagates, and the worker thread has finished.
    real_join = threading.Thread.join
    calls = []

    def interrupted_join(self, timeout=None):
        if self.name == "sheaf-sql" and timeout is not None:
            calls.append(self)
            if len(calls) == 3:
                raise KeyboardInterrupt
        return real_join(self, timeout)

    monkeypatch.setattr(threading.Thread, "join", interrupted_join)
    with pytest.raises(KeyboardInterrupt):
        lib.sql(SLOW)
    assert len(calls) == 3
    assert not calls[0].is_alive()
    # the library is usable afterwards
    assert ints(lib.sql("SELECT count(*) AS n FROM t"), "n") == [N]


def _insert(uri, start, n):
    store = sheaf.open(uri, output_format="numpy")
    library = store.get_library("lib")
    for k in range(start, start + n):
        library.sql(f"INSERT INTO t VALUES (TIMESTAMP '1975-01-01', {k}, 0.0, 'p')")
    store.close()


def test_two_processes_inserting_both_land(tmp_path):
    uri = "lmdb://" + str(tmp_path / "store")
    store = sheaf.open(uri, output_format="numpy")
    store.create_library("lib").write("t", frame(0, 3), index="ts")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_insert, args=(uri, 1000 * (p + 1), 4)) for p in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    got = store.get_library("lib").sql("SELECT k FROM t WHERE k >= 1000 ORDER BY k")
    assert ints(got, "k") == [1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003]
    store.close()
