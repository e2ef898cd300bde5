"""The temporal join of GPS points with engine states, odometer readings and driver assignments.

Pure functions on numpy arrays, no I/O: the fetch path feeds them, tests and the benchmark call
them directly. Times are ``int64`` microseconds since the Unix epoch (UTC); vehicles are small
integer codes. The lookups are the core's vectorised temporal joins (:mod:`fth_core.join`).

The rules (README "Join and unit decisions"):

* engine state: the latest reading at or before the point's time (the caller fetches a margin
  before the window so the state in force at its start is known); none → null. A reading with a
  value outside On/Off/Idle counts as the latest state, and that state is unknown → null;
* odometer: the nearest reading within ``tolerance`` (inclusive) on either side; equally near
  readings → the earlier one. No interpolation. Meters → miles (1 mile = 1609.344 m);
* driver: the non-passenger assignment covering the point, ``start <= t < end`` (ongoing
  assignments end at +∞); several covering → the latest start (equal starts: the later end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fth_core.join import NO_MATCH, covering_interval, latest_at_or_before, nearest_within

__all__ = ["ENGINE_STATE_NAMES", "METERS_PER_MILE", "Joined", "join"]

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

METERS_PER_MILE = 1609.344
ENGINE_STATE_NAMES: tuple[str, ...] = ("On", "Off", "Idle")  # codes 0, 1, 2; -1 = unknown


@dataclass(frozen=True)
class Joined:
    """What the join adds to each GPS point (arrays aligned with the points)."""

    engine_state: I8  # code into ENGINE_STATE_NAMES, -1 = null
    odometer_miles: F64  # NaN = null
    assignment: I64  # index into the assignments, NO_MATCH = no driver


def join(
    point_vehicle: I32,
    point_time: I64,
    *,
    engine_vehicle: I32,
    engine_time: I64,
    engine_state: I8,
    odometer_vehicle: I32,
    odometer_time: I64,
    odometer_meters: F64,
    assignment_vehicle: I32,
    assignment_start: I64,
    assignment_end: I64,
    assignment_is_passenger: Bools,
    odometer_tolerance: int,
) -> Joined:
    """Engine state, odometer (miles) and driver assignment of every GPS point (module rules).

    ``odometer_tolerance`` is in microseconds, like every time. Passenger assignments are
    never a point's driver.
    """
    engine = latest_at_or_before(point_vehicle, point_time, engine_vehicle, engine_time)
    state = np.full(len(point_time), -1, dtype=np.int8)
    state[engine >= 0] = engine_state[engine[engine >= 0]]

    odometer = nearest_within(
        point_vehicle, point_time, odometer_vehicle, odometer_time, odometer_tolerance
    )
    miles = np.full(len(point_time), np.nan)
    miles[odometer >= 0] = odometer_meters[odometer[odometer >= 0]] / METERS_PER_MILE

    drivers = np.flatnonzero(~assignment_is_passenger)
    found = covering_interval(
        point_vehicle,
        point_time,
        assignment_vehicle[drivers],
        assignment_start[drivers],
        assignment_end[drivers],
    )
    assignment = np.full(len(point_time), NO_MATCH, dtype=np.int64)
    assignment[found >= 0] = drivers[found[found >= 0]]
    return Joined(engine_state=state, odometer_miles=miles, assignment=assignment)
