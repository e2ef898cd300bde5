"""The fake plugins of ``site/`` and how tests use them: in-process, or through the real CLI.

Core tests must not depend on the Motive or Samsara plugins (they are being written alongside);
every subprocess here sets ``FTH_LOAD_PLUGINS`` so only the fake plugins chosen are loaded, and
clears ``*_API_KEY`` variables so the host's environment cannot change an outcome.

For installs through pip: :func:`wheel_from_pyproject` packs a real project (e.g.
``examples/fth_acme``) into a wheel from its ``pyproject.toml`` without a build backend, and
:func:`plugin_venv` makes a venv that sees fth-core but none of the dev venv's plugins and
pip-installs wheels into it offline.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
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


# -- wheels and venvs, offline -------------------------------------------------------------


def pack_wheel(out: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A pure-Python wheel of ``files`` (archive name → bytes, the ``.dist-info`` files
    included): the WHEEL file and the RECORD are added here."""
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    files = dict(files)
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: fth-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for arcname, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arcname},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for arcname, data in files.items():
            archive.writestr(arcname, data)
    return wheel


def wheel_from_pyproject(out: Path, project: Path) -> Path:
    """Build a wheel of the hatch project at ``project`` without a build backend (none is
    installed offline): name, version, summary, Python and dependency requirements and every
    entry-point group come from its ``pyproject.toml``; the files are those of
    ``[tool.hatch.build.targets.wheel] packages`` (bytecode caches left out)."""
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    info = meta["project"]
    name, version = info["name"], info["version"]
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if "description" in info:
        lines.append(f"Summary: {info['description']}")
    if "requires-python" in info:
        lines.append(f"Requires-Python: {info['requires-python']}")
    lines.extend(f"Requires-Dist: {dep}" for dep in info.get("dependencies", []))
    files = {f"{dist_info}/METADATA": ("\n".join(lines) + "\n").encode()}
    groups = info.get("entry-points", {})
    if groups:
        text = "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()) + "\n"
            for group, entries in groups.items()
        )
        files[f"{dist_info}/entry_points.txt"] = text.encode()
    packages = meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for package in packages:
        for path in sorted((project / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[path.relative_to(project).as_posix()] = path.read_bytes()
    return pack_wheel(out, name, version, files)


def plugin_venv(root: Path, wheels: list[Path]) -> str:
    """A fresh venv under ``root`` that sees fth-core and its dependencies from the running
    (dev) environment but none of its provider plugins, with ``wheels`` pip-installed offline
    (``--no-deps --no-index``). Returns the venv's python."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # --system-site-packages would expose the base interpreter, not the dev venv; instead link
    # the dev venv's packages, minus every fth plugin distribution, into a site dir of its own.
    deps = root / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "fth_" in entry.name and "fth_core" not in entry.name:
            continue
        (deps / entry.name).symlink_to(entry)
    purelib = venv_purelib(python)
    Path(purelib, "_fth_dev_deps.pth").write_text(
        f"import site; site.addsitedir({str(deps)!r})\n", encoding="utf-8"
    )
    pip = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--disable-pip-version-check",
            *map(str, wheels),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if pip.returncode != 0:
        raise RuntimeError(f"pip install failed: {pip.stderr}")
    return python


def venv_purelib(python: str) -> str:
    """The site-packages directory of the interpreter ``python``."""
    return subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
