"""A test provider plugin (``rpcfleet``) that keeps a feed version in the provider's persisted
state (``window.state``) between runs, which no shipped plugin does, and holds what it read
ahead for later windows of the run in ``window.run``.

It reads Geotab's LogRecord feed (``GetFeed``), where the real Geotab plugin
(plugins/fth_geotab) makes windowed ``Get`` searches instead, and takes everything else from
that plugin: the session login, the classification of JSON-RPC errors, the credentials and caps
(:mod:`fth_geotab.wire`), the ``devices`` endpoint and the quota scopes
(:mod:`fth_geotab.endpoints`), and the simulator (:class:`RpcFleetSimulator` is a
:class:`~fth_geotab.simulator.GeotabSimulator`). tests/test_rpc_plugin.py runs the core's
conformance kit and the feed-state tests against it; how the core client keeps a session,
classifies answers and honours quotas on this API is tested on the real plugin
(plugins/fth_geotab/tests/test_geotab_session.py).

The feed
    ``GetFeed LogRecord`` reads the feed in version (ingestion) order from ``fromVersion``, or
    from ``search.fromDate`` when no version is given, and answers ``{"data": [...],
    "toVersion": <16 hex>}``; a page shorter than ``resultsLimit`` means caught up.

The feed, and what is stored between runs
    Records come in version order, not time order (a late upload arrives later with an older
    time), so one window's records may sit anywhere up to the feed's head: every window reads
    to the head. What it reads for later windows of the run (up to ``window.horizon``) is held
    in ``window.run``; what lies at or past the horizon is left for a later run.

    The state is ``{"log_records_version": V, "log_records_since": T}``, meaning: *every record
    whose dateTime is at or after T and whose version is below V is in a committed window*.
    After a window ``[start, end)`` the plugin stores ``T = start`` and for ``V`` the version the
    earliest page still holding an undelivered record (held for a later window, or past the
    horizon) was asked from — or the head when nothing is held back. So a later window never
    needs a record before ``V``, and the next run re-reads (and the store deduplicates) at most
    the pages it had not finished with. When that earliest page is the one seeded by a date
    (it has no version), the state is cleared.

    A window reads from the stored ``V`` when it starts at or after ``T``; it then yields
    every record of the window not yet committed (all of them, for a window never fetched;
    the late uploads, for a window the lookback fetches again — the store keeps what it had).
    A window that starts before ``T`` (the first run, a lookback reaching further back than
    the last run's last window, an explicit ``--start``) is seeded from
    ``fromDate = start - 1 h`` instead: the feed from a date holds every record uploaded since
    then, so every record of the window.

    Records older than the window's start are dropped: they belong to committed windows, and a
    late upload is recovered when the lookback fetches its window again (as for any provider).
    Read-ahead is held in memory for the run (up to its horizon, normally "now").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from fth_core import (
    EndpointDefinition,
    ParamKind,
    ParamSpec,
    Provider,
    ProviderSpec,
    Quota,
    ResponseFormatError,
    TelemetryBatch,
    TelemetryClient,
    TokenPagination,
    Window,
    enforce_telemetry_schema,
    hookimpl,
)
from fth_core.endpoints import format_utc, parse_utc
from fth_geotab.endpoints import DEVICES as GEOTAB_DEVICES
from fth_geotab.endpoints import GEOTAB, scope
from fth_geotab.records import clean_vin
from fth_geotab.simulator import GeotabSimulator
from fth_geotab.wire import FEED_CAP, KM_PER_MILE, PATH, GeotabCredentials, classify, session_auth

__all__ = [
    "DEVICES",
    "LOG_RECORDS",
    "NAME",
    "RpcFleetSettings",
    "RpcFleetSimulator",
    "fth_fetch_telemetry",
    "fth_flatten_telemetry",
    "fth_register_providers",
]

NAME = "rpcfleet"
FEED_SEED_MARGIN = timedelta(hours=1)  # a feed seeded by date starts this much earlier
BATCH_SIZE = 50_000  # records per batch handed to flatten
VERSION = "log_records_version"
SINCE = "log_records_since"
# The columns flatten fills; the others (engine state, driver, odometer...) stay null.
FILLED = (
    "provider_vehicle_id",
    "vin",
    "fleet_number",
    "timestamp",
    "latitude",
    "longitude",
    "speed_mph",
)
_RUN_FEED = f"{NAME}.feed"
_RUN_ROSTER = f"{NAME}.roster"
_VERSION_TEXT = re.compile(r"[0-9a-fA-F]{16}")


class RpcFleetSettings(BaseModel):
    """``providers.rpcfleet.options``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feed_page_size: int = Field(
        default=FEED_CAP, ge=1, le=FEED_CAP, description="LogRecords asked per GetFeed call"
    )


