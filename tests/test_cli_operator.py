"""The operator's commands (issue #19) run for real, in a subprocess: ``fth status`` (totals,
quarantine, ``--runs``), ``fth query``'s ``quarantine`` view, ``fth state show / set-watermark
/ reset``, ``fth prune --dry-run``, the commands that need no API key, and hostile configs.

The Motive and Samsara simulators are served from this process on 127.0.0.1 with long API
keys; each subprocess loads only those two plugins and gets no ``*_API_KEY`` from the host.
The configs refer to the keys as ``${MOTIVE_API_KEY}`` and ``${SAMSARA_API_KEY}``: ``fth
run`` is given them, the commands that make no request are not.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from fake_plugins import cli_env
from loopback_support import tree_snapshot

from fth_core.endpoints import human_time
from fth_core.schema import QUARANTINE_SCHEMA, enforce_telemetry_schema
from fth_core.sim import Fleet, SimServer
from fth_core.store import RUNS_KEPT, DatasetStore
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator

AS_OF = datetime(2026, 3, 10, tzinfo=UTC)  # the simulators' clock
DAY = datetime(2026, 3, 2, tzinfo=UTC)  # the first day run
KEYS = {
    "MOTIVE_API_KEY": "mk-live-Motive-0123456789abcdefghijklmnopqrstuvwxyz",
    "SAMSARA_API_KEY": "sk-live-Samsara-0123456789abcdefghijklmnopqrstuvwxyz",
}


@dataclass
class Sims:
    motive_server: SimServer
    samsara_server: SimServer

    def requests(self) -> int:
        return len(self.motive_server.requests()) + len(self.samsara_server.requests())


@pytest.fixture(scope="module")
def sims() -> Iterator[Sims]:
    motive = MotiveSimulator(Fleet(11, 3), KEYS["MOTIVE_API_KEY"], as_of=AS_OF)
    samsara = SamsaraSimulator(Fleet(12, 3), KEYS["SAMSARA_API_KEY"], as_of=AS_OF)
    with SimServer(motive) as motive_server, SimServer(samsara) as samsara_server:
        yield Sims(motive_server, samsara_server)


def env(**extra: str) -> dict[str, str]:
    """Only the Motive and Samsara plugins; no API key, fth selection or proxy of the host."""
    environment = cli_env("motive,samsara", **extra)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        environment.pop(name, None)
        environment.pop(name.lower(), None)
    return environment


def fth(
    *args: str, keys: bool = False, stdin: Any = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    """The real CLI; ``keys``: with the API key variables set. No terminal on stdin unless
    one is given."""
    return subprocess.run(
        [sys.executable, "-m", "fth_core.cli", *args],
        env=env(**KEYS) if keys else env(),
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def write_config(path: Path, sims: Sims, dataset: Path, **storage: Any) -> Path:
    fast = {"max_retries": 1, "retry_backoff_factor": 0.01, "request_timeout": [2, 5]}
    document = {
        "providers": {
            "motive": {"base_url": sims.motive_server.base_url, **fast}
            | {"api_key": "${MOTIVE_API_KEY}"},
            "samsara": {"base_url": sims.samsara_server.base_url, **fast}
            | {"api_key": "${SAMSARA_API_KEY}"},
        },
        "pipeline": {
            "default_start_date": DAY.date().isoformat(),
            "lookback_days": 0,
            "batch_increment_days": 1,
        },
        "storage": {"parquet_path": str(dataset), **storage},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def run_to(config: Path, end: datetime) -> None:
    result = fth("run", "-c", str(config), "--end", end.date().isoformat(), "--quiet", keys=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def ran(sims: Sims, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset holding one ``fth run`` of ``DAY``, never changed: tests that change a
    dataset take a copy (:func:`copy_of`)."""
    root = tmp_path_factory.mktemp("ran")
    config = write_config(root / "fth.yaml", sims, root / "dataset")
    run_to(config, DAY + timedelta(days=1))
    return config


