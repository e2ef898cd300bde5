"""End to end: fetch + flatten from the Motive simulator over HTTP equals its ground truth."""

from __future__ import annotations

import itertools
import weakref
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import fth_motive
from fth_core.config import ProviderConfig
from fth_core.provider import Provider
from fth_core.schema import TELEMETRY_SCHEMA, concat_telemetry, split_quarantined
from fth_core.sim import Fault, Fleet, SimServer
from fth_core.spec import TelemetryBatch, Window
from fth_core.telemetry import FlatBatch, fetch_telemetry
from fth_core.testing import assert_same_telemetry
from fth_motive.endpoints import MOTIVE
from fth_motive.simulator import MotiveSimulator
from fth_motive.telemetry import (
    fetch_locations,
    fetch_roster,
    flatten_locations,
    request_days,
    split_days,
)

Simulate = Callable[..., tuple[MotiveSimulator, SimServer]]
Connect = Callable[..., Provider]

# A whole UTC day and a quarter of the next: trimming at both ends of fetched days.
WINDOW = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, 6, tzinfo=UTC))


# The windows a test fetches through one Provider belong to one run: they share its run space,
# as the pipeline's windows of a provider do.
_RUNS: weakref.WeakKeyDictionary[Provider, dict[str, Any]] = weakref.WeakKeyDictionary()


def _run(
    provider: Provider, start: datetime, end: datetime, horizon: datetime | None = None
) -> tuple[pa.Table, list[Any]]:
    run = _RUNS.setdefault(provider, {})
    batches: list[FlatBatch] = list(fetch_telemetry(provider, start, end, horizon, run=run))
    tables = [b.table for b in batches]
    table = pa.concat_tables(tables) if tables else TELEMETRY_SCHEMA.empty_table()
    return table, [f for b in batches for f in b.failures]


def _location_requests(server: SimServer) -> dict[str, list[tuple[date, date]]]:
    """Per vehicle id, the (start_date, end_date) of every location request, in order."""
    ranges: dict[str, list[tuple[date, date]]] = defaultdict(list)
    for logged in server.requests("/v3/vehicle_locations/"):
        vehicle_id = logged.path.rsplit("/", 1)[1]
        first = date.fromisoformat(logged.query["start_date"][0])
        last = date.fromisoformat(logged.query["end_date"][0])
        ranges[vehicle_id].append((first, last))
    return ranges


def _days(ranges: list[tuple[date, date]]) -> list[date]:
    return [
        first + timedelta(days=i) for first, last in ranges for i in range((last - first).days + 1)
    ]


@pytest.mark.parametrize("units_follow_vehicle", [False, True], ids=["header", "vehicle"])
def test_fetch_and_flatten_equal_ground_truth_under_both_unit_readings(
    simulate: Simulate, connect: Connect, fleet: Fleet, units_follow_vehicle: bool
) -> None:
    simulator, server = simulate(units_follow_vehicle=units_follow_vehicle)
    table, failures = _run(connect(server), *WINDOW)
    assert failures == []
    expected = simulator.expected_telemetry(*WINDOW)
    assert_same_telemetry(table, expected)  # every point once, units converted, drivers on
    metric_ids = {v.id for v in fleet.vehicles if v.metric_units and v.status == "active"}
    vehicle_ids = set(table.column("provider_vehicle_id").to_pylist())
    assert metric_ids <= vehicle_ids
    assert pc.max(table.column("speed_mph")).as_py() < 80  # not km/h
    assert table.column("driver_name").null_count < table.num_rows
    assert table.column("vin").null_count > 0  # a roster vehicle without a VIN
    assert set(table.column("engine_state").to_pylist()) == {"On", "Off", "Idle"}


def test_each_vehicle_is_asked_for_its_own_units(
    simulate: Simulate, connect: Connect, fleet: Fleet
) -> None:
    _, server = simulate()
    _run(connect(server), *WINDOW)
    requests = server.requests("/v3/vehicle_locations/")
    assert len(requests) == len(fleet.vehicles)  # deactivated vehicles are asked too
    for logged in requests:
        vehicle = fleet.vehicle(logged.path.rsplit("/", 1)[1])
        assert logged.headers["x-metric-units"] == ("true" if vehicle.metric_units else "false")


