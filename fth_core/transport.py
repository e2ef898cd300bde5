"""A lean HTTP/1.1 transport under httpx for direct connections: a socket per connection and a
few lines of parsing, httpx keeping everything above it.

Why: httpx's default transport (httpcore over h11) takes a body apart in pure Python, 64 KiB at
a time, with fresh buffers for each piece; the standard library's ``http.client`` reads a body
in one call but parses every header block with the ``email`` package. Both cost more per
request than the work they do, and a run asks Motive for one vehicle-day at a time: a week of a
100-vehicle fleet is 700 requests (``bench/bench_transport.py`` prints the CPU per answer). Here a
request leaves in one ``sendall``, the head is read line by line from a buffered reader, and
the body with one ``read`` of its ``Content-Length`` (chunked and close-delimited bodies are
read too). URLs, headers, auth, redirects (off), ``Content-Encoding`` decoding and the meaning
of timeouts stay httpx's; failures are raised as the httpx exceptions its own transport raises,
so callers cannot tell the two apart. What a strict parser (h11) refuses is refused here too: a
header line without a colon or folded onto the previous one, a malformed status line or chunk
size, a body cut short.

Only direct connections use it: :func:`direct_transport` returns ``None`` when a proxy applies
(configured, or any ``*_proxy`` variable in the environment), and httpx's own transport then
does the proxying.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO
from urllib.request import getproxies

import httpx

__all__ = ["DirectTransport", "direct_transport"]

_Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}
# As http.client bounds them: a longer line or more header lines is not an HTTP head.
_MAX_LINE = 65536
_MAX_HEADERS = 100
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n]*))?\r?\n")
# What must not reach the wire inside a header: it would end the header (or the head) early.
_BREAKS_A_HEADER = re.compile(rb"[\r\n\0]")
_NO_BODY_STATUSES = frozenset({204, 304})
_EOL = b"\r\n"


def direct_transport(verify: ssl.SSLContext | bool, proxy: str | None) -> DirectTransport | None:
    """The transport for a client, or ``None`` when a proxy applies and httpx's own must serve.

    ``verify`` is what httpx's ``verify=`` would get: a context, or True/False for the default
    CA bundle (certifi, as httpx uses) or no verification.
    """
    if proxy is not None or any(scheme != "no" for scheme in getproxies()):
        return None
    context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
    return DirectTransport(context)


class _ProtocolError(Exception):
    """The server broke HTTP/1.1: raised as ``httpx.RemoteProtocolError`` with this message."""


@contextmanager
def _as_httpx_errors(request: httpx.Request, connected: bool) -> Iterator[None]:
    """Raise what httpx's own transport raises for the same failure (``connected``: whether
    the connection was up, which tells a connect timeout from a read timeout)."""
    try:
        yield
    except TimeoutError as exc:
        timeout = httpx.ReadTimeout if connected else httpx.ConnectTimeout
        raise timeout(str(exc) or "timed out", request=request) from exc
    except _ProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from None
    except OSError as exc:  # refused, reset, TLS failures (ssl.SSLError is an OSError)
        failure = httpx.ReadError if connected else httpx.ConnectError
        raise failure(str(exc) or type(exc).__name__, request=request) from exc


class _Connection:
    """One socket and the buffered reader its answers are read through."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader: BinaryIO = sock.makefile("rb")

    def alive(self) -> bool:
        """An idle keep-alive socket with something to read has been closed (or garbled) by
        the server: it cannot carry another request."""
        poller = select.poll()  # not select.select: it fails on descriptors past 1023
        poller.register(self.sock, select.POLLIN)
        return not poller.poll(0)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class DirectTransport(httpx.BaseTransport):
    """Keep-alive connections, pooled per origin and shared by threads.

    The pool holds idle connections only; how many run at once is bounded above it (by the
    rate governor's concurrency). An idle connection the server has closed is dropped before
    reuse, so a request never fails for having been sent on a dead socket.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl = ssl_context
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme])
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        message = _request_message(request)
        connection = self._checkout(origin)
        if connection is None:
            with _as_httpx_errors(request, connected=False):
                connection = self._connect(origin, timeouts.get("connect"))
        try:
            with _as_httpx_errors(request, connected=True):
                connection.sock.settimeout(timeouts.get("read"))
                connection.sock.sendall(message)
                answer = _read_response(connection.reader, request.method)
        except BaseException:
            connection.close()
            raise
        if answer.keep_alive:
            self._checkin(origin, connection)
        else:
            connection.close()
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=httpx.ByteStream(answer.body),
            extensions={
                "http_version": answer.version,
                "reason_phrase": answer.reason,
            },
        )

    def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            # Nagle off, as httpcore sets it: nothing waits for the peer's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._ssl.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _checkout(self, origin: _Origin) -> _Connection | None:
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                connection = idle.pop()
                if connection.alive():
                    return connection
                connection.close()
        return None

    def _checkin(self, origin: _Origin, connection: _Connection) -> None:
        with self._lock:
            self._idle.setdefault(origin, []).append(connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


def _request_message(request: httpx.Request) -> bytes:
    """The request as it goes on the wire: its head (httpx has already added ``Host`` and,
    with a body, ``Content-Length``) and its body. A header that would break the head is
    refused, as h11 refuses it."""
    lines = [request.method.encode("ascii") + b" " + request.url.raw_path + b" HTTP/1.1"]
    for name, value in request.headers.raw:
        if _BREAKS_A_HEADER.search(name) or _BREAKS_A_HEADER.search(value):
            raise httpx.LocalProtocolError(f"illegal header {name!r}", request=request)
        lines.append(name + b": " + value)
    lines += [b"", b""]
    return b"\r\n".join(lines) + request.read()


class _Answer:
    """A response as read: status line, header fields, whole body, and whether the connection
    can carry another request."""

    __slots__ = ("body", "headers", "keep_alive", "reason", "status", "version")

    def __init__(self, version: bytes, status: int, reason: bytes) -> None:
        self.version, self.status, self.reason = version, status, reason
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.keep_alive = True


def _read_response(reader: BinaryIO, method: str) -> _Answer:
    """Read one response; informational (1xx) answers before it are skipped."""
    while True:
        line = _read_line(reader)
        if not line:
            raise _ProtocolError("Server disconnected without sending a response.")
        match = _STATUS_LINE.fullmatch(line)
        if match is None:
            raise _ProtocolError(f"illegal status line: {line!r}")
        minor, status, reason = match.groups()
        answer = _Answer(b"HTTP/1." + minor, int(status), reason or b"")
        fields = _read_fields(reader, answer.headers)
        if not 100 <= answer.status < 200:
            break
    tokens = fields.get(b"connection", b"").lower()
    answer.keep_alive = b"keep-alive" in tokens if minor == b"0" else b"close" not in tokens
    if method == "HEAD" or answer.status in _NO_BODY_STATUSES:
        return answer
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        answer.body = _read_chunked(reader)
    elif b"content-length" in fields:
        answer.body = _read_exactly(reader, _content_length(fields[b"content-length"]))
    else:  # delimited by the server closing the connection
        answer.body = reader.read()
        answer.keep_alive = False
    return answer


def _read_line(reader: BinaryIO) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _ProtocolError("line too long")
    return line


def _read_fields(reader: BinaryIO, headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Read header lines up to the blank line into ``headers`` (names as sent); returns the
    values by lower-case name, repeated fields joined with commas, for framing decisions."""
    fields: dict[bytes, bytes] = {}
    while True:
        line = _read_line(reader)
        if line in (b"\r\n", b"\n"):
            return fields
        if not line:
            raise _ProtocolError("Server disconnected without sending a complete head.")
        name, colon, value = line.partition(b":")
        if not colon or not name or name[-1:].isspace() or line[:1] in (b" ", b"\t"):
            raise _ProtocolError(f"illegal header line: {line.rstrip(_EOL)!r}")
        if len(headers) == _MAX_HEADERS:
            raise _ProtocolError(f"more than {_MAX_HEADERS} headers")
        value = value.strip(b" \t\r\n")
        headers.append((name, value))
        key = name.lower()
        fields[key] = fields[key] + b", " + value if key in fields else value


def _content_length(value: bytes) -> int:
    """One length, or the same one repeated (``10, 10``); anything else is not a length."""
    lengths = {part.strip() for part in value.split(b",")}
    length = lengths.pop()
    if lengths or not length.isdigit():
        raise _ProtocolError(f"illegal Content-Length: {value!r}")
    return int(length)


def _read_exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise _ProtocolError(
            "peer closed connection without sending complete message body: "
            f"received {len(data)} bytes, expected {size}"
        )
    return data


def _read_chunked(reader: BinaryIO) -> bytes:
    """A chunked body: chunks up to the last (size 0), then the trailer fields (ignored)."""
    chunks = []
    while True:
        line = _read_line(reader)
        size = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not size or size.strip(b"0123456789abcdefABCDEF"):
            raise _ProtocolError(f"illegal chunk size line: {line!r}")
        length = int(size, 16)
        if length == 0:
            break
        chunks.append(_read_exactly(reader, length))
        if _read_line(reader) not in (b"\r\n", b"\n"):
            raise _ProtocolError("a chunk does not end where its size says")
    _read_fields(reader, [])
    return b"".join(chunks)
