"""Pydantic models of Motive's response records, written to accept what the real API sends.

Rules every model follows (facts from PROVIDERS.md §1 and §6):

* Unknown keys are ignored: Motive adds fields without notice.
* Fields documented or observed as nullable are ``| None``; keys that only some records carry
  (the 39 driver-only keys of ``/v1/users``) default to ``None`` because they are *absent*,
  not null, on admins and fleet users.
* Enumerations stay plain strings. A value outside the documented set is kept as is and
  reported with an :class:`UnknownEnumValueWarning`, so a new Motive value never fails a page.
* Date-times are timezone-aware UTC: ``Z`` and ``±HH:MM`` offsets (``X-Time-Zone`` rendering)
  are converted; a value without an offset is read as UTC, the zone Motive documents.

These models serve the typed API (``Provider.fetch_all``, ``to_dataframe``). The telemetry bulk
path never builds one per GPS point: it decodes ``vehicle_locations`` into the msgspec Structs of
:mod:`fth_motive.wire` (see :mod:`fth_motive.telemetry`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from fth_core.models import UnknownEnumValueWarning, UtcDatetime, open_enum
from fth_motive.conventions import LOCATION_TYPES

__all__ = [
    "DrivingPeriod",
    "EldDeviceInfo",
    "Group",
    "IdleEvent",
    "UnknownEnumValueWarning",
    "User",
    "UserSummary",
    "Vehicle",
    "VehicleLocation",
    "VehicleSummary",
    "VehicleUtilization",
]


def _open_enum(field: str, *known: str) -> AfterValidator:
    return open_enum("Motive", field, known)


UserStatus = Annotated[str, _open_enum("user status", "active", "deactivated")]
UserRole = Annotated[str, _open_enum("user role", "driver", "admin", "fleet_user")]
VehicleStatus = Annotated[str, _open_enum("vehicle status", "active", "inactive", "deactivated")]
AvailabilityStatus = Annotated[
    str, _open_enum("availability status", "in_service", "out_of_service")
]
LocationType = Annotated[
    str,
    _open_enum("location type", *LOCATION_TYPES),
]
DrivingPeriodStatus = Annotated[str, _open_enum("driving period status", "complete", "in_progress")]
DrivingPeriodType = Annotated[str, _open_enum("driving period type", "driving")]
IdleEndType = Annotated[str, _open_enum("idle event end_type", "engine_stop", "vehicle_moving")]
DutyStatus = Annotated[str, _open_enum("duty status", "on_duty", "off_duty", "driving")]
EldMode = Annotated[str, _open_enum("eld mode", "logs", "none", "exempt")]


class MotiveModel(BaseModel):
    """Base of every Motive record: unknown keys ignored, instances immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# -- shared embedded references --------------------------------------------------------------


class UserSummary(MotiveModel):
    """The 8-key user reference embedded in locations, events, groups and vehicles."""

    id: int
    first_name: str
    last_name: str
    username: str | None = None
    email: str | None = None
    driver_company_id: str | None = None
    status: UserStatus | None = None
    role: UserRole | None = None

    @property
    def full_name(self) -> str:
        """``"First Last"``, the form the unified ``driver_name`` column uses."""
        return f"{self.first_name} {self.last_name}".strip()


class VehicleSummary(MotiveModel):
    """The 7-key vehicle reference; ``year`` is a quoted integer, ``"0"`` or ``""`` if unset."""

    id: int
    number: str | None = None
    year: str | None = None
    make: str | None = None
    model: str | None = None
    vin: str | None = None
    metric_units: bool = False

    @property
    def model_year(self) -> int | None:
        """``year`` as an integer; ``None`` when not configured (``"0"``, ``""``, null)."""
        return _model_year(self.year)


class EldDeviceInfo(MotiveModel):
    id: int
    identifier: str | None = None
    model: str | None = None


