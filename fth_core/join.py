"""Temporal joins for telemetry plugins: match each GPS point with its vehicle's readings or
intervals in time — the state in force (latest at or before), the nearest sample within a
tolerance, the interval covering it.

Pure functions on numpy arrays, no I/O. Times are ``int64`` in one unit (the plugins use
microseconds since the Unix epoch); vehicles are small integer codes (any mapping of ids to
``0..n-1``). Nothing loops over points: every lookup is one ``np.searchsorted`` of all points
against the readings sorted by (vehicle, time), so the cost is O((P + R) log R) for P points
and R readings. Results are indices into the readings (or intervals), :data:`NO_MATCH` where
nothing matches, so a plugin picks whatever columns it needs with them.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FOREVER", "NO_MATCH", "covering_interval", "latest_at_or_before", "nearest_within"]

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

NO_MATCH = -1
FOREVER = np.iinfo(np.int64).max  # the end of an open interval
_KEY_LIMIT = 2**62


@dataclass(frozen=True)
class _Index:
    """Readings sorted by (vehicle, time) with int64 search keys, and the points' keys."""

    order: npt.NDArray[np.intp]  # sorted position -> original reading index
    vehicle: I32  # readings' vehicles, sorted
    time: I64  # readings' times, sorted (not clipped)
    keys: I64  # readings' keys, non-decreasing
    point_keys: I64


def _index(point_vehicle: I32, point_time: I64, vehicle: I32, time: I64) -> _Index:
    """Sort readings by (vehicle, time) and give both sides comparable one-number keys.

    Both sides must be non-empty.
    ``key = vehicle * span + time - origin``. Reading times are first clipped to one tick outside
    the points' range: a clipped reading keeps its rank against every point (sorting uses the
    real times, and ties resolve by sorted position), and the keys stay small. Should they
    still not fit in 62 bits, times are replaced by their ranks, which always fit.
    """
    order = np.lexsort((time, vehicle))
    sorted_vehicle = vehicle[order]
    sorted_time = time[order]
    low = int(point_time.min()) - 1
    high = int(point_time.max()) + 1
    reading_t = np.clip(sorted_time, low, high) - low
    point_t = point_time - low
    span = high - low + 1
    groups = max(int(point_vehicle.max()), int(vehicle.max())) + 1
    if groups * span >= _KEY_LIMIT:
        ranks = np.unique(np.concatenate((reading_t, point_t)), return_inverse=True)[1]
        reading_t, point_t = ranks[: len(reading_t)], ranks[len(reading_t) :]
        span = int(ranks.max()) + 1
    keys = sorted_vehicle.astype(np.int64) * span + reading_t
    point_keys = point_vehicle.astype(np.int64) * span + point_t
    return _Index(order, sorted_vehicle, sorted_time, keys, point_keys)


def _same_vehicle(index: _Index, position: I64, point_vehicle: I32) -> Bools:
    """Whether ``position`` (into the sorted readings) is valid and of the point's vehicle."""
    valid = (position >= 0) & (position < len(index.keys))
    result: Bools = valid & (index.vehicle[np.where(valid, position, 0)] == point_vehicle)
    return result


def latest_at_or_before(point_vehicle: I32, point_time: I64, vehicle: I32, time: I64) -> I64:
    """For each point, the index of its vehicle's latest reading at or before its time.

    :return: indices into the readings arrays, :data:`NO_MATCH` where there is none.
    Readings need not be sorted; of readings with equal times the later one in input wins.
    """
    result = np.full(len(point_time), NO_MATCH, dtype=np.int64)
    if len(time) == 0 or len(point_time) == 0:
        return result
    index = _index(point_vehicle, point_time, vehicle, time)
    before = np.searchsorted(index.keys, index.point_keys, side="right").astype(np.int64) - 1
    found = _same_vehicle(index, before, point_vehicle)
    result[found] = index.order[before[found]]
    return result


