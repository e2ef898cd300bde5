"""The whole pipeline against both simulators with latency and server-side rate limits on.

Run from the repository root with the plugins installed (``make`` does it)::

    python bench/bench_pipeline.py [--vehicles 40] [--days 7] [--latency-ms 20]
                                   [--motive-rate 10] [--samsara-rate 25] [--burst 5]

Both simulators serve on 127.0.0.1 from child processes of their own (so their rendering does
not compete with the pipeline, or each other, for one GIL), each behind a :class:`SimServer` with
``latency_ms`` added to every answer and a token-bucket rate limit (``rate``/s, ``burst``)
answered with the provider's own 429 + ``Retry-After``. The pipeline runs with the plugins'
default quotas (Motive 10/s, Samsara 150/s) unless ``--client-matches-server`` sets each
provider's ``rate_limit`` to the server's figure, as an operator who knows the limit would.

DESIGN.md: the ceiling of an API-bound ETL is the rate limit, so next to each provider's elapsed
time this prints its floor: accepted requests (429s cost no quota) / allowed rate, where allowed
is the lower of the server's limit and the client's quota (the burst makes the true floor
burst/rate lower). Providers run in parallel, so the run's floor is the larger of the two. Peak
RSS is the pipeline's process; the simulators' are printed apart.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from fth_core.config import parse_config
from fth_core.pipeline import TelemetryPipeline
from fth_core.registry import EndpointRegistry
from fth_core.report import human_bytes
from fth_core.sim import Fleet, SimServer, SimulatedProvider
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
PROVIDERS = ("motive", "samsara")


def rss_bytes(who: int) -> int:
    peak = resource.getrusage(who).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def serve_simulator(args: argparse.Namespace, name: str, conn: Connection) -> None:
    """Child process: serve one simulator until told to stop, then report what it saw."""
    end = DAY0 + timedelta(days=args.days)
    as_of = end + timedelta(days=3)  # every late upload of the range is out
    simulator: SimulatedProvider
    if name == "motive":
        simulator = MotiveSimulator(Fleet(args.seed, args.vehicles), as_of=as_of)
    else:
        simulator = SamsaraSimulator(Fleet(args.seed + 1, args.vehicles), as_of=as_of)
    rate = args.motive_rate if name == "motive" else args.samsara_rate
    server = SimServer(simulator, latency_ms=args.latency_ms, rate_limit=rate, burst=args.burst)
    server.start()
    conn.send(server.base_url)
    conn.recv()  # the run is over
    server.stop()
    logged = server.requests()
    conn.send(
        {
            "requests": len(logged),
            "refused": sum(1 for r in logged if r.status == 429),
            "expected_rows": simulator.expected_telemetry(DAY0, end).num_rows,
            "peak_rss": rss_bytes(resource.RUSAGE_SELF),
        }
    )


def run(args: argparse.Namespace, dataset: Path) -> None:
    registry = EndpointRegistry.from_plugins()
    end = DAY0 + timedelta(days=args.days)
    server_rate = {"motive": args.motive_rate, "samsara": args.samsara_rate}
    spawn = multiprocessing.get_context("spawn")
    pipes: dict[str, Connection] = {}
    children = []
    for name in PROVIDERS:  # one process per simulator: each renders on its own core
        pipes[name], child_end = spawn.Pipe()
        child = spawn.Process(target=serve_simulator, args=(args, name, child_end), daemon=True)
        child.start()
        children.append(child)
    try:
        urls: dict[str, str] = {name: pipe.recv() for name, pipe in pipes.items()}
        providers: dict[str, dict[str, Any]] = {}
        client_rate: dict[str, float] = {}
        for name in PROVIDERS:
            settings: dict[str, Any] = {"base_url": urls[name], "api_key": "sim-key"}
            client_rate[name] = registry.spec(name).quota.requests_per_second
            if args.client_matches_server:
                settings["rate_limit"] = {
                    "requests_per_second": server_rate[name],
                    "burst": args.burst,
                }
                client_rate[name] = server_rate[name]
            providers[name] = settings
        config = parse_config(
            {
                "providers": providers,
                "pipeline": {
                    "default_start_date": DAY0.date().isoformat(),
                    "batch_increment_days": args.batch_days,
                },
                "storage": {"parquet_path": str(dataset)},
            },
            env={},
        )
        print(
            f"fth pipeline benchmark: {args.vehicles} vehicles per provider x {args.days} days "
            f"({DAY0:%Y-%m-%d} .. {end:%Y-%m-%d}), windows of {args.batch_days:g} day(s), "
            f"latency {args.latency_ms:g} ms"
        )
        for name in PROVIDERS:
            quota = registry.spec(name).quota
            print(
                f"  {name}: server limit {server_rate[name]:g}/s burst {args.burst}; client "
                f"quota {client_rate[name]:g}/s, {quota.max_concurrency} in flight"
            )
        print("running ...", flush=True)

        timings: dict[str, list[float]] = {}

        def progress(event: str, data: dict[str, Any]) -> None:
            if event in ("provider_start", "provider_done"):
                timings.setdefault(data["provider"], []).append(time.perf_counter())

        began = time.perf_counter()
        summary = TelemetryPipeline.from_config(config, registry).run(end=end, progress=progress)
        elapsed = time.perf_counter() - began
        peak = rss_bytes(resource.RUSAGE_SELF)
        for pipe in pipes.values():
            pipe.send("stop")
        seen: dict[str, Any] = {name: pipe.recv() for name, pipe in pipes.items()}
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.terminate()

    stored = TelemetryPipeline.from_config(config, registry).store.read()
    keys = pc.count_distinct(
        pc.binary_join_element_wise(
            stored.column("provider").cast("string"),
            stored.column("provider_vehicle_id"),
            stored.column("timestamp").cast("string"),
            "|",
        )
    ).as_py()
    expected = sum(seen[name]["expected_rows"] for name in PROVIDERS)

    print(
        f"\nstatus {summary.status}\n"
        f"{'provider':<9}{'rows':>10}{'requests':>10}{'at server':>11}{'429s':>6}{'retries':>8}"
        f"{'waited s':>10}{'elapsed s':>11}{'floor s':>9}{'rows/s':>10}"
    )
    floors = []
    for name, prov in summary.providers.items():
        accepted = seen[name]["requests"] - seen[name]["refused"]  # a 429 costs no quota
        floor = accepted / min(server_rate[name], client_rate[name])
        floors.append(floor)
        own = timings[name][-1] - timings[name][0]
        print(
            f"{name:<9}{prov.rows_fetched:>10,}{prov.requests:>10,}{seen[name]['requests']:>11,}"
            f"{seen[name]['refused']:>6}{prov.retries:>8}{prov.wait_seconds:>10.2f}{own:>11.2f}"
            f"{floor:>9.2f}{prov.rows_fetched / own:>10,.0f}"
        )
    print("  waited s: rate-limit waiting summed over a provider's threads")
    print(
        f"\nrows written      {summary.rows_written:,} (ground truth {expected:,}; "
        f"distinct keys {keys:,})"
    )
    print(f"rows/s            {summary.rows_fetched / elapsed:,.0f} (fetched rows / elapsed)")
    print(
        f"elapsed           {elapsed:.2f} s; floor {max(floors):.2f} s "
        "(max over providers of accepted requests / allowed rate)"
    )
    print(
        f"dataset           {human_bytes(summary.dataset_bytes)} "
        f"({summary.dataset_bytes:,} bytes, {len(summary.partitions_touched)} partitions)"
    )
    print(
        f"peak RSS          {human_bytes(peak)} pipeline process; "
        + ", ".join(f"{human_bytes(seen[n]['peak_rss'])} {n} simulator" for n in PROVIDERS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=40, help="per provider")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--batch-days", type=float, default=1.0, help="window length")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--motive-rate", type=float, default=10.0, help="server limit, req/s")
    parser.add_argument("--samsara-rate", type=float, default=25.0, help="server limit, req/s")
    parser.add_argument("--burst", type=int, default=5, help="server (and matched client) burst")
    parser.add_argument(
        "--client-matches-server",
        action="store_true",
        help="configure each provider's rate_limit to the server's instead of the plugin quota",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="keep the dataset here (default: a temp dir)")
    args = parser.parse_args()
    if args.out is not None:
        run(args, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="fth-bench-") as tmp:
        run(args, Path(tmp) / "dataset")


if __name__ == "__main__":
    main()
