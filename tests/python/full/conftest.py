"""Fixtures of the full suite (pandas, pyarrow, polars installed)."""

from __future__ import annotations

import pytest

import sheaf


@pytest.fixture
def store():
    s = sheaf.open("mem://")
    yield s
    s.close()


@pytest.fixture
def lib(store):
    return store.create_library("lib")


@pytest.fixture
def s3_uri():
    """An s3:// URI on a new bucket of the local S3 server `python3 build.py test` starts
    (SHEAF_TEST_S3_ENDPOINT, tests/s3_server.py), as the portable suite's fixture. Without the
    server the calling test is skipped, which CI=true refuses (build.py always starts it and
    exports the credentials, which worker processes then inherit)."""
    import os
    import uuid

    from s3_server import ENDPOINT_VARIABLE, create_bucket

    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    if endpoint is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs {ENDPOINT_VARIABLE} (build.py test starts the server)")
        pytest.skip("no local S3 server (python3 build.py test starts one)")
    bucket = f"full-{uuid.uuid4().hex[:16]}"
    create_bucket(endpoint, bucket)
    return f"s3://{bucket}/store?endpoint={endpoint}&allow_http=true"
