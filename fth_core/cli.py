"""The ``fth`` command line (typer + rich).

Every command reports problems as one ``error: ...`` line on stderr and exits with the code of
the error (0 ok, 1 failure, 2 usage or config, 3 partial); ``--debug`` adds the traceback and
debug logs. Secrets never reach the output: config reprs mask keys and logs are redacted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import yaml
from typer.core import TyperGroup

from fth_core import __version__
from fth_core.checks import check_config, find_config
from fth_core.config import FthConfig, load_config, parse_config
from fth_core.endpoints import human_time, parse_utc
from fth_core.errors import AuthError, ConfigError, FthError
from fth_core.logs import configure_logging, get_logger, redact, register_secret
from fth_core.pipeline import PipelineError, RunSummary, TelemetryPipeline, failed_window_line
from fth_core.plugins import load_plugins
from fth_core.provider import Provider, ProviderManager
from fth_core.registry import EndpointRegistry
from fth_core.report import RunProgress, console, final_line, human_bytes, print_summary, table
from fth_core.scaffold import render_config
from fth_core.store import RUNS_KEPT, DatasetStore

__all__ = ["app", "console_main", "main"]


class _FthGroup(TyperGroup):
    """The ``fth`` command: ``--debug`` is global and goes anywhere (``fth run --debug`` as
    ``fth --debug run``). It is moved to the front, where the root option takes it; only up
    to a ``--``, after which everything is an argument."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        if "--debug" in args[:end]:
            args = ["--debug"] + [a for a in args[:end] if a != "--debug"] + args[end:]
        return super().parse_args(ctx, args)


# -h as well as --help, on every command: help_option_names is inherited by subcommands.
_HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    cls=_FthGroup,
    name="fth",
    help="Fleet Telemetry Hub: pull fleet telematics into one deduplicated Parquet dataset.",
    epilog="Exit codes: 0 ok, 1 failure, 2 usage or config error (or the dataset in use),"
    " 3 partial, 130 / 143 interrupted (SIGINT / SIGTERM). Example: fth -h; fth run -h",
    no_args_is_help=True,
    add_completion=True,  # fth --install-completion / --show-completion
    pretty_exceptions_enable=False,
    context_settings=_HELP,
)
config_app = typer.Typer(
    help="Check and scaffold configuration.", no_args_is_help=True, context_settings=_HELP
)
app.add_typer(config_app, name="config", epilog="Example: fth config check -c config/fth.yaml")
state_app = typer.Typer(
    help="Show or change the dataset's state: watermarks and plugin state.",
    no_args_is_help=True,
    context_settings=_HELP,
)
app.add_typer(state_app, name="state", epilog="Example: fth state show")

_state = {"debug": False}


class QueryError(FthError):
    """The SQL given to ``fth query`` did not run."""

    exit_code = 2


class UnconfirmedError(FthError):
    """A change asked for without ``--yes`` where nobody can confirm it (stdin is not a
    terminal): refused, as a usage error, rather than guessed either way."""

    exit_code = 2


DEFAULT_CONFIG = Path("config/fth.yaml")
# Where the config comes from, in order (fth_core.checks.find_config; README: Configuration).
CONFIG_HELP = (
    "Config file. Without it: $FTH_CONFIG, else config/fth.yaml here or in the nearest"
    " parent folder that has one."
)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"fth {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs (goes anywhere).")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file for the command (as the command's own -c). Without it:"
            " $FTH_CONFIG, else config/fth.yaml here or in the nearest parent that has one.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    _state["debug"] = debug
    configure_logging("DEBUG" if debug else "WARNING")
    if config is not None:  # the default of the command's own --config, which still wins
        defaults = _config_defaults(ctx.command, str(config))
        if ctx.invoked_subcommand not in defaults:
            raise typer.BadParameter(
                f"fth {ctx.invoked_subcommand} takes no config file", param_hint="--config"
            )
        ctx.default_map = defaults
    else:  # FTH_CONFIG, then ./config/fth.yaml and the parents' (a command's -c still wins)
        found = find_config(DEFAULT_CONFIG)
        if found != DEFAULT_CONFIG:
            ctx.default_map = _config_defaults(ctx.command, str(found))


def _config_defaults(group: Any, config: str) -> dict[str, Any]:
    """click's ``default_map`` for ``group``: ``{"config": config}`` for each command that has
    a ``--config``, nested as the commands are (``{"state": {"show": {...}}}``)."""
    found: dict[str, Any] = {}
    for name, command in getattr(group, "commands", {}).items():
        if hasattr(command, "commands"):
            nested = _config_defaults(command, config)
            if nested:
                found[name] = nested
        elif any(p.name == "config" for p in command.params):
            found[name] = {"config": config}
    return found


@app.command(epilog="Example: fth plugins --all")
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
        listing = table("plugin", "distribution", "version", "hooks", "status")
        for info in infos:
            status = "skipped" if info.skipped else f"error: {info.error}" if info.error else "ok"
            listing.add_row(
                info.name,
                info.distribution or "-",
                info.version or "-",
                ", ".join(h.removeprefix("fth_") for h in info.hooks) or "-",
                status,
            )
        console().print(listing)
    if registry_error:
        raise FthError(registry_error)


@app.command(epilog="Example: fth providers --json")
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
    listing = table("provider", "distribution", "endpoints", "default base URL")
    for name in names:
        spec = registry.spec(name)
        listing.add_row(
            name, registry.owners.get(name, "-"), str(len(spec.endpoints)), spec.default_base_url
        )
    console().print(listing)


@app.command(epilog="Example: fth endpoints motive")
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
    # The names one types are never cut, however narrow the terminal: rich narrows the
    # wrapping columns first, and path and params fold (whole, over lines) rather than end in "…".
    listing = table()
    for name, wrap in (("provider", False), ("endpoint", False), ("path", True), ("params", True)):
        listing.add_column(name, no_wrap=not wrap, overflow="fold")
    for e in found:
        params = ", ".join(p.name + ("*" if p.required else "") for p in e.params)
        listing.add_row(e.provider, e.name, f"{e.method} {e.path}", params or "-")
    console().print(listing)
    sys.stdout.write("* required\n")


@config_app.command("check", epilog="Example: fth config check -c config/fth.yaml --offline")
def config_check(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Config file to check; " + CONFIG_HELP)
    ] = DEFAULT_CONFIG,
    offline: Annotated[
        bool, typer.Option("--offline", help="Only validate; make no requests.")
    ] = False,
) -> None:
    """Validate a config file, then try one cheap authenticated request per enabled provider."""
    loaded = check_config(config)  # every mistake at once, the dataset path's too
    with ProviderManager.from_config(loaded) as manager:
        enabled = manager.enabled_providers()
        names = ", ".join(p.name for p in enabled) or "none"
        sys.stdout.write(f"{config}: OK (providers enabled: {names})\n")
        if offline:
            return
        errors = []
        for provider in enabled:
            line, error = _probe(provider)
            errors += [error] if error is not None else []
            sys.stdout.write(f"{provider.name}: {line}\n")
    refused = sum(isinstance(error, AuthError) for error in errors)
    if refused:  # a mistake in the config, as much as a typo is
        raise ConfigError(f"{refused} provider(s) refused the credentials")
    if errors:
        raise FthError(f"{len(errors)} provider(s) failed the connection check")


