"""s3:// stores when the server fails: it stops, it stops answering, it goes away in the middle
of a read or a commit, it refuses the credentials. Every failure must be a
:class:`sheaf.StorageError` (an ``OSError``) that says what failed, within a bounded time
(the URIs here set ``max_retries=0&connect_timeout=1s&timeout=2s``), and must lose nothing
that was committed.

The module runs moto servers of its own (tests/s3_server.py's ``s3_server()``, moto being in
this suite's venv), not the shared one of ``build.py test``: one the proxy tests share, one
that is stopped, one that checks signatures. moto keeps its data in memory, so a stopped
server takes its data with it — that test proves only the errors. The faults that must lose
nothing are made by a proxy in front of a running server (tests/python/_s3_proxy.py): the
client loses the server at a counted request, then the server comes back with what got
through, and the test checks it. Nothing here depends on timing except the upper bounds on
how long an error may take."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Tuple

import numpy as np
import pandas as pd
import pytest
import s3_server
from _s3_proxy import FaultProxy
from pandas.testing import assert_frame_equal
from s3_server import create_bucket, request

import sheaf
from sheaf import QueryBuilder

#: No retries, and short timeouts: a failure is an error at once, not a minute of backoff.
FAIL_FAST = "max_retries=0&connect_timeout=1s&timeout=2s"
#: Upper bound for one failing call (a few times the URI's timeouts, for a loaded machine).
BOUND_S = 15.0
ROWS, PER_SEGMENT = 100, 5  # 20 segments


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fake credentials moto takes (also when run outside build.py test, which exports them).
    for name, value in s3_server.CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A server of this module's own: its faults touch no other test's stores."""
    with s3_server.s3_server() as started:
        yield started


def store_uri(endpoint: str, options: str = FAIL_FAST) -> str:
    bucket = f"failures-{uuid.uuid4().hex[:16]}"
    create_bucket(endpoint, bucket)
    return f"s3://{bucket}/store?endpoint={endpoint}&allow_http=true&{options}"


def frame(n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"a": np.arange(n, dtype=np.int64), "b": rng.random(n), "s": [f"s{i}" for i in range(n)]},
        index=pd.date_range("2024-01-01", periods=n, freq="h", name="time"),
    )


def fails_as_storage_error(call: Callable[[], Any], where: str = "") -> sheaf.StorageError:
    """Runs ``call``, which must raise a StorageError within BOUND_S, saying what failed and
    making no claim about the data (not a NotFoundError, not a CorruptDataError); returns it."""
    start = time.monotonic()
    with pytest.raises(sheaf.StorageError) as info:
        call()
    elapsed = time.monotonic() - start
    error = info.value
    assert isinstance(error, OSError)
    assert not isinstance(error, (sheaf.CorruptDataError, sheaf.StorageFullError)), error
    assert elapsed < BOUND_S, f"{elapsed:.1f} s to fail"
    # it names the store (the request's own message names the server)
    assert re.search(r"(cannot open ')?s3://[^/]+/store", str(error)), str(error)
    if where:
        assert where in str(error), str(error)
    return error


def raise_data_errors(items: List[Any]) -> List[Any]:
    """A batch's items; raises the exception of its first failed item (a batch reports a
    failed item as a DataError in its place: each must be a storage error)."""
    errors = [item for item in items if isinstance(item, sheaf.DataError)]
    for error in errors:
        assert error.error_category == "STORAGE", error
    if errors:
        raise errors[0].exception()
    return items


# -- a stopped server --------------------------------------------------------------------------
def test_a_stopped_server_fails_every_call_at_once_with_a_storage_error() -> None:
    with contextlib.ExitStack() as server:
        endpoint = server.enter_context(s3_server.s3_server())
        uri = store_uri(endpoint)
        store = sheaf.open(uri)
        lib = store.create_library("l", rows_per_segment=PER_SEGMENT)
        df = frame()
        lib.write("t", df)
        kv = store.kv("space")
        kv.put("k", b"v")
        assert_frame_equal(lib.read("t").data, df, check_freq=False)
    # The server process is gone (connections refused): every call says so — a read, a
    # write, the listings, verify (which must not report the data as damaged or missing)
    # and reclaim — and none takes long. What the server held is gone with it (moto keeps it
    # in memory): the proxy tests below check that nothing committed is lost.
    host = endpoint.split("//")[1]
    calls: List[Tuple[str, Callable[[], Any]]] = [
        ("read", lambda: lib.read("t")),
        ("read to pyarrow", lambda: lib.read("t", output_format="pyarrow")),
        ("head", lambda: lib.head("t", 3)),
        ("append", lambda: lib.append("t", frame(1).set_axis([pd.Timestamp("2025-01-01")]))),
        ("write", lambda: lib.write("u", df)),
        ("list_versions", lambda: lib.list_versions("t")),
        ("list_symbols", lib.list_symbols),
        ("list_libraries", store.list_libraries),
        ("verify", store.verify),
        ("reclaim", lambda: store.reclaim(grace_seconds=0)),
        ("kv get", lambda: kv.get("k")),
        ("kv put", lambda: kv.put("k2", b"v")),
    ]
    for name, call in calls:
        error = fails_as_storage_error(call, where=host)
        assert "failed" in str(error), f"{name}: {error}"
    with pytest.raises(sheaf.StorageError, match="cannot be listed"):
        sheaf.open(uri)
    store.close()


