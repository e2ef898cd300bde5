"""Motive's endpoints as :class:`EndpointDefinition` s, and the provider's registration.

Every listing sits in a wrapped envelope (``{"vehicles": [{"vehicle": {...}}], "pagination":
{...}}``) and pages with ``page_no``/``per_page`` (documented maximum 100), driven by the
``pagination`` block the server echoes. ``/v3/vehicle_locations/{vehicle_id}`` is the exception:
one unpaginated answer per vehicle and date range.

``start_date``/``end_date`` are ``YYYY-MM-DD`` and inclusive at both ends; which time zone the
days are in differs per endpoint (see the README). Endpoints whose figures depend on units send
``X-Metric-Units: false`` so the typed API always reads mph, miles and gallons; the telemetry
path sets the header per vehicle instead (:mod:`fth_motive.telemetry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fth_core.auth import HeaderAuth
from fth_core.endpoints import EndpointDefinition, ParamKind, ParamSpec
from fth_core.pagination import OffsetPagination
from fth_core.spec import ProviderSpec, Quota
from fth_motive.conventions import METRIC_UNITS_HEADER, PROVIDER_NAME
from fth_motive.models import (
    DrivingPeriod,
    Group,
    IdleEvent,
    User,
    Vehicle,
    VehicleLocation,
    VehicleUtilization,
)
from fth_motive.settings import MotiveSettings

__all__ = [
    "DEFAULT_BASE_URL",
    "DRIVING_PERIODS",
    "ENDPOINTS",
    "GROUPS",
    "IDLE_EVENTS",
    "MOTIVE",
    "QUOTA",
    "USERS",
    "VEHICLES",
    "VEHICLE_LOCATIONS",
    "VEHICLE_UTILIZATION",
]

DEFAULT_BASE_URL = "https://api.gomotive.com"

# Motive publishes no rate limit and no 429 has been seen; fleetpull ran 1 request/s safely but
# that makes a 1,459-vehicle day take 25 minutes. 10/s with a burst of 10 and at most 10 requests
# in flight is a moderate load for one account; the client honours any 429 (Retry-After or
# backoff) by pausing the whole quota. Config overrides every figure.
QUOTA = Quota(requests_per_second=10.0, burst=10, max_concurrency=10)

_PAGES = OffsetPagination(page_size=100)
_IMPERIAL = {METRIC_UNITS_HEADER: "false"}


def _day(name: str, what: str, example: str, *, required: bool) -> ParamSpec:
    return ParamSpec(
        name,
        ParamKind.DATE,
        required=required,
        description=f"{what} (YYYY-MM-DD, inclusive)",
        example=example,
    )


VEHICLES = EndpointDefinition(
    provider=PROVIDER_NAME,
    name="vehicles",
    path="/v1/vehicles",
    description="Vehicle roster, every status (active, deactivated); VIN, number, units.",
    pagination=_PAGES,
    items_key="vehicles",
    item_wrapper="vehicle",
    item_model=Vehicle,
)

VEHICLE_LOCATIONS = EndpointDefinition(
    provider=PROVIDER_NAME,
    name="vehicle_locations",
    path="/v3/vehicle_locations/{vehicle_id}",
    description=(
        "One vehicle's breadcrumbs for whole days (at most 3 months); unpaginated. "
        "Speed/odometer in the units of X-Metric-Units (sent as false: mph, miles)."
    ),
    params=(
        ParamSpec(
            "vehicle_id",
            ParamKind.STR,
            location="path",
            required=True,
            description="Motive vehicle id (from vehicles)",
            example="100000",
        ),
        _day("start_date", "first day", "2026-01-05", required=True),
        _day("end_date", "last day", "2026-01-06", required=True),
        ParamSpec(
            "updated_after",
            ParamKind.DATETIME,
            description="documented as a filter; observed to change nothing",
        ),
    ),
    items_key="vehicle_locations",
    item_wrapper="vehicle_location",
    item_model=VehicleLocation,
    headers=_IMPERIAL,
)

GROUPS = EndpointDefinition(
    provider=PROVIDER_NAME,
    name="groups",
    path="/v1/groups",
    description="Vehicle and user groups, a tree (parent_id null at the root).",
    pagination=_PAGES,
    items_key="groups",
    item_wrapper="group",
    item_model=Group,
)

USERS = EndpointDefinition(
    provider=PROVIDER_NAME,
    name="users",
    path="/v1/users",
    description="Every user (drivers, admins, fleet users), active and deactivated.",
    pagination=_PAGES,
    items_key="users",
    item_wrapper="user",
    item_model=User,
)

VEHICLE_UTILIZATION = EndpointDefinition(
    provider=PROVIDER_NAME,
    name="vehicle_utilization",
    path="/v2/vehicle_utilization",
    description=(
        "Per-vehicle roll-up of a window of company-local days; one row per vehicle, "
        "zeroed when it has no data. Without dates Motive picks a default window."
    ),
    params=(
        _day("start_date", "first company-local day", "2026-01-05", required=False),
        _day("end_date", "last company-local day", "2026-01-06", required=False),
    ),
    pagination=_PAGES,
    items_key="vehicle_utilizations",
    item_wrapper="vehicle_utilization",
    item_model=VehicleUtilization,
    headers=_IMPERIAL,
)

DRIVING_PERIODS = EndpointDefinition(
    provider=PROVIDER_NAME,
    name="driving_periods",
    path="/v1/driving_periods",
    description=(
        "Drives that START on the UTC days given (at most 30 days apart), newest first; "
        "in-progress drives have null end fields."
    ),
    params=(
        _day("start_date", "first UTC day", "2026-01-05", required=True),
        _day("end_date", "last UTC day (end - start <= 30 days)", "2026-01-06", required=True),
    ),
    pagination=_PAGES,
    items_key="driving_periods",
    item_wrapper="driving_period",
    item_model=DrivingPeriod,
    headers=_IMPERIAL,
)

IDLE_EVENTS = EndpointDefinition(
    provider=PROVIDER_NAME,
    name="idle_events",
    path="/v1/idle_events",
    description=(
        "Idling events that OVERLAP the company-local days given (no range cap), oldest end first."
    ),
    params=(
        _day("start_date", "first company-local day", "2026-01-05", required=True),
        _day("end_date", "last company-local day", "2026-01-06", required=True),
    ),
    pagination=_PAGES,
    items_key="idle_events",
    item_wrapper="idle_event",
    item_model=IdleEvent,
    headers=_IMPERIAL,
)

ENDPOINTS: tuple[EndpointDefinition, ...] = (
    VEHICLES,
    VEHICLE_LOCATIONS,
    GROUPS,
    USERS,
    VEHICLE_UTILIZATION,
    DRIVING_PERIODS,
    IDLE_EVENTS,
)

if TYPE_CHECKING:
    from fth_core.sim import Fleet, SimulatedProvider


def _simulator(fleet: Fleet) -> SimulatedProvider:
    # Imported on use: the simulator loads pandas, which registering the plugin (every CLI
    # start) must not pay for.
    from fth_motive.simulator import MotiveSimulator

    return MotiveSimulator(fleet)


MOTIVE = ProviderSpec(
    name=PROVIDER_NAME,
    endpoints=ENDPOINTS,
    default_base_url=DEFAULT_BASE_URL,
    auth=HeaderAuth("X-Api-Key"),
    quota=QUOTA,
    description="Motive (formerly KeepTruckin): vehicles, GPS breadcrumbs, drives, idling.",
    settings=MotiveSettings,
    simulator=_simulator,
)