def _probe(provider: Provider) -> tuple[str, FthError | None]:
    """One cheap request: the first page of the first endpoint that needs no parameters."""
    endpoint = next(
        (e for e in provider.spec.endpoints if not any(p.required for p in e.params)), None
    )
    if endpoint is None:
        return "skipped (no endpoint without required parameters)", None
    started = time.monotonic()
    try:
        provider.client().fetch(endpoint, typed=False)
    except FthError as exc:  # the line already starts with the provider's name
        return f"FAILED {str(exc).removeprefix(f'{provider.name}: ')}", exc
    elapsed = (time.monotonic() - started) * 1000
    line = f"reachable and authenticated ({endpoint.method} {endpoint.path} in {elapsed:.0f} ms)"
    return line, None


@config_app.command("init", epilog="Example: fth config init --providers motive,samsara")
def config_init(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the config.")
    ] = DEFAULT_CONFIG,
    providers_: Annotated[
        str | None,
        typer.Option("--providers", help="Comma list, e.g. motive,samsara (default: installed)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write an annotated config with every option, its default and its meaning."""
    registry = EndpointRegistry.from_plugins()
    names = [n.strip().lower() for n in (providers_ or "").split(",") if n.strip()] or None
    for name in names or []:
        registry.spec(name)  # an unknown provider is a clear error, before anything is written
    if output.exists() and not force:
        raise ConfigError(f"{output} already exists; pass --force to overwrite it")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_config(registry, names), encoding="utf-8")
    sys.stdout.write(
        f"wrote {output}; set the API keys in the environment, then: fth config check -c {output}\n"
    )


@app.command(epilog="Example: fth fetch motive vehicles --format csv -o vehicles.csv")
def fetch(
    provider: Annotated[str, typer.Argument(help="Provider name, e.g. motive.")],
    endpoint: Annotated[str, typer.Argument(help="Endpoint name (see fth endpoints).")],
    param: Annotated[
        list[str] | None,
        # -P: -p is --provider, in run, demo and simulate
        typer.Option("--param", "-P", help="key=value (repeatable); snake_case or API names."),
    ] = None,
    output_format: Annotated[  # a Literal: help lists the choices, a wrong one names them
        Literal["table", "json", "csv", "parquet"] | None,
        typer.Option(
            "--format",
            "-f",
            help="json is the API's own items; default: -o's extension, else table.",
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
    config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)] = DEFAULT_CONFIG,
) -> None:
    """Call any registered endpoint once (all pages) and print or save the result."""
    chosen: str = output_format or ""
    if not chosen:  # -o items.json means json: the extension says what is wanted
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        chosen = suffix if suffix in ("json", "csv", "parquet") else "table"
    if chosen == "parquet" and output is None:
        raise typer.BadParameter("parquet needs --output FILE", param_hint="--format")
    if chosen == "table" and output is not None:  # before any request is made
        raise typer.BadParameter(
            "table output goes to the screen; use csv/json/parquet", param_hint="--output"
        )
    params: dict[str, str] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not key=value", param_hint="--param")
        params[key.strip()] = value
    with _provider_from(config, provider) as found:
        if chosen == "json":  # the API's own items: nested, with its key names
            items = found.client().fetch_all(found.endpoint(endpoint), params, typed=False)
        else:
            frame = found.to_dataframe(endpoint, **params)
    if chosen != "json":
        _emit_frame(frame, chosen, output)
        return
    _write(json.dumps(items, indent=2, ensure_ascii=False, default=str) + "\n", output)
    if output is not None:
        sys.stderr.write(f"wrote {len(items):,} rows to {output}\n")


def _provider_from(config: Path, name: str) -> Provider:
    """The provider ``name`` as configured in ``config`` — or, with no config file, from its
    defaults and the ``<NAME>_<FIELD>`` environment variables (``MOTIVE_API_KEY``)."""
    registry = EndpointRegistry.from_plugins()
    loaded = load_config(config) if config.exists() else None
    if loaded is not None and name.lower() in loaded.providers:
        return Provider(registry.spec(name), loaded.providers[name.lower()], registry)
    registry.spec(name)
    fallback = parse_config({"providers": {name.lower(): {}}})
    return Provider(registry.spec(name), fallback.providers[name.lower()], registry)


def _emit_frame(frame: Any, output_format: str, output: Path | None) -> None:
    if output_format == "parquet":
        assert output is not None
        frame.to_parquet(output, index=False)
    elif output_format == "csv":
        nested = [c for c in frame.columns if frame[c].dtype == object]  # lists, dicts: JSON
        frame = frame.assign(**{str(c): frame[c].map(_as_json) for c in nested})
        _write(frame.to_csv(index=False), output)
    elif output_format == "json":
        _write(frame.to_json(orient="records", date_format="iso", indent=2) + "\n", output)
    else:
        _print_table(frame)
    if output is not None:
        sys.stderr.write(f"wrote {len(frame):,} rows to {output}\n")


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def _cell(value: Any) -> str:
    """A table cell: missing values (None, NaN, NaT) are blank, not ``nan``."""
    import pandas as pd  # already loaded by the frame being printed

    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    return str(_as_json(value))


def _as_json(value: Any) -> Any:
    """A nested value (list, dict, array) as JSON text, as the API wrote it — never a Python
    repr such as ``{'a': 1}``; anything else unchanged."""
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays (DuckDB lists)
        value = value.tolist()
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _print_table(frame: Any, limit: int = 50) -> None:
    if frame.empty:
        sys.stdout.write("(no rows)\n")
        return
    screen = console()
    rows = [[_cell(v) for v in row] for row in frame.head(limit).itertuples(index=False)]
    names = [str(c) for c in frame.columns]
    # Only the columns that fit, each up to 24 characters wide: squeezing 30 columns into one
    # screen would truncate every cell (ids included) to "1…".
    shown, used = 0, 1
    for i, name in enumerate(names):
        width = min(max(len(name), *(len(r[i]) for r in rows)), 24) + 3
        if shown and used + width > screen.width:
            break
        shown, used = shown + 1, used + width
    listing = table(*names[:shown])
    for cells in rows:
        listing.add_row(*cells[:shown])
    screen.print(listing)
    if len(frame) > limit:
        sys.stdout.write(f"... {len(frame) - limit} more rows (use --format csv or json)\n")
    if shown < len(names):
        sys.stdout.write(
            f"... {len(names) - shown} more columns: {', '.join(names[shown:])}"
            " (use --format csv or json)\n"
        )


@app.command(epilog="Example: fth status --runs -c config/fth.yaml")
def status(
    config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)] = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    runs: Annotated[
        bool, typer.Option("--runs", help=f"Also list the last {RUNS_KEPT} runs.")
    ] = False,
) -> None:
    """Where the dataset is, what it holds, how far each provider got, what the last run did.

    Reads only: no request, so no credentials are needed (nor any other command that makes
    none: ``query``, ``prune``, ``state``).
    """
    loaded = load_config(config, credentials=False)
    store = DatasetStore(loaded.storage.parquet_path)
    state = store.load_state()
    partitions = store.partitions()
    recorded = state.get("providers", {})
    # Every configured provider, "never run" (null) included, so --json matches the text.
    watermarks: dict[str, str | None] = {
        name: (recorded.get(name) or {}).get("watermark")
        for name in sorted(set(loaded.providers) | set(recorded))
    }
    last_run = _last_run(state.get("last_run"))
    ahead = [name for name, mark in watermarks.items() if _in_future(mark)]
    report: dict[str, Any] = {
        "dataset": str(store.root),
        "partitions": len(partitions),
        "first_date": partitions[0].isoformat() if partitions else None,
        "last_date": partitions[-1].isoformat() if partitions else None,
        "size_bytes": store.size_bytes(),
        "watermarks": watermarks,
        "watermarks_in_future": ahead,
        "last_run": last_run,
    } | _totals(store)
    report |= _health(store)
    history = _history(state)
    if runs:
        report["runs"] = history
    if as_json:
        _print_json(report)
        return
    screen = console()
    span = f"{report['first_date']} .. {report['last_date']}" if partitions else "no data yet"
    screen.print(f"dataset: {report['dataset']}", highlight=False)
    screen.print(
        f"partitions: {len(partitions)} ({span}), {human_bytes(report['size_bytes'])}",
        highlight=False,
    )
    if partitions or report["quarantine"]["rows"]:
        for line in _totals_lines(report["totals"], report["quarantine"]):
            screen.print(line, highlight=False, soft_wrap=True)
    holder = report["held_by"]
    screen.print(f"lock: held by {holder}" if holder else "lock: free", highlight=False)
    for name, mark in watermarks.items():
        flag = (
            " (in the future: incremental runs fetch nothing until then)" if name in ahead else ""
        )
        through = f"data through {_when(mark)}" if mark else "never run"
        screen.print(f"{name}: {through}{flag}", highlight=False)
    if last_run is None:
        screen.print("last run: none", highlight=False)
    else:
        _print_run(screen, "last run: ", last_run)
    if runs:
        screen.print("runs, newest first:" if history else "runs: none", highlight=False)
        for past in history:
            _print_run(screen, "  ", past, elapsed=True)
    for line in _health_lines(report):
        screen.print(line, highlight=False, soft_wrap=True)