def copy_of(config: Path, tmp_path: Path, sims: Sims) -> tuple[Path, DatasetStore]:
    """The dataset of ``config`` copied under ``tmp_path``, with a config of its own."""
    shutil.copytree(config.parent / "dataset", tmp_path / "dataset")
    copied = write_config(tmp_path / "fth.yaml", sims, tmp_path / "dataset")
    return copied, DatasetStore(tmp_path / "dataset")


def status_json(config: Path, *options: str) -> dict[str, Any]:
    result = fth("status", "--json", "-c", str(config), *options)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def query_json(config: Path, sql: str) -> list[dict[str, Any]]:
    result = fth("query", sql, "--format", "json", "-c", str(config))
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def quarantine_rows(store: DatasetStore, provider: str, day: date, count: int) -> None:
    """Set ``count`` rows of ``provider`` aside on ``day``, as a run's flatten would."""
    moment = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    rows = enforce_telemetry_schema(
        {
            "provider_vehicle_id": [f"bad-{i}" for i in range(count)],
            "timestamp": [moment + timedelta(minutes=i) for i in range(count)],
        },
        provider=provider,
    )
    reason = pa.array(["latitude out of range"] * count)
    store.quarantine(rows.append_column("reason", reason), undated=day)


# -- no credentials for the commands that make no request ----------------------------------


def test_status_query_verify_prune_and_state_show_need_no_api_key_and_make_no_request(
    sims: Sims, ran: Path
) -> None:
    before = sims.requests()
    for args in (
        ["status"],
        ["status", "--json", "--runs"],
        ["query", "select count(*) as n from telemetry"],
        ["prune", "--retention-days", "100000"],
        ["prune", "--retention-days", "1", "--dry-run"],
        ["state", "show"],
        ["verify"],
    ):
        result = fth(*args, "-c", str(ran))  # MOTIVE_API_KEY, SAMSARA_API_KEY unset
        assert result.returncode == 0, (args, result.stderr)
        assert result.stderr == "", args
    assert sims.requests() == before
    # A run still needs them, and says which is missing.
    run = fth("run", "-c", str(ran), "--end", "2026-03-03")
    assert run.returncode == 2
    assert "providers.motive.api_key: environment variable MOTIVE_API_KEY is not set" in (
        one_error_line(run)
    )


# -- fth status: totals, quarantine, runs --------------------------------------------------


def test_status_shows_rows_vehicles_and_vins_per_provider_and_the_quarantined_rows(
    sims: Sims, ran: Path, tmp_path: Path
) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    quarantine_rows(store, "motive", DAY.date(), 3)
    quarantine_rows(store, "samsara", DAY.date(), 2)
    stored = store.read()
    report = status_json(config)
    expected = {}
    for name in ("motive", "samsara"):
        own = stored.filter(pc.equal(stored.column("provider").cast(pa.string()), name))
        vins = {v for v in own.column("vin").to_pylist() if v}
        expected[name] = {
            "rows": own.num_rows,
            "vehicles": len(set(own.column("provider_vehicle_id").to_pylist())),
            "vins": len(vins),
        }
        assert expected[name]["rows"] > 0
        assert expected[name]["vins"] > 0
    assert report["totals"] == {
        "rows": stored.num_rows,
        "providers": expected,
        "unreadable_files": [],
    }
    assert report["quarantine"] == {
        "rows": 5,
        "providers": {"motive": 3, "samsara": 2},
        "path": str(store.root / "_quarantine"),
    }
    text = fth("status", "-c", str(config))
    assert text.returncode == 0, text.stderr
    motive, samsara = expected["motive"], expected["samsara"]
    assert (
        f"rows: {stored.num_rows:,} (motive {motive['rows']:,}: {motive['vehicles']} vehicles, "
        f"{motive['vins']} VINs; samsara {samsara['rows']:,}: {samsara['vehicles']} vehicles, "
        f"{samsara['vins']} VINs)"
    ) in text.stdout.splitlines()
    assert f"quarantined: 5 rows (motive 3, samsara 2) in {store.root / '_quarantine'}" in (
        text.stdout
    )