def test_each_day_is_requested_once_per_vehicle(
    simulate: Simulate, connect: Connect, fleet: Fleet
) -> None:
    _, server = simulate()
    _run(connect(server), *WINDOW)
    ranges = _location_requests(server)
    assert set(ranges) == {v.id for v in fleet.vehicles}
    # The location day zone is unknown by default: one day of margin on each side.
    wanted = _days([(date(2026, 3, 1), date(2026, 3, 4))])
    for vehicle_ranges in ranges.values():
        assert _days(vehicle_ranges) == wanted
    assert len(server.requests("/v1/vehicles")) == 1


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "Pacific/Kiritimati", "America/Chicago"])
def test_consecutive_windows_of_one_provider_download_each_day_once_and_equal_ground_truth(
    simulate: Simulate, connect: Connect, zone: str
) -> None:
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=4), location_day_zone=zone)
    provider = connect(server)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    cuts = [start + timedelta(hours=h) for h in (0, 24, 36, 48, 72)]  # a half-day window too
    tables = []
    for w_start, w_end in itertools.pairwise(cuts):
        table, failures = _run(provider, w_start, w_end)
        assert failures == []
        assert_same_telemetry(table, simulator.expected_telemetry(w_start, w_end))
        tables.append(table)
    assert_same_telemetry(pa.concat_tables(tables), simulator.expected_telemetry(cuts[0], cuts[-1]))
    # The padding days of one window are carried into the next, not downloaded again.
    for vehicle_ranges in _location_requests(server).values():
        assert _days(vehicle_ranges) == _days([(date(2026, 3, 1), date(2026, 3, 5))])


def _daily_windows(days: int) -> list[tuple[datetime, datetime]]:
    """``days`` one-day windows from 03-02."""
    start, day = datetime(2026, 3, 2, tzinfo=UTC), timedelta(days=1)
    return [(start + i * day, start + (i + 1) * day) for i in range(days)]


def _daily_run(provider: Provider, days: int) -> list[tuple[pa.Table, list[Any]]]:
    """A run of :func:`_daily_windows`, each told the run's end."""
    windows = _daily_windows(days)
    horizon = windows[-1][1]
    return [_run(provider, start, end, horizon) for start, end in windows]


def _each_window_equals_ground_truth(
    simulator: MotiveSimulator, run: list[tuple[pa.Table, list[Any]]]
) -> None:
    for (start, end), (table, failures) in zip(_daily_windows(len(run)), run, strict=True):
        assert failures == []
        assert_same_telemetry(table, simulator.expected_telemetry(start, end))


def _march(*ranges: tuple[int, int]) -> list[tuple[date, date]]:
    return [(date(2026, 3, a), date(2026, 3, b)) for a, b in ranges]


def _by_roster_place(provider: Provider, server: SimServer) -> list[list[tuple[date, date]]]:
    """Each vehicle's location requests, vehicles in roster order."""
    ranges = _location_requests(server)
    return [ranges[vehicle.id] for vehicle in fetch_roster(provider) if vehicle.id is not None]


def test_a_run_reads_ahead_so_a_week_of_windows_takes_two_or_three_requests_per_vehicle(
    simulate: Simulate, connect: Connect
) -> None:
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=4))
    provider = connect(server)
    _each_window_equals_ground_truth(simulator, _daily_run(provider, 7))
    # 03-01..03-09 (a day of margin each side). The first window reads 0 to 3 days ahead by
    # the vehicle's place in the roster, then 3 at a time: after the first window, each
    # window asks for one vehicle. Each day is downloaded once.
    assert _by_roster_place(provider, server) == [
        _march((1, 3), (4, 7), (8, 9)),
        _march((1, 4), (5, 8), (9, 9)),
        _march((1, 5), (6, 9)),
        _march((1, 6), (7, 9)),
    ]


