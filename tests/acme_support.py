"""The example Acme plugin (examples/fth_acme), registered in-process for core pipeline tests.

Core tests must not depend on the Motive or Samsara plugins, so the pipeline's mechanics are
pinned against the small example provider; the end-to-end tests with both real plugins live in
test_pipeline_e2e.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "fth_acme"))

import fth_acme
from fth_core.config import FthConfig, parse_config
from fth_core.plugins import Plugins
from fth_core.registry import EndpointRegistry

AcmeSimulator = fth_acme.AcmeSimulator


def acme_registry() -> EndpointRegistry:
    plugins = Plugins()
    plugins.register(fth_acme, "acme", distribution="fth-acme", version="0.1.0")
    return EndpointRegistry.from_plugins(plugins)


def acme_config(
    base_url: str, dataset: Path, retention_days: int | None = None, **pipeline: Any
) -> FthConfig:
    return parse_config(
        {
            "providers": {
                "acme": {
                    "base_url": base_url,
                    "api_key": "sim-key",
                    "retry_backoff_factor": 0.01,
                    "max_retries": 1,
                    "request_timeout": [2, 5],
                }
            },
            "pipeline": {"lookback_days": 1, "batch_increment_days": 1, **pipeline},
            "storage": {"parquet_path": str(dataset), "retention_days": retention_days},
        },
        env={},
    )
