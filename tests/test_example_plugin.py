"""The example plugin (examples/fth_acme) installs like any third-party plugin and proves itself.

Its wheel is built from its own ``pyproject.toml`` (offline, no build backend) and pip-installed
into a fresh venv that sees fth-core but not the Motive or Samsara plugins; from that venv the
entry point puts ``acme`` in ``fth providers``, the core's conformance kit passes against the
installed plugin, and ``fth demo`` runs a hub of Acme alone.
"""

from __future__ import annotations

import inspect
import json
import subprocess
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml
from fake_plugins import cli_env, plugin_venv, run_fth, venv_purelib, wheel_from_pyproject

from fth_core.testing import ProviderConformance

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fth_acme"


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("acme-venv")
    wheels = root / "wheels"
    wheels.mkdir()
    return plugin_venv(root, [wheel_from_pyproject(wheels, EXAMPLE)])


def venv_env() -> dict[str, str]:
    """Everything the venv has installed, nothing from PYTHONPATH, no host keys or selection."""
    env = cli_env(None)
    del env["PYTHONPATH"]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    return env


def in_venv(python: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, *args],
        env=venv_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_the_installed_wheel_is_what_the_venv_imports_and_the_real_plugins_are_absent(
    venv_python: str,
) -> None:
    probe = in_venv(
        venv_python,
        "-c",
        "import importlib.util as u, fth_acme, fth_core; print(fth_acme.__file__); "
        "print(u.find_spec('fth_motive'), u.find_spec('fth_samsara'))",
    )
    assert probe.returncode == 0, probe.stderr
    location, others = probe.stdout.splitlines()
    assert Path(location).is_relative_to(venv_purelib(venv_python))
    assert others == "None None"
    # Its declared fth-core range is met by the fth-core the venv sees.
    check = in_venv(venv_python, "-m", "pip", "check", "--disable-pip-version-check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_entry_point_puts_acme_alone_in_fth_providers_and_fth_plugins(
    venv_python: str,
) -> None:
    providers = run_fth("providers", "--json", env=venv_env(), python=venv_python)
    assert providers.returncode == 0, providers.stderr
    [acme] = json.loads(providers.stdout)
    assert (acme["name"], acme["distribution"]) == ("acme", "fth-acme")
    assert acme["endpoints"] == ["positions", "vehicles"]
    plugins = run_fth("plugins", "--json", env=venv_env(), python=venv_python)
    assert plugins.returncode == 0, plugins.stderr
    [info] = json.loads(plugins.stdout)
    assert (info["name"], info["module"], info["version"]) == ("acme", "fth_acme", "0.1.0")
    assert info["loaded"] is True
    assert info["error"] is None
    assert set(info["hooks"]) == {
        "fth_register_providers",
        "fth_fetch_telemetry",
        "fth_flatten_telemetry",
    }


def test_the_installed_plugin_passes_the_conformance_kit(venv_python: str, tmp_path: Path) -> None:
    """The example's own test file, run by the venv's pytest. importlib mode and a rootdir
    outside the repository keep examples/fth_acme off sys.path, so the kit finds the plugin
    through its installed entry point."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    checks = [n for n, _ in inspect.getmembers(ProviderConformance) if n.startswith("test_")]
    result = in_venv(
        venv_python,
        "-m",
        "pytest",
        str(EXAMPLE / "tests"),
        "-q",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "--rootdir",
        str(tmp_path),
        "-c",
        str(tmp_path / "pytest.ini"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{len(checks)} passed"), result.stdout
    assert "skipped" not in summary


def test_fth_demo_from_the_venv_runs_a_hub_of_acme_alone(venv_python: str, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_fth(
        "demo",
        "--vehicles",
        "2",
        "--days",
        "1",
        "--out",
        str(out),
        env=venv_env(),
        python=venv_python,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    simulators = [line for line in result.stdout.splitlines() if line.startswith("simulator ")]
    assert len(simulators) == 1
    assert simulators[0].startswith("simulator acme: http://127.0.0.1:")
    assert "fth run: ok" in result.stdout
    config = yaml.safe_load((out / "fth.yaml").read_text(encoding="utf-8"))
    assert list(config["providers"]) == ["acme"]
    table = ds.dataset(out / "dataset", format="parquet", partitioning="hive").to_table()
    assert table.num_rows > 0
    assert set(table.column("provider").to_pylist()) == {"acme"}
    assert 1 <= len(set(table.column("provider_vehicle_id").to_pylist())) <= 2
