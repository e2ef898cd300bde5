"""The Motive simulator: the shared simulated fleet rendered in Motive's wire format.

:class:`MotiveSimulator` answers the seven endpoints of :mod:`fth_motive.endpoints` the way
PROVIDERS.md §1 records the real API:

* ``X-Api-Key`` auth; a missing or wrong key gets ``401 {"error_message": "invalid API key"}``.
* Wrapped lists (``{"vehicles": [{"vehicle": {...}}]}``) with ``page_no``/``per_page`` paging:
  ``per_page`` defaults to 25 and is capped at 100 (the echo shows what was used), and a page
  past the end is an empty list with the pagination block intact.
* ``start_date``/``end_date`` inclusive at both ends. Location days are days in
  ``location_day_zone`` (UTC by default; Motive's real choice is unknown), driving periods
  match by start time on UTC days, idle events by overlap on company-local days, utilization
  rolls up company-local days.
* Caps: locations at three calendar months (the error text is not recorded anywhere; this
  simulator answers ``400 {"error_message": "Date range cannot be greater than 3 months"}``),
  driving periods at 30 days (``400 {"error_message": "Date range cannot be greater than 30
  days"}``, exactly 30 accepted).
* Units: by default ``X-Metric-Units`` governs (a missing header means the vehicle's own
  setting); with ``units_follow_vehicle=True`` the vehicle's ``metric_units`` governs whatever
  the header says. Metric answers are in km/h and km.
* Data quirks from the fleet: missing VINs, deactivated vehicles (listed, no points), null
  drivers, late uploads (``as_of``), plus a null ``true_odometer`` on some points (the
  calculated ``odometer`` then carries the exact value) and, with ``render_time_zone``,
  ``located_at`` rendered with ``±HH:MM`` offsets as ``X-Time-Zone`` would.

Each location's ``type`` is chosen from the fleet's engine state so that
:func:`fth_motive.conventions.engine_states` gives that state back: Off → ``ignition_off`` or
``engine_stop`` at the moment the engine stops, ``gps_stopped`` while parked; Idle →
``ignition_on`` or ``engine_start`` at start-up, ``vehicle_stopped`` when a drive pauses,
``breadcrumb`` (speed 0) in between; On → ``vehicle_moving`` at the departure sample (speed 0),
``breadcrumb`` or ``gps_moving`` while moving.

With ``bad_records`` (:class:`fth_core.sim.BadRecords`) it also serves bad records: locations
with a latitude out of range, a ``located_at`` that does not parse, or a ``type`` outside the
documented ones (``tow_mode``), and roster records without ``id``. Motive's locations carry no
vehicle id (the vehicle is in the path), so a missing id can only be the roster's.
:meth:`MotiveSimulator.expected_quarantine` lists what fth must set aside: the bad locations of
the window (for a client asking for exactly the window's days) and, per window, one row for each
roster vehicle without an id, whose locations cannot be asked for.

Latency, server-side rate limits (answered by :meth:`MotiveSimulator.rate_limited`) and faults
come from :class:`fth_core.sim.SimServer`.
"""

from __future__ import annotations

import calendar
import itertools
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.schema import (
    MISSING_VEHICLE_ID,
    QUARANTINE_SCHEMA,
    REASON,
    concat_telemetry,
    split_quarantined,
)
from fth_core.sim import (
    BadRecords,
    Fleet,
    SimDriver,
    SimRequest,
    SimResponse,
    SimulatedProvider,
    SimVehicle,
)
from fth_core.sim.bad_records import ENGINE_STATE, LATITUDE, TIMESTAMP
from fth_motive.conventions import KM_PER_MILE, METRIC_UNITS_HEADER, PROVIDER_NAME

__all__ = ["UNKNOWN_LOCATION_TYPE", "MotiveSimulator"]

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]

_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LITRES_PER_GALLON = 3.785411784
_MPG = 6.5
_IDLE_GALLONS_PER_HOUR = 0.8
_DEFAULT_PER_PAGE = 25
_MAX_PER_PAGE = 100
_LOCATION_MONTHS = 3
_DRIVING_PERIOD_DAYS = 30
_CACHE_SIZE = 32

_LOCATIONS_PATH = re.compile(r"^/v3/vehicle_locations/([^/]+)/?$")
_RAILS_ZONES = {
    "America/New_York": "Eastern Time (US & Canada)",
    "America/Chicago": "Central Time (US & Canada)",
    "America/Denver": "Mountain Time (US & Canada)",
    "America/Phoenix": "Arizona",
    "America/Los_Angeles": "Pacific Time (US & Canada)",
    "UTC": "UTC",
}
# Location sensors the simulated vehicles do not have: always null.
_ABSENT_SENSORS = (
    "fuel",
    "fuel_primary_remaining_percentage",
    "fuel_secondary_remaining_percentage",
    "veh_range",
    "hvb_state_of_charge",
    "hvb_lifetime_energy_output",
    "hvb_charge_status",
    "hvb_charge_source",
)
_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
# The location type bad records carry: not one of Motive's documented types.
UNKNOWN_LOCATION_TYPE = "tow_mode"
_ADMINS = (
    ("Dana", "Whitaker", "admin"),
    ("Priya", "Raman", "admin"),
    ("Tom", "Okafor", "fleet_user"),
    ("Grace", "Lindqvist", "fleet_user"),
    ("Marco", "Bellini", "admin"),
)


