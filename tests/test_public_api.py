"""The package's public names: listed once for type checkers (``__all__``) and once for the
lazy loader (``_EXPORTS``); the two lists agree and every name loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fth_core


def test_every_public_name_is_exported_and_loads() -> None:
    assert set(fth_core.__all__) == {*fth_core._EXPORTS, "__version__"}
    for name in fth_core.__all__:
        assert getattr(fth_core, name) is not None, name
    assert set(fth_core.__all__) <= set(dir(fth_core))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        fth_core.NoSuchThing  # noqa: B018


# What the fth command's process loads numpy and pyarrow with: OPENBLAS_NUM_THREADS as numpy
# is first imported, and the memory pool pyarrow then uses.
_PROCESS_DEFAULTS = """
import os, sys
seen = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            seen.append(os.environ.get("OPENBLAS_NUM_THREADS"))
sys.meta_path.insert(0, Watch())
import fth_core.cli
import pyarrow
print(seen[0], pyarrow.default_memory_pool().backend_name)
"""


@pytest.mark.parametrize(
    ("given", "loaded_with"),
    [
        ({}, "1 system"),
        ({"OPENBLAS_NUM_THREADS": "4", "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}, "4 mimalloc"),
    ],
    ids=["defaults", "the user's own settings"],
)
def test_the_fth_command_loads_numpy_and_pyarrow_with_its_process_defaults(
    given: dict[str, str], loaded_with: str
) -> None:
    """One BLAS thread (fth does no linear algebra; OpenBLAS's pool spins) and the system
    allocator for Arrow (mimalloc's huge pages cost more CPU); see fth_core/cli.py."""
    env = {"PATH": "/usr/bin:/bin", **given}
    shown = subprocess.run(
        [sys.executable, "-c", _PROCESS_DEFAULTS],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert shown.stdout.strip() == loaded_with
