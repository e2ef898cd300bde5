"""fth — Fleet Telemetry Hub: one clean, deduplicated telemetry dataset from every provider.

The public API, by layer: endpoint definitions (:class:`EndpointDefinition`), the HTTP client
(:class:`TelemetryClient`), the registry (:class:`EndpointRegistry`) and the provider facade
(:class:`Provider`, :class:`ProviderManager`); configuration (:func:`load_config`) and the
unified schema (:data:`TELEMETRY_COLUMNS`). Plugins implement :mod:`fth_core.hookspecs`.
Names load on first use (PEP 562), so that importing one module of the package (the ``fth``
command imports :mod:`fth_core.cli`) does not import all of them first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fth_core.auth import (
        ApiKeyCredentials,
        Auth,
        BearerAuth,
        Credentials,
        HeaderAuth,
        Session,
        SessionAuth,
    )
    from fth_core.classify import Answer, Outcome, Verdict, http_status
    from fth_core.client import TelemetryClient
    from fth_core.config import FthConfig, ProviderConfig, load_config, parse_config
    from fth_core.endpoints import (
        EndpointDefinition,
        ParamKind,
        ParamSpec,
        ParsedResponse,
        RequestSpec,
    )
    from fth_core.errors import (
        APIError,
        AuthError,
        ConfigError,
        EndpointNotFoundError,
        FthError,
        NoPluginAnsweredError,
        PaginationError,
        ParameterError,
        PluginConflictError,
        ProviderNotFoundError,
        ResponseFormatError,
        TransportError,
    )
    from fth_core.hookspecs import hookimpl
    from fth_core.pagination import (
        CursorPagination,
        OffsetPagination,
        PaginationState,
        SeekPagination,
        SplitPagination,
        SweepPagination,
        TokenPagination,
    )
    from fth_core.pipeline import PipelineError, RunSummary, TelemetryPipeline
    from fth_core.plugins import Plugins
    from fth_core.provider import Provider, ProviderManager
    from fth_core.registry import EndpointRegistry
    from fth_core.schema import TELEMETRY_COLUMNS, TELEMETRY_SCHEMA, enforce_telemetry_schema
    from fth_core.spec import FetchFailure, ProviderSpec, Quota, TelemetryBatch, Window
    from fth_core.telemetry import FlatBatch, fetch_telemetry

# Each public name and the module it lives in.
_EXPORTS = {
    "TelemetryClient": "fth_core.client",
    "FthConfig": "fth_core.config",
    "ProviderConfig": "fth_core.config",
    "load_config": "fth_core.config",
    "parse_config": "fth_core.config",
    "EndpointDefinition": "fth_core.endpoints",
    "ParamKind": "fth_core.endpoints",
    "ParamSpec": "fth_core.endpoints",
    "ParsedResponse": "fth_core.endpoints",
    "RequestSpec": "fth_core.endpoints",
    "APIError": "fth_core.errors",
    "ConfigError": "fth_core.errors",
    "EndpointNotFoundError": "fth_core.errors",
    "FthError": "fth_core.errors",
    "NoPluginAnsweredError": "fth_core.errors",
    "PaginationError": "fth_core.errors",
    "ParameterError": "fth_core.errors",
    "PluginConflictError": "fth_core.errors",
    "ProviderNotFoundError": "fth_core.errors",
    "ResponseFormatError": "fth_core.errors",
    "TransportError": "fth_core.errors",
    "AuthError": "fth_core.errors",
    "ApiKeyCredentials": "fth_core.auth",
    "Auth": "fth_core.auth",
    "BearerAuth": "fth_core.auth",
    "Credentials": "fth_core.auth",
    "HeaderAuth": "fth_core.auth",
    "Session": "fth_core.auth",
    "SessionAuth": "fth_core.auth",
    "Answer": "fth_core.classify",
    "Outcome": "fth_core.classify",
    "Verdict": "fth_core.classify",
    "http_status": "fth_core.classify",
    "FetchFailure": "fth_core.spec",
    "ProviderSpec": "fth_core.spec",
    "Quota": "fth_core.spec",
    "TelemetryBatch": "fth_core.spec",
    "Window": "fth_core.spec",
    "hookimpl": "fth_core.hookspecs",
    "CursorPagination": "fth_core.pagination",
    "OffsetPagination": "fth_core.pagination",
    "PaginationState": "fth_core.pagination",
    "SeekPagination": "fth_core.pagination",
    "SplitPagination": "fth_core.pagination",
    "SweepPagination": "fth_core.pagination",
    "TokenPagination": "fth_core.pagination",
    "Plugins": "fth_core.plugins",
    "PipelineError": "fth_core.pipeline",
    "RunSummary": "fth_core.pipeline",
    "TelemetryPipeline": "fth_core.pipeline",
    "Provider": "fth_core.provider",
    "ProviderManager": "fth_core.provider",
    "EndpointRegistry": "fth_core.registry",
    "TELEMETRY_COLUMNS": "fth_core.schema",
    "TELEMETRY_SCHEMA": "fth_core.schema",
    "enforce_telemetry_schema": "fth_core.schema",
    "FlatBatch": "fth_core.telemetry",
    "fetch_telemetry": "fth_core.telemetry",
}

# Spelled out for type checkers; tests/test_public_api.py pins it to _EXPORTS.
__all__ = [
    "TELEMETRY_COLUMNS",
    "TELEMETRY_SCHEMA",
    "APIError",
    "Answer",
    "ApiKeyCredentials",
    "Auth",
    "AuthError",
    "BearerAuth",
    "ConfigError",
    "Credentials",
    "CursorPagination",
    "EndpointDefinition",
    "EndpointNotFoundError",
    "EndpointRegistry",
    "FetchFailure",
    "FlatBatch",
    "FthConfig",
    "FthError",
    "HeaderAuth",
    "NoPluginAnsweredError",
    "OffsetPagination",
    "Outcome",
    "PaginationError",
    "PaginationState",
    "ParamKind",
    "ParamSpec",
    "ParameterError",
    "ParsedResponse",
    "PipelineError",
    "PluginConflictError",
    "Plugins",
    "Provider",
    "ProviderConfig",
    "ProviderManager",
    "ProviderNotFoundError",
    "ProviderSpec",
    "Quota",
    "RequestSpec",
    "ResponseFormatError",
    "RunSummary",
    "SeekPagination",
    "Session",
    "SessionAuth",
    "SplitPagination",
    "SweepPagination",
    "TelemetryBatch",
    "TelemetryClient",
    "TelemetryPipeline",
    "TokenPagination",
    "TransportError",
    "Verdict",
    "Window",
    "__version__",
    "enforce_telemetry_schema",
    "fetch_telemetry",
    "hookimpl",
    "http_status",
    "load_config",
    "parse_config",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'fth_core' has no attribute {name!r}")
    globals()[name] = value  # later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fth-core")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"
