"""The simulator server's chaos mode: a seeded mix of every fault a client must survive."""

from __future__ import annotations

import random
import time
from collections import Counter

import httpx
import pytest

from fth_core.client import parse_retry_after
from fth_core.sim import Chaos, Fault, SimRequest, SimResponse, SimServer


def ok(request: SimRequest) -> SimResponse:
    return SimResponse.json(200, {"data": [{"id": "1"}]})


def test_each_block_holds_exactly_the_stated_mix_in_seeded_order() -> None:
    chaos = Chaos(seed=5)  # 10% 5xx, 5% 429, 1% truncated, 2% resets, 1% stalls of 2 s
    first, second = chaos.deal(random.Random(5)), chaos.deal(random.Random(5))
    assert first == second, "the same seed deals the same block"
    assert first != chaos.deal(random.Random(6))
    faults = [f for f in first if f is not None]
    assert len(first) == 100
    assert Counter(f.kind for f in faults) == {
        "status": 10,
        "429": 5,
        "truncate": 1,
        "reset": 2,
        "stall": 1,
    }
    assert {f.status for f in faults if f.kind == "status"} == {500, 502, 503, 504}
    rate_limits = [f for f in faults if f.kind == "429"]
    assert {f.retry_after for f in rate_limits if f.retry_at is None} == {"0", "0.25", None}
    assert [f.retry_at for f in rate_limits if f.retry_at is not None] == [1.0]
    assert [f.seconds for f in faults if f.kind == "stall"] == [2.0]


@pytest.mark.parametrize(
    ("rates", "problem"),
    [
        ({"truncated": 0.005}, "not a multiple of 1/100"),
        ({"reset": -0.01}, "not a multiple of 1/100 in"),
        ({"server_error": 0.9, "rate_limited": 0.2}, "more than every request"),
    ],
)
def test_rates_that_do_not_deal_whole_cards_are_refused(
    rates: dict[str, float], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Chaos(**rates)  # type: ignore[arg-type]


def test_a_chaotic_server_serves_and_logs_every_fault_of_a_block() -> None:
    chaos = Chaos(stall_seconds=0.2, seed=11)
    outcomes: Counter[str] = Counter()
    retry_afters: list[str | None] = []
    with SimServer(ok, chaos=chaos) as server, httpx.Client(trust_env=False) as client:
        for _ in range(chaos.block):
            started = time.monotonic()
            try:
                response = client.get(f"{server.base_url}/items", timeout=5)
            except httpx.TransportError as exc:  # a reset, or a body cut short
                outcomes[type(exc).__name__] += 1
                continue
            if response.status_code == 429:
                retry_afters.append(response.headers.get("Retry-After"))
            stalled = time.monotonic() - started >= chaos.stall_seconds
            outcomes["stalled" if stalled else str(response.status_code)] += 1
        served = Counter(f.fault.kind for f in server.faults())
    assert served == {"status": 10, "429": 5, "truncate": 1, "reset": 2, "stall": 1}
    assert sum(outcomes[str(code)] for code in (500, 502, 503, 504)) == 10
    assert outcomes["stalled"] == 1
    assert outcomes["200"] == 81
    assert sum(outcomes[name] for name in ("RemoteProtocolError", "ReadError")) == 3
    # Every form of Retry-After: zero, fractional, an HTTP-date 1-2 s ahead, and none.
    [date] = [text for text in retry_afters if text and text.endswith(" GMT")]
    assert Counter(t for t in retry_afters if t != date) == {"0": 2, "0.25": 1, None: 1}
    wait = parse_retry_after(date)
    assert wait is not None
    assert 0.5 < wait <= 2.0


def test_scripted_faults_go_before_the_chaos_and_are_logged_too() -> None:
    only_5xx = Chaos(server_error=1.0, rate_limited=0, truncated=0, reset=0, stall=0)
    with SimServer(ok, chaos=only_5xx) as server, httpx.Client(trust_env=False) as client:
        server.inject(Fault("429", retry_after="7", path="/items"))
        statuses = [client.get(f"{server.base_url}/items").status_code for _ in range(3)]
    assert statuses[0] == 429
    assert {500, 502, 503, 504} >= set(statuses[1:])
    assert [(f.request.path, f.fault.kind) for f in server.faults()] == [
        ("/items", "429"),
        ("/items", "status"),
        ("/items", "status"),
    ]
    assert [f.fault.kind for f in server.faults("429")] == ["429"]
