"""Plugin discovery: the ``fth`` entry-point group, FTH_LOAD_PLUGINS, and isolation of bad plugins.

Discovery is exercised for real: in-process through ``importlib_metadata`` over the hand-written
``.dist-info`` directories of ``tests/fake_plugins/site``, through the CLI in a subprocess, and
once through wheels pip-installed into a fresh venv.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fake_plugins import (
    FLEET,
    SITE,
    cli_env,
    load_fake,
    pack_wheel,
    plugin_venv,
    run_fth,
    venv_purelib,
)

from fth_core.auth import HeaderAuth
from fth_core.endpoints import EndpointDefinition
from fth_core.errors import PluginConflictError
from fth_core.hookspecs import hookimpl
from fth_core.plugins import PluginInfo, Plugins, load_plugins
from fth_core.registry import EndpointRegistry
from fth_core.spec import ProviderSpec, Quota


@pytest.fixture
def discoverable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the fake site on sys.path so ``importlib_metadata`` finds its entry points."""
    monkeypatch.syspath_prepend(str(SITE))


def _infos(plugins: Plugins) -> dict[str, PluginInfo]:
    """Loaded (not skipped) plugins by distribution."""
    return {i.distribution or i.name: i for i in plugins.infos if not i.skipped}


# -- in-process discovery ----------------------------------------------------------------


@pytest.mark.usefixtures("discoverable")
def test_entry_points_are_discovered_with_distribution_version_and_hooks() -> None:
    plugins = load_plugins(env={"FTH_LOAD_PLUGINS": FLEET})
    info = _infos(plugins)[FLEET]
    assert (info.name, info.module, info.version) == ("fakefleet", "fth_fake_fleet", "1.2.0")
    assert info.hooks == (
        "fth_fetch_telemetry",
        "fth_flatten_telemetry",
        "fth_register_providers",
    )
    assert info.loaded
    assert info.error is None
    assert EndpointRegistry.from_plugins(plugins).list_providers() == ["fakefleet"]


@pytest.mark.usefixtures("discoverable")
def test_a_plugin_that_raises_on_import_is_recorded_and_the_others_still_work() -> None:
    plugins = load_plugins(env={"FTH_LOAD_PLUGINS": f"{FLEET},fakebroken"})
    broken = _infos(plugins)["fth-fake-broken"]
    assert not broken.loaded
    assert broken.version == "0.3.0"
    assert broken.error == "RuntimeError: fake plugin exploded while importing"
    registry = EndpointRegistry.from_plugins(plugins)
    assert registry.list_providers() == ["fakefleet"]


@pytest.mark.usefixtures("discoverable")
def test_a_misspelled_hook_name_rejects_the_plugin_and_the_rest_keep_working() -> None:
    plugins = load_plugins(env={"FTH_LOAD_PLUGINS": f"{FLEET},faketypo"})
    typo = _infos(plugins)["fth-fake-typo"]
    assert typo.error is not None
    assert "unknown hook 'fth_register_provider'" in typo.error
    assert not plugins.manager.has_plugin("faketypo")
    assert EndpointRegistry.from_plugins(plugins).list_providers() == ["fakefleet"]


@pytest.mark.usefixtures("discoverable")
def test_a_hook_argument_missing_from_the_spec_rejects_the_whole_plugin() -> None:
    """pluggy registers hooks one at a time; the valid flatten hook that came before the bad
    registration hook must not stay behind and answer for other providers."""
    plugins = load_plugins(env={"FTH_LOAD_PLUGINS": f"{FLEET},fakebadargs"})
    bad = _infos(plugins)["fth-fake-badargs"]
    assert bad.error is not None
    assert "'config'" in bad.error
    assert bad.hooks == ()
    assert not plugins.manager.has_plugin("fakebadargs")
    flatteners = {impl.plugin_name for impl in plugins.hook.fth_flatten_telemetry.get_hookimpls()}
    assert flatteners == {"fakefleet"}
    assert EndpointRegistry.from_plugins(plugins).list_providers() == ["fakefleet"]


