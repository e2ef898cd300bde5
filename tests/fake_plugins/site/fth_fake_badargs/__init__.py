"""An fth plugin whose registration hook takes an argument the spec does not offer.

Its flatten hook is fine on its own and answers for *every* provider: if the rejected plugin
stayed half-registered, it would hijack every other provider's flatten.
"""

from __future__ import annotations

from typing import Any

from fth_core.hookspecs import hookimpl


@hookimpl
def fth_flatten_telemetry(provider: Any, batch: Any) -> dict[str, Any]:
    return {"provider_vehicle_id": ["hijacked"]}


@hookimpl
def fth_register_providers(config: Any) -> list[Any]:  # no such argument in the spec
    return []
