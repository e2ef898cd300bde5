"""The benchmark rig: simulators in processes of their own, ``fth run`` measured as a process of
its own, and the oracle check of what it stored.

Each simulator runs in a child process (spawned, so nothing is shared with the parent) behind a
:class:`~fth_core.sim.SimServer` with the scenario's latency and server-side quotas. ``fth run``
is the real CLI in a subprocess; ``os.wait4`` gives its own CPU time and peak RSS, untouched by
the simulators or by this script. The simulators report what they served and the CPU they
spent, so a figure can be checked against the cost of the rig itself.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Self

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from fth_core.closing import Closing
from fth_core.sim import Fleet, SimRequest, SimResponse, SimServer, SimulatedProvider
from fth_core.store import DatasetStore
from fth_core.testing import assert_same_telemetry, row_keys

__all__ = ["FthRun", "ServerQuota", "SimSpec", "SimStats", "Simulators", "compare", "run_fth"]


@dataclass(frozen=True)
class ServerQuota:
    """What the simulated provider enforces (see :class:`SimServer`)."""

    rate: float | None = None
    burst: int = 1
    path_limits: dict[str, float] = field(default_factory=dict)
    max_in_flight: int | None = None


@dataclass(frozen=True)
class SimSpec:
    provider: str  # "motive", "samsara" or "geotab"
    vehicles: int
    seed: int
    as_of: datetime
    epoch: date = date(2026, 1, 1)
    latency_ms: float = 0.0
    quota: ServerQuota = ServerQuota()
    # The limits a simulator enforces itself (Geotab's calls per minute and per method and type).
    own_limits: bool = True
    # Answer a request seen before with the bytes of its first answer (see _replaying).
    replay: bool = False


@dataclass(frozen=True)
class SimStats:
    """What one simulator served since its last reset, and what that cost it."""

    accepted: int
    refused: int  # 429s from its quotas, and the simulator's own refusals (Geotab: in a 200)
    by_path: dict[str, int]  # accepted requests per path
    by_call: dict[str, int]  # Geotab: accepted calls per (method, type), e.g. "Get.LogRecord"
    cpu_seconds: float
    peak_rss: int


def _simulator(spec: SimSpec) -> SimulatedProvider:
    fleet = Fleet(spec.seed, spec.vehicles, epoch=spec.epoch)
    if spec.provider == "motive":
        from fth_motive.simulator import MotiveSimulator

        return MotiveSimulator(fleet, as_of=spec.as_of)
    if spec.provider == "geotab":
        from fth_geotab.simulator import GeotabSimulator
        from fth_geotab.wire import LIMITS_PER_MINUTE

        limits = LIMITS_PER_MINUTE if spec.own_limits else None
        return GeotabSimulator(fleet, as_of=spec.as_of, limits=limits)
    from fth_samsara.simulator import SamsaraSimulator

    return SamsaraSimulator(fleet, as_of=spec.as_of)


def _replaying(simulator: SimulatedProvider) -> None:
    """Make ``simulator`` answer a request it has answered before from memory.

    Rendering an answer costs the simulator more CPU than fth spends reading it (Motive: about
    9 ms for a vehicle-day of 650 KB), and on a 2-core machine that work competes with the fth
    process being measured for cores and caches: in alternated runs of B, fth itself used about
    10% more CPU with the simulators rendering than with them replaying. Against a real API,
    the server's work happens on other machines. A simulator with a fixed clock (``as_of``),
    no chaos and no bad records answers a request the same way every time, so the bytes are
    the same either way; only the first run of a scenario renders them.
    """
    answers: dict[tuple[Any, ...], SimResponse] = {}
    render = simulator.handle

    def handle(request: SimRequest) -> SimResponse:
        key = (
            request.method,
            request.path,
            tuple(sorted((k, tuple(v)) for k, v in request.query.items())),
            tuple(sorted(request.headers.items())),
            _call_without_session(request),
        )
        answer = answers.get(key)
        if answer is None:
            answer = answers[key] = render(request)
        return answer

    simulator.handle = handle  # type: ignore[method-assign]


def _call_without_session(request: SimRequest) -> str:
    """A JSON-RPC body as replay's key: without the session, which differs from run to run."""
    if not request.body:
        return ""
    call = request.json()
    params = call.get("params") if isinstance(call, dict) else None
    if isinstance(params, dict):
        params = {k: v for k, v in params.items() if k != "credentials"}
        call = {**call, "params": params}
    return json.dumps(call, sort_keys=True)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _serve(spec: SimSpec, conn: Connection) -> None:
    """Child process: serve one simulator and answer the parent's commands until ``stop``."""
    simulator = _simulator(spec)
    if spec.replay:
        _replaying(simulator)
    quota = spec.quota
    server = SimServer(
        simulator,
        latency_ms=spec.latency_ms,
        rate_limit=quota.rate,
        burst=quota.burst,
        path_limits=quota.path_limits,
        max_in_flight=quota.max_in_flight,
    )
    cpu_base = _cpu_seconds()
    with server:
        conn.send((server.base_url, simulator.credentials()))
        while True:
            command, *args = conn.recv()
            if command == "stop":
                break
            if command == "truth":
                start, end, path = args
                table = simulator.expected_telemetry(start, end)
                pq.write_table(table, path)
                conn.send(table.num_rows)
            elif command == "reset":
                server.clear_log()
                for counter in _call_counters(simulator) or ():
                    counter.clear()
                cpu_base = _cpu_seconds()
                conn.send(None)
            elif command == "stats":
                log = server.requests()
                accepted = Counter(r.path for r in log if r.status != 429)
                calls, refusals = _call_counters(simulator) or (Counter(), Counter())
                conn.send(
                    SimStats(
                        accepted=sum(accepted.values()) - refusals.total(),
                        refused=sum(1 for r in log if r.status == 429) + refusals.total(),
                        by_path=dict(accepted),
                        by_call=dict(calls),
                        cpu_seconds=_cpu_seconds() - cpu_base,
                        peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                    )
                )


