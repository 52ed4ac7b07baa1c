"""s3:// stores end to end from Python (numpy only), against the local S3 server that
`python3 build.py test` starts (tests/s3_server.py, its requests serialised so that
conditional writes are atomic, as on S3). Tables, key spaces and collections; concurrent
appends from processes; failures that must be clear errors and lose nothing; a writer killed
at each stage of a commit (tests/python/full/test_s3_failures.py has the server failures)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest

import sheaf
from sheaf import Mode

ENDPOINT = os.environ.get("SHEAF_TEST_S3_ENDPOINT", "")


@pytest.fixture
def uri(s3_uri):
    return s3_uri


def s3_uri_on(bucket: str, **options: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"endpoint": ENDPOINT, **options}.items())
    return f"s3://{bucket}/store?{query}&allow_http=true"


def test_tables_on_s3(uri):
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store.create_library("l", rows_per_segment=3)
        days = np.datetime64("2024-01-01", "ns") + np.arange(10) * np.timedelta64(1, "D")
        lib.write("s", {"ts": days, "v": np.arange(10)}, index="ts", metadata={"m": 1})
        lib.append("s", {"ts": days[-1:] + np.timedelta64(1, "D"), "v": np.array([10])})
        lib.update("s", {"ts": days[2:4], "v": np.array([-2, -3])})
        lib.snapshot("snap")
        assert list(lib.read("s").data["v"]) == [0, 1, -2, -3, 4, 5, 6, 7, 8, 9, 10]
        assert list(lib.read("s", as_of=0).data["v"]) == list(range(10))
        assert list(lib.read("s", date_range=(days[8], None)).data["v"]) == [8, 9, 10]
        assert [v.version for v in lib.list_versions("s")] == [2, 1, 0]
        assert lib.read_metadata("s", as_of=0).metadata == {"m": 1}
        lib.delete("s", versions=[0])
        assert list(lib.read("s", as_of="snap").data["v"])[:2] == [0, 1]
        lib.write_pickle("p", {"x": [1, 2]})
        assert lib.read("p", allow_pickle=True).data == {"x": [1, 2]}
        assert lib.admin_tools().get_sizes_for_symbol("s")[sheaf.KeyType.VERSION].count == 4
    # Another handle (another "machine") sees everything.
    with sheaf.open(uri, output_format="numpy") as again:
        assert again.list_libraries() == ["l"]
        assert list(again["l"].read("s").data["v"])[-1] == 10


def test_key_spaces_and_collections_on_s3(uri):
    with sheaf.open(uri) as store:
        kv = store.kv("space")
        kv.put("a", b"1")
        kv.put("a", b"2", Mode.APPEND)
        assert kv.get("a") == b"12"
        with pytest.raises(sheaf.KeyExistsError):
            kv.put("a", b"x", Mode.NEW_ONLY)
        kv.put_multi(["b", "c", "d"], [b"B", b"C", b"D"])
        assert kv.list_keys(count=10) == [b"a", b"b", b"c", b"d"]
        assert kv.get("b", Mode.CONSUME) == b"B" and not kv.exists("b")
        assert kv.list_keys(count=10) == [b"a", b"c", b"d"]
        assert kv.erase_range(b"") == 3 and kv.count() == 0
        docs = store.create_collection("docs")
        ids = docs.store_multi([b'{"n": 1}', b'{"n": 2}'])
        assert list(ids) == [0, 1]
        docs.update(1, b'{"n": 20}')
        docs.erase(0)
        assert docs.load(1) == {"n": 20} and docs.size() == 1
        store.drop_collection("docs")
        assert "docs" not in store.list_collections()
        store.create_collection("docs")  # a dropped name starts empty again
        assert store.open_collection("docs").size() == 0


APPENDER = textwrap.dedent(
    """
    import sys, numpy as np, sheaf
    uri, tag = sys.argv[1], int(sys.argv[2])
    lib = sheaf.open(uri, output_format="numpy")["l"]
    for i in range(15):
        lib.append("s", {"v": np.array([tag * 1000 + i])})
    """
)


def test_appends_from_two_processes_all_land(uri):
    with sheaf.open(uri, output_format="numpy") as store:
        store.create_library("l").write("s", {"v": np.zeros(0, dtype=np.int64)})
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, uri, str(t)]) for t in (1, 2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store["l"]
        values = sorted(lib.read("s").data["v"].tolist())
        assert values == sorted(t * 1000 + i for t in (1, 2) for i in range(15))
        assert sorted(v.version for v in lib.list_versions("s")) == list(range(31))


def test_a_missing_bucket_and_a_dead_server_are_clear_storage_errors(uri):
    with pytest.raises(sheaf.StorageError, match="cannot be listed") as info:
        sheaf.open(s3_uri_on(f"missing-{uuid.uuid4().hex[:8]}", max_retries="0"))
    assert isinstance(info.value, OSError)
    dead = "s3://b/x?endpoint=http://127.0.0.1:9&allow_http=true&max_retries=0&connect_timeout=1s"
    with pytest.raises(sheaf.StorageError):
        sheaf.open(dead)


def test_credentials_never_appear_in_uris_messages_or_reprs(uri, monkeypatch):
    secret = "not-a-real-secret-" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with sheaf.open(uri) as store:
        assert secret not in repr(store) and "endpoint" not in store.uri.split("?")[0]
        lib = store.create_library("l")
        with pytest.raises(sheaf.NoSuchSymbolError) as info:
            lib.read("nope")
        assert secret not in str(info.value)
    with pytest.raises(sheaf.InvalidURIError, match="credentials") as bad:
        sheaf.open(uri + "&secret_access_key=" + secret)
    assert secret not in str(bad.value)


# -- a writer killed mid-commit ---------------------------------------------------------------
#: Rows of each appended batch and rows per segment: every append writes 3 segments, then its
#: version record (the commit point: a conditional PUT), then the head hint, and reads the
#: record back.
KILL_ROWS, KILL_SEGMENT_ROWS, KILL_SEGMENTS = 12, 4, 3
#: Batches the writer commits (acknowledged) before the one it is killed in.
KILL_AFTER = 3

LOOPING_APPENDER = textwrap.dedent(
    """
    import sys, numpy as np, sheaf
    uri, rows = sys.argv[1], int(sys.argv[2])
    lib = sheaf.open(uri, output_format="numpy")["l"]
    seq = int(sys.argv[3])
    while sys.stdin.readline():  # one line: one more batch ("seq", its number, in every row)
        item = lib.append("s", {"seq": np.full(rows, seq, dtype=np.int64)})
        print(seq, item.version, flush=True)
        seq += 1
    """
)

# Where the writer is stopped (its request held by the proxy, never answered) and killed:
# (the proxy's hold arguments, versions there after the kill, unreferenced segments left).
KILL_POINTS = {
    # its first segment PUT held; the others, sent at the same time, may have landed
    "before-its-first-segment": ((0, {"PUT"}, False), KILL_AFTER, range(KILL_SEGMENTS)),
    "between-its-segments": ((1, {"PUT"}, False), KILL_AFTER, range(1, KILL_SEGMENTS)),
    # every segment written, the version record's conditional PUT held: not committed
    "at-the-commit-point": ((KILL_SEGMENTS, {"PUT"}, False), KILL_AFTER, [KILL_SEGMENTS]),
    # the version record written, the writer killed before it heard so: committed
    "after-the-commit-point": ((KILL_SEGMENTS + 1, {"PUT"}, True), KILL_AFTER + 1, [0]),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_writer_killed_mid_commit_leaves_whole_versions_and_only_leftovers(uri, point):
    # A Python process appends batches in a loop through a proxy (tests/python/_s3_proxy.py)
    # that, after KILL_AFTER acknowledged commits, holds one request of the next commit; the
    # process is SIGKILLed while it waits for that request. Placed by counting requests, not
    # by timing: each case is the same kill every run.
    from _s3_proxy import FaultProxy

    hold, versions, leftover_counts = KILL_POINTS[point]
    with sheaf.open(uri) as store:
        store.create_library("l", rows_per_segment=KILL_SEGMENT_ROWS)
    with FaultProxy(ENDPOINT) as proxy:
        writer = subprocess.Popen(
            [sys.executable, "-c", LOOPING_APPENDER, proxy.uri(uri), str(KILL_ROWS), "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert writer.stdin is not None and writer.stdout is not None
        try:
            for seq in range(KILL_AFTER):
                writer.stdin.write(b"next\n")
                writer.stdin.flush()
                line = writer.stdout.readline()  # "seq version": acknowledged
                if not line:  # pragma: no cover - the writer failed
                    writer.wait(timeout=60)
                    pytest.fail(f"the writer ended: {writer.stderr.read()!r}")
                assert line.split() == [str(seq).encode(), str(seq).encode()], line
            after, methods, following = hold
            proxy.hold(after, methods, following=following)
            writer.stdin.write(b"next\n")
            writer.stdin.flush()
            held = proxy.wait_held()
            writer.kill()
            assert writer.wait(timeout=60) == -signal.SIGKILL
            # the last append was never acknowledged
            assert writer.stdout.read() == b"", writer.stderr.read() if writer.stderr else ""
        finally:
            if writer.poll() is None:  # pragma: no cover - a failed step above
                writer.kill()
                writer.wait()
            proxy.come_back()
    # (after the commit point the next request is the symbol's head hint, also a PUT)
    assert held.method == "PUT"

    with sheaf.open(uri, output_format="numpy") as store:
        lib = store["l"]
        # Every version there is whole: the batches committed up to it, each batch whole.
        assert sorted(k.version for k in lib.list_versions("s")) == list(range(versions))
        for v in range(versions):
            item = lib.read("s", as_of=v)
            assert item.rows == (v + 1) * KILL_ROWS
            assert item.data["seq"].tolist() == np.repeat(np.arange(v + 1), KILL_ROWS).tolist()
        # Damage none; what the killed commit wrote before its version record, leftovers.
        report = store.verify()
        assert report["problems"] == []
        kinds = [leftover["kind"] for leftover in report["leftovers"]]
        assert set(kinds) <= {"unreferenced_segment"}
        assert len(kinds) in leftover_counts, report["leftovers"]
        assert store.reclaim(grace_seconds=0) == {
            "removed_keys": len(kinds),
            "kept_young_segments": 0,
        }
        after_reclaim = store.verify()
        assert after_reclaim["problems"] == [] and after_reclaim["leftovers"] == []
        # The next append takes the next number and ends with its batch.
        item = lib.append("s", {"seq": np.full(KILL_ROWS, versions, dtype=np.int64)})
        assert item.version == versions
        data = lib.read("s").data["seq"]
        assert data.tolist() == np.repeat(np.arange(versions + 1), KILL_ROWS).tolist()
