"""The types of the plugin contract: what a plugin declares, and what its hooks get and give.

:mod:`fth_core.hookspecs` holds the hooks; these are the values that pass through them. A
plugin declares each provider it brings as a :class:`ProviderSpec` (endpoints, auth, how
answers are classified, quotas, credentials, settings, simulator); its fetch hook receives a
:class:`Window` and yields :class:`TelemetryBatch` es, naming what could not be fetched as
:class:`FetchFailure` s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from fth_core.auth import ApiKeyCredentials, Auth, Credentials
from fth_core.classify import Classifier, http_status
from fth_core.endpoints import EndpointDefinition

if TYPE_CHECKING:
    from fth_core.sim import Fleet, SimulatedProvider

__all__ = ["FetchFailure", "ProviderSpec", "Quota", "TelemetryBatch", "Window"]

T = TypeVar("T")


@dataclass(frozen=True)
class Quota:
    """A request budget; config may override the provider's figures.

    ``requests_per_second`` and ``burst`` feed a token bucket shared by every thread of a run;
    ``max_concurrency`` bounds requests in flight (for a provider's main quota only). A scope
    whose provider counts calls per window instead (Geotab: per minute) says so with
    :meth:`per_window`: then at most ``burst`` requests go in any ``window_seconds``.
    """

    requests_per_second: float
    burst: int = 1
    max_concurrency: int = 4
    window_seconds: float | None = None

    @classmethod
    def per_window(cls, requests: int, seconds: float = 60.0) -> Quota:
        """At most ``requests`` in any ``seconds`` (for a scope)."""
        return cls(requests / seconds, requests, window_seconds=seconds)


@dataclass(frozen=True)
class ProviderSpec:
    """What a plugin registers for one provider.

    ``name`` is the provider's identifier in config and the dataset (lower case).
    ``auth`` says how credentials reach requests (:mod:`fth_core.auth`), ``credentials`` is
    the pydantic model of what config must supply for it (its :class:`~pydantic.SecretStr`
    fields are secrets: redacted everywhere, and read from ``<NAME>_<FIELD>`` when config
    omits them). ``classify`` turns an answer into a verdict (:mod:`fth_core.classify`; the
    default reads HTTP statuses). ``quota`` is the provider-wide budget; ``scopes`` are named
    budgets inside it (a request names its scope in :attr:`RequestSpec.scope
    <fth_core.endpoints.RequestSpec.scope>`), each paused alone when an answer in it says
    "rate limited". ``settings`` is a pydantic model for provider options
    (``providers.<name>.options``), or ``None``. ``simulator`` renders a simulated fleet in
    the provider's wire format (:mod:`fth_core.sim`); the demo and the conformance kit run it.
    ``follow_redirects``: whether a 3xx is followed (by default it is an error naming where
    it pointed, since a moved API is something the user must learn of).
    """

    name: str
    endpoints: Sequence[EndpointDefinition]
    default_base_url: str
    auth: Auth
    quota: Quota
    description: str = ""
    credentials: type[Credentials] = ApiKeyCredentials
    classify: Classifier = http_status
    scopes: Mapping[str, Quota] = field(default_factory=dict)
    settings: type[BaseModel] | None = None
    simulator: Callable[[Fleet], SimulatedProvider] | None = None
    follow_redirects: bool = False

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
    hook. ``failures`` make gaps visible: the pipeline reports them, stores none of a window
    that had any (what arrived may be wrong, not only incomplete), and does not advance the
    provider's watermark (or commit its state) past it.
    """

    items: T
    failures: tuple[FetchFailure, ...] = field(default=())


@dataclass
class Window:
    """What a fetch is asked for, and the memory it may use.

    ``start`` (inclusive) and ``end`` (exclusive) bound the window, timezone-aware UTC.
    ``horizon`` is the end of the run the window belongs to (``>= end``): the run's later
    windows, up to it, follow in order with the same ``run`` space, unless one fails.

    ``run`` is a space the core owns for one provider's run: a plugin may keep what it read
    ahead for later windows there (it lives exactly as long as the run; nothing in it is
    stored). ``state`` is the provider's small persisted state (JSON values only: a feed
    version, a cursor), as the last committed window left it; the plugin reads it and updates
    it in place while it fetches, and the pipeline stores it with the window's data — data
    first, state last — only when the window is committed whole. A window that fails leaves
    the stored state as it was, so the next run resumes from the last committed window.
    """

    start: datetime
    end: datetime
    horizon: datetime
    run: MutableMapping[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
