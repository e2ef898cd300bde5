"""Samsara's endpoints as :class:`EndpointDefinition` s, and the :class:`ProviderSpec`.

Facts behind every definition are in PROVIDERS.md §2 and §6; the README lists each endpoint
with its parameters. Python parameter names are the snake_case of the API's names; ``limit``
and ``after`` belong to the pagination and are sent by the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fth_core.auth import BearerAuth
from fth_core.endpoints import EndpointDefinition, ParamKind, ParamSpec
from fth_core.pagination import CursorPagination, SweepPagination
from fth_core.spec import ProviderSpec, Quota
from fth_samsara.models import (
    Address,
    Driver,
    DriverVehicleAssignment,
    IdlingEvent,
    Trip,
    Vehicle,
    VehicleStatsHistory,
)
from fth_samsara.settings import SamsaraSettings

if TYPE_CHECKING:
    from fth_core.sim import Fleet, SimulatedProvider

__all__ = ["ENDPOINTS", "MAX_LIMIT", "MAX_STAT_TYPES", "SAMSARA", "TelemetryTypes"]

PROVIDER = "samsara"
MAX_LIMIT = 512  # the page-size ceiling of most modern endpoints
IDLING_MAX_LIMIT = 200
ASSIGNMENT_PAGE_ROWS = 50  # assignments pages always hold 50 rows, whatever `limit` says
MAX_STAT_TYPES = 3


class TelemetryTypes:
    """Stat type names the telemetry fetch asks stats/history for."""

    GPS = "gps"
    ENGINE_STATES = "engineStates"
    OBD_ODOMETER = "obdOdometerMeters"


def _time(name: str, api_name: str, example: str, what: str) -> ParamSpec:
    return ParamSpec(
        name,
        ParamKind.DATETIME,
        api_name=api_name,
        required=True,
        example=example,
        description=f"{what} (RFC 3339; sent in UTC with Z)",
    )


def _ids(name: str, api_name: str, what: str) -> ParamSpec:
    return ParamSpec(
        name, ParamKind.LIST, api_name=api_name, description=f"only these {what} (comma-joined)"
    )


_START = _time("start_time", "startTime", "2026-03-02T00:00:00Z", "window start, inclusive")
_END = _time("end_time", "endTime", "2026-03-02T06:00:00Z", "window end, exclusive")
_TAG_IDS = _ids("tag_ids", "tagIds", "tag ids")
_VEHICLE_IDS = _ids("vehicle_ids", "vehicleIds", "vehicle ids")

VEHICLES = EndpointDefinition(
    provider=PROVIDER,
    name="vehicles",
    path="/fleet/vehicles",
    description="Vehicle roster (snapshot); ids ascend numerically across pages.",
    params=(_TAG_IDS,),
    pagination=CursorPagination(limit=MAX_LIMIT),
    items_key="data",
    item_model=Vehicle,
    rate_limit=25.0,
)

DRIVERS = EndpointDefinition(
    provider=PROVIDER,
    name="drivers",
    path="/fleet/drivers",
    description="Every driver: the active listing, then the deactivated one, in one walk.",
    params=(_TAG_IDS,),
    pagination=SweepPagination(
        "driverActivationStatus", ("active", "deactivated"), CursorPagination(limit=MAX_LIMIT)
    ),
    items_key="data",
    item_model=Driver,
    rate_limit=5.0,
)

VEHICLE_STATS_HISTORY = EndpointDefinition(
    provider=PROVIDER,
    name="vehicle_stats_history",
    path="/fleet/vehicles/stats/history",
    description=(
        "Readings of up to three stat types per vehicle in [start_time, end_time); pages go "
        "over vehicles, and a vehicle without readings of the requested types is absent."
    ),
    params=(
        _START,
        _END,
        ParamSpec(
            "types",
            ParamKind.LIST,
            required=True,
            max_items=MAX_STAT_TYPES,
            example=(TelemetryTypes.GPS, TelemetryTypes.ENGINE_STATES, TelemetryTypes.OBD_ODOMETER),
            description="stat types, at most 3 (e.g. gps, engineStates, obdOdometerMeters)",
        ),
        _VEHICLE_IDS,
        _TAG_IDS,
    ),
    pagination=CursorPagination(limit=MAX_LIMIT),
    items_key="data",
    item_model=VehicleStatsHistory,
)

DRIVER_VEHICLE_ASSIGNMENTS = EndpointDefinition(
    provider=PROVIDER,
    name="driver_vehicle_assignments",
    path="/fleet/driver-vehicle-assignments",
    description=(
        "Driver-vehicle assignments overlapping [start_time, end_time); pages always hold 50 "
        "rows (limit is ignored), so none is sent."
    ),
    params=(
        ParamSpec(
            "filter_by",
            api_name="filterBy",
            required=True,
            choices=("drivers", "vehicles"),
            example="vehicles",
            description="drivers or vehicles (required; both give the same rows)",
        ),
        ParamSpec(
            "start_time", ParamKind.DATETIME, api_name="startTime", description="window start"
        ),
        ParamSpec("end_time", ParamKind.DATETIME, api_name="endTime", description="window end"),
        _VEHICLE_IDS,
        _ids("driver_ids", "driverIds", "driver ids"),
    ),
    pagination=CursorPagination(limit=None),
    items_key="data",
    item_model=DriverVehicleAssignment,
    rate_limit=5.0,
)

TRIPS = EndpointDefinition(
    provider=PROVIDER,
    name="trips",
    path="/v1/fleet/trips",
    description=(
        "Finished trips of one vehicle overlapping [start_ms, end_ms] (legacy v1, epoch ms, "
        "at most 90 days per request, unpaginated; see fth_samsara.trips.fetch_trips)."
    ),
    params=(
        ParamSpec(
            "vehicle_id",
            api_name="vehicleId",
            required=True,
            example="281474976710000",
            description="one vehicle id",
        ),
        ParamSpec(
            "start_ms",
            ParamKind.EPOCH_MS,
            api_name="startMs",
            required=True,
            example=1772409600000,
            description="window start, epoch milliseconds (or a date-time)",
        ),
        ParamSpec(
            "end_ms",
            ParamKind.EPOCH_MS,
            api_name="endMs",
            required=True,
            example=1772496000000,
            description="window end, epoch milliseconds (or a date-time); at most 90 days on",
        ),
    ),
    items_key="trips",
    item_model=Trip,
    rate_limit=50.0,
)

IDLING_EVENTS = EndpointDefinition(
    provider=PROVIDER,
    name="idling_events",
    path="/idling/events",
    description="Idling events that start in [start_time, end_time); pages of at most 200.",
    params=(_START, _END),
    pagination=CursorPagination(limit=IDLING_MAX_LIMIT),
    items_key="data",
    item_model=IdlingEvent,
)

ADDRESSES = EndpointDefinition(
    provider=PROVIDER,
    name="addresses",
    path="/addresses",
    description="Named addresses with their geofences (snapshot).",
    params=(_TAG_IDS,),
    pagination=CursorPagination(limit=MAX_LIMIT),
    items_key="data",
    item_model=Address,
)

ENDPOINTS: tuple[EndpointDefinition, ...] = (
    VEHICLES,
    DRIVERS,
    VEHICLE_STATS_HISTORY,
    DRIVER_VEHICLE_ASSIGNMENTS,
    TRIPS,
    IDLING_EVENTS,
    ADDRESSES,
)


def _simulator(fleet: Fleet) -> SimulatedProvider:
    # Imported on use: registering the plugin should not load the simulator.
    from fth_samsara.simulator import SamsaraSimulator

    return SamsaraSimulator(fleet)


SAMSARA = ProviderSpec(
    name=PROVIDER,
    endpoints=ENDPOINTS,
    default_base_url="https://api.samsara.com",
    auth=BearerAuth(),
    # 150 requests/s per token (200 per organisation). Endpoint tiers sit inside it.
    quota=Quota(requests_per_second=150.0, burst=20, max_concurrency=8),
    description="Samsara (api.samsara.com; EU accounts: base_url https://api.eu.samsara.com)",
    settings=SamsaraSettings,
    simulator=_simulator,
)
