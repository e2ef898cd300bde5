"""How runs are shown: a progress display and the end-of-run summary.

On a terminal, progress is a rich bar per provider; anywhere else (cron, pipes, CI) it is one
plain line per committed or failed window, so logs stay greppable. Quiet (``--quiet``,
``--json``) means "problems only": each failed window and each warning still gets its line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fth_core.endpoints import human_time
from fth_core.pipeline import ProviderRun, RunSummary, failed_window_line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID
    from rich.table import Table

__all__ = ["RunProgress", "console", "final_line", "human_bytes", "print_summary", "table"]

# rich is imported where something is drawn, not with this module: a quiet or --json run (cron)
# draws nothing, so it should not pay for importing rich.


def console(stderr: bool = False) -> Console:
    """A console that keeps long lines off a terminal instead of wrapping at 80 columns.

    Rich markup is off: what fth prints holds provider error texts, paths and data, where
    ``[x]`` is text (markup would swallow it, and a stray ``[/x]`` would crash the print).
    """
    from rich.console import Console

    found = Console(stderr=stderr, markup=False)
    if found.is_terminal:
        return found
    return Console(stderr=stderr, width=200, no_color=True, markup=False)


# The events a quiet run still shows: problems.
PROBLEMS = ("window_failed", "warning")


class RunProgress:
    """Run progress on stderr: a rich bar per provider on a terminal, plain lines otherwise;
    ``quiet``: only the lines of failed windows and warnings, never a bar."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.console = console(stderr=True)
        self.bar: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RunProgress:
        if not self.quiet and self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if self.quiet and event not in PROBLEMS:
            return
        name = data["provider"]
        if self.bar is not None:
            if event == "provider_start":
                self.tasks[name] = self.bar.add_task(name, total=data["windows"])
            elif event == "window_done":
                self.bar.advance(self.tasks[name])
            elif event == "window_failed":
                self.bar.console.print(_failed(data), highlight=False)
            elif event == "warning":
                self.bar.console.print(f"warning: {data['message']}", highlight=False)
            return
        if event == "warning":
            line = f"warning: {data['message']}"
        elif event == "provider_start":
            line = f"{name}: {data['windows']} window(s) to fetch"
        elif event == "window_done":
            through = human_time(data["end"])
            line = f"{name}: window {data['index'] + 1} committed (through {through})"
        elif event == "window_failed":
            line = _failed(data)
            more = len(data["errors"]) - 1
            if self.quiet and more:  # no summary follows to list them: say how many
                line += f" (and {more} more failure(s) in this window: see the log or fth status)"
        else:
            return
        self.console.print(line, highlight=False, soft_wrap=True)


def _failed(data: dict[str, Any]) -> str:
    """The progress line of a failed window: its first error (the summary lists them all)."""
    return failed_window_line(
        data["provider"], data["index"], data["start"], data["end"], data["errors"][0]
    )


def final_line(summary: RunSummary) -> str | None:
    """The last line a quiet run prints (on stderr) when it did not simply succeed: its status,
    rows, and how far each provider got — where the next run starts. None for ``ok``."""
    if summary.status == "ok":
        return None
    return f"fth run: {summary.outcome()}"


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def table(*columns: str, **options: Any) -> Table:
    """A rich table with these column headers (``options`` as rich's ``Table`` takes them)."""
    from rich.table import Table

    return Table(*columns, **options)


def _status(run: ProviderRun) -> str:
    if run.failed_window is not None:
        return f"stopped at window {run.failed_window + 1}"
    if run.interrupted:
        return f"interrupted after window {run.windows_done}"
    return "ok"


def print_summary(summary: RunSummary) -> None:
    from rich import box

    out = console()
    # One column per provider, one row per figure: stays readable on an 80-column terminal
    # whatever the number of figures, and a hub rarely has more than a few providers.
    runs = list(summary.providers.values())
    figures_table = table(
        "", *[run.name for run in runs], title=f"fth run: {summary.status}", box=box.SIMPLE_HEAD
    )
    figures: list[tuple[str, Callable[[ProviderRun], str]]] = [
        ("rows fetched", lambda r: f"{r.rows_fetched:,}"),
        ("new rows", lambda r: f"{r.rows_added:,}"),
        ("duplicates replaced", lambda r: f"{r.duplicates:,}"),
        ("quarantined", lambda r: f"{r.quarantined:,}"),
        ("vehicles", lambda r: f"{len(r.vehicle_ids):,}"),
        ("requests", lambda r: f"{r.requests:,}"),
        ("retries", lambda r: f"{r.retries:,}"),
        ("429s", lambda r: f"{r.rate_limited:,}"),
        ("rate-limit wait", lambda r: f"{r.wait_seconds:.1f}s"),
        ("status", _status),
    ]
    for label, show in figures:
        figures_table.add_row(label, *[show(run) for run in runs])
    out.print(figures_table)
    for run in summary.providers.values():
        lines = run.failure_lines()
        for line in lines[:5]:
            out.print(f"  {line}", highlight=False, soft_wrap=True)
        if len(lines) > 5:
            out.print(f"  ... and {len(lines) - 5} more", highlight=False)
        for warning in run.warnings:
            out.print(f"  warning: {warning}", highlight=False, soft_wrap=True)
    span = (
        f"{human_time(summary.first_timestamp)} → {human_time(summary.last_timestamp)}"
        if summary.first_timestamp and summary.last_timestamp
        else "no rows"
    )
    out.print(
        f"{summary.rows_written:,} new rows, {summary.duplicates_replaced:,} duplicates replaced, "
        f"{summary.quarantined:,} quarantined; {summary.vehicles:,} vehicles; {span}; "
        f"{len(summary.partitions_touched)} partition(s) written in {summary.elapsed_seconds:.1f}s",
        highlight=False,
    )
    if summary.quarantined:
        where = Path(summary.dataset) / "_quarantine"
        line = (
            f"quarantine: {summary.quarantined:,} bad row(s) set aside, with a reason, in {where}"
        )
        out.print(line, highlight=False, soft_wrap=True)
    if summary.partitions_pruned:
        pruned = summary.partitions_pruned
        line = f"retention: removed {len(pruned)} partition(s) up to {pruned[-1]}"
        out.print(line, highlight=False)
    out.print(f"dataset: {summary.dataset} ({human_bytes(summary.dataset_bytes)})", highlight=False)
    if summary.status == "interrupted":
        out.print(
            f"interrupted by {summary.stopped_by}: the windows committed are kept; the next run"
            " goes on from each provider's watermark",
            highlight=False,
        )
