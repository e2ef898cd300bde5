"""Typed wire shapes of the bulk telemetry path, decoded straight from response bytes.

``msgspec`` Structs for a ``/fleet/vehicles/stats/history`` page only: the pipeline reads these
pages by the million points, where a dict per reading (and far more a pydantic model per
reading) is the cost that matters. The API layer keeps its pydantic models
(:mod:`fth_samsara.models`); these Structs carry only what the columns need, every key is
optional where the API says so (PROVIDERS.md: absent keys, no nulls observed, but nulls are
accepted), unknown keys are ignored, and timestamps stay strings for
:func:`fth_core.schema.parse_timestamps`. Numbers are ``int | float`` as on the wire.
"""

from __future__ import annotations

from typing import Any

import msgspec

from fth_core.errors import ResponseFormatError

__all__ = [
    "STATS_PAGE_DECODER",
    "CursorBlock",
    "EngineStateReading",
    "ExternalIds",
    "GpsPoint",
    "OdometerReading",
    "ReverseGeo",
    "StatsPage",
    "StatsRecord",
    "as_stats_records",
]

Number = int | float


class ReverseGeo(msgspec.Struct, gc=False):
    formatted_location: str | None = msgspec.field(default=None, name="formattedLocation")


class GpsPoint(msgspec.Struct, gc=False):
    """One ``gps`` reading; ``isEcuSpeed`` and ``address`` are not needed and not decoded."""

    time: str | None = None
    latitude: Number | None = None
    longitude: Number | None = None
    heading_degrees: Number | None = msgspec.field(default=None, name="headingDegrees")
    speed_miles_per_hour: Number | None = msgspec.field(default=None, name="speedMilesPerHour")
    reverse_geo: ReverseGeo | None = msgspec.field(default=None, name="reverseGeo")


class EngineStateReading(msgspec.Struct, gc=False):
    """``value`` stays text: an unknown state is warned about downstream, never a decode error."""

    time: str | None = None
    value: str | None = None


class OdometerReading(msgspec.Struct, gc=False):
    time: str | None = None
    value: Number | None = None


class ExternalIds(msgspec.Struct, gc=False):
    """The keys are literally dotted; the VIN is only available here."""

    vin: str | None = msgspec.field(default=None, name="samsara.vin")


class StatsRecord(msgspec.Struct, gc=False):
    """One vehicle's part of a page. Every key, each series included, is optional."""

    id: str | None = None
    name: str | None = None
    external_ids: ExternalIds | None = msgspec.field(default=None, name="externalIds")
    gps: list[GpsPoint] | None = None
    engine_states: list[EngineStateReading] | None = msgspec.field(
        default=None, name="engineStates"
    )
    obd_odometer_meters: list[OdometerReading] | None = msgspec.field(
        default=None, name="obdOdometerMeters"
    )


class CursorBlock(msgspec.Struct, gc=False):
    """``hasNextPage`` is required; the terminal page's ``endCursor`` is ``""``."""

    has_next_page: bool = msgspec.field(name="hasNextPage")
    end_cursor: str | None = msgspec.field(default=None, name="endCursor")


class StatsPage(msgspec.Struct, gc=False):
    """``{"data": [...], "pagination": {...}}``: both keys required, ``data`` may be null."""

    data: list[StatsRecord] | None
    pagination: CursorBlock


STATS_PAGE_DECODER: msgspec.json.Decoder[StatsPage] = msgspec.json.Decoder(StatsPage)


def as_stats_records(items: list[Any]) -> list[StatsRecord]:
    """``items`` as :class:`StatsRecord` s: decoded pages pass through, plain dicts (tests,
    callers of the untyped API) are converted by wire key."""
    if all(isinstance(item, StatsRecord) for item in items):
        return items
    try:
        return [
            item if isinstance(item, StatsRecord) else msgspec.convert(item, StatsRecord)
            for item in items
        ]
    except msgspec.ValidationError as exc:
        raise ResponseFormatError(f"samsara: a stats/history item does not fit ({exc})") from None
