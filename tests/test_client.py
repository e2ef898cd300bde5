"""Layer 2: the HTTP client against real loopback servers — retries, Retry-After, timeouts,
broken connections, secrets, TLS settings and proxies."""

from __future__ import annotations

import gzip
import itertools
import logging
import re
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import certifi
import pytest
from loopback_support import ScriptedServer, read_request, trickle

from fth_core.auth import ApiKeyCredentials, Auth, BearerAuth, HeaderAuth
from fth_core.classify import Answer, Outcome, Verdict
from fth_core.client import (
    MAX_RETRY_AFTER_SECONDS,
    TelemetryClient,
    _ssl_context,
    parse_retry_after,
)
from fth_core.endpoints import EndpointDefinition, RequestSpec
from fth_core.errors import APIError, PaginationError, ResponseFormatError, TransportError
from fth_core.pagination import OffsetPagination
from fth_core.sim.server import Fault, LoggedRequest, SimServer
from fth_core.sim.wire import SimRequest, SimResponse

Serve = Callable[..., SimServer]
Connect = Callable[..., TelemetryClient]

API_KEY = "sk-live-7f3a9c1e5b2d4f60"
ITEMS = EndpointDefinition("sim", "items", "/items", items_key="data")


def ok(request: SimRequest) -> SimResponse:
    return SimResponse.json(200, {"data": [{"id": "1"}]})


def always(status: int) -> Callable[[SimRequest], SimResponse]:
    def handler(request: SimRequest) -> SimResponse:
        return SimResponse.json(status, {"message": f"always {status}"})

    return handler


def statuses(server: SimServer) -> list[int]:
    return [r.status for r in _by_arrival(server.requests())]


def _by_arrival(log: list[LoggedRequest]) -> list[LoggedRequest]:
    return sorted(log, key=lambda r: r.at)


def gaps(server: SimServer) -> list[float]:
    """Seconds between consecutive request arrivals at the server."""
    times = [r.at for r in _by_arrival(server.requests())]
    return [b - a for a, b in itertools.pairwise(times)]


def wait_for_log(server: SimServer, count: int, timeout: float = 5.0) -> None:
    """Requests are logged when answered; a stalled one is logged after its stall."""
    deadline = time.monotonic() + timeout
    while len(server.requests()) < count and time.monotonic() < deadline:
        time.sleep(0.02)


# -- parse_retry_after ----------------------------------------------------------------------
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("2", 2.0), (" 7 ", 7.0), ("0.40235", 0.40235), ("120.5", 120.5)],
)
def test_parse_retry_after_reads_delta_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, NOW) == pytest.approx(seconds)


def test_parse_retry_after_reads_a_future_http_date_relative_to_now() -> None:
    header = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert header == "Mon, 02 Mar 2026 12:01:30 GMT"
    assert parse_retry_after(header, NOW) == pytest.approx(90.0)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "0",
        "-3",
        "-0.5",
        "soon",
        "nan",
        "inf",
        "Mon, 02 Mar 2026 11:59:00 GMT",  # an HTTP-date in the past
        "Mon, 02 Mar 2026 12:00:00 GMT",  # exactly now
    ],
)
def test_parse_retry_after_returns_none_for_missing_non_positive_or_garbage(
    header: str | None,
) -> None:
    assert parse_retry_after(header, NOW) is None


def test_parse_retry_after_caps_long_waits() -> None:
    assert parse_retry_after("86400", NOW) == MAX_RETRY_AFTER_SECONDS
    far = format_datetime(NOW + timedelta(days=3), usegmt=True)
    assert parse_retry_after(far, NOW) == MAX_RETRY_AFTER_SECONDS


# -- 429 and Retry-After --------------------------------------------------------------------
@pytest.mark.parametrize("retry_after", ["0", None], ids=["zero", "absent"])
def test_429_without_a_usable_retry_after_is_retried_after_the_backoff(
    serve: Serve, connect: Connect, retry_after: str | None
) -> None:
    server = serve(ok)
    server.inject(Fault("429", retry_after=retry_after))
    client = connect(server, retry_backoff_factor=0.4)
    assert client.fetch(ITEMS).items == [{"id": "1"}]
    assert statuses(server) == [429, 200]
    # backoff for a first failure is between factor/2 and factor, not some long default wait
    assert 0.19 <= gaps(server)[0] < 2.0
    assert client.stats.rate_limited == 1
    assert client.stats.retries == 1


