"""The telemetry path: fetch a window from Samsara as columns, then flatten it with the join.

Fetch of ``[start, end)`` (README "Telemetry fetch"):

1. the window walk — ``/fleet/vehicles/stats/history`` with ``gps``, ``engineStates`` and
   ``obdOdometerMeters`` over ``[start, end)``, one cursor walk whose pages go over vehicles;
   a vehicle met on two pages is merged by id;
2. two margin walks without GPS, run alongside it: ``engineStates`` + ``obdOdometerMeters``
   over ``[start - max(margin, tolerance), start)`` (the state in force when the window opens,
   odometer readings just before it) and ``obdOdometerMeters`` over
   ``[end, min(end + tolerance, now))`` (readings just after it). Asking for GPS over the
   margin would fetch a day of points only to drop them;
3. ``/fleet/driver-vehicle-assignments`` for the window, ≤ 50 vehicle ids per request, for the
   vehicles with GPS in it: sent while the window walk goes on, each time its pages have shown
   50 more such vehicles, in parallel within the endpoint's 5/s tier. Sent after the walk, they
   made a window take the walk's time plus theirs (4.1 s instead of 3.1 in scenario A).

Pages are decoded straight into the msgspec Structs of :mod:`fth_samsara.wire` (no dict and
no pydantic model per reading) and read into numpy/pyarrow columns by attribute.
:func:`flatten` runs :func:`fth_samsara.join.join` and builds unified-schema columns.

Bad records, set aside with a ``reason`` column (the unit is the unified row, a GPS reading):

* a vehicle record without ``id``: its GPS readings cannot be attributed or joined, so they
  are quarantined as ``"missing vehicle id"`` (with the record's name and VIN, engine state,
  odometer and driver null); its other series are dropped, with a log line;
* a GPS ``time`` missing or unparseable: ``"missing timestamp"`` / ``"unparseable timestamp
  '…'"``, nothing joined (a time is what the join needs). An engine-state or odometer reading
  without a readable time is no row: it is dropped, with a log line;
* an engine-state value outside On/Off/Idle gets a code of its own (:class:`EngineStateCodes`):
  the GPS points it governs carry it as their ``engine_state`` and the pipeline's range check
  quarantines them as ``"unknown engine state '…'"``, until the next reading;
* out-of-range coordinates are left to the pipeline's range checks.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.client import TelemetryClient
from fth_core.endpoints import EndpointDefinition
from fth_core.errors import FthError, ResponseFormatError
from fth_core.join import FOREVER
from fth_core.logs import get_logger
from fth_core.provider import Provider
from fth_core.schema import (
    MISSING_VEHICLE_ID,
    REASON,
    epoch_us,
    parse_timestamps,
    timestamp_reasons,
)
from fth_core.spec import FetchFailure, TelemetryBatch
from fth_samsara.endpoints import TelemetryTypes
from fth_samsara.join import (
    ENGINE_STATE_NAMES,
    I8,
    I32,
    I64,
    Bools,
    Joined,
    join,
)
from fth_samsara.models import DriverVehicleAssignment
from fth_samsara.settings import SamsaraSettings
from fth_samsara.wire import (
    STATS_PAGE_DECODER,
    EngineStateReading,
    GpsPoint,
    OdometerReading,
    StatsRecord,
    as_stats_records,
)

__all__ = [
    "Assignments",
    "EngineStateCodes",
    "Gps",
    "Readings",
    "SamsaraBatch",
    "Untimed",
    "fetch_window",
    "flatten",
]

log = get_logger("fth.samsara")

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_NO_TEXT = pa.scalar(None, pa.string())
_WINDOW_TYPES = (TelemetryTypes.GPS, TelemetryTypes.ENGINE_STATES, TelemetryTypes.OBD_ODOMETER)


def _floats(values: list[Any], what: str) -> pa.Array:
    try:
        return pa.array(values, type=pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ResponseFormatError(f"samsara: {what} is not a number ({exc})") from None


def _times(text: list[str | None]) -> tuple[I64, pa.Array]:
    """µs since the epoch of RFC 3339 ``text`` (0 where unreadable), and why a time is
    unreadable (null where it was read). A page whose times all read, the usual one, costs
    one Arrow parse and no reason."""
    raw = pa.array(text, pa.string())
    stamps = parse_timestamps(raw)
    if stamps.null_count:
        return stamps.fill_null(0).cast(pa.int64()).to_numpy(), timestamp_reasons(raw, stamps)
    return stamps.view(pa.int64()).to_numpy(), pa.nulls(len(raw), pa.string())


# --------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Readings:
    """One reading series of many vehicles: ``vehicle`` codes, ``time`` µs, ``value``."""

    vehicle: I32
    time: I64
    value: npt.NDArray[Any]

    def __len__(self) -> int:
        return len(self.time)

    def take(self, rows: slice | npt.NDArray[np.int64]) -> Readings:
        return Readings(self.vehicle[rows], self.time[rows], self.value[rows])

    def recode(self, mapping: I32) -> Readings:
        """Codes mapped through ``mapping`` (``-1`` drops the row)."""
        codes = mapping[self.vehicle]
        keep = codes >= 0
        return Readings(codes[keep], self.time[keep], self.value[keep])


@dataclass(frozen=True)
class Gps:
    """GPS readings as columns; floats and the location are nullable Arrow arrays."""

    vehicle: I32
    time: I64
    latitude: pa.Array
    longitude: pa.Array
    speed_mph: pa.Array
    heading_degrees: pa.Array
    location: pa.Array

    def __len__(self) -> int:
        return len(self.time)

    def take(self, rows: slice | npt.NDArray[np.int64]) -> Gps:
        if isinstance(rows, slice):
            cut = {name: getattr(self, name)[rows] for name in _GPS_ARROW_FIELDS}
        else:
            index = pa.array(rows)
            cut = {name: getattr(self, name).take(index) for name in _GPS_ARROW_FIELDS}
        return Gps(self.vehicle[rows], self.time[rows], **cut)

    @classmethod
    def empty(cls) -> Gps:
        none = pa.array([], pa.float64())
        return cls(
            np.empty(0, np.int32), np.empty(0, np.int64), none, none, none, none,
            pa.array([], pa.string()),
        )  # fmt: skip

    @classmethod
    def concat(cls, parts: Sequence[Gps]) -> Gps:
        if not parts:
            return cls.empty()
        return cls(
            vehicle=np.concatenate([part.vehicle for part in parts]),
            time=np.concatenate([part.time for part in parts]),
            **{
                name: pa.concat_arrays([getattr(part, name) for part in parts])
                for name in _GPS_ARROW_FIELDS
            },
        )


_GPS_ARROW_FIELDS = ("latitude", "longitude", "speed_mph", "heading_degrees", "location")


@dataclass(frozen=True)
class Untimed:
    """GPS readings whose time is missing or unreadable (``gps.time`` means nothing), with the
    ``reason`` they are quarantined for; sorted by vehicle code."""

    gps: Gps = field(default_factory=Gps.empty)
    reason: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))

    def __len__(self) -> int:
        return len(self.gps)

    def take(self, rows: slice | npt.NDArray[np.int64]) -> Untimed:
        reason = self.reason[rows] if isinstance(rows, slice) else self.reason.take(rows)
        return Untimed(self.gps.take(rows), reason)


class EngineStateCodes:
    """``int8`` codes of engine-state values, shared by the walks of one fetch (they read on
    several threads): the documented states first (:data:`~fth_samsara.join.ENGINE_STATE_NAMES`,
    codes 0..2), then every unknown value in the order met, so an unknown value is kept — it
    is what a quarantined row shows — instead of becoming null like a missing one (-1)."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {name: code for code, name in enumerate(ENGINE_STATE_NAMES)}
        self._lock = threading.Lock()

    @property
    def names(self) -> pa.Array:
        """Every value by its code."""
        with self._lock:
            return pa.array(list(self._codes), pa.string())

    def encode(self, values: list[str | None]) -> I8:
        """Codes of ``values`` (``None`` → -1), new unknown values added.

        A dict lookup per value: a page holds a few engine states per vehicle, too few for
        Arrow's kernels to pay for their calls.
        """
        with self._lock:
            codes = self._codes
            new = [v for v in dict.fromkeys(values) if v is not None and v not in codes]
            if len(codes) + len(new) > np.iinfo(np.int8).max:
                raise ResponseFormatError("samsara: too many unknown engine-state values")
            codes.update(zip(new, range(len(codes), len(codes) + len(new)), strict=True))
            return np.array([-1 if v is None else codes[v] for v in values], dtype=np.int8)


