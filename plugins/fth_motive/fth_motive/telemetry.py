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
       window's end are carried to the next window of the same run, in the run space the
       core gives the windows of a run (``Window.run``; see :class:`_Carry`), so each day is
       downloaded once per run, not three times.
    2c. A request also reads ahead: up to :data:`~fth_motive.settings.MAX_READ_AHEAD_DAYS` days
       past what its window needs, within the run (the hook's ``horizon``) and the
       ``read_ahead_vehicle_days`` budget; those days go into the carry too. A request costs
       fth CPU and the account a call of its quota whatever it spans, so a week of one-day
       windows takes 2 or 3 requests per vehicle instead of 7. A vehicle's first request of a
       run reads 0 to 3 days ahead by its place in the roster, so that each later window asks
       for an even share of the fleet.
    3. The pool's threads only wait on the network: each answer is read on the caller's thread
       (:func:`read_days`), decoded straight into the msgspec Structs of :mod:`fth_motive.wire`
       (no dict and no pydantic model per point) and at once turned into Arrow columns
       (:func:`breadcrumb_columns`), the only Python work per point, spent only on breadcrumbs
       from the window's start on and, in a window told its run's horizon, before that horizon
       (the padding days of an unknown day zone hold many points no window needs). Decoding on
       the pool would gain nothing (the GIL runs one thread at a time) and cost CPU: threads
       taking turns evict each other's answers from the cache.
    4. The histories (a vehicle's columns for a day range, or carried over) are grouped into
       :class:`~fth_core.spec.TelemetryBatch` es; what goes into the carry is picked once
       a batch, and flatten trims the batch to the window. A range that fails is yielded with
       ``failures`` naming the vehicle; the other vehicles still arrive. A roster vehicle
       without an id cannot be asked for: it is yielded as a batch without records, which
       flatten turns into one quarantined row naming it.

Units
    Motive does not say whether ``X-Metric-Units`` or the vehicle's own ``metric_units``
    decides a location's units. So each vehicle is requested with the header equal to its own
    roster flag: both readings then agree, and metric answers (km/h, km) are converted to mph
    and miles.

Flatten (:func:`flatten_locations`)
    Arrow and numpy over a whole batch's columns: timestamps to UTC (offsets too), the window
    trimmed to ``[start, end)``, the odometer from ``true_odometer`` falling back to
    ``odometer``, the driver's id and ``"First Last"``, VIN and fleet number from the roster,
    and ``engine_state`` from :func:`fth_motive.conventions.engine_states`.

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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import compress, pairwise
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.client import TelemetryClient
from fth_core.endpoints import EndpointDefinition, RequestSpec
from fth_core.errors import FthError
from fth_core.logs import get_logger
from fth_core.provider import Provider
from fth_core.schema import (
    MISSING_VEHICLE_ID,
    REASON,
    epoch_us,
    parse_timestamps,
    timestamp_reasons,
    value_reasons,
)
from fth_core.spec import FetchFailure, TelemetryBatch, Window
from fth_motive.conventions import (
    KM_PER_MILE,
    LOCATION_TYPES,
    METRIC_UNITS_HEADER,
    engine_states,
)
from fth_motive.models import Vehicle
from fth_motive.settings import MAX_READ_AHEAD_DAYS, MotiveSettings
from fth_motive.wire import (
    LOCATIONS_PAGE_DECODER,
    Breadcrumb,
    BreadcrumbDriver,
    LocationsPage,
    as_breadcrumbs,
)

__all__ = [
    "LocationHistory",
    "RosterVehicle",
    "breadcrumb_columns",
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
Mask = npt.NDArray[np.bool_]

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

    ``records`` are its ``vehicle_location`` s for the days ``first_day``..``last_day``
    (inclusive), which may reach beyond the window: as fetch keeps them, the columns of
    :func:`breadcrumb_columns`; or as decoded (:class:`Breadcrumb` s; dicts of the same shape
    are accepted too). ``metric`` records the units that were requested. Flatten keeps only
    ``[start, end)``. A vehicle without an id has no records: it could not be asked for any.
    """

    vehicle: RosterVehicle
    first_day: date
    last_day: date
    start: datetime
    end: datetime
    metric: bool
    records: pa.RecordBatch | Sequence[Breadcrumb | Mapping[str, Any]]


# -- columns -----------------------------------------------------------------------------------

# What breadcrumb_columns makes of an answer: ``located_at`` is kept as received too, for the
# reason of an unreadable one to quote it.
_COLUMNS = pa.schema(
    [
        ("located_at", pa.string()),
        ("time", _TIMESTAMP),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("speed", pa.float64()),
        ("bearing", pa.float64()),
        ("odometer", pa.float64()),  # true_odometer, else odometer
        ("type", pa.string()),
        ("description", pa.string()),
        ("driver_id", pa.string()),
        ("driver_first_name", pa.string()),
        ("driver_last_name", pa.string()),
    ]
)
_NO_BREADCRUMBS = pa.RecordBatch.from_pylist([], schema=_COLUMNS)
# What a breadcrumb without a driver reads as: every field null, like the missing driver.
_NO_DRIVER = BreadcrumbDriver()
_NEVER = np.iinfo(np.int64).max  # µs since the epoch no time reaches
_NEVER_BEFORE = np.iinfo(np.int64).min  # µs since the epoch no time is before


def breadcrumb_columns(
    records: Sequence[Breadcrumb], since: int | None = None, until: int | None = None
) -> pa.RecordBatch:
    """``records`` as one Arrow column per field flatten reads, in the units received:
    ``located_at`` (as text and parsed: ``time``), ``lat``, ``lon``, ``speed``, ``bearing``,
    ``odometer`` (``true_odometer``, else ``odometer``), ``type``, ``description`` and the
    driver's ``driver_id`` (as text), ``driver_first_name`` and ``driver_last_name``.

    Fetch calls it on each answer right after decoding it, while its Structs are still in the
    CPU's cache: it is the only per-point Python work (one list per field); the carry and
    flatten run in Arrow and numpy over whole batches. With ``since`` (µs since the epoch), the
    breadcrumbs timed before it are left out: a window downloads whole days, and the first of
    them mostly lies before the window, in windows already stored. With ``until``, those timed
    at or after it are left out too: the last day a run downloads lies mostly past its end.
    A breadcrumb without a readable time stays, for flatten to quarantine.
    """
    located_at = pa.array([r.located_at for r in records], type=pa.string())
    times = parse_timestamps(located_at)
    if since is not None or until is not None:
        low = _NEVER_BEFORE if since is None else since
        before, later = _sides(times, low, _NEVER if until is None else until)
        kept = ~(before | later)
        if not kept.all():
            records = list(compress(records, kept))
            located_at, times = located_at.filter(kept), times.filter(kept)
    drivers = [r.driver or _NO_DRIVER for r in records]
    odometers = [r.odometer if r.true_odometer is None else r.true_odometer for r in records]
    return pa.RecordBatch.from_arrays(
        [
            located_at,
            times,
            _floats([r.lat for r in records]),
            _floats([r.lon for r in records]),
            _floats([r.speed for r in records]),
            _floats([r.bearing for r in records]),
            _floats(odometers),
            pa.array([r.type for r in records], type=pa.string()),
            pa.array([r.description for r in records], type=pa.string()),
            _ids([d.id for d in drivers]),
            pa.array([d.first_name for d in drivers], type=pa.string()),
            pa.array([d.last_name for d in drivers], type=pa.string()),
        ],
        schema=_COLUMNS,
    )


def _columns(history: LocationHistory) -> pa.RecordBatch:
    """A history's breadcrumbs as :func:`breadcrumb_columns` (fetch's already are)."""
    records = history.records
    if isinstance(records, pa.RecordBatch):
        return records
    return breadcrumb_columns(as_breadcrumbs(records))


def _floats(values: list[int | float | None]) -> pa.Array:
    return pa.array(values, type=pa.float64())


def _ids(ids: list[int | str | None]) -> pa.Array:
    """Driver ids as text, as ``str`` writes them. Arrow converts a list of integers (the usual
    case) or of text at once; a mix of both, or an integer beyond 64 bits, goes one by one."""
    try:
        return pa.array(ids).cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if i is None else str(i) for i in ids], type=pa.string())


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
) -> tuple[RequestSpec, bytes]:
    """One vehicle's answer for ``first``..``last`` as received, with its request:
    :func:`read_days` decodes it, on the caller's thread (see the module doc).

    The request carries ``X-Metric-Units`` equal to the vehicle's own ``metric_units``.
    """
    params = {"vehicle_id": vehicle.id, "start_date": first, "end_date": last}
    units = {METRIC_UNITS_HEADER: "true" if vehicle.metric_units else "false"}
    request = endpoint.build_request(params, headers=units)
    response = client.send(request, rate_key=endpoint.key, rate=endpoint.rate_limit)
    return request, response.content


def read_days(
    client: TelemetryClient,
    request: RequestSpec,
    content: bytes,
    since: int | None = None,
    until: int | None = None,
) -> pa.RecordBatch:
    """An answer of :func:`fetch_days`, decoded into :class:`Breadcrumb` s (a body that is not
    a locations page is the client's :class:`~fth_core.errors.ResponseFormatError`), as
    :func:`breadcrumb_columns` (``since`` and ``until`` as there)."""
    page: LocationsPage = client.decode(request, content, LOCATIONS_PAGE_DECODER)
    records = [item.vehicle_location for item in page.vehicle_locations or ()]
    return breadcrumb_columns(records, since, until)


@dataclass
class _Held:
    """One vehicle's downloads: its days up to ``last_day`` are done, and ``parts`` are its
    breadcrumbs that lie at or after the end of the window they were fetched for."""

    last_day: date
    metric: bool
    parts: list[pa.RecordBatch] = field(default_factory=list)


@dataclass
class _Carry:
    """What a provider's last window left for the next: valid only for a window starting at
    ``until`` (the pipeline walks a run's windows in order through one Provider) and ending
    by ``horizon``, past which nothing was kept (None: nothing was cut)."""

    until: datetime | None = None
    horizon: datetime | None = None
    held: dict[str, _Held] = field(default_factory=dict)

    def take(self, start: datetime, end: datetime) -> tuple[dict[str, _Held], datetime | None]:
        """What the window ``[start, end)`` takes over (nothing if it is not the next one) and
        the horizon it was cut at. The carry is spent, whatever happens to that window."""
        fits = self.until == start and (self.horizon is None or end <= self.horizon)
        taken = (self.held, self.horizon) if fits else ({}, None)
        self.until, self.horizon, self.held = None, None, {}
        return taken


# The carry's key in the run space the core gives each window (Window.run): it lives exactly
# as long as the run does.
_CARRY = "motive.carry"


def _sides(times: pa.Array, low: Any, high: Any) -> tuple[Mask, Mask]:
    """Where ``times`` lie before ``low``, and where at or after ``high``: bounds in µs since
    the epoch, one for all or one per time. A null time is neither: a record without a
    readable time is inside whichever window downloaded it, and flatten quarantines it."""
    us = pc.fill_null(times.view(pa.int64()), 0).to_numpy()
    before, later = us < low, us >= high
    if times.null_count:
        timed = np.asarray(times.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        before, later = before & timed, later & timed
    return before, later


def _where(records: pa.RecordBatch, mask: Mask) -> pa.RecordBatch:
    """The rows of ``records`` where ``mask`` holds; all of them as they are when it holds
    everywhere, as it does for most (a window's whole next day, a carried day)."""
    return records if mask.all() else records.filter(mask)


class _Placer:
    """Builds the carry a window leaves for the next: the days each vehicle has downloaded, and
    its breadcrumbs at or after the window's end. Breadcrumbs stay in their batch whatever
    their time: flatten keeps those inside the window and drops the earlier ones (stored by an
    earlier window), so the only placement here is the carry's, once a batch."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.low, self.high = epoch_us(start), epoch_us(end)
        self.held: dict[str, _Held] = {}
        self.failed: set[str] = set()

    def done(self, vehicle_id: str, last_day: date, metric: bool) -> None:
        """A vehicle's days up to ``last_day`` are downloaded (or carried): it is remembered
        even with nothing to carry."""
        held = self.held.setdefault(vehicle_id, _Held(last_day, metric))
        held.last_day = max(held.last_day, last_day)

    def place(self, group: Sequence[LocationHistory]) -> None:
        """Carries the breadcrumbs of a batch's histories that lie at or after the end: one
        pass over all their times, then a filter only for a history partly at or after it."""
        parts = [_columns(h) for h in group]
        times = [_NO_BREADCRUMBS.column("time"), *(part.column("time") for part in parts)]
        _, later = _sides(pa.concat_arrays(times), self.low, self.high)
        if not later.any():
            return
        bounds = np.cumsum([0, *(len(part) for part in parts)]).tolist()
        for history, part, (a, b) in zip(group, parts, pairwise(bounds), strict=True):
            if later[a:b].any():
                assert history.vehicle.id is not None, "only vehicles with an id are asked for"
                self.held[history.vehicle.id].parts.append(_where(part, later[a:b]))

    def forget(self, vehicle_id: str) -> None:
        """A failed range: the next window downloads this vehicle's days afresh."""
        self.failed.add(vehicle_id)

    def carry(self) -> dict[str, _Held]:
        """What the next window takes over: every vehicle downloaded that did not fail."""
        return {key: held for key, held in self.held.items() if key not in self.failed}


# Rows per batch: one flatten call per vehicle would spend more on per-call overhead (dozens of
# small Arrow operations) than on the rows of a day; a few thousand vehicle-days at once do not.
BATCH_ROWS = 100_000


def fetch_locations(
    provider: Provider, window: Window
) -> Iterator[TelemetryBatch[tuple[LocationHistory, ...]]]:
    """The batches of ``[window.start, window.end)``: the vehicles' histories, grouped up to
    :data:`BATCH_ROWS` breadcrumbs a batch, with their failures (see the module doc). Requests
    may read ahead to the run's ``horizon``; what they bring for later windows waits in the
    run space (``window.run``)."""
    start, end, horizon = window.start, window.end, window.horizon
    carry = window.run.setdefault(_CARRY, _Carry())
    held, held_cut = carry.take(start, end)
    placer = _Placer(start, end)
    group: list[LocationHistory] = []
    failures: list[FetchFailure] = []
    rows = 0
    # A window told that its run goes on to a later horizon leaves out what lies past it: no
    # window of the run needs it. Told nothing more (horizon == end, the default of a window
    # fetched alone), it cuts nothing, and the carry keeps the padding past the end for a
    # caller that goes on with the next window anyway.
    cut = horizon if horizon is not None and horizon > end else None
    for history, failure in _histories(provider, start, end, cut, held, placer):
        if failure is not None:
            failures.append(failure)
        if history.vehicle.id is None:  # flattened alone: one quarantined row naming it
            yield TelemetryBatch((history,))
            continue
        group.append(history)
        rows += len(history.records)
        if rows >= BATCH_ROWS:
            placer.place(group)
            yield TelemetryBatch(tuple(group), tuple(failures))
            group, failures, rows = [], [], 0
    if group or failures:
        placer.place(group)
        yield TelemetryBatch(tuple(group), tuple(failures))
    # Once every batch is out: a window left unfinished leaves no carry (the next starts afresh).
    # What it carries on was cut at the earlier of its own cut and that of what it took over.
    cuts = [c for c in (cut, held_cut) if c is not None]
    carry.until, carry.horizon, carry.held = end, min(cuts, default=None), placer.carry()


def _histories(
    provider: Provider,
    start: datetime,
    end: datetime,
    horizon: datetime | None,
    held: dict[str, _Held],
    placer: _Placer,
) -> Iterator[tuple[LocationHistory, FetchFailure | None]]:
    """The window's histories, one per vehicle and day range (or carried over), each with the
    failure of its range if it failed (see the module doc). Requests read ahead towards
    ``horizon``, and what they download from it on is left out (None: no reading ahead, and
    nothing left out); ``held`` is the carry the last window left; ``placer`` learns which
    days are done and which vehicles failed."""
    settings = _settings(provider)
    client = provider.client()
    endpoint = provider.endpoint("vehicle_locations")
    roster = fetch_roster(provider)
    zone = settings.location_day_zone
    first, last = request_days(start, end, zone)
    asked = sum(vehicle.id is not None for vehicle in roster)
    ahead = min(MAX_READ_AHEAD_DAYS, settings.read_ahead_vehicle_days // max(asked, 1))
    final = request_days(start, horizon or end, zone)[1]  # the run's last day
    until = None if horizon is None else epoch_us(horizon)
    tasks: list[tuple[str, date, date]] = []
    by_id: dict[str, RosterVehicle] = {}
    for vehicle in roster:
        if vehicle.id is None:
            yield LocationHistory(vehicle, first, last, start, end, False, ()), None
            continue
        by_id[vehicle.id] = vehicle
        kept = held.get(vehicle.id)
        since = first if kept is None else max(first, kept.last_day + _ONE_DAY)
        if since <= last:  # the window needs days not downloaded yet
            ranges = split_days(since, last, settings.max_days_per_request)
            # The last range reads ahead, as far as one request may span. A vehicle new to the
            # run reads 0..ahead days ahead by its place in the roster, and then ahead days
            # each time: the later windows each ask for an even share of the fleet, so the
            # quota is spent in every window, not idle in those whose days were all read ahead.
            days = ahead if kept is not None else (len(by_id) - 1) % (ahead + 1)
            reach = min(final, last + timedelta(days=days))
            a, b = ranges[-1]
            span = timedelta(days=settings.max_days_per_request - 1)
            ranges[-1] = (a, max(b, min(reach, a + span)))
            tasks += [(vehicle.id, a, b) for a, b in ranges]
    log.debug(
        "motive: %d vehicles, %d range(s) within %s..%s for %s..%s (%d vehicles carried over)",
        len(roster),
        len(tasks),
        first,
        final,
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
            placer.done(vehicle_id, kept.last_day, kept.metric)
            vehicle, day = by_id[vehicle_id], kept.last_day
            for part in kept.parts:
                yield LocationHistory(vehicle, day, day, start, end, kept.metric, part), None

    def work(task: tuple[str, date, date]) -> tuple[RequestSpec, bytes]:
        vehicle_id, a, b = task
        return fetch_days(client, endpoint, by_id[vehicle_id], a, b)

    # A range read ahead that fails is asked again without its days past the window: days
    # the window does not need must not fail it. Its carried breadcrumbs wait for that answer.
    again: list[tuple[str, date, date]] = []

    def answers() -> Iterator[tuple[tuple[str, date, date], Future[tuple[RequestSpec, bytes]]]]:
        yield from _bounded_map(work, tasks, provider.quota.max_concurrency)
        if again:  # filled by the loop below while it consumes the first pass
            yield from _bounded_map(work, again, provider.quota.max_concurrency)

    for (vehicle_id, a, b), future in answers():
        vehicle = by_id[vehicle_id]
        metric = vehicle.metric_units
        try:
            records = read_days(client, *future.result(), since=placer.low, until=until)
        except FthError as error:
            if b > last:
                log.info(
                    "motive: vehicle %s, %s..%s failed: %s; again to %s",
                    vehicle.id,
                    a,
                    b,
                    error,
                    last,
                )
                again.append((vehicle_id, a, last))
                continue
            placer.forget(vehicle_id)
            carried.pop(vehicle_id, None)
            log.warning("motive: vehicle %s, %s..%s failed: %s", vehicle.id, a, b, error)
            failure = FetchFailure(f"vehicle {vehicle.id}", f"{a}..{b}: {error}")
            empty = LocationHistory(vehicle, a, b, start, end, metric, _NO_BREADCRUMBS)
            yield empty, failure
            continue
        placer.done(vehicle_id, b, metric)
        yield LocationHistory(vehicle, a, b, start, end, metric, records), None
        yield from release(vehicle_id)
    for vehicle_id in list(carried):  # nothing new to download for these (short windows)
        yield from release(vehicle_id)


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
    parts = [_columns(h) for h in group]
    crumbs = pa.concat_batches([_NO_BREADCRUMBS, *parts])
    owner = np.repeat(np.arange(len(group)), [len(part) for part in parts])
    low = np.array([epoch_us(h.start) for h in group], dtype=np.int64)[owner]
    high = np.array([epoch_us(h.end) for h in group], dtype=np.int64)[owner]
    before, later = _sides(crumbs.column("time"), low, high)
    inside = ~(before | later)
    crumbs, owner = _where(crumbs, inside), owner[inside]
    rows = pa.array(owner, type=pa.int64())

    def per_vehicle(values: list[Any], kind: pa.DataType) -> pa.Array:
        return pa.array(values, type=kind).take(rows)

    speed, odometer = crumbs.column("speed"), crumbs.column("odometer")
    metric = per_vehicle([h.metric for h in group], pa.bool_())
    if pc.any(metric).as_py():
        speed = pc.if_else(metric, pc.divide(speed, KM_PER_MILE), speed)
        odometer = pc.if_else(metric, pc.divide(odometer, KM_PER_MILE), odometer)
    kinds = crumbs.column("type")
    unknown = pc.and_(kinds.is_valid(), pc.invert(pc.is_in(kinds, value_set=_KNOWN_TYPES)))
    speeds = np.asarray(speed.to_numpy(zero_copy_only=False), dtype=np.float64)
    states = pc.if_else(unknown, pa.scalar(None, pa.string()), engine_states(kinds, speeds))
    times = crumbs.column("time")
    vehicles = [h.vehicle for h in group]
    return {
        "provider_vehicle_id": per_vehicle([v.id for v in vehicles], pa.string()),
        "vin": per_vehicle([v.vin for v in vehicles], pa.string()),
        "fleet_number": per_vehicle([v.fleet_number for v in vehicles], pa.string()),
        "timestamp": times,
        "latitude": crumbs.column("lat"),
        "longitude": crumbs.column("lon"),
        "speed_mph": speed,
        "heading_degrees": crumbs.column("bearing"),
        "engine_state": states,
        "driver_id": crumbs.column("driver_id"),
        "driver_name": _full_names(
            crumbs.column("driver_first_name"), crumbs.column("driver_last_name")
        ),
        "location_description": crumbs.column("description"),
        "odometer": odometer,
        REASON: pc.coalesce(
            timestamp_reasons(crumbs.column("located_at"), times),
            value_reasons("unknown location type", kinds, unknown),
        ),
    }


def _full_names(first: pa.Array, last: pa.Array) -> pa.Array:
    """``"First Last"``, either part possibly missing, trimmed as ``str.strip`` does (Arrow's
    whitespace is Python's); null when nothing is left."""
    joined = pc.binary_join_element_wise(pc.fill_null(first, ""), pc.fill_null(last, ""), " ")
    names = pc.utf8_trim_whitespace(joined)
    return pc.if_else(pc.equal(names, ""), pa.scalar(None, pa.string()), names)
