"""An fth plugin whose hook name is misspelled: it must be rejected, not silently ignored."""

from __future__ import annotations

from typing import Any

from fth_core.hookspecs import hookimpl


@hookimpl
def fth_register_provider() -> list[Any]:  # the spec is fth_register_providers
    return []
