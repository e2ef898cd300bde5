"""Simulator rendering speed and fetch + flatten throughput, per installed provider.

For each provider with a simulator: serve a fleet on 127.0.0.1 with the handler wrapped in a
timer, then run ``fetch_telemetry`` over a window with the rate limits lifted. Prints

* render: points per second of handler CPU time (the simulator building and encoding
  responses);
* fetch+flatten: points per second end to end (rendering, HTTP, decoding, flatten, schema
  enforcement), the local ceiling of one provider's bulk path. Server and client share this
  process, so the end-to-end figure is a lower bound.

    python bench/bench_fetch.py [--vehicles 70] [--days 2]
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime, timedelta

from fth_core.config import ProviderConfig
from fth_core.provider import Provider
from fth_core.registry import EndpointRegistry
from fth_core.sim import Fleet, SimRequest, SimResponse, SimServer, SimulatedProvider
from fth_core.telemetry import fetch_telemetry


class Timed:
    """A handler that forwards to a simulator and sums the time spent inside it."""

    def __init__(self, simulator: SimulatedProvider) -> None:
        self.simulator = simulator
        self.seconds = 0.0
        self._lock = threading.Lock()

    def __call__(self, request: SimRequest) -> SimResponse:
        # CPU time of this thread: waiting for the GIL held by other threads is not counted.
        began = time.thread_time()
        response = self.simulator(request)
        with self._lock:
            self.seconds += time.thread_time() - began
        return response

    def rate_limited(self, retry_after: float) -> SimResponse:
        return self.simulator.rate_limited(retry_after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=70)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    registry = EndpointRegistry.from_plugins()
    start = datetime(2026, 3, 2, tzinfo=UTC)
    end = start + timedelta(days=args.days)
    for name in registry.list_providers():
        spec = registry.spec(name)
        if spec.simulator is None:
            continue
        simulator = spec.simulator(Fleet(seed=1, vehicles=args.vehicles))
        simulator.as_of = end + timedelta(days=5)
        handler = Timed(simulator)
        with SimServer(handler) as server:
            config = ProviderConfig(
                base_url=server.base_url,
                api_key=simulator.api_key,
                rate_limit={"requests_per_second": 10_000, "burst": 1_000},
            )
            with Provider(spec, config, registry) as provider:
                began = time.perf_counter()
                rows = sum(b.table.num_rows for b in fetch_telemetry(provider, start, end))
                elapsed = time.perf_counter() - began
                requests = provider.client().stats.requests
        print(
            f"{name:>8}: {rows:,} points ({args.vehicles} vehicles x {args.days} days, "
            f"{requests} requests): render {rows / handler.seconds:,.0f} points/s "
            f"({handler.seconds:.2f} s); fetch+flatten {rows / elapsed:,.0f} points/s "
            f"({elapsed:.2f} s)"
        )


if __name__ == "__main__":
    main()
