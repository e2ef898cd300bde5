"""The telemetry path: fetch a window from Geotab as columns, then flatten it with the joins.

Fetch of ``[start, end)`` (README "How a window is fetched"): four fleet-wide ``Get`` searches,
each over an inclusive time range —

1. LogRecords of ``[start, end - 1 ms]``: the points;
2. StatusData of ``DiagnosticIgnitionId`` from ``start - status_margin``: the ignition in force;
3. StatusData of ``DiagnosticOdometerAdjustmentId`` over ``[start - tolerance,
   end + tolerance]`` (never past now): readings on both sides of each point;
4. DriverChanges from ``start - status_margin``: the driver in force.

Each search is counted first (``GetCountOf``) and cut into time slices sized for
``slice_records`` records, fetched in parallel within the provider's concurrency; a slice whose
answer still reaches the silent 5,000 cap is split again by its pagination, so no record is
lost to the cap. The device and driver rosters are read once per run (again when a record names
one not in them). Records are decoded into structs (:mod:`fth_geotab.records`) and read into
columns; :func:`flatten` joins them (:mod:`fth_core.join`).

Failures: any search that fails fails the window, naming the search and its range — a point
without its ignition, odometer or driver would be stored wrong, so nothing of the window is
stored and its watermark holds.

Bad records, set aside with a ``reason``: a LogRecord without a device id (``"missing vehicle
id"``), or whose time is missing or does not parse. StatusData and DriverChanges without a
device or a readable time are no row: they are dropped, with a log line.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.client import TelemetryClient
from fth_core.endpoints import EndpointDefinition, RequestSpec, format_utc
from fth_core.errors import AuthError, FthError, ResponseFormatError
from fth_core.join import NO_MATCH, latest_at_or_before, nearest_within
from fth_core.logs import get_logger
from fth_core.provider import Provider
from fth_core.schema import (
    MISSING_VEHICLE_ID,
    REASON,
    epoch_us,
    parse_timestamps,
    timestamp_reasons,
)
from fth_core.spec import TelemetryBatch, Window
from fth_geotab.endpoints import scope
from fth_geotab.records import (
    CHANGES_DECODER,
    POINTS_DECODER,
    STATUS_DECODER,
    DriverChange,
    LogRecord,
    StatusData,
    clean_vin,
    driver_id,
)
from fth_geotab.settings import GeotabSettings
from fth_geotab.wire import IGNITION, KM_PER_MILE, METERS_PER_MILE, NAME, ODOMETER, PATH

__all__ = ["GeotabBatch", "Roster", "fetch_window", "flatten"]

log = get_logger(__name__)

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_MS = timedelta(milliseconds=1)
_RUN_ROSTER = f"{NAME}.roster"
_RUN_NEXT = f"{NAME}.next"
ENGINE_STATE_NAMES = ("On", "Off", "Idle")  # codes 0, 1, 2; -1 = null
_ON, _OFF, _IDLE = 0, 1, 2


# -- the rosters ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Roster:
    """Devices (id → name, VIN; retired ones included) and drivers (id → "first last")."""

    devices: dict[str, tuple[str | None, str | None]]
    drivers: dict[str, str | None]


def _read_roster(client: TelemetryClient, provider: Provider) -> Roster:
    devices = {}
    for item in client.fetch_all(provider.endpoint("devices")):
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            name = item.get("name")
            vin = clean_vin(item.get("vehicleIdentificationNumber"))
            devices[item["id"]] = (name if isinstance(name, str) else None, vin)
    drivers = {}
    for item in client.fetch_all(provider.endpoint("users"), {"is_driver": True}):
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            parts = [item.get("firstName"), item.get("lastName")]
            name = " ".join(p for p in parts if isinstance(p, str) and p) or None
            drivers[item["id"]] = name
    return Roster(devices, drivers)


def _roster(
    window: Window,
    client: TelemetryClient,
    provider: Provider,
    devices: set[str],
    drivers: set[str],
) -> Roster:
    """The run's rosters, read again when a record names a device or driver not in them."""
    roster = window.run.get(_RUN_ROSTER)
    if (
        not isinstance(roster, Roster)
        or not devices <= roster.devices.keys()
        or not drivers <= roster.drivers.keys()
    ):
        roster = _read_roster(client, provider)
        window.run[_RUN_ROSTER] = roster
    return roster


