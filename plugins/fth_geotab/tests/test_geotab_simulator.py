"""The Geotab simulator speaks MyGeotab (PROVIDERS.md §7): JSON-RPC envelopes, sessions, rate
limits, silent caps, sort-seek, the feed — and renders the shared fleet the way the plugin reads
it. Called directly with :class:`SimRequest`, and over real HTTP with :class:`SimServer`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pyarrow.compute as pc
import pytest
from geotab_support import DAY, EPOCH, geotab_fleet

from fth_core.endpoints import parse_utc
from fth_core.schema import QUARANTINE_SCHEMA, TELEMETRY_SCHEMA
from fth_core.sim import Fleet, SimRequest, SimResponse, SimServer
from fth_geotab.simulator import DIAGNOSTICS, GeotabSimulator
from fth_geotab.wire import (
    ENGINE_HOURS,
    IGNITION,
    KM_PER_MILE,
    METERS_PER_MILE,
    ODOMETER,
    RAW_ODOMETER,
    STILL_ACTIVE,
    UNKNOWN_DRIVER,
)

AS_OF = DAY + timedelta(days=3)
EPOCH_START = datetime(EPOCH.year, EPOCH.month, EPOCH.day, tzinfo=UTC)
MS = timedelta(milliseconds=1)
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d\d):(\d\d):(\d\d)(?:\.(\d{7}))?")


class Clock:
    """An injected rate-limit clock (seconds)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return geotab_fleet()


@pytest.fixture
def sim(fleet: Fleet) -> GeotabSimulator:
    return GeotabSimulator(fleet, as_of=AS_OF, limits=None)


# ----------------------------------------------------------------------------------- helpers
def request(body: Any, method: str = "POST", path: str = "/apiv1") -> SimRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return SimRequest(method, path, {}, {"content-type": "application/json"}, raw)


def rpc(sim: GeotabSimulator, method: str, **params: Any) -> tuple[SimResponse, Any]:
    response = sim(request({"id": -1, "method": method, "params": params}))
    return response, json.loads(response.body)


def login(sim: GeotabSimulator) -> dict[str, str]:
    _, body = rpc(
        sim, "Authenticate", database=sim.database, userName=sim.username, password=sim.password
    )
    credentials: dict[str, str] = body["result"]["credentials"]
    return credentials


def call(sim: GeotabSimulator, method: str, type_name: str, **params: Any) -> Any:
    """The result of a call that must succeed (with a fresh session), checked for nulls."""
    response, body = rpc(sim, method, typeName=type_name, credentials=login(sim), **params)
    assert response.status == 200
    assert "error" not in body, body
    assert set(body) == {"result", "jsonrpc"}
    assert body["jsonrpc"] == "2.0"
    assert_no_nulls(body)
    return body["result"]


def error_of(response: SimResponse) -> tuple[str, str, int]:
    """(exception, message, code) of an error answer, which must be an HTTP 200 naming the
    exception in both places clients read it."""
    assert response.status == 200
    error = json.loads(response.body)["error"]
    assert error["name"] == "JSONRPCError"
    assert error["data"]["type"] == error["errors"][0]["name"]
    assert error["errors"][0]["message"] == error["message"]
    return error["data"]["type"], error["message"], error["code"]


def assert_no_nulls(value: Any, where: str = "$") -> None:
    assert value is not None, f"null at {where}"
    if isinstance(value, dict):
        for key, item in value.items():
            assert_no_nulls(item, f"{where}.{key}")
    elif isinstance(value, list):
        for position, item in enumerate(value):
            assert_no_nulls(item, f"{where}[{position}]")


def iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def span(start: datetime, end: datetime, **more: Any) -> dict[str, Any]:
    return {"fromDate": iso(start), "toDate": iso(end), **more}


def at(text: str) -> datetime:
    assert STAMP.fullmatch(text), text
    return parse_utc(text)


def us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def device_of(sim: GeotabSimulator, fleet: Fleet, vehicle_id: str) -> str:
    return sim.device_ids[fleet.vehicle(vehicle_id).index]


def active_devices(sim: GeotabSimulator, fleet: Fleet) -> list[str]:
    return sorted(sim.device_ids[v.index] for v in fleet.vehicles if v.status == "active")


def ignitions(fleet: Fleet, start: datetime, end: datetime) -> Iterator[tuple[str, datetime, int]]:
    """(vehicle id, time, 1 or 0): where the engine leaves Off, and where it returns to it."""
    events = fleet.engine_events(start, end).to_pylist()
    previous: dict[str, str] = {}
    for event in events:
        before = previous.get(event["vehicle_id"], "Off")
        if before == "Off" and event["state"] != "Off":
            yield event["vehicle_id"], event["time"], 1
        if event["state"] == "Off" and before != "Off":
            yield event["vehicle_id"], event["time"], 0
        previous[event["vehicle_id"]] = event["state"]


def timespan_us(text: str) -> int:
    """µs of a .NET TimeSpan ``[d.]hh:mm:ss[.fffffff]``."""
    match = TIMESPAN.fullmatch(text)
    assert match, text
    days, hours, minutes, seconds, fraction = match.groups()
    whole = (int(days or 0) * 24 + int(hours)) * 3600 + int(minutes) * 60 + int(seconds)
    return whole * 1_000_000 + int(fraction or 0) // 10