@dataclass(frozen=True)
class Assignments:
    """Driver assignments as columns; ``end`` is :data:`~fth_core.join.FOREVER` if ongoing."""

    vehicle: I32
    start: I64
    end: I64
    is_passenger: Bools
    driver_id: pa.Array
    driver_name: pa.Array

    @classmethod
    def from_models(
        cls, rows: Sequence[DriverVehicleAssignment], codes: dict[str, int]
    ) -> Assignments:
        known = [row for row in rows if row.vehicle.id in codes]
        return cls(
            vehicle=np.array([codes[row.vehicle.id] for row in known], dtype=np.int32),
            start=np.array([epoch_us(row.start_time) for row in known], dtype=np.int64),
            end=np.array(
                [FOREVER if row.end_time is None else epoch_us(row.end_time) for row in known],
                dtype=np.int64,
            ),
            is_passenger=np.array([row.is_passenger for row in known], dtype=bool),
            driver_id=pa.array([row.driver.id for row in known], type=pa.string()),
            driver_name=pa.array([row.driver.name for row in known], type=pa.string()),
        )


@dataclass(frozen=True)
class SamsaraBatch:
    """What fetch hands to flatten: some vehicles' readings of a window, and their drivers.

    Vehicle codes index ``vehicle_ids`` (null for a record that came without one), ``names``
    and ``vins``. Times are µs since the epoch. ``untimed`` holds the GPS readings whose time
    could not be read.
    """

    start: int
    end: int
    vehicle_ids: pa.Array
    names: pa.Array
    vins: pa.Array
    gps: Gps
    engine: Readings  # value: int8 code into engine_names, -1 none
    odometer: Readings  # value: float64 meters
    assignments: Assignments
    odometer_tolerance: int  # µs
    engine_names: pa.Array = field(default_factory=lambda: pa.array(ENGINE_STATE_NAMES))
    untimed: Untimed = field(default_factory=Untimed)


