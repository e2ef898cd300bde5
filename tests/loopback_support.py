"""Shared by the end-to-end tests: a config document for the simulators, a dead port, the
CLI in a subprocess against both simulators served from this process (:class:`Sims`), and
simulator wrappers that break or hold requests on purpose.

Both simulators' clocks stand well past the runs' ends, so every late point is out and ground
truth is simply each simulator's ``expected_telemetry`` of the window.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from fth_core.sim import Fleet, SimRequest, SimResponse, SimServer, SimulatedProvider
from fth_core.store import DatasetStore
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
AS_OF = DAY0 + timedelta(days=10)
VEHICLES = 3
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy"}


def simulators_config(
    dataset: Path,
    motive_url: str | None,
    samsara_url: str | None,
    *,
    start: date,
    read_timeout: float = 5,
    **pipeline: Any,
) -> dict[str, Any]:
    """The providers given a URL, pointed at loopback with fast retries; daily windows from
    ``start`` with a one-day lookback; the dataset at ``dataset``."""
    fast = {"retry_backoff_factor": 0.01, "max_retries": 1, "request_timeout": [2, read_timeout]}
    urls = {"motive": motive_url, "samsara": samsara_url}
    return {
        "providers": {
            name: {"base_url": url, "api_key": "sim-key", **fast}
            for name, url in urls.items()
            if url is not None
        },
        "pipeline": {
            "default_start_date": start.isoformat(),
            "lookback_days": 1,
            "batch_increment_days": 1,
            **pipeline,
        },
        "storage": {"parquet_path": str(dataset)},
    }


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def cli_env() -> dict[str, str]:
    """This environment without fth selections, API keys or proxies (every plugin loads)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FTH_")
        and not key.endswith("_API_KEY")
        and key.lower() not in _PROXY_VARIABLES
    }


def fth_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "fth_core.cli", *args]


