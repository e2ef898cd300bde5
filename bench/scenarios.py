"""The benchmark scenarios of the pipeline, with their targets printed PASS/FAIL.

Run from the repository root with the plugins installed (``make bench`` does it)::

    python bench/scenarios.py [A B C D E] [--quick] [--results bench/results.json]

Every scenario runs the real ``fth run`` in a process of its own against the provider
simulators, each in a process of its own (see :mod:`rig`), and checks the stored dataset
against the simulators' ground truth. A to D run Motive and Samsara; E runs Geotab.

A. API-bound: latency and the providers' quotas on, enforced by the simulators. The floor of a
   provider is max(requests / allowed rate, requests x latency / concurrency), with the rate
   taken per quota tier; the run's floor is the slower provider's. Target: wall <= 1.2 x floor
   with no row lost.
B. CPU-bound: no latency, no quotas. Target: >= 250,000 rows per CPU-second of the fth process.
C. Incremental: a one-day run on 7 and on 365 days of history. Target: time ratio <= 1.2.
D. Memory: 7-day and 90-day backfills. Target: peak RSS ratio <= 1.3.
E. Geotab: 200 devices, 7 days, 100 ms latency, the simulator enforcing Geotab's own limits
   per minute and per (method, type) — GetFeed 60, Get and GetCountOf 600, Authenticate 10 —
   with OverLimitException. The floor is max over (method, type) of the whole minutes its
   calls must wait, (ceil(calls / limit) - 1) x 60 s, and calls x latency / concurrency.
   Target: wall <= 1.2 x floor with no row lost. Beside it, rows per CPU-second of each
   provider alone (no latency, no quotas), for Motive, Samsara and Geotab side by side.

``--quick`` shrinks every scenario to a smoke run (CI runs it through ``make bench-quick``):
it checks that each completes and stores exactly the ground truth, not the timings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).parent))

from rig import Comparison, FthRun, ServerQuota, SimSpec, SimStats, Simulators, compare, run_fth

from fth_core.store import DatasetStore
from fth_geotab.wire import LIMITS_PER_MINUTE

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
MB = 1024 * 1024


@dataclass
class Sizes:
    """How big each scenario is; ``--quick`` swaps in the small set."""

    a_vehicles: int = 200
    a_days: int = 7
    a_latency_ms: float = 100.0
    b_vehicles: int = 210  # 2.0M GPS points over both providers
    b_days: int = 7
    b_repeats: int = 5
    c_vehicles: int = 10
    c_history: tuple[int, int] = (7, 365)
    c_repeats: int = 5
    d_vehicles: int = 20
    d_days: tuple[int, int] = (7, 90)
    e_vehicles: int = 200
    e_days: int = 7
    e_cpu_vehicles: int = 100  # each provider alone, for rows per CPU-second
    e_repeats: int = 3


QUICK = Sizes(
    a_vehicles=4,
    a_days=2,
    a_latency_ms=10.0,
    b_vehicles=3,
    b_days=2,
    b_repeats=1,
    c_vehicles=2,
    c_history=(2, 20),
    c_repeats=1,
    d_vehicles=2,
    d_days=(2, 5),
    e_vehicles=4,
    e_days=2,
    e_cpu_vehicles=2,
    e_repeats=1,
)


@dataclass
class Result:
    """One scenario's figures and its target's verdict."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    passed: bool = False
    exact: bool = False  # the dataset equals ground truth

    def line(self, label: str, value: Any) -> None:
        self.figures[label] = value
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"
        print(f"  {label:<34} {shown}")


def _check(result: Result, comparison: Comparison, run: FthRun) -> None:
    result.exact = comparison.exact and run.exit_code == 0
    result.line("rows stored", comparison.stored)
    result.line("rows lost", comparison.lost)
    result.line("rows extra or duplicated", comparison.extra + comparison.duplicates)
    if comparison.mismatch:
        print(f"  MISMATCH: {comparison.mismatch}")
    if run.exit_code != 0:
        print(f"  fth run exited {run.exit_code}: {run.stderr.strip()[-500:]}")


