"""Layer 2: the provider-agnostic HTTP client.

:class:`TelemetryClient` executes :class:`~fth_core.endpoints.RequestSpec` s for one provider
over one pool of connections, through ``httpx.Client`` and nothing else: every request takes
the same path, proxy or not (a direct connection's transport is urllib3 under httpx's
documented transport API, :mod:`fth_core.transport`). All resilience lives in
:meth:`TelemetryClient.send`, one code path for every request:

* the provider's classifier (:mod:`fth_core.classify`) reads each answer — status, headers and
  body — and the client acts on its verdict, so an error inside an HTTP 200 is retried,
  paused for or reported exactly like an HTTP one, and only what the provider called a
  success is returned;
* retries (tenacity) of transient failures (connection errors, timeouts, "retry" verdicts)
  with exponential backoff and jitter scaled by ``retry_backoff_factor``, up to
  ``max_retries``; "rate limited" verdicts up to ``max_rate_limit_retries``, each pausing the
  request's quota scope for the wait the provider asked for (or a backoff);
* auth (:mod:`fth_core.auth`): requests are signed just before sending; a session is made by
  one login shared by all threads, and an answer that says the session expired makes one
  thread log in again while the others wait, after which the request is repeated once;
* limits an unattended run needs: an overall deadline per request (``deadline``, covering the
  connection, the head and the whole body, so a server trickling bytes cannot hold a run),
  a cap on an answer's size (``max_response_bytes``, checked on the decompressed bytes as
  they arrive), and no redirect followed unless the provider asks for it;
* the governor's token buckets and concurrency bound before every attempt.

Paging (:meth:`iter_pages`) follows the endpoint's pagination style and stops with an error on
a repeated cursor or page, or past ``max_pages``.

Bodies are decoded to plain JSON (dicts and lists) unless the call passes a ``decoder``: a
typed ``msgspec.json.Decoder`` (a Struct per page, for the bulk telemetry path: no dict per
point) or any ``bytes -> object`` callable. Pagination and item extraction read keys from
either form.
"""

from __future__ import annotations

import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import httpx
import msgspec
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from fth_core.auth import Auth, Session, secret_values
from fth_core.classify import (
    MAX_RETRY_AFTER_SECONDS,
    Answer,
    Classifier,
    Outcome,
    Verdict,
    http_status,
    parse_retry_after,
)
from fth_core.closing import Closing
from fth_core.endpoints import EndpointDefinition, ParsedResponse, RequestSpec
from fth_core.errors import (
    APIError,
    AuthError,
    ConfigError,
    FthError,
    PaginationError,
    ResponseFormatError,
    TransportError,
)
from fth_core.logs import get_logger, redact, register_secret
from fth_core.pagination import PaginationState
from fth_core.ratelimit import RateGovernor
from fth_core.transport import DEADLINE_MESSAGE, Urllib3Transport

__all__ = [
    "MAX_RETRY_AFTER_SECONDS",
    "BodyDecoder",
    "ClientStats",
    "TelemetryClient",
    "parse_retry_after",
]

BodyDecoder = msgspec.json.Decoder[Any] | Callable[[bytes], Any]
"""What ``decoder=`` accepts: a ``msgspec.json.Decoder`` (typed or not) or ``bytes -> body``."""

log = get_logger("fth.client")

MAX_BACKOFF_SECONDS = 30.0
LOGIN_SCOPE = "login"


