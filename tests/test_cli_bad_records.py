"""``fth run`` over simulators that serve bad records: each is set aside with its reason and
counted, every good row of the same responses is stored, and the run is a success.

The CLI runs in a subprocess; the Motive and Samsara simulators serve on 127.0.0.1 from this
process, each corrupting a seeded choice of records (out-of-range latitudes, unparseable
timestamps, unknown engine states, vehicles without an id). Their oracles say, window by
window, which rows must be stored and which quarantined.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from loopback_support import fth, of_provider, simulators_config

from fth_core.schema import QUARANTINE_SCHEMA, concat_telemetry
from fth_core.sim import BadRecords, Fleet, SimServer, SimulatedProvider
from fth_core.store import DatasetStore
from fth_core.testing import assert_same_quarantine, assert_same_telemetry, reason_kinds
from fth_motive.simulator import MotiveSimulator
from fth_samsara.simulator import SamsaraSimulator

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
WINDOWS = [(DAY0 + timedelta(days=i), DAY0 + timedelta(days=i + 1)) for i in range(2)]
# 2% of records per kind; the third vehicle of each fleet comes without its id. With these
# seeds both fleets hold every kind of bad record in the run (checked below).
BAD = BadRecords(rate=0.02, missing_id_every=3, seed=1)
KINDS = {
    "motive": {
        "latitude out of range",
        "unparseable timestamp",
        "unknown location type",
        "missing vehicle id",
    },
    "samsara": {
        "latitude out of range",
        "unparseable timestamp",
        "unknown engine state",
        "missing vehicle id",
    },
}


@dataclass
class BadFeeds:
    simulators: dict[str, SimulatedProvider]
    tmp: Path

    @property
    def dataset(self) -> Path:
        return self.tmp / "dataset"

    def expected(self, name: str) -> tuple[pa.Table, pa.Table]:
        """(stored, quarantined) rows of the run, window by window as the pipeline fetches."""
        simulator = self.simulators[name]
        stored = [simulator.expected_telemetry(*window) for window in WINDOWS]
        set_aside = [simulator.expected_quarantine(*window) for window in WINDOWS]
        return concat_telemetry(stored), concat_telemetry(set_aside, QUARANTINE_SCHEMA)


@pytest.fixture
def feeds(tmp_path: Path) -> Iterator[BadFeeds]:
    as_of = DAY0 + timedelta(days=10)
    motive = MotiveSimulator(Fleet(31, vehicles=3), as_of=as_of, bad_records=BAD)
    samsara = SamsaraSimulator(Fleet(32, vehicles=3), as_of=as_of, bad_records=BAD)
    with SimServer(motive) as motive_server, SimServer(samsara) as samsara_server:
        document = simulators_config(
            tmp_path / "dataset",
            motive_server.base_url,
            samsara_server.base_url,
            start=DAY0.date(),
        )
        # Location requests of exactly the window's days: each bad record is then fetched by
        # one window only (padded days would set an unreadable timestamp aside twice).
        document["providers"]["motive"]["options"] = {"location_day_zone": "UTC"}
        (tmp_path / "fth.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
        yield BadFeeds({"motive": motive, "samsara": samsara}, tmp_path)


def quarantine_files(dataset: Path) -> dict[Path, pa.Table]:
    return {path: pq.read_table(path) for path in DatasetStore(dataset).quarantine_files()}


def assert_filed_by_date(files: dict[Path, pa.Table]) -> None:
    """Each quarantined row lies under its own UTC date, or — without a readable timestamp —
    under the first date of the window that fetched it; one merged file per provider per
    date, holding only that provider's rows."""
    undated = 0
    window_days = {start.date() for start, _ in WINDOWS}
    for path, rows in files.items():
        assert set(rows.column("provider").to_pylist()) == {path.name.split(".")[0]}
        filed = date.fromisoformat(path.parent.name.removeprefix("date="))
        stamps, reasons = rows.column("timestamp").to_pylist(), rows.column("reason").to_pylist()
        for stamp, reason in zip(stamps, reasons, strict=True):
            if stamp is None:
                undated += 1
                assert filed in window_days, reason
                assert reason.startswith(("unparseable timestamp", "missing vehicle id"))
            else:
                assert stamp.date() == filed, reason
    assert undated > 0, "some rows have no readable timestamp"


def test_bad_records_are_quarantined_with_reasons_and_counted_and_every_good_row_is_stored(
    feeds: BadFeeds,
) -> None:
    config = str(feeds.tmp / "fth.yaml")
    result = fth("run", "-c", config, "--end", "2026-03-04", "--json", cwd=feeds.tmp)
    assert result.returncode == 0, "bad records are no failure: " + result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "ok"

    stored = DatasetStore(feeds.dataset).read()
    files = quarantine_files(feeds.dataset)
    set_aside = concat_telemetry(list(files.values()), QUARANTINE_SCHEMA)
    assert set_aside.schema.equals(QUARANTINE_SCHEMA)
    for name in ("motive", "samsara"):
        good, bad = feeds.expected(name)
        assert_same_telemetry(of_provider(stored, name), good)
        assert_same_quarantine(of_provider(set_aside, name), bad)
        kinds = reason_kinds(bad)
        assert set(kinds) == KINDS[name], f"{name} serves every kind of bad record: {kinds}"

        figures = summary["providers"][name]
        assert figures["ok"] is True
        assert figures["failures"] == []
        assert figures["quarantined"] == bad.num_rows
        assert figures["rows_added"] == good.num_rows
        assert figures["rows_fetched"] == good.num_rows + bad.num_rows
    assert summary["quarantined"] == set_aside.num_rows
    assert summary["rows_written"] == stored.num_rows
    assert_filed_by_date(files)


def test_the_printed_summary_counts_the_quarantined_rows_per_provider(feeds: BadFeeds) -> None:
    result = fth("run", "-c", str(feeds.tmp / "fth.yaml"), "--end", "2026-03-04", cwd=feeds.tmp)
    assert result.returncode == 0, result.stderr
    assert "fth run: ok" in result.stdout
    counts = {name: feeds.expected(name)[1].num_rows for name in ("motive", "samsara")}
    row = re.search(r"^\s*quarantined\s+(\S+)\s+(\S+)\s*$", result.stdout, re.MULTILINE)
    assert row is not None, result.stdout
    assert [int(n.replace(",", "")) for n in row.groups()] == [counts["motive"], counts["samsara"]]
    total = sum(counts.values())
    stored = DatasetStore(feeds.dataset).read().num_rows
    assert f"{stored:,} new rows, 0 duplicates replaced, {total:,} quarantined;" in result.stdout
    assert (
        f"quarantine: {total:,} bad row(s) set aside, with a reason, in "
        f"{feeds.dataset / '_quarantine'}" in result.stdout
    )
