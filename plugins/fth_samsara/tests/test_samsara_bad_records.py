"""Bad records in Samsara's stats/history pages: each GPS row they spoil is set aside with its
reason, every other row of the same pages is stored.

A vehicle record without ``id`` spoils all its GPS readings (nothing says whose they are); a
GPS ``time`` that does not parse spoils its reading; an engine-state value outside On/Off/Idle
spoils the points it governs, up to the next reading; a latitude out of range spoils its point.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from samsara_support import DAY, samsara_fleet

from fth_core.registry import EndpointRegistry
from fth_core.sim import BadRecords, SimServer
from fth_core.telemetry import fetch_telemetry, stored_and_quarantined
from fth_core.testing import (
    Simulation,
    assert_same_quarantine,
    assert_same_telemetry,
    reason_kinds,
    simulated_provider,
)
from fth_samsara.simulator import UNKNOWN_ENGINE_STATE, SamsaraSimulator
from fth_samsara.telemetry import _StatsReader

# 2% of readings per kind; vehicles 4, 8, 12 and 16 of the 16 come without their id.
BAD = BadRecords(rate=0.02, missing_id_every=4, seed=2)


@pytest.fixture(scope="module")
def simulation() -> Iterator[Simulation]:
    fleet = samsara_fleet(16)
    # Small pages: vehicles split over pages, some of their parts without an id.
    simulator = SamsaraSimulator(
        fleet, as_of=DAY + timedelta(days=10), page_readings=1500, bad_records=BAD
    )
    with SimServer(simulator) as server:
        yield Simulation(fleet, simulator, server)


def test_gps_readings_without_a_readable_time_are_set_aside_with_their_reason() -> None:
    reader = _StatsReader()
    reader.read(
        [
            {
                "id": "9",
                "gps": [
                    {"time": "2026-03-02T10:00:00Z", "latitude": 1, "longitude": 2},
                    {"time": "2026-03-02T34:00:00.250Z", "latitude": 3, "longitude": 4},
                    {"latitude": 5, "longitude": 6},
                ],
                "engineStates": [
                    {"time": "2026-03-02T09:00:00Z", "value": "On"},
                    {"time": "a while ago", "value": "Off"},  # no row: nothing to set aside
                ],
            }
        ]
    )
    ten = (DAY + timedelta(hours=10)).timestamp() * 1_000_000
    assert reader.gps().time.tolist() == [ten]
    untimed = reader.untimed()
    assert untimed.reason.to_pylist() == [
        "unparseable timestamp '2026-03-02T34:00:00.250Z'",
        "missing timestamp",
    ]
    assert untimed.gps.latitude.to_pylist() == [3.0, 5.0]
    assert untimed.gps.vehicle.tolist() == [0, 0]
    assert reader.engine().value.tolist() == [0], "the reading without a time is dropped"


def test_fetch_with_bad_records_stores_the_oracles_good_rows_and_sets_aside_its_bad_ones(
    simulation: Simulation,
) -> None:
    # Edges inside days: the engine state in force at the start comes from the margin walk.
    start, end = DAY + timedelta(hours=3), DAY + timedelta(days=1, hours=9)
    registry = EndpointRegistry.from_plugins()
    options = {"batch_points": 3000}  # several batches, split by vehicle code
    with simulated_provider(simulation, registry, "samsara", options=options) as provider:
        batches = list(fetch_telemetry(provider, start, end))
    assert len(batches) > 1
    valid, quarantined = stored_and_quarantined(batches)
    simulator = simulation.simulator
    assert_same_telemetry(valid, simulator.expected_telemetry(start, end))
    assert_same_quarantine(quarantined, simulator.expected_quarantine(start, end))
    assert set(reason_kinds(quarantined)) == {
        "latitude out of range",
        "unparseable timestamp",
        "unknown engine state",
        "missing vehicle id",
    }
    # Each row shows what made it bad.
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in quarantined.to_pylist():
        rows.setdefault(row["reason"].split(" '")[0], []).append(row)
    assert {r["provider_vehicle_id"] for r in rows["missing vehicle id"]} == {None}
    assert {r["engine_state"] for r in rows["missing vehicle id"]} == {None}, "nothing joined"
    assert {r["timestamp"] for r in rows["unparseable timestamp"]} == {None}
    assert min(abs(r["latitude"]) for r in rows["latitude out of range"]) > 90
    assert {r["engine_state"] for r in rows["unknown engine state"]} == {UNKNOWN_ENGINE_STATE}
    # Nothing lost, whatever the oracle says: every point of the window is one or the other.
    truth = simulation.fleet.telemetry("samsara", start, end, as_of=simulator.now())
    assert valid.num_rows + quarantined.num_rows == truth.num_rows