def test_429_fractional_retry_after_is_honoured(serve: Serve, connect: Connect) -> None:
    server = serve(ok)
    server.inject(Fault("429", retry_after="0.4"))
    client = connect(server)  # backoff factor 0.01: only Retry-After explains a long wait
    assert client.fetch(ITEMS).items == [{"id": "1"}]
    assert statuses(server) == [429, 200]
    assert gaps(server)[0] >= 0.39


def test_429_http_date_retry_after_is_honoured(serve: Serve, connect: Connect) -> None:
    server = serve(ok)
    target = datetime.now(UTC) + timedelta(seconds=2)
    header = format_datetime(target, usegmt=True)  # whole seconds: waits 1–2 s
    server.inject(Fault("429", retry_after=header))
    client = connect(server)
    assert client.fetch(ITEMS).items == [{"id": "1"}]
    assert statuses(server) == [429, 200]
    retried_at = _by_arrival(server.requests())[1].at
    assert retried_at >= target.replace(microsecond=0).timestamp() - 0.05
    assert 0.9 <= gaps(server)[0] < 3.0


def test_repeated_429s_without_retry_after_back_off_exponentially(
    serve: Serve, connect: Connect
) -> None:
    server = serve(ok)
    server.inject(*[Fault("429")] * 3)
    client = connect(server, retry_backoff_factor=0.2)
    assert client.fetch(ITEMS).items == [{"id": "1"}]
    assert statuses(server) == [429, 429, 429, 200]
    # waits are in [0.1, 0.2], [0.2, 0.4], [0.4, 0.8]: the third cannot be a first backoff
    assert gaps(server)[2] >= 0.39


def test_429s_beyond_max_rate_limit_retries_raise_api_error(serve: Serve, connect: Connect) -> None:
    server = serve(ok)
    server.inject(*[Fault("429", retry_after="0.01")] * 5)
    client = connect(server, max_rate_limit_retries=2)
    with pytest.raises(APIError) as caught:
        client.fetch(ITEMS)
    assert caught.value.status == 429
    assert statuses(server) == [429, 429, 429]


# -- retryable failures ---------------------------------------------------------------------
@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_retryable_status_is_retried_then_succeeds(
    serve: Serve, connect: Connect, status: int
) -> None:
    server = serve(ok)
    server.inject(status)
    client = connect(server)
    assert client.fetch(ITEMS).items == [{"id": "1"}]
    assert statuses(server) == [status, 200]
    assert client.stats.as_dict() == {
        "requests": 2,
        "retries": 1,
        "rate_limited": 0,
        "errors": 0,
        "logins": 0,
        "wait_seconds": 0.0,
    }


def test_read_timeout_is_retried(serve: Serve, connect: Connect) -> None:
    server = serve(ok)
    server.inject(Fault("stall", seconds=1.0))
    client = connect(server, timeout=(2.0, 0.3))
    started = time.monotonic()
    assert client.fetch(ITEMS).items == [{"id": "1"}]
    assert time.monotonic() - started >= 0.3
    assert client.stats.retries == 1
    wait_for_log(server, 2)
    assert len(server.requests()) == 2


def test_reset_connection_is_retried(serve: Serve, connect: Connect) -> None:
    server = serve(ok)
    server.inject("reset")
    client = connect(server)
    assert client.fetch(ITEMS).items == [{"id": "1"}]
    assert statuses(server) == [0, 200]  # 0: reset before any answer


def test_truncated_body_is_retried(serve: Serve, connect: Connect) -> None:
    server = serve(ok)
    server.inject("truncate")
    client = connect(server)
    assert client.fetch(ITEMS).items == [{"id": "1"}]
    assert len(server.requests()) == 2
    assert client.stats.retries == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_4xx_are_not_retried(serve: Serve, connect: Connect, status: int) -> None:
    server = serve(always(status))
    client = connect(server)
    with pytest.raises(APIError) as caught:
        client.fetch(ITEMS)
    assert caught.value.status == status
    assert len(server.requests()) == 1
    assert client.stats.retries == 0


def test_401_error_reads_as_one_line_with_the_provider_message_and_a_hint(
    serve: Serve, connect: Connect
) -> None:
    server = serve(always(401))
    with pytest.raises(APIError) as caught:
        connect(server).fetch(ITEMS)
    assert str(caught.value) == (
        "sim: GET /items returned HTTP 401: always 401 (check the API key)"
    )


