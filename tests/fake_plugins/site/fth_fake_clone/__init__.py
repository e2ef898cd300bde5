"""A second distribution that registers provider ``fakefleet`` (a conflict)."""

from __future__ import annotations

from collections.abc import Sequence

from fth_core.auth import HeaderAuth
from fth_core.endpoints import EndpointDefinition
from fth_core.hookspecs import hookimpl
from fth_core.spec import ProviderSpec, Quota


@hookimpl
def fth_register_providers() -> Sequence[ProviderSpec]:
    endpoint = EndpointDefinition(provider="fakefleet", name="things", path="/things")
    return [
        ProviderSpec(
            name="fakefleet",
            endpoints=[endpoint],
            default_base_url="https://clone.invalid",
            auth=HeaderAuth("X-Api-Key"),
            quota=Quota(requests_per_second=1),
        )
    ]
