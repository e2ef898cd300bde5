"""The fake plugins of ``site/`` and how tests use them: in-process, or through the real CLI.

Core tests must not depend on the Motive or Samsara plugins (they are being written alongside);
every subprocess here sets ``FTH_LOAD_PLUGINS`` so only the fake plugins chosen are loaded, and
clears ``*_API_KEY`` variables so the host's environment cannot change an outcome.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from fth_core.plugins import Plugins
from fth_core.registry import EndpointRegistry

SITE = Path(__file__).resolve().parent / "site"
FLEET = "fth-fake-fleet"  # the working plugin's distribution: select it alone with this


def load_fake(module: str) -> ModuleType:
    """Import one fake plugin module from ``site/`` without putting ``site/`` on sys.path."""
    if module in sys.modules:
        return sys.modules[module]
    spec = importlib.util.spec_from_file_location(module, SITE / module / "__init__.py")
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[module]
        raise
    return loaded


def fleet_registry() -> EndpointRegistry:
    """A registry holding only ``fakefleet``, registered in-process."""
    plugins = Plugins()
    plugins.register(load_fake("fth_fake_fleet"), "fakefleet", distribution=FLEET, version="1.2.0")
    return EndpointRegistry.from_plugins(plugins)


def cli_env(select: str | None = FLEET, **extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: fake plugins discoverable, ``select`` loaded."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FTH_") and not key.endswith("_API_KEY")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE), env.get("PYTHONPATH")]))
    if select is not None:
        env["FTH_LOAD_PLUGINS"] = select
    env.update(extra)
    return env


def run_fth(
    *args: str,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``fth`` CLI in a subprocess (``python -m fth_core.cli``)."""
    return subprocess.run(
        [python, "-m", "fth_core.cli", *args],
        env=cli_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )
