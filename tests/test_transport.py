"""Urllib3Transport under a real httpx.Client, against real servers on 127.0.0.1: answers arrive
as httpx's own transport would deliver them, failures are raised as the httpx errors its own
transport raises, and an overall deadline cuts a server that trickles.

Well-behaved answers come from ``http.server``; hostile ones from a raw socket server that
scripts each connection byte for byte. Every script is bounded in time, so a transport that
failed to cut a trickle would fail the test, not hang it.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import trustme
from loopback_support import ScriptedServer, read_request, trickle

from fth_core.transport import DEADLINE_MESSAGE, Urllib3Transport

DOCUMENT = {"vehicle_locations": [{"vehicle_id": n, "lat": 47.6, "lon": -122.3} for n in range(50)]}
BODY = json.dumps(DOCUMENT).encode()
DEADLINE = 1.0  # seconds, for the trickle tests
SLACK = 1.5  # how long after its deadline an exchange may still hold the server


# -- well-behaved server -------------------------------------------------------------------------


class Recorder:
    """What the well-behaved server saw: connections accepted and requests received."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[tuple[str, str, list[tuple[str, str]], bytes]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True
    recorder: Recorder

    def setup(self) -> None:  # once per connection
        super().setup()
        with self.recorder.lock:
            self.recorder.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, body: bytes, *headers: tuple[str, str], chunked: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 1000):
                piece = body[start : start + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record(b"")
        if self.path == "/json":
            self._answer(BODY)
        elif self.path == "/chunked":
            self._answer(BODY, chunked=True)
        elif self.path == "/gzip":
            self._answer(gzip.compress(BODY), ("Content-Encoding", "gzip"))
        elif self.path == "/bad-gzip":
            self._answer(b"this is not gzip at all", ("Content-Encoding", "gzip"))
        elif self.path == "/slow":  # the whole body over about half a second
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            step = len(BODY) // 5 + 1
            for start in range(0, len(BODY), step):
                time.sleep(0.1)
                self.wfile.write(BODY[start : start + step])
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._record(body)
        self._answer(body)

    def _record(self, body: bytes) -> None:
        with self.recorder.lock:
            self.recorder.requests.append((self.command, self.path, self.headers.items(), body))


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    handler = type("RecordingHandler", (Handler,), {"recorder": recorder})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(transport=Urllib3Transport(), trust_env=False, timeout=5) as client:
        yield client


def deadline_in(seconds: float) -> dict[str, float]:
    return {"deadline": time.monotonic() + seconds}


# -- hostile server ------------------------------------------------------------------------------


def default_client() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=5)


def urllib3_client() -> httpx.Client:
    return httpx.Client(transport=Urllib3Transport(), trust_env=False, timeout=5)


BOTH_TRANSPORTS = pytest.mark.parametrize(
    "make_client", [default_client, urllib3_client], ids=["httpx-own", "urllib3"]
)


# -- answers -------------------------------------------------------------------------------------


def test_a_json_answer_arrives_whole(server: tuple[str, Recorder], client: httpx.Client) -> None:
    url, _ = server
    response = client.get(f"{url}/json", extensions=deadline_in(5))
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"
    assert response.reason_phrase == "OK"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == DOCUMENT


def test_keep_alive_reuses_one_connection(
    server: tuple[str, Recorder], client: httpx.Client
) -> None:
    url, recorder = server
    for _ in range(2):
        with client.stream("GET", f"{url}/json", extensions=deadline_in(5)) as response:
            assert json.loads(response.read()) == DOCUMENT
    assert recorder.connections == 1


def test_a_chunked_body_is_joined(server: tuple[str, Recorder], client: httpx.Client) -> None:
    url, _ = server
    response = client.get(f"{url}/chunked")
    assert "content-length" not in response.headers
    assert response.json() == DOCUMENT