def _health(store: DatasetStore) -> dict[str, Any]:
    """``fth status``'s account of the dataset's health: who holds its lock (``held_by``,
    null when nobody does), the files whose footer does not read (``damaged``: truncated,
    mostly — ``fth verify`` reads every page), and what is not a partition yet other readers
    take for data (``not_partitions``, see :meth:`DatasetStore.strays`)."""
    return {
        "held_by": store.holder(),
        "damaged": [
            {"path": str(path), "problem": problem} for path, problem in store.damaged(whole=False)
        ],
        "not_partitions": [str(path) for path in store.strays()],
    }


def _health_lines(report: dict[str, Any]) -> list[str]:
    """One warning line per damaged file and per stray of :func:`_health`'s report."""
    damaged = [
        f"damaged: {d['path']} ({d['problem']}): readers of the dataset fail on it;"
        " `fth verify` checks every file whole"
        for d in report["damaged"]
    ]
    strays = [
        f"not a partition: {path}: fth ignores it, but other readers of the dataset (pandas,"
        " DuckDB, polars) may read it as data: move it out of the dataset"
        for path in report["not_partitions"]
    ]
    return damaged + strays


@app.command(epilog="Example: fth verify -c config/fth.yaml")
def verify(
    config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)] = DEFAULT_CONFIG,
) -> None:
    """Read every data and quarantine file whole, each page against its checksum, and name
    each damaged one: one line per file, exit 1 when there is any.

    A damaged file breaks every reader of the dataset. A run that has to merge into one sets it
    aside under `_damaged/` and fetches its rows again; `fth run --start <its date>` makes a
    run do so (or move the file out of the dataset by hand)."""
    store = DatasetStore(load_config(config, credentials=False).storage.parquet_path)
    checked = len(store.data_files()) + len(store.quarantine_files())
    damaged = 0
    for path, problem in store.damaged():
        damaged += 1
        sys.stdout.write(f"{path}: {problem}\n")
    if damaged:
        raise FthError(
            f"{damaged} of {checked} file(s) in {store.root} damaged; `fth run --start <date>`"
            " sets a damaged file of that date aside and fetches its rows again"
        )
    sys.stdout.write(f"{checked} file(s) in {store.root} verified: none damaged\n")


