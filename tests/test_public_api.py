"""The package's public names: listed once for type checkers (``__all__``) and once for the
lazy loader (``_EXPORTS``); the two lists agree and every name loads."""

from __future__ import annotations

import pytest

import fth_core


def test_every_public_name_is_exported_and_loads() -> None:
    assert set(fth_core.__all__) == {*fth_core._EXPORTS, "__version__"}
    for name in fth_core.__all__:
        assert getattr(fth_core, name) is not None, name
    assert set(fth_core.__all__) <= set(dir(fth_core))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        fth_core.NoSuchThing  # noqa: B018
