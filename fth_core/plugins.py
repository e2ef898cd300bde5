"""Plugin discovery: the ``fth`` entry-point group, loaded with failures isolated.

Each entry point names a module of ``@hookimpl`` functions. Loading one that raises, or whose
hook implementations do not match :mod:`fth_core.hookspecs` (a misspelled hook name or
argument), records the error against its distribution and moves on: the other plugins keep
working and ``fth plugins`` shows what went wrong.

``FTH_LOAD_PLUGINS`` restricts loading to a comma-separated list of entry-point or distribution
names (``fth-samsara``, ``fth_samsara`` and ``FTH-Samsara`` are one); set to the empty string it
loads none. The installed plugins are loaded once per process (:func:`installed_plugins`);
``FTH_TRACE_HOOKS=1`` then logs every hook call, its arguments and result, at debug level.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import importlib_metadata
import pluggy

from fth_core import hookspecs
from fth_core.logs import get_logger

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "Plugins", "installed_plugins", "load_plugins"]

ENTRY_POINT_GROUP = "fth"
log = get_logger("fth.plugins")


@dataclass
class PluginInfo:
    """What ``fth plugins`` shows for one entry point."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: tuple[str, ...] = ()
    error: str | None = None
    skipped: bool = False  # excluded by FTH_LOAD_PLUGINS
    # The name registered with pluggy: ``name``, unless another distribution took it already.
    key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self.key = self.key or self.name

    @property
    def loaded(self) -> bool:
        return self.error is None and not self.skipped

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": list(self.hooks),
            "loaded": self.loaded,
            "skipped": self.skipped,
            "error": self.error,
        }


@dataclass
class Plugins:
    """A pluggy manager for the ``fth`` hooks plus what was learned while loading plugins."""

    manager: pluggy.PluginManager = field(default_factory=lambda: _new_manager())
    infos: list[PluginInfo] = field(default_factory=list)

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def register(
        self,
        plugin: ModuleType | object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginInfo:
        """Register one plugin object, validating its hooks; failures are recorded, not raised.

        Two distributions may use the same entry-point name (the convention is entry name =
        provider name); the second is registered under ``name@distribution`` so that both reach
        the registry, which then reports the conflict naming both.
        """
        key = name
        if self.manager.has_plugin(key):
            key = f"{name}@{distribution or getattr(plugin, '__name__', id(plugin))}"
        info = PluginInfo(
            name=name,
            module=getattr(plugin, "__name__", type(plugin).__name__),
            distribution=distribution,
            version=version,
            key=key,
        )
        try:
            self.manager.register(plugin, name=key)
            self.manager.check_pending()
        except Exception as exc:  # any plugin bug must stay that plugin's problem
            # pluggy registers hooks one by one: a bad one leaves the earlier ones active.
            if self.manager.get_plugin(key) is plugin:
                self.manager.unregister(plugin)
            info.error = _one_line(exc)
            log.warning("plugin %s (%s) not loaded: %s", name, distribution, info.error)
        else:
            info.hooks = tuple(sorted(c.name for c in self.manager.get_hookcallers(plugin) or ()))
        self.infos.append(info)
        return info

    def distribution_of(self, plugin_name: str) -> str:
        """The distribution of the plugin registered with pluggy as ``plugin_name``."""
        for info in self.infos:
            if info.key == plugin_name:
                return info.distribution or info.name
        return plugin_name

    def record_error(self, plugin_name: str, error: BaseException) -> None:
        """Reject a registered plugin that failed later (e.g. in its registration hook): the
        error is shown by ``fth plugins`` and its other hooks stop answering."""
        for info in self.infos:
            if info.key == plugin_name:
                info.error = _one_line(error)
                log.warning(
                    "plugin %s (%s) not loaded: %s", info.name, info.distribution, info.error
                )
        if self.manager.has_plugin(plugin_name):
            self.manager.unregister(name=plugin_name)


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("fth")
    manager.add_hookspecs(hookspecs)
    if os.environ.get("FTH_TRACE_HOOKS", "") not in ("", "0"):
        manager.trace.root.setwriter(lambda text: log.debug("%s", text.rstrip()))
        manager.enable_tracing()
    return manager


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _canonical(name: str) -> str:
    """PEP 503 normalisation: ``fth_samsara``, ``FTH-Samsara`` and ``fth-samsara`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _selection(env: dict[str, str] | os._Environ[str]) -> set[str] | None:
    raw = env.get("FTH_LOAD_PLUGINS")
    if raw is None:
        return None
    return {_canonical(part.strip()) for part in raw.split(",") if part.strip()}


def load_plugins(
    entry_points: Iterable[importlib_metadata.EntryPoint] | None = None,
    env: dict[str, str] | None = None,
) -> Plugins:
    """Load every ``fth`` entry point (or those given), honouring ``FTH_LOAD_PLUGINS``."""
    plugins = Plugins()
    selected = _selection(os.environ if env is None else env)
    if entry_points is None:
        entry_points = importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in sorted(entry_points, key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        names = {_canonical(ep.name), _canonical(dist_name or ep.name)}
        if selected is not None and not names & selected:
            plugins.infos.append(PluginInfo(ep.name, ep.value, dist_name, version, skipped=True))
            continue
        try:
            module = ep.load()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            info = PluginInfo(ep.name, ep.value, dist_name, version, error=_one_line(exc))
            log.warning("plugin %s (%s) failed to import: %s", ep.name, dist_name, info.error)
            plugins.infos.append(info)
            continue
        plugins.register(module, ep.name, distribution=dist_name, version=version)
    return plugins


@functools.cache
def installed_plugins() -> Plugins:
    """Every installed plugin, loaded on first use and shared by the whole process."""
    return load_plugins()
