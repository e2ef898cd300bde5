"""A provider plugin for a JSON-RPC, session-authenticated API (``rpcfleet``, shaped like
Geotab's), written against fth_core's public API only, with its own simulator.

It exists to prove that contract v2 lets a third party write a plugin for an API that is not
REST-shaped; tests/test_rpc_plugin.py runs the core's conformance kit and more against it.

The API
    One URL, ``POST /apiv1``, body ``{"id": -1, "method": M, "params": {...}}``. Answers are
    ``{"result": ..., "jsonrpc": "2.0"}`` or, **in HTTP 200 too**, ``{"error": {"code",
    "name": "JSONRPCError", "message", "data": {"type": <Exception>, ...}, "errors": [{"name",
    "message"}]}}``. ``Authenticate`` (database, userName, password) returns credentials with a
    ``sessionId`` and a ``path`` ("ThisServer" or the host later calls must use); every other
    call carries ``params.credentials``. ``Get Device`` is sorted by id and seeks past
    ``sort.offset``, at most 5 per answer (a silent cap). ``GetFeed LogRecord`` reads the feed
    in version (ingestion) order from ``fromVersion``, or from ``search.fromDate`` when no
    version is given, and answers ``{"data": [...], "toVersion": <16 hex>}``; a page shorter
    than ``resultsLimit`` means caught up.

How answers are classified (:func:`classify`)
    A status other than 200 reads as HTTP (:func:`fth_core.classify.http_status`). In a 200:
    an ``error`` is named by ``data.type`` (else ``errors[0].name``) — ``OverLimitException``
    is rate limited (its ``Retry-After``), ``InvalidUserException`` an expired session (on the
    login itself the client makes it a fatal AuthError), ``DbUnavailableException`` saying
    "Initializing" transient; anything else fatal as ``"<Exception>: <message>"``. No
    ``result`` and no ``error``: fatal.

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

import math
import re
import secrets
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from fth_core import (
    Answer,
    Credentials,
    EndpointDefinition,
    Outcome,
    ParamKind,
    ParamSpec,
    Provider,
    ProviderSpec,
    Quota,
    RequestSpec,
    ResponseFormatError,
    SeekPagination,
    Session,
    SessionAuth,
    TelemetryBatch,
    TelemetryClient,
    TokenPagination,
    Verdict,
    Window,
    enforce_telemetry_schema,
    hookimpl,
)
from fth_core.classify import http_status, parse_retry_after
from fth_core.endpoints import format_utc, parse_utc
from fth_core.sim import Fleet, SimRequest, SimResponse, SimulatedProvider

__all__ = [
    "DEVICES",
    "LOG_RECORDS",
    "NAME",
    "RpcCredentials",
    "RpcFleetSettings",
    "RpcFleetSimulator",
    "classify",
    "fth_fetch_telemetry",
    "fth_flatten_telemetry",
    "fth_register_providers",
    "read_session",
]

NAME = "rpcfleet"
PATH = "/apiv1"
KM_PER_MILE = 1.609344
DEVICE_CAP = 5  # Get Device answers at most this many, silently (Geotab: 5,000)
FEED_CAP = 50_000  # GetFeed answers at most this many, silently (as Geotab)
FEED_SEED_MARGIN = timedelta(hours=1)  # a feed seeded by date starts this much earlier
BATCH_SIZE = 50_000  # records per batch handed to flatten
VERSION = "log_records_version"
SINCE = "log_records_since"
_RUN_FEED = f"{NAME}.feed"
_RUN_ROSTER = f"{NAME}.roster"
_VERSION_TEXT = re.compile(r"[0-9a-fA-F]{16}")


# -- credentials, settings, auth ---------------------------------------------------------------
class RpcCredentials(Credentials):
    """``providers.rpcfleet.{database, username, password}``; the password is the secret."""

    database: str
    username: str
    password: SecretStr


class RpcFleetSettings(BaseModel):
    """``providers.rpcfleet.options``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feed_page_size: int = Field(
        default=FEED_CAP, ge=1, le=FEED_CAP, description="LogRecords asked per GetFeed call"
    )


def login_request(credentials: RpcCredentials) -> RequestSpec:
    params = {
        "database": credentials.database,
        "userName": credentials.username,
        "password": credentials.password.get_secret_value(),
    }
    return RequestSpec("POST", PATH, body={"id": -1, "method": "Authenticate", "params": params})


