"""Realistic Motive payloads (shapes from PROVIDERS.md §1) through the endpoint definitions,
the pydantic models and the bulk flatten path."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest

from fth_core.errors import ResponseFormatError
from fth_core.pagination import PaginationState
from fth_core.schema import TELEMETRY_SCHEMA, split_quarantined
from fth_motive.conventions import KM_PER_MILE, engine_states
from fth_motive.endpoints import (
    DRIVING_PERIODS,
    ENDPOINTS,
    GROUPS,
    IDLE_EVENTS,
    USERS,
    VEHICLE_LOCATIONS,
    VEHICLE_UTILIZATION,
    VEHICLES,
)
from fth_motive.models import (
    DrivingPeriod,
    Group,
    IdleEvent,
    UnknownEnumValueWarning,
    User,
    Vehicle,
    VehicleLocation,
    VehicleUtilization,
)
from fth_motive.telemetry import LocationHistory, RosterVehicle, flatten_locations


def _flat(
    records: list[dict[str, Any]],
    *,
    metric: bool = False,
    vin: str | None = "1FTGBY0U8RP964390",
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    end: datetime = datetime(2027, 1, 1, tzinfo=UTC),
) -> dict[str, list[Any]]:
    vehicle = RosterVehicle("100017", vin, "TRK-0002", metric)
    history = LocationHistory(vehicle, start.date(), end.date(), start, end, metric, records)
    table, quarantined = split_quarantined(flatten_locations(history), provider="motive")
    assert quarantined.num_rows == 0, quarantined.column("reason").to_pylist()
    columns: dict[str, list[Any]] = table.to_pydict()
    return columns


# -- vehicles ----------------------------------------------------------------------------------


def test_vehicles_page_parses_metric_vehicles_null_vins_and_unset_years(payloads: Any) -> None:
    body = payloads.wrap(
        "vehicles",
        "vehicle",
        [
            payloads.vehicle(),
            payloads.vehicle(id=100034, number="TRK-0003", metric_units=True, vin=None, year="0"),
            payloads.vehicle(
                id=100204, status="deactivated", year="", make="", eld_device=None,
                availability_details=None, current_driver=None,
            ),
        ],
        per_page=25, page_no=1, total=3,
    )  # fmt: skip
    page = VEHICLES.parse_response(body)
    first, metric, retired = page.items
    assert isinstance(first, Vehicle)
    assert first.vin == "1FTGBY0U8RP964390"
    assert first.model_year == 2024
    assert first.created_at == datetime(2024, 11, 27, 15, 4, 5, tzinfo=UTC)
    assert first.current_driver is not None
    assert first.current_driver.full_name == "Rosa Nguyen"
    assert metric.metric_units is True
    assert metric.vin is None
    assert metric.model_year is None  # "0" means not configured
    assert retired.status == "deactivated"
    assert retired.model_year is None  # "" seen live
    assert retired.eld_device is None
    assert page.next_state is None  # 1 * 25 >= 3


def test_unknown_keys_are_ignored(payloads: Any) -> None:
    body = payloads.wrap("vehicles", "vehicle", [payloads.vehicle(brand_new_field={"x": 1})])
    body["pagination"] = {"per_page": 25, "page_no": 1, "total": 1}
    (vehicle,) = VEHICLES.parse_response(body).items
    assert not hasattr(vehicle, "brand_new_field")


def test_unknown_enum_value_is_kept_as_text_with_a_warning(payloads: Any) -> None:
    body = payloads.wrap("vehicles", "vehicle", [payloads.vehicle(status="retired")])
    body["pagination"] = {"per_page": 25, "page_no": 1, "total": 1}
    with pytest.warns(UnknownEnumValueWarning, match="vehicle status 'retired'"):
        (vehicle,) = VEHICLES.parse_response(body).items
    assert vehicle.status == "retired"


def test_known_enum_values_raise_no_warning(payloads: Any) -> None:
    body = payloads.wrap("vehicle_locations", "vehicle_location", [payloads.location()])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownEnumValueWarning)
        VEHICLE_LOCATIONS.parse_response(body)


def test_a_record_missing_a_required_key_fails_the_page_naming_the_field(payloads: Any) -> None:
    record = payloads.vehicle()
    del record["number"]
    body = payloads.wrap("vehicles", "vehicle", [record], per_page=25, page_no=1, total=1)
    with pytest.raises(ResponseFormatError, match="number"):
        VEHICLES.parse_response(body)


def test_pagination_follows_the_echoed_block_not_the_requested_size(payloads: Any) -> None:
    records = [payloads.vehicle(id=100000 + i) for i in range(50)]
    body = payloads.wrap("vehicles", "vehicle", records, per_page=50, page_no=1, total=152)
    page = VEHICLES.parse_response(body, PaginationState())
    assert page.next_state is not None
    assert (page.next_state.page_no, page.next_state.page_size) == (2, 50)
    request = VEHICLES.build_request(state=page.next_state)
    assert dict(request.params) == {"page_no": "2", "per_page": "50"}


def test_a_past_the_end_page_is_empty_and_ends_the_walk(payloads: Any) -> None:
    body = payloads.wrap("driving_periods", "driving_period", [])
    body["pagination"] = {"per_page": 5, "page_no": 2100, "total": 10366}
    page = DRIVING_PERIODS.parse_response(body, PaginationState(page_no=2100))
    assert page.items == []
    assert page.next_state is None


# -- vehicle locations -------------------------------------------------------------------------


def test_location_parses_long_floats_offsets_and_nulls(payloads: Any) -> None:
    body = payloads.wrap(
        "vehicle_locations",
        "vehicle_location",
        [
            payloads.location(),
            payloads.location(
                id="0b9d", located_at="2026-03-08T01:59:59-06:00", speed=None,
                true_odometer=None, driver=None, description=None, bearing=None,
            ),
        ],
    )  # fmt: skip
    assert "pagination" not in body  # unpaginated
    page = VEHICLE_LOCATIONS.parse_response(body)
    full, sparse = page.items
    assert isinstance(full, VehicleLocation)
    assert full.odometer == 123456.78901234567
    assert full.best_odometer == 123460.5  # ECM odometer preferred
    assert full.driver is not None
    assert full.driver.id == 501234
    assert sparse.located_at == datetime(2026, 3, 8, 7, 59, 59, tzinfo=UTC)
    assert sparse.speed is None
    assert sparse.driver is None
    assert sparse.best_odometer == 123456.78901234567  # falls back to the calculated one
    assert page.next_state is None


def test_an_empty_location_list_is_no_items(payloads: Any) -> None:
    body: dict[str, Any] = {"vehicle_locations": []}
    assert VEHICLE_LOCATIONS.parse_response(body).items == []
    assert VEHICLE_LOCATIONS.parse_response(body, typed=False).items == []
    assert _flat([])["timestamp"] == []


def test_flatten_converts_a_metric_vehicle_to_mph_and_miles(payloads: Any) -> None:
    record = payloads.location(speed=100.0, true_odometer=160934.4, odometer=1.0)
    flat = _flat([record], metric=True)
    assert flat["speed_mph"][0] == pytest.approx(100.0 / KM_PER_MILE, rel=1e-12)
    assert flat["odometer"][0] == pytest.approx(100000.0, rel=1e-12)


def test_flatten_keeps_imperial_values_unchanged(payloads: Any) -> None:
    flat = _flat([payloads.location()])
    assert flat["speed_mph"] == [42.5]
    assert flat["odometer"] == [123460.5]
    assert flat["heading_degrees"] == [181.25]
    assert flat["longitude"] == [-96.80081400000001]


def test_flatten_falls_back_to_the_calculated_odometer(payloads: Any) -> None:
    flat = _flat(
        [
            payloads.location(true_odometer=None, odometer=500.0),
            payloads.location(located_at="2026-07-15T00:00:05Z", true_odometer=None, odometer=None),
        ],
        metric=True,
    )
    assert flat["odometer"][0] == pytest.approx(500.0 / KM_PER_MILE)
    assert flat["odometer"][1] is None


def test_flatten_attaches_the_driver_and_the_roster_fields(payloads: Any) -> None:
    flat = _flat(
        [
            payloads.location(),
            payloads.location(located_at="2026-07-15T00:00:05Z", driver=None),
        ],
        vin=None,
    )
    assert flat["driver_id"] == ["501234", None]
    assert flat["driver_name"] == ["Rosa Nguyen", None]
    assert flat["vin"] == [None, None]
    assert flat["fleet_number"] == ["TRK-0002", "TRK-0002"]
    assert flat["provider_vehicle_id"] == ["100017", "100017"]
    assert flat["location_description"] == ["Dallas, TX", "Dallas, TX"]


def test_flatten_writes_driver_ids_as_text_and_trims_names_whatever_the_mix(
    payloads: Any,
) -> None:
    # Arrow writes a column of integer ids, or of text ids, at once; a mix of both, or an id
    # beyond 64 bits, falls back to one by one. Names are trimmed like str.strip, "" is null.
    drivers = [
        payloads.user_summary(id=7, first_name="  Ana ", last_name=None),
        payloads.user_summary(id="D-9", first_name=None, last_name="Lee\u3000"),
        payloads.user_summary(id=2**70, first_name="", last_name=" "),
        payloads.user_summary(id=None, first_name=None, last_name=None),
    ]
    stamps = [f"2026-07-14T10:00:0{i}Z" for i in range(len(drivers))]
    records = [
        payloads.location(located_at=t, driver=d) for t, d in zip(stamps, drivers, strict=True)
    ]
    mixed = _flat(records)
    assert mixed["driver_id"] == ["7", "D-9", str(2**70), None]
    assert mixed["driver_name"] == ["Ana", "Lee", None, None]
    assert _flat(records[:1] + records[3:])["driver_id"] == ["7", None]  # integers only
    assert _flat(records[1:2])["driver_id"] == ["D-9"]  # text only


def test_flatten_reads_offset_timestamps_across_a_dst_change_as_utc(payloads: Any) -> None:
    # US Central time springs forward at 2026-03-08 02:00 local: one real second apart,
    # wall clocks an hour apart. Also a fall-back pair where wall-clock order is reversed.
    stamps = [
        "2026-03-08T01:59:59-06:00",
        "2026-03-08T03:00:00-05:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-01T01:10:00-06:00",
        "2026-03-08T07:59:58Z",
    ]
    flat = _flat([payloads.location(id=str(i), located_at=t) for i, t in enumerate(stamps)])
    assert flat["timestamp"] == [
        datetime(2026, 3, 8, 7, 59, 59, tzinfo=UTC),
        datetime(2026, 3, 8, 8, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 7, 10, tzinfo=UTC),
        datetime(2026, 3, 8, 7, 59, 58, tzinfo=UTC),
    ]


def test_flatten_reads_fractional_seconds_and_missing_offsets_as_utc(payloads: Any) -> None:
    flat = _flat(
        [
            payloads.location(located_at="2026-07-14T23:59:55.250Z"),
            payloads.location(located_at="2026-07-14T23:59:56"),
        ]
    )
    assert flat["timestamp"] == [
        datetime(2026, 7, 14, 23, 59, 55, 250000, tzinfo=UTC),
        datetime(2026, 7, 14, 23, 59, 56, tzinfo=UTC),
    ]


def test_flatten_trims_whole_days_to_the_half_open_window(payloads: Any) -> None:
    stamps = ["2026-07-13T23:59:59Z", "2026-07-14T00:00:00Z", "2026-07-14T11:59:59Z",
              "2026-07-14T12:00:00Z"]  # fmt: skip
    flat = _flat(
        [payloads.location(located_at=t) for t in stamps],
        start=datetime(2026, 7, 14, tzinfo=UTC),
        end=datetime(2026, 7, 14, 12, tzinfo=UTC),
    )
    assert [t.isoformat() for t in flat["timestamp"]] == [
        "2026-07-14T00:00:00+00:00",
        "2026-07-14T11:59:59+00:00",
    ]


def test_flatten_with_null_speed_keeps_the_event_types_state(payloads: Any) -> None:
    flat = _flat(
        [
            payloads.location(located_at="2026-07-14T10:00:00Z", type="ignition_off", speed=None),
            payloads.location(located_at="2026-07-14T10:00:01Z", type="breadcrumb", speed=None),
            payloads.location(located_at="2026-07-14T10:00:02Z", type="vehicle_moving", speed=None),
        ]
    )
    assert flat["speed_mph"] == [None, None, None]
    assert flat["engine_state"] == ["Off", None, "On"]


def test_flatten_output_conforms_to_the_unified_schema(payloads: Any) -> None:
    vehicle = RosterVehicle("100017", None, "TRK-0002", True)
    start, end = datetime(2026, 7, 14, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)
    history = LocationHistory(
        vehicle, start.date(), end.date(), start, end, True, [payloads.location()]
    )
    table, _ = split_quarantined(flatten_locations(history), provider="motive")
    assert table.schema.equals(TELEMETRY_SCHEMA)
    assert table.num_rows == 1


@pytest.mark.parametrize(
    ("kind", "speed", "state"),
    [
        ("ignition_off", 0.0, "Off"),
        ("engine_stop", 12.0, "Off"),
        ("gps_stopped", 0.0, "Off"),
        ("gps_stopped", None, "Off"),
        ("gps_stopped", 5.0, "On"),
        ("ignition_on", 0.0, "Idle"),
        ("engine_start", None, "Idle"),
        ("vehicle_stopped", 0.0, "Idle"),
        ("breadcrumb", 0.0, "Idle"),
        ("breadcrumb", 31.5, "On"),
        ("breadcrumb", None, None),
        ("vehicle_moving", 0.0, "On"),
        ("gps_moving", 0.0, "On"),
        ("ignition_on", 3.0, "On"),
        ("hyperdrive_engaged", 0.0, None),
        ("hyperdrive_engaged", 7.0, "On"),
        (None, 0.0, None),
    ],
)
def test_engine_state_rule(kind: str | None, speed: float | None, state: str | None) -> None:
    speeds = np.array([np.nan if speed is None else speed])
    assert engine_states([kind], speeds).to_pylist() == [state]


def test_an_unknown_location_type_is_kept_on_the_typed_path_and_quarantined_on_the_bulk_path(
    payloads: Any,
) -> None:
    record = payloads.location(type="hyperdrive_engaged", speed=7.0)
    body = payloads.wrap("vehicle_locations", "vehicle_location", [record])
    with pytest.warns(UnknownEnumValueWarning, match="hyperdrive_engaged"):
        (typed,) = VEHICLE_LOCATIONS.parse_response(body).items
    assert typed.type == "hyperdrive_engaged"
    vehicle = RosterVehicle("100017", None, "TRK-0002", False)
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    history = LocationHistory(vehicle, start.date(), end.date(), start, end, False, [record])
    stored, quarantined = split_quarantined(flatten_locations(history), provider="motive")
    assert stored.num_rows == 0
    assert quarantined.column("reason").to_pylist() == [
        "unknown location type 'hyperdrive_engaged'"
    ]
    assert quarantined.column("engine_state").to_pylist() == [None], "the state is unknown"


# -- users and groups --------------------------------------------------------------------------


_COMMON_USER = {
    "email": None,
    "phone": None,
    "phone_country_code": None,
    "company_reference_id": None,
    "status": "active",
    "group_ids": [1001],
    "metric_units": False,
    "time_zone": "Central Time (US & Canada)",
    "created_at": "2024-11-27T15:04:05Z",
    "updated_at": "2026-02-14T09:30:00Z",
    "mobile_current_sign_in_at": None,
    "mobile_last_active_at": "2026-02-14T09:30:00Z",
    "mobile_last_sign_in_at": None,
    "web_current_sign_in_at": None,
    "web_last_active_at": None,
    "web_last_sign_in_at": None,
    "external_ids": None,
    "phone_ext": None,
}


def test_users_page_has_driver_only_keys_on_drivers_and_absent_elsewhere() -> None:
    driver = {
        "id": 501234, "first_name": "Rosa", "last_name": "Nguyen", "role": "driver",
        **_COMMON_USER,
        "username": "rnguyen", "driver_company_id": "D0042", "drivers_license_number": "L123",
        "drivers_license_state": "TX", "joined_at": "2025-06-01", "duty_status": "driving",
        "eld_mode": "logs", "cycle": "70_8", "cycle2": "70_8_2020", "violation_alerts": "1_hour",
        "carrier_name": "Sim Freight LLC", "terminal_street": None,
        "exception_24_hour_restart": False, "manual_driving_enabled": True,
        "associated_dispatcher_id": None,
    }  # fmt: skip
    admin = {
        "id": 900001, "first_name": "Dana", "last_name": "Whitaker", "role": "admin",
        **_COMMON_USER,
        "expires_at": None, "phone2": None, "phone_country_code2": None,
    }  # fmt: skip
    fleet_user = admin | {"id": 900003, "role": "fleet_user", "status": "deactivated"}
    body = {
        "users": [{"user": driver}, {"user": admin}, {"user": fleet_user}],
        "pagination": {"per_page": 100, "page_no": 27, "total": 2665},
    }
    page = USERS.parse_response(body, PaginationState(page_no=27))
    rosa, dana, tom = page.items
    assert isinstance(rosa, User)
    assert rosa.is_driver
    assert rosa.username == "rnguyen"
    assert rosa.joined_at == date(2025, 6, 1)
    assert rosa.duty_status == "driving"
    assert dana.username is None  # absent, not null, on non-drivers
    assert dana.eld_mode is None
    assert not dana.is_driver
    assert tom.status == "deactivated"
    assert tom.role == "fleet_user"
    assert page.next_state is None  # 27 * 100 >= 2665


def test_groups_page_parses_a_tree(payloads: Any) -> None:
    owner = payloads.user_summary(username=None, driver_company_id=None, role="admin")
    body = payloads.wrap(
        "groups",
        "group",
        [
            {"id": 1000, "company_id": 31337, "name": "All", "parent_id": None, "user": owner},
            {"id": 1001, "company_id": 31337, "name": "Dallas", "parent_id": 1000, "user": owner},
        ],
        per_page=50, page_no=1, total=152,
    )  # fmt: skip
    page = GROUPS.parse_response(body)
    root, child = page.items
    assert isinstance(root, Group)
    assert root.parent_id is None
    assert child.parent_id == root.id
    assert child.user is not None
    assert child.user.username is None
    assert page.next_state is not None


# -- events and roll-ups -----------------------------------------------------------------------


def test_driving_periods_parse_complete_and_in_progress_records(payloads: Any) -> None:
    complete = {
        "id": 9123456, "start_time": "2026-07-14T13:05:00Z", "end_time": "2026-07-14T14:00:10Z",
        "status": "complete", "type": "driving", "annotation_status": None, "notes": None,
        "duration": 3310.0, "start_kilometers": 201234.5, "end_kilometers": 201302.4,
        "driver": payloads.user_summary(), "vehicle": payloads.vehicle_summary(vin=None),
        "origin": "Dallas, TX", "origin_lat": 32.8, "origin_lon": -96.8,
        "destination": "Waco, TX", "destination_lat": 31.5, "destination_lon": -97.1,
        "distance": "42.2 mi", "source": None, "start_hvb_state_of_charge": None,
        "end_hvb_state_of_charge": None, "start_hvb_lifetime_energy_output": None,
        "end_hvb_lifetime_energy_output": None,
    }  # fmt: skip
    running = complete | {
        "id": 9123457, "start_time": "2026-07-14T23:55:00Z", "end_time": None,
        "status": "in_progress", "duration": 297.613, "end_kilometers": None,
        "destination": "", "destination_lat": None, "destination_lon": None, "distance": None,
        "driver": None,
    }  # fmt: skip
    body = payloads.wrap(
        "driving_periods", "driving_period", [running, complete], per_page=100, page_no=1, total=2
    )
    newest, older = DRIVING_PERIODS.parse_response(body).items
    assert isinstance(newest, DrivingPeriod)
    assert newest.status == "in_progress"
    assert newest.end_time is None
    assert newest.driver is None
    assert newest.destination == ""
    assert older.end_time == datetime(2026, 7, 14, 14, 0, 10, tzinfo=UTC)
    assert older.vehicle is not None
    assert older.vehicle.vin is None
    assert older.distance == "42.2 mi"


def test_idle_events_parse_matched_and_unmatched_places(payloads: Any) -> None:
    matched = {
        "id": 77001, "start_time": "2026-07-14T05:58:22Z", "end_time": "2026-07-14T06:04:43Z",
        "veh_fuel_start": 4796.3, "veh_fuel_end": 4796.4, "lat": 39.76, "lon": -86.21,
        "city": "Indianapolis", "state": "IN", "rg_brg": "NW", "rg_km": 4.2, "rg_match": True,
        "end_type": "vehicle_moving", "driver": payloads.user_summary(),
        "vehicle": payloads.vehicle_summary(), "eld_device": payloads.eld,
        "location": "Indianapolis, IN",
    }  # fmt: skip
    unmatched = matched | {
        "id": 77002, "city": None, "state": None, "rg_brg": None, "rg_km": None,
        "rg_match": False, "end_type": "engine_stop", "location": "2.6 mi NW of Anderson, IN",
        "veh_fuel_start": None, "driver": None,
    }  # fmt: skip
    body = payloads.wrap("idle_events", "idle_event", [matched, unmatched])
    body["pagination"] = {"per_page": 100, "page_no": 1, "total": 2}
    first, second = IDLE_EVENTS.parse_response(body).items
    assert isinstance(first, IdleEvent)
    assert first.rg_match is True
    assert first.eld_device is not None
    assert second.city is None
    assert second.rg_km is None
    assert second.end_type == "engine_stop"


def test_vehicle_utilization_parses_data_rows_and_zeroed_no_data_rows(payloads: Any) -> None:
    busy = {
        "driving_fuel": 65.74, "driving_time": 65584.0, "idle_fuel": 1.04, "idle_time": 4702.0,
        "total_distance": 427.31, "total_fuel": 66.79, "utilization_percentage": 93.31,
        "last_located_at": "2026-03-08T23:50:00-05:00", "message": "",
        "vehicle": payloads.vehicle_summary(),
    }  # fmt: skip
    idle = dict.fromkeys(
        ["driving_fuel", "driving_time", "idle_fuel", "idle_time", "total_distance",
         "total_fuel", "utilization_percentage"], 0.0,
    ) | {
        "last_located_at": None, "message": "No data found for the selected date range",
        "vehicle": payloads.vehicle_summary(id=100204, vin=None, year="0"),
    }  # fmt: skip
    body = payloads.wrap(
        "vehicle_utilizations", "vehicle_utilization", [busy, idle],
        per_page=100, page_no=1, total=2,
    )  # fmt: skip
    first, second = VEHICLE_UTILIZATION.parse_response(body).items
    assert isinstance(first, VehicleUtilization)
    assert first.last_located_at == "2026-03-08T23:50:00-05:00"
    assert second.total_distance == 0.0
    assert second.last_located_at is None
    assert second.message
    assert second.vehicle.model_year is None


# -- requests ----------------------------------------------------------------------------------


def test_every_endpoint_builds_its_request_from_the_api_names() -> None:
    built = {
        e.name: e.build_request({p.name: p.example for p in e.params if p.required})
        for e in ENDPOINTS
    }
    assert built["vehicle_locations"].path == "/v3/vehicle_locations/100000"
    assert dict(built["vehicle_locations"].params) == {
        "start_date": "2026-01-05",
        "end_date": "2026-01-06",
    }
    assert dict(built["driving_periods"].params) == {
        "start_date": "2026-01-05",
        "end_date": "2026-01-06",
        "page_no": "1",
        "per_page": "100",
    }
    assert dict(built["vehicles"].params) == {"page_no": "1", "per_page": "100"}
    assert ("X-Metric-Units", "false") in built["idle_events"].headers
    assert not built["users"].headers


def test_dates_accept_dates_datetimes_and_text() -> None:
    request = DRIVING_PERIODS.build_request(
        {"start_date": date(2026, 3, 1), "end_date": datetime(2026, 3, 2, 23, tzinfo=UTC)}
    )
    params = dict(request.params)
    assert (params["start_date"], params["end_date"]) == ("2026-03-01", "2026-03-02")