@dataclass
class ClientStats:
    """Counters for the run summary. ``wait_seconds`` (time spent waiting for the rate governor,
    summed over threads) is filled in by :attr:`fth_core.provider.Provider.stats`."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0
    logins: int = 0
    wait_seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "errors": self.errors,
            "logins": self.logins,
            "wait_seconds": self.wait_seconds,
        }


class _Retryable(Exception):
    """An attempt that failed in a way worth retrying; ``error`` is what to raise at the end."""

    def __init__(self, error: FthError, rate_limited: bool = False, wait: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.rate_limited = rate_limited
        self.wait = wait


class _SessionExpired(Exception):
    """The answer said the session is no longer valid; ``generation`` is the session used."""

    def __init__(self, error: AuthError, generation: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.generation = generation


class TelemetryClient(Closing):
    """One provider's HTTP client: pooled connections, auth, classification, retries, rate
    limits, pagination. Thread-safe: a run's threads share one."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        auth: Auth | None = None,
        credentials: Any = None,
        classify: Classifier = http_status,
        timeout: tuple[float, float] = (10.0, 30.0),
        deadline: float = 300.0,
        max_response_bytes: int = 512 * 2**20,
        max_retries: int = 3,
        retry_backoff_factor: float = 1.0,
        max_rate_limit_retries: int = 10,
        verify_ssl: bool | str = True,
        use_truststore: bool = False,
        proxy: str | None = None,
        governor: RateGovernor | None = None,
        max_pages: int = 10_000,
        user_agent: str = "fth",
        follow_redirects: bool = False,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.credentials = credentials
        self.classify = classify
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self.max_retries = max_retries
        self.retry_backoff_factor = retry_backoff_factor
        self.max_rate_limit_retries = max_rate_limit_retries
        self.governor = governor or RateGovernor(1_000.0, 1_000, 64)
        self.max_pages = max_pages
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()  # many threads share one client
        self._login = auth.login_request(credentials) if auth is not None else None
        if self._login is not None and auth is not None:
            # A few logins may go at once (a refresh soon after the first login); beyond
            # that, the provider's limit per minute.
            self.governor.add_scope(LOGIN_SCOPE, auth.logins_per_minute / 60.0, 3)
        # The session and its generation (bumped by every login), replaced together.
        self._session: tuple[Session, int] | None = None
        self._session_lock = threading.Lock()
        if proxy is not None and urlsplit(proxy).password:
            register_secret(str(urlsplit(proxy).password))
        if credentials is not None:
            for secret in secret_values(credentials):
                register_secret(secret)
        connect, read = timeout
        limit = self.governor.max_concurrency
        verify = _ssl_context(verify_ssl, use_truststore)
        # With a proxy (configured, or from the environment) httpx's own transport does the
        # proxying; otherwise urllib3 frames HTTP under httpx (see fth_core.transport).
        direct = proxy is None and not any(scheme != "no" for scheme in getproxies())
        self._http = httpx.Client(
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            timeout=httpx.Timeout(read, connect=connect),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            verify=verify,
            proxy=proxy,
            transport=Urllib3Transport(verify=verify, max_connections=limit) if direct else None,
            trust_env=True,
            follow_redirects=follow_redirects,
        )

    def __repr__(self) -> str:
        return f"TelemetryClient(provider={self.provider!r}, base_url={self.base_url!r})"

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    # -- one request, with retries ---------------------------------------------------------
    def send(
        self,
        request: RequestSpec,
        *,
        rate_key: str | None = None,
        rate: float | None = None,
        signed: bool = True,
    ) -> Answer:
        """Execute ``request`` with the retry policy; returns an answer the provider's
        classifier called a success, or raises :class:`APIError` (:class:`AuthError` for
        credentials or a session refused), :class:`TransportError` or
        :class:`ResponseFormatError`. ``rate_key`` and ``rate`` name an endpoint's own tier;
        ``signed=False`` sends it without credentials (a login)."""
        counts = {"errors": 0, "rate_limited": 0}

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if not isinstance(exc, _Retryable):
                return True
            if exc.rate_limited:
                return counts["rate_limited"] > self.max_rate_limit_retries
            return counts["errors"] > self.max_retries

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.rate_limited:
                return 0.0  # the governor's pause already holds the scope's threads back
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
        refreshed = False
        while True:
            try:
                for attempt in retrying:
                    with attempt:
                        try:
                            return self._attempt(request, rate_key, rate, signed)
                        except _Retryable as exc:
                            counts["rate_limited" if exc.rate_limited else "errors"] += 1
                            if exc.rate_limited:
                                # Pause the scope: the wait asked for, else a backoff that
                                # grows with the rate-limited answers this request has met.
                                self.governor.pause(
                                    exc.wait
                                    if exc.wait is not None
                                    else self._backoff(counts["rate_limited"]),
                                    request.scope,
                                )
                            raise
            except _Retryable as exc:
                self._count("errors")
                raise exc.error from None
            except _SessionExpired as exc:
                if refreshed:  # a fresh session refused at once: not a matter of expiry
                    self._count("errors")
                    raise exc.error from None
                refreshed = True
                self._log_in(stale=exc.generation)

    def _count(self, counter: str) -> None:
        with self._stats_lock:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, capped."""
        ceiling = min(MAX_BACKOFF_SECONDS, self.retry_backoff_factor * 2.0 ** max(failures - 1, 0))
        return ceiling / 2 + random.random() * ceiling / 2

    # -- sessions --------------------------------------------------------------------------
    def _signed(self, request: RequestSpec) -> tuple[RequestSpec, str, int]:
        """``request`` signed, the base URL it goes to, and the session generation used."""
        if self.auth is None:
            return request, self.base_url, 0
        if self._login is None:
            return self.auth.sign(request, self.credentials, None), self.base_url, 0
        current = self._session
        if current is None:
            self._log_in(stale=0)
            current = self._session
            assert current is not None
        session, generation = current
        base = session.base_url or self.base_url
        return self.auth.sign(request, self.credentials, session), base, generation

    def _log_in(self, stale: int) -> None:
        """Log in, unless another thread already replaced the session of generation
        ``stale`` (then its new session serves this thread too)."""
        assert self.auth is not None
        assert self._login is not None
        with self._session_lock:
            current = self._session
            if current is not None and current[1] != stale:
                return
            self._count("logins")
            answer = self.send(replace(self._login, scope=LOGIN_SCOPE), signed=False)
            where = f"{self.provider}: login ({self._login.describe()})"
            try:
                session = self.auth.read_session(answer.json())
            except (msgspec.DecodeError, LookupError, TypeError, ValueError) as exc:
                raise ResponseFormatError(f"{where} returned no session ({exc})") from None
            for secret in session.secrets:
                register_secret(secret)
            generation = (current[1] if current is not None else 0) + 1
            self._session = (session, generation)
            log.debug("%s: logged in (session %d)", self.provider, generation)

    # -- one attempt -----------------------------------------------------------------------
    def _attempt(
        self, request: RequestSpec, rate_key: str | None, rate: float | None, signed: bool
    ) -> Answer:
        method, path = request.method, request.path
        generation = 0
        base = self.base_url
        if signed:
            outgoing, base, generation = self._signed(request)
        else:
            outgoing = request
        # Errors without an HTTP answer name the whole URL (no query: it may hold secrets),
        # so a wrong host or port shows at once.
        url = base.rstrip("/") + path
        with self.governor.slot(rate_key, rate, request.scope):
            started = time.monotonic()
            self._count("requests")
            try:
                answer = self._exchange(outgoing, base)
            except httpx.TimeoutException as exc:
                reason = f"timed out ({type(exc).__name__})"
                if str(exc) == DEADLINE_MESSAGE:
                    reason = f"no whole answer within the request deadline of {self.deadline:g} s"
                raise _Retryable(TransportError(self.provider, method, url, reason)) from None
            except httpx.DecodingError as exc:
                raise ResponseFormatError(
                    f"{self.provider}: {request.describe()} sent a body that does not "
                    f"decompress ({redact(str(exc))})"
                ) from None
            except httpx.TransportError as exc:
                # Redacted: httpx quotes what it could not parse, e.g. a malformed header line
                # in which the server echoed our key.
                reason = redact(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__
                if isinstance(exc, httpx.ConnectError) and "refused" in str(exc).lower():
                    reason = "connection refused"  # not "[Errno 111] Connection refused"
                raise _Retryable(TransportError(self.provider, method, url, reason)) from None
        log.debug(
            "%s: %s -> %s (%d bytes, %.0f ms)",
            self.provider,
            request.describe(),
            answer.status,
            len(answer.content),
            (time.monotonic() - started) * 1000,
        )
        try:
            outcome = self.classify(answer)
        except Exception as exc:  # a classifier bug reads as the answer it could not read
            raise ResponseFormatError(
                f"{self.provider}: {request.describe()}: the answer could not be classified "
                f"({type(exc).__name__}: {redact(str(exc))})"
            ) from None
        return self._act(request, answer, outcome, generation, signed)

    def _act(
        self, request: RequestSpec, answer: Answer, outcome: Outcome, generation: int, signed: bool
    ) -> Answer:
        verdict = outcome.verdict
        if verdict is Verdict.OK:
            return answer
        message = redact(outcome.message) if outcome.message else None
        args = (self.provider, request.method, request.path, answer.status, message)
        if verdict is Verdict.RATE_LIMITED:
            self._count("rate_limited")
            raise _Retryable(APIError(*args), rate_limited=True, wait=outcome.wait)
        if verdict is Verdict.RETRY:
            raise _Retryable(APIError(*args))
        if verdict is Verdict.SESSION_EXPIRED and signed and self._login is not None:
            raise _SessionExpired(AuthError(*args), generation)
        if verdict in (Verdict.SESSION_EXPIRED, Verdict.UNAUTHORIZED):
            raise AuthError(*args)
        raise APIError(*args)

    def _exchange(self, request: RequestSpec, base: str) -> Answer:
        """One HTTP exchange through ``httpx.Client``: the answer read whole, within the
        deadline and the size cap."""
        deadline = time.monotonic() + self.deadline
        content = None
        headers = dict(request.headers)
        if request.body is not None:
            content = msgspec.json.encode(request.body)
            headers.setdefault("Content-Type", "application/json")
        with self._http.stream(
            request.method,
            base + request.path,
            params=list(request.params),
            content=content,
            headers=headers,
            extensions={"deadline": deadline},
        ) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                self._too_large(request)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    self._too_large(request)
                if time.monotonic() > deadline:  # a transport that does not watch it (a proxy's)
                    raise httpx.ReadTimeout(DEADLINE_MESSAGE, request=response.request)
                chunks.append(chunk)
        content = b"".join(chunks)  # one chunk: that very object, not a copy
        return Answer(response.status_code, response.headers, content)

    def _too_large(self, request: RequestSpec) -> None:
        limit = self.max_response_bytes / 2**20
        raise ResponseFormatError(
            f"{self.provider}: {request.describe()} answered more than {limit:g} MiB "
            "(max_response_mb); refusing to hold it in memory"
        )

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
        answer = self.send(request, rate_key=endpoint.key, rate=endpoint.rate_limit)
        if decoder is None:
            try:
                body = answer.json()  # shared with the classifier, which may have decoded it
            except msgspec.DecodeError as exc:
                where = f"{self.provider}: {request.method} {request.path}"
                raise ResponseFormatError(f"{where} returned invalid JSON ({exc})") from None
        else:
            body = self.decode(request, answer.content, decoder)
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
        start: PaginationState | None = None,
    ) -> Iterator[ParsedResponse]:
        """Every page of ``endpoint`` in order, until its pagination says the walk is done;
        from ``start`` (a walk resumed from a stored token: ``PaginationState(cursor=…)``),
        else from the first page."""
        state: PaginationState | None = start or PaginationState()
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