def read_session(body: Any) -> Session:
    """The session in an Authenticate result; a ``path`` other than ``ThisServer`` names the
    server every later call must use."""
    result = body["result"]
    given = result["credentials"]
    session_id = given["sessionId"]
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("the credentials hold no sessionId")
    path = result.get("path")
    base_url = None if path in (None, "", "ThisServer") else f"https://{path}"
    value = {
        "database": given["database"],
        "userName": given["userName"],
        "sessionId": session_id,
    }
    return Session(value=value, base_url=base_url, secrets=(session_id,))


def apply_session(request: RequestSpec, session: Session) -> RequestSpec:
    return request.with_body_value("params.credentials", session.value)


# -- classification ----------------------------------------------------------------------------
def classify(answer: Answer) -> Outcome:
    """What an rpcfleet answer means (see the module doc)."""
    if answer.status != 200:
        return http_status(answer)
    try:
        body = answer.json()
    except msgspec.DecodeError:
        return Outcome(Verdict.FATAL, message="the answer is not JSON")
    if not isinstance(body, dict):
        return Outcome(Verdict.FATAL, message="the answer is not a JSON-RPC object")
    error = body.get("error")
    if error is not None:
        name, message = _error_name(error)
        text = f"{name}: {message}" if message else name
        if name == "OverLimitException":
            wait = parse_retry_after(answer.headers.get("retry-after"))
            return Outcome(Verdict.RATE_LIMITED, wait=wait, message=text)
        if name == "InvalidUserException":
            return Outcome(Verdict.SESSION_EXPIRED, message=text)
        if name == "DbUnavailableException" and "Initializing" in message:
            return Outcome(Verdict.RETRY, message=text)
        return Outcome(Verdict.FATAL, message=text)
    if "result" not in body:
        return Outcome(Verdict.FATAL, message="the answer holds neither result nor error")
    return Outcome(Verdict.OK)


def _error_name(error: Any) -> tuple[str, str]:
    """The exception's name and message: ``data.type``, else ``errors[0].name``."""
    if not isinstance(error, dict):
        return "JSONRPCError", str(error)
    first = error.get("errors")
    first = first[0] if isinstance(first, list) and first and isinstance(first[0], dict) else {}
    data = _mapping(error.get("data"))
    name = data.get("type") or first.get("name") or error.get("name") or "JSONRPCError"
    message = error.get("message") or first.get("message") or ""
    return str(name), str(message)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# -- endpoints ---------------------------------------------------------------------------------
def _feed_pagination(limit: int) -> TokenPagination:
    return TokenPagination(
        limit=limit,
        limit_at="body.params.resultsLimit",
        token_from="result.toVersion",
        token_at="body.params.fromVersion",
    )


DEVICES = EndpointDefinition(
    NAME,
    "devices",
    PATH,
    "Every device: Get Device sorted by id, 5 a page (the server's silent cap).",
    method="POST",
    body={
        "id": -1,
        "method": "Get",
        "params": {"typeName": "Device", "sort": {"sortBy": "id", "sortDirection": "asc"}},
    },
    # A page shorter than the limit ends a seek walk: the limit must be the server's cap.
    pagination=SeekPagination(
        limit=DEVICE_CAP, limit_at="body.params.resultsLimit", after_at="body.params.sort.offset"
    ),
    items_key="result",
    scope="Get.Device",
)

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
    scope="GetFeed.LogRecord",
)