# -- the searches --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Search:
    """One fleet-wide Get over the inclusive range ``[low, high]``."""

    label: str
    endpoint: str
    type_name: str
    diagnostic: str | None
    low: datetime
    high: datetime
    decoder: msgspec.json.Decoder[Any]

    def search(self, low: datetime, high: datetime) -> dict[str, Any]:
        found: dict[str, Any] = {"fromDate": format_utc(low), "toDate": format_utc(high)}
        if self.diagnostic is not None:
            found["diagnosticSearch"] = {"id": self.diagnostic}
        return found

    def params(self, low: datetime, high: datetime) -> dict[str, Any]:
        given: dict[str, Any] = {"from_date": low, "to_date": high}
        if self.diagnostic is not None:
            given["diagnostic"] = self.diagnostic
        return given

    def where(self, low: datetime, high: datetime) -> str:
        return f"{self.label} [{format_utc(low)}, {format_utc(high)}]"


def _count(client: TelemetryClient, search: _Search) -> int:
    """How many records the search holds (``GetCountOf``: one small answer, no cap)."""
    body = {
        "id": -1,
        "method": "GetCountOf",
        "params": {"typeName": search.type_name, "search": search.search(search.low, search.high)},
    }
    request = RequestSpec("POST", PATH, body=body, scope=scope("GetCountOf", search.type_name))
    answer = client.send(request)
    try:
        result = answer.json().get("result")
    except (msgspec.DecodeError, AttributeError):
        result = None
    if isinstance(result, bool) or not isinstance(result, int) or result < 0:
        raise ResponseFormatError(f"{NAME}: GetCountOf {search.type_name} is not a count")
    return result


