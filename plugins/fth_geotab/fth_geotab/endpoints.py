"""Geotab's endpoints and the provider registration.

Every endpoint is one JSON-RPC call on ``POST /apiv1``; the body template names the method and
the entity type, the parameters write into ``params``. Each (method, type) is a quota scope of
its own, as Geotab counts its limits. Roster listings (``devices``, ``users``) sort by id and
seek past the last one; record searches (``log_records``, ``status_data``, ``driver_changes``,
``trips``) ask for a time range and split any answer that reaches the silent 5,000 cap
(:class:`~fth_core.pagination.SplitPagination`), so no listing ever ends at a cap unnoticed.
"""

from __future__ import annotations

from typing import Any

from fth_core.endpoints import EndpointDefinition, ParamKind, ParamSpec
from fth_core.pagination import SeekPagination, SplitPagination
from fth_core.sim import Fleet, SimulatedProvider
from fth_core.spec import ProviderSpec, Quota
from fth_geotab.settings import GeotabSettings
from fth_geotab.wire import (
    GET_CAP,
    LIMITS_PER_MINUTE,
    NAME,
    ODOMETER,
    PATH,
    GeotabCredentials,
    classify,
    session_auth,
)

__all__ = [
    "DEVICES",
    "DRIVER_CHANGES",
    "GEOTAB",
    "LOG_RECORDS",
    "RECORD_TYPES",
    "STATUS_DATA",
    "TRIPS",
    "USERS",
    "scope",
]

# Entity types searched by time, and the quota scopes of every (method, type) the plugin calls.
RECORD_TYPES = ("LogRecord", "StatusData", "DriverChange", "Trip")
_ROSTER_TYPES = ("Device", "User")
EARLIEST = "1986-01-01T00:00:00.000Z"  # before any device: a search from it lists them all


def scope(method: str, type_name: str) -> str:
    """The quota scope of one (method, type): Geotab's unit of rate limiting."""
    return f"{method}.{type_name}"


def _call(method: str, type_name: str, **params: Any) -> dict[str, Any]:
    return {"id": -1, "method": method, "params": {"typeName": type_name, **params}}


DEVICES = EndpointDefinition(
    NAME,
    "devices",
    PATH,
    "Every device, retired ones included (their history still needs a VIN and a name).",
    method="POST",
    body=_call(
        "Get",
        "Device",
        search={"fromDate": EARLIEST},
        sort={"sortBy": "id", "sortDirection": "asc"},
    ),
    pagination=SeekPagination(
        limit=GET_CAP, limit_at="body.params.resultsLimit", after_at="body.params.sort.offset"
    ),
    items_key="result",
    scope=scope("Get", "Device"),
)

USERS = EndpointDefinition(
    NAME,
    "users",
    PATH,
    "Users; drivers with is_driver=true.",
    method="POST",
    params=(
        ParamSpec(
            "is_driver",
            ParamKind.BOOL,
            api_name="params.search.isDriver",
            location="body",
            description="only drivers (true) or only other users (false)",
        ),
    ),
    body=_call("Get", "User", sort={"sortBy": "id", "sortDirection": "asc"}),
    pagination=SeekPagination(
        limit=GET_CAP, limit_at="body.params.resultsLimit", after_at="body.params.sort.offset"
    ),
    items_key="result",
    scope=scope("Get", "User"),
)


def _range_params(what: str) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec(
            "from_date",
            ParamKind.DATETIME,
            required=True,
            api_name="params.search.fromDate",
            location="body",
            description=f"{what} at or after this time",
            example="2026-03-02T00:00:00Z",
        ),
        ParamSpec(
            "to_date",
            ParamKind.DATETIME,
            required=True,
            api_name="params.search.toDate",
            location="body",
            description=f"{what} at or before this time (inclusive)",
            example="2026-03-02T01:00:00Z",
        ),
        ParamSpec(
            "device_id",
            ParamKind.STR,
            api_name="params.search.deviceSearch.id",
            location="body",
            description="one device's only (its id, e.g. b1A)",
        ),
    )


def _search(
    name: str, type_name: str, what: str, description: str, *extra: ParamSpec
) -> EndpointDefinition:
    """``what`` of a time range, fleet-wide or for one device; a capped answer is split."""
    return EndpointDefinition(
        NAME,
        name,
        PATH,
        description,
        method="POST",
        params=(*_range_params(what), *extra),
        body=_call("Get", type_name),
        pagination=SplitPagination(
            limit=GET_CAP,
            limit_at="body.params.resultsLimit",
            from_at="body.params.search.fromDate",
            to_at="body.params.search.toDate",
        ),
        items_key="result",
        scope=scope("Get", type_name),
    )


LOG_RECORDS = _search(
    "log_records", "LogRecord", "points", "GPS points: position, speed (km/h) and time"
)
STATUS_DATA = _search(
    "status_data",
    "StatusData",
    "readings",
    "One diagnostic's readings (odometer in metres, ignition 0/1, ...)",
    ParamSpec(
        "diagnostic",
        ParamKind.STR,
        required=True,
        api_name="params.search.diagnosticSearch.id",
        location="body",
        description="the diagnostic's id",
        example=ODOMETER,
    ),
)
DRIVER_CHANGES = _search(
    "driver_changes", "DriverChange", "changes", "Who drives each device, from when"
)
TRIPS = _search("trips", "Trip", "trips", "Trips: start, stop, distance (km) and durations")


def _simulator(fleet: Fleet) -> SimulatedProvider:
    # Imported on use: registering the plugin should not load the simulator.
    from fth_geotab.simulator import GeotabSimulator

    return GeotabSimulator(fleet)


GEOTAB = ProviderSpec(
    name=NAME,
    endpoints=(DEVICES, USERS, LOG_RECORDS, STATUS_DATA, DRIVER_CHANGES, TRIPS),
    default_base_url="https://my.geotab.com",
    auth=session_auth(),
    credentials=GeotabCredentials,
    classify=classify,
    # Geotab limits each (method, type) on its own; the provider-wide bucket only bounds the
    # total and the concurrency.
    quota=Quota(requests_per_second=50, burst=50, max_concurrency=8),
    scopes={
        scope(method, type_name): Quota.per_window(LIMITS_PER_MINUTE[method])
        for method in ("Get", "GetCountOf", "GetFeed")
        for type_name in (*_ROSTER_TYPES, *RECORD_TYPES)
    },
    settings=GeotabSettings,
    description="Geotab (MyGeotab JSON-RPC API): devices, users, GPS, diagnostics, drivers, trips",
    simulator=_simulator,
)