def _when(text: str | None) -> str:
    """A recorded time as every human line shows one (:func:`human_time`); what does not
    parse as one (a hand-edited state) as it is, and nothing recorded as ``-``."""
    if not text:
        return "-"
    try:
        return human_time(text)
    except (TypeError, ValueError):
        return str(text)


def _count(value: Any) -> str:
    """A count as every human line groups one: ``6,876``; what is not a number as it is."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def _in_future(mark: str | None) -> bool:
    """Whether a recorded watermark lies past now: left by a run whose --end was in the future
    (refused since), it makes every incremental run start after now and fetch nothing."""
    try:
        return mark is not None and datetime.fromisoformat(mark) > datetime.now(UTC)
    except (TypeError, ValueError):  # not a time: not this check's business
        return False


def _history(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs the state file keeps, newest first, as :func:`_last_run` words them; a state
    written before runs were kept gives its last run alone."""
    kept = state.get("runs")
    if not isinstance(kept, list):
        kept = [state["last_run"]] if isinstance(state.get("last_run"), dict) else []
    shown = (_last_run(run) for run in reversed(kept) if isinstance(run, dict))
    return [run for run in shown if run is not None]


def _totals(store: DatasetStore) -> dict[str, Any]:
    """``fth status``'s dataset-wide figures: rows, vehicles and VINs per provider, and the
    quarantine's rows (see :meth:`DatasetStore.totals`)."""
    totals = store.totals()
    return {
        "totals": {
            "rows": sum(p["rows"] for p in totals.providers.values()),
            "providers": dict(sorted(totals.providers.items())),
            "unreadable_files": totals.unreadable,
        },
        "quarantine": {
            "rows": sum(totals.quarantined.values()),
            "providers": dict(sorted(totals.quarantined.items())),
            "path": str(store.root / "_quarantine"),
        },
    }


def _totals_lines(totals: dict[str, Any], quarantine: dict[str, Any]) -> list[str]:
    each = "; ".join(
        f"{name} {p['rows']:,}: {p['vehicles']:,} vehicles, {p['vins']:,} VINs"
        for name, p in totals["providers"].items()
    )
    lines = [f"rows: {totals['rows']:,}" + (f" ({each})" if each else "")]
    by_provider = ", ".join(f"{name} {rows:,}" for name, rows in quarantine["providers"].items())
    lines.append(
        f"quarantined: {quarantine['rows']:,} rows"
        + (
            f" ({by_provider}) in {quarantine['path']}; see them with: "
            'fth query "select * from quarantine"'
            if by_provider
            else ""
        )
    )
    if totals["unreadable_files"]:
        lines.append(
            f"unreadable: {len(totals['unreadable_files'])} file(s) not counted (fth verify)"
        )
    return lines


