"""A deterministic simulated fleet: the ground truth behind the provider simulators.

:class:`Fleet` turns a seed into vehicles, drivers, GPS tracks, engine states, odometers and
driver assignments. Provider simulators render it in their wire formats and the end-to-end
tests compare what fth stored against it, so it must be exact, reproducible and cheap.

Determinism
    The roster (vehicles, drivers) comes from one random stream per vehicle or driver, so a
    vehicle's attributes do not depend on the fleet size. Each vehicle's day comes from
    ``np.random.default_rng([seed, vehicle.index, day.toordinal()])`` and the day's driver plan
    from a stream of its own, so a point never depends on the window asked for: ``[d1, d3)``
    equals ``[d1, d2)`` followed by ``[d2, d3)``. Days are UTC days from ``epoch`` on; days
    before the epoch have no data. Vehicle-days are cached (bounded LRU).

A vehicle's day (all times UTC, whole seconds)
    * Parked at the depot overnight: engine Off, speed 0, a point every 10 minutes (on the
      :00/:10/... grid), no driver.
    * A shift starts between 05:00 and 09:00 and lasts 8-10 h: an Idle warm-up of 5-15 min
      (a point every 2-5 min), driving (engine On, a point every 30-60 s), an Idle break of
      25-35 min part-way through (42-58 % of the driving time), driving again, and the arrival
      back at the depot, where the engine goes Off.
    * Engine events are the five transitions Off→Idle, Idle→On, On→Idle, Idle→On, On→Off, each
      exactly at the timestamp of the point where the state changes; the state of every point
      is the latest event at or before it.

Motion
    The route is a closed loop through the depot: a circle of per-vehicle length ``L``
    (180-300 miles, so radius ``R = L / 2π``), whose centre lies in a direction drawn per day
    and travelled clockwise or anticlockwise per day. Speed is piecewise linear in time with
    knots at the driving points: zero at each departure and arrival, ramping up over 2-4 min,
    and wandering by ±20-40 % (three slow sinusoids) in between. It is scaled so that the two
    drives cover exactly one lap, and blended towards a steady cruise if the peak would exceed
    74 mph. So ``speed_mph`` is the exact derivative of the position, and the distance between
    two consecutive points over the time between them is the mean of their two speeds
    (trapezoid). ``heading_degrees`` is the bearing of the direction of travel (the loop's
    tangent), also kept while stopped. Miles become degrees with ``lat = lat0 + north / 69``
    and ``lon = lon0 + east / (69 cos lat0)`` around the depot.
    ``odometer_miles = base + L * (days since epoch + fraction of today's lap done)``, so it is
    continuous across midnight and :meth:`Fleet.odometer_at` computes it for any instant.
    ``location_description`` is the nearest of a few real cities of the depot's region.

Drivers
    Every day the active drivers are shuffled and dealt to the active vehicles, one each. Then
    half of those vehicles, picked at random, hand over at the break to a second driver taken
    from the drivers left over, as far as they go: with the default driver count (about 1.3
    active drivers per active vehicle) that is ~40 % of vehicle-days. A driver works at most
    one assignment a day, and shifts never cross midnight, so no driver is ever on two vehicles
    at once. An assignment starts 0-10 min before the shift and ends 1-15 min after the
    arrival; points inside it carry its driver, other points none. Vehicles left without a
    driver (a fleet with too few drivers) drive with a null driver.

Imperfections
    * Offline gaps: on ``offline_rate`` of vehicle-days one stretch of 1-3 hours (shortened
      to fit) has no points at all; it lies inside a drive or overnight and never swallows an
      engine-event point. The odometer keeps counting through it; engine events and
      assignments are unaffected.
    * Late points: on ``late_rate`` of vehicle-days one contiguous run of 20-60 min of shift
      points becomes available 6-60 hours after its timestamp (``available_at``); all other
      points are available at their timestamp. ``points(as_of=...)`` hides what is not
      available yet.
    * About ``missing_vin_rate`` of vehicles have no VIN; ``deactivated_rate`` of vehicles are
      deactivated and have no points, events or assignments; about 15 % of drivers are
      deactivated and never assigned.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.schema import enforce_telemetry_schema, epoch_us

__all__ = ["Fleet", "SimDriver", "SimVehicle"]

_I64 = npt.NDArray[np.int64]
_I32 = npt.NDArray[np.int32]
_F64 = npt.NDArray[np.float64]
_I8 = npt.NDArray[np.int8]

_DAY_S = 86_400
_US = 1_000_000
_DAY_US = _DAY_S * _US
_UNIX_ORDINAL = date(1970, 1, 1).toordinal()
_MILES_PER_DEGREE = 69.0

_VEHICLE_ID_STRIDE = 17
_DRIVER_ID_STRIDE = 11
_DRIVER_DEACTIVATED_RATE = 0.15
_HANDOVER_RATE = 0.5

# Cadences (seconds between points) and the shape of a day, all in seconds of the UTC day.
_OFF_CADENCE = 600
_IDLE_GAP = (120, 300)
_DRIVE_GAP = (30, 60)
_SHIFT_START = (5 * 3600, 9 * 3600)
_SHIFT_LENGTH = (8 * 3600, 10 * 3600)
_WARMUP = (5 * 60, 15 * 60)
_BREAK = (25 * 60, 35 * 60)
_FIRST_DRIVE_SHARE = (0.42, 0.58)
_RAMP = (120, 240)
_WOBBLE = (0.2, 0.4)
_WOBBLE_PERIOD = (15 * 60.0, 90 * 60.0)
_LEAD_IN = (0, 600)
_LEAD_OUT = (60, 900)
_OFFLINE_LENGTH = (3600, 3 * 3600)
# Where an offline gap goes: early night, first drive, second drive, late night.
_OFFLINE_PLACES = np.array([0.15, 0.35, 0.35, 0.15])
_LATE_RUN = (20 * 60, 60 * 60)
_LATE_DELAY = (6 * 3600, 60 * 3600)

_LOOP_MILES = (180.0, 300.0)
_MAX_MPH = 74.0
_ODOMETER_BASE = (20_000.0, 300_000.0)
_DEPOT_JITTER_MILES = 3.0
_MODEL_YEARS = (2014, 2025)

_DAY_CACHE_SIZE = 2048
_PLAN_CACHE_SIZE = 512

# The fourth word of a seed key tells roster, plan and fleet streams apart. Vehicle-day keys
# have three words, which SeedSequence pads with zeros, so a non-zero fourth word never collides.
_KEY_VEHICLE = 1
_KEY_DRIVER = 2
_KEY_PLAN = 3
_KEY_FLEET = 4

_ON, _OFF, _IDLE = 0, 1, 2
_STATE_NAMES = ("On", "Off", "Idle")

# Depot regions: the first city is the depot, the rest are what a truck passes near on its loop.
# Inland hubs only, so that loops of up to ~80 miles around them stay on land.
_REGIONS: tuple[tuple[tuple[str, float, float], ...], ...] = (
    (
        ("Dallas, TX", 32.78, -96.80),
        ("Fort Worth, TX", 32.75, -97.33),
        ("Denton, TX", 33.21, -97.13),
        ("Waco, TX", 31.55, -97.15),
        ("Tyler, TX", 32.35, -95.30),
        ("Sherman, TX", 33.64, -96.61),
        ("Corsicana, TX", 32.10, -96.47),
    ),
    (
        ("Atlanta, GA", 33.75, -84.39),
        ("Marietta, GA", 33.95, -84.55),
        ("Athens, GA", 33.96, -83.38),
        ("Macon, GA", 32.84, -83.63),
        ("Gainesville, GA", 34.30, -83.82),
        ("Newnan, GA", 33.38, -84.80),
        ("Rome, GA", 34.26, -85.16),
    ),
    (
        ("Indianapolis, IN", 39.77, -86.16),
        ("Anderson, IN", 40.11, -85.68),
        ("Muncie, IN", 40.19, -85.39),
        ("Lafayette, IN", 40.42, -86.88),
        ("Bloomington, IN", 39.17, -86.53),
        ("Kokomo, IN", 40.49, -86.13),
        ("Terre Haute, IN", 39.47, -87.41),
    ),
    (
        ("Denver, CO", 39.74, -104.99),
        ("Boulder, CO", 40.01, -105.27),
        ("Fort Collins, CO", 40.59, -105.08),
        ("Colorado Springs, CO", 38.83, -104.82),
        ("Greeley, CO", 40.42, -104.71),
        ("Castle Rock, CO", 39.37, -104.86),
    ),
    (
        ("Phoenix, AZ", 33.45, -112.07),
        ("Mesa, AZ", 33.42, -111.83),
        ("Scottsdale, AZ", 33.49, -111.93),
        ("Glendale, AZ", 33.54, -112.19),
        ("Casa Grande, AZ", 32.88, -111.76),
        ("Chandler, AZ", 33.31, -111.84),
        ("Wickenburg, AZ", 33.97, -112.73),
    ),
    (
        ("Columbus, OH", 39.96, -83.00),
        ("Dayton, OH", 39.76, -84.19),
        ("Springfield, OH", 39.92, -83.81),
        ("Newark, OH", 40.06, -82.40),
        ("Marion, OH", 40.59, -83.13),
        ("Lancaster, OH", 39.71, -82.60),
        ("Chillicothe, OH", 39.33, -82.98),
    ),
    (
        ("Nashville, TN", 36.16, -86.78),
        ("Murfreesboro, TN", 35.85, -86.39),
        ("Clarksville, TN", 36.53, -87.36),
        ("Franklin, TN", 35.93, -86.87),
        ("Columbia, TN", 35.62, -87.04),
        ("Lebanon, TN", 36.21, -86.29),
        ("Bowling Green, KY", 36.99, -86.44),
    ),
    (
        ("Kansas City, MO", 39.10, -94.58),
        ("Lawrence, KS", 38.97, -95.24),
        ("Topeka, KS", 39.05, -95.68),
        ("St. Joseph, MO", 39.77, -94.85),
        ("Olathe, KS", 38.88, -94.82),
        ("Sedalia, MO", 38.70, -93.23),
        ("Warrensburg, MO", 38.76, -93.74),
    ),
    (
        ("Oklahoma City, OK", 35.47, -97.52),
        ("Norman, OK", 35.22, -97.44),
        ("Edmond, OK", 35.65, -97.48),
        ("Shawnee, OK", 35.33, -96.93),
        ("Stillwater, OK", 36.12, -97.06),
        ("Chickasha, OK", 35.05, -97.94),
        ("Guthrie, OK", 35.88, -97.43),
    ),
    (
        ("Harrisburg, PA", 40.27, -76.88),
        ("Lancaster, PA", 40.04, -76.31),
        ("York, PA", 39.96, -76.73),
        ("Reading, PA", 40.34, -75.93),
        ("Carlisle, PA", 40.20, -77.19),
        ("Lebanon, PA", 40.34, -76.41),
        ("Chambersburg, PA", 39.94, -77.66),
    ),
    (
        ("Fresno, CA", 36.74, -119.79),
        ("Clovis, CA", 36.83, -119.70),
        ("Visalia, CA", 36.33, -119.29),
        ("Merced, CA", 37.30, -120.48),
        ("Hanford, CA", 36.33, -119.65),
        ("Madera, CA", 36.96, -120.06),
        ("Tulare, CA", 36.21, -119.35),
    ),
)
_CITY_NAMES = tuple(city[0] for region in _REGIONS for city in region)
_CITY_LAT = np.array([city[1] for region in _REGIONS for city in region])
_CITY_LON = np.array([city[2] for region in _REGIONS for city in region])
_REGION_FIRST = np.cumsum([0] + [len(region) for region in _REGIONS])

# (make, models, world manufacturer identifier used as the first three VIN characters)
_MAKES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Freightliner", ("Cascadia", "M2 106", "Columbia"), "1FU"),
    ("Kenworth", ("T680", "T880", "W900"), "1XK"),
    ("Peterbilt", ("579", "389", "567"), "1XP"),
    ("International", ("LT", "MV", "HV"), "3HS"),
    ("Volvo", ("VNL 860", "VNR 640"), "4V4"),
    ("Mack", ("Anthem", "Granite", "Pinnacle"), "1M2"),
    ("Ford", ("F-150", "Transit 250", "F-550"), "1FT"),
    ("Chevrolet", ("Silverado 2500HD", "Express 3500"), "1GC"),
    ("Ram", ("ProMaster 2500", "2500"), "3C6"),
    ("Isuzu", ("NPR-HD", "NQR"), "JAL"),
    ("Hino", ("L6", "XL8"), "5PV"),
)

_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Maria", "Mark", "Sandra",
    "Luis", "Ashley", "Andre", "Keisha", "Juan", "Emily", "Kevin", "Donna", "Brian", "Michelle",
    "Tyrone", "Rosa",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores",
)  # fmt: skip

# VIN rules (ISO 3779 / 49 CFR 565): no I, O or Q; position 10 encodes the model year.
_VIN_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_VIN_CHARS = _VIN_LETTERS + "0123456789"
_VIN_VALUES = {c: int(v) for c, v in zip(_VIN_LETTERS, "12345678123457923456789", strict=True)}
_VIN_VALUES.update({str(d): d for d in range(10)})
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"  # 2010, 2011, ... (cycle of 30)
# Gateway serials use a 32-letter alphabet without the look-alikes 0/O and 1/I.
_SERIAL_CHARS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

_POINTS_SCHEMA = pa.schema(
    [
        pa.field("vehicle_id", pa.string()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("latitude", pa.float64()),
        pa.field("longitude", pa.float64()),
        pa.field("speed_mph", pa.float64()),
        pa.field("heading_degrees", pa.float64()),
        pa.field("engine_state", pa.string()),
        pa.field("driver_id", pa.string()),
        pa.field("odometer_miles", pa.float64()),
        pa.field("location_description", pa.string()),
        pa.field("available_at", pa.timestamp("us", tz="UTC")),
    ]
)
_EVENTS_SCHEMA = pa.schema(
    [
        pa.field("vehicle_id", pa.string()),
        pa.field("time", pa.timestamp("us", tz="UTC")),
        pa.field("state", pa.string()),
    ]
)
_ASSIGNMENTS_SCHEMA = pa.schema(
    [
        pa.field("vehicle_id", pa.string()),
        pa.field("driver_id", pa.string()),
        pa.field("start", pa.timestamp("us", tz="UTC")),
        pa.field("end", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class SimVehicle:
    """One simulated vehicle as every provider knows it (the roster, not its track)."""

    index: int
    id: str
    vin: str | None
    fleet_number: str
    make: str
    model: str
    year: int
    serial: str
    metric_units: bool
    status: str
    home_lat: float
    home_lon: float
    home_city: str


@dataclass(frozen=True)
class SimDriver:
    """One simulated driver; deactivated drivers are never assigned."""

    index: int
    id: str
    first_name: str
    last_name: str
    username: str
    status: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, eq=False)
class _VehicleDay:
    """Everything about one active vehicle on one UTC day; times are seconds of the day.

    Arrays are read-only because the object is shared through the cache.
    """

    # Points, sorted by time.
    t: _I64
    lat: _F64
    lon: _F64
    speed: _F64
    heading: _F64
    state: _I8
    driver: _I32  # index into Fleet.drivers, -1 for none
    odometer: _F64
    city: _I32  # index into _CITY_NAMES
    delay: _I64  # available_at - timestamp
    # Engine events.
    event_t: _I64
    event_state: _I8
    # Driver assignments [start, end).
    assign_start: _I64
    assign_end: _I64
    assign_driver: _I32
    # Progress along the loop: knots of time, lap fraction and lap fraction per second.
    knot_t: _I64
    knot_u: _F64
    knot_w: _F64


@dataclass(frozen=True, eq=False)
class _Rows:
    """Selected points of several vehicle-days, as parallel columns; ``vehicle`` is an index."""

    vehicle: _I32
    ts: _I64  # microseconds since the Unix epoch
    lat: _F64
    lon: _F64
    speed: _F64
    heading: _F64
    state: _I8
    driver: _I32
    odometer: _F64
    city: _I32
    available: _I64


def _readonly(*arrays: npt.NDArray[Any]) -> None:
    for array in arrays:
        array.flags.writeable = False


def _cadence(rng: np.random.Generator, start: int, stop: int, gap: tuple[int, int]) -> _I64:
    """Point times from ``start`` (included) towards ``stop`` (excluded), ``gap`` seconds apart.

    The last point keeps at least half a minimum gap before ``stop``, which is where the next
    phase's first point goes.
    """
    low, high = gap
    steps = rng.integers(low, high, size=(stop - start) // low + 1, endpoint=True)
    times = start + np.concatenate(([0], np.cumsum(steps)))
    return times[times < stop - low // 2].astype(np.int64)


def _normalise(knot_t: _I64, speed: _F64) -> tuple[_F64, _F64]:
    """Scale a piecewise-linear speed so the day covers one lap: (lap fraction, per second).

    The cumulative distance is exact for piecewise-linear speed (trapezoids), and dividing by
    its own total makes the last value exactly 1.0, so the odometer lands exactly on a lap.
    """
    steps = 0.5 * (speed[1:] + speed[:-1]) * np.diff(knot_t)
    cumulative = np.concatenate(([0.0], np.cumsum(steps)))
    total = cumulative[-1]
    return cumulative / total, speed / total


def _progress(knot_t: _I64, knot_u: _F64, knot_w: _F64, t: _F64) -> tuple[_F64, _F64]:
    """Lap fraction and lap fraction per second at times ``t`` (seconds of the day).

    Speed is linear between knots, so the distance is its exact quadratic integral. At a knot
    this returns the knot's values bit for bit, which keeps points and :meth:`odometer_at`
    identical.
    """
    k = np.searchsorted(knot_t, t, side="right") - 1
    tau = t - knot_t[k]
    span = (knot_t[k + 1] - knot_t[k]).astype(np.float64)
    w0 = knot_w[k]
    slope = (knot_w[k + 1] - w0) / span
    rate = w0 + slope * tau
    u = knot_u[k] + tau * (w0 + 0.5 * slope * tau)
    # Rounding must not step outside the knots' range, or the odometer could tick backwards.
    u = np.clip(u, knot_u[k], knot_u[k + 1])
    return u, rate


def _odometer(base: float, loop_miles: float, days: Any, lap: _F64) -> _F64:
    """One formula for points and :meth:`Fleet.odometer_at`: whole laps plus today's fraction.

    Adding the day count to the fraction before multiplying makes the end of a day (fraction
    1.0) and the start of the next (fraction 0.0) the same float, so the odometer is monotone.
    """
    result: _F64 = base + loop_miles * (days + lap)
    return result


def _vin_check_digit(draft: str) -> str:
    """The ISO 3779 check character for a VIN whose position 9 is still a placeholder."""
    total = sum(_VIN_VALUES[c] * w for c, w in zip(draft, _VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def _encode(number: int, width: int) -> str:
    """``number`` in base 32 over :data:`_SERIAL_CHARS`, ``width`` characters."""
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        chars.append(_SERIAL_CHARS[digit])
    return "".join(reversed(chars))


def _utc_us(value: datetime, name: str) -> int:
    """Microseconds since the Unix epoch of an aware datetime; naive datetimes are an error."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return epoch_us(value)