# --------------------------------------------------------------------------- reading pages


class _StatsReader:
    """Reads stats/history pages (:class:`~fth_samsara.wire.StatsRecord` items, or dicts of the
    same shape) into columns, one vehicle code per id.

    A vehicle that reappears on a later page keeps its code, so its readings merge by id. A
    record without an id gets a code of its own (its id null): it cannot be merged with
    anything. ``states`` codes engine states; the walks of one fetch share it.
    """

    def __init__(self, states: EngineStateCodes | None = None) -> None:
        self.states = states or EngineStateCodes()
        self.codes: dict[str, int] = {}
        self.ids: list[str | None] = []
        self.names: list[str | None] = []
        self.vins: list[str | None] = []
        self.with_gps: list[str] = []  # ids of the vehicles with GPS readings, as first met
        self._has_gps: set[int] = set()
        self._gps: list[Gps] = []
        self._untimed: list[Untimed] = []
        self._engine: list[Readings] = []
        self._odometer: list[Readings] = []

    def _code(self, record: StatsRecord) -> int:
        vehicle_id = record.id
        vin = None if record.external_ids is None else record.external_ids.vin
        code = None if vehicle_id is None else self.codes.get(vehicle_id)
        if code is None:
            code = len(self.ids)
            if vehicle_id is not None:
                self.codes[vehicle_id] = code
            self.ids.append(vehicle_id)
            self.names.append(record.name)
            self.vins.append(vin)
        else:  # a vehicle split over pages: keep what an earlier part lacked
            self.names[code] = self.names[code] or record.name
            self.vins[code] = self.vins[code] or vin
        return code

    def read(self, items: list[Any]) -> None:
        """Add one page's records.

        Each series is gathered page-wide first, so that what follows the Struct attributes
        runs once per page on whole columns: one timestamp parse for the three series, vehicle
        codes repeated per record by numpy.
        """
        gps: list[GpsPoint] = []
        engine: list[EngineStateReading] = []
        odometer: list[OdometerReading] = []
        codes: list[int] = []
        counts: list[tuple[int, int, int]] = []  # per record: readings of each series
        unattributed = 0
        for record in as_stats_records(items):
            code = self._code(record)
            codes.append(code)
            points = record.gps or ()
            if points and record.id is not None and code not in self._has_gps:
                self._has_gps.add(code)
                self.with_gps.append(record.id)
            states = record.engine_states or ()
            readings = record.obd_odometer_meters or ()
            if record.id is None:  # nothing to join these to: only its GPS rows are kept
                unattributed += len(states) + len(readings)
                states = readings = ()
            gps.extend(points)
            engine.extend(states)
            odometer.extend(readings)
            counts.append((len(points), len(states), len(readings)))
        if unattributed:  # their GPS rows are quarantined and counted; these are not rows
            log.debug(
                "samsara: %d engine-state/odometer readings of records without a vehicle id "
                "dropped",
                unattributed,
            )
        text = [row.time for row in gps]
        text += [row.time for row in engine]
        text += [row.time for row in odometer]
        time, reasons = _times(text)
        vehicle = np.array(codes, dtype=np.int32)
        sizes = np.array(counts, dtype=np.int64).reshape(-1, 3)
        first, second = len(gps), len(gps) + len(engine)
        if gps:
            self._read_gps(gps, np.repeat(vehicle, sizes[:, 0]), time[:first], reasons[:first])
        if engine:
            part = slice(first, second)
            self._read_engine(engine, np.repeat(vehicle, sizes[:, 1]), time[part], reasons[part])
        if odometer:
            part = slice(second, None)
            self._read_odometer(
                odometer, np.repeat(vehicle, sizes[:, 2]), time[part], reasons[part]
            )

    @staticmethod
    def _timed(reasons: pa.Array, series: str) -> Bools:
        """Which rows have a time. A reading of ``series`` without one is no row of the
        dataset, only something to join: it is dropped, and logged."""
        timed: Bools = np.asarray(reasons.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if not timed.all():
            count, first = len(reasons) - int(timed.sum()), reasons.drop_null()[0].as_py()
            log.warning("samsara: %d %s reading(s) dropped: %s", count, series, first)
        return timed

    def _read_gps(self, rows: list[GpsPoint], vehicle: I32, time: I64, reasons: pa.Array) -> None:
        page = Gps(
            vehicle=vehicle,
            time=time,
            latitude=_floats([row.latitude for row in rows], "gps latitude"),
            longitude=_floats([row.longitude for row in rows], "gps longitude"),
            speed_mph=_floats([row.speed_miles_per_hour for row in rows], "gps speed"),
            heading_degrees=_floats([row.heading_degrees for row in rows], "gps heading"),
            location=pa.array(
                [
                    None if row.reverse_geo is None else row.reverse_geo.formatted_location
                    for row in rows
                ],
                pa.string(),
            ),
        )
        if reasons.null_count < len(reasons):  # some readings have no time: set them aside
            untimed = np.asarray(reasons.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            self._untimed.append(Untimed(page.take(np.flatnonzero(untimed)), reasons.drop_null()))
            page = page.take(np.flatnonzero(~untimed))
        self._gps.append(page)

    def _read_engine(
        self, rows: list[EngineStateReading], vehicle: I32, time: I64, reasons: pa.Array
    ) -> None:
        state = self.states.encode([row.value for row in rows])
        keep = np.flatnonzero(self._timed(reasons, "engine-state"))
        self._engine.append(Readings(vehicle[keep], time[keep], state[keep]))

    def _read_odometer(
        self, rows: list[OdometerReading], vehicle: I32, time: I64, reasons: pa.Array
    ) -> None:
        meters = _floats([row.value for row in rows], "obdOdometerMeters value")
        valid = np.asarray(meters.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        keep = np.flatnonzero(self._timed(reasons, "odometer") & valid)
        values = meters.fill_null(0.0).to_numpy()
        self._odometer.append(Readings(vehicle[keep], time[keep], values[keep]))

    # -- results ---------------------------------------------------------------------------
    def gps(self) -> Gps:
        """Every GPS reading with a time, sorted by (vehicle, time); a repeated (vehicle, time)
        keeps the last one received."""
        merged = Gps.concat(self._gps)
        return merged.take(_last_of_each(merged.vehicle, merged.time))

    def untimed(self) -> Untimed:
        """Every GPS reading without a readable time, by vehicle code."""
        if not self._untimed:
            return Untimed()
        merged = Untimed(
            Gps.concat([part.gps for part in self._untimed]),
            pa.concat_arrays([part.reason for part in self._untimed]),
        )
        return merged.take(np.argsort(merged.gps.vehicle, kind="stable").astype(np.int64))

    def engine(self) -> Readings:
        return _merge(self._engine, np.int8)

    def odometer(self) -> Readings:
        return _merge(self._odometer, np.float64)

    def recoding(self, target: dict[str, int]) -> I32:
        """Maps this reader's codes to ``target``'s (-1 where ``target`` lacks the vehicle, or
        the record had no id)."""
        return np.array(
            [-1 if vid is None else target.get(vid, -1) for vid in self.ids], dtype=np.int32
        )


def _last_of_each(vehicle: I32, time: I64) -> slice | I64:
    """Row order sorting by (vehicle, time), keeping the last received of equal keys.

    The window walk's pages come in that order already, each key once (vehicle codes go by
    first appearance, a vehicle's readings by time): then the order is the rows as they are,
    ``slice(None)``, found in one linear pass instead of a sort and a copy.
    """
    step = np.diff(vehicle)
    if np.all((step > 0) | ((step == 0) & (np.diff(time) > 0))):
        return slice(None)
    order = np.lexsort((time, vehicle))
    sv, st = vehicle[order], time[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (sv[1:] != sv[:-1]) | (st[1:] != st[:-1])
    result: I64 = order[last].astype(np.int64)
    return result


def _merge(parts: list[Readings], dtype: type[np.generic]) -> Readings:
    if not parts:
        return Readings(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, dtype))
    return Readings(
        np.concatenate([p.vehicle for p in parts]),
        np.concatenate([p.time for p in parts]),
        np.concatenate([p.value for p in parts]),
    )


def _concat(first: Readings, second: Readings) -> Readings:
    return _merge([first, second], first.value.dtype.type)


# --------------------------------------------------------------------------- fetch


def _settings(provider: Provider) -> SamsaraSettings:
    settings = provider.settings
    return settings if isinstance(settings, SamsaraSettings) else SamsaraSettings()


def _tiered(provider: Provider, name: str, settings: SamsaraSettings) -> EndpointDefinition:
    """The endpoint, with its rate tier overridden when the options say so."""
    endpoint = provider.endpoint(name)
    rate = settings.rate_limits.get(name)
    return endpoint if rate is None else dataclasses.replace(endpoint, rate_limit=rate)


def _walk(
    client: TelemetryClient,
    endpoint: EndpointDefinition,
    types: Sequence[str],
    start: datetime,
    end: datetime,
    states: EngineStateCodes,
    on_page: Callable[[_StatsReader], None] | None = None,
) -> _StatsReader:
    """Walk ``types`` over ``[start, end)`` into one reader; ``on_page`` sees it after each
    page."""
    reader = _StatsReader(states)
    params = {"types": list(types), "start_time": start, "end_time": end}
    for page in client.iter_pages(endpoint, params, typed=False, decoder=STATS_PAGE_DECODER):
        reader.read(page.items)
        if on_page is not None:
            on_page(reader)
    return reader


class _DriverRequests:
    """The window's driver-assignment requests, sent while its stats walk goes on.

    :meth:`ask` sends a request for each ``size`` vehicles with GPS the walk has met and no
    request has named yet; with ``final``, for the rest too. :meth:`answers` waits for them.
    """

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        client: TelemetryClient,
        endpoint: EndpointDefinition,
        start: datetime,
        end: datetime,
        size: int,
    ) -> None:
        self._pool, self._client, self._endpoint = pool, client, endpoint
        self._start, self._end, self._size = start, end, size
        self._named = 0  # how many of the reader's vehicles with GPS have been asked for
        self._sent: list[tuple[list[str], Future[list[DriverVehicleAssignment]]]] = []

    def ask(self, reader: _StatsReader, final: bool = False) -> None:
        waiting = reader.with_gps[self._named :]
        while len(waiting) >= self._size or (final and waiting):
            chunk, waiting = waiting[: self._size], waiting[self._size :]
            future = self._pool.submit(
                _fetch_assignments, self._client, self._endpoint, chunk, self._start, self._end
            )
            self._sent.append((chunk, future))
            self._named += len(chunk)

    def answers(self) -> tuple[list[DriverVehicleAssignment], list[FetchFailure]]:
        """Every assignment received, and a failure per request that failed, naming its
        vehicles (their points keep a null driver)."""
        rows: list[DriverVehicleAssignment] = []
        failures: list[FetchFailure] = []
        for chunk, future in self._sent:
            try:
                rows.extend(future.result())
            except FthError as exc:
                subject = f"driver assignments of vehicles {chunk[0]}..{chunk[-1]}"
                failures.append(FetchFailure(f"{subject} ({len(chunk)})", str(exc)))
        return rows, failures


def _fetch_assignments(
    client: TelemetryClient,
    endpoint: EndpointDefinition,
    vehicle_ids: list[str],
    start: datetime,
    end: datetime,
) -> list[DriverVehicleAssignment]:
    params = {
        "filter_by": "vehicles",
        "vehicle_ids": vehicle_ids,
        "start_time": start,
        "end_time": end,
    }
    rows: list[DriverVehicleAssignment] = client.fetch_all(endpoint, params)
    return rows


def _groups(counts: I64, limit: int) -> Iterator[tuple[int, int]]:
    """Contiguous code ranges holding about ``limit`` GPS points each (whole vehicles)."""
    first, total = 0, 0
    for code, count in enumerate(counts.tolist()):
        total += count
        if total >= limit:
            yield first, code + 1
            first, total = code + 1, 0
    if total:
        yield first, len(counts)


def fetch_window(
    provider: Provider, start: datetime, end: datetime
) -> Iterator[TelemetryBatch[SamsaraBatch]]:
    """Fetch ``[start, end)`` (aware UTC datetimes) and yield it in batches of vehicles.

    Stats walk errors propagate (a cursor walk cannot resume half-way); a failed assignments
    request becomes a :class:`FetchFailure` naming its vehicles, whose points keep a null
    driver — the pipeline then stores none of the window, so such points never reach the
    dataset.
    """
    settings = _settings(provider)
    client = provider.client()
    stats = _tiered(provider, "vehicle_stats_history", settings)
    assignments = _tiered(provider, "driver_vehicle_assignments", settings)
    tolerance = settings.odometer_tolerance
    lookback = max(settings.engine_state_margin, tolerance)
    after_end = min(end + tolerance, datetime.now(UTC))
    states = EngineStateCodes()

    with ThreadPoolExecutor(max_workers=max(1, provider.quota.max_concurrency)) as pool:
        before = pool.submit(
            _walk,
            client,
            stats,
            (TelemetryTypes.ENGINE_STATES, TelemetryTypes.OBD_ODOMETER),
            start - lookback,
            start,
            states,
        )
        after: Future[_StatsReader] | None = None
        if after_end > end:
            after = pool.submit(
                _walk, client, stats, (TelemetryTypes.OBD_ODOMETER,), end, after_end, states
            )
        drivers = _DriverRequests(
            pool, client, assignments, start, end, settings.assignment_chunk_size
        )
        window = _walk(client, stats, _WINDOW_TYPES, start, end, states, drivers.ask)
        drivers.ask(window, final=True)

        gps, untimed = window.gps(), window.untimed()
        margin = before.result()
        engine = _concat(margin.engine().recode(margin.recoding(window.codes)), window.engine())
        odometer = _concat(
            margin.odometer().recode(margin.recoding(window.codes)), window.odometer()
        )
        if after is not None:
            later = after.result()
            odometer = _concat(odometer, later.odometer().recode(later.recoding(window.codes)))
        # Sorted by (vehicle, time) for slicing into batches; one reading per instant.
        engine = engine.take(_last_of_each(engine.vehicle, engine.time))
        odometer = odometer.take(_last_of_each(odometer.vehicle, odometer.time))

        log.debug(
            "samsara: [%s, %s): %d vehicles, %d GPS points, %d engine states, %d odometer "
            "readings (margins included)",
            start.isoformat(), end.isoformat(), len(window.codes), len(gps), len(engine),
            len(odometer),
        )  # fmt: skip
        vehicle_ids = pa.array(window.ids, type=pa.string())
        names = pa.array(window.names, type=pa.string())
        vins = pa.array(window.vins, type=pa.string())
        engine_names = states.names
        counts = np.bincount(gps.vehicle, minlength=len(window.ids)).astype(np.int64)
        counts += np.bincount(untimed.gps.vehicle, minlength=len(window.ids)).astype(np.int64)
        rows, failures = drivers.answers()
        for low, high in _groups(counts, settings.batch_points):
            group_ids: list[str | None] = vehicle_ids[low:high].to_pylist()
            local = {vid: code for code, vid in enumerate(group_ids) if vid is not None}
            batch = SamsaraBatch(
                start=epoch_us(start),
                end=epoch_us(end),
                vehicle_ids=vehicle_ids[low:high],
                names=names[low:high],
                vins=vins[low:high],
                gps=_slice_gps(gps, low, high),
                engine=_slice_readings(engine, low, high),
                odometer=_slice_readings(odometer, low, high),
                assignments=Assignments.from_models(rows, local),
                odometer_tolerance=tolerance // timedelta(microseconds=1),
                engine_names=engine_names,
                untimed=_slice_untimed(untimed, low, high),
            )
            yield TelemetryBatch(batch, tuple(failures))
            failures = []  # each rides in the window's first batch


def _code_range(vehicle: I32, low: int, high: int) -> slice:
    first, last = np.searchsorted(vehicle, [low, high])
    return slice(int(first), int(last))


def _slice_gps(gps: Gps, low: int, high: int) -> Gps:
    part = gps.take(_code_range(gps.vehicle, low, high))
    return dataclasses.replace(part, vehicle=(part.vehicle - low).astype(np.int32))


def _slice_untimed(untimed: Untimed, low: int, high: int) -> Untimed:
    part = untimed.take(_code_range(untimed.gps.vehicle, low, high))
    gps = dataclasses.replace(part.gps, vehicle=(part.gps.vehicle - low).astype(np.int32))
    return Untimed(gps, part.reason)


def _slice_readings(readings: Readings, low: int, high: int) -> Readings:
    part = readings.take(_code_range(readings.vehicle, low, high))
    return Readings((part.vehicle - low).astype(np.int32), part.time, part.value)


# --------------------------------------------------------------------------- flatten


def _nullable_take(values: pa.Array, index: I64) -> pa.Array:
    return values.take(pa.array(index, mask=index < 0))


def join_batch(batch: SamsaraBatch, gps: Gps | None = None) -> Joined:
    """The temporal join of ``gps`` (default: all of the batch's) against the batch's engine
    states, odometer readings and assignments."""
    gps = batch.gps if gps is None else gps
    return join(
        gps.vehicle,
        gps.time,
        engine_vehicle=batch.engine.vehicle,
        engine_time=batch.engine.time,
        engine_state=batch.engine.value,
        odometer_vehicle=batch.odometer.vehicle,
        odometer_time=batch.odometer.time,
        odometer_meters=batch.odometer.value,
        assignment_vehicle=batch.assignments.vehicle,
        assignment_start=batch.assignments.start,
        assignment_end=batch.assignments.end,
        assignment_is_passenger=batch.assignments.is_passenger,
        odometer_tolerance=batch.odometer_tolerance,
    )


def flatten(batch: SamsaraBatch) -> dict[str, Any]:
    """Unified-schema columns of a batch: the join, the window trim, units (miles); and a
    ``reason`` for the rows that cannot be stored (see the module doc)."""
    gps = batch.gps
    inside = (gps.time >= batch.start) & (gps.time < batch.end)
    if not inside.all():
        gps = gps.take(np.flatnonzero(inside))
    joined = join_batch(batch, gps)
    columns = _columns(batch, gps, joined)
    untimed = batch.untimed
    if not len(untimed):
        return columns
    unjoined = _columns(batch, untimed.gps, None)
    unjoined[REASON] = pc.coalesce(unjoined[REASON], untimed.reason)
    return {name: pa.concat_arrays([columns[name], unjoined[name]]) for name in columns}


def _columns(batch: SamsaraBatch, gps: Gps, joined: Joined | None) -> dict[str, Any]:
    """The columns of ``gps``; without ``joined`` (no time to join on) engine state, driver
    and odometer are null and so is the timestamp."""
    vehicle = pa.array(gps.vehicle)
    ids = batch.vehicle_ids.take(vehicle)
    n = len(gps)
    if joined is None:
        state = np.full(n, -1, dtype=np.int32)
        assignment = np.full(n, -1, dtype=np.int64)
        odometer = pa.nulls(n, pa.float64())
        timestamp = pa.nulls(n, _TIMESTAMP)
    else:
        state = joined.engine_state.astype(np.int32)
        assignment = joined.assignment
        odometer = pa.array(joined.odometer_miles, mask=np.isnan(joined.odometer_miles))
        timestamp = pa.array(gps.time.view("datetime64[us]"), type=_TIMESTAMP)
    return {
        "provider_vehicle_id": ids,
        "vin": batch.vins.take(vehicle),
        "fleet_number": batch.names.take(vehicle),
        "timestamp": timestamp,
        "latitude": gps.latitude,
        "longitude": gps.longitude,
        "speed_mph": gps.speed_mph,
        "heading_degrees": gps.heading_degrees,
        "engine_state": pa.DictionaryArray.from_arrays(
            pa.array(state, mask=state < 0), batch.engine_names
        ),
        "driver_id": _nullable_take(batch.assignments.driver_id, assignment),
        "driver_name": _nullable_take(batch.assignments.driver_name, assignment),
        "location_description": gps.location,
        "odometer": odometer,
        REASON: (
            pc.if_else(ids.is_null(), MISSING_VEHICLE_ID, _NO_TEXT)
            if ids.null_count
            else pa.nulls(n, pa.string())
        ),
    }