def _verdict(result: Result, passed: bool, target: str) -> Result:
    result.passed = passed and result.exact
    result.target = target
    print(f"  {'PASS' if result.passed else 'FAIL'}: {target}")
    return result


def _no_quota() -> dict[str, Any]:
    """Client settings that take the plugin quotas out of the way (scenarios B to D)."""
    return {"rate_limit": {"requests_per_second": 10_000, "burst": 1000}}


# -- A ---------------------------------------------------------------------------------------
MOTIVE_QUOTA = ServerQuota(rate=20, burst=5, max_in_flight=10)
SAMSARA_QUOTA = ServerQuota(
    rate=150,
    burst=5,
    path_limits={
        "/fleet/vehicles": 25,
        "/fleet/drivers": 5,
        "/fleet/driver-vehicle-assignments": 5,
    },
)
# The client told the Motive limits, as an operator who knows them would; Samsara's defaults
# (150/s, tiers declared on its endpoints) already match.
A_CLIENT = {
    "motive": {"rate_limit": {"requests_per_second": 20, "burst": 1}, "max_concurrency": 10}
}
A_CONCURRENCY = {"motive": 10, "samsara": 8}


def scenario_a(sizes: Sizes, tmp: Path) -> Result:
    result = Result("A")
    end = DAY0 + timedelta(days=sizes.a_days)
    specs = [
        SimSpec(
            name,
            sizes.a_vehicles,
            seed,
            end + timedelta(days=3),
            latency_ms=sizes.a_latency_ms,
            quota=quota,
        )
        for name, seed, quota in (("motive", 11, MOTIVE_QUOTA), ("samsara", 12, SAMSARA_QUOTA))
    ]
    print(
        f"A. API-bound: {sizes.a_vehicles} vehicles per provider, {sizes.a_days} days, "
        f"{sizes.a_latency_ms:g} ms latency, quotas on"
    )
    with Simulators(specs) as sims:
        config = sims.write_config(
            tmp / "a.yaml",
            tmp / "a-dataset",
            A_CLIENT,
            default_start_date=DAY0.date().isoformat(),
        )
        run = run_fth(config, "--end", end.isoformat())
        stats = sims.stats()
        floors = {}
        for spec in specs:
            served = stats[spec.provider]
            tiers = [served.accepted / (spec.quota.rate or float("inf"))]
            tiers += [
                served.by_path.get(path, 0) / rate for path, rate in spec.quota.path_limits.items()
            ]
            latency_bound = served.accepted * spec.latency_ms / 1000 / A_CONCURRENCY[spec.provider]
            floors[spec.provider] = max(*tiers, latency_bound)
            result.line(f"{spec.provider} requests", served.accepted)
            result.line(f"{spec.provider} 429s received", served.refused)
            result.line(f"{spec.provider} floor s", round(floors[spec.provider], 2))
            provider = run.summary.get("providers", {}).get(spec.provider, {})
            result.line(f"{spec.provider} rows", provider.get("rows_fetched", 0))
        _simulator_cpu(result, stats)
        floor = max(floors.values())
        result.line("run floor s", round(floor, 2))
        result.line("wall s", round(run.wall_seconds, 2))
        result.line("wall / floor", round(run.wall_seconds / floor, 3))
        _check(result, compare(tmp / "a-dataset", sims.truth(DAY0, end, tmp)), run)
    return _verdict(result, run.wall_seconds <= 1.2 * floor, "wall <= 1.2 x floor, 0 rows lost")


# -- B ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    """One backfill run, its dataset, and what the simulators served for it at what cost."""

    run: FthRun
    dataset: Path
    simulators: dict[str, SimStats]


@dataclass(frozen=True)
class Backfill:
    kept: Attempt  # the run using the least CPU
    comparison: Comparison  # its dataset against ground truth
    rendering: Attempt | None  # with replay: the first run, while the simulators rendered


