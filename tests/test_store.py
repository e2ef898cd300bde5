"""The partitioned store: one file per provider per date, dedup, atomic replace, touched files
only, lock and retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from fth_core import store as store_module
from fth_core.errors import FthError
from fth_core.schema import (
    TELEMETRY_SCHEMA,
    enforce_telemetry_schema,
    split_quarantined,
)
from fth_core.store import DatasetLockedError, DatasetStore

T0 = datetime(2026, 3, 2, 23, 59, 0, tzinfo=UTC)


def rows(*specs: tuple[str, datetime, float], provider: str = "acme") -> pa.Table:
    """Telemetry rows of (vehicle, timestamp, speed)."""
    return enforce_telemetry_schema(
        {
            "provider_vehicle_id": [v for v, _, _ in specs],
            "timestamp": [t for _, t, _ in specs],
            "speed_mph": [s for _, _, s in specs],
        },
        provider=provider,
    )


def set_aside(table: pa.Table, reason: str = "negative speed") -> pa.Table:
    """``table``'s rows as the quarantine takes them, with ``reason``."""
    return table.append_column("reason", pa.array([reason] * table.num_rows))


def files_of(root: Path) -> list[str]:
    """Every visible file under ``root``, as sorted paths relative to it."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("[!.]*") if p.is_file())


def speeds(table: pa.Table) -> dict[tuple[str, str], float]:
    """Speed by (provider, vehicle) of a table holding one row per vehicle."""
    keys = zip(
        table.column("provider").to_pylist(),
        table.column("provider_vehicle_id").to_pylist(),
        strict=True,
    )
    return dict(zip(keys, table.column("speed_mph").to_pylist(), strict=True))


def test_rows_land_in_their_utc_date_partition(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0, 1.0), ("1", T0 + timedelta(minutes=2), 2.0)))
    assert store.partitions() == [date(2026, 3, 2), date(2026, 3, 3)]
    assert (tmp_path / "date=2026-03-02" / "acme.parquet").exists()


def test_merge_keeps_the_latest_fetch_of_a_key(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0, 1.0)))
    result = store.merge(rows(("1", T0, 5.0), ("2", T0, 7.0)))
    table = store.read()
    assert table.num_rows == 2
    assert result.duplicates == 1
    assert result.rows_added == 1
    speeds = dict(
        zip(
            table.column("provider_vehicle_id").to_pylist(),
            table.column("speed_mph").to_pylist(),
            strict=True,
        )
    )
    assert speeds == {"1": 5.0, "2": 7.0}


def test_duplicates_inside_one_batch_keep_the_last_row(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    result = store.merge(rows(("1", T0, 1.0), ("1", T0, 3.0)))
    assert store.read().column("speed_mph").to_pylist() == [3.0]
    assert result.duplicates == 1


def test_stored_files_keep_the_unified_schema_and_sorted_order(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.merge(
        rows(
            ("2", T0, 1.0),
            ("1", T0 - timedelta(minutes=1), 1.0),
            ("1", T0 - timedelta(minutes=5), 1.0),
        )
    )
    table = pq.read_table(tmp_path / "date=2026-03-02" / "acme.parquet")
    assert table.schema.equals(TELEMETRY_SCHEMA, check_metadata=False)
    assert table.column("provider_vehicle_id").to_pylist() == ["1", "1", "2"]
    assert table.column("timestamp").to_pylist() == [
        T0 - timedelta(minutes=5),
        T0 - timedelta(minutes=1),
        T0,
    ]


def test_only_touched_partitions_are_rewritten(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0 - timedelta(days=1), 1.0), ("1", T0, 1.0)))
    untouched = tmp_path / "date=2026-03-01" / "acme.parquet"
    before = untouched.stat()
    store.merge(rows(("1", T0 - timedelta(minutes=1), 2.0)))
    after = untouched.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_a_crash_while_writing_leaves_the_old_partition_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0, 1.0)))

    def crash(table: pa.Table, where: object, **kwargs: object) -> None:
        Path(str(where)).write_bytes(b"PAR1 half a file")  # a partial write, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(store_module.pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        store.merge(rows(("1", T0, 9.0), ("2", T0, 9.0)))
    monkeypatch.undo()
    assert store.read().column("speed_mph").to_pylist() == [1.0]
    leftovers = [p.name for p in (tmp_path / "date=2026-03-02").iterdir()]
    assert leftovers == ["acme.parquet"]


def test_the_dataset_reads_with_pyarrow_and_pandas_using_partition_pruning(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0 - timedelta(days=1), 1.0), ("1", T0, 2.0)))
    store.quarantine(
        rows(("9", T0, -1.0)).append_column("reason", pa.array(["negative speed"])),
        undated=T0.date(),
    )
    store.save_state({"providers": {}})
    dataset = ds.dataset(tmp_path, format="parquet", partitioning="hive")
    pruned = dataset.to_table(filter=ds.field("date") == "2026-03-02")
    assert pruned.column("speed_mph").to_pylist() == [2.0]
    assert len(dataset.files) == 2  # quarantine and state are not part of the dataset
    frame = pd.read_parquet(tmp_path, filters=[("date", "=", "2026-03-01")])
    assert frame["speed_mph"].tolist() == [1.0]


def test_a_second_writer_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    with (
        store.locked(),
        pytest.raises(DatasetLockedError, match="in use"),
        DatasetStore(tmp_path).locked(),
    ):
        pass
    with DatasetStore(tmp_path).locked():
        pass  # released once the holder is done


def test_state_round_trips_and_is_replaced_atomically(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    assert store.watermark("acme") is None
    store.set_watermark("acme", T0)
    assert store.watermark("acme") == T0
    assert [p.name for p in (tmp_path / "_state").iterdir()] == ["state.json"]


def test_prune_removes_partitions_older_than_the_retention(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0 - timedelta(days=10), 1.0), ("1", T0, 1.0)))
    removed = store.prune(5, today=date(2026, 3, 4))
    assert removed == [date(2026, 2, 20)]
    assert store.partitions() == [date(2026, 3, 2)]


def test_prune_also_removes_old_date_directories_a_killed_run_left_without_data(
    tmp_path: Path,
) -> None:
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0, 1.0)))
    # Killed between deleting a partition and its quarantine, and inside a first write.
    orphan_quarantine = store.quarantine_dir(date(2026, 2, 20))
    orphan_quarantine.mkdir(parents=True)
    (orphan_quarantine / "acme.parquet").write_bytes(b"PAR1")
    empty_partition = store.partition_dir(date(2026, 2, 21))
    empty_partition.mkdir()
    assert store.prune(5, today=date(2026, 3, 4)) == []
    assert not orphan_quarantine.exists()
    assert not empty_partition.exists()
    assert store.partitions() == [date(2026, 3, 2)]


def test_a_row_quarantined_again_is_kept_once_as_last_fetched(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    for speed in (-1.0, -2.0):
        bad = rows(("9", T0, speed), ("8", T0, -3.0))
        store.quarantine(
            bad.append_column("reason", pa.array(["negative speed"] * 2)), undated=T0.date()
        )
    table = pq.read_table(store.quarantine_file(T0.date(), "acme"))
    assert table.column("provider_vehicle_id").to_pylist() == ["8", "9"]
    assert table.column("speed_mph").to_pylist() == [-3.0, -2.0]
    assert table.column("reason").to_pylist() == ["negative speed"] * 2


def test_providers_with_different_dictionaries_share_a_partition(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    motive = enforce_telemetry_schema(
        {"provider_vehicle_id": ["1"], "timestamp": [T0], "engine_state": ["On"]},
        provider="motive",
    )
    samsara = enforce_telemetry_schema(
        {"provider_vehicle_id": ["1"], "timestamp": [T0], "engine_state": ["Off"]},
        provider="samsara",
    )
    store.merge(pa.concat_tables([motive, samsara]))
    store.merge(samsara)
    table = store.read()
    assert table.column("provider").to_pylist() == ["motive", "samsara"]
    assert table.column("engine_state").to_pylist() == ["On", "Off"]


def test_taking_the_lock_removes_temporary_files_left_by_a_killed_run(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0, 1.0)))
    orphan = tmp_path / "date=2026-03-02" / ".acme.parquet.4242.tmp"
    orphan.write_bytes(b"PAR1 half")
    with store.locked():
        pass
    assert not orphan.exists()
    assert store.read().num_rows == 1


def test_a_batch_claiming_another_providers_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="provider column"):
        enforce_telemetry_schema(
            {"provider": ["samsara"], "provider_vehicle_id": ["1"], "timestamp": [T0]},
            provider="motive",
        )


def test_quarantined_rows_are_filed_by_date_and_those_without_a_time_under_the_given_one(
    tmp_path: Path,
) -> None:
    _, set_aside = split_quarantined(
        {
            "provider_vehicle_id": ["1", "2", "3"],
            "timestamp": pa.array([T0, T0 + timedelta(days=1), None], pa.timestamp("us", "UTC")),
            "reason": ["negative speed", "missing vehicle id", "unparseable timestamp 'x'"],
        },
        provider="acme",
    )
    count = DatasetStore(tmp_path).quarantine(set_aside, undated=date(2026, 2, 28))
    assert count == 3
    filed = {
        path.parent.name: pq.read_table(path).column("reason").to_pylist()
        for path in tmp_path.glob("_quarantine/*/acme.quarantine.pq")
    }
    assert filed == {
        "date=2026-03-02": ["negative speed"],
        "date=2026-03-03": ["missing vehicle id"],
        "date=2026-02-28": ["unparseable timestamp 'x'"],
    }


def test_latest_sorted_keeps_the_last_of_each_key_in_key_order_and_nulls_equal_nulls() -> None:
    table = pa.table(
        {
            "vehicle": ["b", "a", None, "b", None, None],
            "reason": ["x", "x", "y", "x", "y", "z"],
            "fetch": [1, 2, 3, 4, 5, 6],
        }
    )
    kept = store_module.latest_sorted(table, ("vehicle", "reason"))
    assert kept.to_pylist() == [
        {"vehicle": "a", "reason": "x", "fetch": 2},
        {"vehicle": "b", "reason": "x", "fetch": 4},  # the later of the two b/x
        {"vehicle": None, "reason": "y", "fetch": 5},  # null keys match each other
        {"vehicle": None, "reason": "z", "fetch": 6},
    ]


def test_latest_sorted_orders_times_and_chunked_dictionaries_as_arrow_sorts_them() -> None:
    early, late = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)
    stamps = pa.array([T0, None, late, T0, None, early], pa.timestamp("us", tz="UTC"))
    # Chunks with dictionaries of their own, in different orders.
    providers = pa.chunked_array(
        [pa.array(names).dictionary_encode() for names in (["b", "a", "b"], ["a", "b", "b"])]
    )
    table = pa.table({"provider": providers, "timestamp": stamps, "fetch": list(range(6))})
    kept = store_module.latest_sorted(table, ("provider", "timestamp"))
    assert kept.to_pylist() == [
        {"provider": "a", "timestamp": T0, "fetch": 3},
        {"provider": "a", "timestamp": None, "fetch": 1},
        {"provider": "b", "timestamp": early, "fetch": 5},
        {"provider": "b", "timestamp": T0, "fetch": 0},
        {"provider": "b", "timestamp": late, "fetch": 2},
        {"provider": "b", "timestamp": None, "fetch": 4},
    ]
    # Keys spanning more than int64 holds (years 1 to 9999 in microseconds, then two columns
    # more) are renumbered on the way, never overflowed.
    text = table.set_column(0, "provider", providers.cast(pa.string()))  # Arrow sorts no dicts
    wide = text.append_column("vehicle", pa.array(["x", "y"] * 3))
    keys = ("provider", "timestamp", "vehicle", "fetch")
    assert (
        store_module.latest_sorted(wide, keys).to_pylist()
        == wide.sort_by([(key, "ascending") for key in keys]).to_pylist()
    )


def test_partitions_read_the_same_with_duckdb_and_polars(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    polars = pytest.importorskip("polars")
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0, 1.5), ("2", T0 - timedelta(minutes=1), 2.25), ("1", T0, 3.0)))
    store.merge(rows(("1", T0, 4.0), provider="zeta"))  # a file of its own, its own dictionary
    files = str(tmp_path / "date=*" / "*.parquet")
    expected = [
        ("acme", "1", T0, 3.0),
        ("acme", "2", T0 - timedelta(minutes=1), 2.25),
        ("zeta", "1", T0, 4.0),
    ]
    columns = "provider", "provider_vehicle_id", "timestamp", "speed_mph"
    query = f"SELECT {', '.join(columns)} FROM read_parquet(?) ORDER BY 1, 2"
    assert duckdb.execute(query, [files]).fetchall() == expected
    frame = polars.read_parquet(files).sort("provider", "provider_vehicle_id")
    assert list(frame.select(*columns).iter_rows()) == expected


# -- one file per provider per date ----------------------------------------------------------
def test_each_provider_has_its_own_file_per_date(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    both = pa.concat_tables(
        [
            rows(("2", T0, 1.0), ("1", T0 + timedelta(minutes=2), 2.0), provider="samsara"),
            rows(("1", T0, 3.0), provider="motive"),
        ]
    )
    result = store.merge(both)
    assert files_of(tmp_path) == [
        "date=2026-03-02/motive.parquet",
        "date=2026-03-02/samsara.parquet",
        "date=2026-03-03/samsara.parquet",
    ]
    assert result.partitions == ["2026-03-02", "2026-03-03"]
    samsara = pq.read_table(tmp_path / "date=2026-03-02" / "samsara.parquet")
    assert set(samsara.column("provider").to_pylist()) == {"samsara"}
    # A date reads in (provider, vehicle, time) order, as when it was one file.
    day = store.read_partition(T0.date())
    assert [(r["provider"], r["provider_vehicle_id"]) for r in day.to_pylist()] == [
        ("motive", "1"),
        ("samsara", "2"),
    ]


def test_merging_one_provider_leaves_the_other_providers_file_untouched(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.merge(rows(("1", T0, 1.0), provider="motive"))
    store.merge(rows(("1", T0, 1.0), provider="samsara"))
    other = tmp_path / "date=2026-03-02" / "samsara.parquet"
    before, content = other.stat(), other.read_bytes()
    store.merge(rows(("1", T0, 2.0), ("2", T0, 2.0), provider="motive"))
    store.quarantine(set_aside(rows(("3", T0, -1.0), provider="motive")), undated=T0.date())
    after = other.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert other.read_bytes() == content
    assert speeds(store.read()) == {
        ("motive", "1"): 2.0,
        ("motive", "2"): 2.0,
        ("samsara", "1"): 1.0,
    }


@pytest.mark.parametrize("name", ["../escape", "a/b", "Motive", "part-0", "9lives", ""])
def test_a_provider_name_that_is_not_a_plain_name_is_refused(tmp_path: Path, name: str) -> None:
    store = DatasetStore(tmp_path)
    with pytest.raises(FthError, match=r"provider .* must be a plain name"):
        store.merge(
            pa.concat_tables(
                [rows(("1", T0, 1.0), provider="acme"), rows(("1", T0, 1.0), provider=name)]
            )
        )
    with pytest.raises(FthError, match=r"provider .* must be a plain name"):
        store.quarantine(set_aside(rows(("1", T0, -1.0), provider=name)), undated=T0.date())
    assert files_of(tmp_path) == [], "refused before any file was written"


def test_a_quarantined_row_without_a_provider_is_refused(tmp_path: Path) -> None:
    _, unnamed = split_quarantined(
        {
            "provider": [None],
            "provider_vehicle_id": ["1"],
            "timestamp": [T0],
            "reason": ["negative speed"],
        }
    )
    with pytest.raises(FthError, match="provider None"):
        DatasetStore(tmp_path).quarantine(unnamed, undated=T0.date())
    assert files_of(tmp_path) == []
