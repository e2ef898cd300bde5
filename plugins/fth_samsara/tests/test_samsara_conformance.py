"""The core's conformance kit, run against the Samsara plugin and its simulator."""

from __future__ import annotations

from typing import Any

from samsara_support import samsara_fleet

from fth_core.endpoints import EndpointDefinition
from fth_core.sim import Fleet
from fth_core.testing import ProviderConformance


class TestSamsaraConformance(ProviderConformance):
    provider_name = "samsara"
    vehicles = 8

    def make_fleet(self) -> Fleet:
        return samsara_fleet(self.vehicles, self.seed)

    def endpoint_params(self, endpoint: EndpointDefinition, fleet: Fleet) -> dict[str, Any] | None:
        params = super().endpoint_params(endpoint, fleet)
        if endpoint.name == "trips" and params is not None:
            active = next(v for v in fleet.vehicles if v.status == "active")
            params["vehicle_id"] = active.id
        return params