def _backfill(
    tmp: Path,
    tag: str,
    vehicles: int,
    days: int,
    repeats: int = 1,
    *,
    replay: bool = False,
    providers: tuple[tuple[str, int], ...] = (("motive", 21), ("samsara", 22)),
) -> Backfill:
    """``fth run`` of ``days`` from DAY0 on an empty dataset, no latency, no quotas; with
    ``repeats``, the run using the least CPU of that many (each on an empty dataset), since
    CPU time on a shared machine varies from run to run: identical runs of B took 4.0 to 6.3
    CPU-s within an hour here, and the same decoding loop 0.9 to 1.4 us a point from one
    second to the next. With ``replay`` the simulators answer from memory (see
    :func:`rig._replaying`) after one more run first, in which they render every answer."""
    end = DAY0 + timedelta(days=days)
    specs = [
        SimSpec(name, vehicles, seed, end + timedelta(days=3), own_limits=False, replay=replay)
        for name, seed in providers
    ]
    with Simulators(specs) as sims:
        attempts = []
        for attempt in range(repeats + replay):
            dataset = tmp / f"{tag}-dataset-{attempt}"
            config = sims.write_config(
                tmp / f"{tag}.yaml",
                dataset,
                {name: _no_quota() for name in sims.specs},
                default_start_date=DAY0.date().isoformat(),
            )
            sims.reset()
            run = run_fth(config, "--end", end.isoformat())
            # The simulators' cost of serving this run, measured over the same moments.
            attempts.append(Attempt(run, dataset, sims.stats()))
        truth = sims.truth(DAY0, end, tmp)
    rendering = attempts.pop(0) if replay else None
    kept = min(attempts, key=lambda attempt: attempt.run.cpu_seconds)
    return Backfill(kept, compare(kept.dataset, truth), rendering)


def _simulator_cpu(result: Result, stats: dict[str, SimStats], when: str = "") -> None:
    for name, served in stats.items():
        result.line(f"{name} simulator CPU s{when}", round(served.cpu_seconds, 2))


def _reference_cpu() -> float:
    """CPU-s to decode a fixed 40 MB JSON document into Python objects (best of 3): the
    machine's speed of the moment for work like fth's, to compare B's figures across days.
    On this machine it has varied within a day; a pure-Python loop does not show it (it stayed
    at 0.13 s while decoding and fth's runs took 1.5x longer), memory-bound work does."""
    point = {"located_at": "2026-03-02T10:00:00Z", "lat": 41.5, "lon": -87.25, "type": "x"}
    document = msgspec.json.encode([{**point, "id": i} for i in range(400_000)])
    times = []
    for _ in range(3):
        began = time.process_time()
        msgspec.json.decode(document)
        times.append(time.process_time() - began)
    return min(times)


def scenario_b(sizes: Sizes, tmp: Path) -> Result:
    result = Result("B")
    print(
        f"B. CPU-bound: {sizes.b_vehicles} vehicles per provider, {sizes.b_days} days, "
        "no latency, no quotas"
    )
    result.line("reference decode CPU s (before)", round(_reference_cpu(), 3))
    done = _backfill(tmp, "b", sizes.b_vehicles, sizes.b_days, sizes.b_repeats, replay=True)
    run = done.kept.run
    result.line("reference decode CPU s (after)", round(_reference_cpu(), 3))
    result.line("rows written", int(run.summary.get("rows_written", 0)))
    if done.rendering is not None:
        result.line("fth CPU s, simulators rendering", round(done.rendering.run.cpu_seconds, 2))
        _simulator_cpu(result, done.rendering.simulators, ", rendering")
    label = f"fth CPU s (user + sys, best of {sizes.b_repeats}, replaying)"
    result.line(label, round(run.cpu_seconds, 2))
    rate = done.comparison.stored / run.cpu_seconds
    result.line("rows per CPU-second", round(rate))
    result.line("peak RSS MB", round(run.peak_rss / MB, 1))
    result.line("wall s", round(run.wall_seconds, 2))
    _simulator_cpu(result, done.kept.simulators, ", replaying")
    _check(result, done.comparison, run)
    return _verdict(result, rate >= 250_000, ">= 250,000 rows per CPU-second")