@pytest.mark.usefixtures("discoverable")
def test_fth_load_plugins_empty_loads_none_and_the_registry_is_empty() -> None:
    plugins = load_plugins(env={"FTH_LOAD_PLUGINS": ""})
    assert plugins.infos, "plugins are installed, just not loaded"
    assert all(i.skipped and not i.loaded for i in plugins.infos)
    assert plugins.manager.get_plugins() == set()
    assert EndpointRegistry.from_plugins(plugins).list_providers() == []


@pytest.mark.usefixtures("discoverable")
@pytest.mark.parametrize("selector", ["fth-fake-fleet", "fth_fake_fleet", "FTH-Fake-Fleet"])
def test_fth_load_plugins_selects_by_distribution_name_in_any_spelling(selector: str) -> None:
    plugins = load_plugins(env={"FTH_LOAD_PLUGINS": selector})
    assert list(_infos(plugins)) == [FLEET]


@pytest.mark.usefixtures("discoverable")
def test_fth_load_plugins_selects_by_entry_point_name() -> None:
    plugins = load_plugins(env={"FTH_LOAD_PLUGINS": " fakebroken , "})
    assert list(_infos(plugins)) == ["fth-fake-broken"]


@pytest.mark.usefixtures("discoverable")
def test_two_distributions_registering_one_provider_is_an_error_naming_both() -> None:
    """Both use the conventional entry name ``fakefleet``: the second must not be dropped as
    a mere name clash (which would let one silently shadow the other)."""
    plugins = load_plugins(env={"FTH_LOAD_PLUGINS": "fakefleet"})
    assert set(_infos(plugins)) == {FLEET, "fth-fake-clone"}
    assert all(i.error is None for i in plugins.infos)
    with pytest.raises(PluginConflictError) as caught:
        EndpointRegistry.from_plugins(plugins)
    message = str(caught.value)
    assert "'fakefleet'" in message
    assert FLEET in message
    assert "fth-fake-clone" in message


# -- registration through Plugins.register -----------------------------------------------


def _module(name: str, **hooks: Any) -> ModuleType:
    module = ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def test_a_registration_hook_that_raises_is_recorded_and_its_other_hooks_stop_answering() -> None:
    def register() -> Sequence[ProviderSpec]:
        raise KeyError("settings")

    def fetch(provider: Any, window: Any) -> list[Any]:
        return []

    plugins = Plugins()
    plugins.register(load_fake("fth_fake_fleet"), "fakefleet", distribution=FLEET)
    plugins.register(
        _module("fth_bad", fth_register_providers=register, fth_fetch_telemetry=fetch),
        "bad",
        distribution="fth-bad",
    )
    registry = EndpointRegistry.from_plugins(plugins)
    assert registry.list_providers() == ["fakefleet"]
    bad = next(i for i in plugins.infos if i.name == "bad")
    assert bad.error == "KeyError: 'settings'"
    assert not bad.loaded
    fetchers = {impl.plugin_name for impl in plugins.hook.fth_fetch_telemetry.get_hookimpls()}
    assert fetchers == {"fakefleet"}


def test_a_registration_hook_returning_something_else_is_rejected() -> None:
    plugins = Plugins()
    plugins.register(
        _module("fth_dicts", fth_register_providers=lambda: [{"name": "dicty"}]),
        "dicty",
        distribution="fth-dicts",
    )
    registry = EndpointRegistry.from_plugins(plugins)
    assert registry.list_providers() == []
    assert plugins.infos[0].error == "TypeError: returned dict, not ProviderSpec"


def test_one_distribution_registering_a_provider_twice_is_a_conflict() -> None:
    spec = ProviderSpec(
        name="twin",
        endpoints=[EndpointDefinition(provider="twin", name="a", path="/a")],
        default_base_url="https://twin.invalid",
        auth=HeaderAuth("X-Api-Key"),
        quota=Quota(requests_per_second=1),
    )
    plugins = Plugins()
    plugins.register(
        _module("fth_twin", fth_register_providers=lambda: [spec, spec]),
        "twin",
        distribution="fth-twin",
    )
    with pytest.raises(PluginConflictError, match="registered by both fth-twin and fth-twin"):
        EndpointRegistry.from_plugins(plugins)


