"""Bad records in Motive's answers: each is set aside with its reason, the rest are stored.

Motive's locations carry no vehicle id (the vehicle is in the path), so a missing id can only be
the roster's: that vehicle's locations cannot be asked for, and each window sets the roster
record aside instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fth_core.provider import Provider
from fth_core.schema import QUARANTINE_SCHEMA, concat_telemetry, split_invalid, split_quarantined
from fth_core.sim import BadRecords, Fleet, SimServer
from fth_core.telemetry import fetch_telemetry, stored_and_quarantined
from fth_core.testing import assert_same_quarantine, assert_same_telemetry, reason_kinds
from fth_motive.simulator import MotiveSimulator
from fth_motive.telemetry import LocationHistory, RosterVehicle, flatten_locations

Simulate = Callable[..., tuple[MotiveSimulator, SimServer]]
Connect = Callable[..., Provider]

DAY = datetime(2026, 3, 3, tzinfo=UTC)
# 2% of locations per kind; the roster lists vehicles 5 and 10 of the 14 without an id.
BAD = BadRecords(rate=0.02, missing_id_every=5, seed=3)


def fetch(provider: Provider, start: datetime, end: datetime) -> tuple[pa.Table, pa.Table]:
    """(stored, quarantined) rows of a window, as the pipeline files them."""
    return stored_and_quarantined(list(fetch_telemetry(provider, start, end)))


def test_one_answer_with_each_kind_of_bad_location_sets_aside_exactly_those(
    payloads: Any,
) -> None:
    start, end = datetime(2026, 7, 14, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)
    records = [
        payloads.location(located_at="2026-07-14T10:00:00Z"),
        payloads.location(located_at="2026-07-14T36:00:05Z"),
        payloads.location(located_at=None),
        payloads.location(located_at="2026-07-14T11:00:00Z", type="tow_mode"),
        payloads.location(located_at="2026-07-14T12:00:00Z", lat=123.0),
        payloads.location(located_at="2026-07-15T00:00:00Z", type="tow_mode"),  # next day
        payloads.location(located_at="2026-07-14T13:00:00Z", id=None),  # its own id is unused
    ]
    vehicle = RosterVehicle("100017", "1FTGBY0U8RP964390", "TRK-0002", False)
    history = LocationHistory(vehicle, start.date(), end.date(), start, end, False, records)
    stored, set_aside = split_quarantined(flatten_locations(history), provider="motive")
    valid, out_of_range = split_invalid(stored)

    assert [t.hour for t in valid.column("timestamp").to_pylist()] == [10, 13]
    assert set_aside.column("reason").to_pylist() == [
        "unparseable timestamp '2026-07-14T36:00:05Z'",
        "missing timestamp",
        "unknown location type 'tow_mode'",
    ], "the next day's location is outside the window, not a bad record of it"
    eleven = datetime(2026, 7, 14, 11, tzinfo=UTC)
    assert set_aside.column("timestamp").to_pylist() == [None, None, eleven]
    assert set_aside.column("engine_state").to_pylist() == ["On", "On", None]
    assert set(set_aside.column("provider_vehicle_id").to_pylist()) == {"100017"}
    assert set(set_aside.column("latitude").to_pylist()) == {32.823141}
    assert out_of_range.column("reason").to_pylist() == ["latitude out of range"]
    assert out_of_range.column("latitude").to_pylist() == [123.0]


def test_a_roster_vehicle_without_an_id_flattens_to_one_row_naming_it() -> None:
    start, end = datetime(2026, 7, 14, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)
    vehicle = RosterVehicle(None, "1FTGBY0U8RP964390", "TRK-0002", False)
    history = LocationHistory(vehicle, start.date(), end.date(), start, end, False, ())
    stored, set_aside = split_quarantined(flatten_locations(history), provider="motive")
    assert stored.num_rows == 0
    assert set_aside.to_pylist() == [
        dict.fromkeys(QUARANTINE_SCHEMA.names)
        | {
            "provider": "motive",
            "vin": "1FTGBY0U8RP964390",
            "fleet_number": "TRK-0002",
            "reason": "missing vehicle id",
        }
    ]


def test_fetch_with_bad_records_stores_the_oracles_good_rows_and_sets_aside_its_bad_ones(
    simulate: Simulate, connect: Connect, fleet: Fleet
) -> None:
    simulator, server = simulate(bad_records=BAD)
    provider = connect(server, options={"location_day_zone": "UTC"})
    start, end = DAY, DAY + timedelta(days=1)
    stored, quarantined = fetch(provider, start, end)
    assert_same_telemetry(stored, simulator.expected_telemetry(start, end))
    assert_same_quarantine(quarantined, simulator.expected_quarantine(start, end))
    assert set(reason_kinds(quarantined)) == {
        "latitude out of range",
        "unparseable timestamp",
        "unknown location type",
        "missing vehicle id",
    }
    # Nothing lost, whatever the oracle says: each point of a vehicle with an id is either
    # stored or set aside.
    truth = fleet.telemetry("motive", start, end, as_of=simulator.now())
    nameless = {v.id for v in fleet.vehicles if BAD.without_id(v.index)}
    asked = pc.invert(pc.is_in(truth.column("provider_vehicle_id"), pa.array(sorted(nameless))))
    located = quarantined.filter(pc.is_valid(quarantined.column("provider_vehicle_id")))
    assert stored.num_rows + located.num_rows == pc.sum(asked).as_py()
    assert reason_kinds(quarantined)["missing vehicle id"] == len(nameless)


def test_with_padded_days_an_unreadable_location_is_set_aside_by_every_window_that_got_it(
    simulate: Simulate, connect: Connect
) -> None:
    simulator, server = simulate(bad_records=BAD)
    provider = connect(server)  # location_day_zone unset: a day more on each side
    start, end = DAY, DAY + timedelta(days=1)
    _, quarantined = fetch(provider, start, end)
    neighbours = concat_telemetry(
        [
            simulator.expected_quarantine(start - timedelta(days=1), start),
            simulator.expected_quarantine(end, end + timedelta(days=1)),
        ],
        QUARANTINE_SCHEMA,
    )
    unreadable = pc.starts_with(neighbours.column("reason"), "unparseable timestamp")
    assert pc.sum(unreadable).as_py() > 0
    expected = concat_telemetry(
        [simulator.expected_quarantine(start, end), neighbours.filter(unreadable)],
        QUARANTINE_SCHEMA,
    )
    assert_same_quarantine(quarantined, expected)
