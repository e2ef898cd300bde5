"""Page walks: where a walk stands (:class:`PaginationState`) and the styles providers use.

* :class:`OffsetPagination` — ``page_no`` / ``per_page`` requests, and a ``pagination`` block in
  the body echoing ``page_no``, ``per_page`` and ``total`` (Motive). The walk uses the page size
  the *server* echoes, so a server that caps ``per_page`` below what we asked still pages right,
  and ``total`` is re-read on every page so drift while walking corrects itself.
* :class:`CursorPagination` — ``limit`` on every request, ``after=<endCursor>`` from the second
  page on, until ``hasNextPage`` is false (Samsara). Empty pages with ``hasNextPage: true`` are
  walked through; a cursor seen twice is an error rather than an endless loop.
* :class:`SeekPagination` — sort by a key and ask for the records after the last one seen,
  in the query or the JSON body (Geotab's ``Get`` with ``sort.offset``); a short page ends it.
* :class:`TokenPagination` — a token read from the answer goes into the next request (a feed's
  ``toVersion`` → ``fromVersion``); a short page ends it.
* :class:`SplitPagination` — for searches that cap their answer silently and cannot be paged
  (Geotab's ``Get`` of records in a time range): an answer as long as the cap is not taken, and
  its range is asked again in two halves, until every answer is shorter than the cap.

A style never performs I/O: it writes its parameters into a :class:`RequestDraft` (query or
body) and reads the next state from a decoded body and its items, so it is tested without a
server and shared by every endpoint that pages alike. The body may be plain JSON (dicts) or
typed (a ``msgspec.Struct`` decoded by a caller's decoder): :func:`lookup` reads a wire key
from either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, Final, Protocol

import msgspec

from fth_core.errors import PaginationError, ResponseFormatError

__all__ = [
    "MISSING",
    "CursorPagination",
    "OffsetPagination",
    "Pagination",
    "PaginationState",
    "RequestDraft",
    "SeekPagination",
    "SplitPagination",
    "SweepPagination",
    "TokenPagination",
    "dig",
    "lookup",
    "lookup_each",
]

MISSING: Final[Any] = object()
"""What :func:`lookup` returns for a key the value does not have."""

_STRUCT_NAMES: dict[type[msgspec.Struct], dict[str, str]] = {}


def _attribute(struct: type[msgspec.Struct], key: str) -> str:
    """The attribute of ``struct`` holding wire key ``key`` (its ``rename``/``field(name=)``)."""
    names = _STRUCT_NAMES.get(struct)
    if names is None:
        names = {f.encode_name: f.name for f in msgspec.structs.fields(struct)}
        _STRUCT_NAMES[struct] = names
    return names.get(key, key)


def lookup(value: Any, key: str) -> Any:
    """``value``'s wire key ``key``, from a mapping or an object's attributes; :data:`MISSING`
    when absent (``msgspec.UNSET`` counts as absent).

    A ``msgspec.Struct`` is read by encoded name, so ``end_cursor: str =
    msgspec.field(name="endCursor")`` answers ``"endCursor"`` just as a field named so does.
    Strings, numbers and lists have no keys.
    """
    if isinstance(value, Mapping):
        return value.get(key, MISSING)
    if isinstance(value, msgspec.Struct):
        found = getattr(value, _attribute(type(value), key), MISSING)
    elif value is None or isinstance(value, str | int | float | list | tuple):
        return MISSING
    else:
        found = getattr(value, key, MISSING)
    return MISSING if found is msgspec.UNSET else found


def lookup_each(values: list[Any], key: str) -> list[Any]:
    """:func:`lookup` of ``key`` in each of ``values``.

    A typed decoder yields a list of one Struct type: the attribute is then resolved once and
    read in C (``map`` + ``attrgetter``), not per item — this is the bulk path's unwrapping
    of every GPS point. Anything else is read item by item.
    """
    first = values[0] if values else None
    if isinstance(first, msgspec.Struct):
        try:
            found = list(map(attrgetter(_attribute(type(first), key)), values))
        except AttributeError:
            pass  # not all of one type after all
        else:
            if msgspec.UNSET not in found:
                return found
    return [lookup(value, key) for value in values]


def dig(value: Any, path: str) -> Any:
    """The value at dotted ``path`` (``"result.data"``) of a decoded body; :data:`MISSING`
    when any step is absent."""
    for key in path.split("."):
        value = lookup(value, key)
        if value is MISSING:
            return MISSING
    return value


@dataclass
class RequestDraft:
    """The parts of a request a pagination style may write: the query and the JSON body.

    :meth:`put` takes a target ``"query.<name>"`` or ``"body.<dotted.path>"``.
    """

    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def put(self, target: str, value: Any) -> None:
        where, _, path = target.partition(".")
        if where == "query" and path:
            self.query[path] = value
            return
        if where != "body" or not path:
            raise ValueError(f"{target!r}: a target is query.<name> or body.<path>")
        node = self.body if self.body is not None else {}
        self.body = node
        *parents, last = path.split(".")
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[last] = value

    def get(self, target: str) -> Any:
        """The value at ``target`` (as :meth:`put` takes it); :data:`MISSING` when absent."""
        where, _, path = target.partition(".")
        if where == "query" and path:
            return self.query.get(path, MISSING)
        if where != "body" or not path:
            raise ValueError(f"{target!r}: a target is query.<name> or body.<path>")
        return MISSING if self.body is None else dig(self.body, path)


@dataclass(frozen=True)
class PaginationState:
    """Where a page walk stands: the next page to request, and what has been seen so far.

    ``page_no`` and ``page_size`` serve offset walks; ``cursor`` and ``seen_cursors`` the
    walks that carry a token from one answer to the next request (cursors, seek keys, feed
    versions); ``ranges`` the parts of a search still to ask (:class:`SplitPagination`);
    ``pages_fetched`` guards every walk against running away.
    """

    page_no: int = 1
    page_size: int | None = None
    cursor: str | None = None
    seen_cursors: frozenset[str] = field(default_factory=frozenset)
    pages_fetched: int = 0
    sweep: int = 0  # SweepPagination: index of the listing being walked
    ranges: tuple[str, ...] = ()  # SplitPagination: the parts still to ask, the current first
    supersedes: bool = False  # the page just read is asked again in parts: drop its items


class Pagination(Protocol):
    """What the client needs from a pagination style."""

    def apply(self, state: PaginationState, request: RequestDraft) -> None:
        """Write this page's paging parameters into ``request`` (in place)."""

    def advance(
        self, body: Any, state: PaginationState, items: Sequence[Any]
    ) -> PaginationState | None:
        """Read the next state from a decoded page body and its raw ``items``; ``None`` when
        the walk is complete."""


