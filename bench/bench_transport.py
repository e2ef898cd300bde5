"""Client CPU per answer: httpx over its own transport (httpcore, h11) against httpx over
fth's :class:`~fth_core.transport.Urllib3Transport`, with and without an overall deadline.

A loopback server in a separate process (so neither its CPU nor its hold on the GIL counts)
answers ``/big`` with a JSON document of about 2 MB, the size of a busy vehicle-day, and
``/small`` with about 1 KB of JSON. The client thread's CPU time (``time.thread_time``) is
summed over the requests, each read to its end, and printed per answer. The clients take turns
in rounds, so a drift in the machine's speed touches them alike.

    python bench/bench_transport.py [--kilobytes 2000] [--big 200] [--small 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection

import httpx

from fth_core.transport import Urllib3Transport


def _json_body(kilobytes: int) -> bytes:
    """Vehicle locations as a provider sends them, repeated to ``kilobytes``."""
    record = {
        "vehicle_id": 123456,
        "located_at": "2026-03-02T08:15:30Z",
        "lat": 47.6062,
        "lon": -122.3321,
        "speed": 54.5,
        "bearing": 271.0,
        "odometer": 182734.4,
        "engine_hours": 5123.2,
    }
    one = len(json.dumps(record)) + 2
    return json.dumps({"vehicle_locations": [record] * (kilobytes * 1000 // one)}).encode()


def _serve(kilobytes: int, ready: Connection) -> None:
    bodies = {"/big": _json_body(kilobytes), "/small": _json_body(1)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the providers' servers
        # Head and body leave in separate writes: without this, the body waits for the
        # client's delayed ACK of the head, 40 ms a request on Linux.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            body = bodies[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ready.send(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kilobytes", type=int, default=2000, help="size of the big answer")
    parser.add_argument("--big", type=int, default=200, help="big answers per client")
    parser.add_argument("--small", type=int, default=1000, help="small answers per client")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    theirs, ours = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(args.kilobytes, ours), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{theirs.recv()}"
        run(base, args)
    finally:
        server.terminate()
        server.join()


def run(base: str, args: argparse.Namespace) -> None:
    clients = {
        "httpx's own (h11)": httpx.Client(base_url=base, trust_env=False),
        "Urllib3Transport": httpx.Client(
            base_url=base, transport=Urllib3Transport(), trust_env=False
        ),
        "Urllib3Transport+deadline": httpx.Client(
            base_url=base, transport=Urllib3Transport(), trust_env=False
        ),
        # The transports alone, handed a built request: what the client's machinery costs
        # (URL merging, cookies, auth and redirect bookkeeping) is left out.
        "alone: httpx's own (h11)": httpx.Client(base_url=base, trust_env=False),
        "alone: Urllib3Transport": httpx.Client(
            base_url=base, transport=Urllib3Transport(), trust_env=False
        ),
    }

    def getter(name: str, client: httpx.Client, path: str) -> Callable[[], int]:
        if name.endswith("+deadline"):
            return lambda: len(
                client.get(path, extensions={"deadline": time.monotonic() + 60}).content
            )
        if name.startswith("alone: "):
            transport = client._transport  # what the client would hand the request to
            request = client.build_request("GET", path)

            def alone() -> int:
                response = transport.handle_request(request)
                try:
                    return len(response.read())
                finally:
                    response.close()

            return alone
        return lambda: len(client.get(path).content)

    sizes: dict[str, int] = {}
    rounds: dict[tuple[str, str], list[float]] = {}
    counts = {"/big": args.big, "/small": args.small}
    for name, client in clients.items():  # warm-up: connections, imports, caches
        for path in counts:
            sizes[path] = getter(name, client, path)()
    for _ in range(args.rounds):
        for name, client in clients.items():
            for path, count in counts.items():
                get = getter(name, client, path)
                per_round = max(1, count // args.rounds)
                began = time.thread_time()
                for _ in range(per_round):
                    assert get() == sizes[path]
                spent = (time.thread_time() - began) / per_round
                rounds.setdefault((name, path), []).append(spent)
    for client in clients.values():
        client.close()
    # The median round: the kernel's share (loopback sends and receives) varies from round to
    # round more than the clients differ.
    cpu = {key: statistics.median(spent) for key, spent in rounds.items()}

    print(f"client CPU per answer, median of {args.rounds} rounds (ms)")
    print(f"{'transport':>26} {sizes['/big'] / 1e6:>9.2f} MB {sizes['/small']:>9,d} B")
    for name in clients:
        print(f"{name:>26} {cpu[name, '/big'] * 1e3:>12.3f} {cpu[name, '/small'] * 1e3:>11.3f}")
    for name, baseline in (
        ("Urllib3Transport", "httpx's own (h11)"),
        ("Urllib3Transport+deadline", "httpx's own (h11)"),
        ("alone: Urllib3Transport", "alone: httpx's own (h11)"),
    ):
        big = cpu[baseline, "/big"] / cpu[name, "/big"]
        small = cpu[baseline, "/small"] / cpu[name, "/small"]
        print(f"{name:>26}: {big:.2f}x less CPU per big answer, {small:.2f}x per small one")


if __name__ == "__main__":
    main()
