"""The simulator speaks Samsara: auth, cursor walks, limit tiers, half-open windows, the quirks
of PROVIDERS.md §2 — called directly, without HTTP."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from samsara_support import DAY

from fth_core.sim import Fleet, SimRequest, SimResponse
from fth_samsara.simulator import SamsaraSimulator


def call(sim: SamsaraSimulator, path: str, key: str | None = None, **query: Any) -> SimResponse:
    headers = {"authorization": f"Bearer {key or sim.api_key}"}
    args = {k: [str(v)] for k, v in query.items() if v is not None}
    return sim(SimRequest("GET", path, args, headers))


def body(response: SimResponse) -> Any:
    return json.loads(response.body)


def walk(sim: SamsaraSimulator, path: str, **query: Any) -> list[dict[str, Any]]:
    """Every page body of a cursor walk, asserting the envelope on the way."""
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        response = call(sim, path, **query, after=after)
        assert response.status == 200, response.body
        page = body(response)
        pages.append(page)
        assert set(page) == {"data", "pagination"}
        if not page["pagination"]["hasNextPage"]:
            return pages
        after = page["pagination"]["endCursor"]
        assert after, "hasNextPage without a cursor"
        assert len(pages) < 1000


def window(hours: float = 6, start: datetime = DAY) -> dict[str, str]:
    end = start + timedelta(hours=hours)
    return {"startTime": start.isoformat(), "endTime": end.isoformat().replace("+00:00", "Z")}


# --------------------------------------------------------------------------- auth and errors


@pytest.mark.parametrize("header", [None, "Bearer nope", "sim-key", "bearer sim-key"])
def test_a_missing_or_wrong_bearer_token_is_samsaras_401(
    simulator: SamsaraSimulator, header: str | None
) -> None:
    headers = {} if header is None else {"authorization": header}
    response = simulator(SimRequest("GET", "/fleet/vehicles", {}, headers))
    assert response.status == 401
    payload = body(response)
    assert payload["message"] == "invalid token"
    assert set(payload) == {"message", "requestId"}


def test_429_carries_a_fractional_retry_after(simulator: SamsaraSimulator) -> None:
    response = simulator.rate_limited(0.40235)
    assert response.status == 429
    assert response.headers["Retry-After"] == "0.40235"
    assert set(body(response)) == {"message", "requestId"}


def test_unknown_paths_are_404(simulator: SamsaraSimulator) -> None:
    assert call(simulator, "/fleet/trips").status == 404  # only /v1/fleet/trips exists


# --------------------------------------------------------------------------- vehicles


def test_vehicles_walk_ascends_numerically_with_an_empty_page_mid_walk(
    simulator: SamsaraSimulator, fleet: Fleet
) -> None:
    pages = walk(simulator, "/fleet/vehicles", limit=3)
    ids = [v["id"] for p in pages for v in p["data"]]
    assert ids == sorted((v.id for v in fleet.vehicles), key=int)
    assert any(not p["data"] and p["pagination"]["hasNextPage"] for p in pages)
    cursors = [p["pagination"]["endCursor"] for p in pages]
    assert len(set(cursors)) == len(cursors), "a fresh cursor per page"
    # As once seen live: the last page of /fleet/vehicles still carries a cursor.
    assert pages[-1]["pagination"]["endCursor"] != ""


def test_vehicle_vins_live_in_external_ids_and_are_absent_when_unknown(
    simulator: SamsaraSimulator, fleet: Fleet
) -> None:
    records = {v["id"]: v for p in walk(simulator, "/fleet/vehicles") for v in p["data"]}
    for vehicle in fleet.vehicles:
        record = records[vehicle.id]
        if vehicle.status != "active":
            assert len(record) == 7, "unplugged units come in the minimal form"
            continue
        assert record["name"] == vehicle.fleet_number
        assert record["externalIds"].get("samsara.vin") == vehicle.vin
        assert ("vin" in record) == (vehicle.vin is not None)


@pytest.mark.parametrize(
    ("path", "limit", "maximum"),
    [("/fleet/vehicles", 513, 512), ("/fleet/drivers", 513, 512), ("/idling/events", 512, 200)],
)
def test_limits_above_the_tier_are_400(
    simulator: SamsaraSimulator, path: str, limit: int, maximum: int
) -> None:
    response = call(simulator, path, limit=limit, **window())
    assert response.status == 400
    assert body(response)["message"] == (
        f"limit must be lesser or equal than {maximum} but got value {limit}"
    )


# --------------------------------------------------------------------------- drivers


def test_drivers_default_to_active_and_deactivated_is_disjoint(
    simulator: SamsaraSimulator, fleet: Fleet
) -> None:
    active = [d["id"] for p in walk(simulator, "/fleet/drivers") for d in p["data"]]
    gone = [
        d["id"]
        for p in walk(simulator, "/fleet/drivers", driverActivationStatus="deactivated")
        for d in p["data"]
    ]
    assert not set(active) & set(gone)
    assert sorted(active + gone) == sorted(d.id for d in fleet.drivers)
    assert active == sorted(active, key=int)


@pytest.mark.parametrize("status", ["Active", "active,deactivated", "all"])
def test_other_activation_statuses_are_400(simulator: SamsaraSimulator, status: str) -> None:
    response = call(simulator, "/fleet/drivers", driverActivationStatus=status)
    assert response.status == 400
    assert body(response)["message"].startswith("Invalid value for driverActivationStatus")


# --------------------------------------------------------------------------- stats/history

TYPES = "gps,engineStates,obdOdometerMeters"


def test_stats_pages_go_over_vehicles_and_list_only_vehicles_with_readings(
    simulator: SamsaraSimulator, fleet: Fleet
) -> None:
    pages = walk(simulator, "/fleet/vehicles/stats/history", types=TYPES, limit=4, **window())
    ids = [v["id"] for p in pages for v in p["data"]]
    assert len(ids) == len(set(ids)), "no vehicle on two pages at this size"
    active = {v.id for v in fleet.vehicles if v.status == "active"}
    assert set(ids) == active
    assert all(len(p["data"]) <= 4 for p in pages)
    assert pages[-1]["pagination"] == {"endCursor": "", "hasNextPage": False}
    odometer = walk(
        simulator, "/fleet/vehicles/stats/history", types="obdOdometerMeters", **window()
    )
    with_obd = {v["id"] for p in odometer for v in p["data"]}
    without = {v.id for v in fleet.vehicles if v.status == "active" and not simulator.has_obd(v)}
    assert without
    assert not with_obd & without
    assert all(
        set(v) == {"id", "name", "externalIds", "obdOdometerMeters"}
        for p in odometer
        for v in p["data"]
    )


def test_stats_windows_are_half_open_on_reading_time(
    simulator: SamsaraSimulator, fleet: Fleet
) -> None:
    vehicle = next(v for v in fleet.vehicles if v.status == "active")
    points = fleet.points(DAY, DAY + timedelta(hours=2), vehicle_ids=[vehicle.id])
    moment = points.column("timestamp")[3].as_py()
    stamp = moment.isoformat().replace("+00:00", "Z")

    def times(start: datetime, end: datetime) -> list[str]:
        query = {"types": "gps", "vehicleIds": vehicle.id}
        query["startTime"] = start.isoformat()
        query["endTime"] = end.isoformat()
        pages = walk(simulator, "/fleet/vehicles/stats/history", **query)
        return [g["time"] for p in pages for v in p["data"] for g in v["gps"]]

    stamp_ms = stamp.replace("Z", ".000Z")
    assert times(moment, moment + timedelta(minutes=1))[0] == stamp_ms
    assert stamp_ms not in times(moment - timedelta(minutes=30), moment)


def test_a_vehicle_bigger_than_a_page_is_split_over_consecutive_pages(fleet: Fleet) -> None:
    sim = SamsaraSimulator(fleet, as_of=DAY + timedelta(days=3), page_readings=300)
    pages = walk(sim, "/fleet/vehicles/stats/history", types=TYPES, **window(24))
    ids = [v["id"] for p in pages for v in p["data"]]
    repeats = [a for a, b in itertools.pairwise(ids) if a == b]
    assert repeats, "some vehicle continues on the next page"
    seen: list[str] = []
    for vehicle_id in ids:  # parts of one vehicle are adjacent
        if not seen or seen[-1] != vehicle_id:
            assert vehicle_id not in seen
            seen.append(vehicle_id)
    # Every reading arrives exactly once.
    whole = walk(
        SamsaraSimulator(fleet, as_of=sim.as_of), "/fleet/vehicles/stats/history",
        types=TYPES, **window(24),
    )  # fmt: skip

    def count(pages: list[dict[str, Any]]) -> int:
        return sum(len(v.get(t, [])) for p in pages for v in p["data"] for t in TYPES.split(","))

    assert count(pages) == count(whole)


def test_gps_readings_look_like_samsaras(simulator: SamsaraSimulator) -> None:
    pages = walk(simulator, "/fleet/vehicles/stats/history", types="gps", **window(24))
    readings = [g for p in pages for v in p["data"] for g in v["gps"]]
    assert all(g["time"].endswith("Z") and len(g["time"]) == 24 for g in readings)  # ms
    assert all(isinstance(g["headingDegrees"], int) for g in readings)
    assert any(isinstance(g["speedMilesPerHour"], int) for g in readings)  # parked: 0
    assert any(isinstance(g["speedMilesPerHour"], float) for g in readings)
    assert any("reverseGeo" not in g for g in readings)
    assert any("address" in g for g in readings)


@pytest.mark.parametrize(
    ("types", "message"),
    [
        ("gps,bogusType", "Invalid stat type(s): bogusType"),
        ("", "types is required"),
    ],
)
def test_bad_stat_types_are_400(simulator: SamsaraSimulator, types: str, message: str) -> None:
    response = call(simulator, "/fleet/vehicles/stats/history", types=types, **window())
    assert response.status == 400
    assert body(response)["message"] == message


def test_at_most_three_stat_types(simulator: SamsaraSimulator) -> None:
    types = "gps,engineStates,obdOdometerMeters,gps"
    response = call(simulator, "/fleet/vehicles/stats/history", types=types, **window())
    assert response.status == 400


def test_a_cursor_from_nowhere_is_400(simulator: SamsaraSimulator) -> None:
    response = call(simulator, "/fleet/vehicles", after="not-a-cursor")
    assert response.status == 400


# --------------------------------------------------------------------------- assignments


def test_assignment_pages_hold_50_rows_whatever_the_limit(fleet: Fleet) -> None:
    sim = SamsaraSimulator(fleet, as_of=DAY + timedelta(days=10), empty_page_every=0)
    query = {"filterBy": "vehicles", **window(24 * 4)}
    for limit in (1, 5, 100, 512, 513, None):
        pages = walk(sim, "/fleet/driver-vehicle-assignments", limit=limit, **query)
        assert [len(p["data"]) for p in pages[:-1]] == [50] * (len(pages) - 1)
        assert len(pages) > 1


def test_assignments_need_filter_by(simulator: SamsaraSimulator) -> None:
    missing = call(simulator, "/fleet/driver-vehicle-assignments", **window())
    assert missing.status == 400
    bogus = call(simulator, "/fleet/driver-vehicle-assignments", filterBy="bogus", **window())
    assert body(bogus)["message"] == (
        'value of filterBy must be one of "drivers", "vehicles" but got value "bogus"'
    )


def test_assignments_match_by_overlap_with_passengers_and_an_ongoing_row(
    fleet: Fleet,
) -> None:
    # The clock stops mid-shift: assignments in progress have no endTime yet.
    as_of = DAY + timedelta(hours=12)
    sim = SamsaraSimulator(fleet, as_of=as_of)
    query = {"filterBy": "drivers", **window(24, DAY - timedelta(hours=12))}
    rows = [r for p in walk(sim, "/fleet/driver-vehicle-assignments", **query) for r in p["data"]]
    assert all(r["assignedAtTime"] == "" for r in rows)
    ongoing = [r for r in rows if "endTime" not in r]
    assert ongoing
    assert all(r["startTime"] <= "2026-03-02T12:00:00" for r in ongoing)
    assert any(r["isPassenger"] for r in rows)
    assert all(len(r["startTime"]) == 27 for r in rows)  # microsecond precision
    late = sim.assignment_rows(
        int(as_of.timestamp() * 1e6), int((as_of + timedelta(hours=1)).timestamp() * 1e6),
        int(as_of.timestamp() * 1e6),
    )  # fmt: skip
    assert all(r["startTime"] <= "2026-03-02T12:00:00.000000Z" for r in late)


def test_no_assignments_at_all_is_data_null(simulator: SamsaraSimulator) -> None:
    early = datetime(2025, 6, 1, tzinfo=UTC)  # before the fleet's epoch: nobody drove
    response = call(
        simulator, "/fleet/driver-vehicle-assignments", filterBy="vehicles", **window(24, early)
    )
    assert body(response) == {"data": None, "pagination": {"endCursor": "", "hasNextPage": False}}


# --------------------------------------------------------------------------- trips, idling


def test_trips_need_one_vehicle_and_at_most_90_days(
    simulator: SamsaraSimulator, fleet: Fleet
) -> None:
    vehicle = next(v for v in fleet.vehicles if v.status == "active")
    start = int(DAY.timestamp() * 1000)
    missing = call(simulator, "/v1/fleet/trips", startMs=start, endMs=start + 1)
    assert missing.status == 400
    assert missing.headers["Content-Type"].startswith("text/plain")
    assert missing.body == b"rpc error: code = InvalidArgument desc = Missing parameter: vehicleId"
    listed = call(
        simulator, "/v1/fleet/trips", vehicleId=f"{vehicle.id},1", startMs=start, endMs=start
    )
    assert listed.status == 400
    day_ms = 86_400_000
    too_long = call(
        simulator, "/v1/fleet/trips", vehicleId=vehicle.id, startMs=start, endMs=start + 91 * day_ms
    )
    assert too_long.status == 400
    assert b"requested time range cannot exceed 90 days" in too_long.body
    exactly = call(
        simulator, "/v1/fleet/trips", vehicleId=vehicle.id, startMs=start - 89 * day_ms,
        endMs=start + day_ms,
    )  # fmt: skip
    assert exactly.status == 200
    trips = body(exactly)["trips"]
    assert set(body(exactly)) == {"trips"}
    days_with_data = (DAY + timedelta(days=1) - datetime(2026, 1, 1, tzinfo=UTC)).days
    assert len(trips) == 2 * days_with_data  # two drives a day since the fleet's epoch
    assert all(t["endMs"] > t["startMs"] and t["endOdometer"] >= t["startOdometer"] for t in trips)


def test_trips_match_by_overlap(simulator: SamsaraSimulator, fleet: Fleet) -> None:
    vehicle = next(v for v in fleet.vehicles if v.status == "active")
    day_ms = 86_400_000
    start = int(DAY.timestamp() * 1000)
    trip = body(
        call(
            simulator, "/v1/fleet/trips", vehicleId=vehicle.id, startMs=start, endMs=start + day_ms
        )
    )["trips"][0]
    middle = (trip["startMs"] + trip["endMs"]) // 2
    inside = call(
        simulator, "/v1/fleet/trips", vehicleId=vehicle.id, startMs=middle, endMs=middle + 60_000
    )
    assert body(inside)["trips"] == [trip]


def test_idling_events_match_by_start_time(simulator: SamsaraSimulator) -> None:
    pages = walk(simulator, "/idling/events", **window(24))
    events = [e for p in pages for e in p["data"]]
    assert events
    first = events[0]
    start = datetime.fromisoformat(first["startTime"])
    middle = start + timedelta(milliseconds=first["durationMilliseconds"] // 2)
    inside = walk(simulator, "/idling/events", **window(1 / 60, middle))
    assert first["eventUuid"] not in {e["eventUuid"] for p in inside for e in p["data"]}
    straddling = walk(simulator, "/idling/events", **window(1 / 60, start - timedelta(seconds=30)))
    assert first["eventUuid"] in {e["eventUuid"] for p in straddling for e in p["data"]}
    assert all(isinstance(e["asset"]["id"], int) for e in events)


def test_idling_windows_longer_than_three_months_are_400(simulator: SamsaraSimulator) -> None:
    response = call(simulator, "/idling/events", **window(24 * 180))
    assert body(response)["message"] == "Total duration must be less than 3 months."


def test_addresses_list_the_depots(simulator: SamsaraSimulator, fleet: Fleet) -> None:
    rows = [a for p in walk(simulator, "/addresses") for a in p["data"]]
    assert {a["formattedAddress"] for a in rows} == {v.home_city for v in fleet.vehicles}
