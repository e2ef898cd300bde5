"""Every endpoint's response parses, written from PROVIDERS.md §2/§6: absent keys, int-or-float
numbers, three timestamp precisions, ``data: null``, unknown enum values kept with a warning."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from fth_core.errors import ResponseFormatError
from fth_core.pagination import PaginationState
from fth_core.schema import parse_timestamps, timestamp_reasons
from fth_samsara.endpoints import (
    ADDRESSES,
    DRIVER_VEHICLE_ASSIGNMENTS,
    DRIVERS,
    IDLING_EVENTS,
    TRIPS,
    VEHICLE_STATS_HISTORY,
    VEHICLES,
)
from fth_samsara.models import (
    Address,
    Driver,
    DriverVehicleAssignment,
    GpsReading,
    IdlingEvent,
    Trip,
    UnknownEnumValueWarning,
    Vehicle,
    VehicleStatsHistory,
)


def page(*items: dict[str, Any], more: bool = False) -> dict[str, Any]:
    return {
        "data": list(items),
        "pagination": {"endCursor": "c2" if more else "", "hasNextPage": more},
    }


# --------------------------------------------------------------------------- vehicles

FULL_VEHICLE = {
    "id": "281474976710017",
    "name": "TRK-0002",
    "notes": "",
    "harshAccelerationSettingType": "automatic",
    "vehicleRegulationMode": "regulated",
    "createdAtTime": "2024-11-04T18:22:31Z",
    "updatedAtTime": "2026-02-11T07:15:02Z",
    "externalIds": {"samsara.serial": "G9ZK7N2YHC", "samsara.vin": "1FTGBY0U8RP964390"},
    "gateway": {"serial": "G9ZK-7N2-YHC", "model": "VG34"},
    "serial": "G9ZK7N2YHC",
    "esn": "1234567890",
    "licensePlate": "7XKD921",
    "cameraSerial": "CM31-ABC-DEF",
    "make": "Ford",
    "model": "F-150",
    "vin": "1FTGBY0U8RP964390",
    "year": "2024",
    "staticAssignedDriver": {"id": "52000011", "name": "Maria Lopez"},
    "auxInputType1": "powerTakeOff",
    "tags": [{"id": "4815", "name": "North", "parentTagId": "4800"}],
}
VEHICLE_WITHOUT_VIN = {
    "id": "281474976710000",
    "name": "TRK-0001",
    "notes": "",
    "harshAccelerationSettingType": "automatic",
    "vehicleRegulationMode": "unregulated",
    "createdAtTime": "2024-11-03T18:22:31Z",
    "updatedAtTime": "2024-11-03T18:22:31Z",
    "externalIds": {"samsara.serial": "G2HJ4K5L6M"},
    "gateway": {"serial": "G2HJ-4K5-L6M", "model": "VG34"},
    "serial": "G2HJ4K5L6M",
}
UNPLUGGED_VEHICLE = {  # the minimal 7-key form, with a serial-shaped default name
    "id": "281474976710034",
    "name": "G7PQ-RS8-TUV",
    "notes": "",
    "harshAccelerationSettingType": "automatic",
    "vehicleRegulationMode": "regulated",
    "createdAtTime": "2023-05-20T10:00:00Z",
    "updatedAtTime": "2023-05-20T10:00:00Z",
}


def test_vehicles_parse_full_minimal_and_vinless_records() -> None:
    parsed = VEHICLES.parse_response(page(FULL_VEHICLE, VEHICLE_WITHOUT_VIN, UNPLUGGED_VEHICLE))
    full, vinless, unplugged = parsed.items
    assert isinstance(full, Vehicle)
    assert full.samsara_vin == full.vin == "1FTGBY0U8RP964390"
    assert full.year == 2024  # quoted on the wire
    assert full.aux_input_type1 == "powerTakeOff"
    assert full.tags[0].parent_tag_id == "4800"
    assert full.created_at_time == datetime(2024, 11, 4, 18, 22, 31, tzinfo=UTC)
    assert vinless.samsara_vin is None
    assert vinless.vin is None
    assert vinless.year is None
    assert unplugged.external_ids is None
    assert unplugged.gateway is None
    assert parsed.next_state is None


def test_vehicles_keep_keys_the_model_does_not_name() -> None:
    vehicle = Vehicle.model_validate({**FULL_VEHICLE, "brandNewField": {"x": 1}})
    assert vehicle.model_dump()["brandNewField"] == {"x": 1}


def test_a_last_page_with_a_cursor_still_ends_the_walk() -> None:
    body = {"data": [UNPLUGGED_VEHICLE], "pagination": {"endCursor": "abc", "hasNextPage": False}}
    assert VEHICLES.parse_response(body).next_state is None


# --------------------------------------------------------------------------- drivers

ACTIVE_DRIVER = {
    "id": "52000011",
    "name": "Maria Lopez",
    "username": "mlopez2",
    "driverActivationStatus": "active",
    "timezone": "America/Chicago",
    "createdAtTime": "2025-03-09T10:11:12.345Z",
    "updatedAtTime": "2026-01-02T03:04:05.678Z",
    "hasVehicleUnpinningEnabled": False,
    "carrierSettings": {
        "carrierName": "Acme Freight",
        "dotNumber": 3141592,
        "mainOfficeAddress": "1 Depot Way, Dallas, TX",
        "homeTerminalName": "",
        "homeTerminalAddress": "",
    },
    "hosSetting": {"heavyHaulExemptionToggleEnabled": False},
    "licenseState": "TX",
    "eldExempt": True,
    "eldExemptReason": "short haul",
    "eldSettings": {"rulesets": [{"cycle": "USA 70 hour / 8 day", "shift": "US Interstate"}]},
    "staticAssignedVehicle": {"id": "281474976710017", "name": "TRK-0002"},
    "tags": [{"id": "4815", "name": "North"}],
}


def test_drivers_parse_with_millisecond_times_and_partial_keys() -> None:
    driver = DRIVERS.parse_response(page(ACTIVE_DRIVER)).items[0]
    assert isinstance(driver, Driver)
    assert driver.created_at_time == datetime(2025, 3, 9, 10, 11, 12, 345000, tzinfo=UTC)
    assert driver.carrier_settings is not None
    assert driver.carrier_settings.dot_number == 3141592
    assert driver.eld_settings is not None
    assert driver.eld_settings.rulesets[0]["shift"]
    assert driver.static_assigned_vehicle is not None
    assert driver.phone is None
    assert driver.peer_group_tag is None


def test_an_unknown_activation_status_is_kept_with_a_warning() -> None:
    with pytest.warns(UnknownEnumValueWarning, match="driverActivationStatus 'suspended'"):
        driver = Driver.model_validate({**ACTIVE_DRIVER, "driverActivationStatus": "suspended"})
    assert driver.driver_activation_status == "suspended"


def test_the_drivers_walk_sweeps_active_then_deactivated() -> None:
    first = DRIVERS.build_request()
    assert ("driverActivationStatus", "active") in first.params
    assert ("limit", "512") in first.params
    state = DRIVERS.parse_response(page(ACTIVE_DRIVER, more=True)).next_state
    assert state is not None
    assert state.cursor == "c2"
    assert ("after", "c2") in DRIVERS.build_request(state=state).params
    state = DRIVERS.parse_response(page(ACTIVE_DRIVER), state).next_state
    assert state is not None
    assert state.cursor is None
    second = DRIVERS.build_request(state=state)
    assert ("driverActivationStatus", "deactivated") in second.params
    assert not any(key == "after" for key, _ in second.params)
    assert DRIVERS.parse_response(page(), state).next_state is None


def test_the_drivers_sweep_walks_through_an_empty_page() -> None:
    state = DRIVERS.parse_response(page(more=True), PaginationState()).next_state
    assert state is not None
    assert ("driverActivationStatus", "active") in DRIVERS.build_request(state=state).params
    assert state.cursor == "c2"


# --------------------------------------------------------------------------- stats/history

STATS_PAGE = page(
    {
        "id": "281474976710017",
        "name": "TRK-0002",
        "externalIds": {"samsara.serial": "G9ZK7N2YHC", "samsara.vin": "1FTGBY0U8RP964390"},
        "gps": [
            {
                "time": "2026-03-02T12:00:03.062Z",
                "latitude": 32.7801,
                "longitude": -96.8004,
                "headingDegrees": 87,
                "speedMilesPerHour": 54.7,
                "isEcuSpeed": True,
                "reverseGeo": {"formattedLocation": "Dallas, TX"},
            },
            {
                "time": "2026-03-02T12:00:08Z",
                "latitude": 32.7803,
                "longitude": -96.7992,
                "headingDegrees": 88,
                "speedMilesPerHour": 55,
                "isEcuSpeed": True,
            },
            {
                "time": "2026-03-02T12:05:00.000000Z",
                "latitude": 32.78,
                "longitude": -96.79,
                "headingDegrees": 0,
                "speedMilesPerHour": 0,
                "isEcuSpeed": False,
                "reverseGeo": {"formattedLocation": "Dallas, TX"},
                "address": {"id": "30000097", "name": "Dallas yard"},
            },
        ],
        "engineStates": [
            {"time": "2026-03-02T11:58:00.000Z", "value": "On"},
            {"time": "2026-03-02T12:04:30.500Z", "value": "Idle"},
        ],
        "obdOdometerMeters": [{"time": "2026-03-02T12:00:05.100Z", "value": 81234567}],
    },
    {  # no VIN, no OBD odometer, GPS only
        "id": "281474976710000",
        "name": "TRK-0001",
        "externalIds": {"samsara.serial": "G2HJ4K5L6M"},
        "gps": [
            {
                "time": "2026-03-02T12:59:56.881Z",
                "latitude": 33.21,
                "longitude": -97.13,
                "headingDegrees": 270,
                "speedMilesPerHour": 31.25,
                "isEcuSpeed": True,
                "reverseGeo": {"formattedLocation": "Denton, TX"},
            }
        ],
    },
    more=True,
)


def test_stats_history_parses_every_series_and_the_vehicle_without_odometer() -> None:
    parsed = VEHICLE_STATS_HISTORY.parse_response(STATS_PAGE)
    first, second = parsed.items
    assert isinstance(first, VehicleStatsHistory)
    assert first.external_ids == {
        "samsara.serial": "G9ZK7N2YHC",
        "samsara.vin": "1FTGBY0U8RP964390",
    }
    with_geo, without_geo, parked = first.gps
    assert with_geo.reverse_geo is not None
    assert with_geo.reverse_geo.formatted_location == "Dallas, TX"
    assert without_geo.reverse_geo is None
    assert parked.address is not None
    assert parked.address.name == "Dallas yard"
    assert [s.value for s in first.engine_states] == ["On", "Idle"]
    assert first.obd_odometer_meters[0].value == 81234567
    assert second.obd_odometer_meters == []
    assert second.engine_states == []
    assert (second.external_ids or {}).get("samsara.vin") is None
    assert parsed.next_state is not None
    assert parsed.next_state.cursor == "c2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T12:00:05Z", datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)),
        ("2026-03-02T12:00:05.100Z", datetime(2026, 3, 2, 12, 0, 5, 100000, tzinfo=UTC)),
        ("2026-03-02T12:00:05.123456Z", datetime(2026, 3, 2, 12, 0, 5, 123456, tzinfo=UTC)),
        ("2026-03-02T14:00:05+02:00", datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)),
    ],
)
def test_timestamps_parse_at_second_milli_and_microsecond_precision(
    text: str, expected: datetime
) -> None:
    reading = GpsReading.model_validate({"time": text, "latitude": 1.0, "longitude": 2.0})
    assert reading.time == expected
    assert reading.time.tzinfo is UTC


@pytest.mark.parametrize("speed", [55, 55.0, 54.75])
def test_speed_is_int_or_float(speed: float) -> None:
    reading = GpsReading.model_validate(
        {"time": "2026-03-02T12:00:05Z", "latitude": 1, "longitude": 2, "speedMilesPerHour": speed}
    )
    assert reading.speed_miles_per_hour == float(speed)
    assert reading.latitude == 1.0


def test_an_unknown_engine_state_is_kept_with_a_warning() -> None:
    record = {
        "id": "1",
        "engineStates": [
            {"time": "2026-03-02T12:00:00Z", "value": "Hibernating"},
            {"time": "2026-03-02T12:05:00Z", "value": "On"},
        ],
    }
    with pytest.warns(UnknownEnumValueWarning, match="engineStates.value 'Hibernating'"):
        stats = VehicleStatsHistory.model_validate(record)
    assert [s.value for s in stats.engine_states] == ["Hibernating", "On"]


def test_a_reading_without_a_time_is_a_clear_format_error() -> None:
    body = page({"id": "1", "gps": [{"latitude": 1.0, "longitude": 2.0}]})
    with pytest.raises(ResponseFormatError, match=r"gps\.0\.time"):
        VEHICLE_STATS_HISTORY.parse_response(body)


# --------------------------------------------------------------------------- assignments

FINISHED_ASSIGNMENT = {
    "driver": {"id": "52000011", "name": "Maria Lopez"},
    "vehicle": {
        "id": "281474976710017",
        "name": "TRK-0002",
        "externalIds": {"samsara.serial": "G9ZK7N2YHC", "samsara.vin": "1FTGBY0U8RP964390"},
    },
    "startTime": "2026-03-02T06:41:07.000000Z",
    "endTime": "2026-03-02T11:43:45.000000Z",
    "assignedAtTime": "",
    "assignmentType": "HOS",
    "isPassenger": False,
}
ONGOING_ASSIGNMENT = {
    "driver": {"id": "52000022", "name": "Andre Young"},
    "vehicle": {"id": "281474976710000", "name": "TRK-0001", "externalIds": {}},
    "startTime": "2026-03-02T11:43:45.000000Z",
    "assignedAtTime": "",
    "assignmentType": "static",
    "isPassenger": False,
}


def test_assignments_parse_microseconds_blank_assigned_at_and_an_ongoing_row() -> None:
    finished, ongoing = DRIVER_VEHICLE_ASSIGNMENTS.parse_response(
        page(FINISHED_ASSIGNMENT, ONGOING_ASSIGNMENT)
    ).items
    assert isinstance(finished, DriverVehicleAssignment)
    assert finished.start_time == datetime(2026, 3, 2, 6, 41, 7, tzinfo=UTC)
    assert finished.assigned_at_time is None  # "" on every real row
    assert finished.vehicle.external_ids is not None
    assert ongoing.end_time is None
    assert ongoing.is_passenger is False


def test_assignments_data_null_reads_as_no_rows() -> None:
    body = {"data": None, "pagination": {"endCursor": "", "hasNextPage": False}}
    parsed = DRIVER_VEHICLE_ASSIGNMENTS.parse_response(body)
    assert parsed.items == []
    assert parsed.next_state is None


def test_an_unknown_assignment_type_is_kept_with_a_warning() -> None:
    with pytest.warns(UnknownEnumValueWarning, match="retinaScan"):
        row = DriverVehicleAssignment.model_validate(
            {**FINISHED_ASSIGNMENT, "assignmentType": "retinaScan"}
        )
    assert row.assignment_type == "retinaScan"


def test_a_documented_assignment_type_is_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DriverVehicleAssignment.model_validate({**FINISHED_ASSIGNMENT, "assignmentType": "RFID"})


def test_assignments_send_filter_by_and_no_limit() -> None:
    request = DRIVER_VEHICLE_ASSIGNMENTS.build_request(
        {"filter_by": "vehicles", "vehicle_ids": ["1", "2"], "start_time": "2026-03-02T00:00:00Z"}
    )
    assert dict(request.params) == {
        "filterBy": "vehicles",
        "vehicleIds": "1,2",
        "startTime": "2026-03-02T00:00:00Z",
    }


# --------------------------------------------------------------------------- trips

TRIP = {
    "startMs": 1772436427000,
    "endMs": 1772448823000,
    "distanceMeters": 161234,
    "fuelConsumedMl": 50112,
    "tollMeters": 0,
    "startOdometer": 81234567,
    "endOdometer": 81395801,
    "driverId": 0,
    "startLocation": "Dallas, TX",
    "endLocation": "Waco, TX",
    "startCoordinates": {"latitude": 32.78, "longitude": -96.8},
    "endCoordinates": {"latitude": 31.55, "longitude": -97.15},
    "startAddress": {"address": "Dallas, TX", "id": 30000097, "name": "Dallas yard"},
    "assetIds": [],
    "codriverIds": [],
}


def test_trips_parse_epoch_milliseconds_and_unassigned_driver() -> None:
    parsed = TRIPS.parse_response({"trips": [TRIP, {**TRIP, "distanceMeters": 5.5}]})
    trip = parsed.items[0]
    assert isinstance(trip, Trip)
    assert trip.start_time == datetime(2026, 3, 2, 7, 27, 7, tzinfo=UTC)
    assert trip.driver_id == 0
    assert trip.end_address is None
    assert trip.start_address is not None
    assert trip.start_address.id == 30000097
    assert parsed.items[1].distance_meters == 5.5
    assert parsed.next_state is None  # unpaginated


def test_trips_take_epoch_milliseconds_or_date_times() -> None:
    request = TRIPS.build_request(
        {"vehicle_id": "42", "start_ms": "2026-03-02T00:00:00Z", "end_ms": 1772496000000}
    )
    assert dict(request.params) == {
        "vehicleId": "42",
        "startMs": "1772409600000",
        "endMs": "1772496000000",
    }


# --------------------------------------------------------------------------- idling

IDLING = {
    "eventUuid": "2f1b8f8e-8a61-4b2f-9f7a-0c1d2e3f4a5b",
    "startTime": "2026-03-02T07:48:37.000Z",
    "durationMilliseconds": 554000,
    "asset": {"id": 281474976710017},
    "latitude": 32.78,
    "longitude": -96.8,
    "ptoState": "inactive",
    "fuelConsumedMilliliters": 431,
    "fuelCost": {"amount": "0.44", "currency": "USD"},
    "gaseousFuelConsumedGrams": 0,
    "gaseousFuelCost": {"amount": "0.00", "currency": "USD"},
    "operator": {"id": 52000011},
    "airTemperatureMillicelsius": 12500,
    "address": {"id": "30000097", "addressTypes": ["yard"]},
}


def test_idling_events_parse_with_and_without_optional_keys() -> None:
    bare = {k: v for k, v in IDLING.items() if k not in ("operator", "address")}
    bare["airTemperatureMillicelsius"] = 12500.5
    bare["fuelConsumedMilliliters"] = 431.25
    full, light = IDLING_EVENTS.parse_response(page(IDLING, bare)).items
    assert isinstance(full, IdlingEvent)
    assert full.asset is not None
    assert full.asset.id == 281474976710017
    assert full.end_time == datetime(2026, 3, 2, 7, 57, 51, tzinfo=UTC)
    assert full.address is not None
    assert full.address.address_types == ["yard"]
    assert light.operator is None
    assert light.fuel_consumed_milliliters == 431.25


def test_idling_pages_ask_for_at_most_200() -> None:
    request = IDLING_EVENTS.build_request(
        {"start_time": "2026-03-02T00:00:00Z", "end_time": "2026-03-03T00:00:00Z"}
    )
    assert ("limit", "200") in request.params


# --------------------------------------------------------------------------- addresses


def test_addresses_parse_circle_and_polygon_geofences() -> None:
    circle = {
        "id": "30000097",
        "name": "Dallas yard",
        "formattedAddress": "1 Depot Way, Dallas, TX",
        "latitude": 32.78,
        "longitude": -96.8,
        "geofence": {"circle": {"latitude": 32.78, "longitude": -96.8, "radiusMeters": 8000}},
        "addressTypes": ["yard"],
        "createdAtTime": "2025-06-01T12:00:00Z",
    }
    polygon = {
        "id": "30000194",
        "name": "Waco lot",
        "geofence": {
            "polygon": {
                "vertices": [
                    {"latitude": 31.5, "longitude": -97.1},
                    {"latitude": 31.6, "longitude": -97.1},
                    {"latitude": 31.6, "longitude": -97.2},
                ]
            }
        },
    }
    first, second = ADDRESSES.parse_response(page(circle, polygon)).items
    assert isinstance(first, Address)
    assert first.geofence is not None
    assert first.geofence.circle is not None
    assert first.geofence.circle.radius_meters == 8000
    assert second.geofence is not None
    assert second.geofence.polygon is not None
    assert len(second.geofence.polygon.vertices) == 3
    assert second.address_types == []


def test_the_bulk_path_reads_every_timestamp_precision() -> None:
    stamps = parse_timestamps(
        [
            "2026-03-02T12:00:05Z",
            "2026-03-02T12:00:05.100Z",
            "2026-03-02T12:00:05.123456Z",
            None,
        ]
    )
    assert stamps.to_pylist() == [
        datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC),
        datetime(2026, 3, 2, 12, 0, 5, 100000, tzinfo=UTC),
        datetime(2026, 3, 2, 12, 0, 5, 123456, tzinfo=UTC),
        None,
    ]


def test_the_bulk_path_truncates_nanoseconds_and_converts_offsets() -> None:
    stamps = parse_timestamps(["2026-03-02T12:00:05.123456789Z", "2026-03-02T14:00:05+02:00"])
    assert stamps.to_pylist() == [
        datetime(2026, 3, 2, 12, 0, 5, 123456, tzinfo=UTC),
        datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC),
    ]


def test_an_unreadable_timestamp_costs_only_its_own_row_and_is_named_by_its_reason() -> None:
    text = pa.array(["2026-03-02T12:00:05.100Z", "yesterday", None], pa.string())
    stamps = parse_timestamps(text)
    assert stamps.to_pylist() == [datetime(2026, 3, 2, 12, 0, 5, 100000, tzinfo=UTC), None, None]
    assert timestamp_reasons(text, stamps).to_pylist() == [
        None,
        "unparseable timestamp 'yesterday'",
        "missing timestamp",
    ]
