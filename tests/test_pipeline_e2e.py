"""End to end: the pipeline with both real plugins against their simulators on 127.0.0.1.

The registry comes from the installed plugins (``EndpointRegistry.from_plugins()``), the
simulators serve the shared simulated fleet over real HTTP, and the dataset is compared with the
simulators' own ground truth. The mechanics (windows, failures, quarantine) are pinned against
the example Acme plugin in test_pipeline.py; here the question is whether the whole job, with
Motive's whole-day answers and Samsara's margin walks, stores exactly the truth.

One module fixture makes three runs on one dataset, and the tests read what it recorded:

1. a 3-day run (2026-03-02 .. 03-05) while both simulators' clocks stand at its end;
2. the clocks move three days on, releasing late uploads inside the lookback (03-04), and the
   next run goes to 03-06: it must re-fetch only 03-04 and fetch 03-05;
3. an identical rerun of the last window, which must replace every row it fetched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from loopback_support import BreakWindow, closed_port_url, simulators_config

from fth_core.config import FthConfig, parse_config
from fth_core.pipeline import PipelineError, RunSummary, TelemetryPipeline
from fth_core.registry import EndpointRegistry
from fth_core.schema import DEDUP_KEY
from fth_core.sim import Fleet, LoggedRequest, SimServer, SimulatedProvider
from fth_core.store import DatasetStore
from fth_core.testing import assert_same_telemetry
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
FIRST_END = DAY0 + timedelta(days=3)  # first run: 03-02, 03-03, 03-04
SECOND_AS_OF = DAY0 + timedelta(days=6)  # late uploads of 03-04 are out by then
SECOND_END = DAY0 + timedelta(days=4)  # second run: the lookback day 03-04, and 03-05
LOOKBACK_START = FIRST_END - timedelta(days=1)
VEHICLES = 4
# Fleets whose lookback day holds late points (checked below); seed 41 has a deactivated vehicle.
MOTIVE_SEED, SAMSARA_SEED = 41, 42


def pipeline_config(
    dataset: Path, motive_url: str | None, samsara_url: str | None, **pipeline: Any
) -> FthConfig:
    """Both providers (those with a URL) pointed at loopback, with fast retries."""
    document = simulators_config(dataset, motive_url, samsara_url, start=DAY0.date(), **pipeline)
    return parse_config(document, env={})


def file_identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def late_keys(fleet: Fleet, provider: str, start: datetime, end: datetime) -> set[tuple[str, ...]]:
    """Keys of the points of ``[start, end)`` uploaded after the first run and by the second."""

    def keys(as_of: datetime) -> set[tuple[str, ...]]:
        table = fleet.points(start, end, as_of=as_of)
        ids = table.column("vehicle_id").to_pylist()
        stamps = table.column("timestamp").to_pylist()
        return {(provider, v, t.isoformat()) for v, t in zip(ids, stamps, strict=True)}

    return keys(SECOND_AS_OF) - keys(FIRST_END)


def stored_keys(table: pa.Table) -> set[tuple[str, ...]]:
    columns = [table.column(k).to_pylist() for k in DEDUP_KEY]
    return {(p, v, t.isoformat()) for p, v, t in zip(*columns, strict=True)}


@dataclass
class Runs:
    """What the module fixture's three runs did and saw."""

    dataset: Path
    motive: MotiveSimulator
    samsara: SamsaraSimulator
    first: RunSummary
    after_first: pa.Table
    expected_first: pa.Table
    files_after_first: dict[str, tuple[int, int]]
    second: RunSummary
    after_second: pa.Table
    expected_second: pa.Table
    files_after_second: dict[str, tuple[int, int]]
    second_requests: dict[str, list[LoggedRequest]]
    rerun: RunSummary
    after_rerun: pa.Table


def partition_files(dataset: Path) -> dict[str, tuple[int, int]]:
    """Each data file's identity, by ``<date>/<provider>`` (e.g. ``2026-03-02/motive``)."""
    return {
        f"{path.parent.name.removeprefix('date=')}/{path.stem}": file_identity(path)
        for path in sorted(dataset.glob("date=*/*.parquet"))
    }


