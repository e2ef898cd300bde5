"""The incremental ETL job: time windows per provider → unified rows → the partitioned store.

For each enabled provider, concurrently and independently:

1. start = watermark − ``lookback_days`` (late data is re-fetched and deduplicated), else
   ``pipeline.default_start_date``, else one day before the end; end = now or ``--end``, which
   may not be in the future (a window of days that have not happened would be committed empty
   and its watermark would skip them);
2. walk ``[start, end)`` in windows of ``batch_increment_days``; for each window fetch + flatten
   through the provider's plugin, quarantine the rows flatten marked with a reason and those
   that break the schema's ranges (counted in ``quarantined``; bad records are not a failure),
   merge the rest into the touched date partitions, then — data first, state last — advance
   the provider's watermark to the window's end (see :func:`advances`: never backwards, never
   over a gap, so a backfill leaves the next incremental run where it was);
3. a window that fails (an error, or fetch failures such as one vehicle's history or a
   Samsara window's driver assignments) stores nothing — its rows could be incomplete or
   wrong (points without their driver), and nothing in the dataset would say so — and stops
   that provider at that window, its watermark unchanged; the other providers go on.

:meth:`TelemetryPipeline.stop` (the CLI calls it on SIGINT/SIGTERM) lets each provider finish
the window it is in, commit it, and start no other: the run ends ``interrupted``.

Each provider's rows go to files of its own (:mod:`fth_core.store`), so providers commit
their windows in parallel; only the update of the shared state file is serialised.

Every run logs on the ``fth.run`` logger: its start, each window (committed at INFO, failed at
WARNING), warnings (a watermark in the future, a stop) and its summary, so ``logging.file`` is
a record of every run and a program using the library sees the same.

Memory is bounded by one window of one provider at a time per worker, never by history.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from fth_core.config import FthConfig, load_config
from fth_core.crashpoints import crash_point
from fth_core.endpoints import human_time, parse_utc
from fth_core.errors import ConfigError, FthError
from fth_core.logs import configure_logging, get_logger, redact
from fth_core.provider import Provider, ProviderManager
from fth_core.registry import EndpointRegistry
from fth_core.store import DatasetStore, MergeResult
from fth_core.telemetry import fetch_telemetry, stored_and_quarantined

if TYPE_CHECKING:
    import pandas as pd  # only the DataFrame readers need it, and they import it on use

__all__ = [
    "PipelineError",
    "ProviderRun",
    "RunSummary",
    "TelemetryPipeline",
    "advances",
    "failed_window_line",
    "windows",
]

log = get_logger("fth.pipeline")
# One record per run event (start, window, warning, summary): the run's own account, for
# ``logging.file`` and for programs using the library. The CLI prints the same facts its own
# way, so it keeps these records off the terminal.
run_log = get_logger("fth.run")

ProgressCallback = Callable[[str, dict[str, Any]], None]


class PipelineError(FthError):
    """Every provider failed.

    ``partial_data_saved`` is True exactly when this run committed rows to the dataset before
    it failed (any provider's, new or replacing duplicates): a failed window stores nothing, so
    these are the rows of the windows before it, and a row merged just before a later step of
    its window broke counts too. ``batch_index`` is the index (0-based) of the window that
    failed — the earliest one when providers stopped at different windows; each provider's
    own is ``summary.providers[name].failed_window``.
    """

    def __init__(
        self,
        message: str,
        *,
        partial_data_saved: bool = False,
        batch_index: int | None = None,
        summary: RunSummary | None = None,
    ) -> None:
        super().__init__(message)
        self.partial_data_saved = partial_data_saved
        self.batch_index = batch_index
        self.summary = summary


@dataclass
class ProviderRun:
    """One provider's share of a run."""

    name: str
    start: datetime | None = None
    end: datetime | None = None
    windows: int = 0
    windows_done: int = 0
    rows_fetched: int = 0
    rows_added: int = 0
    duplicates: int = 0
    quarantined: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    wait_seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    failed_window: int | None = None  # 0-based index of the window the provider stopped at
    failed_window_start: datetime | None = None
    failed_window_end: datetime | None = None
    interrupted: bool = False  # a stop came before every window was done (none failed)
    warnings: list[str] = field(default_factory=list)  # e.g. a watermark in the future
    watermark: datetime | None = None  # the committed watermark, as the run leaves it
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None
    partitions: set[str] = field(default_factory=set)
    vehicle_ids: set[str] = field(default_factory=set, repr=False)
    # The plugin's committed state, and the run space its windows share (Window.run).
    plugin_state: dict[str, Any] = field(default_factory=dict, repr=False)
    space: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.failed_window is None

    def failure_lines(self) -> list[str]:
        """Each failure as one line naming this provider and the window it stopped at."""
        index, start, end = self.failed_window, self.failed_window_start, self.failed_window_end
        if index is None or start is None or end is None:
            return []
        return [failed_window_line(self.name, index, start, end, f) for f in self.failures]

    def outcome(self) -> str:
        """How far this provider got, in a few words: ``motive: 3/3 windows, data through
        2026-03-04T00:00:00Z`` (or ``stopped at window 2 …``, ``interrupted after …``)."""
        through = human_time(self.watermark) if self.watermark else "nothing yet"
        first, last = self.failed_window_start, self.failed_window_end
        if self.failed_window is not None and first and last:
            span = f"{human_time(first)}..{human_time(last)}"
            done = f"stopped at window {self.failed_window + 1} of {self.windows} ({span})"
        elif self.interrupted:
            done = f"interrupted after {self.windows_done} of {self.windows} windows"
        else:
            done = f"{self.windows_done}/{self.windows} windows"
        return f"{self.name}: {done}, data through {through}"

    def record(self, table: pa.Table, result: MergeResult) -> None:
        """Account for one committed window."""
        self.rows_added += result.rows_added
        self.duplicates += result.duplicates
        self.partitions.update(result.partitions)
        if table.num_rows:
            self.vehicle_ids.update(pc.unique(table.column("provider_vehicle_id")).to_pylist())
            stamps = table.column("timestamp")
            low, high = pc.min(stamps).as_py(), pc.max(stamps).as_py()
            self.first_timestamp = min(filter(None, (self.first_timestamp, low)))
            self.last_timestamp = max(filter(None, (self.last_timestamp, high)))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["vehicles"] = len(data.pop("vehicle_ids"))
        data["partitions"] = sorted(self.partitions)
        data["ok"] = self.ok
        return data


@dataclass
class RunSummary:
    """What a run did; printed by ``fth run`` and returned by :meth:`TelemetryPipeline.run`."""

    status: str  # "ok", "partial", "failed" or "interrupted"
    started_at: datetime
    elapsed_seconds: float
    dataset: str
    dataset_bytes: int
    rows_fetched: int
    rows_written: int
    duplicates_replaced: int
    quarantined: int
    vehicles: int
    first_timestamp: datetime | None
    last_timestamp: datetime | None
    partitions_touched: list[str]
    providers: dict[str, ProviderRun]
    partitions_pruned: list[str] = field(default_factory=list)  # by storage.retention_days
    stopped_by: str | None = None  # what stopped an interrupted run: "SIGINT", "SIGTERM"...

    @property
    def exit_code(self) -> int:
        """0 ok, 3 partial, 1 failed; interrupted: 143 when stopped by SIGTERM, else 130 (the
        shell's 128 + signal number, as if the signal had ended the process)."""
        if self.status == "interrupted":
            return 143 if self.stopped_by == "SIGTERM" else 130
        return {"ok": 0, "partial": 3}.get(self.status, 1)

    def outcome(self) -> str:
        """The run in one line: status, rows, and how far each provider got."""
        stopped = (
            f" by {self.stopped_by}" if self.status == "interrupted" and self.stopped_by else ""
        )
        figures = (
            f"{self.rows_written:,} new rows, {self.duplicates_replaced:,} duplicates replaced, "
            f"{self.quarantined:,} quarantined in {self.elapsed_seconds:.1f}s"
        )
        providers = "; ".join(run.outcome() for run in self.providers.values())
        return f"{self.status}{stopped}: {figures}; {providers}"

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "providers"}
        data["providers"] = {name: run.as_dict() for name, run in self.providers.items()}
        data["exit_code"] = self.exit_code
        return data


