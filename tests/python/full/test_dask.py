"""sheaf.dask on a local distributed cluster of two worker processes sharing one LMDB store:
reads cut into partitions by segments (each read by a worker, the version pinned when the graph
is built, row-local queries run per partition, segments outside a date range skipped), writes
staged by the workers and committed in one finalize (nothing committed when a worker dies),
a named memory store under dask's threaded scheduler, an s3:// store the workers open with
the credentials they inherit, and the errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import dask
import dask.dataframe as dd
import distributed
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import sheaf
import sheaf.dask
from sheaf import QueryBuilder
from sheaf._lib import ffi
from sheaf._lib import lib as clib

LIB = "lib"


@pytest.fixture(scope="module", autouse=True)
def strings_as_read():
    # Partitions keep the string dtypes sheaf reads (dask's default turns them into
    # string[pyarrow]; one test checks that).
    with dask.config.set({"dataframe.convert-string": False}):
        yield


@pytest.fixture(scope="module")
def client():
    # One cluster for the module. A worker that dies fails its task at once (no retries on
    # another worker), so a killed write fails instead of being run again.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        )
    try:
        with distributed.Client(cluster) as c:
            yield c
    finally:
        cluster.close()


@pytest.fixture
def uri(tmp_path):
    return "lmdb://" + str(tmp_path / "store")


@pytest.fixture
def lib(uri):
    with sheaf.open(uri) as store:
        yield store.create_library(LIB, rows_per_segment=10)


def frame(n=95, start="2024-01-01", seed=0):
    rng = np.random.default_rng(seed)
    values = rng.random(n)
    values[::9] = np.nan
    return pd.DataFrame(
        {
            "a": np.arange(n, dtype=np.int64),
            "b": values,
            "s": [None if i % 7 == 3 else f"s{i}" for i in range(n)],
        },
        index=pd.date_range(start, periods=n, freq="h", tz="UTC", name="time"),
    )


def stats(library):
    import json

    from sheaf import _lib

    out = ffi.new("SheafBytes *")
    slot = _lib.errslot()
    _lib.check(clib.sheaf_library_stats(library._h, out, slot), slot)
    return json.loads(_lib.take_bytes(out))


def worker_pids(client):
    return set(client.run(os.getpid).values())


# -- reading -----------------------------------------------------------------------------------
def test_partitions_are_row_ranges_of_a_few_segments_and_equal_the_read(client, uri, lib):
    df = frame()
    lib.write("t", df)
    assert lib.get_description("t").segments == 10
    ddf = sheaf.dask.read(uri, LIB, "t")
    # ceil(10 segments / 4 per partition): rows 0-40, 40-80, 80-95, cut on segment boundaries
    assert ddf.npartitions == 3
    assert list(ddf.dtypes.items()) == list(df.dtypes.items())
    assert ddf._meta.index.dtype == df.index.dtype and ddf._meta.index.name == "time"
    assert len(ddf._meta) == 0
    for i, (lo, hi) in enumerate([(0, 40), (40, 80), (80, 95)]):
        assert_frame_equal(ddf.get_partition(i).compute(), df.iloc[lo:hi], check_freq=False)
    result = ddf.compute()
    assert_frame_equal(result, lib.read("t").data)
    assert_frame_equal(result, df, check_freq=False)

    one_each = sheaf.dask.read(uri, LIB, "t", segments_per_partition=1)
    assert one_each.npartitions == 10
    assert_frame_equal(one_each.compute(), df, check_freq=False)
    assert sheaf.dask.read(uri, LIB, "t", segments_per_partition=100).npartitions == 1


def test_each_segment_is_loaded_by_one_partition(lib, uri):
    # The tasks the graph holds, read here one after the other: together they load every
    # segment exactly once (cuts on segment boundaries).
    lib.write("t", frame())
    tasks = sheaf.dask._read_tasks(lib, uri, "t", None, None, None, [], 4)
    assert [(t.start, t.stop) for t in tasks] == [(0, 40), (40, 80), (80, 95)]
    loaded = []
    for task in tasks:
        before = stats(lib)["segments_loaded"]
        sheaf.dask._read_rows(lib, task)
        loaded.append(stats(lib)["segments_loaded"] - before)
    assert loaded == [4, 4, 2]


def test_range_index_and_uneven_segments(client, uri, lib):
    df = frame(n=70).reset_index(drop=True)
    lib.write("r", df.iloc[:25])
    for lo, hi in ((25, 31), (31, 50), (50, 70)):
        lib.append("r", df.iloc[lo:hi])
    assert lib.get_description("r").segments == 3 + 1 + 2 + 2
    ddf = sheaf.dask.read(uri, LIB, "r")
    assert ddf.npartitions == 2  # rows cut evenly: the segments are not all full ones
    assert_frame_equal(ddf.get_partition(1).compute(), df.iloc[35:])
    result = ddf.compute()
    assert isinstance(result.index, pd.RangeIndex)
    assert_frame_equal(result, df)
    assert_frame_equal(result, lib.read("r").data)


def test_empty_symbol_is_one_empty_partition(client, uri, lib):
    lib.write("e", frame().iloc[:0])
    ddf = sheaf.dask.read(uri, LIB, "e")
    assert ddf.npartitions == 1
    assert_frame_equal(ddf.compute(), lib.read("e").data)


def test_dask_string_conversion_applies_when_on(client, uri, lib):
    df = frame()
    lib.write("t", df)
    with dask.config.set({"dataframe.convert-string": True}):
        ddf = sheaf.dask.read(uri, LIB, "t")
    result = ddf.compute()
    assert result["s"].dtype == pd.StringDtype("pyarrow") == ddf.dtypes["s"]
    assert result["s"].isna().tolist() == df["s"].isna().tolist()
    assert result["s"].dropna().tolist() == df["s"].dropna().tolist()
    assert_frame_equal(result.drop(columns="s"), df.drop(columns="s"), check_freq=False)


def test_a_filter_query_runs_on_the_workers(client, uri, lib):
    df = frame()
    lib.write("t", df)
    q = QueryBuilder()
    q = q[(q["a"] < 25) | (q["b"] > 0.8)]
    q["c"] = q["a"] * 2
    start = pd.Timestamp("2024-01-01 10:00", tz="UTC")
    end = pd.Timestamp("2024-01-03 20:00", tz="UTC")
    ddf = sheaf.dask.read(
        uri, LIB, "t", query_builder=q, columns=["b", "a"], date_range=(start, end)
    )
    assert ddf.npartitions == 3
    assert list(ddf.columns) == ["b", "a", "c"]

    # Each partition is filtered as it is read, in a worker process.
    def with_pid(part):
        return part.assign(pid=os.getpid())

    meta = ddf._meta.assign(pid=np.int64(0))
    result = ddf.map_partitions(with_pid, meta=meta).compute()
    assert set(result["pid"]) <= worker_pids(client) and os.getpid() not in set(result["pid"])
    result = result.drop(columns="pid")

    window = df.loc[start:end]
    expected = window.loc[(window["a"] < 25) | (window["b"] > 0.8), ["b", "a"]]
    expected = expected.assign(c=expected["a"] * 2)
    assert len(expected) > 10
    assert_frame_equal(result, expected, check_freq=False)
    assert_frame_equal(
        result,
        lib.read("t", query_builder=q, columns=["b", "a"], date_range=(start, end)).data,
    )


def test_date_range_skips_the_segments_outside_it(lib, uri):
    df = frame()
    lib.write("t", df)
    start, end = pd.Timestamp("2024-01-02 03:00", tz="UTC"), pd.Timestamp("2024-01-02 12:00")
    tasks = sheaf.dask._read_tasks(lib, uri, "t", None, (start, end), None, [], 4)
    loaded, parts = [], []
    for task in tasks:
        before = stats(lib)["segments_loaded"]
        parts.append(sheaf.dask._read_rows(lib, task))
        loaded.append(stats(lib)["segments_loaded"] - before)
    # rows 27..36 (a naive bound is UTC): segments 20-30 and 30-40, both in the first partition
    assert loaded == [2, 0, 0]
    assert [len(p) for p in parts] == [10, 0, 0]
    assert_frame_equal(pd.concat(parts), df.iloc[27:37], check_freq=False)


@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
@pytest.mark.parametrize(
    "bounds",
    [
        ("2024-01-02 03:00", "2024-01-02 12:00"),
        ("2024-01-02 03:00:00.0000005", None),  # between two stored microseconds
        (None, "2024-01-01 05:30"),
        ("2024-01-02 03:00+05:00", "2024-01-03 12:00-02:00"),
        ("raw middle", None),  # a raw index value: no segment skipping, the clause alone
    ],
)
def test_date_range_per_partition_equals_the_read(client, uri, lib, tz, bounds):
    df = frame()
    df.index = df.index.tz_convert(tz) if tz else df.index.tz_localize(None)
    lib.write("t", df)
    first, last = lib.get_description("t").index_range
    date_range = tuple(
        (first + last) // 2 if b == "raw middle" else None if b is None else pd.Timestamp(b)
        for b in bounds
    )
    expected = lib.read("t", date_range=date_range).data
    assert 0 < len(expected) < len(df)
    result = sheaf.dask.read(uri, LIB, "t", date_range=date_range).compute()
    assert_frame_equal(result, expected)


def test_the_version_is_pinned_when_the_graph_is_built(client, uri, lib):
    old = frame()
    lib.write("t", old)
    latest = sheaf.dask.read(uri, LIB, "t")
    by_number = sheaf.dask.read(uri, LIB, "t", as_of=-1)
    lib.snapshot("snap")
    by_snapshot = sheaf.dask.read(uri, LIB, "t", as_of="snap")

    new = frame(n=30, seed=1)  # other values, fewer rows
    assert lib.write("t", new).version == 1
    lib.append("t", frame(n=5, start="2024-03-01"))
    for ddf in (latest, by_number, by_snapshot):
        assert_frame_equal(ddf.compute(), old, check_freq=False)
    # The snapshot keeps version 0 readable after it is deleted.
    lib.delete("t", versions=[0])
    assert_frame_equal(by_snapshot.compute(), old, check_freq=False)
    with pytest.raises(sheaf.NoSuchVersionError):
        latest.compute()
    # A graph built now reads the latest version.
    assert_frame_equal(
        sheaf.dask.read(uri, LIB, "t").compute(), lib.read("t").data, check_freq=False
    )
    assert len(lib.read("t").data) == 35
    # A snapshot deleted and taken again holds another version: refused, not read.
    lib.delete_snapshot("snap")
    lib.snapshot("snap")
    with pytest.raises(sheaf.ConflictError, match="holds version 2 now"):
        by_snapshot.compute()


# -- writing -----------------------------------------------------------------------------------
def test_write_from_four_partitions(client, uri, lib):
    df = frame(n=200)
    ddf = dd.from_pandas(df, npartitions=4)
    assert ddf.npartitions == 4
    item = sheaf.dask.write(ddf, uri, LIB, "w", metadata={"source": "dask"})
    assert item.version == 0 and item.metadata == {"source": "dask"}
    read = lib.read("w")
    assert read.version == 0 and read.metadata == {"source": "dask"}
    assert_frame_equal(read.data, df, check_freq=False)
    assert lib.get_description("w").index.name == "time"
    assert lib.list_staged_chunks("w") == []

    # A RangeIndex: no index column, so the partitions are staged in order.
    plain = frame(n=200, seed=2).reset_index(drop=True)
    item = sheaf.dask.write(dd.from_pandas(plain, npartitions=4), uri, LIB, "p")
    assert item.version == 0
    result = lib.read("p").data
    assert isinstance(result.index, pd.RangeIndex)
    assert_frame_equal(result, plain)
    assert lib.get_description("p").index is None

    # A write replaces the content; a Series works too.
    item = sheaf.dask.write(dd.from_pandas(df["b"], npartitions=3), uri, LIB, "w")
    assert item.version == 1
    pd.testing.assert_series_equal(lib.read("w").data, df["b"], check_freq=False)
    series = sheaf.dask.read(uri, LIB, "w")
    assert isinstance(series, dd.Series)
    pd.testing.assert_series_equal(series.compute(), df["b"], check_freq=False)


def test_a_named_memory_store_with_the_threaded_scheduler():
    # mem://NAME lives in one process: dask's threaded scheduler reads and writes it there.
    with sheaf.open("mem://dask-threads") as store:
        lib = store.create_library(LIB, rows_per_segment=10)
        df = frame()
        lib.write("t", df)
        with dask.config.set(scheduler="threads"):
            ddf = sheaf.dask.read("mem://dask-threads", LIB, "t")
            assert ddf.npartitions == 3
            assert_frame_equal(ddf.compute(), df, check_freq=False)
            plain = df.reset_index(drop=True)
            sheaf.dask.write(dd.from_pandas(plain, npartitions=4), "mem://dask-threads", LIB, "p")
        assert_frame_equal(lib.read("p").data, plain)
    # The tasks' stores closed with them: the named store went with its owner.
    with sheaf.open("mem://dask-threads") as store:
        assert store.list_libraries() == []


def test_write_round_trips_a_dask_read(client, uri, lib):
    df = frame()
    lib.write("t", df)
    q = QueryBuilder()
    q = q[q["a"] >= 10]
    sheaf.dask.write(sheaf.dask.read(uri, LIB, "t", query_builder=q), uri, LIB, "copy")
    assert_frame_equal(lib.read("copy").data, df.iloc[10:], check_freq=False)


def test_a_failing_partition_commits_nothing(client, uri, lib):
    lib.write("w", frame(n=20))
    df = frame(n=40)
    shuffled = pd.concat([df.iloc[:20], df.iloc[30:], df.iloc[20:30]])  # last partition unsorted
    ddf = dd.from_pandas(df, npartitions=2).map_partitions(
        lambda part: shuffled.iloc[20:] if part["a"].iloc[0] == 20 else part, meta=df.iloc[:0]
    )
    with pytest.raises(sheaf.UnsortedIndexError):
        sheaf.dask.write(ddf, uri, LIB, "w")
    assert [k.version for k in lib.list_versions("w")] == [0]
    assert_frame_equal(lib.read("w").data, frame(n=20), check_freq=False)
    # The write raised only once every partition was done: the sorted one is staged (and
    # stays, as documented, until deleted), nothing is still staging.
    assert len(lib.list_staged_chunks("w")) == 1
    assert lib.delete_staged_data("w") == 1
    assert lib.list_staged_chunks("w") == []

    # Partitions sorted each, overlapping each other: the finalize refuses them and drops them.
    overlapping = dd.from_pandas(
        pd.concat([df.iloc[:20], df.iloc[10:30]]), npartitions=2, sort=False
    )
    assert overlapping.npartitions == 2
    with pytest.raises(sheaf.UnsortedIndexError, match="overlap"):
        sheaf.dask.write(overlapping, uri, LIB, "w")
    assert [k.version for k in lib.list_versions("w")] == [0]
    assert lib.list_staged_chunks("w") == []


# -- on S3 -------------------------------------------------------------------------------------
def test_workers_read_and_write_an_s3_store_with_the_credentials_they_inherit(client, s3_uri):
    # The workers are processes the cluster started: they open the s3:// URI themselves, with
    # the AWS_* variables they inherited (the URI never carries credentials).
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
    here = {name: os.environ.get(name) for name in names}
    assert all(here.values()), here
    inherited = client.run(lambda: {name: os.environ.get(name) for name in names})
    assert len(inherited) == 2 and all(env == here for env in inherited.values())

    df = frame()
    with sheaf.open(s3_uri) as store:
        lib = store.create_library(LIB, rows_per_segment=10)
        lib.write("t", df)
        ddf = sheaf.dask.read(s3_uri, LIB, "t")
        assert ddf.npartitions == 3

        def with_pid(part):
            return part.assign(pid=os.getpid())

        read = ddf.map_partitions(with_pid, meta=ddf._meta.assign(pid=np.int64(0))).compute()
        assert set(read["pid"]) <= worker_pids(client) and os.getpid() not in set(read["pid"])
        assert_frame_equal(read.drop(columns="pid"), df, check_freq=False)

        # Each worker stages its partitions on S3; one finalize commits them as one version.
        doubled = ddf.map_partitions(lambda part: part.assign(a=part["a"] * 2), meta=ddf._meta)
        item = sheaf.dask.write(doubled, s3_uri, LIB, "x2", metadata={"from": "dask"})
        assert item.version == 0 and item.metadata == {"from": "dask"}
        expected = df.assign(a=df["a"] * 2)
        assert_frame_equal(lib.read("x2").data, expected, check_freq=False)
        assert lib.list_staged_chunks("x2") == []
        # and a dask read of what the workers wrote gives it back
        assert_frame_equal(sheaf.dask.read(s3_uri, LIB, "x2").compute(), expected, check_freq=False)
        report = store.verify()
        assert report["problems"] == [] and report["leftovers"] == []


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "plan",
    [
        lambda q: q.groupby("s").agg({"a": "sum"}),
        lambda q: q.resample("1D").agg({"a": "sum"}),
        lambda q: q.head(3),
        lambda q: q[q["a"] > 1].tail(3),
        lambda q: q.row_range((0, 5)),
        lambda q: q.date_range((pd.Timestamp("2024-01-02"), None)),
    ],
    ids=["groupby", "resample", "head", "filter-then-tail", "row_range", "date_range"],
)
def test_aggregating_or_row_selecting_queries_are_refused(uri, lib, plan):
    lib.write("t", frame())
    with pytest.raises(sheaf.InvalidArgumentError, match="each partition apart"):
        sheaf.dask.read(uri, LIB, "t", query_builder=plan(QueryBuilder()))


def test_errors_when_the_graph_is_built(uri, lib):
    lib.write("t", frame())
    with pytest.raises(sheaf.NoSuchSymbolError):
        sheaf.dask.read(uri, LIB, "missing")
    with pytest.raises(KeyError):
        sheaf.dask.read(uri, LIB, "missing")
    with pytest.raises(sheaf.NoSuchLibraryError):
        sheaf.dask.read(uri, "nope", "t")
    with pytest.raises(sheaf.NoSuchVersionError):
        sheaf.dask.read(uri, LIB, "t", as_of=7)
    with pytest.raises(sheaf.SchemaError):
        sheaf.dask.read(uri, LIB, "t", columns=["zzz"])
    q = QueryBuilder()
    with pytest.raises(sheaf.SchemaError):
        sheaf.dask.read(uri, LIB, "t", query_builder=q[q["zzz"] > 1])
    with pytest.raises(sheaf.InvalidArgumentError, match="pandas"):
        sheaf.dask.read(uri, LIB, "t", output_format="pyarrow")
    with pytest.raises(sheaf.InvalidArgumentError, match="segments_per_partition"):
        sheaf.dask.read(uri, LIB, "t", segments_per_partition=0)
    with pytest.raises(sheaf.InvalidArgumentError, match="mem://"):
        sheaf.dask.read("mem://", LIB, "t")
    lib.write("array", np.arange(12.0).reshape(6, 2))
    with pytest.raises(sheaf.InvalidArgumentError, match="numpy array"):
        sheaf.dask.read(uri, LIB, "array")
    ddf = dd.from_pandas(frame(), npartitions=2)
    with pytest.raises(TypeError, match="dask DataFrame"):
        sheaf.dask.write(frame(), uri, LIB, "w")  # type: ignore[arg-type]
    with pytest.raises(sheaf.NoSuchLibraryError):
        sheaf.dask.write(ddf, uri, "nope", "w")
    with pytest.raises(TypeError):
        sheaf.dask.write(ddf, uri, LIB, "w", metadata={"x": object()})
    assert "w" not in lib and lib.get_staged_symbols() == []


def test_import_sheaf_never_imports_dask():
    code = textwrap.dedent(
        """
        import sys
        import sheaf, sheaf.dask
        assert "dask" not in sys.modules, sorted(m for m in sys.modules if "dask" in m)
        sys.modules["dask"] = None  # as if dask were not installed
        try:
            sheaf.dask.read("lmdb:///nowhere", "lib", "t")
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "sheaf.dask needs dask" in out.stdout and "pip install" in out.stdout


