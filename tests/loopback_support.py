"""Shared by the end-to-end tests: a config document for the simulators, a dead port, and
simulator wrappers that break or hold requests on purpose."""

from __future__ import annotations

import socket
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fth_core.sim import SimRequest, SimResponse, SimulatedProvider


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
        motive_day = (self.day - timedelta(days=1)).isoformat()  # Motive asks from the day before
        return (request.path.startswith("/v3/") and request.arg("start_date") == motive_day) or (
            "gps" in (request.arg("types") or "")
            and (request.arg("startTime") or "").startswith(self.day.isoformat())
        )
