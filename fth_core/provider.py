"""Layer 4: the provider facade — config + endpoints + one client, by provider name.

:class:`Provider` is what integrators and plugins hold: ``provider.fetch_all("vehicles")``
walks every page; ``provider.to_dataframe(...)`` gives a pandas frame; ``provider.client()`` is
the single pooled, rate-limited client of this provider for the whole run.
:class:`ProviderManager` builds every configured provider from an :class:`FthConfig`.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from fth_core.auth import Credentials, secret_values
from fth_core.client import ClientStats, TelemetryClient
from fth_core.closing import Closing
from fth_core.config import (
    FthConfig,
    ProviderConfig,
    did_you_mean,
    format_validation_error,
    plain_message,
)
from fth_core.endpoints import EndpointDefinition
from fth_core.errors import ConfigError, ProviderNotFoundError
from fth_core.logs import register_secret
from fth_core.ratelimit import RateGovernor, WindowBudget
from fth_core.registry import EndpointRegistry
from fth_core.spec import ProviderSpec, Quota

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Provider", "ProviderManager"]


def _default_registry() -> EndpointRegistry:
    return EndpointRegistry.from_plugins()


class Provider(Closing):
    """One configured provider. Thread-safe: share it across a run's worker threads."""

    def __init__(
        self,
        spec: ProviderSpec,
        config: ProviderConfig,
        registry: EndpointRegistry | None = None,
    ) -> None:
        self.spec = spec
        self.config = config
        # Credentials and options are both checked before either's mistakes are raised:
        # every mistake of the section in one pass.
        problems: list[str] = []
        try:
            self.credentials = _credentials(spec, config)
        except ConfigError as exc:
            problems += exc.problems
        try:
            self.settings = _settings(spec, config)
        except ConfigError as exc:
            problems += exc.problems
        if problems:
            raise ConfigError(problems)
        if self.credentials is not None:
            for secret in secret_values(self.credentials):
                register_secret(secret)
        self.registry = registry if registry is not None else EndpointRegistry({spec.name: spec})
        quota = spec.quota
        self.quota = Quota(
            requests_per_second=config.rate_limit.requests_per_second or quota.requests_per_second,
            burst=config.rate_limit.burst or quota.burst,
            max_concurrency=config.max_concurrency or quota.max_concurrency,
        )
        self._client: TelemetryClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        name: str,
        provider_config: ProviderConfig | Mapping[str, Any],
        registry: EndpointRegistry | None = None,
    ) -> Provider:
        """Build provider ``name`` (an installed plugin's) from its config section."""
        registry = registry if registry is not None else _default_registry()
        spec = registry.spec(name)
        if not isinstance(provider_config, ProviderConfig):
            try:
                provider_config = ProviderConfig.model_validate(provider_config)
            except ValidationError as exc:
                # Keys that are neither settings nor credentials are mistakes too: say so now.
                known = {*ProviderConfig.model_fields, *spec.credentials.model_fields}
                unknown = [
                    f"providers.{spec.name}.{key}: unknown key{did_you_mean(str(key), known)}"
                    for key in provider_config
                    if key not in known
                ]
                raise ConfigError(
                    format_validation_error(exc, ("providers", name), ProviderConfig) + unknown
                ) from None
        return cls(spec, provider_config, registry)

    def __repr__(self) -> str:
        return f"Provider(name={self.name!r}, base_url={self.base_url!r})"

    def __iter__(self) -> Iterator[Any]:
        # The seed's loop was `for name, provider in manager.enabled_providers()`: unpacking a
        # provider lands here, and says what the loop is now.
        raise TypeError(
            "enabled_providers() returns providers, not (name, provider) pairs: write "
            "`for provider in manager.enabled_providers():` and use provider.name"
        )

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def base_url(self) -> str:
        return self.config.base_url or self.spec.default_base_url

    def endpoint(self, name: str) -> EndpointDefinition:
        return self.registry.get(self.name, name)

    def client(self) -> TelemetryClient:
        """The provider's one pooled client, created on first use — and again after a caller
        closed it (``with provider.client() as client:`` closes it on leaving the block)."""
        with self._lock:
            if self._client is None or self._client.closed:
                spec = self.spec
                self._client = TelemetryClient(
                    self.name,
                    self.base_url,
                    auth=spec.auth if self.credentials is not None else None,
                    credentials=self.credentials,
                    classify=spec.classify,
                    timeout=self.config.request_timeout,
                    deadline=self.config.request_deadline,
                    max_response_bytes=int(self.config.max_response_mb * 2**20),
                    follow_redirects=spec.follow_redirects,
                    max_retries=self.config.max_retries,
                    retry_backoff_factor=self.config.retry_backoff_factor,
                    verify_ssl=self.config.verify_ssl,
                    use_truststore=self.config.use_truststore,
                    proxy=self.config.proxy,
                    governor=RateGovernor(
                        self.quota.requests_per_second,
                        self.quota.burst,
                        self.quota.max_concurrency,
                        {n: _scope_budget(q) for n, q in spec.scopes.items()},
                    ),
                    max_pages=self.config.max_pages,
                    user_agent=f"fth ({self.name})",
                )
            return self._client

    @property
    def stats(self) -> ClientStats:
        """Request counters so far, rate-limit waiting included; zeros (and no client built)
        when this provider has not made a request."""
        if self._client is None:
            return ClientStats()
        return replace(self._client.stats, wait_seconds=self._client.governor.wait_seconds)

    def iter_pages(self, endpoint_name: str, **params: Any) -> Iterator[list[Any]]:
        """Items page by page; params by their Python (snake_case) or API names."""
        for page in self.client().iter_pages(self.endpoint(endpoint_name), params):
            yield page.items

    def fetch_all(self, endpoint_name: str, **params: Any) -> list[Any]:
        """Every item of an endpoint across pages, typed by the endpoint's model."""
        return self.client().fetch_all(self.endpoint(endpoint_name), params)

    def to_dataframe(self, endpoint_name: str, **params: Any) -> pd.DataFrame:
        """:meth:`fetch_all` as a flat pandas DataFrame (nested fields joined with ``.``)."""
        items = self.fetch_all(endpoint_name, **params)
        rows = [i.model_dump() if isinstance(i, BaseModel) else i for i in items]
        import pandas as pd  # on use: most runs never build a frame, and pandas is slow to load

        return pd.json_normalize(rows) if rows else pd.DataFrame()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _scope_budget(quota: Quota) -> tuple[float, int] | WindowBudget:
    if quota.window_seconds is not None:
        return WindowBudget(quota.burst, quota.window_seconds)
    return (quota.requests_per_second, quota.burst)


