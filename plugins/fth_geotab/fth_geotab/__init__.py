"""Geotab provider plugin for fth (Fleet Telemetry Hub), written against fth-core's public API.

Registers provider ``geotab``: six endpoints (:mod:`fth_geotab.endpoints`) on the MyGeotab
JSON-RPC API with a session login (:mod:`fth_geotab.wire`), the telemetry fetch and flatten
(:mod:`fth_geotab.telemetry`) and a simulator of the API (:mod:`fth_geotab.simulator`). The
README lists every unit, join and cap decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fth_core.hookspecs import hookimpl
from fth_core.provider import Provider
from fth_core.spec import ProviderSpec, TelemetryBatch, Window
from fth_geotab.endpoints import GEOTAB
from fth_geotab.telemetry import GeotabBatch, fetch_window, flatten

__all__ = ["GEOTAB", "fth_fetch_telemetry", "fth_flatten_telemetry", "fth_register_providers"]


@hookimpl
def fth_register_providers() -> Sequence[ProviderSpec]:
    return [GEOTAB]


@hookimpl
def fth_fetch_telemetry(
    provider: Provider, window: Window
) -> Iterable[TelemetryBatch[GeotabBatch]]:
    return fetch_window(provider, window)


@hookimpl
def fth_flatten_telemetry(provider: Provider, batch: TelemetryBatch[Any]) -> Mapping[str, Any]:
    if not isinstance(batch.items, GeotabBatch):
        raise TypeError(
            f"geotab: cannot flatten {type(batch.items).__name__}; expected GeotabBatch"
        )
    return flatten(batch.items)
