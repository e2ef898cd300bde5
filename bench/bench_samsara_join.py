"""Speed of the Samsara temporal join on ~1M GPS points (the join only: no HTTP, no parsing).

Inputs come from the shared simulated fleet, as the Samsara plugin would hold them after a
fetch: GPS points of the window, engine transitions from a day before it, the simulator's OBD
odometer readings (5-10 min apart while running) and driver assignments with a passenger row
on every eighth one. Prints points per second of :func:`fth_samsara.join.join` (best of
``--repeat`` runs), and of the whole flatten (join + unified-schema columns) for reference.

    .venv/bin/python bench/bench_samsara_join.py [--points 1000000] [--vehicles 600]
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.sim import Fleet
from fth_samsara.join import ENGINE_STATE_NAMES
from fth_samsara.simulator import SamsaraSimulator
from fth_samsara.telemetry import Assignments, Gps, Readings, SamsaraBatch, flatten, join_batch

POINTS_PER_VEHICLE_DAY = 730  # about what the fleet model produces
US = 1_000_000


def us(column: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    values: np.ndarray[Any, np.dtype[np.int64]] = (
        column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    )
    return values


def build(points: int, vehicles: int) -> tuple[SamsaraBatch, float]:
    """A batch of at least ``points`` GPS points, cut to exactly that many, and build seconds."""
    started = time.perf_counter()
    fleet = Fleet(7, vehicles, id_base=281474976710000, epoch=date(2026, 1, 1))
    days = math.ceil(points / (vehicles * 0.9 * POINTS_PER_VEHICLE_DAY)) + 1
    start = datetime(2026, 3, 2, tzinfo=UTC)
    end = start + timedelta(days=days)
    gps_table = fleet.points(start, end)
    gps_table = gps_table.slice(0, points)  # sorted by vehicle: the last vehicles lose days
    end = pc.max(gps_table.column("timestamp")).as_py() + timedelta(seconds=1)
    ids = [v.id for v in fleet.vehicles]
    code = {vid: i for i, vid in enumerate(ids)}

    def codes(column: Any) -> np.ndarray[Any, np.dtype[np.int32]]:
        return np.array([code[v] for v in column.to_pylist()], dtype=np.int32)

    events = fleet.engine_events(start - timedelta(days=1), end)
    states = {name: i for i, name in enumerate(ENGINE_STATE_NAMES)}
    simulator = SamsaraSimulator(fleet)
    tolerance = 30 * 60 * US
    odo_index, odo_time, odo_meters = simulator.odometer_readings(
        int(start.timestamp() * US) - tolerance, int(end.timestamp() * US) + tolerance
    )
    shifts = fleet.assignments(start, end)
    n = shifts.num_rows
    # Passengers ride along on every eighth assignment, 10 minutes in and out.
    rider = np.arange(n) % 8 == 0
    a_vehicle = np.concatenate([codes(shifts.column("vehicle_id"))] * 2)
    a_start = np.concatenate([us(shifts.column("start")), us(shifts.column("start")) + 600 * US])
    a_end = np.concatenate([us(shifts.column("end")), us(shifts.column("end")) - 600 * US])
    keep = np.concatenate([np.ones(n, bool), rider])
    driver_ids = shifts.column("driver_id").to_pylist() * 2
    batch = SamsaraBatch(
        start=int(start.timestamp() * US),
        end=int(end.timestamp() * US),
        vehicle_ids=pa.array(ids),
        names=pa.array([v.fleet_number for v in fleet.vehicles]),
        vins=pa.array([v.vin for v in fleet.vehicles]),
        gps=Gps(
            vehicle=codes(gps_table.column("vehicle_id")),
            time=us(gps_table.column("timestamp")),
            latitude=gps_table.column("latitude").combine_chunks(),
            longitude=gps_table.column("longitude").combine_chunks(),
            speed_mph=gps_table.column("speed_mph").combine_chunks(),
            heading_degrees=gps_table.column("heading_degrees").combine_chunks(),
            location=gps_table.column("location_description").combine_chunks(),
        ),
        engine=Readings(
            codes(events.column("vehicle_id")),
            us(events.column("time")),
            np.array([states[s] for s in events.column("state").to_pylist()], dtype=np.int8),
        ),
        odometer=Readings(odo_index.astype(np.int32), odo_time, odo_meters.astype(np.float64)),
        assignments=Assignments(
            vehicle=a_vehicle[keep],
            start=a_start[keep],
            end=a_end[keep],
            is_passenger=np.concatenate([np.zeros(n, bool), np.ones(n, bool)])[keep],
            driver_id=pa.array([d for d, k in zip(driver_ids, keep, strict=True) if k]),
            driver_name=pa.array([None] * int(keep.sum()), pa.string()),
        ),
        odometer_tolerance=tolerance,
    )
    return batch, time.perf_counter() - started


def run_join(batch: SamsaraBatch) -> None:
    join_batch(batch)


def best(seconds: list[float]) -> float:
    return min(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--vehicles", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    batch, built = build(args.points, args.vehicles)
    n = len(batch.gps)
    print(
        f"inputs: {n:,} GPS points, {len(batch.engine):,} engine transitions, "
        f"{len(batch.odometer):,} odometer readings, {len(batch.assignments.start):,} "
        f"assignments, {args.vehicles} vehicles (built in {built:.1f} s)"
    )
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        run_join(batch)
        timings.append(time.perf_counter() - started)
    join_s = best(timings)
    print(f"join:    {join_s * 1000:7.1f} ms  {n / join_s:13,.0f} points/s (best of {args.repeat})")
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        flatten(batch)
        timings.append(time.perf_counter() - started)
    flat_s = best(timings)
    print(f"flatten: {flat_s * 1000:7.1f} ms  {n / flat_s:13,.0f} points/s (join + columns)")


if __name__ == "__main__":
    main()