class _BadRequest(Exception):
    """A 400 with Motive's flat error body."""


def _error(status: int, message: str) -> SimResponse:
    return SimResponse.json(status, {"error_message": message})


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_utc(us: _I64) -> list[str]:
    seconds = us.astype("datetime64[us]").astype("datetime64[s]")
    return [text + "Z" for text in np.datetime_as_string(seconds, unit="s").tolist()]


def _iso_zone(us: _I64, zone: str) -> list[str]:
    index = pd.DatetimeIndex(us.astype("datetime64[us]")).tz_localize("UTC").tz_convert(zone)
    return [text[:-2] + ":" + text[-2:] for text in index.strftime("%Y-%m-%dT%H:%M:%S%z")]


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _add_months(day: date, months: int) -> date:
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _column(table: Any, name: str) -> Any:
    return table.column(name).to_numpy()


def _compass(north: float, east: float) -> str:
    angle = math.degrees(math.atan2(east, north)) % 360.0
    return _COMPASS[round(angle / 45.0) % 8]


class MotiveSimulator(SimulatedProvider):
    """Motive's API over a :class:`~fth_core.sim.Fleet` (see the module doc).

    :param units_follow_vehicle: the vehicle's own ``metric_units`` decides a record's units
        instead of the ``X-Metric-Units`` header (the other reading of PROVIDERS.md §6).
    :param location_day_zone: the zone of ``/v3/vehicle_locations`` days.
    :param company_time_zone: the company's zone: idle-event and utilization days.
    :param render_time_zone: render ``located_at`` with offsets in this zone (``None``: UTC
        with ``Z``, as Motive does without ``X-Time-Zone``).
    :param retry_after_header: send ``Retry-After`` with 429s (Motive's 429 is unrecorded).
    :param bad_records: serve these bad records (see the module doc).
    """

    name = PROVIDER_NAME

    def __init__(
        self,
        fleet: Fleet,
        api_key: str = "sim-key",
        as_of: datetime | None = None,
        *,
        units_follow_vehicle: bool = False,
        location_day_zone: str = "UTC",
        company_time_zone: str = "America/Chicago",
        render_time_zone: str | None = None,
        retry_after_header: bool = True,
        company_id: int = 31337,
        bad_records: BadRecords | None = None,
    ) -> None:
        super().__init__(fleet, api_key, as_of, bad_records=bad_records)
        self.units_follow_vehicle = units_follow_vehicle
        self.location_day_zone = location_day_zone
        self.company_time_zone = company_time_zone
        self.render_time_zone = render_time_zone
        self.retry_after_header = retry_after_header
        self.company_id = company_id
        self._location_tz = ZoneInfo(location_day_zone)
        self._company_tz = ZoneInfo(company_time_zone)
        self._cache: OrderedDict[Hashable, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._vehicle_refs = {v.id: self._vehicle_summary(v) for v in fleet.vehicles}
        self._driver_refs = {d.id: self._user_summary(d) for d in fleet.drivers}
        self._groups = self._build_groups()

    # -- SimulatedProvider --------------------------------------------------------------------

    def authorized(self, request: SimRequest) -> bool:
        return request.header("X-Api-Key") == self.api_key

    def unauthorized(self, request: SimRequest) -> SimResponse:
        return _error(401, "invalid API key")

    def rate_limited(self, retry_after: float) -> SimResponse:
        headers = {"Retry-After": f"{retry_after:g}"} if self.retry_after_header else {}
        return SimResponse.json(429, {"error_message": "Too Many Requests"}, headers)

    def expected_telemetry(self, start: datetime, end: datetime) -> pa.Table:
        """Every fleet point of ``[start, end)`` available now, in mph and miles, but the bad
        records: the simulator serves each of them, on whatever day boundaries a client asks
        for."""
        return self._expected(start, end)[0]

    def expected_quarantine(self, start: datetime, end: datetime) -> pa.Table:
        return self._expected(start, end)[1]

    def _expected(self, start: datetime, end: datetime) -> tuple[pa.Table, pa.Table]:
        """(rows to store, rows to set aside) of ``[start, end)``: ground truth as the wire
        carries it, each bad record with its reason."""
        truth = self.fleet.telemetry(PROVIDER_NAME, start, end, as_of=self.now())
        bad = self.bad_records
        if bad is None:
            return truth, QUARANTINE_SCHEMA.empty_table()
        indices = {v.id: v.index for v in self.fleet.vehicles}
        ids = truth.column("provider_vehicle_id").to_pylist()
        index = np.array([indices[v] for v in ids], dtype=np.int64)
        ts = np.asarray(pc.cast(truth.column("timestamp"), pa.int64()).to_numpy())
        chosen = bad.choose(index, ts)
        unreadable = np.flatnonzero(chosen[TIMESTAMP])
        texts = BadRecords.timestamps(self._located_at(ts[unreadable]))
        reason = np.full(truth.num_rows, None, dtype=object)
        reason[chosen[LATITUDE]] = "latitude out of range"
        reason[unreadable] = [f"unparseable timestamp '{text}'" for text in texts]
        reason[chosen[ENGINE_STATE]] = f"unknown location type '{UNKNOWN_LOCATION_TYPE}'"
        latitude = truth.column("latitude").to_numpy()
        columns = {name: truth.column(name) for name in truth.column_names} | {
            "latitude": np.where(chosen[LATITUDE], BadRecords.latitude(latitude), latitude),
            "timestamp": pc.if_else(chosen[TIMESTAMP], None, truth.column("timestamp")),
            "engine_state": pc.if_else(
                chosen[ENGINE_STATE], None, truth.column("engine_state").cast(pa.string())
            ),
            REASON: pa.array(reason, type=pa.string()),
        }
        # A vehicle the roster lists without an id is never asked for: none of its points
        # arrive, and each window sets the roster record aside.
        fetched = pa.table(columns).filter(~bad.without_id(index))
        stored, set_aside = split_quarantined(fetched, PROVIDER_NAME)
        nameless = [v for v in self.fleet.vehicles if bad.without_id(v.index)]
        roster = {
            "vin": [v.vin for v in nameless],
            "fleet_number": [v.fleet_number for v in nameless],
            REASON: [MISSING_VEHICLE_ID] * len(nameless),
        }
        _, unnamed = split_quarantined(roster, PROVIDER_NAME)
        return stored, concat_telemetry([set_aside, unnamed], QUARANTINE_SCHEMA)

    def handle(self, request: SimRequest) -> SimResponse:
        if request.method != "GET":
            return _error(404, "Not Found")
        path = request.path.rstrip("/") or "/"
        routes: dict[str, Callable[[SimRequest], SimResponse]] = {
            "/v1/vehicles": self._vehicles,
            "/v1/groups": self._groups_page,
            "/v1/users": self._users,
            "/v2/vehicle_utilization": self._utilization,
            "/v1/driving_periods": self._driving_periods,
            "/v1/idle_events": self._idle_events,
        }
        try:
            route = routes.get(path)
            if route is not None:
                return route(request)
            match = _LOCATIONS_PATH.match(path)
            if match:
                return self._locations(request, match.group(1))
        except _BadRequest as exc:
            return _error(400, str(exc))
        return _error(404, "Not Found")

    # -- request helpers ----------------------------------------------------------------------

    def _metric(self, request: SimRequest, vehicle: SimVehicle | None) -> bool:
        if self.units_follow_vehicle and vehicle is not None:
            return vehicle.metric_units
        header = request.header(METRIC_UNITS_HEADER)
        if header is not None:
            return header.strip().lower() == "true"
        return vehicle.metric_units if vehicle is not None else False

    def _units_key(self, request: SimRequest) -> Hashable:
        if self.units_follow_vehicle:
            return "vehicle"
        header = request.header(METRIC_UNITS_HEADER)
        return None if header is None else header.strip().lower() == "true"

    @staticmethod
    def _day(request: SimRequest, name: str) -> date | None:
        text = request.arg(name)
        if text is None or text == "":
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise _BadRequest(f"Invalid date format for {name}: {text}") from None

    def _days(self, request: SimRequest) -> tuple[date, date]:
        start, end = self._day(request, "start_date"), self._day(request, "end_date")
        if start is None or end is None:
            raise _BadRequest("start_date and end_date are required")
        if end < start:
            raise _BadRequest("end_date must be on or after start_date")
        return start, end

    @staticmethod
    def _local_span(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """``[midnight of first, midnight after last)`` in ``tz``, as UTC."""
        low = datetime.combine(first, time(), tzinfo=tz).astimezone(UTC)
        high = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
        return low, high

    def _now_key(self) -> Hashable:
        # With a real clock, cached listings are reused for at most a minute.
        return self.as_of if self.as_of is not None else int(self.now().timestamp() // 60)

    def _cached(
        self, key: Hashable, build: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        key = (key, self._now_key())
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        records = build()
        with self._lock:
            self._cache[key] = records
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return records

    @staticmethod
    def _page(
        request: SimRequest, plural: str, singular: str, records: list[dict[str, Any]]
    ) -> SimResponse:
        try:
            per_page = int(request.arg("per_page") or _DEFAULT_PER_PAGE)
            page_no = int(request.arg("page_no") or 1)
        except ValueError:
            raise _BadRequest("page_no and per_page must be integers") from None
        if per_page < 1 or page_no < 1:
            raise _BadRequest("page_no and per_page must be positive")
        per_page = min(per_page, _MAX_PER_PAGE)
        chunk = records[(page_no - 1) * per_page : page_no * per_page]
        return SimResponse.json(
            200,
            {
                plural: [{singular: record} for record in chunk],
                "pagination": {"per_page": per_page, "page_no": page_no, "total": len(records)},
            },
        )

    # -- shared references --------------------------------------------------------------------

    @staticmethod
    def _vehicle_summary(vehicle: SimVehicle) -> dict[str, Any]:
        return {
            "id": int(vehicle.id),
            "number": vehicle.fleet_number,
            "year": "0" if vehicle.index % 23 == 11 else str(vehicle.year),
            "make": vehicle.make,
            "model": vehicle.model,
            "vin": vehicle.vin,
            "metric_units": vehicle.metric_units,
        }

    @staticmethod
    def _user_summary(driver: SimDriver) -> dict[str, Any]:
        return {
            "id": int(driver.id),
            "first_name": driver.first_name,
            "last_name": driver.last_name,
            "username": driver.username,
            "email": f"{driver.username}@example.com",
            "driver_company_id": f"D{driver.index + 1:05d}",
            "status": driver.status,
            "role": "driver",
        }

    @staticmethod
    def _eld(vehicle: SimVehicle) -> dict[str, Any]:
        return {
            "id": 700_000 + vehicle.index,
            "identifier": vehicle.serial.replace("-", ""),
            "model": "lbb-3.6ca",
        }

    def _driver_ref(self, driver_id: str | None) -> dict[str, Any] | None:
        return None if driver_id is None else self._driver_refs[driver_id]

    def _admin_ids(self) -> list[int]:
        return [900_001 + i for i in range(len(_ADMINS))]

    def _admin_summary(self, i: int) -> dict[str, Any]:
        first, last, role = _ADMINS[i]
        return {
            "id": self._admin_ids()[i],
            "first_name": first,
            "last_name": last,
            "username": None,
            "email": f"{first.lower()}.{last.lower()}@example.com",
            "driver_company_id": None,
            "status": "active",
            "role": role,
        }

    def _created_at(self) -> str:
        return _iso(datetime.combine(self.fleet.epoch, time(), tzinfo=UTC) - timedelta(days=400))

    # -- /v1/groups ---------------------------------------------------------------------------

    def _build_groups(self) -> list[dict[str, Any]]:
        owner = self._admin_summary(0)
        groups = [
            {"id": 1000, "company_id": self.company_id, "name": "All vehicles",
             "parent_id": None, "user": owner},
        ]  # fmt: skip
        hubs = sorted({v.home_city for v in self.fleet.vehicles})
        for i, city in enumerate(hubs):
            groups.append(
                {"id": 1001 + i, "company_id": self.company_id, "name": f"{city} depot",
                 "parent_id": 1000, "user": owner}
            )  # fmt: skip
        groups.append(
            {"id": 1001 + len(hubs), "company_id": self.company_id, "name": "Retired",
             "parent_id": 1000, "user": self._admin_summary(1)}
        )  # fmt: skip
        return groups

    def _group_id(self, vehicle: SimVehicle) -> int:
        if vehicle.status != "active":
            return int(self._groups[-1]["id"])
        for group in self._groups:
            if group["name"] == f"{vehicle.home_city} depot":
                return int(group["id"])
        return 1000

    def _groups_page(self, request: SimRequest) -> SimResponse:
        return self._page(request, "groups", "group", self._groups)

    # -- /v1/vehicles -------------------------------------------------------------------------

    def _vehicles(self, request: SimRequest) -> SimResponse:
        return self._page(request, "vehicles", "vehicle", self._cached("vehicles", self._roster))

    def _roster(self) -> list[dict[str, Any]]:
        created = self._created_at()
        records = []
        for v in sorted(self.fleet.vehicles, key=lambda v: int(v.id)):
            active = v.status == "active"
            records.append(
                {
                    "id": int(v.id),
                    "company_id": self.company_id,
                    "number": v.fleet_number,
                    "status": v.status,
                    "ifta": True,
                    "vin": v.vin,
                    "make": v.make,
                    "model": v.model,
                    "year": self._vehicle_refs[v.id]["year"],
                    "license_plate_state": v.home_city[-2:],
                    "license_plate_number": f"{v.serial[:4]}{v.index:03d}",
                    "license_plate_country_code": "US",
                    "metric_units": v.metric_units,
                    "fuel_type": "diesel" if v.index % 3 else "Diesel",
                    "prevent_auto_odometer_entry": False,
                    "incab_alert_live_stream_enable": -1,
                    "driver_facing_camera": 1 if v.index % 2 else -1,
                    "incab_audio_recording": -1,
                    "group_ids": [self._group_id(v)],
                    "notes": None,
                    "created_at": created,
                    "updated_at": created,
                    "permanent_driver": None,
                    "current_driver": None,
                    "availability_details": {
                        "availability_status": "in_service" if active else "out_of_service",
                        "updated_at": created,
                    },
                    "eld_device": self._eld(v) if active else None,
                    "carb_ctc_test_enabled": None,
                    "carb_ctc_emission_status": None,
                    "registration_expiry_date": None,
                }
            )
            if self.bad_records is not None and self.bad_records.without_id(v.index):
                del records[-1]["id"]  # a bad record: listed without its id
        return records

    # -- /v1/users ----------------------------------------------------------------------------

    def _users(self, request: SimRequest) -> SimResponse:
        return self._page(request, "users", "user", self._cached("users", self._user_records))

    def _user_records(self) -> list[dict[str, Any]]:
        created = self._created_at()
        zone = _RAILS_ZONES.get(self.company_time_zone)
        records: list[dict[str, Any]] = []

        def common(summary: dict[str, Any], status: str) -> dict[str, Any]:
            return {
                "id": summary["id"],
                "first_name": summary["first_name"],
                "last_name": summary["last_name"],
                "email": summary["email"],
                "phone": None,
                "phone_country_code": None,
                "company_reference_id": None,
                "role": summary["role"],
                "status": status,
                "group_ids": [1000],
                "metric_units": False,
                "time_zone": zone,
                "created_at": created,
                "updated_at": created,
                "mobile_current_sign_in_at": None,
                "mobile_last_active_at": None,
                "mobile_last_sign_in_at": None,
                "web_current_sign_in_at": None,
                "web_last_active_at": None,
                "web_last_sign_in_at": None,
                "external_ids": None,
                "phone_ext": None,
            }

        for i in range(len(_ADMINS)):
            record = common(self._admin_summary(i), "active")
            record.update(expires_at=None, phone2=None, phone_country_code2=None)
            records.append(record)
        for driver in self.fleet.drivers:
            summary = self._driver_refs[driver.id]
            record = common(summary, driver.status)
            record.update(
                username=driver.username,
                driver_company_id=summary["driver_company_id"],
                drivers_license_number=f"L{int(driver.id) * 7 % 10_000_000:07d}",
                drivers_license_state="TX",
                joined_at="2025-06-01" if driver.index % 10 == 0 else None,
                duty_status="off_duty",
                eld_mode="logs" if driver.index % 7 else "exempt",
                cycle="70_8",
                cycle2="70_8_2020",
                violation_alerts="1_hour",
                carrier_name="Sim Freight LLC",
                carrier_street="1 Depot Way",
                carrier_city="Dallas",
                carrier_state="TX",
                carrier_zip="75201",
                terminal_street=None,
                terminal_city=None,
                terminal_state=None,
                terminal_zip=None,
                manual_driving_enabled=True,
                minute_logs=False,
                personal_conveyance_enabled=True,
                yard_moves_enabled=False,
                associated_dispatcher_id=None,
                export_combined=True,
                export_odometers=True,
                export_recap=True,
                exception_24_hour_restart=False,
                exception_8_hour_break=False,
                exception_wait_time=False,
                exception_short_haul=False,
                exception_ca_farm_school_bus=False,
                exception_adverse_driving=False,
                exception_24_hour_restart2=False,
                exception_8_hour_break2=False,
                exception_wait_time2=False,
                exception_short_haul2=False,
                exception_ca_farm_school_bus2=False,
                exception_adverse_driving2=False,
            )
            records.append(record)
        records.sort(key=lambda r: int(r["id"]))
        return records

    # -- /v3/vehicle_locations/{vehicle_id} -----------------------------------------------------

    def _locations(self, request: SimRequest, vehicle_id: str) -> SimResponse:
        try:
            vehicle = self.fleet.vehicle(vehicle_id)
        except KeyError:
            return _error(404, "Vehicle not found")
        first, last = self._days(request)
        if last > _add_months(first, _LOCATION_MONTHS):
            raise _BadRequest(f"Date range cannot be greater than {_LOCATION_MONTHS} months")
        low, high = self._local_span(first, last, self._location_tz)
        metric = self._metric(request, vehicle)
        records = self._render_locations(vehicle, low, high, metric)
        return SimResponse.json(
            200, {"vehicle_locations": [{"vehicle_location": r} for r in records]}
        )

    def _render_locations(
        self, vehicle: SimVehicle, low: datetime, high: datetime, metric: bool
    ) -> list[dict[str, Any]]:
        points = self.fleet.points(low, high, as_of=self.now(), vehicle_ids=[vehicle.id])
        n = points.num_rows
        if n == 0:
            return []
        ts = np.asarray(pc.cast(points.column("timestamp"), pa.int64()).to_numpy())
        speed = _column(points, "speed_mph")
        odometer = _column(points, "odometer_miles")
        state = np.asarray(points.column("engine_state").to_numpy(zero_copy_only=False))
        kinds = self._location_types(vehicle, ts, state, speed, low, high)
        seconds = ts // _US
        no_ecm = ((seconds // 60) + vehicle.index) % 37 == 0
        if metric:
            speed, odometer = speed * KM_PER_MILE, odometer * KM_PER_MILE
        gaps = no_ecm.tolist()
        true_odometer = [None if gap else o for o, gap in zip(odometer.tolist(), gaps, strict=True)]
        calculated = np.where(no_ecm, odometer, np.round(odometer * 0.9985, 1)).tolist()
        hours = np.round(_column(points, "odometer_miles") / 31.0, 2).tolist()
        true_hours = [None if gap else h for h, gap in zip(hours, gaps, strict=True)]
        volts = np.where(state == "Off", 12.6, 14.1).tolist()
        located = self._located_at(ts)
        latitude = _column(points, "latitude")
        if self.bad_records is not None:
            latitude = self._corrupt(self.bad_records, vehicle, ts, latitude, located, kinds)
        ids = [f"{vehicle.index:08x}-0000-4000-8000-{s:012x}" for s in seconds.tolist()]
        drivers = [self._driver_ref(d) for d in points.column("driver_id").to_pylist()]
        columns: dict[str, list[Any]] = {
            "id": ids,
            "located_at": located,
            "lat": latitude.tolist(),
            "lon": _column(points, "longitude").tolist(),
            "type": kinds,
            "description": points.column("location_description").to_pylist(),
            "speed": speed.tolist(),
            "bearing": _column(points, "heading_degrees").tolist(),
            "battery_voltage": volts,
            "odometer": calculated,
            "true_odometer": true_odometer,
            "engine_hours": hours,
            "true_engine_hours": true_hours,
            "driver": drivers,
        }
        constants = dict.fromkeys(_ABSENT_SENSORS) | {"eld_device": self._eld(vehicle)}
        keys = tuple(columns)
        return [
            dict(zip(keys, row, strict=True)) | constants
            for row in zip(*columns.values(), strict=True)
        ]

    def _located_at(self, ts: _I64) -> list[str]:
        """``located_at`` texts: UTC with ``Z``, or with offsets in ``render_time_zone``."""
        if self.render_time_zone is None:
            return _iso_utc(ts)
        return _iso_zone(ts, self.render_time_zone)

    @staticmethod
    def _corrupt(
        bad: BadRecords,
        vehicle: SimVehicle,
        ts: _I64,
        latitude: _F64,
        located: list[str],
        kinds: list[str],
    ) -> _F64:
        """Turn the chosen locations into bad records: ``located`` and ``kinds`` in place, the
        latitudes returned."""
        chosen = bad.choose(vehicle.index, ts)
        unreadable = np.flatnonzero(chosen[TIMESTAMP]).tolist()
        texts = BadRecords.timestamps([located[i] for i in unreadable])
        for i, text in zip(unreadable, texts, strict=True):
            located[i] = text
        for i in np.flatnonzero(chosen[ENGINE_STATE]).tolist():
            kinds[i] = UNKNOWN_LOCATION_TYPE
        corrupted: _F64 = np.where(chosen[LATITUDE], BadRecords.latitude(latitude), latitude)
        return corrupted

    def _location_types(
        self,
        vehicle: SimVehicle,
        ts: _I64,
        state: npt.NDArray[Any],
        speed: _F64,
        low: datetime,
        high: datetime,
    ) -> list[str]:
        """Each point's ``type``, chosen so that the plugin's rule recovers ``state``."""
        # Whole UTC days, so that every event's predecessor of the same day is known.
        day = timedelta(days=1)
        first = datetime.combine(low.date(), time(), tzinfo=UTC)
        last = datetime.combine(high.date(), time(), tzinfo=UTC) + day
        events = self.fleet.engine_events(first, last, vehicle_ids=[vehicle.id])
        event_ts = np.asarray(pc.cast(events.column("time"), pa.int64()).to_numpy())
        event_state = np.asarray(events.column("state").to_numpy(zero_copy_only=False))
        before = np.concatenate((np.array(["Off"], dtype=object), event_state[:-1]))
        starts = event_ts[(event_state == "Idle") & (before != "On")]
        pauses = event_ts[(event_state == "Idle") & (before == "On")]
        stops = event_ts[event_state == "Off"]
        even = vehicle.index % 2 == 0
        position = np.arange(len(ts))
        conditions = [
            np.isin(ts, stops),
            state == "Off",
            np.isin(ts, starts),
            np.isin(ts, pauses),
            state == "Idle",
            (state == "On") & (speed == 0),
            (state == "On") & (position % 9 == 4),
        ]
        choices = [
            "ignition_off" if even else "engine_stop",
            "gps_stopped",
            "ignition_on" if even else "engine_start",
            "vehicle_stopped",
            "breadcrumb",
            "vehicle_moving",
            "gps_moving",
        ]
        kinds: list[str] = np.select(
            conditions, np.array(choices, dtype=object), default="breadcrumb"
        ).tolist()
        return kinds

    # -- engine-state stretches (driving periods, idle events) ----------------------------------

    def _stretches(
        self, state: str, low: datetime, high: datetime
    ) -> list[tuple[SimVehicle, int, int, bool]]:
        """(vehicle, start µs, end µs, previous state was Off) of every ``state`` stretch that
        starts on the UTC days touching ``[low, high)``; in progress when end > now."""
        first = datetime.combine(low.astimezone(UTC).date(), time(), tzinfo=UTC)
        last = datetime.combine((high - timedelta(microseconds=1)).astimezone(UTC).date(),
                                time(), tzinfo=UTC) + timedelta(days=1)  # fmt: skip
        events = self.fleet.engine_events(first, last)
        ids = events.column("vehicle_id").to_pylist()
        ts = np.asarray(pc.cast(events.column("time"), pa.int64()).to_numpy()).tolist()
        states = events.column("state").to_pylist()
        out = []
        for i, (vid, at, kind) in enumerate(zip(ids, ts, states, strict=True)):
            if kind != state:
                continue
            following = i + 1 < len(ids) and ids[i + 1] == vid
            end = ts[i + 1] if following else at  # a day's events always close the stretch
            after_off = i == 0 or ids[i - 1] != vid or states[i - 1] == "Off"
            out.append((self.fleet.vehicle(vid), at, end, after_off))
        return out

    def _points_at(
        self, low: datetime, high: datetime, times: set[int]
    ) -> dict[tuple[str, int], dict[str, Any]]:
        """The fleet's points at the given instants (µs), by (vehicle id, µs)."""
        if not times:
            return {}
        points = self.fleet.points(low, high)
        stamps = pc.cast(points.column("timestamp"), pa.int64())
        picked = points.filter(pc.is_in(stamps, value_set=pa.array(sorted(times), pa.int64())))
        rows = picked.to_pylist()
        return {(row["vehicle_id"], _us(row["timestamp"])): row for row in rows}

    # -- /v1/driving_periods ------------------------------------------------------------------

    def _driving_periods(self, request: SimRequest) -> SimResponse:
        first, last = self._days(request)
        if (last - first).days > _DRIVING_PERIOD_DAYS:
            raise _BadRequest(f"Date range cannot be greater than {_DRIVING_PERIOD_DAYS} days")
        key = ("driving_periods", first, last, self._units_key(request))
        records = self._cached(key, lambda: self._driving_records(request, first, last))
        return self._page(request, "driving_periods", "driving_period", records)

    def _driving_records(
        self, request: SimRequest, first: date, last: date
    ) -> list[dict[str, Any]]:
        low, high = self._local_span(first, last, ZoneInfo("UTC"))
        now_us = _us(self.now())
        drives = [
            s
            for s in self._stretches("On", low, high)
            if _us(low) <= s[1] < _us(high) and s[1] <= now_us
        ]
        places = self._points_at(low, high, {s[1] for s in drives} | {s[2] for s in drives})
        records = []
        for vehicle, begin, end, _ in drives:
            metric = self._metric(request, vehicle)
            done = end <= now_us
            origin = places[(vehicle.id, begin)]
            finish = places.get((vehicle.id, end)) if done else None
            start_km = origin["odometer_miles"] * KM_PER_MILE
            record: dict[str, Any] = {
                "id": (begin // _US) * 10_000 + vehicle.index % 10_000,
                "start_time": _iso_utc(np.array([begin]))[0],
                "end_time": None,
                "status": "in_progress",
                "type": "driving",
                "annotation_status": None,
                "notes": None,
                "duration": (now_us - begin) / _US,
                "start_kilometers": round(start_km, 2),
                "end_kilometers": None,
                "driver": self._driver_ref(origin["driver_id"]),
                "vehicle": self._vehicle_refs[vehicle.id],
                "origin": origin["location_description"],
                "origin_lat": origin["latitude"],
                "origin_lon": origin["longitude"],
                "destination": "",
                "destination_lat": None,
                "destination_lon": None,
                "distance": None,
                "source": None,
                "start_hvb_state_of_charge": None,
                "end_hvb_state_of_charge": None,
                "start_hvb_lifetime_energy_output": None,
                "end_hvb_lifetime_energy_output": None,
            }
            if finish is not None:
                miles = finish["odometer_miles"] - origin["odometer_miles"]
                distance = f"{miles * KM_PER_MILE:.1f} km" if metric else f"{miles:.1f} mi"
                record.update(
                    end_time=_iso_utc(np.array([end]))[0],
                    status="complete",
                    duration=float((end - begin) // _US),
                    end_kilometers=round(finish["odometer_miles"] * KM_PER_MILE, 2),
                    destination=finish["location_description"],
                    destination_lat=finish["latitude"],
                    destination_lon=finish["longitude"],
                    distance=distance,
                )
            records.append(record)
        records.sort(key=lambda r: (r["start_time"], r["id"]), reverse=True)
        return records

    # -- /v1/idle_events ----------------------------------------------------------------------

    def _idle_events(self, request: SimRequest) -> SimResponse:
        first, last = self._days(request)
        key = ("idle_events", first, last, self._units_key(request))
        records = self._cached(key, lambda: self._idle_records(request, first, last))
        return self._page(request, "idle_events", "idle_event", records)

    def _idle_records(self, request: SimRequest, first: date, last: date) -> list[dict[str, Any]]:
        low, high = self._local_span(first, last, self._company_tz)
        now_us, low_us, high_us = _us(self.now()), _us(low), _us(high)
        day = timedelta(days=1)
        idles = [
            s
            for s in self._stretches("Idle", low - day, high + day)
            if s[1] < high_us and s[2] > low_us and s[2] <= now_us
        ]
        places = self._points_at(low - day, high + day, {s[1] for s in idles})
        records = []
        for vehicle, begin, end, at_depot in idles:
            metric = self._metric(request, vehicle)
            place = places[(vehicle.id, begin)]
            fuel = place["odometer_miles"] / _MPG
            burnt = (end - begin) / _US / 3600 * _IDLE_GALLONS_PER_HOUR
            scale = _LITRES_PER_GALLON if metric else 1.0
            north = (place["latitude"] - vehicle.home_lat) * 69.0
            east = (
                (place["longitude"] - vehicle.home_lon)
                * 69.0
                * math.cos(math.radians(vehicle.home_lat))
            )
            miles = math.hypot(north, east)
            city, _, state = vehicle.home_city.rpartition(", ")
            bearing = _compass(north, east)
            records.append(
                {
                    "id": (begin // _US) * 10_000 + vehicle.index % 10_000,
                    "start_time": _iso_utc(np.array([begin]))[0],
                    "end_time": _iso_utc(np.array([end]))[0],
                    "veh_fuel_start": round(fuel * scale, 2),
                    "veh_fuel_end": round((fuel + burnt) * scale, 2),
                    "lat": place["latitude"],
                    "lon": place["longitude"],
                    "city": city,
                    "state": state,
                    "rg_brg": bearing,
                    "rg_km": round(miles * KM_PER_MILE, 1),
                    "rg_match": at_depot,
                    "end_type": "vehicle_moving",
                    "driver": self._driver_ref(place["driver_id"]),
                    "vehicle": self._vehicle_refs[vehicle.id],
                    "eld_device": self._eld(vehicle),
                    "location": (
                        vehicle.home_city if at_depot
                        else f"{miles:.1f} mi {bearing} of {vehicle.home_city}"
                    ),
                }
            )  # fmt: skip
        records.sort(key=lambda r: (r["end_time"], r["id"]))
        return records

    # -- /v2/vehicle_utilization --------------------------------------------------------------

    def _utilization(self, request: SimRequest) -> SimResponse:
        first = self._day_or_time(request, "start_date")
        last = self._day_or_time(request, "end_date")
        if first is None and last is None:
            # Without dates: the last seven company-local days before today.
            today = self.now().astimezone(self._company_tz).date()
            first, last = today - timedelta(days=7), today - timedelta(days=1)
        first = first or last
        last = last or first
        if first is None or last is None:  # unreachable: one of them was given
            raise _BadRequest("start_date or end_date is required")
        if last < first:
            raise _BadRequest("end_date must be on or after start_date")
        key = ("utilization", first, last, self._units_key(request))
        records = self._cached(key, lambda: self._utilization_records(request, first, last))
        return self._page(request, "vehicle_utilizations", "vehicle_utilization", records)

    def _day_or_time(self, request: SimRequest, name: str) -> date | None:
        """A ``YYYY-MM-DD`` day, or an RFC 3339 instant read as its company-local day."""
        text = request.arg(name)
        if text is not None and len(text) > 10:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise _BadRequest(f"Invalid date format for {name}: {text}") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(self._company_tz).date()
        return self._day(request, name)

    def _utilization_records(
        self, request: SimRequest, first: date, last: date
    ) -> list[dict[str, Any]]:
        low, high = self._local_span(first, last, self._company_tz)
        points = self.fleet.points(low, high, as_of=self.now())
        ids = points.column("vehicle_id").to_numpy(zero_copy_only=False)
        ts = np.asarray(pc.cast(points.column("timestamp"), pa.int64()).to_numpy())
        state = np.asarray(points.column("engine_state").to_numpy(zero_copy_only=False))
        odometer = _column(points, "odometer_miles")
        spans: dict[str, tuple[int, int]] = {}
        if len(ids):
            edges = np.flatnonzero(ids[1:] != ids[:-1]) + 1
            bounds = np.concatenate(([0], edges, [len(ids)])).tolist()
            for a, b in itertools.pairwise(bounds):
                spans[str(ids[a])] = (a, b)
        records = []
        for vehicle in sorted(self.fleet.vehicles, key=lambda v: int(v.id)):
            metric = self._metric(request, vehicle)
            record: dict[str, Any] = {
                "driving_fuel": 0.0,
                "driving_time": 0.0,
                "idle_fuel": 0.0,
                "idle_time": 0.0,
                "total_distance": 0.0,
                "total_fuel": 0.0,
                "utilization_percentage": 0.0,
                "last_located_at": None,
                "message": "No data found for the selected date range",
                "vehicle": self._vehicle_refs[vehicle.id],
            }
            span = spans.get(vehicle.id)
            if span is not None:
                a, b = span
                gaps = np.diff(ts[a:b]) / _US
                driving = float(gaps[state[a : b - 1] == "On"].sum())
                idling = float(gaps[state[a : b - 1] == "Idle"].sum())
                miles = float(odometer[b - 1] - odometer[a])
                volume = _LITRES_PER_GALLON if metric else 1.0
                driving_fuel = miles / _MPG * volume
                idle_fuel = idling / 3600 * _IDLE_GALLONS_PER_HOUR * volume
                busy = driving + idling
                record.update(
                    driving_fuel=round(driving_fuel, 2),
                    driving_time=driving,
                    idle_fuel=round(idle_fuel, 2),
                    idle_time=idling,
                    total_distance=round(miles * KM_PER_MILE if metric else miles, 2),
                    total_fuel=round(driving_fuel + idle_fuel, 2),
                    utilization_percentage=round(100 * driving / busy, 2) if busy else 0.0,
                    last_located_at=_iso_zone(ts[b - 1 : b], self.company_time_zone)[0],
                    message="",
                )
            records.append(record)
        return records