def nearest_within(
    point_vehicle: I32, point_time: I64, vehicle: I32, time: I64, tolerance: int
) -> I64:
    """For each point, the index of its vehicle's nearest reading in time, if within
    ``tolerance`` (inclusive, same unit as the times); equally near → the earlier reading.
    (Of readings at one same instant, which one is unspecified: deduplicate first.)

    :return: indices into the readings arrays, :data:`NO_MATCH` where none is near enough.
    """
    result = np.full(len(point_time), NO_MATCH, dtype=np.int64)
    if len(time) == 0 or len(point_time) == 0:
        return result
    index = _index(point_vehicle, point_time, vehicle, time)
    before = np.searchsorted(index.keys, index.point_keys, side="right").astype(np.int64) - 1
    # The first reading after the point is the next one: a reading at the point's very time
    # is `before` itself, at gap 0, which wins anyway.
    after = before + 1
    top = len(index.keys) - 1
    far = np.iinfo(np.int64).max
    has_before = _same_vehicle(index, before, point_vehicle)
    has_after = _same_vehicle(index, after, point_vehicle)
    gap_before = np.where(has_before, point_time - index.time[np.clip(before, 0, top)], far)
    gap_after = np.where(has_after, index.time[np.clip(after, 0, top)] - point_time, far)
    take_before = gap_before <= gap_after
    position = np.where(take_before, before, after)
    found = np.where(take_before, gap_before, gap_after) <= tolerance
    result[found] = index.order[position[found]]
    return result


def _paint(vehicle: I32, start: I64, end: I64) -> tuple[I32, I64, I64, I64]:
    """Disjoint segments (vehicle, start, end, source index), sorted by (vehicle, start), such
    that at any time the segment covering it names the covering interval with the latest start.

    Vehicles whose intervals do not overlap — the usual case — keep their intervals as they
    are, vectorised. Only vehicles with overlaps are swept, with a heap over their *intervals*
    (never over points): O(m log m) for m intervals.
    """
    order = np.lexsort((end, start, vehicle)).astype(np.int64)
    v, s, e = vehicle[order], start[order], end[order]
    overlapping = (v[1:] == v[:-1]) & (s[1:] < e[:-1])
    if not overlapping.any():
        return v, s, e, order
    crowded = np.isin(v, np.unique(v[1:][overlapping]))
    parts_v = [v[~crowded]]
    parts_s = [s[~crowded]]
    parts_e = [e[~crowded]]
    parts_src = [order[~crowded]]
    for code in np.unique(v[crowded]).tolist():
        rows = np.flatnonzero(v == code)
        seg_s, seg_e, seg_k = _sweep(s[rows].tolist(), e[rows].tolist())
        parts_v.append(np.full(len(seg_s), code, dtype=v.dtype))
        parts_s.append(np.array(seg_s, dtype=np.int64))
        parts_e.append(np.array(seg_e, dtype=np.int64))
        parts_src.append(order[rows][np.array(seg_k, dtype=np.int64)])
    out_v, out_s = np.concatenate(parts_v), np.concatenate(parts_s)
    out_e, out_src = np.concatenate(parts_e), np.concatenate(parts_src)
    again = np.lexsort((out_s, out_v))
    return out_v[again], out_s[again], out_e[again], out_src[again]


def _sweep(starts: list[int], ends: list[int]) -> tuple[list[int], list[int], list[int]]:
    """Paint intervals sorted by start: later-starting ones over earlier ones.

    Returns segments as (starts, ends, rank of the winning interval).
    """
    bounds = sorted(set(starts) | set(ends))
    heap: list[int] = []  # negated ranks: the top is the latest-starting interval
    seg_s: list[int] = []
    seg_e: list[int] = []
    seg_k: list[int] = []
    following = 0
    for low, high in itertools.pairwise(bounds):
        while following < len(starts) and starts[following] <= low:
            heapq.heappush(heap, -following)
            following += 1
        while heap and ends[-heap[0]] <= low:
            heapq.heappop(heap)
        if not heap:
            continue
        winner = -heap[0]
        if seg_k and seg_k[-1] == winner and seg_e[-1] == low:
            seg_e[-1] = high
        else:
            seg_s.append(low)
            seg_e.append(high)
            seg_k.append(winner)
    return seg_s, seg_e, seg_k


def covering_interval(
    point_vehicle: I32, point_time: I64, vehicle: I32, start: I64, end: I64
) -> I64:
    """For each point, the index of its vehicle's interval ``[start, end)`` that covers it;
    several → the latest start (equal starts → the later end). Use :data:`FOREVER` as the end
    of an open interval.

    :return: indices into the interval arrays, :data:`NO_MATCH` where none covers the point.
    """
    real = end > start
    kept = np.flatnonzero(real)
    seg_v, seg_s, seg_e, seg_src = _paint(vehicle[kept], start[kept], end[kept])
    found = latest_at_or_before(point_vehicle, point_time, seg_v, seg_s)
    hit = found >= 0
    covered = np.zeros(len(point_time), dtype=bool)
    covered[hit] = point_time[hit] < seg_e[found[hit]]
    result = np.full(len(point_time), NO_MATCH, dtype=np.int64)
    result[covered] = kept[seg_src[found[covered]]]
    return result
