"""An httpx transport over urllib3: httpx keeps URLs, headers, auth, redirects, ``Content-Encoding``
decoding and the meaning of timeouts; urllib3 (over the standard library's ``http.client``) does
the HTTP/1.1 framing and keeps the connections.

Why not httpx's own transport: httpcore frames with h11, which takes a body apart in pure Python,
a small piece at a time, and a run downloads hundreds of megabytes of JSON. ``http.client`` reads
a body with buffered C reads. The project's rule is that HTTP framing belongs to a maintained
library, plugged in through httpx's documented transport API: nothing here parses HTTP.

What it adds: an overall deadline per request (``request.extensions["deadline"]``, a
``time.monotonic()`` moment) that bounds the whole exchange, where socket timeouts bound only
each read, so a server that trickles a byte at a time cannot hold a run.

Failures are raised as the httpx exceptions httpx's own transport raises for the same failure,
so callers cannot tell the two apart; that includes refusing the malformed response heads h11
refuses, which ``http.client`` alone would let through (see :class:`_StrictResponse`).
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    EmptyPoolError,
    HeaderParsingError,
    HTTPError,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import SKIP_HEADER
from urllib3.util.response import assert_header_parsing

__all__ = ["DEADLINE_MESSAGE", "Urllib3Transport"]

#: The message of the ``httpx.ReadTimeout`` raised when a request's overall deadline passes.
DEADLINE_MESSAGE = "overall deadline of the request passed"
# The most a body read asks for at once. http.client clips it to what is left of a body with a
# Content-Length, so a body up to this size arrives in one piece: httpx then copies no pieces
# into a whole, and copying a body of megabytes into fresh memory costs more CPU than all the
# framing. A chunked or close-delimited body is read this much at a time. A larger
# Content-Length (a hostile one included) is read in pieces of this size, never allocated whole.
_READ_SIZE = 16 << 20
_VERSIONS = {10: b"HTTP/1.0", 11: b"HTTP/1.1"}
# What urllib3 and http.client raise for network and protocol failures.
_FAILURES = (HTTPError, http.client.HTTPException, OSError)


class _Exchange:
    """One request's passage through a connection: its deadline, what the watchdog did to it,
    and whether it is still connecting (which tells a connect failure from a read failure)."""

    __slots__ = (
        "connecting",
        "connection",
        "deadline",
        "done",
        "fired",
        "sock",
        "watchdog",
        "write",
    )

    def __init__(self, watchdog: _Watchdog, deadline: float | None, write: float | None) -> None:
        self.watchdog = watchdog
        self.deadline = deadline
        self.write = write  # the socket timeout while the request is sent
        self.connection: _WatchedConnection | None = None
        # The socket the request went out on. A response that ends its connection ("Connection:
        # close", or no length) keeps reading from it after urllib3's connection has let go.
        self.sock: socket.socket | None = None
        self.connecting = False
        self.fired = False  # the watchdog shut the connection's socket at the deadline
        self.done = False  # ended: the watchdog must leave its connection alone


# The exchange the current thread is sending, for the connection urllib3 picks to find it.
_current = threading.local()


def _exchange_of_this_thread() -> _Exchange | None:
    exchange: _Exchange | None = getattr(_current, "exchange", None)
    return exchange


class _Watchdog:
    """One daemon thread per transport that shuts the socket of any exchange still running at
    its deadline, so that the read blocked on it returns at once.

    A socket timeout bounds each read, not their sum: a server sending a byte a second never
    trips one. Shutting the socket (not closing it: the descriptor stays owned by the thread
    using it) wakes that thread wherever it blocks, in connect's TLS handshake, sending, or
    reading the head or body. The exchange is marked ``fired`` so the failure that follows is
    reported as the deadline passing.

    Exchanges wait in a heap ordered by deadline; an exchange that ends is only marked done and
    dropped when it surfaces (or when dead entries outnumber live ones), so arming and ending
    cost a lock and a heap push, never a thread per request.

    A connection can go back to urllib3's pool (urllib3 returns it as soon as a body is read)
    before the exchange that used it is marked done. So a connection remembers the exchange it
    last served, and both firing and claiming happen under one lock: the watchdog shuts a
    connection's socket only while no later exchange has claimed it, and an exchange that
    claims a connection whose socket was shut for an earlier one closes it first (http.client
    then connects again). A response that ends its connection (``Connection: close``, or a body
    delimited by the close) reads on from a socket urllib3's connection has let go of: the
    exchange remembers that socket, which no other exchange can be given.
    """

    def __init__(self, name: str) -> None:
        self.name = name  # of its thread
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Exchange]] = []
        self._order = itertools.count()  # ties on a deadline never compare exchanges
        self._live = 0
        self._thread: threading.Thread | None = None  # the running one: any other stops

    def claim(self, connection: _WatchedConnection, exchange: _Exchange) -> None:
        """``connection`` now serves ``exchange``: watch it until the exchange ends. Raises
        ``TimeoutError`` when the deadline has already passed, so nothing more is sent."""
        previous = connection.fth_exchange
        if previous is exchange:
            return
        if exchange.deadline is None and previous is None:
            return  # nothing to watch and nothing left from an earlier exchange
        with self._lock:
            previous = connection.fth_exchange
            if previous is not None and previous.fired and previous.sock in (None, connection.sock):
                connection.close()  # its socket was shut at an earlier deadline
            if exchange.deadline is None:
                connection.fth_exchange = None
                return
            connection.fth_exchange = exchange
            first = exchange.connection is None
            exchange.connection = connection
            if exchange.fired or time.monotonic() >= exchange.deadline:
                exchange.fired = True
                raise TimeoutError(DEADLINE_MESSAGE)
            if not first:
                return  # already in the heap: the entry finds the exchange's connection
            self._live += 1
            heapq.heappush(self._heap, (exchange.deadline, next(self._order), exchange))
            if len(self._heap) > 2 * self._live + 64:
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            elif self._heap[0][2] is exchange:
                self._wake.notify()  # an earlier deadline than the one it sleeps towards

    def release(self, exchange: _Exchange) -> bool:
        """The exchange has ended: its connection is no longer to be watched for it. Returns
        whether the watchdog fired on it before."""
        if exchange.deadline is None or exchange.done:
            return exchange.fired
        with self._lock:
            if not exchange.done:
                exchange.done = True
                if exchange.connection is not None:
                    self._live -= 1
            return exchange.fired

    def _run(self) -> None:
        with self._lock:
            while self._thread is threading.current_thread():
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    exchange = heapq.heappop(self._heap)[2]
                    if exchange.done:
                        continue
                    exchange.done = True
                    self._live -= 1
                    connection = exchange.connection
                    if connection is None:
                        continue
                    sock = exchange.sock
                    if sock is None or sock is connection.sock:
                        if connection.fth_exchange is not exchange:
                            continue  # the connection, socket and all, serves another now
                        sock = connection.sock
                    exchange.fired = True
                    if sock is not None:
                        # OSError: closed meanwhile, so nothing is blocked on it. The plain
                        # socket's shutdown: an SSLSocket's would also drop its TLS state.
                        with contextlib.suppress(OSError):
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)
                wait = self._heap[0][0] - now if self._heap else None
                self._wake.wait(wait)

    def stop(self) -> None:
        """End the thread (a later deadline starts another)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._wake.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)