# -- C ---------------------------------------------------------------------------------------
def _history(sims: Simulators, dataset: Path, days: int, tmp: Path) -> None:
    """Write ``days`` of ground truth before DAY0 straight into the store, as earlier runs
    would have, and set both watermarks to DAY0."""
    store = DatasetStore(dataset)
    chunk = 30
    for first in range(days, 0, -chunk):
        start = DAY0 - timedelta(days=first)
        stop = min(start + timedelta(days=chunk), DAY0)
        store.merge(sims.truth(start, stop, tmp))
    for name in sims.specs:
        store.set_watermark(name, DAY0)


def scenario_c(sizes: Sizes, tmp: Path) -> Result:
    result = Result("C")
    history = sizes.c_history
    print(
        f"C. Incremental: a 1-day run (1-day lookback) on {history[0]} and {history[1]} days "
        f"of history, {sizes.c_vehicles} vehicles per provider, best of {sizes.c_repeats}"
    )
    end = DAY0 + timedelta(days=1)
    epoch = (DAY0 - timedelta(days=history[1] + 1)).date()
    specs = [
        SimSpec(name, sizes.c_vehicles, seed, end + timedelta(days=3), epoch=epoch)
        for name, seed in (("motive", 31), ("samsara", 32))
    ]
    walls: dict[int, list[float]] = {days: [] for days in history}
    exact = True
    with Simulators(specs) as sims:
        truth = sims.truth(DAY0 - timedelta(days=1), end, tmp)
        for days in history:
            _history(sims, tmp / f"c-history-{days}", days, tmp)
        # The two histories take turns, so a drift in the machine's speed (it wanders here)
        # weighs on both sides of the ratio alike.
        for attempt in range(sizes.c_repeats):
            for days in history:
                # A hard-linked copy: every write replaces files, so the base stays as it is.
                dataset = tmp / f"c-{days}-{attempt}"
                shutil.copytree(tmp / f"c-history-{days}", dataset, copy_function=os.link)
                config = sims.write_config(
                    tmp / f"c-{days}.yaml",
                    dataset,
                    {name: _no_quota() for name in sims.specs},
                    lookback_days=1,
                )
                run = run_fth(config, "--end", end.isoformat())
                walls[days].append(run.wall_seconds)
                touched = compare(dataset, truth, (DAY0.date() - timedelta(days=1), DAY0.date()))
                exact = exact and touched.exact and run.exit_code == 0
                if not touched.exact or run.exit_code:
                    _check(result, touched, run)
                shutil.rmtree(dataset)
    times = {days: min(walls[days]) for days in history}
    for days in history:
        result.line(f"{days}-day history: incremental run s", round(times[days], 3))
    ratio = times[history[1]] / times[history[0]]
    result.line("ratio", round(ratio, 3))
    result.exact = exact
    return _verdict(result, ratio <= 1.2, f"{history[1]}-day / {history[0]}-day time <= 1.2")


# -- D ---------------------------------------------------------------------------------------
def scenario_d(sizes: Sizes, tmp: Path) -> Result:
    result = Result("D")
    short, long = sizes.d_days
    print(f"D. Memory: {short}- and {long}-day backfills, {sizes.d_vehicles} vehicles per provider")
    peaks = {}
    exact = True
    for days in (short, long):
        done = _backfill(tmp, f"d{days}", sizes.d_vehicles, days)
        run = done.kept.run
        peaks[days] = run.peak_rss
        result.line(f"{days}-day backfill rows", done.comparison.stored)
        result.line(f"{days}-day backfill peak RSS MB", round(run.peak_rss / MB, 1))
        result.line(f"{days}-day backfill wall s", round(run.wall_seconds, 2))
        if not done.comparison.exact or run.exit_code:
            _check(result, done.comparison, run)
        exact = exact and done.comparison.exact and run.exit_code == 0
    ratio = peaks[long] / peaks[short]
    result.line("peak RSS ratio", round(ratio, 3))
    result.exact = exact
    return _verdict(result, ratio <= 1.3, f"{long}-day / {short}-day peak RSS <= 1.3")


# -- E ---------------------------------------------------------------------------------------
GEOTAB_CONCURRENCY = 8  # the plugin's requests in flight


