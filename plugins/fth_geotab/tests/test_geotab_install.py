"""``pip install fth-core fth-geotab`` alone gives a Geotab-only hub.

The two wheels are built from this checkout by the real build backend (hatchling, offline:
``pip wheel --no-deps --no-build-isolation --no-index``) and pip-installed (``--no-index
--no-deps``) into a fresh venv made from the base interpreter. Nothing is downloaded: the
venv gets its third-party packages through a ``.pth`` line naming a directory of symlinks into
the dev venv's site-packages, holding only the distributions that the two wheels' declared
requirements reach (transitively), plus pip. No fth distribution of the dev venv (editable
fth-core, fth-motive, fth-samsara, fth-geotab) and no editable finder is linked, so whatever
fth code the venv runs is the wheels'. ``pip check`` there proves the wheels' declared
requirements are met, and the installed ``fth`` shows geotab with its six endpoints and
no trace of motive or samsara.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
GEOTAB_PROJECT = ROOT / "plugins" / "fth_geotab"
GEOTAB_ENDPOINTS = {"devices", "users", "log_records", "status_data", "driver_changes", "trips"}
OTHER_PROVIDERS = ("motive", "samsara")
TIMEOUT = 120


@dataclass(frozen=True)
class Hub:
    """The fresh venv with the two wheels installed."""

    root: Path
    python: Path
    fth: Path
    core_wheel: Path
    geotab_wheel: Path


def _env() -> dict[str, str]:
    """The host's environment without anything that could change what the venv sees or what
    pip does: no PYTHON*/PIP*/FTH_* variables, no active venv, no pip config, no bytecode
    written (the linked packages live in the dev venv)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "PIP_", "FTH_", "VIRTUAL_ENV"))
        and not key.endswith("_API_KEY")
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        env=_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout


def _build_wheel(project: Path, out: Path) -> Path:
    before = set(out.glob("*.whl"))
    _ok(
        _run(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            out,
            project,
        )
    )
    (wheel,) = set(out.glob("*.whl")) - before
    return wheel