class _MalformedHead(http.client.HTTPException):
    """A response head that h11 (httpx's own parser) refuses and ``http.client`` lets through."""


class _StrictResponse(http.client.HTTPResponse):
    """``http.client``'s response, refusing the heads h11 refuses.

    ``http.client`` hands the header block to the ``email`` parser, which takes a line that is
    no header (no colon, a space before the colon, an empty name, a continuation first) for the
    start of a body: the fields after it, ``Content-Length`` included, are silently dropped, and
    the connection then waits for a close that a keep-alive server never sends. urllib3 only
    logs what :func:`urllib3.util.assert_header_parsing` finds; here it fails the response, as
    h11 does. So does a ``Content-Length`` that is no number, which ``http.client`` ignores.
    """

    def begin(self) -> None:
        super().begin()
        try:
            assert_header_parsing(self.msg)
        except HeaderParsingError as exc:
            payload = self.msg.get_payload()
            if isinstance(payload, str) and payload:
                # the email parser's payload starts at the first line it could not take
                raise _MalformedHead(
                    f"illegal header line: {payload.splitlines()[0].encode('latin-1')!r}"
                ) from exc
            raise _MalformedHead(f"illegal header block: {self.msg.defects!r}") from exc
        if self.length is None and not self.chunked and self.msg.get("Content-Length"):
            raise _MalformedHead("bad Content-Length")