def _geotab_floor(result: Result, served: SimStats, latency_ms: float) -> float:
    """The least wall time Geotab's per-minute limits and the latency allow these calls."""
    waits = []
    for call, count in sorted(served.by_call.items()):
        limit = LIMITS_PER_MINUTE[call.split(".")[0]]
        waits.append((math.ceil(count / limit) - 1) * 60.0)
        result.line(f"calls {call}", count)
    latency_bound = served.accepted * latency_ms / 1000 / GEOTAB_CONCURRENCY
    result.line("limits bound s", max(waits, default=0.0))
    result.line("latency bound s", round(latency_bound, 2))
    return max(*waits, latency_bound)


def scenario_e(sizes: Sizes, tmp: Path) -> Result:
    result = Result("E")
    end = DAY0 + timedelta(days=sizes.e_days)
    print(
        f"E. Geotab: {sizes.e_vehicles} devices, {sizes.e_days} days, "
        f"{sizes.a_latency_ms:g} ms latency, Geotab's own limits"
    )
    spec = SimSpec(
        "geotab", sizes.e_vehicles, 13, end + timedelta(days=3), latency_ms=sizes.a_latency_ms
    )
    with Simulators([spec]) as sims:
        config = sims.write_config(
            tmp / "e.yaml", tmp / "e-dataset", default_start_date=DAY0.date().isoformat()
        )
        run = run_fth(config, "--end", end.isoformat())
        served = sims.stats()["geotab"]
        floor = _geotab_floor(result, served, sizes.a_latency_ms)
        result.line("OverLimit answers", served.refused)
        _simulator_cpu(result, {"geotab": served})
        result.line("floor s", round(floor, 2))
        result.line("wall s", round(run.wall_seconds, 2))
        result.line("wall / floor", round(run.wall_seconds / floor, 3))
        result.line("fth CPU s", round(run.cpu_seconds, 2))
        comparison = compare(tmp / "e-dataset", sims.truth(DAY0, end, tmp))
        _check(result, comparison, run)
    for name, seed in (("motive", 31), ("samsara", 32), ("geotab", 33)):
        alone = _backfill(
            tmp,
            f"e-{name}",
            sizes.e_cpu_vehicles,
            sizes.e_days,
            sizes.e_repeats,
            replay=True,
            providers=((name, seed),),
        )
        rate = alone.comparison.stored / alone.kept.run.cpu_seconds
        result.line(f"{name} alone: rows per CPU-second", round(rate))
        result.exact = result.exact and alone.comparison.exact
    passed = run.wall_seconds <= 1.2 * floor
    return _verdict(result, passed, "wall <= 1.2 x floor (Geotab's limits), 0 rows lost")


SCENARIOS: dict[str, Callable[[Sizes, Path], Result]] = {
    "A": scenario_a,
    "B": scenario_b,
    "C": scenario_c,
    "D": scenario_d,
    "E": scenario_e,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", metavar="A|B|C|D|E", help="default: all")
    parser.add_argument("--quick", action="store_true", help="smoke sizes; checks correctness only")
    parser.add_argument("--results", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    sizes = QUICK if args.quick else Sizes()
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    print(
        f"fth benchmarks{' (quick)' if args.quick else ''} on {machine['cpus']} CPUs, "
        f"Python {machine['python']}\n"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="fth-bench-") as tmp:
        for name in args.scenarios:
            began = datetime.now(UTC)
            folder = Path(tmp) / name
            folder.mkdir()
            result = SCENARIOS[name](sizes, folder)
            result.figures["scenario seconds"] = round(
                (datetime.now(UTC) - began).total_seconds(), 1
            )
            results.append(result)
            print()
    if args.results:
        document = {
            "generated_at": datetime.now(UTC).isoformat(),
            "quick": args.quick,
            "machine": machine,
            "scenarios": {r.name: asdict(r) for r in results},
        }
        args.results.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.results}")
    if args.quick:
        failed = [r.name for r in results if not r.exact]
        print(
            "quick run: "
            + (f"dataset wrong in {', '.join(failed)}" if failed else "every dataset exact")
        )
    else:
        failed = [r.name for r in results if not r.passed]
        print("targets: " + (f"FAIL in {', '.join(failed)}" if failed else "all PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
