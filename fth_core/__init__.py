"""fth — Fleet Telemetry Hub: one clean, deduplicated telemetry dataset from every provider.

The public API, by layer: endpoint definitions (:class:`EndpointDefinition`), the HTTP client
(:class:`TelemetryClient`), the registry (:class:`EndpointRegistry`) and the provider facade
(:class:`Provider`, :class:`ProviderManager`); configuration (:func:`load_config`) and the
unified schema (:data:`TELEMETRY_COLUMNS`). Plugins implement :mod:`fth_core.hookspecs`.
"""

from importlib.metadata import PackageNotFoundError, version

from fth_core.client import TelemetryClient
from fth_core.config import FthConfig, ProviderConfig, load_config, parse_config
from fth_core.endpoints import EndpointDefinition, ParamKind, ParamSpec, ParsedResponse, RequestSpec
from fth_core.errors import (
    APIError,
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
from fth_core.hookspecs import (
    AuthSpec,
    FetchFailure,
    ProviderSpec,
    Quota,
    TelemetryBatch,
    hookimpl,
)
from fth_core.pagination import CursorPagination, OffsetPagination, PaginationState
from fth_core.pipeline import PipelineError, RunSummary, TelemetryPipeline
from fth_core.provider import Provider, ProviderManager
from fth_core.registry import EndpointRegistry
from fth_core.schema import TELEMETRY_COLUMNS, TELEMETRY_SCHEMA, enforce_telemetry_schema
from fth_core.telemetry import FlatBatch, fetch_telemetry

try:
    __version__ = version("fth-core")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "TELEMETRY_COLUMNS",
    "TELEMETRY_SCHEMA",
    "APIError",
    "AuthSpec",
    "ConfigError",
    "CursorPagination",
    "EndpointDefinition",
    "EndpointNotFoundError",
    "EndpointRegistry",
    "FetchFailure",
    "FlatBatch",
    "FthConfig",
    "FthError",
    "NoPluginAnsweredError",
    "OffsetPagination",
    "PaginationError",
    "PaginationState",
    "ParamKind",
    "ParamSpec",
    "ParameterError",
    "ParsedResponse",
    "PipelineError",
    "PluginConflictError",
    "Provider",
    "ProviderConfig",
    "ProviderManager",
    "ProviderNotFoundError",
    "ProviderSpec",
    "Quota",
    "RequestSpec",
    "ResponseFormatError",
    "RunSummary",
    "TelemetryBatch",
    "TelemetryClient",
    "TelemetryPipeline",
    "TransportError",
    "__version__",
    "enforce_telemetry_schema",
    "fetch_telemetry",
    "hookimpl",
    "load_config",
    "parse_config",
]
