"""MyGeotab's wire format as both sides see it: names, caps, units, the JSON-RPC envelope, how
an answer is classified, and the session login (PROVIDERS.md §7).

Everything is JSON-RPC on one URL, ``POST /apiv1``: ``{"id": -1, "method": M, "params": {...}}``
answered by ``{"result": ..., "jsonrpc": "2.0"}`` or, **in an HTTP 200 too**, by an ``error``
that names its exception twice (``error.data.type`` and ``error.errors[0].name``).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from pydantic import SecretStr

from fth_core.auth import Credentials, Session, SessionAuth
from fth_core.classify import Answer, Outcome, Verdict, http_status, parse_retry_after
from fth_core.endpoints import RequestSpec

__all__ = [
    "ENGINE_HOURS",
    "FEED_CAP",
    "GET_CAP",
    "IGNITION",
    "KM_PER_MILE",
    "LIMITS_PER_MINUTE",
    "METERS_PER_MILE",
    "NAME",
    "ODOMETER",
    "PATH",
    "RAW_ODOMETER",
    "STILL_ACTIVE",
    "UNKNOWN_DRIVER",
    "GeotabCredentials",
    "classify",
    "error_name",
    "rpc_error",
    "session_auth",
]

NAME = "geotab"
PATH = "/apiv1"
GET_CAP = 5_000  # Get answers at most this many results, silently
FEED_CAP = 50_000  # GetFeed cuts a larger resultsLimit to this, silently (5,000 for Device, User)
KM_PER_MILE = 1.609344
METERS_PER_MILE = 1609.344
IGNITION = "DiagnosticIgnitionId"  # StatusData.data 1 = on, 0 = off
ODOMETER = "DiagnosticOdometerAdjustmentId"  # metres; the odometer Geotab's own samples read
RAW_ODOMETER = "DiagnosticOdometerId"  # metres, as the engine reports it
ENGINE_HOURS = "DiagnosticEngineHoursId"  # seconds
UNKNOWN_DRIVER = "UnknownDriverId"  # a DriverChange's driver when nobody is logged in
STILL_ACTIVE = "2050-01-01T00:00:00.000Z"  # an activeTo meaning "not retired"
# Calls per minute and per (method, entity type), per user and database. GetFeed's is seen
# live; Get's is a documented range (600-900) taken at its low end; Authenticate's is per user.
LIMITS_PER_MINUTE = {"Authenticate": 10, "Get": 600, "GetCountOf": 600, "GetFeed": 60}


class GeotabCredentials(Credentials):
    """``providers.geotab.{database, username, password}``; the password is the secret (and
    the session id the login returns, which the client redacts as well)."""

    database: str
    username: str
    password: SecretStr


# -- the session ---------------------------------------------------------------------------------
def _login(credentials: Credentials) -> RequestSpec:
    if not isinstance(credentials, GeotabCredentials):
        raise TypeError(f"geotab: expected GeotabCredentials, got {type(credentials).__name__}")
    params = {
        "database": credentials.database,
        "userName": credentials.username,
        "password": credentials.password.get_secret_value(),
    }
    return RequestSpec("POST", PATH, body={"id": -1, "method": "Authenticate", "params": params})


def _read_session(body: Any) -> Session:
    """The session of an Authenticate result. A ``path`` other than ``ThisServer`` names the
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


def _apply(request: RequestSpec, session: Session) -> RequestSpec:
    return request.with_body_value("params.credentials", session.value)


def session_auth() -> SessionAuth:
    """One Authenticate per run and account, shared by every thread; Authenticate is limited
    to 10 calls a minute per user."""
    return SessionAuth(
        login=_login,
        session=_read_session,
        apply=_apply,
        logins_per_minute=LIMITS_PER_MINUTE["Authenticate"],
    )


# -- classification ------------------------------------------------------------------------------
def classify(answer: Answer) -> Outcome:
    """What an answer means. A status other than 200 reads as HTTP. In a 200: an ``error`` is
    named by ``data.type``, else ``errors[0].name`` — ``OverLimitException`` is rate limited
    (its ``Retry-After``), ``InvalidUserException`` an expired session (on Authenticate itself
    the client turns it into bad credentials), ``DbUnavailableException`` saying
    "Initializing" transient; any other error is fatal, as ``"<Exception>: <message>"``. An
    answer holding neither ``result`` nor ``error`` is fatal: nothing is success that the
    server did not say was."""
    if answer.status != 200:
        return http_status(answer)
    try:
        body = _ENVELOPE.decode(answer.content)
    except msgspec.ValidationError:
        return Outcome(Verdict.FATAL, message="the answer is not a JSON-RPC object")
    except msgspec.DecodeError:
        return Outcome(Verdict.FATAL, message="the answer is not JSON")
    error = body.error
    if error is not None:
        name, message = error_name(error)
        text = f"{name}: {message}" if message else name
        if name == "OverLimitException":
            wait = parse_retry_after(answer.headers.get("retry-after"))
            return Outcome(Verdict.RATE_LIMITED, wait=wait, message=text)
        if name == "InvalidUserException":
            return Outcome(Verdict.SESSION_EXPIRED, message=text)
        if name == "DbUnavailableException" and "Initializing" in message:
            return Outcome(Verdict.RETRY, message=text)
        return Outcome(Verdict.FATAL, message=text)
    if body.result is msgspec.UNSET:
        return Outcome(Verdict.FATAL, message="the answer holds neither result nor error")
    return Outcome(Verdict.OK)


class _Envelope(msgspec.Struct):
    """A JSON-RPC answer with its ``result`` left undecoded: classifying a page of thousands of
    records must not build them (the caller decodes them once, typed)."""

    error: Any = None
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def error_name(error: Any) -> tuple[str, str]:
    """An error's exception name and message: ``data.type``, else ``errors[0].name``, else the
    JSON-RPC ``name``."""
    if not isinstance(error, dict):
        return "JSONRPCError", str(error)
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    data = error.get("data")
    data = data if isinstance(data, dict) else {}
    name = data.get("type") or first.get("name") or error.get("name") or "JSONRPCError"
    message = error.get("message") or first.get("message") or ""
    return str(name), str(message)


def rpc_error(exception: str, message: str, code: int = -32000) -> dict[str, Any]:
    """An error answer as MyGeotab sends it (in an HTTP 200), naming ``exception`` in both
    places clients read it."""
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