# -- endpoints ---------------------------------------------------------------------------------
def _feed_pagination(limit: int) -> TokenPagination:
    return TokenPagination(
        limit=limit,
        limit_at="body.params.resultsLimit",
        token_from="result.toVersion",
        token_at="body.params.fromVersion",
    )


DEVICES = replace(GEOTAB_DEVICES, provider=NAME)

LOG_RECORDS = EndpointDefinition(
    NAME,
    "log_records",
    PATH,
    "The LogRecord feed (GPS points) in version order, from a version or seeded by a date.",
    method="POST",
    params=(
        ParamSpec(
            "from_version",
            ParamKind.STR,
            api_name="params.fromVersion",
            location="body",
            description="the feed version to read from (16 hex digits)",
        ),
        ParamSpec(
            "from_date",
            ParamKind.DATETIME,
            api_name="params.search.fromDate",
            location="body",
            description="with no version: seed the feed at this time",
            example="2026-03-02T00:00:00Z",
        ),
    ),
    body={"id": -1, "method": "GetFeed", "params": {"typeName": "LogRecord"}},
    pagination=_feed_pagination(FEED_CAP),
    items_key="result.data",
    scope=scope("GetFeed", "LogRecord"),
)


class RpcFleetSimulator(GeotabSimulator):
    """The Geotab simulator under rpcfleet's name (rpcfleet calls its Get Device and GetFeed
    LogRecord). Its oracle is Geotab's with only the columns rpcfleet fills."""

    name = NAME

    def expected_telemetry(self, start: datetime, end: datetime) -> pa.Table:
        geotab = super().expected_telemetry(start, end)
        return enforce_telemetry_schema({c: geotab.column(c) for c in FILLED}, provider=NAME)


@hookimpl
def fth_register_providers() -> Sequence[ProviderSpec]:
    budgets = (scope("Get", "Device"), scope("GetFeed", "LogRecord"))
    return [
        ProviderSpec(
            name=NAME,
            endpoints=(DEVICES, LOG_RECORDS),
            default_base_url="https://rpc.example",
            auth=session_auth(),
            credentials=GeotabCredentials,
            classify=classify,
            quota=Quota(requests_per_second=10, burst=10, max_concurrency=4),
            scopes={name: GEOTAB.scopes[name] for name in budgets},  # Geotab's own budgets
            settings=RpcFleetSettings,
            description="Test plugin: Geotab's LogRecord feed, its version kept between runs",
            simulator=RpcFleetSimulator,
        )
    ]


# -- fetch -------------------------------------------------------------------------------------
Record = dict[str, Any]


@dataclass
class _FeedRun:
    """The feed as one run has read it (kept in ``window.run``).

    ``pages``: the version each page read was asked from, in order (``None``: the page a date
    seeded). ``held``: records read for later windows of the run, with their page's index and
    time. ``beyond``: the index of the earliest page holding a record at or past the horizon.
    ``cursor``: the version to read on from. ``end``: the end of the last window served.
    """

    end: datetime
    cursor: str
    pages: list[str | None] = field(default_factory=list)
    held: list[tuple[int, datetime, Record]] = field(default_factory=list)
    beyond: int | None = None


@hookimpl
def fth_fetch_telemetry(provider: Provider, window: Window) -> Iterator[TelemetryBatch[Any]]:
    client = provider.client()
    feed = window.run.get(_RUN_FEED)
    if not isinstance(feed, _FeedRun) or window.start < feed.end:
        feed = None  # a new run (or windows out of order): start from the state
    params = _starting_point(window) if feed is None else {"from_version": feed.cursor}
    walked, head = _walk(client, _feed_endpoint(provider), params)

    # Sort what the run held and what was just read: this window's, later windows', beyond.
    pages = [*(feed.pages if feed else []), *(asked for asked, _ in walked)]
    deliver: list[Record] = []
    held: list[tuple[int, datetime, Record]] = []
    beyond = feed.beyond if feed else None
    first = len(feed.pages) if feed else 0
    candidates: list[tuple[int, datetime | None, Record]] = [*(feed.held if feed else [])]
    for offset, (_, items) in enumerate(walked):
        candidates.extend((first + offset, _record_time(item), item) for item in items)
    for index, moment, record in candidates:
        if moment is None:  # unreadable: this window's, for flatten to set aside
            deliver.append(record)
        elif moment < window.start:
            continue  # in a committed window, or a late upload for the lookback to recover
        elif moment < window.end:
            deliver.append(record)
        elif moment < window.horizon:
            held.append((index, moment, record))
        else:
            beyond = index if beyond is None else min(beyond, index)

    window.run[_RUN_FEED] = _FeedRun(window.end, head, pages, held, beyond)
    pending = [index for index, _, _ in held] + ([] if beyond is None else [beyond])
    version = head if not pending else pages[min(pending)]
    if version is None:
        window.state.pop(VERSION, None)
        window.state.pop(SINCE, None)
    else:
        window.state[VERSION] = version
        window.state[SINCE] = format_utc(window.start)

    wanted = {_device_id(r) for r in deliver} - {None}
    roster = _roster(client, provider, window, wanted)
    for at in range(0, max(len(deliver), 1), BATCH_SIZE):
        yield TelemetryBatch((roster, deliver[at : at + BATCH_SIZE]))


