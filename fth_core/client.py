"""Layer 2: the provider-agnostic HTTP client.

:class:`TelemetryClient` executes :class:`~fth_core.endpoints.RequestSpec` s for one provider
over one pool of connections (httpx, over fth's own transport for direct connections; see
:mod:`fth_core.transport`). All resilience lives in :meth:`TelemetryClient.send`, one code
path for every request:

* retries (tenacity) on connection errors, timeouts, 408, 429, 500, 502, 503, 504 — never on
  other 4xx — with exponential backoff and jitter scaled by ``retry_backoff_factor``; up to
  ``max_retries`` retries for errors and ``max_rate_limit_retries`` for 429s;
* ``Retry-After`` in seconds (fractional too) or as an HTTP-date; missing or ≤ 0 falls back to
  the backoff. A 429 pauses the provider's whole :class:`~fth_core.ratelimit.RateGovernor`;
* the governor's token bucket and concurrency bound before every attempt.

Paging (:meth:`iter_pages`) follows the endpoint's pagination style and stops with an error on
a repeated cursor or past ``max_pages``.

Bodies are decoded to plain JSON (dicts and lists) unless the call passes a ``decoder``: a
typed ``msgspec.json.Decoder`` (a Struct per page, for the bulk telemetry path: no dict per
point) or any ``bytes -> object`` callable. Pagination and item extraction read keys from
either form.
"""

from __future__ import annotations

import math
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from fth_core.closing import Closing
from fth_core.endpoints import EndpointDefinition, ParsedResponse, RequestSpec
from fth_core.errors import (
    APIError,
    ConfigError,
    FthError,
    PaginationError,
    ResponseFormatError,
    TransportError,
)
from fth_core.logs import get_logger, redact, register_secret
from fth_core.pagination import PaginationState
from fth_core.ratelimit import RateGovernor
from fth_core.transport import direct_transport

__all__ = ["BodyDecoder", "ClientStats", "TelemetryClient", "parse_retry_after"]

BodyDecoder = msgspec.json.Decoder[Any] | Callable[[bytes], Any]
"""What ``decoder=`` accepts: a ``msgspec.json.Decoder`` (typed or not) or ``bytes -> body``."""

log = get_logger("fth.client")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 300.0


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


