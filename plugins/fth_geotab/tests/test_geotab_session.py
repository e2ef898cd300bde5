"""The core client on Geotab's JSON-RPC, session-authenticated API, against the plugin's
simulator over real HTTP on 127.0.0.1: errors sent inside HTTP 200 read like HTTP ones; one
login for all threads and one re-login for an expired session; a refused session or a wrong
password is a clear AuthError, not a loop; an OverLimitException pauses its (method, type)
only; and neither the password nor a session id shows anywhere."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from geotab_support import DAY, geotab_fleet

from fth_core import (
    Answer,
    APIError,
    AuthError,
    EndpointRegistry,
    FthConfig,
    Provider,
    TelemetryPipeline,
    Verdict,
    parse_config,
)
from fth_core.endpoints import parse_utc
from fth_core.sim import SimServer
from fth_core.testing import Simulation, simulated_provider
from fth_geotab.endpoints import DEVICES, LOG_RECORDS
from fth_geotab.simulator import GeotabSimulator
from fth_geotab.wire import NAME, PATH, classify, rpc_error, session_auth

REGISTRY = EndpointRegistry.from_plugins()
AS_OF = DAY + timedelta(days=2)
MS = timedelta(milliseconds=1)


@dataclass
class Served:
    simulator: GeotabSimulator
    server: SimServer

    def provider(self, **overrides: Any) -> Provider:
        simulation = Simulation(self.simulator.fleet, self.simulator, self.server)
        return simulated_provider(simulation, REGISTRY, NAME, **overrides)

    def calls(self, method: str, type_name: str | None = None) -> list[dict[str, Any]]:
        """The JSON-RPC calls of ``method`` (of ``type_name``) the server received, in order."""
        found = []
        for logged in self.server.requests(PATH):
            call = json.loads(logged.body) if logged.body else None
            if not isinstance(call, dict) or call.get("method") != method:
                continue
            if type_name is None or call["params"].get("typeName") == type_name:
                found.append(call)
        return found


@pytest.fixture
def served() -> Iterator[Served]:
    """Six devices (one retired), two days of points: more than one Get's 5,000."""
    with SimServer(GeotabSimulator(geotab_fleet(), as_of=AS_OF)) as server:
        simulator = server.handler
        assert isinstance(simulator, GeotabSimulator)
        yield Served(simulator, server)


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


# -- classification: errors inside HTTP 200 ------------------------------------------------------
def rpc_answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, headers or {}, json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("answer", "verdict", "wait", "message"),
    [
        (rpc_answer({"result": [], "jsonrpc": "2.0"}), Verdict.OK, None, None),
        (
            rpc_answer(
                rpc_error("OverLimitException", "quota exceeded"), headers={"Retry-After": "2"}
            ),
            Verdict.RATE_LIMITED,
            2.0,
            "OverLimitException: quota exceeded",
        ),
        (
            rpc_answer(rpc_error("InvalidUserException", "Invalid session @ 'db'")),
            Verdict.SESSION_EXPIRED,
            None,
            "InvalidUserException: Invalid session @ 'db'",
        ),
        (
            rpc_answer(rpc_error("DbUnavailableException", "db is Initializing")),
            Verdict.RETRY,
            None,
            "DbUnavailableException: db is Initializing",
        ),
        (
            rpc_answer(rpc_error("DbUnavailableException", "UnknownDatabase 'x'")),
            Verdict.FATAL,
            None,
            "DbUnavailableException: UnknownDatabase 'x'",
        ),
        (  # named by errors[0] when data.type is absent (what Geotab's own SDK reads)
            rpc_answer({"error": {"message": "m", "errors": [{"name": "ArgumentException"}]}}),
            Verdict.FATAL,
            None,
            "ArgumentException: m",
        ),
        (
            rpc_answer({"jsonrpc": "2.0"}),
            Verdict.FATAL,
            None,
            "the answer holds neither result nor error",
        ),
        (rpc_answer({"result": []}, status=503), Verdict.RETRY, None, None),
        (  # the client's headers are case-insensitive; http_status reads them lower-case
            rpc_answer({}, status=429, headers={"retry-after": "3"}),
            Verdict.RATE_LIMITED,
            3.0,
            None,
        ),
    ],
)
def test_an_answer_is_classified_by_its_json_rpc_error_then_by_its_http_status(
    answer: Answer, verdict: Verdict, wait: float | None, message: str | None
) -> None:
    outcome = classify(answer)
    assert outcome.verdict is verdict
    assert outcome.wait == wait
    if message is not None:
        assert outcome.message == message