class _WatchedConnection(HTTPConnection):
    """A urllib3 connection that tells the watchdog which exchange it serves, from the moment
    it connects or is handed a request (urllib3 exposes no other moment before the head is
    read), sends with the request's write timeout, and reads with :class:`_StrictResponse`."""

    response_class = _StrictResponse
    fth_exchange: _Exchange | None = None

    def connect(self) -> None:
        exchange = _exchange_of_this_thread()
        if exchange is None:
            super().connect()
            return
        exchange.watchdog.claim(self, exchange)
        exchange.connecting = True
        super().connect()
        exchange.connecting = False

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Any = None,
        *,
        chunked: bool = False,
        preload_content: bool = True,
        decode_content: bool = True,
        enforce_content_length: bool = True,
    ) -> None:
        exchange = _exchange_of_this_thread()
        if exchange is not None:
            exchange.watchdog.claim(self, exchange)
            if self.sock is None:
                self.connect()  # now, with the connect timeout, rather than inside the send
            exchange.sock = self.sock
            self.timeout = exchange.write
        super().request(
            method,
            url,
            body=body,
            headers=headers,
            chunked=chunked,
            preload_content=preload_content,
            decode_content=decode_content,
            enforce_content_length=enforce_content_length,
        )


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class Urllib3Transport(httpx.BaseTransport):
    """httpx's transport API over one ``urllib3.PoolManager``, shared by all threads of a run.

    Connections are kept alive and pooled per origin, at most ``max_connections`` per origin.
    The pool blocks (``block=True``): a request that finds every connection busy waits for one,
    up to httpx's ``pool`` timeout, and fails with ``httpx.PoolTimeout`` after it, as httpx's
    own pool does. A non-blocking pool would open extra connections past the limit and throw
    each away after one use, logging a warning every time.

    HTTPS uses ``verify``: an ``ssl.SSLContext`` as given (e.g. truststore's), or True/False
    for httpx's default context (certifi's CA bundle) or no verification, as httpx's ``verify=``.
    Connections are direct: a proxy is httpx's to mount (``httpx.Client(proxy=...)`` routes
    around this transport), and environment proxies are not read here.

    Timeouts come from ``request.extensions["timeout"]`` as httpx sets them: ``connect`` for
    connecting and the TLS handshake, ``write`` for sending, ``read`` for each read of the head
    and body, ``pool`` for waiting for a connection. ``request.extensions["deadline"]``, a
    ``time.monotonic()`` moment, bounds the whole exchange from connecting to the end of the
    body: once it passes, the exchange fails with ``httpx.ReadTimeout`` (message
    :data:`DEADLINE_MESSAGE`) within moments, whatever the server is trickling.

    The response is streamed; its body arrives as sent (``Content-Encoding`` is decoded by
    httpx above the transport). Closing it returns the connection to the pool when the body was
    read to its end, and closes the connection otherwise.
    """

    def __init__(self, *, verify: ssl.SSLContext | bool = True, max_connections: int = 10) -> None:
        # With verification off (asked for in so many words), urllib3 warns through the
        # warnings module; the process's filters decide whether that shows, not this class.
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
        self._manager = urllib3.PoolManager(
            num_pools=16, maxsize=max_connections, block=True, ssl_context=context
        )
        self._manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self._watchdog = _Watchdog(f"fth-transport-watchdog-{id(self):x}")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{url.scheme}://'.", request=request
            )
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        deadline: float | None = request.extensions.get("deadline")
        connect, read, pool = timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool")
        write = timeouts.get("write")
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise httpx.ReadTimeout(DEADLINE_MESSAGE, request=request)
            connect, read, pool, write = (
                left if limit is None else min(limit, left)
                for limit in (connect, read, pool, write)
            )
        headers = urllib3.HTTPHeaderDict()
        for name, value in request.headers.raw:
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
        if "User-Agent" not in headers:
            headers["User-Agent"] = SKIP_HEADER  # else urllib3 would add its own
        body = request.read() or None
        exchange = _Exchange(self._watchdog, deadline, write)
        _current.exchange = exchange
        try:
            pool_of_origin = self._manager.connection_from_host(
                url.raw_host.decode("ascii"), url.port, url.scheme
            )
            response = pool_of_origin.urlopen(
                request.method,
                url.raw_path.decode("ascii"),
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(connect=connect, read=read),
                pool_timeout=pool,  # type: ignore[arg-type]  # typed int, used as queue.get's
                preload_content=False,
                decode_content=False,
                release_conn=False,
            )
        except (*_FAILURES, ValueError) as exc:
            self._watchdog.release(exchange)
            raise _as_httpx_error(exc, request, exchange) from exc
        finally:
            _current.exchange = None
        stream = _ResponseStream(response, request, exchange)
        if exchange.fired:  # the head may have been cut short and still parsed
            stream.close()
            raise httpx.ReadTimeout(DEADLINE_MESSAGE, request=request)
        return httpx.Response(
            response.status,
            headers=[
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in response.headers.iteritems()
            ],
            stream=stream,
            extensions={
                "http_version": _VERSIONS.get(response.version, b"HTTP/1.1"),
                "reason_phrase": response.reason.encode("latin-1") if response.reason else b"",
            },
        )

    def close(self) -> None:
        """Close the idle connections and stop the watchdog; connections still serving a
        response are closed as those responses are closed."""
        self._manager.clear()
        self._watchdog.stop()