def test_status_runs_lists_the_last_runs_newest_first_with_their_failures(
    sims: Sims, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "fth.yaml", sims, tmp_path / "dataset")
    run_to(config, DAY + timedelta(days=1))
    run_to(config, DAY + timedelta(days=2))
    # A third run with Samsara down: partial, and its failure is listed with it.
    down = write_config(tmp_path / "down.yaml", sims, tmp_path / "dataset")
    document = yaml.safe_load(down.read_text(encoding="utf-8"))
    document["providers"]["samsara"] |= {"base_url": "http://127.0.0.1:9", "max_retries": 0}
    down.write_text(yaml.safe_dump(document), encoding="utf-8")
    partial = fth("run", "-c", str(down), "--end", "2026-03-05", "--quiet", keys=True)
    assert partial.returncode == 3, partial.stderr

    runs = status_json(config, "--runs")["runs"]
    assert [r["status"] for r in runs] == ["partial", "ok", "ok"]
    assert [set(r) for r in runs] == [
        {"started_at", "status", "rows_written", "elapsed_seconds", "failures"}
    ] * 3
    started = [datetime.fromisoformat(r["started_at"]) for r in runs]
    assert started == sorted(started, reverse=True)
    assert all(r["rows_written"] > 0 and r["elapsed_seconds"] > 0 for r in runs)
    [failure] = runs[0]["failures"]
    assert failure.startswith(
        "samsara: window 1 (2026-03-04T00:00:00Z..2026-03-05T00:00:00Z) failed:"
    )
    assert runs[1]["failures"] == runs[2]["failures"] == []

    text = fth("status", "--runs", "-c", str(config)).stdout.splitlines()
    at = text.index("runs, newest first:")
    first = runs[0]
    assert text[at + 1] == (
        f"  {human_time(first['started_at'])} partial, {first['rows_written']:,} new rows, "
        f"{first['elapsed_seconds']}s, 1 failure(s)"
    )
    assert text[at + 2] == f"    {failure}"
    assert "runs, newest first:" not in fth("status", "-c", str(config)).stdout


def test_the_state_file_keeps_only_the_last_runs(sims: Sims, ran: Path, tmp_path: Path) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    state = store.load_state()
    old = {"status": "ok", "rows_written": 1, "elapsed_seconds": 1.0, "providers": {}}
    state["runs"] = [old | {"started_at": f"2026-01-{d:02d}T00:00:00+00:00"} for d in range(1, 21)]
    store.save_state(state)
    run_to(config, DAY + timedelta(days=2))
    runs = status_json(config, "--runs")["runs"]
    assert len(runs) == RUNS_KEPT == 20
    synthetic = [r["started_at"] for r in runs[1:]]
    assert synthetic == [f"2026-01-{d:02d}T00:00:00+00:00" for d in range(20, 1, -1)]
    assert runs[0]["started_at"] not in synthetic


# -- fth query: the quarantine view, and the dataset's own readers --------------------------


def test_query_exposes_the_quarantine_and_a_natural_glob_reads_telemetry_only(
    sims: Sims, ran: Path, tmp_path: Path
) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    telemetry = store.read().num_rows
    assert query_json(config, "select count(*) as n from quarantine") == [{"n": 0}]
    quarantine_rows(store, "motive", DAY.date(), 4)
    rows = query_json(
        config,
        "select provider, reason, cast(date as varchar) as day, count(*) as n "
        "from quarantine group by all",
    )
    assert rows == [
        {"provider": "motive", "reason": "latitude out of range", "day": "2026-03-02", "n": 4}
    ]
    assert query_json(config, "select count(*) as n from telemetry") == [{"n": telemetry}]
    # What a DuckDB, polars or pandas user would write over the dataset root.
    root = store.root
    glob = f"{root}/**/*.parquet"
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall() == [(telemetry,)]
    assert pl.scan_parquet(glob).select(pl.len()).collect().item() == telemetry
    assert pq.read_table(root).num_rows == telemetry