@pytest.mark.parametrize("max_retries", [0, 2])
def test_max_retries_bounds_the_attempts(serve: Serve, connect: Connect, max_retries: int) -> None:
    server = serve(always(503))
    client = connect(server, max_retries=max_retries)
    with pytest.raises(APIError) as caught:
        client.fetch(ITEMS)
    assert len(server.requests()) == max_retries + 1
    message = str(caught.value)
    assert message == "sim: GET /items returned HTTP 503: always 503"
    assert "\n" not in message
    assert client.stats.errors == 1


def test_exhausted_retries_on_resets_raise_a_one_line_transport_error(
    serve: Serve, connect: Connect
) -> None:
    server = serve(ok)
    server.inject(*["reset"] * 3)
    client = connect(server, max_retries=2)
    with pytest.raises(TransportError) as caught:
        client.fetch(ITEMS)
    message = str(caught.value)
    assert re.match(r"^sim: GET http://127\.0\.0\.1:\d+/items failed: ", message)
    assert "\n" not in message
    assert statuses(server) == [0, 0, 0]


def test_refused_connection_raises_a_transport_error(connect: Connect) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = connect(f"http://127.0.0.1:{port}", max_retries=1)
    refused = rf"^sim: GET http://127\.0\.0\.1:{port}/items failed: connection refused$"
    with pytest.raises(TransportError, match=refused):
        client.fetch(ITEMS)
    assert client.stats.requests == 2


def test_exhausted_read_timeouts_say_timed_out(serve: Serve, connect: Connect) -> None:
    server = serve(ok)
    server.inject(*[Fault("stall", seconds=0.5)] * 2)
    client = connect(server, timeout=(2.0, 0.15), max_retries=1)
    with pytest.raises(TransportError, match=r"failed: timed out \(ReadTimeout\)$"):
        client.fetch(ITEMS)


def test_backoff_factor_scales_the_waits_between_retries(serve: Serve, connect: Connect) -> None:
    fast_server, slow_server = serve(always(503)), serve(always(503))
    for server, factor in ((fast_server, 0.01), (slow_server, 0.3)):
        with pytest.raises(APIError):
            connect(server, max_retries=2, retry_backoff_factor=factor).fetch(ITEMS)
    fast, slow = sum(gaps(fast_server)), sum(gaps(slow_server))
    # two waits: [f/2, f] then [f, 2f]
    assert slow >= 0.45
    assert fast < slow / 2


# -- secrets --------------------------------------------------------------------------------
def _key_echoing(request: SimRequest) -> SimResponse:
    """Like a careless provider: a 401 that quotes the key it was given."""
    if request.path == "/items":
        return ok(request)
    given = request.header("X-Api-Key") or request.header("Authorization") or ""
    return SimResponse.json(401, {"message": f"key {given} is not valid"})


@pytest.mark.parametrize(
    "strategy", [HeaderAuth("X-Api-Key"), BearerAuth()], ids=["header", "bearer"]
)
def test_api_key_never_appears_in_logs_errors_or_repr(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture, strategy: Auth
) -> None:
    auth = {"auth": strategy, "credentials": ApiKeyCredentials(api_key=API_KEY)}
    caplog.set_level(logging.DEBUG)
    server = serve(_key_echoing)
    server.inject(503, "reset", "truncate")
    client = connect(server, **auth, max_retries=3)
    client.fetch(ITEMS)
    errors: list[str] = []
    with pytest.raises(APIError) as caught:
        client.fetch(EndpointDefinition("sim", "bad", "/bad"))
    errors.append(str(caught.value))
    server.inject(*[503] * 2)
    with pytest.raises(APIError) as caught:
        connect(server, **auth, max_retries=1).fetch(ITEMS)
    errors.append(str(caught.value))

    # The key really went out, and the client really logged at debug level ...
    sent = server.requests()[-1].headers
    assert API_KEY in (sent.get("x-api-key", "") + sent.get("authorization", ""))
    assert any(r.name == "fth.client" and r.levelno == logging.DEBUG for r in caplog.records)
    assert "is not valid" in errors[0]
    # ... yet it shows nowhere a user or a log file could see it.
    assert API_KEY not in caplog.text
    assert all(API_KEY not in record.getMessage() for record in caplog.records)
    assert all(API_KEY not in text for text in errors)
    assert API_KEY not in repr(client)
    assert API_KEY not in str(client)


