"""A lean HTTP/1.1 transport under httpx for direct connections: the standard library's
``http.client`` does the socket work, httpx keeps everything above it.

Why: httpx's default transport (httpcore over h11) takes a body apart in pure Python, 64 KiB at
a time, with fresh buffers for each piece. On the bulk telemetry path (a Motive vehicle-day is
about 650 KB of JSON) that costs about 1.4 ms of client CPU per response; ``http.client`` reads
a ``Content-Length`` body with one buffered ``read`` in under half of that
(``bench/bench_transport.py``). URLs, headers, auth, redirects (off), ``Content-Encoding``
decoding and the meaning of timeouts stay httpx's; failures are raised as the httpx exceptions
its own transport raises, so callers cannot tell the two apart.

Only direct connections use it: :func:`direct_transport` returns ``None`` when a proxy applies
(configured, or any ``*_proxy`` variable in the environment), and httpx's own transport then
does the proxying.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.request import getproxies

import httpx

__all__ = ["DirectTransport", "direct_transport"]

_Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def direct_transport(verify: ssl.SSLContext | bool, proxy: str | None) -> DirectTransport | None:
    """The transport for a client, or ``None`` when a proxy applies and httpx's own must serve.

    ``verify`` is what httpx's ``verify=`` would get: a context, or True/False for the default
    CA bundle (certifi, as httpx uses) or no verification.
    """
    if proxy is not None or any(scheme != "no" for scheme in getproxies()):
        return None
    context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
    return DirectTransport(context)


@contextmanager
def _as_httpx_errors(request: httpx.Request, connected: bool) -> Iterator[None]:
    """Raise what httpx's own transport raises for the same failure (``connected``: whether
    the connection was up, which tells a connect timeout from a read timeout)."""
    try:
        yield
    except TimeoutError as exc:
        timeout = httpx.ReadTimeout if connected else httpx.ConnectTimeout
        raise timeout(str(exc) or "timed out", request=request) from exc
    except http.client.IncompleteRead as exc:
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body: "
            f"received {len(exc.partial)} bytes, expected {exc.expected}",
            request=request,
        ) from exc
    except http.client.HTTPException as exc:  # a status line or header block h11 would refuse
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    except OSError as exc:  # refused, reset, TLS failures (ssl.SSLError is an OSError)
        failure = httpx.ReadError if connected else httpx.ConnectError
        raise failure(str(exc) or type(exc).__name__, request=request) from exc


class DirectTransport(httpx.BaseTransport):
    """Keep-alive ``http.client`` connections, pooled per origin and shared by threads.

    The pool holds idle connections only; how many run at once is bounded above it (by the
    rate governor's concurrency). An idle connection the server has closed is dropped before
    reuse, so a request never fails for having been sent on a dead socket.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl = ssl_context
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme])
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        connection = self._checkout(origin, timeouts.get("connect"))
        connected = connection.sock is not None
        body = request.read()
        try:
            with _as_httpx_errors(request, connected):
                if not connected:
                    connection.connect()
                    connected = True
            with _as_httpx_errors(request, connected):
                assert connection.sock is not None
                connection.sock.settimeout(timeouts.get("read"))
                connection.putrequest(
                    request.method,
                    url.raw_path.decode("ascii"),
                    skip_host=True,
                    skip_accept_encoding=True,
                )
                for name, value in request.headers.raw:
                    connection.putheader(name, value)
                connection.endheaders(body or None)
                response = connection.getresponse()
                _check_headers(response)
                content = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._checkin(origin, connection)
        return httpx.Response(
            response.status,
            headers=[
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in response.getheaders()
            ],
            stream=httpx.ByteStream(content),
            extensions={
                "http_version": b"HTTP/1.1" if response.version == 11 else b"HTTP/1.0",
                "reason_phrase": response.reason.encode("latin-1"),
            },
        )

    def _checkout(
        self, origin: _Origin, connect_timeout: float | None
    ) -> http.client.HTTPConnection:
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                connection = idle.pop()
                if _alive(connection):
                    return connection
                connection.close()
        scheme, host, port = origin
        if scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=connect_timeout, context=self._ssl
            )
        return _NoDelayConnection(host, port, timeout=connect_timeout)

    def _checkin(self, origin: _Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.setdefault(origin, []).append(connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


class _NoDelayConnection(http.client.HTTPConnection):
    """Plain HTTP with Nagle off, as httpcore sets it: a request's head and body leave at once."""

    def connect(self) -> None:
        super().connect()
        assert self.sock is not None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _alive(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket with something to read has been closed (or garbled) by the
    server: it cannot carry another request."""
    sock: Any = connection.sock
    if sock is None:
        return False
    poller = select.poll()  # not select.select: it fails on descriptors past 1023
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


def _check_headers(response: http.client.HTTPResponse) -> None:
    """Refuse a header block that ``http.client`` parsed leniently: a line that is not a header
    ends its headers silently (the rest, ``Content-Length`` included, would be read as body).
    h11, httpx's parser, refuses it, and so do we, quoting the line as h11 does."""
    if response.msg.defects:
        payload = response.msg.get_payload()
        line = payload.splitlines()[0] if isinstance(payload, str) and payload else ""
        raise http.client.HTTPException(f"illegal header line: {line.encode('latin-1')!r}")
