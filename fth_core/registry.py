"""Layer 3: the endpoint registry, filled from whatever provider plugins are installed.

Lookups are case-insensitive. The registry also owns each provider's :class:`ProviderSpec`
and which distribution registered it, so a duplicate provider name is reported with both
distributions instead of one silently shadowing the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fth_core.endpoints import EndpointDefinition
from fth_core.errors import EndpointNotFoundError, PluginConflictError, ProviderNotFoundError
from fth_core.hookspecs import ProviderSpec
from fth_core.plugins import Plugins, load_plugins

__all__ = ["EndpointRegistry"]


class EndpointRegistry:
    """Providers and their endpoints, by name."""

    def __init__(
        self,
        specs: Mapping[str, ProviderSpec] | None = None,
        owners: Mapping[str, str] | None = None,
        plugins: Plugins | None = None,
    ) -> None:
        self._specs = {name.lower(): spec for name, spec in (specs or {}).items()}
        self.owners = {name.lower(): owner for name, owner in (owners or {}).items()}
        self.plugins = plugins if plugins is not None else Plugins()

    @classmethod
    def from_plugins(cls, plugins: Plugins | None = None) -> EndpointRegistry:
        """Ask every loaded plugin for its providers (``fth_register_providers``)."""
        plugins = plugins if plugins is not None else load_plugins()
        specs: dict[str, ProviderSpec] = {}
        owners: dict[str, str] = {}
        for impl in plugins.hook.fth_register_providers.get_hookimpls():
            owner = plugins.distribution_of(impl.plugin_name)
            try:
                registered = list(impl.function())
                for spec in registered:
                    if not isinstance(spec, ProviderSpec):
                        raise TypeError(f"returned {type(spec).__name__}, not ProviderSpec")
            except Exception as exc:  # a broken plugin is reported, the others still load
                plugins.record_error(impl.plugin_name, exc)
                continue
            for spec in registered:
                key = spec.name.lower()
                if key in specs:
                    raise PluginConflictError(
                        f"provider {spec.name!r} is registered by both {owners[key]} and {owner};"
                        " uninstall one, or set FTH_LOAD_PLUGINS to choose"
                    )
                specs[key] = spec
                owners[key] = owner
        return cls(specs, owners, plugins)

    def list_providers(self) -> list[str]:
        return sorted(self._specs)

    def spec(self, provider: str) -> ProviderSpec:
        try:
            return self._specs[provider.lower()]
        except KeyError:
            installed = ", ".join(self.list_providers()) or "none"
            raise ProviderNotFoundError(
                f"no installed plugin provides {provider!r} (installed: {installed})"
            ) from None

    def list_endpoints(self, provider: str | None = None) -> list[EndpointDefinition]:
        names = [provider] if provider is not None else self.list_providers()
        return [
            e for name in names for e in sorted(self.spec(name).endpoints, key=lambda e: e.name)
        ]

    def get(self, provider: str, name: str) -> EndpointDefinition:
        for endpoint in self.spec(provider).endpoints:
            if endpoint.name.lower() == name.lower():
                return endpoint
        known = ", ".join(e.name for e in self.list_endpoints(provider))
        raise EndpointNotFoundError(f"{provider} has no endpoint {name!r} (known: {known})")

    def has(self, provider: str, name: str | None = None) -> bool:
        if provider.lower() not in self._specs:
            return False
        if name is None:
            return True
        return any(e.name.lower() == name.lower() for e in self._specs[provider.lower()].endpoints)

    def find_by_path(self, path: str, provider: str | None = None) -> EndpointDefinition | None:
        """The endpoint whose path template matches a concrete path, e.g. ``/v1/vehicles``."""
        for endpoint in self.list_endpoints(provider):
            if endpoint.matches_path(path):
                return endpoint
        return None

    def describe(self, provider: str, name: str | None = None) -> dict[str, Any]:
        """Plain data for one endpoint, or for a provider and all its endpoints."""
        if name is not None:
            return self.get(provider, name).describe()
        spec = self.spec(provider)
        return {
            "name": spec.name,
            "distribution": self.owners.get(spec.name.lower()),
            "description": spec.description,
            "default_base_url": spec.default_base_url,
            "quota": {
                "requests_per_second": spec.quota.requests_per_second,
                "burst": spec.quota.burst,
                "max_concurrency": spec.quota.max_concurrency,
            },
            "endpoints": [e.describe() for e in self.list_endpoints(provider)],
        }
