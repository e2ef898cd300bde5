"""Layer 1: parameters are serialised exactly, requests built purely, pages read strictly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from fth_core.auth import HeaderAuth
from fth_core.endpoints import (
    EndpointDefinition,
    ParamKind,
    ParamSpec,
    RequestSpec,
    format_utc,
    parse_utc,
)
from fth_core.errors import ParameterError, ResponseFormatError
from fth_core.pagination import CursorPagination, OffsetPagination, PaginationState
from fth_core.registry import EndpointRegistry
from fth_core.spec import ProviderSpec, Quota

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- time helpers ---------------------------------------------------------------------------
def test_parse_utc_reads_z_suffix_and_converts_offsets_to_utc() -> None:
    assert parse_utc("2026-01-05T10:00:00Z") == datetime(2026, 1, 5, 10, tzinfo=UTC)
    converted = parse_utc("2026-01-05T12:30:00+02:00")
    assert converted == datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    assert converted.utcoffset() == timedelta(0)


@pytest.mark.parametrize("naive", ["2026-01-05T10:00:00", datetime(2026, 1, 5, 10)])
def test_parse_utc_refuses_naive_values(naive: str | datetime) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        parse_utc(naive)


def test_parse_utc_refuses_values_that_are_not_dates_with_a_type_error() -> None:
    with pytest.raises(TypeError, match="int"):
        parse_utc(1767225600)  # type: ignore[arg-type]


def test_format_utc_writes_z_and_milliseconds_only_when_there_is_a_fraction() -> None:
    assert format_utc(datetime(2026, 1, 5, 10, tzinfo=UTC)) == "2026-01-05T10:00:00Z"
    with_fraction = datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=UTC)
    assert format_utc(with_fraction) == "2026-01-05T10:00:00.123Z"


# -- ParamSpec serialisation ----------------------------------------------------------------
def test_date_param_writes_iso_dates_from_dates_strings_and_utc_datetimes() -> None:
    spec = ParamSpec("day", ParamKind.DATE)
    assert spec.serialize(date(2026, 1, 5)) == "2026-01-05"
    assert spec.serialize("2026-01-05") == "2026-01-05"
    # 23:30 at UTC-05:00 is already the next day in UTC.
    late = datetime(2026, 1, 5, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert spec.serialize(late) == "2026-01-06"


def test_date_param_rejects_non_dates_naming_the_parameter() -> None:
    with pytest.raises(ParameterError, match="parameter day"):
        ParamSpec("day", ParamKind.DATE).serialize("05/01/2026")


def test_datetime_param_writes_utc_with_z_and_converts_offsets() -> None:
    spec = ParamSpec("start_time", ParamKind.DATETIME)
    assert spec.serialize(datetime(2026, 1, 5, 10, tzinfo=UTC)) == "2026-01-05T10:00:00Z"
    assert spec.serialize("2026-01-05T12:00:00+02:00") == "2026-01-05T10:00:00Z"
    assert spec.serialize("2026-01-05T10:00:00.250Z") == "2026-01-05T10:00:00.250Z"


@pytest.mark.parametrize(
    "naive", [datetime(2026, 1, 5, 10), "2026-01-05T10:00:00"], ids=["datetime", "text"]
)
def test_datetime_param_refuses_naive_values(naive: datetime | str) -> None:
    with pytest.raises(ParameterError, match=r"start_time: .*no time zone"):
        ParamSpec("start_time", ParamKind.DATETIME).serialize(naive)


@pytest.mark.parametrize("wrong", [1767225600, None], ids=repr)
def test_datetime_param_reports_wrong_types_as_parameter_errors(wrong: object) -> None:
    with pytest.raises(ParameterError, match="start_time"):
        ParamSpec("start_time", ParamKind.DATETIME).serialize(wrong)


@pytest.mark.parametrize("day", [date(2026, 1, 5), "2026-01-05"], ids=repr)
def test_datetime_and_epoch_params_take_a_plain_date_as_its_utc_midnight(day: object) -> None:
    assert ParamSpec("t", ParamKind.DATETIME).serialize(day) == "2026-01-05T00:00:00Z"
    assert ParamSpec("t", ParamKind.EPOCH_MS).serialize(day) == "1767571200000"


def test_epoch_ms_param_writes_integer_milliseconds() -> None:
    spec = ParamSpec("start_ms", ParamKind.EPOCH_MS)
    assert spec.serialize(datetime(2026, 1, 1, tzinfo=UTC)) == "1767225600000"
    assert spec.serialize("2026-01-01T02:00:00+02:00") == "1767225600000"
    assert spec.serialize(1767225600123) == "1767225600123"


def test_epoch_ms_param_is_exact_to_the_millisecond() -> None:
    # Float arithmetic (timestamp() * 1000) loses a millisecond on values like this one.
    moment = datetime(1987, 5, 19, 22, 13, 51, 517000, tzinfo=UTC)
    exact = (moment - EPOCH) // timedelta(milliseconds=1)
    assert ParamSpec("t", ParamKind.EPOCH_MS).serialize(moment) == str(exact)
    assert str(exact).endswith("517")


def test_epoch_ms_param_refuses_naive_datetimes() -> None:
    with pytest.raises(ParameterError, match="no time zone"):
        ParamSpec("t", ParamKind.EPOCH_MS).serialize(datetime(2026, 1, 1))


def test_list_param_comma_joins_by_default() -> None:
    spec = ParamSpec("vehicle_ids", ParamKind.LIST)
    assert spec.serialize(["1", 2, " 3 "]) == "1,2,3"
    assert spec.serialize("1, 2,,3") == "1,2,3"


def test_list_param_with_repeat_sends_one_value_per_key() -> None:
    spec = ParamSpec("types", ParamKind.LIST, repeat=True)
    assert spec.serialize(["gps", "engineStates"]) == ["gps", "engineStates"]


def test_list_param_enforces_max_items_and_non_empty() -> None:
    spec = ParamSpec("vehicle_ids", ParamKind.LIST, max_items=2)
    with pytest.raises(ParameterError, match="at most 2 values, got 3"):
        spec.serialize(["1", "2", "3"])
    with pytest.raises(ParameterError, match="at least one value"):
        spec.serialize(" , ")


def test_list_param_checks_each_value_against_choices() -> None:
    spec = ParamSpec("types", ParamKind.LIST, choices=("gps", "engineStates"))
    assert spec.serialize("gps,engineStates") == "gps,engineStates"
    with pytest.raises(ParameterError, match="'fuel' is not one of gps, engineStates"):
        spec.serialize(["gps", "fuel"])


@pytest.mark.parametrize(
    ("value", "wire"), [(True, "true"), (False, "false"), ("TRUE", "true"), ("false", "false")]
)
def test_bool_param_writes_lowercase_true_false(value: object, wire: str) -> None:
    assert ParamSpec("active", ParamKind.BOOL).serialize(value) == wire


@pytest.mark.parametrize("wrong", [1, "yes", None])
def test_bool_param_refuses_anything_but_booleans(wrong: object) -> None:
    with pytest.raises(ParameterError, match="active: expected true or false"):
        ParamSpec("active", ParamKind.BOOL).serialize(wrong)


def test_choices_param_refuses_values_outside_the_set() -> None:
    spec = ParamSpec("status", choices=("active", "deactivated"))
    assert spec.serialize("active") == "active"
    with pytest.raises(ParameterError, match="'gone' is not one of active, deactivated"):
        spec.serialize("gone")


def test_int_param_accepts_ints_and_digit_strings_but_not_booleans_or_fractions() -> None:
    spec = ParamSpec("limit", ParamKind.INT)
    assert spec.serialize(25) == "25"
    assert spec.serialize("25") == "25"
    assert spec.serialize(25.0) == "25"
    for wrong in (True, "2.5", 2.5, "many"):
        with pytest.raises(ParameterError, match="limit"):
            spec.serialize(wrong)


def test_str_param_refuses_non_text() -> None:
    spec = ParamSpec("name")
    assert spec.serialize(12) == "12"
    with pytest.raises(ParameterError, match="name: expected text, got list"):
        spec.serialize(["a"])


# -- EndpointDefinition.build_request -------------------------------------------------------
LOCATIONS = EndpointDefinition(
    provider="acme",
    name="vehicle_locations",
    path="/v3/vehicle_locations/{vehicle_id}",
    params=(
        ParamSpec("vehicle_id", location="path", required=True),
        ParamSpec("start_date", ParamKind.DATE, required=True),
        ParamSpec("end_date", ParamKind.DATE),
        ParamSpec("updated_after_time", ParamKind.DATETIME, api_name="updatedAfterTime"),
        ParamSpec("types", ParamKind.LIST, repeat=True),
        ParamSpec("units", default="imperial"),
    ),
    headers={"X-Time-Zone": "UTC"},
)


def test_build_request_fills_url_quoted_path_params_and_query() -> None:
    request = LOCATIONS.build_request({"vehicle_id": "12/a b", "start_date": date(2026, 1, 5)})
    assert request == RequestSpec(
        "GET",
        "/v3/vehicle_locations/12%2Fa%20b",
        (("start_date", "2026-01-05"), ("units", "imperial")),
        (("X-Time-Zone", "UTC"),),
    )


def test_build_request_accepts_python_or_wire_names() -> None:
    base = {"vehicle_id": "7", "start_date": "2026-01-05"}
    moment = datetime(2026, 1, 5, tzinfo=UTC)
    by_python = LOCATIONS.build_request({**base, "updated_after_time": moment})
    by_wire = LOCATIONS.build_request({**base, "updatedAfterTime": moment})
    assert by_python == by_wire
    assert ("updatedAfterTime", "2026-01-05T00:00:00Z") in by_python.params


def test_build_request_repeats_repeatable_list_params() -> None:
    request = LOCATIONS.build_request(
        {"vehicle_id": "7", "start_date": "2026-01-05", "types": ["gps", "engine"]}
    )
    assert [v for k, v in request.params if k == "types"] == ["gps", "engine"]
    assert request.describe().startswith("GET /v3/vehicle_locations/7?start_date=2026-01-05")


def test_build_request_rejects_unknown_params_naming_the_known_ones() -> None:
    with pytest.raises(ParameterError) as caught:
        LOCATIONS.build_request({"vehicle_id": "7", "start_date": "2026-01-05", "colour": "red"})
    message = str(caught.value)
    assert "acme.vehicle_locations has no parameter 'colour'" in message
    assert "known: vehicle_id, start_date, end_date, updated_after_time, types, units" in message


def test_build_request_requires_required_params_and_treats_none_as_missing() -> None:
    with pytest.raises(ParameterError, match="needs parameter 'start_date'"):
        LOCATIONS.build_request({"vehicle_id": "7"})
    with pytest.raises(ParameterError, match="needs parameter 'vehicle_id'"):
        LOCATIONS.build_request({"vehicle_id": None, "start_date": "2026-01-05"})


def test_build_request_lets_a_given_value_override_a_default() -> None:
    request = LOCATIONS.build_request(
        {"vehicle_id": "7", "start_date": "2026-01-05", "units": "metric"}
    )
    assert ("units", "metric") in request.params


def test_build_request_adds_the_pagination_params_of_the_state() -> None:
    offset = EndpointDefinition("acme", "vehicles", "/v1/vehicles", pagination=OffsetPagination())
    assert offset.build_request().params == (("page_no", "1"), ("per_page", "100"))
    later = offset.build_request(state=PaginationState(page_no=3, page_size=50))
    assert later.params == (("page_no", "3"), ("per_page", "50"))
    cursor = EndpointDefinition("acme", "gps", "/fleet/gps", pagination=CursorPagination(limit=5))
    assert cursor.build_request(state=PaginationState(cursor="abc")).params == (
        ("limit", "5"),
        ("after", "abc"),
    )


def test_definition_refuses_path_fields_without_matching_path_params() -> None:
    with pytest.raises(ValueError, match="path fields"):
        EndpointDefinition("acme", "broken", "/v1/vehicles/{vehicle_id}")
    with pytest.raises(ValueError, match="duplicate parameter names"):
        EndpointDefinition("acme", "twice", "/v1/x", params=(ParamSpec("a"), ParamSpec("a")))


# -- EndpointDefinition.parse_response ------------------------------------------------------
class Vehicle(BaseModel):
    id: int
    number: str


VEHICLES = EndpointDefinition(
    "acme",
    "vehicles",
    "/v1/vehicles",
    items_key="vehicles",
    item_wrapper="vehicle",
    item_model=Vehicle,
)


def test_parse_response_unwraps_wrapped_records_into_models() -> None:
    body = {
        "vehicles": [{"vehicle": {"id": 1, "number": "T1"}}, {"vehicle": {"id": 2, "number": "T2"}}]
    }
    page = VEHICLES.parse_response(body)
    assert page.items == [Vehicle(id=1, number="T1"), Vehicle(id=2, number="T2")]
    assert page.next_state is None
    assert page.body is body


def test_parse_response_untyped_returns_the_raw_unwrapped_dicts() -> None:
    body = {"vehicles": [{"vehicle": {"id": 1, "number": "T1"}}]}
    assert VEHICLES.parse_response(body, typed=False).items == [{"id": 1, "number": "T1"}]


def test_parse_response_reads_a_null_list_as_empty() -> None:
    assert VEHICLES.parse_response({"vehicles": None}).items == []
    bare = EndpointDefinition("acme", "bare", "/v1/bare", items_key="data")
    assert bare.parse_response({"data": None}).items == []


def test_parse_response_accepts_a_body_that_is_the_list() -> None:
    listing = EndpointDefinition("acme", "listing", "/v1/listing")
    assert listing.parse_response([{"id": 1}]).items == [{"id": 1}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": []}, "no 'vehicles' list"),
        ([], "no 'vehicles' list"),
        ({"vehicles": {"vehicle": {}}}, "'vehicles' is not a list"),
        ({"vehicles": [{"id": 1, "number": "T1"}]}, "not wrapped in 'vehicle'"),
        ({"vehicles": ["T1"]}, "not wrapped in 'vehicle'"),
    ],
)
def test_parse_response_rejects_malformed_bodies(body: object, message: str) -> None:
    with pytest.raises(ResponseFormatError, match=message):
        VEHICLES.parse_response(body)


def test_parse_response_names_the_field_of_an_item_that_does_not_fit_the_model() -> None:
    body = {
        "vehicles": [
            {"vehicle": {"id": 1, "number": "T1"}},
            {"vehicle": {"id": "one", "number": "T2"}},
        ]
    }
    with pytest.raises(ResponseFormatError, match=r"acme\.vehicles: item 1\.id: "):
        VEHICLES.parse_response(body)
    with pytest.raises(ResponseFormatError, match=r"item 0\.number: Field required"):
        VEHICLES.parse_response({"vehicles": [{"vehicle": {"id": 1}}]})


def test_parse_response_reads_the_next_pagination_state() -> None:
    paged = EndpointDefinition(
        "acme", "gps", "/fleet/gps", items_key="data", pagination=CursorPagination()
    )
    body = {"data": [{"id": 1}], "pagination": {"endCursor": "c1", "hasNextPage": True}}
    page = paged.parse_response(body)
    assert page.next_state == PaginationState(
        cursor="c1", seen_cursors=frozenset({"c1"}), pages_fetched=1
    )


# -- paths ----------------------------------------------------------------------------------
def test_matches_path_fills_path_fields_and_ignores_query_and_trailing_slash() -> None:
    assert LOCATIONS.matches_path("/v3/vehicle_locations/12")
    assert LOCATIONS.matches_path("/v3/vehicle_locations/12/?start_date=2026-01-05")
    assert not LOCATIONS.matches_path("/v3/vehicle_locations")
    assert not LOCATIONS.matches_path("/v3/vehicle_locations/12/extra")
    assert not LOCATIONS.matches_path("/v3/vehicle_locationsX12")
    assert VEHICLES.matches_path("/v1/vehicles")


def test_registry_find_by_path_returns_the_endpoint_or_none() -> None:
    spec = ProviderSpec(
        name="acme",
        endpoints=[LOCATIONS, VEHICLES],
        default_base_url="https://api.acme.test",
        auth=HeaderAuth("X-Api-Key"),
        quota=Quota(10),
    )
    registry = EndpointRegistry({"acme": spec})
    assert registry.find_by_path("/v3/vehicle_locations/99") is LOCATIONS
    assert registry.find_by_path("/v1/vehicles", provider="ACME") is VEHICLES
    assert registry.find_by_path("/v1/drivers") is None
