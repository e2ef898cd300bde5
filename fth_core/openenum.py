"""Open enumerations: provider values fth knows, without failing on the ones it does not.

Providers add enumeration values without notice (a new location type, a new assignment type).
A page must never fail for that: the value is kept as it came and a
:class:`UnknownEnumValueWarning` names the field, so the new value is visible but harmless.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection

from pydantic import AfterValidator

__all__ = ["UnknownEnumValueWarning", "open_enum", "warn_unknown"]


class UnknownEnumValueWarning(UserWarning):
    """A record carried an enumeration value fth does not know; it was kept as text."""


def warn_unknown(provider: str, field: str, value: str, known: Collection[str]) -> None:
    """Warn that ``field`` holds ``value``, outside its documented set ``known``."""
    warnings.warn(
        f"{provider} {field} {value!r} is not a documented value "
        f"({', '.join(sorted(known))}); kept as text",
        UnknownEnumValueWarning,
        stacklevel=3,
    )


def open_enum(provider: str, field: str, known: Collection[str]) -> AfterValidator:
    """A pydantic validator that keeps any string (or ``None``) and warns about unknown ones."""
    allowed = frozenset(known)

    def check(value: str | None) -> str | None:
        if value is not None and value not in allowed:
            warn_unknown(provider, field, value, allowed)
        return value

    return AfterValidator(check)