def expected_both(start: datetime, end: datetime, *sims: SimulatedProvider) -> pa.Table:
    return pa.concat_tables([sim.expected_telemetry(start, end) for sim in sims])


@pytest.fixture(scope="module")
def registry() -> EndpointRegistry:
    found = EndpointRegistry.from_plugins()
    assert {"motive", "samsara"} <= set(found.list_providers()), "install both plugins"
    return found


@pytest.fixture(scope="module")
def runs(registry: EndpointRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    dataset = tmp_path_factory.mktemp("e2e") / "dataset"
    motive = MotiveSimulator(Fleet(MOTIVE_SEED, vehicles=VEHICLES, late_rate=0.5), as_of=FIRST_END)
    samsara = SamsaraSimulator(
        Fleet(SAMSARA_SEED, vehicles=VEHICLES, late_rate=0.5), as_of=FIRST_END
    )
    with SimServer(motive) as motive_server, SimServer(samsara) as samsara_server:
        config = pipeline_config(dataset, motive_server.base_url, samsara_server.base_url)

        def run(end: datetime) -> RunSummary:
            return TelemetryPipeline.from_config(config, registry).run(end=end)

        first = run(FIRST_END)
        after_first = DatasetStore(dataset).read()
        expected_first = expected_both(DAY0, FIRST_END, motive, samsara)
        files_after_first = partition_files(dataset)
        # Before the lookback, the dataset stays as the first run saw it.
        expected_before_lookback = expected_both(DAY0, LOOKBACK_START, motive, samsara)

        motive.as_of = samsara.as_of = SECOND_AS_OF
        motive_server.clear_log()
        samsara_server.clear_log()
        second = run(SECOND_END)
        second_requests = {
            "motive": motive_server.requests(),
            "samsara": samsara_server.requests(),
        }
        after_second = DatasetStore(dataset).read()
        expected_second = pa.concat_tables(
            [expected_before_lookback, expected_both(LOOKBACK_START, SECOND_END, motive, samsara)]
        )
        files_after_second = partition_files(dataset)

        rerun = run(SECOND_END)  # nothing new: the lookback window again, same answers
        after_rerun = DatasetStore(dataset).read()
        yield Runs(
            dataset=dataset,
            motive=motive,
            samsara=samsara,
            first=first,
            after_first=after_first,
            expected_first=expected_first,
            files_after_first=files_after_first,
            second=second,
            after_second=after_second,
            expected_second=expected_second,
            files_after_second=files_after_second,
            second_requests=second_requests,
            rerun=rerun,
            after_rerun=after_rerun,
        )


# -- the dataset equals ground truth ---------------------------------------------------------


def test_a_first_run_stores_exactly_both_simulators_ground_truth(runs: Runs) -> None:
    assert runs.first.status == "ok"
    assert_same_telemetry(runs.after_first, runs.expected_first)
    assert set(runs.after_first.column("provider").to_pylist()) == {"motive", "samsara"}
    assert runs.first.providers["motive"].watermark == FIRST_END
    assert runs.first.providers["samsara"].watermark == FIRST_END
    assert runs.first.partitions_touched == ["2026-03-02", "2026-03-03", "2026-03-04"]


def test_the_fleets_hold_late_points_inside_the_lookback(runs: Runs) -> None:
    for sim in (runs.motive, runs.samsara):
        late = late_keys(sim.fleet, sim.name, LOOKBACK_START, FIRST_END)
        assert late, f"{sim.name}: the fixture fleet must upload points late inside the lookback"
        assert not late & stored_keys(runs.after_first), "late points were not out yet"


def test_the_next_run_picks_up_late_points_without_loss_or_duplicates(runs: Runs) -> None:
    assert runs.second.status == "ok"
    stored = stored_keys(runs.after_second)
    for sim in (runs.motive, runs.samsara):
        late = late_keys(sim.fleet, sim.name, LOOKBACK_START, FIRST_END)
        assert late <= stored, f"{sim.name}: late points inside the lookback are missing"
    # assert_same_telemetry also fails on duplicate keys and on any value that differs.
    assert_same_telemetry(runs.after_second, runs.expected_second)


def test_the_next_run_requests_only_the_lookback_and_the_new_window(runs: Runs) -> None:
    windows = [(LOOKBACK_START, FIRST_END), (FIRST_END, SECOND_END)]
    # Motive (README "Telemetry"): location requests for every vehicle of the roster
    # (deactivated ones too). The run's first window asks for its days with a day of margin on
    # each side, and every vehicle but the roster's first reads ahead to the run's end; the
    # first asks for the new day in the next window.
    locations = [r for r in runs.second_requests["motive"] if r.path.startswith("/v3/")]
    ranges = [
        (r.path.rsplit("/", 1)[1], r.query["start_date"][0], r.query["end_date"][0])
        for r in locations
    ]
    first_day, new_day = (LOOKBACK_START - timedelta(days=1)).date(), SECOND_END.date()
    vehicles = sorted(runs.motive.fleet.vehicles, key=lambda v: int(v.id))  # roster order
    assert sorted(ranges) == sorted(
        [
            (vehicles[0].id, first_day.isoformat(), FIRST_END.date().isoformat()),
            (vehicles[0].id, new_day.isoformat(), new_day.isoformat()),
            *((v.id, first_day.isoformat(), new_day.isoformat()) for v in vehicles[1:]),
        ]
    )
    # Samsara (README "Telemetry"): per window one GPS walk over the window, one margin walk
    # over the day before it and one over the 30 minutes after it; assignments inside it.
    stats = [
        r for r in runs.second_requests["samsara"] if r.path == "/fleet/vehicles/stats/history"
    ]
    spans = {(r.query["types"][0], r.query["startTime"][0], r.query["endTime"][0]) for r in stats}

    def z(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    margin, tolerance = timedelta(hours=24), timedelta(minutes=30)
    assert spans == {
        span
        for start, end in windows
        for span in (
            ("gps,engineStates,obdOdometerMeters", z(start), z(end)),
            ("engineStates,obdOdometerMeters", z(start - margin), z(start)),
            ("obdOdometerMeters", z(end), z(end + tolerance)),
        )
    }
    assignments = [
        r for r in runs.second_requests["samsara"] if r.path == "/fleet/driver-vehicle-assignments"
    ]
    assert {(r.query["startTime"][0], r.query["endTime"][0]) for r in assignments} == {
        (z(start), z(end)) for start, end in windows
    }
    # Nothing before the day of engine-state margin ahead of the lookback.
    assert not [
        r
        for r in runs.second_requests["samsara"]
        if "startTime" in r.query and r.query["startTime"][0] < z(LOOKBACK_START - margin)
    ]
    assert runs.second.providers["motive"].windows == runs.second.providers["samsara"].windows == 2


def test_a_run_rewrites_only_the_partitions_it_touched(runs: Runs) -> None:
    before, after = runs.files_after_first, runs.files_after_second
    assert runs.second.partitions_touched == ["2026-03-04", "2026-03-05"]
    for day in ("2026-03-02", "2026-03-03"):
        for provider in ("motive", "samsara"):
            file = f"{day}/{provider}"
            assert after[file] == before[file], f"{file} was rewritten though no window touched it"
    for provider in ("motive", "samsara"):
        file = f"2026-03-04/{provider}"
        assert after[file][0] != before[file][0], f"the lookback day's {file} was replaced"
    assert set(after) == set(before) | {"2026-03-05/motive", "2026-03-05/samsara"}


def test_a_watermark_is_saved_only_once_its_windows_rows_are_stored(
    registry: EndpointRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data first, state last: whenever a watermark is written, every row before it is on disk
    (so a crash between the two never leaves a watermark claiming rows that are missing)."""
    sims: dict[str, SimulatedProvider] = {
        "motive": MotiveSimulator(Fleet(MOTIVE_SEED, vehicles=3), as_of=FIRST_END),
        "samsara": SamsaraSimulator(Fleet(SAMSARA_SEED, vehicles=3), as_of=FIRST_END),
    }
    original = DatasetStore.set_watermark
    checked: list[tuple[str, datetime]] = []
    problems: list[str] = []

    def set_watermark_after_checking(
        self: DatasetStore, provider: str, moment: datetime, plugin_state: Any = None
    ) -> None:
        last_day = (moment - timedelta(microseconds=1)).date()
        table = self.read(DAY0.date(), last_day)
        mine = table.filter(pc.equal(table.column("provider").cast(pa.string()), provider))
        try:
            assert_same_telemetry(mine, sims[provider].expected_telemetry(DAY0, moment))
        except AssertionError as exc:
            problems.append(f"{provider} watermark {moment} before its rows: {exc}")
        checked.append((provider, moment))
        original(self, provider, moment, plugin_state)

    monkeypatch.setattr(DatasetStore, "set_watermark", set_watermark_after_checking)
    with SimServer(sims["motive"]) as motive_server, SimServer(sims["samsara"]) as samsara_server:
        config = pipeline_config(tmp_path, motive_server.base_url, samsara_server.base_url)
        summary = TelemetryPipeline.from_config(config, registry).run(end=FIRST_END)
    assert problems == []
    assert summary.status == "ok"
    assert sorted(checked) == [
        (name, DAY0 + timedelta(days=n)) for name in ("motive", "samsara") for n in (1, 2, 3)
    ]


# -- reading it back -------------------------------------------------------------------------


def test_the_dataset_reads_with_pyarrow_dataset_pruning_partitions_by_date(runs: Runs) -> None:
    dataset = ds.dataset(runs.dataset, format="parquet", partitioning="hive")
    # 4 dates x 2 providers: state, lock and quarantine are not part of the dataset.
    assert len(dataset.files) == 8, dataset.files
    wanted = ds.field("date") == "2026-03-03"
    fragments = list(dataset.get_fragments(filter=wanted))
    assert [Path(f.path).relative_to(runs.dataset).as_posix() for f in fragments] == [
        "date=2026-03-03/motive.parquet",
        "date=2026-03-03/samsara.parquet",
    ]
    table = dataset.to_table(filter=wanted)
    assert table.num_rows == DatasetStore(runs.dataset).read_partition(date(2026, 3, 3)).num_rows
    assert pc.min(table.column("timestamp")).as_py() >= DAY0 + timedelta(days=1)
    assert pc.max(table.column("timestamp")).as_py() < DAY0 + timedelta(days=2)
    assert dataset.count_rows() == runs.after_rerun.num_rows


def test_the_dataset_reads_with_pandas_filters(runs: Runs) -> None:
    frame = pd.read_parquet(runs.dataset, filters=[("date", "=", "2026-03-04")])
    assert len(frame) == DatasetStore(runs.dataset).read_partition(date(2026, 3, 4)).num_rows
    assert set(frame["provider"].astype(str)) == {"motive", "samsara"}
    assert isinstance(frame["engine_state"].dtype, pd.CategoricalDtype)
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["timestamp"].dt.date.astype(str).unique().tolist() == ["2026-03-04"]


# -- the summary -----------------------------------------------------------------------------


def test_a_first_run_summary_counts_what_the_dataset_holds(runs: Runs) -> None:
    first, stored = runs.first, runs.after_first
    assert first.rows_written == stored.num_rows
    assert first.rows_fetched == stored.num_rows
    assert first.duplicates_replaced == 0
    assert first.quarantined == 0
    vehicles = {
        (p, v)
        for p, v in zip(
            stored.column("provider").to_pylist(),
            stored.column("provider_vehicle_id").to_pylist(),
            strict=True,
        )
    }
    assert first.vehicles == len(vehicles)
    assert first.first_timestamp == pc.min(stored.column("timestamp")).as_py()
    assert first.last_timestamp == pc.max(stored.column("timestamp")).as_py()
    for name, run in first.providers.items():
        assert (
            run.rows_added
            == pc.sum(pc.equal(stored.column("provider").cast(pa.string()), name)).as_py()
        )
        assert run.windows == run.windows_done == 3
        assert run.requests > 0
        assert run.failures == []


def test_the_second_run_counts_the_lookback_rows_it_replaced(runs: Runs) -> None:
    second = runs.second
    assert second.rows_written == runs.after_second.num_rows - runs.after_first.num_rows
    refetched = runs.after_first.filter(
        pc.greater_equal(runs.after_first.column("timestamp"), pa.scalar(LOOKBACK_START))
    ).num_rows
    assert second.duplicates_replaced == refetched


def test_an_identical_rerun_replaces_every_row_it_fetches_and_adds_none(runs: Runs) -> None:
    rerun = runs.rerun
    assert rerun.status == "ok"
    assert rerun.rows_fetched > 0
    assert rerun.rows_written == 0
    assert rerun.duplicates_replaced == rerun.rows_fetched
    last_day = runs.after_second.filter(
        pc.greater_equal(runs.after_second.column("timestamp"), pa.scalar(FIRST_END))
    )
    assert rerun.rows_fetched == last_day.num_rows
    assert_same_telemetry(runs.after_rerun, runs.expected_second)
    assert rerun.dataset_bytes == sum(
        p.stat().st_size for p in runs.dataset.glob("date=*/*.parquet")
    )


# -- every provider failing ------------------------------------------------------------------


def test_every_provider_down_raises_pipeline_error_with_nothing_saved(
    registry: EndpointRegistry, tmp_path: Path
) -> None:
    config = pipeline_config(tmp_path, closed_port_url(), closed_port_url())
    pipeline = TelemetryPipeline.from_config(config, registry)
    with pytest.raises(PipelineError) as caught:
        pipeline.run(end=DAY0 + timedelta(days=2))
    error = caught.value
    assert error.exit_code == 1
    assert error.partial_data_saved is False
    assert error.batch_index == 0
    assert "\n" not in str(error)
    window = "window 1 (2026-03-02T00:00:00Z..2026-03-03T00:00:00Z) failed"
    assert str(error).startswith(f"every provider failed (motive: {window}: GET ")
    assert f"; samsara: {window}: GET " in str(error), "each provider once, with its first failure"
    assert error.summary is not None
    assert error.summary.status == "failed"
    assert pipeline.store.partitions() == []
    assert pipeline.store.watermark("motive") is None
    assert pipeline.store.watermark("samsara") is None


def test_every_provider_failing_after_a_committed_window_reports_partial_data_saved(
    registry: EndpointRegistry, tmp_path: Path
) -> None:
    motive = MotiveSimulator(Fleet(MOTIVE_SEED, vehicles=3), as_of=DAY0 + timedelta(days=5))
    samsara = SamsaraSimulator(Fleet(SAMSARA_SEED, vehicles=3), as_of=DAY0 + timedelta(days=5))
    second_day = (DAY0 + timedelta(days=1)).date()
    with (
        SimServer(BreakWindow(motive, second_day, "broken day")) as motive_server,
        SimServer(BreakWindow(samsara, second_day, "broken day")) as samsara_server,
    ):
        config = pipeline_config(tmp_path, motive_server.base_url, samsara_server.base_url)
        pipeline = TelemetryPipeline.from_config(config, registry)
        with pytest.raises(PipelineError) as caught:
            pipeline.run(end=DAY0 + timedelta(days=3))
    error = caught.value
    assert error.partial_data_saved is True
    assert error.batch_index == 1
    assert "broken day" in str(error)
    one_day = DAY0 + timedelta(days=1)
    assert pipeline.store.watermark("motive") == pipeline.store.watermark("samsara") == one_day
    assert [d.isoformat() for d in pipeline.store.partitions()] == ["2026-03-02"]
    assert_same_telemetry(pipeline.store.read(), expected_both(DAY0, one_day, motive, samsara))
