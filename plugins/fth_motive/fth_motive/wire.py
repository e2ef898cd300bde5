"""Typed wire shapes of the bulk telemetry path, decoded straight from response bytes.

``msgspec`` Structs for a ``/v3/vehicle_locations/{id}`` answer only:
``{"vehicle_locations": [{"vehicle_location": {...}}]}``, one call per vehicle and day range,
where a dict (or a pydantic model) per breadcrumb is the cost that matters. The API layer keeps
its pydantic models (:mod:`fth_motive.models`). These Structs carry only what the columns need;
every field is optional or nullable as PROVIDERS.md describes, unknown keys are ignored, and
``located_at`` stays a string for :func:`fth_core.schema.parse_timestamps`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from fth_core.errors import ResponseFormatError

__all__ = [
    "LOCATIONS_PAGE_DECODER",
    "Breadcrumb",
    "BreadcrumbDriver",
    "LocationsPage",
    "WrappedBreadcrumb",
    "as_breadcrumbs",
]

Number = int | float


class BreadcrumbDriver(msgspec.Struct, gc=False):
    """The ``UserSummary`` of a breadcrumb's driver (only what flatten reads)."""

    id: int | str | None = None
    first_name: str | None = None
    last_name: str | None = None


class Breadcrumb(msgspec.Struct, gc=False):
    """One ``vehicle_location``. Speeds and odometers are in the units that were requested."""

    located_at: str | None = None
    lat: Number | None = None
    lon: Number | None = None
    type: str | None = None
    description: str | None = None
    speed: Number | None = None
    bearing: Number | None = None
    odometer: Number | None = None
    true_odometer: Number | None = None
    driver: BreadcrumbDriver | None = None


class WrappedBreadcrumb(msgspec.Struct, gc=False):
    vehicle_location: Breadcrumb


class LocationsPage(msgspec.Struct, gc=False):
    """Unpaginated; the list is required and may be null (read as empty)."""

    vehicle_locations: list[WrappedBreadcrumb] | None


LOCATIONS_PAGE_DECODER: msgspec.json.Decoder[LocationsPage] = msgspec.json.Decoder(LocationsPage)


def as_breadcrumbs(records: Sequence[Breadcrumb | Mapping[str, Any]]) -> list[Breadcrumb]:
    """``records`` as :class:`Breadcrumb` s: decoded ones pass through, plain dicts (tests,
    callers of the untyped API) are converted by wire key."""
    try:
        return [
            record if isinstance(record, Breadcrumb) else msgspec.convert(record, Breadcrumb)
            for record in records
        ]
    except msgspec.ValidationError as exc:
        raise ResponseFormatError(f"motive: a vehicle location does not fit ({exc})") from None
