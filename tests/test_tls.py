"""TLS for real: the client against an HTTPS loopback server with a test CA (trustme)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from fth_core.client import TelemetryClient
from fth_core.endpoints import EndpointDefinition
from fth_core.errors import TransportError
from fth_core.sim.server import SimServer
from fth_core.sim.wire import SimRequest, SimResponse

THINGS = EndpointDefinition("tls", "things", "/things", items_key="data")


def things(request: SimRequest) -> SimResponse:
    return SimResponse.json(200, {"data": [{"id": "1"}]})


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https(ca: trustme.CA) -> Iterator[SimServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with SimServer(things, tls=context) as server:
        yield server


def client_for(server: SimServer, verify: bool | str) -> TelemetryClient:
    return TelemetryClient("tls", server.base_url, verify_ssl=verify, max_retries=0, timeout=(2, 2))


def test_a_ca_bundle_path_verifies_the_servers_certificate(
    https: SimServer, ca: trustme.CA, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with client_for(https, str(bundle)) as client:
        assert client.fetch_all(THINGS) == [{"id": "1"}]


def test_an_untrusted_certificate_is_a_one_line_transport_error(https: SimServer) -> None:
    with client_for(https, True) as client, pytest.raises(TransportError) as caught:
        client.fetch_all(THINGS)
    message = str(caught.value)
    assert "\n" not in message
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate" in message.lower()


def test_verify_ssl_false_accepts_any_certificate(https: SimServer) -> None:
    with client_for(https, False) as client:
        assert client.fetch_all(THINGS) == [{"id": "1"}]
