"""A damaged dataset, for real (issue 19): damaged files, strays beside the partitions, a state
file of the wrong shape, and the lock file deleted under a run.

The CLI runs in a subprocess against the Motive and Samsara simulators served from this
process on 127.0.0.1 (:mod:`loopback_support`); the damage is done here, between runs.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import yaml
from loopback_support import (
    AS_OF,
    DAY0,
    Gate,
    Sims,
    cli_env,
    fth,
    fth_command,
    make_sims,
    one_line,
    simulators_config,
    write_config,
)

from fth_core.schema import TELEMETRY_SCHEMA
from fth_core.sim import Fleet, SimServer
from fth_core.store import DatasetStore
from fth_core.testing import assert_same_telemetry
from fth_motive.simulator import MotiveSimulator

END = DAY0 + timedelta(days=2)  # two daily windows: 2026-03-02 and 2026-03-03


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[Sims]:
    yield from make_sims(tmp_path, vehicles=2)


def config_with_log(sims: Sims) -> tuple[Path, Path]:
    """A config for both simulators that also logs to a file; returns both paths."""
    log = sims.tmp / "logs" / "fth.log"
    document = simulators_config(
        sims.dataset, sims.motive_server.base_url, sims.samsara_server.base_url, start=DAY0.date()
    )
    document["logging"] = {"level": "INFO", "file": str(log)}
    path = sims.tmp / "fth.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path, log


def run_both_days(sims: Sims, config: Path) -> None:
    result = fth("run", "-c", str(config), "--end", END.date().isoformat(), "-q", cwd=sims.tmp)
    assert result.returncode == 0, result.stderr


def data_file(sims: Sims, day: str, provider: str) -> Path:
    return sims.dataset / f"date={day}" / f"{provider}.parquet"


def truncate(path: Path) -> bytes:
    """Cut ``path`` to half its size, as a full disk or an interrupted copy does; returns what
    is left."""
    left = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(left)
    return left


def flip_a_byte_in_a_page(path: Path, column: str = "speed_mph") -> None:
    """Flip the last byte of ``column``'s column chunk: data inside its last page, which still
    decodes as some value — only the page's checksum tells it changed."""
    chunk = pq.read_metadata(path).row_group(0).column(TELEMETRY_SCHEMA.get_field_index(column))
    end = (chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size
    data = bytearray(path.read_bytes())
    data[end - 1] ^= 0xFF
    path.write_bytes(bytes(data))


def status_json(sims: Sims, config: Path) -> dict[str, Any]:
    result = fth("status", "--json", "-c", str(config), cwd=sims.tmp)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


# -- damaged files ---------------------------------------------------------------------------


def test_verify_reads_every_file_and_names_each_damaged_one_exit_1_and_0_when_none(
    sims: Sims,
) -> None:
    config = sims.config()
    run_both_days(sims, config)
    files = sorted(sims.dataset.glob("date=*/*.parquet"))
    assert len(files) == 4
    clean = fth("verify", "-c", str(config), cwd=sims.tmp)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout == f"4 file(s) in {sims.dataset} verified: none damaged\n"

    truncated = data_file(sims, "2026-03-02", "motive")
    flipped = data_file(sims, "2026-03-03", "samsara")
    truncate(truncated)
    flip_a_byte_in_a_page(flipped)
    damaged = fth("verify", "-c", str(config), cwd=sims.tmp)
    assert damaged.returncode == 1
    first, second = damaged.stdout.splitlines()
    assert first.startswith(f"{truncated}: ")
    assert "magic bytes" in first
    # A flipped bit is caught by the page's checksum, which fth writes: without it, the bit
    # would most often read back as a wrong value.
    assert second.startswith(f"{flipped}: ")
    assert "CRC checksum verification failed" in second
    assert one_line(damaged.stderr).startswith(f"error: 2 of 4 file(s) in {sims.dataset} damaged;")


def test_a_file_written_without_checksums_before_them_reads_verifies_and_merges(
    sims: Sims,
) -> None:
    config = sims.config()
    run_both_days(sims, config)
    old = data_file(sims, "2026-03-03", "motive")
    pq.write_table(pq.read_table(old), old)  # pyarrow's defaults: no page checksums
    verified = fth("verify", "-c", str(config), cwd=sims.tmp)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert status_json(sims, config)["damaged"] == []
    rerun = fth("run", "-c", str(config), "--end", END.date().isoformat(), "-q", cwd=sims.tmp)
    assert rerun.returncode == 0, rerun.stderr  # the lookback merges into the old file
    assert_same_telemetry(sims.stored(), sims.expected(END))


def test_status_warns_of_a_truncated_file_that_runs_outside_its_date_never_touch(
    sims: Sims,
) -> None:
    config = sims.config()
    run_both_days(sims, config)
    truncated = data_file(sims, "2026-03-02", "motive")
    left = truncate(truncated)
    # The next incremental run covers 2026-03-03 only (watermark - 1 day lookback).
    rerun = fth("run", "-c", str(config), "--end", END.date().isoformat(), "-q", cwd=sims.tmp)
    assert rerun.returncode == 0, rerun.stderr
    assert truncated.read_bytes() == left

    text = fth("status", "-c", str(config), cwd=sims.tmp)
    assert text.returncode == 0, text.stderr
    [warning] = [line for line in text.stdout.splitlines() if line.startswith("damaged: ")]
    assert warning.startswith(f"damaged: {truncated} (")
    assert warning.endswith(
        "readers of the dataset fail on it; `fth verify` checks every file whole"
    )
    [damaged] = status_json(sims, config)["damaged"]
    assert damaged["path"] == str(truncated)
    assert "magic bytes" in damaged["problem"]


def test_a_damaged_file_inside_a_runs_range_is_set_aside_and_rebuilt_from_the_api(
    sims: Sims,
) -> None:
    config, log = config_with_log(sims)
    run_both_days(sims, config)
    damaged = data_file(sims, "2026-03-03", "motive")
    left = truncate(damaged)

    rerun = fth("run", "-c", str(config), "--end", END.date().isoformat(), cwd=sims.tmp)
    assert rerun.returncode == 0, rerun.stderr
    [aside] = sims.dataset.glob("_damaged/*/date=2026-03-03/motive.parquet")
    assert aside.read_bytes() == left, "set aside as it was, never deleted"
    [line] = [line for line in rerun.stderr.splitlines() if "damaged" in line]
    assert f"{damaged} was damaged (" in line
    assert line.endswith(f"set aside as {aside} and rebuilt from this fetch")
    assert line.split("WARNING ", 1)[1] in log.read_text(encoding="utf-8")

    # Rebuilt whole, since the window began at the date's midnight; readers see no trace.
    assert_same_telemetry(sims.stored(), sims.expected(END))
    assert len(pd.read_parquet(sims.dataset)) == sims.expected(END).num_rows
    assert ds.dataset(sims.dataset, format="parquet").files == [
        str(p) for p in sorted(sims.dataset.glob("date=*/*.parquet"))
    ]
    verified = fth("verify", "-c", str(config), cwd=sims.tmp)
    assert verified.returncode == 0, verified.stdout


def test_a_damaged_file_rebuilt_from_part_of_its_date_says_what_is_missing_and_how_to_refetch(
    sims: Sims,
) -> None:
    config = sims.config()
    run_both_days(sims, config)
    damaged = data_file(sims, "2026-03-03", "motive")
    truncate(damaged)

    end = END.date().isoformat()
    half = fth(
        "run", "-c", str(config), "--start", "2026-03-03T12:00:00Z", "--end", end, cwd=sims.tmp
    )
    assert half.returncode == 0, half.stderr
    [line] = [line for line in half.stderr.splitlines() if "damaged" in line]
    assert line.endswith(
        "rebuilt from this fetch; its rows before 2026-03-03T12:00:00Z are not in this fetch:"
        " `fth run --start 2026-03-03` fetches that date again"
    )
    whole = fth("run", "-c", str(config), "--start", "2026-03-03", "--end", end, cwd=sims.tmp)
    assert whole.returncode == 0, whole.stderr
    assert "damaged" not in whole.stderr
    assert_same_telemetry(sims.stored(), sims.expected(END))


# -- strays beside the partitions ------------------------------------------------------------


def test_a_stray_directory_beside_the_partitions_is_ignored_by_fth_and_named_by_status(
    sims: Sims,
) -> None:
    config = sims.config()
    run_both_days(sims, config)
    stray = sims.dataset / "date=2026-11-03.bak"
    shutil.copytree(sims.dataset / "date=2026-03-03", stray)
    truth = sims.expected(END)

    text = fth("status", "-c", str(config), cwd=sims.tmp)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1].startswith("partitions: 2 (2026-03-02 .. 2026-03-03), ")
    assert lines[-1] == (
        f"not a partition: {stray}: fth ignores it, but other readers of the dataset (pandas,"
        " DuckDB, polars) may read it as data: move it out of the dataset"
    )
    assert status_json(sims, config)["not_partitions"] == [str(stray)]

    counted = fth(
        "query", "-c", str(config), "select count(*) as n from telemetry", "-f", "csv", cwd=sims.tmp
    )
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.splitlines() == ["n", str(truth.num_rows)]
    rerun = fth("run", "-c", str(config), "--end", END.date().isoformat(), "-q", cwd=sims.tmp)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_telemetry(sims.stored(), truth)
    assert fth("verify", "-c", str(config), cwd=sims.tmp).returncode == 0
    # Retention deletes partitions, never what is not one.
    pruned = fth("prune", "-c", str(config), "--retention-days", "1", cwd=sims.tmp)
    assert pruned.returncode == 0, pruned.stderr
    assert DatasetStore(sims.dataset).partitions() == []
    assert sorted(p.name for p in stray.iterdir()) == ["motive.parquet", "samsara.parquet"]