def _dig(body: Any, path: tuple[str, ...], what: str) -> Any:
    value = body
    for key in path:
        value = lookup(value, key)
        if value is MISSING:
            raise ResponseFormatError(f"response has no {'.'.join(path)} ({what})")
    return value


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResponseFormatError(f"pagination.{name} is {value!r}, expected an integer")
    return value


@dataclass(frozen=True)
class OffsetPagination:
    """1-based page numbers with a server-echoed ``{per_page, page_no, total}`` block."""

    page_size: int = 100
    page_param: str = "page_no"
    size_param: str = "per_page"
    block: str = "pagination"

    def apply(self, state: PaginationState, request: RequestDraft) -> None:
        request.query[self.page_param] = state.page_no
        request.query[self.size_param] = state.page_size or self.page_size

    def advance(
        self, body: Any, state: PaginationState, items: Sequence[Any]
    ) -> PaginationState | None:
        block = _dig(body, (self.block,), "offset pagination block")
        per_page = _as_int(_dig(block, (self.size_param,), "page size"), self.size_param)
        page_no = _as_int(_dig(block, (self.page_param,), "page number"), self.page_param)
        total = _as_int(_dig(block, ("total",), "record count"), "total")
        if per_page <= 0:
            raise ResponseFormatError(f"pagination.{self.size_param} is {per_page}")
        # A server that answers another page than the one asked for (one that ignores the
        # page number and echoes the same page) would be walked for ever.
        if page_no != state.page_no:
            raise PaginationError(
                f"asked for page {state.page_no}, the answer says page {page_no}; stopping the walk"
            )
        # An empty page means we are past the end even if `total` grew meanwhile.
        if not items or page_no * per_page >= total:
            return None
        return replace(
            state,
            page_no=page_no + 1,
            page_size=per_page,
            pages_fetched=state.pages_fetched + 1,
        )


