"""Geotab-specific options: ``providers.geotab.options`` in the fth config."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from fth_geotab.wire import GET_CAP

__all__ = ["DEFAULT_ODOMETER_TOLERANCE", "DEFAULT_STATUS_MARGIN", "GeotabSettings"]

DEFAULT_ODOMETER_TOLERANCE = timedelta(minutes=30)
# Ignition and driver changes are events: the one in force when a window opens may be hours
# old. A vehicle parked overnight sends none for up to ~20 h in the simulated fleet, so look
# back a full day.
DEFAULT_STATUS_MARGIN = timedelta(hours=24)


class GeotabSettings(BaseModel):
    """Options of the Geotab provider (all optional).

    ``odometer_tolerance_minutes``: an odometer reading is used for a GPS point when it is at
    most this far from the point in time (the nearest one wins; no interpolation).
    ``status_margin_hours``: how far before a window the ignition and driver-change searches
    start, so the state already in force at the window's start is known. Beyond it, null.
    ``slice_records``: how many records one ``Get`` of a time slice is sized for, on average
    over the window; a slice whose answer reaches the server's silent cap (5,000) is split and
    asked again. Slices are equal in time and fleets drive by day, so the busiest slices hold
    about twice the average: 2,000 leaves that headroom below the cap.
    ``batch_points``: GPS points per telemetry batch handed to flatten (bounds memory).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    odometer_tolerance_minutes: float = Field(
        default=DEFAULT_ODOMETER_TOLERANCE.total_seconds() / 60,
        gt=0,
        le=24 * 60,
        description="nearest odometer reading within this many minutes (no interpolation)",
    )
    status_margin_hours: float = Field(
        default=DEFAULT_STATUS_MARGIN.total_seconds() / 3600,
        ge=0,
        le=7 * 24,
        description="look-back for the ignition and driver in force at a window's start",
    )
    slice_records: int = Field(
        default=2_000, ge=100, lt=GET_CAP, description="records one Get of a time slice aims at"
    )
    batch_points: int = Field(
        default=250_000, ge=1, description="GPS points per batch handed to flatten"
    )

    @property
    def odometer_tolerance(self) -> timedelta:
        return timedelta(minutes=self.odometer_tolerance_minutes)

    @property
    def status_margin(self) -> timedelta:
        return timedelta(hours=self.status_margin_hours)
