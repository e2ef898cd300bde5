"""``assert_same_telemetry``, the oracle comparison every end-to-end test leans on: it must
fail on any real difference, or those tests prove nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from fth_core.sim import Fleet
from fth_core.testing import assert_same_telemetry
from fth_samsara.simulator import SamsaraSimulator

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def truth() -> pa.Table:
    simulator = SamsaraSimulator(Fleet(3, vehicles=2), as_of=DAY0 + timedelta(days=5))
    return simulator.expected_telemetry(DAY0, DAY0 + timedelta(days=1))


def with_value(table: pa.Table, column: str, row: int, value: object) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    index = table.schema.get_field_index(column)
    field = table.schema.field(index)
    return table.set_column(index, field, pa.array(values, type=field.type))


def test_the_same_rows_in_another_order_are_the_same(truth: pa.Table) -> None:
    assert_same_telemetry(truth.take(list(reversed(range(truth.num_rows)))), truth)


def test_floats_within_the_relative_tolerance_are_the_same(truth: pa.Table) -> None:
    latitude = truth.column("latitude")[5].as_py()
    assert_same_telemetry(with_value(truth, "latitude", 5, latitude * (1 + 1e-8)), truth)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("latitude", 1.5),
        ("speed_mph", None),
        ("driver_name", "Somebody Else"),
        ("engine_state", "Idle"),
        ("odometer", -1.0),
    ],
)
def test_one_changed_value_fails_and_names_its_column(
    truth: pa.Table, column: str, value: object
) -> None:
    row = next(i for i, v in enumerate(truth.column(column).to_pylist()) if v != value)
    changed = with_value(truth, column, row, value)
    with pytest.raises(AssertionError, match=f"column {column} differs"):
        assert_same_telemetry(changed, truth)


def test_a_duplicated_row_fails(truth: pa.Table) -> None:
    doubled = pa.concat_tables([truth, truth.slice(0, 1)])
    with pytest.raises(AssertionError, match="duplicate"):
        assert_same_telemetry(doubled, truth)


def test_a_missing_row_fails(truth: pa.Table) -> None:
    with pytest.raises(AssertionError, match="rows, expected"):
        assert_same_telemetry(truth.slice(1), truth)


def test_two_empty_tables_are_the_same(truth: pa.Table) -> None:
    assert_same_telemetry(truth.slice(0, 0), truth.slice(0, 0))
