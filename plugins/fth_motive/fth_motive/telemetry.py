"""Motive telemetry: fetch a window's breadcrumbs, and flatten them to the unified schema.

Fetch (:func:`fetch_locations`)
    1. The roster: ``/v1/vehicles``, every page, every status (a deactivated vehicle may still
       have history in the window).
    2. For each vehicle, ``/v3/vehicle_locations/{id}`` over the whole days that cover the
       window (:func:`request_days`), split into ranges of at most ``max_days_per_request``
       days; each day is requested once. Requests run concurrently on a thread pool sized by
       the provider's ``max_concurrency``; the shared client enforces the rate limit.
    2b. Consecutive windows of one run share days (the padding of an unknown day zone reaches
       into the next window). The breadcrumbs already downloaded that lie at or after the
       window's end are carried to the next window of the same :class:`Provider` (see
       :class:`_Carry`), so each day is downloaded once per run, not three times.
    3. Each answer is decoded straight into the msgspec Structs of :mod:`fth_motive.wire` (no
       dict and no pydantic model per point) and yielded as one
       :class:`~fth_core.hookspecs.TelemetryBatch` of :class:`LocationHistory`. A range that
       fails is yielded as a batch whose ``failures`` name the vehicle; the other vehicles
       still arrive. A roster vehicle without an id cannot be asked for: it is yielded as a
       batch without records, which flatten turns into one quarantined row naming it.

Units
    Motive does not say whether ``X-Metric-Units`` or the vehicle's own ``metric_units``
    decides a location's units. So each vehicle is requested with the header equal to its own
    roster flag: both readings then agree, and metric answers (km/h, km) are converted to mph
    and miles.

Flatten (:func:`flatten_locations`)
    Columns are built from the Structs (by attribute) with list comprehensions and pyarrow:
    timestamps to UTC (offsets too), the window trimmed to ``[start, end)``, the odometer from
    ``true_odometer`` falling back to ``odometer``, the driver's id and ``"First Last"``, VIN
    and fleet number from the roster, and ``engine_state`` from
    :func:`fth_motive.conventions.engine_states`.

Bad records (a ``reason`` column sends them to the quarantine)
    * a ``located_at`` missing or unparseable: ``"missing timestamp"`` / ``"unparseable
      timestamp '…'"``. Its time being unknown, it cannot be trimmed to the window: the window
      whose request downloaded it sets it aside (never carried to the next one);
    * a ``type`` outside :data:`~fth_motive.conventions.LOCATION_TYPES`: the type is the only
      engine-state signal Motive sends, so the state is unknown — ``"unknown location type
      '…'"``, with ``engine_state`` null;
    * a roster vehicle without an id: ``"missing vehicle id"``, one row with its VIN and fleet
      number (its locations cannot be asked for);
    * out-of-range coordinates are left to the pipeline's range checks.
    A breadcrumb's own ``id`` (a UUID) is not used: rows are identified by vehicle and time, so
    one missing is not a bad record.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.client import TelemetryClient
from fth_core.endpoints import EndpointDefinition
from fth_core.errors import FthError
from fth_core.hookspecs import FetchFailure, TelemetryBatch
from fth_core.logs import get_logger
from fth_core.provider import Provider
from fth_core.schema import (
    MISSING_VEHICLE_ID,
    REASON,
    parse_timestamps,
    timestamp_reasons,
    value_reasons,
)
from fth_motive.conventions import (
    KM_PER_MILE,
    LOCATION_TYPES,
    METRIC_UNITS_HEADER,
    engine_states,
)
from fth_motive.models import Vehicle
from fth_motive.settings import MotiveSettings
from fth_motive.wire import LOCATIONS_PAGE_DECODER, Breadcrumb, BreadcrumbDriver, as_breadcrumbs

__all__ = [
    "LocationHistory",
    "RosterVehicle",
    "fetch_locations",
    "flatten_locations",
    "request_days",
    "split_days",
]

log = get_logger("fth.motive")

_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)
_KNOWN_TYPES = pa.array(LOCATION_TYPES, type=pa.string())
_TIMESTAMP = pa.timestamp("us", tz="UTC")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class RosterVehicle:
    """What flatten needs from ``/v1/vehicles`` about one vehicle."""

    id: str | None  # None: the roster record came without one
    vin: str | None
    fleet_number: str | None
    metric_units: bool

    @classmethod
    def from_vehicle(cls, vehicle: Vehicle) -> RosterVehicle:
        return cls(
            id=None if vehicle.id is None else str(vehicle.id),
            vin=vehicle.vin or None,
            fleet_number=vehicle.number,
            metric_units=vehicle.metric_units,
        )


@dataclass(frozen=True)
class LocationHistory:
    """The items of one telemetry batch: a vehicle's raw breadcrumbs for whole days.

    ``records`` are the unwrapped ``vehicle_location`` s as decoded (:class:`Breadcrumb` s;
    dicts of the same shape are accepted too), for the days
    ``first_day``..``last_day`` (inclusive), which may reach beyond the window; ``metric``
    records the units that were requested. Flatten keeps only ``[start, end)``. ``located``,
    when fetch has parsed them already, are the records' ``located_at`` as timestamps. A
    vehicle without an id has no records: it could not be asked for any.
    """

    vehicle: RosterVehicle
    first_day: date
    last_day: date
    start: datetime
    end: datetime
    metric: bool
    records: Sequence[Breadcrumb | Mapping[str, Any]]
    located: pa.Array | None = None


# -- days --------------------------------------------------------------------------------------


def request_days(start: datetime, end: datetime, zone: str | None) -> tuple[date, date]:
    """The inclusive ``start_date``/``end_date`` whose whole days cover ``[start, end)``.

    With ``zone`` (the zone Motive's location days are in) these are exactly the days the window
    touches. Without it the day boundaries are unknown, so one day is added on each side: the
    days then cover the window for any offset between UTC-24h and UTC+24h.
    """
    start, last = start.astimezone(UTC), (end - _TICK).astimezone(UTC)
    if zone is None:
        return (start - _ONE_DAY).date(), (last + _ONE_DAY).date()
    tz = ZoneInfo(zone)
    return start.astimezone(tz).date(), last.astimezone(tz).date()


def split_days(first: date, last: date, max_days: int) -> list[tuple[date, date]]:
    """``first``..``last`` as consecutive inclusive ranges of at most ``max_days`` days."""
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    ranges = []
    day = first
    while day <= last:
        stop = min(day + timedelta(days=max_days - 1), last)
        ranges.append((day, stop))
        day = stop + _ONE_DAY
    return ranges


# -- fetch -------------------------------------------------------------------------------------


def _settings(provider: Provider) -> MotiveSettings:
    settings = provider.settings
    return settings if isinstance(settings, MotiveSettings) else MotiveSettings()


def fetch_roster(provider: Provider) -> list[RosterVehicle]:
    """Every vehicle of the account, whatever its status, each once.

    Offset pages can overlap when the roster changes during the walk; a vehicle listed twice
    must not be fetched (and stored) twice. Vehicles without an id come last, as listed (they
    cannot be told apart).
    """
    vehicles = provider.client().fetch_all(provider.endpoint("vehicles"))
    roster: dict[str, RosterVehicle] = {}
    nameless: list[RosterVehicle] = []
    for vehicle in map(RosterVehicle.from_vehicle, vehicles):
        if vehicle.id is None:
            nameless.append(vehicle)
        else:
            roster.setdefault(vehicle.id, vehicle)
    return [*roster.values(), *nameless]


def fetch_days(
    client: TelemetryClient,
    endpoint: EndpointDefinition,
    vehicle: RosterVehicle,
    first: date,
    last: date,
) -> list[Breadcrumb]:
    """One vehicle's breadcrumbs for ``first``..``last``, decoded as :class:`Breadcrumb` s.

    The request carries ``X-Metric-Units`` equal to the vehicle's own ``metric_units``.
    """
    params = {"vehicle_id": vehicle.id, "start_date": first, "end_date": last}
    units = {METRIC_UNITS_HEADER: "true" if vehicle.metric_units else "false"}
    page = client.fetch(
        endpoint, params, typed=False, headers=units, decoder=LOCATIONS_PAGE_DECODER
    )
    items: list[Breadcrumb] = page.items
    return items


@dataclass
class _Held:
    """One vehicle's breadcrumbs downloaded for days up to ``last_day`` that lie at or after
    the end of the window they were fetched for."""

    last_day: date
    metric: bool
    records: list[Breadcrumb]
    located: pa.Array


@dataclass
class _Carry:
    """What a provider's last window left for the next: valid only for a window starting at
    ``until`` (the pipeline walks a run's windows in order through one Provider)."""

    until: datetime | None = None
    held: dict[str, _Held] = field(default_factory=dict)


# Keyed weakly by Provider: the carry lives exactly as long as the run's Provider does.
_CARRIES: weakref.WeakKeyDictionary[Provider, _Carry] = weakref.WeakKeyDictionary()


def _us(moment: datetime) -> int:
    return (moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // _TICK


class _Placer:
    """Sorts one window's breadcrumbs: inside ``[start, end)`` to the batch, later ones into
    the carry for the next window, earlier ones (already stored by an earlier window) away."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.low, self.high = _us(start), _us(end)
        self.carry: dict[str, _Held] = {}

    def place(
        self,
        vehicle: RosterVehicle,
        first: date,
        last: date,
        metric: bool,
        records: list[Breadcrumb],
        located: pa.Array | None = None,
    ) -> LocationHistory | None:
        if located is None:
            located = parse_timestamps(pa.array([r.located_at for r in records], pa.string()))
        us = located.cast(pa.int64()).fill_null(0).to_numpy()
        # A missing or unreadable time is inside (flatten quarantines it), never carried.
        stamped = ~np.asarray(located.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        later = stamped & (us >= self.high)
        inside = ~later & ~(stamped & (us < self.low))
        # Every vehicle downloaded is remembered, even with nothing to carry: its days are done.
        assert vehicle.id is not None, "only vehicles with an id are asked for"
        held = self.carry.setdefault(
            vehicle.id, _Held(last, metric, [], pa.array([], type=located.type))
        )
        held.last_day = max(held.last_day, last)
        if later.any():
            keep = np.flatnonzero(later)
            held.records.extend(records[i] for i in keep.tolist())
            held.located = pa.concat_arrays([held.located, located.take(pa.array(keep))])
        if not inside.any():
            return None
        if not inside.all():
            keep = np.flatnonzero(inside)
            records = [records[i] for i in keep.tolist()]
            located = located.take(pa.array(keep))
        return LocationHistory(
            vehicle, first, last, self.start, self.end, metric, records, located=located
        )

    def forget(self, vehicle_id: str) -> None:
        """A failed range: the next window downloads this vehicle's days afresh."""
        self.carry.pop(vehicle_id, None)


# Rows per batch: one flatten call per vehicle would spend more on per-call overhead (dozens of
# small Arrow operations) than on the rows of a day; a few thousand vehicle-days at once do not.
BATCH_ROWS = 100_000


def fetch_locations(
    provider: Provider, start: datetime, end: datetime
) -> Iterator[TelemetryBatch[tuple[LocationHistory, ...]]]:
    """The batches of ``[start, end)``: the vehicles' histories, grouped up to
    :data:`BATCH_ROWS` breadcrumbs a batch, with their failures (see the module doc)."""
    group: list[LocationHistory] = []
    failures: list[FetchFailure] = []
    rows = 0
    for history, failure in _histories(provider, start, end):
        if failure is not None:
            failures.append(failure)
        if history.vehicle.id is None:  # flattened alone: one quarantined row naming it
            yield TelemetryBatch((history,))
            continue
        group.append(history)
        rows += len(history.records)
        if rows >= BATCH_ROWS:
            yield TelemetryBatch(tuple(group), tuple(failures))
            group, failures, rows = [], [], 0
    if group or failures:
        yield TelemetryBatch(tuple(group), tuple(failures))


def _histories(
    provider: Provider, start: datetime, end: datetime
) -> Iterator[tuple[LocationHistory, FetchFailure | None]]:
    """The window's histories, one per vehicle and day range (or carried over), each with the
    failure of its range if it failed (see the module doc)."""
    settings = _settings(provider)
    client = provider.client()
    endpoint = provider.endpoint("vehicle_locations")
    roster = fetch_roster(provider)
    first, last = request_days(start, end, settings.location_day_zone)
    carry = _CARRIES.setdefault(provider, _Carry())
    held = carry.held if carry.until == start else {}
    carry.until, carry.held = None, {}  # spent, whatever happens below
    placer = _Placer(start, end)
    failed: set[str] = set()
    tasks: list[tuple[str, date, date]] = []
    by_id: dict[str, RosterVehicle] = {}
    for vehicle in roster:
        if vehicle.id is None:
            yield LocationHistory(vehicle, first, last, start, end, False, ()), None
            continue
        by_id[vehicle.id] = vehicle
        kept = held.get(vehicle.id)
        since = first if kept is None else max(first, kept.last_day + _ONE_DAY)
        ranges = split_days(since, last, settings.max_days_per_request)
        tasks += [(vehicle.id, a, b) for a, b in ranges]
    log.debug(
        "motive: %d vehicles, %d range(s) within %s..%s for %s..%s (%d vehicles carried over)",
        len(roster),
        len(tasks),
        first,
        last,
        start.isoformat(),
        end.isoformat(),
        len(held),
    )
    # A vehicle's carried breadcrumbs join its batch once its new days arrive, so a vehicle
    # whose request fails contributes nothing to the window, as before there was a carry.
    carried = {vehicle_id: kept for vehicle_id, kept in held.items() if vehicle_id in by_id}

    def release(vehicle_id: str) -> Iterator[tuple[LocationHistory, None]]:
        kept = carried.pop(vehicle_id, None)
        if kept is not None:
            history = placer.place(
                by_id[vehicle_id],
                kept.last_day,
                kept.last_day,
                kept.metric,
                kept.records,
                kept.located,
            )
            if history is not None:
                yield history, None

    def work(task: tuple[str, date, date]) -> list[Breadcrumb]:
        vehicle_id, a, b = task
        return fetch_days(client, endpoint, by_id[vehicle_id], a, b)

    for (vehicle_id, a, b), future in _bounded_map(work, tasks, provider.quota.max_concurrency):
        vehicle = by_id[vehicle_id]
        error = future.exception()
        if error is None:
            history = placer.place(vehicle, a, b, vehicle.metric_units, future.result())
            if history is not None:
                yield history, None
            yield from release(vehicle_id)
        elif isinstance(error, FthError):
            failed.add(vehicle_id)
            carried.pop(vehicle_id, None)
            log.warning("motive: vehicle %s, %s..%s failed: %s", vehicle.id, a, b, error)
            failure = FetchFailure(f"vehicle {vehicle.id}", f"{a}..{b}: {error}")
            empty = LocationHistory(vehicle, a, b, start, end, vehicle.metric_units, [])
            yield empty, failure
        else:
            raise error
    for vehicle_id in list(carried):  # nothing new to download for these (short windows)
        yield from release(vehicle_id)
    for vehicle_id in failed:
        placer.forget(vehicle_id)
    carry.until, carry.held = end, placer.carry


def _bounded_map(
    work: Callable[[T], R], tasks: Iterable[T], workers: int
) -> Iterator[tuple[T, Future[R]]]:
    """Run ``work`` over ``tasks`` on ``workers`` threads; yield (task, finished future) in
    completion order, with at most ``2 * workers`` tasks submitted at a time so finished
    results never pile up faster than the caller consumes them."""
    workers = max(1, workers)
    queue = iter(tasks)
    pending: dict[Future[R], T] = {}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fth-motive")
    try:
        while True:
            while len(pending) < 2 * workers:
                task = next(queue, _END)
                if task is _END:
                    break
                pending[pool.submit(work, task)] = task
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_END: Any = object()


# -- flatten -----------------------------------------------------------------------------------


def _floats(values: list[int | float | None]) -> pa.Array:
    return pa.array(values, type=pa.float64())


def flatten_locations(histories: LocationHistory | Sequence[LocationHistory]) -> dict[str, Any]:
    """Unified-schema columns of the breadcrumbs of ``histories`` (one, or a batch's group)
    inside their windows, plus a ``reason`` column for the bad records (see the module doc).

    The group is flattened as one: every per-location step runs once over all its vehicles'
    breadcrumbs, and the per-vehicle values (id, VIN, fleet number, units, window) are spread
    to their rows by index.
    """
    group = [histories] if isinstance(histories, LocationHistory) else list(histories)
    if len(group) == 1 and group[0].vehicle.id is None:
        vehicle = group[0].vehicle
        return {
            "vin": [vehicle.vin],
            "fleet_number": [vehicle.fleet_number],
            REASON: [MISSING_VEHICLE_ID],
        }
    parts = [as_breadcrumbs(h.records) for h in group]
    records = [record for part in parts for record in part]
    owner = np.repeat(np.arange(len(group)), [len(part) for part in parts])
    known = [h.located for h in group]
    # The texts are needed to parse, and to quote the unreadable ones; fetch parsed them.
    texts = None
    if any(times is None for times in known):
        texts = pa.array([r.located_at for r in records], type=pa.string())
        times = parse_timestamps(texts)
    else:
        times = pa.concat_arrays(known) if known else pa.array([], _TIMESTAMP)
        if times.null_count:
            texts = pa.array([r.located_at for r in records], type=pa.string())
    us = times.cast(pa.int64()).fill_null(0).to_numpy()
    low = np.array([_us(h.start) for h in group], dtype=np.int64)[owner]
    high = np.array([_us(h.end) for h in group], dtype=np.int64)[owner]
    untimed = np.asarray(times.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    inside = ((us >= low) & (us < high)) | untimed
    if not inside.all():
        keep = np.flatnonzero(inside)
        records = [records[i] for i in keep.tolist()]
        index = pa.array(keep)
        times = times.take(index)
        texts = texts.take(index) if texts is not None else None
        owner = owner[keep]
    n = len(records)
    rows = pa.array(owner, type=pa.int64())

    def per_vehicle(values: list[Any], kind: pa.DataType) -> pa.Array:
        return pa.array(values, type=kind).take(rows)

    speed = _floats([r.speed for r in records])
    odometer = pc.coalesce(
        _floats([r.true_odometer for r in records]), _floats([r.odometer for r in records])
    )
    metric = per_vehicle([h.metric for h in group], pa.bool_())
    if pc.any(metric).as_py():
        speed = pc.if_else(metric, pc.divide(speed, KM_PER_MILE), speed)
        odometer = pc.if_else(metric, pc.divide(odometer, KM_PER_MILE), odometer)
    kinds = pa.array([r.type for r in records], type=pa.string())
    unknown = pc.and_(kinds.is_valid(), pc.invert(pc.is_in(kinds, value_set=_KNOWN_TYPES)))
    speeds = np.asarray(speed.to_numpy(zero_copy_only=False), dtype=np.float64)
    states = pc.if_else(unknown, pa.scalar(None, pa.string()), engine_states(kinds, speeds))
    drivers = [r.driver for r in records]
    time_reasons = (
        timestamp_reasons(texts, times) if texts is not None else pa.nulls(n, pa.string())
    )
    vehicles = [h.vehicle for h in group]
    return {
        "provider_vehicle_id": per_vehicle([v.id for v in vehicles], pa.string()),
        "vin": per_vehicle([v.vin for v in vehicles], pa.string()),
        "fleet_number": per_vehicle([v.fleet_number for v in vehicles], pa.string()),
        "timestamp": times,
        "latitude": _floats([r.lat for r in records]),
        "longitude": _floats([r.lon for r in records]),
        "speed_mph": speed,
        "heading_degrees": _floats([r.bearing for r in records]),
        "engine_state": states,
        "driver_id": pa.array(
            [None if d is None or d.id is None else str(d.id) for d in drivers],
            type=pa.string(),
        ),
        "driver_name": pa.array([_full_name(d) for d in drivers], type=pa.string()),
        "location_description": pa.array([r.description for r in records], type=pa.string()),
        "odometer": odometer,
        REASON: pc.coalesce(time_reasons, value_reasons("unknown location type", kinds, unknown)),
    }


def _full_name(driver: BreadcrumbDriver | None) -> str | None:
    if driver is None:
        return None
    name = f"{driver.first_name or ''} {driver.last_name or ''}".strip()
    return name or None
