"""What the ``fth`` command does to its own process before it runs a command.

Each setting is process-wide, so only the command makes it: a program that imports fth as a
library keeps the defaults of glibc and pyarrow. Each was measured in scenario B of
``bench/scenarios.py``. (The environment defaults for numpy and Arrow are set at the top of
:mod:`fth_core.cli`: they must be in place before those libraries load.)
"""

from __future__ import annotations

import ctypes
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["defer_pandas", "reuse_freed_memory"]


def reuse_freed_memory() -> None:
    """Have glibc's malloc keep the memory the process frees for its next allocations, unless
    one of glibc's own ``MALLOC_*`` variables says otherwise.

    A run allocates and frees response bodies and Arrow buffers of up to tens of MB all along.
    By default glibc hands such blocks back to the kernel once freed, and they come back as new
    pages the kernel zeroes as they fault in: scenario B took 102,000 page faults instead of
    59,000 and 0.13 CPU-s more of system time (medians of 8 runs). These settings raise its
    peak RSS by about 5%.

    glibc also gives each thread an arena of its own, up to 8 per core. A body is allocated
    by the pool thread that receives it and freed by the thread that reads it, so each pool
    thread's arena grew to hold its own bodies in flight, memory one arena could not lend
    another. Two arenas (one measured the same) cut B's peak RSS from 354 to 274 MB, its page
    faults from 77,000 to 56,000 and its CPU by 0.3 s (medians of 5 runs). Other C libraries
    keep their own policy.
    """
    if any(name.startswith("MALLOC_") for name in os.environ):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    trim_threshold, top_pad, mmap_threshold, arena_max = -1, -2, -3, -8  # M_* of <malloc.h>
    mallopt(trim_threshold, 1 << 30)  # give memory back only beyond 1 GiB free
    mallopt(top_pad, 64 << 20)  # grow the heap 64 MiB at a time
    mallopt(mmap_threshold, 32 << 20)  # blocks up to 32 MiB (glibc's largest) from the heap
    mallopt(arena_max, 2)  # threads share two arenas, not one each


def defer_pandas() -> None:
    """Leave pandas unloaded until something uses it.

    The first time pyarrow converts Python objects (``pa.array`` of a list, as every provider
    plugin does), it checks whether they are pandas objects, and to check it imports pandas:
    0.3 CPU-s, about 6% of scenario B, in a run that never makes a DataFrame. Here pyarrow
    makes that first check at once, with the import of pandas refused, so it notes pandas as
    absent and stops looking. Whenever pandas is imported later (by ``to_pandas``, a plugin, or
    fth's own fallbacks), pyarrow is told as soon as that import is done, so pandas objects
    convert exactly as they would have.
    """
    if "pandas" in sys.modules:  # pyarrow already knows it
        return
    import pyarrow as pa

    refusal = _RefusePandas()
    sys.meta_path.insert(0, refusal)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(refusal)
    sys.meta_path.insert(0, _TellPyarrowOfPandas())


class _RefusePandas(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "pandas":
            raise ImportError("pandas is not loaded until it is used")
        return None


class _TellPyarrowOfPandas(importlib.abc.MetaPathFinder):
    """Finds pandas as Python would, and has its loader tell pyarrow once pandas has loaded."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "pandas":
            return None
        sys.meta_path.remove(self)  # once is enough
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenTellPyarrow(spec.loader)
        return spec


class _ThenTellPyarrow(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # pandas keeps its own loader (importlib.resources and reloads go through it).
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        import pyarrow as pa

        # pyarrow looks for pandas again wherever it needs it, as to_pandas does.
        pa.array([], pa.int8()).to_pandas()