@pytest.mark.parametrize(("budget", "ranges"), [
    # 4 vehicles: 4 vehicle-days is one day ahead each, 3 less than one (nothing ahead).
    (4, [_march((1, 3), (4, 5), (6, 6)), _march((1, 4), (5, 6))] * 2),
    (3, [_march((1, 3), (4, 4), (5, 5), (6, 6))] * 4),
    (0, [_march((1, 3), (4, 4), (5, 5), (6, 6))] * 4),
])  # fmt: skip
def test_reading_ahead_stays_within_its_vehicle_day_budget(
    simulate: Simulate, connect: Connect, budget: int, ranges: list[list[tuple[date, date]]]
) -> None:
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=4))
    provider = connect(server, options={"read_ahead_vehicle_days": budget})
    _each_window_equals_ground_truth(simulator, _daily_run(provider, 4))
    assert _by_roster_place(provider, server) == ranges


def test_a_failed_read_ahead_is_asked_again_without_the_days_past_its_window(
    simulate: Simulate, connect: Connect
) -> None:
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=2))
    provider = connect(server, max_retries=0)
    second = [v.id for v in fetch_roster(provider)][1]  # reads a day ahead in the first window
    server.inject(Fault("status", status=400, path=f"/v3/vehicle_locations/{second}"))
    _each_window_equals_ground_truth(simulator, _daily_run(provider, 3))
    # Its 03-01..03-04 failed: it asked for 03-01..03-03 alone, then read ahead as usual.
    assert _by_roster_place(provider, server) == [
        _march((1, 3), (4, 5)),
        _march((1, 4), (1, 3), (4, 5)),
    ]


def test_a_window_after_the_horizon_of_the_last_run_downloads_the_days_that_run_left_out(
    simulate: Simulate, connect: Connect
) -> None:
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=4))
    provider = connect(server)
    _each_window_equals_ground_truth(simulator, _daily_run(provider, 2))  # to 03-04 00:00
    server.clear_log()
    # The same Provider goes on past that run's end: the run read 03-04 ahead and left its
    # points out, so the next window downloads 03-04 again instead of taking the carry.
    start, end = datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)
    table, failures = _run(provider, start, end, end + timedelta(days=1))
    assert failures == []
    assert_same_telemetry(table, simulator.expected_telemetry(start, end))
    assert all(ranges[0][0] <= date(2026, 3, 4) for ranges in _by_roster_place(provider, server))


def test_a_batch_groups_many_vehicles_and_flattens_as_each_would_alone(
    simulate: Simulate, connect: Connect, fleet: Fleet
) -> None:
    _, server = simulate()
    batches = list(fetch_locations(connect(server), Window(*WINDOW, WINDOW[1])))
    groups = [batch.items for batch in batches]
    assert len(groups) < len(fleet.vehicles)  # several vehicles a batch
    assert len({h.metric for group in groups for h in group}) == 2  # mixed units in a group
    for group in groups:
        one_by_one = [split_quarantined(flatten_locations(h), "motive")[0] for h in group]
        together, _ = split_quarantined(flatten_locations(group), "motive")
        assert_same_telemetry(together, concat_telemetry(one_by_one))


def test_a_window_that_does_not_follow_the_last_one_downloads_its_own_days(
    simulate: Simulate, connect: Connect
) -> None:
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=2))
    provider = connect(server)
    day = timedelta(days=1)
    first = datetime(2026, 3, 2, tzinfo=UTC)
    _run(provider, first, first + day)
    server.clear_log()
    again, _ = _run(provider, first, first + day)  # the same window again: nothing carried
    assert_same_telemetry(again, simulator.expected_telemetry(first, first + day))
    for vehicle_ranges in _location_requests(server).values():
        assert vehicle_ranges == [(date(2026, 3, 1), date(2026, 3, 3))]


