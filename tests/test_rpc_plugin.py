"""A JSON-RPC, session-authenticated provider written against fth_core's public API only
(tests/rpc_plugin.py, shaped like Geotab) passes the core's conformance kit and keeps the
promises a session API needs: one login for all threads, one re-login for an expired session,
errors sent inside HTTP 200 read like HTTP ones, a feed state that resumes without losing what
a later window needs, and no secret anywhere.

Everything runs over real HTTP on 127.0.0.1 against the plugin's own simulator.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import rpc_plugin
from rpc_plugin import (
    DEVICES,
    LOG_RECORDS,
    NAME,
    SINCE,
    VERSION,
    RpcFleetSimulator,
    classify,
    read_session,
)

from fth_core import (
    Answer,
    APIError,
    AuthError,
    EndpointRegistry,
    FlatBatch,
    FthConfig,
    Plugins,
    Provider,
    SeekPagination,
    TelemetryPipeline,
    Verdict,
    fetch_telemetry,
    parse_config,
)
from fth_core.sim import Fleet, SimServer
from fth_core.testing import (
    ProviderConformance,
    Simulation,
    assert_same_telemetry,
    simulated_provider,
)

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def rpc_registry() -> EndpointRegistry:
    """The plugin registered in-process, as an installed entry point would register it."""
    plugins = Plugins()
    info = plugins.register(rpc_plugin, NAME, distribution="fth-rpcfleet", version="0.1.0")
    assert info.loaded, info.error
    return EndpointRegistry.from_plugins(plugins)


REGISTRY = rpc_registry()


# -- the conformance kit ------------------------------------------------------------------------
class TestRpcFleetConformance(ProviderConformance):
    provider_name = NAME

    @pytest.fixture(scope="class")
    @classmethod
    def registry(cls) -> EndpointRegistry:
        return REGISTRY


# -- helpers ------------------------------------------------------------------------------------
@dataclass
class Rpc:
    simulator: RpcFleetSimulator
    server: SimServer

    @property
    def simulation(self) -> Simulation:
        return Simulation(self.simulator.fleet, self.simulator, self.server)

    def provider(self, **overrides: Any) -> Provider:
        return simulated_provider(self.simulation, REGISTRY, NAME, **overrides)

    def calls(self, method: str) -> list[dict[str, Any]]:
        """The JSON-RPC calls of ``method`` the server received, in order."""
        found = []
        for logged in self.server.requests("/apiv1"):
            call = json.loads(logged.body) if logged.body else None
            if isinstance(call, dict) and call.get("method") == method:
                found.append(call)
        return found


@contextmanager
def serve(fleet: Fleet, as_of: datetime) -> Iterator[Rpc]:
    simulator = RpcFleetSimulator(fleet, as_of=as_of)
    with SimServer(simulator) as server:
        yield Rpc(simulator, server)


@pytest.fixture
def rpc() -> Iterator[Rpc]:
    """Twelve devices (three Get Device pages of five); two days of points."""
    with serve(Fleet(5, 12), DAY0 + 2 * DAY) as served:
        yield served


def table(batches: Iterable[FlatBatch]) -> pa.Table:
    return pa.concat_tables([batch.table for batch in batches])


def rpc_config(rpc: Rpc, dataset: Path, page_size: int = 1000) -> FthConfig:
    return parse_config(
        {
            "providers": {
                NAME: {
                    "base_url": rpc.server.base_url,
                    **rpc.simulator.credentials(),
                    "retry_backoff_factor": 0.01,
                    "max_retries": 1,
                    "request_timeout": [2, 5],
                    "options": {"feed_page_size": page_size},
                }
            },
            "pipeline": {
                "default_start_date": DAY0.date().isoformat(),
                "lookback_days": 1,
                "batch_increment_days": 1,
            },
            "storage": {"parquet_path": str(dataset)},
        },
        env={},
    )


def committed_state(dataset: Path) -> dict[str, Any]:
    document = json.loads((dataset / "_state" / "state.json").read_text(encoding="utf-8"))
    state: dict[str, Any] = document["providers"][NAME]["state"]
    return state


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
                rpc_plugin.rpc_error("OverLimitException", "quota exceeded"),
                headers={"Retry-After": "2"},
            ),
            Verdict.RATE_LIMITED,
            2.0,
            "OverLimitException: quota exceeded",
        ),
        (
            rpc_answer(rpc_plugin.rpc_error("InvalidUserException", "Invalid session @ 'db'")),
            Verdict.SESSION_EXPIRED,
            None,
            "InvalidUserException: Invalid session @ 'db'",
        ),
        (
            rpc_answer(rpc_plugin.rpc_error("DbUnavailableException", "db is Initializing")),
            Verdict.RETRY,
            None,
            "DbUnavailableException: db is Initializing",
        ),
        (
            rpc_answer(rpc_plugin.rpc_error("DbUnavailableException", "UnknownDatabase 'x'")),
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
    credentials = {"database": "db", "userName": "u", "sessionId": "s3cr3t-session"}
    here = read_session({"result": {"credentials": credentials, "path": "ThisServer"}})
    assert here.base_url is None
    assert here.value == credentials
    assert here.secrets == ("s3cr3t-session",)
    assert "s3cr3t" not in repr(here)
    there = read_session({"result": {"credentials": credentials, "path": "my3.rpc.example"}})
    assert there.base_url == "https://my3.rpc.example"


# -- sessions ------------------------------------------------------------------------------------
def test_an_expired_session_mid_walk_costs_one_more_authenticate_and_the_walk_completes(
    rpc: Rpc,
) -> None:
    with rpc.provider() as provider:
        pages = provider.client().iter_pages(DEVICES)
        first = next(pages)
        assert len(first.items) == 5
        rpc.simulator.expire_sessions()
        rest = [item for page in pages for item in page.items]
    ids = [d["id"] for d in [*first.items, *rest]]
    assert ids == [f"b{i:04d}" for i in range(1, 13)]
    assert len(rpc.calls("Authenticate")) == 2
    # Three pages, and the one refused for its expired session asked again.
    assert len(rpc.calls("Get")) == 4
    sessions = [c["params"]["credentials"]["sessionId"] for c in rpc.calls("Get")]
    assert sessions[0] == sessions[1] != sessions[2] == sessions[3]


def test_eight_threads_share_one_login_and_after_expiry_one_relogin(rpc: Rpc) -> None:
    def eight_at_once(provider: Provider) -> None:
        barrier = threading.Barrier(8)

        def one(_: int) -> int:
            barrier.wait()
            return len(provider.client().fetch(DEVICES).items)

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(one, range(8))) == [5] * 8

    with rpc.provider() as provider:
        eight_at_once(provider)
        assert len(rpc.calls("Authenticate")) == 1
        rpc.simulator.expire_sessions()
        eight_at_once(provider)
        assert len(rpc.calls("Authenticate")) == 2
        assert provider.stats.logins == 2


def test_a_session_refused_right_after_a_fresh_login_is_an_auth_error_not_a_loop(
    rpc: Rpc,
) -> None:
    rpc.simulator.refuse_sessions = True
    with rpc.provider() as provider, pytest.raises(AuthError) as caught:
        provider.client().fetch(DEVICES)
    assert "InvalidUserException: Invalid session @ 'fleetdb'" in str(caught.value)
    assert "check the credentials" in str(caught.value)
    assert len(rpc.calls("Authenticate")) == 2  # the login, and one fresh login: no more


def test_a_wrong_password_is_one_authenticate_and_a_clear_auth_error(rpc: Rpc) -> None:
    wrong = {**rpc.simulator.credentials(), "password": "not-the-password-42"}
    with rpc.provider(**wrong) as provider, pytest.raises(AuthError) as caught:
        provider.client().fetch(DEVICES)
    message = str(caught.value)
    assert "InvalidUserException: Incorrect login credentials @ 'fleetdb'" in message
    assert "not-the-password-42" not in message
    assert len(rpc.calls("Authenticate")) == 1
    assert rpc.calls("Get") == []


# -- errors in HTTP 200: quota, transient and fatal -------------------------------------------
def test_an_over_limit_exception_in_a_200_pauses_its_scope_only_and_the_call_then_succeeds(
    rpc: Rpc,
) -> None:
    with rpc.provider() as provider:
        client = provider.client()
        client.fetch(DEVICES)  # logged in
        rpc.simulator.fail_next(
            "OverLimitException",
            "API calls quota exceeded. Maximum admitted 60 per 1m.",
            method="GetFeed",
            retry_after=1,
        )
        feed: dict[str, float] = {}

        def read_feed() -> None:
            began = time.monotonic()
            page = client.fetch(LOG_RECORDS, {"from_date": DAY0})
            feed["seconds"] = time.monotonic() - began
            feed["items"] = len(page.items)

        worker = threading.Thread(target=read_feed)
        worker.start()
        wait_for(lambda: rpc.simulator.faults_served)
        time.sleep(0.2)  # the GetFeed scope is paused now, for a second
        began = time.monotonic()
        assert len(client.fetch(DEVICES).items) == 5
        other_scope = time.monotonic() - began
        worker.join(10)
        assert provider.stats.rate_limited >= 1
    assert feed["items"] > 0
    assert feed["seconds"] >= 0.95, "the Retry-After of 1 s was not waited out"
    assert other_scope < 0.5, "a Get Device call waited for the GetFeed scope's pause"
    assert len(rpc.calls("GetFeed")) == 2


def test_an_initializing_database_is_retried_and_an_unknown_one_is_fatal(rpc: Rpc) -> None:
    with rpc.provider() as provider:
        client = provider.client()
        rpc.simulator.fail_next(
            "DbUnavailableException", "Database 'fleetdb' is Initializing", method="Get"
        )
        assert len(client.fetch_all(DEVICES)) == 12
        assert provider.stats.retries >= 1
        before = len(rpc.calls("Get"))
        rpc.simulator.fail_next("DbUnavailableException", "UnknownDatabase 'fleetdb'", method="Get")
        with pytest.raises(APIError) as caught:
            client.fetch(DEVICES)
    assert not isinstance(caught.value, AuthError)
    assert "DbUnavailableException: UnknownDatabase 'fleetdb'" in str(caught.value)
    assert len(rpc.calls("Get")) == before + 1  # a fatal answer is not asked again


def test_a_seek_limit_above_the_servers_silent_cap_ends_the_walk_early_so_devices_ask_for_five(
    rpc: Rpc,
) -> None:
    greedy = replace(
        DEVICES,
        pagination=SeekPagination(
            limit=10, limit_at="body.params.resultsLimit", after_at="body.params.sort.offset"
        ),
    )
    with rpc.provider() as provider:
        client = provider.client()
        # Ten asked, five answered: a "short" page, so the walk stops with 5 of 12 devices.
        assert len(client.fetch_all(greedy)) == 5
        assert len(client.fetch_all(DEVICES)) == 12


# -- the feed state -------------------------------------------------------------------------------
def test_a_new_run_from_the_stored_version_misses_nothing_the_last_run_held_back() -> None:
    # Small pages and late uploads, so records come out of time order across many pages and
    # the version stored is a real one (not the page a date seeded).
    end = DAY0 + DAY
    cuts = [DAY0, DAY0 + 12 * HOUR, DAY0 + 18 * HOUR, end]
    with serve(Fleet(3, 4, late_rate=0.5), end + 3 * HOUR) as rpc:
        for split in (1, 2):
            state: dict[str, Any] = {}
            for run, run_cuts in enumerate((cuts[: split + 1], cuts[split:])):
                stored = json.loads(json.dumps(state))  # what survives a run is JSON
                rpc.server.clear_log()
                with rpc.provider(options={"feed_page_size": 300}) as provider:
                    space: dict[str, Any] = {}
                    for w_start, w_end in itertools.pairwise(run_cuts):
                        got = table(
                            fetch_telemetry(provider, w_start, w_end, end, run=space, state=stored)
                        )
                        assert_same_telemetry(got, rpc.simulator.expected_telemetry(w_start, w_end))
                if run == 1:
                    first = rpc.calls("GetFeed")[0]["params"]
                    assert first["fromVersion"] == state[VERSION], "the stored version was used"
                    assert "search" not in first
                state = stored
            assert VERSION in state
        # A window that starts before the time the version was stored for is seeded by a date.
        rpc.server.clear_log()
        assert state[SINCE] == "2026-03-02T18:00:00Z"
        with rpc.provider() as provider:
            got = table(fetch_telemetry(provider, DAY0, cuts[1], state=dict(state)))
        assert_same_telemetry(got, rpc.simulator.expected_telemetry(DAY0, cuts[1]))
        first = rpc.calls("GetFeed")[0]["params"]
        assert "fromVersion" not in first
        assert first["search"]["fromDate"] == "2026-03-01T23:00:00Z"


def test_the_next_pipeline_run_reads_the_feed_from_the_version_the_last_one_committed(
    tmp_path: Path,
) -> None:
    dataset = tmp_path / "data"
    first_end, second_end = DAY0 + 2 * DAY, DAY0 + 3 * DAY
    with serve(Fleet(9, 4, late_rate=0.5), first_end) as rpc:  # the clock: the run's end
        config = rpc_config(rpc, dataset)
        summary = TelemetryPipeline.from_config(config, REGISTRY).run(end=first_end)
        assert summary.status == "ok"
        committed = committed_state(dataset)
        assert committed[SINCE] == "2026-03-03T00:00:00Z"
        # The next run's one-day lookback starts on day 2: day 1 stays as this run stored it.
        day_one = rpc.simulator.expected_telemetry(DAY0, DAY0 + DAY)

        rpc.simulator.as_of = second_end + 3 * DAY  # every late point of these days is out
        rpc.server.clear_log()
        pipeline = TelemetryPipeline.from_config(config, REGISTRY)
        summary = pipeline.run(end=second_end)
        assert summary.status == "ok"
        first = rpc.calls("GetFeed")[0]["params"]
        assert first["fromVersion"] == committed[VERSION]
        assert "search" not in first  # not seeded from a date
        assert int(committed_state(dataset)[VERSION], 16) > int(committed[VERSION], 16)

        # Late uploads of day 2 that arrived after the first run came through the feed.
        points = rpc.simulator.fleet.points(DAY0 + DAY, first_end)
        arrived_later = pc.greater(points.column("available_at"), pa.scalar(first_end))
        assert pc.sum(arrived_later).as_py() > 0
        expected = pa.concat_tables(
            [day_one, rpc.simulator.expected_telemetry(DAY0 + DAY, second_end)]
        )
        assert_same_telemetry(pipeline.store.read(), expected)  # no duplicates either


# -- secrets --------------------------------------------------------------------------------------
def test_the_password_and_session_ids_never_show(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="fth")
    dataset = tmp_path / "data"
    with serve(Fleet(5, 6), DAY0 + DAY) as rpc:
        simulator = rpc.simulator
        config = rpc_config(rpc, dataset)
        summary = TelemetryPipeline.from_config(config, REGISTRY).run(end=DAY0 + DAY)
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
        with rpc.provider(**wrong) as provider, pytest.raises(AuthError) as rejected:
            provider.fetch_all("devices")
        shown += [str(rejected.value), repr(rejected.value)]
        wire = b"".join(logged.body for logged in rpc.server.requests("/apiv1"))
    shown += [caplog.text, (dataset / "_state" / "state.json").read_text(encoding="utf-8")]
    secrets = [simulator.password, wrong["password"], *simulator.issued]
    assert len(simulator.issued) >= 4  # the run's, two of the provider's, the refused one's
    assert caplog.text, "the run logged at debug level"
    for secret in secrets:
        assert secret.encode() in wire  # they were sent: their absence below means something
        for text in shown:
            assert secret.lower() not in text.lower()
