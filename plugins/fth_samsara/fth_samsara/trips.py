"""Trips over any span: ``/v1/fleet/trips`` answers at most 90 days per request."""

from __future__ import annotations

from datetime import datetime, timedelta

from fth_core.endpoints import parse_utc
from fth_core.provider import Provider
from fth_samsara.models import Trip

__all__ = ["MAX_TRIP_RANGE", "fetch_trips"]

MAX_TRIP_RANGE = timedelta(days=90)  # exactly 90 days is accepted; more is a 400


def fetch_trips(
    provider: Provider, vehicle_id: str, start: datetime | str, end: datetime | str
) -> list[Trip]:
    """Every finished trip of ``vehicle_id`` that overlaps ``[start, end]``, in start order.

    Longer spans are cut into requests of at most 90 days. Matching is by overlap, so a trip
    crossing a cut comes back twice: it is kept once (by ``startMs``).
    """
    low, high = parse_utc(start), parse_utc(end)
    if high < low:
        raise ValueError(f"end {high.isoformat()} is before start {low.isoformat()}")
    trips: dict[int, Trip] = {}
    while True:
        stop = min(low + MAX_TRIP_RANGE, high)
        for trip in provider.fetch_all("trips", vehicle_id=vehicle_id, start_ms=low, end_ms=stop):
            trips.setdefault(trip.start_ms, trip)
        if stop >= high:
            break
        low = stop
    return [trips[key] for key in sorted(trips)]