def test_a_quarantine_of_the_old_name_is_read_and_moves_at_the_next_write(
    sims: Sims, ran: Path, tmp_path: Path
) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    quarantine_rows(store, "motive", DAY.date(), 2)
    new = store.quarantine_file(DAY.date(), "motive")
    old = new.with_name("motive.parquet")  # as fth wrote it before
    new.rename(old)
    assert status_json(config)["quarantine"]["rows"] == 2
    assert query_json(config, "select count(*) as n from quarantine") == [{"n": 2}]
    prune = fth("prune", "--retention-days", "100000", "-c", str(config))  # any write
    assert prune.returncode == 0, prune.stderr
    assert not old.exists()
    assert pq.read_table(new, schema=QUARANTINE_SCHEMA).num_rows == 2
    assert status_json(config)["quarantine"]["rows"] == 2


# -- fth state -----------------------------------------------------------------------------


def test_state_show_prints_watermarks_and_plugin_state_with_secrets_redacted(
    sims: Sims, ran: Path, tmp_path: Path
) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    key = KEYS["MOTIVE_API_KEY"]
    mark = store.watermark("motive")
    assert mark is not None
    plugin_state = {"feed_version": "00ab", "session_id": "s-123456", "note": key.upper()}
    store.set_watermark("motive", mark, plugin_state)
    for keys in (False, True):
        text = fth("state", "show", "-c", str(config), keys=keys)
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        assert lines[0] == f"state: {store.state_path}"
        assert lines[1].startswith(f"motive: watermark {human_time(mark)} (set ")
        assert lines[-1] == "runs kept: 1 (fth status --runs lists them)"
        assert "s-123456" not in text.stdout
    # With the key in the environment (as a run has it), it is hidden in any case.
    assert key.lower() not in text.stdout.lower()
    assert '  plugin state: {"feed_version": "00ab", "note": "***", "session_id": "***"}' in lines
    shown = json.loads(fth("state", "show", "--json", "-c", str(config), keys=True).stdout)
    assert shown["providers"]["motive"]["state"]["session_id"] == "***"
    assert (
        shown["providers"]["samsara"]["watermark"]
        == store.load_state()["providers"]["samsara"]["watermark"]
    )


def test_set_watermark_without_a_terminal_or_yes_refuses_with_one_line_and_changes_nothing(
    sims: Sims, ran: Path, tmp_path: Path
) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    before = tree_snapshot(store.root)
    for args in (["set-watermark", "motive", "2026-03-01"], ["reset", "samsara"]):
        result = fth("state", *args, "-c", str(config))
        assert result.returncode == 2
        assert one_error_line(result) == (
            "error: not confirmed: stdin is not a terminal; pass --yes to change it"
        )
    assert tree_snapshot(store.root) == before


def test_set_watermark_with_yes_moves_it_clears_the_plugin_state_and_the_run_starts_there(
    sims: Sims, ran: Path, tmp_path: Path
) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    mark = store.watermark("motive")
    assert mark is not None
    store.set_watermark("motive", mark, {"feed_version": "00ab"})
    result = fth("state", "set-watermark", "motive", "2026-03-01", "--yes", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"motive: watermark set to 2026-03-01T00:00:00Z (was {human_time(mark)})\n"
    )
    assert store.watermark("motive") == datetime(2026, 3, 1, tzinfo=UTC)
    assert store.provider_state("motive") == {}
    assert status_json(config)["watermarks"]["motive"] == "2026-03-01T00:00:00+00:00"
    # The next run starts at the new watermark (lookback 0) and walks up to its end.
    run = fth("run", "-c", str(config), "--end", "2026-03-03", "--json", keys=True)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["providers"]["motive"]["start"].startswith("2026-03-01")


