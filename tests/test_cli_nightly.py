"""``fth run`` as a nightly cron job sees it (issue 19): what a quiet run prints, what the log
file records, an ``--end`` in the future, backfills and watermarks, windows held back when part
of them failed, and stopping a run with SIGINT or SIGTERM.

The CLI runs in a subprocess; the Motive and Samsara simulators are served from this process
on 127.0.0.1 (see ``loopback_support``).
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pytest
import yaml
from loopback_support import (
    AS_OF,
    DAY0,
    VEHICLES,
    BreakWindow,
    SimulatorWrapper,
    cli_env,
    fth,
    fth_command,
    of_provider,
    simulators_config,
)

from fth_core import parse_config
from fth_core.endpoints import human_time
from fth_core.pipeline import TelemetryPipeline, advances
from fth_core.sim import Fleet, SimRequest, SimResponse, SimServer, SimulatedProvider
from fth_core.store import DatasetStore
from fth_core.testing import assert_same_telemetry
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator

DAY1, DAY2, DAY3 = (DAY0 + timedelta(days=n) for n in (1, 2, 3))
SAMSARA_KEY = "samsara-nightly-secret-7f3a"
MOTIVE_KEY = "motive-nightly-secret-91c2"


def day(moment: datetime) -> str:
    return moment.date().isoformat()


def motive_sim() -> MotiveSimulator:
    return MotiveSimulator(Fleet(31, vehicles=VEHICLES), MOTIVE_KEY, AS_OF)


def samsara_sim() -> SamsaraSimulator:
    return SamsaraSimulator(Fleet(32, vehicles=VEHICLES), SAMSARA_KEY, as_of=AS_OF)


def config_for(
    tmp: Path,
    motive: SimServer | None,
    samsara: SimServer | None,
    *,
    read_timeout: float = 5,
    **extra: Any,
) -> Path:
    """``tmp/fth.yaml`` for the servers given (their own keys), the dataset in ``tmp/dataset``;
    ``extra`` sections are merged in (``logging={...}``)."""
    document = simulators_config(
        tmp / "dataset",
        motive.base_url if motive else None,
        samsara.base_url if samsara else None,
        start=DAY0.date(),
        read_timeout=read_timeout,
    )
    keys = {"motive": MOTIVE_KEY, "samsara": SAMSARA_KEY}
    for name, settings in document["providers"].items():
        settings["api_key"] = keys[name]
    document.update(extra)
    path = tmp / "fth.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def gps_days(server: SimServer) -> set[str]:
    """The first days of the Samsara GPS walks ``server`` was asked for."""
    asked = [r.query for r in server.requests()]
    return {q["startTime"][0][:10] for q in asked if "gps" in q.get("types", [""])[0]}


def run_help(cwd: Path) -> str:
    """``fth run --help`` as one line of words (without the panels' borders)."""
    text = fth("run", "--help", cwd=cwd).stdout
    return " ".join(text.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def expected(sim: MotiveSimulator | SamsaraSimulator, end: datetime) -> pa.Table:
    return sim.expected_telemetry(DAY0, end)


# -- 1. a quiet run prints its problems ----------------------------------------------------


def test_a_quiet_partial_run_prints_each_failed_window_and_a_final_line(tmp_path: Path) -> None:
    motive = motive_sim()
    samsara = BreakWindow(samsara_sim(), DAY1.date(), "stats are down")
    with SimServer(motive) as motive_server, SimServer(samsara) as samsara_server:
        config = str(config_for(tmp_path, motive_server, samsara_server))
        result = fth("run", "-c", config, "--end", day(DAY3), "--quiet", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    failed, final = result.stderr.splitlines()
    assert failed.startswith(
        "samsara: window 2 (2026-03-03T00:00:00Z..2026-03-04T00:00:00Z) failed: "
        "GET /fleet/vehicles/"
    )
    assert failed.endswith("stats are down")
    assert final.startswith("fth run: partial: ")
    assert "; motive: 3/3 windows, data through 2026-03-05T00:00:00Z" in final
    assert final.endswith(
        "; samsara: stopped at window 2 of 3 (2026-03-03T00:00:00Z..2026-03-04T00:00:00Z),"
        " data through 2026-03-03T00:00:00Z"
    )


def test_a_quiet_run_that_succeeds_still_prints_nothing(tmp_path: Path) -> None:
    with SimServer(samsara_sim()) as server:
        config = str(config_for(tmp_path, None, server))
        result = fth("run", "-c", config, "--end", day(DAY1), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")


# -- 2. the log file -----------------------------------------------------------------------


def test_the_log_file_records_each_runs_start_failed_windows_and_summary_without_secrets(
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "logs" / "fth.log"
    # The failure's text quotes the key, as a careless API might: it is logged redacted.
    samsara = BreakWindow(samsara_sim(), DAY1.date(), f"key {SAMSARA_KEY} may not read this")
    with SimServer(motive_sim()) as motive_server, SimServer(samsara) as samsara_server:
        config = str(
            config_for(
                tmp_path,
                motive_server,
                samsara_server,
                logging={"level": "INFO", "file": str(log_file)},
            )
        )
        partial = fth("run", "-c", config, "--end", day(DAY2), cwd=tmp_path)
        assert partial.returncode == 3, partial.stderr
        samsara.broken = False
        fixed = fth("run", "-c", config, "--end", day(DAY2), "--quiet", cwd=tmp_path)
        assert (fixed.returncode, fixed.stderr) == (0, "")

    text = log_file.read_text(encoding="utf-8")
    assert SAMSARA_KEY not in text
    assert MOTIVE_KEY not in text
    lines = [line.split(" ", 2)[2] for line in text.splitlines()]  # without date and time
    starts = [line for line in lines if line.startswith("INFO fth.run: run ") and "started" in line]
    assert len(starts) == 2
    assert "started: motive, samsara up to 2026-03-04T00:00:00Z" in starts[0]
    failed = (
        "WARNING fth.run: samsara: window 2 (2026-03-03T00:00:00Z..2026-03-04T00:00:00Z) failed: "
    )
    [failure] = [line for line in lines if line.startswith(failed)]
    assert failure.endswith("key *** may not read this")
    assert any(
        line.startswith(
            "INFO fth.run: motive: window 2 (2026-03-03T00:00:00Z..2026-03-04T00:00:00Z)"
        )
        and "committed" in line
        for line in lines
    )
    summaries = [line for line in lines if " fth.run: run " in line and "started" not in line]
    assert len(summaries) == 2
    assert summaries[0].startswith("WARNING fth.run: run ")
    assert " partial: " in summaries[0]
    assert "samsara: stopped at window 2 of 2" in summaries[0]
    assert summaries[1].startswith("INFO fth.run: run ")
    assert " ok: " in summaries[1]
    # The terminal shows the progress and summary, not the log's account of them again.
    assert "fth.run" not in partial.stderr + partial.stdout


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def fth_records() -> Iterator[_Records]:
    """Records of the ``fth`` logger at INFO and up, the logger given back as it was."""
    logger = logging.getLogger("fth")
    saved = logger.level
    handler = _Records()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(saved)


def test_library_runs_log_the_same_account_through_the_fth_logger(
    tmp_path: Path, fth_records: _Records
) -> None:
    samsara = BreakWindow(samsara_sim(), DAY1.date(), f"no, {SAMSARA_KEY}")
    with SimServer(motive_sim()) as motive_server, SimServer(samsara) as samsara_server:
        document = yaml.safe_load(config_for(tmp_path, motive_server, samsara_server).read_text())
        summary = TelemetryPipeline.from_config(parse_config(document)).run(end=DAY2)
    assert summary.status == "partial"
    account = [r for r in fth_records.records if r.name == "fth.run"]
    messages = [r.getMessage() for r in account]
    assert "started: motive, samsara" in messages[0]
    assert any(
        r.levelno == logging.WARNING and r.getMessage().startswith("samsara: window 2 (")
        for r in account
    )
    assert messages[-1].endswith(summary.outcome())
    assert account[-1].levelno == logging.WARNING
    assert not any(SAMSARA_KEY in message for message in messages)


# -- 3. an --end in the future; a watermark in the future -----------------------------------


def test_an_end_in_the_future_is_refused_with_one_line_exit_2_and_nothing_written(
    tmp_path: Path,
) -> None:
    with SimServer(samsara_sim()) as server:
        config = str(config_for(tmp_path, None, server))
        result = fth("run", "-c", config, "--end", "2030-01-01", cwd=tmp_path)
        assert server.requests() == []
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: --end 2030-01-01T00:00:00Z is in the future (now ")
    assert line.endswith("omit --end to run up to now")
    assert not (tmp_path / "dataset").exists()
    assert "An end in the future is refused (exit 2)" in run_help(tmp_path)


def test_a_watermark_in_the_future_is_flagged_by_run_and_by_status(tmp_path: Path) -> None:
    with SimServer(motive_sim()) as motive_server, SimServer(samsara_sim()) as samsara_server:
        config = str(config_for(tmp_path, motive_server, samsara_server))
        first = fth("run", "-c", config, "--end", day(DAY1), "-q", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        # As a run given --end 2030-01-01 left it, before such an end was refused.
        DatasetStore(tmp_path / "dataset").set_watermark(
            "samsara", datetime(2030, 1, 1, tzinfo=UTC)
        )
        samsara_server.clear_log()
        nightly = fth("run", "-c", config, "--end", day(DAY2), "-q", cwd=tmp_path)
        assert samsara_server.requests() == [], "nothing to fetch before 2030"
    assert nightly.returncode == 0, nightly.stderr
    [warning] = nightly.stderr.splitlines()
    assert warning.startswith(
        "warning: samsara: watermark 2030-01-01T00:00:00Z is in the future (now "
    )
    assert "incremental runs fetch nothing until then" in warning

    text = fth("status", "-c", config, cwd=tmp_path).stdout.splitlines()
    assert (
        "samsara: data through 2030-01-01T00:00:00Z (in the future: incremental runs fetch"
        " nothing until then)" in text
    )
    assert f"motive: data through {human_time(DAY2)}" in text
    report = json.loads(fth("status", "-c", config, "--json", cwd=tmp_path).stdout)
    assert report["watermarks_in_future"] == ["samsara"]


# -- 4. a backfill never lowers a watermark ------------------------------------------------


@pytest.mark.parametrize(
    ("watermark", "start", "end", "moves"),
    [
        (None, DAY1, DAY2, True),  # the first window ever
        (DAY1, DAY0, DAY1, False),  # the lookback, or a backfill below the watermark
        (DAY1, DAY0 + timedelta(hours=12), DAY1 + timedelta(hours=12), True),  # across it
        (DAY1, DAY1, DAY2, True),  # right after it
        (DAY1, DAY2, DAY3, False),  # past a gap nobody fetched
    ],
)
def test_a_window_moves_the_watermark_only_forward_and_without_a_gap(
    watermark: datetime | None, start: datetime, end: datetime, moves: bool
) -> None:
    assert advances(watermark, start, end) is moves


def test_a_backfill_never_lowers_a_watermark_nor_overwrites_a_later_plugin_state(
    tmp_path: Path,
) -> None:
    samsara = samsara_sim()
    store = DatasetStore(tmp_path / "dataset")
    with SimServer(samsara) as server:
        config = str(config_for(tmp_path, None, server))
        nightly = fth("run", "-c", config, "--end", day(DAY3), "-q", cwd=tmp_path)
        assert nightly.returncode == 0, nightly.stderr
        # A state as a plugin keeping a cursor would have committed with that watermark.
        store.set_watermark("samsara", DAY3, {"cursor": "as of 2026-03-05"})
        committed = store.load_state()["providers"]["samsara"]

        backfill = fth(
            "run", "-c", config, "--start", day(DAY0), "--end", day(DAY2), "-q", cwd=tmp_path
        )
        assert backfill.returncode == 0, backfill.stderr
        assert store.load_state()["providers"]["samsara"] == committed, "not even rewritten"

        # A backfill past a gap moves nothing either: the days in between were never fetched.
        ahead = DAY3 + timedelta(days=2)
        gap = fth(
            "run", "-c", config, "--start", day(ahead), "--end", day(ahead + timedelta(days=1)),
            "-q", cwd=tmp_path,
        )  # fmt: skip
        assert gap.returncode == 0, gap.stderr
        assert store.load_state()["providers"]["samsara"] == committed

        # The next nightly run starts where it would have: the watermark less the lookback.
        server.clear_log()
        after = fth("run", "-c", config, "--end", day(DAY3 + timedelta(days=1)), "-q", cwd=tmp_path)
        assert after.returncode == 0, after.stderr
        assert gps_days(server) == {day(DAY2), day(DAY3)}
        assert store.watermark("samsara") == DAY3 + timedelta(days=1)
        assert store.provider_state("samsara") == {"cursor": "as of 2026-03-05"}, (
            "the window that moved the watermark stored the state it went on from"
        )
        # A backfill reaching past the watermark moves it, to its own end.
        across = fth(
            "run", "-c", config, "--start", day(DAY2), "--end", day(DAY3 + timedelta(days=2)),
            "-q", cwd=tmp_path,
        )  # fmt: skip
        assert across.returncode == 0, across.stderr
        assert store.watermark("samsara") == DAY3 + timedelta(days=2)
    backfilled = samsara.expected_telemetry(ahead, ahead + timedelta(days=1))
    through = expected(samsara, DAY3 + timedelta(days=2))
    assert_same_telemetry(store.read(), pa.concat_tables([through, backfilled]))
    assert "A backfill never lowers a watermark" in run_help(tmp_path)


# -- 5. a window with a fetch failure stores nothing -----------------------------------------


class FailAssignments(SimulatorWrapper):
    """Samsara with the driver assignments of the window starting on ``day`` answering 500."""

    def __init__(self, simulator: SimulatedProvider, day: date) -> None:
        super().__init__(simulator)
        self.day = day.isoformat()
        self.broken = True

    def __call__(self, request: SimRequest) -> SimResponse:
        if (
            self.broken
            and request.path == "/fleet/driver-vehicle-assignments"
            and (request.arg("startTime") or "").startswith(self.day)
        ):
            return SimResponse.json(500, {"message": "assignments unavailable"})
        return self.simulator(request)


class FailOneVehicle(BreakWindow):
    """Motive with one vehicle's locations of the window starting on ``day`` answering 400."""

    def __init__(self, simulator: SimulatedProvider, day: date, vehicle_id: str) -> None:
        super().__init__(simulator, day, "this vehicle's history is unavailable")
        self.vehicle_id = vehicle_id

    def _of_window(self, request: SimRequest) -> bool:
        return request.path.endswith(f"/{self.vehicle_id}") and super()._of_window(request)


@pytest.mark.parametrize("provider", ["samsara", "motive"])
def test_a_window_with_a_fetch_failure_stores_none_of_its_rows_and_the_next_run_does(
    tmp_path: Path, provider: str
) -> None:
    truth: MotiveSimulator | SamsaraSimulator
    broken: FailAssignments | FailOneVehicle
    if provider == "samsara":
        truth = samsara_sim()
        broken = FailAssignments(truth, DAY1.date())
        subject = "driver assignments of vehicles"
    else:
        truth = motive_sim()
        vehicle = str(expected(truth, DAY1).column("provider_vehicle_id")[0].as_py())
        broken = FailOneVehicle(truth, DAY1.date(), vehicle)
        subject = f"vehicle {vehicle}"
    with SimServer(broken) as server:
        motive, samsara = (server, None) if provider == "motive" else (None, server)
        config = str(config_for(tmp_path, motive, samsara))
        result = fth("run", "-c", config, "--end", day(DAY3), "--json", cwd=tmp_path)
        assert result.returncode == 1, result.stderr  # its only provider failed
        report = json.loads(result.stdout)["providers"][provider]
        assert (report["failed_window"], report["windows_done"]) == (1, 1)
        assert all(subject in failure for failure in report["failures"])
        assert report["rows_fetched"] > report["rows_added"], "the window arrived, mostly"
        store = DatasetStore(tmp_path / "dataset")
        # Only the first window is stored: none of the second's rows, right or wrong.
        assert_same_telemetry(store.read(), expected(truth, DAY1))
        assert store.watermark(provider) == DAY1
        assert not list((tmp_path / "dataset").glob("_quarantine/date=2026-03-03/*"))

        broken.broken = False
        again = fth("run", "-c", config, "--end", day(DAY3), "-q", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
    assert_same_telemetry(of_provider(store.read(), provider), expected(truth, DAY3))
    assert store.watermark(provider) == DAY3


# -- 6. stopping -----------------------------------------------------------------------------


class HoldWindow(SimulatorWrapper):
    """Samsara whose GPS walk of the window starting on ``day`` waits until ``opened``."""

    def __init__(self, simulator: SimulatedProvider, day: date) -> None:
        super().__init__(simulator)
        self.day = day.isoformat()
        self.arrived = threading.Event()
        self.opened = threading.Event()

    def __call__(self, request: SimRequest) -> SimResponse:
        if "gps" in (request.arg("types") or "") and (request.arg("startTime") or "").startswith(
            self.day
        ):
            self.arrived.set()
            self.opened.wait(timeout=30)
        return self.simulator(request)


class Running:
    """``fth run`` in a subprocess, its stderr read line by line as it comes."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.stdout_path = tmp / "run.out"
        with self.stdout_path.open("w", encoding="utf-8") as stdout:
            self.process = subprocess.Popen(
                fth_command("run", *args),
                env=cli_env(),
                cwd=tmp,
                stdout=stdout,
                stderr=subprocess.PIPE,
                text=True,
            )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        assert self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str) -> str:
        """The first stderr line containing ``text`` (from the lines not yet seen)."""
        while True:
            line = self.lines.get(timeout=30)
            self.stderr.append(line)
            if text in line:
                return line

    def finish(self) -> tuple[int, str, list[str]]:
        """Exit code, stdout, and every stderr line."""
        code = self.process.wait(timeout=60)
        while True:
            try:
                self.stderr.append(self.lines.get(timeout=5))
            except queue.Empty:
                break
        return code, self.stdout_path.read_text(encoding="utf-8"), self.stderr

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.mark.parametrize(
    ("stop", "quiet"),
    [(signal.SIGINT, False), (signal.SIGTERM, True)],
    ids=["sigint", "sigterm-quiet"],
)
def test_a_signal_stops_the_run_after_its_current_window_commits_and_saves_the_summary(
    tmp_path: Path, stop: signal.Signals, quiet: bool
) -> None:
    truth = samsara_sim()
    held = HoldWindow(truth, DAY1.date())  # the second of four windows
    end = DAY0 + timedelta(days=4)
    store = DatasetStore(tmp_path / "dataset")
    with SimServer(held) as server:
        config = str(config_for(tmp_path, None, server, read_timeout=30))
        run = Running(tmp_path, "-c", config, "--end", day(end), *(["-q"] if quiet else []))
        try:
            assert held.arrived.wait(timeout=30), "the run never reached its second window"
            run.process.send_signal(stop)
            stopping = run.wait_for("stopping")
            assert stopping == (
                f"{stop.name}: stopping after the current window… (a second signal stops at once)"
            )
            held.opened.set()
            code, stdout, stderr = run.finish()
        finally:
            held.opened.set()
            run.kill()
        assert gps_days(server) == {day(DAY0), day(DAY1)}, "no window started after the signal"

        assert code == 128 + stop, stderr
        assert not [line for line in stderr if "Traceback" in line or "Error" in line]
        if quiet:
            assert stdout == ""
            assert stderr[-1].startswith(f"fth run: interrupted by {stop.name}: ")
            assert stderr[-1].endswith("samsara: interrupted after 2 of 4 windows, data through"
                                       " 2026-03-04T00:00:00Z")  # fmt: skip
        else:
            assert "fth run: interrupted" in stdout
            assert f"interrupted by {stop.name}: the windows committed are kept" in stdout
        # The window in flight was committed; the summary was saved.
        assert store.watermark("samsara") == DAY2
        assert_same_telemetry(store.read(), expected(truth, DAY2))
        last = store.load_state()["last_run"]
        assert (last["status"], last["stopped_by"], last["exit_code"]) == (
            "interrupted",
            stop.name,
            128 + stop,
        )
        status = fth("status", "-c", config, cwd=tmp_path).stdout
        assert " interrupted, " in status

        # The next run goes on from there and converges.
        server.clear_log()
        again = fth("run", "-c", config, "--end", day(end), "-q", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
    assert_same_telemetry(store.read(), expected(truth, end))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_second_signal_stops_at_once_leaving_a_consistent_dataset(
    tmp_path: Path, stop: signal.Signals
) -> None:
    truth = samsara_sim()
    held = HoldWindow(truth, DAY1.date())
    store = DatasetStore(tmp_path / "dataset")
    with SimServer(held) as server:
        config = str(config_for(tmp_path, None, server, read_timeout=30))
        run = Running(tmp_path, "-c", config, "--end", day(DAY3))
        try:
            assert held.arrived.wait(timeout=30), "the run never reached its second window"
            run.process.send_signal(stop)
            run.wait_for("stopping after the current window")
            run.process.send_signal(stop)  # the window is still held: it cannot finish
            code, stdout, stderr = run.finish()
        finally:
            held.opened.set()
            run.kill()
        assert code == 128 + stop
        assert stderr[-1] == (
            f"{stop.name}: stopped at once; the windows in progress are not committed (the"
            " dataset stays consistent, the next run fetches them again)"
        )
        assert not [line for line in stderr if "Traceback" in line or "RuntimeError" in line]
        assert "fth run:" not in stdout, "no summary: it stopped at once"
        # The first window is there, readable; the held one is not, nor claimed.
        assert store.watermark("samsara") == DAY1
        assert_same_telemetry(store.read(), expected(truth, DAY1))

        again = fth("run", "-c", config, "--end", day(DAY3), "-q", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
    assert_same_telemetry(store.read(), expected(truth, DAY3))
    assert store.watermark("samsara") == DAY3
