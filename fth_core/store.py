"""The dataset on disk: Hive-partitioned Parquet, run state, a lock, retention.

Layout under the dataset root::

    date=2026-03-02/motive.parquet      one file per provider per UTC date, sorted by vehicle, time
    date=2026-03-02/samsara.parquet
    _quarantine/date=2026-03-02/motive.parquet   rows set aside, with a reason (see below)
    _state/state.json                   per-provider watermarks and the last run's summary
    .lock                               held (flock) by the run writing the dataset

Each provider has its own file per date, so a provider's commit never reads or rewrites
another's rows, and providers commit in parallel. A file is named after its provider, which must
be a plain name (``[a-z][a-z0-9_]*``, as the config requires of provider names): the store
refuses any other value, a missing one included, rather than build a path from it. Reading a
date reads its files in provider-name order, so its rows come in (provider, vehicle, time) order.

Quarantine files hold the rows a window could not store — out of range, no vehicle id, a
timestamp that does not parse, an unknown engine state — in
:data:`~fth_core.schema.QUARANTINE_SCHEMA` (the telemetry columns, all nullable, and
``reason``), one file per provider per date (a flattened row always names its provider). A row
goes under its own UTC date; a row without a readable timestamp has none, so it goes under the
first date of the window that fetched it (its ``timestamp`` stays null and its ``reason`` quotes
the text received). So every quarantine path is a real date: it reads as a hive ``date=``
partition like the dataset's, and retention removes it together with that date's partition.

Readers skip ``_``- and ``.``-prefixed paths (pyarrow.dataset does by default; DuckDB and polars
read ``date=*/*.parquet``), so only telemetry is seen.

Every write is atomic: a temporary file in the same directory, fsync, ``os.replace``, fsync of
the directory (a directory created for it is made durable in its parent first). Data is
committed before state, so a crash at any instant leaves a readable dataset whose watermark
never claims more than what is stored; rerunning converges on the same dataset because merging
deduplicates on ``(provider, provider_vehicle_id, timestamp)``, keeping the latest fetch.
Quarantined rows are merged too (on :data:`QUARANTINE_KEY`, since they may lack the telemetry
key), so a window fetched again (after a crash, or inside the lookback) does not quarantine
them twice. :mod:`fth_core.crashpoints` marks each step
for the tests that kill a run there.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fth_core.crashpoints import crash_point
from fth_core.errors import FthError
from fth_core.logs import redact
from fth_core.schema import (
    DEDUP_KEY,
    QUARANTINE_SCHEMA,
    REASON,
    TELEMETRY_SCHEMA,
    concat_telemetry,
)

if TYPE_CHECKING:
    import pyarrow.dataset as ds

__all__ = ["DatasetLockedError", "DatasetStore", "MergeResult"]

_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_]*")
_INT64_SPAN = 2**63  # how many values int64 holds from 0
# Quarantined rows may lack a vehicle id or a time: what identifies them is the telemetry key
# with what else they carry of their vehicle, and why they were set aside.
QUARANTINE_KEY = (*DEDUP_KEY, "vin", "fleet_number", REASON)


@dataclass(frozen=True)
class _Files:
    """What sets the telemetry's files apart from the quarantine's: their schema, the key a
    merge deduplicates on, and ``kind``, which names the crash points of their writes."""

    schema: pa.Schema
    keys: tuple[str, ...]
    kind: str


_TELEMETRY = _Files(TELEMETRY_SCHEMA, DEDUP_KEY, "partition")
_QUARANTINE = _Files(QUARANTINE_SCHEMA, QUARANTINE_KEY, "quarantine")


class DatasetLockedError(FthError):
    """Another run holds the dataset's lock. Exit code 2, as for a usage error: this run was
    refused before it touched anything, and retrying later is the whole remedy."""

    exit_code = 2


@dataclass
class MergeResult:
    """What one merge did: ``rows_in`` offered, ``rows_added`` net new, ``duplicates`` replaced."""

    rows_in: int = 0
    rows_added: int = 0
    duplicates: int = 0
    partitions: list[str] = field(default_factory=list)

    def add(self, other: MergeResult) -> None:
        self.rows_in += other.rows_in
        self.rows_added += other.rows_added
        self.duplicates += other.duplicates
        self.partitions = sorted(set(self.partitions) | set(other.partitions))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dir(path: Path) -> None:
    """Create ``path`` and its missing parents, each fsynced into its parent: a file synced
    into a directory whose own entry was never synced can vanish with it in a power cut."""
    if path.is_dir():
        return
    _make_dir(path.parent)
    path.mkdir(exist_ok=True)
    _fsync_dir(path.parent)


def _atomic_write(path: Path, write: Any, kind: str) -> None:
    """Write ``path`` via ``write(tmp_path)`` so readers only ever see the old or new file.

    ``kind`` (partition, quarantine, state) names the crash points of each step."""
    _make_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        crash_point(f"{kind}.written")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        crash_point(f"{kind}.synced")
        os.replace(tmp, path)
        crash_point(f"{kind}.replaced")
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def latest_sorted(table: pa.Table, keys: Sequence[str] = DEDUP_KEY) -> pa.Table:
    """The last row of each ``keys`` value (later rows are later fetches), in key order.

    One stable sort does both jobs: rows ordered by key and, within a key, still in fetch
    order, so the rows to keep are those whose key differs from the row after. It sorts one
    integer per row (:func:`_sort_key`) rather than the key columns, text among them, and
    NumPy's stable sort is near linear on rows already in runs of order (a partition's stored
    rows, each vehicle's); a table already in order without duplicates is returned as it is.
    """
    if table.num_rows < 2:
        return table
    key = _sort_key(table, keys)
    if bool(np.all(key[1:] > key[:-1])):
        return table
    order = np.argsort(key, kind="stable")
    ranked = key[order]
    last_of_key = np.append(ranked[1:] != ranked[:-1], True)
    return table.take(order[last_of_key])


def _sort_key(table: pa.Table, keys: Sequence[str]) -> npt.NDArray[np.int64]:
    """One integer per row that orders the rows as ``keys`` do, each ascending with nulls last
    (Arrow's order); rows share an integer exactly when their keys are equal, nulls equal to
    nulls. Each column's codes (:func:`_codes`) are digits of a mixed-radix number; should
    the next digit overflow int64, the number so far is renumbered densely first."""
    packed = np.zeros(table.num_rows, dtype=np.int64)
    span = 1
    for name in keys:
        codes, radix = _codes(table.column(name))
        if span * radix > _INT64_SPAN:
            packed, span = _dense(packed)
            if span * radix > _INT64_SPAN:
                codes, radix = _dense(codes)
        packed = packed * radix + codes
        span *= radix
    return packed


def _codes(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], int]:
    """``column``'s values as codes ``0..radix-1`` in the same order (nulls last, all one
    code), and ``radix``. A timestamp's code is its microseconds since the earliest, which
    needs neither hashing nor sorting; any other value's is its rank in the column's
    dictionary (Arrow's dictionaries hold no nulls)."""
    if pa.types.is_timestamp(column.type):
        micros = pc.cast(column, pa.int64())
        low, high = (value.as_py() for value in pc.min_max(micros).values())
        if low is not None and high - low + 2 <= _INT64_SPAN:
            since = pc.fill_null(pc.subtract(micros, low), high - low + 1)
            return np.asarray(since.to_numpy(), dtype=np.int64), high - low + 2
    encoded = column.combine_chunks()
    if not pa.types.is_dictionary(encoded.type):
        encoded = encoded.dictionary_encode()
    ranks = pc.rank(encoded.dictionary, tiebreaker="dense").to_numpy().astype(np.int64) - 1
    missing = len(ranks)
    ranks = np.append(ranks, missing)
    positions = pc.fill_null(encoded.indices, missing).to_numpy()
    return ranks[positions], missing + 1


def _dense(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int]:
    """``values`` renumbered 0, 1, 2… in their order, and how many distinct there are."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return inverse.astype(np.int64), len(distinct)


def _by_day(table: pa.Table, undated: date | None = None) -> Iterator[tuple[date, pa.Table]]:
    """The rows of each UTC date ``table`` touches, dates in order; rows without a timestamp
    count as ``undated``."""
    days = pc.cast(table.column("timestamp"), pa.date32())
    if undated is not None:
        days = pc.fill_null(days, pa.scalar(undated, pa.date32()))
    return _rows_of_each(table, days, sorted(pc.unique(days).to_pylist()))


def _by_provider(table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """The rows of each provider in ``table``, providers in name order. A provider names a
    file, so each must be a plain name: an :class:`FthError` otherwise, before any rows."""
    column = table.column("provider")
    names = pc.unique(column).to_pylist()
    for name in names:
        if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name):
            raise FthError(
                f"cannot store rows of provider {name!r}: a provider must be a plain name "
                "([a-z][a-z0-9_]*), since it names the provider's files"
            )
    return _rows_of_each(table, column, sorted(names))


def _rows_of_each(
    table: pa.Table, values: pa.ChunkedArray, distinct: list[Any]
) -> Iterator[tuple[Any, pa.Table]]:
    """``(value, rows)`` for each of ``distinct``, in that order: the rows of ``table`` whose
    ``values`` (one per row) equal it. A single value, as in a window of one day and one
    provider, takes the whole table as it is, without a filter's copy."""
    if len(distinct) == 1:
        yield distinct[0], table
        return
    for value in distinct:
        yield value, table.filter(pc.equal(values, value))


def _by_file(table: pa.Table, undated: date | None = None) -> Iterator[tuple[date, str, pa.Table]]:
    """The rows of each file ``table`` touches — one per UTC date and provider — as
    ``(date, provider, rows)``; rows without a timestamp count as ``undated``."""
    for provider, own in _by_provider(table):
        for day, rows in _by_day(own, undated):
            yield day, provider, rows


def _provider_file(directory: Path, provider: str) -> Path:
    """The file of ``provider``'s rows in a date ``directory`` (a name :func:`_by_provider`
    has checked)."""
    return directory / f"{provider}.parquet"


def _data_files(directory: Path) -> list[Path]:
    """The Parquet files readers see in a date directory, in name order, which is provider
    order. ``.``- and ``_``-prefixed names (temporary files) are not data."""
    return sorted(p for p in directory.glob("*.parquet") if not p.name.startswith((".", "_")))


def _merge_file(path: Path, incoming: pa.Table, files: _Files) -> tuple[int, int]:
    """Merge ``incoming`` into the Parquet file ``path`` (deduplicated on ``files.keys``,
    sorted) and replace it atomically; returns the row counts before and after. Where both hold
    a key the incoming row is kept."""
    schema = files.schema
    existing = pq.read_table(path, schema=schema) if path.exists() else schema.empty_table()
    merged = latest_sorted(concat_telemetry([existing, incoming], schema), files.keys)
    options = _parquet_options(schema)
    _atomic_write(path, lambda tmp: pq.write_table(merged, tmp, **options), files.kind)
    return existing.num_rows, merged.num_rows


def _parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """How ``pq.write_table`` encodes each column of ``schema``: zstd throughout, and

    * text (and dictionaries): dictionary-encoded, Parquet's default — few distinct values;
    * floats: BYTE_STREAM_SPLIT, not the default dictionary — positions, speeds and odometers
      hardly repeat, so hashing them into a dictionary would only outgrow it and fall back to
      plain pages; split by byte, they also compress better;
    * timestamps: DELTA_BINARY_PACKED — ascending within each vehicle, small deltas.

    All are standard Parquet encodings that pyarrow, pandas, DuckDB and polars read.
    """
    encodings = {}
    for column in schema:
        if pa.types.is_floating(column.type):
            encodings[column.name] = "BYTE_STREAM_SPLIT"
        elif pa.types.is_timestamp(column.type):
            encodings[column.name] = "DELTA_BINARY_PACKED"
    return {
        "compression": "zstd",
        "use_dictionary": [name for name in schema.names if name not in encodings],
        "column_encoding": encodings,
    }


class DatasetStore:
    """A telemetry dataset rooted at ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.state_path = self.root / "_state" / "state.json"

    # -- locking ---------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[DatasetStore]:
        """Hold the dataset's exclusive lock; a second run fails at once instead of waiting."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 - held open
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DatasetLockedError(
                f"dataset {self.root} is in use by {holder}; wait for that run to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        # A run killed mid-write leaves its temporary file; holding the lock, nobody else is
        # writing, so whatever temporary file exists now is an orphan.
        for orphan in self.root.rglob(".*.tmp"):
            orphan.unlink(missing_ok=True)
        try:
            yield self
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    # -- partitions ------------------------------------------------------------------------
    def partition_dir(self, day: date) -> Path:
        return self.root / f"date={day.isoformat()}"

    def quarantine_dir(self, day: date) -> Path:
        return self.root / "_quarantine" / f"date={day.isoformat()}"

    def partitions(self) -> list[date]:
        if not self.root.exists():
            return []
        days = []
        for path in self.root.glob("date=*"):
            if _data_files(path):
                days.append(date.fromisoformat(path.name.removeprefix("date=")))
        return sorted(days)

    def read_partition(self, day: date) -> pa.Table:
        """The rows of UTC date ``day``: its providers' files, one after the other."""
        return concat_telemetry(self._read_files(day))

    def _read_files(self, day: date) -> list[pa.Table]:
        """Each file of UTC date ``day``, read, in provider order."""
        return [
            pq.read_table(p, schema=TELEMETRY_SCHEMA) for p in _data_files(self.partition_dir(day))
        ]

    def merge(self, table: pa.Table) -> MergeResult:
        """Merge schema-conforming rows into their providers' files of their dates,
        deduplicating.

        Only the files the rows fall in are read and rewritten: each provider's own, on the
        dates of its rows.
        """
        result = MergeResult(rows_in=table.num_rows)
        days = set()
        for day, provider, incoming in _by_file(table):
            before, after = self._merge_into(
                self.partition_dir(day), provider, incoming, _TELEMETRY
            )
            result.rows_added += after - before
            result.duplicates += before + incoming.num_rows - after
            days.add(day.isoformat())
        result.partitions = sorted(days)
        return result

    def quarantine(self, table: pa.Table, undated: date) -> int:
        """Set aside rows that cannot be stored (:data:`QUARANTINE_SCHEMA`: they carry a
        ``reason``), merged into one file per provider per date like the partitions; rows
        without a timestamp go under ``undated``, the first date of the window that fetched
        them. A row must name its provider (its file's name), as the rows a flatten sets aside
        always do. Returns the row count offered."""
        if table.num_rows == 0:
            return 0
        table = table.cast(QUARANTINE_SCHEMA)
        for day, provider, rows in _by_file(table, undated):
            self._merge_into(self.quarantine_dir(day), provider, rows, _QUARANTINE)
        return int(table.num_rows)

    def _merge_into(
        self, directory: Path, provider: str, rows: pa.Table, files: _Files
    ) -> tuple[int, int]:
        """Merge one provider's rows of one date into its file in the date's ``directory``."""
        return _merge_file(_provider_file(directory, provider), rows, files)

    def dataset(self) -> ds.Dataset:
        import pyarrow.dataset as ds  # on use: it loads pandas, which a run does not need

        return ds.dataset(self.root, format="parquet", partitioning="hive", schema=None)

    def read(self, start: date | None = None, end: date | None = None) -> pa.Table:
        """Rows of the UTC dates ``start``..``end`` (inclusive), reading only those partitions."""
        days = [
            d
            for d in self.partitions()
            if (start is None or d >= start) and (end is None or d <= end)
        ]
        return concat_telemetry([table for d in days for table in self._read_files(d)])

    def size_bytes(self) -> int:
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.glob("date=*/*.parquet"))

    # -- retention -------------------------------------------------------------------------
    def prune(self, retention_days: int, today: date | None = None) -> list[date]:
        """Delete partitions older than ``retention_days`` before ``today`` (UTC), and their
        quarantine; returns the dates whose partition held data."""
        cutoff = (today or datetime.now(UTC).date()) - timedelta(days=retention_days)
        removed = [d for d in self.partitions() if d < cutoff]
        # Every old date directory, not only those with data: a run killed between deleting a
        # partition and its quarantine, or inside a new partition's first write, leaves one.
        oldest_kept = f"date={cutoff.isoformat()}"
        for parent in (self.root, self.root / "_quarantine"):
            stale = [p for p in parent.glob("date=*") if p.name < oldest_kept]
            for directory in stale:
                shutil.rmtree(directory)
            if stale:
                _fsync_dir(parent)
        return removed

    # -- state -----------------------------------------------------------------------------
    def load_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "providers": {}}
        except (OSError, ValueError) as exc:
            raise FthError(f"cannot read dataset state {self.state_path}: {exc}") from None
        return state

    def save_state(self, state: dict[str, Any]) -> None:
        # Redacted: whatever a plugin or an error text put there, no secret is ever stored.
        text = redact(json.dumps(state, indent=2, sort_keys=True, default=str))
        _atomic_write(
            self.state_path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), "state"
        )

    def watermark(self, provider: str) -> datetime | None:
        entry = self.load_state().get("providers", {}).get(provider)
        if not entry or not entry.get("watermark"):
            return None
        return datetime.fromisoformat(entry["watermark"])

    def provider_state(self, provider: str) -> dict[str, Any]:
        """The plugin's own persisted state for ``provider`` (see :class:`~fth_core.spec.Window`),
        as the last committed window left it; empty when there is none."""
        entry = self.load_state().get("providers", {}).get(provider) or {}
        plugin_state = entry.get("state")
        return plugin_state if isinstance(plugin_state, dict) else {}

    def set_watermark(
        self, provider: str, moment: datetime, plugin_state: dict[str, Any] | None = None
    ) -> None:
        """Commit ``provider``'s watermark with its plugin state (none: an empty one). Called
        after the window's data is stored: data first, state last."""
        state = self.load_state()
        entry: dict[str, Any] = {
            "watermark": moment.astimezone(UTC).isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
        }
        if plugin_state:
            entry["state"] = plugin_state
        state.setdefault("providers", {})[provider] = entry
        self.save_state(state)