class _ResponseStream(httpx.SyncByteStream):
    """A response body as urllib3 reads it, raw; the exchange ends when it is closed."""

    def __init__(
        self, response: urllib3.BaseHTTPResponse, request: httpx.Request, exchange: _Exchange
    ) -> None:
        self._response = response
        self._request = request
        self._exchange = exchange
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        response, exchange = self._response, self._exchange
        deadline = exchange.deadline
        try:
            while True:
                if deadline is not None and time.monotonic() >= deadline and not response.closed:
                    exchange.fired = True
                    raise httpx.ReadTimeout(DEADLINE_MESSAGE, request=self._request)
                chunk = response.read(_READ_SIZE)
                if not chunk:
                    break
                yield chunk
        except _FAILURES as exc:
            raise _as_httpx_error(exc, self._request, exchange) from exc
        # A body with a length or chunks that ends cleanly is whole (http.client raises for
        # one cut short); one delimited by the connection closing may have been cut by the
        # watchdog's shutdown.
        framed = response.length_remaining == 0 or response.chunked
        if exchange.watchdog.release(exchange) and not framed:
            raise httpx.ReadTimeout(DEADLINE_MESSAGE, request=self._request)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._exchange.watchdog.release(self._exchange)
        response = self._response
        if not response.closed or self._exchange.fired:
            response.close()  # a body not read to its end: the connection cannot be reused
        response.release_conn()  # back to the pool, where a closed connection reconnects


def _as_httpx_error(
    exc: BaseException, request: httpx.Request, exchange: _Exchange
) -> httpx.TransportError:
    """The httpx exception httpx's own transport raises for the failure ``exc``."""
    # urllib3 wraps what http.client and the socket raise while sending and reading the head
    # (and reading the body) in a ProtocolError whose second argument is the original.
    cause = exc.args[1] if isinstance(exc, ProtocolError) and len(exc.args) > 1 else exc
    timed_out = isinstance(cause, (TimeoutError, EmptyPoolError)) or (
        isinstance(exc, (ConnectTimeoutError, ReadTimeoutError))
        and not isinstance(exc, NewConnectionError)
    )
    if exchange.fired or (
        timed_out and exchange.deadline is not None and time.monotonic() >= exchange.deadline
    ):
        exchange.fired = True
        return httpx.ReadTimeout(DEADLINE_MESSAGE, request=request)
    if isinstance(cause, _MalformedHead):
        message = str(cause)
    elif cause is not exc and repr(cause) not in str(exc.args[0]):
        message = f"{str(exc.args[0]).rstrip('.')}: {cause!r}"  # "Connection aborted: ..."
    else:
        message = str(exc.args[0] if cause is not exc else exc) or type(exc).__name__
    if isinstance(exc, EmptyPoolError):
        return httpx.PoolTimeout(message, request=request)
    if isinstance(exc, ClosedPoolError):  # the transport was closed meanwhile
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, NewConnectionError):  # refused, unreachable, unknown host
        # urllib3 prefixes the connection's repr; the reason is what a user needs.
        reason = message.partition("Failed to establish a new connection: ")[2]
        return httpx.ConnectError(reason or message, request=request)
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        # urllib3 reports a TLS handshake that timed out as a read timeout
        timeout = httpx.ConnectTimeout if exchange.connecting else httpx.ReadTimeout
        return timeout(message, request=request)
    if isinstance(cause, TimeoutError):  # the socket's own timeout: urllib3 passes it while sending
        return httpx.WriteTimeout(message, request=request)
    if isinstance(exc, (LocationValueError, ValueError)) and (
        isinstance(exc, LocationValueError) or not isinstance(exc, HTTPError)
    ):
        # http.client refuses a header or target that would break the request head
        return httpx.LocalProtocolError(message, request=request)
    if isinstance(cause, http.client.RemoteDisconnected):
        return httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    if isinstance(cause, (http.client.HTTPException, HTTPError)) and not isinstance(
        cause, SSLError
    ):
        # a malformed status line or header block, a bad chunk size, a body cut short
        return httpx.RemoteProtocolError(message, request=request)
    if exchange.connecting:  # refused during the TLS handshake, or a certificate refused
        return httpx.ConnectError(message, request=request)
    return httpx.ReadError(message, request=request)  # reset, broken pipe, TLS failure