def _credentials(spec: ProviderSpec, config: ProviderConfig) -> Credentials | None:
    """The provider's credentials from its config section, each missing field read from
    ``<NAME>_<FIELD>`` in the environment. A disabled provider may lack them (``None``)."""
    model = spec.credentials
    values = config.credentials
    env_names = {f: f"{spec.name.upper()}_{f.upper()}" for f in model.model_fields}
    for field, env_name in env_names.items():
        if values.get(field) in (None, ""):
            values.pop(field, None)
            if config.env.get(env_name):
                values[field] = config.env[env_name]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        if not config.enabled:
            return None
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            where = f"providers.{spec.name}.{field}"
            if error["type"] == "missing":
                what = "API key" if field == "api_key" else field.replace("_", " ")
                problems.append(f"{where}: no {what} (set it here or in {env_names[field]})")
            elif error["type"] == "extra_forbidden":
                known = {*ProviderConfig.model_fields, *model.model_fields}
                problems.append(f"{where}: unknown key{did_you_mean(field, known)}")
            else:  # the value is a secret: the message never quotes it
                problems.append(f"{where}: {plain_message(error)}")
        raise ConfigError(list(dict.fromkeys(problems))) from None


def _settings(spec: ProviderSpec, config: ProviderConfig) -> BaseModel | None:
    where = ("providers", spec.name, "options")
    if spec.settings is None:
        if config.options:
            raise ConfigError(f"{'.'.join(where)}: {spec.name} takes no options")
        return None
    try:
        return spec.settings.model_validate(config.options)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where, spec.settings)) from None


class ProviderManager(Closing):
    """Every provider named in a config, built against the installed plugins."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._providers = dict(providers)

    @classmethod
    def from_config(
        cls, config: FthConfig, registry: EndpointRegistry | None = None
    ) -> ProviderManager:
        """Raises :class:`ConfigError` listing every provider that is not installed or whose
        options are wrong."""
        registry = registry if registry is not None else _default_registry()
        providers: dict[str, Provider] = {}
        problems: list[str] = []
        for name, settings in config.providers.items():
            if not settings.enabled and not registry.has(name):
                continue  # kept in the config for later; its plugin need not be installed
            if not registry.has(name):
                known = registry.list_providers()
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                problems.append(
                    f"providers.{name}: no installed plugin provides it"
                    f" ({hint}installed: {', '.join(known) or 'none'})"
                )
                continue
            try:
                providers[name] = Provider(registry.spec(name), settings, registry)
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ConfigError(problems)
        return cls(providers)

    def get(self, name: str) -> Provider:
        try:
            return self._providers[name.lower()]
        except KeyError:
            known = ", ".join(sorted(self._providers)) or "none"
            raise ProviderNotFoundError(
                f"provider {name!r} is not configured (configured: {known})"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._providers)

    def enabled_providers(self) -> list[Provider]:
        """The enabled providers, by name (each knows its ``name``)."""
        return [p for _, p in sorted(self._providers.items()) if p.config.enabled]

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
