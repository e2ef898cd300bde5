"""The incremental pipeline's mechanics, against the example Acme provider over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from acme_support import AcmeSimulator, acme_config, acme_registry

from fth_core.endpoints import parse_utc
from fth_core.pipeline import PipelineError, TelemetryPipeline, windows
from fth_core.sim import Fleet, SimServer
from fth_core.store import DatasetStore
from fth_core.testing import assert_same_telemetry

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def acme() -> Iterator[tuple[AcmeSimulator, SimServer]]:
    simulator = AcmeSimulator(
        Fleet(seed=3, vehicles=3, late_rate=0.5), as_of=DAY0 + timedelta(days=3)
    )
    with SimServer(simulator) as server:
        yield simulator, server


def pipeline_for(server: SimServer, dataset: Path, **settings: object) -> TelemetryPipeline:
    config = acme_config(server.base_url, dataset, default_start_date="2026-03-02", **settings)
    return TelemetryPipeline.from_config(config, acme_registry())


def window_starts(server: SimServer) -> list[datetime]:
    return sorted({parse_utc(r.query["start"][0]) for r in server.requests("/v1/positions")})


def test_windows_cut_the_range_into_half_open_steps() -> None:
    got = windows(DAY0, DAY0 + timedelta(hours=60), 1)
    assert got == [
        (DAY0, DAY0 + timedelta(days=1)),
        (DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)),
        (DAY0 + timedelta(days=2), DAY0 + timedelta(hours=60)),
    ]


def test_a_run_stores_exactly_the_ground_truth(
    acme: tuple[AcmeSimulator, SimServer], tmp_path: Path
) -> None:
    simulator, server = acme
    end = DAY0 + timedelta(days=3)
    summary = pipeline_for(server, tmp_path).run(end=end)
    assert summary.status == "ok"
    assert summary.exit_code == 0
    stored = pipeline_for(server, tmp_path).store.read()
    assert_same_telemetry(stored, simulator.expected_telemetry(DAY0, end))
    assert summary.rows_written == stored.num_rows
    assert summary.partitions_touched == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert summary.providers["acme"].watermark == end


def test_the_next_run_fetches_only_the_lookback_and_new_windows_and_picks_up_late_points(
    acme: tuple[AcmeSimulator, SimServer], tmp_path: Path
) -> None:
    simulator, server = acme
    fleet = simulator.fleet
    first_as_of = first_end = DAY0 + timedelta(days=3)
    pipeline_for(server, tmp_path).run(end=first_end)
    server.clear_log()
    simulator.as_of = second_as_of = DAY0 + timedelta(days=6)  # late uploads arrive meanwhile
    second_end = DAY0 + timedelta(days=4)
    lookback_start = DAY0 + timedelta(days=2)
    released = (
        fleet.points(lookback_start, first_end, as_of=second_as_of).num_rows
        - fleet.points(lookback_start, first_end, as_of=first_as_of).num_rows
    )
    assert released > 0, "the fixture fleet must hold late points inside the lookback"

    summary = pipeline_for(server, tmp_path).run(end=second_end)

    assert window_starts(server) == [lookback_start, first_end]
    assert summary.duplicates_replaced > 0
    # Before the lookback the dataset is as the first run saw it; inside it, as the second did.
    expected = pa.concat_tables(
        [
            fleet.telemetry("acme", DAY0, lookback_start, as_of=first_as_of),
            fleet.telemetry("acme", lookback_start, second_end, as_of=second_as_of),
        ]
    )
    assert_same_telemetry(pipeline_for(server, tmp_path).store.read(), expected)


def test_an_explicit_start_and_provider_override_the_watermark(
    acme: tuple[AcmeSimulator, SimServer], tmp_path: Path
) -> None:
    _, server = acme
    pipeline_for(server, tmp_path).run(end=DAY0 + timedelta(days=3))
    server.clear_log()
    pipeline_for(server, tmp_path).run(start=DAY0, end=DAY0 + timedelta(days=1), providers=["acme"])
    assert window_starts(server) == [DAY0]


def test_a_failing_window_stops_the_provider_there_and_keeps_earlier_windows(
    acme: tuple[AcmeSimulator, SimServer], tmp_path: Path
) -> None:
    simulator, server = acme
    pipeline = pipeline_for(server, tmp_path)
    # The second window's first request fails with a 400 (not retried).
    original = simulator.handle

    def second_day_breaks(request):  # type: ignore[no-untyped-def]
        if request.path == "/v1/positions" and request.arg("start", "").startswith("2026-03-03"):
            from fth_core.sim import SimResponse

            return SimResponse.json(400, {"error": "bad window"})
        return original(request)

    simulator.handle = second_day_breaks  # type: ignore[method-assign]
    with pytest.raises(PipelineError) as caught:
        pipeline.run(end=DAY0 + timedelta(days=3))
    error = caught.value
    assert error.partial_data_saved is True
    assert error.batch_index == 1
    assert error.exit_code == 1
    assert "bad window" in str(error)
    assert pipeline.store.watermark("acme") == DAY0 + timedelta(days=1)
    assert [d.isoformat() for d in pipeline.store.partitions()] == ["2026-03-02"]


def test_rows_outside_the_schema_ranges_are_quarantined_with_a_reason(
    acme: tuple[AcmeSimulator, SimServer], tmp_path: Path
) -> None:
    simulator, server = acme
    original = simulator._positions

    def one_bad_latitude(start, end):  # type: ignore[no-untyped-def]
        items = original(start, end)
        if items:
            items[0] = {**items[0], "lat": 123.0}
        return items

    simulator._positions = one_bad_latitude  # type: ignore[method-assign]
    summary = pipeline_for(server, tmp_path).run(end=DAY0 + timedelta(days=1))
    assert summary.quarantined >= 1
    quarantined = pa.concat_tables(
        [pa.parquet.read_table(p) for p in DatasetStore(tmp_path).quarantine_files()]
    )
    assert set(quarantined.column("reason").to_pylist()) == {"latitude out of range"}
    assert 123.0 not in pipeline_for(server, tmp_path).store.read().column("latitude").to_pylist()


def test_reading_back_a_date_range_reads_only_those_partitions(
    acme: tuple[AcmeSimulator, SimServer], tmp_path: Path
) -> None:
    _, server = acme
    pipeline = pipeline_for(server, tmp_path)
    pipeline.run(end=DAY0 + timedelta(days=3))
    frame = pipeline.load_date_range("2026-03-03", "2026-03-03")
    assert frame["timestamp"].dt.date.astype(str).unique().tolist() == ["2026-03-03"]
    assert len(pipeline.dataframe) > len(frame)


def test_quarantined_rows_of_windows_sharing_a_date_are_all_kept(
    acme: tuple[AcmeSimulator, SimServer], tmp_path: Path
) -> None:
    simulator, server = acme
    original = simulator._positions

    def first_row_bad(start, end):  # type: ignore[no-untyped-def]
        items = original(start, end)
        return [{**items[0], "lat": 123.0}, *items[1:]] if items else items

    simulator._positions = first_row_bad  # type: ignore[method-assign]
    # Two half-day windows on one date: each quarantines its own first row.
    summary = pipeline_for(server, tmp_path, batch_increment_days=0.5).run(
        end=DAY0 + timedelta(days=1)
    )
    files = DatasetStore(tmp_path).quarantine_files()
    stored = sum(pa.parquet.read_table(p).num_rows for p in files)
    assert summary.quarantined == stored == 2


def test_a_provider_failing_before_its_first_request_fails_only_itself(
    acme: tuple[AcmeSimulator, SimServer], tmp_path: Path
) -> None:
    _, server = acme
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n", encoding="utf-8")
    config = acme_config(server.base_url, tmp_path / "data", default_start_date="2026-03-02")
    broken = config.model_copy(
        update={
            "providers": {
                "acme": config.providers["acme"].model_copy(update={"verify_ssl": str(bundle)})
            }
        }
    )
    with pytest.raises(PipelineError, match="CA bundle") as caught:
        TelemetryPipeline.from_config(broken, acme_registry()).run(end=DAY0 + timedelta(days=1))
    assert caught.value.partial_data_saved is False
    assert caught.value.summary is not None


def test_a_run_applies_the_retention_period(
    acme: tuple[AcmeSimulator, SimServer], tmp_path: Path
) -> None:
    _, server = acme
    pipeline_for(server, tmp_path).run(end=DAY0 + timedelta(days=3))
    # Data from 2026-03-02..04; a retention that ends on 03-03 drops 03-02 only.
    days = (datetime.now(UTC).date() - DAY0.date()).days
    config = acme_config(
        server.base_url, tmp_path, default_start_date="2026-03-02", retention_days=days - 1
    )
    summary = TelemetryPipeline.from_config(config, acme_registry()).run(
        end=DAY0 + timedelta(days=3)
    )
    assert summary.partitions_pruned == ["2026-03-02"]
    assert [d.isoformat() for d in pipeline_for(server, tmp_path).store.partitions()] == [
        "2026-03-03",
        "2026-03-04",
    ]
