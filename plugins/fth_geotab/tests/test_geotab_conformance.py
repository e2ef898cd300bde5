"""The core's conformance kit, run against the Geotab plugin and its simulator."""

from __future__ import annotations

from fth_core.testing import ProviderConformance


class TestGeotabConformance(ProviderConformance):
    provider_name = "geotab"
    vehicles = 6
