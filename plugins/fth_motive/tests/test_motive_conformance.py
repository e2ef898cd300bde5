"""The Motive plugin passes the core's conformance kit against its own simulator."""

from __future__ import annotations

from typing import Any

from fth_core.endpoints import EndpointDefinition
from fth_core.sim import Fleet
from fth_core.testing import ProviderConformance


class TestMotiveConformance(ProviderConformance):
    provider_name = "motive"

    def endpoint_params(self, endpoint: EndpointDefinition, fleet: Fleet) -> dict[str, Any] | None:
        """Walk every endpoint over the kit's window, locations for a vehicle of its fleet."""
        start, end = (moment.date().isoformat() for moment in self.window)
        if endpoint.name == "vehicle_locations":
            vehicle = next(v for v in fleet.vehicles if v.status == "active")
            return {"vehicle_id": vehicle.id, "start_date": start, "end_date": end}
        if endpoint.param("start_date") is not None:
            return {"start_date": start, "end_date": end}
        return {}
