"""Issue 20: the pipeline used as the original entry point and as a library.

* ``python -m fth_core.pipeline config.yaml`` (the original cron line) is ``fth run``;
* :class:`PipelineError`'s ``partial_data_saved`` and ``batch_index`` tell the truth;
* a program using :class:`TelemetryPipeline` gets the config's ``logging`` without more calls;
* ``fth demo``'s closing hints work as printed in a shell without the venv on PATH.

Processes run for real (subprocesses), against the simulators served on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest
import yaml
from loopback_support import (
    AS_OF,
    DAY0,
    BreakWindow,
    Sims,
    cli_env,
    closed_port_url,
    fth,
    make_sims,
    simulators_config,
    write_config,
)

from fth_core.config import parse_config
from fth_core.errors import FthError
from fth_core.pipeline import PipelineError, TelemetryPipeline
from fth_core.registry import EndpointRegistry
from fth_core.sim import Fleet, SimServer
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[Sims]:
    yield from make_sims(tmp_path)


def python_m_pipeline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fth_core.pipeline", *args],
        env=cli_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- 1. python -m fth_core.pipeline config.yaml ----------------------------------------------


def test_python_m_pipeline_runs_the_pipeline_like_fth_run(sims: Sims) -> None:
    result = python_m_pipeline(str(sims.config()), "--end", "2026-03-04", "--json", cwd=sims.tmp)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "ok"
    assert summary["rows_written"] == sims.stored().num_rows > 0
    # The same run again with fth run: nothing new, every row replaced, same exit code.
    again = fth(
        "run", "--config", str(sims.config()), "--end", "2026-03-04", "--json", cwd=sims.tmp
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rows_written"] == 0


def test_python_m_pipeline_exits_with_fth_runs_codes(tmp_path: Path) -> None:
    down = write_config(tmp_path, closed_port_url(), closed_port_url())
    failed = python_m_pipeline(str(down), "--end", "2026-03-04", "-q", cwd=tmp_path)
    assert failed.returncode == 1
    assert "every provider failed" in failed.stderr
    missing = str(tmp_path / "missing.yaml")
    assert (
        python_m_pipeline(missing, cwd=tmp_path).returncode
        == fth("run", "--config", missing, cwd=tmp_path).returncode
        != 0
    )


def test_python_m_pipeline_help_names_the_original_entry_point_and_fth_run(
    tmp_path: Path,
) -> None:
    result = python_m_pipeline("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "original entry point" in result.stdout
    assert "fth run --help" in result.stdout
    bare = python_m_pipeline(cwd=tmp_path)
    assert bare.returncode == 2, "no config: a usage error, not a silent success"
    assert "usage: python -m fth_core.pipeline CONFIG" in bare.stderr


# -- 2. PipelineError.partial_data_saved and batch_index -------------------------------------


@pytest.fixture
def registry() -> EndpointRegistry:
    return EndpointRegistry.from_plugins()


def broken_sims(first: int | None, second: int | None) -> tuple[SimServer, SimServer]:
    """Motive and Samsara servers whose day ``DAY0 + n`` window answers 400 (None: works)."""

    def serve(simulator: MotiveSimulator | SamsaraSimulator, day: int | None) -> SimServer:
        if day is None:
            return SimServer(simulator)
        return SimServer(BreakWindow(simulator, (DAY0 + timedelta(days=day)).date(), "broken"))

    motive = MotiveSimulator(Fleet(31, vehicles=3), as_of=AS_OF)
    samsara = SamsaraSimulator(Fleet(32, vehicles=3), as_of=AS_OF)
    return serve(motive, first), serve(samsara, second)


def pipeline_for(
    tmp_path: Path, motive: SimServer, samsara: SimServer, registry: EndpointRegistry
) -> TelemetryPipeline:
    document = simulators_config(
        tmp_path / "dataset", motive.base_url, samsara.base_url, start=DAY0.date()
    )
    return TelemetryPipeline.from_config(parse_config(document, env={}), registry)


def test_first_window_failing_after_the_other_provider_committed_rows_says_data_saved(
    tmp_path: Path, registry: EndpointRegistry
) -> None:
    motive_server, samsara_server = broken_sims(0, 1)  # motive: window 0; samsara: window 1
    with motive_server, samsara_server:
        pipeline = pipeline_for(tmp_path, motive_server, samsara_server, registry)
        with pytest.raises(PipelineError) as caught:
            pipeline.run(end=DAY0 + timedelta(days=3))
    error = caught.value
    stored = pipeline.store.read()
    assert stored.num_rows > 0
    assert pc.unique(stored.column("provider")).to_pylist() == ["samsara"]
    assert error.partial_data_saved is True
    assert error.batch_index == 0, "the window that failed: motive's first"
    assert error.summary is not None
    assert error.summary.providers["samsara"].failed_window == 1


def test_every_provider_failing_on_its_first_window_says_nothing_saved(
    tmp_path: Path, registry: EndpointRegistry
) -> None:
    motive_server, samsara_server = broken_sims(0, 0)
    with motive_server, samsara_server:
        pipeline = pipeline_for(tmp_path, motive_server, samsara_server, registry)
        with pytest.raises(PipelineError) as caught:
            pipeline.run(end=DAY0 + timedelta(days=3))
    assert caught.value.partial_data_saved is False
    assert caught.value.batch_index == 0
    assert pipeline.store.partitions() == []


def test_rows_merged_before_a_later_step_of_the_window_broke_count_as_saved(
    tmp_path: Path, registry: EndpointRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    motive_server, samsara_server = broken_sims(None, None)
    with motive_server, samsara_server:
        pipeline = pipeline_for(tmp_path, motive_server, samsara_server, registry)

        def broken_quarantine(*args: object, **kwargs: object) -> int:
            raise FthError("quarantine: disk full")

        monkeypatch.setattr(pipeline.store, "quarantine", broken_quarantine)
        with pytest.raises(PipelineError) as caught:
            pipeline.run(end=DAY0 + timedelta(days=2))
    stored = pipeline.store.read()
    assert stored.num_rows > 0, "the first windows' rows were merged before the failure"
    assert caught.value.partial_data_saved is True
    assert caught.value.batch_index == 0
    assert caught.value.summary is not None
    assert caught.value.summary.rows_written == stored.num_rows


# -- 3. a program using the library logs as configured ---------------------------------------

PROGRAM = """
import sys
from fth_core.config import load_config
from fth_core.pipeline import TelemetryPipeline
{setup}
TelemetryPipeline.from_config(load_config(sys.argv[1])).run(end="2026-03-03T00:00:00Z")
"""


def run_program(sims: Sims, setup: str = "") -> tuple[subprocess.CompletedProcess[str], Path]:
    log_file = sims.tmp / "logs" / "fth.log"
    document = yaml.safe_load(sims.config().read_text(encoding="utf-8"))
    document["logging"] = {"level": "INFO", "file": str(log_file)}
    config = sims.tmp / "logged.yaml"
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    program = sims.tmp / "program.py"
    program.write_text(PROGRAM.format(setup=setup), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(program), str(config)],
        env=cli_env(),
        cwd=sims.tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, log_file


def test_a_program_using_the_pipeline_gets_the_configs_log_file(sims: Sims) -> None:
    result, log_file = run_program(sims)
    assert result.returncode == 0, result.stderr
    text = log_file.read_text(encoding="utf-8")
    assert "INFO fth.run: run " in text
    assert " started: " in text
    assert "INFO fth.run: motive: window 1 (" in text
    assert ") committed: " in text
    assert " ok: " in text, "the run's summary line"
    assert "INFO" not in result.stderr, "the terminal shows warnings only"


def test_a_program_that_configured_logging_keeps_its_own(sims: Sims) -> None:
    setup = "import logging; logging.basicConfig(level=logging.INFO, stream=sys.stdout)"
    result, log_file = run_program(sims, setup)
    assert result.returncode == 0, result.stderr
    assert not log_file.exists()
    assert "INFO:fth.run:run " in result.stdout, "the program's own handler got the records"


# -- 4. fth demo's closing hints work as printed ---------------------------------------------


def test_demo_hints_work_in_a_shell_without_the_venv_on_path(
    tmp_path: Path, registry: EndpointRegistry
) -> None:
    fth_script = Path(sys.executable).parent / "fth"
    if not fth_script.exists():
        pytest.skip("no fth script next to this interpreter")
    env = cli_env() | {"PATH": os.pathsep.join(["/usr/bin", "/bin"])}
    result = subprocess.run(
        [str(fth_script), "demo", "-p", "motive", "--vehicles", "2", "--days", "1", "--out", "d"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # rich may wrap long lines
    status = f"{fth_script} status -c d/fth.yaml"
    assert f"Or: {status}" in text
    assert ("query -c d/fth.yaml" in text) == (importlib.util.find_spec("duckdb") is not None)
    credentials = ", ".join(
        " / ".join(f"{n.upper()}_{f.upper()}" for f in registry.spec(n).credentials.model_fields)
        for n in registry.list_providers()
    )
    assert f"set each provider's credentials ({credentials})" in text
    assert f"{fth_script} run." in text
    printed = subprocess.run(
        ["/bin/sh", "-c", status], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert printed.returncode == 0, printed.stderr
    assert "dataset:" in printed.stdout
