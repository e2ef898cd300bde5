"""Client CPU per response: httpx's own transport against fth's direct transport.

A loopback server answers every request with the same body, the size of a Motive vehicle-day
(650 KB of JSON by default). The client thread's CPU time (``time.thread_time``: the server's
threads are not counted) is summed over the requests and printed per response.

    python bench/bench_transport.py [--kilobytes 650] [--requests 300]
"""

from __future__ import annotations

import argparse
import time

import httpx

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

    transports = {
        "httpx (httpcore, h11)": None,
        "fth DirectTransport": DirectTransport(httpx.create_ssl_context()),
    }
    with SimServer(answer) as server:
        for name, transport in transports.items():
            with httpx.Client(base_url=server.base_url, transport=transport) as client:
                client.get("/warm-up")
                cpu = 0.0
                for _ in range(args.requests):
                    began = time.thread_time()
                    assert len(client.get("/day").content) == len(body)
                    cpu += time.thread_time() - began
            print(
                f"{name:>22}: {cpu / args.requests * 1000:.2f} ms of client CPU per "
                f"{len(body) / 1000:,.0f} KB response"
            )


if __name__ == "__main__":
    main()