# -- a worker killed mid-write (last: the cluster restarts that worker) ---------------------------
def test_a_worker_killed_mid_write_commits_nothing_and_the_write_can_run_again(client, uri, lib):
    old = frame(n=20, start="2023-01-01")
    lib.write("w", old)
    df = frame(n=200)
    ddf = dd.from_pandas(df, npartitions=4)
    doomed_first_row = int(ddf.get_partition(3).compute()["a"].iloc[0])

    def die_in_the_last_partition(part, uri=uri):
        # Runs on a worker: once another partition of this write is staged, the worker
        # computing the last partition dies before staging it.
        if len(part) and int(part["a"].iloc[0]) == doomed_first_row:
            import time

            import sheaf as sheaf_in_worker

            library = sheaf_in_worker.open(uri).get_library(LIB)
            deadline = time.monotonic() + 30
            while not library.list_staged_chunks("w") and time.monotonic() < deadline:
                time.sleep(0.02)
            os._exit(1)
        return part

    poisoned = ddf.map_partitions(die_in_the_last_partition, meta=ddf._meta)
    with pytest.raises(distributed.KilledWorker):
        sheaf.dask.write(poisoned, uri, LIB, "w")
    # Nothing committed: version 0 only, its rows unchanged; the dead write's chunks stay staged.
    assert [k.version for k in lib.list_versions("w")] == [0]
    assert_frame_equal(lib.read("w").data, old, check_freq=False)
    leftovers = lib.list_staged_chunks("w")
    assert leftovers

    client.wait_for_workers(2, timeout=60)
    item = sheaf.dask.write(ddf, uri, LIB, "w")
    assert item.version == 1
    assert [k.version for k in lib.list_versions("w")] == [1, 0]
    # Exactly the rewritten rows: none of the dead write's chunks were committed with them.
    assert_frame_equal(lib.read("w").data, df, check_freq=False)
    assert {c.chunk_id for c in lib.list_staged_chunks("w")} >= {c.chunk_id for c in leftovers}
    assert lib.delete_staged_data("w") >= len(leftovers)