# -- a state file of the wrong shape ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON (Expecting property name enclosed in double quotes"),
        ("[]", "the file holds an array, not an object"),
        ('{"providers": []}', "providers: an array, not an object"),
        ('{"providers": {"motive": "2026-03-03"}}', "providers.motive: a string, not an object"),
        (
            '{"providers": {"motive": {"watermark": "2026-03-03T00:00:00"}}}',
            "providers.motive.watermark: '2026-03-03T00:00:00' has no UTC offset (+00:00)",
        ),
        (
            '{"providers": {"samsara": {"watermark": "yesterday"}}}',
            "providers.samsara.watermark: 'yesterday' is not an ISO 8601 time",
        ),
        (
            '{"providers": {"motive": {"watermark": 1772496000}}}',
            "providers.motive.watermark: a number, not a time",
        ),
        (
            '{"providers": {"motive": {"state": [1]}}}',
            "providers.motive.state: an array, not an object",
        ),
        ('{"last_run": "ok"}', "last_run: a string, not an object"),
        (
            '{"last_run": {"providers": {"motive": null}}}',
            "last_run.providers.motive: null, not an object",
        ),
    ],
)
def test_a_state_file_of_the_wrong_shape_is_one_line_naming_it_and_exit_2(
    content: str, problem: str, sims: Sims
) -> None:
    config = sims.config()
    state = DatasetStore(sims.dataset).state_path
    state.parent.mkdir(parents=True)
    state.write_text(content, encoding="utf-8")
    for command in (["run", "--end", END.date().isoformat()], ["status"], ["status", "--json"]):
        result = fth(*command, "-c", str(config), cwd=sims.tmp)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stdout == ""
        line = one_line(result.stderr)
        assert line.startswith(f"error: dataset state {state}: {problem}"), line
    assert sims.motive_server.requests() == sims.samsara_server.requests() == []
    assert state.read_text(encoding="utf-8") == content, "left as it was, for the operator"


