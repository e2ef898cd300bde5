"""Proactive rate limiting shared by every thread that talks to one provider.

:class:`RateGovernor` combines three things a provider's quota needs:

* a token bucket (implemented as GCRA: each request reserves the next slot on a shared
  timeline, so N threads together never exceed ``rate`` after the initial ``burst``);
* per-endpoint buckets for endpoint-specific tiers (Samsara: vehicles 25/s inside 150/s);
* named scopes, each a budget of its own inside the provider's (Geotab budgets each method
  and entity type apart) — a token bucket, or a :class:`WindowBudget` for a provider that
  counts calls per window (Geotab: per minute);
* a pause: a rate-limited answer stops every thread of the provider until the wait is over,
  since the quota it signals is shared, not per thread — or, for a request charged to a
  scope, every request of that scope;

plus a semaphore bounding requests in flight.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["RateGovernor", "TokenBucket", "WindowBudget"]


class TokenBucket:
    """``rate`` requests per second with bursts of up to ``burst``, thread-safe.

    :meth:`reserve` returns the monotonic time at which the caller may go; callers sleep until
    then outside the lock, so a slow sleeper never blocks the others' bookkeeping.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst ≥ 1")
        self.rate = rate
        self.burst = burst
        self._interval = 1.0 / rate
        self._tat = 0.0  # theoretical arrival time of the next conforming request
        self._lock = threading.Lock()

    def reserve(self, not_before: float = 0.0) -> float:
        with self._lock:
            now = max(time.monotonic(), not_before)
            tat = max(self._tat, now)
            go = max(now, tat - (self.burst - 1) * self._interval)
            self._tat = max(tat, go) + self._interval
            return go


class WindowBudget:
    """At most ``requests`` in any ``seconds``, thread-safe; :meth:`reserve` as
    :class:`TokenBucket`'s.

    For a provider that counts calls per window (Geotab: so many per minute). A token bucket
    cannot match it: one whose burst plus a window's refill stays within the count makes a
    short run wait for tokens the provider would have granted, and one that uses the whole
    count at once exceeds it over the first window. Reservations are handed out in order, each
    no earlier than ``seconds`` after the one ``requests`` places before it.
    """

    def __init__(self, requests: int, seconds: float) -> None:
        if requests < 1 or seconds <= 0:
            raise ValueError("requests must be ≥ 1 and seconds > 0")
        self.requests = requests
        self.seconds = seconds
        self._times: deque[float] = deque(maxlen=requests)
        self._lock = threading.Lock()

    def reserve(self, not_before: float = 0.0) -> float:
        with self._lock:
            go = max(time.monotonic(), not_before, self._times[-1] if self._times else 0.0)
            if len(self._times) == self.requests:
                go = max(go, self._times[0] + self.seconds)
            self._times.append(go)
            return go


class RateGovernor:
    """The shared request budget of one provider (see module doc)."""

    def __init__(
        self,
        requests_per_second: float,
        burst: int = 1,
        max_concurrency: int = 4,
        scopes: Mapping[str, tuple[float, int] | WindowBudget] | None = None,
    ):
        self.bucket = TokenBucket(requests_per_second, burst)
        self.max_concurrency = max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._endpoint_buckets: dict[str, TokenBucket] = {}
        self.scopes: dict[str, TokenBucket | WindowBudget] = {
            name: budget if isinstance(budget, WindowBudget) else TokenBucket(*budget)
            for name, budget in (scopes or {}).items()
        }
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._scope_paused_until: dict[str, float] = {}
        self.wait_seconds = 0.0  # time spent waiting for tokens or pauses, summed over threads

    def add_scope(self, name: str, requests_per_second: float, burst: int = 1) -> None:
        """Declare scope ``name`` (kept as it is when already declared)."""
        with self._lock:
            self.scopes.setdefault(name, TokenBucket(requests_per_second, burst))

    def pause(self, seconds: float, scope: str | None = None) -> None:
        """Stop the requests of ``scope`` (a declared one), else all requests, for
        ``seconds`` from now (extends, never shortens, a pause)."""
        until = time.monotonic() + seconds
        with self._lock:
            if scope in self.scopes:
                self._scope_paused_until[scope] = max(self._scope_paused_until.get(scope, 0), until)
            else:
                self._paused_until = max(self._paused_until, until)

    def _resume_at(self, scope: str | None) -> float:
        scoped = self._scope_paused_until.get(scope, 0.0) if scope is not None else 0.0
        return max(self._paused_until, scoped)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    def _endpoint_bucket(self, key: str, rate: float) -> TokenBucket:
        with self._lock:
            bucket = self._endpoint_buckets.get(key)
            if bucket is None:
                bucket = self._endpoint_buckets[key] = TokenBucket(rate, 1)
            return bucket

    def _sleep_until(self, moment: float) -> None:
        delay = moment - time.monotonic()
        if delay > 0:
            time.sleep(delay)
            with self._lock:
                self.wait_seconds += delay

    @contextmanager
    def slot(
        self,
        endpoint_key: str | None = None,
        endpoint_rate: float | None = None,
        scope: str | None = None,
    ) -> Iterator[None]:
        """Hold one in-flight slot for the duration of a request, after waiting for the rate
        (the provider's, the endpoint's tier and the request's scope).

        A paused request waits out its pause before it takes an in-flight slot or a token: held
        during the pause, either would stall the requests of other scopes too.
        """
        scoped = self.scopes.get(scope) if scope is not None else None
        while True:
            self._sleep_until(self._resume_at(scope))
            self._slots.acquire()
            go = self.bucket.reserve()
            if endpoint_key is not None and endpoint_rate is not None:
                go = max(go, self._endpoint_bucket(endpoint_key, endpoint_rate).reserve(go))
            if scoped is not None:
                go = max(go, scoped.reserve(go))
            self._sleep_until(go)
            if self._resume_at(scope) <= time.monotonic():
                break
            self._slots.release()  # a pause began while we waited: wait it out, then again
        try:
            yield
        finally:
            self._slots.release()
