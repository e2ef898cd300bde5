"""End to end over HTTP: fetch + flatten against the simulator equals the fleet's ground truth,
including the cases the join exists for (window start, handovers, odometer units)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from samsara_support import DAY, samsara_fleet

import fth_samsara
from fth_core.registry import EndpointRegistry
from fth_core.sim import Fault, Fleet, SimServer
from fth_core.telemetry import FlatBatch, fetch_telemetry
from fth_core.testing import Simulation, assert_same_telemetry, simulated_provider
from fth_samsara.join import METERS_PER_MILE
from fth_samsara.settings import SamsaraSettings
from fth_samsara.simulator import SamsaraSimulator
from fth_samsara.telemetry import _tiered
from fth_samsara.trips import fetch_trips

AS_OF = DAY + timedelta(days=10)


@pytest.fixture(scope="module")
def registry() -> EndpointRegistry:
    return EndpointRegistry.from_plugins()


@pytest.fixture(scope="module")
def simulation() -> Iterator[Simulation]:
    fleet = samsara_fleet(20)
    # Small pages: walks span many pages, split vehicles and pass empty pages.
    simulator = SamsaraSimulator(fleet, as_of=AS_OF, page_readings=1500)
    with SimServer(simulator) as server:
        yield Simulation(fleet, simulator, server)


def fetch(
    simulation: Simulation,
    registry: EndpointRegistry,
    start: datetime,
    end: datetime,
    **overrides: Any,
) -> tuple[pa.Table, list[FlatBatch]]:
    with simulated_provider(simulation, registry, "samsara", **overrides) as provider:
        batches = list(fetch_telemetry(provider, start, end))
    tables = [b.table for b in batches]
    table = pa.concat_tables(tables) if tables else None
    assert table is not None, "the window holds telemetry"
    return table, batches


def rows_of(table: pa.Table, vehicle_id: str) -> list[dict[str, Any]]:
    mine = table.filter(pc.equal(table.column("provider_vehicle_id"), vehicle_id))
    rows: list[dict[str, Any]] = mine.sort_by("timestamp").to_pylist()
    return rows


# --------------------------------------------------------------------------- the oracle


def test_flattened_records_equal_ground_truth_across_many_pages(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    start, end = DAY + timedelta(hours=3), DAY + timedelta(days=1, hours=9, minutes=30)
    simulation.server.clear_log()
    table, batches = fetch(simulation, registry, start, end, options={"batch_points": 5_000})
    assert len(batches) > 1
    assert not any(b.failures for b in batches)
    assert_same_telemetry(table, simulation.simulator.expected_telemetry(start, end))
    stats = simulation.server.requests("/fleet/vehicles/stats/history")
    assert len(stats) > 10
    assert table.column("vin").null_count > 0, "the fleet has vehicles without a VIN"
    assert table.column("odometer").null_count > 0, "and vehicles without OBD odometer"
    assert table.column("location_description").null_count > 0, "and GPS without reverseGeo"


def test_gps_is_asked_for_the_window_only_and_the_margins_without_it(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    start, end = DAY + timedelta(hours=12), DAY + timedelta(hours=18)
    simulation.server.clear_log()
    fetch(simulation, registry, start, end)
    walks = {
        (r.query["types"][0], r.query["startTime"][0], r.query["endTime"][0])
        for r in simulation.server.requests("/fleet/vehicles/stats/history")
    }
    assert walks == {
        ("gps,engineStates,obdOdometerMeters", "2026-03-02T12:00:00Z", "2026-03-02T18:00:00Z"),
        ("engineStates,obdOdometerMeters", "2026-03-01T12:00:00Z", "2026-03-02T12:00:00Z"),
        ("obdOdometerMeters", "2026-03-02T18:00:00Z", "2026-03-02T18:30:00Z"),
    }


# --------------------------------------------------------------------------- the join's cases


def test_engine_state_right_at_the_window_start_is_the_one_in_force(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    fleet = simulation.fleet
    start = DAY + timedelta(hours=11)  # mid-shift: states were set hours before
    end = start + timedelta(hours=1)
    table, _ = fetch(simulation, registry, start, end)
    first_transition = {
        row["vehicle_id"]: row["time"]
        for row in reversed(fleet.engine_events(start, end).to_pylist())
    }
    checked = 0
    for vehicle in fleet.vehicles:
        rows = rows_of(table, vehicle.id)
        if not rows:
            continue
        first = rows[0]
        truth = fleet.points(first["timestamp"], first["timestamp"] + timedelta(seconds=1),
                             vehicle_ids=[vehicle.id]).to_pylist()[0]  # fmt: skip
        assert first["engine_state"] == truth["engine_state"] is not None
        if first_transition.get(vehicle.id, end) > first["timestamp"]:
            checked += 1  # its state came from a transition before the window
    assert checked >= 5


def test_beyond_the_engine_state_margin_the_state_is_null(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    start = DAY + timedelta(hours=11)
    end = start + timedelta(hours=1)
    options = {"engine_state_margin_hours": 0}  # look back only the odometer tolerance
    table, _ = fetch(simulation, registry, start, end, options=options)
    transitions = simulation.fleet.engine_events(start - timedelta(minutes=30), end)
    moved = set(transitions.column("vehicle_id").to_pylist())
    quiet = {r["provider_vehicle_id"] for r in table.to_pylist()} - moved
    assert quiet, "some vehicle had no transition in the last 30 minutes"
    for vehicle_id in quiet:
        assert {r["engine_state"] for r in rows_of(table, vehicle_id)} == {None}


def handover(fleet: Fleet) -> tuple[str, datetime, str, str]:
    """A (vehicle, instant, outgoing driver, incoming driver) handover on DAY."""
    rows = fleet.assignments(DAY, DAY + timedelta(days=1)).to_pylist()
    for a, b in itertools.pairwise(rows):
        if a["vehicle_id"] == b["vehicle_id"] and a["end"] == b["start"]:
            return a["vehicle_id"], a["end"], a["driver_id"], b["driver_id"]
    raise AssertionError("the fleet has handovers")


def test_driver_right_at_a_handover(simulation: Simulation, registry: EndpointRegistry) -> None:
    vehicle_id, moment, outgoing, incoming = handover(simulation.fleet)
    hour = timedelta(hours=1)
    spanning, _ = fetch(simulation, registry, moment - hour, moment + hour)
    rows = rows_of(spanning, vehicle_id)
    before = [r["driver_id"] for r in rows if r["timestamp"] < moment]
    after = [r["driver_id"] for r in rows if r["timestamp"] >= moment]
    assert before
    assert after
    assert set(before) == {outgoing}
    assert set(after) == {incoming}
    # Windows that end or begin exactly at the handover see only one of the two.
    ending, _ = fetch(simulation, registry, moment - hour, moment)
    assert {r["driver_id"] for r in rows_of(ending, vehicle_id)} == {outgoing}
    beginning, _ = fetch(simulation, registry, moment, moment + hour)
    assert {r["driver_id"] for r in rows_of(beginning, vehicle_id)} == {incoming}
    names = {r["driver_name"] for r in rows_of(beginning, vehicle_id)}
    assert names == {simulation.fleet.driver(incoming).name}


def test_odometer_is_in_miles(simulation: Simulation, registry: EndpointRegistry) -> None:
    start, end = DAY, DAY + timedelta(days=1)
    table, _ = fetch(simulation, registry, start, end)
    # Transitions happen at points, and the OBD reports a reading at each: exact there.
    odometer = {
        (r["provider_vehicle_id"], r["timestamp"]): r["odometer"]
        for r in table.select(["provider_vehicle_id", "timestamp", "odometer"]).to_pylist()
    }
    checked = 0
    for event in simulation.fleet.engine_events(start, end).to_pylist():
        vehicle = simulation.fleet.vehicle(event["vehicle_id"])
        simulator = simulation.simulator
        assert isinstance(simulator, SamsaraSimulator)
        if not simulator.has_obd(vehicle):
            continue
        moment = np.array([event["time"].replace(tzinfo=None)], dtype="datetime64[us]")
        truth = float(simulation.fleet.odometer_at(vehicle.id, moment)[0])
        assert odometer[vehicle.id, event["time"]] == pytest.approx(
            truth, abs=0.5 / METERS_PER_MILE
        )
        checked += 1
    assert checked > 50


# --------------------------------------------------------------------------- requests


def test_assignments_are_asked_for_at_most_50_vehicles_a_request_while_the_walk_goes_on(
    registry: EndpointRegistry,
) -> None:
    fleet = samsara_fleet(120)
    simulator = SamsaraSimulator(fleet, as_of=AS_OF, page_readings=2_000)
    start, end = DAY + timedelta(hours=6), DAY + timedelta(hours=10)
    fast = {"rate_limits": {"driver_vehicle_assignments": 100}}  # the 5/s tier is the core's
    with SimServer(simulator, latency_ms=20) as server:
        simulation = Simulation(fleet, simulator, server)
        table, _ = fetch(simulation, registry, start, end, options=fast)
        requests = server.requests("/fleet/driver-vehicle-assignments")
        walk = [r.at for r in server.log if "gps" in r.query.get("types", [""])[0]]
    assert_same_telemetry(table, simulator.expected_telemetry(start, end))
    first_pages = [r for r in requests if "after" not in r.query]
    chunks = [r.query["vehicleIds"][0].split(",") for r in first_pages]
    assert len(chunks) >= 3
    assert all(len(c) <= 50 for c in chunks)
    asked = [vid for chunk in chunks for vid in chunk]
    assert len(asked) == len(set(asked))
    assert set(asked) == set(table.column("provider_vehicle_id").to_pylist())
    assert all(r.query["filterBy"] == ["vehicles"] for r in requests)
    # The first 50 vehicles with GPS are asked for before the window walk has ended.
    assert len(walk) >= 4
    assert min(r.at for r in requests) < max(walk)


def test_rate_limits_faults_and_latency_do_not_change_the_result(
    registry: EndpointRegistry,
) -> None:
    fleet = samsara_fleet(6)
    simulator = SamsaraSimulator(fleet, as_of=AS_OF, page_readings=800)
    start, end = DAY + timedelta(hours=5), DAY + timedelta(hours=17)
    with SimServer(simulator, rate_limit=40, burst=2, latency_ms=5) as server:
        server.inject(
            500,
            Fault("reset"),
            Fault("truncate", path="/fleet/vehicles/stats/history"),
            Fault("429", retry_after="0.05125"),
        )
        simulation = Simulation(fleet, simulator, server)
        with simulated_provider(simulation, registry, "samsara") as provider:
            batches = list(fetch_telemetry(provider, start, end))
            stats = provider.client().stats
        statuses = [r.status for r in server.log]
    table = pa.concat_tables([b.table for b in batches])
    assert_same_telemetry(table, simulator.expected_telemetry(start, end))
    assert stats.retries >= 4
    assert stats.rate_limited >= 1
    assert 429 in statuses
    assert 500 in statuses


def test_a_failed_assignments_request_is_reported_and_the_points_keep_no_driver(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    start, end = DAY + timedelta(hours=8), DAY + timedelta(hours=9)
    simulation.server.inject(Fault("status", status=403, path="/fleet/driver-vehicle-assignments"))
    table, batches = fetch(simulation, registry, start, end)
    failures = [f for b in batches for f in b.failures]
    assert len(failures) == 1
    assert failures[0].subject.startswith("driver assignments of vehicles")
    assert "403" in failures[0].error
    assert table.column("driver_id").null_count == table.num_rows
    assert table.column("engine_state").null_count < table.num_rows


# --------------------------------------------------------------------------- options, hooks


def test_a_configured_odometer_tolerance_is_applied(registry: EndpointRegistry) -> None:
    fleet = samsara_fleet(5)
    simulator = SamsaraSimulator(fleet, as_of=AS_OF, odometer_tolerance=timedelta(minutes=2))
    start, end = DAY + timedelta(hours=6), DAY + timedelta(hours=12)
    with SimServer(simulator) as server:
        simulation = Simulation(fleet, simulator, server)
        table, _ = fetch(
            simulation, registry, start, end, options={"odometer_tolerance_minutes": 2}
        )
        default, _ = fetch(simulation, registry, start, end)
    assert_same_telemetry(table, simulator.expected_telemetry(start, end))
    assert table.column("odometer").null_count > default.column("odometer").null_count


def test_an_endpoint_tier_can_be_overridden_in_the_options(registry: EndpointRegistry) -> None:
    settings = SamsaraSettings(rate_limits={"driver_vehicle_assignments": 40})
    provider: Any = SimpleNamespace(endpoint=lambda name: fth_samsara.SAMSARA.endpoint_map()[name])
    assert _tiered(provider, "driver_vehicle_assignments", settings).rate_limit == 40
    assert _tiered(provider, "vehicles", settings).rate_limit == 25
    with pytest.raises(ValueError, match="bogus"):
        SamsaraSettings(rate_limits={"bogus": 1})


def test_drivers_walk_returns_active_and_deactivated(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    with simulated_provider(simulation, registry, "samsara") as provider:
        drivers = provider.fetch_all("drivers")
    assert sorted(d.id for d in drivers) == sorted(d.id for d in simulation.fleet.drivers)
    assert {d.driver_activation_status for d in drivers} == {"active", "deactivated"}


def test_trips_over_more_than_90_days_are_fetched_in_pieces(
    simulation: Simulation, registry: EndpointRegistry
) -> None:
    vehicle = next(v for v in simulation.fleet.vehicles if v.status == "active")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=100)
    simulation.server.clear_log()
    with simulated_provider(simulation, registry, "samsara") as provider:
        trips = fetch_trips(provider, vehicle.id, start, end)
    assert len(simulation.server.requests("/v1/fleet/trips")) == 2
    starts = [t.start_ms for t in trips]
    assert starts == sorted(set(starts))
    assert len(trips) == 2 * (AS_OF - start).days  # two drives a day, finished by AS_OF
