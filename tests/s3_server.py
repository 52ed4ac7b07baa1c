#!/usr/bin/env python3
"""A local S3-compatible server for the tests of the ``s3://`` storage: moto's S3 (PyPI
``moto[server]``, pinned in tests/python/requirements-full.txt), in memory, on 127.0.0.1.

    python tests/s3_server.py [--port N]    prints the endpoint, serves until killed

    with s3_server() as endpoint:           # "http://127.0.0.1:PORT", stopped on exit
        create_bucket(endpoint, "my-test-bucket")

Requests are serialised: moto checks a conditional PUT's condition (``If-None-Match: *``,
``If-Match: <etag>``) and then writes, in two steps, and its own threaded server runs
requests side by side, so two racing conditional PUTs of one key could both succeed. Here
every request runs moto's WSGI application alone, under one lock (:class:`Serialised`):
the check and the write of a conditional PUT are atomic with respect to every other request,
as on S3 itself. Reading the request body and sending the response happen outside the lock.

Signatures are not checked (moto accepts any, and the credentials are fake:
:data:`CREDENTIALS`), but a request must carry an ``Authorization`` header: without one moto
takes it as anonymous and answers 403 to any request on an existing object (a GET, or a
conditional PUT that should get 412). SDKs (object_store, boto3) sign, so they send one;
:func:`request` sends a dummy one (:data:`AUTHORIZATION`). Only the standard library is
imported at module level, so :func:`create_bucket`, :func:`s3_server` and
:func:`test_environment` work on every interpreter of the portable suites (and in build.py);
only the serving process needs moto.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Union

#: Fake credentials and the region the tests use (moto accepts any).
CREDENTIALS: Dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
}
#: The variable that gives the tests the server's endpoint.
ENDPOINT_VARIABLE = "SHEAF_TEST_S3_ENDPOINT"
#: How long :func:`s3_server` waits for the server to print its endpoint.
START_TIMEOUT = 120.0


def test_environment(endpoint: str) -> Dict[str, str]:
    """The variables the test processes get: the endpoint and the fake credentials."""
    return {ENDPOINT_VARIABLE: endpoint, **CREDENTIALS}


#: Sent by :func:`request`. Not a signature (moto checks none), but moto answers a request
#: without an Authorization header as an anonymous one: 403 on an existing object.
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64
)


class Response(NamedTuple):
    status: int
    headers: Dict[str, str]
    body: bytes


def request(
    endpoint: str,
    method: str,
    path: str,
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
    query: Optional[Dict[str, str]] = None,
    timeout: float = 30,
) -> Response:
    """One plain HTTP request, ``path`` being ``bucket`` or ``bucket/key`` (path-style; quoted
    here, so a key may hold any character), with :data:`AUTHORIZATION` and ``Content-Type:
    application/octet-stream`` (urllib's default, a form type, would make moto store an empty
    object). Error statuses are returned, not raised."""
    sent = {"Authorization": AUTHORIZATION, "Content-Type": "application/octet-stream"}
    sent.update(headers or {})
    url = endpoint.rstrip("/") + "/" + urllib.parse.quote(path.lstrip("/"))
    if query:
        url += "?" + urllib.parse.urlencode(query)
    req = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Response(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, dict(error.headers), error.read())


def create_bucket(endpoint: str, name: str) -> None:
    """Creates bucket ``name`` (``PUT /name``). Names follow S3's rules: 3-63 characters,
    lowercase letters, digits, ``-`` and ``.``. Raises RuntimeError when the server refuses
    (creating an existing bucket again succeeds, as on S3 in us-east-1)."""
    response = request(endpoint, "PUT", name, b"")
    if response.status != 200:
        raise RuntimeError(
            f"creating bucket {name!r} failed: {response.status} {response.body[:300]!r}"
        )


# ------------------------------------------------------------------- the serving process


class Serialised:
    """A WSGI application that runs ``app`` for one request at a time.

    The request body is read before the lock is taken and the response body is collected
    under it, so what the lock covers is exactly moto's handling of the request: a slow
    client, or werkzeug's wait for the end of a connection after the response, holds up
    no other request."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        environ["wsgi.input"] = io.BytesIO(_read_body(environ))
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def _read_body(environ: Dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH", "")
    if length.strip():
        return bytes(stream.read(int(length)))
    if environ.get("wsgi.input_terminated"):  # chunked: werkzeug ends the stream
        return bytes(stream.read())
    return b""


def make_server(host: str = "127.0.0.1", port: int = 0, serialised: bool = True) -> Any:
    """A werkzeug server (not started) running moto's application through :class:`Serialised`,
    built as ``moto.server.ThreadedMotoServer`` builds its own; port 0 picks a free one. The
    S3 backend is created before it returns, so the first request is not slower.
    ``serialised=False`` leaves the lock out: only for the test that shows what it prevents."""
    import logging

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server as werkzeug_server
    from werkzeug.test import EnvironBuilder

    # One line per request would flood the test logs; errors are still printed.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.get_application(EnvironBuilder(path="/", method="GET").get_environ())
    app = Serialised(moto_app) if serialised else moto_app
    return werkzeug_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def endpoint_of(server: Any) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop when standard input closes (s3_server() uses it: the server ends with "
        "the process that started it, even one that was killed)",
    )
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port)
    print(endpoint_of(server), flush=True)
    # Whatever moto prints from now on goes to stderr: a parent reads only the first line.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.stop_on_stdin_eof:

        def watch_stdin() -> None:
            # os.read, not sys.stdin: a daemon thread blocked in a buffered reader makes the
            # interpreter abort at exit when the server stops for a signal.
            while os.read(sys.stdin.fileno(), 4096):
                pass
            stop()

        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.server_close()


# ------------------------------------------------------------------- starting one


@contextlib.contextmanager
def s3_server(
    python: Union[str, Path, None] = None, timeout: float = START_TIMEOUT
) -> Iterator[str]:
    """Runs this file as a server process (with ``python``, default this interpreter, which
    then needs moto) and yields its endpoint, ``http://127.0.0.1:PORT``. The server is
    stopped on exit, also on an error or KeyboardInterrupt; it also stops by itself when
    this process ends, since it watches its standard input."""
    proc = subprocess.Popen(
        [str(python or sys.executable), str(Path(__file__).resolve()), "--stop-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        endpoint = _first_line(proc, timeout)
        yield endpoint
    finally:
        _stop(proc)


def _first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: List[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines:
        raise RuntimeError(f"the S3 server printed no endpoint within {timeout:.0f} s")
    line = lines[0].decode().strip()
    stdout.close()
    if not line.startswith("http://"):
        proc.wait(timeout=10)
        raise RuntimeError(f"the S3 server did not start (status {proc.returncode})")
    return line


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()  # the server's stdin ends: it shuts down
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
