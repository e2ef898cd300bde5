"""Samsara-specific options: ``providers.samsara.options`` in the fth config."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_ENGINE_STATE_MARGIN", "DEFAULT_ODOMETER_TOLERANCE", "SamsaraSettings"]

DEFAULT_ODOMETER_TOLERANCE = timedelta(minutes=30)
# Samsara reports engine states as transitions. A vehicle parked Off overnight sends none for
# up to ~20 h (the simulated fleet: Off from 13:00-19:00 to 05:00-09:00 the next day), so the
# state in force at a window's start is found by looking back a full day.
DEFAULT_ENGINE_STATE_MARGIN = timedelta(hours=24)

# Endpoints of the telemetry fetch whose rate tier may be overridden (the names it registers).
_TIERED = ("vehicle_stats_history", "driver_vehicle_assignments")


class SamsaraSettings(BaseModel):
    """Options of the Samsara provider (all optional).

    ``odometer_tolerance_minutes``: an OBD odometer reading is used for a GPS point when it is
    at most this far from the point in time (the nearest one wins; no interpolation).
    ``engine_state_margin_hours``: how far before a window the engine-state walk starts, so
    the state already in force at the window's start is known. Beyond it the state is null.
    ``assignment_chunk_size``: vehicle ids per driver-assignment request (at most 50).
    ``batch_points``: GPS points per telemetry batch handed to flatten (bounds memory).
    ``rate_limits``: per-endpoint requests/s overriding the documented tiers for the telemetry
    fetch, e.g. ``{driver_vehicle_assignments: 10}``; the provider-wide quota is the core's
    ``rate_limit`` setting.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    odometer_tolerance_minutes: float = Field(
        default=DEFAULT_ODOMETER_TOLERANCE.total_seconds() / 60,
        gt=0,
        le=24 * 60,
        description="nearest OBD reading within this many minutes (no interpolation)",
    )
    engine_state_margin_hours: float = Field(
        default=DEFAULT_ENGINE_STATE_MARGIN.total_seconds() / 3600,
        ge=0,
        le=7 * 24,
        description="look-back for the engine state in force at a window's start",
    )
    assignment_chunk_size: int = Field(
        default=50, ge=1, le=50, description="vehicle ids per driver-assignment request"
    )
    batch_points: int = Field(
        default=250_000, ge=1, description="GPS points per batch handed to flatten"
    )
    rate_limits: dict[str, float] = Field(
        default_factory=dict, description="per-endpoint requests/s overriding the tiers"
    )

    @field_validator("rate_limits")
    @classmethod
    def _known_endpoints(cls, value: dict[str, float]) -> dict[str, float]:
        for name, rate in value.items():
            if name not in _TIERED:
                raise ValueError(f"{name!r} is not one of {', '.join(_TIERED)}")
            if not 0 < rate <= 10_000:
                raise ValueError(f"{name}: requests/s must be in (0, 10000], got {rate}")
        return value

    @property
    def odometer_tolerance(self) -> timedelta:
        return timedelta(minutes=self.odometer_tolerance_minutes)

    @property
    def engine_state_margin(self) -> timedelta:
        return timedelta(hours=self.engine_state_margin_hours)
