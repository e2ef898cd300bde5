"""The dataset on disk: Hive-partitioned Parquet, run state, a lock, retention.

Layout under the dataset root::

    date=2026-03-02/motive.parquet      one file per provider per UTC date, sorted by vehicle, time
    date=2026-03-02/samsara.parquet
    _quarantine/date=2026-03-02/motive.quarantine.pq   rows set aside, with a reason (see below)
    _state/state.json                   per-provider watermarks, the last runs' summaries
    _damaged/<UTC time>/date=...        damaged files a run set aside (never deleted; see below)
    .lock                               who holds the dataset's lock (see DatasetStore.locked)

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

Quarantine files are Parquet but named ``*.quarantine.pq``, not ``*.parquet``, so that no
natural way of reading the dataset mixes them into the telemetry: pyarrow.dataset and pandas
skip ``_``- and ``.``-prefixed paths, and the glob a DuckDB or polars user writes,
``<root>/**/*.parquet``, does not match them (polars given the bare root refuses mixed
extensions and asks for such a glob). They stay under the root, so the dataset is one folder
to move, back up or delete, under one lock, and retention keeps covering them. Datasets
written before were named ``*.parquet``: :meth:`DatasetStore.locked` renames them (merging
into a newer file if one exists), so they move at the next write, and readers
(:meth:`DatasetStore.quarantine_files`) take both names until then.

Every write is atomic: a temporary file in the same directory, fsync, ``os.replace``, fsync of
the directory (a directory created for it is made durable in its parent first). Data is
committed before state, so a crash at any instant leaves a readable dataset whose watermark
never claims more than what is stored; rerunning converges on the same dataset because merging
deduplicates on ``(provider, provider_vehicle_id, timestamp)``, keeping the latest fetch.
Quarantined rows are merged too (on :data:`QUARANTINE_KEY`, since they may lack the telemetry
key), so a window fetched again (after a crash, or inside the lookback) does not quarantine
them twice. :mod:`fth_core.crashpoints` marks each step
for the tests that kill a run there.

Damage — a file truncated by a full disk or a cut copy, a flipped bit — is caught by reading:
fth writes a checksum into every Parquet page and verifies it whenever it reads (a file written
before it did has none and reads as before; a truncated one fails at its footer). A damaged
file breaks every reader of the dataset, so: ``fth verify`` reads every file whole and names
each damaged one, ``fth status`` warns of those whose footer does not read, and a run that
must merge into a damaged file sets it aside under ``_damaged/`` — renamed, never deleted —
and rebuilds it from the rows it fetched, saying so (:meth:`DatasetStore._set_aside`); left in
place, it would stop its provider at that window on every run.

Only ``date=YYYY-MM-DD`` directories are partitions, and only ``<provider>.parquet`` files in
them data. fth reads nothing else; :meth:`DatasetStore.strays` names the rest, which other
readers would take for data (a ``date=2026-11-03.bak`` copy doubles its rows for them).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fth_core.crashpoints import crash_point
from fth_core.endpoints import human_time
from fth_core.errors import FthError
from fth_core.logs import get_logger, redact
from fth_core.schema import (
    DEDUP_KEY,
    QUARANTINE_SCHEMA,
    REASON,
    TELEMETRY_SCHEMA,
    concat_telemetry,
)

if TYPE_CHECKING:
    import pyarrow.dataset as ds

__all__ = [
    "DamagedFileError",
    "DatasetLockedError",
    "DatasetStore",
    "MergeResult",
    "StateError",
    "Totals",
]

_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_]*")
_INT64_SPAN = 2**63  # how many values int64 holds from 0
# Quarantined rows may lack a vehicle id or a time: what identifies them is the telemetry key
# with what else they carry of their vehicle, and why they were set aside.
QUARANTINE_KEY = (*DEDUP_KEY, "vin", "fleet_number", REASON)
# A quarantine file's ending: Parquet, but out of reach of a ``**/*.parquet`` glob (see above).
QUARANTINE_SUFFIX = ".quarantine.pq"
RUNS_KEPT = 20  # run summaries kept in the state file's ``runs``, newest last
# How long taking the lock is retried: long enough to outlast a look by `fth status`
# (DatasetStore.holder), far too short to wait for a run.
_LOCK_PATIENCE = 0.5
_T = TypeVar("_T")

log = get_logger("fth.store")


@dataclass(frozen=True)
class _Files:
    """What sets the telemetry's files apart from the quarantine's: their schema, the key a
    merge deduplicates on, ``kind``, which names the crash points of their writes, and the
    ending of their names."""

    schema: pa.Schema
    keys: tuple[str, ...]
    kind: str
    suffix: str


_TELEMETRY = _Files(TELEMETRY_SCHEMA, DEDUP_KEY, "partition", ".parquet")
_QUARANTINE = _Files(QUARANTINE_SCHEMA, QUARANTINE_KEY, "quarantine", QUARANTINE_SUFFIX)


class DatasetLockedError(FthError):
    """Another run holds the dataset's lock. Exit code 2, as for a usage error: this run was
    refused before it touched anything, and retrying later is the whole remedy."""

    exit_code = 2


class DamagedFileError(FthError):
    """A Parquet file of the dataset cannot be read whole: truncated, a page whose checksum or
    encoding is wrong, not Parquet at all. ``path`` is the file, ``problem`` what failed."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} is damaged ({problem}); `fth verify` names every damaged file")
        self.path = path
        self.problem = problem


