"""Fixtures for the Samsara plugin's tests: a Samsara-looking fleet and its simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from samsara_support import DAY, samsara_fleet

from fth_core.sim import Fleet
from fth_samsara.simulator import SamsaraSimulator


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return samsara_fleet()


@pytest.fixture
def simulator(fleet: Fleet) -> SamsaraSimulator:
    return SamsaraSimulator(fleet, as_of=DAY + timedelta(days=10))
