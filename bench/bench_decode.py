"""Decode-only throughput of one big response body: plain dicts vs the bulk path's Structs.

Renders one large page per provider with its simulator (no HTTP), then decodes the same bytes

* as dicts (``msgspec.json.decode``, the client's generic decode),
* as the plugin's typed Structs (``fth_samsara.wire`` / ``fth_motive.wire``),
* as Structs and on to columns (Samsara: the stats reader; Motive: flatten),
* as dicts and on to columns (today's code, which converts dicts to Structs first: the cost a
  caller of the untyped API pays),

and prints points per second (best of ``--repeat`` runs) for each.

    python bench/bench_decode.py [--vehicles 200] [--days 7] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from fth_core.sim import Fleet, SimRequest
from fth_motive.simulator import MotiveSimulator
from fth_motive.telemetry import LocationHistory, RosterVehicle, flatten_locations
from fth_motive.wire import LOCATIONS_PAGE_DECODER
from fth_samsara.simulator import SamsaraSimulator
from fth_samsara.telemetry import _StatsReader
from fth_samsara.wire import STATS_PAGE_DECODER

START = datetime(2026, 3, 2, tzinfo=UTC)


def best(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def samsara_page(vehicles: int, days: int) -> tuple[bytes, int]:
    """Every vehicle's gps, engineStates and obdOdometerMeters for the days, as one page."""
    simulator = SamsaraSimulator(Fleet(seed=1, vehicles=vehicles), page_readings=10**12)
    simulator.as_of = START + timedelta(days=days + 5)
    end = START + timedelta(days=days)
    data: list[Any] = []
    after: str | None = None
    while True:
        query = {
            "types": ["gps,engineStates,obdOdometerMeters"],
            "startTime": [START.isoformat()],
            "endTime": [end.isoformat()],
            "limit": ["512"],
        }
        if after:
            query["after"] = [after]
        body = msgspec.json.decode(
            simulator.handle(SimRequest("GET", "/fleet/vehicles/stats/history", query)).body
        )
        data.extend(body["data"])
        if not body["pagination"]["hasNextPage"]:
            break
        after = body["pagination"]["endCursor"]
    page = {"data": data, "pagination": {"endCursor": "", "hasNextPage": False}}
    return msgspec.json.encode(page), sum(len(r.get("gps") or ()) for r in data)


def motive_page(vehicles: int, days: int) -> tuple[bytes, int]:
    """Every vehicle's breadcrumbs for the days, as one ``vehicle_locations`` body."""
    fleet = Fleet(seed=1, vehicles=vehicles)
    simulator = MotiveSimulator(fleet)
    simulator.as_of = START + timedelta(days=days + 5)
    last = (START + timedelta(days=days - 1)).date().isoformat()
    records: list[Any] = []
    for vehicle in fleet.vehicles:
        query = {"start_date": [START.date().isoformat()], "end_date": [last]}
        request = SimRequest("GET", f"/v3/vehicle_locations/{vehicle.id}", query)
        records.extend(msgspec.json.decode(simulator.handle(request).body)["vehicle_locations"])
    return msgspec.json.encode({"vehicle_locations": records}), len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=60)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    content, points = samsara_page(args.vehicles, args.days)

    def samsara_columns(items: list[Any]) -> None:
        reader = _StatsReader()
        reader.read(items)
        reader.gps()

    samsara = {
        "dicts": lambda: msgspec.json.decode(content),
        "structs": lambda: STATS_PAGE_DECODER.decode(content),
        "structs+columns": lambda: samsara_columns(STATS_PAGE_DECODER.decode(content).data or []),
        "dicts>structs+columns": lambda: samsara_columns(msgspec.json.decode(content)["data"]),
    }
    report("samsara", content, points, samsara, args.repeat)

    content, points = motive_page(args.vehicles, args.days)
    vehicle = RosterVehicle("1", None, None, False)
    end = START + timedelta(days=args.days)

    def motive_columns(records: list[Any]) -> None:
        flatten_locations(
            LocationHistory(vehicle, START.date(), end.date(), START, end, False, records)
        )

    motive = {
        "dicts": lambda: msgspec.json.decode(content),
        "structs": lambda: LOCATIONS_PAGE_DECODER.decode(content),
        "structs+columns": lambda: motive_columns(
            [
                w.vehicle_location
                for w in LOCATIONS_PAGE_DECODER.decode(content).vehicle_locations or []
            ]
        ),
        "dicts>structs+columns": lambda: motive_columns(
            [w["vehicle_location"] for w in msgspec.json.decode(content)["vehicle_locations"]]
        ),
    }
    report("motive", content, points, motive, args.repeat)


def report(
    name: str, content: bytes, points: int, runs: dict[str, Callable[[], Any]], repeat: int
) -> None:
    print(f"{name:>8}: one page of {points:,} GPS points, {len(content) / 1e6:,.0f} MB")
    for label, run in runs.items():
        seconds = best(run, repeat)
        print(f"{'':>10}{label:<22} {points / seconds:>12,.0f} points/s ({seconds:.2f} s)")


if __name__ == "__main__":
    main()
