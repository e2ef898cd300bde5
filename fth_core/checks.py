"""Every mistake of a config file in one pass, whatever layer finds it.

:func:`~fth_core.config.load_config` checks the values; the providers' layer (an installed
plugin for each name, its options, the credentials) needs a valid config, and the dataset
path is only tried when a run writes. :func:`check_config` runs them all, each on what it
can check, so ``fth config check`` and ``fth run`` list every problem at once (exit 2).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from fth_core.config import FthConfig, StorageConfig, parse_config, read_config_file
from fth_core.errors import ConfigError
from fth_core.provider import ProviderManager
from fth_core.registry import EndpointRegistry

__all__ = ["CONFIG_ENV", "check_config", "dataset_path_problem", "find_config"]


def dataset_path_problem(path: Path) -> str | None:
    """Why the dataset cannot be written at ``path``, or ``None``: the folder must exist and
    take a new file, or its nearest existing parent must (where it would be created). A file
    is really made and removed: ``os.access`` says yes to root on a read-only mount."""
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return None  # a file in the way: StorageConfig reports it
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".fth-check-"):
            pass
    except OSError as exc:
        what = "is not writable" if existing == path else f"cannot be created in {existing}"
        return f"{path} {what} ({exc.strerror or exc})"
    return None


def _each_provider(data: Any, env: dict[str, str] | None) -> list[FthConfig]:
    """Each provider section of ``data`` that is valid on its own, as a config of it alone:
    the providers' layer is checked for them even when another section is wrong."""
    providers = data.get("providers") if isinstance(data, dict) else None
    found = []
    for name, settings in providers.items() if isinstance(providers, dict) else ():
        with contextlib.suppress(ConfigError):  # reported by the whole document's validation
            found.append(parse_config({"providers": {name: settings}}, env=env))
    return found


def check_config(
    path: str | Path,
    registry: EndpointRegistry | None = None,
    *,
    env: dict[str, str] | None = None,
) -> FthConfig:
    """The validated config at ``path``, or a :class:`ConfigError` listing every problem:
    values, providers not installed, plugin options, credentials, an unwritable dataset."""
    source = str(path)
    data = read_config_file(path)  # unreadable, or not YAML: nothing more can be checked
    problems: list[str] = []
    config: FthConfig | None = None
    try:
        config = parse_config(data, source=source, env=env)
    except ConfigError as exc:
        problems += exc.problems
    for one in [config] if config is not None else _each_provider(data, env):
        try:
            ProviderManager.from_config(one, registry).close()
        except ConfigError as exc:
            problems += exc.problems
    storage: StorageConfig | None = config.storage if config is not None else None
    if storage is None and isinstance(data, dict) and isinstance(data.get("storage"), dict):
        with contextlib.suppress(ConfigError):  # already reported
            storage = parse_config({"storage": data["storage"]}, env=env).storage
    if storage is not None:
        problem = dataset_path_problem(storage.parquet_path)
        if problem is not None:
            problems.append(f"storage.parquet_path: {problem}")
    if problems or config is None:
        raise ConfigError(list(dict.fromkeys(problems)), source)
    return config


# The environment variable naming the config file (after --config, before discovery).
CONFIG_ENV = "FTH_CONFIG"


def find_config(default: Path, cwd: Path | None = None) -> Path:
    """The config file when ``--config`` is not given: ``$FTH_CONFIG``, else ``default``
    (``config/fth.yaml``) in the working directory or the nearest parent that has one, else
    ``default`` as given (its absence is then reported by whoever reads it)."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / default).is_file():
            return default if folder == here else folder / default
    return default
