"""What someone at a shell sees (issue 20): ``fth fetch``'s formats, one form for times and
numbers in every human line, and network errors that name where they went.

The real CLI in a subprocess, against the Motive and Samsara simulators on 127.0.0.1.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from fake_plugins import cli_env, run_fth

from fth_core.sim import Fleet, SimServer
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator

AS_OF = datetime(2026, 3, 10, tzinfo=UTC)  # the simulators' clock
DAY = datetime(2026, 3, 2, tzinfo=UTC)
# One form for a time in every human line: ISO-8601, UTC, to the second, with Z.
ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"


@dataclass
class Sims:
    motive: MotiveSimulator
    motive_server: SimServer
    samsara: SamsaraSimulator
    samsara_server: SimServer


@pytest.fixture(scope="module")
def sims() -> Iterator[Sims]:
    motive = MotiveSimulator(Fleet(7, 3), as_of=AS_OF)
    samsara = SamsaraSimulator(Fleet(8, 3), as_of=AS_OF)
    with SimServer(motive) as motive_server, SimServer(samsara) as samsara_server:
        yield Sims(motive, motive_server, samsara, samsara_server)


def write_config(path: Path, sims: Sims, motive_url: str | None = None) -> Path:
    def provider(url: str, key: str) -> dict[str, object]:
        return {"base_url": url, "api_key": key, "max_retries": 0, "request_timeout": [2, 5]}

    document = {
        "providers": {
            "motive": provider(motive_url or sims.motive_server.base_url, sims.motive.api_key),
            "samsara": provider(sims.samsara_server.base_url, sims.samsara.api_key),
        },
        "pipeline": {
            "default_start_date": DAY.date().isoformat(),
            "lookback_days": 0,
            "batch_increment_days": 1,
        },
        "storage": {"parquet_path": str(path.parent / "dataset")},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def config(sims: Sims, tmp_path: Path) -> Path:
    return write_config(tmp_path / "fth.yaml", sims)


def fth(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = cli_env("motive,samsara")
    for name in [n for n in environment if n.lower().endswith("_proxy")]:
        del environment[name]
    return run_fth(*args, env=environment, cwd=cwd)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    [line] = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    return line


STATS = [
    "samsara",
    "vehicle_stats_history",
    "--param",
    "types=gps",
    "--param",
    "start_time=2026-03-02T00:00:00Z",
    "--param",
    "end_time=2026-03-02T01:00:00Z",
]


# -- fth fetch: formats ---------------------------------------------------------------------


def test_fetch_json_is_the_apis_own_items_nested_with_its_key_names(
    sims: Sims, config: Path
) -> None:
    result = fth("fetch", "samsara", "vehicles", "-f", "json", "-c", str(config))
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    assert sorted(i["id"] for i in items) == sorted(v.id for v in sims.samsara.fleet.vehicles)
    for item in items:  # camelCase and nested, as Samsara sends them: no flattened model dump
        assert set(item["externalIds"]) == {"samsara.serial", "samsara.vin"}
        assert "createdAtTime" in item
        assert not any("." in key or "_" in key for key in item)


def test_csv_and_table_cells_hold_json_for_nested_values_never_python_reprs(
    config: Path,
) -> None:
    as_csv = fth("fetch", *STATS, "-f", "csv", "-c", str(config))
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows
    for row in rows:
        points = json.loads(row["gps"])  # a JSON array of objects
        assert points
        assert all(isinstance(p, dict) and "latitude" in p for p in points)
    assert "{'" not in as_csv.stdout
    assert "['" not in as_csv.stdout
    as_table = fth("fetch", *STATS, "-c", str(config))
    assert as_table.returncode == 0, as_table.stderr
    assert '[{"' in as_table.stdout
    assert "{'" not in as_table.stdout
    assert "[{'" not in as_table.stdout


def test_the_format_follows_the_output_files_extension(
    sims: Sims, config: Path, tmp_path: Path
) -> None:
    ids = sorted(v.id for v in sims.motive.fleet.vehicles)
    for name in ("v.json", "v.csv", "v.parquet"):
        result = fth("fetch", "motive", "vehicles", "-o", name, "-c", str(config), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stderr == f"wrote {len(ids)} rows to {name}\n"
    assert sorted(str(i["id"]) for i in json.loads((tmp_path / "v.json").read_text())) == ids
    with (tmp_path / "v.csv").open(newline="") as text:
        assert sorted(r["id"] for r in csv.DictReader(text)) == ids
    parquet = pq.read_table(tmp_path / "v.parquet")
    assert sorted(str(i) for i in parquet.column("id").to_pylist()) == ids
    # -f still wins over the extension
    forced = fth(
        "fetch", "motive", "vehicles", "-f", "csv", "-o", "x.json", "-c", str(config), cwd=tmp_path
    )
    assert forced.returncode == 0, forced.stderr
    with (tmp_path / "x.json").open(newline="") as text:
        assert sorted(r["id"] for r in csv.DictReader(text)) == ids


def test_every_missing_required_parameter_is_named_at_once(config: Path) -> None:
    result = fth("fetch", "motive", "vehicle_locations", "-c", str(config))
    assert result.returncode == 2
    assert error_line(result) == (
        "error: motive.vehicle_locations needs parameters 'vehicle_id', 'start_date', 'end_date'"
    )


def test_a_plain_date_is_midnight_utc_for_a_datetime_parameter(sims: Sims, config: Path) -> None:
    sims.samsara_server.clear_log()
    plain = [*STATS[:5], "start_time=2026-03-02", *STATS[6:]]
    result = fth("fetch", *plain, "-f", "json", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)
    queries = [r.query for r in sims.samsara_server.requests("/fleet/vehicles/stats/history")]
    assert queries
    assert {q["startTime"][0] for q in queries} == {"2026-03-02T00:00:00Z"}


# -- times and numbers --------------------------------------------------------------------


def test_times_print_one_way_and_numbers_are_grouped_in_run_and_status(
    sims: Sims, config: Path
) -> None:
    never = fth("status", "-c", str(config))
    assert never.returncode == 0, never.stderr
    assert "motive: never run" in never.stdout.splitlines()
    assert "samsara: never run" in never.stdout.splitlines()
    assert "None" not in never.stdout

    end = (DAY + timedelta(days=1)).date().isoformat()
    run = fth("run", "-c", str(config), "--end", end)
    assert run.returncode == 0, run.stderr
    assert "motive: window 1 committed (through 2026-03-03T00:00:00Z)" in run.stderr
    [sentence] = [line for line in run.stdout.splitlines() if " new rows, " in line]
    found = re.match(rf"^([\d,]+) new rows, .*; ({ISO}) → ({ISO}); ", sentence)
    assert found, sentence
    rows = int(found[1].replace(",", ""))
    assert found[1] == f"{rows:,}"

    report = json.loads(fth("status", "--json", "-c", str(config)).stdout)
    assert report["last_run"]["rows_written"] == rows
    text = fth("status", "--runs", "-c", str(config)).stdout
    assert "motive: data through 2026-03-03T00:00:00Z" in text.splitlines()
    assert re.search(rf"^last run: {ISO} ok, {rows:,} new rows, 0 failure\(s\)$", text, re.M)
    assert re.search(rf"^  {ISO} ok, {rows:,} new rows, ", text, re.M)
    assert "+00:00" not in text
    shown = fth("state", "show", "-c", str(config)).stdout
    assert re.search(rf"^motive: watermark 2026-03-03T00:00:00Z \(set {ISO}\)$", shown, re.M)


# -- network errors ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_refused_connection_names_the_host_and_port(sims: Sims, tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "fth.yaml", sims, motive_url=f"http://127.0.0.1:{port}")
    result = fth("fetch", "motive", "vehicles", "-c", str(config))
    assert result.returncode == 1
    assert error_line(result) == (
        f"error: motive: GET http://127.0.0.1:{port}/v1/vehicles failed: connection refused"
    )


def test_simulate_on_a_port_in_use_says_which_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = fth("simulate", "--provider", "motive", "--port", str(port))
    assert result.returncode == 2
    assert result.stdout == ""
    assert error_line(result) == (
        f"error: port {port} on 127.0.0.1 is already in use; pick another (--port) or 0"
    )
