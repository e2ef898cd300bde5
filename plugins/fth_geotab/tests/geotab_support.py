"""Helpers shared by the Geotab plugin's tests (imported by module name, like pytest's own
rootdir-less test modules)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fth_core.sim import Fleet

DAY = datetime(2026, 3, 2, tzinfo=UTC)
EPOCH = date(2026, 2, 23)


def geotab_fleet(seed: int = 8) -> Fleet:
    """Six vehicles a week after the fleet's epoch. With the default seed: two without a VIN,
    one deactivated, late uploads and two driver handovers on :data:`DAY`."""
    return Fleet(
        seed,
        6,
        epoch=EPOCH,
        missing_vin_rate=0.3,
        deactivated_rate=0.2,
        late_rate=0.3,
    )
