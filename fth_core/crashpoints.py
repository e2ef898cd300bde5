"""Named crash points: a testing aid that hard-kills the process at one exact step of a commit.

The store and the pipeline call :func:`crash_point` at every step of the commit protocol that a
crash could interrupt (:data:`POINTS`): a temporary file written but not yet synced, synced but
not yet renamed, renamed but its directory not yet synced — for partition, quarantine and state
files alike — and, per window, its rows merged but its quarantine not yet written, quarantined
but the watermark not yet moved, the watermark moved but the next window not yet begun.

Normally a crash point does nothing (the environment is read once; each call after that is a
comparison). With ``FTH_CRASH_AT=NAME:N`` in the environment, the process sends itself SIGKILL
the ``N``-th time it reaches point ``NAME`` (``NAME`` alone means the first time). SIGKILL
cannot be caught: no ``finally`` block, ``atexit`` hook or buffered write runs, exactly as when
the OOM killer or an operator's ``kill -9`` strikes. ``tests/test_crash.py`` uses it to prove
that a run killed at any of these steps leaves a readable dataset whose watermarks claim only
stored rows, and that the next run converges on the same dataset as an uninterrupted one.

By hand: ``FTH_CRASH_AT=state.replaced:2 fth run`` dies right after the second state write.
Never set it outside such tests: the run dies on purpose.
"""

from __future__ import annotations

import functools
import os
import signal
import threading

from fth_core.errors import ConfigError

__all__ = ["ENV_VAR", "POINTS", "crash_point", "parse_target"]

ENV_VAR = "FTH_CRASH_AT"

_FILE_KINDS = ("partition", "quarantine", "state")
_FILE_STEPS = (
    "written",  # the temporary file holds the new content, not yet fsynced
    "synced",  # fsynced, not yet renamed over the target
    "replaced",  # renamed over the target, its directory not yet fsynced
)
POINTS: tuple[str, ...] = (
    *(f"{kind}.{step}" for kind in _FILE_KINDS for step in _FILE_STEPS),
    "window.merged",  # a window's rows are in their partitions, its quarantine not yet written
    "window.quarantined",  # its quarantine is written, the provider's watermark not yet moved
    "window.committed",  # the watermark is moved, the next window (or provider) not begun
)

_lock = threading.Lock()
_reached = 0


def parse_target(spec: str) -> tuple[str, int]:
    """``"NAME:N"`` (or ``"NAME"``, meaning ``N = 1``) as ``(NAME, N)``; a :class:`ConfigError`
    naming :data:`ENV_VAR` for an unknown point or a count that is not a positive integer."""
    name, _, count = spec.partition(":")
    if name not in POINTS:
        known = ", ".join(POINTS)
        raise ConfigError(f"{ENV_VAR}={spec}: unknown crash point {name!r} (known: {known})")
    if not count:
        return name, 1
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"{ENV_VAR}={spec}: the count after ':' must be a positive integer")
    return name, int(count)


@functools.cache
def _target() -> tuple[str, int] | None:
    spec = os.environ.get(ENV_VAR)
    return parse_target(spec) if spec else None


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``name`` is the point :data:`ENV_VAR` selects and
    this is the selected occurrence; otherwise return at once."""
    target = _target()
    if target is None or target[0] != name:
        return
    global _reached
    with _lock:  # the providers' threads share one count
        _reached += 1
        if _reached == target[1]:
            os.kill(os.getpid(), signal.SIGKILL)
