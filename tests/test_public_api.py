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


# Records OPENBLAS_NUM_THREADS at the moment numpy is first imported.
_WATCH_NUMPY = """
import os, sys
seen = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            seen.append(os.environ.get("OPENBLAS_NUM_THREADS"))
sys.meta_path.insert(0, Watch())
import fth_core.cli
print(seen[:1])
"""


@pytest.mark.parametrize(("given", "loaded_with"), [(None, "1"), ("4", "4")])
def test_the_fth_command_loads_numpy_with_one_blas_thread_unless_told(
    given: str | None, loaded_with: str
) -> None:
    """``fth`` does no linear algebra: numpy's OpenBLAS would start a spinning thread per core
    (about 0.1 CPU-s a run in scenario B). A user's own setting wins."""
    env = {"PATH": "/usr/bin:/bin", **({"OPENBLAS_NUM_THREADS": given} if given else {})}
    shown = subprocess.run(
        [sys.executable, "-c", _WATCH_NUMPY], capture_output=True, text=True, env=env, check=True
    )
    assert shown.stdout.strip() == f"[{loaded_with!r}]"
