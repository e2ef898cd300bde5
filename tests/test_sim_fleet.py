"""The simulated fleet is the ground truth for every simulator and end-to-end test: pin it."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fth_core.schema import TELEMETRY_COLUMNS
from fth_core.sim.fleet import Fleet, SimDriver, SimVehicle

DAY = timedelta(days=1)
JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
JAN4 = JAN1 + 3 * DAY


def _frame(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas()
    return frame


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(seed=11, vehicles=12)


@pytest.fixture(scope="module")
def three_days(fleet: Fleet) -> pd.DataFrame:
    return _frame(fleet.points(JAN1, JAN4))


@pytest.fixture(scope="module")
def no_gaps() -> Fleet:
    return Fleet(seed=5, vehicles=8, offline_rate=0.0, late_rate=0.0)


def _pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Consecutive points of the same vehicle: the columns of each point and of the next."""
    nxt = df.groupby("vehicle_id").shift(-1)
    pairs = df.assign(
        next_lat=nxt["latitude"],
        next_lon=nxt["longitude"],
        next_speed=nxt["speed_mph"],
        dt=(nxt["timestamp"] - df["timestamp"]).dt.total_seconds(),
    )
    return pairs.dropna(subset=["dt"])


def _east_north(fleet: Fleet, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Miles east and north from each point to the next, inverting the documented conversion."""
    lat0 = np.radians(pairs["vehicle_id"].map(lambda v: fleet.vehicle(v).home_lat).to_numpy())
    north = (pairs["next_lat"] - pairs["latitude"]).to_numpy() * 69.0
    east = (pairs["next_lon"] - pairs["longitude"]).to_numpy() * 69.0 * np.cos(lat0)
    return east, north


# ------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_tables() -> None:
    a, b = Fleet(seed=3, vehicles=5), Fleet(seed=3, vehicles=5)
    assert a.vehicles == b.vehicles
    assert a.drivers == b.drivers
    end = JAN1 + 2 * DAY
    assert a.points(JAN1, end).equals(b.points(JAN1, end))
    assert a.engine_events(JAN1, end).equals(b.engine_events(JAN1, end))
    assert a.assignments(JAN1, end).equals(b.assignments(JAN1, end))
    assert a.telemetry("motive", JAN1, end).equals(b.telemetry("motive", JAN1, end))


def test_different_seeds_give_different_fleets_and_tracks() -> None:
    a, b = Fleet(seed=3, vehicles=5), Fleet(seed=4, vehicles=5)
    assert [v.vin for v in a.vehicles] != [v.vin for v in b.vehicles]
    pa_, pb = a.points(JAN1, JAN1 + DAY), b.points(JAN1, JAN1 + DAY)
    assert not pa_.equals(pb)


def test_vehicle_roster_does_not_depend_on_fleet_size() -> None:
    assert Fleet(seed=9, vehicles=20).vehicles[:10] == Fleet(seed=9, vehicles=10).vehicles


@pytest.mark.parametrize(
    "d2",
    [JAN1 + DAY, datetime(2026, 1, 2, 13, 17, 5, 500000, tzinfo=UTC)],
    ids=["midnight, on a point", "mid-day, fractional second"],
)
def test_window_is_additive(fleet: Fleet, d2: datetime) -> None:
    d1, d3 = JAN1, JAN4
    keys = [("vehicle_id", "ascending"), ("timestamp", "ascending")]
    whole = fleet.points(d1, d3)
    halves = pa.concat_tables([fleet.points(d1, d2), fleet.points(d2, d3)]).sort_by(keys)
    assert halves.equals(whole)

    as_of = d3 + 30 * timedelta(hours=1)
    whole = fleet.points(d1, d3, as_of=as_of)
    halves = pa.concat_tables(
        [fleet.points(d1, d2, as_of=as_of), fleet.points(d2, d3, as_of=as_of)]
    ).sort_by(keys)
    assert halves.equals(whole)

    events = fleet.engine_events(d1, d3)
    split = pa.concat_tables([fleet.engine_events(d1, d2), fleet.engine_events(d2, d3)])
    assert split.sort_by([("vehicle_id", "ascending"), ("time", "ascending")]).equals(events)


def test_a_fresh_fleet_gives_the_same_day_whatever_was_asked_before() -> None:
    warm = Fleet(seed=2, vehicles=3)
    warm.points(JAN1, JAN4)  # fill the cache in another order
    day = (JAN1 + 2 * DAY, JAN4)
    assert warm.points(*day).equals(Fleet(seed=2, vehicles=3).points(*day))


# ------------------------------------------------------------------------------ roster


def _vin_is_valid(vin: str) -> bool:
    values = {
        **{str(d): d for d in range(10)},
        "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8,
        "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9,
        "S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9,
    }  # fmt: skip
    weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
    if len(vin) != 17 or any(c not in values for c in vin):
        return False
    remainder = sum(values[c] * w for c, w in zip(vin, weights, strict=True)) % 11
    return vin[8] == ("X" if remainder == 10 else str(remainder))


def test_vins_have_valid_check_digits_and_about_a_tenth_are_missing() -> None:
    fleet = Fleet(seed=21, vehicles=400)
    vins = [v.vin for v in fleet.vehicles]
    present = [v for v in vins if v is not None]
    assert all(_vin_is_valid(v) for v in present)
    assert len(set(present)) == len(present)
    assert 0.06 <= vins.count(None) / len(vins) <= 0.14
    assert not _vin_is_valid("1FTGBY0U9RP964390")  # the checker itself rejects a bad digit


def test_roster_ids_are_unique_and_well_formed() -> None:
    fleet = Fleet(seed=21, vehicles=400)
    vehicles, drivers = fleet.vehicles, fleet.drivers
    assert len(drivers) == math.ceil(1.5 * 400) + 2
    for attribute in ("id", "fleet_number", "serial"):
        assert len({getattr(v, attribute) for v in vehicles}) == len(vehicles)
    assert len({d.id for d in drivers}) == len({d.username for d in drivers}) == len(drivers)
    assert all(v.id.isdigit() and d.id.isdigit() for v, d in zip(vehicles, drivers, strict=False))
    assert all(re.fullmatch(r"TRK-\d{4}", v.fleet_number) for v in vehicles)
    assert all(re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{3}-[0-9A-Z]{3}", v.serial) for v in vehicles)
    assert all(re.fullmatch(r"[A-Za-z. ]+, [A-Z]{2}", v.home_city) for v in vehicles)
    assert all(24 < v.home_lat < 50 and -125 < v.home_lon < -66 for v in vehicles)
    assert fleet.vehicle(vehicles[7].id) == vehicles[7]
    assert fleet.driver(drivers[7].id) == drivers[7]
    assert drivers[0].name == f"{drivers[0].first_name} {drivers[0].last_name}"


def test_roster_rates_are_roughly_honoured() -> None:
    fleet = Fleet(seed=21, vehicles=400)
    metric = sum(v.metric_units for v in fleet.vehicles) / 400
    off = sum(v.status == "deactivated" for v in fleet.vehicles) / 400
    off_drivers = sum(d.status == "deactivated" for d in fleet.drivers) / len(fleet.drivers)
    assert 0.15 <= metric <= 0.25
    assert 0.06 <= off <= 0.14
    assert 0.11 <= off_drivers <= 0.19
    assert {v.status for v in fleet.vehicles} == {"active", "deactivated"}
    assert isinstance(fleet.vehicles[0], SimVehicle)
    assert isinstance(fleet.drivers[0], SimDriver)


def test_unknown_ids_raise_key_error(fleet: Fleet) -> None:
    with pytest.raises(KeyError):
        fleet.vehicle("nope")
    with pytest.raises(KeyError):
        fleet.driver("nope")
    with pytest.raises(KeyError):
        fleet.points(JAN1, JAN1 + DAY, vehicle_ids=["nope"])
    with pytest.raises(KeyError):
        fleet.odometer_at("nope", np.array(["2026-01-01T00:00"], dtype="datetime64[us]"))


# ------------------------------------------------------------------------------ points


def test_points_have_the_documented_schema(fleet: Fleet) -> None:
    table = fleet.points(JAN1, JAN1 + DAY)
    ts = pa.timestamp("us", tz="UTC")
    assert table.schema.names == [
        "vehicle_id",
        "timestamp",
        "latitude",
        "longitude",
        "speed_mph",
        "heading_degrees",
        "engine_state",
        "driver_id",
        "odometer_miles",
        "location_description",
        "available_at",
    ]
    assert table.schema.field("timestamp").type == ts
    assert table.schema.field("available_at").type == ts
    assert table.schema.field("vehicle_id").type == pa.string()
    assert table.schema.field("driver_id").type == pa.string()
    empty = fleet.points(JAN1, JAN1)
    assert empty.num_rows == 0
    assert empty.schema == table.schema


def test_points_are_sorted_unique_whole_seconds_inside_the_window(
    three_days: pd.DataFrame,
) -> None:
    df = three_days
    assert df["vehicle_id"].is_monotonic_increasing
    assert (df.groupby("vehicle_id")["timestamp"].diff().dropna() > pd.Timedelta(0)).all()
    assert (df["timestamp"].dt.microsecond == 0).all()
    assert df["timestamp"].min() >= pd.Timestamp(JAN1)
    assert df["timestamp"].max() < pd.Timestamp(JAN4)


def test_point_values_are_in_range(three_days: pd.DataFrame) -> None:
    df = three_days
    assert df["speed_mph"].between(0, 75).all()
    assert ((df["heading_degrees"] >= 0) & (df["heading_degrees"] < 360)).all()
    assert df["latitude"].between(24, 50).all()
    assert df["longitude"].between(-125, -66).all()
    assert set(df["engine_state"]) == {"On", "Off", "Idle"}
    assert df["location_description"].str.fullmatch(r"[A-Za-z. ]+, [A-Z]{2}").all()
    assert (df.loc[df["engine_state"] != "On", "speed_mph"] == 0).all()
    assert df["speed_mph"].max() > 40  # they do drive at road speed


def test_a_vehicle_day_has_600_to_900_points(no_gaps: Fleet) -> None:
    df = _frame(no_gaps.points(JAN1, JAN4))
    counts = df.groupby(["vehicle_id", df["timestamp"].dt.date]).size()
    active = sum(v.status == "active" for v in no_gaps.vehicles)
    assert len(counts) == 3 * active
    assert counts.between(600, 900).all()


def test_overnight_points_are_off_at_the_depot_every_ten_minutes(
    fleet: Fleet, three_days: pd.DataFrame
) -> None:
    night = three_days[three_days["timestamp"].dt.hour < 4]
    assert (night["engine_state"] == "Off").all()
    assert night["driver_id"].isna().all()
    assert (night["timestamp"].dt.minute % 10 == 0).all()
    for vehicle_id, rows in night.groupby("vehicle_id"):
        vehicle = fleet.vehicle(vehicle_id)
        assert np.allclose(rows["latitude"], vehicle.home_lat, atol=1e-9)
        assert np.allclose(rows["longitude"], vehicle.home_lon, atol=1e-9)


def test_speed_is_consistent_with_positions(fleet: Fleet, three_days: pd.DataFrame) -> None:
    pairs = _pairs(three_days)
    pairs = pairs[(pairs["engine_state"] == "On") & (pairs["dt"] <= 90)]
    assert len(pairs) > 1000
    east, north = _east_north(fleet, pairs)
    mph = np.hypot(east, north) / pairs["dt"].to_numpy() * 3600.0
    # Speed is piecewise linear in time, so distance / time is the mean of the two speeds.
    mean = 0.5 * (pairs["speed_mph"] + pairs["next_speed"]).to_numpy()
    assert np.allclose(mph, mean, rtol=0.005, atol=0.05)
    # And each point's own speed is close to it away from departures and arrivals.
    assert np.median(np.abs(mph - pairs["speed_mph"].to_numpy())) < 0.5


def test_heading_points_along_the_direction_of_travel(
    fleet: Fleet, three_days: pd.DataFrame
) -> None:
    pairs = _pairs(three_days)
    pairs = pairs[pairs["dt"] <= 90]
    east, north = _east_north(fleet, pairs)
    moving = np.hypot(east, north) > 0.05
    assert moving.sum() > 1000
    bearing = np.degrees(np.arctan2(east[moving], north[moving])) % 360.0
    heading = pairs["heading_degrees"].to_numpy()[moving]
    difference = (bearing - heading + 180.0) % 360.0 - 180.0
    assert np.abs(difference).max() < 3.0


def test_routes_are_loops_back_to_the_depot(fleet: Fleet, three_days: pd.DataFrame) -> None:
    for vehicle_id, rows in three_days.groupby("vehicle_id"):
        vehicle = fleet.vehicle(str(vehicle_id))
        squeeze = math.cos(math.radians(vehicle.home_lat))
        miles_out = 69.0 * np.hypot(
            (rows["latitude"] - vehicle.home_lat).to_numpy(),
            (rows["longitude"] - vehicle.home_lon).to_numpy() * squeeze,
        )
        assert miles_out.max() > 40  # the loop takes them well away
        assert miles_out[-1] < 1e-6  # and brings them home


# ------------------------------------------------------------------------------ odometer


def test_odometer_never_decreases_and_is_continuous_across_midnight(
    fleet: Fleet, three_days: pd.DataFrame
) -> None:
    for vehicle_id, rows in three_days.groupby("vehicle_id"):
        assert (rows["odometer_miles"].diff().dropna() >= 0).all()
        midnight = np.array(["2026-01-02T00:00:00"], dtype="datetime64[us]")
        around = fleet.odometer_at(str(vehicle_id), np.concatenate([midnight - 1, midnight]))
        assert around[1] - around[0] == pytest.approx(0.0, abs=1e-9)
        day1 = rows[rows["timestamp"] < pd.Timestamp("2026-01-02", tz="UTC")]
        day2 = rows[rows["timestamp"] >= pd.Timestamp("2026-01-02", tz="UTC")]
        assert day1["odometer_miles"].iloc[-1] == day2["odometer_miles"].iloc[0]


def test_odometer_at_equals_the_points_odometer_exactly(
    fleet: Fleet, three_days: pd.DataFrame
) -> None:
    for vehicle_id, rows in three_days.groupby("vehicle_id"):
        times = rows["timestamp"].dt.tz_localize(None).to_numpy().astype("datetime64[us]")
        assert np.array_equal(fleet.odometer_at(str(vehicle_id), times), rows["odometer_miles"])


def test_odometer_increase_over_a_day_is_the_distance_travelled(no_gaps: Fleet) -> None:
    df = _frame(no_gaps.points(JAN1, JAN1 + DAY))
    pairs = _pairs(df)
    east, north = _east_north(no_gaps, pairs)
    travelled = (
        pd.Series(np.hypot(east, north), index=pairs.index).groupby(pairs["vehicle_id"]).sum()
    )
    increase = df.groupby("vehicle_id")["odometer_miles"].agg(lambda s: s.iloc[-1] - s.iloc[0])
    assert np.allclose(travelled, increase.loc[travelled.index], rtol=0.002)
    assert (increase > 150).all()


def test_odometer_counts_through_offline_gaps_and_between_points(fleet: Fleet) -> None:
    vehicle = next(v for v in fleet.vehicles if v.status == "active")
    times = np.arange(
        np.datetime64("2026-01-05T00:00:00", "us"),
        np.datetime64("2026-01-06T00:00:00", "us"),
        np.timedelta64(7_777_777, "us"),
    )
    odometer = fleet.odometer_at(vehicle.id, times)
    assert (np.diff(odometer) >= 0).all()
    assert odometer[-1] - odometer[0] > 150


def test_odometer_before_the_epoch_is_an_error(fleet: Fleet) -> None:
    with pytest.raises(ValueError, match="epoch"):
        fleet.odometer_at(fleet.vehicles[0].id, np.array(["2025-12-31"], dtype="datetime64[us]"))


# ------------------------------------------------------------------------------ engine


def test_every_point_has_the_state_of_the_latest_engine_event(
    fleet: Fleet, three_days: pd.DataFrame
) -> None:
    events = _frame(fleet.engine_events(JAN1, JAN4))
    assert events["vehicle_id"].is_monotonic_increasing
    merged = pd.merge_asof(
        three_days.sort_values("timestamp"),
        events.rename(columns={"time": "timestamp"}).sort_values("timestamp"),
        on="timestamp",
        by="vehicle_id",
        direction="backward",
        allow_exact_matches=True,
    )
    expected = merged["state"].fillna("Off")  # before the first event the truck is parked
    assert (merged["engine_state"] == expected).all()
    # Every event sits exactly on a point, and every change of state is an event.
    keys = set(zip(three_days["vehicle_id"], three_days["timestamp"], strict=True))
    assert all(k in keys for k in zip(events["vehicle_id"], events["time"], strict=True))
    changed = three_days["engine_state"] != three_days.groupby("vehicle_id")["engine_state"].shift()
    first = ~three_days["vehicle_id"].duplicated()
    changes = three_days[changed & ~first]
    event_keys = set(zip(events["vehicle_id"], events["time"], strict=True))
    assert all(
        k in event_keys for k in zip(changes["vehicle_id"], changes["timestamp"], strict=True)
    )


def test_each_day_has_the_five_engine_transitions(fleet: Fleet) -> None:
    events = _frame(fleet.engine_events(JAN1, JAN4))
    for _, day in events.groupby(["vehicle_id", events["time"].dt.date]):
        assert list(day["state"]) == ["Idle", "On", "Idle", "On", "Off"]
        assert day["time"].iloc[0].hour in range(5, 10)
        shift = day["time"].iloc[-1] - day["time"].iloc[0]
        assert pd.Timedelta(hours=8) <= shift <= pd.Timedelta(hours=10)


# ------------------------------------------------------------------------------ drivers


def test_points_carry_the_driver_of_the_covering_assignment(
    fleet: Fleet, three_days: pd.DataFrame
) -> None:
    assignments = _frame(fleet.assignments(JAN1, JAN4))
    merged = pd.merge_asof(
        three_days.sort_values("timestamp"),
        assignments.rename(columns={"driver_id": "assigned"}).sort_values("start"),
        left_on="timestamp",
        right_on="start",
        by="vehicle_id",
        direction="backward",
    )
    covered = merged["end"].notna() & (merged["timestamp"] < merged["end"])
    expected = merged["assigned"].where(covered)
    assert merged["driver_id"].isna().equals(expected.isna())
    assert (merged["driver_id"].dropna() == expected.dropna()).all()
    assert merged["driver_id"].notna().any()
    assert merged["driver_id"].isna().any()


def test_no_driver_is_double_booked_and_handovers_happen() -> None:
    fleet = Fleet(seed=13, vehicles=30)
    assignments = _frame(fleet.assignments(JAN1, JAN1 + 5 * DAY))
    for _, rows in assignments.sort_values("start").groupby("driver_id"):
        assert (rows["start"].iloc[1:].to_numpy() >= rows["end"].iloc[:-1].to_numpy()).all()
    assert all(fleet.driver(d).status == "active" for d in assignments["driver_id"])
    per_vehicle_day = assignments.groupby(["vehicle_id", assignments["start"].dt.date])
    handovers = 0
    for _, rows in per_vehicle_day:
        if len(rows) == 2:
            handovers += 1
            assert rows["end"].iloc[0] == rows["start"].iloc[1]
            assert rows["driver_id"].iloc[0] != rows["driver_id"].iloc[1]
    assert 0.25 <= handovers / per_vehicle_day.ngroups <= 0.6


def test_assignments_overlapping_the_window_are_returned(fleet: Fleet) -> None:
    noon = JAN1 + timedelta(hours=12)
    everything = _frame(fleet.assignments(JAN1, JAN1 + DAY))
    overlapping = _frame(fleet.assignments(noon, noon + timedelta(minutes=1)))
    expected = everything[(everything["start"] < noon + timedelta(minutes=1))]
    expected = expected[expected["end"] > noon]
    assert overlapping.reset_index(drop=True).equals(expected.reset_index(drop=True))


# ------------------------------------------------------------------------------ imperfections


def test_as_of_hides_late_points_and_releases_them_later() -> None:
    fleet = Fleet(seed=17, vehicles=6, late_rate=1.0, offline_rate=0.0)
    start, end = JAN1 + DAY, JAN1 + 2 * DAY
    everything = fleet.points(start, end)
    df = _frame(everything)
    delay = df["available_at"] - df["timestamp"]
    is_late = delay > pd.Timedelta(0)
    late = df[is_late]
    assert late["vehicle_id"].nunique() == sum(v.status == "active" for v in fleet.vehicles)
    assert delay[is_late].between(pd.Timedelta(hours=6), pd.Timedelta(hours=60)).all()
    for _, run in late.groupby("vehicle_id"):
        assert run["timestamp"].iloc[-1] - run["timestamp"].iloc[0] <= pd.Timedelta(minutes=60)

    at_end = _frame(fleet.points(start, end, as_of=end))
    assert len(at_end) == len(df) - len(late)
    assert (at_end["available_at"] <= pd.Timestamp(end)).all()
    released = fleet.points(start, end, as_of=end + timedelta(hours=61))
    assert released.equals(everything)

    noon = start + timedelta(hours=12)
    so_far = _frame(fleet.points(start, end, as_of=noon))
    assert so_far["timestamp"].max() <= pd.Timestamp(noon)


def test_offline_gaps_leave_hours_without_points() -> None:
    gappy = _frame(Fleet(seed=19, vehicles=6, offline_rate=1.0).points(JAN1, JAN1 + DAY))
    steady = _frame(Fleet(seed=19, vehicles=6, offline_rate=0.0).points(JAN1, JAN1 + DAY))
    gaps = gappy.groupby("vehicle_id")["timestamp"].diff().groupby(gappy["vehicle_id"]).max()
    assert (gaps >= pd.Timedelta(hours=1)).all()
    assert (gaps <= pd.Timedelta(hours=3, minutes=20)).all()
    assert steady.groupby("vehicle_id")["timestamp"].diff().max() <= pd.Timedelta(minutes=10)


def test_deactivated_vehicles_have_no_points_events_or_assignments() -> None:
    fleet = Fleet(seed=23, vehicles=10, deactivated_rate=0.5)
    gone = {v.id for v in fleet.vehicles if v.status == "deactivated"}
    assert gone
    for table in (
        fleet.points(JAN1, JAN1 + DAY),
        fleet.engine_events(JAN1, JAN1 + DAY),
        fleet.assignments(JAN1, JAN1 + DAY),
        fleet.points(JAN1, JAN1 + DAY, vehicle_ids=sorted(gone)),
    ):
        assert not gone & set(table.column("vehicle_id").to_pylist())
    vehicle_id = next(iter(gone))
    times = np.array(["2026-01-01T00:00", "2026-01-09T12:00"], dtype="datetime64[us]")
    odometer = fleet.odometer_at(vehicle_id, times)
    assert odometer[0] == odometer[1]


def test_days_before_the_epoch_have_no_data() -> None:
    fleet = Fleet(seed=1, vehicles=3, epoch=date(2026, 1, 1))
    assert fleet.points(JAN1 - 5 * DAY, JAN1).num_rows == 0
    assert fleet.points(JAN1 - DAY, JAN1 + DAY).equals(fleet.points(JAN1, JAN1 + DAY))


def test_vehicle_ids_select_vehicles(fleet: Fleet, three_days: pd.DataFrame) -> None:
    chosen = [v.id for v in fleet.vehicles if v.status == "active"][:2]
    some = _frame(fleet.points(JAN1, JAN4, vehicle_ids=list(reversed(chosen))))
    expected = three_days[three_days["vehicle_id"].isin(chosen)].reset_index(drop=True)
    assert some.equals(expected)


def test_naive_datetimes_are_rejected(fleet: Fleet) -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="timezone"):
        fleet.points(naive, JAN4)
    with pytest.raises(ValueError, match="timezone"):
        fleet.points(JAN1, JAN4, as_of=naive)
    with pytest.raises(ValueError, match="timezone"):
        fleet.engine_events(JAN1, naive)
    with pytest.raises(ValueError, match="timezone"):
        fleet.assignments(naive, JAN4)
    with pytest.raises(ValueError, match="timezone"):
        fleet.telemetry("motive", naive, JAN4)


# ------------------------------------------------------------------------------ telemetry


def test_telemetry_is_the_points_in_the_unified_schema(fleet: Fleet) -> None:
    end = JAN1 + DAY
    points = _frame(fleet.points(JAN1, end))
    table = fleet.telemetry("samsara", JAN1, end)
    assert tuple(table.column_names) == TELEMETRY_COLUMNS
    df = table.to_pandas()
    assert (df["provider"] == "samsara").all()
    assert (df["provider_vehicle_id"] == points["vehicle_id"]).all()
    assert df["timestamp"].equals(points["timestamp"])
    assert np.array_equal(df["odometer"], points["odometer_miles"])
    assert (df["engine_state"].astype(str) == points["engine_state"]).all()
    vehicles = df["provider_vehicle_id"].map(fleet.vehicle)
    assert (df["fleet_number"] == vehicles.map(lambda v: v.fleet_number)).all()
    assert df["vin"].isna().equals(vehicles.map(lambda v: v.vin is None))
    driven = df["driver_id"].notna()
    assert df["driver_name"].notna().equals(driven)
    names = df.loc[driven, "driver_id"].map(lambda d: fleet.driver(d).name)
    assert (df.loc[driven, "driver_name"] == names).all()
