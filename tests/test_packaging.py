"""What each distribution ships, built offline from this checkout with its own build backend:
only its own package, README and license; the dependencies it imports; metadata a PyPI user
reads (classifiers, keywords); and no upper caps on the scientific stack."""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = {
    "fth-core": (ROOT, "fth_core"),
    "fth-motive": (ROOT / "plugins" / "fth_motive", "fth_motive"),
    "fth-samsara": (ROOT / "plugins" / "fth_samsara", "fth_samsara"),
    "fth-geotab": (ROOT / "plugins" / "fth_geotab", "fth_geotab"),
}
BUILD = (
    "import sys, hatchling.build as b; "
    "print(b.build_wheel(sys.argv[1])); print(b.build_sdist(sys.argv[1]))"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Each project's wheel and sdist, built with hatchling's PEP 517 hooks (no index)."""
    found = {}
    for name, (folder, _) in PROJECTS.items():
        out = tmp_path_factory.mktemp(name)
        result = subprocess.run(
            [sys.executable, "-c", BUILD, str(out)],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        wheel, sdist = result.stdout.split()
        found[name] = (out / wheel, out / sdist)
    return found


def _metadata(wheel: Path) -> tuple[list[str], object]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        text = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    return names, Parser().parsestr(text)


@pytest.mark.parametrize("name", PROJECTS)
def test_a_wheel_holds_its_own_package_and_its_license_only(
    name: str, built: dict[str, tuple[Path, Path]]
) -> None:
    names, _ = _metadata(built[name][0])
    package = PROJECTS[name][1]
    tops = {n.split("/")[0] for n in names}
    assert tops == {package, f"{package}-0.1.0.dist-info"}
    assert f"{package}-0.1.0.dist-info/licenses/LICENSE" in names
    assert f"{package}/py.typed" in names


@pytest.mark.parametrize("name", PROJECTS)
def test_an_sdist_holds_its_own_package_readme_and_license_only(
    name: str, built: dict[str, tuple[Path, Path]]
) -> None:
    package = PROJECTS[name][1]
    with tarfile.open(built[name][1]) as archive:
        members = [m.split("/", 1)[1] for m in archive.getnames() if "/" in m]
    # Hatchling always adds the VCS ignore file to an sdist (to rebuild it as it was built).
    tops = {m.split("/")[0] for m in members} - {".gitignore"}
    assert tops == {package, "README.md", "LICENSE", "pyproject.toml", "PKG-INFO"}
    assert not any(m.startswith(("tests", "bench", "examples", "plugins")) for m in members)


def _imports(package_dir: Path) -> set[str]:
    found = set()
    for source in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("name", PROJECTS)
def test_a_distribution_declares_every_third_party_package_it_imports(
    name: str, built: dict[str, tuple[Path, Path]]
) -> None:
    folder, package = PROJECTS[name]
    _, metadata = _metadata(built[name][0])
    declared = {
        Requirement(text).name.lower().replace("_", "-")
        for text in metadata.get_all("Requires-Dist") or []  # type: ignore[attr-defined]
        if "extra ==" not in text
    }
    owners = packages_distributions()
    needed = set()
    for module in _imports(folder / package) - set(sys.stdlib_module_names) - {package}:
        for distribution in owners.get(module, []):
            needed.add(distribution.lower().replace("_", "-"))
    # Optional imports made on use, each behind an extra or a clear error.
    optional = {"truststore", "duckdb", "pytest"}
    assert needed - optional <= declared, f"{name} imports what it does not declare"


@pytest.mark.parametrize("name", PROJECTS)
def test_a_distribution_tells_pypi_users_what_it_runs_on(
    name: str, built: dict[str, tuple[Path, Path]]
) -> None:
    _, metadata = _metadata(built[name][0])
    classifiers = set(metadata.get_all("Classifier"))  # type: ignore[attr-defined]
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert metadata["License-Expression"] == "Apache-2.0"  # type: ignore[index]
    assert metadata["Keywords"]  # type: ignore[index]


def test_the_scientific_stack_has_no_upper_caps(built: dict[str, tuple[Path, Path]]) -> None:
    for name in PROJECTS:
        _, metadata = _metadata(built[name][0])
        for text in metadata.get_all("Requires-Dist") or []:  # type: ignore[attr-defined]
            requirement = Requirement(text)
            if requirement.name in ("pandas", "pyarrow", "numpy"):
                assert not any(s.operator in ("<", "<=") for s in requirement.specifier), text