@dataclass
class ClientStats:
    """Counters for the run summary. ``wait_seconds`` (time spent waiting for the rate governor,
    summed over threads) is filled in by :attr:`fth_core.provider.Provider.stats`."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0
    wait_seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "errors": self.errors,
            "wait_seconds": self.wait_seconds,
        }


class _Retryable(Exception):
    """An attempt that failed in a way worth retrying; ``error`` is what to raise at the end."""

    def __init__(
        self, error: FthError, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(str(error))
        self.error = error
        self.status = status
        self.retry_after = retry_after


def _error_detail(response: httpx.Response) -> str | None:
    """The provider's own error text: Motive ``error_message``, Samsara ``message``, or text.

    Redacted: a provider that quotes the rejected key back must not put it in our errors.
    """
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        text = response.text.strip()
        return redact(" ".join(text.split()))[:200] or None
    if isinstance(body, dict):
        for key in ("error_message", "message", "error"):
            if isinstance(body.get(key), str):
                return redact(str(body[key]))[:200]
    return None


class TelemetryClient(Closing):
    """One provider's HTTP client: pooled connections, retries, rate limits, pagination."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        auth_headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = (10.0, 30.0),
        max_retries: int = 3,
        retry_backoff_factor: float = 1.0,
        max_rate_limit_retries: int = 10,
        verify_ssl: bool | str = True,
        use_truststore: bool = False,
        proxy: str | None = None,
        governor: RateGovernor | None = None,
        max_pages: int = 10_000,
        user_agent: str = "fth",
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.retry_backoff_factor = retry_backoff_factor
        self.max_rate_limit_retries = max_rate_limit_retries
        self.governor = governor or RateGovernor(1_000.0, 1_000, 64)
        self.max_pages = max_pages
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()  # many threads share one client
        if proxy is not None and urlsplit(proxy).password:
            register_secret(str(urlsplit(proxy).password))
        for value in (auth_headers or {}).values():
            register_secret(value)
            register_secret(value.split(" ", 1)[-1])
        connect, read = timeout
        limit = self.governor.max_concurrency
        verify = _ssl_context(verify_ssl, use_truststore)
        # Direct connections (no proxy) skip the httpx.Client's per-request machinery: see
        # _exchange.
        self._direct = direct_transport(verify, proxy)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "User-Agent": user_agent,
                "Accept": "application/json",
                **(auth_headers or {}),
            },
            timeout=httpx.Timeout(read, connect=connect),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            verify=verify,
            proxy=proxy,
            transport=self._direct,
            trust_env=True,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"TelemetryClient(provider={self.provider!r}, base_url={self.base_url!r})"

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    # -- one request, with retries ---------------------------------------------------------
    def send(
        self, request: RequestSpec, *, rate_key: str | None = None, rate: float | None = None
    ) -> httpx.Response:
        """Execute ``request`` with the retry policy; returns a 2xx response or raises
        :class:`APIError` / :class:`TransportError`."""
        counts = {"errors": 0, "rate_limited": 0}

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if not isinstance(exc, _Retryable):
                return True
            if exc.status == 429:
                return counts["rate_limited"] > self.max_rate_limit_retries
            return counts["errors"] > self.max_retries

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.status == 429:
                return 0.0  # the governor's pause already holds every thread back
            return self._backoff(counts["errors"])

        def before_sleep(state: RetryCallState) -> None:
            self._count("retries")
            exc = state.outcome.exception() if state.outcome else None
            log.debug("%s: retrying %s after: %s", self.provider, request.describe(), exc)

        retrying = Retrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    try:
                        return self._attempt(request, rate_key, rate)
                    except _Retryable as exc:
                        key = "rate_limited" if exc.status == 429 else "errors"
                        counts[key] += 1
                        if exc.status == 429:
                            # Pause the whole quota: Retry-After, else a backoff that grows
                            # with the 429s this request has met.
                            self.governor.pause(
                                exc.retry_after
                                if exc.retry_after is not None
                                else self._backoff(counts["rate_limited"])
                            )
                        raise
        except _Retryable as exc:
            self._count("errors")
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _count(self, counter: str) -> None:
        with self._stats_lock:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, capped."""
        ceiling = min(MAX_BACKOFF_SECONDS, self.retry_backoff_factor * 2.0 ** max(failures - 1, 0))
        return ceiling / 2 + random.random() * ceiling / 2

    def _attempt(
        self, request: RequestSpec, rate_key: str | None, rate: float | None
    ) -> httpx.Response:
        method, path = request.method, request.path
        with self.governor.slot(rate_key, rate):
            started = time.monotonic()
            self._count("requests")
            try:
                response = self._exchange(request)
            except httpx.TimeoutException as exc:
                reason = f"timed out ({type(exc).__name__})"
                raise _Retryable(TransportError(self.provider, method, path, reason)) from None
            except httpx.TransportError as exc:
                # Redacted: httpx quotes what it could not parse, e.g. a malformed header line
                # in which the server echoed our key.
                reason = redact(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__
                raise _Retryable(TransportError(self.provider, method, path, reason)) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug(
            "%s: %s -> %s (%d bytes, %.0f ms)",
            self.provider,
            request.describe(),
            response.status_code,
            len(response.content),
            elapsed_ms,
        )
        status = response.status_code
        if status < 400:
            return response
        error = APIError(self.provider, method, path, status, _error_detail(response))
        if status == 429:
            self._count("rate_limited")
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _Retryable(error, status, retry_after)
        if status in RETRY_STATUSES:
            raise _Retryable(error, status)
        raise error

    def _exchange(self, request: RequestSpec) -> httpx.Response:
        """One HTTP exchange of ``request``, its body read.

        Through a proxy, the ``httpx.Client`` does it all. A direct connection gets the request
        httpx's client would build (the client's URL and headers, its timeouts) handed straight
        to the transport: on every request the client also runs its cookie jar both ways (two
        ``urllib`` request adapters each time), an auth flow and redirect bookkeeping, none of
        which fth uses — keys travel in headers, redirects are not followed, and neither API
        sets cookies. That machinery cost a quarter of a millisecond of CPU per request, more
        than the transport itself (``bench/bench_transport.py``).
        """
        if self._direct is None:
            return self._http.request(
                request.method,
                request.path,
                params=list(request.params),
                headers=dict(request.headers),
            )
        headers = self._http.headers.copy()
        headers.update(request.headers)
        base = self._http.base_url  # joined to a path as the client joins them
        outgoing = httpx.Request(
            request.method,
            base.copy_with(raw_path=base.raw_path + request.path.lstrip("/").encode("ascii")),
            params=list(request.params),
            headers=headers,
            extensions={"timeout": self._http.timeout.as_dict()},
        )
        started = time.monotonic()
        response = self._direct.handle_request(outgoing)
        response.request = outgoing
        response.read()
        response.elapsed = timedelta(seconds=time.monotonic() - started)
        return response

    # -- endpoints and pages ---------------------------------------------------------------
    def fetch(
        self,
        endpoint: EndpointDefinition,
        params: Mapping[str, Any] | None = None,
        state: PaginationState | None = None,
        *,
        typed: bool = True,
        headers: Mapping[str, str] | None = None,
        decoder: BodyDecoder | None = None,
    ) -> ParsedResponse:
        """One page of ``endpoint``: build, send, decode, parse.

        ``decoder`` replaces the generic JSON decode for this call (see the module doc); a body
        it rejects (invalid JSON, or JSON that does not fit its type) is a
        :class:`ResponseFormatError`, like invalid JSON on the generic path.
        """
        request = endpoint.build_request(params, state, headers)
        response = self.send(request, rate_key=endpoint.key, rate=endpoint.rate_limit)
        body = self.decode(request, response.content, decoder)
        return endpoint.parse_response(body, state, typed=typed)

    def decode(self, request: RequestSpec, content: bytes, decoder: BodyDecoder | None) -> Any:
        """``content``, the body answering ``request``, decoded as :meth:`fetch` decodes it:
        for a caller that sends on one thread and decodes on another. A body the decoder
        rejects is a :class:`ResponseFormatError` naming the request."""
        where = f"{self.provider}: {request.method} {request.path}"
        try:
            if decoder is None:
                return msgspec.json.decode(content)
            if isinstance(decoder, msgspec.json.Decoder):
                return decoder.decode(content)
            return decoder(content)
        except msgspec.ValidationError as exc:
            raise ResponseFormatError(f"{where} returned an unexpected body ({exc})") from None
        except msgspec.DecodeError as exc:
            raise ResponseFormatError(f"{where} returned invalid JSON ({exc})") from None
        except ValueError as exc:  # another decoder's invalid input (orjson, json, pydantic)
            raise ResponseFormatError(f"{where} returned an unexpected body ({exc})") from None

    def iter_pages(
        self,
        endpoint: EndpointDefinition,
        params: Mapping[str, Any] | None = None,
        *,
        typed: bool = True,
        headers: Mapping[str, str] | None = None,
        decoder: BodyDecoder | None = None,
    ) -> Iterator[ParsedResponse]:
        """Every page of ``endpoint`` in order, until its pagination says the walk is done."""
        state: PaginationState | None = PaginationState()
        while state is not None:
            page = self.fetch(
                endpoint, params, state, typed=typed, headers=headers, decoder=decoder
            )
            yield page
            state = page.next_state
            if state is not None and state.pages_fetched >= self.max_pages:
                raise PaginationError(
                    f"{endpoint.key}: more than {self.max_pages} pages; raise max_pages if real"
                )

    def fetch_all(
        self,
        endpoint: EndpointDefinition,
        params: Mapping[str, Any] | None = None,
        *,
        typed: bool = True,
        headers: Mapping[str, str] | None = None,
        decoder: BodyDecoder | None = None,
    ) -> list[Any]:
        """All items of ``endpoint`` across pages."""
        items: list[Any] = []
        pages = self.iter_pages(endpoint, params, typed=typed, headers=headers, decoder=decoder)
        for page in pages:
            items.extend(page.items)
        return items


def _ssl_context(verify_ssl: bool | str, use_truststore: bool) -> ssl.SSLContext | bool:
    if use_truststore:
        try:
            import truststore
        except ImportError:
            raise FthError(
                "use_truststore needs the truststore package: pip install 'fth-core[truststore]'"
            ) from None
        context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return context
    if isinstance(verify_ssl, str):
        # expanduser: the config check accepts "~/ca.pem", so the client must read it too.
        try:
            return ssl.create_default_context(cafile=os.path.expanduser(verify_ssl))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"verify_ssl: cannot load CA bundle {verify_ssl}: {exc}") from None
    return verify_ssl