@dataclass(frozen=True)
class CursorPagination:
    """Opaque cursors: ``after=<endCursor>`` until ``hasNextPage`` is false."""

    limit: int | None = 512
    cursor_param: str = "after"
    limit_param: str = "limit"
    block: str = "pagination"
    cursor_key: str = "endCursor"
    has_next_key: str = "hasNextPage"

    def apply(self, state: PaginationState, request: RequestDraft) -> None:
        if self.limit is not None:
            request.query.setdefault(self.limit_param, self.limit)
        if state.cursor is not None:
            request.query[self.cursor_param] = state.cursor

    def advance(
        self, body: Any, state: PaginationState, items: Sequence[Any]
    ) -> PaginationState | None:
        block = _dig(body, (self.block,), "cursor pagination block")
        has_next = _dig(block, (self.has_next_key,), "has-next flag")
        if not isinstance(has_next, bool):
            raise ResponseFormatError(f"pagination.{self.has_next_key} is {has_next!r}")
        # Stop on the flag, never on the cursor: a last page may still carry a cursor.
        if not has_next:
            return None
        cursor = lookup(block, self.cursor_key)
        if not isinstance(cursor, str) or not cursor:
            raise PaginationError(f"{self.has_next_key} is true but {self.cursor_key} is empty")
        if cursor in state.seen_cursors:
            raise PaginationError(
                f"cursor repeated after {state.pages_fetched + 1} pages; stopping the walk"
            )
        return replace(
            state,
            cursor=cursor,
            seen_cursors=state.seen_cursors | {cursor},
            pages_fetched=state.pages_fetched + 1,
        )


@dataclass(frozen=True)
class SweepPagination:
    """One page walk over several listings of an endpoint: the ``inner`` walk runs once for
    each value of ``param``, in order, and the pages follow each other as one walk.

    For APIs whose default listing hides records and that accept no "all" value — Samsara's
    ``/fleet/drivers`` lists active drivers unless asked ``driverActivationStatus=deactivated``.
    """

    param: str
    values: tuple[str, ...]
    inner: Pagination = field(default_factory=CursorPagination)

    def apply(self, state: PaginationState, request: RequestDraft) -> None:
        request.query[self.param] = self.values[state.sweep]
        self.inner.apply(state, request)

    def advance(
        self, body: Any, state: PaginationState, items: Sequence[Any]
    ) -> PaginationState | None:
        following = self.inner.advance(body, state, items)
        if following is not None or state.sweep + 1 >= len(self.values):
            return following
        # The next listing starts its own walk from the first page.
        return PaginationState(sweep=state.sweep + 1, pages_fetched=state.pages_fetched + 1)


def _next_token(state: PaginationState, token: Any, what: str) -> PaginationState:
    if not isinstance(token, str | int) or isinstance(token, bool) or token == "":
        raise PaginationError(f"a full page without a usable {what} ({token!r})")
    text = str(token)
    if text in state.seen_cursors:
        raise PaginationError(f"{what} repeated after {state.pages_fetched + 1} pages; stopping")
    return replace(
        state,
        cursor=text,
        seen_cursors=state.seen_cursors | {text},
        pages_fetched=state.pages_fetched + 1,
    )


@dataclass(frozen=True)
class SeekPagination:
    """Records sorted by ``key``; each page asks for those after the last one seen.

    ``limit`` goes to ``limit_at`` and the last item's ``key`` to ``after_at`` (targets as in
    :meth:`RequestDraft.put`). A page shorter than ``limit`` is the last — so ``limit`` must
    not exceed what the server returns at most, or a silently capped page would end the walk
    early. A key seen twice is an error.
    """

    limit: int
    limit_at: str
    after_at: str
    key: str = "id"

    def apply(self, state: PaginationState, request: RequestDraft) -> None:
        request.put(self.limit_at, self.limit)
        if state.cursor is not None:
            request.put(self.after_at, state.cursor)

    def advance(
        self, body: Any, state: PaginationState, items: Sequence[Any]
    ) -> PaginationState | None:
        if len(items) < self.limit:
            return None
        return _next_token(state, lookup(items[-1], self.key), f"sort key {self.key!r}")