def windows(start: datetime, end: datetime, step_days: float) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive half-open windows of ``step_days``."""
    step = timedelta(days=step_days)
    out = []
    cursor = start
    while cursor < end:
        out.append((cursor, min(cursor + step, end)))
        cursor += step
    return out


def failed_window_line(
    provider: str, index: int, start: datetime, end: datetime, failure: str
) -> str:
    """``motive: window 2 (2026-03-03T00:00:00Z..2026-03-04T00:00:00Z) failed: <failure>``.

    The one wording of a failed window, in progress lines, the summary and errors, so a user
    (or a script) can tell which provider and which stretch of time the next run will redo.
    """
    span = f"{human_time(start)}..{human_time(end)}"
    detail = failure.removeprefix(f"{provider}: ")
    return f"{provider}: window {index + 1} ({span}) failed: {detail}"


def advances(watermark: datetime | None, start: datetime, end: datetime) -> bool:
    """Whether committing the window ``[start, end)`` moves a provider's ``watermark`` to
    ``end``: when there is none yet, or when the window reaches past it without leaving a gap
    (``start <= watermark < end``).

    A watermark says "every window up to here is stored", and the next incremental run starts
    from it. So a backfill (an explicit ``--start``) of earlier days never lowers it — that
    would make the next nightly run fetch everything since again —, and a window beyond it
    never raises it over days nobody fetched. The plugin state goes with the watermark: a
    window that does not advance it does not store its state either, so a backfill never
    overwrites the state of a later committed window.
    """
    return watermark is None or start <= watermark < end


def _midnight(day: date) -> datetime:
    return datetime.combine(day, dtime(0), tzinfo=UTC)


class TelemetryPipeline:
    """The incremental job over one config's providers and dataset."""

    def __init__(self, config_path: str | Path) -> None:
        self._init(load_config(config_path), None, str(config_path))

    @classmethod
    def from_config(
        cls, config: FthConfig, registry: EndpointRegistry | None = None
    ) -> TelemetryPipeline:
        pipeline = cls.__new__(cls)
        pipeline._init(config, registry, None)
        return pipeline

    def _init(
        self, config: FthConfig, registry: EndpointRegistry | None, source: str | None
    ) -> None:
        self.config = config
        self.registry = registry
        self.source = source  # the config file, named by config errors found at run time
        if not logging.getLogger("fth").handlers and not logging.getLogger().handlers:
            # A program that set up no logging at all gets the config's, as ``fth run`` does:
            # ``logging.file`` at ``logging.level``, warnings on stderr. One that did (the
            # ``fth`` logger or the root logger has a handler) keeps its own set-up untouched.
            self.configure_logging()
        self.store = DatasetStore(
            config.storage.parquet_path, compression=config.storage.parquet_compression
        )
        # The providers' threads write files of their own, but share the one state file, whose
        # update (load, modify, save) must not interleave with another provider's.
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._stopped_by: str | None = None

    def configure_logging(self) -> None:
        """Apply the config's ``logging`` to the ``fth`` logger: the run's records (and
        DEBUG's requests) go to ``logging.file`` at ``logging.level``, warnings to stderr.
        Done by the constructors when the program has configured no logging; call it to
        replace a set-up of the program's own."""
        configure_logging(
            self.config.logging.level, self.config.logging.file, console_level="WARNING"
        )

    def stop(self, reason: str = "stop()") -> None:
        """Ask the run in progress (or the next one, when none is) to stop: each provider
        finishes and commits the window it is in and starts no other; :meth:`run` then returns
        a summary with status ``interrupted`` and ``stopped_by`` = ``reason``. Safe to call
        from any thread, any number of times (the first reason is kept)."""
        if not self._stop.is_set():
            self._stopped_by = reason
            self._stop.set()
            run_log.warning("stop requested (%s): no new window starts", reason)

    # -- reading back ----------------------------------------------------------------------
    @property
    def dataframe(self) -> pd.DataFrame:
        """The whole dataset as a DataFrame (for small datasets; prefer load_date_range)."""
        frame: pd.DataFrame = self.store.read().to_pandas()
        return frame

    def load_date_range(self, start: date | str, end: date | str) -> pd.DataFrame:
        """Rows of the UTC dates ``start``..``end`` inclusive, reading only those partitions."""
        first = date.fromisoformat(start) if isinstance(start, str) else start
        last = date.fromisoformat(end) if isinstance(end, str) else end
        frame: pd.DataFrame = self.store.read(first, last).to_pandas()
        return frame

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        providers: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> RunSummary:
        """Run every enabled provider (or those named) and return the summary.

        Raises :class:`PipelineError` when every provider failed; a summary with status
        ``partial`` when some did, ``interrupted`` when :meth:`stop` cut it short. ``end`` may
        not be in the future (:class:`ConfigError`): windows of days that have not happened
        would be committed empty, and their watermark would make later runs skip those days.
        An explicit ``start`` (a backfill) never lowers a watermark (:func:`advances`).
        """
        try:
            return self._run(start, end, providers, progress)
        finally:
            self._stop.clear()  # a stop is for one run: the next starts afresh
            self._stopped_by = None

    def _run(
        self,
        start: datetime | str | None,
        end: datetime | str | None,
        providers: Sequence[str] | None,
        progress: ProgressCallback | None,
    ) -> RunSummary:
        started_at = datetime.now(UTC)
        clock = time.monotonic()
        end_at = parse_utc(end) if end is not None else started_at
        start_at = parse_utc(start) if start is not None else None
        if end_at > started_at:
            raise ConfigError(
                f"--end {human_time(end_at)} is in the future (now {human_time(started_at)}):"
                " a run fetches only what has happened; omit --end to run up to now"
            )
        if start_at is not None and start_at >= end_at:
            raise ConfigError(
                f"--start {human_time(start_at)} must be before --end {human_time(end_at)}"
            )
        try:
            manager = ProviderManager.from_config(self.config, self.registry)
        except ConfigError as exc:
            raise exc.in_file(self.source) from None
        selected = manager.enabled_providers()
        if providers:
            wanted = {p.lower() for p in providers}
            missing = wanted - {p.name for p in selected}
            if missing:
                names = ", ".join(sorted(missing))
                raise ConfigError(f"--provider {names}: not an enabled provider in the config")
            selected = [p for p in selected if p.name in wanted]
        if not selected:
            raise ConfigError("providers: no enabled provider to run", self.source)
        run_id = started_at.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
        notify = progress or (lambda event, data: None)
        with manager, self.store.locked():
            run_log.info(
                "run %s started: %s up to %s%s, dataset %s",
                run_id,
                ", ".join(p.name for p in selected),
                human_time(end_at),
                f" from {human_time(start_at)} (backfill)" if start_at else "",
                self.store.root,
            )
            with ThreadPoolExecutor(max_workers=len(selected), thread_name_prefix="fth") as pool:
                futures = {
                    p.name: pool.submit(self._run_provider, p, start_at, end_at, started_at, notify)
                    for p in selected
                }
                runs = {name: future.result() for name, future in futures.items()}
            retention = self.config.storage.retention_days
            pruned = self.store.prune(retention) if retention is not None else []
            summary = self._summary(runs, started_at, time.monotonic() - clock)
            summary.partitions_pruned = [day.isoformat() for day in pruned]
            self.store.record_run(summary.as_dict() | {"run_id": run_id})  # + bounded history
        level = logging.INFO if summary.status == "ok" else logging.WARNING
        run_log.log(level, "run %s %s", run_id, summary.outcome())
        if summary.status == "failed":  # so every provider has a failed_window
            first = min(r.failed_window for r in runs.values() if r.failed_window is not None)
            reasons = "; ".join(r.failure_lines()[0] for r in runs.values() if r.failures)
            raise PipelineError(
                f"every provider failed ({reasons})",
                # Rows, not windows: a committed window may hold none (a quiet day).
                partial_data_saved=any(r.rows_added or r.duplicates for r in runs.values()),
                batch_index=first,
                summary=summary,
            )
        return summary

    def _start_for(self, provider: Provider, explicit: datetime | None, end: datetime) -> datetime:
        if explicit is not None:
            return explicit
        watermark = self.store.watermark(provider.name)
        if watermark is not None:
            return watermark - timedelta(days=self.config.pipeline.lookback_days)
        if self.config.pipeline.default_start_date is not None:
            return _midnight(self.config.pipeline.default_start_date)
        return end - timedelta(days=1)

    def _run_provider(
        self,
        provider: Provider,
        explicit_start: datetime | None,
        end: datetime,
        now: datetime,
        notify: ProgressCallback,
    ) -> ProviderRun:
        run = ProviderRun(provider.name)
        run.plugin_state = self.store.provider_state(provider.name)
        run.watermark = self.store.watermark(provider.name)
        run.start = self._start_for(provider, explicit_start, end)
        run.end = end
        if run.watermark is not None and run.watermark > now:
            # Left by a run given an --end in the future (before that was refused): the
            # incremental start lies past now, so every run would be "ok, 0 rows" until then.
            warning = (
                f"{provider.name}: watermark {human_time(run.watermark)} is in the future"
                f" (now {human_time(now)}): incremental runs fetch nothing until then;"
                f" set it back with: fth state set-watermark {provider.name} <last day fetched>"
            )
            run.warnings.append(warning)
            run_log.warning("%s", warning)
            notify("warning", {"provider": provider.name, "message": warning})
        plan = windows(run.start, end, self.config.pipeline.batch_increment_days)
        run.windows = len(plan)
        run_log.info(
            "%s: %d window(s) from %s to %s (watermark %s)",
            provider.name,
            len(plan),
            human_time(run.start),
            human_time(end),
            human_time(run.watermark) if run.watermark else "none",
        )
        notify("provider_start", {"provider": provider.name, "windows": len(plan)})
        for index, (w_start, w_end) in enumerate(plan):
            if self._stop.is_set():  # between windows: what is committed stays committed
                run.interrupted = True
                run_log.warning(
                    "%s: stopped (%s) before window %d of %d; data through %s",
                    provider.name,
                    self._stopped_by,
                    index + 1,
                    len(plan),
                    human_time(run.watermark) if run.watermark else "nothing yet",
                )
                break
            try:
                failures = self._run_window(provider, index, w_start, w_end, run)
            except FthError as exc:
                failures = [str(exc)]
            except Exception as exc:  # a plugin bug fails its provider only
                log.debug("%s window %d crashed", provider.name, index, exc_info=True)
                failures = [f"unexpected {type(exc).__name__}: {exc}"]
            if failures:
                # Failure texts end up printed and in the state file: no secret may be in them,
                # whichever plugin or library wrote them.
                failures = [redact(failure) for failure in failures]
                run.failures.extend(failures)
                run.failed_window = index
                run.failed_window_start, run.failed_window_end = w_start, w_end
                for failure in failures:
                    run_log.warning(
                        "%s", failed_window_line(provider.name, index, w_start, w_end, failure)
                    )
                notify(
                    "window_failed",
                    {
                        "provider": provider.name,
                        "index": index,
                        "start": w_start,
                        "end": w_end,
                        "errors": failures,
                    },
                )
                break
            run.windows_done += 1
            crash_point("window.committed")
            notify("window_done", {"provider": provider.name, "index": index, "end": w_end})
        stats = provider.stats
        run.requests, run.retries, run.rate_limited = (
            stats.requests,
            stats.retries,
            stats.rate_limited,
        )
        run.wait_seconds = round(stats.wait_seconds, 3)
        notify("provider_done", {"provider": provider.name, "ok": run.ok})
        return run

    def _run_window(
        self,
        provider: Provider,
        index: int,
        start: datetime,
        end: datetime,
        run: ProviderRun,
    ) -> list[str]:
        """Fetch, validate and commit one window; returns the fetch failures (empty = ok).

        A window with any fetch failure is held back whole: none of its rows (nor its
        quarantine) is stored, its watermark and state stay. What did arrive may be wrong, not
        only incomplete — Samsara points whose driver assignments failed would be stored with
        a null driver, and nothing would tell a reader —, and the next run fetches the window
        again anyway. A window committed whole moves the watermark (and stores the plugin
        state) only when :func:`advances` says so.
        """
        # The plugin updates a copy: a window that fails leaves the committed state as it was.
        state = copy.deepcopy(run.plugin_state)
        batches = list(fetch_telemetry(provider, start, end, run.end, run=run.space, state=state))
        failures = [f"{f.subject}: {f.error}" for batch in batches for f in batch.failures]
        valid, bad = stored_and_quarantined(batches)
        run.rows_fetched += valid.num_rows + bad.num_rows
        if failures:
            return failures
        # A damaged file is set aside and rebuilt from this window's rows (since: its start).
        result: MergeResult = self.store.merge(valid, since=start)
        # Counted at once: these rows are in the dataset whatever the steps below do.
        run.record(valid, result)
        crash_point("window.merged")
        # A row without a readable timestamp is filed under the window's first date.
        quarantined = self.store.quarantine(bad, undated=start.date(), since=start)
        run.quarantined += quarantined
        crash_point("window.quarantined")
        with self._state_lock:
            advanced = advances(run.watermark, start, end)
            if advanced:
                self.store.set_watermark(provider.name, end, state)
                run.watermark = end
        # The run's next window goes on from this one's state even when it was not stored.
        run.plugin_state = state
        run_log.info(
            "%s: window %d (%s) committed: %s rows (%s new), %s quarantined; watermark %s",
            provider.name,
            index + 1,
            f"{human_time(start)}..{human_time(end)}",
            f"{valid.num_rows:,}",
            f"{result.rows_added:,}",
            f"{quarantined:,}",
            f"now {human_time(end)}"
            if advanced or run.watermark is None
            else f"kept at {human_time(run.watermark)}",
        )
        return failures

    def _summary(
        self, runs: dict[str, ProviderRun], started_at: datetime, elapsed: float
    ) -> RunSummary:
        ok = [r.ok for r in runs.values()]
        status = "ok" if all(ok) else "partial" if any(ok) else "failed"
        interrupted = any(r.interrupted for r in runs.values())
        if interrupted:
            status = "interrupted"
        firsts = [r.first_timestamp for r in runs.values() if r.first_timestamp]
        lasts = [r.last_timestamp for r in runs.values() if r.last_timestamp]
        return RunSummary(
            status=status,
            started_at=started_at,
            elapsed_seconds=round(elapsed, 3),
            dataset=str(self.store.root),
            dataset_bytes=self.store.size_bytes(),
            rows_fetched=sum(r.rows_fetched for r in runs.values()),
            rows_written=sum(r.rows_added for r in runs.values()),
            duplicates_replaced=sum(r.duplicates for r in runs.values()),
            quarantined=sum(r.quarantined for r in runs.values()),
            vehicles=sum(len(r.vehicle_ids) for r in runs.values()),
            first_timestamp=min(firsts) if firsts else None,
            last_timestamp=max(lasts) if lasts else None,
            partitions_touched=sorted(set().union(*(r.partitions for r in runs.values()))),
            providers=runs,
            stopped_by=self._stopped_by if interrupted else None,
        )


_USAGE = """usage: python -m fth_core.pipeline CONFIG [OPTIONS]

The original entry point (the cron line `python -m <package>.pipeline config.yaml`), kept so
that line goes on working: it is `fth run --config CONFIG [OPTIONS]`, with the same behaviour,
options and exit codes (0 ok, 1 failed, 2 usage or config error, 3 partial, 130/143
interrupted). Prefer `fth run`; `fth run --help` lists the options.
"""


def _main(argv: list[str]) -> None:
    """``python -m fth_core.pipeline CONFIG [OPTIONS]``: ``fth run --config CONFIG [OPTIONS]``."""
    import sys

    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(_USAGE)
        sys.exit(0 if argv else 2)
    # Imported here: the CLI imports this module, never the reverse at import time.
    from fth_core.cli import console_main

    sys.argv = ["fth", "run", "--config", *argv]
    console_main()


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
