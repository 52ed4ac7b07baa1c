"""A fault-injecting HTTP proxy in front of an S3 endpoint, for the ``s3://`` failure tests.

    with FaultProxy(endpoint) as proxy:          # forwards every request, in this process
        uri = proxy.uri(s3_uri)                   # the same store, reached through the proxy
        proxy.go_down(after=3, methods={"GET"})   # 3 more GETs pass, then the server is gone
        proxy.hold(after=2, methods={"PUT"})      # the 3rd PUT from now never gets through

The faults are placed by counting requests, never by timing, so a test that uses them
is deterministic however loaded the machine is:

- :meth:`FaultProxy.go_down`: once ``after`` more requests of ``methods`` have passed, the
  server is *gone*: every request from then on (any method) is read and its connection
  closed without an answer — what a client sees of a server that died or dropped off the
  network — until :meth:`FaultProxy.come_back`.
- :meth:`FaultProxy.hold`: the next request of ``methods`` after ``after`` of them is not
  forwarded; its connection stays open, unanswered, until :meth:`FaultProxy.come_back` (then
  it is closed without an answer). :meth:`FaultProxy.wait_held` returns it once it has
  arrived: the client is then stopped *inside* that request, and a test can kill it there.
- :meth:`FaultProxy.lose_answer`: the request is forwarded and done, then its connection is
  closed without the answer — the client cannot know that it happened.

The server behind the proxy keeps everything that got through, so after the fault a test
can check, directly or through the proxy again, that nothing committed was lost. Standard
library only (both suites, every interpreter); requests are forwarded one connection each.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Collection, Dict, List, NamedTuple, Optional, Tuple

#: Upper bound of every wait here; never reached when the tests pass.
BOUND_S = 60.0
ALL_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE"})
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}


class Seen(NamedTuple):
    """One request the proxy received: method, path (``/bucket/...``, quoted, no query),
    query string, and what the proxy did (``forwarded``, ``dropped``, ``held`` or
    ``answer lost``)."""

    method: str
    path: str
    query: str
    verdict: str

    def key(self, prefix: str = "store") -> Optional[bytes]:
        """The Sheaf key of the object (object names are ``PREFIX/<hex of the key>``), or
        None for a request that names no object (a listing)."""
        parts = urllib.parse.unquote(self.path).lstrip("/").split("/", 1)
        if len(parts) < 2 or not parts[1].startswith(prefix + "/"):
            return None
        try:
            return bytes.fromhex(parts[1][len(prefix) + 1 :])
        except ValueError:
            return None


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        assert parsed.scheme == "http" and parsed.hostname, upstream
        self.upstream = upstream.rstrip("/")
        self._host = parsed.hostname
        self._port = parsed.port or 80
        self._cond = threading.Condition()
        self.log: List[Seen] = []
        self._down = False
        # a pending fault: (kind, methods, how many more of them pass first), kind "down",
        # "hold", "hold-following" or "lose"
        self._fault: Optional[Any] = None
        self._held: List[Seen] = []
        self._holding = False
        self._in_flight = 0  # requests being forwarded
        self._closed = False
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- addresses ---------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def uri(self, s3_uri: str) -> str:
        """``s3_uri`` (whose ``endpoint=`` is the upstream) reached through the proxy."""
        assert f"endpoint={self.upstream}" in s3_uri, s3_uri
        return s3_uri.replace(f"endpoint={self.upstream}", f"endpoint={self.endpoint}")

    # -- faults ------------------------------------------------------------------------------
    def go_down(self, after: int = 0, methods: Collection[str] = ALL_METHODS) -> None:
        """The server goes away once ``after`` more requests of ``methods`` have passed."""
        with self._cond:
            if after == 0:
                self._down = True
            else:
                self._fault = ("down", frozenset(methods), after)

    def hold(
        self, after: int = 0, methods: Collection[str] = ALL_METHODS, following: bool = False
    ) -> None:
        """Holds the request of ``methods`` that comes after ``after`` more of them; with
        ``following``, the request of any method that comes right after the ``after``-th of
        them instead (e.g. the first request after a commit's last PUT)."""
        with self._cond:
            if following:
                assert after > 0, "following needs the request to follow"
                self._fault = ("hold-following", frozenset(methods), after - 1)
            else:
                self._fault = ("hold", frozenset(methods), after)
            self._held = []
            self._holding = True

    def lose_answer(self, after: int = 0, methods: Collection[str] = ALL_METHODS) -> None:
        """Forwards the request of ``methods`` that comes after ``after`` more of them, then
        closes its connection without its answer: the server did the request, the client
        cannot know."""
        with self._cond:
            self._fault = ("lose", frozenset(methods), after)

    def wait_held(self, timeout: float = BOUND_S) -> Seen:
        """The held request, once it has arrived (AssertionError if it does not in time)."""
        with self._cond:
            arrived = self._cond.wait_for(lambda: bool(self._held), timeout)
            assert arrived, f"no request was held within {timeout:.0f} s; seen: {self.log[-5:]}"
            return self._held[0]

    def come_back(self) -> None:
        """Ends every fault: the server answers again; held requests are closed unanswered.
        Returns once the requests being forwarded have been answered, so the server then
        holds everything that got through."""
        with self._cond:
            self._down = False
            self._fault = None
            self._holding = False
            self._cond.notify_all()
            settled = self._cond.wait_for(lambda: self._in_flight == 0, BOUND_S)
            assert settled, f"{self._in_flight} requests still being forwarded"

    def close(self) -> None:
        """Stops the proxy: requests still arriving (from a killed client) are dropped, and the
        ones being forwarded are finished first."""
        with self._cond:
            self._closed = True
        self.come_back()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(BOUND_S)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # -- what the handler asks ---------------------------------------------------------------
    def _verdict(self, method: str, path: str, query: str) -> str:
        with self._cond:
            verdict = "forwarded"
            if self._down or self._closed:
                verdict = "dropped"
            elif self._fault is not None and method in self._fault[1]:
                kind, methods, after = self._fault
                if after > 0:
                    self._fault = (kind, methods, after - 1)
                elif kind == "hold-following":
                    self._fault = ("hold", ALL_METHODS, 0)  # this one passes, the next is held
                elif kind == "down":
                    self._fault = None
                    self._down = True
                    verdict = "dropped"
                else:
                    self._fault = None
                    verdict = "held" if kind == "hold" else "answer lost"
            seen = Seen(method, path, query, verdict)
            self.log.append(seen)
            if verdict == "held":
                self._held.append(seen)
                self._cond.notify_all()
                self._cond.wait_for(lambda: not self._holding, BOUND_S)
            elif verdict != "dropped":
                self._in_flight += 1
            return verdict

    def _forwarded(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def _forward(
        self, method: str, target: str, headers: Dict[str, str], body: bytes
    ) -> Tuple[int, str, List[Tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=BOUND_S)
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        if body or method in ("PUT", "POST"):
            sent["Content-Length"] = str(len(body))
        try:
            connection.request(method, target, body=body or None, headers=sent)
            response = connection.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        finally:
            connection.close()


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Answers go out as one write each; without this, Nagle's algorithm and the client's
        # delayed ACK would add ~40 ms to every request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _any(self) -> None:
        body = self._body()
        path, _, query = self.path.partition("?")
        verdict = self.owner._verdict(self.command, path, query)
        if verdict in ("dropped", "held"):
            self.close_connection = True  # closed without an answer
            return
        try:
            status, reason, headers, data = self.owner._forward(
                self.command, self.path, dict(self.headers), body
            )
        except OSError:  # the server behind is gone too
            self.close_connection = True
            return
        finally:
            self.owner._forwarded()
        if verdict == "answer lost":
            self.close_connection = True
            return
        self.send_response_only(status, reason)
        length = str(len(data))
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
            elif name.lower() == "content-length" and self.command == "HEAD":
                length = value
        self.send_header("Content-Length", length)
        # end_headers() would write the head alone: the head and the body go in one write
        self._headers_buffer.append(b"\r\n" + (b"" if self.command == "HEAD" else data))
        self.flush_headers()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _any
