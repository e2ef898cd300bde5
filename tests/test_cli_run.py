"""``fth run``, ``fth demo`` and ``fth simulate`` for real: the CLI in a subprocess, the
Motive and Samsara simulators in this process on 127.0.0.1 (threads the subprocess reaches).
A run killed at any instant is pinned in ``test_crash.py``.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.compute as pc
import pytest
import yaml
from loopback_support import (
    AS_OF,
    DAY0,
    VEHICLES,
    BreakWindow,
    Gate,
    Sims,
    cli_env,
    closed_port_url,
    fth,
    fth_command,
    make_sims,
    of_provider,
    one_line,
    tree_snapshot,
    write_config,
)

from fth_core.sim import Fault, Fleet, SimServer
from fth_core.store import DatasetStore
from fth_core.testing import assert_same_telemetry
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[Sims]:
    yield from make_sims(tmp_path)


# -- fth run: output modes -------------------------------------------------------------------


def test_run_json_prints_the_summary_with_per_provider_figures(sims: Sims) -> None:
    sims.motive_server.inject(Fault("429", retry_after="0.2"))  # one 429, honoured
    sims.samsara_server.inject(503)  # one 5xx, retried
    end = DAY0 + timedelta(days=2)
    result = fth(
        "run", "--config", str(sims.config()), "--end", "2026-03-04", "--json", cwd=sims.tmp
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    stored = sims.stored()
    assert_same_telemetry(stored, sims.expected(end))

    assert summary["status"] == "ok"
    assert summary["exit_code"] == 0
    assert summary["rows_written"] == stored.num_rows
    assert summary["duplicates_replaced"] == 0
    assert summary["quarantined"] == 0
    assert summary["vehicles"] == sum(
        len(set(of_provider(stored, p).column("provider_vehicle_id").to_pylist()))
        for p in ("motive", "samsara")
    )
    first, last = pc.min_max(stored.column("timestamp")).values()
    assert datetime.fromisoformat(summary["first_timestamp"]) == first.as_py()
    assert datetime.fromisoformat(summary["last_timestamp"]) == last.as_py()
    assert summary["partitions_touched"] == ["2026-03-02", "2026-03-03"]
    assert summary["elapsed_seconds"] > 0
    assert summary["dataset"] == str(sims.dataset)
    assert summary["dataset_bytes"] == sum(
        p.stat().st_size for p in sims.dataset.glob("date=*/*.parquet")
    )

    motive, samsara = summary["providers"]["motive"], summary["providers"]["samsara"]
    for name, figures, server in (
        ("motive", motive, sims.motive_server),
        ("samsara", samsara, sims.samsara_server),
    ):
        assert figures["ok"] is True
        assert figures["failures"] == []
        assert (
            figures["rows_fetched"] == figures["rows_added"] == of_provider(stored, name).num_rows
        )
        assert figures["requests"] == len(server.requests()), "every attempt is counted"
        assert figures["windows"] == figures["windows_done"] == 2
        assert datetime.fromisoformat(figures["watermark"]) == end
    assert (motive["rate_limited"], motive["retries"]) == (1, 1)
    assert (samsara["rate_limited"], samsara["retries"]) == (0, 1)
    assert motive["wait_seconds"] >= 0.1, "the Retry-After pause is waiting time"


def test_run_quiet_prints_nothing_on_success(sims: Sims) -> None:
    result = fth("run", "--config", str(sims.config()), "--end", "2026-03-03", "-q", cwd=sims.tmp)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    assert sims.stored().num_rows > 0


def test_run_prints_plain_progress_lines_and_the_summary_when_not_a_tty(sims: Sims) -> None:
    result = fth("run", "--config", str(sims.config()), "--end", "2026-03-04", cwd=sims.tmp)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr, "no terminal escapes in logs"
    progress = result.stderr.splitlines()
    for name in ("motive", "samsara"):
        mine = [line for line in progress if line.startswith(f"{name}: ")]
        assert mine == [
            f"{name}: 2 window(s) to fetch",
            f"{name}: window 1 committed (through 2026-03-03T00:00:00Z)",
            f"{name}: window 2 committed (through 2026-03-04T00:00:00Z)",
        ]
    assert len(progress) == 6
    assert "fth run: ok" in result.stdout
    stored = sims.stored()
    assert f"{stored.num_rows:,} new rows, 0 duplicates replaced, 0 quarantined" in result.stdout
    assert f"dataset: {sims.dataset} (" in result.stdout


def test_run_provider_option_runs_only_that_provider(sims: Sims) -> None:
    config = str(sims.config())
    result = fth("run", "-c", config, "--end", "2026-03-03", "--provider", "samsara", cwd=sims.tmp)
    assert result.returncode == 0, result.stderr
    assert sims.motive_server.requests() == []
    assert sims.samsara_server.requests() != []
    assert_same_telemetry(sims.stored(), sims.expected(DAY0 + timedelta(days=1), "samsara"))
    store = DatasetStore(sims.dataset)
    assert store.watermark("motive") is None
    assert store.watermark("samsara") == DAY0 + timedelta(days=1)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--end", "notadate"], "--end"),
        (["--start", "2026-13-01"], "--start"),
        (["--end", "2026-03-04T00:00:00"], "--end"),  # no time zone
        (["--start", "2026-03-05", "--end", "2026-03-02"], "--start"),  # empty range
    ],
)
def test_run_start_and_end_errors_exit_2_with_one_line(
    args: list[str], option: str, tmp_path: Path
) -> None:
    config = tmp_path / "fth.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "providers": {"motive": {"base_url": closed_port_url(), "api_key": "k"}},
                "storage": {"parquet_path": str(tmp_path / "dataset")},
            }
        ),
        encoding="utf-8",
    )
    result = fth("run", "--config", str(config), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert line.startswith(f"error: {option}")
    assert not (tmp_path / "dataset").exists(), "nothing ran"


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("earlier_run", [False, True], ids=["first-run", "after-a-run"])
def test_a_provider_down_for_a_run_keeps_its_state_exits_3_and_the_next_run_fills_its_gap(
    sims: Sims, earlier_run: bool
) -> None:
    config = str(sims.config())
    day1, day2 = DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)
    store = DatasetStore(sims.dataset)
    if earlier_run:
        first = fth("run", "-c", config, "--end", "2026-03-03", "-q", cwd=sims.tmp)
        assert first.returncode == 0, first.stderr
    # Samsara's state entry (watermark and its time stamp) and rows as the outage finds them:
    # nothing on a first run, a day's worth after the earlier one.
    samsara_state = store.load_state()["providers"].get("samsara")
    samsara_through = day1 if earlier_run else DAY0
    assert (samsara_state is not None) is earlier_run
    port = sims.samsara_server.port
    sims.samsara_server.close()

    down = fth("run", "-c", config, "--end", "2026-03-04", cwd=sims.tmp)
    assert down.returncode == 3, down.stderr
    assert "fth run: partial" in down.stdout
    # The summary has a column per provider and a row per figure.
    header = re.search(r"^\s+(motive)\s+(samsara)\s*$", down.stdout, re.MULTILINE)
    status = re.search(r"^\s*status\s+(.+?)\s*$", down.stdout, re.MULTILINE)
    assert header is not None, down.stdout
    assert status is not None, down.stdout
    assert re.split(r"\s{2,}", status.group(1)) == ["ok", "stopped at window 1"]
    # Both runs start with the day of lookback (or the default start): window 1 is 03-02.
    window = "samsara: window 1 (2026-03-02T00:00:00Z..2026-03-03T00:00:00Z) failed: "
    assert re.search(rf"^  {re.escape(window)}GET .*(refused|ConnectError)", down.stdout, re.M)
    assert window in down.stderr
    assert store.load_state()["providers"].get("samsara") == samsara_state, (
        "a failed provider's watermark stays exactly where it was"
    )
    assert store.watermark("motive") == day2
    assert_same_telemetry(of_provider(sims.stored(), "motive"), sims.expected(day2, "motive"))
    assert_same_telemetry(
        of_provider(sims.stored(), "samsara"), sims.expected(samsara_through, "samsara")
    )

    with SimServer(sims.samsara, port=port):  # back, on the same port
        back = fth("run", "-c", config, "--end", "2026-03-04", "--json", cwd=sims.tmp)
    assert back.returncode == 0, back.stderr
    assert store.watermark("samsara") == day2
    assert_same_telemetry(sims.stored(), sims.expected(day2))
    # Exactly the gap is new: what the outage kept samsara from storing, no more, no less.
    gap = sims.samsara.expected_telemetry(samsara_through, day2)
    assert gap.num_rows > 0
    assert json.loads(back.stdout)["providers"]["samsara"]["rows_added"] == gap.num_rows


def test_a_failed_window_is_named_with_its_dates_in_progress_summary_and_json(
    tmp_path: Path,
) -> None:
    # Motive's second day answers 400s whose text looks like rich markup: it must print as is.
    second_day = (DAY0 + timedelta(days=1)).date()
    motive = BreakWindow(
        MotiveSimulator(Fleet(31, vehicles=VEHICLES), as_of=AS_OF), second_day, "day [/2] [bold]"
    )
    samsara = SamsaraSimulator(Fleet(32, vehicles=VEHICLES), as_of=AS_OF)
    named = "motive: window 2 (2026-03-03T00:00:00Z..2026-03-04T00:00:00Z) failed: vehicle "
    cause = "returned HTTP 400: day [/2] [bold]"
    with SimServer(motive) as motive_server, SimServer(samsara) as samsara_server:
        config = str(write_config(tmp_path, motive_server.base_url, samsara_server.base_url))
        human = fth("run", "-c", config, "--end", "2026-03-04", cwd=tmp_path)
        assert human.returncode == 3, human.stderr
        [progress] = [line for line in human.stderr.splitlines() if line.startswith(named)]
        assert progress.endswith(cause), progress
        summary = [line for line in human.stdout.splitlines() if named in line]
        assert len(summary) == VEHICLES, human.stdout  # one line per vehicle's failed request
        assert all(line.startswith(f"  {named}") and line.endswith(cause) for line in summary)

        # The next run redoes the lookback day, then stops at the same window: --json names it.
        again = fth("run", "-c", config, "--end", "2026-03-04", "--json", cwd=tmp_path)
        assert again.returncode == 3, again.stderr
        report = json.loads(again.stdout)
        motive_run, samsara_run = report["providers"]["motive"], report["providers"]["samsara"]
        assert (motive_run["ok"], motive_run["failed_window"]) == (False, 1)
        assert datetime.fromisoformat(motive_run["failed_window_start"]) == DAY0 + timedelta(days=1)
        assert datetime.fromisoformat(motive_run["failed_window_end"]) == DAY0 + timedelta(days=2)
        assert len(motive_run["failures"]) == VEHICLES
        assert all(f.endswith(cause) for f in motive_run["failures"])
        assert samsara_run["ok"] is True
        assert samsara_run["failed_window_start"] is None


def test_every_provider_down_exits_1_with_one_error_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, closed_port_url(), closed_port_url())
    result = fth("run", "-c", str(config), "--end", "2026-03-04", "--quiet", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    # Quiet prints problems: each failed window's line as it fails, then the one error line.
    *failed, line = result.stderr.splitlines()
    window = "window 1 (2026-03-02T00:00:00Z..2026-03-03T00:00:00Z) failed"
    assert sorted(f.split(":")[0] for f in failed) == ["motive", "samsara"]
    assert all(f.split(": ", 1)[1].startswith(window) for f in failed)
    motive = rf"\(motive: {re.escape(window)}: GET http://127\.0\.0\.1:\d+/v1/vehicles "
    assert re.match(rf"error: every provider failed {motive}", line)
    samsara = rf"; samsara: {re.escape(window)}: GET http://127\.0\.0\.1:\d+/fleet/vehicles/stats/"
    assert re.search(samsara + r"history failed: connection refused\)$", line)
    assert "Traceback" not in result.stderr


def test_a_second_concurrent_run_is_refused_exit_2_and_changes_nothing_while_the_first_finishes(
    tmp_path: Path,
) -> None:
    motive = MotiveSimulator(Fleet(31, vehicles=2), as_of=AS_OF)
    gate = Gate(motive)
    with SimServer(gate) as server:
        config = str(write_config(tmp_path, server.base_url, None, read_timeout=30))
        first = subprocess.Popen(
            fth_command("run", "-c", config, "--end", "2026-03-03", "-q"),
            env=cli_env(),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # The first run's first request is held at the gate: it has taken the lock and
            # writes nothing until the gate opens.
            assert gate.arrived.wait(timeout=30), "the first run never reached the simulator"
            before = tree_snapshot(tmp_path)
            second = fth("run", "-c", config, "--end", "2026-03-03", cwd=tmp_path)
            assert first.poll() is None, "the first run must still hold the lock"
            assert second.returncode == 2
            assert second.stdout == ""
            assert re.fullmatch(
                f"error: dataset {re.escape(str(tmp_path / 'dataset'))} is in use by pid"
                f" {first.pid} on {re.escape(socket.gethostname())} since"
                r" \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; wait for that run to finish",
                one_line(second.stderr),
            )
            assert tree_snapshot(tmp_path) == before, "the refused run touched the dataset"
            gate.opened.set()
            _, errors = first.communicate(timeout=60)
            assert first.returncode == 0, errors
        finally:
            gate.opened.set()
            if first.poll() is None:
                first.kill()
                first.wait()
    day1 = DAY0 + timedelta(days=1)
    store = DatasetStore(tmp_path / "dataset")
    assert store.watermark("motive") == day1
    assert_same_telemetry(store.read(), motive.expected_telemetry(DAY0, day1))


# -- fth demo and fth simulate ---------------------------------------------------------------


def test_demo_writes_a_readable_dataset_and_prints_its_path_and_a_pandas_snippet(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo"
    result = fth("demo", "--vehicles", "3", "--days", "1", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dataset = out / "dataset"
    assert str(dataset) in result.stdout
    assert "import pandas as pd" in result.stdout
    assert f"pd.read_parquet({str(dataset)!r})" in result.stdout
    frame = pd.read_parquet(dataset)
    assert len(frame) > 0
    assert set(frame["provider"].astype(str)) == {"geotab", "motive", "samsara"}
    assert frame.groupby("provider", observed=True)["provider_vehicle_id"].nunique().max() <= 3


def test_demo_runs_only_the_providers_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = fth(
        "demo", "-p", "geotab", "--vehicles", "2", "--days", "1", "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(out / "dataset")
    assert set(frame["provider"].astype(str)) == {"geotab"}
    assert "simulator motive" not in result.stdout


@dataclass
class Simulating:
    """A running ``fth simulate``: the process, the base URL and credentials it printed for each
    provider, and its further output lines as ``reader`` reads them."""

    process: subprocess.Popen[str]
    served: dict[str, tuple[str, dict[str, str]]]
    lines: queue.Queue[str]
    reader: threading.Thread


@contextmanager
def simulating(tmp_path: Path) -> Iterator[Simulating]:
    """``fth simulate`` in a subprocess, killed on the way out if still running."""
    process = subprocess.Popen(
        fth_command("simulate", "--vehicles", "2", "--port", "0"),
        env=cli_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def read_lines() -> None:
        for text in stdout:
            lines.put(text)

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    try:
        served: dict[str, tuple[str, dict[str, str]]] = {}
        while True:
            line = lines.get(timeout=30)
            if line.startswith("Serving"):
                break
            match = re.fullmatch(r"(\w+): base_url=(\S+)((?: \w+=\S+)+)\n", line)
            assert match, line
            given = dict(pair.split("=", 1) for pair in match[3].split())
            served[match[1]] = (match[2], given)
        yield Simulating(process, served, lines, reader)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _threads_of(pid: int) -> str:
    """Each thread of a live process: name, state, pending and blocked signals, and the kernel
    function it sleeps in (what to know when a process does not stop)."""
    wanted = ("Name", "State", "SigPnd", "ShdPnd", "SigBlk", "SigIgn")
    lines = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        fields = (task / "status").read_text().splitlines()
        status = " ".join(f.replace("\t", "") for f in fields if f.startswith(wanted))
        lines.append(f"{task.name}: {status} wchan={(task / 'wchan').read_text()}")
    return "\n".join(lines)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_simulate_serves_the_printed_urls_and_keys_until_sigint_or_sigterm(
    tmp_path: Path, stop: signal.Signals
) -> None:
    with simulating(tmp_path) as sim:
        process, served = sim.process, sim.served
        assert set(served) == {"geotab", "motive", "samsara"}
        with httpx.Client(trust_env=False, timeout=10) as client:
            url, given = served["motive"]
            assert url.startswith("http://127.0.0.1:")
            motive = client.get(f"{url}/v1/vehicles", headers={"X-Api-Key": given["api_key"]})
            assert motive.status_code == 200, motive.text
            assert len(motive.json()["vehicles"]) == 2
            url, given = served["samsara"]
            bearer = {"Authorization": f"Bearer {given['api_key']}"}
            samsara = client.get(f"{url}/fleet/vehicles", headers=bearer)
            assert samsara.status_code == 200, samsara.text
            assert len(samsara.json()["data"]) == 2
            url, given = served["geotab"]
            login = {"database": given["database"], "userName": given["username"]}
            params = {**login, "password": given["password"]}
            call = {"id": -1, "method": "Authenticate", "params": params}
            session = client.post(f"{url}/apiv1", json=call).json()["result"]["credentials"]
            call = {"method": "Get", "params": {"typeName": "Device", "credentials": session}}
            assert len(client.post(f"{url}/apiv1", json=call).json()["result"]) == 2
        process.send_signal(stop)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"fth simulate still runs 10 s after {stop.name}:\n{_threads_of(process.pid)}"
            )
        assert code == 0
        sim.reader.join(timeout=5)
        rest = []
        while not sim.lines.empty():
            rest.append(sim.lines.get())
        assert rest == ["stopped\n"]
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()


def test_a_simulator_queues_a_burst_of_connections_while_it_is_busy(tmp_path: Path) -> None:
    """The kernel holds connections a server has not accepted yet, up to its listen backlog;
    past it, a new connection's SYN is dropped and the client retries only after a second.
    A client opening its pool at once (Motive: 10 in flight) must never meet that: with the
    simulator stopped, so that it accepts nothing, 64 connections still complete."""
    with simulating(tmp_path) as sim:
        url, _given = sim.served["motive"]
        address = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        sim.process.send_signal(signal.SIGSTOP)
        connections: list[socket.socket] = []
        try:
            for _ in range(64):
                connections.append(socket.create_connection(address, timeout=0.5))
        finally:
            for connection in connections:
                connection.close()
            sim.process.send_signal(signal.SIGCONT)
        assert len(connections) == 64