# -- the lock ----------------------------------------------------------------------------------


def test_deleting_the_lock_file_under_a_run_lets_no_second_run_in_and_status_names_the_holder(
    tmp_path: Path,
) -> None:
    held = Gate(MotiveSimulator(Fleet(31, vehicles=2), as_of=AS_OF))
    with SimServer(held) as server:
        config = str(write_config(tmp_path, server.base_url, None, read_timeout=60))
        dataset = tmp_path / "dataset"
        free = fth("status", "-c", config, cwd=tmp_path)
        assert "lock: free" in free.stdout.splitlines(), free.stdout
        first = subprocess.Popen(
            fth_command("run", "-c", config, "--end", "2026-03-03", "-q"),
            env=cli_env(),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert held.arrived.wait(timeout=60), "the first run never reached the simulator"
            holder = f"pid {first.pid} on {socket.gethostname()} since "
            shown = fth("status", "-c", config, cwd=tmp_path)
            [line] = [line for line in shown.stdout.splitlines() if line.startswith("lock: ")]
            assert line.startswith(f"lock: held by {holder}"), line
            assert status_json_at(tmp_path, config)["held_by"].startswith(holder)

            (dataset / ".lock").unlink()  # as a clean-up taking it for stale would
            second = fth("run", "-c", config, "--end", "2026-03-03", cwd=tmp_path)
            assert second.returncode == 2
            assert one_line(second.stderr) == (
                f"error: dataset {dataset} is in use by another process;"
                " wait for that run to finish"
            )
            shown = fth("status", "-c", config, cwd=tmp_path)
            assert "lock: held by another process" in shown.stdout.splitlines()
            assert first.poll() is None, "the status looks did not disturb the run"
            held.opened.set()
            _, errors = first.communicate(timeout=60)
            assert first.returncode == 0, errors
        finally:
            held.opened.set()
            if first.poll() is None:
                first.kill()
                first.wait()
        after = fth("status", "-c", config, cwd=tmp_path)
        assert "lock: free" in after.stdout.splitlines()
        assert status_json_at(tmp_path, config)["held_by"] is None


def status_json_at(cwd: Path, config: str) -> dict[str, str]:
    result = fth("status", "--json", "-c", config, cwd=cwd)
    assert result.returncode == 0, result.stderr
    report: dict[str, str] = json.loads(result.stdout)
    return report
