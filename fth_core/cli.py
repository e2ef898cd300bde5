"""The ``fth`` command line (typer + rich).

Every command reports problems as one ``error: ...`` line on stderr and exits with the code of
the error (0 ok, 1 failure, 2 usage or config, 3 partial); ``--debug`` adds the traceback and
debug logs. Secrets never reach the output: config reprs mask keys and logs are redacted.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fth_core import __version__
from fth_core.config import load_config
from fth_core.errors import FthError
from fth_core.logs import configure_logging, redact
from fth_core.plugins import load_plugins
from fth_core.provider import ProviderManager
from fth_core.registry import EndpointRegistry

__all__ = ["app", "main"]

app = typer.Typer(
    name="fth",
    help="Fleet Telemetry Hub: pull fleet telematics into one deduplicated Parquet dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check and scaffold configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

_state = {"debug": False}
DEFAULT_CONFIG = Path("config/fth.yaml")


def _console() -> Console:
    # Off a terminal (pipes, cron, tests) keep lines long instead of wrapping at 80 columns.
    console = Console()
    return console if console.is_terminal else Console(width=200, no_color=True)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"fth {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    _state["debug"] = debug
    configure_logging("DEBUG" if debug else "WARNING")


@app.command()
def plugins(
    show_all: Annotated[
        bool, typer.Option("--all", help="Include plugins skipped by FTH_LOAD_PLUGINS.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List installed plugins: distribution, version, hooks, and any load error."""
    loaded = load_plugins()
    registry_error: str | None = None
    try:
        EndpointRegistry.from_plugins(loaded)  # registration errors are recorded per plugin
    except FthError as exc:
        registry_error = str(exc)
    infos = [i for i in loaded.infos if show_all or not i.skipped]
    if as_json:
        _print_json([i.as_dict() for i in infos])
    elif not infos:
        sys.stdout.write("No fth plugins are installed (or FTH_LOAD_PLUGINS selects none).\n")
    else:
        table = Table("plugin", "distribution", "version", "hooks", "status")
        for info in infos:
            status = "skipped" if info.skipped else f"error: {info.error}" if info.error else "ok"
            table.add_row(
                info.name,
                info.distribution or "-",
                info.version or "-",
                ", ".join(h.removeprefix("fth_") for h in info.hooks) or "-",
                status,
            )
        _console().print(table)
    if registry_error:
        raise FthError(registry_error)


@app.command()
def providers(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the providers the installed plugins bring."""
    registry = EndpointRegistry.from_plugins()
    names = registry.list_providers()
    if as_json:
        _print_json([registry.describe(name) | {"endpoints": None} for name in names])
        return
    if not names:
        sys.stdout.write(
            "No providers installed. Install a provider plugin, e.g. pip install fth-samsara.\n"
        )
        return
    table = Table("provider", "distribution", "endpoints", "default base URL")
    for name in names:
        spec = registry.spec(name)
        table.add_row(
            name, registry.owners.get(name, "-"), str(len(spec.endpoints)), spec.default_base_url
        )
    _console().print(table)


@app.command()
def endpoints(
    provider: Annotated[str | None, typer.Argument(help="Only this provider's endpoints.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List endpoints with their paths and parameters."""
    registry = EndpointRegistry.from_plugins()
    found = registry.list_endpoints(provider)
    if as_json:
        _print_json([e.describe() for e in found])
        return
    if not found:
        sys.stdout.write("No endpoints: no provider plugins are installed.\n")
        return
    table = Table("provider", "endpoint", "path", "params")
    for e in found:
        params = ", ".join(p.name + ("*" if p.required else "") for p in e.params)
        table.add_row(e.provider, e.name, f"{e.method} {e.path}", params or "-")
    _console().print(table)
    sys.stdout.write("* required\n")


@config_app.command("check")
def config_check(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Config file to check.")
    ] = DEFAULT_CONFIG,
) -> None:
    """Validate a config file against the schema and the installed plugins."""
    loaded = load_config(config)
    with ProviderManager.from_config(loaded) as manager:
        names = [p.name for p in manager.enabled_providers()]
    enabled = ", ".join(names) or "none"
    sys.stdout.write(f"{config}: OK (providers enabled: {enabled})\n")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and turn every error into one line and an exit code.

    Usage errors are click's own (exit 2, with the usage line); everything else that escapes a
    command ends here.
    """
    try:
        app(args=argv, prog_name="fth")
    except FthError as exc:
        _fail(exc, str(exc), exc.exit_code)
    except Exception as exc:
        _fail(exc, f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)", 1)


def _fail(exc: BaseException, message: str, code: int) -> None:
    if _state["debug"]:
        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    sys.stderr.write(redact(f"error: {message}") + "\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