def test_set_watermark_asks_on_a_terminal_and_a_no_changes_nothing(
    sims: Sims, ran: Path, tmp_path: Path
) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    mark = store.watermark("samsara")
    for answer, code, expected in (
        (b"n\n", 1, mark),
        (b"y\n", 0, datetime(2026, 3, 2, 6, tzinfo=UTC)),
    ):
        leader, follower = pty.openpty()
        try:
            os.write(leader, answer)
            result = fth(
                "state",
                "set-watermark",
                "samsara",
                "2026-03-02T06:00:00Z",
                "-c",
                str(config),
                stdin=follower,
            )
        finally:
            os.close(leader)
            os.close(follower)
        assert result.returncode == code, result.stderr
        assert f"Set samsara's watermark from {human_time(mark)} to 2026-03-02T06:00:00Z" in (
            result.stdout
        )
        assert store.watermark("samsara") == expected


def test_set_watermark_waits_for_no_one_holding_the_lock(
    sims: Sims, ran: Path, tmp_path: Path
) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    state = store.state_path.read_bytes()
    with store.locked():  # a run in progress
        result = fth("state", "set-watermark", "motive", "2026-03-01", "--yes", "-c", str(config))
        reset = fth("state", "reset", "motive", "--yes", "-c", str(config))
    for refused in (result, reset):
        assert refused.returncode == 2
        assert f"dataset {store.root} is in use by pid {os.getpid()}" in one_error_line(refused)
    assert store.state_path.read_bytes() == state


def test_reset_forgets_the_watermark_and_plugin_state_and_keeps_the_data(
    sims: Sims, ran: Path, tmp_path: Path
) -> None:
    config, store = copy_of(ran, tmp_path, sims)
    rows = store.read().num_rows
    result = fth("state", "reset", "motive", "--yes", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("motive: state reset (was 2026-03-03T00:00:00Z)")
    assert status_json(config)["watermarks"] == {
        "motive": None,
        "samsara": "2026-03-03T00:00:00+00:00",
    }
    assert store.read().num_rows == rows
    again = fth("state", "reset", "motive", "-c", str(config))
    assert (again.returncode, again.stdout) == (0, "motive: no state to reset\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["set-watermark", "motiv", "2026-03-01"],
            "error: motiv: not a provider of the config or the state (known: motive, samsara)",
        ),
        (["set-watermark", "motive", "yesterday"], "error: TIME: 'yesterday' is not an ISO-8601"),
        (["set-watermark", "motive", "2999-01-01"], "error: TIME 2999-01-01T00:00:00Z is in"),
        (["reset", "geotab"], "error: geotab: not a provider of the config or the state"),
    ],
)
def test_a_state_change_of_an_unknown_provider_or_a_bad_time_exits_2_with_one_line(
    ran: Path, args: list[str], message: str
) -> None:
    result = fth("state", *args, "--yes", "-c", str(ran))
    assert result.returncode == 2
    assert one_error_line(result).startswith(message)


# -- fth prune --dry-run -------------------------------------------------------------------


def test_prune_dry_run_lists_the_dates_it_would_delete_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    today = datetime.now(UTC).date()
    old = [today - timedelta(days=n) for n in (9, 8)]
    store = DatasetStore(tmp_path / "data")
    stamps = [datetime.combine(d, datetime.min.time(), tzinfo=UTC) for d in [*old, today]]
    store.merge(
        enforce_telemetry_schema(
            {"provider_vehicle_id": ["1"] * 3, "timestamp": stamps}, provider="motive"
        )
    )
    quarantine_rows(store, "motive", today - timedelta(days=7), 1)  # quarantine only
    config = tmp_path / "fth.yaml"
    config.write_text(f"storage: {{parquet_path: {store.root}}}\n", encoding="utf-8")
    before = tree_snapshot(store.root)
    dry = fth("prune", "--retention-days", "5", "--dry-run", "-c", str(config))
    assert dry.returncode == 0, dry.stderr
    would = [*old, today - timedelta(days=7)]
    assert dry.stdout.splitlines() == [
        "would remove 3 date(s) older than 5 days (dry run: nothing deleted)",
        *(day.isoformat() for day in would),
    ]
    assert tree_snapshot(store.root) == before
    real = fth("prune", "--retention-days", "5", "-c", str(config))
    assert real.returncode == 0, real.stderr
    assert store.partitions() == [today]
    assert not store.quarantine_files()


