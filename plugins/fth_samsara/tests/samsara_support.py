"""Helpers shared by the Samsara plugin's tests (imported by module name, like pytest's own
rootdir-less test modules)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fth_core.sim import Fleet

SAMSARA_ID_BASE = 281474976710000
SAMSARA_DRIVER_ID_BASE = 52_000_000
DAY = datetime(2026, 3, 2, tzinfo=UTC)


def samsara_fleet(vehicles: int = 20, seed: int = 7) -> Fleet:
    """A fleet with Samsara-looking ids (15-digit vehicle ids)."""
    return Fleet(
        seed,
        vehicles,
        id_base=SAMSARA_ID_BASE,
        driver_id_base=SAMSARA_DRIVER_ID_BASE,
        epoch=date(2026, 1, 1),
    )
