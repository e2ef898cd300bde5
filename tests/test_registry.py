"""The endpoint registry: providers and endpoints by name (case-insensitive), by path, described."""

from __future__ import annotations

import pytest
from fake_plugins import FLEET, fleet_registry

from fth_core.auth import HeaderAuth
from fth_core.endpoints import EndpointDefinition
from fth_core.errors import EndpointNotFoundError, ProviderNotFoundError
from fth_core.plugins import Plugins
from fth_core.registry import EndpointRegistry
from fth_core.spec import ProviderSpec, Quota


@pytest.fixture(scope="module")
def registry() -> EndpointRegistry:
    """fakefleet from its plugin, plus a second provider given directly."""
    built = fleet_registry()
    other = ProviderSpec(
        name="other",
        endpoints=[
            EndpointDefinition(provider="other", name="trips", path="/api/trips"),
            EndpointDefinition(provider="other", name="assets", path="/api/assets"),
        ],
        default_base_url="https://other.invalid",
        auth=HeaderAuth("X-Api-Key"),
        quota=Quota(requests_per_second=2),
    )
    specs = {name: built.spec(name) for name in built.list_providers()} | {"Other": other}
    return EndpointRegistry(specs, built.owners, built.plugins)


def test_list_providers_is_sorted_and_lower_case(registry: EndpointRegistry) -> None:
    assert registry.list_providers() == ["fakefleet", "other"]


def test_list_endpoints_of_one_provider_is_sorted_by_name(registry: EndpointRegistry) -> None:
    assert [e.name for e in registry.list_endpoints("other")] == ["assets", "trips"]


def test_list_endpoints_without_a_provider_covers_every_provider(
    registry: EndpointRegistry,
) -> None:
    assert [e.key for e in registry.list_endpoints()] == [
        "fakefleet.vehicle",
        "fakefleet.vehicles",
        "other.assets",
        "other.trips",
    ]


def test_list_endpoints_of_an_unknown_provider_raises(registry: EndpointRegistry) -> None:
    with pytest.raises(ProviderNotFoundError):
        registry.list_endpoints("nosuch")


@pytest.mark.parametrize(
    ("provider", "name"),
    [("fakefleet", "vehicles"), ("FakeFleet", "VEHICLES"), ("FAKEFLEET", "Vehicles")],
)
def test_get_and_has_ignore_case(registry: EndpointRegistry, provider: str, name: str) -> None:
    assert registry.get(provider, name).key == "fakefleet.vehicles"
    assert registry.has(provider, name)
    assert registry.has(provider)
    assert registry.spec(provider).name == "fakefleet"


def test_has_is_false_for_unknown_providers_and_endpoints(registry: EndpointRegistry) -> None:
    assert not registry.has("nosuch")
    assert not registry.has("nosuch", "vehicles")
    assert not registry.has("fakefleet", "drivers")


def test_an_unknown_endpoint_names_the_known_ones(registry: EndpointRegistry) -> None:
    with pytest.raises(EndpointNotFoundError) as caught:
        registry.get("fakefleet", "drivers")
    assert str(caught.value) == "fakefleet has no endpoint 'drivers' (known: vehicle, vehicles)"
    assert caught.value.exit_code == 2


def test_an_unknown_provider_names_the_installed_ones(registry: EndpointRegistry) -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        registry.get("geotab", "devices")
    assert (
        str(caught.value) == "no installed plugin provides 'geotab' (installed: fakefleet, other)"
    )
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/fleet/vehicles", "fakefleet.vehicles"),
        ("/v1/fleet/vehicles/", "fakefleet.vehicles"),
        ("/v1/fleet/vehicles?limit=2&after=x", "fakefleet.vehicles"),
        ("/v1/fleet/vehicles/281474977", "fakefleet.vehicle"),
        ("/V1/Fleet/Vehicles/abc", "fakefleet.vehicle"),
        ("/api/trips", "other.trips"),
    ],
)
def test_find_by_path_matches_concrete_paths(
    registry: EndpointRegistry, path: str, key: str
) -> None:
    found = registry.find_by_path(path)
    assert found is not None
    assert found.key == key


@pytest.mark.parametrize(
    "path", ["/v1/fleet", "/v1/fleet/vehicles/1/stats", "/api/trips/7", "/nothing"]
)
def test_find_by_path_returns_none_for_paths_of_no_endpoint(
    registry: EndpointRegistry, path: str
) -> None:
    assert registry.find_by_path(path) is None


def test_find_by_path_can_be_limited_to_one_provider(registry: EndpointRegistry) -> None:
    assert registry.find_by_path("/api/trips", provider="fakefleet") is None
    found = registry.find_by_path("/api/trips", provider="other")
    assert found is not None
    assert found.name == "trips"


def test_describe_a_provider_gives_its_distribution_quota_and_endpoints(
    registry: EndpointRegistry,
) -> None:
    described = registry.describe("FakeFleet")
    assert described["name"] == "fakefleet"
    assert described["distribution"] == FLEET
    assert described["default_base_url"] == "https://api.fakefleet.invalid"
    assert described["quota"] == {"requests_per_second": 50, "burst": 10, "max_concurrency": 4}
    assert [e["name"] for e in described["endpoints"]] == ["vehicle", "vehicles"]


def test_describe_an_endpoint_shows_python_and_api_parameter_names(
    registry: EndpointRegistry,
) -> None:
    described = registry.describe("fakefleet", "vehicles")
    assert described["path"] == "/v1/fleet/vehicles"
    assert described["paginated"] == "CursorPagination"
    params = {p["name"]: p for p in described["params"]}
    assert params["tag_ids"]["api_name"] == "tagIds"
    assert params["updated_after"]["api_name"] == "updatedAfterTime"
    assert params["updated_after"]["type"] == "datetime"
    vehicle = registry.describe("fakefleet", "vehicle")
    assert vehicle["params"][0] | {"description": ""} == {
        "name": "vehicle_id",
        "api_name": "id",
        "type": "str",
        "in": "path",
        "required": True,
        "default": None,
        "description": "",
    }


def test_a_provider_given_directly_has_no_distribution(registry: EndpointRegistry) -> None:
    assert registry.describe("other")["distribution"] is None


def test_a_registry_without_plugins_is_empty() -> None:
    empty = EndpointRegistry.from_plugins(Plugins())
    assert empty.list_providers() == []
    assert empty.list_endpoints() == []
    assert empty.find_by_path("/v1/fleet/vehicles") is None
    with pytest.raises(ProviderNotFoundError, match=r"\(installed: none\)"):
        empty.spec("fakefleet")
