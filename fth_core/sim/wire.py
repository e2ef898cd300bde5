"""What a provider simulator is: a function from a request to a response, plus its oracle.

A plugin subclasses :class:`SimulatedProvider` to render the shared simulated fleet
(:class:`~fth_core.sim.fleet.Fleet`) in its provider's exact wire format. The core's
:class:`~fth_core.sim.server.SimServer` serves any such handler over real HTTP on 127.0.0.1 and
adds what is common to every provider: latency, rate limiting, injected faults, a request log.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from fth_core.schema import QUARANTINE_SCHEMA

if TYPE_CHECKING:
    import pyarrow as pa

    from fth_core.sim.bad_records import BadRecords
    from fth_core.sim.fleet import Fleet

__all__ = ["SimRequest", "SimResponse", "SimulatedProvider"]


@dataclass(frozen=True)
class SimRequest:
    """An incoming request: ``headers`` keys are lower-cased, ``query`` keeps repeated keys,
    ``body`` holds the raw request body (``json()`` decodes it)."""

    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body decoded as JSON; ``None`` when it is empty or not JSON."""
        try:
            return msgspec.json.decode(self.body) if self.body else None
        except msgspec.DecodeError:
            return None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class SimResponse:
    """A response to send. Build with :meth:`json` or :meth:`text`."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> SimResponse:
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, msgspec.json.encode(payload), merged)

    @classmethod
    def text(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> SimResponse:
        merged = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        return cls(status, text.encode(), merged)


class SimulatedProvider(ABC):
    """A provider's wire rendering of a :class:`Fleet`, and the oracle for what fth must make of it.

    ``as_of`` is the simulator's clock: data whose ``available_at`` is later (late uploads) or
    whose time is later is not served yet. ``None`` means the real current time. Tests move it
    forward to "release" late points. ``bad_records`` asks the simulator to corrupt a seeded
    choice of records (:class:`~fth_core.sim.bad_records.BadRecords`); the oracle then splits
    ground truth into what fth stores and what it quarantines.
    """

    name: str = ""

    def __init__(
        self,
        fleet: Fleet,
        api_key: str = "sim-key",
        as_of: datetime | None = None,
        *,
        bad_records: BadRecords | None = None,
    ):
        self.fleet = fleet
        self.api_key = api_key
        self.as_of = as_of
        self.bad_records = bad_records

    def now(self) -> datetime:
        return self.as_of if self.as_of is not None else datetime.now(UTC)

    def credentials(self) -> dict[str, str]:
        """The credentials this simulator accepts, as config takes them
        (``providers.<name>.<field>``); a session provider overrides it."""
        return {"api_key": self.api_key}

    def __call__(self, request: SimRequest) -> SimResponse:
        if not self.authorized(request):
            return self.unauthorized(request)
        return self.handle(request)

    @abstractmethod
    def authorized(self, request: SimRequest) -> bool:
        """Whether the request carries this simulator's API key the provider's way."""

    @abstractmethod
    def unauthorized(self, request: SimRequest) -> SimResponse:
        """The provider's exact 401."""

    @abstractmethod
    def handle(self, request: SimRequest) -> SimResponse:
        """Answer an authorized request exactly as the provider would."""

    @abstractmethod
    def rate_limited(self, retry_after: float) -> SimResponse:
        """The provider's 429 for a client that must wait ``retry_after`` seconds."""

    @abstractmethod
    def expected_telemetry(self, start: datetime, end: datetime) -> pa.Table:
        """Ground truth: the unified-schema table that fetch + flatten of ``[start, end)``
        must produce from this simulator at its current clock (row order irrelevant)."""

    def expected_quarantine(self, start: datetime, end: datetime) -> pa.Table:
        """The rows fth must set aside for ``[start, end)`` — the bad records this simulator
        served — in :data:`~fth_core.schema.QUARANTINE_SCHEMA` (row order irrelevant). None
        unless the simulator renders bad records."""
        return QUARANTINE_SCHEMA.empty_table()
