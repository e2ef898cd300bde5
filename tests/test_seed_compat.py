"""Names and patterns from the original Fleet Telemetry Hub API keep working, or say plainly
what replaced them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fth_core.config import parse_config
from fth_core.endpoints import ParsedResponse
from fth_core.pagination import PaginationState
from fth_core.provider import ProviderManager
from fth_core.registry import EndpointRegistry
from fth_core.sim import Fleet, SimServer
from fth_core.testing import Simulation, simulated_provider
from fth_motive.simulator import MotiveSimulator


@pytest.fixture(scope="module")
def simulation() -> Iterator[Simulation]:
    fleet = Fleet(3, 3)
    simulator = MotiveSimulator(fleet)
    with SimServer(simulator) as server:
        yield Simulation(fleet, simulator, server)


def test_a_client_closed_by_a_with_block_is_replaced_on_next_use(
    simulation: Simulation,
) -> None:
    registry = EndpointRegistry.from_plugins()
    with simulated_provider(simulation, registry, "motive") as provider:
        with provider.client() as client:
            first = client.fetch_all(provider.endpoint("vehicles"))
        assert client.closed
        again = provider.fetch_all("vehicles")
        assert len(again) == len(first) == 3
        assert provider.client() is not client


def test_the_original_name_provider_loop_says_what_the_loop_is_now(
    simulation: Simulation,
) -> None:
    document = {
        "providers": {"motive": {"base_url": simulation.server.base_url, "api_key": "k-123456"}}
    }
    with ProviderManager.from_config(parse_config(document, env={})) as manager:
        with pytest.raises(TypeError, match=r"for provider in manager.enabled_providers\(\)"):
            for _name, _provider in manager.enabled_providers():  # type: ignore[misc]
                pass
        assert [p.name for p in manager.enabled_providers()] == ["motive"]


def test_a_parsed_page_counts_its_items_and_says_whether_more_follow() -> None:
    last = ParsedResponse(items=[1, 2, 3], next_state=None)
    assert (last.item_count, last.has_more) == (3, False)
    middle = ParsedResponse(items=[], next_state=PaginationState(page_no=2))
    assert (middle.item_count, middle.has_more) == (0, True)


def test_the_registry_instance_is_one_per_process_and_holds_the_installed_providers() -> None:
    registry = EndpointRegistry.instance()
    assert EndpointRegistry.instance() is registry
    assert {"motive", "samsara", "geotab"} <= set(registry.list_providers())