def _timestamps(us: _I64) -> pa.Array:
    return pa.array(us.view("datetime64[us]"), type=pa.timestamp("us", tz="UTC"))


def _indices(index: _I32) -> pa.Array:
    """Take-indices with -1 meaning null."""
    return pa.array(index, mask=index < 0)


class Fleet:
    """A simulated fleet, deterministic from ``seed`` (see the module docstring for the model).

    Args:
        seed: any non-negative integer; the same seed gives byte-identical tables.
        vehicles: number of vehicles.
        drivers: number of drivers, by default ``ceil(1.5 * vehicles) + 2``.
        id_base, driver_id_base: vehicle and driver ids are these plus index times a stride.
        epoch: the first day with data; odometers count from it.
        missing_vin_rate, metric_rate, deactivated_rate: shares of the vehicle roster.
        late_rate, offline_rate: shares of vehicle-days with a late run or an offline gap.
    """

    def __init__(
        self,
        seed: int = 7,
        vehicles: int = 20,
        *,
        drivers: int | None = None,
        id_base: int = 100000,
        driver_id_base: int = 500000,
        epoch: date = date(2026, 1, 1),
        missing_vin_rate: float = 0.1,
        metric_rate: float = 0.2,
        deactivated_rate: float = 0.1,
        late_rate: float = 0.03,
        offline_rate: float = 0.1,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        if vehicles < 0:
            raise ValueError(f"vehicles must be non-negative, got {vehicles}")
        if drivers is None:
            drivers = math.ceil(1.5 * vehicles) + 2
        if drivers < 0:
            raise ValueError(f"drivers must be non-negative, got {drivers}")
        rates = {
            "missing_vin_rate": missing_vin_rate,
            "metric_rate": metric_rate,
            "deactivated_rate": deactivated_rate,
            "late_rate": late_rate,
            "offline_rate": offline_rate,
        }
        for rate_name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{rate_name} must be in [0, 1], got {rate}")
        if isinstance(epoch, datetime):
            # A datetime is a date subclass; its time of day would be silently ignored.
            raise TypeError("epoch must be a date, not a datetime")
        self.seed = seed
        self.epoch = epoch
        self.late_rate = late_rate
        self.offline_rate = offline_rate
        self._epoch_ordinal = epoch.toordinal()

        fleet_rng = np.random.default_rng([seed, 0, 0, _KEY_FLEET])
        vin_offset = int(fleet_rng.integers(0, 1_000_000))
        serial_offset = int(fleet_rng.integers(0, 32**6))
        self._loop_miles = np.empty(vehicles)
        self._odometer_base = np.empty(vehicles)
        self._region = np.empty(vehicles, dtype=np.int64)
        self.vehicles: tuple[SimVehicle, ...] = tuple(
            self._make_vehicle(i, id_base, vin_offset, serial_offset, rates)
            for i in range(vehicles)
        )
        self.drivers: tuple[SimDriver, ...] = tuple(
            self._make_driver(i, driver_id_base) for i in range(drivers)
        )
        self._vehicles_by_id = {v.id: v for v in self.vehicles}
        self._drivers_by_id = {d.id: d for d in self.drivers}
        if len(self._vehicles_by_id) != vehicles or len(self._drivers_by_id) != drivers:
            raise ValueError("id bases make vehicle or driver ids collide")
        self._active_vehicles = np.array(
            [v.index for v in self.vehicles if v.status == "active"], dtype=np.int32
        )
        self._active_drivers = np.array(
            [d.index for d in self.drivers if d.status == "active"], dtype=np.int32
        )
        # Vehicles in output order: sorted by id as a string, the way tables are sorted.
        self._id_order = tuple(v.index for v in sorted(self.vehicles, key=lambda v: v.id))
        self._vehicle_ids = pa.array([v.id for v in self.vehicles], type=pa.string())
        self._vins = pa.array([v.vin for v in self.vehicles], type=pa.string())
        self._fleet_numbers = pa.array([v.fleet_number for v in self.vehicles], type=pa.string())
        self._driver_ids = pa.array([d.id for d in self.drivers], type=pa.string())
        self._driver_names = pa.array([d.name for d in self.drivers], type=pa.string())
        self._city_names = pa.array(_CITY_NAMES, type=pa.string())
        self._state_names = pa.array(_STATE_NAMES, type=pa.string())
        # Per instance, so that two fleets never share (or pin) each other's days.
        self._day: Callable[[int, int], _VehicleDay] = functools.lru_cache(maxsize=_DAY_CACHE_SIZE)(
            self._make_day
        )
        self._plan: Callable[[int], tuple[_I32, _I32]] = functools.lru_cache(
            maxsize=_PLAN_CACHE_SIZE
        )(self._make_plan)

    def __repr__(self) -> str:
        return (
            f"Fleet(seed={self.seed}, vehicles={len(self.vehicles)}, "
            f"drivers={len(self.drivers)}, epoch={self.epoch.isoformat()})"
        )

    # ----------------------------------------------------------------------------- roster

    def _make_vehicle(
        self, index: int, id_base: int, vin_offset: int, serial_offset: int, rates: dict[str, float]
    ) -> SimVehicle:
        rng = np.random.default_rng([self.seed, index, 0, _KEY_VEHICLE])
        make, models, wmi = _MAKES[int(rng.integers(len(_MAKES)))]
        model = models[int(rng.integers(len(models)))]
        year = int(rng.integers(_MODEL_YEARS[0], _MODEL_YEARS[1], endpoint=True))
        descriptor = "".join(_VIN_CHARS[int(i)] for i in rng.integers(len(_VIN_CHARS), size=6))
        # Positions 12-17 come from the index, so VINs are unique by construction.
        sequence = (vin_offset + index * 7919) % 1_000_000
        draft = (
            f"{wmi}{descriptor[:5]}0{_VIN_YEAR_CODES[(year - 2010) % 30]}{descriptor[5]}"
            f"{sequence:06d}"
        )
        vin = draft[:8] + _vin_check_digit(draft) + draft[9:]
        # An odd multiplier is a bijection modulo 32**6: unique gateway serials by construction.
        tail = _encode((serial_offset + index * 0x9E3779B1) % 32**6, 6)
        head = "".join(_SERIAL_CHARS[int(i)] for i in rng.integers(32, size=4))
        serial = f"{head}-{tail[:3]}-{tail[3:]}"
        has_vin = rng.random() >= rates["missing_vin_rate"]
        metric = bool(rng.random() < rates["metric_rate"])
        active = rng.random() >= rates["deactivated_rate"]
        region = int(rng.integers(len(_REGIONS)))
        hub = int(_REGION_FIRST[region])
        lat0 = float(_CITY_LAT[hub])
        north, east = rng.uniform(-_DEPOT_JITTER_MILES, _DEPOT_JITTER_MILES, size=2)
        home_lat = lat0 + north / _MILES_PER_DEGREE
        home_lon = float(_CITY_LON[hub]) + east / (_MILES_PER_DEGREE * math.cos(math.radians(lat0)))
        self._loop_miles[index] = rng.uniform(*_LOOP_MILES)
        self._odometer_base[index] = round(rng.uniform(*_ODOMETER_BASE), 1)
        self._region[index] = region
        return SimVehicle(
            index=index,
            id=str(id_base + index * _VEHICLE_ID_STRIDE),
            vin=vin if has_vin else None,
            fleet_number=f"TRK-{index + 1:04d}",
            make=make,
            model=model,
            year=year,
            serial=serial,
            metric_units=metric,
            status="active" if active else "deactivated",
            home_lat=round(float(home_lat), 6),
            home_lon=round(float(home_lon), 6),
            home_city=_CITY_NAMES[hub],
        )

    def _make_driver(self, index: int, driver_id_base: int) -> SimDriver:
        rng = np.random.default_rng([self.seed, index, 0, _KEY_DRIVER])
        first = _FIRST_NAMES[int(rng.integers(len(_FIRST_NAMES)))]
        last = _LAST_NAMES[int(rng.integers(len(_LAST_NAMES)))]
        active = rng.random() >= _DRIVER_DEACTIVATED_RATE
        return SimDriver(
            index=index,
            id=str(driver_id_base + index * _DRIVER_ID_STRIDE),
            first_name=first,
            last_name=last,
            # The index keeps usernames unique when names repeat.
            username=f"{first[0]}{last}{index + 1}".lower(),
            status="active" if active else "deactivated",
        )

    def vehicle(self, vehicle_id: str) -> SimVehicle:
        """The vehicle with this id; ``KeyError`` if there is none."""
        try:
            return self._vehicles_by_id[vehicle_id]
        except KeyError:
            raise KeyError(f"no simulated vehicle {vehicle_id!r}") from None

    def driver(self, driver_id: str) -> SimDriver:
        """The driver with this id; ``KeyError`` if there is none."""
        try:
            return self._drivers_by_id[driver_id]
        except KeyError:
            raise KeyError(f"no simulated driver {driver_id!r}") from None

    # ----------------------------------------------------------------------------- days

    def _make_plan(self, ordinal: int) -> tuple[_I32, _I32]:
        """The day's drivers per vehicle index: (first driver, driver after the break), -1 none.

        Drawn for the whole fleet at once because no driver may serve two vehicles.
        """
        rng = np.random.default_rng([self.seed, ordinal, 0, _KEY_PLAN])
        shuffled = rng.permutation(self._active_drivers).astype(np.int32)
        first = np.full(len(self.vehicles), -1, dtype=np.int32)
        second = np.full(len(self.vehicles), -1, dtype=np.int32)
        served = self._active_vehicles[: len(shuffled)]
        first[served] = shuffled[: len(served)]
        spare = shuffled[len(served) :]
        # Half of the served vehicles hand over, as far as the spare drivers go.
        handovers = min(round(_HANDOVER_RATE * len(served)), len(spare))
        takers = rng.permutation(served)[:handovers]
        second[takers] = spare[: len(takers)]
        _readonly(first, second)
        return first, second

    def _make_day(self, index: int, ordinal: int) -> _VehicleDay:
        """Generate one active vehicle's UTC day (see the module docstring)."""
        rng = np.random.default_rng([self.seed, index, ordinal])
        # Every scalar is drawn unconditionally and in a fixed order, so changing a rate
        # changes only what that rate governs.
        shift_start = int(rng.integers(*_SHIFT_START, endpoint=True))
        shift_end = shift_start + int(rng.integers(*_SHIFT_LENGTH, endpoint=True))
        warmup = int(rng.integers(*_WARMUP, endpoint=True))
        pause = int(rng.integers(*_BREAK, endpoint=True))
        first_share = rng.uniform(*_FIRST_DRIVE_SHARE)
        centre_angle = rng.uniform(0.0, 2.0 * math.pi)
        sense = 1.0 if rng.random() < 0.5 else -1.0
        ramp = float(rng.integers(*_RAMP, endpoint=True))
        periods = rng.uniform(*_WOBBLE_PERIOD, size=3)
        phases = rng.uniform(0.0, 2.0 * math.pi, size=3)
        wobble = rng.uniform(*_WOBBLE)
        handover_share = rng.uniform(0.3, 0.7)
        lead_in = int(rng.integers(*_LEAD_IN, endpoint=True))
        lead_out = int(rng.integers(*_LEAD_OUT, endpoint=True))
        offline_draw = rng.random()
        offline_length = int(rng.integers(*_OFFLINE_LENGTH, endpoint=True))
        offline_place = int(rng.choice(len(_OFFLINE_PLACES), p=_OFFLINE_PLACES))
        offline_position = rng.random()
        late_draw = rng.random()
        late_length = int(rng.integers(*_LATE_RUN, endpoint=True))
        late_position = rng.random()
        late_delay = int(rng.integers(*_LATE_DELAY, endpoint=True))

        drive1_start = shift_start + warmup
        driving = shift_end - drive1_start - pause
        break_start = drive1_start + round(first_share * driving)
        drive2_start = break_start + pause
        warmup_t = _cadence(rng, shift_start, drive1_start, _IDLE_GAP)
        drive1_t = _cadence(rng, drive1_start, break_start, _DRIVE_GAP)
        break_t = _cadence(rng, break_start, drive2_start, _IDLE_GAP)
        drive2_t = _cadence(rng, drive2_start, shift_end, _DRIVE_GAP)

        # Speed knots: the drives' points plus each drive's end, bracketed by the day's bounds.
        knot_t = np.concatenate(
            ([0], drive1_t, [break_start], drive2_t, [shift_end], [_DAY_S])
        ).astype(np.int64)
        kt = knot_t.astype(np.float64)
        envelope = np.maximum(
            np.clip(np.minimum(kt - drive1_start, break_start - kt) / ramp, 0.0, 1.0),
            np.clip(np.minimum(kt - drive2_start, shift_end - kt) / ramp, 0.0, 1.0),
        )
        waves = np.sin(2.0 * math.pi * kt[:, None] / periods[None, :] + phases[None, :])
        shape = envelope * (1.0 + wobble * waves.mean(axis=1))
        knot_u, knot_w = _normalise(knot_t, shape)
        loop_miles = float(self._loop_miles[index])
        to_mph = loop_miles * 3600.0
        peak = float(knot_w.max()) * to_mph
        if peak > _MAX_MPH:
            # Blend towards a steady cruise (same lap, flatter profile) to cap the peak.
            _, steady_w = _normalise(knot_t, envelope)
            steady_peak = float(steady_w.max()) * to_mph
            alpha = (_MAX_MPH - steady_peak) / (peak - steady_peak)
            knot_u, knot_w = _normalise(knot_t, alpha * knot_w + (1.0 - alpha) * steady_w)

        night = np.arange(0, _DAY_S, _OFF_CADENCE, dtype=np.int64)
        t = np.concatenate(
            (
                night[night < shift_start],
                warmup_t,
                drive1_t,
                break_t,
                drive2_t,
                [shift_end],
                night[night > shift_end],
            )
        ).astype(np.int64)

        event_t = np.array(
            [shift_start, drive1_start, break_start, drive2_start, shift_end], dtype=np.int64
        )
        event_state = np.array([_IDLE, _ON, _IDLE, _ON, _OFF], dtype=np.int8)
        latest = np.searchsorted(event_t, t, side="right") - 1
        state = np.where(latest < 0, _OFF, event_state[latest]).astype(np.int8)

        first, second = self._plan(ordinal)
        assign_start: list[int] = []
        assign_end: list[int] = []
        assign_driver: list[int] = []
        if first[index] >= 0:
            begin, finish = shift_start - lead_in, shift_end + lead_out
            if second[index] >= 0:
                handover = break_start + round(handover_share * pause)
                assign_start += [begin, handover]
                assign_end += [handover, finish]
                assign_driver += [int(first[index]), int(second[index])]
            else:
                assign_start.append(begin)
                assign_end.append(finish)
                assign_driver.append(int(first[index]))
        driver = np.full(len(t), -1, dtype=np.int32)
        for begin, finish, who in zip(assign_start, assign_end, assign_driver, strict=True):
            driver[(t >= begin) & (t < finish)] = who

        keep = np.ones(len(t), dtype=bool)
        if offline_draw < self.offline_rate:
            # Stay a minute clear of the place's ends: they are engine-event points.
            low, high = (
                (0, shift_start),
                (drive1_start, break_start),
                (drive2_start, shift_end),
                (shift_end, _DAY_S),
            )[offline_place]
            room = high - low - 120
            length = min(offline_length, room)
            gap_start = low + 60 + int(offline_position * (room - length))
            keep &= (t < gap_start) | (t >= gap_start + length)
        delay = np.zeros(len(t), dtype=np.int64)
        if late_draw < self.late_rate:
            candidates = np.flatnonzero(keep & (t >= shift_start) & (t < shift_end))
            late_from = t[candidates[int(late_position * len(candidates))]]
            delay[keep & (t >= late_from) & (t < late_from + late_length)] = late_delay

        t = t[keep]
        lap, rate = _progress(knot_t, knot_u, knot_w, t.astype(np.float64))
        radius = loop_miles / (2.0 * math.pi)
        theta = centre_angle + math.pi + sense * 2.0 * math.pi * lap
        east = radius * (math.cos(centre_angle) + np.cos(theta))
        north = radius * (math.sin(centre_angle) + np.sin(theta))
        vehicle = self.vehicles[index]
        lat0, lon0 = vehicle.home_lat, vehicle.home_lon
        lat = lat0 + north / _MILES_PER_DEGREE
        lon = lon0 + east / (_MILES_PER_DEGREE * math.cos(math.radians(lat0)))
        # The tangent of the loop in the direction of travel, as a compass bearing.
        heading = np.degrees(np.arctan2(-sense * np.sin(theta), sense * np.cos(theta))) % 360.0
        heading[heading >= 360.0] = 0.0  # -1e-17 % 360 rounds to 360.0
        speed = rate * to_mph

        region = int(self._region[index])
        first_city, end_city = int(_REGION_FIRST[region]), int(_REGION_FIRST[region + 1])
        city_lat = _CITY_LAT[first_city:end_city]
        city_lon = _CITY_LON[first_city:end_city]
        squeeze = math.cos(math.radians(lat0)) ** 2
        distance2 = (lat[:, None] - city_lat) ** 2 + squeeze * (lon[:, None] - city_lon) ** 2
        city = (first_city + distance2.argmin(axis=1)).astype(np.int32)

        days = ordinal - self._epoch_ordinal
        odometer = _odometer(float(self._odometer_base[index]), loop_miles, days, lap)
        day = _VehicleDay(
            t=t,
            lat=lat,
            lon=lon,
            speed=speed,
            heading=heading,
            state=state[keep],
            driver=driver[keep],
            odometer=odometer,
            city=city,
            delay=delay[keep],
            event_t=event_t,
            event_state=event_state,
            assign_start=np.array(assign_start, dtype=np.int64),
            assign_end=np.array(assign_end, dtype=np.int64),
            assign_driver=np.array(assign_driver, dtype=np.int32),
            knot_t=knot_t,
            knot_u=knot_u,
            knot_w=knot_w,
        )
        _readonly(*(getattr(day, name) for name in day.__dataclass_fields__))
        return day

    # ----------------------------------------------------------------------------- selection

    def _selection(self, vehicle_ids: Sequence[str] | None) -> list[int]:
        """Indices of the active vehicles asked for, in output (vehicle id) order."""
        if vehicle_ids is None:
            chosen = self._id_order
        else:
            if isinstance(vehicle_ids, str):
                raise TypeError("vehicle_ids must be a sequence of ids, not one string")
            wanted = {self.vehicle(v).index for v in vehicle_ids}
            chosen = tuple(i for i in self._id_order if i in wanted)
        return [i for i in chosen if self.vehicles[i].status == "active"]

    def _window(self, start: datetime, end: datetime) -> tuple[int, int]:
        start_us, end_us = _utc_us(start, "start"), _utc_us(end, "end")
        if end_us < start_us:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        return start_us, end_us

    def _days(self, start_us: int, end_us: int) -> range:
        """Ordinals of the UTC days that overlap ``[start_us, end_us)``, from the epoch on."""
        if end_us <= start_us:
            return range(0)
        first = max(start_us // _DAY_US + _UNIX_ORDINAL, self._epoch_ordinal)
        last = (end_us - 1) // _DAY_US + _UNIX_ORDINAL
        return range(first, last + 1)

    def _vehicle_days(
        self, start_us: int, end_us: int, vehicle_ids: Sequence[str] | None
    ) -> Iterator[tuple[int, int, _VehicleDay]]:
        """(vehicle index, day start in µs, day) in output order."""
        indices = self._selection(vehicle_ids)
        days = self._days(start_us, end_us)
        for index in indices:
            for ordinal in days:
                yield index, (ordinal - _UNIX_ORDINAL) * _DAY_US, self._day(index, ordinal)

    def _rows(
        self,
        start: datetime,
        end: datetime,
        as_of: datetime | None,
        vehicle_ids: Sequence[str] | None,
    ) -> _Rows:
        start_us, end_us = self._window(start, end)
        as_of_us = None if as_of is None else _utc_us(as_of, "as_of")
        parts: list[tuple[int, _VehicleDay, slice | npt.NDArray[np.intp], _I64]] = []
        for index, day_us, day in self._vehicle_days(start_us, end_us, vehicle_ids):
            # Points are sorted, so the window is a slice; only as_of needs a mask.
            low = int(np.searchsorted(day.t, -(-(start_us - day_us) // _US)))
            high = int(np.searchsorted(day.t, -(-(end_us - day_us) // _US)))
            if low == high:
                continue
            ts = day_us + day.t[low:high] * _US
            pick: slice | npt.NDArray[np.intp] = slice(low, high)
            if as_of_us is not None:
                available = ts + day.delay[low:high] * _US
                visible = (available <= as_of_us) & (ts <= as_of_us)
                if not visible.all():
                    pick = np.flatnonzero(visible) + low
                    ts = ts[visible]
            parts.append((index, day, pick, ts))

        def column(name: str, dtype: type[np.generic]) -> Any:
            if not parts:
                return np.empty(0, dtype=dtype)
            return np.concatenate([getattr(day, name)[pick] for _, day, pick, _ in parts])

        ts_all = np.concatenate([p[3] for p in parts]) if parts else np.empty(0, np.int64)
        delay = column("delay", np.int64)
        counts = [len(p[3]) for p in parts]
        return _Rows(
            vehicle=np.repeat(np.array([p[0] for p in parts], dtype=np.int32), counts),
            ts=ts_all,
            lat=column("lat", np.float64),
            lon=column("lon", np.float64),
            speed=column("speed", np.float64),
            heading=column("heading", np.float64),
            state=column("state", np.int8),
            driver=column("driver", np.int32),
            odometer=column("odometer", np.float64),
            city=column("city", np.int32),
            available=ts_all + delay * _US,
        )

    # ----------------------------------------------------------------------------- tables

    def points(
        self,
        start: datetime,
        end: datetime,
        *,
        as_of: datetime | None = None,
        vehicle_ids: Sequence[str] | None = None,
    ) -> pa.Table:
        """GPS points with timestamp in ``[start, end)``, sorted by vehicle_id then timestamp.

        With ``as_of``, only points already available then (``available_at <= as_of`` and
        ``timestamp <= as_of``): the simulator's clock. Deactivated vehicles have no points.
        """
        rows = self._rows(start, end, as_of, vehicle_ids)
        arrays = [
            pc.take(self._vehicle_ids, pa.array(rows.vehicle)),
            _timestamps(rows.ts),
            pa.array(rows.lat),
            pa.array(rows.lon),
            pa.array(rows.speed),
            pa.array(rows.heading),
            pc.take(self._state_names, pa.array(rows.state)),
            pc.take(self._driver_ids, _indices(rows.driver)),
            pa.array(rows.odometer),
            pc.take(self._city_names, pa.array(rows.city)),
            _timestamps(rows.available),
        ]
        return pa.Table.from_arrays(arrays, schema=_POINTS_SCHEMA)

    def telemetry(
        self, provider: str, start: datetime, end: datetime, *, as_of: datetime | None = None
    ) -> pa.Table:
        """The points of ``[start, end)`` in the unified telemetry schema, for ``provider``.

        This is the oracle end-to-end tests compare a pipeline's output against (after the
        provider's unit conversions, which the simulators undo exactly).
        """
        rows = self._rows(start, end, as_of, None)
        vehicle = pa.array(rows.vehicle)
        driver = _indices(rows.driver)
        mapping = {
            "provider_vehicle_id": pc.take(self._vehicle_ids, vehicle),
            "vin": pc.take(self._vins, vehicle),
            "fleet_number": pc.take(self._fleet_numbers, vehicle),
            "timestamp": _timestamps(rows.ts),
            "latitude": pa.array(rows.lat),
            "longitude": pa.array(rows.lon),
            "speed_mph": pa.array(rows.speed),
            "heading_degrees": pa.array(rows.heading),
            "engine_state": pc.take(self._state_names, pa.array(rows.state)),
            "driver_id": pc.take(self._driver_ids, driver),
            "driver_name": pc.take(self._driver_names, driver),
            "location_description": pc.take(self._city_names, pa.array(rows.city)),
            "odometer": pa.array(rows.odometer),
        }
        return enforce_telemetry_schema(mapping, provider=provider)

    def engine_events(
        self, start: datetime, end: datetime, *, vehicle_ids: Sequence[str] | None = None
    ) -> pa.Table:
        """Engine state transitions with time in ``[start, end)``, sorted by vehicle and time.

        The state of every point is the state of the latest event at or before it (Off before
        a day's first event). Offline gaps and late uploads do not affect events.
        """
        start_us, end_us = self._window(start, end)
        vehicles: list[int] = []
        times: list[_I64] = []
        states: list[_I8] = []
        for index, day_us, day in self._vehicle_days(start_us, end_us, vehicle_ids):
            ts = day_us + day.event_t * _US
            inside = (ts >= start_us) & (ts < end_us)
            vehicles += [index] * int(inside.sum())
            times.append(ts[inside])
            states.append(day.event_state[inside])
        arrays = [
            pc.take(self._vehicle_ids, pa.array(vehicles, type=pa.int32())),
            _timestamps(np.concatenate(times) if times else np.empty(0, np.int64)),
            pc.take(
                self._state_names,
                pa.array(np.concatenate(states) if states else np.empty(0, np.int8)),
            ),
        ]
        return pa.Table.from_arrays(arrays, schema=_EVENTS_SCHEMA)

    def assignments(
        self, start: datetime, end: datetime, *, vehicle_ids: Sequence[str] | None = None
    ) -> pa.Table:
        """Driver assignments ``[start, end)`` that overlap the window, by vehicle and start.

        At a handover one assignment ends exactly where the next begins.
        """
        start_us, end_us = self._window(start, end)
        vehicles: list[int] = []
        drivers: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        for index, day_us, day in self._vehicle_days(start_us, end_us, vehicle_ids):
            for begin, finish, who in zip(
                day.assign_start.tolist(),
                day.assign_end.tolist(),
                day.assign_driver.tolist(),
                strict=True,
            ):
                begin_us, finish_us = day_us + begin * _US, day_us + finish * _US
                if begin_us < end_us and finish_us > start_us:
                    vehicles.append(index)
                    drivers.append(who)
                    starts.append(begin_us)
                    ends.append(finish_us)
        arrays = [
            pc.take(self._vehicle_ids, pa.array(vehicles, type=pa.int32())),
            pc.take(self._driver_ids, pa.array(drivers, type=pa.int32())),
            _timestamps(np.array(starts, dtype=np.int64)),
            _timestamps(np.array(ends, dtype=np.int64)),
        ]
        return pa.Table.from_arrays(arrays, schema=_ASSIGNMENTS_SCHEMA)

    def odometer_at(self, vehicle_id: str, times: npt.NDArray[Any]) -> _F64:
        """The exact odometer (miles) of a vehicle at ``times`` (datetime64, read as UTC).

        Equal, bit for bit, to ``odometer_miles`` of the points at those times, and defined at
        any instant from the epoch on, offline gaps included. A deactivated vehicle never moves.
        """
        vehicle = self.vehicle(vehicle_id)
        values = np.asarray(times)
        if not np.issubdtype(values.dtype, np.datetime64):
            raise TypeError(f"times must be datetime64, not {values.dtype}")
        if np.isnat(values).any():
            raise ValueError("times contain NaT")
        us = values.astype("datetime64[us]").astype(np.int64)
        ordinals = us // _DAY_US + _UNIX_ORDINAL
        if ordinals.size and int(ordinals.min()) < self._epoch_ordinal:
            raise ValueError(f"times before the fleet's epoch {self.epoch.isoformat()}")
        index = vehicle.index
        base = float(self._odometer_base[index])
        loop_miles = float(self._loop_miles[index])
        result = np.full(us.shape, base, dtype=np.float64)
        if vehicle.status != "active":
            return result
        for ordinal in np.unique(ordinals).tolist():
            here = ordinals == ordinal
            day = self._day(index, ordinal)
            seconds = (us[here] - (ordinal - _UNIX_ORDINAL) * _DAY_US) / _US
            lap, _ = _progress(day.knot_t, day.knot_u, day.knot_w, seconds)
            result[here] = _odometer(base, loop_miles, ordinal - self._epoch_ordinal, lap)
        return result
