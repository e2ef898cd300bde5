"""The unified telemetry schema: one pyarrow schema as the single source of truth.

Every provider's records end up in these columns, in this order. Units are fixed: speed in
mph, odometer in miles, heading in degrees from north, timestamps tz-aware UTC. ``provider`` and
``engine_state`` are dictionary-encoded (categorical in pandas). Rows that break the ranges in
:func:`split_invalid` are set aside with a reason, never silently dropped.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fth_core.errors import ResponseFormatError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEDUP_KEY",
    "ENGINE_STATES",
    "TELEMETRY_COLUMNS",
    "TELEMETRY_SCHEMA",
    "concat_telemetry",
    "dedup_keys",
    "enforce_telemetry_schema",
    "parse_timestamps",
    "sort_telemetry",
    "split_invalid",
]

_DICT = pa.dictionary(pa.int32(), pa.string())

TELEMETRY_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("provider", _DICT, nullable=False),
        pa.field("provider_vehicle_id", pa.string(), nullable=False),
        pa.field("vin", pa.string()),
        pa.field("fleet_number", pa.string()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("latitude", pa.float64()),
        pa.field("longitude", pa.float64()),
        pa.field("speed_mph", pa.float64()),
        pa.field("heading_degrees", pa.float64()),
        pa.field("engine_state", _DICT),
        pa.field("driver_id", pa.string()),
        pa.field("driver_name", pa.string()),
        pa.field("location_description", pa.string()),
        pa.field("odometer", pa.float64()),
    ]
)

TELEMETRY_COLUMNS: tuple[str, ...] = tuple(TELEMETRY_SCHEMA.names)
ENGINE_STATES: tuple[str, ...] = ("On", "Off", "Idle")
DEDUP_KEY: tuple[str, ...] = ("provider", "provider_vehicle_id", "timestamp")


def _pandas_types(*names: str) -> tuple[type, ...]:
    """pandas' classes ``names`` if pandas is loaded, else none: an object cannot be a pandas
    one unless pandas was imported, and importing it costs a run more CPU than most windows."""
    pandas = sys.modules.get("pandas")
    return tuple(getattr(pandas, name) for name in names) if pandas is not None else ()


def _column(name: str, values: Any, n: int) -> pa.Array:
    field = TELEMETRY_SCHEMA.field(name)
    if values is None:
        return pa.nulls(n, type=field.type)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        if isinstance(values, _pandas_types("Series", "Categorical")):
            values = pa.Array.from_pandas(values)
        else:
            target = pa.string() if pa.types.is_dictionary(field.type) else field.type
            if pa.types.is_timestamp(target):
                import pandas as pd

                values = pa.array(pd.to_datetime(pd.Series(values), utc=True))
            else:
                values = pa.array(values, type=target, from_pandas=True)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_timestamp(field.type):
        if not pa.types.is_timestamp(values.type):
            raise TypeError(f"column timestamp must hold timestamps, not {values.type}")
        if values.type.tz is None:
            raise TypeError("column timestamp must be timezone-aware (UTC)")
        values = values.cast(pa.timestamp(values.type.unit, tz="UTC")).cast(field.type)
    elif pa.types.is_dictionary(field.type):
        values = values.cast(pa.string()).dictionary_encode().cast(field.type)
    else:
        values = values.cast(field.type)
    return values


def enforce_telemetry_schema(
    data: pa.Table | pd.DataFrame | Mapping[str, Any], provider: str | None = None
) -> pa.Table:
    """Coerce ``data`` to exactly :data:`TELEMETRY_SCHEMA` (order, types, encodings).

    Missing optional columns become nulls; ``provider`` is filled from the argument when absent,
    and when both are given they must agree (one plugin must not write another's rows).
    Extra columns are an error (they mean a plugin and the schema disagree), and so is a type
    that cannot be cast. Returns a new table; never mutates the input.
    """
    if isinstance(data, _pandas_types("DataFrame")):
        frame = cast("pd.DataFrame", data)
        columns: Mapping[str, Any] = {c: frame[c] for c in frame.columns}
        n = len(frame)
    elif isinstance(data, pa.Table):
        columns = {c: data.column(c) for c in data.column_names}
        n = data.num_rows
    else:
        columns = cast("Mapping[str, Any]", data)
        lengths = {len(v) for v in columns.values() if v is not None}
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
    extra = set(columns) - set(TELEMETRY_COLUMNS)
    if extra:
        raise ValueError(f"columns not in the telemetry schema: {', '.join(sorted(extra))}")
    values = dict(columns)
    if values.get("provider") is None:
        if provider is None:
            raise ValueError("no provider column and no provider given")
        values["provider"] = pa.array([provider] * n, type=pa.string())
    arrays = []
    for name in TELEMETRY_COLUMNS:
        try:
            arrays.append(_column(name, values.get(name), n))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise ValueError(f"column {name}: {exc}") from None
    table = pa.Table.from_arrays(arrays, schema=TELEMETRY_SCHEMA)
    for name in ("provider", "provider_vehicle_id", "timestamp"):
        if table.column(name).null_count:
            raise ValueError(f"column {name} has nulls")
    if provider is not None and n:
        found = set(pc.unique(table.column("provider").cast(pa.string())).to_pylist())
        if found != {provider}:
            raise ValueError(f"provider column holds {sorted(found)}, not only {provider!r}")
    return table


def parse_timestamps(values: Sequence[str | None], provider: str) -> pa.Array:
    """ISO-8601 / RFC 3339 strings (any fraction, ``Z`` or ``±HH:MM``; no offset means UTC) as
    the schema's ``timestamp[us, UTC]``; ``None`` stays null.

    Arrow's vectorised cast takes the common forms; pandas takes what Arrow refuses (nanosecond
    fractions are floored to microseconds). Unreadable text is a :class:`ResponseFormatError`
    naming ``provider``, not a crash.
    """
    target = TELEMETRY_SCHEMA.field("timestamp").type
    try:
        return pa.array(values, type=pa.string()).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    import pandas as pd

    try:
        parsed = pd.to_datetime(pd.Series(list(values), dtype=object), utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise ResponseFormatError(f"{provider}: unreadable timestamp ({exc})") from None
    return pa.array(parsed.dt.floor("us").astype("datetime64[us, UTC]"), type=target)


def concat_telemetry(tables: list[pa.Table]) -> pa.Table:
    """One table from schema-conforming tables whose dictionaries may differ (batches of
    different providers or vehicles), with one dictionary per column."""
    if not tables:
        return TELEMETRY_SCHEMA.empty_table()
    return pa.concat_tables(tables).unify_dictionaries().combine_chunks()


def dedup_keys(table: pa.Table) -> pa.Table:
    """The dedup key columns, decoded to plain types: Arrow cannot sort or group on
    dictionary columns whose chunks carry different dictionaries."""
    return pa.table(
        {
            name: pc.cast(table.column(name), pa.string())
            if name == "provider"
            else table.column(name)
            for name in DEDUP_KEY
        }
    )


def sort_telemetry(table: pa.Table) -> pa.Table:
    """Rows ordered by the dedup key (provider, vehicle, time): the stored order."""
    order = pc.sort_indices(dedup_keys(table), sort_keys=[(k, "ascending") for k in DEDUP_KEY])
    return table.take(order)


def split_invalid(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Split a schema-conforming table into (valid rows, quarantined rows + ``reason`` column).

    Rules: latitude in [-90, 90], longitude in [-180, 180], speed ≥ 0, heading in [0, 360),
    odometer ≥ 0, ``engine_state`` one of :data:`ENGINE_STATES`. Nulls are allowed everywhere
    but the key columns (enforced by :func:`enforce_telemetry_schema`).
    """
    rules: list[tuple[str, pa.ChunkedArray]] = []

    def outside(name: str, low: float, high: float, high_open: bool = False) -> pa.ChunkedArray:
        col = table.column(name)
        upper = pc.greater_equal(col, high) if high_open else pc.greater(col, high)
        return pc.fill_null(pc.or_(pc.less(col, low), upper), False)

    rules.append(("latitude out of range", outside("latitude", -90, 90)))
    rules.append(("longitude out of range", outside("longitude", -180, 180)))
    rules.append(("negative speed", outside("speed_mph", 0, np.inf)))
    rules.append(("heading out of range", outside("heading_degrees", 0, 360, high_open=True)))
    rules.append(("negative odometer", outside("odometer", 0, np.inf)))
    state = table.column("engine_state").cast(pa.string())
    bad_state = pc.fill_null(pc.invert(pc.is_in(state, pa.array(ENGINE_STATES))), False)
    rules.append(("unknown engine_state", bad_state))

    reason = pa.nulls(table.num_rows, pa.string())
    for text, mask in reversed(rules):
        reason = pc.if_else(mask, pa.scalar(text), reason)
    bad = pc.is_valid(reason)
    quarantined = table.filter(bad).append_column("reason", pc.filter(reason, bad))
    return table.filter(pc.invert(bad)), quarantined
