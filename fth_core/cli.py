"""The ``fth`` command line (typer + rich).

Every command reports problems as one ``error: ...`` line on stderr and exits with the code of
the error (0 ok, 1 failure, 2 usage or config, 3 partial); ``--debug`` adds the traceback and
debug logs. Secrets never reach the output: config reprs mask keys and logs are redacted.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from fth_core import __version__
from fth_core.config import load_config
from fth_core.endpoints import parse_utc
from fth_core.errors import ConfigError, FthError
from fth_core.logs import configure_logging, redact
from fth_core.pipeline import PipelineError, RunSummary, TelemetryPipeline
from fth_core.plugins import load_plugins
from fth_core.provider import ProviderManager
from fth_core.registry import EndpointRegistry
from fth_core.report import RunProgress, console, print_summary
from fth_core.sim.launcher import launch_simulators
from fth_core.store import DatasetStore

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
        console().print(table)
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
        _print_json(
            [
                registry.describe(name)
                | {"endpoints": [e.name for e in registry.list_endpoints(name)]}
                for name in names
            ]
        )
        return
    if not names:
        selection = os.environ.get("FTH_LOAD_PLUGINS")
        if selection is not None:
            sys.stdout.write(
                f"No providers loaded: FTH_LOAD_PLUGINS={selection!r} selects none of the"
                " installed plugins (unset it to load them all).\n"
            )
        else:
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
    console().print(table)


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
    console().print(table)
    sys.stdout.write("* required\n")


@config_app.command("check")
def config_check(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Config file to check.")
    ] = DEFAULT_CONFIG,
) -> None:
    """Validate a config file against the schema and the installed plugins."""
    loaded = load_config(config)
    try:
        manager = ProviderManager.from_config(loaded)
    except ConfigError as exc:  # name the file, as load_config's errors do
        raise ConfigError(exc.problems, str(config)) from None
    with manager:
        names = [p.name for p in manager.enabled_providers()]
    enabled = ", ".join(names) or "none"
    sys.stdout.write(f"{config}: OK (providers enabled: {enabled})\n")


def _run_pipeline(
    pipeline: TelemetryPipeline,
    *,
    start: str | None,
    end: str | None,
    providers: list[str] | None,
    quiet: bool,
    as_json: bool,
) -> RunSummary:
    try:
        with RunProgress(quiet or as_json) as progress:
            summary = pipeline.run(start=start, end=end, providers=providers, progress=progress)
    except PipelineError as exc:
        if exc.summary is not None:
            if as_json:
                _print_json(exc.summary.as_dict())
            elif not quiet:
                print_summary(exc.summary)
        raise
    if as_json:
        _print_json(summary.as_dict())
    elif not quiet:
        print_summary(summary)
    return summary


def _parse_when(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) == 10:  # a bare date means its UTC midnight
        text += "T00:00:00Z"
    try:
        parse_utc(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
    return text


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Config file.")] = DEFAULT_CONFIG,
    start: Annotated[
        str | None,
        typer.Option(help="Start (UTC date or ISO time); default: watermark − lookback."),
    ] = None,
    end: Annotated[str | None, typer.Option(help="End (exclusive); default: now.")] = None,
    provider: Annotated[
        list[str] | None, typer.Option("--provider", "-p", help="Only this provider (repeatable).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Fetch new telemetry from every enabled provider into the dataset (incremental)."""
    pipeline = TelemetryPipeline(config)
    summary = _run_pipeline(
        pipeline,
        start=_parse_when(start, "--start"),
        end=_parse_when(end, "--end"),
        providers=provider,
        quiet=quiet,
        as_json=as_json,
    )
    raise typer.Exit(summary.exit_code)


