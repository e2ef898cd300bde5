"""A tiny working fth provider plugin for the core's tests: provider ``fakefleet``.

Two endpoints whose Python parameter names differ from the API's, a settings model for
``providers.fakefleet.options``, and fetch/flatten hooks that answer for ``fakefleet`` only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fth_core.auth import BearerAuth
from fth_core.endpoints import EndpointDefinition, ParamKind, ParamSpec
from fth_core.hookspecs import hookimpl
from fth_core.pagination import CursorPagination
from fth_core.spec import ProviderSpec, Quota, TelemetryBatch, Window

NAME = "fakefleet"


class FakeFleetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: Literal["us", "eu"] = "us"
    page_size: int = Field(default=100, ge=1, le=500)


class Gateway(BaseModel):
    serial: str


class Vehicle(BaseModel):
    id: str
    name: str
    vin: str | None = None
    gateway: Gateway | None = None


ENDPOINTS = (
    EndpointDefinition(
        provider=NAME,
        name="vehicles",
        path="/v1/fleet/vehicles",
        description="Every vehicle of the fleet.",
        params=(
            ParamSpec("tag_ids", ParamKind.LIST, api_name="tagIds"),
            ParamSpec("updated_after", ParamKind.DATETIME, api_name="updatedAfterTime"),
        ),
        pagination=CursorPagination(limit=2),
        items_key="data",
        item_model=Vehicle,
    ),
    EndpointDefinition(
        provider=NAME,
        name="vehicle",
        path="/v1/fleet/vehicles/{id}",
        description="One vehicle.",
        params=(
            ParamSpec("vehicle_id", api_name="id", location="path", required=True, example="v1"),
        ),
        items_key="data",
        item_model=Vehicle,
    ),
)


@hookimpl
def fth_register_providers() -> Sequence[ProviderSpec]:
    return [
        ProviderSpec(
            name=NAME,
            endpoints=ENDPOINTS,
            default_base_url="https://api.fakefleet.invalid",
            auth=BearerAuth(),
            quota=Quota(requests_per_second=50, burst=10, max_concurrency=4),
            description="Fake fleet for tests",
            settings=FakeFleetSettings,
        )
    ]


def _batches(provider: Any, start: datetime) -> Iterator[TelemetryBatch[Any]]:
    vehicles = provider.fetch_all("vehicles")
    yield TelemetryBatch(items=[(vehicle, start) for vehicle in vehicles])


@hookimpl
def fth_fetch_telemetry(provider: Any, window: Window) -> Iterator[TelemetryBatch[Any]]:
    return _batches(provider, window.start)


@hookimpl
def fth_flatten_telemetry(provider: Any, batch: TelemetryBatch[Any]) -> Mapping[str, Any]:
    return {
        "provider_vehicle_id": [vehicle.id for vehicle, _ in batch.items],
        "vin": [vehicle.vin for vehicle, _ in batch.items],
        "timestamp": [at for _, at in batch.items],
        "latitude": [45.0 for _ in batch.items],
        "longitude": [-122.0 for _ in batch.items],
    }
