"""Pydantic models of Samsara's response items, one per endpoint, written to accept the real API.

What the real API does and these models tolerate (PROVIDERS.md §2, §6):

* optional fields are *absent*, not null: every field but an item's identity has a default;
* numbers may arrive as ints or floats (``speedMilesPerHour``, fuel figures): measures are
  ``float``;
* timestamps come with second, millisecond or microsecond precision, always UTC ``Z``; they
  parse to timezone-aware UTC datetimes. ``assignedAtTime`` is ``""`` on every assignment row:
  an empty timestamp reads as ``None``;
* open enumerations (engine states, assignment types, activation status, ...) may gain values:
  an unknown value is kept as it came, with an :class:`UnknownEnumValueWarning`, never a
  validation error;
* keys the models do not name are kept (``extra="allow"``), so ``Provider.to_dataframe`` shows
  them too.

Field names are snake_case; the wire's camelCase names are their aliases. The keys of
``externalIds`` are literally dotted (``"samsara.vin"``), so ``external_ids`` stays a plain
``dict[str, str]``.

These models serve ``Provider.fetch_all`` / ``to_dataframe``. The telemetry bulk path never
builds one per GPS reading: it reads page dicts into columns (see :mod:`fth_samsara.telemetry`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from fth_core.models import UnknownEnumValueWarning, UtcDatetime, open_enum, to_utc
from fth_core.models import warn_unknown as fth_warn_unknown

__all__ = [
    "ASSIGNMENT_TYPES",
    "ENGINE_STATES",
    "Address",
    "Driver",
    "DriverVehicleAssignment",
    "EngineStateReading",
    "GpsReading",
    "IdlingEvent",
    "OdometerReading",
    "SamsaraModel",
    "Trip",
    "UnknownEnumValueWarning",
    "Vehicle",
    "VehicleStatsHistory",
]

ENGINE_STATES = frozenset({"On", "Off", "Idle"})
ASSIGNMENT_TYPES = frozenset(
    {
        "static", "HOS", "driverApp", "invalid", "unknown", "idCard", "faceId", "tachograph",
        "safetyManual", "RFID", "trailer", "external", "qrCode", "voiceSignIn", "smartAssign",
    }
)  # fmt: skip
ACTIVATION_STATUSES = frozenset({"active", "deactivated"})
REGULATION_MODES = frozenset({"regulated", "unregulated", "mixed"})
PTO_STATES = frozenset({"inactive", "active"})


def warn_unknown(field: str, value: str, known: frozenset[str]) -> None:
    fth_warn_unknown("Samsara", field, value, known)


def _open_enum(field: str, known: frozenset[str]) -> AfterValidator:
    return open_enum("Samsara", field, known)


def _blank_as_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _quoted_int(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text else None
    return value


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


Timestamp = UtcDatetime
"""RFC 3339 with second, milli- or microsecond precision, as an aware UTC datetime."""
OptionalTimestamp = Annotated[
    datetime | None, BeforeValidator(_blank_as_none), AfterValidator(_utc_or_none)
]
"""A timestamp that may be absent or ``""`` (read as ``None``)."""
QuotedInt = Annotated[int | None, BeforeValidator(_quoted_int)]


class SamsaraModel(BaseModel):
    """Base: camelCase aliases, unknown keys kept, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
        protected_namespaces=(),
    )


class IdName(SamsaraModel):
    """An embedded reference ``{id, name}`` (driver, vehicle)."""

    id: str
    name: str | None = None


class Tag(SamsaraModel):
    id: str
    name: str | None = None
    parent_tag_id: str | None = None


class Gateway(SamsaraModel):
    serial: str | None = None
    model: str | None = None


# --------------------------------------------------------------------------- /fleet/vehicles