# -- hostile configs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting",
    [
        "logging: {level: ${SAMSARA_API_KEY}}",  # upper-cased by its validator
        "pipeline: {lookback_days: ${SAMSARA_API_KEY}}",  # echoed, cut at 40 characters
        "storage: {retention_days: '${SAMSARA_API_KEY}'}",
        "providers: {samsara: {verify_ssl: '${SAMSARA_API_KEY}'}}",  # quoted by its message
    ],
)
def test_a_config_error_never_shows_an_api_key_in_any_case_or_cut(
    tmp_path: Path, setting: str
) -> None:
    config = tmp_path / "fth.yaml"
    config.write_text(setting + "\n", encoding="utf-8")
    key = KEYS["SAMSARA_API_KEY"]
    for command in (["run"], ["status"], ["config", "check", "--offline"]):
        result = fth(*command, "-c", str(config), keys=True)
        assert result.returncode == 2, result.stderr
        line = one_error_line(result).lower()
        assert line.startswith(f"error: {config}: ".lower())
        assert key.lower() not in line
        assert key.lower()[:30] not in line  # nor its beginning, cut short


def _timed(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = fth(*args)
    return result, time.monotonic() - started


@pytest.mark.parametrize("style", ["flow", "block"])
def test_yaml_nested_5000_deep_is_refused_with_one_line(tmp_path: Path, style: str) -> None:
    config = tmp_path / "fth.yaml"
    if style == "flow":
        config.write_text("pipeline: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    else:
        config.write_text("".join(f"{' ' * i}k{i}:\n" for i in range(5000)), encoding="utf-8")
    for command in ("run", "status"):
        result, seconds = _timed(command, "-c", str(config))
        print(f"{style} {command}: {seconds:.2f}s")
        assert result.returncode == 2
        line = one_error_line(result)
        assert line.startswith(f"error: {config}: line ")
        assert line.endswith(": refused: nested deeper than 64 levels")


def test_a_yaml_alias_bomb_is_refused_with_one_line(tmp_path: Path) -> None:
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for this, last in zip("bcdefghi", "abcdefgh", strict=True):
        levels.append(f"{this}: &{this} [" + ", ".join([f"*{last}"] * 9) + "]")
    config = tmp_path / "fth.yaml"
    config.write_text("\n".join(levels) + "\n", encoding="utf-8")
    assert len(config.read_bytes()) < 500  # 9 ** 9 values once expanded
    result, seconds = _timed("run", "-c", str(config))
    print(f"alias bomb: {seconds:.2f}s")
    assert result.returncode == 2
    assert one_error_line(result).endswith(
        ": refused: aliases expand it to more than 100,000 values"
    )
    config.write_text("pipeline: &p {lookback_days: *p}\n", encoding="utf-8")
    loop = fth("status", "-c", str(config))
    assert loop.returncode == 2
    assert one_error_line(loop).endswith(": refused: an alias refers to a node containing it")


def test_aliases_and_merge_keys_of_a_normal_config_still_load(sims: Sims, tmp_path: Path) -> None:
    config = tmp_path / "fth.yaml"
    config.write_text(
        "providers:\n"
        "  motive: &common\n"
        f"    base_url: {sims.motive_server.base_url}\n"
        "    api_key: ${MOTIVE_API_KEY}\n"
        "    request_timeout: &timeouts [2, 5]\n"
        "  samsara:\n"
        "    <<: *common\n"
        f"    base_url: {sims.samsara_server.base_url}\n"
        "    api_key: ${SAMSARA_API_KEY}\n"
        f"storage: {{parquet_path: {tmp_path / 'dataset'}}}\n",
        encoding="utf-8",
    )
    check = fth("config", "check", "-c", str(config), keys=True)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines()[0] == f"{config}: OK (providers enabled: motive, samsara)"
