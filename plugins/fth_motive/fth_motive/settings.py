"""Motive-specific options (``providers.motive.options`` in the config file)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MAX_DAYS_PER_REQUEST", "MotiveSettings"]

# Motive caps /v3/vehicle_locations at three months. The shortest three calendar months hold 89
# days (February to April), so 89 inclusive days is inside the cap however Motive counts.
MAX_DAYS_PER_REQUEST = 89


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
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    location_day_zone: str | None = Field(
        default=None, description="IANA zone of location days; null: pad the window ±1 day"
    )
    max_days_per_request: int = Field(
        default=31, ge=1, le=MAX_DAYS_PER_REQUEST, description="days per location request (≤ 89)"
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
