"""MyGeotab's JSON-RPC API rendered from the shared simulated fleet (:class:`fth_core.sim.Fleet`).

What it reproduces (PROVIDERS.md §7)
    * One URL, ``POST /apiv1`` (anything else is a plain-text 404). A call is
      ``{"id": -1, "method": M, "params": {...}}``; success is HTTP 200
      ``{"result": ..., "jsonrpc": "2.0"}`` and every error is HTTP 200 too, naming its exception
      both in ``error.data.type`` and ``error.errors[0].name`` (:func:`fth_geotab.wire.rpc_error`).
      A body that is not a JSON-RPC call is ``JSONRPCError`` (-32700); an unknown method is
      ``MissingMethodException`` (-32601), and so is an unknown ``typeName``, with the misleading
      text the real server sends (it names the method, not the type); bad arguments are
      ``ArgumentException``.
    * ``Authenticate`` (database, userName, password) answers credentials with a fresh
      ``sessionId`` and ``path`` (the :attr:`GeotabSimulator.path` knob, ``"ThisServer"``);
      wrong credentials are ``InvalidUserException`` "Incorrect login credentials @ '<db>'".
      Every other call must carry ``params.credentials`` naming a live session, else
      ``InvalidUserException`` "Invalid session @ '<db>'".
    * Rate limits per (method, typeName) — Authenticate per method — in fixed one-minute
      windows: beyond ``limits[method]`` calls, ``OverLimitException`` "API calls quota exceeded.
      Maximum admitted N per 1m." in an HTTP 200 with an integer ``Retry-After`` (the seconds
      until the window resets, rounded up, at least 1). Admitted answers carry
      ``X-Rate-Limit-Limit: 1m``, ``X-Rate-Limit-Remaining`` and ``X-Rate-Limit-Reset``.
    * ``Get`` stops silently at 5,000 results (or ``resultsLimit``, if smaller) with no sign of
      more; ``GetCountOf`` gives the true count. Device and User sort-seek by id. A Get of
      LogRecord or StatusData naming a device also returns the nearest record just before
      ``fromDate`` and the nearest just after ``toDate``.
    * ``GetFeed`` in version (upload) order: a late upload comes later with an older time;
      ``resultsLimit`` above 50,000 (5,000 for Device and User) is cut silently; no version and
      no ``fromDate`` answers nothing and the head.
    * Entities are camelCase and a key that has no value is omitted, never null.

Choices made where PROVIDERS.md is silent
    * Ids. Device of fleet vehicle ``i``: ``b{i + 1:X}`` (``b1`` ... ``bFFFF``); user of fleet
      driver ``j``: ``b{0x10000 + j:X}``, then two users who are not drivers (the API user
      itself and a dispatcher). Device ids have at most four hex digits and user ids at least
      five, so the two never collide (fleets are limited to 65,535 vehicles). A LogRecord's id is
      ``b`` + hex of ``(epoch second << 16) | vehicle index`` — fixed per point, so a Get and
      the feed name a point alike. A StatusData, DriverChange or Trip id is ``b`` + hex of its
      version, and ``version`` is those 16 hex digits.
    * Versions: per type, an upload second times 2**16 plus the record's rank among the records
      uploaded in that second (ordered by upload time, record time, device id, diagnostic).
      LogRecords are uploaded at the fleet's ``available_at`` (late runs arrive 6-60 h late);
      StatusData and DriverChange at their own time; a Trip when it stops. Only what is
      uploaded by :meth:`now` is served. The head is the upload second after now. A feed
      seeded by ``fromDate`` starts at the first upload second at or after it.
    * Get of LogRecord, StatusData, DriverChange, Trip: ``search.fromDate``/``toDate`` are both
      inclusive (a Trip is matched by ``start``); missing, they are the fleet's epoch and now.
      Results are ordered by device id (as text), then time (then diagnostic), not globally by
      time. ``deviceSearch`` needs an ``id`` (other device searches are refused); an unknown id
      matches nothing. ``diagnosticSearch.id`` filters StatusData (the feed too); the
      neighbours just outside the range are of that diagnostic. A date without a zone is read
      as UTC. ``sort`` is honoured for Device and User only.
    * Devices: ``activeFrom`` is the fleet's epoch; ``activeTo`` is ``2050-01-01`` while
      active. A fleet vehicle that is not active (it never has data) was retired at the epoch,
      active for the year before. :meth:`GeotabSimulator.retire` retires a device later; its
      history keeps rendering. Get Device without ``search.fromDate`` lists the devices whose
      ``activeTo`` is after now (as the real default listing hides retired devices); with it,
      those whose ``activeTo`` is at or after it. Missing VINs are ``""`` and ``"?"`` in turn;
      every fourth device has no ``licensePlate``. Users follow the same rule: drivers the
      fleet deactivated left at the epoch.
    * StatusData renders four diagnostics. Ignition (``DiagnosticIgnitionId``): 1 where the
      fleet's engine goes Off→Idle (shift start), 0 where it goes to Off (shift end); it stays
      on through the break. Odometer (``DiagnosticOdometerAdjustmentId``, metres rounded to
      0.1): at every ignition change and every 5-10 min (millisecond offsets, a seeded stream
      per vehicle-day) while the ignition is on, read from :meth:`Fleet.odometer_at`. Raw
      odometer (``DiagnosticOdometerId``: the adjusted odometer plus a fixed offset per vehicle,
      whole metres) and engine hours (``DiagnosticEngineHoursId``, whole seconds) half an hour
      into the shift and hourly after (give or take a second), so a client that forgets the
      diagnostic filter gets rows it must not read as the odometer. ``controller`` is
      ``"ControllerNoneId"`` on about half the records and ``{"id": "ControllerNoneId"}`` on
      the others (a fixed hash of the record).
    * DriverChange: one at each fleet assignment's start (its driver) and one at its end with
      ``"UnknownDriverId"`` — except at a handover, where only the new driver's is sent. The
      driver is ``{"id", "isDriver": true}``, without ``isDriver`` on about half the records,
      or the bare string ``"UnknownDriverId"``. ``type`` is ``DriverKey``.
    * Trip: two per vehicle-day: ignition on (shift start) to the break, idling through the
      warm-up; and the break's end to the arrival. ``stopDuration`` and ``nextTripStart`` (the
      next trip's start) are omitted while that next trip has not started by now. Distance is
      the odometer's (km, rounded to metres); ``stopPoint`` the GPS point at the stop; the
      driver is the one assigned at the start. Trips are not recalculated: ids stay fixed.
    * GetFeed of Device and User lists every entity (retired ones too), versions numbering them
      in id order; :meth:`GeotabSimulator.retire` moves a device to the feed's end. A
      ``fromDate`` there reads from the start.
    * ``bad_records`` is not supported (ValueError).

The oracle
    :meth:`GeotabSimulator.expected_telemetry` starts from :meth:`Fleet.telemetry` and applies
    the documented join to the *rendered* records, each computed here by simple per-vehicle
    searches, sharing no code with the plugin: speed is the wire's whole km/h in mph; heading
    and location are null; the engine state comes from the latest ignition record at or before
    the point no earlier than ``status_margin`` before the window (none: null; 0: Off; 1 and
    speed > 0: On; 1 and speed 0: Idle); the driver from the latest DriverChange under the same
    rule (``UnknownDriverId`` or none: null); the odometer from the nearest odometer reading
    within ``odometer_tolerance`` on either side (the earlier on a tie), uploaded by now.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.endpoints import parse_utc
from fth_core.schema import enforce_telemetry_schema
from fth_core.sim import Fleet, SimRequest, SimResponse, SimulatedProvider
from fth_core.sim.bad_records import mix
from fth_geotab.settings import DEFAULT_ODOMETER_TOLERANCE, DEFAULT_STATUS_MARGIN
from fth_geotab.wire import (
    ENGINE_HOURS,
    FEED_CAP,
    GET_CAP,
    IGNITION,
    KM_PER_MILE,
    LIMITS_PER_MINUTE,
    METERS_PER_MILE,
    NAME,
    ODOMETER,
    PATH,
    RAW_ODOMETER,
    STILL_ACTIVE,
    UNKNOWN_DRIVER,
    rpc_error,
)

__all__ = ["DIAGNOSTICS", "RECORD_TYPES", "GeotabSimulator"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]

# The diagnostics StatusData renders, by code (a record's ``kind``).
DIAGNOSTICS: tuple[str, ...] = (IGNITION, ODOMETER, RAW_ODOMETER, ENGINE_HOURS)
_IGNITION, _ODOMETER, _RAW_ODOMETER, _ENGINE_HOURS = range(4)
RECORD_TYPES: tuple[str, ...] = ("LogRecord", "StatusData", "DriverChange", "Trip")
_ENTITY_TYPES = ("Device", "User")
_METHODS = ("Authenticate", "Get", "GetCountOf", "GetFeed")

_US = 1_000_000
_DAY_US = 86_400 * _US
_HOUR_US = 3_600 * _US
_ONE_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WINDOW_S = 60.0  # the rate-limit window
_ENTITY_FEED_CAP = 5_000
_LATE_DAYS = 3  # the fleet's late points arrive at most 60 h late: an upload day holds 3 more
_KEY_SHIFT = 37  # 2**37 µs is more than a day: a Get block's key is rank << 37 | µs into the day
_MAX_VEHICLES = 0x10000
_USER_BASE = 0x10000
_RANK_BITS = 16  # a version's rank within its upload second
_ODOMETER_STEP_MS = (300_000, 600_000)  # an odometer reading every 5-10 min while on
_ENGINE_DAY_S = 36_000  # engine hours count at most 10 h a day (shifts last 8-10 h)
_SALT = 0x6E07AB  # separates this simulator's random streams from the fleet's
_CONTROLLER = "ControllerNoneId"
_COMPANY_GROUP = "GroupCompanyId"
_TIMEZONES = (
    "America/Chicago",
    "America/New_York",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
)
_PASSWORD = "geotab-Sim-Pa55word-4e1d8b"
_VERSION_TEXT = re.compile(r"[0-9a-fA-F]{1,16}")
_MISSING_HINT = "Verify the method name and ensure all method parameters are included and correct."


class _Reject(Exception):
    """Stop handling and answer ``response``."""

    def __init__(self, response: SimResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _error(exception: str, message: str, code: int = -32000) -> SimResponse:
    return SimResponse.json(200, rpc_error(exception, message, code))


def _argument(message: str) -> _Reject:
    return _Reject(_error("ArgumentException", message))


def _missing(method: str) -> SimResponse:
    message = f"The method '{method}' could not be found. {_MISSING_HINT}"
    return _error("MissingMethodException", message, -32601)


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _stamp(us: int) -> str:
    """One time as Geotab writes it: ISO-8601 UTC, milliseconds, ``Z``."""
    moment = _datetime(us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _stamps(us: I64) -> pa.Array:
    """Times as Geotab writes them, without the closing ``Z`` (the renderers add it)."""
    moments = us.astype("datetime64[us]").astype("datetime64[ms]")
    return pc.replace_substring(pa.array(moments).cast(pa.string()), " ", "T")


def _numbers(values: npt.NDArray[Any]) -> pa.Array:
    """JSON numbers as text: Arrow writes the shortest form that reads back exactly."""
    return pa.array(values).cast(pa.string())


def _texts(values: Sequence[str]) -> pa.Array:
    return pa.array(values, pa.string())


def _join(texts: pa.Array) -> bytes:
    """JSON object texts joined by commas."""
    if not len(texts):
        return b""
    listed = pa.ListArray.from_arrays(pa.array([0, len(texts)], pa.int32()), texts)
    joined = pc.binary_join(listed, ",")[0]
    return bytes(joined.as_buffer().to_pybytes())


def _timespan(us: int) -> str:
    """A .NET TimeSpan: ``[d.]hh:mm:ss[.fffffff]``."""
    days, rest = divmod(us, _DAY_US)
    hours, rest = divmod(rest, _HOUR_US)
    minutes, rest = divmod(rest, 60 * _US)
    seconds, fraction = divmod(rest, _US)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if days:
        text = f"{days}.{text}"
    if fraction:
        text += f".{fraction * 10:07d}"
    return text


def _column_us(table: pa.Table, name: str) -> I64:
    column = table.column(name)
    if column.num_chunks == 0 or not len(column):
        return np.empty(0, np.int64)
    values: I64 = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    return values


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _argument(f"{name} must be an object")
    return value


def _coin(*parts: Any) -> Bools:
    """A fair, fixed coin per record (a hash of its parts)."""
    flips: Bools = (mix(*parts) >> np.uint64(17)) & np.uint64(1) == 1
    return flips


# --------------------------------------------------------------------------------- record blocks
_COLUMNS: dict[str, dict[str, type[np.generic]]] = {
    "LogRecord": {"latitude": np.float64, "longitude": np.float64, "speed": np.int32},
    "StatusData": {"data": np.float64, "controller_object": np.bool_},
    "DriverChange": {"driver": np.int64, "is_driver": np.bool_},
    "Trip": {
        "stop": np.int64,
        "distance": np.float64,
        "driving": np.int64,
        "idling": np.int64,
        "next_start": np.int64,
        "stop_latitude": np.float64,
        "stop_longitude": np.float64,
        "driver": np.int64,
        "is_driver": np.bool_,
    },
}


def _empty() -> I64:
    return np.empty(0, np.int64)


@dataclass(frozen=True)
class _Block:
    """Records of one type as parallel columns. ``vehicle`` is a fleet vehicle index, ``time``
    the record's time (a Trip's start) and ``available`` its upload time, in µs; ``kind`` the
    diagnostic code (StatusData) or 0; ``version`` the feed version (0 where unknown); ``cols``
    what the type renders besides. A Get block (one UTC day by record time, ordered by device
    id, time, kind) also has ``key``: device rank << 37 | µs into the day, for searches."""

    vehicle: I32
    time: I64
    available: I64
    kind: I8
    version: I64
    cols: dict[str, npt.NDArray[Any]]
    key: I64 = field(default_factory=_empty)

    def __len__(self) -> int:
        return len(self.time)

    def take(self, rows: npt.NDArray[Any]) -> _Block:
        return _Block(
            self.vehicle[rows],
            self.time[rows],
            self.available[rows],
            self.kind[rows],
            self.version[rows],
            {name: values[rows] for name, values in self.cols.items()},
        )


def _block(
    type_name: str,
    vehicle: Sequence[int] | npt.NDArray[Any],
    time: Sequence[int] | I64,
    available: Sequence[int] | I64 | None = None,
    kind: Sequence[int] | npt.NDArray[Any] | None = None,
    **cols: Any,
) -> _Block:
    times = np.asarray(time, dtype=np.int64).reshape(-1)
    n = len(times)
    return _Block(
        np.asarray(vehicle, dtype=np.int32).reshape(-1),
        times,
        times.copy() if available is None else np.asarray(available, dtype=np.int64),
        np.zeros(n, np.int8) if kind is None else np.asarray(kind, dtype=np.int8),
        np.zeros(n, np.int64),
        {
            name: np.asarray(cols.get(name, np.zeros(n)), dtype=dtype).reshape(-1)
            for name, dtype in _COLUMNS[type_name].items()
        },
    )


def _concat(type_name: str, blocks: Sequence[_Block]) -> _Block:
    if not blocks:
        return _block(type_name, [], [])
    if len(blocks) == 1:
        return blocks[0]
    return _Block(
        np.concatenate([b.vehicle for b in blocks]),
        np.concatenate([b.time for b in blocks]),
        np.concatenate([b.available for b in blocks]),
        np.concatenate([b.kind for b in blocks]),
        np.concatenate([b.version for b in blocks]),
        {name: np.concatenate([b.cols[name] for b in blocks]) for name in blocks[0].cols},
    )


def _versions(available: I64, order: npt.NDArray[Any]) -> I64:
    """Versions of records uploaded at ``available`` whose feed order is ``order``: the upload
    second << 16 | the rank within that second."""
    seconds = available[order] // _US
    n = len(seconds)
    starts = np.flatnonzero(np.diff(seconds, prepend=-1))
    rank = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    if n and int(rank.max()) >= 1 << _RANK_BITS:
        raise ValueError("more than 65,536 records uploaded in one second")
    versions = np.empty(n, np.int64)
    versions[order] = (seconds << _RANK_BITS) | rank
    return versions


@dataclass
class _Fault:
    exception: str
    message: str
    method: str | None
    type_name: str | None
    retry_after: float | None
    times: int


@dataclass
class _Window:
    opened: float
    count: int = 0


@dataclass(frozen=True)
class _Search:
    """A Get's record search, resolved: an inclusive time range in µs, the device ranks asked
    (in order), a diagnostic code (or None), and whether a device was named."""

    low: int
    high: int
    ranks: I64
    kind: int | None
    named: bool


class GeotabSimulator(SimulatedProvider):
    """MyGeotab's JSON-RPC API over a :class:`Fleet` (see the module doc for what it renders).

    Knobs: ``path`` (what Authenticate answers), :meth:`expire_sessions`, ``refuse_sessions``,
    :meth:`fail_next`, :meth:`retire`, ``limits`` and ``clock`` (the rate-limit windows' clock,
    ``time.monotonic`` by default). Counters: ``calls`` and ``refused`` ("Method.Type" →
    count of calls admitted by, and refused by, the rate limits), ``issued`` (session ids
    handed out), ``faults_served`` ((method, exception) of each :meth:`fail_next` answer).
    A rate-limit window opens at its key's first call and lasts a minute; every call that
    reaches it is charged (a call refused for its session too). ``device_ids[i]`` and
    ``user_ids[j]`` are the ids of fleet vehicle ``i`` and driver ``j`` (the last two users are
    not drivers). ``cache_days`` bounds the rendered day blocks kept (per type and form).
    """

    name = NAME

    def __init__(
        self,
        fleet: Fleet,
        api_key: str = "",
        as_of: datetime | None = None,
        *,
        bad_records: Any = None,
        database: str = "fleetdb",
        username: str = "sim.user@geotab.example",
        password: str = _PASSWORD,
        limits: Mapping[str, int] | None = LIMITS_PER_MINUTE,
        odometer_tolerance: timedelta = DEFAULT_ODOMETER_TOLERANCE,
        status_margin: timedelta = DEFAULT_STATUS_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        cache_days: int = 64,
    ) -> None:
        if bad_records is not None:
            raise ValueError("the geotab simulator renders no bad records")
        if len(fleet.vehicles) >= _MAX_VEHICLES:
            raise ValueError(f"the geotab simulator takes fewer than {_MAX_VEHICLES} vehicles")
        super().__init__(fleet, api_key, as_of)
        self.database = database
        self.username = username
        self.password = password
        self.limits: dict[str, int] | None = None if limits is None else dict(limits)
        self.odometer_tolerance = odometer_tolerance
        self.status_margin = status_margin
        self.clock = clock
        self.path = "ThisServer"
        self.refuse_sessions = False
        self.issued: list[str] = []
        self.faults_served: list[tuple[str, str]] = []
        self.calls: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._sessions: set[str] = set()
        self._faults: list[_Fault] = []
        self._windows: dict[str, _Window] = {}
        self._cache: OrderedDict[tuple[str, str, int], _Block] = OrderedDict()
        self._cache_size = cache_days

        count = len(fleet.vehicles)
        self.device_ids: tuple[str, ...] = tuple(f"b{i + 1:X}" for i in range(count))
        drivers = len(fleet.drivers)
        self.user_ids: tuple[str, ...] = tuple(f"b{_USER_BASE + j:X}" for j in range(drivers + 2))
        self._device_index = {d: i for i, d in enumerate(self.device_ids)}
        # Vehicle indices in device-id order, and each vehicle's rank in it.
        self._order: tuple[int, ...] = tuple(sorted(range(count), key=lambda i: self.device_ids[i]))
        self._rank: I64 = np.empty(count, np.int64)
        self._rank[list(self._order)] = np.arange(count)
        self._has_data = np.array([v.status == "active" for v in fleet.vehicles], dtype=bool)
        self._device_text = pa.array(self.device_ids, pa.string())
        self._fleet_ids = pa.array([v.id for v in fleet.vehicles], pa.string())
        self._driver_ids = pa.array([d.id for d in fleet.drivers], pa.string())
        self._diagnostic_text = pa.array([f'"{d}"' for d in DIAGNOSTICS], pa.string())
        # Vehicles without a VIN send "" and "?" in turn.
        without = [v.index for v in fleet.vehicles if v.vin is None]
        self._no_vin = {index: ("", "?")[k % 2] for k, index in enumerate(without)}
        self._epoch_us = _us(_midnight(fleet.epoch))
        self._epoch_day = self._epoch_us // _DAY_US
        self._active_to: dict[int, int] = {
            v.index: _us(parse_utc(STILL_ACTIVE)) if v.status == "active" else self._epoch_us
            for v in fleet.vehicles
        }
        # Device feed versions (in id order; a retired device moves to the end).
        self._device_version = {index: rank + 1 for rank, index in enumerate(self._order)}
        self._builders: dict[str, Callable[[int], _Block]] = {
            "LogRecord": self._build_log_records,
            "StatusData": self._build_status_data,
            "DriverChange": self._build_driver_changes,
            "Trip": self._build_trips,
        }
        self._renderers: dict[str, Callable[[_Block], pa.Array]] = {
            "LogRecord": self._render_log_records,
            "StatusData": self._render_status_data,
            "DriverChange": self._render_driver_changes,
            "Trip": self._render_trips,
        }

    # ------------------------------------------------------------------------------- knobs
    def credentials(self) -> dict[str, str]:
        return {"database": self.database, "username": self.username, "password": self.password}

    def expire_sessions(self) -> None:
        """Every session issued so far dies."""
        with self._lock:
            self._sessions.clear()

    def fail_next(
        self,
        exception: str,
        message: str,
        *,
        method: str | None = None,
        type_name: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls (of ``method`` and ``type_name``, or any) with
        ``exception``; ``retry_after`` adds that header, rounded up to whole seconds."""
        with self._lock:
            self._faults.append(_Fault(exception, message, method, type_name, retry_after, times))

    def retire(self, device_id: str, when: datetime) -> None:
        """Set a device's ``activeTo``; its records keep rendering."""
        index = self._device(device_id)
        if index is None:
            raise KeyError(f"no device {device_id!r}")
        with self._lock:
            self._active_to[index] = _us(when)
            self._device_version[index] = max(self._device_version.values()) + 1

    # ------------------------------------------------------------------------------- the wire
    def __call__(self, request: SimRequest) -> SimResponse:
        if request.method != "POST" or request.path.rstrip("/") != PATH:
            return SimResponse.text(404, "Not Found")
        call = request.json()
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return _error("JSONRPCError", "Invalid JSON-RPC request", -32700)
        params = call.get("params", {})
        if not isinstance(params, dict):
            return _error("JSONRPCError", "Invalid JSON-RPC request: params", -32700)
        method: str = call["method"]
        type_name = params.get("typeName")
        type_text = type_name if isinstance(type_name, str) else None
        fault = self._take_fault(method, type_text)
        if fault is not None:
            return fault
        scope = method if method == "Authenticate" or type_text is None else f"{method}.{type_text}"
        refused, headers = self._admit(scope, method)
        if refused is not None:
            return refused
        if method in _METHODS and method != "Authenticate" and not self._session_ok(params):
            response = self._invalid_session()
        else:
            response = self.handle(request)
        response.headers.update(headers)
        return response

    def authorized(self, request: SimRequest) -> bool:
        call = request.json()
        if not isinstance(call, dict):
            return False
        if call.get("method") == "Authenticate":
            return True  # Authenticate checks the password itself
        params = call.get("params")
        return isinstance(params, dict) and self._session_ok(params)

    def unauthorized(self, request: SimRequest) -> SimResponse:
        return self._invalid_session()

    def handle(self, request: SimRequest) -> SimResponse:
        call = request.json()
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return _error("JSONRPCError", "Invalid JSON-RPC request", -32700)
        params = call.get("params", {})
        if not isinstance(params, dict):
            return _error("JSONRPCError", "Invalid JSON-RPC request: params", -32700)
        if call["method"] not in _METHODS:
            return _missing(call["method"])
        try:
            return self._dispatch(call["method"], params)
        except _Reject as rejected:
            return rejected.response

    def rate_limited(self, retry_after: float) -> SimResponse:
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        return SimResponse.json(
            200, rpc_error("OverLimitException", "API calls quota exceeded."), headers
        )

    def _invalid_session(self) -> SimResponse:
        return _error("InvalidUserException", f"Invalid session @ '{self.database}'")

    def _session_ok(self, params: Mapping[str, Any]) -> bool:
        given = params.get("credentials")
        if not isinstance(given, dict) or self.refuse_sessions:
            return False
        with self._lock:
            known = given.get("sessionId") in self._sessions
        return (
            known
            and given.get("database") == self.database
            and given.get("userName") == self.username
        )

    def _take_fault(self, method: str, type_name: str | None) -> SimResponse | None:
        with self._lock:
            for fault in self._faults:
                if fault.method not in (None, method) or fault.type_name not in (None, type_name):
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                self.faults_served.append((method, fault.exception))
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(max(1, math.ceil(fault.retry_after)))
                return SimResponse.json(200, rpc_error(fault.exception, fault.message), headers)
        return None

    def _admit(self, scope: str, method: str) -> tuple[SimResponse | None, dict[str, str]]:
        """Charge a call to its window: (the OverLimit answer, or None; headers to add)."""
        limit = None if self.limits is None else self.limits.get(method)
        with self._lock:
            if limit is None:
                self.calls[scope] += 1
                return None, {}
            now = self.clock()
            window = self._windows.get(scope)
            if window is None or now >= window.opened + _WINDOW_S:
                window = self._windows[scope] = _Window(now)
            left = window.opened + _WINDOW_S - now
            if window.count >= limit:
                self.refused[scope] += 1
                message = f"API calls quota exceeded. Maximum admitted {limit} per 1m."
                headers = {"Retry-After": str(max(1, math.ceil(left)))}
                return SimResponse.json(200, rpc_error("OverLimitException", message), headers), {}
            window.count += 1
            self.calls[scope] += 1
            remaining = limit - window.count
        reset = datetime.now(UTC) + timedelta(seconds=left)
        return None, {
            "X-Rate-Limit-Limit": "1m",
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": _stamp(_us(reset)),
        }

    def _dispatch(self, method: str, params: dict[str, Any]) -> SimResponse:
        if method == "Authenticate":
            return self._authenticate(params)
        type_name = params.get("typeName")
        if type_name not in RECORD_TYPES and type_name not in _ENTITY_TYPES:
            return _missing(method)
        assert isinstance(type_name, str)
        if method == "GetFeed":
            if type_name in _ENTITY_TYPES:
                return self._entity_feed(type_name, params)
            return self._record_feed(type_name, params)
        if type_name in _ENTITY_TYPES:
            entities = self._entities(type_name, params, seek=method == "Get")
            if method == "GetCountOf":
                return _ok(len(entities))
            return _ok(entities[: self._limit(params, GET_CAP)])
        search = self._search(type_name, params)
        if method == "GetCountOf":
            return _ok(self._count(type_name, search))
        return self._get_records(type_name, search, self._limit(params, GET_CAP))

    def _authenticate(self, params: Mapping[str, Any]) -> SimResponse:
        database = params.get("database")
        if (
            database != self.database
            or params.get("userName") != self.username
            or params.get("password") != self.password
        ):
            message = f"Incorrect login credentials @ '{database}'"
            return _error("InvalidUserException", message)
        session_id = secrets.token_urlsafe(16)
        with self._lock:
            self._sessions.add(session_id)
            self.issued.append(session_id)
        credentials = {
            "database": self.database,
            "userName": self.username,
            "sessionId": session_id,
        }
        return _ok({"credentials": credentials, "path": self.path})

    # ------------------------------------------------------------------------------- arguments
    @staticmethod
    def _limit(params: Mapping[str, Any], cap: int) -> int:
        value = params.get("resultsLimit")
        if value is None:
            return cap
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _argument(f"resultsLimit must be a positive integer, not {value!r}")
        return min(value, cap)

    @staticmethod
    def _date(search: Mapping[str, Any], name: str) -> int | None:
        value = search.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            for text in (value, value.strip() + "Z"):
                try:
                    return _us(parse_utc(text))
                except ValueError:
                    continue
        raise _argument(f"{name} '{value}' is not a date")

    def _device(self, device_id: Any) -> int | None:
        return self._device_index.get(device_id) if isinstance(device_id, str) else None

    def _now_us(self) -> int:
        return _us(self.now())

    # ------------------------------------------------------------------------------- devices, users
    def _device_entity(self, index: int) -> dict[str, Any]:
        vehicle = self.fleet.vehicles[index]
        active = vehicle.status == "active"
        active_from = self._epoch_us if active else self._epoch_us - 365 * _DAY_US
        entity: dict[str, Any] = {
            "id": self.device_ids[index],
            "name": vehicle.fleet_number,
            "serialNumber": vehicle.serial,
            "vehicleIdentificationNumber": vehicle.vin or self._no_vin[index],
        }
        if index % 4 != 3:
            entity["licensePlate"] = f"{vehicle.serial[:3]}{index + 1:04d}"
        entity["activeFrom"] = _stamp(active_from)
        entity["activeTo"] = _stamp(self._active_to[index])
        entity["timeZoneId"] = _TIMEZONES[index % len(_TIMEZONES)]
        entity["groups"] = [{"id": _COMPANY_GROUP}]
        return entity

    def _user_entities(self) -> list[tuple[int, dict[str, Any]]]:
        """(activeTo µs, entity) of every user, drivers first, then the two who are not."""
        still = _us(parse_utc(STILL_ACTIVE))
        users: list[tuple[int, dict[str, Any]]] = []
        for driver in self.fleet.drivers:
            active_to = still if driver.status == "active" else self._epoch_us
            users.append(
                (
                    active_to,
                    {
                        "id": self.user_ids[driver.index],
                        "name": driver.username,
                        "firstName": driver.first_name,
                        "lastName": driver.last_name,
                        "isDriver": True,
                        "employeeNo": driver.id,
                        "keys": [],
                        "activeFrom": _stamp(self._epoch_us - 30 * _DAY_US),
                        "activeTo": _stamp(active_to),
                    },
                )
            )
        others = (
            (self.username, "Sim", "Integration"),
            ("dispatch@geotab.example", "Dana", "Dispatcher"),
        )
        for offset, (login, first, last) in enumerate(others):
            entity: dict[str, Any] = {
                "id": self.user_ids[len(self.fleet.drivers) + offset],
                "name": login,
                "firstName": first,
                "lastName": last,
                "isDriver": False,
                "keys": [],
                "activeFrom": _stamp(self._epoch_us - 90 * _DAY_US),
                "activeTo": STILL_ACTIVE,
            }
            users.append((still, entity))
        return users

    def _entities(
        self, type_name: str, params: Mapping[str, Any], *, seek: bool
    ) -> list[dict[str, Any]]:
        """What Get lists (uncapped), sorted by id, after ``sort.offset`` when ``seek``."""
        search = _mapping(params.get("search"), "search")
        since = self._date(search, "fromDate")
        floor = self._now_us() + 1 if since is None else since  # activeTo at or after it
        if type_name == "Device":
            with self._lock:
                active_to = dict(self._active_to)
            rows = [self._device_entity(i) for i in self._order if active_to[i] >= floor]
        else:
            rows = [entity for until, entity in self._user_entities() if until >= floor]
            wanted = search.get("isDriver")
            if isinstance(wanted, bool):
                rows = [entity for entity in rows if entity["isDriver"] is wanted]
            rows.sort(key=lambda entity: str(entity["id"]))
        if "id" in search:
            rows = [entity for entity in rows if entity["id"] == search["id"]]
        if not seek:
            return rows
        sort = _mapping(params.get("sort"), "sort")
        if sort.get("sortBy", "id") != "id":
            raise _argument(f"cannot sort {type_name} by {sort.get('sortBy')!r}")
        direction = str(sort.get("sortDirection", "asc")).lower()
        if direction not in ("asc", "desc"):
            raise _argument(f"sortDirection {sort.get('sortDirection')!r} is not asc or desc")
        offset = sort.get("offset")
        if direction == "desc":
            rows.reverse()
        if isinstance(offset, str):
            if direction == "asc":
                rows = [entity for entity in rows if entity["id"] > offset]
            else:
                rows = [entity for entity in rows if entity["id"] < offset]
        return rows

    def _entity_feed(self, type_name: str, params: Mapping[str, Any]) -> SimResponse:
        limit = self._limit(params, _ENTITY_FEED_CAP)
        listed: list[tuple[int, dict[str, Any]]]
        if type_name == "Device":
            with self._lock:
                versions = dict(self._device_version)
            listed = sorted(
                ((v, self._device_entity(i)) for i, v in versions.items()), key=lambda p: p[0]
            )
        else:
            users = sorted((e for _, e in self._user_entities()), key=lambda e: str(e["id"]))
            listed = [(n + 1, e) for n, e in enumerate(users)]
        head = listed[-1][0] + 1 if listed else 1
        start = self._from_version(params)
        if start is None:
            search = _mapping(params.get("search"), "search")
            if self._date(search, "fromDate") is None:
                return _ok({"data": [], "toVersion": f"{head:016x}"})
            start = 0  # entities have no time: a date reads from the start
        page = [(v, e) for v, e in listed if v >= start][:limit]
        following = page[-1][0] + 1 if len(page) == limit else max(start, head)
        return _ok({"data": [e for _, e in page], "toVersion": f"{following:016x}"})

    @staticmethod
    def _from_version(params: Mapping[str, Any]) -> int | None:
        value = params.get("fromVersion")
        if value is None:
            return None
        if not isinstance(value, str) or not _VERSION_TEXT.fullmatch(value):
            raise _argument(f"fromVersion '{value}' is not a version")
        return int(value, 16)

    # ------------------------------------------------------------------------------- blocks
    def _cached(self, type_name: str, form: str, day: int, build: Callable[[], _Block]) -> _Block:
        key = (type_name, form, day)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        block = build()
        with self._lock:
            self._cache[key] = block
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return block

    def _get_block(self, type_name: str, day: int) -> _Block:
        """The records of ``type_name`` timed on UTC day ``day`` (days since 1970), ordered by
        device id, time and kind, with search keys (and versions, for types uploaded on their
        own day)."""

        def build() -> _Block:
            raw = self._builders[type_name](day)
            rank = self._rank[raw.vehicle]
            order = np.lexsort((raw.kind, raw.time, rank))
            block = raw.take(order)
            key = (rank[order] << _KEY_SHIFT) | (block.time - day * _DAY_US)
            version = block.version
            if type_name != "LogRecord":
                version = _versions(block.available, self._feed_order(block))
            return _Block(
                block.vehicle, block.time, block.available, block.kind, version, block.cols, key
            )

        return self._cached(type_name, "get", day, build)

    def _feed_order(self, block: _Block) -> npt.NDArray[Any]:
        return np.lexsort((block.kind, self._rank[block.vehicle], block.time, block.available))

    def _feed_block(self, type_name: str, day: int) -> _Block:
        """The records of ``type_name`` uploaded on UTC day ``day``, in version order."""

        def build() -> _Block:
            late = _LATE_DAYS if type_name == "LogRecord" else 0
            low, high = day * _DAY_US, (day + 1) * _DAY_US
            parts = []
            for source in range(max(day - late, self._epoch_day), day + 1):
                block = self._get_block(type_name, source)
                rows = np.flatnonzero((block.available >= low) & (block.available < high))
                parts.append(block.take(rows))
            merged = _concat(type_name, parts)
            order = self._feed_order(merged)
            version = _versions(merged.available, order)
            merged = _Block(
                merged.vehicle, merged.time, merged.available, merged.kind, version, merged.cols
            )
            return merged.take(order)

        return self._cached(type_name, "feed", day, build)

    def _vehicle_indices(self, column: pa.ChunkedArray | pa.Array) -> I64:
        if not len(column):
            return np.empty(0, np.int64)
        found = pc.index_in(column, value_set=self._fleet_ids)
        values: I64 = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)
        return values

    def _build_log_records(self, day: int) -> _Block:
        start = _datetime(day * _DAY_US)
        points = self.fleet.points(start, start + _ONE_DAY)
        speed = points.column("speed_mph").to_numpy()
        return _block(
            "LogRecord",
            self._vehicle_indices(points.column("vehicle_id")),
            _column_us(points, "timestamp"),
            _column_us(points, "available_at"),
            latitude=points.column("latitude").to_numpy(),
            longitude=points.column("longitude").to_numpy(),
            speed=np.rint(speed * KM_PER_MILE).astype(np.int64),
        )

    def _engine_days(self, day: int) -> dict[int, tuple[I64, npt.NDArray[Any]]]:
        """Each vehicle's engine transitions on day ``day``: (times µs, states)."""
        start = _datetime(day * _DAY_US)
        events = self.fleet.engine_events(start, start + _ONE_DAY)
        vehicle = self._vehicle_indices(events.column("vehicle_id"))
        times = _column_us(events, "time")
        states = np.asarray(events.column("state").to_numpy(zero_copy_only=False), dtype=object)
        return {
            index: (times[vehicle == index], states[vehicle == index])
            for index in np.unique(vehicle).tolist()
        }

    @staticmethod
    def _ignition(times: I64, states: npt.NDArray[Any], day_end: int) -> list[tuple[int, int]]:
        """(on, off) periods of the ignition: on where the engine leaves Off, off where it
        returns to Off (the day's end if it does not)."""
        previous = np.concatenate((np.array(["Off"], dtype=object), states[:-1]))
        ons = times[(previous == "Off") & (states != "Off")].tolist()
        offs = times[(states == "Off") & (previous != "Off")].tolist()
        periods = []
        for on in ons:
            later = [off for off in offs if off > on]
            periods.append((on, later[0] if later else day_end))
        return periods

    def _build_status_data(self, day: int) -> _Block:
        day_end = (day + 1) * _DAY_US
        vehicles: list[I64] = []
        times: list[I64] = []
        kinds: list[I64] = []
        data: list[F64] = []
        for index, (event_t, event_s) in self._engine_days(day).items():
            periods = self._ignition(event_t, event_s, day_end)
            if not periods:
                continue
            vehicle_id = self.fleet.vehicles[index].id
            rng = np.random.default_rng([self.fleet.seed, index, day, _SALT])
            ignition_t = np.array([t for period in periods for t in period if t < day_end])
            ignition_v = np.array(
                [v for on, off in periods for t, v in ((on, 1), (off, 0)) if t < day_end],
                dtype=np.float64,
            )
            odometer_t = [ignition_t]
            hourly_t = []
            for on, off in periods:
                steps = rng.integers(
                    *_ODOMETER_STEP_MS, endpoint=True, size=(off - on) // 300_000_000 + 1
                )
                offsets = np.cumsum(steps) * 1000
                odometer_t.append(on + offsets[on + offsets < off])
                marks = on + _HOUR_US // 2 + np.arange(0, max(off - on, 0), _HOUR_US)
                jitter = rng.integers(0, 1000, size=len(marks)) * 1000
                hourly_t.append((marks + jitter)[marks + jitter < off])
            odometer = np.unique(np.concatenate(odometer_t)).astype(np.int64)
            hourly = np.unique(np.concatenate(hourly_t)).astype(np.int64)
            odometer_m = np.round(
                self.fleet.odometer_at(vehicle_id, odometer.astype("datetime64[us]"))
                * METERS_PER_MILE,
                1,
            )
            raw_m = np.rint(
                self.fleet.odometer_at(vehicle_id, hourly.astype("datetime64[us]"))
                * METERS_PER_MILE
                + 5_000
                + 1_000 * (index % 17)
            )
            on_t = np.array([on for on, _ in periods], dtype=np.int64)
            span = np.array([off - on for on, off in periods], dtype=np.int64)
            running = np.clip(hourly[:, None] - on_t[None, :], 0, span[None, :]).sum(axis=1)
            engine_s = (
                3_600 * (2_000 + 97 * (index % 50))
                + (day - self._epoch_day) * _ENGINE_DAY_S
                + running // _US
            ).astype(np.float64)
            for code, moments, values in (
                (_IGNITION, ignition_t, ignition_v),
                (_ODOMETER, odometer, odometer_m),
                (_RAW_ODOMETER, hourly, raw_m),
                (_ENGINE_HOURS, hourly, engine_s),
            ):
                vehicles.append(np.full(len(moments), index, np.int64))
                times.append(np.asarray(moments, dtype=np.int64))
                kinds.append(np.full(len(moments), code, np.int64))
                data.append(np.asarray(values, dtype=np.float64))
        if not times:
            return _block("StatusData", [], [])
        vehicle = np.concatenate(vehicles)
        stamps = np.concatenate(times)
        kind = np.concatenate(kinds)
        return _block(
            "StatusData",
            vehicle,
            stamps,
            kind=kind,
            data=np.concatenate(data),
            controller_object=_coin(vehicle, stamps // 1000, kind),
        )

    def _assignments(self, day: int) -> tuple[I64, I64, I64, I64]:
        """The fleet's assignments overlapping day ``day``: vehicle, driver index, start, end."""
        start = _datetime(day * _DAY_US)
        table = self.fleet.assignments(start, start + _ONE_DAY)
        if not table.num_rows:
            return _empty(), _empty(), _empty(), _empty()
        found = pc.index_in(table.column("driver_id"), value_set=self._driver_ids)
        driver: I64 = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)
        return (
            self._vehicle_indices(table.column("vehicle_id")),
            driver,
            _column_us(table, "start"),
            _column_us(table, "end"),
        )

    def _build_driver_changes(self, day: int) -> _Block:
        low, high = day * _DAY_US, (day + 1) * _DAY_US
        vehicle, driver, begin, end = self._assignments(day)
        starts = set(zip(vehicle.tolist(), begin.tolist(), strict=True))
        rows: list[tuple[int, int, int]] = []
        for v, d, b, e in zip(
            vehicle.tolist(), driver.tolist(), begin.tolist(), end.tolist(), strict=True
        ):
            if low <= b < high:
                rows.append((v, b, d))
            if low <= e < high and (v, e) not in starts:  # a handover sends the new driver only
                rows.append((v, e, -1))
        vehicles = np.array([r[0] for r in rows], dtype=np.int64)
        stamps = np.array([r[1] for r in rows], dtype=np.int64)
        return _block(
            "DriverChange",
            vehicles,
            stamps,
            driver=[r[2] for r in rows],
            is_driver=_coin(vehicles, stamps // _US, 7),
        )

    def _build_trips(self, day: int) -> _Block:
        low = day * _DAY_US
        today = self._engine_days(day)
        tomorrow = self._engine_days(day + 1)
        vehicle, driver, begin, end = self._assignments(day)
        points = self._get_block("LogRecord", day)
        rows: list[dict[str, Any]] = []
        for index, (event_t, event_s) in today.items():
            if list(event_s) != ["Idle", "On", "Idle", "On", "Off"]:
                continue  # not the fleet's one-shift day: no trips
            ignition, depart, pause, resume, arrive = (int(t) for t in event_t)
            following = tomorrow.get(index)
            next_day = int(following[0][0]) if following and len(following[0]) else -1
            vehicle_id = self.fleet.vehicles[index].id
            for start, moving, stop, next_start in (
                (ignition, depart, pause, resume),
                (resume, resume, arrive, next_day),
            ):
                miles = self.fleet.odometer_at(
                    vehicle_id, np.array([start, stop], dtype=np.int64).astype("datetime64[us]")
                )
                key = (int(self._rank[index]) << _KEY_SHIFT) | (stop - low)
                at = int(np.searchsorted(points.key, key))
                found = at < len(points) and int(points.key[at]) == key
                mine = (vehicle == index) & (begin <= start) & (end > start)
                who = int(driver[mine][0]) if mine.any() else -1
                rows.append(
                    {
                        "vehicle": index,
                        "time": start,
                        "available": stop,
                        "stop": stop,
                        "distance": round(float(miles[1] - miles[0]) * KM_PER_MILE, 3),
                        "driving": stop - moving,
                        "idling": moving - start,
                        "next_start": next_start,
                        "stop_latitude": points.cols["latitude"][at] if found else np.nan,
                        "stop_longitude": points.cols["longitude"][at] if found else np.nan,
                        "driver": who,
                    }
                )
        vehicles = np.array([r["vehicle"] for r in rows], dtype=np.int64)
        stamps = np.array([r["time"] for r in rows], dtype=np.int64)
        columns = {
            name: [r[name] for r in rows] for name in _COLUMNS["Trip"] if name != "is_driver"
        }
        return _block(
            "Trip",
            vehicles,
            stamps,
            [r["available"] for r in rows],
            is_driver=_coin(vehicles, stamps // _US, 11),
            **columns,
        )

    # ------------------------------------------------------------------------------- renderers
    def _render_log_records(self, block: _Block) -> pa.Array:
        ids = [f"b{k:X}" for k in (((block.time // _US) << 16) | block.vehicle).tolist()]
        return pc.binary_join_element_wise(
            '{"id":"', _texts(ids),
            '","device":{"id":"', self._device_text.take(pa.array(block.vehicle)),
            '"},"dateTime":"', _stamps(block.time),
            'Z","latitude":', _numbers(block.cols["latitude"]),
            ',"longitude":', _numbers(block.cols["longitude"]),
            ',"speed":', _numbers(block.cols["speed"]),
            "}",
            "",
        )  # fmt: skip

    def _render_status_data(self, block: _Block) -> pa.Array:
        versions = block.version.tolist()
        data = block.cols["data"]
        whole = _numbers(np.rint(data).astype(np.int64))
        text = pc.if_else(pa.array(block.kind == _ODOMETER), _numbers(data), whole)
        controller = pc.if_else(
            pa.array(block.cols["controller_object"]),
            f'{{"id":"{_CONTROLLER}"}}',
            f'"{_CONTROLLER}"',
        )
        return pc.binary_join_element_wise(
            '{"id":"', _texts([f"b{v:X}" for v in versions]),
            '","device":{"id":"', self._device_text.take(pa.array(block.vehicle)),
            '"},"diagnostic":{"id":', self._diagnostic_text.take(pa.array(block.kind)),
            '},"dateTime":"', _stamps(block.time),
            'Z","data":', text,
            ',"controller":', controller,
            ',"version":"', _texts([f"{v:016x}" for v in versions]),
            '"}',
            "",
        )  # fmt: skip

    def _driver(self, slot: int, is_driver: bool) -> Any:
        if slot < 0:
            return UNKNOWN_DRIVER
        driver: dict[str, Any] = {"id": self.user_ids[slot]}
        if is_driver:
            driver["isDriver"] = True
        return driver

    def _render_driver_changes(self, block: _Block) -> pa.Array:
        texts = []
        for vehicle, moment, version, slot, flag in zip(
            block.vehicle.tolist(),
            block.time.tolist(),
            block.version.tolist(),
            block.cols["driver"].tolist(),
            block.cols["is_driver"].tolist(),
            strict=True,
        ):
            record = {
                "id": f"b{version:X}",
                "device": {"id": self.device_ids[vehicle]},
                "driver": self._driver(slot, flag),
                "dateTime": _stamp(moment),
                "type": "DriverKey",
                "version": f"{version:016x}",
            }
            texts.append(msgspec.json.encode(record).decode())
        return _texts(texts)

    def _render_trips(self, block: _Block) -> pa.Array:
        now = self._now_us()
        cols = {name: values.tolist() for name, values in block.cols.items()}
        texts = []
        for row, (vehicle, start, version) in enumerate(
            zip(block.vehicle.tolist(), block.time.tolist(), block.version.tolist(), strict=True)
        ):
            stop = cols["stop"][row]
            record: dict[str, Any] = {
                "id": f"b{version:X}",
                "device": {"id": self.device_ids[vehicle]},
                "driver": self._driver(cols["driver"][row], cols["is_driver"][row]),
                "start": _stamp(start),
                "stop": _stamp(stop),
                "distance": cols["distance"][row],
                "drivingDuration": _timespan(cols["driving"][row]),
                "idlingDuration": _timespan(cols["idling"][row]),
            }
            following = cols["next_start"][row]
            if 0 <= following <= now:
                record["stopDuration"] = _timespan(following - stop)
            latitude, longitude = cols["stop_latitude"][row], cols["stop_longitude"][row]
            if not (math.isnan(latitude) or math.isnan(longitude)):
                record["stopPoint"] = {"x": longitude, "y": latitude}
            if 0 <= following <= now:
                record["nextTripStart"] = _stamp(following)
            record["version"] = f"{version:016x}"
            texts.append(msgspec.json.encode(record).decode())
        return _texts(texts)

    # ------------------------------------------------------------------------------- Get
    def _search(self, type_name: str, params: Mapping[str, Any]) -> _Search:
        search = _mapping(params.get("search"), "search")
        low = self._date(search, "fromDate")
        high = self._date(search, "toDate")
        # Only the fleet's active vehicles ever have records: the others are not searched.
        ranks: I64 = np.flatnonzero(self._has_data[list(self._order)]).astype(np.int64)
        named = "deviceSearch" in search
        if named:
            device = _mapping(search["deviceSearch"], "deviceSearch")
            if not isinstance(device.get("id"), str):
                raise _argument("deviceSearch: only a search by id is supported")
            index = self._device(device["id"])
            ranks = ranks[ranks == self._rank[index]] if index is not None else ranks[:0]
        kind: int | None = None
        if type_name == "StatusData" and search.get("diagnosticSearch") is not None:
            diagnostic = _mapping(search["diagnosticSearch"], "diagnosticSearch").get("id")
            if not isinstance(diagnostic, str):
                raise _argument("diagnosticSearch: only a search by id is supported")
            kind = DIAGNOSTICS.index(diagnostic) if diagnostic in DIAGNOSTICS else -1
        return _Search(
            self._epoch_us if low is None else low,
            self._now_us() if high is None else high,
            ranks,
            kind,
            named,
        )

    def _days(self, low: int, high: int) -> range:
        """Days holding records timed in ``[low, high]`` that can be uploaded by now."""
        last = min(high, self._now_us()) // _DAY_US
        return range(max(low // _DAY_US, self._epoch_day), last + 1)

    def _visible(self, block: _Block, rows: npt.NDArray[Any], kind: int | None) -> Any:
        keep = block.available[rows] <= self._now_us()
        if kind is not None:
            keep &= block.kind[rows] == kind
        return rows[keep]

    def _in_range(
        self, type_name: str, search: _Search, limit: int | None
    ) -> tuple[list[_Block], int]:
        """The records of the search's range (up to ``limit``), device by device, and their
        number. Each day's block is filtered at once (a fleet-wide search holds every device),
        then the days are merged in device order: a device's days follow each other."""
        ranks: list[I64] = []
        parts: list[_Block] = []
        now = self._now_us()
        for day in self._days(search.low, search.high):
            block = self._get_block(type_name, day)
            keep = (block.time >= search.low) & (block.time <= search.high)
            keep &= block.available <= now
            if search.kind is not None:
                keep &= block.kind == search.kind
            rank = block.key >> _KEY_SHIFT
            if len(search.ranks) < len(self._order):
                keep &= np.isin(rank, search.ranks)
            rows = np.flatnonzero(keep)
            if len(rows):
                ranks.append(rank[rows])
                parts.append(block.take(rows))
        total = sum(len(part) for part in parts)
        if len(parts) > 1:
            merged = _concat(type_name, parts)
            parts = [merged.take(np.argsort(np.concatenate(ranks), kind="stable"))]
        if limit is not None and total > limit:
            parts = [parts[0].take(np.arange(limit))]
            total = limit
        return parts, total

    def _neighbour(
        self, type_name: str, rank: int, moment: int, kind: int | None, *, before: bool
    ) -> _Block | None:
        """The nearest record uploaded by now strictly before (or after) ``moment``."""
        now = self._now_us()
        if before:
            days = range(min(moment, now) // _DAY_US, self._epoch_day - 1, -1)
        else:
            days = range(max(moment // _DAY_US, self._epoch_day), now // _DAY_US + 1)
        for day in days:
            block = self._get_block(type_name, day)
            lowest = rank << _KEY_SHIFT
            first = int(np.searchsorted(block.key, lowest))
            stop = int(np.searchsorted(block.key, lowest + _DAY_US))
            offset = moment - day * _DAY_US
            if before:
                stop = min(stop, int(np.searchsorted(block.key, lowest + max(offset, 0))))
                if offset <= 0:
                    stop = first
            elif offset >= 0:
                first = max(first, int(np.searchsorted(block.key, lowest + offset, "right")))
            rows = self._visible(block, np.arange(first, stop), kind)
            if len(rows):
                return block.take(rows[-1:] if before else rows[:1])
        return None

    def _get_records(self, type_name: str, search: _Search, limit: int) -> SimResponse:
        parts, _ = self._in_range(type_name, search, limit)
        neighbours = type_name in ("LogRecord", "StatusData") and search.low <= search.high
        if neighbours and search.named and len(search.ranks):
            rank = int(search.ranks[0])
            if search.low > self._epoch_us:
                before = self._neighbour(type_name, rank, search.low, search.kind, before=True)
                parts = ([before] if before is not None else []) + parts
            after = self._neighbour(type_name, rank, search.high, search.kind, before=False)
            if after is not None:
                parts.append(after)
        block = _concat(type_name, parts)
        if len(block) > limit:
            block = block.take(np.arange(limit))
        texts = self._renderers[type_name](block)
        return _raw(b'{"result":[' + _join(texts) + b'],"jsonrpc":"2.0"}')

    def _count(self, type_name: str, search: _Search) -> int:
        return self._in_range(type_name, search, None)[1]

    # ------------------------------------------------------------------------------- GetFeed
    def _record_feed(self, type_name: str, params: Mapping[str, Any]) -> SimResponse:
        limit = self._limit(params, FEED_CAP)
        search = _mapping(params.get("search"), "search")
        kind: int | None = None
        if type_name == "StatusData" and search.get("diagnosticSearch") is not None:
            diagnostic = _mapping(search["diagnosticSearch"], "diagnosticSearch").get("id")
            kind = DIAGNOSTICS.index(diagnostic) if diagnostic in DIAGNOSTICS else -1
        now = self._now_us()
        head = (now // _US + 1) << _RANK_BITS
        start = self._from_version(params)
        if start is None:
            seed = self._date(search, "fromDate")
            if seed is None:
                return _ok({"data": [], "toVersion": f"{head:016x}"})
            start = -(-seed // _US) << _RANK_BITS  # the first upload second at or after it
        parts: list[_Block] = []
        total, last = 0, start - 1
        day = max((start >> _RANK_BITS) // 86_400, self._epoch_day)
        while total < limit and day <= now // _DAY_US and start >> _RANK_BITS <= now // _US:
            block = self._feed_block(type_name, day)
            low = int(np.searchsorted(block.version, start))
            high = int(np.searchsorted(block.available, now, "right"))
            rows = np.arange(low, max(low, high))
            if kind is not None:
                rows = rows[block.kind[rows] == kind]
            rows = rows[: limit - total]
            if len(rows):
                parts.append(block.take(rows))
                total += len(rows)
                last = int(block.version[rows[-1]])
            day += 1
        following = last + 1 if total == limit else max(start, head)
        texts = self._renderers[type_name](_concat(type_name, parts))
        return _raw(
            b'{"result":{"data":['
            + _join(texts)
            + b'],"toVersion":"'
            + f"{following:016x}".encode()
            + b'"},"jsonrpc":"2.0"}'
        )

    # ------------------------------------------------------------------------------- helpers
    def _between(self, type_name: str, low: int, high: int) -> _Block:
        """Every record of ``type_name`` timed in ``[low, high)`` µs, uploaded or not, in Get
        block order day by day."""
        parts = []
        if high > low:
            for day in range(max(low // _DAY_US, self._epoch_day), (high - 1) // _DAY_US + 1):
                block = self._get_block(type_name, day)
                parts.append(block.take(np.flatnonzero((block.time >= low) & (block.time < high))))
        return _concat(type_name, parts)

    def odometer_readings(self, start: int, end: int) -> tuple[I64, I64, F64]:
        """Rendered odometer (``DiagnosticOdometerAdjustmentId``) readings timed in
        ``[start, end)`` µs, uploaded or not: (vehicle index, time µs, metres), sorted by
        vehicle then time. Independent of the window asked."""
        block = self._between("StatusData", start, end)
        mine = np.flatnonzero(block.kind == _ODOMETER)
        vehicle, moment = block.vehicle[mine], block.time[mine]
        order = np.lexsort((moment, vehicle))
        metres: F64 = block.cols["data"][mine][order]
        return vehicle[order].astype(np.int64), moment[order], metres

    # ------------------------------------------------------------------------------- oracle
    def expected_telemetry(self, start: datetime, end: datetime) -> pa.Table:
        now = self.now()
        now_us = _us(now)
        truth = self.fleet.telemetry(NAME, start, end, as_of=now)
        vehicle = self._vehicle_indices(truth.column("provider_vehicle_id"))
        moment = _column_us(truth, "timestamp")
        kmh = np.rint(truth.column("speed_mph").to_numpy() * KM_PER_MILE).astype(np.int64)
        start_us, end_us = _us(start), _us(end)
        floor = start_us - self.status_margin // timedelta(microseconds=1)

        ignition = self._between("StatusData", floor, end_us)
        ignition = ignition.take(np.flatnonzero(ignition.kind == _IGNITION))
        on = self._latest(vehicle, moment, ignition, ignition.cols["data"], np.nan)
        state = np.full(len(moment), None, dtype=object)
        state[on == 0] = "Off"
        state[(on == 1) & (kmh > 0)] = "On"
        state[(on == 1) & (kmh == 0)] = "Idle"

        changes = self._between("DriverChange", floor, end_us)
        slot = self._latest(vehicle, moment, changes, changes.cols["driver"], -1).astype(np.int64)
        drivers = self.fleet.drivers
        driver_id = [self.user_ids[s] if s >= 0 else None for s in slot.tolist()]
        driver_name = [drivers[s].name if s >= 0 else None for s in slot.tolist()]

        tolerance = self.odometer_tolerance // timedelta(microseconds=1)
        readings = self.odometer_readings(start_us - tolerance, min(end_us + tolerance, now_us + 1))
        miles = self._nearest(vehicle, moment, *readings, tolerance) / METERS_PER_MILE
        return enforce_telemetry_schema(
            {
                "provider_vehicle_id": [self.device_ids[i] for i in vehicle.tolist()],
                "vin": truth.column("vin"),
                "fleet_number": truth.column("fleet_number"),
                "timestamp": truth.column("timestamp"),
                "latitude": truth.column("latitude"),
                "longitude": truth.column("longitude"),
                "speed_mph": pa.array(kmh / KM_PER_MILE, pa.float64()),
                "engine_state": pa.array(state, pa.string()),
                "driver_id": pa.array(driver_id, pa.string()),
                "driver_name": pa.array(driver_name, pa.string()),
                "odometer": pa.array(miles, mask=np.isnan(miles)),
            },
            provider=NAME,
        )

    @staticmethod
    def _latest(
        vehicle: I64, moment: I64, records: _Block, values: npt.NDArray[Any], missing: float
    ) -> F64:
        """Per point, the value of its vehicle's latest record at or before it (``missing``
        when there is none among ``records``)."""
        result = np.full(len(moment), missing, dtype=np.float64)
        for index in np.unique(vehicle).tolist():
            points = np.flatnonzero(vehicle == index)
            mine = np.flatnonzero(records.vehicle == index)
            order = mine[np.argsort(records.time[mine], kind="stable")]
            if not len(order):
                continue
            latest = np.searchsorted(records.time[order], moment[points], "right") - 1
            found = latest >= 0
            result[points[found]] = values[order[latest[found]]]
        return result

    @staticmethod
    def _nearest(
        vehicle: I64, moment: I64, r_vehicle: I64, r_time: I64, r_metres: F64, tolerance: int
    ) -> F64:
        """Per point, the metres of its vehicle's nearest reading within ``tolerance`` (the
        earlier on a tie); NaN when none."""
        result = np.full(len(moment), np.nan)
        for index in np.unique(vehicle).tolist():
            points = np.flatnonzero(vehicle == index)
            mine = r_vehicle == index
            times, metres = r_time[mine], r_metres[mine]
            if not len(times):
                continue
            after = np.searchsorted(times, moment[points], "left")
            before = after - 1
            gap_before = np.where(
                before >= 0, moment[points] - times[np.maximum(before, 0)], np.iinfo(np.int64).max
            )
            gap_after = np.where(
                after < len(times),
                times[np.minimum(after, len(times) - 1)] - moment[points],
                np.iinfo(np.int64).max,
            )
            pick = np.where(gap_before <= gap_after, before, after)
            gap = np.minimum(gap_before, gap_after)
            near = gap <= tolerance
            result[points[near]] = metres[pick[near]]
        return result


def _ok(result: Any) -> SimResponse:
    return SimResponse.json(200, {"result": result, "jsonrpc": "2.0"})


def _raw(body: bytes) -> SimResponse:
    return SimResponse(200, body, {"Content-Type": "application/json"})
