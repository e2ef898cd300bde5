"""The plugin contract: every hook a provider plugin may implement, in one file.

A plugin is a module with module-level functions decorated with :data:`hookimpl`, listed under
the ``fth`` entry-point group of its distribution (entry name = provider name)::

    [project.entry-points.fth]
    geotab = "fth_geotab"

There are three roles:

1. **Registration** — :func:`fth_register_providers` declares the provider(s) a plugin brings
   (:class:`~fth_core.spec.ProviderSpec`: endpoints, base URL, auth and credentials, how
   answers are classified, quotas, settings model, simulator).
2. **Fetch** — :func:`fth_fetch_telemetry` yields the raw, typed items of a window in batches
   (:class:`~fth_core.spec.TelemetryBatch`).
3. **Flatten** — :func:`fth_flatten_telemetry` turns one batch into unified-schema columns.

The core calls fetch and flatten on the plugin that registered the provider, and on no other
provider plugin: an implementation only ever sees its own providers, so it needs no "is this
mine" check, and may be a generator function. A plugin that registers no provider still sees
every call, so a wrapper (``hookwrapper=True``) can time, cache or enrich every provider's
batches. The types these hooks use live in :mod:`fth_core.spec`. ``FTH_TRACE_HOOKS=1`` logs
every hook call and its result to the ``fth.plugins`` logger (at debug level).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import pyarrow as pa

    from fth_core.provider import Provider
    from fth_core.spec import ProviderSpec, TelemetryBatch, Window

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("fth")
hookimpl = pluggy.HookimplMarker("fth")


@hookspec
def fth_register_providers() -> Sequence[ProviderSpec]:
    """Declare the providers this plugin brings.

    Called once when the registry is built. Returns a sequence of
    :class:`~fth_core.spec.ProviderSpec` (usually one). Two distributions registering the same
    ``name`` is an error that names both.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def fth_fetch_telemetry(provider: Provider, window: Window) -> Iterable[TelemetryBatch[Any]]:
    """Fetch the telemetry of the half-open UTC window ``[window.start, window.end)``.

    :param provider: the configured provider (this plugin's); use ``provider.client()`` for
        HTTP (it holds the pooled connections, auth, retries and the quota) and
        ``provider.settings`` for options.
    :param window: the window (:class:`~fth_core.spec.Window`): its bounds; the run's
        ``horizon``, up to which later windows follow in order; ``run``, a space for what is
        read ahead for them (a plugin may download past ``end`` to make fewer requests, but
        this window's batches hold ``[start, end)`` only); and ``state``, the provider's
        persisted JSON state, to read and update in place (a feed version): the core stores
        it after the window's data, and only if the window is committed whole.
    :return: an iterable (typically a generator) of batches whose items, once flattened, hold
        records with a timestamp in the window and none outside it: every record of the
        window, or — for a plugin resuming a feed from ``state`` — every record of it not
        already committed (the store merges a window's rows into what it holds, keeping
        earlier rows, so a re-fetched window need not repeat them). Parts that could not be
        fetched are named in the batches' ``failures``, never left out silently.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def fth_flatten_telemetry(
    provider: Provider, batch: TelemetryBatch[Any]
) -> pa.Table | Mapping[str, Any]:
    """Turn one fetched batch into unified-schema columns.

    :param provider: the provider that fetched ``batch`` (this plugin's).
    :param batch: a batch yielded by this plugin's :func:`fth_fetch_telemetry`.
    :return: a ``pyarrow.Table`` or a mapping of column name → sequence/array holding the
        columns of :data:`fth_core.schema.TELEMETRY_COLUMNS` (``provider`` may be omitted:
        the core fills it, and a different value is an error); units mph, miles, degrees;
        timestamps UTC.

        An optional ``reason`` column (text, null for good rows) sets bad records aside: a row
        with a reason goes to the quarantine with it, counted in the run's summary, and may
        lack its vehicle id or timestamp (``"missing vehicle id"``, ``"unparseable timestamp
        '...'"``). Range checks (coordinates, speed, heading, odometer, engine state) need no
        reason column: the pipeline applies them to every row.
    """
    raise NotImplementedError
