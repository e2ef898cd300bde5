"""Page walks: the two styles on their own, then whole walks against a loopback server."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from fth_core.client import TelemetryClient
from fth_core.endpoints import EndpointDefinition, ParamKind, ParamSpec, parse_utc
from fth_core.errors import PaginationError, ResponseFormatError
from fth_core.pagination import (
    MISSING,
    CursorPagination,
    OffsetPagination,
    PaginationState,
    RequestDraft,
    SeekPagination,
    SplitPagination,
    SweepPagination,
    TokenPagination,
    lookup,
)
from fth_core.sim.server import SimServer
from fth_core.sim.wire import SimRequest, SimResponse

Serve = Callable[..., SimServer]
Connect = Callable[..., TelemetryClient]


# -- offset style, no I/O -------------------------------------------------------------------
ITEM: list[Any] = [{"id": 1}]  # a page's items, as many as a test needs


def _offset_body(page_no: int, per_page: int, total: int) -> dict[str, Any]:
    return {"pagination": {"page_no": page_no, "per_page": per_page, "total": total}}


def test_offset_apply_asks_for_the_state_page_and_size() -> None:
    style = OffsetPagination(page_size=100)
    draft = RequestDraft()
    style.apply(PaginationState(), draft)
    assert draft.query == {"page_no": 1, "per_page": 100}
    style.apply(PaginationState(page_no=4, page_size=25), draft)
    assert draft == RequestDraft({"page_no": 4, "per_page": 25})


def test_offset_advance_uses_the_page_size_the_server_echoes() -> None:
    style = OffsetPagination(page_size=100)
    state = style.advance(_offset_body(1, 50, 120), PaginationState(), ITEM * 50)
    assert state == PaginationState(page_no=2, page_size=50, pages_fetched=1)


def test_offset_advance_stops_at_the_total_or_on_an_empty_page() -> None:
    style = OffsetPagination()
    assert style.advance(_offset_body(3, 50, 120), PaginationState(page_no=3), ITEM * 20) is None
    assert style.advance(_offset_body(2, 50, 100), PaginationState(page_no=2), ITEM * 50) is None
    # total claims more, but the page is empty: we are past the end.
    assert style.advance(_offset_body(5, 50, 1000), PaginationState(page_no=5), []) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "no pagination"),
        ({"pagination": {"page_no": 1, "total": 3}}, "no per_page"),
        ({"pagination": {"page_no": 1, "per_page": "50", "total": 3}}, "per_page is '50'"),
        ({"pagination": {"page_no": 1, "per_page": 0, "total": 3}}, "per_page is 0"),
        ({"pagination": {"page_no": True, "per_page": 5, "total": 3}}, "page_no is True"),
    ],
)
def test_offset_advance_rejects_a_malformed_block(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ResponseFormatError, match=message):
        OffsetPagination().advance(body, PaginationState(), ITEM)


def test_offset_advance_refuses_a_server_that_answers_another_page_than_asked() -> None:
    # A server ignoring page_no echoes page 1 for ever: caught like a repeated cursor.
    with pytest.raises(PaginationError, match="asked for page 2, the answer says page 1"):
        OffsetPagination().advance(_offset_body(1, 50, 500), PaginationState(page_no=2), ITEM)


# -- requests drafted into the body, no I/O -------------------------------------------------
def test_a_draft_puts_values_into_the_query_or_a_nested_body_path() -> None:
    draft = RequestDraft(body={"method": "Get", "params": {"typeName": "Device"}})
    draft.put("query.limit", 5)
    draft.put("body.params.sort.offset", "b7")
    assert draft.query == {"limit": 5}
    assert draft.body == {
        "method": "Get",
        "params": {"typeName": "Device", "sort": {"offset": "b7"}},
    }
    with pytest.raises(ValueError, match=r"query\.<name> or body\.<path>"):
        draft.put("header.x", 1)


def test_seek_pagination_asks_after_the_last_key_until_a_short_page() -> None:
    style = SeekPagination(
        limit=2, limit_at="body.params.resultsLimit", after_at="body.params.from"
    )
    first = RequestDraft(body={})
    style.apply(PaginationState(), first)
    assert first.body == {"params": {"resultsLimit": 2}}
    state = style.advance(None, PaginationState(), [{"id": "b1"}, {"id": "b2"}])
    assert state is not None
    assert state.cursor == "b2"
    second = RequestDraft()
    style.apply(state, second)
    assert second.body == {"params": {"resultsLimit": 2, "from": "b2"}}
    assert style.advance(None, state, [{"id": "b3"}]) is None


def test_seek_pagination_refuses_a_key_seen_before() -> None:
    style = SeekPagination(limit=1, limit_at="query.limit", after_at="query.after")
    state = style.advance(None, PaginationState(), [{"id": "b1"}])
    assert state is not None
    with pytest.raises(PaginationError, match="repeated"):
        style.advance(None, state, [{"id": "b1"}])


def test_token_pagination_carries_a_version_from_each_answer_to_the_next_request() -> None:
    style = TokenPagination(
        limit=2,
        limit_at="body.params.resultsLimit",
        token_from="result.toVersion",
        token_at="body.params.fromVersion",
    )
    body = {"result": {"data": [1, 2], "toVersion": "000000000000000a"}}
    state = style.advance(body, PaginationState(), [1, 2])
    assert state is not None
    draft = RequestDraft()
    style.apply(state, draft)
    assert draft.body == {"params": {"resultsLimit": 2, "fromVersion": "000000000000000a"}}
    caught_up = {"result": {"data": [3], "toVersion": "000000000000000b"}}
    assert style.advance(caught_up, state, [3]) is None
    with pytest.raises(PaginationError, match=r"without a usable result\.toVersion"):
        style.advance({"result": {"data": [1, 2]}}, PaginationState(), [1, 2])


# -- cursor style, no I/O -------------------------------------------------------------------
def _cursor_body(cursor: str | None, has_next: bool) -> dict[str, Any]:
    return {"pagination": {"endCursor": cursor, "hasNextPage": has_next}}


def test_cursor_apply_sends_limit_always_and_after_from_the_second_page() -> None:
    style = CursorPagination(limit=10)
    first = RequestDraft()
    style.apply(PaginationState(), first)
    assert first.query == {"limit": 10}
    later = RequestDraft({"limit": "3"})  # a caller's own limit wins
    style.apply(PaginationState(cursor="c1"), later)
    assert later.query == {"limit": "3", "after": "c1"}


def test_cursor_advance_stops_on_the_flag_even_when_a_cursor_is_present() -> None:
    assert (
        CursorPagination().advance(_cursor_body("c9", False), PaginationState(), ITEM * 3) is None
    )


def test_cursor_advance_records_seen_cursors_and_continues_past_empty_pages() -> None:
    state = CursorPagination().advance(_cursor_body("c1", True), PaginationState(), [])
    assert state == PaginationState(cursor="c1", seen_cursors=frozenset({"c1"}), pages_fetched=1)


def test_cursor_advance_raises_on_a_repeated_cursor() -> None:
    seen = PaginationState(cursor="c1", seen_cursors=frozenset({"c1"}), pages_fetched=1)
    with pytest.raises(PaginationError, match="cursor repeated after 2 pages"):
        CursorPagination().advance(_cursor_body("c1", True), seen, ITEM)


@pytest.mark.parametrize("cursor", ["", None])
def test_cursor_advance_raises_when_next_page_has_no_cursor(cursor: str | None) -> None:
    with pytest.raises(PaginationError, match="hasNextPage is true but endCursor is empty"):
        CursorPagination().advance(_cursor_body(cursor, True), PaginationState(), ITEM)


def test_cursor_advance_rejects_a_non_boolean_flag() -> None:
    with pytest.raises(ResponseFormatError, match="hasNextPage is 'true'"):
        CursorPagination().advance({"pagination": {"hasNextPage": "true"}}, PaginationState(), ITEM)


# -- whole walks through the client, against a loopback server ------------------------------
CURSOR_ENDPOINT = EndpointDefinition(
    "sim", "gps", "/fleet/gps", items_key="data", pagination=CursorPagination(limit=2)
)
OFFSET_ENDPOINT = EndpointDefinition(
    "sim", "vehicles", "/v1/vehicles", items_key="vehicles", pagination=OffsetPagination(100)
)


def _cursor_pages(pages: dict[str | None, tuple[list[int], str | None, bool]]) -> Any:
    """A handler serving ``after`` → (items, endCursor, hasNextPage)."""

    def handler(request: SimRequest) -> SimResponse:
        items, cursor, has_next = pages[request.arg("after")]
        body = {"data": [{"id": i} for i in items], **_cursor_body(cursor, has_next)}
        return SimResponse.json(200, body)

    return handler


def test_cursor_walk_continues_through_an_empty_middle_page(serve: Serve, connect: Connect) -> None:
    server = serve(
        _cursor_pages(
            {
                None: ([1, 2], "c1", True),
                "c1": ([], "c2", True),
                "c2": ([3], "", False),
            }
        )
    )
    items = connect(server).fetch_all(CURSOR_ENDPOINT)
    assert [item["id"] for item in items] == [1, 2, 3]
    sent = server.requests("/fleet/gps")
    assert [r.query.get("after") for r in sent] == [None, ["c1"], ["c2"]]
    assert all(r.query["limit"] == ["2"] for r in sent)


def test_cursor_walk_stops_with_an_error_on_a_repeated_cursor(
    serve: Serve, connect: Connect
) -> None:
    server = serve(_cursor_pages({None: ([1], "c1", True), "c1": ([2], "c1", True)}))
    with pytest.raises(PaginationError, match="cursor repeated"):
        connect(server).fetch_all(CURSOR_ENDPOINT)
    assert len(server.requests()) == 2


def test_cursor_walk_stops_with_an_error_when_next_page_has_empty_cursor(
    serve: Serve, connect: Connect
) -> None:
    server = serve(_cursor_pages({None: ([1], "", True)}))
    with pytest.raises(PaginationError, match="endCursor is empty"):
        connect(server).fetch_all(CURSOR_ENDPOINT)
    assert len(server.requests()) == 1


def test_walk_stops_with_an_error_past_max_pages(serve: Serve, connect: Connect) -> None:
    def endless(request: SimRequest) -> SimResponse:
        n = int(request.arg("after") or 0) + 1
        return SimResponse.json(
            200, {"data": [{"id": n}], "pagination": {"endCursor": str(n), "hasNextPage": True}}
        )

    server = serve(endless)
    client = connect(server, max_pages=3)
    pages = client.iter_pages(CURSOR_ENDPOINT)
    for _ in range(3):
        next(pages)
    with pytest.raises(PaginationError, match="more than 3 pages"):
        next(pages)
    assert len(server.requests()) == 3


def _offset_server(total: int, cap: int, claimed_total: int | None = None) -> Any:
    """Motive-like: caps per_page at ``cap`` and echoes what it used."""

    def handler(request: SimRequest) -> SimResponse:
        page_no = int(request.arg("page_no") or 1)
        per_page = min(int(request.arg("per_page") or 25), cap)
        first = (page_no - 1) * per_page
        ids = range(first, min(first + per_page, total))
        block = {"page_no": page_no, "per_page": per_page, "total": claimed_total or total}
        return SimResponse.json(200, {"vehicles": [{"id": i} for i in ids], "pagination": block})

    return handler


def test_offset_walk_follows_the_page_size_the_server_echoes(
    serve: Serve, connect: Connect
) -> None:
    server = serve(_offset_server(total=120, cap=50))
    items = connect(server).fetch_all(OFFSET_ENDPOINT)
    assert [item["id"] for item in items] == list(range(120))
    sent = server.requests()
    assert [r.query["page_no"] for r in sent] == [["1"], ["2"], ["3"]]
    assert [r.query["per_page"] for r in sent] == [["100"], ["50"], ["50"]]


def test_offset_walk_stops_on_an_empty_page_past_the_end(serve: Serve, connect: Connect) -> None:
    # The server claims 1000 records but has only 60: page 4 (of 25) comes back empty.
    server = serve(_offset_server(total=60, cap=25, claimed_total=1000))
    items = connect(server).fetch_all(OFFSET_ENDPOINT)
    assert len(items) == 60
    assert [r.query["page_no"] for r in server.requests()] == [["1"], ["2"], ["3"], ["4"]]


def test_offset_walk_stops_with_an_error_past_max_pages(serve: Serve, connect: Connect) -> None:
    server = serve(_offset_server(total=10_000, cap=10))
    with pytest.raises(PaginationError, match="more than 5 pages"):
        connect(server, max_pages=5).fetch_all(OFFSET_ENDPOINT)
    assert len(server.requests()) == 5


# -- typed bodies: a caller's decoder makes Structs instead of dicts ------------------------
class CursorBlock(msgspec.Struct):
    # Fields named like the wire keys.
    hasNextPage: bool
    endCursor: str | None = None


class IdItem(msgspec.Struct):
    id: int


class CursorPage(msgspec.Struct):
    data: list[IdItem] | None
    pagination: CursorBlock


class OffsetBlock(msgspec.Struct):
    # Renamed fields: the walk reads them by their wire names.
    number: int = msgspec.field(name="page_no")
    size: int = msgspec.field(name="per_page")
    total: int = 0


class VehiclesPage(msgspec.Struct):
    vehicles: list[IdItem]
    pagination: OffsetBlock


class IdModel(BaseModel):
    id: int


def test_lookup_reads_mappings_struct_wire_names_and_attributes() -> None:
    assert lookup({"a": None}, "a") is None
    assert lookup({"a": 1}, "b") is MISSING
    block = OffsetBlock(number=2, size=50, total=7)
    assert (lookup(block, "page_no"), lookup(block, "per_page"), lookup(block, "total")) == (
        2,
        50,
        7,
    )
    assert lookup(block, "number") == 2  # the attribute name answers too
    assert lookup(block, "absent") is MISSING
    assert lookup(SimpleNamespace(data=[1]), "data") == [1]
    assert lookup(msgspec.defstruct("U", [("x", int, msgspec.UNSET)])(), "x") is MISSING
    for scalar in (None, "text", 3, [1]):
        assert lookup(scalar, "data") is MISSING


def test_cursor_and_offset_styles_advance_on_struct_bodies() -> None:
    body = CursorPage(data=[], pagination=CursorBlock(hasNextPage=True, endCursor="c1"))
    state = CursorPagination().advance(body, PaginationState(), [])
    assert state is not None
    assert state.cursor == "c1"
    page = VehiclesPage(vehicles=[IdItem(1)], pagination=OffsetBlock(number=1, size=1, total=3))
    assert OffsetPagination().advance(page, PaginationState(), 1) == PaginationState(
        page_no=2, page_size=1, pages_fetched=1
    )


def test_cursor_walk_over_struct_decoded_pages(serve: Serve, connect: Connect) -> None:
    server = serve(
        _cursor_pages(
            {
                None: ([1, 2], "c1", True),
                "c1": ([], "c2", True),
                "c2": ([3], "", False),
            }
        )
    )
    client = connect(server)
    pages = list(client.iter_pages(CURSOR_ENDPOINT, decoder=msgspec.json.Decoder(CursorPage)))
    assert all(isinstance(page.body, CursorPage) for page in pages)
    items = [item for page in pages for item in page.items]
    assert items == [IdItem(1), IdItem(2), IdItem(3)]
    assert [r.query.get("after") for r in server.requests("/fleet/gps")] == [None, ["c1"], ["c2"]]


def test_offset_walk_over_struct_decoded_pages(serve: Serve, connect: Connect) -> None:
    server = serve(_offset_server(total=120, cap=50))
    decoder = msgspec.json.Decoder(VehiclesPage)
    items = connect(server).fetch_all(OFFSET_ENDPOINT, decoder=decoder)
    assert items == [IdItem(i) for i in range(120)]
    assert [r.query["per_page"] for r in server.requests()] == [["100"], ["50"], ["50"]]


def test_a_plain_callable_decoder_is_used(serve: Serve, connect: Connect) -> None:
    server = serve(_offset_server(total=3, cap=50))
    items = connect(server).fetch_all(OFFSET_ENDPOINT, decoder=json.loads)
    assert items == [{"id": 0}, {"id": 1}, {"id": 2}]


def test_typed_items_validate_struct_items_through_their_wire_form(
    serve: Serve, connect: Connect
) -> None:
    endpoint = dataclasses.replace(OFFSET_ENDPOINT, item_model=IdModel)
    server = serve(_offset_server(total=2, cap=50))
    decoder = msgspec.json.Decoder(VehiclesPage)
    assert connect(server).fetch_all(endpoint, decoder=decoder) == [IdModel(id=0), IdModel(id=1)]


def _answer(body: bytes) -> Any:
    def handler(request: SimRequest) -> SimResponse:
        return SimResponse(200, body, {"Content-Type": "application/json"})

    return handler


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"data": [{"id": "x"}], "pagination": {"hasNextPage": false}}',
            r"returned an unexpected body \(Expected `int`, got `str` - at `\$\.data\[0\]\.id`\)",
        ),
        (b'{"data": []}', "unexpected body .*missing required field `pagination`"),
        (b'{"data": [', "returned invalid JSON"),
    ],
)
def test_a_body_that_does_not_fit_the_struct_is_a_one_line_format_error(
    serve: Serve, connect: Connect, body: bytes, message: str
) -> None:
    server = serve(_answer(body))
    with pytest.raises(ResponseFormatError, match=message) as caught:
        connect(server).fetch(CURSOR_ENDPOINT, decoder=msgspec.json.Decoder(CursorPage))
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("sim: GET /fleet/gps ")


def test_a_callable_decoders_value_error_is_a_format_error(serve: Serve, connect: Connect) -> None:
    server = serve(_answer(b"{not json"))
    with pytest.raises(ResponseFormatError, match="unexpected body"):
        connect(server).fetch(CURSOR_ENDPOINT, decoder=json.loads)


def test_a_sweep_walks_each_listing_to_its_end_as_one_walk(serve: Serve, connect: Connect) -> None:
    listings = {"active": [["a1", "a2"], ["a3"]], "retired": [[], ["r1"]]}

    def api(request: SimRequest) -> SimResponse:
        pages = listings[request.arg("status") or ""]
        index = int(request.arg("after") or 0)
        more = index + 1 < len(pages)
        return SimResponse.json(
            200,
            {
                "data": [{"id": i} for i in pages[index]],
                "pagination": {"endCursor": str(index + 1) if more else "", "hasNextPage": more},
            },
        )

    endpoint = EndpointDefinition(
        "t",
        "people",
        "/people",
        items_key="data",
        pagination=SweepPagination("status", ("active", "retired"), CursorPagination(limit=2)),
    )
    server = serve(api)
    items = connect(server).fetch_all(endpoint)
    assert [i["id"] for i in items] == ["a1", "a2", "a3", "r1"]
    asked = [(r.query["status"][0], r.query.get("after", [None])[0]) for r in server.requests()]
    assert asked == [("active", None), ("active", "1"), ("retired", None), ("retired", "1")]


# -- split style: a silently capped search over a time range -----------------------------------
SPLIT = SplitPagination(
    limit=3,
    limit_at="body.limit",
    from_at="body.search.fromDate",
    to_at="body.search.toDate",
)
SPLIT_ENDPOINT = EndpointDefinition(
    "acme",
    "records",
    "/records",
    "records in a time range, at most 3 an answer, silently",
    method="POST",
    params=(
        ParamSpec("from_date", ParamKind.DATETIME, api_name="search.fromDate", location="body"),
        ParamSpec("to_date", ParamKind.DATETIME, api_name="search.toDate", location="body"),
    ),
    pagination=SPLIT,
    items_key="result",
)


def _draft(low: str, high: str) -> RequestDraft:
    return RequestDraft(body={"search": {"fromDate": low, "toDate": high}})


def test_split_asks_a_truncated_range_again_as_two_halves_that_do_not_overlap() -> None:
    state = SPLIT.advance({}, PaginationState(), ITEM * 3)
    assert state is not None
    assert state.supersedes
    assert state.ranges == ("0", "1")
    halves = []
    for part in state.ranges:
        draft = _draft("2026-03-02T00:00:00Z", "2026-03-02T00:00:01Z")
        SPLIT.apply(dataclasses.replace(state, ranges=(part,)), draft)
        assert draft.body is not None
        halves.append((draft.body["search"]["fromDate"], draft.body["search"]["toDate"]))
    assert halves == [
        ("2026-03-02T00:00:00.000Z", "2026-03-02T00:00:00.499Z"),
        ("2026-03-02T00:00:00.500Z", "2026-03-02T00:00:01.000Z"),
    ]


def test_split_moves_to_the_next_part_after_a_complete_answer_and_ends_after_the_last() -> None:
    state = SPLIT.advance({}, PaginationState(ranges=("0", "1")), ITEM * 2)
    assert state == PaginationState(ranges=("1",), pages_fetched=1)
    assert SPLIT.advance({}, PaginationState(ranges=("1",)), ITEM) is None


def test_split_refuses_a_range_it_cannot_read_or_split() -> None:
    with pytest.raises(PaginationError, match="needs toDate"):
        SPLIT.apply(
            PaginationState(), RequestDraft(body={"search": {"fromDate": "2026-03-02T00:00:00Z"}})
        )
    with pytest.raises(PaginationError, match=r"ends .* before it starts"):
        SPLIT.apply(PaginationState(), _draft("2026-03-02T01:00:00Z", "2026-03-02T00:00:00Z"))
    one_instant = _draft("2026-03-02T00:00:00Z", "2026-03-02T00:00:00Z")
    with pytest.raises(PaginationError, match=r"more than 3 records at 2026-03-02T00:00:00\.000Z"):
        SPLIT.apply(PaginationState(ranges=("1",)), one_instant)


def _capped_search(times_ms: list[int], cap: int) -> Any:
    """A handler answering the records whose time (ms from 2026-03-02) lies in the inclusive
    range asked, in no particular order, and at most ``cap`` of them, silently."""
    origin = datetime(2026, 3, 2, tzinfo=UTC)

    def handler(request: SimRequest) -> SimResponse:
        search = request.json()["search"]
        low, high = (parse_utc(search[key]) for key in ("fromDate", "toDate"))
        found = [
            {"id": n, "ms": ms}
            for n, ms in enumerate(times_ms)
            if low <= origin + timedelta(milliseconds=ms) <= high
        ]
        found.reverse()
        return SimResponse.json(200, {"result": found[: min(cap, request.json()["limit"])]})

    return handler


def test_a_split_walk_returns_every_record_once_however_the_server_caps(
    serve: Serve, connect: Connect
) -> None:
    times = [0, 1, 1, 2, 500, 999, 1000, 1000, 1001, 59_999, 60_000, 60_000]
    server = serve(_capped_search(times, cap=3))
    params = {"from_date": "2026-03-02T00:00:00Z", "to_date": "2026-03-02T00:01:00Z"}
    items = connect(server).fetch_all(SPLIT_ENDPOINT, params)
    assert sorted(item["id"] for item in items) == list(range(len(times)))
    # The full answers were asked again in halves; none of their records came twice.
    assert len(server.requests()) > 1


def test_a_split_walk_stops_at_more_records_in_one_millisecond_than_the_cap(
    serve: Serve, connect: Connect
) -> None:
    server = serve(_capped_search([5, 5, 5, 5], cap=3))
    params = {"from_date": "2026-03-02T00:00:00Z", "to_date": "2026-03-02T00:00:01Z"}
    with pytest.raises(PaginationError, match="cannot be split"):
        connect(server).fetch_all(SPLIT_ENDPOINT, params)
    assert len(server.requests()) <= 15  # about log2(1001 ms) halvings, then it stops
