"""s3:// stores end to end from Python (numpy only), against the local S3 server that
`python3 build.py test` starts (tests/s3_server.py, its requests serialised so that
conditional writes are atomic, as on S3). Tables, key spaces and collections; concurrent
appends from processes; failures that must be clear errors and lose nothing."""

from __future__ import annotations

import os
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