def test_a_vehicle_whose_new_days_fail_brings_none_of_its_carried_points(
    simulate: Simulate, connect: Connect
) -> None:
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=2))
    provider = connect(server, max_retries=0)
    day = timedelta(days=1)
    first = datetime(2026, 3, 2, tzinfo=UTC)
    _run(provider, first, first + day)
    server.inject(Fault("status", status=400, path="/v3/vehicle_locations/"))
    table, failures = _run(provider, first + day, first + 2 * day)
    (failure,) = failures
    failed_id = failure.subject.removeprefix("vehicle ")
    assert failed_id not in set(table.column("provider_vehicle_id").to_pylist())
    others = simulator.expected_telemetry(first + day, first + 2 * day)
    others = others.filter(pc.not_equal(others.column("provider_vehicle_id"), failed_id))
    assert_same_telemetry(table, others)


def test_a_known_day_zone_requests_exactly_the_windows_days(
    simulate: Simulate, connect: Connect
) -> None:
    simulator, server = simulate(location_day_zone="America/Chicago")
    provider = connect(server, options={"location_day_zone": "America/Chicago"})
    table, _ = _run(provider, *WINDOW)
    assert_same_telemetry(table, simulator.expected_telemetry(*WINDOW))
    # 2026-03-02T00:00Z is 03-01 18:00 in Chicago; 03-03T06:00Z (exclusive) ends 03-03 00:00.
    for vehicle_ranges in _location_requests(server).values():
        assert vehicle_ranges == [(date(2026, 3, 1), date(2026, 3, 2))]


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati"])
def test_the_default_day_margin_covers_any_location_day_zone(
    simulate: Simulate, connect: Connect, zone: str
) -> None:
    small = Fleet(seed=7, vehicles=4)
    simulator, server = simulate(fleet=small, location_day_zone=zone)
    table, _ = _run(connect(server), *WINDOW)
    assert_same_telemetry(table, simulator.expected_telemetry(*WINDOW))


def test_long_windows_are_split_into_contiguous_ranges(
    simulate: Simulate, connect: Connect
) -> None:
    small = Fleet(seed=7, vehicles=3)
    simulator, server = simulate(fleet=small)
    window = (datetime(2026, 3, 2, 12, tzinfo=UTC), datetime(2026, 3, 6, 12, tzinfo=UTC))
    table, _ = _run(connect(server, options={"max_days_per_request": 2}), *window)
    assert_same_telemetry(table, simulator.expected_telemetry(*window))
    for vehicle_ranges in _location_requests(server).values():
        assert all((last - first).days <= 1 for first, last in vehicle_ranges)
        days = _days(sorted(vehicle_ranges))
        assert days == _days([(date(2026, 3, 1), date(2026, 3, 7))])


def test_window_edges_inside_a_day_are_trimmed_exactly(
    simulate: Simulate, connect: Connect
) -> None:
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=4))
    window = (datetime(2026, 3, 2, 10, 30, 1, tzinfo=UTC), datetime(2026, 3, 2, 13, 15, tzinfo=UTC))
    table, _ = _run(connect(server), *window)
    assert table.num_rows > 0
    assert pc.min(table.column("timestamp")).as_py() >= window[0]
    assert pc.max(table.column("timestamp")).as_py() < window[1]
    assert_same_telemetry(table, simulator.expected_telemetry(*window))


def test_one_vehicle_failing_is_reported_by_id_while_the_others_arrive(
    simulate: Simulate, connect: Connect, fleet: Fleet
) -> None:
    simulator, server = simulate()
    server.inject(Fault("status", status=500, path="/v3/vehicle_locations/100017"))
    table, failures = _run(connect(server, max_retries=0), *WINDOW)
    assert len(failures) == 1
    assert failures[0].subject == "vehicle 100017"
    assert "500" in failures[0].error
    assert "2026-03-01..2026-03-04" in failures[0].error
    expected = simulator.expected_telemetry(*WINDOW)
    others = expected.filter(pc.not_equal(expected.column("provider_vehicle_id"), "100017"))
    assert_same_telemetry(table, others)


def test_a_request_that_never_gets_an_answer_is_a_failure_too(
    simulate: Simulate, connect: Connect
) -> None:
    _, server = simulate(fleet=Fleet(seed=7, vehicles=3))
    server.inject(Fault("reset", path="/v3/vehicle_locations/100034"))
    _, failures = _run(connect(server, max_retries=0), *WINDOW)
    assert [f.subject for f in failures] == ["vehicle 100034"]