def _print_run(screen: Any, lead: str, run: dict[str, Any], *, elapsed: bool = False) -> None:
    """One run of ``fth status``: when, how it ended, rows, failures (the first five below)."""
    took = f"{run['elapsed_seconds']}s, " if elapsed else ""
    screen.print(
        f"{lead}{_when(run['started_at'])} {run['status']}, "
        f"{_count(run['rows_written'])} new rows, {took}{len(run['failures'])} failure(s)",
        highlight=False,
    )
    indent = " " * (len(lead) - len(lead.lstrip()) + 2)
    for failure in run["failures"][:5]:
        screen.print(f"{indent}{failure}", highlight=False, soft_wrap=True)


def _last_run(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if not run:
        return None
    failures = [
        line
        for name, provider in run.get("providers", {}).items()
        for line in _failed(name, provider)
    ]
    return {
        "started_at": run.get("started_at"),
        "status": run.get("status"),
        "rows_written": run.get("rows_written"),
        "elapsed_seconds": run.get("elapsed_seconds"),
        "failures": failures,
    }


def _failed(name: str, provider: dict[str, Any]) -> list[str]:
    """A provider's recorded failures, each naming the window it stopped at as ``fth run``
    printed it (a state written before windows were recorded gives just the provider)."""
    texts: list[str] = provider.get("failures", [])
    index, start, end = (provider.get(f"failed_window{part}") for part in ("", "_start", "_end"))
    if index is None or start is None or end is None:
        return [f"{name}: {text.removeprefix(f'{name}: ')}" for text in texts]
    first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return [failed_window_line(name, index, first, last, text) for text in texts]


@app.command(
    epilog='Example: fth query -f csv "select provider, count(*) from telemetry group by 1"'
)
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the views `telemetry` and `quarantine`.")],
    output_format: Annotated[  # a Literal: help lists the choices, a wrong one names them
        Literal["table", "csv", "json"], typer.Option("--format", "-f", help="Output format.")
    ] = "table",
    config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)] = DEFAULT_CONFIG,
) -> None:
    """Run SQL (DuckDB) over the dataset: the view `telemetry`, and `quarantine` (the rows
    set aside, with their `reason`)."""
    try:
        import duckdb
    except ImportError:
        raise FthError("fth query needs DuckDB: pip install 'fth-core[query]'") from None
    store = DatasetStore(load_config(config, credentials=False).storage.parquet_path)
    # The data files by name, not a glob: a stray beside them (date=2026-11-03.bak) is not data.
    files = store.data_files()
    if not files:
        raise FthError(f"no data in {store.root} yet; run `fth run` first")
    listed = ", ".join("'" + str(path).replace("'", "''") + "'" for path in files)
    with duckdb.connect() as con:
        con.execute(
            "CREATE VIEW telemetry AS SELECT * FROM "
            f"read_parquet([{listed}], hive_partitioning = true)"
        )
        _quarantine_view(con, store)
        try:
            frame = con.execute(sql).df()
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {' '.join(str(exc).split())}") from None
    _emit_frame(frame, output_format, None)


# Names of state keys and environment variables whose values ``fth state show`` never prints.
_SECRETISH = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|SESSION|CREDENTIAL", re.IGNORECASE)
_YES = typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")


def _confirm(question: str, yes: bool) -> None:
    """Ask ``question`` on the terminal, unless ``--yes``. With no terminal to ask on and no
    ``--yes``, refuse (exit 2): a script must say what it wants. A "no" changes nothing
    (exit 1)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UnconfirmedError("not confirmed: stdin is not a terminal; pass --yes to change it")
    if not typer.confirm(question, default=False):
        sys.stdout.write("nothing changed\n")
        raise typer.Exit(1)


def _state_target(name: str, config: FthConfig, state: dict[str, Any]) -> str:
    """``name`` as a provider of the config or of the state file, else a usage error."""
    known = set(config.providers) | set(state.get("providers") or {})
    if name.lower() not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"{name}: not a provider of the config or the state (known: {listed})")
    return name.lower()


def _masked(value: Any) -> Any:
    """``value`` with whatever sits under a secret-sounding key (``session_id``, ``token``)
    replaced by ``***``: a plugin's state may hold one."""
    if isinstance(value, dict):
        return {k: "***" if _SECRETISH.search(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _register_secrets(config: FthConfig) -> None:
    """Make :func:`redact` hide the secrets this config and environment give the providers
    (those a run registers), though no provider is built: ``fth state show`` needs none."""
    for name, settings in config.providers.items():
        for key, value in settings.credentials.items():
            if _SECRETISH.search(key) and isinstance(value, str):
                register_secret(value)
        for variable, value in settings.env.items():
            if variable.startswith(f"{name.upper()}_") and _SECRETISH.search(variable):
                register_secret(value)


@state_app.command("show", epilog="Example: fth state show --json")
def state_show(
    config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)] = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="The whole state file.")] = False,
) -> None:
    """The state file: each provider's watermark and plugin state (secrets redacted)."""
    loaded = load_config(config, credentials=False)
    _register_secrets(loaded)
    store = DatasetStore(loaded.storage.parquet_path)
    state = json.loads(redact(json.dumps(_masked(store.load_state()), default=str)))
    if as_json:
        _print_json(state)
        return
    recorded = state.get("providers") or {}
    sys.stdout.write(f"state: {store.state_path}\n")
    for name in sorted(set(loaded.providers) | set(recorded)):
        entry = recorded.get(name) or {}
        if not entry.get("watermark"):
            sys.stdout.write(f"{name}: never run\n")
            continue
        updated = f" (set {_when(entry['updated_at'])})" if entry.get("updated_at") else ""
        sys.stdout.write(f"{name}: watermark {_when(entry['watermark'])}{updated}\n")
        if entry.get("state"):
            sys.stdout.write(f"  plugin state: {json.dumps(entry['state'], sort_keys=True)}\n")
    runs = state.get("runs") if isinstance(state.get("runs"), list) else []
    sys.stdout.write(f"runs kept: {len(runs)} (fth status --runs lists them)\n")