# ----------------------------------------------------------------------------------- sessions
def test_authenticate_returns_a_session_and_the_path_knob(sim: GeotabSimulator) -> None:
    sim.path = "my3.geotab.com"
    response, body = rpc(
        sim, "Authenticate", database="fleetdb", userName=sim.username, password=sim.password
    )
    assert response.status == 200
    result = body["result"]
    assert result["path"] == "my3.geotab.com"
    credentials = result["credentials"]
    assert set(credentials) == {"database", "userName", "sessionId"}
    assert credentials["database"] == "fleetdb"
    assert credentials["userName"] == "sim.user@geotab.example"
    assert sim.issued == [credentials["sessionId"]]
    assert sim.credentials() == {
        "database": "fleetdb",
        "username": "sim.user@geotab.example",
        "password": sim.password,
    }
    assert len(sim.password) >= 12


def test_wrong_credentials_are_invalid_user_naming_the_database(sim: GeotabSimulator) -> None:
    response = sim(
        request(
            {
                "id": -1,
                "method": "Authenticate",
                "params": {"database": "fleetdb", "userName": sim.username, "password": "nope"},
            }
        )
    )
    assert error_of(response)[:2] == (
        "InvalidUserException",
        "Incorrect login credentials @ 'fleetdb'",
    )
    assert sim.issued == []


def test_calls_need_a_live_session(sim: GeotabSimulator) -> None:
    def device_call(credentials: Any) -> SimResponse:
        params = {"typeName": "Device"}
        if credentials is not None:
            params["credentials"] = credentials
        return sim(request({"id": -1, "method": "Get", "params": params}))

    invalid = ("InvalidUserException", "Invalid session @ 'fleetdb'")
    assert error_of(device_call(None))[:2] == invalid
    credentials = login(sim)
    assert "result" in json.loads(device_call(credentials).body)
    assert error_of(device_call({**credentials, "sessionId": "forged"}))[:2] == invalid
    sim.expire_sessions()
    assert error_of(device_call(credentials))[:2] == invalid
    fresh = login(sim)
    sim.refuse_sessions = True
    assert error_of(device_call(fresh))[:2] == invalid
    sim.refuse_sessions = False
    assert "result" in json.loads(device_call(fresh).body)
    assert len(sim.issued) == 2


BAD_ARGUMENT = ("ArgumentException", -32000)
UNKNOWN = ("MissingMethodException", -32601)
NOT_RPC = ("JSONRPCError", -32700)


@pytest.mark.parametrize(
    ("body", "expected", "text"),
    [
        (b"{not json", NOT_RPC, ""),
        ({"params": {}}, NOT_RPC, ""),
        ({"method": "Frobnicate"}, UNKNOWN, "'Frobnicate'"),
        # An unknown type names the method, misleadingly, as the real server does.
        ({"method": "Get", "params": {"typeName": "Gizmo"}}, UNKNOWN, "'Get' could not be found"),
        ({"method": "Get", "params": {"resultsLimit": 0}}, BAD_ARGUMENT, "resultsLimit"),
        ({"method": "Get", "params": {"search": {"fromDate": "soon"}}}, BAD_ARGUMENT, "fromDate"),
        ({"method": "GetFeed", "params": {"fromVersion": "xyz"}}, BAD_ARGUMENT, "fromVersion"),
    ],
)
def test_errors_come_in_http_200_naming_the_exception_twice(
    sim: GeotabSimulator, body: Any, expected: tuple[str, int], text: str
) -> None:
    if isinstance(body, dict):
        body = {"id": -1, **body}
        if body.get("method") in ("Get", "GetFeed"):
            body["params"] = {
                "typeName": "LogRecord",
                **body["params"],
                "credentials": login(sim),
            }
    name, message, code = error_of(sim(request(body)))
    assert (name, code) == expected
    assert text in message


@pytest.mark.parametrize(("method", "path"), [("GET", "/apiv1"), ("POST", "/apiv2"), ("PUT", "/")])
def test_only_post_apiv1_exists(sim: GeotabSimulator, method: str, path: str) -> None:
    response = sim(request({"id": -1, "method": "Get", "params": {}}, method, path))
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("text/plain")


def test_fail_next_answers_only_the_matching_calls(sim: GeotabSimulator) -> None:
    credentials = login(sim)
    sim.fail_next(
        "DbUnavailableException", "Initializing", method="Get", type_name="LogRecord", times=2
    )
    sim.fail_next("OverLimitException", "API calls quota exceeded.", retry_after=2.2)
    devices, _ = rpc(sim, "Get", typeName="Device", credentials=credentials)
    assert error_of(devices)[0] == "OverLimitException"  # the catch-all fault matched first
    assert devices.headers["Retry-After"] == "3"
    for _ in range(2):
        response, _ = rpc(sim, "Get", typeName="LogRecord", credentials=credentials)
        assert error_of(response)[:2] == ("DbUnavailableException", "Initializing")
    response, body = rpc(sim, "Get", typeName="LogRecord", credentials=credentials)
    assert "result" in body
    assert sim.faults_served == [
        ("Get", "OverLimitException"),
        ("Get", "DbUnavailableException"),
        ("Get", "DbUnavailableException"),
    ]


def test_bad_records_are_not_supported(fleet: Fleet) -> None:
    with pytest.raises(ValueError, match="bad records"):
        GeotabSimulator(fleet, bad_records=object())


