"""`fth prune`: retention from the command line, on a real dataset, in a subprocess."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fake_plugins import cli_env, run_fth

from fth_core.schema import enforce_telemetry_schema
from fth_core.store import DatasetStore


def dataset_with_days(root: Path, *days: date) -> DatasetStore:
    store = DatasetStore(root)
    stamps = [datetime.combine(d, datetime.min.time(), tzinfo=UTC) for d in days]
    store.merge(
        enforce_telemetry_schema(
            {"provider_vehicle_id": ["1"] * len(days), "timestamp": stamps}, provider="acme"
        )
    )
    return store


def write_config(tmp_path: Path, dataset: Path, retention: str = "null") -> Path:
    config = tmp_path / "fth.yaml"
    config.write_text(
        f"storage: {{parquet_path: {dataset}, retention_days: {retention}}}\n", encoding="utf-8"
    )
    return config


def test_prune_deletes_partitions_older_than_the_retention_option(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    store = dataset_with_days(tmp_path / "data", today - timedelta(days=10), today)
    config = write_config(tmp_path, tmp_path / "data")
    result = run_fth("prune", "--config", str(config), "--retention-days", "5", env=cli_env(""))
    assert result.returncode == 0, result.stderr
    assert "removed 1 partition(s)" in result.stdout
    assert store.partitions() == [today]


def test_prune_uses_storage_retention_days_from_the_config(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    store = dataset_with_days(tmp_path / "data", today - timedelta(days=3), today)
    config = write_config(tmp_path, tmp_path / "data", retention="2")
    result = run_fth("prune", "--config", str(config), env=cli_env(""))
    assert result.returncode == 0, result.stderr
    assert store.partitions() == [today]


def test_prune_without_a_retention_period_exits_2_with_one_line(tmp_path: Path) -> None:
    dataset_with_days(tmp_path / "data", datetime.now(UTC).date())
    config = write_config(tmp_path, tmp_path / "data")
    result = run_fth("prune", "--config", str(config), env=cli_env(""))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: storage.retention_days is not set; pass --retention-days"
    )
