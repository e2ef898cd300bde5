"""A provider that keeps a feed version in the provider's persisted state between runs and
holds read-ahead for later windows of the run (tests/rpc_plugin.py, reading Geotab's LogRecord
feed with the Geotab plugin's wire) passes the core's conformance kit, and its stored state
resumes without losing what a later window needs: a new run from the stored version misses
nothing the last one held back, and the next pipeline run reads on from the version the last
one committed.

Everything runs over real HTTP on 127.0.0.1 against the Geotab simulator.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import rpc_plugin
from rpc_plugin import NAME, SINCE, VERSION, RpcFleetSimulator

from fth_core import (
    EndpointRegistry,
    FlatBatch,
    FthConfig,
    Plugins,
    Provider,
    TelemetryPipeline,
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
