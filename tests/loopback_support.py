"""Shared by the end-to-end tests: a config document for the simulators, a dead port, and
checks on what a CLI run printed and wrote."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from datetime import date
from pathlib import Path
from typing import Any


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