def _model_year(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    year = int(text)
    return year or None


# -- /v1/vehicles ------------------------------------------------------------------------------


class AvailabilityDetails(MotiveModel):
    availability_status: AvailabilityStatus | None = None
    updated_at: UtcDatetime | None = None


class Vehicle(MotiveModel):
    """One ``/v1/vehicles`` record (the roster lists every status: active, deactivated, ...).

    ``id`` is optional so that one record arriving without it does not fail the roster page:
    the telemetry fetch cannot ask for such a vehicle's locations and quarantines it instead.
    """

    id: int | None = None
    company_id: int | None = None
    number: str
    status: VehicleStatus
    ifta: bool | None = None
    vin: str | None = None
    make: str | None = None
    model: str | None = None
    year: str | None = None
    license_plate_state: str | None = None
    license_plate_number: str | None = None
    license_plate_country_code: str | None = None
    metric_units: bool = False
    fuel_type: str | None = None
    prevent_auto_odometer_entry: bool | None = None
    incab_alert_live_stream_enable: int | None = None
    driver_facing_camera: int | None = None
    incab_audio_recording: int | None = None
    group_ids: list[int] = Field(default_factory=list)
    notes: str | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    permanent_driver: UserSummary | None = None
    current_driver: UserSummary | None = None
    availability_details: AvailabilityDetails | None = None
    eld_device: EldDeviceInfo | None = None
    carb_ctc_test_enabled: bool | None = None
    carb_ctc_emission_status: str | None = None
    registration_expiry_date: str | None = None

    @property
    def model_year(self) -> int | None:
        return _model_year(self.year)


# -- /v3/vehicle_locations/{vehicle_id} --------------------------------------------------------


class VehicleLocation(MotiveModel):
    """One breadcrumb. Speed and odometers are in the units the request asked for with
    ``X-Metric-Units`` (km/h and km when true, mph and miles when false)."""

    id: str
    located_at: UtcDatetime
    lat: float | None = None
    lon: float | None = None
    type: LocationType | None = None
    description: str | None = None
    speed: float | None = None
    bearing: float | None = None
    battery_voltage: float | None = None
    odometer: float | None = None
    true_odometer: float | None = None
    engine_hours: float | None = None
    true_engine_hours: float | None = None
    fuel: float | None = None
    fuel_primary_remaining_percentage: float | None = None
    fuel_secondary_remaining_percentage: float | None = None
    veh_range: float | None = None
    hvb_state_of_charge: float | None = None
    hvb_lifetime_energy_output: float | None = None
    hvb_charge_status: str | None = None
    hvb_charge_source: str | None = None
    driver: UserSummary | None = None
    eld_device: EldDeviceInfo | None = None

    @property
    def best_odometer(self) -> float | None:
        """The ECM ``true_odometer`` when present, else the calculated ``odometer``."""
        return self.true_odometer if self.true_odometer is not None else self.odometer


# -- /v1/driving_periods -----------------------------------------------------------------------


class DrivingPeriod(MotiveModel):
    """A drive. In-progress periods (``status="in_progress"``) null every end-side field."""

    id: int
    start_time: UtcDatetime
    end_time: UtcDatetime | None = None
    status: DrivingPeriodStatus | None = None
    type: DrivingPeriodType | None = None
    annotation_status: int | None = None
    notes: str | None = None
    duration: float | None = None
    start_kilometers: float | None = None
    end_kilometers: float | None = None
    driver: UserSummary | None = None
    vehicle: VehicleSummary | None = None
    origin: str | None = None
    origin_lat: float | None = None
    origin_lon: float | None = None
    destination: str | None = None
    destination_lat: float | None = None
    destination_lon: float | None = None
    distance: str | None = None
    source: str | None = None
    start_hvb_state_of_charge: float | None = None
    end_hvb_state_of_charge: float | None = None
    start_hvb_lifetime_energy_output: float | None = None
    end_hvb_lifetime_energy_output: float | None = None


# -- /v1/idle_events ---------------------------------------------------------------------------


class IdleEvent(MotiveModel):
    """An idling stretch; ``city``/``state``/``rg_brg``/``rg_km`` are null when no place
    matched."""

    id: int
    start_time: UtcDatetime
    end_time: UtcDatetime
    veh_fuel_start: float | None = None
    veh_fuel_end: float | None = None
    lat: float | None = None
    lon: float | None = None
    city: str | None = None
    state: str | None = None
    rg_brg: str | None = None
    rg_km: float | None = None
    rg_match: bool | None = None
    end_type: IdleEndType | None = None
    driver: UserSummary | None = None
    vehicle: VehicleSummary | None = None
    eld_device: EldDeviceInfo | None = None
    location: str | None = None


# -- /v1/groups --------------------------------------------------------------------------------


class Group(MotiveModel):
    """A node of the group tree (``parent_id`` null at the root)."""

    id: int
    company_id: int | None = None
    name: str
    parent_id: int | None = None
    user: UserSummary | None = None


# -- /v1/users ---------------------------------------------------------------------------------


class User(MotiveModel):
    """A user of any role. Driver-only keys are absent on admins and fleet users, so they
    default to ``None`` here; the three admin-only keys are always null on the wire."""

    id: int
    first_name: str
    last_name: str
    email: str | None = None
    phone: str | None = None
    phone_country_code: str | None = None
    company_reference_id: str | None = None
    role: UserRole
    status: UserStatus
    group_ids: list[int] = Field(default_factory=list)
    metric_units: bool = False
    time_zone: str | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    mobile_current_sign_in_at: UtcDatetime | None = None
    mobile_last_active_at: UtcDatetime | None = None
    mobile_last_sign_in_at: UtcDatetime | None = None
    web_current_sign_in_at: UtcDatetime | None = None
    web_last_active_at: UtcDatetime | None = None
    web_last_sign_in_at: UtcDatetime | None = None
    external_ids: list[dict[str, str]] | None = None
    phone_ext: str | None = None
    # admin / fleet_user only (always null when present)
    expires_at: UtcDatetime | None = None
    phone2: str | None = None
    phone_country_code2: str | None = None
    # driver only (absent on other roles)
    username: str | None = None
    driver_company_id: str | None = None
    drivers_license_number: str | None = None
    drivers_license_state: str | None = None
    joined_at: date | None = None
    duty_status: DutyStatus | None = None
    eld_mode: EldMode | None = None
    cycle: str | None = None
    cycle2: str | None = None
    violation_alerts: str | None = None
    carrier_name: str | None = None
    carrier_street: str | None = None
    carrier_city: str | None = None
    carrier_state: str | None = None
    carrier_zip: str | None = None
    terminal_street: str | None = None
    terminal_city: str | None = None
    terminal_state: str | None = None
    terminal_zip: str | None = None
    manual_driving_enabled: bool | None = None
    minute_logs: bool | None = None
    personal_conveyance_enabled: bool | None = None
    yard_moves_enabled: bool | None = None
    associated_dispatcher_id: int | None = None
    export_combined: bool | None = None
    export_odometers: bool | None = None
    export_recap: bool | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_driver(self) -> bool:
        return self.role == "driver"


# -- /v2/vehicle_utilization -------------------------------------------------------------------


class VehicleUtilization(MotiveModel):
    """One vehicle's roll-up over the requested window (the window is the row's identity).

    ``last_located_at`` stays text: its format is unprobed (a fixture shows a ``-05:00``
    offset). Distances and fuel follow ``X-Metric-Units``; times are seconds.
    """

    driving_fuel: float | None = None
    driving_time: float | None = None
    idle_fuel: float | None = None
    idle_time: float | None = None
    total_distance: float | None = None
    total_fuel: float | None = None
    utilization_percentage: float | None = None
    last_located_at: str | None = None
    message: str | None = None
    vehicle: VehicleSummary