# ----------------------------------------------------------------------------------- rate limits
def test_over_limit_has_an_integer_retry_after_until_the_window_resets(fleet: Fleet) -> None:
    clock = Clock()
    sim = GeotabSimulator(fleet, as_of=AS_OF, limits={"Authenticate": 10, "Get": 3}, clock=clock)
    credentials = login(sim)
    for _ in range(3):
        _, body = rpc(sim, "Get", typeName="Device", credentials=credentials)
        assert "result" in body
    clock.now += 0.5
    refused, _ = rpc(sim, "Get", typeName="Device", credentials=credentials)
    name, message, _ = error_of(refused)
    assert name == "OverLimitException"
    assert message == "API calls quota exceeded. Maximum admitted 3 per 1m."
    assert refused.headers["Retry-After"] == "60"  # 59.5 s left, rounded up
    clock.now += 59.2
    refused, _ = rpc(sim, "Get", typeName="Device", credentials=credentials)
    assert refused.headers["Retry-After"] == "1"  # 0.3 s left: at least 1
    clock.now += 0.3
    _, body = rpc(sim, "Get", typeName="Device", credentials=credentials)
    assert "result" in body
    assert sim.calls["Get.Device"] == 4
    assert sim.refused["Get.Device"] == 2
    assert sim.calls["Authenticate"] == 1


def test_rate_limit_windows_are_per_method_and_type(fleet: Fleet) -> None:
    clock = Clock()
    limits = {"Authenticate": 2, "Get": 1, "GetCountOf": 1, "GetFeed": 1}
    sim = GeotabSimulator(fleet, as_of=AS_OF, limits=limits, clock=clock)
    credentials = login(sim)
    for type_name in ("Device", "User", "LogRecord"):
        _, body = rpc(sim, "Get", typeName=type_name, credentials=credentials, resultsLimit=1)
        assert "result" in body
    _, body = rpc(sim, "GetCountOf", typeName="Device", credentials=credentials)
    assert "result" in body
    _, body = rpc(sim, "GetFeed", typeName="LogRecord", credentials=credentials)
    assert "result" in body
    for method in ("Get", "GetCountOf", "GetFeed"):
        response, _ = rpc(sim, method, typeName="Device", credentials=credentials)
        if method == "GetFeed":
            assert "result" in json.loads(response.body)  # GetFeed.Device: a window of its own
        else:
            assert error_of(response)[0] == "OverLimitException"
    login(sim)  # Authenticate is keyed by method alone
    refused = sim(
        request(
            {
                "id": -1,
                "method": "Authenticate",
                "params": {"database": "fleetdb", "userName": sim.username, "password": "x"},
            }
        )
    )
    assert error_of(refused)[0] == "OverLimitException"
    assert sim.refused == {"Get.Device": 1, "GetCountOf.Device": 1, "Authenticate": 1}
    assert sim.calls["Get.LogRecord"] == 1
    assert sim.calls["GetFeed.Device"] == 1


def test_admitted_answers_carry_the_rate_limit_headers(fleet: Fleet) -> None:
    clock = Clock()
    sim = GeotabSimulator(fleet, as_of=AS_OF, limits={"Authenticate": 10, "Get": 5}, clock=clock)
    credentials = login(sim)
    remaining = []
    for _ in range(2):
        response, _ = rpc(sim, "Get", typeName="User", credentials=credentials)
        assert response.headers["X-Rate-Limit-Limit"] == "1m"
        assert STAMP.fullmatch(response.headers["X-Rate-Limit-Reset"])
        remaining.append(response.headers["X-Rate-Limit-Remaining"])
    assert remaining == ["4", "3"]


def test_no_limits_when_limits_is_none(sim: GeotabSimulator) -> None:
    credentials = login(sim)
    for _ in range(700):
        response, _ = rpc(sim, "GetCountOf", typeName="Device", credentials=credentials)
        assert "X-Rate-Limit-Limit" not in response.headers
    assert sim.calls["GetCountOf.Device"] == 700
    assert not sim.refused


def test_the_servers_own_429_is_an_over_limit_with_integer_retry_after(
    sim: GeotabSimulator,
) -> None:
    response = sim.rate_limited(0.25)
    assert error_of(response)[0] == "OverLimitException"
    assert response.headers["Retry-After"] == "1"