def test_a_server_that_stops_answering_fails_the_call_after_the_timeout(endpoint: str) -> None:
    # The server accepts the requests and never answers: timeout=2s ends each call.
    uri = store_uri(endpoint)
    with sheaf.open(uri) as store:
        store.create_library("l").write("t", frame())
    with FaultProxy(endpoint) as proxy, sheaf.open(proxy.uri(uri)) as store:
        lib = store["l"]
        proxy.hold(after=0)
        start = time.monotonic()
        fails_as_storage_error(lambda: lib.read("t"))
        assert time.monotonic() - start >= 1.9  # the client waited for its timeout
        assert proxy.wait_held(timeout=0).method == "GET"
        proxy.come_back()
        assert_frame_equal(lib.read("t").data, frame(), check_freq=False)


# -- gone in the middle of a read ----------------------------------------------------------------
def test_a_server_gone_at_any_request_of_a_read_fails_it_and_loses_nothing(endpoint: str) -> None:
    uri = store_uri(endpoint)
    df = frame()
    with sheaf.open(uri) as store:
        lib = store.create_library("l", rows_per_segment=PER_SEGMENT)
        lib.write("t", df, metadata={"m": 1})
        assert lib.get_description("t").segments == ROWS // PER_SEGMENT
    with FaultProxy(endpoint) as proxy, sheaf.open(proxy.uri(uri)) as store:
        lib = store["l"]
        before = len(proxy.log)
        assert_frame_equal(lib.read("t").data, df, check_freq=False)
        requests = len(proxy.log) - before
        # the version lookup, then a GET per segment (fetched in parallel)
        assert requests >= ROWS // PER_SEGMENT + 1
        for n in range(requests):
            # n requests of the read get through, then the server is gone: the read fails,
            # whole, with no rows and no claim that the data is missing or damaged
            proxy.go_down(after=n)
            fails_as_storage_error(lambda: lib.read("t"), where="failed")
            assert proxy.log[-1].verdict == "dropped"
            proxy.come_back()
            # and the same handle reads it all once the server is back
            item = lib.read("t")
            assert_frame_equal(item.data, df, check_freq=False)
            assert (item.version, item.metadata) == (0, {"m": 1})

        # the other ways of reading, the server gone after their first few requests
        q = QueryBuilder()
        q = q[q["b"] > 0.5]
        reads: List[Tuple[str, Callable[[], Any], Callable[[Any], None]]] = [
            (
                "pyarrow",
                lambda: lib.read("t", output_format="pyarrow").data,
                lambda t: assert_frame_equal(t.to_pandas(), df, check_freq=False),
            ),
            (
                "query",
                lambda: lib.read("t", query_builder=q).data,
                lambda r: assert_frame_equal(r, df[df["b"] > 0.5], check_freq=False),
            ),
            (
                "date_range",
                lambda: lib.read("t", date_range=(df.index[30], df.index[69])).data,
                lambda r: assert_frame_equal(r, df.iloc[30:70], check_freq=False),
            ),
            (
                "lazy",
                lambda: lib.read("t", lazy=True).collect().data,
                lambda r: assert_frame_equal(r, df, check_freq=False),
            ),
            (
                "read_batch",
                lambda: raise_data_errors(lib.read_batch(["t", "t"])),
                lambda items: [assert_frame_equal(i.data, df, check_freq=False) for i in items],
            ),
            (
                "tail",
                lambda: lib.tail("t", 12).data,
                lambda r: assert_frame_equal(r, df[-12:], check_freq=False),
            ),
        ]
        for name, read, check in reads:
            before = len(proxy.log)
            check(read())
            requests = len(proxy.log) - before
            assert requests > 3, name
            for n in (0, 1, 3):
                proxy.go_down(after=n)
                error = fails_as_storage_error(read)
                assert "failed" in str(error), f"{name}: {error}"
                proxy.come_back()
            check(read())

    with sheaf.open(uri) as store:
        report = store.verify()
        assert report["problems"] == [] and report["leftovers"] == []
        assert [k.version for k in store["l"].list_versions("t")] == [0]


