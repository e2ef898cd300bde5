"""Shared by the end-to-end tests: the CLI in a subprocess, a config document for the
simulators, and a dead port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy"}


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
    """``fth ARGS`` in a subprocess, in ``cwd``, with :func:`cli_env`."""
    return subprocess.run(
        fth_command(*args),
        env=cli_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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


def of_provider(table: pa.Table, name: str) -> pa.Table:
    """The rows of ``table`` whose provider is ``name``."""
    return table.filter(pc.equal(table.column("provider").cast(pa.string()), name))
