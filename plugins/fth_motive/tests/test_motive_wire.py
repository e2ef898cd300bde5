"""The bulk path's typed wire shapes: decoded from bytes, they flatten like the dicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from fth_core.client import TelemetryClient
from fth_core.endpoints import RequestSpec
from fth_core.errors import ResponseFormatError
from fth_core.schema import epoch_us
from fth_motive.telemetry import LocationHistory, RosterVehicle, flatten_locations, read_days
from fth_motive.wire import LOCATIONS_PAGE_DECODER, Breadcrumb, as_breadcrumbs

START, END = datetime(2026, 7, 14, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)
ANSWERING = RequestSpec("GET", "/v3/x")  # what the answers below are said to answer


def _read(body: bytes) -> Any:
    with TelemetryClient("motive", "http://127.0.0.1:9") as client:  # decodes; sends nothing
        return read_days(client, ANSWERING, body)


def _flatten(records: list[Any]) -> dict[str, list[Any]]:
    vehicle = RosterVehicle("100017", "1FTGBY0U8RP964390", "TRK-0002", True)
    history = LocationHistory(vehicle, START.date(), END.date(), START, END, True, records)
    return {name: column.to_pylist() for name, column in flatten_locations(history).items()}


def test_decoded_breadcrumbs_flatten_exactly_like_dicts(payloads: Any) -> None:
    records = [
        payloads.location(located_at="2026-07-14T10:00:00Z"),
        payloads.location(located_at="2026-07-14T10:00:01Z", driver=None, true_odometer=None),
        payloads.location(located_at="2026-07-14T10:00:02Z", speed=None, unknown_key=[1, 2]),
    ]
    page = LOCATIONS_PAGE_DECODER.decode(
        msgspec.json.encode(payloads.wrap("vehicle_locations", "vehicle_location", records))
    )
    assert page.vehicle_locations is not None
    decoded = [wrapped.vehicle_location for wrapped in page.vehicle_locations]
    assert all(isinstance(record, Breadcrumb) for record in decoded)
    assert _flatten(decoded) == _flatten(records)


def test_a_null_list_decodes_as_no_breadcrumbs() -> None:
    assert LOCATIONS_PAGE_DECODER.decode(b'{"vehicle_locations": null}').vehicle_locations is None


def test_a_breadcrumb_that_does_not_fit_is_a_format_error() -> None:
    with pytest.raises(ResponseFormatError, match="motive: a vehicle location does not fit"):
        as_breadcrumbs([{"located_at": "2026-07-14T10:00:00Z", "lat": "north"}])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"vehicle_locations": [', "motive: GET /v3/x returned invalid JSON"),
        (b'{"vehicle_locations": 5}', r"motive: GET /v3/x returned an unexpected body \(Expected"),
        (b"{}", "unexpected body .*missing required field `vehicle_locations`"),
        (b'{"vehicle_locations": [{"lat": 1}]}', "unexpected body .*`vehicle_location`"),
    ],
)
def test_an_answer_that_does_not_decode_is_worded_as_the_client_words_it(
    body: bytes, error: str
) -> None:
    with pytest.raises(ResponseFormatError, match=error):
        _read(body)


def test_a_null_or_empty_list_reads_as_no_columns() -> None:
    assert _read(b'{"vehicle_locations": null}').num_rows == 0
    assert _read(b'{"vehicle_locations": []}').num_rows == 0


def test_reading_since_or_until_a_time_leaves_out_breadcrumbs_outside_but_not_untimed_ones(
    payloads: Any,
) -> None:
    times = ["2026-07-13T23:59:59Z", None, "2026-07-14T00:00:00Z", "bad", "2026-07-14T05:00:00Z"]
    body = msgspec.json.encode(
        payloads.wrap(
            "vehicle_locations",
            "vehicle_location",
            [payloads.location(located_at=at, description=f"#{i}") for i, at in enumerate(times)],
        )
    )
    with TelemetryClient("motive", "http://127.0.0.1:9") as client:
        since = read_days(client, ANSWERING, body, since=epoch_us(START))
        everything = read_days(client, ANSWERING, body)
        until = read_days(client, ANSWERING, body, until=epoch_us(START))
        between = read_days(client, ANSWERING, body, epoch_us(START), epoch_us(START) + 1)
    assert since.column("description").to_pylist() == ["#1", "#2", "#3", "#4"]
    assert since.column("located_at").to_pylist() == times[1:]
    assert everything.num_rows == len(times)
    assert until.column("description").to_pylist() == ["#0", "#1", "#3"]
    assert between.column("description").to_pylist() == ["#1", "#2", "#3"]