def test_retried_faults_and_429s_still_give_ground_truth(
    simulate: Simulate, connect: Connect
) -> None:
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=4))
    server.inject(
        Fault("429", retry_after="0.05", path="/v3/vehicle_locations/"),
        Fault("status", status=503, path="/v3/vehicle_locations/"),
        Fault("truncate", path="/v3/vehicle_locations/"),
    )
    provider = connect(server)
    table, failures = _run(provider, *WINDOW)
    assert failures == []
    assert_same_telemetry(table, simulator.expected_telemetry(*WINDOW))
    assert provider.client().stats.rate_limited == 1


def test_offset_timestamps_across_dst_end_to_end(simulate: Simulate, connect: Connect) -> None:
    simulator, server = simulate(
        fleet=Fleet(seed=7, vehicles=4), render_time_zone="America/Chicago"
    )
    window = (datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC))
    table, _ = _run(connect(server), *window)
    assert_same_telemetry(table, simulator.expected_telemetry(*window))


def test_late_uploads_arrive_on_a_later_fetch(simulate: Simulate, connect: Connect) -> None:
    # Vehicle 100153 (index 9) has a late run in this window under seed 7.
    simulator, server = simulate(fleet=Fleet(seed=7, vehicles=10), as_of=WINDOW[1])
    early, _ = _run(connect(server), *WINDOW)
    assert_same_telemetry(early, simulator.expected_telemetry(*WINDOW))
    simulator.as_of = WINDOW[1] + timedelta(days=5)
    late, _ = _run(connect(server), *WINDOW)
    assert_same_telemetry(late, simulator.expected_telemetry(*WINDOW))
    assert late.num_rows > early.num_rows


def test_flatten_refuses_items_it_did_not_fetch(registry: Any) -> None:
    provider = Provider(MOTIVE, ProviderConfig.model_validate({"api_key": "k-1234"}), registry)
    with pytest.raises(TypeError, match="LocationHistory"):
        fth_motive.fth_flatten_telemetry(provider=provider, batch=TelemetryBatch(items=[]))


def test_settings_reject_unknown_zones_and_oversized_ranges() -> None:
    with pytest.raises(ValueError, match="IANA"):
        fth_motive.MotiveSettings(location_day_zone="Central Time (US & Canada)")
    with pytest.raises(ValueError, match="89"):
        fth_motive.MotiveSettings(max_days_per_request=90)


@pytest.mark.parametrize(
    ("start", "end", "zone", "days"),
    [
        ("2026-03-02T00:00Z", "2026-03-03T00:00Z", None, ("2026-03-01", "2026-03-03")),
        ("2026-03-02T00:00Z", "2026-03-03T00:00Z", "UTC", ("2026-03-02", "2026-03-02")),
        ("2026-03-02T05:00Z", "2026-03-02T07:00Z", "America/Chicago", ("2026-03-01", "2026-03-02")),
        ("2026-03-02T20:00Z", "2026-03-03T00:00Z", "Asia/Tokyo", ("2026-03-03", "2026-03-03")),
    ],
)
def test_request_days_cover_the_window(
    start: str, end: str, zone: str | None, days: tuple[str, str]
) -> None:
    first, last = request_days(datetime.fromisoformat(start), datetime.fromisoformat(end), zone)
    assert (first.isoformat(), last.isoformat()) == days


def test_split_days_makes_contiguous_bounded_ranges() -> None:
    ranges = split_days(date(2026, 1, 1), date(2026, 4, 30), 31)
    assert ranges[0] == (date(2026, 1, 1), date(2026, 1, 31))
    assert ranges[-1][1] == date(2026, 4, 30)
    assert len(ranges) == 4
    assert all(b - a <= timedelta(days=30) for a, b in ranges)
    assert all(nxt[0] - cur[1] == timedelta(days=1) for cur, nxt in itertools.pairwise(ranges))
    assert split_days(date(2026, 1, 1), date(2026, 1, 1), 5) == [(date(2026, 1, 1),) * 2]
