"""The everyday commands (issue #6) run for real: ``fth fetch``, ``status``, ``config init``,
``config check`` and ``query`` in a subprocess, against the Motive and Samsara simulators served
from this test process on 127.0.0.1.

Each subprocess loads only the two real plugins (``FTH_LOAD_PLUGINS``), has no ``*_API_KEY``
or proxy variables from the host, and reads a config written here that points at the
simulators. The simulators' clocks are pinned (``as_of``) so the served data is fixed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from fake_plugins import cli_env, run_fth

from fth_core.config import (
    LoggingConfig,
    PipelineConfig,
    ProviderConfig,
    RateLimitConfig,
    StorageConfig,
)
from fth_core.endpoints import human_time, parse_utc
from fth_core.sim import Fleet, SimServer
from fth_core.store import DatasetStore
from fth_motive.settings import MotiveSettings
from fth_motive.simulator import MotiveSimulator
from fth_samsara.settings import SamsaraSettings
from fth_samsara.simulator import SamsaraSimulator

VEHICLES = 3
AS_OF = datetime(2026, 3, 10, tzinfo=UTC)  # the simulators' clock: everything below is served
DAY = datetime(2026, 3, 2, tzinfo=UTC)  # the day fetched and run
SECRET = "sk-wrong-SECRET-0123456789"


@dataclass
class Sims:
    motive: MotiveSimulator
    motive_server: SimServer
    samsara: SamsaraSimulator
    samsara_server: SimServer

    def fleet(self, provider: str) -> Fleet:
        return self.motive.fleet if provider == "motive" else self.samsara.fleet

    def server(self, provider: str) -> SimServer:
        return self.motive_server if provider == "motive" else self.samsara_server

    def clear_logs(self) -> None:
        self.motive_server.clear_log()
        self.samsara_server.clear_log()

    def requests(self) -> int:
        return len(self.motive_server.requests()) + len(self.samsara_server.requests())


@pytest.fixture(scope="module")
def sims() -> Iterator[Sims]:
    motive = MotiveSimulator(Fleet(7, VEHICLES), as_of=AS_OF)
    samsara = SamsaraSimulator(Fleet(8, VEHICLES), as_of=AS_OF)
    with SimServer(motive) as motive_server, SimServer(samsara) as samsara_server:
        yield Sims(motive, motive_server, samsara, samsara_server)


def _provider(base_url: str, api_key: str) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "api_key": api_key,
        "max_retries": 1,
        "retry_backoff_factor": 0.01,
        "request_timeout": [2, 5],
    }


def write_config(path: Path, sims: Sims, dataset: Path, **providers: dict[str, Any] | None) -> Path:
    """A config for both simulators (``providers`` overrides or, with ``None``, drops one)."""
    settings: dict[str, Any] = {
        "motive": _provider(sims.motive_server.base_url, sims.motive.api_key),
        "samsara": _provider(sims.samsara_server.base_url, sims.samsara.api_key),
    }
    for name, override in providers.items():
        if override is None:
            del settings[name]
        else:
            settings[name] = settings[name] | override
    document = {
        "providers": settings,
        "pipeline": {
            "default_start_date": DAY.date().isoformat(),
            "lookback_days": 0,
            "batch_increment_days": 1,
        },
        "storage": {"parquet_path": str(dataset)},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def env(**extra: str) -> dict[str, str]:
    """Only the Motive and Samsara plugins, no host API keys or proxies (module fixtures run
    before conftest's proxy clean-up)."""
    environment = cli_env("motive,samsara", **extra)
    for name in PROXIES:
        environment.pop(name, None)
    return environment


def fth(*args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    return run_fth(*args, env=env(**extra), cwd=cwd)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def down_url(fleet: Fleet) -> str:
    """The address of a Samsara simulator that has been stopped: connections are refused."""
    server = SimServer(SamsaraSimulator(fleet, as_of=AS_OF)).start()
    url = server.base_url
    server.close()
    return url


@pytest.fixture(scope="module")
def config(sims: Sims, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both simulators; its dataset is never written (the empty-dataset case)."""
    root = tmp_path_factory.mktemp("everyday")
    return write_config(root / "fth.yaml", sims, root / "empty-dataset")


@pytest.fixture(scope="module")
def ran(sims: Sims, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose dataset holds one successful ``fth run`` of ``DAY``."""
    root = tmp_path_factory.mktemp("ran")
    path = write_config(root / "fth.yaml", sims, root / "dataset")
    end = (DAY + timedelta(days=1)).date().isoformat()
    result = run_fth("run", "--config", str(path), "--end", end, "--quiet", env=env())
    assert result.returncode == 0, result.stderr
    return path


def dataset_of(config_path: Path) -> Path:
    document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    return Path(document["storage"]["parquet_path"])


# -- fth fetch -----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["motive", "samsara"])
def test_fetch_vehicles_as_json_lists_every_vehicle_of_the_simulated_fleet(
    sims: Sims, config: Path, provider: str
) -> None:
    result = fth("fetch", provider, "vehicles", "--format", "json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    fleet = sims.fleet(provider)
    assert sorted(str(r["id"]) for r in rows) == sorted(v.id for v in fleet.vehicles)
    numbers = {str(r["id"]): r.get("number", r.get("name")) for r in rows}
    assert numbers == {v.id: v.fleet_number for v in fleet.vehicles}


def test_fetch_motive_vehicle_locations_with_params_returns_that_vehicles_points_of_those_days(
    sims: Sims, config: Path
) -> None:
    fleet = sims.motive.fleet
    vehicle = next(v for v in fleet.vehicles if v.status == "active")
    day = DAY.date().isoformat()
    result = fth(
        "fetch",
        "motive",
        "vehicle_locations",
        "-P",
        f"vehicle_id={vehicle.id}",
        "-P",
        f"start_date={day}",
        "-P",
        f"end_date={day}",
        "--format",
        "json",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    expected = fleet.points(DAY, DAY + timedelta(days=1), as_of=AS_OF, vehicle_ids=[vehicle.id])
    assert expected.num_rows > 0
    assert sorted(parse_utc(r["located_at"]) for r in rows) == sorted(
        expected.column("timestamp").to_pylist()
    )


def test_fetch_samsara_stats_history_with_list_and_time_params_returns_the_windows_gps(
    sims: Sims, config: Path
) -> None:
    start, end = DAY, DAY + timedelta(hours=2)
    sims.clear_logs()
    result = fth(
        "fetch",
        "samsara",
        "vehicle_stats_history",
        "-P",
        "types=gps",
        "-P",
        "start_time=2026-03-02T00:00:00Z",
        "-P",
        "end_time=2026-03-02T02:00:00Z",
        "--format",
        "json",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    got = sorted((str(r["id"]), parse_utc(g["time"])) for r in rows for g in r["gps"])
    points = sims.samsara.fleet.points(start, end, as_of=AS_OF)
    want = sorted(
        zip(
            points.column("vehicle_id").to_pylist(),
            points.column("timestamp").to_pylist(),
            strict=True,
        )
    )
    assert want
    assert got == want
    [query] = {tuple(r.query["types"]) for r in sims.samsara_server.requests("/fleet/vehicles/s")}
    assert query == ("gps",)


def test_fetch_csv_has_a_header_and_one_row_per_vehicle(sims: Sims, config: Path) -> None:
    result = fth("fetch", "motive", "vehicles", "--format", "csv", "--config", str(config))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"id", "number", "vin", "status"} <= set(rows[0])
    assert sorted(r["id"] for r in rows) == sorted(v.id for v in sims.motive.fleet.vehicles)


def test_fetch_parquet_to_a_file_is_readable_with_pyarrow(
    sims: Sims, config: Path, tmp_path: Path
) -> None:
    out = tmp_path / "vehicles.parquet"
    result = fth(
        "fetch",
        "samsara",
        "vehicles",
        "--format",
        "parquet",
        "-o",
        str(out),
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"wrote {VEHICLES} rows to {out}\n"
    table = pq.read_table(out)
    assert sorted(table.column("id").to_pylist()) == sorted(
        v.id for v in sims.samsara.fleet.vehicles
    )
    assert "vin" in table.column_names


def test_fetch_table_prints_whole_ids_and_names_the_columns_that_did_not_fit(
    sims: Sims, config: Path
) -> None:
    result = fth("fetch", "motive", "vehicles", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "┃" in line)
    assert [c.strip() for c in header.strip("┃").split("┃")][:3] == ["id", "company_id", "number"]
    for vehicle in sims.motive.fleet.vehicles:
        [row] = [line for line in lines if line.startswith(f"│ {vehicle.id} ")]
        assert vehicle.fleet_number in row
    assert lines[-1].startswith("... ")
    assert "more columns: " in lines[-1]
    assert "fuel_type" in lines[-1]  # a column left out is named, not silently dropped


FETCH_USAGE_ERRORS = {
    "unknown param names the known ones": (
        ["motive", "vehicle_locations", "-P", "speed=1"],
        "error: motive.vehicle_locations has no parameter 'speed' "
        "(known: vehicle_id, start_date, end_date, updated_after)",
    ),
    "missing required param": (
        ["motive", "vehicle_locations", "-P", "vehicle_id=100000", "-P", "start_date=2026-03-02"],
        "error: motive.vehicle_locations needs parameter 'end_date'",
    ),
    "ill-typed date": (
        [
            "motive",
            "vehicle_locations",
            "-P",
            "vehicle_id=100000",
            "-P",
            "start_date=notadate",
            "-P",
            "end_date=2026-03-02",
        ],
        "error: parameter start_date: ",
    ),
    "ill-typed date-time": (
        [
            "samsara",
            "vehicle_stats_history",
            "-P",
            "types=gps",
            "-P",
            "start_time=yesterday",
            "-P",
            "end_time=2026-03-02T02:00:00Z",
        ],
        "error: parameter start_time: 'yesterday' is not an ISO-8601 date-time",
    ),
}


@pytest.mark.parametrize(
    ("args", "message"), FETCH_USAGE_ERRORS.values(), ids=list(FETCH_USAGE_ERRORS)
)
def test_fetch_params_are_checked_against_the_endpoint_before_any_request(
    sims: Sims, config: Path, args: list[str], message: str
) -> None:
    sims.clear_logs()
    result = fth("fetch", *args, "--config", str(config))
    assert result.returncode == 2
    assert one_error_line(result).startswith(message)
    assert result.stdout == ""
    assert sims.requests() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-P", "novalue"], "'novalue' is not key=value"),
        (["--format", "parquet"], "parquet needs --output FILE"),
        (["-o", "out.txt"], "table output goes to the screen"),
    ],
    ids=["param without =", "parquet without -o", "table to a file"],
)
def test_fetch_option_misuse_is_a_usage_error_exit_2(
    sims: Sims, config: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    sims.clear_logs()
    result = fth("fetch", "motive", "vehicles", *args, "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert sims.requests() == 0
    assert list(tmp_path.iterdir()) == []


def test_fetch_a_provider_missing_from_config_and_environment_exits_2_naming_its_key_variable(
    sims: Sims, tmp_path: Path
) -> None:
    only_samsara = write_config(tmp_path / "fth.yaml", sims, tmp_path / "ds", motive=None)
    for config_path in (only_samsara, tmp_path / "no-such-config.yaml"):
        result = fth("fetch", "motive", "vehicles", "--config", str(config_path))
        assert result.returncode == 2
        assert one_error_line(result) == (
            "error: providers.motive.api_key: no API key (set it here or in MOTIVE_API_KEY)"
        )


# -- fth status ----------------------------------------------------------------------------


def test_status_of_an_empty_dataset_shows_where_it_is_and_that_nothing_ran(config: Path) -> None:
    dataset = dataset_of(config)
    text = fth("status", "--config", str(config))
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        f"dataset: {dataset}",
        "partitions: 0 (no data yet), 0 B",
        "lock: free",
        "motive: never run",
        "samsara: never run",
        "last run: none",
    ]
    as_json = fth("status", "--json", "--config", str(config))
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "dataset": str(dataset),
        "partitions": 0,
        "first_date": None,
        "last_date": None,
        "size_bytes": 0,
        "watermarks": {"motive": None, "samsara": None},
        "watermarks_in_future": [],
        "last_run": None,
        "totals": {"rows": 0, "providers": {}, "unreadable_files": []},
        "quarantine": {"rows": 0, "providers": {}, "path": str(dataset / "_quarantine")},
        "held_by": None,
        "damaged": [],
        "not_partitions": [],
    }
    assert not dataset.exists(), "status only reads"


def test_status_after_a_run_shows_watermarks_last_run_partitions_and_size(ran: Path) -> None:
    dataset = dataset_of(ran)
    store = DatasetStore(dataset)
    rows = store.read().num_rows
    assert rows > 0
    size = sum(p.stat().st_size for p in dataset.glob("date=*/*.parquet"))
    result = fth("status", "--json", "--config", str(ran))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    through = (DAY + timedelta(days=1)).isoformat()
    assert report["dataset"] == str(dataset)
    assert (report["partitions"], report["first_date"], report["last_date"]) == (
        1,
        DAY.date().isoformat(),
        DAY.date().isoformat(),
    )
    assert report["size_bytes"] == size
    assert report["watermarks"] == {"motive": through, "samsara": through}
    last = report["last_run"]
    assert (last["status"], last["rows_written"], last["failures"]) == ("ok", rows, [])
    started = datetime.fromisoformat(last["started_at"])
    assert abs(datetime.now(UTC) - started) < timedelta(minutes=10)
    text = fth("status", "--config", str(ran))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"dataset: {dataset}"
    assert lines[1].startswith(f"partitions: 1 ({DAY.date()} .. {DAY.date()}), ")
    assert lines[1].endswith(" KB")
    assert f"motive: data through {human_time(through)}" in lines
    assert f"samsara: data through {human_time(through)}" in lines
    assert (
        lines[-1]
        == f"last run: {human_time(last['started_at'])} ok, {rows:,} new rows, 0 failure(s)"
    )


def test_status_after_a_partial_run_shows_the_down_providers_failure_and_no_watermark(
    sims: Sims, tmp_path: Path
) -> None:
    config_path = write_config(
        tmp_path / "fth.yaml",
        sims,
        tmp_path / "dataset",
        samsara={"base_url": down_url(sims.samsara.fleet), "max_retries": 0},
    )
    end = (DAY + timedelta(days=1)).date().isoformat()
    run = fth("run", "--config", str(config_path), "--end", end, "--quiet")
    assert run.returncode == 3, run.stderr
    report = json.loads(fth("status", "--json", "--config", str(config_path)).stdout)
    assert report["watermarks"] == {
        "motive": (DAY + timedelta(days=1)).isoformat(),
        "samsara": None,
    }
    last = report["last_run"]
    assert last["status"] == "partial"
    [failure] = last["failures"]
    assert failure.startswith(
        "samsara: window 1 (2026-03-02T00:00:00Z..2026-03-03T00:00:00Z) failed: GET "
    )
    assert "connection refused" in failure
    assert last["rows_written"] == DatasetStore(tmp_path / "dataset").read().num_rows > 0
    text = fth("status", "--config", str(config_path)).stdout.splitlines()
    assert "samsara: never run" in text
    assert text[-2].endswith("partial, " + f"{last['rows_written']:,} new rows, 1 failure(s)")
    assert text[-1] == f"  {failure}"


# -- fth config init -----------------------------------------------------------------------


def test_config_init_writes_every_option_annotated_with_env_references_not_keys(
    tmp_path: Path,
) -> None:
    out = tmp_path / "conf" / "fth.yaml"
    result = fth(
        "config", "init", "-o", str(out), MOTIVE_API_KEY=SECRET, SAMSARA_API_KEY=SECRET + "2"
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert SECRET not in text
    assert 'api_key: "${MOTIVE_API_KEY}"' in text
    assert 'api_key: "${SAMSARA_API_KEY}"' in text
    lines = text.splitlines()
    keys = {line.split(":", 1)[0].strip() for line in lines if not line.startswith("#")}
    for model in (ProviderConfig, RateLimitConfig, PipelineConfig, StorageConfig, LoggingConfig):
        for name in model.model_fields:
            assert name in keys, f"{model.__name__}.{name} missing"
            described = [line for line in lines if line.strip().startswith(f"{name}:")]
            assert all("  # " in line for line in described), f"{name} has no comment"
    for settings in (MotiveSettings, SamsaraSettings):
        for name in settings.model_fields:
            assert name in keys, f"{settings.__name__}.{name} missing"
    document = yaml.safe_load(text)
    assert set(document) == {"providers", "pipeline", "storage", "logging"}
    assert set(document["providers"]) == {"motive", "samsara"}
    assert document["providers"]["motive"]["base_url"] == "https://api.gomotive.com"
    assert sum(line.startswith("#") for line in lines) >= 2  # the header explains ${ENV}


def test_config_init_output_passes_config_check_offline_once_the_keys_are_set(
    tmp_path: Path,
) -> None:
    out = tmp_path / "fth.yaml"
    assert fth("config", "init", "-o", str(out)).returncode == 0
    checked = fth(
        "config", "check", "--offline", "-c", str(out), MOTIVE_API_KEY="m-1234", SAMSARA_API_KEY="s"
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{out}: OK (providers enabled: motive, samsara)\n"
    unset = fth("config", "check", "--offline", "-c", str(out))
    assert unset.returncode == 2
    line = one_error_line(unset)
    assert "providers.motive.api_key: environment variable MOTIVE_API_KEY is not set" in line
    assert "providers.samsara.api_key: environment variable SAMSARA_API_KEY is not set" in line


def test_config_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "fth.yaml"
    out.write_text("# mine\n", encoding="utf-8")
    refused = fth("config", "init", "-o", str(out))
    assert refused.returncode == 2
    assert one_error_line(refused) == f"error: {out} already exists; pass --force to overwrite it"
    assert out.read_text(encoding="utf-8") == "# mine\n"
    forced = fth("config", "init", "-o", str(out), "--force", "--providers", "samsara")
    assert forced.returncode == 0, forced.stderr
    assert set(yaml.safe_load(out.read_text(encoding="utf-8"))["providers"]) == {"samsara"}


def test_config_init_with_an_unknown_provider_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "fth.yaml"
    result = fth("config", "init", "-o", str(out), "--providers", "motive,geotab")
    assert result.returncode == 2
    assert one_error_line(result) == (
        "error: no installed plugin provides 'geotab' (installed: motive, samsara)"
    )
    assert not out.exists()


# -- fth config check ----------------------------------------------------------------------


def test_config_check_probes_each_provider_and_reports_it_reachable_and_authenticated(
    sims: Sims, config: Path
) -> None:
    sims.clear_logs()
    result = fth("config", "check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{config}: OK (providers enabled: motive, samsara)"
    assert lines[1].startswith("motive: reachable and authenticated (GET /v1/vehicles in ")
    assert lines[2].startswith("samsara: reachable and authenticated (GET /fleet/vehicles in ")
    assert len(lines) == 3
    for provider in ("motive", "samsara"):
        assert [r.status for r in sims.server(provider).requests()] == [200]


def test_config_check_with_a_wrong_key_fails_that_provider_with_401_exit_2_and_hides_the_key(
    sims: Sims, tmp_path: Path
) -> None:
    config_path = write_config(
        tmp_path / "fth.yaml", sims, tmp_path / "ds", motive={"api_key": SECRET}
    )
    result = fth("--debug", "config", "check", "--config", str(config_path))
    assert result.returncode == 2, "refused credentials are a mistake in the config"
    lines = result.stdout.splitlines()
    [motive] = [line for line in lines if line.startswith("motive: ")]
    assert motive.startswith("motive: FAILED GET /v1/vehicles returned HTTP 401")
    assert any(line.startswith("samsara: reachable and authenticated") for line in lines)
    assert result.stderr.strip().splitlines()[-1] == (
        "error: 1 provider(s) refused the credentials"
    )
    assert SECRET not in result.stdout + result.stderr
    assert SECRET[-8:] not in result.stdout + result.stderr


def test_config_check_with_a_simulator_down_fails_that_provider_and_exits_1(
    sims: Sims, tmp_path: Path
) -> None:
    config_path = write_config(
        tmp_path / "fth.yaml",
        sims,
        tmp_path / "ds",
        samsara={"base_url": down_url(sims.samsara.fleet), "max_retries": 0},
    )
    result = fth("config", "check", "--config", str(config_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1].startswith("motive: reachable and authenticated")
    failed = r"samsara: FAILED GET http://127\.0\.0\.1:\d+/fleet/vehicles failed: "
    assert re.match(failed, lines[2])
    assert one_error_line(result) == "error: 1 provider(s) failed the connection check"


def test_config_check_offline_validates_without_a_single_request(
    sims: Sims, tmp_path: Path
) -> None:
    # A wrong key too: only a request could find it out.
    config_path = write_config(
        tmp_path / "fth.yaml", sims, tmp_path / "ds", motive={"api_key": SECRET}
    )
    sims.clear_logs()
    result = fth("config", "check", "--offline", "--config", str(config_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{config_path}: OK (providers enabled: motive, samsara)\n"
    assert sims.requests() == 0


# -- fth query -----------------------------------------------------------------------------

COUNTS = "SELECT provider, count(*) AS n FROM telemetry GROUP BY provider ORDER BY provider"


def _dataset_counts(config_path: Path) -> dict[str, int]:
    table = DatasetStore(dataset_of(config_path)).read()
    counts = pc.value_counts(table.column("provider").cast("string")).to_pylist()
    return {c["values"]: c["counts"] for c in counts}


def test_query_json_counts_per_provider_equal_the_datasets(ran: Path) -> None:
    expected = _dataset_counts(ran)
    assert set(expected) == {"motive", "samsara"}
    result = fth("query", COUNTS, "--format", "json", "--config", str(ran))
    assert result.returncode == 0, result.stderr
    assert {r["provider"]: r["n"] for r in json.loads(result.stdout)} == expected


def test_query_csv_and_table_formats_print_the_result(ran: Path) -> None:
    expected = _dataset_counts(ran)
    as_csv = fth("query", COUNTS, "--format", "csv", "--config", str(ran))
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout.splitlines() == ["provider,n"] + [f"{p},{n}" for p, n in expected.items()]
    table = fth("query", COUNTS, "--config", str(ran))
    assert table.returncode == 0, table.stderr
    cells = [
        [c.strip() for c in line.strip("│").split("│")]
        for line in table.stdout.splitlines()
        if line.startswith("│")
    ]
    assert cells == [[p, str(n)] for p, n in expected.items()]


def test_query_sees_the_hive_date_partition_and_the_unified_columns(ran: Path) -> None:
    sql = (
        "SELECT count(DISTINCT date) AS days, min(timestamp) >= TIMESTAMPTZ '2026-03-02' AS ok, "
        "count(DISTINCT provider_vehicle_id) AS vehicles FROM telemetry"
    )
    result = fth("query", sql, "--format", "json", "--config", str(ran))
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert row["days"] == 1
    assert row["ok"] is True
    assert row["vehicles"] >= 2


def test_query_with_a_syntax_error_exits_2_with_one_line(ran: Path) -> None:
    result = fth("query", "SELEKT * FROM telemetry", "--config", str(ran))
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("error: query failed: Parser Error: syntax error")
    assert result.stdout == ""


def test_query_on_an_empty_dataset_says_there_is_no_data_yet(config: Path) -> None:
    result = fth("query", "SELECT count(*) FROM telemetry", "--config", str(config))
    assert result.returncode == 1
    assert one_error_line(result) == (
        f"error: no data in {dataset_of(config)} yet; run `fth run` first"
    )


def test_query_without_duckdb_installed_names_the_query_extra(ran: Path, tmp_path: Path) -> None:
    shadow = tmp_path / "no-duckdb"
    shadow.mkdir()
    (shadow / "duckdb.py").write_text(
        "raise ImportError(\"No module named 'duckdb'\")\n", encoding="utf-8"
    )
    environment = env()
    environment["PYTHONPATH"] = os.pathsep.join([str(shadow), environment["PYTHONPATH"]])
    result = run_fth("query", "SELECT 1", "--config", str(ran), env=environment)
    assert result.returncode == 1
    assert one_error_line(result) == "error: fth query needs DuckDB: pip install 'fth-core[query]'"
