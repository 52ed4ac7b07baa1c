"""Fixtures of the portable suite (numpy and plain Python only)."""

from __future__ import annotations

import pytest

import sheaf


@pytest.fixture
def store():
    s = sheaf.open("mem://", output_format="numpy")
    yield s
    s.close()


@pytest.fixture
def lib(store):
    return store.create_library("lib")


@pytest.fixture
def lmdb_uri(tmp_path):
    return "lmdb://" + str(tmp_path / "store")


def new_s3_store_uri(tag: str = "py") -> str:
    """An s3:// URI on a new bucket of the local S3 server `python3 build.py test` starts
    (SHEAF_TEST_S3_ENDPOINT, tests/s3_server.py). Without the server the calling test is
    skipped, which CI=true refuses (build.py always starts it)."""
    import os
    import urllib.request
    import uuid

    endpoint = os.environ.get("SHEAF_TEST_S3_ENDPOINT")
    if endpoint is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true needs SHEAF_TEST_S3_ENDPOINT (build.py test starts the server)")
        pytest.skip("no local S3 server (python3 build.py test starts one)")
    bucket = f"{tag}-{uuid.uuid4().hex[:16]}"
    request = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT", data=b"")
    with urllib.request.urlopen(request) as reply:
        assert reply.status == 200
    return f"s3://{bucket}/store?endpoint={endpoint}&allow_http=true"


@pytest.fixture
def s3_uri():
    return new_s3_store_uri()
