"""An example provider plugin: the fictional Acme telematics API, in under 200 lines.

It shows everything a plugin needs: endpoint definitions, a :class:`ProviderSpec`, the three
hooks, and a simulator so the core's conformance kit (and ``fth demo``) can run it. The Acme API
pages with cursors, sends kilometres, and authenticates with ``Authorization: Token <key>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fth_core import (
    CursorPagination,
    EndpointDefinition,
    HeaderAuth,
    ParamKind,
    ParamSpec,
    Provider,
    ProviderSpec,
    Quota,
    TelemetryBatch,
    Window,
    hookimpl,
)
from fth_core.endpoints import format_utc, parse_utc
from fth_core.sim import SimRequest, SimResponse, SimulatedProvider

__all__ = [
    "ENDPOINTS",
    "AcmeSimulator",
    "fth_fetch_telemetry",
    "fth_flatten_telemetry",
    "fth_register_providers",
]

KM_PER_MILE = 1.609344
NAME = "acme"

ENDPOINTS = (
    EndpointDefinition(
        NAME,
        "vehicles",
        "/v1/vehicles",
        "The fleet roster.",
        items_key="items",
        pagination=CursorPagination(limit=100),
    ),
    EndpointDefinition(
        NAME,
        "positions",
        "/v1/positions",
        "GPS positions of the whole fleet in [start, end).",
        params=(
            ParamSpec("start", ParamKind.DATETIME, required=True, example="2026-03-02T00:00:00Z"),
            ParamSpec("end", ParamKind.DATETIME, required=True, example="2026-03-02T01:00:00Z"),
        ),
        items_key="items",
        pagination=CursorPagination(limit=1000),
    ),
)


@hookimpl
def fth_register_providers() -> Sequence[ProviderSpec]:
    return [
        ProviderSpec(
            name=NAME,
            endpoints=ENDPOINTS,
            default_base_url="https://api.acme.example",
            auth=HeaderAuth("Authorization", prefix="Token "),
            quota=Quota(requests_per_second=20, burst=5, max_concurrency=4),
            description="Example plugin (fictional API)",
            simulator=AcmeSimulator,
        )
    ]


@hookimpl
def fth_fetch_telemetry(provider: Provider, window: Window) -> Iterator[TelemetryBatch[Any]]:
    # The core calls this for Acme's own provider only, so it can be a generator.
    client = provider.client()
    roster = {v["id"]: v for v in client.fetch_all(provider.endpoint("vehicles"))}
    params = {"start": window.start, "end": window.end}
    for page in client.iter_pages(provider.endpoint("positions"), params):
        yield TelemetryBatch((roster, page.items))


@hookimpl
def fth_flatten_telemetry(provider: Provider, batch: TelemetryBatch[Any]) -> Mapping[str, Any]:
    roster, items = batch.items
    vehicles = [roster.get(i["vehicle_id"], {}) for i in items]
    drivers = [i.get("driver") or {} for i in items]
    km = pa.array([i["odometer_km"] for i in items], pa.float64())
    kmh = pa.array([i["speed_kmh"] for i in items], pa.float64())
    return {
        "provider_vehicle_id": [i["vehicle_id"] for i in items],
        "vin": [v.get("vin") for v in vehicles],
        "fleet_number": [v.get("label") for v in vehicles],
        "timestamp": [parse_utc(i["time"]) for i in items],
        "latitude": [i["lat"] for i in items],
        "longitude": [i["lon"] for i in items],
        "speed_mph": pc.divide(kmh, KM_PER_MILE),
        "heading_degrees": [i["heading"] for i in items],
        "engine_state": [i["engine"].capitalize() for i in items],
        "driver_id": [d.get("id") for d in drivers],
        "driver_name": [d.get("name") for d in drivers],
        "location_description": [i.get("place") for i in items],
        "odometer": pc.divide(km, KM_PER_MILE),
    }


class AcmeSimulator(SimulatedProvider):
    """Acme's wire format for a simulated fleet: cursor pages of ``{"items": [...]}``."""

    name = NAME

    def authorized(self, request: SimRequest) -> bool:
        return request.header("Authorization") == f"Token {self.api_key}"

    def unauthorized(self, request: SimRequest) -> SimResponse:
        return SimResponse.json(401, {"error": "bad token"})

    def rate_limited(self, retry_after: float) -> SimResponse:
        return SimResponse.json(429, {"error": "slow down"}, {"Retry-After": str(retry_after)})

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path == "/v1/vehicles":
            rows = [
                {"id": v.id, "vin": v.vin, "label": v.fleet_number} for v in self.fleet.vehicles
            ]
        elif request.path == "/v1/positions":
            try:
                start = parse_utc(request.arg("start") or "")
                end = parse_utc(request.arg("end") or "")
            except ValueError as exc:
                return SimResponse.json(400, {"error": str(exc)})
            rows = self._positions(start, end)
        else:
            return SimResponse.json(404, {"error": "no such endpoint"})
        offset = int(request.arg("after") or 0)
        limit = int(request.arg("limit") or 100)
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        cursor = str(offset + limit) if more else ""
        return SimResponse.json(
            200, {"items": page, "pagination": {"endCursor": cursor, "hasNextPage": more}}
        )

    def _positions(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        points = self.fleet.points(start, end, as_of=self.now()).to_pylist()
        return [
            {
                "vehicle_id": p["vehicle_id"],
                "time": format_utc(p["timestamp"]),
                "lat": p["latitude"],
                "lon": p["longitude"],
                "speed_kmh": p["speed_mph"] * KM_PER_MILE,
                "heading": p["heading_degrees"],
                "engine": p["engine_state"].lower(),
                "driver": None
                if p["driver_id"] is None
                else {"id": p["driver_id"], "name": self.fleet.driver(p["driver_id"]).name},
                "place": p["location_description"],
                "odometer_km": p["odometer_miles"] * KM_PER_MILE,
            }
            for p in points
        ]

    def expected_telemetry(self, start: datetime, end: datetime) -> pa.Table:
        return self.fleet.telemetry(NAME, start, end, as_of=self.now())
