"""Building blocks for plugins' pydantic response models.

* Open enumerations: providers add enumeration values without notice (a new location type, a
  new assignment type). A page must never fail for that: the value is kept as it came and an
  :class:`UnknownEnumValueWarning` names the field, so the new value is visible but harmless.
* :data:`UtcDatetime`: every provider timestamp as an aware UTC datetime, whatever offset it
  was sent with; a value without one is read as UTC (both providers document UTC).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["UnknownEnumValueWarning", "UtcDatetime", "open_enum", "to_utc", "warn_unknown"]


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive value is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]


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