def test_plugin_info_as_dict_has_what_fth_plugins_json_shows() -> None:
    info = Plugins().register(
        load_fake("fth_fake_fleet"), "fakefleet", distribution=FLEET, version="1.2.0"
    )
    assert info.as_dict() == {
        "name": "fakefleet",
        "module": "fth_fake_fleet",
        "distribution": FLEET,
        "version": "1.2.0",
        "hooks": ["fth_fetch_telemetry", "fth_flatten_telemetry", "fth_register_providers"],
        "loaded": True,
        "skipped": False,
        "error": None,
    }


# -- through the CLI ---------------------------------------------------------------------


def test_fth_plugins_shows_a_broken_plugin_with_its_distribution_and_error() -> None:
    env = cli_env(f"{FLEET},fakebroken,faketypo,fakebadargs")
    listed = run_fth("plugins", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[1]: line for line in listed.stdout.splitlines() if "fakebroken" in line}
    assert "fakebroken" in rows
    row = rows["fakebroken"]
    assert "fth-fake-broken" in row
    assert "0.3.0" in row
    assert "error: RuntimeError: fake plugin exploded while importing" in row
    assert "Traceback" not in listed.stderr
    providers = run_fth("providers", "--json", env=env)
    assert providers.returncode == 0, providers.stderr
    assert [p["name"] for p in json.loads(providers.stdout)] == ["fakefleet"]


def test_fth_plugins_json_has_distribution_version_hooks_and_error() -> None:
    listed = run_fth("plugins", "--json", env=cli_env(f"{FLEET},fakebroken,faketypo"))
    assert listed.returncode == 0, listed.stderr
    by_dist = {p["distribution"]: p for p in json.loads(listed.stdout)}
    assert set(by_dist) == {FLEET, "fth-fake-broken", "fth-fake-typo"}
    fleet = by_dist[FLEET]
    assert fleet["version"] == "1.2.0"
    assert fleet["hooks"] == [
        "fth_fetch_telemetry",
        "fth_flatten_telemetry",
        "fth_register_providers",
    ]
    assert fleet["error"] is None
    assert fleet["loaded"] is True
    broken = by_dist["fth-fake-broken"]
    assert broken["error"] == "RuntimeError: fake plugin exploded while importing"
    assert broken["loaded"] is False
    assert broken["hooks"] == []
    assert "fth_register_provider" in by_dist["fth-fake-typo"]["error"]


def test_fth_load_plugins_with_one_name_loads_only_that_plugin() -> None:
    env = cli_env("fakebroken")
    shown = json.loads(run_fth("plugins", "--json", env=env).stdout)
    assert [p["distribution"] for p in shown] == ["fth-fake-broken"]
    everything = json.loads(run_fth("plugins", "--all", "--json", env=env).stdout)
    skipped = {p["distribution"] for p in everything if p["skipped"]}
    assert {FLEET, "fth-fake-typo", "fth-fake-clone"} <= skipped


def test_fth_providers_says_plainly_when_fth_load_plugins_is_empty() -> None:
    result = run_fth("providers", env=cli_env(""))
    assert result.returncode == 0
    assert result.stdout.startswith("No providers loaded: FTH_LOAD_PLUGINS='' selects none")
    assert result.stderr == ""