@state_app.command("set-watermark", epilog="Example: fth state set-watermark motive 2026-03-01")
def state_set_watermark(
    provider: Annotated[str, typer.Argument(help="Provider name, e.g. motive.")],
    when: Annotated[str, typer.Argument(metavar="TIME", help="UTC date or ISO time (with zone).")],
    config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)] = DEFAULT_CONFIG,
    yes: Annotated[bool, _YES] = False,
) -> None:
    """Set where PROVIDER's next run starts (less the lookback), under the dataset's lock.

    The provider's plugin state is cleared: it described the old position (a feed version),
    so the next run starts from TIME as a first run would from its default start date.
    """
    loaded = load_config(config, credentials=False)
    store = DatasetStore(loaded.storage.parquet_path)
    name = _state_target(provider, loaded, store.load_state())
    moment = parse_utc(_parse_when(when, "TIME") or when)
    if moment > datetime.now(UTC):
        raise ConfigError(f"TIME {human_time(moment)} is in the future: no data is there yet")
    before = store.watermark(name)
    was = human_time(before) if before else "never run"
    _confirm(
        f"Set {name}'s watermark from {was} to {human_time(moment)} (plugin state cleared)?", yes
    )
    with store.locked():
        if store.watermark(name) != before:  # a run committed while we asked
            raise FthError(f"{name}'s watermark changed meanwhile; nothing changed, try again")
        store.set_watermark(name, moment)
    sys.stdout.write(f"{name}: watermark set to {human_time(moment)} (was {was})\n")


@state_app.command("reset", epilog="Example: fth state reset motive --yes")
def state_reset(
    provider: Annotated[str, typer.Argument(help="Provider name, e.g. motive.")],
    config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)] = DEFAULT_CONFIG,
    yes: Annotated[bool, _YES] = False,
) -> None:
    """Forget PROVIDER's watermark and plugin state, under the dataset's lock: its next run
    starts as its first did (pipeline.default_start_date). Its data stays."""
    loaded = load_config(config, credentials=False)
    store = DatasetStore(loaded.storage.parquet_path)
    name = _state_target(provider, loaded, store.load_state())
    before = store.watermark(name)
    if name not in (store.load_state().get("providers") or {}):
        sys.stdout.write(f"{name}: no state to reset\n")
        return
    was = human_time(before) if before else "no watermark"
    _confirm(f"Forget {name}'s watermark ({was}) and plugin state?", yes)
    with store.locked():
        store.forget_provider(name)
    sys.stdout.write(f"{name}: state reset (was {was}); its next run starts from the beginning\n")


def _quarantine_view(con: Any, store: DatasetStore) -> None:
    """The view ``quarantine`` on ``con``: every quarantine file (both names, see
    :meth:`DatasetStore.quarantine_files`) with its hive ``date``; no rows when there are none."""
    import pyarrow as pa  # loaded already, by the store

    from fth_core.schema import QUARANTINE_SCHEMA

    files = store.quarantine_files()
    if not files:
        empty = QUARANTINE_SCHEMA.append(pa.field("date", pa.date32())).empty_table()
        con.register("quarantine", empty)
        return
    listed = ", ".join("'" + str(path).replace("'", "''") + "'" for path in files)
    con.execute(
        "CREATE VIEW quarantine AS SELECT * FROM "
        f"read_parquet([{listed}], hive_partitioning = true)"
    )


def _run_pipeline(
    pipeline: TelemetryPipeline,
    *,
    start: str | None,
    end: str | None,
    providers: list[str] | None,
    quiet: bool,
    as_json: bool,
) -> RunSummary:
    """Run, then print the summary: as JSON, as tables, or — quiet — only the final line of a
    run that did not succeed (stderr). Quiet and JSON runs print problems only on stderr: each
    failed window, each warning, that final line (a failed run's is the ``error:`` line)."""
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
    last = final_line(summary)
    if (quiet or as_json) and last is not None:
        sys.stderr.write(last + "\n")
    return summary


