"""The Motive simulator answers like the real API (PROVIDERS.md §1), over real HTTP."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pyarrow.compute as pc
import pytest

from fth_core.sim import Fault, Fleet, SimRequest, SimServer
from fth_motive.conventions import KM_PER_MILE, engine_states
from fth_motive.simulator import MotiveSimulator

Simulate = Callable[..., tuple[MotiveSimulator, SimServer]]
KEY = {"X-Api-Key": "sim-key"}


def _get(
    server: SimServer, path: str, headers: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    return httpx.get(
        server.base_url + path, params=params, headers=KEY if headers is None else headers
    )


def _locations(
    server: SimServer, vehicle_id: str, first: str, last: str, **headers: str
) -> list[dict[str, Any]]:
    response = _get(
        server,
        f"/v3/vehicle_locations/{vehicle_id}",
        {**KEY, **headers},
        start_date=first,
        end_date=last,
    )
    assert response.status_code == 200, response.text
    return [r["vehicle_location"] for r in response.json()["vehicle_locations"]]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "nope"}, {"Authorization": "sim-key"}])
def test_a_missing_or_wrong_key_is_the_exact_401(
    simulate: Simulate, headers: dict[str, str]
) -> None:
    _, server = simulate()
    response = _get(server, "/v1/vehicles", headers)
    assert response.status_code == 401
    assert response.json() == {"error_message": "invalid API key"}


def test_the_key_header_name_is_case_insensitive(simulate: Simulate) -> None:
    _, server = simulate()
    assert _get(server, "/v1/users", {"x-api-key": "sim-key"}).status_code == 200


def test_lists_are_wrapped_and_paged_with_an_echoed_block(simulate: Simulate, fleet: Fleet) -> None:
    _, server = simulate()
    body = _get(server, "/v1/vehicles", per_page=5, page_no=2).json()
    assert body["pagination"] == {"per_page": 5, "page_no": 2, "total": len(fleet.vehicles)}
    assert [list(r) for r in body["vehicles"]] == [["vehicle"]] * 5
    default = _get(server, "/v1/users").json()["pagination"]
    assert default["per_page"] == 25


def test_per_page_is_capped_at_100_and_the_echo_says_so(simulate: Simulate) -> None:
    _, server = simulate(fleet=Fleet(seed=3, vehicles=130))
    body = _get(server, "/v1/vehicles", per_page=500).json()
    assert body["pagination"]["per_page"] == 100
    assert len(body["vehicles"]) == 100


def test_a_page_past_the_end_is_empty_with_the_block_intact(simulate: Simulate) -> None:
    _, server = simulate()
    body = _get(server, "/v1/groups", per_page=50, page_no=2100).json()
    total = len(_get(server, "/v1/groups", per_page=100).json()["groups"])
    assert body == {"groups": [], "pagination": {"per_page": 50, "page_no": 2100, "total": total}}


def test_walking_small_pages_lists_every_vehicle_once_in_every_status(
    simulate: Simulate, fleet: Fleet
) -> None:
    _, server = simulate()
    seen: list[dict[str, Any]] = []
    page = 1
    while True:
        body = _get(server, "/v1/vehicles", per_page=3, page_no=page).json()
        seen += [r["vehicle"] for r in body["vehicles"]]
        if page * body["pagination"]["per_page"] >= body["pagination"]["total"]:
            break
        page += 1
    assert sorted(v["id"] for v in seen) == sorted(int(v.id) for v in fleet.vehicles)
    assert {v["status"] for v in seen} == {"active", "deactivated"}
    assert any(v["vin"] is None for v in seen)
    assert any(v["metric_units"] for v in seen)


def test_a_one_day_location_request_returns_that_whole_utc_day(
    simulate: Simulate, fleet: Fleet
) -> None:
    _, server = simulate()
    records = _locations(server, "100017", "2026-03-02", "2026-03-02")
    stamps = sorted(_utc(r["located_at"]) for r in records)
    assert stamps[0] == datetime(2026, 3, 2, tzinfo=UTC)  # parked points at :00, :10, ...
    assert stamps[-1] >= datetime(2026, 3, 2, 23, 50, tzinfo=UTC)
    assert stamps[-1] < datetime(2026, 3, 3, tzinfo=UTC)
    expected = fleet.points(
        datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC),
        vehicle_ids=["100017"], as_of=datetime(2026, 4, 1, tzinfo=UTC),
    )  # fmt: skip
    assert len(records) == expected.num_rows


def test_end_date_is_inclusive(simulate: Simulate) -> None:
    _, server = simulate()
    one = _locations(server, "100000", "2026-03-02", "2026-03-02")
    two = _locations(server, "100000", "2026-03-02", "2026-03-03")
    assert len(two) > len(one)
    assert max(_utc(r["located_at"]) for r in two).date() == date(2026, 3, 3)


def test_location_days_follow_the_location_day_zone_knob(simulate: Simulate) -> None:
    _, server = simulate(location_day_zone="America/Chicago")
    records = _locations(server, "100000", "2026-03-02", "2026-03-02")
    stamps = [_utc(r["located_at"]) for r in records]
    # Central Standard Time: the local day runs 06:00Z to 06:00Z.
    assert min(stamps) == datetime(2026, 3, 2, 6, tzinfo=UTC)
    assert max(stamps) < datetime(2026, 3, 3, 6, tzinfo=UTC)


def test_location_requests_are_capped_at_three_months(simulate: Simulate, fleet: Fleet) -> None:
    _, server = simulate()
    retired = next(v for v in fleet.vehicles if v.status == "deactivated")
    # Exactly three calendar months is accepted (a deactivated vehicle keeps the answer small).
    assert _locations(server, retired.id, "2026-01-31", "2026-04-30") == []
    response = _get(
        server, f"/v3/vehicle_locations/{retired.id}", start_date="2026-01-31",
        end_date="2026-05-01",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json() == {"error_message": "Date range cannot be greater than 3 months"}


def test_driving_periods_are_capped_at_30_days(simulate: Simulate) -> None:
    _, server = simulate()
    ok = _get(server, "/v1/driving_periods", start_date="2026-02-01", end_date="2026-03-03")
    assert ok.status_code == 200
    response = _get(server, "/v1/driving_periods", start_date="2026-02-01", end_date="2026-03-04")
    assert response.status_code == 400
    assert response.json() == {"error_message": "Date range cannot be greater than 30 days"}


def test_idle_events_have_no_range_cap(simulate: Simulate) -> None:
    _, server = simulate()
    response = _get(server, "/v1/idle_events", start_date="2026-01-01", end_date="2026-02-05")
    assert response.status_code == 200
    assert response.json()["pagination"]["total"] > 0


def test_missing_or_malformed_dates_are_400s(simulate: Simulate) -> None:
    _, server = simulate()
    cases: list[dict[str, Any]] = [
        {},
        {"start_date": "2026-03-02"},
        {"start_date": "03/02/2026", "end_date": "2026-03-02"},
    ]
    for params in cases:
        response = _get(server, "/v1/driving_periods", **params)
        assert response.status_code == 400
        assert set(response.json()) == {"error_message"}
    backwards = _get(server, "/v1/idle_events", start_date="2026-03-03", end_date="2026-03-02")
    assert backwards.status_code == 400


def test_unknown_paths_and_vehicles_are_404s(simulate: Simulate) -> None:
    _, server = simulate()
    assert _get(server, "/v1/nothing").status_code == 404
    response = _get(server, "/v3/vehicle_locations/42", start_date="2026-03-02",
                    end_date="2026-03-02")  # fmt: skip
    assert response.status_code == 404


def test_units_follow_the_header_by_default(simulate: Simulate, fleet: Fleet) -> None:
    _, server = simulate()
    metric = next(v for v in fleet.vehicles if v.metric_units and v.status == "active")
    imperial = _locations(server, metric.id, "2026-03-02", "2026-03-02", **{
        "X-Metric-Units": "false"})  # fmt: skip
    kilometres = _locations(server, metric.id, "2026-03-02", "2026-03-02", **{
        "X-Metric-Units": "true"})  # fmt: skip
    fastest = max(range(len(imperial)), key=lambda i: imperial[i]["speed"])
    assert kilometres[fastest]["speed"] == pytest.approx(imperial[fastest]["speed"] * KM_PER_MILE)
    odometer = imperial[fastest]["true_odometer"] or imperial[fastest]["odometer"]
    km = kilometres[fastest]["true_odometer"] or kilometres[fastest]["odometer"]
    assert km == pytest.approx(odometer * KM_PER_MILE)


def test_units_follow_the_vehicle_with_the_knob(simulate: Simulate, fleet: Fleet) -> None:
    _, plain = simulate()
    _, follow = simulate(units_follow_vehicle=True)
    metric = next(v for v in fleet.vehicles if v.metric_units and v.status == "active")
    asked_imperial = _locations(follow, metric.id, "2026-03-02", "2026-03-02", **{
        "X-Metric-Units": "false"})  # fmt: skip
    asked_metric = _locations(plain, metric.id, "2026-03-02", "2026-03-02", **{
        "X-Metric-Units": "true"})  # fmt: skip
    assert [r["speed"] for r in asked_imperial] == [r["speed"] for r in asked_metric]


def test_rendered_location_types_give_back_the_fleets_engine_state(
    simulate: Simulate, fleet: Fleet
) -> None:
    simulator, _ = simulate()
    start, end = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)
    for vehicle in fleet.vehicles[:6]:
        records = simulator._render_locations(vehicle, start, end, metric=vehicle.metric_units)
        truth = fleet.points(start, end, vehicle_ids=[vehicle.id], as_of=simulator.now())
        speeds = np.array([r["speed"] for r in records], dtype=float)
        derived = engine_states([r["type"] for r in records], speeds).to_pylist()
        assert derived == truth.column("engine_state").to_pylist()
        assert {r["type"] for r in records} >= {"gps_stopped", "breadcrumb", "vehicle_moving"}


def test_locations_carry_null_drivers_and_some_null_true_odometers(simulate: Simulate) -> None:
    _, server = simulate()
    records = _locations(server, "100000", "2026-03-02", "2026-03-02")
    assert any(r["driver"] is None for r in records)
    with_driver = next(r for r in records if r["driver"] is not None)
    assert set(with_driver["driver"]) == {
        "id", "first_name", "last_name", "username", "email", "driver_company_id", "status",
        "role",
    }  # fmt: skip
    fallback = [r for r in records if r["true_odometer"] is None]
    assert fallback
    assert all(r["odometer"] is not None for r in fallback)


def test_render_time_zone_writes_offsets_that_mean_the_same_instants(simulate: Simulate) -> None:
    _, utc = simulate()
    _, local = simulate(render_time_zone="America/Chicago")
    plain = _locations(utc, "100000", "2026-03-08", "2026-03-08")
    shifted = _locations(local, "100000", "2026-03-08", "2026-03-08")
    assert shifted[0]["located_at"].endswith("-06:00")
    assert shifted[-1]["located_at"].endswith("-05:00")  # after the spring-forward
    assert [_utc(r["located_at"]) for r in shifted] == [_utc(r["located_at"]) for r in plain]


def test_late_points_appear_once_the_clock_passes_their_upload(fleet: Fleet) -> None:
    day = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    late = fleet.points(*day, as_of=datetime(2026, 4, 1, tzinfo=UTC))
    early = fleet.points(*day, as_of=day[1])
    counts_late = Counter(late.column("vehicle_id").to_pylist())
    counts_early = Counter(early.column("vehicle_id").to_pylist())
    vehicle_id = next(v for v in counts_late if counts_late[v] != counts_early[v])
    vehicle = fleet.vehicle(vehicle_id)
    now = MotiveSimulator(fleet, as_of=day[1])._render_locations(vehicle, *day, metric=False)
    later = MotiveSimulator(fleet, as_of=datetime(2026, 4, 1, tzinfo=UTC))._render_locations(
        vehicle, *day, metric=False
    )
    assert len(later) > len(now)


def test_driving_periods_match_by_start_on_utc_days_newest_first(simulate: Simulate) -> None:
    _, server = simulate()
    body = _get(server, "/v1/driving_periods", {**KEY, "X-Metric-Units": "false"},
                start_date="2026-03-02", end_date="2026-03-02", per_page=100).json()  # fmt: skip
    records = [r["driving_period"] for r in body["driving_periods"]]
    starts = [_utc(r["start_time"]) for r in records]
    assert starts == sorted(starts, reverse=True)
    assert all(s.date() == date(2026, 3, 2) for s in starts)
    assert all(r["status"] == "complete" and r["end_time"] for r in records)
    assert all(r["distance"].endswith(" mi") for r in records)
    metric = _get(server, "/v1/driving_periods", {**KEY, "X-Metric-Units": "true"},
                  start_date="2026-03-02", end_date="2026-03-02", per_page=100).json()  # fmt: skip
    assert all(r["driving_period"]["distance"].endswith(" km") for r in metric["driving_periods"])


def test_a_drive_under_way_is_in_progress_with_null_end_fields(
    simulate: Simulate, fleet: Fleet
) -> None:
    events = fleet.engine_events(
        datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC), vehicle_ids=["100000"]
    )
    first_drive = events.filter(pc.equal(events.column("state"), "On")).column("time")[0].as_py()
    _, server = simulate(as_of=first_drive + timedelta(minutes=20))
    body = _get(server, "/v1/driving_periods", start_date="2026-03-02", end_date="2026-03-02",
                per_page=100).json()  # fmt: skip
    mine = [r["driving_period"] for r in body["driving_periods"]
            if r["driving_period"]["vehicle"]["id"] == 100000]  # fmt: skip
    assert len(mine) == 1
    (drive,) = mine
    assert drive["status"] == "in_progress"
    assert drive["duration"] == pytest.approx(1200.0)
    for key in ("end_time", "end_kilometers", "destination_lat", "destination_lon", "distance"):
        assert drive[key] is None
    assert drive["destination"] == ""


def test_idle_events_overlap_company_local_days_oldest_end_first(
    simulate: Simulate, fleet: Fleet
) -> None:
    _, server = simulate(company_time_zone="America/Chicago")
    body = _get(server, "/v1/idle_events", start_date="2026-03-02", end_date="2026-03-02",
                per_page=100).json()  # fmt: skip
    records = [r["idle_event"] for r in body["idle_events"]]
    ends = [_utc(r["end_time"]) for r in records]
    assert ends == sorted(ends)
    # Central Standard Time: the local day runs 06:00Z to 06:00Z.
    low, high = datetime(2026, 3, 2, 6, tzinfo=UTC), datetime(2026, 3, 3, 6, tzinfo=UTC)
    events = fleet.engine_events(low - timedelta(days=1), high + timedelta(days=1)).to_pylist()
    expected = {
        (e["vehicle_id"], e["time"])
        for e, after in itertools.pairwise(events)
        if e["state"] == "Idle" and e["time"] < high and after["time"] > low
    }
    got = {(str(r["vehicle"]["id"]), _utc(r["start_time"])) for r in records}
    assert got == expected
    assert {r["end_type"] for r in records} <= {"engine_stop", "vehicle_moving"}


def test_utilization_lists_the_whole_fleet_with_zeroed_rows(
    simulate: Simulate, fleet: Fleet
) -> None:
    _, server = simulate()
    body = _get(server, "/v2/vehicle_utilization", start_date="2026-03-02",
                end_date="2026-03-02", per_page=100).json()  # fmt: skip
    rows = [r["vehicle_utilization"] for r in body["vehicle_utilizations"]]
    assert len(rows) == len(fleet.vehicles)
    retired = [r for r in rows if r["last_located_at"] is None]
    assert retired
    assert all(r["total_distance"] == 0.0 and r["message"] for r in retired)
    busy = [r for r in rows if r["last_located_at"] is not None]
    assert all(r["total_distance"] > 0 and r["driving_time"] > 0 for r in busy)
    assert _get(server, "/v2/vehicle_utilization").status_code == 200  # default window


def test_rate_limits_answer_with_motives_429(simulate: Simulate) -> None:
    _, server = simulate(server={"rate_limit": 1.0, "burst": 1})
    assert _get(server, "/v1/groups").status_code == 200
    response = _get(server, "/v1/groups")
    assert response.status_code == 429
    assert response.json() == {"error_message": "Too Many Requests"}
    assert float(response.headers["Retry-After"]) > 0


def test_the_429_can_come_without_retry_after(simulate: Simulate) -> None:
    simulator, _ = simulate(retry_after_header=False)
    response = simulator.rate_limited(0.5)
    assert response.status == 429
    assert "Retry-After" not in response.headers


def test_faults_come_from_the_core_runner(simulate: Simulate) -> None:
    _, server = simulate()
    server.inject(Fault("status", status=503, path="/v1/users"))
    assert _get(server, "/v1/users").status_code == 503
    assert _get(server, "/v1/users").status_code == 200


def test_the_handler_is_a_plain_function_of_the_request(fleet: Fleet) -> None:
    simulator = MotiveSimulator(fleet, as_of=datetime(2026, 4, 1, tzinfo=UTC))
    request = SimRequest("GET", "/v1/vehicles", {"per_page": ["2"]}, {"x-api-key": "sim-key"})
    response = simulator(request)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