class Vehicle(SamsaraModel):
    """``GET /fleet/vehicles``. Unplugged units come in a minimal 7-key form."""

    id: str
    name: str | None = None
    notes: str | None = None
    vin: str | None = None
    make: str | None = None
    model: str | None = None
    year: QuotedInt = None
    serial: str | None = None
    esn: str | None = None
    license_plate: str | None = None
    camera_serial: str | None = None
    external_ids: dict[str, str] | None = None
    gateway: Gateway | None = None
    static_assigned_driver: IdName | None = None
    tags: list[Tag] = Field(default_factory=list)
    harsh_acceleration_setting_type: str | None = None
    vehicle_regulation_mode: Annotated[
        str | None, _open_enum("vehicleRegulationMode", REGULATION_MODES)
    ] = None
    aux_input_type1: str | None = None
    created_at_time: OptionalTimestamp = None
    updated_at_time: OptionalTimestamp = None

    @property
    def samsara_vin(self) -> str | None:
        """The VIN as the telemetry path reads it: ``externalIds["samsara.vin"]``."""
        return (self.external_ids or {}).get("samsara.vin")


# --------------------------------------------------------------------------- /fleet/drivers


class CarrierSettings(SamsaraModel):
    carrier_name: str | None = None
    dot_number: int | None = None
    main_office_address: str | None = None
    home_terminal_name: str | None = None
    home_terminal_address: str | None = None


class HosSetting(SamsaraModel):
    heavy_haul_exemption_toggle_enabled: bool | None = None


class EldSettings(SamsaraModel):
    rulesets: list[dict[str, Any]] = Field(default_factory=list)


class Driver(SamsaraModel):
    """``GET /fleet/drivers`` (active and deactivated; ``driver_activation_status`` says which)."""

    id: str
    name: str | None = None
    username: str | None = None
    driver_activation_status: Annotated[
        str | None, _open_enum("driverActivationStatus", ACTIVATION_STATUSES)
    ] = None
    timezone: str | None = None
    created_at_time: OptionalTimestamp = None
    updated_at_time: OptionalTimestamp = None
    has_vehicle_unpinning_enabled: bool | None = None
    carrier_settings: CarrierSettings | None = None
    hos_setting: HosSetting | None = None
    eld_settings: EldSettings | None = None
    static_assigned_vehicle: IdName | None = None
    peer_group_tag: Tag | None = None
    vehicle_group_tag: Tag | None = None
    license_number: str | None = None
    license_state: str | None = None
    phone: str | None = None
    locale: str | None = None
    notes: str | None = None
    profile_image_url: str | None = None
    eld_exempt: bool | None = None
    eld_exempt_reason: str | None = None
    eld_adverse_weather_exemption_enabled: bool | None = None
    eld_big_day_exemption_enabled: bool | None = None
    eld_pc_enabled: bool | None = None
    eld_ym_enabled: bool | None = None
    waiting_time_duty_status_enabled: bool | None = None
    tags: list[Tag] = Field(default_factory=list)
    external_ids: dict[str, str] | None = None


# --------------------------------------------------------------------------- stats/history


class ReverseGeo(SamsaraModel):
    formatted_location: str | None = None


class GpsAddress(SamsaraModel):
    id: str | None = None
    name: str | None = None


class GpsReading(SamsaraModel):
    time: Timestamp
    latitude: float
    longitude: float
    heading_degrees: float | None = None
    speed_miles_per_hour: float | None = None
    is_ecu_speed: bool | None = None
    reverse_geo: ReverseGeo | None = None
    address: GpsAddress | None = None


class EngineStateReading(SamsaraModel):
    time: Timestamp
    value: Annotated[str, _open_enum("engineStates.value", ENGINE_STATES)]


class OdometerReading(SamsaraModel):
    time: Timestamp
    value: float  # meters; integers on the wire


class VehicleStatsHistory(SamsaraModel):
    """One vehicle of ``GET /fleet/vehicles/stats/history``: one list per requested type.

    A type without readings is absent (an empty list here); other types' lists are kept as
    extra fields.
    """

    id: str
    name: str | None = None
    external_ids: dict[str, str] | None = None
    gps: list[GpsReading] = Field(default_factory=list)
    engine_states: list[EngineStateReading] = Field(default_factory=list)
    obd_odometer_meters: list[OdometerReading] = Field(default_factory=list)


