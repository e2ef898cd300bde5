"""fth-motive: the Motive (formerly KeepTruckin) provider plugin for fth.

Registered under the ``fth`` entry-point group as ``motive``. The hooks below are the plugin's
whole contract with the core:

* :func:`fth_register_providers` — the ``motive`` :class:`~fth_core.spec.ProviderSpec`
  (endpoints, base URL, ``X-Api-Key`` auth, quota, settings, simulator);
* :func:`fth_fetch_telemetry` — the window's breadcrumbs, one batch per vehicle and day range;
* :func:`fth_flatten_telemetry` — a batch as unified-schema columns.

Fetch and flatten answer only for a provider whose spec is Motive's, and ``None`` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fth_core.hookspecs import hookimpl
from fth_core.provider import Provider
from fth_core.spec import ProviderSpec, TelemetryBatch, Window
from fth_motive.endpoints import ENDPOINTS, MOTIVE
from fth_motive.models import UnknownEnumValueWarning
from fth_motive.settings import MotiveSettings
from fth_motive.telemetry import LocationHistory, fetch_locations, flatten_locations

__all__ = [
    "ENDPOINTS",
    "MOTIVE",
    "LocationHistory",
    "MotiveSettings",
    "UnknownEnumValueWarning",
    "fth_fetch_telemetry",
    "fth_flatten_telemetry",
    "fth_register_providers",
]


@hookimpl
def fth_register_providers() -> Sequence[ProviderSpec]:
    return [MOTIVE]


@hookimpl
def fth_fetch_telemetry(
    provider: Provider, window: Window
) -> Iterable[TelemetryBatch[tuple[LocationHistory, ...]]]:
    return fetch_locations(provider, window)


@hookimpl
def fth_flatten_telemetry(provider: Provider, batch: TelemetryBatch[Any]) -> Mapping[str, Any]:
    items = batch.items
    if not isinstance(items, LocationHistory) and not (
        isinstance(items, tuple) and all(isinstance(item, LocationHistory) for item in items)
    ):
        raise TypeError(
            f"motive: cannot flatten {type(items).__name__}; expected LocationHistory items"
        )
    return flatten_locations(items)