def _starting_point(window: Window) -> dict[str, Any]:
    """Read from the stored version when it covers the window (see the module doc), else
    seed the feed from a date."""
    version, since = window.state.get(VERSION), window.state.get(SINCE)
    if isinstance(version, str) and _VERSION_TEXT.fullmatch(version) and isinstance(since, str):
        try:
            covered = window.start >= parse_utc(since)
        except ValueError:
            covered = False
        if covered:
            return {"from_version": version}
    return {"from_date": window.start - FEED_SEED_MARGIN}


def _feed_endpoint(provider: Provider) -> EndpointDefinition:
    endpoint = provider.endpoint("log_records")
    settings = provider.settings
    size = settings.feed_page_size if isinstance(settings, RpcFleetSettings) else FEED_CAP
    if size == FEED_CAP:
        return endpoint
    return replace(endpoint, pagination=_feed_pagination(size))


def _walk(
    client: TelemetryClient, endpoint: EndpointDefinition, params: dict[str, Any]
) -> tuple[list[tuple[str | None, list[Record]]], str]:
    """Every page from ``params`` to the head: (the version each was asked from, its items),
    and the version to read on from."""
    walked: list[tuple[str | None, list[Record]]] = []
    asked: str | None = params.get("from_version")
    for page in client.iter_pages(endpoint, params):
        walked.append((asked, page.items))
        result = page.body.get("result") if isinstance(page.body, dict) else None
        following = result.get("toVersion") if isinstance(result, dict) else None
        if not isinstance(following, str) or not following:
            raise ResponseFormatError(f"{NAME}: a GetFeed answer without a toVersion")
        asked = following
    assert asked is not None  # at least one page was read
    return walked, asked


def _record_time(record: Any) -> datetime | None:
    try:
        return parse_utc(record["dateTime"])
    except (KeyError, TypeError, ValueError):
        return None


def _device_id(record: Any) -> str | None:
    device = record.get("device") if isinstance(record, dict) else None
    value = device.get("id") if isinstance(device, dict) else None
    return value if isinstance(value, str) and value else None


def _roster(
    client: TelemetryClient, provider: Provider, window: Window, wanted: set[str | None]
) -> dict[str, Record]:
    """The devices by id, read once a run (again when a record names a device not in it)."""
    roster = window.run.get(_RUN_ROSTER)
    if not isinstance(roster, dict) or not wanted <= roster.keys():
        roster = {d["id"]: d for d in client.fetch_all(provider.endpoint("devices"))}
        window.run[_RUN_ROSTER] = roster
    return roster


# -- flatten -----------------------------------------------------------------------------------
@hookimpl
def fth_flatten_telemetry(provider: Provider, batch: TelemetryBatch[Any]) -> Mapping[str, Any]:
    roster, records = batch.items
    ids = [_device_id(r) for r in records]
    devices = [roster.get(i) or {} for i in ids]
    times = [_record_time(r) for r in records]
    reasons = [
        "missing vehicle id"
        if i is None
        else None
        if t is not None
        else f"unparseable timestamp '{r.get('dateTime')}'"
        for i, t, r in zip(ids, times, records, strict=True)
    ]
    kmh = pa.array([r.get("speed") for r in records], pa.float64())
    return {
        "provider_vehicle_id": ids,
        "vin": [clean_vin(d.get("vehicleIdentificationNumber")) for d in devices],
        "fleet_number": [d.get("name") for d in devices],
        "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        "latitude": pa.array([r.get("latitude") for r in records], pa.float64()),
        "longitude": pa.array([r.get("longitude") for r in records], pa.float64()),
        "speed_mph": pc.divide(kmh, KM_PER_MILE),
        "reason": reasons,
    }
