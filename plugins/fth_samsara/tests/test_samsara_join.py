"""The temporal join: engine state, odometer, driver — each rule pinned, then all of them
against a brute-force reference on random data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fth_core.join import FOREVER, NO_MATCH, covering_interval, latest_at_or_before, nearest_within
from fth_samsara.join import METERS_PER_MILE, join
from fth_samsara.telemetry import _StatsReader

MIN = 60_000_000  # one minute in µs


def i32(*values: int) -> np.ndarray[Any, np.dtype[np.int32]]:
    return np.array(values, dtype=np.int32)


def i64(*values: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.array(values, dtype=np.int64)


def run_join(
    point_vehicle: Any,
    point_time: Any,
    *,
    engine: tuple[Any, Any, Any] = ((), (), ()),
    odometer: tuple[Any, Any, Any] = ((), (), ()),
    assignments: tuple[Any, Any, Any, Any] = ((), (), (), ()),
    tolerance: int = 30 * MIN,
) -> Any:
    return join(
        np.asarray(point_vehicle, dtype=np.int32),
        np.asarray(point_time, dtype=np.int64),
        engine_vehicle=np.asarray(engine[0], dtype=np.int32),
        engine_time=np.asarray(engine[1], dtype=np.int64),
        engine_state=np.asarray(engine[2], dtype=np.int8),
        odometer_vehicle=np.asarray(odometer[0], dtype=np.int32),
        odometer_time=np.asarray(odometer[1], dtype=np.int64),
        odometer_meters=np.asarray(odometer[2], dtype=np.float64),
        assignment_vehicle=np.asarray(assignments[0], dtype=np.int32),
        assignment_start=np.asarray(assignments[1], dtype=np.int64),
        assignment_end=np.asarray(assignments[2], dtype=np.int64),
        assignment_is_passenger=np.asarray(assignments[3], dtype=bool),
        odometer_tolerance=tolerance,
    )


ON, OFF, IDLE, UNKNOWN = 0, 1, 2, -1


# --------------------------------------------------------------------------- engine state


def test_engine_state_at_the_window_start_comes_from_the_margin() -> None:
    window_start = 100 * MIN
    # The vehicle went On 20 h before the window (fetched by the margin walk) and Idle inside.
    joined = run_join(
        [0, 0, 0],
        [window_start, window_start + 5 * MIN, window_start + 20 * MIN],
        engine=([0, 0], [window_start - 1200 * MIN, window_start + 10 * MIN], [ON, IDLE]),
    )
    assert joined.engine_state.tolist() == [ON, ON, IDLE]


def test_engine_state_is_the_reading_at_the_same_instant() -> None:
    joined = run_join([0], [50 * MIN], engine=([0, 0], [10 * MIN, 50 * MIN], [OFF, IDLE]))
    assert joined.engine_state.tolist() == [IDLE]


def test_engine_state_without_an_earlier_reading_is_null() -> None:
    joined = run_join([0, 1], [5 * MIN, 5 * MIN], engine=([0, 0], [6 * MIN, 7 * MIN], [ON, OFF]))
    assert joined.engine_state.tolist() == [UNKNOWN, UNKNOWN]


def test_engine_state_never_crosses_vehicles() -> None:
    joined = run_join([1], [50 * MIN], engine=([0, 2], [10 * MIN, 20 * MIN], [ON, IDLE]))
    assert joined.engine_state.tolist() == [UNKNOWN]


def test_an_unknown_latest_state_makes_the_state_null() -> None:
    joined = run_join([0], [50 * MIN], engine=([0, 0], [10 * MIN, 40 * MIN], [ON, UNKNOWN]))
    assert joined.engine_state.tolist() == [UNKNOWN]


def test_readings_need_not_arrive_sorted() -> None:
    joined = run_join(
        [0, 0],
        [15 * MIN, 35 * MIN],
        engine=([0, 0, 0], [30 * MIN, 10 * MIN, 20 * MIN], [ON, OFF, IDLE]),
    )
    assert joined.engine_state.tolist() == [OFF, ON]


# --------------------------------------------------------------------------- odometer


def test_odometer_is_the_nearest_reading_in_miles() -> None:
    meters = [10_000 * METERS_PER_MILE, 10_010 * METERS_PER_MILE]
    joined = run_join([0, 0], [12 * MIN, 18 * MIN], odometer=([0, 0], [10 * MIN, 20 * MIN], meters))
    assert joined.odometer_miles.tolist() == pytest.approx([10_000.0, 10_010.0], rel=1e-12)


def test_odometer_at_exactly_the_tolerance_is_used_one_tick_beyond_is_null() -> None:
    tolerance = 30 * MIN
    joined = run_join(
        [0, 0, 1, 1],
        [tolerance, tolerance + 1, 100 * MIN - tolerance, 100 * MIN - tolerance - 1],
        odometer=([0, 1], [0, 100 * MIN], [1609.344, 3218.688]),
        tolerance=tolerance,
    )
    assert joined.odometer_miles[0] == pytest.approx(1.0)
    assert np.isnan(joined.odometer_miles[1])
    assert joined.odometer_miles[2] == pytest.approx(2.0)
    assert np.isnan(joined.odometer_miles[3])


def test_equally_near_odometer_readings_prefer_the_earlier() -> None:
    joined = run_join([0], [20 * MIN], odometer=([0, 0], [10 * MIN, 30 * MIN], [1000.0, 2000.0]))
    assert joined.odometer_miles[0] == pytest.approx(1000.0 / METERS_PER_MILE)


def test_no_odometer_readings_means_null_odometer() -> None:
    joined = run_join([0, 1], [10 * MIN, 10 * MIN], odometer=([1], [10 * MIN], [5000.0]))
    assert np.isnan(joined.odometer_miles[0])
    assert joined.odometer_miles[1] == pytest.approx(5000.0 / METERS_PER_MILE)


# --------------------------------------------------------------------------- driver


def test_driver_at_a_handover_is_the_incoming_driver() -> None:
    handover = 60 * MIN
    joined = run_join(
        [0, 0, 0],
        [handover - 1, handover, handover + 1],
        assignments=([0, 0], [0, handover], [handover, 120 * MIN], [False, False]),
    )
    assert joined.assignment.tolist() == [0, 1, 1]


def test_assignment_end_is_exclusive_and_gaps_have_no_driver() -> None:
    joined = run_join(
        [0, 0, 0],
        [10 * MIN, 20 * MIN, 25 * MIN],
        assignments=([0, 0], [0, 30 * MIN], [20 * MIN, 40 * MIN], [False, False]),
    )
    assert joined.assignment.tolist() == [0, NO_MATCH, NO_MATCH]


def test_overlapping_assignments_resolve_to_the_latest_start() -> None:
    # Row 0 [0, 100), row 1 [10, 50) inside it, row 2 [20, 30) inside that.
    joined = run_join(
        [0] * 6,
        [5 * MIN, 15 * MIN, 25 * MIN, 35 * MIN, 60 * MIN, 100 * MIN],
        assignments=(
            [0, 0, 0],
            [0, 10 * MIN, 20 * MIN],
            [100 * MIN, 50 * MIN, 30 * MIN],
            [False] * 3,
        ),
    )
    assert joined.assignment.tolist() == [0, 1, 2, 1, 0, NO_MATCH]


def test_equal_starts_resolve_to_the_later_end() -> None:
    joined = run_join(
        [0, 0],
        [5 * MIN, 15 * MIN],
        assignments=([0, 0], [0, 0], [20 * MIN, 10 * MIN], [False, False]),
    )
    assert joined.assignment.tolist() == [0, 0]


def test_an_ongoing_assignment_covers_everything_after_its_start() -> None:
    joined = run_join(
        [0, 0],
        [5 * MIN, 10_000 * MIN],
        assignments=([0], [1 * MIN], [FOREVER], [False]),
    )
    assert joined.assignment.tolist() == [0, 0]


def test_passenger_assignments_are_never_the_driver() -> None:
    joined = run_join(
        [0, 0],
        [15 * MIN, 45 * MIN],
        assignments=([0, 0], [0, 10 * MIN], [60 * MIN, 50 * MIN], [False, True]),
    )
    assert joined.assignment.tolist() == [0, 0]


def test_a_zero_length_assignment_covers_nothing() -> None:
    joined = run_join([0], [10 * MIN], assignments=([0], [10 * MIN], [10 * MIN], [False]))
    assert joined.assignment.tolist() == [NO_MATCH]


# --------------------------------------------------------------------------- pages


def test_a_vehicle_split_over_two_pages_is_merged_before_the_join() -> None:
    reader = _StatsReader()
    reader.read(
        [
            {
                "id": "9",
                "name": "TRK-9",
                "gps": [{"time": "2026-03-02T10:00:00Z", "latitude": 1, "longitude": 2}],
                "engineStates": [{"time": "2026-03-02T09:00:00Z", "value": "On"}],
            }
        ]
    )
    reader.read(
        [
            {
                "id": "9",
                "externalIds": {"samsara.vin": "1FTGBY0U8RP964390"},
                "gps": [
                    {"time": "2026-03-02T10:00:30.500Z", "latitude": 1, "longitude": 2},
                    {"time": "2026-03-02T09:59:30Z", "latitude": 1, "longitude": 2},
                ],
            }
        ]
    )
    assert reader.codes == {"9": 0}
    assert reader.names == ["TRK-9"]
    assert reader.vins == ["1FTGBY0U8RP964390"]
    gps, engine = reader.gps(), reader.engine()
    assert np.all(np.diff(gps.time) > 0)  # one vehicle, in time order
    joined = run_join(gps.vehicle, gps.time, engine=(engine.vehicle, engine.time, engine.value))
    assert joined.engine_state.tolist() == [ON, ON, ON]


def test_an_unknown_engine_state_on_the_bulk_path_keeps_its_value_under_a_code_of_its_own() -> None:
    reader = _StatsReader()
    reader.read(
        [
            {
                "id": "9",
                "engineStates": [
                    {"time": "2026-03-02T09:00:00Z", "value": "On"},
                    {"time": "2026-03-02T09:30:00Z", "value": "Hibernating"},
                    {"time": "2026-03-02T10:00:00Z", "value": None},
                    {"time": "2026-03-02T10:30:00Z", "value": "Hibernating"},
                ],
            }
        ]
    )
    # A null value is no state (-1); an unknown one is kept, for the quarantine to show.
    assert reader.engine().value.tolist() == [ON, 3, UNKNOWN, 3]
    assert reader.states.names.to_pylist() == ["On", "Off", "Idle", "Hibernating"]


def test_a_reading_received_twice_is_kept_once_the_last() -> None:
    reader = _StatsReader()
    for speed in (10, 20):
        reader.read(
            [
                {
                    "id": "9",
                    "gps": [
                        {
                            "time": "2026-03-02T10:00:00Z",
                            "latitude": 1,
                            "longitude": 2,
                            "speedMilesPerHour": speed,
                        }
                    ],
                }
            ]
        )
    gps = reader.gps()
    assert gps.speed_mph.to_pylist() == [20.0]


# --------------------------------------------------------------------------- against brute force


def brute_latest(pv: Any, pt: Any, rv: Any, rt: Any) -> list[int]:
    out = []
    for v, t in zip(pv.tolist(), pt.tolist(), strict=True):
        best, best_t = NO_MATCH, None
        for i, (w, s) in enumerate(zip(rv.tolist(), rt.tolist(), strict=True)):
            if w == v and s <= t and (best_t is None or s >= best_t):
                best, best_t = i, s
        out.append(best)
    return out


def brute_nearest(pv: Any, pt: Any, rv: Any, rt: Any, tol: int) -> list[int]:
    out = []
    for v, t in zip(pv.tolist(), pt.tolist(), strict=True):
        best, key = NO_MATCH, None
        for i, (w, s) in enumerate(zip(rv.tolist(), rt.tolist(), strict=True)):
            if w == v and abs(s - t) <= tol:
                rank = (abs(s - t), s)  # nearest, then earlier
                if key is None or rank < key:
                    best, key = i, rank
        out.append(best)
    return out


def brute_covering(pv: Any, pt: Any, av: Any, a_s: Any, a_e: Any) -> list[int]:
    out = []
    for v, t in zip(pv.tolist(), pt.tolist(), strict=True):
        best, key = NO_MATCH, None
        for i, (w, s, e) in enumerate(zip(av.tolist(), a_s.tolist(), a_e.tolist(), strict=True)):
            if w == v and s <= t < e and (key is None or (s, e) >= key):
                best, key = i, (s, e)
        out.append(best)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_the_vectorised_join_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_points, n_readings, vehicles = 300, 60, 5
    pv = rng.integers(0, vehicles, n_points).astype(np.int32)
    pt = rng.integers(0, 1_000, n_points).astype(np.int64)
    rv = rng.integers(0, vehicles + 1, n_readings).astype(np.int32)
    rt = rng.choice(np.arange(-200, 1_200), n_readings, replace=False).astype(np.int64)
    assert latest_at_or_before(pv, pt, rv, rt).tolist() == brute_latest(pv, pt, rv, rt)
    assert nearest_within(pv, pt, rv, rt, 40).tolist() == brute_nearest(pv, pt, rv, rt, 40)
    av = rng.integers(0, vehicles, 25).astype(np.int32)
    a_s = rng.integers(-100, 1_000, 25).astype(np.int64)
    a_e = np.where(rng.random(25) < 0.2, FOREVER, a_s + rng.integers(0, 400, 25)).astype(np.int64)
    assert covering_interval(pv, pt, av, a_s, a_e).tolist() == brute_covering(pv, pt, av, a_s, a_e)


def test_huge_spans_fall_back_to_rank_keys_and_stay_exact() -> None:
    rng = np.random.default_rng(1)
    # 1e6 vehicle codes over ~30 years of microseconds overflow vehicle * span keys.
    pv = rng.choice([0, 999_999], 200).astype(np.int32)
    pt = rng.integers(0, 10**15, 200).astype(np.int64)
    rv = rng.choice([0, 999_999], 40).astype(np.int32)
    rt = np.unique(rng.integers(0, 10**15, 40)).astype(np.int64)
    rv = rv[: len(rt)]
    assert latest_at_or_before(pv, pt, rv, rt).tolist() == brute_latest(pv, pt, rv, rt)
    tol = 10**13
    assert nearest_within(pv, pt, rv, rt, tol).tolist() == brute_nearest(pv, pt, rv, rt, tol)


def test_empty_inputs_join_to_nulls() -> None:
    joined = run_join([0, 1], [1, 2])
    assert joined.engine_state.tolist() == [UNKNOWN, UNKNOWN]
    assert np.isnan(joined.odometer_miles).all()
    assert joined.assignment.tolist() == [NO_MATCH, NO_MATCH]
    nothing = run_join([], [], engine=([0], [1], [ON]), odometer=([0], [1], [1.0]))
    assert len(nothing.engine_state) == len(nothing.odometer_miles) == 0
