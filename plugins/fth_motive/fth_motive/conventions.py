"""Motive's wire conventions that the plugin and its simulator must agree on.

* Units: ``X-Metric-Units: true`` asks for km/h and km, ``false`` for mph and miles.
* Location types and the rule that derives the unified ``engine_state`` from a location's
  ``type`` and ``speed`` (:func:`engine_states`). The simulator picks each point's ``type`` so
  that this rule gives back the simulated fleet's engine state exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "IDLE_TYPES",
    "KM_PER_MILE",
    "LOCATION_TYPES",
    "METRIC_UNITS_HEADER",
    "MOVING_TYPES",
    "OFF_TYPES",
    "PROVIDER_NAME",
    "engine_states",
]

PROVIDER_NAME = "motive"

# The international mile is exactly 1.609344 km.
KM_PER_MILE = 1.609344
METRIC_UNITS_HEADER = "X-Metric-Units"

# Documented values of a location's `type`.
LOCATION_TYPES = (
    "breadcrumb",
    "vehicle_stopped",
    "vehicle_moving",
    "ignition_on",
    "ignition_off",
    "engine_start",
    "engine_stop",
    "gps_moving",
    "gps_stopped",
)
# Engine off: the ignition or engine just went off, or only the GPS reports a stopped vehicle
# (no engine-bus data means the engine is not running).
OFF_TYPES = frozenset({"ignition_off", "engine_stop", "gps_stopped"})
# Engine running, vehicle stationary (unless the speed says it moves).
IDLE_TYPES = frozenset({"ignition_on", "engine_start", "vehicle_stopped"})
# The vehicle is moving, whatever the speed of this one sample says.
MOVING_TYPES = frozenset({"vehicle_moving", "gps_moving"})
_EVENT_OFF = frozenset({"ignition_off", "engine_stop"})


_STATES = pa.array(["On", "Off", "Idle"], type=pa.string())
_ON, _OFF, _IDLE = range(3)


def engine_states(types: Any, speeds: npt.NDArray[np.float64]) -> Any:
    """The unified engine state of each location, from its ``type`` and ``speed``.

    ``types`` is a pyarrow string array (nulls allowed), ``speeds`` a float array with NaN for
    null; returns a pyarrow string array. In order of precedence:

    1. ``ignition_off``, ``engine_stop`` → ``Off``, whatever the speed: the event says so;
    2. any other type with speed > 0 → ``On``;
    3. ``gps_stopped`` → ``Off``: only the GPS reports, so the engine bus is asleep;
    4. ``vehicle_moving``, ``gps_moving`` → ``On`` (the departure sample may read 0);
    5. ``ignition_on``, ``engine_start``, ``vehicle_stopped``, and ``breadcrumb`` at speed 0
       → ``Idle``: the engine runs and the vehicle stands;
    6. anything else (``breadcrumb`` without a speed, unknown or missing types that are not
       moving) → null: the data cannot tell idling from parked.
    """
    kinds = pa.array(types, type=pa.string()) if not isinstance(types, pa.Array) else types

    def member(values: frozenset[str]) -> npt.NDArray[np.bool_]:
        hits = pc.fill_null(pc.is_in(kinds, value_set=pa.array(sorted(values))), False)
        return np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool)

    moving = np.nan_to_num(speeds, nan=0.0) > 0
    stopped = speeds == 0
    # Codes into _STATES (-1: null), set from the lowest precedence to the highest: later
    # assignments win. Vectorised: no Python object per location.
    codes = np.full(len(speeds), -1, dtype=np.int8)
    codes[member(IDLE_TYPES) | (member(frozenset({"breadcrumb"})) & stopped)] = _IDLE
    codes[member(MOVING_TYPES)] = _ON
    codes[member(frozenset({"gps_stopped"}))] = _OFF
    codes[moving] = _ON
    codes[member(_EVENT_OFF)] = _OFF
    indices = pa.array(codes, mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, _STATES).cast(pa.string())