# ----------------------------------------------------------------------------------- devices, users
def test_devices_render_the_roster_with_absent_keys_omitted(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    devices = call(sim, "Get", "Device", search={"fromDate": "2020-01-01T00:00:00Z"})
    assert [d["id"] for d in devices] == sorted(sim.device_ids)
    missing = []
    for device in devices:
        vehicle = fleet.vehicles[sim.device_ids.index(device["id"])]
        assert device["name"] == vehicle.fleet_number
        assert device["serialNumber"] == vehicle.serial
        assert device["groups"] == [{"id": "GroupCompanyId"}]
        assert device["timeZoneId"].startswith("America/")
        if vehicle.vin is None:
            missing.append(device["vehicleIdentificationNumber"])
        else:
            assert device["vehicleIdentificationNumber"] == vehicle.vin
        if vehicle.status == "active":
            assert device["activeFrom"] == iso(EPOCH_START)
            assert device["activeTo"] == STILL_ACTIVE
        else:
            assert at(device["activeTo"]) <= EPOCH_START
    assert sorted(missing) == ["", "?"]  # the fleet's two vehicles without a VIN
    assert any("licensePlate" not in d for d in devices)
    assert any("licensePlate" in d for d in devices)


def test_device_ids_sort_as_text_and_seek_past_the_offset() -> None:
    big = GeotabSimulator(Fleet(3, 20, epoch=EPOCH, deactivated_rate=0.0), as_of=AS_OF)
    assert big.device_ids[:3] == ("b1", "b2", "b3")
    assert big.device_ids[9:11] == ("bA", "bB")
    walked: list[str] = []
    offset = None
    while True:
        sort: dict[str, Any] = {"sortBy": "id", "sortDirection": "asc"}
        if offset is not None:
            sort["offset"] = offset
        page = call(big, "Get", "Device", sort=sort, resultsLimit=7)
        walked += [d["id"] for d in page]
        if len(page) < 7:
            break
        offset = page[-1]["id"]
    assert walked == sorted(big.device_ids)
    assert walked[:3] == ["b1", "b10", "b11"]  # text order, not numeric
    assert call(big, "GetCountOf", "Device") == 20


def test_retired_devices_are_hidden_by_default_and_listed_with_from_date(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    active = active_devices(sim, fleet)
    assert [d["id"] for d in call(sim, "Get", "Device")] == active  # deactivated: retired
    retired = active[1]
    sim.retire(retired, DAY + timedelta(days=1))
    listed = [d["id"] for d in call(sim, "Get", "Device")]
    assert retired not in listed
    assert call(sim, "GetCountOf", "Device") == len(active) - 1
    since = [d["id"] for d in call(sim, "Get", "Device", search={"fromDate": iso(DAY)})]
    assert since == active
    everything = call(sim, "Get", "Device", search={"fromDate": "2025-01-01T00:00:00Z"})
    assert [d["id"] for d in everything] == sorted(sim.device_ids)
    record = next(d for d in everything if d["id"] == retired)
    assert record["activeTo"] == iso(DAY + timedelta(days=1))
    # Geotab keeps a retired device's data.
    points = call(
        sim,
        "Get",
        "LogRecord",
        search=span(DAY, DAY + timedelta(hours=1), deviceSearch={"id": retired}),
    )
    assert points
    assert {p["device"]["id"] for p in points} == {retired}


def test_users_are_every_driver_plus_two_who_are_not(sim: GeotabSimulator, fleet: Fleet) -> None:
    users = call(sim, "Get", "User", search={"fromDate": "2020-01-01T00:00:00Z"})
    assert len(users) == len(fleet.drivers) + 2 == len(sim.user_ids)
    assert [u["id"] for u in users] == sorted(sim.user_ids)
    assert not set(sim.user_ids) & set(sim.device_ids)
    drivers = call(sim, "Get", "User", search={"isDriver": True, "fromDate": iso(EPOCH_START)})
    assert len(drivers) == len(fleet.drivers)
    for user in drivers:
        driver = fleet.drivers[sim.user_ids.index(user["id"])]
        assert user["isDriver"] is True
        assert user["name"] == driver.username
        assert (user["firstName"], user["lastName"]) == (driver.first_name, driver.last_name)
        assert user["employeeNo"] == driver.id
        assert user["keys"] == []
    others = [u for u in users if not u["isDriver"]]
    assert len(others) == 2
    assert sim.username in {u["name"] for u in others}
    # By default only users still active are listed, as for devices.
    listed = call(sim, "Get", "User", search={"isDriver": True})
    assert len(listed) == sum(d.status == "active" for d in fleet.drivers)
    assert call(sim, "GetCountOf", "User", search={"isDriver": True}) == len(listed)


# ----------------------------------------------------------------------------------- LogRecord
def test_log_records_render_the_fleets_points_by_device_then_time(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    start, end = DAY + timedelta(hours=7), DAY + timedelta(hours=8)
    records = call(sim, "Get", "LogRecord", search=span(start, end - MS))
    points = fleet.points(start, end, as_of=AS_OF).to_pylist()
    assert len(records) == len(points) > 100
    expected = sorted(
        points, key=lambda p: (device_of(sim, fleet, p["vehicle_id"]), p["timestamp"])
    )
    assert [(r["device"]["id"], at(r["dateTime"])) for r in records] == [
        (device_of(sim, fleet, p["vehicle_id"]), p["timestamp"]) for p in expected
    ]
    for record, point in zip(records, expected, strict=True):
        assert set(record) == {"id", "device", "dateTime", "latitude", "longitude", "speed"}
        assert record["latitude"] == point["latitude"]
        assert record["longitude"] == point["longitude"]
        assert record["speed"] == round(point["speed_mph"] * KM_PER_MILE)
        assert isinstance(record["speed"], int)
        assert re.fullmatch(r"b[0-9A-F]+", record["id"])
    assert len({r["id"] for r in records}) == len(records)


def test_get_stops_silently_at_5000(sim: GeotabSimulator) -> None:
    search = span(DAY, DAY + timedelta(days=2) - MS)
    total = call(sim, "GetCountOf", "LogRecord", search=search)
    assert total > 5_000
    records = call(sim, "Get", "LogRecord", search=search, resultsLimit=100_000)
    assert isinstance(records, list)  # no envelope, no sign of more
    assert len(records) == 5_000
    assert len(call(sim, "Get", "LogRecord", search=search)) == 5_000
    assert len(call(sim, "Get", "LogRecord", search=search, resultsLimit=7)) == 7


def test_nearest_records_outside_the_range_come_only_with_a_device_search(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    start, end = DAY + timedelta(hours=9, seconds=1), DAY + timedelta(hours=9, minutes=30)
    device = active_devices(sim, fleet)[0]
    plain = call(sim, "Get", "LogRecord", search=span(start, end))
    assert all(start <= at(r["dateTime"]) <= end for r in plain)
    inside = [r for r in plain if r["device"]["id"] == device]
    named = call(sim, "Get", "LogRecord", search=span(start, end, deviceSearch={"id": device}))
    assert named[1:-1] == inside
    assert at(named[0]["dateTime"]) < start
    assert at(named[-1]["dateTime"]) > end
    # The neighbours are the nearest ones: nothing of the device lies between them and the range.
    wider = call(
        sim,
        "Get",
        "LogRecord",
        search=span(
            at(named[0]["dateTime"]), at(named[-1]["dateTime"]), deviceSearch={"id": device}
        ),
    )
    assert wider[1:-1] == named
    assert call(
        sim, "GetCountOf", "LogRecord", search=span(start, end, deviceSearch={"id": device})
    ) == len(inside)
    # StatusData too, per diagnostic.
    search = span(start, end, deviceSearch={"id": device}, diagnosticSearch={"id": IGNITION})
    ignition = call(sim, "Get", "StatusData", search=search)
    assert [r["diagnostic"]["id"] for r in ignition] == [IGNITION, IGNITION]  # on before, off after
    assert [r["data"] for r in ignition] == [1, 0]
    assert call(sim, "GetCountOf", "StatusData", search=search) == 0
    unnamed = call(
        sim, "Get", "StatusData", search=span(start, end, diagnosticSearch={"id": IGNITION})
    )
    assert unnamed == []


def test_unknown_devices_match_nothing(sim: GeotabSimulator) -> None:
    search = span(DAY, DAY + timedelta(hours=12), deviceSearch={"id": "bFFFF"})
    assert call(sim, "Get", "LogRecord", search=search) == []
    assert call(sim, "GetCountOf", "LogRecord", search=search) == 0


def test_only_records_uploaded_by_now_are_served(fleet: Fleet) -> None:
    points = fleet.points(DAY, DAY + timedelta(days=1))
    late = points.filter(pc.greater(points.column("available_at"), points.column("timestamp")))
    assert late.num_rows
    first = late.slice(0, 1).to_pylist()[0]
    search = span(DAY, DAY + timedelta(days=1) - MS)
    early = GeotabSimulator(fleet, as_of=first["available_at"] - timedelta(seconds=1), limits=None)
    later = GeotabSimulator(fleet, as_of=first["available_at"], limits=None)
    device = device_of(early, fleet, first["vehicle_id"])

    def times(sim: GeotabSimulator) -> set[datetime]:
        records = call(sim, "Get", "LogRecord", search=search)
        return {at(r["dateTime"]) for r in records if r["device"]["id"] == device}

    assert first["timestamp"] not in times(early)
    assert first["timestamp"] in times(later)


# ----------------------------------------------------------------------------------- StatusData
def test_ignition_is_on_at_each_shift_start_and_off_at_each_shift_end(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    search = span(DAY, DAY + timedelta(days=1) - MS, diagnosticSearch={"id": IGNITION})
    records = call(sim, "Get", "StatusData", search=search)
    rendered = {(r["device"]["id"], at(r["dateTime"]), r["data"]) for r in records}
    expected = {
        (device_of(sim, fleet, vehicle), moment, value)
        for vehicle, moment, value in ignitions(fleet, DAY, DAY + timedelta(days=1))
    }
    assert rendered == expected
    assert len(expected) == 2 * len(active_devices(sim, fleet))
    for record in records:
        assert set(record) == {
            "id", "device", "diagnostic", "dateTime", "data", "controller", "version",
        }  # fmt: skip
        assert record["id"] == f"b{int(record['version'], 16):X}"
        assert re.fullmatch(r"[0-9a-f]{16}", record["version"])


def test_odometer_readings_come_at_ignition_changes_and_every_5_to_10_minutes_while_on(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    vehicle = next(v for v in fleet.vehicles if v.status == "active")
    device = sim.device_ids[vehicle.index]
    search = span(DAY, DAY + timedelta(days=1) - MS, deviceSearch={"id": device})
    search["diagnosticSearch"] = {"id": ODOMETER}
    records = call(sim, "Get", "StatusData", search=search)[1:-1]  # without the neighbours
    times = [at(r["dateTime"]) for r in records]
    assert times == sorted(times)
    switches = sorted(
        t for v, t, _ in ignitions(fleet, DAY, DAY + timedelta(days=1)) if v == vehicle.id
    )
    on, off = switches
    assert times[0] == on
    assert times[-1] == off
    gaps = np.diff([us(t) for t in times]) / 1e6
    assert gaps.max() <= 600
    assert sorted(gaps)[1] >= 0  # strictly increasing
    assert np.median(gaps) >= 300
    assert any(t.microsecond for t in times)  # millisecond offsets
    expected = np.round(
        fleet.odometer_at(vehicle.id, np.array([us(t) for t in times]).astype("datetime64[us]"))
        * METERS_PER_MILE,
        1,
    )
    assert [r["data"] for r in records] == expected.tolist()
    # odometer_readings is the rendered set, whatever window is asked.
    index, moment, metres = sim.odometer_readings(us(DAY), us(DAY + timedelta(days=1)))
    mine = index == vehicle.index
    assert moment[mine].tolist() == [us(t) for t in times]
    assert metres[mine].tolist() == expected.tolist()
    part = sim.odometer_readings(us(times[3]), us(times[6]))
    assert part[1][part[0] == vehicle.index].tolist() == [us(t) for t in times[3:6]]
    assert list(index) == sorted(index)


def test_without_a_diagnostic_filter_every_diagnostic_comes(sim: GeotabSimulator) -> None:
    records = call(sim, "Get", "StatusData", search=span(DAY, DAY + timedelta(days=1) - MS))
    kinds = {r["diagnostic"]["id"] for r in records}
    assert kinds == {IGNITION, ODOMETER, RAW_ODOMETER, ENGINE_HOURS} == set(DIAGNOSTICS)
    controllers = {json.dumps(r["controller"]) for r in records}
    assert controllers == {'"ControllerNoneId"', '{"id": "ControllerNoneId"}'}
    hours = [r["data"] for r in records if r["diagnostic"]["id"] == ENGINE_HOURS]
    assert all(isinstance(h, int) for h in hours)
    assert call(
        sim, "GetCountOf", "StatusData", search=span(DAY, DAY + timedelta(days=1) - MS)
    ) == len(records)


# ----------------------------------------------------------------------------------- DriverChange
def test_driver_changes_follow_the_assignments_with_one_record_at_a_handover(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    records = call(sim, "Get", "DriverChange", search=span(DAY, DAY + timedelta(days=1) - MS))
    rendered = [
        (
            r["device"]["id"],
            at(r["dateTime"]),
            r["driver"] if isinstance(r["driver"], str) else r["driver"]["id"],
        )
        for r in records
    ]
    assignments = fleet.assignments(DAY, DAY + timedelta(days=1)).to_pylist()
    starts = {(a["vehicle_id"], a["start"]) for a in assignments}
    expected = []
    for a in assignments:
        device = device_of(sim, fleet, a["vehicle_id"])
        expected.append((device, a["start"], sim.user_ids[fleet.driver(a["driver_id"]).index]))
        if (a["vehicle_id"], a["end"]) not in starts:
            expected.append((device, a["end"], UNKNOWN_DRIVER))
    assert sorted(rendered) == sorted(expected)
    assert [(d, t) for d, t, _ in rendered] == sorted((d, t) for d, t, _ in rendered)
    handovers = len(assignments) - len({a["vehicle_id"] for a in assignments})
    assert handovers >= 1
    assert len(rendered) == 2 * len(assignments) - handovers
    for record in records:
        assert record["type"] == "DriverKey"
        assert set(record) == {"id", "device", "driver", "dateTime", "type", "version"}


def test_a_driver_is_an_object_with_or_without_is_driver_or_the_unknown_string(
    sim: GeotabSimulator,
) -> None:
    records = call(sim, "Get", "DriverChange", search=span(DAY - timedelta(days=5), AS_OF))
    forms = set()
    for record in records:
        driver = record["driver"]
        if isinstance(driver, str):
            assert driver == UNKNOWN_DRIVER
            forms.add("string")
        else:
            assert driver["id"] in sim.user_ids
            assert set(driver) in ({"id"}, {"id", "isDriver"})
            assert driver.get("isDriver", True) is True
            forms.add("object" if "isDriver" in driver else "bare object")
    assert forms == {"string", "object", "bare object"}


# ----------------------------------------------------------------------------------- Trip
def test_two_trips_per_vehicle_day_with_dotnet_durations(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    trips = call(sim, "Get", "Trip", search=span(DAY, DAY + timedelta(days=1) - MS))
    events = fleet.engine_events(DAY, DAY + timedelta(days=1)).to_pylist()
    points = {
        (p["vehicle_id"], p["timestamp"]): p
        for p in fleet.points(DAY, DAY + timedelta(days=1)).to_pylist()
    }
    assert len(trips) == 2 * len(active_devices(sim, fleet))
    for vehicle in (v for v in fleet.vehicles if v.status == "active"):
        device = sim.device_ids[vehicle.index]
        first, second = (t for t in trips if t["device"]["id"] == device)
        ignition, depart, pause, resume, arrive = (
            e["time"] for e in events if e["vehicle_id"] == vehicle.id
        )
        assert (at(first["start"]), at(first["stop"])) == (ignition, pause)
        assert (at(second["start"]), at(second["stop"])) == (resume, arrive)
        assert timespan_us(first["idlingDuration"]) == us(depart) - us(ignition)
        assert timespan_us(first["drivingDuration"]) == us(pause) - us(depart)
        assert timespan_us(first["stopDuration"]) == us(resume) - us(pause)
        assert first["nextTripStart"] == second["start"]
        for trip in (first, second):
            stop = points[(vehicle.id, at(trip["stop"]))]
            assert trip["stopPoint"] == {"x": stop["longitude"], "y": stop["latitude"]}
            miles = fleet.odometer_at(
                vehicle.id,
                np.array([us(at(trip["start"])), us(at(trip["stop"]))]).astype("datetime64[us]"),
            )
            assert trip["distance"] == pytest.approx((miles[1] - miles[0]) * KM_PER_MILE, abs=1e-3)
            assert isinstance(trip["driver"], dict)


def test_a_trip_whose_next_trip_has_not_started_has_no_stop_duration(fleet: Fleet) -> None:
    sim = GeotabSimulator(fleet, as_of=DAY + timedelta(days=1), limits=None)
    trips = call(sim, "Get", "Trip", search=span(DAY, DAY + timedelta(days=1) - MS))
    last = [t for t in trips if "nextTripStart" not in t]
    assert len(last) == len(active_devices(sim, fleet))
    assert all("stopDuration" not in t for t in last)


def test_timespans_are_dotnet() -> None:
    assert timespan_us("01:02:03") == 3_723_000_000
    assert timespan_us("1.00:00:01.5000000") == 86_401_500_000


# ----------------------------------------------------------------------------------- GetFeed
def test_feed_without_version_or_date_answers_nothing_and_the_head(sim: GeotabSimulator) -> None:
    result = call(sim, "GetFeed", "LogRecord")
    head = (us(AS_OF) // 1_000_000 + 1) << 16
    assert result == {"data": [], "toVersion": f"{head:016x}"}


def test_feed_is_in_upload_order_so_a_late_point_arrives_later_with_an_older_time(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    points = fleet.points(DAY, DAY + timedelta(days=1), as_of=AS_OF)
    late = points.filter(pc.greater(points.column("available_at"), points.column("timestamp")))
    first = late.slice(0, 1).to_pylist()[0]
    result = call(sim, "GetFeed", "LogRecord", search={"fromDate": iso(DAY)})
    data = result["data"]
    assert len(data) < 50_000  # caught up: the head
    assert result["toVersion"] == f"{(us(AS_OF) // 1_000_000 + 1) << 16:016x}"
    times = [at(r["dateTime"]) for r in data]
    device = device_of(sim, fleet, first["vehicle_id"])
    position = next(
        i
        for i, r in enumerate(data)
        if r["device"]["id"] == device and times[i] == first["timestamp"]
    )
    assert any(t > first["timestamp"] for t in times[:position])  # newer points came first
    assert all(t <= first["available_at"] for t in times[:position])
    every = fleet.points(DAY, AS_OF, as_of=AS_OF)
    assert len(data) >= every.num_rows  # every point since the date, plus late ones before it


def test_feed_pages_chain_by_to_version(sim: GeotabSimulator) -> None:
    first = call(sim, "GetFeed", "StatusData", search={"fromDate": iso(DAY)}, resultsLimit=50)
    assert len(first["data"]) == 50
    versions = [int(r["version"], 16) for r in first["data"]]
    assert versions == sorted(versions)
    assert int(first["toVersion"], 16) == versions[-1] + 1
    second = call(sim, "GetFeed", "StatusData", fromVersion=first["toVersion"], resultsLimit=50)
    assert int(second["data"][0]["version"], 16) > versions[-1]
    # The same records as Get renders (one identity, one version).
    one = second["data"][0]
    named = call(
        sim,
        "Get",
        "StatusData",
        search=span(at(one["dateTime"]), at(one["dateTime"])),
    )
    assert one in named
    # A fromDate is ignored once a version is given.
    again = call(
        sim,
        "GetFeed",
        "StatusData",
        fromVersion=first["toVersion"],
        search={"fromDate": iso(DAY - timedelta(days=3))},
        resultsLimit=50,
    )
    assert again == second
    tail = call(
        sim, "GetFeed", "StatusData", fromVersion=f"{versions[-1]:016x}", resultsLimit=50_000
    )
    assert tail["data"][0] == first["data"][-1]
    assert tail["toVersion"] == f"{(us(AS_OF) // 1_000_000 + 1) << 16:016x}"


def test_status_data_feed_honours_the_diagnostic_filter(sim: GeotabSimulator) -> None:
    result = call(
        sim,
        "GetFeed",
        "StatusData",
        search={"fromDate": iso(DAY), "diagnosticSearch": {"id": IGNITION}},
    )
    assert result["data"]
    assert {r["diagnostic"]["id"] for r in result["data"]} == {IGNITION}


def test_feed_cuts_results_limit_to_50000_silently(fleet: Fleet) -> None:
    sim = GeotabSimulator(fleet, as_of=DAY + timedelta(days=8), limits=None)
    result = call(
        sim,
        "GetFeed",
        "LogRecord",
        search={"fromDate": "2026-02-01T00:00:00Z"},
        resultsLimit=200_000,
    )
    assert len(result["data"]) == 50_000
    last = result["data"][-1]
    following = call(sim, "GetFeed", "LogRecord", fromVersion=result["toVersion"], resultsLimit=1)
    assert following["data"][0]["id"] != last["id"]
    assert at(result["data"][0]["dateTime"]) == EPOCH_START


def test_device_and_user_feeds_list_every_entity(sim: GeotabSimulator, fleet: Fleet) -> None:
    devices = call(sim, "GetFeed", "Device", search={"fromDate": iso(DAY)}, resultsLimit=100_000)
    assert sorted(d["id"] for d in devices["data"]) == sorted(sim.device_ids)
    assert call(sim, "GetFeed", "Device", fromVersion=devices["toVersion"])["data"] == []
    sim.retire(sim.device_ids[0], DAY)
    moved = call(sim, "GetFeed", "Device", fromVersion=devices["toVersion"])["data"]
    assert [d["id"] for d in moved] == [sim.device_ids[0]]
    users = call(sim, "GetFeed", "User", search={"fromDate": iso(DAY)}, resultsLimit=3)
    assert len(users["data"]) == 3


# ----------------------------------------------------------------------------------- the oracle
def test_oracle_engine_state_follows_ignition_and_wire_speed(
    sim: GeotabSimulator, fleet: Fleet
) -> None:
    end = DAY + timedelta(days=1)
    table = sim.expected_telemetry(DAY, end)
    truth = fleet.telemetry("geotab", DAY, end, as_of=AS_OF)
    assert table.schema == TELEMETRY_SCHEMA
    assert table.num_rows == truth.num_rows
    state = table.column("engine_state").cast("string").to_pylist()
    fleet_state = truth.column("engine_state").cast("string").to_pylist()
    kmh = np.rint(truth.column("speed_mph").to_numpy() * KM_PER_MILE)
    differ = [i for i, (a, b) in enumerate(zip(state, fleet_state, strict=True)) if a != b]
    assert differ  # departures: the fleet says On, the ignition with speed 0 says Idle
    for i in differ:
        assert (fleet_state[i], state[i], kmh[i]) == ("On", "Idle", 0)
    assert table.column("speed_mph").to_numpy().tolist() == (kmh / KM_PER_MILE).tolist()
    assert table.column("heading_degrees").null_count == table.num_rows
    assert table.column("location_description").null_count == table.num_rows


def test_oracle_vin_driver_and_odometer(sim: GeotabSimulator, fleet: Fleet) -> None:
    end = DAY + timedelta(days=1)
    table = sim.expected_telemetry(DAY, end).to_pylist()
    truth = fleet.telemetry("geotab", DAY, end, as_of=AS_OF).to_pylist()
    for row, fact in zip(table, truth, strict=True):
        vehicle = fleet.vehicle(fact["provider_vehicle_id"])
        assert row["provider_vehicle_id"] == sim.device_ids[vehicle.index]
        assert row["vin"] == vehicle.vin
        assert row["fleet_number"] == vehicle.fleet_number
        expected = None
        if fact["driver_id"] is not None:
            driver = fleet.driver(fact["driver_id"])
            expected = (sim.user_ids[driver.index], f"{driver.first_name} {driver.last_name}")
        assert (
            None if row["driver_id"] is None else (row["driver_id"], row["driver_name"])
        ) == expected
        if fact["engine_state"] != "Off":  # readings every 10 min at most while on
            assert row["odometer"] == pytest.approx(fact["odometer"], abs=10.0)
    assert any(row["odometer"] is None for row in table)  # parked, far from any reading
    assert any(row["vin"] is None for row in table)
    # At an ignition change a reading and the point coincide.
    switches = {(v, t) for v, t, _ in ignitions(fleet, DAY, end)}
    exact = [
        (r, f)
        for r, f in zip(table, truth, strict=True)
        if (f["provider_vehicle_id"], f["timestamp"]) in switches
    ]
    assert exact
    for row, fact in exact:
        assert row["odometer"] == pytest.approx(fact["odometer"], abs=0.06 / METERS_PER_MILE)


def test_oracle_knows_nothing_beyond_the_status_margin(fleet: Fleet) -> None:
    sim = GeotabSimulator(fleet, as_of=AS_OF, limits=None, status_margin=timedelta(0))
    table = sim.expected_telemetry(DAY, DAY + timedelta(hours=4)).to_pylist()
    assert table
    assert all(row["engine_state"] is None and row["driver_id"] is None for row in table)


def test_expected_quarantine_is_empty(sim: GeotabSimulator) -> None:
    assert sim.expected_quarantine(DAY, DAY + timedelta(days=1)).equals(
        QUARANTINE_SCHEMA.empty_table()
    )


# ----------------------------------------------------------------------------------- over HTTP
def test_over_http_a_session_then_a_get(fleet: Fleet) -> None:
    sim = GeotabSimulator(fleet, as_of=AS_OF)
    with (
        SimServer(sim) as server,
        httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client,
    ):
        login_body = {
            "id": -1,
            "method": "Authenticate",
            "params": {"database": "fleetdb", "userName": sim.username, "password": sim.password},
        }
        session = client.post("/apiv1", json=login_body).json()["result"]["credentials"]
        search = span(DAY + timedelta(hours=8), DAY + timedelta(hours=8, minutes=10))
        answer = client.post(
            "/apiv1",
            json={
                "id": -1,
                "method": "Get",
                "params": {"typeName": "LogRecord", "search": search, "credentials": session},
            },
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-rate-limit-limit"] == "1m"
        records = answer.json()["result"]
        assert records == call(sim, "Get", "LogRecord", search=search)
        assert client.get("/apiv1").status_code == 404


def test_over_http_over_limit_is_a_200_with_an_integer_retry_after(fleet: Fleet) -> None:
    clock = Clock()
    sim = GeotabSimulator(fleet, as_of=AS_OF, limits={"Authenticate": 1}, clock=clock)
    body = {
        "id": -1,
        "method": "Authenticate",
        "params": {"database": "fleetdb", "userName": sim.username, "password": sim.password},
    }
    with (
        SimServer(sim) as server,
        httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client,
    ):
        assert "result" in client.post("/apiv1", json=body).json()
        clock.now += 12.5
        refused = client.post("/apiv1", json=body)
        assert refused.status_code == 200
        assert refused.json()["error"]["errors"][0]["name"] == "OverLimitException"
        assert refused.headers["retry-after"] == "48"
    assert sim.refused == {"Authenticate": 1}


def test_counters_and_caches_hold_under_concurrent_calls(fleet: Fleet) -> None:
    limits = {"Authenticate": 10, "Get": 150}
    sim = GeotabSimulator(fleet, as_of=AS_OF, limits=limits, clock=Clock())
    credentials = login(sim)
    search = span(DAY + timedelta(hours=6), DAY + timedelta(hours=7))

    def work(_: int) -> list[str]:
        seen = []
        for _ in range(25):
            response, body = rpc(
                sim, "Get", typeName="LogRecord", credentials=credentials, search=search
            )
            seen.append("result" if "result" in body else error_of(response)[0])
        return seen

    with ThreadPoolExecutor(8) as pool:
        outcomes = [o for seen in pool.map(work, range(8)) for o in seen]
    assert outcomes.count("result") == 150
    assert outcomes.count("OverLimitException") == 50
    assert sim.calls["Get.LogRecord"] == 150
    assert sim.refused["Get.LogRecord"] == 50
