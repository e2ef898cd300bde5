"""Client CPU per response: httpx's client over its own transport, over fth's direct transport,
and fth's ``TelemetryClient`` (which hands direct requests to that transport itself).

A loopback server answers every request with the same body, the size of a Motive vehicle-day
(650 KB of JSON by default). The client thread's CPU time (``time.thread_time``: the server's
threads are not counted) is summed over the requests and printed per response.

    python bench/bench_transport.py [--kilobytes 650] [--requests 300]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import httpx

from fth_core.client import TelemetryClient
from fth_core.endpoints import RequestSpec
from fth_core.sim import SimRequest, SimResponse, SimServer
from fth_core.transport import DirectTransport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kilobytes", type=int, default=650)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    body = b'{"vehicle_locations": "' + b"x" * (args.kilobytes * 1000 - 26) + b'"}'

    def answer(request: SimRequest) -> SimResponse:
        return SimResponse(200, body, {"Content-Type": "application/json"})

    day = RequestSpec("GET", "/day")
    with (
        SimServer(answer) as server,
        httpx.Client(base_url=server.base_url) as plain,
        httpx.Client(
            base_url=server.base_url, transport=DirectTransport(httpx.create_ssl_context())
        ) as direct,
        TelemetryClient("bench", server.base_url) as fth,
    ):
        clients: dict[str, Callable[[], bytes]] = {
            "httpx (httpcore, h11)": lambda: plain.get("/day").content,
            "httpx, DirectTransport": lambda: direct.get("/day").content,
            "fth TelemetryClient": lambda: fth.send(day).content,
        }
        for name, get in clients.items():
            get()  # warm-up
            cpu = 0.0
            for _ in range(args.requests):
                began = time.thread_time()
                assert len(get()) == len(body)
                cpu += time.thread_time() - began
            print(
                f"{name:>22}: {cpu / args.requests * 1000:.2f} ms of client CPU per "
                f"{len(body) / 1000:,.0f} KB response"
            )


if __name__ == "__main__":
    main()
