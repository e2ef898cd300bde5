"""The ``fth`` command line, run for real in a subprocess with only the fake plugin loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from fake_plugins import FLEET, cli_env, run_fth

SECRET = "sk-live-SECRET-1234567890"


def test_version_prints_the_installed_version() -> None:
    script = Path(sys.executable).with_name("fth")  # the console script pip installed
    result = subprocess.run(
        [str(script), "--version"], env=cli_env(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"fth {version('fth-core')}\n"


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` as the fth command's process runs (its environment), output captured."""
    return subprocess.run(
        [sys.executable, *args], env=cli_env(), capture_output=True, text=True, timeout=60
    )


def _console(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (Python that ends by calling ``console_main``) as the fth process."""
    return _python("-c", script, str(tmp_path))


def test_the_command_runs_exit_handlers_and_flushes_its_output_before_it_ends(
    tmp_path: Path,
) -> None:
    result = _console(
        "import atexit, pathlib, sys\n"
        "from fth_core.cli import console_main\n"
        "marker = pathlib.Path(sys.argv[1], 'handler-ran')\n"
        "atexit.register(marker.write_text, 'yes')\n"
        "sys.stdout.write('unflushed line')\n"
        "sys.argv = ['fth', 'endpoints', 'geotab']\n"
        "console_main()\n",
        tmp_path,
    )
    assert result.returncode == 2  # the command's own exit code
    assert result.stdout == "unflushed line"
    assert result.stderr.startswith("error: no installed plugin provides 'geotab'")
    assert (tmp_path / "handler-ran").read_text() == "yes"


def test_a_thread_still_running_when_the_command_ends_is_waited_for(tmp_path: Path) -> None:
    result = _console(
        "import pathlib, sys, threading, time\n"
        "from fth_core.cli import console_main\n"
        "done = pathlib.Path(sys.argv[1], 'thread-done')\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), done.write_text('yes'))).start()\n"
        "sys.argv = ['fth', '--version']\n"
        "console_main()\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "thread-done").read_text() == "yes"


def test_a_profiled_command_still_writes_its_profile(tmp_path: Path) -> None:
    profile = tmp_path / "fth.prof"
    result = _python("-m", "cProfile", "-o", str(profile), "-m", "fth_core.cli", "--version")
    assert result.returncode == 0, result.stderr
    assert profile.stat().st_size > 0


@pytest.mark.parametrize(
    ("given", "pool"),
    [({}, "system"), ({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}, "mimalloc")],
    ids=["default", "the user's own setting"],
)
def test_the_command_has_arrow_allocate_from_the_system_allocator(
    given: dict[str, str], pool: str, tmp_path: Path
) -> None:
    script = (
        "import atexit, sys\n"
        "import pyarrow as pa\n"
        "from fth_core.cli import console_main\n"
        "atexit.register(lambda: sys.stderr.write(pa.default_memory_pool().backend_name))\n"
        "sys.argv = ['fth', '--version']\n"
        "console_main()\n"
    )
    env = {k: v for k, v in cli_env().items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, **given},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == pool


def test_json_output_loads_neither_rich_nor_the_simulators(tmp_path: Path) -> None:
    # What a cron job runs should not pay for drawing tables or serving simulators.
    result = _console(
        "import atexit, sys\n"
        "from fth_core.cli import console_main\n"
        "loaded = lambda: sorted({m.split('.')[0] for m in sys.modules if m.startswith"
        "(('rich', 'fth_core.sim.launcher'))})\n"
        "atexit.register(lambda: sys.stderr.write(f'loaded: {loaded()}'))\n"
        "sys.argv = ['fth', 'plugins', '--json']\n"
        "console_main()\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "loaded: []"


def test_endpoints_lists_every_endpoint_with_method_path_and_params() -> None:
    result = run_fth("endpoints")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "fakefleet" in line]
    assert len(rows) == 2
    assert "GET /v1/fleet/vehicles/{id}" in rows[0]
    assert "vehicle_id*" in rows[0]
    assert "GET /v1/fleet/vehicles " in rows[1]
    assert "tag_ids, updated_after" in rows[1]
    assert result.stdout.endswith("* required\n")


def test_endpoints_json_of_one_provider_ignores_case() -> None:
    result = run_fth("endpoints", "FakeFleet", "--json")
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert [(e["provider"], e["name"]) for e in described] == [
        ("fakefleet", "vehicle"),
        ("fakefleet", "vehicles"),
    ]
    params = {p["name"]: p["api_name"] for p in described[1]["params"]}
    assert params == {"tag_ids": "tagIds", "updated_after": "updatedAfterTime"}


def test_endpoints_of_an_unknown_provider_exits_2_with_one_line() -> None:
    result = run_fth("endpoints", "geotab")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "error: no installed plugin provides 'geotab' (installed: fakefleet)\n"


def test_endpoints_with_no_provider_loaded_says_so() -> None:
    result = run_fth("endpoints", env=cli_env(""))
    assert result.returncode == 0
    assert result.stdout.startswith("No endpoints")


def test_providers_lists_name_distribution_endpoint_count_and_base_url() -> None:
    result = run_fth("providers")
    assert result.returncode == 0, result.stderr
    [row] = [line for line in result.stdout.splitlines() if "fakefleet" in line]
    cells = [cell.strip() for cell in row.split("│")[1:5]]
    assert cells == ["fakefleet", FLEET, "2", "https://api.fakefleet.invalid"]


def test_providers_json_has_distribution_quota_and_endpoint_names() -> None:
    result = run_fth("providers", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "name": "fakefleet",
            "distribution": FLEET,
            "description": "Fake fleet for tests",
            "default_base_url": "https://api.fakefleet.invalid",
            "quota": {"requests_per_second": 50, "burst": 10, "max_concurrency": 4},
            "endpoints": ["vehicle", "vehicles"],
        }
    ]


@pytest.mark.parametrize("args", [["nosuch"], ["endpoints", "--bogus"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run_fth(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_debug_adds_a_traceback_and_without_it_there_is_none() -> None:
    plain = run_fth("endpoints", "geotab")
    debug = run_fth("--debug", "endpoints", "geotab")
    assert "Traceback" not in plain.stderr
    assert plain.returncode == debug.returncode == 2
    assert debug.stderr.startswith("Traceback (most recent call last):")
    assert "ProviderNotFoundError" in debug.stderr
    assert debug.stderr.splitlines()[-1] == plain.stderr.strip()


def test_the_api_key_never_reaches_cli_output_even_with_debug(tmp_path: Path) -> None:
    configs = {
        "valid": f"providers:\n  fakefleet:\n    api_key: {SECRET}\n",
        "other-mistake": f"providers:\n  fakefleet:\n    api_key: {SECRET}\n    max_retries: -1\n",
        "key-as-section": "providers:\n  fakefleet: ${FAKEFLEET_API_KEY}\n",
    }
    env = cli_env(FAKEFLEET_API_KEY=SECRET)
    codes = {}
    for name, text in configs.items():
        config = tmp_path / f"{name}.yaml"
        config.write_text(text, encoding="utf-8")
        result = run_fth(
            "--debug", "config", "check", "--offline", "--config", str(config), env=env
        )
        codes[name] = result.returncode
        assert SECRET not in result.stdout + result.stderr, name
    assert codes == {
        "valid": 0,
        "other-mistake": 2,
        "key-as-section": 2,
    }