@app.command()
def demo(
    vehicles: Annotated[int, typer.Option(min=1, max=500, help="Vehicles per provider.")] = 10,
    days: Annotated[int, typer.Option(min=1, max=60, help="Days of history to fetch.")] = 3,
    out: Annotated[Path, typer.Option(help="Folder for the config and dataset.")] = Path(
        "demo-data"
    ),
) -> None:
    """Run the whole job against the built-in simulators on 127.0.0.1 — no credentials needed."""
    registry = EndpointRegistry.from_plugins()
    screen = console()
    with launch_simulators(registry, vehicles=vehicles) as sims:
        if not sims:
            raise FthError(
                "no installed provider ships a simulator: pip install fth-motive fth-samsara"
            )
        out.mkdir(parents=True, exist_ok=True)
        config_path = out / "fth.yaml"
        dataset = out / "dataset"
        start_day = (datetime.now(UTC) - timedelta(days=days)).date()
        document = {
            "providers": {
                s.provider: {"base_url": s.base_url, "api_key": s.simulator.api_key} for s in sims
            },
            "pipeline": {
                "default_start_date": start_day.isoformat(),
                "lookback_days": 1,
                "batch_increment_days": 1,
            },
            "storage": {"parquet_path": str(dataset)},
        }
        config_path.write_text(
            "# Written by `fth demo`: points at simulators that only live while the demo runs.\n"
            + yaml.safe_dump(document, sort_keys=False),
            encoding="utf-8",
        )
        for sim in sims:
            screen.print(
                f"simulator {sim.provider}: {sim.base_url} ({vehicles} vehicles)", highlight=False
            )
        screen.print(
            f"config: {config_path}; fetching {days} day(s) from {start_day} to now",
            highlight=False,
        )
        pipeline = TelemetryPipeline.from_config(load_config(config_path), registry)
        summary = _run_pipeline(
            pipeline, start=None, end=None, providers=None, quiet=False, as_json=False
        )
    screen.print(
        "\nRead it with pandas:\n"
        "    import pandas as pd\n"
        f"    df = pd.read_parquet({str(dataset)!r})\n"
        "    print(df.groupby('provider', observed=True).size())",
        highlight=False,
    )
    raise typer.Exit(summary.exit_code)


@app.command()
def simulate(
    provider: Annotated[
        list[str] | None, typer.Option("--provider", "-p", help="Only this provider (repeatable).")
    ] = None,
    vehicles: Annotated[int, typer.Option(min=1, max=5000, help="Vehicles per provider.")] = 10,
    seed: Annotated[int, typer.Option(help="Fleet seed (same seed, same fleet).")] = 7,
    latency_ms: Annotated[float, typer.Option(min=0, help="Added latency per request.")] = 0.0,
    port: Annotated[int, typer.Option(min=0, max=65535, help="First port (0: any free).")] = 0,
) -> None:
    """Serve the provider simulators on 127.0.0.1 in the foreground until Ctrl-C."""
    registry = EndpointRegistry.from_plugins()
    with launch_simulators(
        registry, provider, vehicles=vehicles, seed=seed, latency_ms=latency_ms, port=port
    ) as sims:
        if not sims:
            raise FthError("no installed provider ships a simulator")
        for sim in sims:
            sys.stdout.write(
                f"{sim.provider}: base_url={sim.base_url} api_key={sim.simulator.api_key}\n"
            )
        sys.stdout.write("Serving; press Ctrl-C to stop.\n")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            sys.stdout.write("stopped\n")


@app.command()
def prune(
    config: Annotated[Path, typer.Option("--config", "-c", help="Config file.")] = DEFAULT_CONFIG,
    retention_days: Annotated[
        int | None,
        typer.Option(min=1, help="Keep this many days (default: storage.retention_days)."),
    ] = None,
) -> None:
    """Delete date partitions older than the retention period."""
    loaded = load_config(config)
    keep = retention_days or loaded.storage.retention_days
    if keep is None:
        raise ConfigError("storage.retention_days is not set; pass --retention-days")
    store = DatasetStore(loaded.storage.parquet_path)
    with store.locked():
        removed = store.prune(keep)
    sys.stdout.write(f"removed {len(removed)} partition(s) older than {keep} days\n")


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
