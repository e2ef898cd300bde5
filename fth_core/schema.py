"""The unified telemetry schema: one pyarrow schema as the single source of truth.

Every provider's records end up in these columns, in this order. Units are fixed: speed in
mph, odometer in miles, heading in degrees from north, timestamps tz-aware UTC. ``provider`` and
``engine_state`` are dictionary-encoded (categorical in pandas).

Bad records are set aside with a reason, never silently dropped: rows that break the ranges of
:func:`split_invalid`, and rows a plugin's flatten marks in a ``reason`` column because they
cannot be stored at all — no vehicle id, a timestamp that does not parse
(:func:`split_quarantined`). Set-aside rows keep the telemetry columns, each one nullable, plus
their ``reason``: :data:`QUARANTINE_SCHEMA`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DEDUP_KEY",
    "ENGINE_STATES",
    "MISSING_TIMESTAMP",
    "MISSING_VEHICLE_ID",
    "QUARANTINE_SCHEMA",
    "REASON",
    "TELEMETRY_COLUMNS",
    "TELEMETRY_SCHEMA",
    "concat_telemetry",
    "dedup_keys",
    "enforce_telemetry_schema",
    "epoch_us",
    "parse_timestamps",
    "sort_telemetry",
    "split_invalid",
    "split_quarantined",
    "timestamp_reasons",
    "value_reasons",
]

if TYPE_CHECKING:
    import pandas as pd

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

REASON = "reason"
QUARANTINE_SCHEMA: pa.Schema = pa.schema(
    [field.with_nullable(True) for field in TELEMETRY_SCHEMA]
    + [pa.field(REASON, pa.string(), nullable=False)]
)
MISSING_VEHICLE_ID = "missing vehicle id"
MISSING_TIMESTAMP = "missing timestamp"


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


def _conform(
    data: pa.Table | pd.DataFrame | Mapping[str, Any], provider: str | None, *, with_reason: bool
) -> tuple[pa.Table, pa.Array | None]:
    """``data`` as the schema's columns and encodings — nulls not checked yet — and, when
    ``with_reason``, its ``reason`` column as text (``None`` when it has none)."""
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
    values = dict(columns)
    reason = values.pop(REASON, None) if with_reason else None
    extra = set(values) - set(TELEMETRY_COLUMNS)
    if extra:
        raise ValueError(f"columns not in the telemetry schema: {', '.join(sorted(extra))}")
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
    if provider is not None and n:
        found = set(pc.unique(table.column("provider").cast(pa.string())).to_pylist())
        if found != {provider}:
            raise ValueError(f"provider column holds {sorted(found)}, not only {provider!r}")
    if reason is None:
        return table, None
    if isinstance(reason, pa.ChunkedArray):
        reason = reason.combine_chunks()
    try:
        text = reason if isinstance(reason, pa.Array) else pa.array(reason, from_pandas=True)
        return table, text.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"column {REASON}: {exc}") from None


def _check_keys(table: pa.Table) -> pa.Table:
    for name in ("provider", "provider_vehicle_id", "timestamp"):
        if table.column(name).null_count:
            raise ValueError(f"column {name} has nulls")
    return table


def _quarantined(rows: pa.Table, reason: pa.Array | pa.ChunkedArray) -> pa.Table:
    return pa.Table.from_arrays([*rows.columns, reason], schema=QUARANTINE_SCHEMA)


def enforce_telemetry_schema(
    data: pa.Table | pd.DataFrame | Mapping[str, Any], provider: str | None = None
) -> pa.Table:
    """Coerce ``data`` to exactly :data:`TELEMETRY_SCHEMA` (order, types, encodings).

    Missing optional columns become nulls; ``provider`` is filled from the argument when absent,
    and when both are given they must agree (one plugin must not write another's rows).
    Extra columns are an error (they mean a plugin and the schema disagree), and so is a type
    that cannot be cast. Returns a new table; never mutates the input.
    """
    table, _ = _conform(data, provider, with_reason=False)
    return _check_keys(table)


def split_quarantined(
    data: pa.Table | pd.DataFrame | Mapping[str, Any], provider: str | None = None
) -> tuple[pa.Table, pa.Table]:
    """A flatten's output as (rows for the dataset, rows to quarantine).

    ``data`` is what :func:`enforce_telemetry_schema` takes, plus an optional ``reason`` column
    of text: a row with a reason is set aside with it (:data:`QUARANTINE_SCHEMA`) and may lack
    its vehicle id or timestamp; the rows without one must conform to the schema as usual.
    """
    table, reason = _conform(data, provider, with_reason=True)
    if reason is None or reason.null_count == len(reason):
        return _check_keys(table), QUARANTINE_SCHEMA.empty_table()
    bad = reason.is_valid()
    return _check_keys(table.filter(pc.invert(bad))), _quarantined(
        table.filter(bad), reason.filter(bad)
    )


def value_reasons(
    what: str, values: pa.Array | pa.ChunkedArray, where: pa.Array | pa.ChunkedArray | None = None
) -> pa.Array:
    """``"<what> '<value>'"`` for each row where ``where`` holds (default: every non-null
    value), else null. The value is quoted as received, so the reason shows it. Text is built
    for those rows only: on the hot path they are few or none."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    chosen = values.is_valid() if where is None else pc.fill_null(where, False)
    if isinstance(chosen, pa.ChunkedArray):
        chosen = chosen.combine_chunks()
    none = pa.nulls(len(values), pa.string())
    if not pc.any(chosen).as_py():
        return none
    picked = values.filter(chosen).cast(pa.string())
    text = pc.binary_join_element_wise(what + " '", picked, "'", "")
    return pc.replace_with_mask(none, chosen, text)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(moment: datetime) -> int:
    """A timezone-aware ``moment`` as the schema's timestamps hold it: µs since the epoch."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def parse_timestamps(values: Sequence[str | None] | pa.Array) -> pa.Array:
    """ISO-8601 / RFC 3339 strings (any fraction, ``Z`` or ``±HH:MM``; no offset means UTC) as
    the schema's ``timestamp[us, UTC]``; ``None`` stays null, and so does text that does not
    parse (:func:`timestamp_reasons` tells the two apart).

    Arrow's vectorised cast takes the common forms; pandas takes what Arrow refuses (nanosecond
    fractions are floored to microseconds), element by element, so one unreadable value costs
    only its own row.
    """
    text = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    target = TELEMETRY_SCHEMA.field("timestamp").type
    try:
        return text.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    import pandas as pd  # on use: most responses never need it, and it is slow to load

    parsed = pd.to_datetime(
        pd.Series(text.to_pylist(), dtype=object), utc=True, format="ISO8601", errors="coerce"
    )
    return pa.array(parsed.dt.floor("us").astype("datetime64[us, UTC]"), type=target)


def timestamp_reasons(text: pa.Array, parsed: pa.Array) -> pa.Array:
    """Per row, why :func:`parse_timestamps` gave ``parsed`` no time: ``"missing timestamp"``
    or ``"unparseable timestamp '<text>'"``; null where it has one."""
    untimed = parsed.is_null()
    unreadable = value_reasons("unparseable timestamp", text, untimed)
    return pc.if_else(pc.and_(untimed, text.is_null()), pa.scalar(MISSING_TIMESTAMP), unreadable)


def concat_telemetry(tables: list[pa.Table], schema: pa.Schema = TELEMETRY_SCHEMA) -> pa.Table:
    """One table from tables of ``schema`` (the telemetry's, or :data:`QUARANTINE_SCHEMA`)
    whose dictionaries may differ (batches of different providers or vehicles), with one
    dictionary per column."""
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables).unify_dictionaries().combine_chunks()


def dedup_keys(table: pa.Table, keys: Sequence[str] = DEDUP_KEY) -> pa.Table:
    """The ``keys`` columns (by default the dedup key), decoded to plain types: Arrow cannot
    sort or group on dictionary columns whose chunks carry different dictionaries."""
    columns = {name: table.column(name) for name in keys}
    return pa.table(
        {
            name: pc.cast(column, pa.string()) if pa.types.is_dictionary(column.type) else column
            for name, column in columns.items()
        }
    )


def sort_telemetry(table: pa.Table) -> pa.Table:
    """Rows ordered by the dedup key (provider, vehicle, time): the stored order."""
    order = pc.sort_indices(dedup_keys(table), sort_keys=[(k, "ascending") for k in DEDUP_KEY])
    return table.take(order)


def split_invalid(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Split a schema-conforming table into (valid rows, quarantined rows + ``reason`` column).

    Rules, the first broken one naming the reason: latitude in [-90, 90], longitude in
    [-180, 180], speed ≥ 0, heading in [0, 360), odometer ≥ 0, ``engine_state`` one of
    :data:`ENGINE_STATES` (``"unknown engine state '<value>'"``). Nulls are allowed everywhere
    but the key columns (enforced by :func:`enforce_telemetry_schema`): a null engine state is
    a state nobody knows, not an unknown one.
    """
    rules: list[tuple[str | pa.Array, pa.ChunkedArray]] = []

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
    known = pc.is_in(state, value_set=pa.array(ENGINE_STATES))
    bad_state = pc.and_(state.is_valid(), pc.invert(known))
    rules.append((value_reasons("unknown engine state", state, bad_state), bad_state))

    bad = functools.reduce(pc.or_, (mask for _, mask in rules))
    if not pc.any(bad).as_py():  # as in most windows: no reason to write, no rows to copy
        return table, QUARANTINE_SCHEMA.empty_table()
    reason = pa.nulls(table.num_rows, pa.string())
    for text, mask in reversed(rules):
        reason = pc.if_else(mask, text, reason)
    return table.filter(pc.invert(bad)), _quarantined(table.filter(bad), pc.filter(reason, bad))
