"""The telemetry fetch against the simulator over HTTP: every point once even when a slice
reaches the silent cap, a retired device's history keeps its name and VIN, bad records are set
aside with a reason, a failed search fails its window by name, and a run's next window is
fetched while the current one is committed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import msgspec
import pyarrow.compute as pc
import pytest
from geotab_support import DAY, geotab_fleet

from fth_core.errors import FthError
from fth_core.registry import EndpointRegistry
from fth_core.schema import QUARANTINE_SCHEMA, REASON, concat_telemetry
from fth_core.sim import Fleet, SimRequest, SimResponse, SimServer
from fth_core.telemetry import FlatBatch, fetch_telemetry
from fth_core.testing import Simulation, assert_same_telemetry, simulated_provider
from fth_geotab.simulator import GeotabSimulator

AS_OF = DAY + timedelta(days=10)


@pytest.fixture(scope="module")
def registry() -> EndpointRegistry:
    return EndpointRegistry.from_plugins()


@pytest.fixture
def simulation() -> Iterator[Simulation]:
    fleet = geotab_fleet()
    simulator = GeotabSimulator(fleet, as_of=AS_OF)
    with SimServer(simulator) as server:
        yield Simulation(fleet, simulator, server)


def fetch(
    simulation: Simulation, registry: EndpointRegistry, days: int = 1, **overrides: Any
) -> list[FlatBatch]:
    with simulated_provider(simulation, registry, "geotab", **overrides) as provider:
        return list(fetch_telemetry(provider, DAY, DAY + timedelta(days=days)))


def test_slices_that_reach_the_silent_cap_are_split_and_every_point_comes_once(
    registry: EndpointRegistry,
) -> None:
    fleet = Fleet(5, 24)  # ~17,000 points a day: equal slices of 4,999 reach the cap by day
    simulator = GeotabSimulator(fleet, as_of=AS_OF)
    with SimServer(simulator) as server:
        simulation = Simulation(fleet, simulator, server)
        batches = fetch(simulation, registry, options={"slice_records": 4999})
    table = concat_telemetry([b.table for b in batches])
    assert_same_telemetry(table, simulator.expected_telemetry(DAY, DAY + timedelta(days=1)))
    points = table.num_rows
    assert points > 5_000
    slices = -(-points // 4999)
    assert simulator.calls["Get.LogRecord"] > slices, "a capped slice was asked again in halves"


def test_a_device_retired_after_its_points_keeps_its_name_and_vin(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    simulator = simulation.simulator
    assert isinstance(simulator, GeotabSimulator)
    vehicle = next(v for v in simulation.fleet.vehicles if v.vin and v.status == "active")
    device = simulator.device_ids[vehicle.index]
    simulator.retire(device, DAY + timedelta(days=1))
    table = concat_telemetry([b.table for b in fetch(simulation, registry)])
    mine = table.filter(pc.equal(table.column("provider_vehicle_id"), device))
    assert mine.num_rows > 0
    assert set(mine.column("fleet_number").to_pylist()) == {vehicle.fleet_number}
    assert set(mine.column("vin").to_pylist()) == {vehicle.vin}


class Damaging:
    """The simulator, with the first LogRecord of every Get answer losing its device and the
    second its readable time."""

    def __init__(self, simulator: GeotabSimulator) -> None:
        self.simulator = simulator

    def __call__(self, request: SimRequest) -> SimResponse:
        answer = self.simulator(request)
        call = request.json()
        if call.get("method") != "Get" or call["params"].get("typeName") != "LogRecord":
            return answer
        body = msgspec.json.decode(answer.body)
        records = body.get("result") or []
        if len(records) >= 2:
            del records[0]["device"]
            records[1]["dateTime"] = "yesterday-ish"
        return SimResponse.json(200, body)


def test_records_without_a_device_or_a_readable_time_are_set_aside_with_a_reason(
    registry: EndpointRegistry,
) -> None:
    fleet = geotab_fleet()
    simulator = GeotabSimulator(fleet, as_of=AS_OF)
    with SimServer(Damaging(simulator)) as server:  # type: ignore[arg-type]
        simulation = Simulation(fleet, simulator, server)
        batches = fetch(simulation, registry)
    quarantined = concat_telemetry([b.quarantined for b in batches], QUARANTINE_SCHEMA)
    reasons = set(quarantined.column(REASON).to_pylist())
    assert reasons == {"missing vehicle id", "unparseable timestamp 'yesterday-ish'"}
    stored = concat_telemetry([b.table for b in batches])
    expected = simulator.expected_telemetry(DAY, DAY + timedelta(days=1))
    assert stored.num_rows + quarantined.num_rows == expected.num_rows


def test_a_search_that_fails_fails_the_window_and_names_the_search_and_its_range(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    simulator = simulation.simulator
    assert isinstance(simulator, GeotabSimulator)
    simulator.fail_next(
        "ArgumentException", "The search is not valid", method="Get", type_name="DriverChange"
    )
    with pytest.raises(FthError) as caught:
        fetch(simulation, registry)
    message = str(caught.value)
    assert message.startswith("DriverChanges [2026-03-01T00:00:00Z, 2026-03-02T23:59:59.999Z]: ")
    assert "ArgumentException: The search is not valid" in message


def test_the_next_window_is_fetched_during_the_current_one_and_used_by_it(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    simulator = simulation.simulator
    assert isinstance(simulator, GeotabSimulator)
    run: dict[str, Any] = {}
    horizon = DAY + timedelta(days=2)
    with simulated_provider(simulation, registry, "geotab") as provider:
        first = list(fetch_telemetry(provider, DAY, DAY + timedelta(days=1), horizon, run=run))
        # The searches of [day 2, day 3) started when the first window's own were done.
        pending = run.get("geotab.next")
        assert pending is not None
        pending.found.result()
        served = simulator.calls.total()
        second = list(fetch_telemetry(provider, DAY + timedelta(days=1), horizon, horizon, run=run))
        assert simulator.calls.total() == served, "the second window asked nothing more"
        assert "geotab.next" not in run, "the last window of the run starts nothing"
    for batches, start in ((first, DAY), (second, DAY + timedelta(days=1))):
        table = concat_telemetry([b.table for b in batches])
        assert_same_telemetry(table, simulator.expected_telemetry(start, start + timedelta(days=1)))


def test_a_prefetch_for_another_window_is_not_used(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    run: dict[str, Any] = {}
    horizon = DAY + timedelta(days=3)
    with simulated_provider(simulation, registry, "geotab") as provider:
        list(fetch_telemetry(provider, DAY, DAY + timedelta(days=1), horizon, run=run))
        # The pipeline asks a different window than the one prefetched (a half day).
        start, end = DAY + timedelta(days=1), DAY + timedelta(days=1, hours=12)
        table = concat_telemetry(
            [b.table for b in fetch_telemetry(provider, start, end, horizon, run=run)]
        )
    assert_same_telemetry(table, simulation.simulator.expected_telemetry(start, end))