# -- TLS settings and proxies ---------------------------------------------------------------
def test_verify_ssl_accepts_a_ca_bundle_path(serve: Serve, connect: Connect) -> None:
    context = _ssl_context(certifi.where(), use_truststore=False)
    assert not isinstance(context, bool)
    assert context.cert_store_stats()["x509_ca"] > 0
    server = serve(ok)
    assert connect(server, verify_ssl=certifi.where()).fetch(ITEMS).items == [{"id": "1"}]


def test_verify_ssl_ca_bundle_path_may_start_with_a_tilde(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ca.pem").write_bytes(Path(certifi.where()).read_bytes())
    connect("http://127.0.0.1:9", verify_ssl="~/ca.pem")  # builds


@pytest.mark.parametrize("verify", [True, False])
def test_verify_ssl_accepts_a_bool(serve: Serve, connect: Connect, verify: bool) -> None:
    assert _ssl_context(verify, use_truststore=False) is verify
    server = serve(ok)
    assert connect(server, verify_ssl=verify).fetch(ITEMS).items == [{"id": "1"}]


def test_use_truststore_builds_a_client(serve: Serve, connect: Connect) -> None:
    server = serve(ok)
    assert connect(server, use_truststore=True).fetch(ITEMS).items == [{"id": "1"}]


def _proxy(request: SimRequest) -> SimResponse:
    return SimResponse.json(200, {"data": [{"via": "proxy", "host": request.header("Host")}]})


def test_requests_go_through_the_configured_proxy(serve: Serve, connect: Connect) -> None:
    target, proxy = serve(ok), serve(_proxy)
    client = connect(target, proxy=proxy.base_url)
    items = client.fetch(ITEMS).items
    # The proxy got the request for the target (absolute-form, Host: the target) ...
    assert items == [{"via": "proxy", "host": f"127.0.0.1:{target.port}"}]
    assert [r.path for r in proxy.requests()] == ["/items"]
    # ... and the target heard nothing directly.
    assert target.requests() == []


def test_a_direct_request_carries_what_httpx_sends_through_a_proxy(
    serve: Serve, connect: Connect
) -> None:
    """A direct connection hands requests to the transport itself, not through httpx's client
    (``TelemetryClient._exchange``); what reaches the server is the same."""
    target, proxy = serve(ok), serve(_proxy)
    request = RequestSpec(
        "GET",
        "/items/a%2Fb",
        (("since", "2026-03-01T00:00:00+00:00"), ("types", "gps,engineStates")),
        (("X-Metric-Units", "true"),),
    )
    connect(target).send(request)
    connect(target, proxy=proxy.base_url).send(request)
    (direct,), (proxied,) = target.requests(), proxy.requests()
    assert (direct.path, direct.query) == (proxied.path, proxied.query)
    assert direct.query == {
        "since": ["2026-03-01T00:00:00+00:00"],
        "types": ["gps,engineStates"],
    }
    assert direct.headers == proxied.headers


def test_a_proxy_from_the_environment_is_used(
    serve: Serve, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, proxy = serve(ok), serve(_proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert connect(target).fetch(ITEMS).items[0]["via"] == "proxy"
    assert target.requests() == []


# -- limits an unattended run needs, against hostile servers --------------------------------
@pytest.mark.parametrize("where", ["head", "body"])
def test_a_server_trickling_bytes_is_cut_at_the_request_deadline(
    scripted: Callable[..., ScriptedServer], connect: Connect, where: str
) -> None:
    body = b'{"data": []}' * 50
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)

    def script(conn: socket.socket) -> None:
        read_request(conn)
        if where == "body":
            conn.sendall(head)
        # Each byte comes well within the read timeout: only the deadline can stop it.
        trickle(conn, head if where == "head" else body)

    server = scripted(script)
    client = connect(server.url, timeout=(2.0, 2.0), deadline=1.0, max_retries=1)
    with pytest.raises(TransportError, match="within the request deadline of 1 s"):
        client.fetch(ITEMS)
    assert client.stats.requests == 2  # retried once, cut again


def test_an_answer_over_the_size_cap_is_a_clear_error_not_a_memory_error(
    serve: Serve, connect: Connect
) -> None:
    big = {"data": [{"id": str(i), "pad": "x" * 100} for i in range(2_000)]}
    server = serve(lambda request: SimResponse.json(200, big))
    client = connect(server, max_response_bytes=64 * 1024)
    with pytest.raises(ResponseFormatError, match=r"answered more than 0.0625 MiB"):
        client.fetch(ITEMS)
    assert client.stats.requests == 1  # not retried: it would be as large again


def test_a_chunked_answer_over_the_size_cap_is_cut_while_it_arrives(
    scripted: Callable[..., ScriptedServer], connect: Connect
) -> None:
    def endless(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        while True:  # no length announced, and no end: until the client hangs up
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    client = connect(scripted(endless).url, max_response_bytes=100_000)
    with pytest.raises(ResponseFormatError, match="answered more than"):
        client.fetch(ITEMS)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_never_success_and_names_where_it_pointed(
    serve: Serve, connect: Connect, status: int
) -> None:
    def moved(request: SimRequest) -> SimResponse:
        return SimResponse.json(status, {}, {"Location": "https://elsewhere.example/items"})

    server = serve(moved)
    with pytest.raises(APIError) as caught:
        connect(server).fetch(ITEMS)
    assert str(caught.value) == (
        f"sim: GET /items returned HTTP {status}: redirected to https://elsewhere.example/items"
    )
    assert len(server.requests()) == 1


def test_a_body_that_does_not_decompress_is_a_clear_error_naming_the_request(
    serve: Serve, connect: Connect
) -> None:
    def broken_gzip(request: SimRequest) -> SimResponse:
        return SimResponse(200, b"\x1f\x8b\x08\x00not gzip at all", {"Content-Encoding": "gzip"})

    with pytest.raises(ResponseFormatError) as caught:
        connect(serve(broken_gzip)).fetch(ITEMS)
    assert str(caught.value).startswith("sim: GET /items sent a body that does not decompress")


def test_a_gzip_body_is_decompressed(serve: Serve, connect: Connect) -> None:
    def zipped(request: SimRequest) -> SimResponse:
        body = gzip.compress(b'{"data": [{"id": "1"}]}')
        return SimResponse(200, body, {"Content-Encoding": "gzip"})

    assert connect(serve(zipped)).fetch(ITEMS).items == [{"id": "1"}]


def test_an_offset_walk_whose_server_echoes_the_same_page_is_stopped(
    serve: Serve, connect: Connect
) -> None:
    def stuck(request: SimRequest) -> SimResponse:  # ignores page_no
        page = {"page_no": 1, "per_page": 2, "total": 100}
        return SimResponse.json(200, {"data": [{"id": "1"}, {"id": "2"}], "pagination": page})

    endpoint = EndpointDefinition(
        "sim", "paged", "/paged", items_key="data", pagination=OffsetPagination(page_size=2)
    )
    server = serve(stuck)
    with pytest.raises(PaginationError, match="asked for page 2, the answer says page 1"):
        connect(server).fetch_all(endpoint)
    assert len(server.requests()) == 2


def test_an_error_inside_a_200_follows_the_providers_classifier(
    serve: Serve, connect: Connect
) -> None:
    # A JSON-RPC-style API: errors arrive in HTTP 200. Its classifier says what they mean.
    answers = iter(
        [
            {"error": {"name": "Busy"}},
            {"error": {"name": "OverLimit"}},
            {"result": [{"id": "1"}]},
            {"error": {"name": "NoSuchThing", "message": "typeName Foo is unknown"}},
        ]
    )

    def rpc(request: SimRequest) -> SimResponse:
        return SimResponse.json(200, next(answers))

    def classify(answer: Answer) -> Outcome:
        error = answer.json().get("error")
        if error is None:
            return Outcome(Verdict.OK)
        name = error["name"]
        if name == "Busy":
            return Outcome(Verdict.RETRY, message=name)
        if name == "OverLimit":
            return Outcome(Verdict.RATE_LIMITED, wait=0.05, message=name)
        return Outcome(Verdict.FATAL, message=f"{name}: {error['message']}")

    endpoint = EndpointDefinition("sim", "rpc", "/rpc", method="POST", items_key="result")
    client = connect(serve(rpc), classify=classify)
    assert client.fetch(endpoint).items == [{"id": "1"}]
    assert (client.stats.retries, client.stats.rate_limited) == (2, 1)
    with pytest.raises(APIError) as caught:
        client.fetch(endpoint)
    assert str(caught.value) == "sim: POST /rpc failed: NoSuchThing: typeName Foo is unknown"
