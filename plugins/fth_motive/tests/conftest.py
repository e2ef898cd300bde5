"""Fixtures for the Motive plugin's tests: a small fleet, simulators on loopback servers,
providers pointed at them, and realistic payloads written from PROVIDERS.md §1."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import fth_motive
from fth_core.config import ProviderConfig
from fth_core.plugins import Plugins
from fth_core.provider import Provider
from fth_core.registry import EndpointRegistry
from fth_core.sim import Fleet, SimServer
from fth_motive.simulator import MotiveSimulator

# The simulator's clock in every test: long after the windows used, so late points are in.
AS_OF = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients trust the environment; a proxy set on the host must not reroute 127.0.0.1."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="session")
def registry() -> EndpointRegistry:
    """A registry holding only this plugin, whatever else is installed."""
    plugins = Plugins()
    plugins.register(fth_motive, "motive", distribution="fth-motive")
    return EndpointRegistry.from_plugins(plugins)


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    """14 vehicles of seed 7: metric ones, missing VINs and one deactivated vehicle."""
    return Fleet(seed=7, vehicles=14)


@pytest.fixture
def simulate(fleet: Fleet) -> Iterator[Callable[..., tuple[MotiveSimulator, SimServer]]]:
    """``simulate(fleet=..., server=dict(...), **simulator options)``: a started server."""
    servers: list[SimServer] = []
    default_fleet = fleet

    def start(
        *, fleet: Fleet | None = None, server: dict[str, Any] | None = None, **options: Any
    ) -> tuple[MotiveSimulator, SimServer]:
        options.setdefault("as_of", AS_OF)
        simulator = MotiveSimulator(fleet or default_fleet, **options)
        running = SimServer(simulator, **(server or {})).start()
        servers.append(running)
        return simulator, running

    yield start
    for running in servers:
        running.close()


@pytest.fixture
def connect(registry: EndpointRegistry) -> Iterator[Callable[..., Provider]]:
    """``connect(server, options=..., **config)``: a fast-retrying provider at ``server``."""
    providers: list[Provider] = []

    def make(server: SimServer, api_key: str = "sim-key", **config: Any) -> Provider:
        settings: dict[str, Any] = {
            "base_url": server.base_url,
            "api_key": api_key,
            "retry_backoff_factor": 0.01,
            "request_timeout": [2, 10],
            "rate_limit": {"requests_per_second": 1000, "burst": 100},
            **config,
        }
        provider = Provider(
            registry.spec("motive"), ProviderConfig.model_validate(settings), registry
        )
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        provider.close()


# -- realistic payloads (PROVIDERS.md §1; values synthetic, shapes as recorded) ------------


def _user_summary(**overrides: Any) -> dict[str, Any]:
    return {
        "id": 501234,
        "first_name": "Rosa",
        "last_name": "Nguyen",
        "username": "rnguyen",
        "email": None,
        "driver_company_id": "D0042",
        "status": "active",
        "role": "driver",
    } | overrides


def _vehicle_summary(**overrides: Any) -> dict[str, Any]:
    return {
        "id": 100017,
        "number": "TRK-0002",
        "year": "2024",
        "make": "Ford",
        "model": "F-150",
        "vin": "1FTGBY0U8RP964390",
        "metric_units": False,
    } | overrides


ELD = {"id": 700001, "identifier": "SR5W5T52MX", "model": "lbb-3.6ca"}


def _vehicle(**overrides: Any) -> dict[str, Any]:
    return {
        "id": 100017,
        "company_id": 31337,
        "number": "TRK-0002",
        "status": "active",
        "ifta": True,
        "vin": "1FTGBY0U8RP964390",
        "make": "Ford",
        "model": "F-150",
        "year": "2024",
        "license_plate_state": "TX",
        "license_plate_number": "SR5W001",
        "license_plate_country_code": "US",
        "metric_units": False,
        "fuel_type": "Diesel",
        "prevent_auto_odometer_entry": False,
        "incab_alert_live_stream_enable": -1,
        "driver_facing_camera": 1,
        "incab_audio_recording": -1,
        "group_ids": [1001, 1004],
        "notes": None,
        "created_at": "2024-11-27T15:04:05Z",
        "updated_at": "2026-02-14T09:30:00Z",
        "permanent_driver": None,
        "current_driver": _user_summary(),
        "availability_details": {
            "availability_status": "in_service",
            "updated_at": "2026-02-14T09:30:00Z",
        },
        "eld_device": ELD,
        "carb_ctc_test_enabled": None,
        "carb_ctc_emission_status": None,
        "registration_expiry_date": None,
    } | overrides


def _location(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "7f3c2a4e-1b2d-4c5e-9f60-0a1b2c3d4e5f",
        "located_at": "2026-07-14T23:59:55Z",
        "lat": 32.823141,
        "lon": -96.80081400000001,
        "type": "breadcrumb",
        "description": "Dallas, TX",
        "speed": 42.5,
        "bearing": 181.25,
        "battery_voltage": 14.1,
        "odometer": 123456.78901234567,
        "true_odometer": 123460.5,
        "engine_hours": 5318.25,
        "true_engine_hours": 5318.3,
        "fuel": None,
        "fuel_primary_remaining_percentage": 62.5,
        "fuel_secondary_remaining_percentage": None,
        "veh_range": None,
        "hvb_state_of_charge": None,
        "hvb_lifetime_energy_output": None,
        "hvb_charge_status": None,
        "hvb_charge_source": None,
        "driver": _user_summary(),
        "eld_device": ELD,
    } | overrides


def _wrap(plural: str, singular: str, records: list[dict[str, Any]], **page: int) -> Any:
    body: dict[str, Any] = {plural: [{singular: r} for r in records]}
    if page:
        body["pagination"] = page
    return copy.deepcopy(body)


@pytest.fixture
def payloads() -> Any:
    """Builders of realistic records: ``payloads.vehicle(**overrides)`` etc."""

    class Payloads:
        user_summary = staticmethod(_user_summary)
        vehicle_summary = staticmethod(_vehicle_summary)
        vehicle = staticmethod(_vehicle)
        location = staticmethod(_location)
        wrap = staticmethod(_wrap)
        eld = ELD

    return Payloads
