"""The provider facade against a tiny fake fleet API served over real HTTP on 127.0.0.1.

``Provider`` (config + endpoints + one client), ``ProviderManager``, plugin settings, dispatch of
the telemetry hooks, and the rule that an API key never shows in a repr, an error or a log line.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fake_plugins import fleet_registry, load_fake

from fth_core.auth import HeaderAuth
from fth_core.config import ProviderConfig, parse_config
from fth_core.endpoints import EndpointDefinition
from fth_core.errors import (
    APIError,
    ConfigError,
    EndpointNotFoundError,
    NoPluginAnsweredError,
    ParameterError,
    ProviderNotFoundError,
)
from fth_core.logs import get_logger
from fth_core.plugins import Plugins
from fth_core.provider import Provider, ProviderManager
from fth_core.ratelimit import TokenBucket, WindowBudget
from fth_core.registry import EndpointRegistry
from fth_core.schema import TELEMETRY_SCHEMA
from fth_core.sim.server import SimServer
from fth_core.sim.wire import SimRequest, SimResponse
from fth_core.spec import ProviderSpec, Quota
from fth_core.telemetry import fetch_telemetry

KEY = "sk-live-SECRET-1234567890"
VEHICLES = [
    {
        "id": f"v{i}",
        "name": f"Truck {i}",
        "vin": None if i == 3 else f"1FAKEVIN{i:09d}",
        "gateway": {"serial": f"GW-{i}"},
    }
    for i in range(1, 6)
]

Serve = Callable[..., SimServer]


def fleet_api(request: SimRequest) -> SimResponse:
    """The fake fleet API: bearer auth, cursor pages of ``limit`` vehicles, one vehicle by id."""
    if request.header("Authorization") != f"Bearer {KEY}":
        return SimResponse.json(401, {"message": "Unauthorized"})
    if request.path == "/v1/fleet/vehicles":
        matching = [] if request.arg("tagIds") == "nobody" else VEHICLES
        limit = int(request.arg("limit") or 512)
        start = int(request.arg("after") or 0)
        page = matching[start : start + limit]
        end = start + len(page)
        pagination = {"endCursor": str(end), "hasNextPage": end < len(matching)}
        return SimResponse.json(200, {"data": page, "pagination": pagination})
    match = re.fullmatch(r"/v1/fleet/vehicles/([^/]+)", request.path)
    if match:
        found = [v for v in VEHICLES if v["id"] == match.group(1)]
        return SimResponse.json(200 if found else 404, {"data": found, "message": "not found"})
    return SimResponse.json(404, {"message": "no such path"})


OTHER = ProviderSpec(
    name="other",
    endpoints=[EndpointDefinition(provider="other", name="trips", path="/api/trips")],
    default_base_url="https://other.invalid",
    auth=HeaderAuth("Authorization", prefix="Token token="),
    quota=Quota(requests_per_second=2, burst=3, max_concurrency=5),
)


@pytest.fixture(scope="module")
def registry() -> EndpointRegistry:
    """fakefleet from its plugin (which owns the fetch/flatten hooks) and ``other``, which no
    plugin answers for."""
    built = fleet_registry()
    return EndpointRegistry(
        {"fakefleet": built.spec("fakefleet"), "other": OTHER}, built.owners, built.plugins
    )


@pytest.fixture
def api(serve: Serve) -> SimServer:
    return serve(fleet_api)


def _settings(server: SimServer, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": server.base_url,
        "api_key": KEY,
        "retry_backoff_factor": 0.01,
        "request_timeout": [2, 5],
        **extra,
    }


@pytest.fixture
def fleet(api: SimServer, registry: EndpointRegistry) -> Iterator[Provider]:
    with Provider.from_config("fakefleet", _settings(api), registry) as provider:
        yield provider


# -- fetching through the facade -----------------------------------------------------------


def test_fetch_all_maps_snake_case_params_to_the_api_names(fleet: Provider, api: SimServer) -> None:
    fleet.fetch_all(
        "vehicles", tag_ids=["north", "south"], updated_after=datetime(2026, 3, 1, 12, tzinfo=UTC)
    )
    first = api.requests("/v1/fleet/vehicles")[0]
    assert first.query == {
        "tagIds": ["north,south"],
        "updatedAfterTime": ["2026-03-01T12:00:00Z"],
        "limit": ["2"],
    }


def test_fetch_all_accepts_the_api_names_too(fleet: Provider, api: SimServer) -> None:
    fleet.fetch_all("vehicles", tagIds="east")
    assert api.requests()[0].query["tagIds"] == ["east"]


def test_a_path_parameter_fills_the_path_under_its_api_name(
    fleet: Provider, api: SimServer
) -> None:
    [vehicle] = fleet.fetch_all("vehicle", vehicle_id="v3")
    assert api.requests()[0].path == "/v1/fleet/vehicles/v3"
    assert vehicle.id == "v3"
    assert vehicle.vin is None


def test_fetch_all_walks_every_page_into_typed_items(fleet: Provider, api: SimServer) -> None:
    vehicles = fleet.fetch_all("vehicles")
    assert [v.id for v in vehicles] == ["v1", "v2", "v3", "v4", "v5"]
    assert vehicles[0].gateway.serial == "GW-1"
    cursors = [r.query.get("after", [None])[0] for r in api.requests()]
    assert cursors == [None, "2", "4"]


def test_iter_pages_yields_each_page(fleet: Provider) -> None:
    assert [len(page) for page in fleet.iter_pages("vehicles")] == [2, 2, 1]


def test_to_dataframe_flattens_nested_fields(fleet: Provider) -> None:
    frame = fleet.to_dataframe("vehicles")
    assert list(frame.columns) == ["id", "name", "vin", "gateway.serial"]
    assert frame["id"].tolist() == ["v1", "v2", "v3", "v4", "v5"]
    assert frame["gateway.serial"].iloc[4] == "GW-5"


def test_to_dataframe_of_nothing_is_an_empty_frame(fleet: Provider) -> None:
    assert fleet.to_dataframe("vehicles", tag_ids="nobody").empty


def test_an_unknown_parameter_is_a_parameter_error(fleet: Provider, api: SimServer) -> None:
    with pytest.raises(ParameterError, match="has no parameter 'colour'"):
        fleet.fetch_all("vehicles", colour="red")
    assert api.requests() == []


def test_an_unknown_endpoint_is_an_endpoint_error(fleet: Provider) -> None:
    with pytest.raises(EndpointNotFoundError):
        fleet.fetch_all("drivers")


def test_the_provider_has_one_client_shared_by_every_thread(fleet: Provider) -> None:
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(fleet.client())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 1
    fleet.close()
    assert fleet.client() is not seen[0]


# -- configuration of a provider -----------------------------------------------------------


def test_config_overrides_the_plugin_quota_and_base_url(registry: EndpointRegistry) -> None:
    default = Provider.from_config("fakefleet", {"api_key": "k-1234"}, registry)
    assert default.base_url == "https://api.fakefleet.invalid"
    assert default.quota == Quota(requests_per_second=50, burst=10, max_concurrency=4)
    tuned = Provider.from_config(
        "FakeFleet",
        {
            "api_key": "k-1234",
            "base_url": "http://127.0.0.1:9/",
            "rate_limit": {"requests_per_second": 7},
            "max_concurrency": 2,
        },
        registry,
    )
    assert tuned.name == "fakefleet"
    assert tuned.base_url == "http://127.0.0.1:9"
    assert tuned.quota == Quota(requests_per_second=7, burst=10, max_concurrency=2)


def test_a_scope_counted_per_window_gets_a_window_budget_and_the_others_a_bucket() -> None:
    spec = replace(OTHER, scopes={"per_minute": Quota.per_window(600), "tier": Quota(5, burst=2)})
    with Provider(spec, ProviderConfig(api_key="k-1234")) as provider:
        scopes = provider.client().governor.scopes
        minute = scopes["per_minute"]
        assert isinstance(minute, WindowBudget)
        assert (minute.requests, minute.seconds) == (600, 60.0)
        assert isinstance(scopes["tier"], TokenBucket)
        assert (scopes["tier"].rate, scopes["tier"].burst) == (5, 2)


def test_from_config_reports_a_bad_mapping_with_its_yaml_path(registry: EndpointRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        Provider.from_config("fakefleet", {"max_retries": -1, "max_retry": 2}, registry)
    assert caught.value.problems == [
        "providers.fakefleet.max_retries: input should be greater than or equal to 0 (got -1)",
        "providers.fakefleet.max_retry: unknown key (did you mean max_retries?)",
    ]


def test_from_config_of_an_uninstalled_provider_is_not_found(registry: EndpointRegistry) -> None:
    with pytest.raises(ProviderNotFoundError, match="'geotab'"):
        Provider.from_config("geotab", {"api_key": "k-1234"}, registry)


def test_options_are_parsed_into_the_plugins_settings_model(registry: EndpointRegistry) -> None:
    provider = Provider.from_config(
        "fakefleet", {"api_key": "k-1234", "options": {"region": "eu"}}, registry
    )
    settings_model = load_fake("fth_fake_fleet").FakeFleetSettings
    assert isinstance(provider.settings, settings_model)
    assert provider.settings.model_dump() == {"region": "eu", "page_size": 100}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"page_size": "many"},
            "providers.fakefleet.options.page_size: input should be a valid integer, "
            "unable to parse string as an integer (got 'many')",
        ),
        (
            {"page_size": 0},
            "providers.fakefleet.options.page_size: input should be greater than or equal to 1 "
            "(got 0)",
        ),
        (
            {"page_sise": 10},
            "providers.fakefleet.options.page_sise: unknown key (did you mean page_size?)",
        ),
        (
            {"region": "mars"},
            "providers.fakefleet.options.region: input should be 'us' or 'eu' (got 'mars')",
        ),
    ],
)
def test_wrong_options_are_config_errors_with_their_yaml_path(
    registry: EndpointRegistry, options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Provider.from_config("fakefleet", {"api_key": "k-1234", "options": options}, registry)
    assert caught.value.problems == [problem]


def test_options_for_a_provider_without_a_settings_model_are_rejected(
    registry: EndpointRegistry,
) -> None:
    with pytest.raises(ConfigError) as caught:
        Provider.from_config("other", {"api_key": "k-1234", "options": {"x": 1}}, registry)
    assert caught.value.problems == ["providers.other.options: other takes no options"]


# -- the manager ---------------------------------------------------------------------------


def test_provider_manager_builds_every_configured_provider(registry: EndpointRegistry) -> None:
    config = parse_config(
        {
            "providers": {
                "fakefleet": {"api_key": "k-1234", "options": {"page_size": 50}},
                "other": {"enabled": False},
            }
        },
        env={},
    )
    with ProviderManager.from_config(config, registry) as manager:
        assert manager.names() == ["fakefleet", "other"]
        assert [p.name for p in manager.enabled_providers()] == ["fakefleet"]
        fleet = manager.get("FakeFleet")
        assert fleet is manager.get("fakefleet")
        assert fleet.settings is not None
        assert fleet.settings.model_dump()["page_size"] == 50
        with pytest.raises(ProviderNotFoundError) as caught:
            manager.get("geotab")
        assert (
            str(caught.value)
            == "provider 'geotab' is not configured (configured: fakefleet, other)"
        )


def test_provider_manager_reports_every_provider_problem_at_once(
    registry: EndpointRegistry,
) -> None:
    config = parse_config(
        {
            "providers": {
                "fakefleet": {"api_key": "k-1234", "options": {"region": "mars"}},
                "geotab": {"api_key": "k-1234"},
                "other": {"api_key": "k-1234", "options": {"x": 1}},
            }
        },
        env={},
    )
    with pytest.raises(ConfigError) as caught:
        ProviderManager.from_config(config, registry)
    assert [p.split(": ", 1)[0] for p in caught.value.problems] == [
        "providers.fakefleet.options.region",
        "providers.geotab",
        "providers.other.options",
    ]
    assert "no installed plugin provides it (installed: fakefleet, other)" in str(caught.value)


# -- telemetry dispatch --------------------------------------------------------------------


def test_fetch_telemetry_dispatches_to_the_plugin_that_owns_the_provider(
    fleet: Provider,
) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    batches = list(fetch_telemetry(fleet, start, datetime(2026, 3, 2, tzinfo=UTC)))
    assert len(batches) == 1
    table = batches[0].table
    assert table.schema.equals(TELEMETRY_SCHEMA)
    assert table.column("provider_vehicle_id").to_pylist() == ["v1", "v2", "v3", "v4", "v5"]
    assert set(table.column("provider").to_pylist()) == {"fakefleet"}
    assert set(table.column("timestamp").to_pylist()) == {start}


def test_fetch_telemetry_raises_when_no_plugin_answers(registry: EndpointRegistry) -> None:
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    # A plugin is installed, but it only answers for its own provider.
    other = Provider(OTHER, ProviderConfig.model_validate({"api_key": "k-1234"}), registry)
    with pytest.raises(NoPluginAnsweredError, match="for provider 'other'"):
        list(fetch_telemetry(other, *window))
    # No plugin at all: the registry of a provider built on its own has none.
    alone = Provider(OTHER, ProviderConfig.model_validate({"api_key": "k-1234"}))
    with pytest.raises(NoPluginAnsweredError):
        list(fetch_telemetry(alone, *window))
    unplugged = EndpointRegistry({"other": OTHER}, plugins=Plugins())
    keyed = ProviderConfig.model_validate({"api_key": "k-1234"})
    with pytest.raises(NoPluginAnsweredError):
        list(fetch_telemetry(Provider(OTHER, keyed, unplugged), *window))


# -- the API key stays secret --------------------------------------------------------------


def test_the_api_key_never_shows_in_reprs_errors_or_logs(
    fleet: Provider,
    api: SimServer,
    registry: EndpointRegistry,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging.getLogger("fth"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="fth")
    fleet.fetch_all("vehicles")
    with pytest.raises(APIError) as not_found:
        fleet.fetch_all("vehicle", vehicle_id="nope")
    shown = [
        repr(fleet),
        str(fleet.config),
        repr(fleet.config),
        repr(fleet.client()),
        str(fleet.client().stats.as_dict()),
        str(not_found.value),
    ]
    # A key whose auth header value does not end in the bare key ("Token token=KEY").
    other_key = "tok-SECRET-0987654321"
    with Provider(OTHER, ProviderConfig(api_key=other_key, base_url=api.base_url)) as other:
        other.client()
        shown.append(repr(other))
        get_logger("fth.test").warning("retrying %s with key %s", other.name, other_key)
        get_logger("fth.test").debug("header was %r", {"Authorization": f"Bearer {KEY}"})
        with pytest.raises(APIError) as unauthorized:
            other.fetch_all("trips")
        shown.append(str(unauthorized.value))
    assert unauthorized.value.status == 401
    records = [r.getMessage() for r in caplog.records]
    assert any("/v1/fleet/vehicles" in r for r in records), "debug request logs were captured"
    assert any("retrying other with key ***" in r for r in records)
    for text in [*shown, *records, caplog.text]:
        assert KEY not in text
        assert other_key not in text
    # ... and yet the key did travel, in the header and only there.
    assert api.requests("/v1/fleet/vehicles")[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("bad_key", [[KEY], {"key": KEY}, 12345678901234567890])
def test_a_malformed_api_key_is_reported_without_its_value(
    registry: EndpointRegistry, bad_key: object
) -> None:
    with pytest.raises(ConfigError) as caught:
        Provider.from_config("fakefleet", {"api_key": bad_key}, registry)
    assert caught.value.problems == ["providers.fakefleet.api_key: input should be a valid string"]
    assert KEY not in repr(caught.value)
    assert "12345678901234567890" not in str(caught.value)


def test_a_disabled_provider_needs_no_installed_plugin(registry: EndpointRegistry) -> None:
    config = parse_config({"providers": {"geotab": {"enabled": False}}}, env={})
    with ProviderManager.from_config(config, registry) as manager:
        assert manager.enabled_providers() == []


def test_an_unreadable_ca_bundle_is_a_one_line_config_error(
    registry: EndpointRegistry, tmp_path: Any
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n", encoding="utf-8")
    settings = {"api_key": "k", "verify_ssl": str(bundle)}
    provider = Provider.from_config("fakefleet", settings, registry)
    with pytest.raises(ConfigError, match=r"verify_ssl: cannot load CA bundle .*ca\.pem"):
        provider.client()
    assert provider.stats.requests == 0  # reading stats builds no client


def test_a_proxy_password_never_shows_in_reprs_or_errors() -> None:
    config = ProviderConfig(api_key="k", proxy="http://user:pr0xy-pass@127.0.0.1:3128")
    assert "pr0xy-pass" not in repr(config)
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"providers": {"x": {"api_key": "k", "proxy": "ftp://u:pr0xy-pass@h"}}}, env={}
        )
    assert "pr0xy-pass" not in str(caught.value)