def _call_counters(simulator: SimulatedProvider) -> tuple[Counter[str], Counter[str]] | None:
    """A Geotab simulator's accepted and refused calls by (method, type); ``None`` for others."""
    calls, refused = getattr(simulator, "calls", None), getattr(simulator, "refused", None)
    if isinstance(calls, Counter) and isinstance(refused, Counter):
        return calls, refused
    return None


class Simulators(Closing):
    """The scenario's simulators, each in its own process; ``with`` starts and stops them."""

    def __init__(self, specs: list[SimSpec]) -> None:
        self.specs = {spec.provider: spec for spec in specs}
        self._pipes: dict[str, Connection] = {}
        self._children: list[Any] = []
        self.urls: dict[str, tuple[str, dict[str, str]]] = {}

    def __enter__(self) -> Self:
        spawn = multiprocessing.get_context("spawn")
        for name, spec in self.specs.items():
            self._pipes[name], child_end = spawn.Pipe()
            child = spawn.Process(target=_serve, args=(spec, child_end), daemon=True)
            child.start()
            self._children.append(child)
        self.urls = {name: pipe.recv() for name, pipe in self._pipes.items()}
        return self

    def close(self) -> None:
        for pipe in self._pipes.values():
            pipe.send(("stop",))
        for child in self._children:
            child.join(timeout=30)
            if child.is_alive():
                child.terminate()

    def _ask(self, name: str, *command: Any) -> Any:
        self._pipes[name].send(command)
        return self._pipes[name].recv()

    def truth(self, start: datetime, end: datetime, folder: Path) -> pa.Table:
        """Every simulator's ground truth of ``[start, end)``, as one table."""
        tables = []
        for name in self.specs:
            path = folder / f"truth-{name}.parquet"
            self._ask(name, "truth", start, end, str(path))
            tables.append(pq.read_table(path))
        return pa.concat_tables(tables)

    def reset(self) -> None:
        for name in self.specs:
            self._ask(name, "reset")

    def stats(self) -> dict[str, SimStats]:
        return {name: self._ask(name, "stats") for name in self.specs}

    def write_config(
        self,
        path: Path,
        dataset: Path,
        providers: dict[str, dict[str, Any]] | None = None,
        **pipeline: Any,
    ) -> Path:
        """A config for these simulators (``providers`` adds per-provider settings)."""
        document = {
            "providers": {
                name: {"base_url": url, **credentials, **(providers or {}).get(name, {})}
                for name, (url, credentials) in self.urls.items()
            },
            "pipeline": dict(pipeline),
            "storage": {"parquet_path": str(dataset)},
        }
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path


