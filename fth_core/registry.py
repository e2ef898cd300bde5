"""Layer 3: the endpoint registry, filled from whatever provider plugins are installed.

Lookups are case-insensitive. The registry also owns each provider's :class:`ProviderSpec`
and which plugin registered it: a duplicate provider name is reported with both distributions
instead of one silently shadowing the other, and the fetch and flatten hooks are dispatched to
the owning plugin alone (:meth:`EndpointRegistry.hook_for`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pluggy

from fth_core.endpoints import EndpointDefinition
from fth_core.errors import EndpointNotFoundError, PluginConflictError, ProviderNotFoundError
from fth_core.plugins import Plugins, installed_plugins
from fth_core.spec import ProviderSpec

__all__ = ["EndpointRegistry"]


class EndpointRegistry:
    """Providers and their endpoints, by name."""

    def __init__(
        self,
        specs: Mapping[str, ProviderSpec] | None = None,
        owners: Mapping[str, str] | None = None,
        plugins: Plugins | None = None,
        plugin_keys: Mapping[str, str] | None = None,
    ) -> None:
        self._specs = {name.lower(): spec for name, spec in (specs or {}).items()}
        self.owners = {name.lower(): owner for name, owner in (owners or {}).items()}
        self.plugins = plugins if plugins is not None else Plugins()
        # provider → the name its plugin is registered under with pluggy (by default found
        # from the owning distribution)
        if plugin_keys is None:
            plugin_keys = {
                provider: info.key
                for provider, owner in self.owners.items()
                for info in self.plugins.infos
                if info.loaded and (info.distribution or info.name) == owner
            }
        self._plugin_keys = {k.lower(): v for k, v in plugin_keys.items()}
        self._callers: dict[tuple[str, str], pluggy.HookCaller] = {}

    @classmethod
    def instance(cls) -> EndpointRegistry:
        """The process's registry of the installed plugins, built once (the seed's singleton)."""
        return _installed_registry()

    @classmethod
    def from_plugins(cls, plugins: Plugins | None = None) -> EndpointRegistry:
        """Ask every loaded plugin (by default the process's :func:`installed_plugins`) for
        its providers (``fth_register_providers``)."""
        plugins = plugins if plugins is not None else installed_plugins()
        specs: dict[str, ProviderSpec] = {}
        owners: dict[str, str] = {}
        keys: dict[str, str] = {}
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
                keys[key] = impl.plugin_name
        return cls(specs, owners, plugins, keys)

    def hook_for(self, provider: str, hook: str) -> pluggy.HookCaller | None:
        """Hook ``hook`` as called for ``provider``: its own plugin's implementation, plus
        those of plugins that register no provider (wrappers); ``None`` when no plugin of
        this registry registered ``provider`` (a spec given by hand)."""
        key = self._plugin_keys.get(provider.lower())
        if key is None:
            return None
        caller = self._callers.get((key, hook))
        if caller is None:
            manager = self.plugins.manager
            others = {k for k in self._plugin_keys.values() if k != key}
            remove = [p for k in others if (p := manager.get_plugin(k)) is not None]
            caller = manager.subset_hook_caller(hook, remove)
            self._callers[(key, hook)] = caller
        return caller

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


@functools.cache
def _installed_registry() -> EndpointRegistry:
    return EndpointRegistry.from_plugins()
