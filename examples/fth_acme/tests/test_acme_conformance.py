"""The example plugin proves itself with the core's conformance kit, like any provider."""

from fth_core.testing import ProviderConformance


class TestAcmeConformance(ProviderConformance):
    provider_name = "acme"
