"""Samsara's API rendered from the shared simulated fleet (:class:`fth_core.sim.Fleet`).

What it reproduces (PROVIDERS.md §2, §3, §6; the README lists the choices made where the facts
are unknown):

* ``Authorization: Bearer <key>``; else 401 ``{"message": "invalid token", "requestId"}``;
* modern envelope ``{data, pagination: {endCursor, hasNextPage}}``, a fresh opaque cursor per
  page, ``endCursor: ""`` when done — except ``/fleet/vehicles``, whose last page carries a
  cursor, as once seen live; every ``empty_page_every``-th page of a walk is empty while
  ``hasNextPage`` stays true;
* limit tiers: 512 (400 above), 200 on ``/idling/events`` (400 with the real message), and a
  fixed 50 rows on assignments whatever ``limit`` says;
* ``/fleet/vehicles/stats/history``: half-open ``[startTime, endTime)``, at most 3 ``types``,
  pages over vehicles (``limit`` vehicles, and about ``page_readings`` readings: a vehicle is
  split over pages only when it alone exceeds that), vehicles without readings absent, VINs
  only in ``externalIds`` and absent when the fleet has none, some GPS without ``reverseGeo``,
  some vehicles without OBD odometer, odometer in whole meters;
* ``/fleet/drivers`` active by default, deactivated on request, 400 for other values;
* assignments by overlap, passenger rows, an ongoing assignment without ``endTime``,
  ``assignedAtTime: ""``, ``data: null`` when there are none;
* ``/v1/fleet/trips``: one vehicle, epoch ms, 90-day cap and text/plain ``rpc error`` 400s;
* 429 with a fractional ``Retry-After`` (the core's server decides when).

With ``bad_records`` (:class:`fth_core.sim.BadRecords`) stats/history also carries bad
records: GPS readings with a latitude out of range or a ``time`` that does not parse,
engine-state readings with an undocumented value (``Standby``), and vehicle records without
``id`` (every record of the chosen vehicles, in every walk).

:meth:`SamsaraSimulator.expected_telemetry` is the oracle. It starts from the fleet's own truth
(:meth:`Fleet.telemetry`: engine state, driver, position, VIN) and applies only what the wire
changes: headings sent as whole degrees, locations missing where ``reverseGeo`` is, and the
odometer of the nearest *rendered* reading within the tolerance, found by brute force — it does
not use the plugin's join. Bad records move their points to
:meth:`SamsaraSimulator.expected_quarantine`: a GPS point of a vehicle without id or with an
unreadable time (nothing joined to it), out of range, or governed by an unknown engine state
(its latest engine-state reading, found per vehicle by binary search).
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.schema import (
    MISSING_VEHICLE_ID,
    QUARANTINE_SCHEMA,
    REASON,
    enforce_telemetry_schema,
    split_quarantined,
)
from fth_core.sim import (
    BadRecords,
    Fleet,
    SimRequest,
    SimResponse,
    SimulatedProvider,
    SimVehicle,
)
from fth_core.sim.bad_records import ENGINE_STATE, LATITUDE, TIMESTAMP, mix
from fth_samsara.endpoints import (
    ASSIGNMENT_PAGE_ROWS,
    IDLING_MAX_LIMIT,
    MAX_LIMIT,
    MAX_STAT_TYPES,
    TelemetryTypes,
)
from fth_samsara.join import METERS_PER_MILE
from fth_samsara.settings import DEFAULT_ODOMETER_TOLERANCE

__all__ = ["UNKNOWN_ENGINE_STATE", "SamsaraSimulator"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_US = 1_000_000
_DAY_US = 86_400 * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TRIP_RANGE_MS = 90 * 86_400_000
_MAX_IDLING_RANGE_US = 93 * _DAY_US  # 91 days accepted, 180 refused; the threshold is unknown
_SIM_TYPES = (TelemetryTypes.GPS, TelemetryTypes.ENGINE_STATES, TelemetryTypes.OBD_ODOMETER)
_TIMEZONES = ("America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles")
_ODOMETER_STEP_MS = (300_000, 600_000)  # an OBD odometer reading every 5-10 min while running
_UUID_NAMESPACE = uuid.UUID("7b0c3c8e-3f5d-4d8e-9a51-5a3b1f0e2d11")
# The engine state bad records carry: not one of On, Off, Idle.
UNKNOWN_ENGINE_STATE = "Standby"


class _Reject(Exception):
    """Stop handling and answer with ``response``."""

    def __init__(self, response: SimResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _request_id() -> str:
    return uuid.uuid4().hex


def _error(status: int, message: str) -> SimResponse:
    request_id = _request_id()
    return SimResponse.json(
        status, {"message": message, "requestId": request_id}, {"Request-Id": request_id}
    )


def _rpc_error(message: str) -> SimResponse:
    """The legacy v1 400: text/plain gRPC wording."""
    return SimResponse.text(400, f"rpc error: code = InvalidArgument desc = {message}")


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _stamps(us: I64, unit: Literal["s", "ms", "us"]) -> list[str]:
    """RFC 3339 strings with ``Z`` at ``unit`` precision."""
    moments: npt.NDArray[np.datetime64] = us.view("datetime64[us]").astype(f"datetime64[{unit}]")
    return [t + "Z" for t in np.datetime_as_string(moments, unit=unit).tolist()]


@dataclass(frozen=True)
class _Cursor:
    page: int = 0
    position: int = 0
    offset: int = 0
    as_of: int = 0

    def encode(self) -> str:
        raw = msgspec.json.encode([self.page, self.position, self.offset, self.as_of])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> _Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            page, position, offset, as_of = msgspec.json.decode(raw, type=tuple[int, int, int, int])
        except (binascii.Error, msgspec.DecodeError, ValueError):
            raise _Reject(_error(400, f"Invalid cursor: {text!r}")) from None
        return cls(page, position, offset, as_of)


@dataclass(frozen=True)
class _Series:
    """One stat type's readings for a walk, sorted by vehicle position then time.

    ``bounds[p]:bounds[p + 1]`` are vehicle ``p``'s rows; ``columns`` hold the rendered values.
    """

    bounds: I64
    time: I64
    columns: dict[str, npt.NDArray[Any]]

    def count(self, position: int) -> int:
        return int(self.bounds[position + 1] - self.bounds[position])


@dataclass(frozen=True)
class _StatsPlan:
    vehicles: tuple[SimVehicle, ...]
    series: dict[str, _Series]  # in the fixed order of _SIM_TYPES, requested ones only

    def total(self, position: int) -> int:
        return sum(s.count(position) for s in self.series.values())


class SamsaraSimulator(SimulatedProvider):
    """Samsara's wire format over a :class:`Fleet` (see the module doc for what it renders).

    :param page_readings: about how many readings a stats/history page holds.
    :param empty_page_every: every n-th page of a walk comes back empty (0: never).
    :param no_obd_every: vehicles whose index is 3 modulo this have no OBD odometer.
    :param no_reverse_geo_every: about one GPS reading in this many lacks ``reverseGeo``.
    :param passenger_every: about one assignment in this many gets a passenger row.
    :param odometer_tolerance: the plugin's tolerance the oracle applies (its default).
    :param bad_records: serve these bad records (see the module doc).
    """

    name = "samsara"

    def __init__(
        self,
        fleet: Fleet,
        api_key: str = "sim-key",
        as_of: datetime | None = None,
        *,
        page_readings: int = 10_000,
        empty_page_every: int = 5,
        no_obd_every: int = 7,
        no_reverse_geo_every: int = 50,
        passenger_every: int = 8,
        odometer_tolerance: timedelta = DEFAULT_ODOMETER_TOLERANCE,
        bad_records: BadRecords | None = None,
    ) -> None:
        super().__init__(fleet, api_key, as_of, bad_records=bad_records)
        self.page_readings = page_readings
        self.empty_page_every = empty_page_every
        self.no_obd_every = no_obd_every
        self.no_reverse_geo_every = no_reverse_geo_every
        self.passenger_every = passenger_every
        self.odometer_tolerance = odometer_tolerance
        self._by_number = tuple(sorted(fleet.vehicles, key=lambda v: int(v.id)))
        self._active = tuple(v for v in self._by_number if v.status == "active")
        self._depots = sorted({v.home_city for v in fleet.vehicles})
        self._routes: dict[str, Callable[[SimRequest], SimResponse]] = {
            "/fleet/vehicles": self._vehicles,
            "/fleet/drivers": self._drivers,
            "/fleet/vehicles/stats/history": self._stats_history,
            "/fleet/driver-vehicle-assignments": self._assignments,
            "/v1/fleet/trips": self._trips,
            "/idling/events": self._idling_events,
            "/addresses": self._addresses,
        }
        self._plan: Callable[..., _StatsPlan] = functools.lru_cache(maxsize=8)(self._make_plan)
        self._odometer_day: Callable[[int], tuple[I64, I64, I64]] = functools.lru_cache(maxsize=64)(
            self._make_odometer_day
        )

    # ------------------------------------------------------------------------- SimulatedProvider
    def authorized(self, request: SimRequest) -> bool:
        return request.header("Authorization") == f"Bearer {self.api_key}"

    def unauthorized(self, request: SimRequest) -> SimResponse:
        return _error(401, "invalid token")

    def rate_limited(self, retry_after: float) -> SimResponse:
        response = _error(429, "Too many requests: rate limit exceeded")
        seconds = f"{max(retry_after, 0.00001):.5f}".rstrip("0").rstrip(".")
        response.headers["Retry-After"] = seconds  # fractional, e.g. "0.40235"
        return response

    def handle(self, request: SimRequest) -> SimResponse:
        route = self._routes.get(request.path.rstrip("/"))
        if route is None:
            return _error(404, f"Not Found: {request.path}")
        if request.method != "GET":
            return _error(405, f"Method {request.method} not allowed")
        try:
            response = route(request)
        except _Reject as rejected:
            return rejected.response
        response.headers.setdefault("Request-Id", _request_id())
        return response

    # ------------------------------------------------------------------------- vehicle facts
    def has_obd(self, vehicle: SimVehicle) -> bool:
        """Whether the vehicle reports ``obdOdometerMeters`` at all."""
        return not self.no_obd_every or vehicle.index % self.no_obd_every != 3

    def _external_ids(self, vehicle: SimVehicle) -> dict[str, str]:
        ids = {"samsara.serial": vehicle.serial.replace("-", "")}
        if vehicle.vin is not None:
            ids["samsara.vin"] = vehicle.vin
        return ids

    def _depot_id(self, city: str) -> str:
        return str(30_000_000 + 97 * self._depots.index(city))

    def _without_reverse_geo(
        self, vehicle_index: npt.NDArray[Any], us: I64
    ) -> npt.NDArray[np.bool_]:
        """Which GPS readings come without ``reverseGeo`` (a fixed hash of vehicle and time)."""
        if not self.no_reverse_geo_every:
            return np.zeros(len(us), dtype=bool)
        bare: npt.NDArray[np.bool_] = (
            mix(vehicle_index, us // _US) % np.uint64(self.no_reverse_geo_every) == 0
        )
        return bare

    # ------------------------------------------------------------------------- request helpers
    def _now_us(self) -> int:
        return _us(self.now())

    def _cursor(self, request: SimRequest) -> _Cursor:
        text = request.arg("after")
        return _Cursor(as_of=self._now_us()) if not text else _Cursor.decode(text)

    @staticmethod
    def _limit(request: SimRequest, maximum: int) -> int:
        text = request.arg("limit")
        if text is None:
            return maximum
        try:
            value = int(text)
        except ValueError:
            raise _Reject(_error(400, f"limit must be an integer but got value {text}")) from None
        if value > maximum:
            raise _Reject(
                _error(400, f"limit must be lesser or equal than {maximum} but got value {value}")
            )
        if value < 1:
            raise _Reject(_error(400, f"limit must be greater than 0 but got value {value}"))
        return value

    @staticmethod
    def _time(request: SimRequest, name: str, *, required: bool = True) -> int | None:
        text = request.arg(name)
        if text is None or not text.strip():
            if required:
                raise _Reject(_error(400, f"{name} is required"))
            return None
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise _Reject(_error(400, f"Invalid {name}: {text!r} is not RFC 3339")) from None
        if moment.tzinfo is None:
            raise _Reject(_error(400, f"Invalid {name}: {text!r} has no time zone"))
        return _us(moment)

    @staticmethod
    def _list(request: SimRequest, name: str) -> list[str]:
        return [v.strip() for raw in request.query.get(name, []) for v in raw.split(",") if v]

    def _window(self, request: SimRequest) -> tuple[int, int]:
        start = self._time(request, "startTime")
        end = self._time(request, "endTime")
        if start is None or end is None:  # pragma: no cover - required=True raised already
            raise AssertionError("unreachable")
        if end < start:
            raise _Reject(_error(400, "endTime must not be before startTime"))
        return start, end

    def _page(
        self,
        request: SimRequest,
        rows: Sequence[Any] | None,
        size: int,
        cursor: _Cursor,
        *,
        last_cursor: bool = False,
    ) -> SimResponse:
        """One page of a row listing at ``cursor``; ``rows=None`` renders ``data: null``."""
        if rows is None:
            return SimResponse.json(200, {"data": None, "pagination": _done()})
        following = _Cursor(cursor.page + 1, cursor.position, 0, cursor.as_of)
        if self._empty_now(cursor) and cursor.position < len(rows):
            return SimResponse.json(200, {"data": [], "pagination": _more(following)})
        stop = min(cursor.position + size, len(rows))
        data = list(rows[cursor.position : stop])
        if stop < len(rows):
            following = _Cursor(cursor.page + 1, stop, 0, cursor.as_of)
            return SimResponse.json(200, {"data": data, "pagination": _more(following)})
        end_cursor = following.encode() if last_cursor else ""
        pagination = {"endCursor": end_cursor, "hasNextPage": False}
        return SimResponse.json(200, {"data": data, "pagination": pagination})

    def _empty_now(self, cursor: _Cursor) -> bool:
        every = self.empty_page_every
        return bool(every) and cursor.page % every == every - 1

    # ------------------------------------------------------------------------- /fleet/vehicles
    def _vehicle_record(self, vehicle: SimVehicle) -> dict[str, Any]:
        created = _datetime(_us(_midnight(self.fleet.epoch)) - (400 + vehicle.index) * _DAY_US)
        stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        record: dict[str, Any] = {
            "id": vehicle.id,
            "name": vehicle.fleet_number if vehicle.status == "active" else vehicle.serial,
            "notes": "",
            "harshAccelerationSettingType": "automatic",
            "vehicleRegulationMode": "regulated" if vehicle.index % 3 else "unregulated",
            "createdAtTime": stamp,
            "updatedAtTime": stamp,
        }
        if vehicle.status != "active":  # unplugged units: the minimal 7-key form
            return record
        record["externalIds"] = self._external_ids(vehicle)
        record["gateway"] = {"serial": vehicle.serial, "model": "VG34"}
        record["serial"] = vehicle.serial.replace("-", "")
        if vehicle.vin is not None:
            record.update(
                vin=vehicle.vin, make=vehicle.make, model=vehicle.model, year=str(vehicle.year)
            )
        if vehicle.index % 4:
            record["licensePlate"] = f"{vehicle.index:03d}{vehicle.serial[:4]}"
        return record

    def _vehicles(self, request: SimRequest) -> SimResponse:
        limit = self._limit(request, MAX_LIMIT)
        rows = [self._vehicle_record(v) for v in self._by_number]
        return self._page(request, rows, limit, self._cursor(request), last_cursor=True)

    # ------------------------------------------------------------------------- /fleet/drivers
    def _drivers(self, request: SimRequest) -> SimResponse:
        limit = self._limit(request, MAX_LIMIT)
        values = request.query.get("driverActivationStatus", [])
        if len(values) > 1 or (values and values[0] not in ("active", "deactivated")):
            raise _Reject(
                _error(
                    400,
                    "Invalid value for driverActivationStatus. "
                    "Can only be 'active' or 'deactivated'",
                )
            )
        status = values[0] if values else "active"
        drivers = sorted(
            (d for d in self.fleet.drivers if d.status == status), key=lambda d: int(d.id)
        )
        base = _us(_midnight(self.fleet.epoch)) - 300 * _DAY_US
        created = _stamps(
            np.array([base + d.index * 3_600_123_000 for d in drivers], dtype=np.int64), "ms"
        )
        rows = []
        for driver, stamp in zip(drivers, created, strict=True):
            record: dict[str, Any] = {
                "id": driver.id,
                "name": driver.name,
                "username": driver.username,
                "driverActivationStatus": driver.status,
                "timezone": _TIMEZONES[driver.index % len(_TIMEZONES)],
                "createdAtTime": stamp,
                "updatedAtTime": stamp,
                "hasVehicleUnpinningEnabled": False,
                "carrierSettings": {
                    "carrierName": "FTH Simulated Freight",
                    "dotNumber": 3141592,
                    "mainOfficeAddress": "1 Depot Way, Dallas, TX",
                    "homeTerminalName": "",
                    "homeTerminalAddress": "",
                },
                "hosSetting": {"heavyHaulExemptionToggleEnabled": False},
            }
            if driver.index % 3 == 0:
                record["licenseState"] = "TX"
            rows.append(record)
        return self._page(request, rows, limit, self._cursor(request))

    # ------------------------------------------------------------------------- stats/history
    def _stats_history(self, request: SimRequest) -> SimResponse:
        types = self._list(request, "types")
        if not types:
            raise _Reject(_error(400, "types is required"))
        unknown = [t for t in types if t not in _SIM_TYPES]
        if unknown:
            raise _Reject(_error(400, f"Invalid stat type(s): {', '.join(unknown)}"))
        if len(types) > MAX_STAT_TYPES:
            raise _Reject(_error(400, f"At most {MAX_STAT_TYPES} types may be requested"))
        start, end = self._window(request)
        limit = self._limit(request, MAX_LIMIT)
        cursor = self._cursor(request)
        wanted = tuple(sorted(set(self._list(request, "vehicleIds")))) or None
        plan = self._plan(
            tuple(t for t in _SIM_TYPES if t in types), start, end, cursor.as_of, wanted
        )
        count = len(plan.vehicles)
        if self._empty_now(cursor) and cursor.position < count:
            following = _Cursor(cursor.page + 1, cursor.position, cursor.offset, cursor.as_of)
            return SimResponse.json(200, {"data": [], "pagination": _more(following)})

        chunks: list[tuple[int, int, int]] = []  # (vehicle position, first, last reading)
        position, offset, readings = cursor.position, cursor.offset, 0
        while position < count and len(chunks) < limit:
            remaining = plan.total(position) - offset
            room = self.page_readings - readings
            if remaining <= room:
                chunks.append((position, offset, offset + remaining))
                readings += remaining
                position, offset = position + 1, 0
            elif not chunks:  # one vehicle alone is more than a page: split it
                chunks.append((position, offset, offset + room))
                offset += room
                break
            else:
                break
        data = self._stats_records(plan, chunks)
        if position >= count:
            return SimResponse.json(200, {"data": data, "pagination": _done()})
        following = _Cursor(cursor.page + 1, position, offset, cursor.as_of)
        return SimResponse.json(200, {"data": data, "pagination": _more(following)})

    def _stats_records(
        self, plan: _StatsPlan, chunks: list[tuple[int, int, int]]
    ) -> list[dict[str, Any]]:
        """One record per chunk: vehicle ``position``'s readings ``first:last`` of its series
        laid end to end. Each stat type is rendered for the whole page in one pass."""
        positions = np.array([c[0] for c in chunks], dtype=np.int64)
        vehicles = [plan.vehicles[p] for p in positions.tolist()]
        records: list[dict[str, Any]] = [
            {"id": v.id, "name": v.fleet_number, "externalIds": self._external_ids(v)}
            for v in vehicles
        ]
        if self.bad_records is not None:
            lost = self.bad_records.without_id([v.index for v in vehicles])
            for record in itertools.compress(records, lost):
                del record["id"]
        before = np.zeros(len(chunks), dtype=np.int64)  # readings of earlier series
        for kind, series in plan.series.items():
            counts = series.bounds[positions + 1] - series.bounds[positions]
            first = np.clip(np.array([c[1] for c in chunks]) - before, 0, counts)
            last = np.clip(np.array([c[2] for c in chunks]) - before, 0, counts)
            before += counts
            sizes = last - first
            if not sizes.any():
                continue
            rows = np.concatenate(
                [
                    np.arange(b + f, b + e)
                    for b, f, e in zip(series.bounds[positions], first, last, strict=True)
                ]
            )
            texts = _RENDER[kind](self, vehicles, sizes, series, rows).to_pylist()
            ends = np.cumsum(sizes).tolist()
            for record, size, stop in zip(records, sizes.tolist(), ends, strict=True):
                if size:
                    record[kind] = msgspec.Raw(
                        ("[" + ",".join(texts[stop - size : stop]) + "]").encode()
                    )
        return records

    def _make_plan(
        self,
        types: tuple[str, ...],
        start: int,
        end: int,
        as_of: int,
        wanted: tuple[str, ...] | None,
    ) -> _StatsPlan:
        vehicles = [v for v in self._active if wanted is None or v.id in wanted]
        ids = [v.id for v in vehicles]
        lo, hi = _datetime(start), _datetime(max(start, min(end, as_of + 1)))
        parts: dict[str, tuple[npt.NDArray[Any], I64, dict[str, npt.NDArray[Any]]]] = {}
        if TelemetryTypes.GPS in types:
            points = self.fleet.points(lo, hi, as_of=_datetime(as_of), vehicle_ids=ids)
            parts[TelemetryTypes.GPS] = (
                points.column("vehicle_id").to_numpy(zero_copy_only=False),
                _column_us(points, "timestamp"),
                {
                    name: points.column(name).to_numpy(zero_copy_only=False)
                    for name in (
                        "latitude",
                        "longitude",
                        "speed_mph",
                        "heading_degrees",
                        "engine_state",
                        "location_description",
                    )
                },
            )
        if TelemetryTypes.ENGINE_STATES in types:
            vehicle, time, state = self._engine_readings(lo, hi, ids)
            parts[TelemetryTypes.ENGINE_STATES] = (vehicle, time, {"state": state})
        if TelemetryTypes.OBD_ODOMETER in types:
            index, time, meters = self.odometer_readings(start, min(end, as_of + 1))
            chosen = {v.index for v in vehicles}
            keep = np.array([i in chosen for i in index.tolist()], dtype=bool)
            vehicle_ids = np.array([self.fleet.vehicles[i].id for i in index[keep].tolist()])
            parts[TelemetryTypes.OBD_ODOMETER] = (vehicle_ids, time[keep], {"meters": meters[keep]})
        # Only vehicles with at least one reading of a requested type are listed.
        present = set().union(*(set(p[0].tolist()) for p in parts.values())) if parts else set()
        listed = tuple(v for v in vehicles if v.id in present)
        position = {v.id: p for p, v in enumerate(listed)}
        series = {}
        for kind in types:
            vehicle_col, time, columns = parts[kind]
            pos = np.array([position[v] for v in vehicle_col.tolist()], dtype=np.int64)
            order = np.lexsort((time, pos))
            bounds = np.searchsorted(pos[order], np.arange(len(listed) + 1)).astype(np.int64)
            series[kind] = _Series(
                bounds, time[order], {name: col[order] for name, col in columns.items()}
            )
        return _StatsPlan(listed, series)

    def _engine_readings(
        self, lo: datetime, hi: datetime, ids: list[str]
    ) -> tuple[npt.NDArray[Any], I64, npt.NDArray[Any]]:
        """Engine transitions in ``[lo, hi)``, plus the state each vehicle reported when its
        gateway came online: ``Off`` at the fleet's epoch (the fleet's points are Off before a
        day's first transition, and the epoch has no earlier one)."""
        events = self.fleet.engine_events(lo, hi, vehicle_ids=ids)
        vehicle = events.column("vehicle_id").to_numpy(zero_copy_only=False)
        time = _column_us(events, "time")
        state = events.column("state").to_numpy(zero_copy_only=False)
        epoch = _us(_midnight(self.fleet.epoch))
        if _us(lo) <= epoch < _us(hi):
            vehicle = np.concatenate((np.array(ids, dtype=object), vehicle))
            time = np.concatenate((np.full(len(ids), epoch, dtype=np.int64), time))
            state = np.concatenate((np.array(["Off"] * len(ids), dtype=object), state))
        return vehicle, time, state

    # Renderers: one JSON object text per reading, for the rows of several vehicles at once
    # (``sizes`` readings of each of ``vehicles``, in order).
    def _render_gps(
        self, vehicles: list[SimVehicle], sizes: I64, series: _Series, rows: I64
    ) -> pa.Array:
        time = series.time[rows]
        cols = {name: col[rows] for name, col in series.columns.items()}
        state = cols["engine_state"]
        index = np.repeat([v.index for v in vehicles], sizes)
        latitude, stamps = cols["latitude"], _stamp_array(time)
        if self.bad_records is not None:
            chosen = self.bad_records.choose(index, time)
            latitude = np.where(chosen[LATITUDE], BadRecords.latitude(latitude), latitude)
            stamps = _unreadable(stamps, chosen[TIMESTAMP])
        heading = np.rint(cols["heading_degrees"]).astype(np.int64) % 360
        geo = pc.binary_join_element_wise(
            ',"reverseGeo":{"formattedLocation":', _quoted(cols["location_description"]), "}", ""
        )
        depots = [
            ',"address":'
            + msgspec.json.encode(
                {"id": self._depot_id(v.home_city), "name": f"{v.home_city} yard"}
            ).decode()
            for v in vehicles
        ]
        parked = pa.array(np.repeat(np.array(depots, dtype=object), sizes), pa.string())
        return _json_objects(
            '{"time":"', stamps, '","latitude":', _numbers(latitude),
            ',"longitude":', _numbers(cols["longitude"]),
            ',"headingDegrees":', _numbers(heading),
            # Arrow writes 0.0 as 0: a parked vehicle sends an int, a moving one a float.
            ',"speedMilesPerHour":', _numbers(cols["speed_mph"]),
            ',"isEcuSpeed":', pc.if_else(pa.array(state == "On"), "true", "false"),
            pc.if_else(pa.array(self._without_reverse_geo(index, time)), "", geo),
            pc.if_else(pa.array(state == "Off"), parked, ""),
            "}",
        )  # fmt: skip

    def _render_engine(
        self, vehicles: list[SimVehicle], sizes: I64, series: _Series, rows: I64
    ) -> pa.Array:
        states = pa.array(series.columns["state"][rows], pa.string())
        if self.bad_records is not None:
            index = np.repeat([v.index for v in vehicles], sizes)
            unknown = self.bad_records.choose(index, series.time[rows])[ENGINE_STATE]
            states = pc.if_else(pa.array(unknown), UNKNOWN_ENGINE_STATE, states)
        return _json_objects(
            '{"time":"', _stamp_array(series.time[rows]), '","value":"', states, '"}'
        )

    def _render_odometer(
        self, vehicles: list[SimVehicle], sizes: I64, series: _Series, rows: I64
    ) -> pa.Array:
        meters = _numbers(series.columns["meters"][rows])
        return _json_objects(
            '{"time":"', _stamp_array(series.time[rows]), '","value":', meters, "}"
        )

    # ------------------------------------------------------------------------- odometer
    def odometer_readings(self, start: int, end: int) -> tuple[I64, I64, I64]:
        """Rendered OBD odometer readings in ``[start, end)`` µs: (vehicle index, time µs,
        whole meters), sorted by vehicle then time. Independent of the window asked."""
        if end <= start:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
        first = max(start // _DAY_US, _us(_midnight(self.fleet.epoch)) // _DAY_US)
        days = [self._odometer_day(d) for d in range(first, (end - 1) // _DAY_US + 1)]
        if not days:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
        index = np.concatenate([d[0] for d in days])
        time = np.concatenate([d[1] for d in days])
        meters = np.concatenate([d[2] for d in days])
        keep = (time >= start) & (time < end)
        order = np.lexsort((time[keep], index[keep]))
        return index[keep][order], time[keep][order], meters[keep][order]

    def _make_odometer_day(self, day: int) -> tuple[I64, I64, I64]:
        """One UTC day (days since 1970) of readings: at every engine transition, and every
        5-10 min (at millisecond offsets) while the engine is not Off."""
        lo = _EPOCH + timedelta(days=day)
        events = self.fleet.engine_events(lo, lo + timedelta(days=1))
        event_vehicle = events.column("vehicle_id").to_numpy(zero_copy_only=False)
        event_time = _column_us(events, "time")
        event_state = events.column("state").to_numpy(zero_copy_only=False)
        day_end = (day + 1) * _DAY_US
        indices: list[I64] = []
        times: list[I64] = []
        meters: list[I64] = []
        for vehicle in self._active:
            if not self.has_obd(vehicle):
                continue
            mine = event_vehicle == vehicle.id
            ev_t, ev_s = event_time[mine], event_state[mine]
            rng = np.random.default_rng([self.fleet.seed, vehicle.index, day, 0x0D0])
            stamps = [ev_t]
            ends = np.append(ev_t[1:], day_end)
            for begin, finish, state in zip(
                ev_t.tolist(), ends.tolist(), ev_s.tolist(), strict=True
            ):
                if state == "Off":
                    continue
                steps = rng.integers(*_ODOMETER_STEP_MS, size=(finish - begin) // 300_000_000 + 1)
                offsets = np.cumsum(steps) * 1000
                stamps.append(begin + offsets[begin + offsets < finish])
            moments = np.unique(np.concatenate(stamps))
            if not len(moments):
                continue
            miles = self.fleet.odometer_at(vehicle.id, moments.view("datetime64[us]"))
            indices.append(np.full(len(moments), vehicle.index, dtype=np.int64))
            times.append(moments)
            meters.append(np.rint(miles * METERS_PER_MILE).astype(np.int64))
        if not times:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(indices), np.concatenate(times), np.concatenate(meters)

    # ------------------------------------------------------------------------- assignments
    def _assignments(self, request: SimRequest) -> SimResponse:
        filter_by = request.arg("filterBy")
        if filter_by is None:
            raise _Reject(_error(400, "filterBy is required"))
        if filter_by not in ("drivers", "vehicles"):
            raise _Reject(
                _error(
                    400,
                    'value of filterBy must be one of "drivers", "vehicles" '
                    f'but got value "{filter_by}"',
                )
            )
        cursor = self._cursor(request)  # `limit` is ignored: pages always hold 50 rows
        start = self._time(request, "startTime", required=False)
        end = self._time(request, "endTime", required=False)
        start = cursor.as_of if start is None else start
        end = max(start + 1, cursor.as_of + 1 if end is None else end)
        rows = self.assignment_rows(
            start,
            end,
            cursor.as_of,
            vehicle_ids=self._list(request, "vehicleIds") or None,
            driver_ids=self._list(request, "driverIds") or None,
        )
        return self._page(request, rows or None, ASSIGNMENT_PAGE_ROWS, cursor)

    def assignment_rows(
        self,
        start: int,
        end: int,
        as_of: int,
        *,
        vehicle_ids: list[str] | None = None,
        driver_ids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Rendered assignments overlapping ``[start, end)`` µs as known at ``as_of``."""
        known = [v.id for v in self._active if vehicle_ids is None or v.id in vehicle_ids]
        table = self.fleet.assignments(_datetime(start), _datetime(end), vehicle_ids=known)
        begin = _column_us(table, "start")
        finish = _column_us(table, "end")
        vehicles = table.column("vehicle_id").to_pylist()
        drivers = table.column("driver_id").to_pylist()
        rows: list[tuple[int, int, int, str, str, bool]] = []
        hashes = mix(begin // _US, [self.fleet.vehicle(v).index for v in vehicles]).tolist()
        for b, f, v, d, h in zip(
            begin.tolist(), finish.tolist(), vehicles, drivers, hashes, strict=True
        ):
            rows.append((int(v), b, f, v, d, False))
            if self.passenger_every and h % self.passenger_every == 0 and f - b > 1800 * _US:
                rider = self.fleet.drivers[
                    (self.fleet.driver(d).index + 1) % len(self.fleet.drivers)
                ]
                rows.append((int(v), b + 600 * _US, f - 600 * _US, v, rider.id, True))
        rows.sort()
        out = []
        for _, b, f, v, d, passenger in rows:
            if b > as_of or not (b < end and f > start):
                continue
            if driver_ids is not None and d not in driver_ids:
                continue
            vehicle, driver = self.fleet.vehicle(v), self.fleet.driver(d)
            row: dict[str, Any] = {
                "driver": {"id": driver.id, "name": driver.name},
                "vehicle": {
                    "id": vehicle.id,
                    "name": vehicle.fleet_number,
                    "externalIds": self._external_ids(vehicle),
                },
                "startTime": _stamps(np.array([b], dtype=np.int64), "us")[0],
            }
            if f <= as_of:  # an assignment still running has no endTime yet
                row["endTime"] = _stamps(np.array([f], dtype=np.int64), "us")[0]
            row["assignedAtTime"] = ""
            row["assignmentType"] = "driverApp" if passenger else ("HOS", "static")[b // _US % 2]
            row["isPassenger"] = passenger
            out.append(row)
        return out

    # ------------------------------------------------------------------------- trips, idling
    def _runs(
        self, lo: int, hi: int, vehicle_ids: list[str] | None, state: str
    ) -> list[dict[str, Any]]:
        """Periods in ``state``, from a transition into it to the next transition, among the
        transitions of ``[lo - 1 day, hi + 1 day)``: vehicle_id, begin, finish (µs),
        ``after_off`` (the state before was Off), and ``start_``/``end_`` + latitude,
        longitude, odometer_miles, location_description, driver_id of the points there
        (transitions happen exactly at points)."""
        margin = timedelta(days=1)
        a = max(_datetime(lo) - margin, _midnight(self.fleet.epoch))
        b = _datetime(hi) + margin
        if b <= a:
            return []
        events = self.fleet.engine_events(a, b, vehicle_ids=vehicle_ids)
        vid = events.column("vehicle_id").to_numpy(zero_copy_only=False)
        time = _column_us(events, "time")
        states = events.column("state").to_numpy(zero_copy_only=False)
        same_next = np.append(vid[1:] == vid[:-1], False)
        pick = np.flatnonzero((states == state) & same_next)
        if not len(pick):
            return []
        previous = np.full(len(vid), "Off", dtype=object)
        same_prev = np.insert(vid[1:] == vid[:-1], 0, False)
        previous[same_prev] = states[np.flatnonzero(same_prev) - 1]

        points = self.fleet.points(a, b, vehicle_ids=vehicle_ids)
        p_vid = points.column("vehicle_id").to_numpy(zero_copy_only=False)
        p_time = _column_us(points, "timestamp")
        ids = np.unique(p_vid)  # points are sorted by (vehicle_id, timestamp)
        origin = _us(a)
        span = _us(b) - origin  # one (vehicle, time) number per point: rank * span + offset
        p_key = np.searchsorted(ids, p_vid).astype(np.int64) * span + (p_time - origin)
        runs: list[dict[str, Any]] = [
            {
                "vehicle_id": vid[i],
                "begin": int(time[i]),
                "finish": int(time[i + 1]),
                "after_off": previous[i] == "Off",
            }
            for i in pick.tolist()
        ]
        for side, rows in (("start_", pick), ("end_", pick + 1)):
            key = np.searchsorted(ids, vid[rows]).astype(np.int64) * span + (time[rows] - origin)
            at = pa.array(np.searchsorted(p_key, key))
            for name in (
                "latitude",
                "longitude",
                "odometer_miles",
                "location_description",
                "driver_id",
            ):
                values = points.column(name).take(at).to_pylist()
                for run, value in zip(runs, values, strict=True):
                    run[side + name] = value
        return runs

    def _trips(self, request: SimRequest) -> SimResponse:
        values = self._list(request, "vehicleId")
        if not values:
            raise _Reject(_rpc_error("Missing parameter: vehicleId"))
        if len(values) > 1 or not values[0].isdigit():
            raise _Reject(_rpc_error(f"Invalid value for parameter vehicleId: {values}"))
        bounds = []
        for name in ("startMs", "endMs"):
            text = request.arg(name)
            if text is None:
                raise _Reject(_rpc_error(f"Missing parameter: {name}"))
            try:
                bounds.append(int(text))
            except ValueError:
                raise _Reject(_rpc_error(f"Invalid value for parameter {name}: {text}")) from None
        start_ms, end_ms = bounds
        if end_ms - start_ms > _MAX_TRIP_RANGE_MS:
            raise _Reject(_rpc_error("requested time range cannot exceed 90 days"))
        vehicle_id = values[0]
        known = {v.id for v in self._active}
        if vehicle_id not in known:
            return SimResponse.json(200, {"trips": []})
        as_of = self._now_us()
        runs = self._runs(start_ms * 1000, end_ms * 1000, [vehicle_id], "On")
        home = self.fleet.vehicle(vehicle_id)
        trips = []
        for run in runs:
            begin_ms, finish_ms = run["begin"] // 1000, run["finish"] // 1000
            # Overlap with [startMs, endMs], endMs inclusive; only finished trips are listed.
            if run["finish"] > as_of or begin_ms > end_ms or finish_ms < start_ms:
                continue
            odo = (run["start_odometer_miles"], run["end_odometer_miles"])
            meters = [round(m * METERS_PER_MILE) for m in odo]
            trip: dict[str, Any] = {
                "startMs": begin_ms,
                "endMs": finish_ms,
                "distanceMeters": meters[1] - meters[0],
                "fuelConsumedMl": round((odo[1] - odo[0]) * 500),
                "tollMeters": 0,
                "startOdometer": meters[0],
                "endOdometer": meters[1],
                "driverId": int(run["start_driver_id"] or 0),
                "startLocation": run["start_location_description"],
                "endLocation": run["end_location_description"],
                "startCoordinates": {
                    "latitude": run["start_latitude"],
                    "longitude": run["start_longitude"],
                },
                "endCoordinates": {
                    "latitude": run["end_latitude"],
                    "longitude": run["end_longitude"],
                },
                "assetIds": [],
                "codriverIds": [],
            }
            depot = {
                "id": int(self._depot_id(home.home_city)),
                "name": f"{home.home_city} yard",
                "address": home.home_city,
            }
            # A day's loop starts and ends at the depot: the first drive leaves it, the
            # second returns to it.
            if _near(run["start_latitude"], run["start_longitude"], home):
                trip["startAddress"] = depot
            if _near(run["end_latitude"], run["end_longitude"], home):
                trip["endAddress"] = depot
            trips.append(trip)
        return SimResponse.json(200, {"trips": trips})

    def _idling_events(self, request: SimRequest) -> SimResponse:
        limit = self._limit(request, IDLING_MAX_LIMIT)
        start, end = self._window(request)
        if end - start > _MAX_IDLING_RANGE_US:
            raise _Reject(_error(400, "Total duration must be less than 3 months."))
        cursor = self._cursor(request)
        runs = self._runs(start, end, None, "Idle")
        rows = []
        for run in runs:
            # Matched by start time; an idle still going on is not reported yet.
            if not start <= run["begin"] < end or run["finish"] > cursor.as_of:
                continue
            duration_ms = (run["finish"] - run["begin"]) // 1000
            fuel = round(duration_ms / 3_600_000 * 2_800, 1)
            key = f"{run['vehicle_id']}:{run['begin']}"
            event: dict[str, Any] = {
                "eventUuid": str(uuid.uuid5(_UUID_NAMESPACE, key)),
                "startTime": _stamps(np.array([run["begin"]], dtype=np.int64), "ms")[0],
                "durationMilliseconds": duration_ms,
                "asset": {"id": int(run["vehicle_id"])},
                "latitude": run["start_latitude"],
                "longitude": run["start_longitude"],
                "ptoState": "inactive",
                "fuelConsumedMilliliters": fuel,
                "fuelCost": {"amount": f"{fuel / 3785.41 * 3.89:.2f}", "currency": "USD"},
                "gaseousFuelConsumedGrams": 0,
                "gaseousFuelCost": {"amount": "0.00", "currency": "USD"},
            }
            if run["start_driver_id"] is not None:
                event["operator"] = {"id": int(run["start_driver_id"])}
            if run["begin"] % 5:
                event["airTemperatureMillicelsius"] = 5_000 + run["begin"] // _US % 25_000
            if run["after_off"]:  # warming up at the depot
                home = self.fleet.vehicle(run["vehicle_id"]).home_city
                event["address"] = {"id": self._depot_id(home), "addressTypes": ["yard"]}
            rows.append((run["begin"], event))
        rows.sort(key=lambda r: r[0])
        return self._page(request, [e for _, e in rows], limit, cursor)

    # ------------------------------------------------------------------------- /addresses
    def _addresses(self, request: SimRequest) -> SimResponse:
        limit = self._limit(request, MAX_LIMIT)
        rows = []
        for city in self._depots:
            homes = [v for v in self.fleet.vehicles if v.home_city == city]
            lat = sum(v.home_lat for v in homes) / len(homes)
            lon = sum(v.home_lon for v in homes) / len(homes)
            rows.append(
                {
                    "id": self._depot_id(city),
                    "name": f"{city} yard",
                    "formattedAddress": city,
                    "latitude": lat,
                    "longitude": lon,
                    "geofence": {
                        "circle": {"latitude": lat, "longitude": lon, "radiusMeters": 8000}
                    },
                    "addressTypes": ["yard"],
                    "notes": "",
                    "createdAtTime": "2025-06-01T12:00:00Z",
                }
            )
        return self._page(request, rows, limit, self._cursor(request))

    # ------------------------------------------------------------------------- the oracle
    def expected_telemetry(self, start: datetime, end: datetime) -> pa.Table:
        return self._expected(start, end)[0]

    def expected_quarantine(self, start: datetime, end: datetime) -> pa.Table:
        return self._expected(start, end)[1]

    def _expected(self, start: datetime, end: datetime) -> tuple[pa.Table, pa.Table]:
        """(rows to store, rows to set aside) of ``[start, end)`` (see the module doc)."""
        as_of = self.now()
        truth = self.fleet.telemetry(self.name, start, end, as_of=as_of)
        ids = truth.column("provider_vehicle_id").to_numpy(zero_copy_only=False)
        index_of = {v.id: v.index for v in self.fleet.vehicles}
        index = np.array([index_of[v] for v in ids.tolist()], dtype=np.int64)
        time = _column_us(truth, "timestamp")

        heading = truth.column("heading_degrees").to_numpy()
        wire_heading = (np.rint(heading).astype(np.int64) % 360).astype(np.float64)
        location = truth.column("location_description")
        bare = self._without_reverse_geo(index, time)
        location = pc.if_else(pa.array(bare), pa.nulls(len(bare), pa.string()), location)

        tolerance = self.odometer_tolerance // timedelta(microseconds=1)
        low = _us(start) - tolerance
        high = min(_us(end) + tolerance + 1, _us(as_of) + 1)
        odometer = self._oracle_odometer(index, time, *self.odometer_readings(low, high), tolerance)

        columns = {name: truth.column(name) for name in truth.column_names}
        columns["heading_degrees"] = pa.array(wire_heading)
        columns["location_description"] = location
        columns["odometer"] = pa.array(odometer, mask=np.isnan(odometer))
        if self.bad_records is None:
            return enforce_telemetry_schema(columns, provider=self.name), (
                QUARANTINE_SCHEMA.empty_table()
            )
        return split_quarantined(
            self._with_bad_records(self.bad_records, columns, index, time, start), self.name
        )

    def _with_bad_records(
        self,
        bad: BadRecords,
        columns: dict[str, Any],
        index: I64,
        time: I64,
        start: datetime,
    ) -> dict[str, Any]:
        """``columns`` as the bad records make them, with a ``reason`` for each bad row."""
        chosen = bad.choose(index, time)
        lost = bad.without_id(index)
        unknown = self._unknown_state(bad, index, time, start)
        unjoined = chosen[TIMESTAMP] | lost  # no vehicle or no time: nothing joined to it
        reason = np.full(len(time), None, dtype=object)
        reason[unknown] = f"unknown engine state '{UNKNOWN_ENGINE_STATE}'"
        reason[chosen[LATITUDE]] = "latitude out of range"
        unreadable = np.flatnonzero(chosen[TIMESTAMP])
        texts = BadRecords.timestamps(_stamp_array(time[unreadable]).to_pylist())
        reason[unreadable] = [f"unparseable timestamp '{text}'" for text in texts]
        reason[lost] = MISSING_VEHICLE_ID

        def null_where(mask: npt.NDArray[np.bool_], values: Any) -> Any:
            return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)

        state = columns["engine_state"].cast(pa.string())
        state = pc.if_else(pa.array(unknown), UNKNOWN_ENGINE_STATE, state)
        latitude = columns["latitude"].to_numpy()
        changed = {
            "provider_vehicle_id": null_where(lost, columns["provider_vehicle_id"]),
            "timestamp": null_where(chosen[TIMESTAMP], columns["timestamp"]),
            "latitude": np.where(chosen[LATITUDE], BadRecords.latitude(latitude), latitude),
            "engine_state": null_where(unjoined, state),
            REASON: pa.array(reason, pa.string()),
        }
        for name in ("driver_id", "driver_name", "odometer"):
            changed[name] = null_where(unjoined, columns[name])
        return columns | changed

    def _unknown_state(self, bad: BadRecords, index: I64, time: I64, start: datetime) -> Any:
        """Which points' engine state is a bad record: their vehicle's latest engine-state
        reading at or before them (looking back two days) carries an unknown value."""
        result = np.zeros(len(time), dtype=bool)
        if not len(time):
            return result
        lo = max(start - timedelta(days=2), _midnight(self.fleet.epoch))
        hi = _datetime(int(time.max()) + 1)
        vehicle, reading_time, _ = self._engine_readings(lo, hi, [v.id for v in self._active])
        index_of = {v.id: v.index for v in self.fleet.vehicles}
        reading_index = np.array([index_of[v] for v in vehicle.tolist()], dtype=np.int64)
        corrupted = bad.choose(reading_index, reading_time)[ENGINE_STATE]
        for code in np.unique(index).tolist():
            mine = reading_index == code
            order = np.argsort(reading_time[mine], kind="stable")
            times, flags = reading_time[mine][order], corrupted[mine][order]
            if not len(times):
                continue
            points = np.flatnonzero(index == code)
            latest = np.searchsorted(times, time[points], side="right") - 1
            result[points] = (latest >= 0) & flags[np.maximum(latest, 0)]
        return result

    @staticmethod
    def _oracle_odometer(
        index: I64, time: I64, r_index: I64, r_time: I64, r_meters: I64, tolerance: int
    ) -> F64:
        """Miles of the nearest reading within ``tolerance`` (earlier on a tie), by brute
        force per vehicle: every point against every reading of its vehicle."""
        result = np.full(len(time), np.nan)
        for vehicle in np.unique(index).tolist():
            points = np.flatnonzero(index == vehicle)
            mine = r_index == vehicle
            readings, meters = r_time[mine], r_meters[mine]
            if not len(readings):
                continue
            for block in range(0, len(points), 1024):
                rows = points[block : block + 1024]
                gaps = np.abs(time[rows][:, None] - readings[None, :])
                best = gaps.argmin(axis=1)  # the first minimum: the earlier reading
                near = gaps[np.arange(len(rows)), best] <= tolerance
                result[rows[near]] = meters[best[near]] / METERS_PER_MILE
        return result


_RENDER: dict[str, Callable[[SamsaraSimulator, list[SimVehicle], I64, _Series, I64], pa.Array]] = {
    TelemetryTypes.GPS: SamsaraSimulator._render_gps,
    TelemetryTypes.ENGINE_STATES: SamsaraSimulator._render_engine,
    TelemetryTypes.OBD_ODOMETER: SamsaraSimulator._render_odometer,
}


def _stamp_array(us: I64) -> pa.Array:
    """Millisecond RFC 3339 stamps as an Arrow string array (the stats/history precision)."""
    moments: npt.NDArray[np.datetime64] = us.view("datetime64[us]").astype("datetime64[ms]")
    return pc.binary_join_element_wise(pa.array(np.datetime_as_string(moments, unit="ms")), "Z", "")


def _unreadable(stamps: pa.Array, chosen: npt.NDArray[np.bool_]) -> pa.Array:
    """``stamps`` with the ``chosen`` ones made unparseable (:meth:`BadRecords.timestamps`)."""
    rows = np.flatnonzero(chosen)
    if not len(rows):
        return stamps
    texts = BadRecords.timestamps(stamps.take(pa.array(rows)).to_pylist())
    return pc.replace_with_mask(stamps, pa.array(chosen), pa.array(texts, pa.string()))


def _numbers(values: npt.NDArray[Any]) -> pa.Array:
    """JSON numbers as text: Arrow writes the shortest form that reads back exactly."""
    return pa.array(values).cast(pa.string())


def _quoted(values: npt.NDArray[Any]) -> pa.Array:
    """JSON strings (quoted, escaped) of a column with few distinct values."""
    encoded = pa.array(values, pa.string()).dictionary_encode()
    texts = [msgspec.json.encode(v).decode() for v in encoded.dictionary.to_pylist()]
    return pa.array(texts, pa.string()).take(encoded.indices)


def _json_objects(*parts: pa.Array | str) -> pa.Array:
    """One JSON object text per row, from per-row text pieces and literal text."""
    return pc.binary_join_element_wise(*parts, "")


def _near(latitude: float, longitude: float, vehicle: SimVehicle) -> bool:
    return abs(latitude - vehicle.home_lat) < 1e-4 and abs(longitude - vehicle.home_lon) < 1e-4


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _column_us(table: pa.Table, name: str) -> I64:
    column = table.column(name)
    if column.num_chunks == 0:
        return np.empty(0, np.int64)
    values: I64 = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    return values


def _more(cursor: _Cursor) -> dict[str, Any]:
    return {"endCursor": cursor.encode(), "hasNextPage": True}


def _done() -> dict[str, Any]:
    return {"endCursor": "", "hasNextPage": False}