def _stoppable(pipeline: TelemetryPipeline, work: Callable[[], RunSummary]) -> RunSummary:
    """``work()`` (a run of ``pipeline``), stopped by SIGINT (Ctrl-C) or SIGTERM: gently the
    first time — each provider finishes and commits its current window, none starts another,
    the summary is printed and saved ("interrupted", exit 130 or 143) — and at once the second
    time: one line, and the process exits with the same code without waiting for anything.
    That is safe at any instant: the store commits data first, state last, each by atomic
    replace (tests/test_crash.py kills runs at every step), and the lock dies with the process.

    ``work`` runs on a thread of its own while this (main) thread waits in ``select`` on the
    signals' wakeup fd: Python runs signal handlers only in the main thread, and when the
    kernel hands a signal to another thread (numpy's and Arrow's, started at import, take
    them), only once the main thread runs again — which a wait for the run would delay to its
    end. The wakeup fd is written whichever thread the signal lands on, so the handler runs at
    once, here.
    """
    if threading.current_thread() is not threading.main_thread():  # signals are not ours
        return work()
    first: list[signal.Signals] = []

    def on_signal(signum: int, _frame: object) -> None:
        received = signal.Signals(signum)
        if not first:
            first.append(received)
            sys.stderr.write(
                f"{received.name}: stopping after the current window… "
                "(a second signal stops at once)\n"
            )
            pipeline.stop(received.name)
            return
        message = (
            f"{received.name}: stopped at once; the windows in progress are not committed "
            "(the dataset stays consistent, the next run fetches them again)"
        )
        get_logger("fth.run").warning("%s", message)
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        os._exit(128 + first[0])

    outcome: dict[str, Any] = {}
    done = threading.Event()
    wake_read, wake_write = os.pipe()
    for fd in (wake_read, wake_write):
        os.set_blocking(fd, False)

    def run() -> None:
        try:
            outcome["summary"] = work()
        except BaseException as exc:  # handed to the main thread, which reports it
            outcome["error"] = exc
        finally:
            done.set()
            os.write(wake_write, b"\0")  # after done: the main thread sees it on waking

    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {stop: signal.signal(stop, on_signal) for stop in stops}
    wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    worker = threading.Thread(target=run, name="fth-run")
    try:
        worker.start()
        while not done.is_set():
            select.select([wake_read], [], [])  # the handlers run on waking, in this thread
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 512)
        worker.join()
    finally:
        signal.set_wakeup_fd(wakeup)
        for stop, handler in previous.items():
            signal.signal(stop, handler)
        os.close(wake_read)
        os.close(wake_write)
    if "error" in outcome:
        raise outcome["error"]
    summary: RunSummary = outcome["summary"]
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
        raise ConfigError(f"{option}: {exc}") from None  # one line, exit 2
    return text