def _wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.parser.BytesParser().parsebytes(archive.read(metadata))
    return [Requirement(line) for line in message.get_all("Requires-Dist") or []]


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def _closure(roots: list[Requirement], own: set[str]) -> list[importlib.metadata.Distribution]:
    """The dev venv's distributions that ``roots`` need, transitively, extras included;
    ``own`` (the wheels being installed) are not followed."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [(r, frozenset(r.extras)) for r in roots if _applies(r, frozenset())]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in own:
            continue
        if name not in found:
            found[name] = importlib.metadata.distribution(name)
        for line in found[name].requires or []:
            child = Requirement(line)
            if _applies(child, extras):
                pending.append((child, frozenset(child.extras)))
    return list(found.values())


def _is_fth(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(("fth_", "fth-", "_editable_impl_", "__editable__"))


def _link_dependencies(deps: Path, dists: list[importlib.metadata.Distribution]) -> None:
    """Symlink every top-level entry of ``dists`` (packages, modules, ``.libs`` dirs and
    dist-infos) into ``deps``; scripts (``../../bin``) and bytecode caches are left out."""
    deps.mkdir()
    for dist in dists:
        assert dist.files is not None, f"{dist.metadata['Name']} has no RECORD"
        tops = {PurePosixPath(f).parts[0] for f in dist.files}
        for top in sorted(tops - {"..", "__pycache__"}):
            assert not _is_fth(top), f"{dist.metadata['Name']} ships {top}"
            link = deps / top
            if not link.exists():
                link.symlink_to(Path(str(dist.locate_file(top))))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Hub:
    root = tmp_path_factory.mktemp("geotab-install")
    wheels = root / "wheels"
    wheels.mkdir()
    core_wheel = _build_wheel(ROOT, wheels)
    geotab_wheel = _build_wheel(GEOTAB_PROJECT, wheels)

    venv = root / "venv"
    base = getattr(sys, "_base_executable", None) or sys.executable
    _ok(_run(base, "-m", "venv", "--without-pip", venv))
    python = venv / "bin" / "python"
    where = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    purelib = Path(_ok(where).strip())
    assert not (purelib / "fth_core").exists()

    roots = [
        *_wheel_requirements(core_wheel),
        *_wheel_requirements(geotab_wheel),
        Requirement("pip"),
    ]
    deps = root / "deps"
    _link_dependencies(deps, _closure(roots, own={"fth-core", "fth-geotab"}))
    # A plain path line: added to sys.path as is, so .pth files in ``deps`` are not processed.
    (purelib / "_fth_test_deps.pth").write_text(f"{deps}\n", encoding="utf-8")

    _ok(
        _run(
            python,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--quiet",
            core_wheel,
            geotab_wheel,
        )
    )
    return Hub(root, python, venv / "bin" / "fth", core_wheel, geotab_wheel)


def _members(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_fth_geotab_wheel_holds_only_the_fth_geotab_package_and_its_dist_info(
    hub: Hub,
) -> None:
    members = _members(hub.geotab_wheel)
    tops = {PurePosixPath(m).parts[0] for m in members}
    assert tops == {"fth_geotab", "fth_geotab-0.1.0.dist-info"}, sorted(members)
    assert "fth_geotab/__init__.py" in members
    assert "fth_geotab/py.typed" in members
    assert not [m for m in members if m.endswith(".pyc")]
    with zipfile.ZipFile(hub.geotab_wheel) as archive:
        entry_points = archive.read("fth_geotab-0.1.0.dist-info/entry_points.txt").decode()
    assert entry_points.split() == ["[fth]", "geotab", "=", "fth_geotab"]


def test_the_fth_core_wheel_holds_only_the_fth_core_package_and_no_provider(hub: Hub) -> None:
    tops = {PurePosixPath(m).parts[0] for m in _members(hub.core_wheel)}
    assert tops == {"fth_core", "fth_core-0.1.0.dist-info"}


def test_pip_check_finds_every_requirement_the_two_wheels_declare_met(hub: Hub) -> None:
    assert "No broken requirements found." in _ok(_run(hub.python, "-m", "pip", "check"))


def test_the_venv_runs_fth_from_the_wheels_and_sees_no_dev_fth_distribution(hub: Hub) -> None:
    probe = _ok(
        _run(
            hub.python,
            "-c",
            "import json, importlib.metadata as m, fth_core, fth_geotab\n"
            "print(json.dumps({\n"
            "  'files': [fth_core.__file__, fth_geotab.__file__],\n"
            "  'fth': sorted(d.metadata['Name'] for d in m.distributions()\n"
            "                if d.metadata['Name'].lower().startswith('fth')),\n"
            "  'entry_points': sorted(e.name for e in m.entry_points(group='fth')),\n"
            "}))",
            cwd=hub.root,  # not the checkout: its fth_core/ must not shadow the wheel's
        )
    )
    seen = json.loads(probe)
    for file in seen["files"]:
        assert Path(file).is_relative_to(hub.root / "venv"), file
    assert seen["fth"] == ["fth-core", "fth-geotab"]
    assert seen["entry_points"] == ["geotab"]


def test_fth_core_and_fth_geotab_wheels_alone_give_a_geotab_only_hub(hub: Hub) -> None:
    def fth(*args: str) -> str:
        result = _run(hub.fth, *args, cwd=hub.root)
        out = _ok(result)
        for other in OTHER_PROVIDERS:
            assert other not in out, f"fth {' '.join(args)} mentions {other}:\n{out}"
            assert other not in result.stderr, f"fth {' '.join(args)} stderr:\n{result.stderr}"
        return out

    providers = json.loads(fth("providers", "--json"))
    assert [p["name"] for p in providers] == ["geotab"]
    assert providers[0]["distribution"] == "fth-geotab"
    assert set(providers[0]["endpoints"]) == GEOTAB_ENDPOINTS

    # Every plugin, skipped ones too: none failed, and motive and samsara are not there at all.
    plugins = json.loads(fth("plugins", "--all", "--json"))
    assert [(p["name"], p["distribution"]) for p in plugins] == [("geotab", "fth-geotab")]
    assert plugins[0]["loaded"] is True
    assert plugins[0]["error"] is None

    endpoints = json.loads(fth("endpoints", "geotab", "--json"))
    assert {e["name"] for e in endpoints} == GEOTAB_ENDPOINTS
    assert {e["provider"] for e in endpoints} == {"geotab"}
    every_endpoint = json.loads(fth("endpoints", "--json"))
    assert {(e["provider"], e["name"]) for e in every_endpoint} == {
        ("geotab", name) for name in GEOTAB_ENDPOINTS
    }

    # What a person sees: the tables name geotab and nothing else.
    assert "geotab" in fth("providers")
    assert "ok" in fth("plugins")
    table = fth("endpoints", "geotab")
    assert all(name in table for name in GEOTAB_ENDPOINTS)