def test_gzip_content_encoding_is_decoded_by_httpx(
    server: tuple[str, Recorder], client: httpx.Client
) -> None:
    url, _ = server
    with client.stream("GET", f"{url}/gzip") as response:
        raw = b"".join(response.iter_raw())  # the transport passes the bytes as sent
    assert gzip.decompress(raw) == BODY
    assert client.get(f"{url}/gzip").json() == DOCUMENT


def test_a_post_arrives_with_its_json_body_and_each_header_once(
    server: tuple[str, Recorder], client: httpx.Client
) -> None:
    url, recorder = server
    response = client.post(f"{url}/echo", json=DOCUMENT, extensions=deadline_in(5))
    assert response.json() == DOCUMENT
    [(method, path, headers, body)] = recorder.requests
    assert (method, path, json.loads(body)) == ("POST", "/echo", DOCUMENT)
    names = [name.lower() for name, _ in headers]
    assert len(names) == len(set(names))  # Host, User-Agent, Content-Length: httpx's, once
    assert {name.lower(): value for name, value in headers}["user-agent"].startswith(
        "python-httpx/"
    )


def test_a_bad_gzip_body_raises_decoding_error(
    server: tuple[str, Recorder], client: httpx.Client
) -> None:
    url, _ = server
    with pytest.raises(httpx.DecodingError):
        client.get(f"{url}/bad-gzip")


