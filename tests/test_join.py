"""The core's temporal joins, each against a brute-force reference on random data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fth_core.join import FOREVER, NO_MATCH, covering_interval, latest_at_or_before, nearest_within


def _random(seed: int) -> tuple[Any, Any, Any, Any]:
    rng = np.random.default_rng(seed)
    points = 300
    readings = 120
    return (
        rng.integers(0, 4, points).astype(np.int32),
        rng.integers(0, 1_000, points).astype(np.int64),
        rng.integers(0, 4, readings).astype(np.int32),
        rng.integers(0, 1_000, readings).astype(np.int64),
    )


@pytest.mark.parametrize("seed", range(5))
def test_latest_at_or_before_is_the_vehicles_last_reading_not_after_the_point(seed: int) -> None:
    pv, pt, rv, rt = _random(seed)
    found = latest_at_or_before(pv, pt, rv, rt)
    for i in range(len(pt)):
        mine = [j for j in range(len(rt)) if rv[j] == pv[i] and rt[j] <= pt[i]]
        if not mine:
            assert found[i] == NO_MATCH
        else:
            latest = max(rt[j] for j in mine)
            # Of readings at one instant, the later one in input wins.
            assert found[i] == max(j for j in mine if rt[j] == latest)


@pytest.mark.parametrize("seed", range(5))
def test_nearest_within_takes_the_closest_reading_and_the_earlier_on_a_tie(seed: int) -> None:
    pv, pt, rv, rt = _random(seed)
    keep = np.unique(np.stack([rv, rt]), axis=1, return_index=True)[1]  # one per instant
    rv, rt = rv[keep], rt[keep]
    found = nearest_within(pv, pt, rv, rt, 25)
    for i in range(len(pt)):
        mine = [j for j in range(len(rt)) if rv[j] == pv[i] and abs(rt[j] - pt[i]) <= 25]
        if not mine:
            assert found[i] == NO_MATCH
        else:
            best = min(mine, key=lambda j: (abs(rt[j] - pt[i]), rt[j]))
            assert rt[found[i]] == rt[best]


@pytest.mark.parametrize("seed", range(5))
def test_covering_interval_is_the_latest_starting_interval_holding_the_point(seed: int) -> None:
    pv, pt, rv, start = _random(seed)
    rng = np.random.default_rng(seed + 100)
    end = start + rng.integers(0, 200, len(start))
    end[::7] = FOREVER
    found = covering_interval(pv, pt, rv, start, end)
    for i in range(len(pt)):
        mine = [j for j in range(len(start)) if rv[j] == pv[i] and start[j] <= pt[i] < end[j]]
        if not mine:
            assert found[i] == NO_MATCH
        else:
            best = max(mine, key=lambda j: (start[j], end[j]))
            assert (start[found[i]], end[found[i]]) == (start[best], end[best])
