"""What an answer means: a provider's classifier reads status, headers and body and says
whether it succeeded, should be retried, was rate limited, met an expired session, was refused
for its credentials, or failed for good.

Providers disagree on where they say it: REST APIs use the HTTP status, JSON-RPC APIs answer
HTTP 200 with an ``error`` member. The client acts only on the :class:`Outcome`, so an error
that arrives in a 200 gets the same retries, quota pauses and clear messages as an HTTP one,
and nothing counts as success that the provider did not say was success.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx
import msgspec

from fth_core.logs import redact

__all__ = [
    "Answer",
    "Classifier",
    "Outcome",
    "Verdict",
    "error_detail",
    "http_status",
    "parse_retry_after",
]

MAX_RETRY_AFTER_SECONDS = 300.0
RETRY_STATUSES = frozenset({408, 500, 502, 503, 504})


class Verdict(StrEnum):
    OK = "ok"
    RETRY = "retry"  # transient: back off and ask again
    RATE_LIMITED = "rate_limited"  # pause the request's quota scope, then ask again
    SESSION_EXPIRED = "session_expired"  # log in again (once), then ask again
    UNAUTHORIZED = "unauthorized"  # the credentials are wrong: fatal
    FATAL = "fatal"


@dataclass(frozen=True)
class Outcome:
    """A classifier's answer. ``wait``: seconds a rate-limited answer asked for (``None``: the
    client backs off on its own). ``message``: the provider's own words, for the error."""

    verdict: Verdict
    wait: float | None = None
    message: str | None = None


_OK = Outcome(Verdict.OK)


class Answer:
    """One HTTP answer as a classifier sees it. ``json()`` decodes the body once and keeps the
    result (or raises ``msgspec.DecodeError`` each time it is asked, for a body that is not
    JSON), so a classifier and the caller share one decode."""

    __slots__ = ("_json", "content", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status = status
        # Looked up in any case, as HTTP header names are.
        self.headers = headers if isinstance(headers, httpx.Headers) else httpx.Headers(headers)
        self.content = content
        self._json: Any = _UNREAD

    def json(self) -> Any:
        if self._json is _UNREAD:
            try:
                self._json = msgspec.json.decode(self.content)
            except msgspec.DecodeError as exc:
                self._json = exc
        if isinstance(self._json, msgspec.DecodeError):
            raise self._json
        return self._json


_UNREAD: Any = object()

Classifier = Callable[[Answer], Outcome]
"""How a provider reads its answers; see :func:`http_status` for the default."""


def http_status(answer: Answer) -> Outcome:
    """The HTTP rules: 2xx ok; 401 and 403 unauthorized; 429 rate limited (its
    ``Retry-After``); 408, 500, 502, 503 and 504 retried; 3xx and every other status fatal."""
    status = answer.status
    if 200 <= status < 300:
        return _OK
    if 300 <= status < 400:
        location = answer.headers.get("location")
        where = f" to {redact(location)}" if location else ""
        return Outcome(Verdict.FATAL, message=f"redirected{where}")
    text = error_detail(answer)
    if status in (401, 403):
        return Outcome(Verdict.UNAUTHORIZED, message=text)
    if status == 429:
        wait = parse_retry_after(answer.headers.get("retry-after"))
        return Outcome(Verdict.RATE_LIMITED, wait, text)
    if status in RETRY_STATUSES:
        return Outcome(Verdict.RETRY, message=text)
    return Outcome(Verdict.FATAL, message=text)


def error_detail(answer: Answer) -> str | None:
    """The provider's own error text: a JSON ``error_message`` (Motive), ``message``
    (Samsara) or ``error`` string, else the body's text; redacted and cut to 200 characters
    (a provider that quotes a rejected key back must not put it in our errors)."""
    try:
        body = answer.json()
    except msgspec.DecodeError:
        body = None
    if isinstance(body, dict):
        for key in ("error_message", "message", "error"):
            if isinstance(body.get(key), str):
                return redact(str(body[key]))[:200]
        return None
    text = answer.content.decode("utf-8", "replace").strip()
    return redact(" ".join(text.split()))[:200] or None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header; ``None`` when absent, ≤ 0 or unreadable.

    Accepts delta-seconds (``"2"``, ``"0.40235"``) and HTTP-dates. Capped at five minutes so a
    bogus far-future date cannot stall a nightly run indefinitely.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds) or seconds <= 0:  # "nan", "inf" or non-positive
        return None
    return min(seconds, MAX_RETRY_AFTER_SECONDS)
