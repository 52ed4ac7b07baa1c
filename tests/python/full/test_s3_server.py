"""The local S3 server the ``s3://`` tests run against (tests/s3_server.py): plain HTTP
requests, conditional PUTs, and the serialisation that makes a conditional PUT's check and
write atomic. Uses the server of ``build.py test`` (SHEAF_TEST_S3_ENDPOINT) when it is set,
else starts one; the in-process tests need moto, which the full suite's venv has."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List

import pytest
import s3_server
from s3_server import create_bucket, request

THREADS = 16
ROUNDS = 5


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    given = os.environ.get(s3_server.ENDPOINT_VARIABLE)
    if given:
        yield given
        return
    with s3_server.s3_server() as started:
        yield started


def fresh_bucket(endpoint: str) -> str:
    name = f"test-s3-server-{uuid.uuid4().hex[:16]}"
    create_bucket(endpoint, name)
    return name


@pytest.fixture
def bucket(endpoint: str) -> str:
    return fresh_bucket(endpoint)


def etag_of(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def race(attempt: Callable[[int], int], threads: int = THREADS) -> List[int]:
    """The statuses of ``attempt(i)`` for i in range(threads), all started at once."""
    start = threading.Barrier(threads)

    def one(i: int) -> int:
        start.wait(timeout=60)
        return attempt(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(threads)))


def racing_puts(endpoint: str, key: str, bodies: List[bytes], headers: Dict[str, str]) -> List[int]:
    """The statuses of one PUT of each of ``bodies`` to ``key``, all sent at once."""
    return race(lambda i: request(endpoint, "PUT", key, bodies[i], headers).status, len(bodies))


def test_put_and_get_over_plain_http(endpoint: str, bucket: str) -> None:
    data = bytes(range(256)) * 40
    put = request(endpoint, "PUT", f"{bucket}/dir/object", data)
    assert put.status == 200
    assert put.headers["ETag"] == etag_of(data)
    got = request(endpoint, "GET", f"{bucket}/dir/object")
    assert (got.status, got.body, got.headers["ETag"]) == (200, data, etag_of(data))
    head = request(endpoint, "HEAD", f"{bucket}/dir/object")
    assert (head.status, head.headers["Content-Length"]) == (200, str(len(data)))
    missing = request(endpoint, "GET", f"{bucket}/dir/absent")
    assert missing.status == 404
    assert b"<Code>NoSuchKey</Code>" in missing.body
    assert request(endpoint, "DELETE", f"{bucket}/dir/object").status == 204
    assert request(endpoint, "GET", f"{bucket}/dir/object").status == 404


def test_a_request_without_authorization_is_anonymous(endpoint: str, bucket: str) -> None:
    """Why :func:`s3_server.request` sends a dummy Authorization header (moto checks no
    signature): without one moto refuses reads of an existing private object."""
    assert request(endpoint, "PUT", f"{bucket}/private", b"x").status == 200
    url = f"{endpoint}/{bucket}/private"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30).close()
    refused.value.close()
    assert refused.value.code == 403
    assert request(endpoint, "GET", f"{bucket}/private").body == b"x"


def test_unknown_bucket_and_invalid_bucket_name(endpoint: str) -> None:
    unknown = request(endpoint, "PUT", f"no-such-bucket-{uuid.uuid4().hex[:16]}/k", b"x")
    assert unknown.status == 404
    assert b"<Code>NoSuchBucket</Code>" in unknown.body
    with pytest.raises(RuntimeError, match="400"):
        create_bucket(endpoint, "x")  # shorter than S3's 3 characters


def test_if_none_match_creates_only_an_absent_key(endpoint: str, bucket: str) -> None:
    key = f"{bucket}/created"
    assert request(endpoint, "PUT", key, b"first", {"If-None-Match": "*"}).status == 200
    again = request(endpoint, "PUT", key, b"second", {"If-None-Match": "*"})
    assert again.status == 412
    assert b"<Code>PreconditionFailed</Code>" in again.body
    assert request(endpoint, "GET", key).body == b"first"


def test_if_match_replaces_only_the_version_read(endpoint: str, bucket: str) -> None:
    key = f"{bucket}/swapped"
    first = request(endpoint, "PUT", key, b"v1").headers["ETag"]
    second = request(endpoint, "PUT", key, b"v2", {"If-Match": first})
    assert second.status == 200
    assert second.headers["ETag"] == etag_of(b"v2")
    stale = request(endpoint, "PUT", key, b"v3", {"If-Match": first})
    assert stale.status == 412
    assert b"<Code>PreconditionFailed</Code>" in stale.body
    assert request(endpoint, "GET", key).body == b"v2"
    # The ETag without its quotes matches too, as on S3.
    unquoted = second.headers["ETag"].strip('"')
    assert request(endpoint, "PUT", key, b"v4", {"If-Match": unquoted}).status == 200
    # A swap of a key that does not exist: 404, and nothing is written.
    absent = request(endpoint, "PUT", f"{bucket}/absent", b"x", {"If-Match": first})
    assert absent.status == 404
    assert request(endpoint, "GET", f"{bucket}/absent").status == 404


def test_racing_creates_exactly_one_wins(endpoint: str, bucket: str) -> None:
    for round_ in range(ROUNDS):
        key = f"{bucket}/race-{round_}"
        bodies = [f"writer {i}".encode() * 1000 for i in range(THREADS)]
        statuses = racing_puts(endpoint, key, bodies, {"If-None-Match": "*"})
        assert sorted(statuses) == [200] + [412] * (THREADS - 1), statuses
        assert request(endpoint, "GET", key).body == bodies[statuses.index(200)]


def test_racing_swaps_exactly_one_wins(endpoint: str, bucket: str) -> None:
    key = f"{bucket}/swap-race"
    etag = request(endpoint, "PUT", key, b"base").headers["ETag"]
    for round_ in range(ROUNDS):
        bodies = [f"round {round_} writer {i}".encode() for i in range(THREADS)]
        statuses = racing_puts(endpoint, key, bodies, {"If-Match": etag})
        assert sorted(statuses) == [200] + [412] * (THREADS - 1), statuses
        got = request(endpoint, "GET", key)
        assert got.body == bodies[statuses.index(200)]
        etag = got.headers["ETag"]


@contextlib.contextmanager
def in_process_server(serialised: bool) -> Iterator[str]:
    server = s3_server.make_server(serialised=serialised)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield s3_server.endpoint_of(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


@pytest.mark.parametrize("serialised", [True, False], ids=["serialised", "without-the-lock"])
def test_the_lock_makes_check_and_write_atomic(monkeypatch: Any, serialised: bool) -> None:
    """moto's own window between a conditional PUT's check and its write is short, so racing
    requests rarely hit it: here moto's write waits until a second request has passed the
    check too (or, when none can, for 2 s). Without the lock two creates then both succeed
    (which shows the test can see the race); with it exactly one does."""
    from moto.s3.models import S3Backend

    write = S3Backend.put_object
    second_request = threading.Barrier(2, timeout=2 if serialised else 60)

    def put_object_after_a_second_check(self: Any, *args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            second_request.wait()
        second_request.abort()  # the later writers do not wait
        return write(self, *args, **kwargs)

    with in_process_server(serialised) as endpoint:
        bucket = fresh_bucket(endpoint)
        monkeypatch.setattr(S3Backend, "put_object", put_object_after_a_second_check)
        bodies = [b"%d" % i for i in range(THREADS)]
        statuses = racing_puts(endpoint, f"{bucket}/k", bodies, {"If-None-Match": "*"})
    assert set(statuses) <= {200, 412}, statuses
    if serialised:
        assert statuses.count(200) == 1, statuses
    else:
        assert statuses.count(200) >= 2, statuses


def refuses_connections(endpoint: str) -> bool:
    address = urllib.parse.urlsplit(endpoint)
    try:
        socket.create_connection((address.hostname, address.port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_context_manager_stops_the_server() -> None:
    with s3_server.s3_server() as endpoint:
        assert endpoint.startswith("http://127.0.0.1:")
        create_bucket(endpoint, "stopped-later")
        assert request(endpoint, "PUT", "stopped-later/k", b"x").status == 200
    assert refuses_connections(endpoint)

    with pytest.raises(ZeroDivisionError), s3_server.s3_server() as failing:
        assert request(failing, "GET", "").status == 200  # ListBuckets
        print(1 / 0)
    assert refuses_connections(failing)


def test_environment_of_the_test_processes() -> None:
    assert s3_server.test_environment("http://127.0.0.1:1") == {
        "SHEAF_TEST_S3_ENDPOINT": "http://127.0.0.1:1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }
