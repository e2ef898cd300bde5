"""The unified schema's checks: which rows are stored, which are set aside and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from fth_core.schema import (
    QUARANTINE_SCHEMA,
    TELEMETRY_SCHEMA,
    enforce_telemetry_schema,
    split_invalid,
    split_quarantined,
)

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_a_null_engine_state_is_stored_and_an_unknown_one_set_aside_with_its_value() -> None:
    table = enforce_telemetry_schema(
        {
            "provider_vehicle_id": ["1", "2", "3", "4"],
            "timestamp": [T0] * 4,
            "engine_state": ["On", None, "Standby", "Idle"],
            "latitude": [1.0, 2.0, 3.0, 95.0],
        },
        provider="acme",
    )
    valid, bad = split_invalid(table)
    assert valid.column("provider_vehicle_id").to_pylist() == ["1", "2"]
    assert bad.schema.equals(QUARANTINE_SCHEMA)
    assert bad.column("reason").to_pylist() == [
        "unknown engine state 'Standby'",
        "latitude out of range",
    ]
    assert bad.column("engine_state").to_pylist() == ["Standby", "Idle"]


def test_a_table_without_bad_rows_is_kept_whole_and_sets_nothing_aside() -> None:
    table = enforce_telemetry_schema(
        {"provider_vehicle_id": ["1", "2"], "timestamp": [T0] * 2, "engine_state": ["On", None]},
        provider="acme",
    )
    valid, bad = split_invalid(table)
    assert valid.equals(table)
    assert bad.schema.equals(QUARANTINE_SCHEMA)
    assert bad.num_rows == 0


def test_rows_a_flatten_gives_a_reason_are_set_aside_even_without_their_keys() -> None:
    stored, set_aside = split_quarantined(
        {
            "provider_vehicle_id": ["1", None, "3"],
            "timestamp": pa.array([T0, T0, None], pa.timestamp("us", tz="UTC")),
            "latitude": [1.0, 2.0, 3.0],
            "reason": [None, "missing vehicle id", "unparseable timestamp 'soon'"],
        },
        provider="acme",
    )
    assert stored.schema.equals(TELEMETRY_SCHEMA)
    assert stored.column("provider_vehicle_id").to_pylist() == ["1"]
    assert set_aside.schema.equals(QUARANTINE_SCHEMA)
    assert set_aside.select(["provider", "provider_vehicle_id", "latitude"]).to_pylist() == [
        {"provider": "acme", "provider_vehicle_id": None, "latitude": 2.0},
        {"provider": "acme", "provider_vehicle_id": "3", "latitude": 3.0},
    ]


def test_rows_without_a_reason_must_still_have_their_keys() -> None:
    with pytest.raises(ValueError, match="column timestamp has nulls"):
        split_quarantined(
            {"provider_vehicle_id": ["1"], "timestamp": [None], "reason": [None]},
            provider="acme",
        )


def test_only_a_split_accepts_a_reason_column() -> None:
    with pytest.raises(ValueError, match="not in the telemetry schema: reason"):
        enforce_telemetry_schema(
            {"provider_vehicle_id": ["1"], "timestamp": [T0], "reason": ["bad"]},
            provider="acme",
        )
