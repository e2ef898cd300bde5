"""Geotab's wire format as the plugin reads it: realistic answers of every endpoint (written
from PROVIDERS.md §7), both error envelopes, the session, and flatten's units and joins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import numpy as np
import pyarrow as pa
import pytest

from fth_core.classify import Answer, Verdict
from fth_core.endpoints import RequestSpec
from fth_core.pagination import PaginationState
from fth_geotab.endpoints import (
    DEVICES,
    DRIVER_CHANGES,
    LOG_RECORDS,
    STATUS_DATA,
    TRIPS,
    USERS,
)
from fth_geotab.records import (
    CHANGES_DECODER,
    POINTS_DECODER,
    STATUS_DECODER,
    Ref,
    clean_vin,
    driver_id,
)
from fth_geotab.telemetry import GeotabBatch, flatten
from fth_geotab.wire import (
    GET_CAP,
    IGNITION,
    KM_PER_MILE,
    METERS_PER_MILE,
    ODOMETER,
    GeotabCredentials,
    classify,
    rpc_error,
    session_auth,
)


def _ok(result: Any) -> bytes:
    return msgspec.json.encode({"result": result, "jsonrpc": "2.0"})


def _answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return Answer(status, httpx.Headers(headers or {}), content)


# -- answers of every endpoint -----------------------------------------------------------------
DEVICE_PAGE = [
    {
        "id": "b1",
        "name": "T-101",
        "serialNumber": "G9A0B1C2D3E4",
        "vehicleIdentificationNumber": "1FTFW1ET5DFC10312",
        "licensePlate": "IL 4821",
        "activeFrom": "2026-01-01T00:00:00.000Z",
        "activeTo": "2050-01-01T00:00:00.000Z",
        "timeZoneId": "America/Chicago",
        "groups": [{"id": "GroupCompanyId"}],
    },
    {
        # Retired before the window, VIN unknown to Geotab: still listed, its name still used.
        "id": "b2",
        "name": "T-102",
        "serialNumber": "G9A0B1C2D3E5",
        "vehicleIdentificationNumber": "?",
        "activeFrom": "0001-01-01T00:00:00.000Z",
        "activeTo": "2026-02-15T08:00:00.000Z",
        "groups": [{"id": "GroupCompanyId"}],
    },
    {"id": "b3", "name": "T-103", "vehicleIdentificationNumber": ""},
]


def test_devices_parse_every_device_and_seek_past_the_last_id_while_pages_are_full() -> None:
    parsed = DEVICES.parse_response(msgspec.json.decode(_ok(DEVICE_PAGE)))
    assert [d["id"] for d in parsed.items] == ["b1", "b2", "b3"]
    assert parsed.next_state is None  # a short page ends the walk
    full = DEVICES.parse_response({"result": [{"id": f"b{i:X}"} for i in range(1, GET_CAP + 1)]})
    assert full.next_state is not None
    assert full.next_state.cursor == f"b{GET_CAP:X}"
    body = DEVICES.build_request(None, full.next_state).body
    assert body is not None
    assert body["params"]["sort"] == {"sortBy": "id", "sortDirection": "asc", "offset": "b1388"}
    # Retired devices are asked for too: a search from before any device existed.
    assert body["params"]["search"]["fromDate"].startswith("1986-")


def test_vins_geotab_does_not_know_are_null() -> None:
    assert [clean_vin(d.get("vehicleIdentificationNumber")) for d in DEVICE_PAGE] == [
        "1FTFW1ET5DFC10312",
        None,
        None,
    ]
    assert clean_vin(None) is None


def test_users_ask_for_drivers_only_when_told() -> None:
    body = USERS.build_request({"is_driver": True}).body
    assert body is not None
    assert body["params"]["search"] == {"isDriver": True}
    users = [
        {
            "id": "b21",
            "name": "ana.lopez@fleet.example",
            "firstName": "Ana",
            "lastName": "Lopez",
            "isDriver": True,
            "employeeNo": "E-0042",
            "keys": [],
            "activeFrom": "2026-01-01T00:00:00.000Z",
            "activeTo": "2050-01-01T00:00:00.000Z",
        }
    ]
    assert USERS.parse_response(msgspec.json.decode(_ok(users))).items == users


def test_log_records_decode_into_points_with_km_per_hour() -> None:
    page = _ok(
        [
            {
                "id": "b2B3F",
                "device": {"id": "b1"},
                "dateTime": "2026-03-02T10:00:01.000Z",
                "latitude": 41.8781,
                "longitude": -87.6298,
                "speed": 54,
            },
            {"id": "b2B40", "device": {"id": "b1"}, "dateTime": "2026-03-02T10:00:31.000Z"},
        ]
    )
    records = LOG_RECORDS.parse_response(POINTS_DECODER.decode(page)).items
    assert records[0].device == Ref("b1")
    assert records[0].speed == 54.0
    assert records[0].date_time == "2026-03-02T10:00:01.000Z"
    # Absent keys are omitted on the wire, never null: they read as None.
    assert (records[1].latitude, records[1].speed) == (None, None)


def test_status_data_reads_controller_as_a_string_or_an_object_and_data_int_or_float() -> None:
    page = _ok(
        [
            {
                "id": "a1",
                "device": {"id": "b1"},
                "diagnostic": {"id": ODOMETER},
                "dateTime": "2026-03-02T10:00:00.000Z",
                "data": 184512345.6,
                "controller": "ControllerNoneId",
                "version": "00000000000a1b2c",
            },
            {
                "id": "a2",
                "device": {"id": "b1"},
                "diagnostic": {"id": IGNITION},
                "dateTime": "2026-03-02T05:12:00.000Z",
                "data": 1,
                "controller": {"id": "ControllerNoneId"},
                "version": "00000000000a1b2d",
            },
        ]
    )
    records = STATUS_DATA.parse_response(STATUS_DECODER.decode(page)).items
    assert [r.data for r in records] == [184512345.6, 1.0]
    assert [r.diagnostic for r in records] == [Ref(ODOMETER), Ref(IGNITION)]
    body = STATUS_DATA.build_request(
        {
            "from_date": "2026-03-02T00:00:00Z",
            "to_date": "2026-03-02T01:00:00Z",
            "diagnostic": IGNITION,
        }
    ).body
    assert body is not None
    assert body["params"]["search"]["diagnosticSearch"] == {"id": IGNITION}


def test_driver_changes_name_a_driver_as_an_object_or_a_bare_string() -> None:
    page = _ok(
        [
            {
                "id": "c1",
                "device": {"id": "b1"},
                "driver": {"id": "b21", "isDriver": True},
                "dateTime": "2026-03-02T05:10:00.000Z",
                "type": "DriverKey",
                "version": "0000000000000001",
            },
            {
                "id": "c2",
                "device": {"id": "b1"},
                "driver": "UnknownDriverId",
                "dateTime": "2026-03-02T14:02:00.000Z",
                "type": "DriverKey",
                "version": "0000000000000002",
            },
            {"id": "c3", "device": {"id": "b2"}, "driver": "b22", "dateTime": "2026-03-02T06:00Z"},
        ]
    )
    records = DRIVER_CHANGES.parse_response(CHANGES_DECODER.decode(page)).items
    assert [driver_id(r.driver) for r in records] == ["b21", None, "b22"]


def test_trips_parse_with_timespans_and_a_stop_point() -> None:
    trip = {
        "id": "t9",
        "device": {"id": "b1"},
        "driver": "UnknownDriverId",
        "start": "2026-03-02T05:20:00.000Z",
        "stop": "2026-03-02T09:41:13.000Z",
        "distance": 183.4,
        "drivingDuration": "04:11:02.1230000",
        "idlingDuration": "00:10:11",
        "stopDuration": "1.02:03:04",
        "stopPoint": {"x": -87.6298, "y": 41.8781},
        "nextTripStart": "2026-03-02T10:12:00.000Z",
    }
    assert TRIPS.parse_response(msgspec.json.decode(_ok([trip]))).items == [trip]


def test_a_record_of_the_wrong_type_is_a_format_error_not_a_guess() -> None:
    with pytest.raises(msgspec.ValidationError):
        POINTS_DECODER.decode(_ok([{"id": "x", "latitude": "forty-one"}]))


# -- classification ----------------------------------------------------------------------------
def _only(envelope: str, exception: str, message: str) -> dict[str, Any]:
    """An error naming its exception in one place only: ``data.type`` or ``errors[0].name``."""
    body = rpc_error(exception, message)
    if envelope == "data":
        del body["error"]["errors"]
    else:
        del body["error"]["data"]
    return body


@pytest.mark.parametrize("envelope", ["data", "errors"])
def test_both_error_envelopes_are_read(envelope: str) -> None:
    outcome = classify(_answer(_only(envelope, "ArgumentException", "Bad search")))
    assert outcome.verdict is Verdict.FATAL
    assert outcome.message == "ArgumentException: Bad search"
    limited = _only(envelope, "OverLimitException", "API calls quota exceeded.")
    outcome = classify(_answer(limited, headers={"Retry-After": "17"}))
    assert (outcome.verdict, outcome.wait) == (Verdict.RATE_LIMITED, 17.0)


def test_an_invalid_session_is_a_session_to_renew() -> None:
    answer = _answer(rpc_error("InvalidUserException", "Invalid session @ 'fleetdb'"))
    assert classify(answer).verdict is Verdict.SESSION_EXPIRED


def test_a_database_initializing_is_retried_an_unknown_database_is_fatal() -> None:
    starting = rpc_error("DbUnavailableException", "Database 'fleetdb' is Initializing")
    assert classify(_answer(starting)).verdict is Verdict.RETRY
    unknown = rpc_error("DbUnavailableException", "UnknownDatabase 'nosuchdb'")
    assert classify(_answer(unknown)).verdict is Verdict.FATAL


def test_nothing_is_success_that_the_server_did_not_say_was() -> None:
    assert classify(_answer(b'{"jsonrpc": "2.0"}')).verdict is Verdict.FATAL
    assert classify(_answer(b"<html>maintenance</html>")).verdict is Verdict.FATAL
    assert classify(_answer(b"[1, 2]")).verdict is Verdict.FATAL
    assert classify(_answer(_ok([]))).verdict is Verdict.OK
    assert classify(_answer(b"busy", status=503)).verdict is Verdict.RETRY


# -- the session -------------------------------------------------------------------------------
CREDENTIALS = GeotabCredentials(
    database="fleetdb", username="ana@fleet.example", password="s3cret-Pa55"
)


def test_authenticate_sends_the_password_and_reads_the_session_and_its_server() -> None:
    auth = session_auth()
    login = auth.login_request(CREDENTIALS)
    assert login.body is not None
    assert login.body["method"] == "Authenticate"
    assert login.body["params"] == {
        "database": "fleetdb",
        "userName": "ana@fleet.example",
        "password": "s3cret-Pa55",
    }
    moved = {"credentials": {"database": "fleetdb", "userName": "ana", "sessionId": "f00d"}}
    session = auth.read_session({"result": {**moved, "path": "my3.geotab.com"}})
    assert session.base_url == "https://my3.geotab.com"
    assert session.secrets == ("f00d",)
    here = auth.read_session({"result": {**moved, "path": "ThisServer"}})
    assert here.base_url is None
    signed = auth.sign(RequestSpec("POST", "/apiv1", body={"params": {}}), CREDENTIALS, here)
    assert signed.body is not None
    assert signed.body["params"]["credentials"] == moved["credentials"]


def test_the_password_never_shows_in_the_credentials_repr() -> None:
    assert "s3cret" not in repr(CREDENTIALS)


# -- flatten: units and joins ------------------------------------------------------------------
T0 = datetime(2026, 3, 2, tzinfo=UTC)
MIN = 60_000_000


def _us(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp() * 1_000_000)


def _batch(
    points: list[tuple[int, float, float | None]],
    *,
    ignition: Sequence[tuple[int, float, bool]] = (),
    odometer: Sequence[tuple[int, float, float]] = (),
    changes: Sequence[tuple[int, float, int]] = (),
) -> GeotabBatch:
    """Points (vehicle code, minute, km/h) of devices b1 (code 0) and b2 (code 1)."""

    def i32(values: list[int]) -> Any:
        return np.array(values, dtype=np.int32)

    def i64(values: list[int]) -> Any:
        return np.array(values, dtype=np.int64)

    return GeotabBatch(
        device_ids=pa.array(["b1", "b2"]),
        names=pa.array(["T-101", "T-102"]),
        vins=pa.array(["1FTFW1ET5DFC10312", None]),
        point_vehicle=i32([p[0] for p in points]),
        point_time=i64([_us(p[1]) for p in points]),
        latitude=np.full(len(points), 41.5),
        longitude=np.full(len(points), -87.5),
        speed_kmh=np.array([np.nan if p[2] is None else p[2] for p in points]),
        reason=pa.nulls(len(points), pa.string()),
        ignition_vehicle=i32([r[0] for r in ignition]),
        ignition_time=i64([_us(r[1]) for r in ignition]),
        ignition_on=np.array([r[2] for r in ignition], dtype=bool),
        odometer_vehicle=i32([r[0] for r in odometer]),
        odometer_time=i64([_us(r[1]) for r in odometer]),
        odometer_metres=np.array([r[2] for r in odometer], dtype=np.float64),
        change_vehicle=i32([r[0] for r in changes]),
        change_time=i64([_us(r[1]) for r in changes]),
        change_driver=i32([r[2] for r in changes]),
        driver_ids=pa.array(["b21"]),
        driver_names=pa.array(["Ana Lopez"]),
        odometer_tolerance=30 * MIN,
    )


def test_engine_state_is_off_with_ignition_off_on_when_moving_idle_when_stopped() -> None:
    batch = _batch(
        [(0, 10, 0), (0, 20, 0), (0, 30, 72), (0, 40, None), (0, 50, 0), (1, 30, 50)],
        ignition=[(0, 15, True), (0, 45, False)],
    )
    assert flatten(batch)["engine_state"].to_pylist() == [None, "Idle", "On", None, "Off", None]


def test_speed_is_converted_from_km_per_hour_and_heading_and_location_stay_null() -> None:
    columns = flatten(_batch([(0, 1, 100), (0, 2, None)]))
    assert columns["speed_mph"].to_pylist() == [100 / KM_PER_MILE, None]
    assert columns["heading_degrees"].null_count == 2
    assert columns["location_description"].null_count == 2


def test_odometer_is_the_nearest_reading_within_the_tolerance_in_miles() -> None:
    batch = _batch(
        [(0, 0, 0), (0, 29, 0), (0, 100, 0)],
        odometer=[(0, -20, 1_000_000.0), (0, 40, 1_005_000.0)],
    )
    assert flatten(batch)["odometer"].to_pylist() == [
        1_000_000.0 / METERS_PER_MILE,
        1_005_000.0 / METERS_PER_MILE,
        None,
    ]


def test_the_driver_is_the_latest_change_and_an_unknown_driver_is_nobody() -> None:
    batch = _batch(
        [(0, 5, 0), (0, 15, 0), (0, 25, 0), (1, 15, 0)],
        changes=[(0, 10, 0), (0, 20, -1)],
    )
    columns = flatten(batch)
    assert columns["driver_id"].to_pylist() == [None, "b21", None, None]
    assert columns["driver_name"].to_pylist() == [None, "Ana Lopez", None, None]


def test_a_retired_devices_points_keep_its_name_and_a_question_mark_vin_is_null() -> None:
    columns = flatten(_batch([(1, 5, 10)]))
    assert columns["provider_vehicle_id"].to_pylist() == ["b2"]
    assert columns["fleet_number"].to_pylist() == ["T-102"]
    assert columns["vin"].to_pylist() == [None]


def test_pages_of_a_split_search_never_keep_a_capped_answer() -> None:
    params = {"from_date": "2026-03-02T00:00:00Z", "to_date": "2026-03-02T01:00:00Z"}
    request = LOG_RECORDS.build_request(params)
    assert request.body is not None
    assert request.body["params"]["resultsLimit"] == GET_CAP
    capped = LOG_RECORDS.parse_response({"result": [{"id": str(i)} for i in range(GET_CAP)]})
    assert capped.items == []
    assert capped.next_state == PaginationState(ranges=("0", "1"), supersedes=True, pages_fetched=1)
