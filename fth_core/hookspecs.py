"""The plugin contract: every hook a provider plugin may implement, in one file.

A plugin is a module with module-level functions decorated with :data:`hookimpl`, listed under
the ``fth`` entry-point group of its distribution (entry name = provider name)::

    [project.entry-points.fth]
    geotab = "fth_geotab"

There are three roles:

1. **Registration** — :func:`fth_register_providers` declares the provider(s) a plugin brings
   (:class:`ProviderSpec`: endpoints, base URL, auth, quota, settings model, simulator).
2. **Fetch** — :func:`fth_fetch_telemetry` yields the raw, typed items of a half-open UTC window
   ``[start, end)`` in batches (:class:`TelemetryBatch`).
3. **Flatten** — :func:`fth_flatten_telemetry` turns one batch into unified-schema columns.

Fetch and flatten are ``firstresult`` hooks dispatched to the owning provider: an
implementation returns ``None`` for a provider that is not its own, and the core raises
:class:`~fth_core.errors.NoPluginAnsweredError` when nobody answers. A fetch implementation must
therefore be a plain function that returns ``None`` or an iterator (from a helper generator);
a generator function would answer for every provider, so it is refused at load time. Because
they are hooks, a wrapper plugin (``hookwrapper=True``) can cache or enrich every provider's
batches — to time a fetch, wrap the iterator it returns, since fetching happens as it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pluggy
from pydantic import BaseModel

from fth_core.endpoints import EndpointDefinition

if TYPE_CHECKING:
    import pyarrow as pa

    from fth_core.provider import Provider
    from fth_core.sim import Fleet, SimulatedProvider

__all__ = [
    "AuthSpec",
    "FetchFailure",
    "ProviderSpec",
    "Quota",
    "TelemetryBatch",
    "hookimpl",
    "hookspec",
]

hookspec = pluggy.HookspecMarker("fth")
hookimpl = pluggy.HookimplMarker("fth")

T = TypeVar("T")


@dataclass(frozen=True)
class AuthSpec:
    """How the API key travels: header ``header`` with value ``prefix + key``.

    Motive: ``AuthSpec("X-Api-Key")``; Samsara: ``AuthSpec("Authorization", "Bearer ")``.
    """

    header: str
    prefix: str = ""

    def headers(self, api_key: str) -> dict[str, str]:
        return {self.header: f"{self.prefix}{api_key}"}


@dataclass(frozen=True)
class Quota:
    """A provider's default request budget; config may override each figure.

    ``requests_per_second`` and ``burst`` feed a token bucket shared by every thread of a run;
    ``max_concurrency`` bounds requests in flight.
    """

    requests_per_second: float
    burst: int = 1
    max_concurrency: int = 4


@dataclass(frozen=True)
class ProviderSpec:
    """What a plugin registers for one provider.

    ``name`` is the provider's identifier in config and the dataset (lower case). ``settings``
    is a pydantic model for provider-specific options (``providers.<name>.options`` in
    config), or ``None``. ``simulator`` builds the provider's wire rendering of a simulated
    fleet (see :mod:`fth_core.sim`); the demo and the conformance kit run it.
    """

    name: str
    endpoints: Sequence[EndpointDefinition]
    default_base_url: str
    auth: AuthSpec
    quota: Quota
    description: str = ""
    settings: type[BaseModel] | None = None
    simulator: Callable[[Fleet], SimulatedProvider] | None = None

    def endpoint_map(self) -> Mapping[str, EndpointDefinition]:
        return {e.name: e for e in self.endpoints}


@dataclass(frozen=True)
class FetchFailure:
    """Part of a window that could not be fetched (``subject`` e.g. ``"vehicle 123"``)."""

    subject: str
    error: str


@dataclass(frozen=True)
class TelemetryBatch(Generic[T]):
    """A unit of fetched work: the plugin's own typed items plus what failed to arrive.

    ``items`` is opaque to the core and handed back unchanged to the same plugin's flatten
    hook. ``failures`` make gaps visible: the pipeline reports them and does not advance the
    provider's watermark past a window that had any.
    """

    items: T
    failures: tuple[FetchFailure, ...] = field(default=())


@hookspec
def fth_register_providers() -> Sequence[ProviderSpec]:
    """Declare the providers this plugin brings.

    Called once when the registry is built. Returns a sequence of :class:`ProviderSpec`
    (usually one). Two distributions registering the same ``name`` is an error that names both.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def fth_fetch_telemetry(
    provider: Provider, start: datetime, end: datetime, horizon: datetime
) -> Iterable[TelemetryBatch[Any]] | None:
    """Fetch the telemetry of the half-open UTC window ``[start, end)``.

    :param provider: the configured provider; use ``provider.client()`` for HTTP (it holds the
        pooled connection, retries and the quota) and ``provider.settings`` for options.
    :param start: inclusive window start, timezone-aware UTC.
    :param end: exclusive window end, timezone-aware UTC.
    :param horizon: the end of the run this window belongs to (``>= end``; equal for a run's
        last window). Its later windows, up to ``horizon``, follow in order through the same
        ``provider``, unless one fails. A plugin may download data past ``end`` (up to
        ``horizon``) to make fewer requests, holding it for the windows it belongs to: the
        batches of this window must still hold ``[start, end)`` only. A plugin that fetches
        each window on its own can leave the argument out of its implementation.
    :return: an iterable (typically a generator) of batches whose items, once flattened, hold
        every record with a timestamp in the window and none outside it; ``None`` when
        ``provider`` is not this plugin's.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def fth_flatten_telemetry(
    provider: Provider, batch: TelemetryBatch[Any]
) -> pa.Table | Mapping[str, Any] | None:
    """Turn one fetched batch into unified-schema columns.

    :param provider: the provider that fetched ``batch``.
    :param batch: a batch yielded by this plugin's :func:`fth_fetch_telemetry`.
    :return: a ``pyarrow.Table`` or a mapping of column name → sequence/array holding the
        columns of :data:`fth_core.schema.TELEMETRY_COLUMNS` (``provider`` may be omitted:
        the core fills it, and a different value is an error); units mph, miles, degrees;
        timestamps UTC. ``None`` when the provider is not this plugin's.

        An optional ``reason`` column (text, null for good rows) sets bad records aside: a row
        with a reason goes to the quarantine with it, counted in the run's summary, and may
        lack its vehicle id or timestamp (``"missing vehicle id"``, ``"unparseable timestamp
        '...'"``). Range checks (coordinates, speed, heading, odometer, engine state) need no
        reason column: the pipeline applies them to every row.
    """
    raise NotImplementedError
