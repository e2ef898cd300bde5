"""Geotab's records as typed structs, decoded straight from an answer's bytes (no dict and no
pydantic model per record), and the small readings every consumer needs.

Keys are camelCase on the wire and absent keys are omitted, never null: every field is optional
here, and a record that lacks what a row needs is set aside by flatten, not refused here. A
field of the wrong JSON type makes the whole answer a :class:`~fth_core.errors.
ResponseFormatError`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from fth_geotab.wire import UNKNOWN_DRIVER

__all__ = [
    "CHANGES_DECODER",
    "POINTS_DECODER",
    "STATUS_DECODER",
    "DriverChange",
    "LogRecord",
    "Ref",
    "StatusData",
    "clean_vin",
    "driver_id",
]


class Ref(msgspec.Struct, frozen=True):
    """A reference to another entity: ``{"id": ...}`` (other keys ignored)."""

    id: str | None = None


class LogRecord(msgspec.Struct, frozen=True, rename="camel"):
    """A GPS point: position, speed in km/h (a whole number on the wire) and time."""

    id: str | None = None
    device: Ref | None = None
    date_time: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    speed: float | None = None


class StatusData(msgspec.Struct, frozen=True, rename="camel"):
    """One diagnostic reading; ``controller`` (a string or an object) is not read."""

    id: str | None = None
    device: Ref | None = None
    diagnostic: Ref | None = None
    date_time: str | None = None
    data: float | None = None


class DriverChange(msgspec.Struct, frozen=True, rename="camel"):
    """Who drives a device from ``date_time`` on: ``driver`` is an object ``{id, isDriver}``
    or a bare string (``"UnknownDriverId"`` when nobody is logged in)."""

    id: str | None = None
    device: Ref | None = None
    driver: str | Ref | None = None
    date_time: str | None = None


class _Points(msgspec.Struct, frozen=True):
    result: list[LogRecord] | None = None


class _Status(msgspec.Struct, frozen=True):
    result: list[StatusData] | None = None


class _Changes(msgspec.Struct, frozen=True):
    result: list[DriverChange] | None = None


POINTS_DECODER = msgspec.json.Decoder(_Points)
STATUS_DECODER = msgspec.json.Decoder(_Status)
CHANGES_DECODER = msgspec.json.Decoder(_Changes)


def driver_id(driver: str | Ref | None) -> str | None:
    """The driver a change names, or ``None`` for nobody (``UnknownDriverId``, no driver)."""
    value = driver.id if isinstance(driver, Ref) else driver
    return None if not value or value == UNKNOWN_DRIVER else value


def clean_vin(value: Any) -> str | None:
    """A device's VIN, or ``None`` where Geotab has none (``""`` or ``"?"``)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return None if text in ("", "?") else text