def test_a_login_names_the_server_later_calls_must_use_and_hides_its_session_id() -> None:
    auth = session_auth()
    credentials = {"database": "db", "userName": "u", "sessionId": "s3cr3t-session"}
    here = auth.read_session({"result": {"credentials": credentials, "path": "ThisServer"}})
    assert here.base_url is None
    assert here.value == credentials
    assert here.secrets == ("s3cr3t-session",)
    assert "s3cr3t" not in repr(here)
    there = auth.read_session({"result": {"credentials": credentials, "path": "my3.geotab.com"}})
    assert there.base_url == "https://my3.geotab.com"


# -- sessions ------------------------------------------------------------------------------------
def test_an_expired_session_mid_walk_costs_one_more_authenticate_and_the_walk_completes(
    served: Served,
) -> None:
    # Two days hold more than 5,000 points: the first answer is capped (and dropped), then the
    # two halves are asked. The sessions die after the first half has been read.
    start, end = DAY, DAY + timedelta(days=2)
    span = {"from_date": start, "to_date": end - MS}
    with served.provider() as provider:
        pages = provider.client().iter_pages(LOG_RECORDS, span)
        capped, first_half = next(pages), next(pages)
        assert capped.items == []
        assert first_half.items
        served.simulator.expire_sessions()
        (second_half,) = pages
    assert second_half.items, "the walk went on to the second half"
    records = [*first_half.items, *second_half.items]
    got = {(r["device"]["id"], parse_utc(r["dateTime"])) for r in records}
    assert len(got) == len(records), "no record came twice"
    truth = served.simulator.expected_telemetry(start, end)
    expected = set(
        zip(
            truth.column("provider_vehicle_id").to_pylist(),
            truth.column("timestamp").to_pylist(),
            strict=True,
        )
    )
    assert got == expected, "every point of the two days, none missed"
    assert len(served.calls("Authenticate")) == 2
    # Three pages, and the one refused for its expired session asked again.
    gets = served.calls("Get", "LogRecord")
    assert len(gets) == 4
    sessions = [c["params"]["credentials"]["sessionId"] for c in gets]
    assert sessions[0] == sessions[1] == sessions[2] != sessions[3]


def test_eight_threads_share_one_login_and_after_expiry_one_relogin(served: Served) -> None:
    devices = len(served.simulator.fleet.vehicles)

    def eight_at_once(provider: Provider) -> None:
        barrier = threading.Barrier(8)

        def one(_: int) -> int:
            barrier.wait()
            return len(provider.client().fetch(DEVICES).items)

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(one, range(8))) == [devices] * 8

    with served.provider() as provider:
        eight_at_once(provider)
        assert len(served.calls("Authenticate")) == 1
        served.simulator.expire_sessions()
        eight_at_once(provider)
        assert len(served.calls("Authenticate")) == 2
        assert provider.stats.logins == 2


def test_a_session_refused_right_after_a_fresh_login_is_an_auth_error_not_a_loop(
    served: Served,
) -> None:
    served.simulator.refuse_sessions = True
    with served.provider() as provider, pytest.raises(AuthError) as caught:
        provider.client().fetch(DEVICES)
    assert "InvalidUserException: Invalid session @ 'fleetdb'" in str(caught.value)
    assert "check the credentials" in str(caught.value)
    assert len(served.calls("Authenticate")) == 2  # the login, and one fresh login: no more


def test_a_wrong_password_is_one_authenticate_and_a_clear_auth_error(served: Served) -> None:
    wrong = {**served.simulator.credentials(), "password": "not-the-password-42"}
    with served.provider(**wrong) as provider, pytest.raises(AuthError) as caught:
        provider.client().fetch(DEVICES)
    message = str(caught.value)
    assert "InvalidUserException: Incorrect login credentials @ 'fleetdb'" in message
    assert "not-the-password-42" not in message
    assert len(served.calls("Authenticate")) == 1
    assert served.calls("Get") == []


