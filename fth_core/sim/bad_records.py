"""Bad records on purpose: which records a simulator corrupts, chosen from a seed.

Real feeds now and then carry records fth cannot store: a coordinate out of range, a timestamp
that does not parse, an engine state nobody documented, a vehicle without its id. A provider
simulator given a :class:`BadRecords` renders such records in its own wire format, and its
oracle (:meth:`~fth_core.sim.wire.SimulatedProvider.expected_telemetry` and
:meth:`~fth_core.sim.wire.SimulatedProvider.expected_quarantine`) says which rows fth must
store and which it must set aside, with which reason.

The choice depends only on the seed, the vehicle and the record's own time — never on the
request — so every page, margin and window that serves a record serves it the same way, and
the oracle can name the bad rows without knowing how the client asked. Per record kind, about
``rate`` of the records are corrupted, each with at most one kind; vehicles that
:meth:`BadRecords.without_id` are left out of the per-record kinds (their every row is bad
already).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ENGINE_STATE", "LATITUDE", "RECORD_KINDS", "TIMESTAMP", "BadRecords", "mix"]

LATITUDE = "latitude"
TIMESTAMP = "timestamp"
ENGINE_STATE = "engine_state"
RECORD_KINDS: tuple[str, ...] = (LATITUDE, TIMESTAMP, ENGINE_STATE)

_Bools = npt.NDArray[np.bool_]
_F64 = npt.NDArray[np.float64]


def mix(*parts: Any) -> npt.NDArray[np.uint64]:
    """A cheap deterministic hash of integer arrays (broadcast together), for sprinkling
    imperfections over a simulated feed."""
    arrays = np.broadcast_arrays(*(np.asarray(part).astype(np.uint64) for part in parts))
    acc = np.full(arrays[0].shape, 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for value in arrays:
            acc = (acc ^ value) * np.uint64(0xBF58476D1CE4E5B9)
            acc ^= acc >> np.uint64(31)
    return acc


@dataclass(frozen=True)
class BadRecords:
    """Which records a simulator corrupts, and how.

    :param rate: share of records corrupted per kind of :data:`RECORD_KINDS` (kinds are
        exclusive: a record gets at most one), chosen by a hash of the seed, the vehicle's
        index and the record's time.
    :param missing_id_every: vehicles whose index is ``missing_id_every - 1`` modulo this lose
        their id wherever the provider sends one (0: none).
    :param seed: varies the choice of records.
    """

    rate: float = 0.01
    missing_id_every: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.rate * len(RECORD_KINDS) <= 1:
            raise ValueError(f"rate must be between 0 and 1/{len(RECORD_KINDS)}")
        if self.missing_id_every < 0:
            raise ValueError("missing_id_every must not be negative")

    def without_id(self, vehicle_index: npt.ArrayLike) -> _Bools:
        """Whether the vehicle(s) of ``vehicle_index`` lose their id (same shape)."""
        index = np.asarray(vehicle_index, dtype=np.int64)
        every = self.missing_id_every
        if not every:
            return np.zeros(index.shape, dtype=bool)
        lost: _Bools = index % every == every - 1
        return lost

    def choose(self, vehicle_index: npt.ArrayLike, time_us: npt.ArrayLike) -> dict[str, _Bools]:
        """For records of ``vehicle_index`` (one, or one per record) at ``time_us`` (µs since
        the epoch, one per record): a mask per kind of :data:`RECORD_KINDS`, disjoint."""
        time = np.asarray(time_us, dtype=np.int64)
        index = np.broadcast_to(np.asarray(vehicle_index, dtype=np.int64), time.shape)
        draw = mix(self.seed, index, time) / np.float64(2**64)
        eligible = ~self.without_id(index)
        return {
            kind: eligible & (draw >= k * self.rate) & (draw < (k + 1) * self.rate)
            for k, kind in enumerate(RECORD_KINDS)
        }

    @staticmethod
    def latitude(values: _F64) -> _F64:
        """Latitudes pushed 100° further from the equator: out of range, and unmistakable."""
        bad: _F64 = np.copysign(np.abs(values) + 100.0, values)
        return bad

    @staticmethod
    def timestamps(texts: Sequence[str]) -> list[str]:
        """RFC 3339 texts made unreadable the way a firmware bug might: the hour pushed past 23
        (``…T12:00:05Z`` → ``…T36:00:05Z``); each stays unique, so a reason names its record."""
        return [f"{text[:11]}{int(text[11:13]) + 24:02d}{text[13:]}" for text in texts]
