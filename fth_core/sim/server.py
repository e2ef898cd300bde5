"""Serve any simulator handler over real HTTP on 127.0.0.1, with the knobs tests need.

:class:`SimServer` runs a ``ThreadingHTTPServer`` on an ephemeral loopback port in a background
thread. Around the handler it adds what every provider shares: latency, server-side quotas (a
rate limit, per-path tiers and a cap on requests in flight, each answered with the handler's
own 429 when it has one), injected faults (5xx, a truncated
body, a reset connection, a stall, a scripted 429) and a log of every request, so tests can
count exactly what a client asked for.
"""

from __future__ import annotations

import random
import socket
import ssl
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fth_core.sim.wire import SimRequest, SimResponse

__all__ = ["Fault", "LoggedRequest", "SimServer"]

Handler = Callable[[SimRequest], SimResponse]


@dataclass(frozen=True)
class Fault:
    """A failure to inject instead of the normal answer.

    ``kind``: ``"status"`` (plain-text error with ``status``), ``"429"`` (rate limited; the
    ``retry_after`` header text is sent as is, or omitted when ``None``), ``"truncate"`` (headers
    promise more body than is sent, then the connection closes), ``"reset"`` (TCP reset before
    any answer), ``"stall"`` (wait ``seconds`` before answering normally). ``path`` limits the
    fault to paths starting with it.
    """

    kind: str
    status: int = 500
    retry_after: str | None = None
    seconds: float = 5.0
    path: str | None = None


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    at: float
    headers: dict[str, str] = field(default_factory=dict)


class _TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is due."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class SimServer:
    """A loopback HTTP server around ``handler``; use as a context manager.

    :param latency_ms: added before every answer.
    :param rate_limit: requests/s the server accepts (token bucket with ``burst``); beyond it
        the handler's ``rate_limited(retry_after)`` answer (or a bare 429) is sent.
    :param path_limits: per-path tiers inside ``rate_limit``: exact path → requests/s (same
        ``burst``), e.g. Samsara's ``{"/fleet/vehicles": 25}``.
    :param max_in_flight: requests served at once (counted from arrival, latency included);
        one more is answered 429 at once, as a provider capping simultaneous requests does.
    :param fault_rate: probability of a random 5xx/reset/truncate per request (seeded by
        ``fault_seed``), for demos and soak runs; scripted faults come from :meth:`inject`.
    :param tls: a server-side SSL context to serve HTTPS instead (tests of certificate checks).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        latency_ms: float = 0.0,
        rate_limit: float | None = None,
        burst: int = 1,
        path_limits: Mapping[str, float] | None = None,
        max_in_flight: int | None = None,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.latency_ms = latency_ms
        self.bucket = _TokenBucket(rate_limit, burst) if rate_limit else None
        self.path_buckets = {
            path: _TokenBucket(rate, burst) for path, rate in (path_limits or {}).items()
        }
        self.max_in_flight = max_in_flight
        self._in_flight = 0
        self.fault_rate = fault_rate
        self._random = random.Random(fault_seed)
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self.log: list[LoggedRequest] = []
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SimServer:
        server = _LoopbackServer(("127.0.0.1", self._port), _make_request_handler(self))
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        # A short poll interval: stop() waits up to one interval (the default 0.5 s would add
        # half a second to every test that starts a server).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="sim"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- knobs -----------------------------------------------------------------------------
    def inject(self, *faults: Fault | str | int) -> None:
        """Queue faults for the next matching requests, in order. ``500`` is shorthand for a
        status fault, ``"reset"``/``"truncate"``/``"stall"`` for those kinds."""
        with self._lock:
            for fault in faults:
                if isinstance(fault, int):
                    fault = Fault("status", status=fault)
                elif isinstance(fault, str):
                    fault = Fault(fault)
                self._faults.append(fault)

    def requests(self, path_prefix: str = "") -> list[LoggedRequest]:
        """Logged requests whose path starts with ``path_prefix``."""
        with self._lock:
            return [r for r in self.log if r.path.startswith(path_prefix)]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.path is None or path.startswith(fault.path):
                    del self._faults[i]
                    return fault
        if self.fault_rate and self._random.random() < self.fault_rate:
            return Fault(self._random.choice(["status", "reset", "truncate"]), status=503)
        return None

    def _record(self, request: SimRequest, status: int) -> None:
        entry = LoggedRequest(
            request.method,
            request.path,
            dict(request.query),
            status,
            time.time(),
            dict(request.headers),
        )
        with self._lock:
            self.log.append(entry)

    def _respond(self, request: SimRequest) -> SimResponse | Fault:
        # Quotas are charged on arrival, as a provider's gateway does: a client pacing its
        # sends at the limit is never refused, whatever the latency.
        refused = self._admit(request.path)
        if refused is None:
            return self._serve_admitted(request)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        return refused

    def _admit(self, path: str) -> SimResponse | None:
        """Take the request's share of the quotas; the 429 to send when one is exhausted."""
        with self._lock:
            crowded = self.max_in_flight is not None and self._in_flight >= self.max_in_flight
            if not crowded:
                self._in_flight += 1
        if crowded:
            return self._rate_limited(1.0)  # no published figure: retry in a second
        for bucket in (self.bucket, self.path_buckets.get(path)):
            wait = bucket.take() if bucket is not None else 0.0
            if wait:
                with self._lock:
                    self._in_flight -= 1
                return self._rate_limited(round(wait, 5))
        return None

    def _serve_admitted(self, request: SimRequest) -> SimResponse | Fault:
        try:
            if self.latency_ms:
                time.sleep(self.latency_ms / 1000)
            fault = self._next_fault(request.path)
            if fault is not None and fault.kind != "stall":
                return fault
            if fault is not None:
                time.sleep(fault.seconds)
            return self.handler(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _rate_limited(self, retry_after: float) -> SimResponse:
        render: Any = getattr(self.handler, "rate_limited", None)
        if callable(render):
            response: SimResponse = render(retry_after)
            return response
        return SimResponse.text(429, "rate limited", {"Retry-After": str(retry_after)})


class _LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (it timed out on a stall or latency) is normal here, not a
        # simulator fault worth a traceback on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _make_request_handler(sim: SimServer) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; with Nagle on, the body waits for the
        # client's delayed ACK and every answer gains ~40 ms of latency nobody asked for.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the SimServer keeps its own log

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            request = SimRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            try:
                outcome = sim._respond(request)
            except Exception as exc:  # a simulator bug must show as a 500, not a hang
                outcome = SimResponse.text(500, f"simulator error: {exc!r}")
            if isinstance(outcome, Fault):
                self._fault(request, outcome)
                return
            self._send(request, outcome)

        def _send(self, request: SimRequest, response: SimResponse) -> None:
            sim._record(request, response.status)
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def _fault(self, request: SimRequest, fault: Fault) -> None:
            if fault.kind == "reset":
                sim._record(request, 0)
                # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()
                return
            if fault.kind == "truncate":
                sim._record(request, 200)
                body = b'{"data": [{"id": "1", "na'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) * 4))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True
                return
            if fault.kind == "429":
                headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
                response = SimResponse.text(429, "Too Many Requests", headers)
            else:
                response = SimResponse.text(fault.status, f"injected HTTP {fault.status}")
            self._send(request, response)

        do_GET = _serve
        do_POST = _serve

    return RequestHandler