def test_fth_providers_with_a_provider_conflict_exits_1_naming_both_distributions() -> None:
    result = run_fth("providers", env=cli_env("fakefleet"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: provider 'fakefleet' is registered by both")
    assert FLEET in lines[0]
    assert "fth-fake-clone" in lines[0]
    assert "Traceback" not in result.stderr


# -- a real pip install into a fresh venv -------------------------------------------------


def _wheel(out: Path, module: str, dist_info: str) -> Path:
    """Pack ``site/<module>`` and its hand-written metadata into a pure-Python wheel."""
    name, version = dist_info.removesuffix(".dist-info").rsplit("-", 1)
    files: dict[str, bytes] = {
        f"{module}/{path.name}": path.read_bytes() for path in (SITE / module).glob("*.py")
    }
    for meta in ("METADATA", "entry_points.txt"):
        files[f"{dist_info}/{meta}"] = (SITE / dist_info / meta).read_bytes()
    return pack_wheel(out, name, version, files)


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh venv that sees fth-core and its dependencies (no downloads) but none of the dev
    venv's provider plugins, with two fake plugins pip-installed from wheels."""
    root = tmp_path_factory.mktemp("plugin-venv")
    wheels = root / "wheels"
    wheels.mkdir()
    built = [
        _wheel(wheels, "fth_fake_fleet", "fth_fake_fleet-1.2.0.dist-info"),
        _wheel(wheels, "fth_fake_broken", "fth_fake_broken-0.3.0.dist-info"),
    ]
    python = plugin_venv(root, built)
    assert Path(venv_purelib(python), "fth_fake_fleet", "__init__.py").is_file()
    return python


def _venv_env(select: str | None = None) -> dict[str, str]:
    env = cli_env(select)
    del env["PYTHONPATH"]  # only what is installed in the venv
    return env


def test_a_plugin_pip_installed_into_a_venv_shows_in_fth_providers(venv_python: str) -> None:
    result = run_fth("providers", "--json", env=_venv_env(), python=venv_python)
    assert result.returncode == 0, result.stderr
    providers = json.loads(result.stdout)
    assert [(p["name"], p["distribution"]) for p in providers] == [("fakefleet", FLEET)]
    assert providers[0]["endpoints"] == ["vehicle", "vehicles"]
    table = run_fth("providers", env=_venv_env(), python=venv_python)
    assert "fakefleet" in table.stdout
    assert "https://api.fakefleet.invalid" in table.stdout
    # The dev venv itself never had it installed: the venv's entry point is what was found.
    dev = run_fth("providers", "--json", env={**_venv_env(), "FTH_LOAD_PLUGINS": FLEET})
    assert json.loads(dev.stdout) == []


def test_a_pip_installed_plugin_that_fails_to_import_is_listed_with_its_error(
    venv_python: str,
) -> None:
    result = run_fth("plugins", "--json", env=_venv_env(), python=venv_python)
    assert result.returncode == 0, result.stderr
    plugins = {p["distribution"]: p for p in json.loads(result.stdout)}
    assert set(plugins) == {FLEET, "fth-fake-broken"}
    assert plugins["fth-fake-broken"]["version"] == "0.3.0"
    assert plugins["fth-fake-broken"]["error"] == (
        "RuntimeError: fake plugin exploded while importing"
    )
    assert plugins[FLEET]["loaded"] is True
    assert "failed to import" in result.stderr  # the warning names it too
    assert "Traceback" not in result.stderr


def test_fth_load_plugins_in_a_venv_selects_or_empties_the_registry(venv_python: str) -> None:
    empty = run_fth("providers", env=_venv_env(""), python=venv_python)
    assert empty.returncode == 0
    assert "No providers loaded" in empty.stdout
    only = run_fth("plugins", "--all", "--json", env=_venv_env("fakefleet"), python=venv_python)
    states = {p["distribution"]: p["skipped"] for p in json.loads(only.stdout)}
    assert states == {FLEET: False, "fth-fake-broken": True}


def test_a_fetch_hook_written_as_a_generator_function_answers_for_its_own_provider_only() -> None:
    # The core calls the owner's hook alone, so a generator function cannot claim others.
    greedy = ModuleType("fth_greedy")

    def fth_fetch_telemetry(provider: Any, window: Any) -> Any:
        yield from ()  # would answer for every provider, were it asked

    greedy.fth_fetch_telemetry = hookimpl(fth_fetch_telemetry)  # type: ignore[attr-defined]
    plugins = Plugins()
    plugins.register(load_fake("fth_fake_fleet"), "fakefleet", distribution=FLEET)
    info = plugins.register(greedy, "greedy", distribution="fth-greedy")
    assert info.error is None
    registry = EndpointRegistry.from_plugins(plugins)
    owner = registry.hook_for("fakefleet", "fth_fetch_telemetry")
    assert owner is not None
    # greedy registers no provider, so it stays a wrapper-like caller of every hook; the
    # fakefleet answer (firstresult) comes from fakefleet's own implementation.
    assert {impl.plugin_name for impl in owner.get_hookimpls()} == {"fakefleet", "greedy"}