# -- gone in the middle of a commit --------------------------------------------------------------
def test_a_server_gone_at_any_request_of_an_append_loses_nothing_and_adds_only_leftovers(
    endpoint: str,
) -> None:
    uri = store_uri(endpoint)
    rows = 12
    with FaultProxy(endpoint) as proxy, sheaf.open(proxy.uri(uri), output_format="numpy") as store:
        lib = store.create_library("l", rows_per_segment=4)  # 3 segments a batch

        def batch(seq: int) -> Dict[str, Any]:
            return {"seq": np.full(rows, seq, dtype=np.int64)}

        lib.append("s", batch(0))
        before = len(proxy.log)
        lib.append("s", batch(1))
        requests = len(proxy.log) - before
        landed = [0, 1]  # the batches committed, in order
        outcomes = []
        for n in range(requests + 1):
            # n requests of the append get through, then the server is gone
            seq = 2 + n
            proxy.go_down(after=n)
            try:
                item = lib.append("s", batch(seq))
            except sheaf.StorageError as error:
                assert not isinstance(error, sheaf.CorruptDataError), error
                raised = True
            else:
                raised = False
                assert item.version == len(landed)
            proxy.come_back()
            versions = sorted(k.version for k in lib.list_versions("s"))
            committed = versions[-1] == len(landed)
            assert versions == list(range(len(landed) + committed))
            assert raised or committed, f"request {n}: the append returned but did not commit"
            if committed:
                landed.append(seq)
            outcomes.append((raised, committed))
            # every version whole: its batches, each once, each whole, in order
            data = lib.read("s").data["seq"]
            assert data.tolist() == np.repeat(landed, rows).tolist()
        # The append commits at one request (its version record): before it, never, and it
        # raises; after it, always, and it returns its version — the failed read-back of what
        # it committed does not turn a committed append into an error a caller would retry.
        # Which request that is varies by one or two between rounds (a commit whose head hint
        # could not be written leaves the next appends a probe more), so the rounds are not
        # cut in two at one n; every round above checked all-or-nothing.
        assert outcomes[0] == (True, False)
        assert outcomes[-1] == (False, True), "the append did not commit with (almost) no fault"
        assert (True, True) not in outcomes, "a committed append raised"
        assert set(outcomes) == {(True, False), (False, True)}

        # Nothing damaged; the failed appends left segments only, and reclaim removes them.
        report = store.verify()
        assert report["problems"] == []
        assert report["leftovers"], "no failed append had written a segment"
        assert {x["kind"] for x in report["leftovers"]} == {"unreferenced_segment"}
        reclaimed = store.reclaim(grace_seconds=0)
        assert reclaimed == {"removed_keys": len(report["leftovers"]), "kept_young_segments": 0}
        assert store.verify() == {**report, "leftovers": []}
        for v in range(len(landed)):
            assert (
                lib.read("s", as_of=v).data["seq"].tolist()
                == np.repeat(landed[: v + 1], rows).tolist()
            )
        assert lib.append("s", batch(99)).version == len(landed)


# -- refused credentials -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def signing_server() -> Iterator[Tuple[str, str, Dict[str, Tuple[str, str]]]]:
    """A server that checks signatures (moto's IAM authentication, switched on through its
    ``/moto-api/reset-auth``): a user allowed everything, with two access keys; a bucket."""
    import boto3

    with s3_server.s3_server() as endpoint:
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="sheaf")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="sheaf", PolicyName="everything", PolicyDocument=json.dumps(policy)
        )
        keys = {}
        for name in ("first", "second"):
            key = iam.create_access_key(UserName="sheaf")["AccessKey"]
            keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
        bucket = f"signed-{uuid.uuid4().hex[:16]}"
        create_bucket(endpoint, bucket)
        assert request(endpoint, "GET", bucket).status == 200
        switched = request(endpoint, "POST", "moto-api/reset-auth", b"0")
        assert switched.status == 200, switched
        # from now on, a request must be signed with a key of the user
        assert request(endpoint, "GET", bucket).status == 403
        uri = f"s3://{bucket}/store?endpoint={endpoint}&allow_http=true&{FAIL_FAST}"
        yield endpoint, uri, keys