def fth(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        fth_command(*args),
        env=cli_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_config(
    tmp: Path, motive_url: str | None, samsara_url: str | None, read_timeout: float = 5
) -> Path:
    """Write ``tmp/fth.yaml`` for the simulators given a URL, with ``tmp/dataset``."""
    document = simulators_config(
        tmp / "dataset", motive_url, samsara_url, start=DAY0.date(), read_timeout=read_timeout
    )
    path = tmp / "fth.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@dataclass
class Sims:
    motive: MotiveSimulator
    samsara: SamsaraSimulator
    motive_server: SimServer
    samsara_server: SimServer
    tmp: Path

    @property
    def dataset(self) -> Path:
        return self.tmp / "dataset"

    def config(self) -> Path:
        """A config for both providers pointed at these servers."""
        return write_config(self.tmp, self.motive_server.base_url, self.samsara_server.base_url)

    def expected(self, end: datetime, *names: str) -> pa.Table:
        sims = {"motive": self.motive, "samsara": self.samsara}
        return pa.concat_tables(
            [sims[n].expected_telemetry(DAY0, end) for n in names or ("motive", "samsara")]
        )

    def stored(self) -> pa.Table:
        return DatasetStore(self.dataset).read()


def make_sims(
    tmp_path: Path,
    latency_ms: float = 0.0,
    vehicles: int = VEHICLES,
    motive_simulator: type[MotiveSimulator] = MotiveSimulator,
) -> Iterator[Sims]:
    """Both simulators served on loopback for the test's duration (``motive_simulator`` may be
    a subclass that alters what Motive answers)."""
    motive = motive_simulator(Fleet(31, vehicles=vehicles), as_of=AS_OF)
    samsara = SamsaraSimulator(Fleet(32, vehicles=vehicles), as_of=AS_OF)
    with (
        SimServer(motive, latency_ms=latency_ms) as motive_server,
        SimServer(samsara, latency_ms=latency_ms) as samsara_server,
    ):
        yield Sims(motive, samsara, motive_server, samsara_server, tmp_path)


def of_provider(table: pa.Table, name: str) -> pa.Table:
    return table.filter(pc.equal(table.column("provider").cast(pa.string()), name))


def one_line(text: str) -> str:
    """The single line of ``text``; fails when there are more or none."""
    lines = text.splitlines()
    assert len(lines) == 1, f"expected one line, got {text!r}"
    return lines[0]


def tree_snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under ``root`` with its inode, size, modification time (ns) and content
    digest: two equal snapshots mean nothing was created, deleted, replaced or rewritten."""
    snapshot = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        readable = stat.S_ISREG(info.st_mode) and os.access(path, os.R_OK)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if readable else ""
        snapshot[str(path.relative_to(root))] = (
            info.st_ino,
            info.st_size,
            info.st_mtime_ns,
            digest,
        )
    return snapshot


class SimulatorWrapper:
    """A handler around a simulator that passes every request on; subclasses change some.

    The server answers its own rate limit with the wrapped simulator's 429.
    """

    def __init__(self, simulator: SimulatedProvider) -> None:
        self.simulator = simulator

    def __call__(self, request: SimRequest) -> SimResponse:
        return self.simulator(request)

    def rate_limited(self, retry_after: float) -> SimResponse:
        return self.simulator.rate_limited(retry_after)


class Gate(SimulatorWrapper):
    """Every request waits until the test opens the gate (``timeout`` seconds at most), so a
    run can be held mid-flight; ``arrived`` is set by the first request."""

    def __init__(self, simulator: SimulatedProvider, timeout: float = 60) -> None:
        super().__init__(simulator)
        self.timeout = timeout
        self.arrived = threading.Event()
        self.opened = threading.Event()

    def __call__(self, request: SimRequest) -> SimResponse:
        self.arrived.set()
        self.opened.wait(timeout=self.timeout)
        return self.simulator(request)


class BreakWindow(SimulatorWrapper):
    """While ``broken``, answer the data requests of the day-long window starting on ``day``
    with a 400 (never retried) carrying ``message``, in Motive's and Samsara's error bodies."""

    def __init__(self, simulator: SimulatedProvider, day: date, message: str) -> None:
        super().__init__(simulator)
        self.day = day
        self.message = message
        self.broken = True

    def __call__(self, request: SimRequest) -> SimResponse:
        if self.broken and self._of_window(request):
            body = {"error_message": self.message, "message": self.message}
            return SimResponse.json(400, body)
        return self.simulator(request)

    def _of_window(self, request: SimRequest) -> bool:
        # Motive asks up to the day after a window (as the new day, once a run has begun), or
        # further (reading ahead); a request reading ahead that fails is asked again up to the
        # day its own window needs, so the window before this one still gets its days.
        motive_day = (self.day + timedelta(days=1)).isoformat()
        days = request.arg("start_date") or "", request.arg("end_date") or ""
        return (request.path.startswith("/v3/") and days[0] <= motive_day <= days[1]) or (
            "gps" in (request.arg("types") or "")
            and (request.arg("startTime") or "").startswith(self.day.isoformat())
        )


# -- raw loopback servers, for misbehaviour an HTTP server library cannot produce -----------
TRICKLE_PAUSE = 0.2  # between two bytes of a trickle

Script = Callable[[socket.socket], None]


class ScriptedServer:
    """Accepts connections on 127.0.0.1 and plays ``script(connection)`` on each, over TLS when
    given a server context. Records when a write first failed because the client had gone
    (``gone_at``, a ``time.monotonic()``)."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.gone_at: float | None = None
        self.done = threading.Event()  # set when a script has ended
        self._listener = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            with conn:
                self.script(conn)
        except OSError:  # the client went away mid-script
            if self.gone_at is None:
                self.gone_at = time.monotonic()
        finally:
            self.done.set()

    def close(self) -> None:
        self._listener.close()


def read_request(conn: socket.socket) -> None:
    """Read up to the end of a request head (the tests' requests have no body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk


def trickle(conn: socket.socket, data: bytes, most: int = 50) -> None:
    """Send ``data`` a byte at a time, ``TRICKLE_PAUSE`` apart, at most ``most`` bytes (ten
    seconds): a client that is not cut by then fails its test rather than hanging it."""
    for byte in data[:most]:
        conn.sendall(bytes([byte]))
        time.sleep(TRICKLE_PAUSE)
