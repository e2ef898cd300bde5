"""A run SIGKILLed at any instant leaves a readable dataset, and the next run converges.

``fth run`` runs in a subprocess against both simulators (threads of this process on
127.0.0.1) and is killed with SIGKILL — nothing in it gets to clean up — at each step of the
commit protocol that :mod:`fth_core.crashpoints` names (some at later occurrences too), and at
seeded random moments from outside. After each kill the dataset must read with pyarrow and
pandas (whole files only), the state must parse, and every watermark may claim only rows
that are stored; a rerun without the fault must then store exactly the ground truth, quarantine
each bad row exactly once and leave no temporary file behind.

Motive's answers put the first location of every vehicle-day off the map (latitude 123), so
every Motive window quarantines rows: the quarantine's own steps are crash points too.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from loopback_support import DAY0, Sims, cli_env, fth_command, make_sims, of_provider

from fth_core.crashpoints import ENV_VAR, POINTS, parse_target
from fth_core.errors import ConfigError
from fth_core.pipeline import TelemetryPipeline
from fth_core.store import QUARANTINE_SCHEMA, DatasetStore
from fth_core.testing import assert_same_telemetry
from fth_motive.simulator import MotiveSimulator

DAYS = 2
END = DAY0 + timedelta(days=DAYS)
OFF_THE_MAP = 123.0

# A whole run here (2 providers x 2 daily windows) reaches each partition and window point 4
# times, each quarantine point twice (Motive's windows) and each state point 5 times (4
# watermarks, then the run's summary). A count the run never reaches fails the test.
POINT_KILLS = [
    "partition.written:1",
    "partition.synced:1",
    "partition.replaced:1",
    "partition.written:3",
    "partition.replaced:4",
    "quarantine.written:1",
    "quarantine.synced:2",
    "quarantine.replaced:2",
    "state.written:1",
    "state.synced:2",
    "state.replaced:3",
    "state.written:5",
    "state.replaced:5",
    "window.merged:1",
    "window.merged:3",
    "window.quarantined:2",
    "window.quarantined:4",
    "window.committed:1",
    "window.committed:3",
    "window.committed:4",
]
RANDOM_KILLS = range(4)  # seeds of the delays
# With this latency, the run's Motive side alone still needs three round trips (0.45 s of
# sleeping) after its first answer, so a kill within MAX_DELAY of it always lands mid-run.
SLOW_MS = 150
MAX_DELAY = 0.3


class MotiveOffTheMap(MotiveSimulator):
    """Motive whose answers put the first location of every UTC day at latitude 123."""

    def _render_locations(self, *args: Any) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = super()._render_locations(*args)
        days: set[str] = set()
        for record in records:
            day = record["located_at"][:10]  # rendered in UTC
            if day not in days:
                days.add(day)
                record["lat"] = OFF_THE_MAP
        return records


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[Sims]:
    yield from make_sims(tmp_path, vehicles=2, motive_simulator=MotiveOffTheMap)


Key = tuple[str, str, datetime]


def keys(table: pa.Table) -> list[Key]:
    """The dedup key of each row of ``table``, in row order."""
    columns = ("provider", "provider_vehicle_id", "timestamp")
    return list(zip(*(table.column(name).to_pylist() for name in columns), strict=True))


def before(table: pa.Table, moment: datetime) -> pa.Table:
    return table.filter(pc.less(table.column("timestamp"), pa.scalar(moment)))


def ground_truth(sims: Sims) -> tuple[pa.Table, list[Key]]:
    """What a whole run must store, and the sorted keys of the rows it must quarantine: the
    first location of each Motive vehicle-day."""
    expected = sims.expected(END)
    first: dict[tuple[str, date], datetime] = {}
    for _, vehicle, stamp in sorted(keys(of_provider(expected, "motive"))):
        first.setdefault((vehicle, stamp.date()), stamp)
    bad = {("motive", vehicle, stamp) for (vehicle, _), stamp in first.items()}
    stored = expected.filter(pa.array([key not in bad for key in keys(expected)]))
    return stored, sorted(bad)


def quarantined(dataset: Path) -> pa.Table:
    root = dataset / "_quarantine"
    if not root.exists():
        return QUARANTINE_SCHEMA.empty_table()
    return ds.dataset(root, QUARANTINE_SCHEMA, format="parquet", partitioning="hive").to_table()


def assert_readable_and_claims_only_stored_rows(sims: Sims) -> None:
    """The checks after a kill, before anything touches the dataset again."""
    dataset = ds.dataset(sims.dataset, format="parquet", partitioning="hive")
    assert all(Path(f).stem in ("motive", "samsara") for f in dataset.files), dataset.files
    table = dataset.to_table()  # reads every visible file whole
    assert len(pd.read_parquet(sims.dataset)) == table.num_rows
    store = DatasetStore(sims.dataset)
    if store.state_path.exists():
        json.loads(store.state_path.read_text(encoding="utf-8"))  # whole, never half-written
    truth, bad = ground_truth(sims)
    for name in ("motive", "samsara"):
        mark = store.watermark(name)
        if mark is not None:
            assert DAY0 < mark <= END
            committed = store.read(DAY0.date(), (mark - timedelta(days=1)).date())
            assert_same_telemetry(
                of_provider(committed, name), before(of_provider(truth, name), mark)
            )
    put_aside = quarantined(sims.dataset)
    assert set(put_aside.column("reason").to_pylist()) <= {"latitude out of range"}
    assert len(set(keys(put_aside))) == put_aside.num_rows, "a row quarantined twice"
    assert set(keys(put_aside)) <= set(bad)


def assert_a_rerun_converges(sims: Sims) -> None:
    """A run without the fault completes the dataset to exactly what an uninterrupted run
    stores. It runs in this process (the killed run was the real CLI): a second interpreter
    start per moment would double this module's time."""
    summary = TelemetryPipeline(sims.config()).run(end=END)
    assert summary.status == "ok", summary.providers
    truth, bad = ground_truth(sims)
    assert_same_telemetry(sims.stored(), truth)
    assert sorted(keys(quarantined(sims.dataset))) == bad
    store = DatasetStore(sims.dataset)
    assert store.watermark("motive") == store.watermark("samsara") == END
    assert list(sims.dataset.rglob("*.tmp")) == [], "the killed run's temporary files are gone"


