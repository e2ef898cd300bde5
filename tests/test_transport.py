"""The direct transport under httpx: what a server sends arrives as httpx would deliver it, and
every way a connection can fail is raised as the httpx error its own transport raises.

A raw socket server scripts each connection byte for byte, so the tests can count connections
and send what no well-behaved server would.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from fth_core.transport import DirectTransport, direct_transport

Answer = Callable[[socket.socket], None]


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    return data


def http_response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class ScriptedServer:
    """Accepts connections on 127.0.0.1; each is served by ``answer(connection)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.closed = threading.Semaphore(0)  # released as each connection is closed
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            self.answer(conn)
        self.closed.release()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Answer], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(answer: Answer) -> ScriptedServer:
        servers.append(ScriptedServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=DirectTransport(httpx.create_ssl_context()), timeout=httpx.Timeout(1.0)
    ) as http:
        yield http


def keep_alive(*responses: bytes) -> Answer:
    """Answer requests on one connection with ``responses`` in turn, then close it."""

    def answer(conn: socket.socket) -> None:
        for response in responses:
            if not _read_request(conn):
                return
            conn.sendall(response)

    return answer


BIG = bytes(range(256)) * 4096  # 1 MiB, every byte value


def test_bodies_arrive_whole_over_one_kept_alive_connection(
    scripted: Callable[[Answer], ScriptedServer], client: httpx.Client
) -> None:
    server = scripted(keep_alive(*[http_response(BIG, "X-Part: 1")] * 3))
    for _ in range(3):
        response = client.get(f"{server.url}/big")
        assert (response.status_code, response.content, response.headers["x-part"]) == (
            200,
            BIG,
            "1",
        )
    assert server.connections == 1


def test_an_idle_connection_the_server_closed_is_replaced_not_failed(
    scripted: Callable[[Answer], ScriptedServer], client: httpx.Client
) -> None:
    server = scripted(keep_alive(http_response(b"once")))  # then closes, unannounced
    assert client.get(server.url).text == "once"
    # Once it is closed: a server closing just as the client reuses the connection is a race
    # no client can win, and it fails that request (the TelemetryClient retries it).
    assert server.closed.acquire(timeout=5)
    time.sleep(0.05)  # for its FIN to reach the client's socket, even on a busy machine
    assert client.get(server.url).text == "once"
    assert server.connections == 2


def test_connection_close_and_chunked_and_gzip_bodies_are_read_as_httpx_reads_them(
    scripted: Callable[[Answer], ScriptedServer], client: httpx.Client
) -> None:
    packed = gzip.compress(b'{"a": 1}')
    chunked = b"4\r\nfth \r\n5\r\nrules\r\n0\r\n\r\n"
    server = scripted(
        keep_alive(
            http_response(packed, "Content-Encoding: gzip"),
            http_response(chunked, "Transfer-Encoding: chunked", "Connection: close"),
        )
    )
    assert client.get(server.url).json() == {"a": 1}
    assert client.get(server.url).text == "fth rules"
    assert server.connections == 1


def test_informational_and_bodiless_answers_leave_the_connection_in_step(
    scripted: Callable[[Answer], ScriptedServer], client: httpx.Client
) -> None:
    """A 1xx before the answer is skipped; a HEAD, 204 or 304 answer has no body whatever its
    Content-Length says; the next answer on the connection is read from the right byte."""
    server = scripted(
        keep_alive(
            b"HTTP/1.1 100 Continue\r\n\r\n" + http_response(b"ok"),
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",  # to a HEAD
            http_response(
                b"4;ext=1\r\nfth \r\n0\r\nX-Trailer: t\r\n\r\n", "Transfer-Encoding: chunked"
            ),
            http_response(b"last"),
        )
    )
    assert client.get(server.url).text == "ok"
    assert client.get(server.url).status_code == 204
    assert client.get(server.url).content == b""
    assert client.head(server.url).headers["content-length"] == "5"
    assert client.get(server.url).text == "fth "
    assert client.get(server.url).text == "last"
    assert server.connections == 1


def test_an_http_1_0_answer_ends_its_connection_and_may_run_to_the_close(
    scripted: Callable[[Answer], ScriptedServer], client: httpx.Client
) -> None:
    server = scripted(keep_alive(b"HTTP/1.0 200 OK\r\n\r\nuntil the close"))
    for _ in range(2):
        response = client.get(server.url)
        assert (response.http_version, response.text) == ("HTTP/1.0", "until the close")
    assert server.connections == 2


def test_a_header_that_would_break_the_request_head_is_refused(client: httpx.Client) -> None:
    with pytest.raises(httpx.LocalProtocolError, match="illegal header b'X-Echo'"):
        client.get("http://127.0.0.1:9/", headers={"X-Echo": "a\r\nX-Injected: 1"})


@pytest.mark.parametrize(
    ("wire", "error", "message"),
    [
        (
            b"HTTP/1.1 200 OK\r\nX-Echo: ok\r\nrejected key sk-1\r\nContent-Length: 2\r\n\r\n{}",
            httpx.RemoteProtocolError,
            "illegal header line: b'rejected key sk-1'",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            httpx.RemoteProtocolError,
            "peer closed connection without sending complete message body: "
            "received 3 bytes, expected 10",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Echo: ok\r\n folded\r\nContent-Length: 2\r\n\r\n{}",
            httpx.RemoteProtocolError,
            "illegal header line: b' folded'",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}",
            httpx.RemoteProtocolError,
            "illegal Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            httpx.RemoteProtocolError,
            "illegal chunk size line",
        ),
        (
            b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 101 + b"Content-Length: 0\r\n\r\n",
            httpx.RemoteProtocolError,
            "more than 100 headers",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Long: " + b"x" * 70_000 + b"\r\n\r\n",
            httpx.RemoteProtocolError,
            "line too long",
        ),
        (b"NOT HTTP\r\n\r\n", httpx.RemoteProtocolError, "illegal status line: b'NOT HTTP"),
        (b"", httpx.RemoteProtocolError, "Server disconnected without sending a response"),
    ],
    ids=[
        "malformed header line",
        "truncated body",
        "folded header line",
        "two lengths",
        "bad chunk size",
        "too many headers",
        "a line too long",
        "garbage status line",
        "closed at once",
    ],
)
def test_a_broken_answer_is_the_httpx_error_its_own_transport_raises(
    scripted: Callable[[Answer], ScriptedServer],
    client: httpx.Client,
    wire: bytes,
    error: type[Exception],
    message: str,
) -> None:
    server = scripted(keep_alive(wire))
    with pytest.raises(error, match=message):
        client.get(server.url)


def test_a_silent_server_is_a_read_timeout(
    scripted: Callable[[Answer], ScriptedServer],
) -> None:
    def silent(conn: socket.socket) -> None:
        _read_request(conn)
        threading.Event().wait(2)

    server = scripted(silent)
    with (
        httpx.Client(transport=DirectTransport(httpx.create_ssl_context())) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.get(server.url, timeout=httpx.Timeout(0.2))


def test_a_refused_connection_is_a_connect_error(client: httpx.Client) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError, match="Connection refused"):
        client.get(f"http://127.0.0.1:{port}/")


def test_a_proxy_leaves_the_connection_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(direct_transport(True, None), DirectTransport)
    assert direct_transport(True, "http://proxy.invalid:3128") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert direct_transport(False, None) is None
