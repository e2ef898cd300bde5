"""The simulators' bad records: a choice that depends on the seed, the vehicle and the time
only, one kind per record, and corruptions fth cannot mistake for good data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fth_core.schema import parse_timestamps
from fth_core.sim import BadRecords
from fth_core.sim.bad_records import RECORD_KINDS

TIMES = np.arange(200_000, dtype=np.int64) * 1_000_000 + 1_772_409_600_000_000


def test_the_choice_depends_on_seed_vehicle_and_time_only() -> None:
    bad = BadRecords(rate=0.05, seed=4)
    whole = bad.choose(3, TIMES)
    halves = [bad.choose(3, TIMES[:1000]), bad.choose(3, TIMES[1000:])]
    for kind in RECORD_KINDS:
        assert np.array_equal(whole[kind], np.concatenate([h[kind] for h in halves]))
        assert not np.array_equal(whole[kind], bad.choose(4, TIMES)[kind])
        assert not np.array_equal(whole[kind], BadRecords(rate=0.05, seed=5).choose(3, TIMES)[kind])


def test_each_kind_takes_about_its_rate_and_a_record_gets_one_kind_at_most() -> None:
    chosen = BadRecords(rate=0.02).choose(np.arange(len(TIMES)) % 7, TIMES)
    for kind in RECORD_KINDS:
        assert chosen[kind].mean() == pytest.approx(0.02, rel=0.1)
    assert int(np.sum([chosen[kind] for kind in RECORD_KINDS], axis=0).max()) == 1


def test_vehicles_without_an_id_take_no_other_kind() -> None:
    bad = BadRecords(rate=0.3, missing_id_every=3)
    assert bad.without_id(np.arange(7)).tolist() == [False, False, True] * 2 + [False]
    chosen = bad.choose(2, TIMES[:1000])
    assert not any(chosen[kind].any() for kind in RECORD_KINDS)
    assert not BadRecords().without_id(np.arange(7)).any()


def test_corrupted_values_are_out_of_range_and_unreadable_but_unique() -> None:
    assert BadRecords.latitude(np.array([0.0, 39.5, -33.9])).tolist() == [100.0, 139.5, -133.9]
    texts = BadRecords.timestamps(["2026-03-02T00:00:05Z", "2026-03-02T23:59:59.250Z"])
    assert texts == ["2026-03-02T24:00:05Z", "2026-03-02T47:59:59.250Z"]
    assert parse_timestamps(pa.array(texts)).null_count == 2


def test_a_rate_that_cannot_be_shared_by_every_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        BadRecords(rate=0.5)
