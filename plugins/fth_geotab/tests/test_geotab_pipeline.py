"""End to end: ``fth run`` (the real CLI, in a subprocess) against the Geotab simulator on
127.0.0.1 stores exactly the simulator's ground truth — points once, units converted, ignition,
odometer and drivers joined right at window starts and across midnight — while the session
expires and an OverLimitException arrives mid-run; the next run picks up late uploads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
import yaml
from geotab_support import DAY, geotab_fleet

from fth_core.schema import TELEMETRY_COLUMNS, concat_telemetry
from fth_core.sim import SimRequest, SimResponse, SimServer
from fth_core.testing import assert_same_telemetry
from fth_geotab.simulator import GeotabSimulator

FIRST_END = DAY + timedelta(days=3)
SECOND_AS_OF = DAY + timedelta(days=6)  # the late uploads of the lookback day are out by then
SECOND_END = DAY + timedelta(days=4)


class ExpiringSessions:
    """The simulator, with every session it issued dying once, at the ``after``-th call."""

    def __init__(self, simulator: GeotabSimulator, after: int) -> None:
        self.simulator = simulator
        self.after = after
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: SimRequest) -> SimResponse:
        with self._lock:
            self.calls += 1
            if self.calls == self.after:
                self.simulator.expire_sessions()
        return self.simulator(request)

    def rate_limited(self, retry_after: float) -> SimResponse:
        return self.simulator.rate_limited(retry_after)


def fth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("FTH_", "GEOTAB_"))}
    return subprocess.run(
        [sys.executable, "-m", "fth_core.cli", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_config(folder: Path, simulator: GeotabSimulator, url: str) -> Path:
    document = {
        "providers": {
            "geotab": {
                "base_url": url,
                **simulator.credentials(),
                "retry_backoff_factor": 0.01,
                # Small slices: each search is cut into several, fetched in parallel.
                "options": {"slice_records": 500},
            }
        },
        "pipeline": {
            "default_start_date": DAY.date().isoformat(),
            "lookback_days": 1,
            "batch_increment_days": 1,
        },
        "storage": {"parquet_path": str(folder / "dataset")},
    }
    path = folder / "fth.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def stored(folder: Path) -> pa.Table:
    table = ds.dataset(folder / "dataset", format="parquet", partitioning="hive").to_table()
    return table.select(list(TELEMETRY_COLUMNS))


@dataclass
class Runs:
    folder: Path
    simulator: GeotabSimulator
    first: subprocess.CompletedProcess[str]
    first_table: pa.Table
    second: subprocess.CompletedProcess[str]
    second_table: pa.Table
    first_truth: pa.Table
    sessions_in_first_run: int
    faults_in_first_run: list[tuple[str, str]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    folder = tmp_path_factory.mktemp("geotab-e2e")
    simulator = GeotabSimulator(geotab_fleet(), as_of=FIRST_END)
    handler = ExpiringSessions(simulator, after=12)
    simulator.fail_next(
        "OverLimitException", "API calls quota exceeded.", method="Get", retry_after=1
    )
    with SimServer(handler) as server:  # type: ignore[arg-type]
        config = write_config(folder, simulator, server.base_url)
        first = fth("run", "--config", str(config), "--end", FIRST_END.isoformat(), cwd=folder)
        first_table = stored(folder)
        first_truth = simulator.expected_telemetry(DAY, FIRST_END)
        sessions, faults = len(simulator.issued), list(simulator.faults_served)
        simulator.as_of = SECOND_AS_OF
        second = fth("run", "--config", str(config), "--end", SECOND_END.isoformat(), cwd=folder)
        yield Runs(
            folder,
            simulator,
            first,
            first_table,
            second,
            stored(folder),
            first_truth,
            sessions,
            faults,
        )


def test_the_first_run_stores_exactly_the_ground_truth(runs: Runs) -> None:
    assert runs.first.returncode == 0, runs.first.stderr
    assert_same_telemetry(runs.first_table, runs.first_truth)
    table = runs.first_table
    assert table.num_rows > 1_000
    assert table.column("vin").null_count > 0, "the fleet has devices without a VIN"
    for column in ("engine_state", "driver_id", "odometer"):
        assert table.column(column).null_count < table.num_rows, f"{column} was joined"


def test_a_session_expiry_and_an_over_limit_mid_run_cost_one_login_and_one_wait(
    runs: Runs,
) -> None:
    assert runs.sessions_in_first_run == 2, "one login, then one refresh after the expiry"
    assert ("Get", "OverLimitException") in runs.faults_in_first_run
    summary = runs.first.stdout + runs.first.stderr
    assert "error" not in summary.lower()


def test_the_states_in_force_at_midnight_come_from_before_the_window(runs: Runs) -> None:
    table = runs.first_table
    midnight = pa.scalar(DAY + timedelta(days=1), pa.timestamp("us", tz="UTC"))
    first_hour = table.filter(
        pc.and_(
            pc.greater_equal(table.column("timestamp"), midnight),
            pc.less(
                table.column("timestamp"),
                pa.scalar(DAY + timedelta(days=1, hours=1), pa.timestamp("us", tz="UTC")),
            ),
        )
    )
    assert first_hour.num_rows > 0
    # Parked overnight: the ignition-off reading is from the evening before.
    assert set(first_hour.column("engine_state").to_pylist()) == {"Off"}


def test_the_next_run_picks_up_late_uploads_in_its_lookback(runs: Runs) -> None:
    assert runs.second.returncode == 0, runs.second.stderr
    lookback = FIRST_END - timedelta(days=1)
    late = runs.simulator.expected_telemetry(lookback, FIRST_END)
    before = runs.first_truth.filter(
        pc.greater_equal(
            runs.first_truth.column("timestamp"), pa.scalar(lookback, pa.timestamp("us", tz="UTC"))
        )
    )
    assert late.num_rows > before.num_rows, "the fleet uploads points of the lookback day late"
    kept = runs.first_truth.filter(
        pc.less(
            runs.first_truth.column("timestamp"), pa.scalar(lookback, pa.timestamp("us", tz="UTC"))
        )
    )
    expected = concat_telemetry([kept, runs.simulator.expected_telemetry(lookback, SECOND_END)])
    assert_same_telemetry(runs.second_table, expected)


def test_status_shows_the_geotab_watermark_and_never_the_password(runs: Runs) -> None:
    status = fth("status", "--json", "--config", str(runs.folder / "fth.yaml"), cwd=runs.folder)
    assert status.returncode == 0, status.stderr
    text = json.dumps(json.loads(status.stdout))
    assert SECOND_END.strftime("%Y-%m-%dT%H:%M") in text
    assert runs.simulator.password not in text
    assert not any(session in text for session in runs.simulator.issued)


def test_config_check_logs_in_and_wrong_credentials_are_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    simulator = GeotabSimulator(geotab_fleet(), as_of=FIRST_END)
    with SimServer(simulator) as server:
        config = write_config(tmp_path, simulator, server.base_url)
        good = fth("config", "check", "--config", str(config), cwd=tmp_path)
        assert good.returncode == 0, good.stderr
        assert "geotab: reachable and authenticated (POST /apiv1 in " in good.stdout
        document = yaml.safe_load(config.read_text())
        document["providers"]["geotab"]["password"] = "Not-the-Pa55word-9c1e"
        config.write_text(yaml.safe_dump(document))
        bad = fth("config", "check", "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: 1 provider(s) refused the credentials"
    assert "geotab: FAILED POST /apiv1 failed: InvalidUserException: Incorrect login" in bad.stdout
    assert "Pa55word" not in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
