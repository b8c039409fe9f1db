"""A fault-injecting HTTP proxy in front of an S3 endpoint (the moto server of the tests).

:class:`FaultProxy` listens on 127.0.0.1 and forwards every request to its upstream, except
where its current :class:`Fault` says otherwise; the fault can be switched while requests flow:

- ``Fault()``: pass-through (the control run of every fault test);
- ``Fault("error", every=20)``: every 20th request is answered ``503 SlowDown`` with S3's XML
  error body (``code="InternalError", status=500`` for a server error), never forwarded;
- ``Fault("slow", every=5, seconds=3)``: every 5th request is held ``seconds`` before it is
  forwarded and answered (past the client's read time-out: the client gave up and retries);
- ``Fault("silent")``: requests are read and never answered (a stopped proxy whose port still
  accepts connections), until the fault is switched or the proxy closed, when the held
  connections are closed without an answer.

``match`` limits a fault to some requests (``lambda method, path: "/refs/" in path``), and
``limit`` to a number of faults. :attr:`FaultProxy.counts` says what the proxy did:
``requests``, ``forwarded``, ``errors``, ``slow``, ``held``. The proxy stops by itself after
``lifetime`` seconds, so a failing test cannot hang on it.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

#: Headers that belong to one connection, not to the request or answer forwarded.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}
_REASONS = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}
_MESSAGES = {
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
    "RequestTimeout": "Your socket connection to the server was not read from or written to "
    "within the timeout period.",
}


@dataclass(frozen=True)
class Fault:
    """What the proxy does to the requests it receives.

    Attributes:
        kind: ``pass`` (forward everything), ``error`` (answer an S3 error), ``slow`` (hold,
            then forward) or ``silent`` (never answer).
        every: The fault hits every ``every``-th matching request (1: each one).
        code: The S3 error code of an ``error`` answer.
        status: Its HTTP status.
        seconds: How long a ``slow`` request is held before it is forwarded.
        match: Which requests the fault may hit, from the method and path (``None``: all).
        limit: At most this many faults (``None``: no limit).
    """

    kind: str = "pass"
    every: int = 1
    code: str = "SlowDown"
    status: int = 503
    seconds: float = 0.0
    match: Callable[[str, str], bool] | None = None
    limit: int | None = None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the counters say what happened."""

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()
        proxy = self.server.proxy
        fault = proxy.decide(self.command, self.path)
        if fault.kind == "silent":
            proxy.hold()
            self.close_connection = True
            return
        if fault.kind == "error":
            self._error(fault)
            return
        if fault.kind == "slow":
            time.sleep(fault.seconds)
        self._forward(body)

    def _error(self, fault: Fault) -> None:
        document = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{fault.code}</Code><Message>{_MESSAGES.get(fault.code, fault.code)}"
            f"</Message><RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId>"
            "<HostId>faultproxy</HostId></Error>"
        ).encode()
        self.send_response(fault.status, _REASONS.get(fault.status))
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(document)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(document)

    def _forward(self, body: bytes) -> None:
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        headers = {
            name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP
        }
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            content = answer.read()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                lower = name.lower()
                if lower in _HOP_BY_HOP or (lower == "content-length" and self.command != "HEAD"):
                    continue
                self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)
        finally:
            upstream.close()
        proxy.count("forwarded")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (closed its connection) is expected here: stay quiet."""


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that injects :class:`Fault` s.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, upstream: str, lifetime: float = 300.0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.fault = Fault()
        self.counts: Counter[str] = Counter()
        self._matching = 0
        self._faults = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()

    def set(self, fault: Fault) -> None:
        """Switch to ``fault`` (requests held by a silent fault are let go, unanswered)."""
        with self._lock:
            self.fault = fault
            self._matching = 0
            self._faults = 0
            self._released.set()
            self._released = threading.Event()

    def count(self, name: str) -> None:
        """Add one to the counter ``name``."""
        with self._lock:
            self.counts[name] += 1

    def decide(self, method: str, path: str) -> Fault:
        """The fault that hits this request (``Fault()``: none)."""
        with self._lock:
            self.counts["requests"] += 1
            fault = self.fault
            if fault.kind == "pass" or (fault.match is not None and not fault.match(method, path)):
                return Fault()
            self._matching += 1
            if self._matching % fault.every or (
                fault.limit is not None and self._faults >= fault.limit
            ):
                return Fault()
            self._faults += 1
            self.counts[{"error": "errors", "slow": "slow", "silent": "held"}[fault.kind]] += 1
            if fault.kind == "error":
                self.counts[f"{fault.status} {fault.code}"] += 1
            return fault

    def hold(self) -> None:
        """Block the calling request's thread until the silent fault is switched off."""
        with self._lock:
            released = self._released
        released.wait()

    def close(self) -> None:
        """Let held requests go, stop serving."""
        self._timer.cancel()
        with self._lock:
            self._released.set()
        with contextlib.suppress(Exception):
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