@dataclass(frozen=True)
class TokenPagination:
    """A token read at dotted ``token_from`` of each answer goes to ``token_at`` of the next
    request (a feed's ``toVersion`` → ``fromVersion``); ``limit`` goes to ``limit_at``. A
    page shorter than ``limit`` is the last (the feed has caught up)."""

    limit: int
    limit_at: str
    token_from: str
    token_at: str

    def apply(self, state: PaginationState, request: RequestDraft) -> None:
        request.put(self.limit_at, self.limit)
        if state.cursor is not None:
            request.put(self.token_at, state.cursor)

    def advance(
        self, body: Any, state: PaginationState, items: Sequence[Any]
    ) -> PaginationState | None:
        if len(items) < self.limit:
            return None
        return _next_token(state, dig(body, self.token_from), self.token_from)


_MS = timedelta(milliseconds=1)
_SPLIT_DEPTH = 64  # halvings; a millisecond is reached long before (2**42 ms is 139 years)


@dataclass(frozen=True)
class SplitPagination:
    """A search over an inclusive time range ``[from, to]`` whose answer the server cuts at
    ``limit`` without saying so, and that offers no way to ask for the rest (Geotab's ``Get``
    of LogRecords, StatusData or DriverChanges: at most 5,000, no sort to seek by).

    ``limit`` goes to ``limit_at``; the range is read from the request's ``from_at`` and
    ``to_at`` (ISO-8601 values the endpoint's parameters wrote; targets as in
    :meth:`RequestDraft.put`). An answer with ``limit`` items or more may be truncated: its
    items are not kept (the next state :attr:`~PaginationState.supersedes` the page) and its
    range is asked again as two halves, ``[from, mid - 1 ms]`` and ``[mid, to]`` (split at a
    millisecond, so that no record is asked twice). An answer shorter than ``limit`` is
    complete, so ``limit`` must not exceed what the server returns at most. More than
    ``limit`` records at one same millisecond cannot be split: the walk ends with
    :class:`PaginationError`.

    Parts are named by their path of halvings from the whole range (``"01"``: the second half
    of the first half), so the state holds no times.
    """

    limit: int
    limit_at: str
    from_at: str
    to_at: str

    def apply(self, state: PaginationState, request: RequestDraft) -> None:
        request.put(self.limit_at, self.limit)
        low, high = self._range(request)
        for half in state.ranges[0] if state.ranges else "":
            if low == high:
                raise PaginationError(
                    f"more than {self.limit} records at {_iso(low)}: the search cannot be split"
                )
            middle = low + ((high - low) // _MS + 1) // 2 * _MS
            low, high = (low, middle - _MS) if half == "0" else (middle, high)
        request.put(self.from_at, _iso(low))
        request.put(self.to_at, _iso(high))

    def advance(
        self, body: Any, state: PaginationState, items: Sequence[Any]
    ) -> PaginationState | None:
        current, *rest = state.ranges or ("",)
        if len(items) >= self.limit:
            if len(current) >= _SPLIT_DEPTH:
                raise PaginationError(f"split {_SPLIT_DEPTH} times and still full; stopping")
            following = replace(state, ranges=(current + "0", current + "1", *rest))
            return replace(following, supersedes=True, pages_fetched=state.pages_fetched + 1)
        if not rest:
            return None
        return PaginationState(ranges=tuple(rest), pages_fetched=state.pages_fetched + 1)

    def _range(self, request: RequestDraft) -> tuple[datetime, datetime]:
        bounds = []
        for target in (self.from_at, self.to_at):
            value = request.get(target)
            if not isinstance(value, str):
                raise PaginationError(f"a split search needs {target.rsplit('.', 1)[-1]}")
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise PaginationError(f"{value!r} is not an ISO-8601 date-time") from None
            if moment.tzinfo is None:
                raise PaginationError(f"{value!r} has no time zone")
            bounds.append(moment.astimezone(UTC))
        low, high = bounds
        if high < low:
            raise PaginationError(f"the search ends ({_iso(high)}) before it starts ({_iso(low)})")
        return low, high


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
