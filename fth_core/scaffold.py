"""``fth config init``: an annotated config with every option, its default and its meaning.

The comments come from the pydantic models' field descriptions (and each plugin's settings
model), so the template cannot drift from what the loader accepts: a test loads the output.
Provider defaults (base URL, quota) are the installed plugin's; API keys are ``${ENV}``
references, never literal secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from fth_core.config import (
    LoggingConfig,
    PipelineConfig,
    ProviderConfig,
    RateLimitConfig,
    StorageConfig,
)
from fth_core.registry import EndpointRegistry
from fth_core.spec import ProviderSpec

__all__ = ["render_config"]

_COMMENT_COLUMN = 44


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, default=str)  # JSON is YAML's flow style
    text = str(value)
    # Plain URLs, paths and words stay bare; anything YAML could misread is quoted.
    plain = re.fullmatch(r"[A-Za-z][\w./:-]*", text) is not None
    return text if plain else json.dumps(text)


def _line(indent: int, key: str, value: str | None, comment: str) -> str:
    head = f"{'  ' * indent}{key}:" + (f" {value}" if value is not None else "")
    if not comment:
        return head
    return f"{head.ljust(_COMMENT_COLUMN)}# {comment}"


def _model_lines(
    model: type[BaseModel], indent: int, overrides: dict[str, Any] | None = None
) -> list[str]:
    lines: list[str] = []
    for name, field in model.model_fields.items():
        comment = field.description or ""
        value = (overrides or {}).get(name, field.get_default(call_default_factory=True))
        if isinstance(value, BaseModel):
            lines.append(_line(indent, name, None, comment))
            lines.extend(_model_lines(type(value), indent + 1, value.model_dump()))
        elif isinstance(value, list) and value and isinstance(value[0], str):
            lines.append(_line(indent, name, None, comment))
            lines.extend(value)  # pre-rendered nested block
        else:
            lines.append(_line(indent, name, _yaml_scalar(value), comment))
    return lines


def _provider_lines(spec: ProviderSpec) -> list[str]:
    options: Any = {}
    if spec.settings is not None:
        options = _model_lines(spec.settings, 3) or {}
    overrides = {
        "base_url": spec.default_base_url,
        "rate_limit": RateLimitConfig(
            requests_per_second=spec.quota.requests_per_second, burst=spec.quota.burst
        ),
        "max_concurrency": spec.quota.max_concurrency,
        "options": options,
    }
    header = f"  {spec.name}:"
    if spec.description:
        header = f"{header.ljust(_COMMENT_COLUMN)}# {spec.description}"
    # The plugin's credentials, each from an environment variable: never a value in the file.
    credentials = [
        _line(
            2,
            name,
            _yaml_scalar(f"${{{spec.name.upper()}_{name.upper()}}}"),
            field.description or "",
        )
        for name, field in spec.credentials.model_fields.items()
    ]
    settings = _model_lines(ProviderConfig, 2, overrides)
    # After base_url (the settings before it are one line each): where a reader looks for them.
    after = list(ProviderConfig.model_fields).index("base_url") + 1
    return [header, *settings[:after], *credentials, *settings[after:]]


def render_config(registry: EndpointRegistry, providers: Sequence[str] | None = None) -> str:
    """The annotated YAML for ``providers`` (default: every installed provider)."""
    names = list(providers) if providers else registry.list_providers()
    lines = [
        "# fth configuration — every option with its default; delete what you do not change.",
        "# Credentials: ${NAME} is replaced by the environment variable NAME, and a provider",
        "# without one falls back to <PROVIDER>_<FIELD> (e.g. MOTIVE_API_KEY).",
        "# fth reads --config FILE, else $FTH_CONFIG, else config/fth.yaml in the working",
        "# folder or the nearest parent folder that has one.",
        "",
        "providers:" if names else "providers: {}",
    ]
    for name in names:
        lines.extend(_provider_lines(registry.spec(name)))
    for section, model in (
        ("pipeline", PipelineConfig),
        ("storage", StorageConfig),
        ("logging", LoggingConfig),
    ):
        lines.append("")
        lines.append(f"{section}:")
        lines.extend(_model_lines(model, 1))
    return "\n".join(lines) + "\n"
