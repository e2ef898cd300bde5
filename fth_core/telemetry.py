"""Dispatching telemetry work to the plugin that owns a provider: fetch, then flatten.

:func:`fetch_telemetry` is the one place the core calls the fetch and flatten hooks, on the
plugin that registered the provider. It checks the window, raises
:class:`NoPluginAnsweredError` when no installed plugin owns the provider, and turns every batch
into a table that conforms to :data:`~fth_core.schema.TELEMETRY_SCHEMA`, plus the
rows flatten marked with a ``reason`` (:data:`~fth_core.schema.QUARANTINE_SCHEMA`).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from fth_core.endpoints import parse_utc
from fth_core.errors import NoPluginAnsweredError, ResponseFormatError
from fth_core.provider import Provider
from fth_core.schema import QUARANTINE_SCHEMA, concat_telemetry, split_invalid, split_quarantined
from fth_core.spec import FetchFailure, Window

__all__ = ["FlatBatch", "fetch_telemetry", "stored_and_quarantined"]


@dataclass(frozen=True)
class FlatBatch:
    """One flattened batch: unified-schema rows, the failures reported with them, and the rows
    flatten set aside with a reason (for the quarantine)."""

    table: pa.Table
    failures: tuple[FetchFailure, ...] = ()
    quarantined: pa.Table = field(default_factory=QUARANTINE_SCHEMA.empty_table)


def fetch_telemetry(
    provider: Provider,
    start: datetime,
    end: datetime,
    horizon: datetime | None = None,
    *,
    run: MutableMapping[str, Any] | None = None,
    state: dict[str, Any] | None = None,
) -> Iterator[FlatBatch]:
    """Fetch and flatten ``[start, end)`` for ``provider``, batch by batch.

    ``horizon``, ``run`` and ``state`` make the :class:`~fth_core.spec.Window` the fetch hook
    gets: the end of the run the window belongs to (by default ``end``: the window alone);
    the run's space, shared by its windows in order (by default a new one); the provider's
    persisted state, updated in place by the plugin (by default a new, empty one).
    """
    start, end = parse_utc(start), parse_utc(end)
    horizon = end if horizon is None else parse_utc(horizon)
    if start >= end:
        raise ValueError(f"empty window: {start.isoformat()} is not before {end.isoformat()}")
    if horizon < end:
        raise ValueError(f"horizon {horizon.isoformat()} is before the window's end")
    fetch = provider.registry.hook_for(provider.name, "fth_fetch_telemetry")
    flatten = provider.registry.hook_for(provider.name, "fth_flatten_telemetry")
    if fetch is None or flatten is None:
        raise NoPluginAnsweredError(
            f"no installed plugin fetches telemetry for provider {provider.name!r}"
        )
    window = Window(
        start, end, horizon, run if run is not None else {}, state if state is not None else {}
    )
    batches = fetch(provider=provider, window=window)
    if batches is None:
        raise NoPluginAnsweredError(f"the {provider.name} plugin fetches no telemetry")
    for batch in batches:
        columns = flatten(provider=provider, batch=batch)
        if columns is None:
            raise NoPluginAnsweredError(f"the {provider.name} plugin flattens no telemetry")
        try:
            table, quarantined = split_quarantined(columns, provider=provider.name)
        except ValueError as exc:
            raise ResponseFormatError(f"{provider.name}: flattened batch: {exc}") from None
        yield FlatBatch(table, tuple(batch.failures), quarantined)


def stored_and_quarantined(batches: Sequence[FlatBatch]) -> tuple[pa.Table, pa.Table]:
    """A window's rows as the pipeline files them: the rows to store, and the quarantine —
    what flatten set aside, then what breaks the schema's ranges
    (:func:`~fth_core.schema.split_invalid`)."""
    valid, out_of_range = split_invalid(concat_telemetry([batch.table for batch in batches]))
    set_aside = [batch.quarantined for batch in batches]
    return valid, concat_telemetry([*set_aside, out_of_range], QUARANTINE_SCHEMA)
