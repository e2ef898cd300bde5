"""Serve any simulator handler over real HTTP on 127.0.0.1, with the knobs tests need.

:class:`SimServer` runs a ``ThreadingHTTPServer`` on an ephemeral loopback port in a background
thread. Around the handler it adds what every provider shares: latency, server-side quotas (a
rate limit, per-path tiers and a cap on requests in flight, each answered with the handler's
own 429 when it has one), injected faults (5xx, a truncated body, a reset connection, a stall,
a 429) — scripted one by one, or dealt at random by a seeded :class:`Chaos` mix — and logs of
every request and every fault served, so tests can count exactly what a client asked for and
what it had to survive.
"""

from __future__ import annotations

import errno
import math
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
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from fth_core.closing import Closing
from fth_core.errors import ConfigError
from fth_core.sim.wire import SimRequest, SimResponse

__all__ = ["Chaos", "Fault", "InjectedFault", "LoggedRequest", "SimServer"]

Handler = Callable[[SimRequest], SimResponse]


@dataclass(frozen=True)
class Fault:
    """A failure to inject instead of the normal answer.

    ``kind``: ``"status"`` (plain-text error with ``status``), ``"429"`` (rate limited; the
    ``retry_after`` header text is sent as is, or omitted when ``None``; ``retry_at`` sends
    instead the HTTP-date that many seconds ahead, rounded up to the whole second an HTTP-date
    can say), ``"truncate"`` (headers promise more body than is sent, then the connection
    closes), ``"reset"`` (TCP reset before any answer), ``"stall"`` (wait ``seconds`` before
    answering normally). ``path`` limits the fault to paths starting with it.
    """

    kind: str
    status: int = 500
    retry_after: str | None = None
    seconds: float = 5.0
    path: str | None = None
    retry_at: float | None = None

    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` text a ``"429"`` fault sends now (``None``: no header)."""
        if self.retry_at is None:
            return self.retry_after
        moment = datetime.fromtimestamp(math.ceil(time.time() + self.retry_at), UTC)
        return format_datetime(moment, usegmt=True)


# What a chaotic server cycles through: every 5xx the client must retry, and every form a
# Retry-After can take (zero, fractional seconds, an HTTP-date a second or two ahead, none).
_SERVER_ERRORS = (500, 502, 503, 504)
_RATE_LIMITS = (
    Fault("429", retry_after="0"),
    Fault("429", retry_after="0.25"),
    Fault("429", retry_at=1.0),
    Fault("429"),
)


@dataclass(frozen=True)
class Chaos:
    """A seeded mix of faults dealt to the requests a :class:`SimServer` answers.

    Each rate is the share of requests that meet that fault. Faults are dealt from shuffled
    blocks of ``block`` requests holding exactly ``rate × block`` of each kind (so rates are
    multiples of ``1 / block``): every request has the stated probability, and any run of
    ``block`` requests from the start meets every kind, so a short test run cannot miss the
    rare ones and a soak run sees the rates exactly. Within a kind the variants take turns:
    5xx cycles through 500, 502, 503 and 504; 429 through ``Retry-After: 0``, ``0.25``, an
    HTTP-date a second or two ahead, and no header. Stalls last ``stall_seconds``.
    """

    server_error: float = 0.10
    rate_limited: float = 0.05
    truncated: float = 0.01
    reset: float = 0.02
    stall: float = 0.01
    stall_seconds: float = 2.0
    seed: int = 0
    block: int = 100

    def __post_init__(self) -> None:
        rates = (self.server_error, self.rate_limited, self.truncated, self.reset, self.stall)
        if self.block < 1:
            raise ValueError("block must be at least 1")
        for rate in rates:
            share = rate * self.block
            if not 0 <= rate <= 1 or not math.isclose(share, round(share)):
                raise ValueError(f"rate {rate} is not a multiple of 1/{self.block} in [0, 1]")
        if sum(rates) > 1 + 1e-9:
            raise ValueError(f"the rates add up to {sum(rates):g}, more than every request")

    def deal(self, rng: random.Random) -> list[Fault | None]:
        """One block: the fault for each of ``block`` requests (``None``: answer normally)."""

        def count(rate: float) -> int:
            return round(rate * self.block)

        cards: list[Fault | None] = [
            Fault("status", status=_SERVER_ERRORS[i % len(_SERVER_ERRORS)])
            for i in range(count(self.server_error))
        ]
        cards += [_RATE_LIMITS[i % len(_RATE_LIMITS)] for i in range(count(self.rate_limited))]
        cards += [Fault("truncate")] * count(self.truncated)
        cards += [Fault("reset")] * count(self.reset)
        cards += [Fault("stall", seconds=self.stall_seconds)] * count(self.stall)
        cards += [None] * (self.block - len(cards))
        rng.shuffle(cards)
        return cards


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    at: float
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class InjectedFault:
    """A fault the server served to ``request`` instead of (a stall: before) a normal answer."""

    request: SimRequest
    fault: Fault
    at: float


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


class SimServer(Closing):
    """A loopback HTTP server around ``handler``; ``with`` starts it and closes it.

    :param latency_ms: added before every answer.
    :param rate_limit: requests/s the server accepts (token bucket with ``burst``); beyond it
        the handler's ``rate_limited(retry_after)`` answer (or a bare 429) is sent.
    :param path_limits: per-path tiers inside ``rate_limit``: exact path → requests/s (same
        ``burst``), e.g. Samsara's ``{"/fleet/vehicles": 25}``.
    :param max_in_flight: requests served at once (counted from arrival, latency included);
        one more is answered 429 at once, as a provider capping simultaneous requests does.
    :param chaos: random faults for every request (see :class:`Chaos`), for resilience tests,
        demos and soak runs; scripted faults come from :meth:`inject` and go first.
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
        chaos: Chaos | None = None,
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
        self.chaos = chaos
        self._random = random.Random(chaos.seed if chaos else 0)
        self._deck: list[Fault | None] = []
        self._scripted: deque[Fault] = deque()
        self._lock = threading.Lock()
        self.log: list[LoggedRequest] = []
        self.fault_log: list[InjectedFault] = []
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SimServer:
        try:
            server = _LoopbackServer(("127.0.0.1", self._port), _make_request_handler(self))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            # One line naming the port (exit 2), not a traceback ending in "[Errno 98]".
            raise ConfigError(
                f"port {self._port} on 127.0.0.1 is already in use; pick another (--port) or 0"
            ) from None
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

    def close(self) -> None:
        """Stop serving (a closed server can be started again)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

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
                self._scripted.append(fault)

    def requests(self, path_prefix: str = "") -> list[LoggedRequest]:
        """Logged requests whose path starts with ``path_prefix``."""
        with self._lock:
            return [r for r in self.log if r.path.startswith(path_prefix)]

    def faults(self, kind: str | None = None) -> list[InjectedFault]:
        """Faults served so far (of ``kind`` only, when given), scripted and chaotic alike."""
        with self._lock:
            return [f for f in self.fault_log if kind is None or f.fault.kind == kind]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()
            self.fault_log.clear()

    def _next_fault(self, request: SimRequest) -> Fault | None:
        with self._lock:
            chosen = self._scripted_fault(request.path)
            if chosen is None and self.chaos is not None:
                if not self._deck:
                    self._deck = self.chaos.deal(self._random)
                chosen = self._deck.pop()
            if chosen is not None:
                self.fault_log.append(InjectedFault(request, chosen, time.time()))
            return chosen

    def _scripted_fault(self, path: str) -> Fault | None:
        for i, fault in enumerate(self._scripted):
            if fault.path is None or path.startswith(fault.path):
                del self._scripted[i]
                return fault
        return None

    def _record(self, request: SimRequest, status: int) -> None:
        entry = LoggedRequest(
            request.method,
            request.path,
            dict(request.query),
            status,
            time.time(),
            dict(request.headers),
            request.body,
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
            fault = self._next_fault(request)
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
    # The listen backlog: connections the kernel completes before the server accepts them.
    # socketserver's default of 5 is overrun by a client opening its pool at once (Motive's
    # ten), and each connection beyond it waits a second for its SYN to be resent: runs took
    # a second longer at random. Real API front ends queue hundreds.
    request_queue_size = 128

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
            body = self.rfile.read(length) if length else b""
            request = SimRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
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
                retry_after = fault.retry_after_header()
                headers = {} if retry_after is None else {"Retry-After": retry_after}
                response = SimResponse.text(429, "Too Many Requests", headers)
            else:
                response = SimResponse.text(fault.status, f"injected HTTP {fault.status}")
            self._send(request, response)

        do_GET = _serve
        do_POST = _serve

    return RequestHandler