class StateError(FthError):
    """The dataset's state file is not one fth can use: not JSON, or not of its shape (a
    watermark without a UTC offset, a provider entry that is not an object). Exit code 2, as
    for a config error: nothing was attempted, and the file needs correcting by hand."""

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


@dataclass
class Totals:
    """The whole dataset in figures: per provider its ``rows``, distinct ``vehicles``
    (provider vehicle ids) and distinct ``vins``; quarantined rows per provider; the files
    that could not be read (``fth verify`` says more)."""

    providers: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


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


def _provider_file(directory: Path, provider: str, suffix: str = ".parquet") -> Path:
    """The file of ``provider``'s rows in a date ``directory`` (a name :func:`_by_provider`
    has checked), ending in ``suffix``."""
    return directory / f"{provider}{suffix}"


def _data_files(directory: Path) -> list[Path]:
    """The data files of a date directory — ``<provider>.parquet``, a plain provider name — in
    name order, which is provider order. Anything else is not data: temporary files
    (``.``-prefixed), a ``motive.parquet.bak``, a ``Motive copy.parquet``."""
    found = directory.glob("*.parquet")
    return sorted(p for p in found if _PLAIN_NAME.fullmatch(p.stem) and p.is_file())


def _try_flock(fd: int, operation: int) -> bool:
    """Take the ``flock`` ``operation`` (shared or exclusive) on ``fd`` if nobody else's lock
    is in the way, without waiting; whether it was taken."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _partitions_in(parent: Path) -> list[tuple[date, Path]]:
    """The partition directories in ``parent``, ``date=YYYY-MM-DD`` exactly, by date. Anything
    else — a ``date=2026-11-03.bak`` copy — is not a partition, whatever it holds."""
    found = []
    for path in parent.glob("date=*"):
        text = path.name.removeprefix("date=")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            continue
        if day.isoformat() == text and path.is_dir():  # not 20261103, which parses too
            found.append((day, path))
    return sorted(found)


def _read_parquet(path: Path, read: Callable[[pa.NativeFile], _T]) -> _T:
    """``read(file)`` on the Parquet file ``path``, with damage told apart: a file that opens
    but does not read (truncated, a page whose checksum or encoding is wrong, not Parquet) is a
    :class:`DamagedFileError`. Failing to open it (missing, no permission) is not damage, nor
    is running out of memory: those raise as they are."""
    with pa.OSFile(str(path)) as source:
        try:
            return read(source)
        except MemoryError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise DamagedFileError(path, " ".join(str(exc).split())) from None


def _read_whole(path: Path, schema: pa.Schema | None = None) -> pa.Table:
    """The Parquet file ``path``, every page read and checked against its checksum (a file
    written before fth wrote checksums has none: it reads as before), as ``schema`` when
    given; a :class:`DamagedFileError` when it does not read."""

    def read(source: pa.NativeFile) -> pa.Table:
        return pq.read_table(source, schema=schema, page_checksum_verification=True)

    return _read_parquet(path, read)


def _merge_file(
    path: Path, incoming: pa.Table, files: _Files, compression: str = "zstd"
) -> tuple[int, int]:
    """Merge ``incoming`` into the Parquet file ``path`` (deduplicated on ``files.keys``,
    sorted) and replace it atomically; returns the row counts before and after. Where both hold
    a key the incoming row is kept. A :class:`DamagedFileError`, before anything is written,
    when ``path`` does not read."""
    schema = files.schema
    existing = _read_whole(path, schema) if path.exists() else schema.empty_table()
    merged = latest_sorted(concat_telemetry([existing, incoming], schema), files.keys)
    options = _parquet_options(schema, compression)
    _atomic_write(path, lambda tmp: pq.write_table(merged, tmp, **options), files.kind)
    return existing.num_rows, merged.num_rows


def _parquet_options(schema: pa.Schema, compression: str = "zstd") -> dict[str, Any]:
    """How ``pq.write_table`` encodes each column of ``schema``: ``compression`` throughout
    (zstd unless ``storage.parquet_compression`` says otherwise; "none" is uncompressed), and

    * text (and dictionaries): dictionary-encoded, Parquet's default — few distinct values;
    * floats: BYTE_STREAM_SPLIT, not the default dictionary — positions, speeds and odometers
      hardly repeat, so hashing them into a dictionary would only outgrow it and fall back to
      plain pages; split by byte, they also compress better;
    * timestamps: DELTA_BINARY_PACKED — ascending within each vehicle, small deltas.

    All are standard Parquet encodings that pyarrow, pandas, DuckDB and polars read. Every page
    carries a CRC checksum, which fth's reads verify (:func:`_read_whole`): without one, most
    flipped bits read back as wrong values, silently; readers that do not check ignore it.
    """
    encodings = {}
    for column in schema:
        if pa.types.is_floating(column.type):
            encodings[column.name] = "BYTE_STREAM_SPLIT"
        elif pa.types.is_timestamp(column.type):
            encodings[column.name] = "DELTA_BINARY_PACKED"
    return {
        "compression": compression,
        "use_dictionary": [name for name in schema.names if name not in encodings],
        "column_encoding": encodings,
        "write_page_checksum": True,
    }


def _state_problem(state: Any) -> str | None:
    """What makes a parsed state file unusable, as ``where: problem``; None when nothing does.

    Only what fth reads is checked, other keys are left alone: the file is an object;
    ``providers`` an object of objects, each ``watermark`` null or an ISO 8601 time with a UTC
    offset (a naive time cannot be compared with a run's), each ``state`` null or an object;
    ``last_run`` null or an object, whose ``providers`` is an object of objects."""
    if not isinstance(state, dict):
        return f"the file holds {_kind(state)}, not an object"
    last_run = state.get("last_run")
    if last_run is not None and not isinstance(last_run, dict):
        return f"last_run: {_kind(last_run)}, not an object"
    for where, providers in (
        ("providers", state.get("providers", {})),
        ("last_run.providers", (last_run or {}).get("providers", {})),
    ):
        if not isinstance(providers, dict):
            return f"{where}: {_kind(providers)}, not an object"
        for name, entry in providers.items():
            if not isinstance(entry, dict):
                return f"{where}.{name}: {_kind(entry)}, not an object"
    for name, entry in state.get("providers", {}).items():
        mark = entry.get("watermark")
        if not isinstance(mark, str | None):
            return f"providers.{name}.watermark: {_kind(mark)}, not a time"
        if mark is not None:
            try:
                naive = datetime.fromisoformat(mark).utcoffset() is None
            except ValueError:
                return f"providers.{name}.watermark: {mark!r} is not an ISO 8601 time"
            if naive:
                return f"providers.{name}.watermark: {mark!r} has no UTC offset (+00:00)"
        if not isinstance(entry.get("state") or {}, dict):
            return f"providers.{name}.state: {_kind(entry['state'])}, not an object"
    return None


def _kind(value: Any) -> str:
    """What kind of JSON value ``value`` is, for a message: "a string", "an array"..."""
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), "a number")


class DatasetStore:
    """A telemetry dataset rooted at ``root``."""

    def __init__(self, root: str | Path, *, compression: str = "zstd") -> None:
        self.root = Path(root)
        self.compression = compression  # of the files it writes (storage.parquet_compression)
        self.state_path = self.root / "_state" / "state.json"

    # -- locking ---------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[DatasetStore]:
        """Hold the dataset's exclusive lock; a second run fails at once instead of waiting.

        The lock is a ``flock`` on the dataset's root directory, which lives as long as the
        dataset: a lock *file* can be deleted while held — by hand, by a clean-up taking it for
        stale — and the next run would lock a new file of that name and get in. ``.lock`` only
        records the holder (``pid 4242 on host since 2026-03-05T02:15:00Z``; emptied on
        release) for the refusal's message and :meth:`holder`: the lock does not depend on it.
        Taking the lock is retried for :data:`_LOCK_PATIENCE`, so that a look by :meth:`holder`
        at that instant does not refuse a run.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            deadline = time.monotonic() + _LOCK_PATIENCE
            while not _try_flock(fd, fcntl.LOCK_EX):
                if time.monotonic() >= deadline:
                    raise DatasetLockedError(
                        f"dataset {self.root} is in use by {self._holder_record()};"
                        " wait for that run to finish"
                    )
                time.sleep(0.01)
            record = self.root / ".lock"
            since = human_time(datetime.now(UTC))
            record.write_text(
                f"pid {os.getpid()} on {socket.gethostname()} since {since}\n", encoding="utf-8"
            )
            # A run killed mid-write leaves its temporary file; holding the lock, nobody else
            # is writing, so whatever temporary file exists now is an orphan.
            for orphan in self.root.rglob(".*.tmp"):
                orphan.unlink(missing_ok=True)
            try:
                self._migrate_quarantine()
                yield self
            finally:
                record.write_text("", encoding="utf-8")
        finally:
            os.close(fd)  # which releases the lock

    def holder(self) -> str | None:
        """Who holds the dataset's lock, as its record says (or "another process" when the
        record is gone), or None when nobody does. Found by taking the lock shared for an
        instant, which a run taking it then outwaits (:meth:`locked`)."""
        try:
            fd = os.open(self.root, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            free = _try_flock(fd, fcntl.LOCK_SH)
        finally:
            os.close(fd)
        return None if free else self._holder_record()

    def _holder_record(self) -> str:
        try:
            text = (self.root / ".lock").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            text = ""
        return text or "another process"

    # -- partitions ------------------------------------------------------------------------
    def partition_dir(self, day: date) -> Path:
        return self.root / f"date={day.isoformat()}"

    def quarantine_dir(self, day: date) -> Path:
        return self.root / "_quarantine" / f"date={day.isoformat()}"

    def quarantine_file(self, day: date, provider: str) -> Path:
        """Where ``provider``'s quarantined rows of UTC date ``day`` are kept."""
        return _provider_file(self.quarantine_dir(day), provider, QUARANTINE_SUFFIX)

    def quarantine_files(self) -> list[Path]:
        """Every quarantine file, in path order: ``*.quarantine.pq``, and any of the old name
        (``*.parquet``) no write has renamed yet (see :meth:`_migrate_quarantine`)."""
        found = [
            *self.root.glob(f"_quarantine/date=*/*{QUARANTINE_SUFFIX}"),
            *self.root.glob("_quarantine/date=*/*.parquet"),
        ]
        return sorted(p for p in found if not p.name.startswith((".", "_")))

    def _migrate_quarantine(self) -> None:
        """Give quarantine files of the old name (``<provider>.parquet``) the new one, under
        the lock (see the module doc). Should a file of the new name exist too (an older fth
        wrote after a newer one), its rows are merged into the old file, winning as the later
        fetch, before the rename; a crash in between leaves both, and the next lock merges
        again, to the same rows."""
        for old in self.root.glob("_quarantine/date=*/*.parquet"):
            if old.name.startswith((".", "_")):
                continue
            new = old.with_name(old.name.removesuffix(".parquet") + QUARANTINE_SUFFIX)
            if new.exists():
                _merge_file(
                    old, pq.read_table(new, schema=QUARANTINE_SCHEMA), _QUARANTINE, self.compression
                )
            os.replace(old, new)
            _fsync_dir(old.parent)

    def totals(self) -> Totals:
        """Dataset-wide figures (see :class:`Totals`). Reads two columns of every telemetry
        file, for the distinct vehicles and VINs, and the footers of the quarantine files; a
        file that cannot be read is named in ``unreadable`` instead of failing the whole."""
        totals = Totals()
        vehicles: dict[str, set[str]] = {}
        vins: dict[str, set[str]] = {}
        columns = ["provider_vehicle_id", "vin"]
        for day in self.partitions():
            for path in _data_files(self.partition_dir(day)):
                try:
                    table = pq.read_table(path, columns=columns, read_dictionary=columns)
                except (OSError, pa.ArrowException):
                    totals.unreadable.append(str(path))
                    continue
                figures = totals.providers.setdefault(path.stem, {"rows": 0})
                figures["rows"] += table.num_rows
                for name, seen in (("provider_vehicle_id", vehicles), ("vin", vins)):
                    values = pc.unique(table.column(name).combine_chunks()).to_pylist()
                    seen.setdefault(path.stem, set()).update(v for v in values if v)
        for name, figures in totals.providers.items():
            figures["vehicles"] = len(vehicles[name])
            figures["vins"] = len(vins[name])
        for path in self.quarantine_files():
            provider = path.name.split(".")[0]
            try:
                rows = pq.read_metadata(path).num_rows
            except (OSError, pa.ArrowException):
                totals.unreadable.append(str(path))
                continue
            totals.quarantined[provider] = totals.quarantined.get(provider, 0) + rows
        return totals

    def partitions(self) -> list[date]:
        """The dates that hold data (see :func:`_partitions_in`, :func:`_data_files`)."""
        return [day for day, path in _partitions_in(self.root) if _data_files(path)]

    def data_files(self) -> list[Path]:
        """Every data file, in date then provider order: what fth reads as the dataset."""
        return [file for _, path in _partitions_in(self.root) for file in _data_files(path)]

    def strays(self) -> list[Path]:
        """What other readers take for data but fth does not read, in path order: whatever
        is not ``_``- or ``.``-prefixed (pyarrow, pandas and polars skip those) yet is not a
        partition in the root (``date=2026-11-03.bak``, ``notes.txt``), nor a data file in a
        partition (``motive.parquet.bak``). Such a copy doubles its rows for those readers."""
        if not self.root.is_dir():
            return []
        partitions = [path for _, path in _partitions_in(self.root)]
        found = [p for p in self.root.iterdir() if p not in partitions]
        for path in partitions:
            data = _data_files(path)
            found += [p for p in path.iterdir() if p not in data]
        return sorted(p for p in found if not p.name.startswith(("_", ".")))

    def read_partition(self, day: date) -> pa.Table:
        """The rows of UTC date ``day``: its providers' files, one after the other."""
        return concat_telemetry(self._read_files(day))

    def _read_files(self, day: date) -> list[pa.Table]:
        """Each file of UTC date ``day``, read whole, in provider order; a
        :class:`DamagedFileError` for one that does not read."""
        return [_read_whole(p, TELEMETRY_SCHEMA) for p in _data_files(self.partition_dir(day))]

    def damaged(self, whole: bool = True) -> Iterator[tuple[Path, str]]:
        """Each data and quarantine file that does not read, with what failed, in the order of
        :meth:`data_files` then :meth:`quarantine_files`. ``whole`` reads every page, checksums
        verified (``fth verify``); otherwise only each footer, one small read per file that
        catches truncation (``fth status``). A file gone meanwhile (a run set it aside, or
        pruned it) is not damaged."""

        def read(path: Path) -> object:
            return _read_whole(path) if whole else _read_parquet(path, pq.read_metadata)

        for path in [*self.data_files(), *self.quarantine_files()]:
            try:
                read(path)
            except DamagedFileError as exc:
                yield path, exc.problem
            except FileNotFoundError:
                continue

    def merge(self, table: pa.Table, since: datetime | None = None) -> MergeResult:
        """Merge schema-conforming rows into their providers' files of their dates,
        deduplicating.

        Only the files the rows fall in are read and rewritten: each provider's own, on the
        dates of its rows. A file that does not read is set aside and rebuilt from these rows
        (:meth:`_set_aside`); ``since``, where the fetch they come from starts, lets its
        warning say what that leaves out.
        """
        result = MergeResult(rows_in=table.num_rows)
        days = set()
        for day, provider, incoming in _by_file(table):
            before, after = self._merge_into(
                self.partition_dir(day), provider, incoming, _TELEMETRY, since
            )
            result.rows_added += after - before
            result.duplicates += before + incoming.num_rows - after
            days.add(day.isoformat())
        result.partitions = sorted(days)
        return result

    def quarantine(self, table: pa.Table, undated: date, since: datetime | None = None) -> int:
        """Set aside rows that cannot be stored (:data:`QUARANTINE_SCHEMA`: they carry a
        ``reason``), merged into one file per provider per date like the partitions; rows
        without a timestamp go under ``undated``, the first date of the window that fetched
        them. A row must name its provider (its file's name), as the rows a flatten sets aside
        always do. A damaged file is set aside as :meth:`merge` does (``since`` likewise).
        Returns the row count offered."""
        if table.num_rows == 0:
            return 0
        table = table.cast(QUARANTINE_SCHEMA)
        for day, provider, rows in _by_file(table, undated):
            self._merge_into(self.quarantine_dir(day), provider, rows, _QUARANTINE, since)
        return int(table.num_rows)

    def _merge_into(
        self,
        directory: Path,
        provider: str,
        rows: pa.Table,
        files: _Files,
        since: datetime | None,
    ) -> tuple[int, int]:
        """Merge one provider's rows of one date into its file in the date's ``directory``;
        a damaged file is set aside first, and the rows make a new one."""
        path = _provider_file(directory, provider, files.suffix)
        try:
            return _merge_file(path, rows, files, self.compression)
        except DamagedFileError as exc:
            self._set_aside(exc, since)
            return _merge_file(path, rows, files, self.compression)

    def _set_aside(self, damaged: DamagedFileError, since: datetime | None) -> None:
        """Move the damaged file to ``_damaged/<UTC time>/<its path in the dataset>``, out of
        every reader's way (``_``-prefixed), renamed and never deleted: whatever it still holds
        is there to recover by hand. Then warn (stderr and the log): the rows merged next
        rebuild it, those of the fetch that starts at ``since``; so the rows of its date before
        ``since`` are missing until a run fetches that whole date again."""
        path = damaged.path
        target = self.root / "_damaged" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        target /= path.relative_to(self.root)
        _make_dir(target.parent)
        os.rename(path, target)
        _fsync_dir(target.parent)
        _fsync_dir(path.parent)
        day = date.fromisoformat(path.parent.name.removeprefix("date="))
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        missing = ""
        if since is not None and midnight < since < midnight + timedelta(days=1):
            missing = (
                f"; its rows before {human_time(since)} are not in this fetch:"
                f" `fth run --start {day}` fetches that date again"
            )
        log.warning(
            "%s was damaged (%s): set aside as %s and rebuilt from this fetch%s",
            path,
            damaged.problem,
            target,
            missing,
        )

    def dataset(self) -> ds.Dataset:
        """The dataset's data files (:meth:`data_files`) as a pyarrow dataset, partitioned on
        ``date``."""
        import pyarrow.dataset as ds  # on use: it loads pandas, which a run does not need

        files = [str(p) for p in self.data_files()]
        return ds.dataset(
            files, format="parquet", partitioning="hive", partition_base_dir=str(self.root)
        )

    def read(self, start: date | None = None, end: date | None = None) -> pa.Table:
        """Rows of the UTC dates ``start``..``end`` (inclusive), reading only those partitions."""
        days = [
            d
            for d in self.partitions()
            if (start is None or d >= start) and (end is None or d <= end)
        ]
        return concat_telemetry([table for d in days for table in self._read_files(d)])

    def size_bytes(self) -> int:
        """The size of the data files, those fth reads (:meth:`data_files`)."""
        return sum(p.stat().st_size for p in self.data_files())

    # -- retention -------------------------------------------------------------------------
    def prune(self, retention_days: int, today: date | None = None) -> list[date]:
        """Delete partitions older than ``retention_days`` before ``today`` (UTC), and their
        quarantine; returns the dates whose partition held data."""
        cutoff = (today or datetime.now(UTC).date()) - timedelta(days=retention_days)
        removed = [d for d in self.partitions() if d < cutoff]
        # Every old date directory, not only those with data: a run killed between deleting a
        # partition and its quarantine, or inside a new partition's first write, leaves one.
        # Only partitions: a stray such as date=2026-11-03.bak is not fth's to delete.
        for parent in (self.root, self.root / "_quarantine"):
            stale = [path for day, path in _partitions_in(parent) if day < cutoff]
            for directory in stale:
                shutil.rmtree(directory)
            if stale:
                _fsync_dir(parent)
        return removed

    def expired(self, retention_days: int, today: date | None = None) -> list[str]:
        """The dates, as their directories name them, whose partition or quarantine
        :meth:`prune` would delete (the same comparison), oldest first; deletes nothing."""
        cutoff = (today or datetime.now(UTC).date()) - timedelta(days=retention_days)
        return sorted(
            {
                day.isoformat()
                for parent in (self.root, self.root / "_quarantine")
                for day, _ in _partitions_in(parent)
                if day < cutoff
            }
        )

    # -- state -----------------------------------------------------------------------------
    def load_state(self) -> dict[str, Any]:
        """The state file's content, its shape checked (:func:`_state_problem`) so that no
        reader meets a value it cannot use; a :class:`StateError` naming the file and the
        problem otherwise."""
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "providers": {}}
        except OSError as exc:
            raise FthError(f"cannot read dataset state {self.state_path}: {exc}") from None
        except ValueError as exc:
            raise StateError(f"dataset state {self.state_path}: not JSON ({exc})") from None
        problem = _state_problem(state)
        if problem is not None:
            raise StateError(f"dataset state {self.state_path}: {problem}")
        return dict(state)

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
        plugin_state: dict[str, Any] = entry.get("state") or {}
        return plugin_state

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

    def forget_provider(self, provider: str) -> bool:
        """Drop ``provider``'s watermark and plugin state, so its next run starts as its first
        did; its data stays. Returns whether there was anything to drop."""
        state = self.load_state()
        providers = state.get("providers")
        if not isinstance(providers, dict) or provider not in providers:
            return False
        del providers[provider]
        self.save_state(state)
        return True

    def record_run(self, summary: dict[str, Any]) -> None:
        """Store a finished run's summary: whole as ``last_run``, and appended to ``runs``,
        the last :data:`RUNS_KEPT` runs (newest last), each cut to what ``fth status --runs``
        shows (start, status, rows, elapsed, failures) so the state file stays small."""
        state = self.load_state()
        state["last_run"] = summary
        kept = ("failures", "failed_window", "failed_window_start", "failed_window_end")
        entry = {
            key: summary.get(key)
            for key in ("run_id", "started_at", "status", "rows_written", "elapsed_seconds")
        }
        entry["providers"] = {
            name: {key: run.get(key) for key in kept if run.get(key) is not None}
            for name, run in (summary.get("providers") or {}).items()
            if isinstance(run, dict)
        }
        runs = state.get("runs")
        state["runs"] = [*(runs if isinstance(runs, list) else []), entry][-RUNS_KEPT:]
        self.save_state(state)