@hookimpl
def fth_register_providers() -> Sequence[ProviderSpec]:
    return [
        ProviderSpec(
            name=NAME,
            endpoints=(DEVICES, LOG_RECORDS),
            default_base_url="https://rpc.example",
            auth=SessionAuth(login=login_request, session=read_session, apply=apply_session),
            credentials=RpcCredentials,
            classify=classify,
            quota=Quota(requests_per_second=10, burst=10, max_concurrency=4),
            # Budgets per method and type; burst + 60 * rate is the per-minute allowance.
            scopes={
                "GetFeed.LogRecord": Quota(requests_per_second=0.5, burst=30),
                "Get.Device": Quota(requests_per_second=5, burst=300),
            },
            settings=RpcFleetSettings,
            description="Test plugin: a Geotab-shaped JSON-RPC API",
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
        "vin": [_vin(d.get("vehicleIdentificationNumber")) for d in devices],
        "fleet_number": [d.get("name") for d in devices],
        "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        "latitude": pa.array([r.get("latitude") for r in records], pa.float64()),
        "longitude": pa.array([r.get("longitude") for r in records], pa.float64()),
        "speed_mph": pc.divide(kmh, KM_PER_MILE),
        "reason": reasons,
    }


def _vin(value: Any) -> str | None:
    return value if isinstance(value, str) and value not in ("", "?") else None


# -- simulator ---------------------------------------------------------------------------------
_US = 1_000_000
_DAY = timedelta(days=1)
_LATEST_UPLOAD = timedelta(days=3)  # the fleet's late points arrive at most 60 h late
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def kmh(mph: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Speed as the wire sends it: whole km/h."""
    return np.rint(mph * KM_PER_MILE).astype(np.int64)


def rpc_error(exception: str, message: str, code: int = -32000) -> dict[str, Any]:
    """A JSON-RPC error as the provider sends it (in an HTTP 200)."""
    return {
        "error": {
            "code": code,
            "name": "JSONRPCError",
            "message": message,
            "data": {"type": exception, "id": str(uuid.uuid4()), "requestIndex": 0},
            "errors": [{"name": exception, "message": message}],
        },
        "jsonrpc": "2.0",
    }


def _ok(result: Any) -> SimResponse:
    return SimResponse.json(200, {"result": result, "jsonrpc": "2.0"})


@dataclass
class _Fault:
    exception: str
    message: str
    method: str | None
    retry_after: float | None
    times: int


@dataclass(frozen=True)
class _Block:
    """The feed's records uploaded on one UTC day, in version order."""

    version: npt.NDArray[np.int64]
    available: npt.NDArray[np.int64]  # µs
    time: npt.NDArray[np.int64]  # µs
    vehicle: npt.NDArray[np.int64]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    speed: npt.NDArray[np.int64]  # km/h


class RpcFleetSimulator(SimulatedProvider):
    """rpcfleet's wire format for a simulated fleet.

    Devices are the fleet's vehicles, ``id`` ``b0001``, ``b0002``... (zero-padded, so string
    order is numeric order), ``name`` the fleet number, ``vehicleIdentificationNumber`` the VIN
    or ``""``. LogRecords are the fleet's GPS points, in feed order: by upload time
    (``available_at``), then time, then device. A record's version is its upload second times
    2**16 plus its rank among the records uploaded in that second, in 16 hex digits; the feed
    from version ``v`` is the records with a version at or above ``v`` uploaded by the clock
    (:meth:`now`). A fromDate seeds ``v`` at the first record uploaded at or after that date
    (so it holds every record timed after it, and late uploads timed before it). A full page's
    ``toVersion`` is its last record's version plus one; a short page's is the head (the
    upload second after now): nothing can later appear below it.

    Knobs: :meth:`expire_sessions` (every session issued so far dies), ``refuse_sessions``
    (every session is refused, fresh ones too), :meth:`fail_next` (the next calls of a method
    answer a given exception). :meth:`rate_limited` sends ``OverLimitException`` in a 200 with
    ``Retry-After`` in whole seconds, rounded up (at least 1): the provider sends integers, and
    rounding down would send a client back before it may.
    """

    name = NAME

    def __init__(
        self,
        fleet: Fleet,
        api_key: str = "",
        as_of: datetime | None = None,
        *,
        bad_records: Any = None,
        database: str = "fleetdb",
        username: str = "sim.user@rpc.example",
        password: str = "rpc-Sim-Pa55word-7f3a9c",
    ) -> None:
        if bad_records is not None:
            raise ValueError("the rpcfleet simulator renders no bad records")
        super().__init__(fleet, api_key, as_of)
        self.database = database
        self.username = username
        self.password = password
        self.path = "ThisServer"
        self.refuse_sessions = False
        self.issued: list[str] = []  # every sessionId handed out
        self.faults_served: list[tuple[str, str]] = []  # (method, exception)
        self._sessions: set[str] = set()
        self._faults: list[_Fault] = []
        self._blocks: dict[date, _Block] = {}
        self._lock = threading.Lock()
        self.device_ids = tuple(f"b{v.index + 1:04d}" for v in fleet.vehicles)
        self._vehicle_index = {v.id: v.index for v in fleet.vehicles}

    # -- knobs -------------------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        return {"database": self.database, "username": self.username, "password": self.password}

    def expire_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

    def fail_next(
        self,
        exception: str,
        message: str,
        *,
        method: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls (of ``method``, or any) with ``exception``;
        ``retry_after`` adds that header (an OverLimitException's)."""
        with self._lock:
            self._faults.append(_Fault(exception, message, method, retry_after, times))

    # -- the wire ----------------------------------------------------------------------------
    def __call__(self, request: SimRequest) -> SimResponse:
        if request.method != "POST" or request.path.rstrip("/") != PATH:
            return SimResponse.text(404, "Not Found")
        call = request.json()
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return SimResponse.json(200, rpc_error("JSONRPCError", "Invalid JSON-RPC", -32700))
        fault = self._take_fault(call["method"])
        if fault is not None:
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(max(1, math.ceil(fault.retry_after)))
            return SimResponse.json(200, rpc_error(fault.exception, fault.message), headers)
        if not self.authorized(request):
            return self.unauthorized(request)
        return self.handle(request)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in (None, method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    self.faults_served.append((method, fault.exception))
                    return fault
        return None

    def authorized(self, request: SimRequest) -> bool:
        call = request.json()
        params = call.get("params") if isinstance(call, dict) else None
        if isinstance(call, dict) and call.get("method") == "Authenticate":
            return True  # Authenticate checks the password itself
        given = params.get("credentials") if isinstance(params, dict) else None
        if not isinstance(given, dict) or self.refuse_sessions:
            return False
        with self._lock:
            known = given.get("sessionId") in self._sessions
        return (
            known
            and given.get("database") == self.database
            and given.get("userName") == self.username
        )

    def unauthorized(self, request: SimRequest) -> SimResponse:
        message = f"Invalid session @ '{self.database}'"
        return SimResponse.json(200, rpc_error("InvalidUserException", message))

    def rate_limited(self, retry_after: float) -> SimResponse:
        message = "API calls quota exceeded."
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        return SimResponse.json(200, rpc_error("OverLimitException", message), headers)

    def handle(self, request: SimRequest) -> SimResponse:
        call = request.json()
        method = call["method"]
        params = _mapping(call.get("params"))
        if method == "Authenticate":
            return self._authenticate(params)
        if method == "Get" and params.get("typeName") == "Device":
            return self._devices(params)
        if method == "GetFeed" and params.get("typeName") == "LogRecord":
            return self._feed(params)
        if method in ("Get", "GetFeed"):
            return self._bad_argument(f"Unknown type '{params.get('typeName')}'")
        message = f"The method '{method}' could not be found."
        return SimResponse.json(200, rpc_error("MissingMethodException", message, -32601))

    def _bad_argument(self, message: str) -> SimResponse:
        return SimResponse.json(200, rpc_error("ArgumentException", message))

    def _authenticate(self, params: Mapping[str, Any]) -> SimResponse:
        database = params.get("database")
        if (
            database != self.database
            or params.get("userName") != self.username
            or params.get("password") != self.password
        ):
            message = f"Incorrect login credentials @ '{database}'"
            return SimResponse.json(200, rpc_error("InvalidUserException", message))
        session_id = secrets.token_hex(12)
        with self._lock:
            self._sessions.add(session_id)
            self.issued.append(session_id)
        credentials = {
            "database": self.database,
            "userName": self.username,
            "sessionId": session_id,
        }
        return _ok({"credentials": credentials, "path": self.path})

    def _devices(self, params: Mapping[str, Any]) -> SimResponse:
        limit = params.get("resultsLimit", DEVICE_CAP)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            return self._bad_argument("resultsLimit must be a positive integer")
        sort = _mapping(params.get("sort"))
        offset = sort.get("offset")
        devices = [
            {
                "id": self.device_ids[v.index],
                "name": v.fleet_number,
                "vehicleIdentificationNumber": v.vin or "",
            }
            for v in self.fleet.vehicles
        ]
        devices.sort(key=lambda d: d["id"])
        if isinstance(offset, str):
            devices = [d for d in devices if d["id"] > offset]
        return _ok(devices[: min(limit, DEVICE_CAP)])

    def _feed(self, params: Mapping[str, Any]) -> SimResponse:
        limit = params.get("resultsLimit", FEED_CAP)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            return self._bad_argument("resultsLimit must be a positive integer")
        limit = min(limit, FEED_CAP)
        now_us = _us(self.now())
        head = (now_us // _US + 1) << 16
        from_version = params.get("fromVersion")
        search = _mapping(params.get("search"))
        if from_version is not None:
            if not isinstance(from_version, str) or not _VERSION_TEXT.fullmatch(from_version):
                return self._bad_argument(f"fromVersion '{from_version}' is not a version")
            start = int(from_version, 16)
        elif isinstance(search.get("fromDate"), str):
            try:
                seed = _us(parse_utc(search["fromDate"]))
            except ValueError:
                return self._bad_argument(f"fromDate '{search['fromDate']}' is not a date")
            start = -(-seed // _US) << 16  # the first upload second at or after it
        else:
            return _ok({"data": [], "toVersion": f"{head:016x}"})
        data, last = self._records(start, limit, now_us)
        following = last + 1 if len(data) == limit else max(start, head)
        return _ok({"data": data, "toVersion": f"{following:016x}"})

    def _records(self, start: int, limit: int, now_us: int) -> tuple[list[Record], int]:
        """Up to ``limit`` records from version ``start`` uploaded by ``now_us``, and the last
        one's version."""
        if start >> 16 > now_us // _US:
            return [], start - 1  # past the head: nothing yet
        day = max(datetime.fromtimestamp((start >> 16), UTC).date(), self.fleet.epoch)
        last_day = datetime.fromtimestamp(now_us / _US, UTC).date()
        records: list[Record] = []
        last = start - 1
        while len(records) < limit and day <= last_day:
            block = self._block(day)
            low = int(np.searchsorted(block.version, start, "left"))
            high = int(np.searchsorted(block.available, now_us, "right"))
            high = min(high, low + limit - len(records))
            if high > low:
                records += self._render(block, low, high)
                last = int(block.version[high - 1])
            day += _DAY
        return records, last

    def _render(self, block: _Block, low: int, high: int) -> list[Record]:
        stamps = np.datetime_as_string(
            block.time[low:high].astype("datetime64[us]").astype("datetime64[ms]"), unit="ms"
        )
        return [
            {
                "id": f"b{version:X}",
                "device": {"id": self.device_ids[vehicle]},
                "dateTime": f"{stamp}Z",
                "latitude": latitude,
                "longitude": longitude,
                "speed": speed,
            }
            for version, vehicle, stamp, latitude, longitude, speed in zip(
                block.version[low:high].tolist(),
                block.vehicle[low:high].tolist(),
                stamps.tolist(),
                block.latitude[low:high].tolist(),
                block.longitude[low:high].tolist(),
                block.speed[low:high].tolist(),
                strict=True,
            )
        ]

    def _block(self, day: date) -> _Block:
        with self._lock:
            block = self._blocks.get(day)
        if block is not None:
            return block
        begin = datetime(day.year, day.month, day.day, tzinfo=UTC)
        points = self.fleet.points(begin - _LATEST_UPLOAD, begin + _DAY)
        available = pc.cast(points.column("available_at"), pa.int64()).to_numpy()
        inside = (available >= _us(begin)) & (available < _us(begin + _DAY))
        points = points.filter(pa.array(inside))
        available = available[inside]
        time = pc.cast(points.column("timestamp"), pa.int64()).to_numpy()
        vehicle = np.array(
            [self._vehicle_index[v] for v in points.column("vehicle_id").to_pylist()],
            dtype=np.int64,
        )
        order = np.lexsort((vehicle, time, available))
        available, time, vehicle = available[order], time[order], vehicle[order]
        seconds = available // _US
        starts = np.flatnonzero(np.diff(seconds, prepend=-1))
        rank = np.arange(len(seconds)) - np.repeat(starts, np.diff(np.append(starts, len(seconds))))
        assert not len(rank) or int(rank.max()) < 1 << 16
        block = _Block(
            version=(seconds << 16) | rank,
            available=available,
            time=time,
            vehicle=vehicle,
            latitude=points.column("latitude").to_numpy()[order],
            longitude=points.column("longitude").to_numpy()[order],
            speed=kmh(points.column("speed_mph").to_numpy()[order]),
        )
        with self._lock:
            self._blocks[day] = block
        return block

    # -- the oracle --------------------------------------------------------------------------
    def expected_telemetry(self, start: datetime, end: datetime) -> pa.Table:
        truth = self.fleet.telemetry(NAME, start, end, as_of=self.now())
        ids = [
            self.device_ids[self._vehicle_index[v]]
            for v in truth.column("provider_vehicle_id").to_pylist()
        ]
        speed = kmh(truth.column("speed_mph").to_numpy()) / KM_PER_MILE
        return enforce_telemetry_schema(
            {
                "provider_vehicle_id": ids,
                "vin": truth.column("vin"),
                "fleet_number": truth.column("fleet_number"),
                "timestamp": truth.column("timestamp"),
                "latitude": truth.column("latitude"),
                "longitude": truth.column("longitude"),
                "speed_mph": pa.array(speed, pa.float64()),
            },
            provider=NAME,
        )
