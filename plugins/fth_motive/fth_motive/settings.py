"""Motive-specific options (``providers.motive.options`` in the config file)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MAX_DAYS_PER_REQUEST", "MAX_READ_AHEAD_DAYS", "MotiveSettings"]

# Motive caps /v3/vehicle_locations at three months. The shortest three calendar months hold 89
# days (February to April), so 89 inclusive days is inside the cap however Motive counts.
MAX_DAYS_PER_REQUEST = 89
# The most days a location request reads past what its window needs. With 3, a week of one-day
# windows takes 2 or 3 requests per vehicle; more saves few requests and makes one answer, which
# is read whole into memory, larger.
MAX_READ_AHEAD_DAYS = 3


class MotiveSettings(BaseModel):
    """Options of the Motive plugin.

    ``location_day_zone``
        The time zone whose calendar days ``/v3/vehicle_locations`` uses for ``start_date`` and
        ``end_date`` (an IANA name such as ``"UTC"`` or ``"America/Chicago"``). Motive does not
        say whether these are UTC or company-local days, so by default (``None``) fth requests
        one extra day on each side of the window, which covers any zone, and trims to the
        window afterwards. Set it when you know the answer to save those requests.
    ``max_days_per_request``
        The most days one location request may span; longer windows are split. At most 89,
        which stays inside Motive's three-month cap; smaller values keep responses small.
    ``read_ahead_vehicle_days``
        In a run of several windows (a backfill), one location request per vehicle may also
        cover the days of the next windows, up to :data:`MAX_READ_AHEAD_DAYS` days past what
        its window needs: a week of one-day windows then takes 2 or 3 requests per vehicle,
        not 7. The days read ahead wait in memory for their windows, about 70 KB per
        vehicle-day for a vehicle on the move all day (a breadcrumb a minute). This caps
        them: at most this many vehicle-days (the default, 1,000, is about 70 MB), so a fleet
        of more than 1,000 vehicles reads nothing ahead. 0 turns reading ahead off.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    location_day_zone: str | None = Field(
        default=None, description="IANA zone of location days; null: pad the window ±1 day"
    )
    max_days_per_request: int = Field(
        default=31, ge=1, le=MAX_DAYS_PER_REQUEST, description="days per location request (≤ 89)"
    )
    read_ahead_vehicle_days: int = Field(
        default=1000, ge=0, description="vehicle-days of locations a request may read ahead"
    )

    @field_validator("location_day_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. 'UTC', 'America/Chicago')"
            ) from None
        return value