# --------------------------------------------------------------------------- assignments


class AssignmentVehicle(IdName):
    external_ids: dict[str, str] | None = None


class DriverVehicleAssignment(SamsaraModel):
    """``GET /fleet/driver-vehicle-assignments``; ``end_time`` is ``None`` while ongoing."""

    driver: IdName
    vehicle: AssignmentVehicle
    start_time: Timestamp
    end_time: OptionalTimestamp = None
    assigned_at_time: OptionalTimestamp = None
    assignment_type: Annotated[str | None, _open_enum("assignmentType", ASSIGNMENT_TYPES)] = None
    is_passenger: bool = False


# --------------------------------------------------------------------------- /v1/fleet/trips


class Coordinates(SamsaraModel):
    latitude: float | None = None
    longitude: float | None = None


class TripAddress(SamsaraModel):
    id: int | None = None
    name: str | None = None
    address: str | None = None


class Trip(SamsaraModel):
    """``GET /v1/fleet/trips`` (legacy v1). Carries no vehicle id: the request names it."""

    start_ms: int
    end_ms: int
    distance_meters: float | None = None
    fuel_consumed_ml: float | None = None
    toll_meters: float | None = None
    start_odometer: float | None = None
    end_odometer: float | None = None
    driver_id: int | None = None  # 0 = no driver
    start_location: str | None = None
    end_location: str | None = None
    start_coordinates: Coordinates | None = None
    end_coordinates: Coordinates | None = None
    start_address: TripAddress | None = None
    end_address: TripAddress | None = None
    asset_ids: list[int] = Field(default_factory=list)
    codriver_ids: list[int] = Field(default_factory=list)

    @property
    def start_time(self) -> datetime:
        return datetime.fromtimestamp(self.start_ms / 1000, tz=UTC)

    @property
    def end_time(self) -> datetime:
        return datetime.fromtimestamp(self.end_ms / 1000, tz=UTC)


# --------------------------------------------------------------------------- /idling/events


class AssetRef(SamsaraModel):
    id: int  # a bare int here, unlike the string vehicle ids elsewhere


class Money(SamsaraModel):
    amount: str | None = None
    currency: str | None = None


class IdlingAddress(SamsaraModel):
    id: str | None = None
    address_types: list[str] = Field(default_factory=list)


class IdlingEvent(SamsaraModel):
    """``GET /idling/events``: matched by start time; the end is start + duration."""

    event_uuid: str
    start_time: Timestamp
    duration_milliseconds: int
    asset: AssetRef | None = None
    latitude: float | None = None
    longitude: float | None = None
    pto_state: Annotated[str | None, _open_enum("ptoState", PTO_STATES)] = None
    fuel_consumed_milliliters: float | None = None
    fuel_cost: Money | None = None
    gaseous_fuel_consumed_grams: float | None = None
    gaseous_fuel_cost: Money | None = None
    operator: AssetRef | None = None
    air_temperature_millicelsius: float | None = None
    address: IdlingAddress | None = None

    @property
    def end_time(self) -> datetime:
        return self.start_time + timedelta(milliseconds=self.duration_milliseconds)


# --------------------------------------------------------------------------- /addresses


class Circle(SamsaraModel):
    latitude: float | None = None
    longitude: float | None = None
    radius_meters: float | None = None


class Polygon(SamsaraModel):
    vertices: list[Coordinates] = Field(default_factory=list)


class Geofence(SamsaraModel):
    circle: Circle | None = None
    polygon: Polygon | None = None


class Address(SamsaraModel):
    """``GET /addresses``: named places with a geofence."""

    id: str
    name: str | None = None
    formatted_address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    geofence: Geofence | None = None
    notes: str | None = None
    address_types: list[str] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    contacts: list[dict[str, Any]] = Field(default_factory=list)
    external_ids: dict[str, str] | None = None
    created_at_time: OptionalTimestamp = None