@dataclass(frozen=True)
class FthRun:
    """One ``fth run`` process: exit code, wall time, its own CPU and peak RSS, its summary."""

    exit_code: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss: int
    summary: dict[str, Any]
    stderr: str


# Measures one command from a small interpreter of its own. Linux keeps, in a child's peak
# RSS, what the process it was forked from held before exec: forked straight from this
# script (which holds ground-truth tables) fth would report this script's size, not its own.
_MEASURE = """
import json, os, sys
report, command = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execv(command[0], command)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as out:
    json.dump({"exit": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime,
               "peak_rss": usage.ru_maxrss * 1024}, out)
"""


# fth runs as the README's cron line runs it: with glibc's malloc arenas capped at two (its
# pool threads allocate answers the reader thread frees; an arena per thread holds more memory,
# and faulting it in costs CPU). A value set by the caller wins.
_FTH_ENV = {"MALLOC_ARENA_MAX": "2", **os.environ}


def run_fth(config: Path, *args: str) -> FthRun:
    """Run ``fth run -c config --json *args`` and measure that process alone."""
    command = [sys.executable, "-m", "fth_core.cli", "run", "-c", str(config), "--json", *args]
    with (
        tempfile.TemporaryDirectory() as folder,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(folder) / "usage.json"
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", _MEASURE, str(report), *command],
            stdout=out,
            stderr=err,
            check=True,
            env=_FTH_ENV,
        )
        wall = time.perf_counter() - began
        usage = json.loads(report.read_text())
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
    try:
        summary: dict[str, Any] = json.loads(text)
    except ValueError:
        summary = {}  # a failed run prints its error on stderr instead
    return FthRun(
        exit_code=usage["exit"],
        wall_seconds=wall,
        cpu_seconds=usage["cpu"],
        peak_rss=usage["peak_rss"],
        summary=summary,
        stderr=errors,
    )


@dataclass(frozen=True)
class Comparison:
    """The stored dataset against ground truth, by dedup key, and value by value."""

    stored: int
    expected: int
    lost: int
    extra: int
    duplicates: int
    mismatch: str | None  # the first differing value, if any

    @property
    def exact(self) -> bool:
        return not (self.lost or self.extra or self.duplicates or self.mismatch)


def compare(dataset: Path, truth: pa.Table, days: tuple[date, date] | None = None) -> Comparison:
    """``dataset`` (or its partitions of the inclusive UTC ``days``) against ``truth``."""
    stored = DatasetStore(dataset).read(*(days or (None, None)))
    stored_keys, truth_keys = row_keys(stored), row_keys(truth)
    mismatch = None
    try:
        assert_same_telemetry(stored, truth)
    except AssertionError as exc:
        mismatch = str(exc)
    return Comparison(
        stored=stored.num_rows,
        expected=truth.num_rows,
        lost=int(pc.sum(pc.invert(pc.is_in(truth_keys, value_set=stored_keys))).as_py() or 0),
        extra=int(pc.sum(pc.invert(pc.is_in(stored_keys, value_set=truth_keys))).as_py() or 0),
        duplicates=stored.num_rows - pc.count_distinct(stored_keys).as_py(),
        mismatch=mismatch,
    )