def start_run(sims: Sims, **environment: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        fth_command("run", "-c", str(sims.config()), "--end", END.date().isoformat(), "-q"),
        env=cli_env() | environment,
        cwd=sims.tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_crash_point_kills_the_process_the_nth_time_it_is_reached_and_only_then() -> None:
    script = (
        "from fth_core.crashpoints import crash_point\n"
        "for _ in range(5):\n"
        "    crash_point('window.committed')\n"  # another point: never counted
        "for n in range(1, 6):\n"
        "    crash_point('window.merged')\n"
        "    print(n, flush=True)\n"
    )
    command = [sys.executable, "-c", script]
    environment = cli_env() | {ENV_VAR: "window.merged:3"}
    killed = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert killed.stdout == "1\n2\n"


def test_the_crash_point_kills_cover_every_point() -> None:
    assert {parse_target(spec)[0] for spec in POINT_KILLS} == set(POINTS)


@pytest.mark.parametrize("crash_at", POINT_KILLS)
def test_a_run_killed_at_a_crash_point_leaves_a_readable_dataset_and_the_rerun_converges(
    crash_at: str, sims: Sims
) -> None:
    run = start_run(sims, **{ENV_VAR: crash_at})
    _, errors = run.communicate(timeout=60)
    assert run.returncode == -signal.SIGKILL, f"{crash_at} never reached: {errors}"
    assert_readable_and_claims_only_stored_rows(sims)
    assert_a_rerun_converges(sims)


@pytest.mark.parametrize("seed", RANDOM_KILLS)
def test_a_run_killed_at_a_random_moment_leaves_a_readable_dataset_and_the_rerun_converges(
    seed: int, sims: Sims
) -> None:
    delay = random.Random(seed).uniform(0, MAX_DELAY)
    sims.motive_server.latency_ms = sims.samsara_server.latency_ms = SLOW_MS
    run = start_run(sims)
    try:
        deadline = time.monotonic() + 30
        while not sims.motive_server.requests() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        assert run.poll() is None, f"the run ended before the kill {delay:.3f} s in"
        run.send_signal(signal.SIGKILL)
        assert run.wait(timeout=10) == -signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()
        run.communicate()
    sims.motive_server.latency_ms = sims.samsara_server.latency_ms = 0
    assert_readable_and_claims_only_stored_rows(sims)
    assert_a_rerun_converges(sims)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("partition.renamed:1", "unknown crash point 'partition.renamed'"),
        ("state.synced:0", "must be a positive integer"),
        ("state.synced:x", "must be a positive integer"),
    ],
)
def test_a_malformed_crash_target_is_refused_with_its_problem(spec: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"^{ENV_VAR}={spec}: .*{problem}"):
        parse_target(spec)


def test_a_crash_target_without_a_count_means_the_first_occurrence() -> None:
    assert parse_target("window.merged") == ("window.merged", 1)
    assert parse_target("state.replaced:12") == ("state.replaced", 12)