# -- errors in HTTP 200: quota, transient and fatal -------------------------------------------
def test_an_over_limit_exception_in_a_200_pauses_its_scope_only_and_the_call_then_succeeds(
    served: Served,
) -> None:
    hour = {"from_date": DAY + timedelta(hours=10), "to_date": DAY + timedelta(hours=11) - MS}
    with served.provider() as provider:
        client = provider.client()
        client.fetch(DEVICES)  # logged in
        served.simulator.fail_next(
            "OverLimitException",
            "API calls quota exceeded. Maximum admitted 600 per 1m.",
            method="Get",
            type_name="LogRecord",
            retry_after=1,
        )
        points: dict[str, float] = {}

        def read_points() -> None:
            began = time.monotonic()
            page = client.fetch(LOG_RECORDS, hour)
            points["seconds"] = time.monotonic() - began
            points["items"] = len(page.items)

        worker = threading.Thread(target=read_points)
        worker.start()
        # A retry is counted once the answer's pause is in force: Get LogRecord is paused now.
        wait_for(lambda: provider.stats.retries >= 1)
        assert client.governor.paused_for == 0.0, "the pause is the scope's, not the provider's"
        assert len(client.fetch(DEVICES).items) == len(served.simulator.fleet.vehicles)
        # Get Device was answered while Get LogRecord was still paused: its repeat came later.
        assert len(served.calls("Get", "LogRecord")) == 1
        worker.join(10)
        assert not worker.is_alive()
        assert provider.stats.rate_limited == 1
    assert served.simulator.faults_served == [("Get", "OverLimitException")]
    assert points["items"] > 0
    assert points["seconds"] >= 0.95, "the Retry-After of 1 s was not waited out"
    assert len(served.calls("Get", "LogRecord")) == 2


def test_an_initializing_database_is_retried_and_an_unknown_one_is_fatal(served: Served) -> None:
    with served.provider() as provider:
        client = provider.client()
        served.simulator.fail_next(
            "DbUnavailableException", "Database 'fleetdb' is Initializing", method="Get"
        )
        assert len(client.fetch_all(DEVICES)) == len(served.simulator.fleet.vehicles)
        assert provider.stats.retries >= 1
        before = len(served.calls("Get"))
        served.simulator.fail_next(
            "DbUnavailableException", "UnknownDatabase 'fleetdb'", method="Get"
        )
        with pytest.raises(APIError) as caught:
            client.fetch(DEVICES)
    assert not isinstance(caught.value, AuthError)
    assert "DbUnavailableException: UnknownDatabase 'fleetdb'" in str(caught.value)
    assert len(served.calls("Get")) == before + 1  # a fatal answer is not asked again


# -- secrets --------------------------------------------------------------------------------------
def geotab_config(served: Served, dataset: Path) -> FthConfig:
    return parse_config(
        {
            "providers": {
                NAME: {
                    "base_url": served.server.base_url,
                    **served.simulator.credentials(),
                    "retry_backoff_factor": 0.01,
                    "max_retries": 1,
                    "request_timeout": [2, 5],
                }
            },
            "pipeline": {
                "default_start_date": DAY.date().isoformat(),
                "lookback_days": 1,
                "batch_increment_days": 1,
            },
            "storage": {"parquet_path": str(dataset)},
        },
        env={},
    )


def test_the_password_and_session_ids_never_show(
    served: Served, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="fth")
    dataset = tmp_path / "data"
    simulator = served.simulator
    simulator.as_of = DAY + timedelta(days=1)
    config = geotab_config(served, dataset)
    summary = TelemetryPipeline.from_config(config, REGISTRY).run(end=DAY + timedelta(days=1))
    assert summary.status == "ok"
    shown = [str(summary.as_dict()), repr(config)]
    with Provider.from_config(NAME, config.providers[NAME], REGISTRY) as provider:
        provider.fetch_all("devices")
        simulator.expire_sessions()
        provider.fetch_all("devices")  # a second session
        simulator.refuse_sessions = True
        with pytest.raises(AuthError) as refused:
            provider.fetch_all("devices")
        shown += [str(refused.value), repr(refused.value)]
        shown += [repr(provider), repr(provider.client()), repr(provider.config)]
        shown += [repr(provider.credentials)]
    wrong = {**simulator.credentials(), "password": "Wr0ng-Pa55word-from-a-typo"}
    with served.provider(**wrong) as provider, pytest.raises(AuthError) as rejected:
        provider.fetch_all("devices")
    shown += [str(rejected.value), repr(rejected.value)]
    wire = b"".join(logged.body for logged in served.server.requests(PATH))
    shown += [caplog.text, (dataset / "_state" / "state.json").read_text(encoding="utf-8")]
    secrets = [simulator.password, wrong["password"], *simulator.issued]
    assert len(simulator.issued) >= 4  # the run's, two of the provider's, the refused one's
    assert caplog.text, "the run logged at debug level"
    for secret in secrets:
        assert secret.encode() in wire  # they were sent: their absence below means something
        for text in shown:
            assert secret.lower() not in text.lower()
