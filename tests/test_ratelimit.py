"""The rate governor: its token bucket and pause on their own, then many client threads
against a loopback server, measured where it counts — at the server."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from fth_core.client import TelemetryClient
from fth_core.endpoints import EndpointDefinition
from fth_core.ratelimit import RateGovernor, TokenBucket, WindowBudget
from fth_core.sim.server import Fault, SimServer
from fth_core.sim.wire import SimRequest, SimResponse

Serve = Callable[..., SimServer]
Connect = Callable[..., TelemetryClient]

ITEMS = EndpointDefinition("sim", "items", "/items", items_key="data")


def ok(request: SimRequest) -> SimResponse:
    return SimResponse.json(200, {"data": [{"id": "1"}]})


# -- TokenBucket: reservations are arithmetic on a shared timeline, no sleeping -------------
@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (10, 0)])
def test_token_bucket_refuses_a_non_positive_rate_or_burst(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucket(rate, burst)


def test_token_bucket_lets_a_burst_through_then_spaces_requests_at_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    now = time.monotonic()
    slots = [bucket.reserve() - now for _ in range(6)]
    assert slots == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3], abs=0.01)


def test_token_bucket_reservation_waits_for_not_before() -> None:
    bucket = TokenBucket(rate=10)
    later = time.monotonic() + 5
    assert bucket.reserve(not_before=later) == later
    assert bucket.reserve() == pytest.approx(later + 0.1)


def test_token_bucket_shared_by_threads_hands_out_distinct_evenly_spaced_slots() -> None:
    bucket = TokenBucket(rate=100)
    with ThreadPoolExecutor(8) as pool:
        slots = sorted(pool.map(lambda _: bucket.reserve(), range(200)))
    steps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(steps) == pytest.approx(0.01, abs=1e-6)
    assert slots[-1] - slots[0] == pytest.approx(1.99, abs=0.01)


def test_a_window_budget_grants_its_whole_count_at_once_then_one_per_expiry() -> None:
    budget = WindowBudget(3, 60.0)
    first = [budget.reserve() for _ in range(3)]
    assert max(first) - min(first) < 1.0, "the whole count goes at once"
    fourth, fifth = budget.reserve(), budget.reserve()
    assert fourth == pytest.approx(first[0] + 60.0)
    assert fifth == pytest.approx(first[1] + 60.0)


def test_a_window_budget_never_grants_more_than_its_count_in_any_window() -> None:
    budget = WindowBudget(5, 10.0)
    with ThreadPoolExecutor(8) as pool:
        times = sorted(pool.map(lambda _: budget.reserve(), range(23)))
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 10.0 - 1e-9


def test_a_window_budget_refuses_an_empty_count_or_window() -> None:
    with pytest.raises(ValueError, match="requests must be"):
        WindowBudget(0, 60)
    with pytest.raises(ValueError, match="seconds > 0"):
        WindowBudget(1, 0)


# -- RateGovernor on its own ----------------------------------------------------------------
def test_pause_extends_but_never_shortens() -> None:
    governor = RateGovernor(100)
    governor.pause(5)
    governor.pause(0.1)
    assert governor.paused_for > 4.5


def test_slot_waits_out_a_pause_and_counts_the_wait() -> None:
    governor = RateGovernor(1000, burst=1000)
    governor.pause(0.3)
    started = time.monotonic()
    with governor.slot():
        pass
    assert time.monotonic() - started >= 0.29
    assert governor.wait_seconds >= 0.29


def test_a_paused_scope_holds_neither_a_slot_nor_a_token_from_the_other_scopes() -> None:
    # One request in flight at most, a quota that refills slowly: a request waiting out its
    # scope's pause while holding the slot, or a token reserved for when the pause ends, would
    # make the other scope's request wait for the pause too.
    governor = RateGovernor(1, burst=2, max_concurrency=1, scopes={"a": (100, 1), "b": (100, 1)})
    governor.pause(0.5, scope="a")
    order: list[str] = []
    waiting = threading.Event()

    def paused() -> None:
        waiting.set()
        with governor.slot(scope="a"):
            order.append("a")

    thread = threading.Thread(target=paused)
    thread.start()
    waiting.wait()
    time.sleep(0.05)  # let it reach its wait
    with governor.slot(scope="b"):
        order.append("b")
    thread.join()
    assert order == ["b", "a"]


def test_slot_enforces_an_endpoint_tier_inside_the_provider_rate() -> None:
    governor = RateGovernor(1000, burst=1000)
    started = time.monotonic()
    for _ in range(4):  # 10/s tier: the 4th request may go 0.3 s after the first
        with governor.slot("sim.items", 10):
            pass
    assert time.monotonic() - started >= 0.29
    # another endpoint is not held back by that tier
    quick = time.monotonic()
    with governor.slot("sim.other", 10):
        pass
    assert time.monotonic() - quick < 0.09


# -- many client threads against a loopback server ------------------------------------------
def _hammer(client: TelemetryClient, threads: int, each: int) -> None:
    def work(_: int) -> None:
        for _ in range(each):
            client.fetch(ITEMS)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))


def test_eight_threads_share_the_governor_rate_within_ten_percent(
    serve: Serve, connect: Connect
) -> None:
    server = serve(ok)
    client = connect(server, governor=RateGovernor(20, burst=1, max_concurrency=8))
    _hammer(client, threads=8, each=8)  # 64 requests: ~3.15 s at 20/s
    arrivals = sorted(r.at for r in server.requests())
    assert len(arrivals) == 64
    span = arrivals[-1] - arrivals[0]
    rate = (len(arrivals) - 1) / span
    print(f"measured governor rate: {rate:.2f} req/s (limit 20) over {span:.2f} s")
    assert 18.0 <= rate <= 22.0
    # ... and no one-second window holds more than the limit + 10% (arrivals are stamped when
    # the server answers, so scheduling jitter can bunch two neighbours).
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 22
    assert client.stats.requests == 64


def test_one_429_pauses_every_thread_for_its_retry_after(serve: Serve, connect: Connect) -> None:
    server = serve(ok)
    client = connect(server, governor=RateGovernor(20, burst=1, max_concurrency=8))
    stop = threading.Event()

    def work(_: int) -> int:
        done = 0
        while not stop.is_set():
            client.fetch(ITEMS)
            done += 1
        return done

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(work, i) for i in range(8)]
        time.sleep(0.5)
        server.inject(Fault("429", retry_after="1"))
        time.sleep(2.0)
        stop.set()
        done = [future.result() for future in futures]  # every thread finished cleanly

    log = sorted(server.requests(), key=lambda r: r.at)
    (limited,) = [r for r in log if r.status == 429]
    after = [r.at - limited.at for r in log if r.at > limited.at]
    # A request already on the wire when the 429 came back may land just after it; after
    # that, no thread reaches the server until the Retry-After second is over.
    in_flight = [gap for gap in after if gap < 0.05]
    assert len(in_flight) <= 1
    resumed = [gap for gap in after if gap >= 0.05]
    assert min(resumed) >= 0.95
    assert len(resumed) >= 10  # and then all threads carried on
    assert client.stats.rate_limited == 1
    assert sum(done) == len(log) - 1  # the 429'd request was retried, not lost


def test_max_concurrency_bounds_requests_in_flight_at_the_server(
    serve: Serve, connect: Connect
) -> None:
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]

    def slow(request: SimRequest) -> SimResponse:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return ok(request)

    server = serve(slow)
    client = connect(server, governor=RateGovernor(1000, burst=1000, max_concurrency=2))
    _hammer(client, threads=8, each=3)
    assert len(server.requests()) == 24
    assert peak[0] == 2


# -- The simulators' own quotas: what a client that ignores them would meet ---------------------
def test_a_server_path_tier_refuses_its_path_beyond_the_tier_rate_and_spares_the_others(
    serve: Serve,
) -> None:
    server = serve(ok, burst=2, path_limits={"/tiered": 0.5})
    with httpx.Client(base_url=server.base_url) as http:
        tiered = [http.get("/tiered").status_code for _ in range(4)]
        other = [http.get("/other").status_code for _ in range(4)]
    assert tiered == [200, 200, 429, 429]  # the burst of 2, then faster than 0.5/s
    assert other == [200] * 4  # the tier is exact-path: /other is not limited


def test_a_server_in_flight_cap_refuses_one_request_too_many_and_a_capped_client_never_is(
    serve: Serve, connect: Connect
) -> None:
    # A long latency: the three requests surely overlap, however slowly the threads start.
    server = serve(ok, latency_ms=1000, max_in_flight=2)

    def hit(_: int) -> int:
        with httpx.Client(base_url=server.base_url) as http:
            return http.get("/items").status_code

    with ThreadPoolExecutor(3) as pool:
        assert sorted(pool.map(hit, range(3))) == [200, 200, 429]

    server.clear_log()
    server.latency_ms = 100
    client = connect(server, governor=RateGovernor(1000, burst=1000, max_concurrency=2))
    _hammer(client, threads=4, each=2)
    assert [r.status for r in server.requests()] == [200] * 8