def use_key(monkeypatch: pytest.MonkeyPatch, key_id: str, secret: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


def test_wrong_credentials_are_refused_clearly_and_never_shown(
    signing_server: Tuple[str, str, Dict[str, Tuple[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, uri, keys = signing_server
    key_id, secret = keys["first"]
    use_key(monkeypatch, key_id, secret)
    with sheaf.open(uri) as store:  # the right key works: the server does check signatures
        store.get_library("creds", create_if_missing=True).write("t", frame(10))

    wrong_secret = "wrong-" + uuid.uuid4().hex
    use_key(monkeypatch, key_id, wrong_secret)
    with pytest.raises(sheaf.StorageError, match="credentials are refused") as info:
        sheaf.open(uri)
    message = str(info.value)
    assert "403" in message and "SignatureDoesNotMatch" in message
    for shown in (message, repr(info.value), repr(info.value.args)):
        assert wrong_secret not in shown and secret not in shown

    use_key(monkeypatch, "AKIA" + "X" * 16, wrong_secret)
    with pytest.raises(sheaf.StorageError, match="credentials are refused") as info:
        sheaf.open(uri)
    assert "InvalidAccessKeyId" in str(info.value) and wrong_secret not in str(info.value)


def test_a_key_revoked_while_a_store_is_open_fails_its_calls_and_loses_nothing(
    signing_server: Tuple[str, str, Dict[str, Tuple[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    endpoint, uri, keys = signing_server
    (first_id, first_secret), (second_id, second_secret) = keys["first"], keys["second"]
    use_key(monkeypatch, first_id, first_secret)
    df = frame()
    with sheaf.open(uri) as store:
        lib = store.create_library("revoked", rows_per_segment=PER_SEGMENT)
        lib.write("t", df)
        kv = store.kv("space")
        kv.put("k", b"v")
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=second_id,
            aws_secret_access_key=second_secret,
        )
        iam.delete_access_key(UserName="sheaf", AccessKeyId=first_id)
        # The open store's key is gone: its calls are refused, as storage errors naming the
        # refusal, neither "not found" nor damage, and show no secret.
        for call in (
            lambda: lib.read("t"),
            lambda: lib.append("t", frame(1).set_axis([pd.Timestamp("2025-01-01")])),
            lambda: lib.list_versions("t"),
            lambda: kv.get("k"),
            store.verify,
        ):
            error = fails_as_storage_error(call)
            assert "403" in str(error) and "InvalidAccessKeyId" in str(error), str(error)
            assert first_secret not in str(error) and second_secret not in str(error)
    # With a valid key, everything committed is there, undamaged.
    use_key(monkeypatch, second_id, second_secret)
    with sheaf.open(uri) as again:
        lib = again["revoked"]
        assert [k.version for k in lib.list_versions("t")] == [0]
        assert_frame_equal(lib.read("t").data, df, check_freq=False)
        assert again.kv("space").get("k") == b"v"
        assert again.verify()["problems"] == []


# -- a conditional write whose answer is lost --------------------------------------------------
# The server applies the PUT, the answer never arrives. object_store would retry such a PUT on
# its own and meet its own write (412: read as a lost race, the commit applied twice); the
# storage retries conditional writes itself and first checks whether the write landed.


def test_an_append_whose_version_record_answer_is_lost_is_committed_once(endpoint: str) -> None:
    uri = store_uri(endpoint, options="max_retries=3")
    with FaultProxy(endpoint) as proxy, sheaf.open(proxy.uri(uri), output_format="numpy") as store:
        lib = store.create_library("l", rows_per_segment=4)
        lib.append("s", {"seq": np.full(12, 0)})
        proxy.lose_answer(after=3, methods={"PUT"})  # after the append's 3 segment PUTs
        item = lib.append("s", {"seq": np.full(12, 1)})
    with sheaf.open(uri, output_format="numpy") as store:
        seq = store["l"].read("s").data["seq"].tolist()
        versions = sorted(k.version for k in store["l"].list_versions("s"))
    assert (item.version, versions, seq) == (1, [0, 1], [0] * 12 + [1] * 12)


def test_key_space_modes_whose_answer_is_lost_apply_once(endpoint: str) -> None:
    with FaultProxy(endpoint) as proxy, sheaf.open(
        proxy.uri(store_uri(endpoint, options="max_retries=3"))
    ) as store:
        kv = store.kv("space")
        kv.put("a", b"1")
        proxy.lose_answer(after=0, methods={"PUT"})
        kv.put("a", b"2", sheaf.Mode.APPEND)
        assert kv.get("a") == b"12"
        proxy.lose_answer(after=0, methods={"PUT"})
        kv.put("b", b"x", sheaf.Mode.NEW_ONLY)  # it created the key: no KeyExistsError
        assert kv.get("b") == b"x"
        with pytest.raises(sheaf.KeyExistsError):
            kv.put("b", b"y", sheaf.Mode.NEW_ONLY)
