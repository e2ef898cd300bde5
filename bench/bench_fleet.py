"""How fast the simulated fleet generates ground truth: points per second for ~1M points.

Run from the repository root with fth-core installed (or ``PYTHONPATH=.``):
``python bench/bench_fleet.py [--vehicles N] [--days D] [--seed S]``. Every repeat uses a fresh
:class:`~fth_core.sim.fleet.Fleet`, so the points figure includes generation, not cache hits.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from fth_core.sim.fleet import Fleet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=50)
    parser.add_argument("--days", type=int, default=29, help="~1M points with 50 vehicles")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=args.days)

    best_points = best_telemetry = float("inf")
    rows = 0
    for _ in range(args.repeat):
        fleet = Fleet(args.seed, args.vehicles)
        began = time.perf_counter()
        rows = fleet.points(start, end).num_rows
        best_points = min(best_points, time.perf_counter() - began)
        # Same fleet, days now cached: the cost of building the unified-schema table alone.
        began = time.perf_counter()
        fleet.telemetry("motive", start, end)
        best_telemetry = min(best_telemetry, time.perf_counter() - began)

    print(f"fleet: {args.vehicles} vehicles x {args.days} days, seed {args.seed}")
    print(f"points():    {rows:>9,} rows in {best_points:6.3f} s = {rows / best_points:>12,.0f} /s")
    print(
        f"telemetry(): {rows:>8,} rows in {best_telemetry:6.3f} s = "
        f"{rows / best_telemetry:>12,.0f} /s (vehicle-days cached)"
    )


if __name__ == "__main__":
    main()