def _slices(search: _Search, count: int, per_slice: int) -> list[tuple[datetime, datetime]]:
    """The search's range cut into equal slices, each expected to hold about ``per_slice``
    records, at millisecond edges that neither overlap nor leave a gap."""
    span = (search.high - search.low) // _MS + 1  # milliseconds in the inclusive range
    parts = max(1, min(math.ceil(count / per_slice), span))
    edges = [search.low + (span * k // parts) * _MS for k in range(parts + 1)]
    return [(edges[k], edges[k + 1] - _MS) for k in range(parts)]


def _fetch_slice(
    client: TelemetryClient,
    endpoint: EndpointDefinition,
    search: _Search,
    low: datetime,
    high: datetime,
) -> list[Any]:
    try:
        return client.fetch_all(endpoint, search.params(low, high), decoder=search.decoder)
    except AuthError:
        raise
    except FthError as exc:
        raise FthError(f"{search.where(low, high)}: {exc}") from exc


# -- the batch -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeotabBatch:
    """One window's points (or a group of its vehicles') with everything flatten joins.

    Vehicles are codes into ``device_ids``; drivers codes into ``driver_ids`` (-1: nobody);
    times are µs since the epoch. ``point_time`` is ``-1`` where the record had no readable
    time; ``reason`` is then set (or for a record without a device).
    """

    device_ids: pa.Array
    names: pa.Array
    vins: pa.Array
    point_vehicle: I32
    point_time: I64
    latitude: F64
    longitude: F64
    speed_kmh: F64  # NaN: not sent
    reason: pa.Array  # null for a good point
    ignition_vehicle: I32
    ignition_time: I64
    ignition_on: npt.NDArray[np.bool_]
    odometer_vehicle: I32
    odometer_time: I64
    odometer_metres: F64
    change_vehicle: I32
    change_time: I64
    change_driver: I32
    driver_ids: pa.Array
    driver_names: pa.Array
    odometer_tolerance: int  # µs


class _Codes:
    """Small integer codes for ids, in order of first sight."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def code(self, value: str) -> int:
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.index)
        return found

    def ids(self) -> list[str]:
        return list(self.index)


def _times(texts: list[str | None]) -> tuple[I64, pa.Array]:
    """µs since the epoch (-1 where missing or unreadable) and the parsed timestamps."""
    text = pa.array(texts, type=pa.string())
    parsed = parse_timestamps(text)
    us = pc.cast(parsed, pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
    return us.astype(np.int64), parsed


def _readings(
    records: Sequence[StatusData | DriverChange],
    devices: _Codes,
    value: Callable[[Any], float | int | None],
    what: str,
) -> tuple[I32, I64, list[float | int | None]]:
    """(vehicle code, time µs, value) of the records that have a device and a readable time."""
    usable = [r for r in records if r.device is not None and r.device.id]
    times, _ = _times([r.date_time for r in usable])
    keep = times >= 0
    if len(usable) != len(records) or not keep.all():
        dropped = len(records) - int(keep.sum())
        log.warning("%s: %d %s without a device or a readable time dropped", NAME, dropped, what)
    kept = [r for r, ok in zip(usable, keep.tolist(), strict=True) if ok]
    vehicle = np.array([devices.code(r.device.id) for r in kept if r.device and r.device.id])
    return vehicle.astype(np.int32), times[keep], [value(r) for r in kept]


@dataclass(frozen=True)
class _Found:
    """The records of one window's four searches."""

    points: list[LogRecord]
    ignition: list[StatusData]
    odometer: list[StatusData]
    changes: list[DriverChange]


@dataclass(frozen=True)
class _Prefetch:
    """The searches of the window after the current one, under way in the background."""

    start: datetime
    end: datetime
    found: Future[_Found]


def _searches(
    provider: Provider, settings: GeotabSettings, start: datetime, end: datetime
) -> _Found:
    """Run the window's four searches: counts first, then every slice, in parallel."""
    client = provider.client()
    last = end - _MS
    now = datetime.now(UTC)
    margin, tolerance = settings.status_margin, settings.odometer_tolerance
    searches = (
        _Search("LogRecords", "log_records", "LogRecord", None, start, last, POINTS_DECODER),
        _Search(
            "ignition", "status_data", "StatusData", IGNITION, start - margin, last, STATUS_DECODER
        ),
        _Search(
            "odometer",
            "status_data",
            "StatusData",
            ODOMETER,
            start - tolerance,
            max(min(last + tolerance, now), start - tolerance),
            STATUS_DECODER,
        ),
        _Search(
            "DriverChanges",
            "driver_changes",
            "DriverChange",
            None,
            start - margin,
            last,
            CHANGES_DECODER,
        ),
    )
    with ThreadPoolExecutor(max_workers=max(1, provider.quota.max_concurrency)) as pool:
        counted = [pool.submit(_count, client, search) for search in searches]
        parts: list[list[Future[list[Any]]]] = []
        for search, count in zip(searches, counted, strict=True):
            endpoint = provider.endpoint(search.endpoint)
            parts.append(
                [
                    pool.submit(_fetch_slice, client, endpoint, search, low, high)
                    for low, high in _slices(search, count.result(), settings.slice_records)
                ]
            )
        found = [[item for part in slices for item in part.result()] for slices in parts]
    return _Found(*found)


def _prefetch(
    provider: Provider, settings: GeotabSettings, start: datetime, end: datetime
) -> _Prefetch:
    """Start the searches of ``[start, end)`` on a thread of their own."""
    future: Future[_Found] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(_searches(provider, settings, start, end))
            except BaseException as exc:  # handed to the window that asks for it
                future.set_exception(exc)

    threading.Thread(target=run, name=f"{NAME}-prefetch", daemon=True).start()
    return _Prefetch(start, end, future)


def _found(provider: Provider, settings: GeotabSettings, window: Window) -> _Found:
    """The window's records: from the prefetch the previous window started, if it covers this
    window and succeeded (a failed prefetch is asked again, in the open), else fetched now.
    Then the next window's searches start, to overlap with this window's flatten and commit."""
    start, end = window.start, window.end
    pending = window.run.pop(_RUN_NEXT, None)
    found = None
    if isinstance(pending, _Prefetch) and (pending.start, pending.end) == (start, end):
        try:
            found = pending.found.result()
        except FthError as exc:
            log.debug("%s: the prefetch of [%s, %s) failed (%s): fetching it again", NAME,
                      format_utc(start), format_utc(end), exc)  # fmt: skip
    if found is None:
        found = _searches(provider, settings, start, end)
    if end < window.horizon:
        following = min(end + (end - start), window.horizon)
        window.run[_RUN_NEXT] = _prefetch(provider, settings, end, following)
    return found


def fetch_window(provider: Provider, window: Window) -> Iterator[TelemetryBatch[GeotabBatch]]:
    """Fetch ``[window.start, window.end)`` and yield it in batches of whole vehicles."""
    settings = provider.settings if isinstance(provider.settings, GeotabSettings) else None
    settings = settings or GeotabSettings()
    client = provider.client()
    start, end = window.start, window.end
    tolerance = settings.odometer_tolerance
    found = _found(provider, settings, window)
    points = found.points

    devices = _Codes()
    point_ids = [r.device.id if r.device is not None else None for r in points]
    point_vehicle = np.array([-1 if d is None else devices.code(d) for d in point_ids], np.int32)
    ig_vehicle, ig_time, ig_value = _readings(found.ignition, devices, _data, "ignition readings")
    od_vehicle, od_time, od_value = _readings(found.odometer, devices, _data, "odometer readings")
    drivers = _Codes()
    ch_vehicle, ch_time, ch_value = _readings(
        found.changes,
        devices,
        lambda r: -1 if (who := driver_id(r.driver)) is None else drivers.code(who),
        "driver changes",
    )
    roster = _roster(window, client, provider, set(devices.index), set(drivers.index))

    texts = [r.date_time for r in points]
    point_time, parsed = _times(texts)
    # Get also answers records just outside the range asked: keep the window's (and the
    # untimed, for the quarantine).
    inside = (point_time < 0) | ((point_time >= epoch_us(start)) & (point_time < epoch_us(end)))
    reasons = timestamp_reasons(pa.array(texts, type=pa.string()), parsed)
    missing = pa.array(point_vehicle < 0)
    reasons = pc.if_else(missing, pa.scalar(MISSING_VEHICLE_ID), reasons)

    ids = devices.ids()
    names = pa.array([roster.devices.get(i, (None, None))[0] for i in ids], pa.string())
    vins = pa.array([roster.devices.get(i, (None, None))[1] for i in ids], pa.string())
    driver_list = drivers.ids()
    odometer_values = np.array([np.nan if v is None else v for v in od_value], np.float64)
    odometer_keep = ~np.isnan(odometer_values)
    common = {
        "device_ids": pa.array(ids, pa.string()),
        "names": names,
        "vins": vins,
        "ignition_vehicle": ig_vehicle,
        "ignition_time": ig_time,
        "ignition_on": np.array([v is not None and v != 0 for v in ig_value], dtype=bool),
        "odometer_vehicle": od_vehicle[odometer_keep],
        "odometer_time": od_time[odometer_keep],
        "odometer_metres": odometer_values[odometer_keep],
        "change_vehicle": ch_vehicle,
        "change_time": ch_time,
        "change_driver": np.array(ch_value, dtype=np.int32),
        "driver_ids": pa.array(driver_list, pa.string()),
        "driver_names": pa.array([roster.drivers.get(i) for i in driver_list], pa.string()),
        "odometer_tolerance": tolerance // timedelta(microseconds=1),
    }
    keep = np.flatnonzero(inside)
    keep = keep[np.argsort(point_vehicle[keep], kind="stable")]
    latitude = np.array([np.nan if r.latitude is None else r.latitude for r in points], np.float64)
    longitude = np.array(
        [np.nan if r.longitude is None else r.longitude for r in points], np.float64
    )
    speed = np.array([np.nan if r.speed is None else r.speed for r in points], np.float64)
    log.debug(
        "%s: [%s, %s): %d points, %d ignition, %d odometer readings, %d driver changes",
        NAME, format_utc(start), format_utc(end), len(keep), len(ig_time), len(od_time),
        len(ch_time),
    )  # fmt: skip
    for group in _groups(point_vehicle[keep], settings.batch_points):
        rows = keep[group]
        batch = GeotabBatch(
            point_vehicle=point_vehicle[rows],
            point_time=point_time[rows],
            latitude=latitude[rows],
            longitude=longitude[rows],
            speed_kmh=speed[rows],
            reason=reasons.take(pa.array(rows)),
            **common,
        )
        yield TelemetryBatch(batch)


def _data(record: Any) -> float | None:
    value = record.data
    return value if isinstance(value, float | int) else None


def _groups(vehicle: I32, limit: int) -> Iterator[slice]:
    """Slices of ``vehicle`` (sorted) of about ``limit`` rows, never splitting a vehicle; at
    least one (possibly empty), so a window always yields a batch."""
    if not len(vehicle):
        yield slice(0, 0)
        return
    bounds = np.flatnonzero(np.diff(vehicle)) + 1
    first = 0
    for bound in [*bounds.tolist(), len(vehicle)]:
        if bound - first >= limit or bound == len(vehicle):
            yield slice(first, bound)
            first = bound


# -- flatten -------------------------------------------------------------------------------------
def flatten(batch: GeotabBatch) -> dict[str, Any]:
    """Unified columns of the batch's points (README "Units and joins")."""
    vehicle, time = batch.point_vehicle, batch.point_time
    timed = time >= 0
    n = len(time)
    # Only points with a device and a time are joined; the others are set aside anyway.
    rows = np.flatnonzero(timed & (vehicle >= 0))
    at_vehicle, at_time = vehicle[rows], time[rows]

    found = latest_at_or_before(at_vehicle, at_time, batch.ignition_vehicle, batch.ignition_time)
    known = found >= 0
    on = np.zeros(len(rows), dtype=bool)
    on[known] = batch.ignition_on[found[known]]
    speed = batch.speed_kmh
    moving = speed[rows]
    state = np.full(n, -1, dtype=np.int8)
    state[rows[known & ~on]] = _OFF
    state[rows[known & on & (moving > 0)]] = _ON
    state[rows[known & on & (moving == 0)]] = _IDLE

    near = nearest_within(
        at_vehicle, at_time, batch.odometer_vehicle, batch.odometer_time, batch.odometer_tolerance
    )
    miles = np.full(n, np.nan)
    miles[rows[near >= 0]] = batch.odometer_metres[near[near >= 0]] / METERS_PER_MILE

    change = latest_at_or_before(at_vehicle, at_time, batch.change_vehicle, batch.change_time)
    driver = np.full(n, NO_MATCH, dtype=np.int64)
    driver[rows[change >= 0]] = batch.change_driver[change[change >= 0]]
    driver_index = pa.array(driver, mask=driver < 0)

    vehicle_index = pa.array(vehicle.astype(np.int64), mask=vehicle < 0)
    engine_names = pa.array(ENGINE_STATE_NAMES, pa.string())
    return {
        "provider_vehicle_id": batch.device_ids.take(vehicle_index),
        "vin": batch.vins.take(vehicle_index),
        "fleet_number": batch.names.take(vehicle_index),
        "timestamp": pa.array(time, pa.timestamp("us", tz="UTC"), mask=~timed),
        "latitude": pa.array(batch.latitude, mask=np.isnan(batch.latitude)),
        "longitude": pa.array(batch.longitude, mask=np.isnan(batch.longitude)),
        "speed_mph": pa.array(speed / KM_PER_MILE, mask=np.isnan(speed)),
        "heading_degrees": pa.nulls(n, pa.float64()),
        "engine_state": engine_names.take(pa.array(state.astype(np.int64), mask=state < 0)),
        "driver_id": batch.driver_ids.take(driver_index),
        "driver_name": batch.driver_names.take(driver_index),
        "location_description": pa.nulls(n, pa.string()),
        "odometer": pa.array(miles, mask=np.isnan(miles)),
        REASON: batch.reason,
    }