@app.command(epilog="Example: fth run --quiet -c config/fth.yaml (nightly, from cron)")
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)] = DEFAULT_CONFIG,
    start: Annotated[
        str | None,
        typer.Option(
            help="Start (UTC date or ISO time) of a backfill; default: watermark − lookback."
            " A backfill never lowers a watermark: the next run starts where it would have."
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            help="End (exclusive; UTC date or ISO time); default: now. An end in the future"
            " is refused (exit 2)."
        ),
    ] = None,
    provider: Annotated[
        list[str] | None, typer.Option("--provider", "-p", help="Only this provider (repeatable).")
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print only problems, on stderr: each failed window, warnings, and a final"
            " line when the run did not succeed (for cron).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Fetch new telemetry from every enabled provider into the dataset (incremental).

    Exit codes: 0 ok, 1 failed, 2 usage or config error (or the dataset is in use), 3 partial,
    130 / 143 interrupted. Ctrl-C or SIGTERM: the windows in progress are finished and
    committed, no other starts, the summary is saved; a second signal stops at once (the
    dataset stays consistent, the next run fetches those windows again).
    """
    check_config(config)  # every config mistake (values, providers, dataset path) at once
    pipeline = TelemetryPipeline(config)
    # logging.level is the log file's; the terminal shows logging.console_level (default
    # warnings: problems only; --quiet keeps it so), and none of the run's own account
    # (fth.run), which progress and summary already print.
    # --debug raises both to DEBUG and shows everything.
    debug = _state["debug"]
    logs = pipeline.config.logging
    console_level = "WARNING" if quiet and logs.console_level in ("DEBUG", "INFO") else None
    configure_logging(
        "DEBUG" if debug else logs.level,
        logs.file,
        console_level="DEBUG" if debug else console_level or logs.console_level,
        file_only=() if debug else ("fth.run",),
    )
    first, last = _parse_when(start, "--start"), _parse_when(end, "--end")
    summary = _stoppable(
        pipeline,
        lambda: _run_pipeline(
            pipeline, start=first, end=last, providers=provider, quiet=quiet, as_json=as_json
        ),
    )
    raise typer.Exit(summary.exit_code)


@app.command(epilog="Example: fth demo -p motive --days 1")
def demo(
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", "-p", help="Only this provider (repeatable; default: all)."),
    ] = None,
    vehicles: Annotated[int, typer.Option(min=1, max=500, help="Vehicles per provider.")] = 10,
    days: Annotated[int, typer.Option(min=1, max=60, help="Days of history to fetch.")] = 3,
    out: Annotated[Path, typer.Option(help="Folder for the config and dataset.")] = Path(
        "demo-data"
    ),
) -> None:
    """Run the whole job against the built-in simulators on 127.0.0.1 — no credentials needed."""
    from fth_core.sim.launcher import launch_simulators  # on use: only this and `fth simulate`

    registry = EndpointRegistry.from_plugins()
    screen = console()
    with launch_simulators(registry, provider, vehicles=vehicles) as sims:
        if not sims:
            raise FthError(
                "no installed provider ships a simulator: "
                "pip install fth-motive fth-samsara fth-geotab"
            )
        out.mkdir(parents=True, exist_ok=True)
        config_path = out / "fth.yaml"
        dataset = out / "dataset"
        start_day = (datetime.now(UTC) - timedelta(days=days)).date()
        document = {
            "providers": {
                s.provider: {"base_url": s.base_url, **s.simulator.credentials()} for s in sims
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
        screen.print(
            "fth demo: the built-in simulators play the provider APIs on 127.0.0.1 with a "
            "simulated fleet, so no credentials are needed.",
            highlight=False,
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
        "    print(df.groupby('provider', observed=True).size())\n"
        + _demo_next_steps(registry, config_path),
        highlight=False,
    )
    raise typer.Exit(summary.exit_code)


def _invoked_fth() -> str:
    """How to type ``fth`` in this shell: ``fth`` when it is on PATH, else the command as it
    was invoked (``.venv/bin/fth`` from ``make demo``; ``python -m fth_core.cli``), so the
    hints printed work without activating the venv."""
    import shlex
    import shutil

    if shutil.which("fth"):
        return "fth"
    if Path(sys.argv[0]).name == "fth":
        return shlex.quote(sys.argv[0])
    return f"{shlex.quote(sys.executable)} -m fth_core.cli"


def _demo_next_steps(registry: EndpointRegistry, config_path: Path) -> str:
    """The demo's closing hints, true of this install: the command as it can be typed here,
    ``fth query`` only with DuckDB, and the credential variables of the installed providers
    (``<NAME>_<FIELD>`` for each field of each provider's credentials)."""
    import importlib.util
    import shlex

    fth, config = _invoked_fth(), shlex.quote(str(config_path))
    hints = f"Or: {fth} status -c {config}"
    if importlib.util.find_spec("duckdb") is not None:
        query = shlex.quote("select provider, count(*) from telemetry group by 1")
        hints += f"   and   {fth} query -c {config} {query}"
    credentials = ", ".join(
        " / ".join(
            f"{name.upper()}_{field.upper()}"
            for field in registry.spec(name).credentials.model_fields
        )
        for name in registry.list_providers()
    )
    return (
        f"{hints}\nNext, for real data: {fth} config init, set each provider's credentials"
        f" ({credentials}), {fth} run."
    )


@app.command(epilog="Example: fth simulate -p samsara --port 8080")
def simulate(
    provider: Annotated[
        list[str] | None, typer.Option("--provider", "-p", help="Only this provider (repeatable).")
    ] = None,
    vehicles: Annotated[int, typer.Option(min=1, max=5000, help="Vehicles per provider.")] = 10,
    seed: Annotated[int, typer.Option(help="Fleet seed (same seed, same fleet).")] = 7,
    latency_ms: Annotated[float, typer.Option(min=0, help="Added latency per request.")] = 0.0,
    port: Annotated[int, typer.Option(min=0, max=65535, help="First port (0: any free).")] = 0,
) -> None:
    """Serve the provider simulators on 127.0.0.1 in the foreground until Ctrl-C or SIGTERM."""
    from fth_core.sim.launcher import launch_simulators  # on use: only this and `fth demo`

    registry = EndpointRegistry.from_plugins()
    # Ctrl-C, or a service manager's SIGTERM, shuts the servers down. Both are blocked before
    # the servers' threads start (threads inherit the mask) and taken by sigwait below: a
    # signal the kernel gives to another thread would not wake a main thread asleep in a
    # handler-based wait until that wait ended.
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    with launch_simulators(
        registry, provider, vehicles=vehicles, seed=seed, latency_ms=latency_ms, port=port
    ) as sims:
        if not sims:
            raise FthError("no installed provider ships a simulator")
        for sim in sims:
            given = " ".join(f"{k}={v}" for k, v in sim.simulator.credentials().items())
            sys.stdout.write(f"{sim.provider}: base_url={sim.base_url} {given}\n")
        sys.stdout.write("Serving; press Ctrl-C to stop.\n")
        sys.stdout.flush()
        signal.sigwait(stop)
        sys.stdout.write("stopped\n")


@app.command(epilog="Example: fth prune --dry-run")
def prune(
    config: Annotated[Path, typer.Option("--config", "-c", help=CONFIG_HELP)] = DEFAULT_CONFIG,
    retention_days: Annotated[
        int | None,
        typer.Option(min=1, help="Keep this many days (default: storage.retention_days)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the dates that would be deleted.")
    ] = False,
) -> None:
    """Delete date partitions older than the retention period."""
    loaded = load_config(config, credentials=False)
    keep = retention_days or loaded.storage.retention_days
    if keep is None:
        raise ConfigError("storage.retention_days is not set; pass --retention-days")
    store = DatasetStore(loaded.storage.parquet_path)
    if dry_run:  # reads only: no lock, nothing created
        dates = store.expired(keep)
        sys.stdout.write(
            f"would remove {len(dates)} date(s) older than {keep} days (dry run: nothing"
            " deleted)\n" + "".join(f"{day}\n" for day in dates)
        )
        return
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


def console_main() -> None:
    """The ``fth`` command: :func:`main`, with Arrow allocating from the system allocator."""
    # Arrow's default allocator (mimalloc) keeps handing the huge pages behind its buffers back
    # to the kernel and faulting them in again, zeroed each time; the system allocator reuses
    # freed memory, for less CPU and a lower peak RSS. The pool is process-wide, so only the
    # command picks it (a program importing fth keeps pyarrow's default), and a user's own
    # ARROW_DEFAULT_MEMORY_POOL wins. This is pyarrow's documented API, set before any work.
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
    main()


if __name__ == "__main__":
    console_main()
