"""Samsara provider plugin for fth (Fleet Telemetry Hub).

Registers provider ``samsara``: seven endpoints (:mod:`fth_samsara.endpoints`), the telemetry
fetch and flatten (:mod:`fth_samsara.telemetry`, joining with :mod:`fth_samsara.join`) and a
simulator of the API (:mod:`fth_samsara.simulator`). See the README for every decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fth_core.hookspecs import hookimpl
from fth_core.provider import Provider
from fth_core.spec import ProviderSpec, TelemetryBatch, Window
from fth_samsara.endpoints import SAMSARA
from fth_samsara.models import UnknownEnumValueWarning
from fth_samsara.telemetry import SamsaraBatch, fetch_window, flatten

__all__ = [
    "SAMSARA",
    "UnknownEnumValueWarning",
    "fth_fetch_telemetry",
    "fth_flatten_telemetry",
    "fth_register_providers",
]


@hookimpl
def fth_register_providers() -> Sequence[ProviderSpec]:
    return [SAMSARA]


@hookimpl
def fth_fetch_telemetry(
    provider: Provider, window: Window
) -> Iterable[TelemetryBatch[SamsaraBatch]]:
    return fetch_window(provider, window.start, window.end)


@hookimpl
def fth_flatten_telemetry(provider: Provider, batch: TelemetryBatch[Any]) -> Mapping[str, Any]:
    if not isinstance(batch.items, SamsaraBatch):
        raise TypeError(
            f"samsara: cannot flatten {type(batch.items).__name__}; expected SamsaraBatch"
        )
    return flatten(batch.items)