def test_threads_share_one_transport_within_its_connection_limit(
    server: tuple[str, Recorder],
) -> None:
    url, recorder = server
    failures: list[BaseException] = []

    def fetch(client: httpx.Client) -> None:
        try:
            for _ in range(20):
                assert client.get(f"{url}/json", extensions=deadline_in(10)).json() == DOCUMENT
        except BaseException as exc:
            failures.append(exc)

    transport = Urllib3Transport(max_connections=4)
    with httpx.Client(transport=transport, trust_env=False, timeout=10) as client:
        threads = [threading.Thread(target=fetch, args=(client,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert failures == []
    assert len(recorder.requests) == 160
    assert recorder.connections <= 4


def test_the_watchdog_spares_a_slow_answer_within_its_deadline(
    server: tuple[str, Recorder], client: httpx.Client
) -> None:
    url, recorder = server
    for _ in range(2):  # the second on the same connection: the watchdog left it whole
        response = client.get(f"{url}/slow", extensions=deadline_in(5))
        assert response.json() == DOCUMENT
    assert recorder.connections == 1


# -- the deadline --------------------------------------------------------------------------------


def test_a_head_trickled_a_byte_at_a_time_is_cut_at_the_deadline(
    scripted: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        trickle(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: " + b"x" * 100)

    server = scripted(script)
    deadline = time.monotonic() + DEADLINE
    with pytest.raises(httpx.ReadTimeout, match=DEADLINE_MESSAGE):
        client.get(server.url, extensions={"deadline": deadline})
    assert server.done.wait(10)
    assert server.gone_at is not None
    assert server.gone_at < deadline + SLACK


def test_a_body_trickled_a_byte_at_a_time_is_cut_at_the_deadline(
    scripted: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        trickle(conn, b"x" * 100)

    server = scripted(script)
    deadline = time.monotonic() + DEADLINE
    with (
        pytest.raises(httpx.ReadTimeout, match=DEADLINE_MESSAGE),
        client.stream("GET", server.url, extensions={"deadline": deadline}) as response,
    ):
        response.read()
    assert server.done.wait(10)
    assert server.gone_at is not None
    assert server.gone_at < deadline + SLACK


def test_a_close_delimited_body_cut_at_the_deadline_is_not_taken_for_whole(
    scripted: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        trickle(conn, b"x" * 100)

    server = scripted(script)
    deadline = time.monotonic() + DEADLINE
    with pytest.raises(httpx.ReadTimeout, match=DEADLINE_MESSAGE):
        client.get(server.url, extensions={"deadline": deadline})
    assert server.done.wait(10)
    assert server.gone_at is not None
    assert server.gone_at < deadline + SLACK


def test_a_connection_cut_at_its_deadline_is_not_reused(
    scripted: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    answers = iter([b"x" * 100, b"ok"])

    def script(conn: socket.socket) -> None:
        read_request(conn)
        body = next(answers)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        trickle(conn, body) if len(body) > 2 else conn.sendall(body)
        read_request(conn)

    server = scripted(script)
    with pytest.raises(httpx.ReadTimeout):
        client.get(server.url, extensions=deadline_in(0.5))
    assert client.get(server.url, extensions=deadline_in(5)).content == b"ok"
    assert server.connections == 2


def test_every_failed_exchange_gives_its_connection_back_to_the_pool(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """With room for one connection, a slot lost by any failure would make the next request
    wait for the pool and fail with PoolTimeout."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"

    def trickled(conn: socket.socket) -> None:
        conn.sendall(head)
        trickle(conn, b"x" * 100)

    plays: list[Callable[[socket.socket], None]] = [
        lambda conn: conn.sendall(head + b"x" * 10),  # cut short
        lambda conn: conn.sendall(b"garbage\r\n\r\n"),
        lambda conn: conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
        lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nX-Bad : header\r\n\r\n"),
        trickled,  # cut at the deadline
        lambda conn: conn.sendall(head + b"x" * 10),  # its response closed unread, below
        lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ]
    remaining = iter(plays)

    def script(conn: socket.socket) -> None:
        read_request(conn)
        next(remaining)(conn)

    server = scripted(script)
    transport = Urllib3Transport(max_connections=1)
    timeout = httpx.Timeout(5, pool=1)
    with httpx.Client(transport=transport, trust_env=False, timeout=timeout) as client:
        for _ in range(5):
            with pytest.raises(httpx.TransportError) as caught:
                client.get(server.url, extensions=deadline_in(0.5))
            assert not isinstance(caught.value, httpx.PoolTimeout)
        with client.stream("GET", server.url, extensions=deadline_in(5)) as response:
            assert response.status_code == 200
        assert client.get(server.url, extensions=deadline_in(5)).content == b"ok"
    assert server.connections == len(plays)


def test_a_deadline_already_passed_sends_nothing(
    scripted: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    server = scripted(read_request)
    with pytest.raises(httpx.ReadTimeout, match=DEADLINE_MESSAGE):
        client.get(server.url, extensions=deadline_in(-1))
    assert server.connections == 0


# -- failures, raised as httpx's own transport raises them ---------------------------------------


@BOTH_TRANSPORTS
def test_a_body_shorter_than_its_content_length_is_a_protocol_error(
    scripted: Callable[..., ScriptedServer], make_client: Callable[[], httpx.Client]
) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)

    server = scripted(script)
    with make_client() as client, pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url, extensions=deadline_in(5))


@BOTH_TRANSPORTS
def test_a_garbage_status_line_is_a_protocol_error(
    scripted: Callable[..., ScriptedServer], make_client: Callable[[], httpx.Client]
) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"SMTP ready, not HTTP\r\n\r\n")

    server = scripted(script)
    with make_client() as client, pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url, extensions=deadline_in(5))


@BOTH_TRANSPORTS
@pytest.mark.parametrize(
    "header_lines",
    [
        b"X-Echo: ok\r\nrejected key abc\r\n",  # no colon
        b"X-Echo : ok\r\n",  # a space before the colon
        b": no name\r\n",
        b" X-Continued: from nowhere\r\n",  # a continuation line first
        b"X-Echo: ok\r\n",  # and a Content-Length that is no number, below
    ],
    ids=["no-colon", "space-before-colon", "empty-name", "continuation-first", "bad-length"],
)
def test_a_malformed_head_is_a_protocol_error_not_a_wait(
    scripted: Callable[..., ScriptedServer],
    make_client: Callable[[], httpx.Client],
    header_lines: bytes,
) -> None:
    """http.client's header parser would drop every field after such a line (Content-Length
    too) and wait for a close that this keep-alive server never sends."""
    length = b"x2" if header_lines == b"X-Echo: ok\r\n" else b"2"

    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + header_lines + b"Content-Length: " + length)
        conn.sendall(b"\r\n\r\nok")
        read_request(conn)  # keeps the connection open until the client closes it

    server = scripted(script)
    with make_client() as client, pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url, extensions=deadline_in(5))


@BOTH_TRANSPORTS
def test_a_server_that_closes_without_answering_is_a_protocol_error(
    scripted: Callable[..., ScriptedServer], make_client: Callable[[], httpx.Client]
) -> None:
    server = scripted(read_request)
    with (
        make_client() as client,
        pytest.raises(httpx.RemoteProtocolError, match="without sending a response"),
    ):
        client.get(server.url, extensions=deadline_in(5))


def test_a_reset_connection_raises_what_httpx_own_transport_raises(
    scripted: Callable[..., ScriptedServer],
) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST

    server = scripted(script)
    raised: list[type[BaseException]] = []
    for make_client in (default_client, urllib3_client):
        with make_client() as client, pytest.raises(httpx.TransportError) as caught:
            client.get(server.url, extensions=deadline_in(5))
        raised.append(type(caught.value))
    assert raised[0] is raised[1]
    assert raised[0] in (httpx.ReadError, httpx.RemoteProtocolError)


@BOTH_TRANSPORTS
def test_a_refused_connection_is_a_connect_error(make_client: Callable[[], httpx.Client]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once it is closed
    with make_client() as client, pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{port}/", extensions=deadline_in(5))


@BOTH_TRANSPORTS
def test_a_silent_server_trips_the_read_timeout(
    scripted: Callable[..., ScriptedServer], make_client: Callable[[], httpx.Client]
) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        time.sleep(1.0)

    server = scripted(script)
    with make_client() as client, pytest.raises(httpx.ReadTimeout):
        client.get(server.url, timeout=httpx.Timeout(5, read=0.2))


# -- TLS, and the transport's end -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1, and a client context trusting it."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


def test_https_uses_the_given_context_and_the_deadline_cuts_a_tls_trickle(
    scripted: Callable[..., ScriptedServer], tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_context, client_context = tls

    def script(conn: socket.socket) -> None:  # two answers on one connection
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        trickle(conn, b"x" * 100)

    server = scripted(script, server_context)
    transport = Urllib3Transport(verify=client_context)
    with httpx.Client(transport=transport, trust_env=False, timeout=5) as client:
        assert client.get(server.url, extensions=deadline_in(5)).json() == DOCUMENT
        deadline = time.monotonic() + DEADLINE
        with pytest.raises(httpx.ReadTimeout, match=DEADLINE_MESSAGE):
            client.get(server.url, extensions={"deadline": deadline})
    assert server.done.wait(10)
    assert server.gone_at is not None
    assert server.gone_at < deadline + SLACK


@BOTH_TRANSPORTS
def test_an_untrusted_certificate_is_a_connect_error(
    scripted: Callable[..., ScriptedServer],
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
    make_client: Callable[[], httpx.Client],
) -> None:
    server = scripted(read_request, tls[0])  # a certificate from a CA nobody trusts
    with make_client() as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        client.get(server.url, extensions=deadline_in(5))


def test_closing_the_transport_stops_its_watchdog(server: tuple[str, Recorder]) -> None:
    url, _ = server
    transport = Urllib3Transport()
    name = f"fth-transport-watchdog-{id(transport):x}"
    with httpx.Client(transport=transport, trust_env=False, timeout=5) as client:
        client.get(f"{url}/json", extensions=deadline_in(5))
        assert any(thread.name == name for thread in threading.enumerate())
    assert not any(thread.name == name for thread in threading.enumerate())
