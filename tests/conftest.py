"""Shared fixtures: loopback simulator servers and clients that are always shut down."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loopback_support import Script, ScriptedServer

from fth_core.client import TelemetryClient
from fth_core.sim.server import SimServer


@pytest.fixture(autouse=True)
def _no_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients trust the environment; a proxy set on the host must not reroute 127.0.0.1."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def serve() -> Iterator[Callable[..., SimServer]]:
    """``serve(handler, **SimServer options)``: a started loopback server, stopped afterwards."""
    servers: list[SimServer] = []

    def start(handler: Any, **options: Any) -> SimServer:
        server = SimServer(handler, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def connect() -> Iterator[Callable[..., TelemetryClient]]:
    """``connect(server_or_url, **TelemetryClient options)``: a client with fast test retries
    (``retry_backoff_factor=0.01``, short timeouts), closed afterwards."""
    clients: list[TelemetryClient] = []

    def make(target: SimServer | str, **options: Any) -> TelemetryClient:
        options.setdefault("retry_backoff_factor", 0.01)
        options.setdefault("timeout", (2.0, 5.0))
        url = target if isinstance(target, str) else target.base_url
        client = TelemetryClient("sim", url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    """``scripted(script, tls=None)``: a started server, closed afterwards."""
    servers: list[ScriptedServer] = []

    def start(script: Script, tls: ssl.SSLContext | None = None) -> ScriptedServer:
        servers.append(ScriptedServer(script, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
