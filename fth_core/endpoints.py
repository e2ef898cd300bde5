"""Layer 1: self-describing endpoint definitions.

An :class:`EndpointDefinition` says everything the client needs to call one API endpoint and
read its answer: method, path, parameters (:class:`ParamSpec`, with how each is serialised and
whether it goes in the path, the query or the JSON body), a body template (a JSON-RPC call's
method and type), pagination style, where the items sit in the answer (a dotted path such as
``result.data``) and which pydantic model types them. Building a request
(:meth:`EndpointDefinition.build_request`) and reading a page
(:meth:`EndpointDefinition.parse_response`) are pure functions of the definition, so every
endpoint of every plugin is checked by the same code without a server.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import msgspec
from pydantic import BaseModel, TypeAdapter, ValidationError

from fth_core.errors import ParameterError, ResponseFormatError
from fth_core.pagination import (
    MISSING,
    Pagination,
    PaginationState,
    RequestDraft,
    dig,
    lookup_each,
)

__all__ = [
    "EndpointDefinition",
    "ParamKind",
    "ParamSpec",
    "ParsedResponse",
    "RequestSpec",
    "format_utc",
    "human_time",
    "parse_utc",
]


class ParamKind(StrEnum):
    """How a parameter value is checked and written on the wire."""

    STR = "str"
    INT = "int"
    BOOL = "bool"
    DATE = "date"  # YYYY-MM-DD
    DATETIME = "datetime"  # RFC 3339 in UTC with a Z suffix
    EPOCH_MS = "epoch_ms"  # integer milliseconds since the Unix epoch
    LIST = "list"  # of strings


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_utc(value: str | datetime) -> datetime:
    """A timezone-aware UTC datetime from a datetime or an ISO-8601 string.

    Naive values are refused rather than guessed: a wrong guess shifts a whole window.
    """
    if not isinstance(value, str | datetime):
        raise TypeError(f"expected an ISO-8601 date-time, got {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO-8601 date-time") from None
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()} has no time zone; give one (e.g. a Z suffix)")
    return value.astimezone(UTC)


def _instant(value: Any) -> datetime:
    """:func:`parse_utc`, taking a plain date (``2026-03-02``, or a ``date``) as its midnight
    UTC, as ``fth run --start`` does: a date names no instant but its start, unambiguously."""
    if isinstance(value, date) and not isinstance(value, datetime):
        value = value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        value = value.strip() + "T00:00:00Z"
    return parse_utc(value)


def human_time(value: str | datetime) -> str:
    """A time as every human-facing line shows it: ISO-8601 in UTC, to the second, with ``Z``
    (``2026-03-02T00:00:00Z``): one form in summaries, progress, status and errors alike."""
    return f"{parse_utc(value):%Y-%m-%dT%H:%M:%SZ}"


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; milliseconds only when the value has a fraction."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ParamSpec:
    """One request parameter: its Python name, the API's name, where it goes, how it is written.

    ``name`` is snake_case (what Python callers and ``fth fetch -p`` use); ``api_name`` is what
    the provider expects on the wire (defaults to ``name``; for a ``body`` parameter, a dotted
    path into the JSON body such as ``params.search.fromDate``). ``example`` is a valid value
    the conformance kit uses to build a request when the parameter is required.
    """

    name: str
    kind: ParamKind = ParamKind.STR
    api_name: str | None = None
    location: str = "query"  # "query", "path" or "body"
    required: bool = False
    default: Any = None
    description: str = ""
    choices: tuple[str, ...] | None = None
    max_items: int | None = None
    repeat: bool = False  # LIST only: repeat the key per value instead of comma-joining
    example: Any = None

    @property
    def wire_name(self) -> str:
        return self.api_name or self.name

    def serialize(self, value: Any) -> str | list[str]:
        """The wire form of ``value``; raises :class:`ParameterError` with a readable reason."""
        try:
            text = self._serialize(value)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"parameter {self.name}: {exc}") from None
        if isinstance(text, list):
            values = text
        else:  # a comma-joined list is checked value by value
            values = text.split(",") if self.kind is ParamKind.LIST else [text]
        if self.choices is not None:
            bad = [v for v in values if v not in self.choices]
            if bad:
                raise ParameterError(
                    f"parameter {self.name}: {bad[0]!r} is not one of {', '.join(self.choices)}"
                )
        return text

    def json_value(self, wire: str | list[str]) -> Any:
        """The JSON form of a serialised value, for the body: integers and booleans as JSON
        numbers and booleans, lists as arrays, the rest as text."""
        if self.kind is ParamKind.INT or self.kind is ParamKind.EPOCH_MS:
            return int(str(wire))
        if self.kind is ParamKind.BOOL:
            return wire == "true"
        if self.kind is ParamKind.LIST:
            return wire if isinstance(wire, list) else wire.split(",")
        return wire

    def _serialize(self, value: Any) -> str | list[str]:
        kind = self.kind
        if kind is ParamKind.STR:
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise TypeError(f"expected text, got {type(value).__name__}")
            return str(value)
        if kind is ParamKind.INT:
            if isinstance(value, bool):
                raise TypeError("expected an integer, got a boolean")
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"expected an integer, got {value}")
            return str(int(value))
        if kind is ParamKind.BOOL:
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower()
            if not isinstance(value, bool):
                raise TypeError(f"expected true or false, got {value!r}")
            return "true" if value else "false"
        if kind is ParamKind.DATE:
            if isinstance(value, datetime):
                return parse_utc(value).date().isoformat()
            if isinstance(value, date):
                return value.isoformat()
            return date.fromisoformat(str(value)).isoformat()
        if kind is ParamKind.DATETIME:
            return format_utc(_instant(value))
        if kind is ParamKind.EPOCH_MS:
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
            # Integer arithmetic: timestamp() * 1000 in floats can lose a millisecond.
            return str((_instant(value) - _EPOCH) // timedelta(milliseconds=1))
        # LIST
        items = value.split(",") if isinstance(value, str) else list(value)
        items = [str(item).strip() for item in items if str(item).strip()]
        if not items:
            raise ValueError("expected at least one value")
        if self.max_items is not None and len(items) > self.max_items:
            raise ValueError(f"at most {self.max_items} values, got {len(items)}")
        return items if self.repeat else ",".join(items)


@dataclass(frozen=True)
class RequestSpec:
    """A fully built request, relative to the provider's base URL.

    ``params`` is the query, ``body`` a JSON value sent as the request body (``None``: no
    body), ``scope`` the quota scope it is charged to (``None``: the provider's quota only).
    As built from an endpoint it holds no secrets; :mod:`fth_core.auth` signs a copy just
    before sending, and ``repr`` never shows the body or headers.
    """

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: Any = field(default=None, repr=False)
    scope: str | None = None

    def describe(self) -> str:
        """``GET /path?a=1`` — for logs and error messages."""
        if not self.params:
            return f"{self.method} {self.path}"
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"{self.method} {self.path}?{query}"

    def with_headers(self, headers: Mapping[str, str]) -> RequestSpec:
        """A copy with ``headers`` set (replacing those of the same name, in any case)."""
        merged = {k.lower(): (k, v) for k, v in self.headers}
        merged.update({k.lower(): (k, v) for k, v in headers.items()})
        return replace(self, headers=tuple(merged.values()))

    def with_body_value(self, path: str, value: Any) -> RequestSpec:
        """A copy whose JSON body holds ``value`` at dotted ``path`` (the body is copied: a
        built request may be sent again)."""
        draft = RequestDraft(body=copy.deepcopy(self.body) if self.body is not None else None)
        draft.put(f"body.{path}", value)
        return replace(self, body=draft.body)


@dataclass(frozen=True)
class ParsedResponse:
    """One decoded page: its items (typed when the endpoint has a model) and what comes next.

    ``next_state`` is ``None`` when this was the last page. ``body`` is the decoded JSON.
    """

    items: list[Any]
    next_state: PaginationState | None
    body: Any = None

    @property
    def item_count(self) -> int:
        return len(self.items)

    @property
    def has_more(self) -> bool:
        """Whether another page follows."""
        return self.next_state is not None


_PATH_FIELD = re.compile(r"{(\w+)}")
_PATH_SPLIT = re.compile(r"({\w+})")


@dataclass(frozen=True)
class EndpointDefinition:
    """Everything needed to call one endpoint and read its pages.

    ``items_key`` is the dotted path of the list in the answer (``"vehicles"``,
    ``"result.data"``; ``None``: the answer is the list); ``item_wrapper`` unwraps
    Motive-style ``[{"vehicle": {...}}]`` records. A ``null`` list reads as empty. ``body`` is
    the JSON body every request starts from (a JSON-RPC call's method and type), ``body``
    parameters and pagination fill it in. ``rate_limit`` (requests/s) is an endpoint-specific
    tier enforced inside the provider quota; ``scope`` names the quota scope of the
    provider's (:attr:`~fth_core.spec.ProviderSpec.scopes`) its requests are charged to.
    """

    provider: str
    name: str
    path: str
    description: str = ""
    params: tuple[ParamSpec, ...] = ()
    method: str = "GET"
    pagination: Pagination | None = None
    items_key: str | None = None
    item_wrapper: str | None = None
    item_model: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limit: float | None = None
    body: Mapping[str, Any] | None = None
    scope: str | None = None

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.provider}.{self.name}: duplicate parameter names")
        path_fields = set(_PATH_FIELD.findall(self.path))
        path_params = {p.wire_name for p in self.params if p.location == "path"}
        if path_fields != path_params:
            raise ValueError(
                f"{self.provider}.{self.name}: path fields {sorted(path_fields)} do not match "
                f"path parameters {sorted(path_params)}"
            )

    @property
    def key(self) -> str:
        return f"{self.provider}.{self.name}"

    def param(self, name: str) -> ParamSpec | None:
        """The parameter called ``name`` in Python or on the wire."""
        for spec in self.params:
            if name in (spec.name, spec.wire_name):
                return spec
        return None

    def matches_path(self, path: str) -> bool:
        """Whether a concrete path (``/v3/vehicle_locations/12``) is this endpoint's."""
        pattern = "".join(
            "[^/]+" if _PATH_FIELD.fullmatch(part) else re.escape(part)
            for part in _PATH_SPLIT.split(self.path)
        )
        concrete = path.split("?", 1)[0].rstrip("/") or "/"
        return re.fullmatch(pattern, concrete, flags=re.IGNORECASE) is not None

    def build_request(
        self,
        params: Mapping[str, Any] | None = None,
        state: PaginationState | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RequestSpec:
        """The request for one page. Unknown, missing or ill-typed parameters raise
        :class:`ParameterError` naming the parameter; ``None`` values count as not given."""
        given = {k: v for k, v in (params or {}).items() if v is not None}
        resolved: dict[str, tuple[ParamSpec, Any]] = {}
        for key, value in given.items():
            spec = self.param(key)
            if spec is None:
                known = ", ".join(p.name for p in self.params) or "none"
                raise ParameterError(f"{self.key} has no parameter {key!r} (known: {known})")
            resolved[spec.name] = (spec, value)
        missing = []  # every one named at once: a fix-one-rerun-repeat loop helps nobody
        for spec in self.params:
            if spec.name not in resolved:
                if spec.default is not None:
                    resolved[spec.name] = (spec, spec.default)
                elif spec.required:
                    missing.append(repr(spec.name))
        if missing:
            raise ParameterError(
                f"{self.key} needs parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            )
        path = self.path
        draft = RequestDraft(body=copy.deepcopy(dict(self.body)) if self.body is not None else None)
        for spec, value in resolved.values():
            wire = spec.serialize(value)
            if spec.location == "path":
                path = path.replace("{" + spec.wire_name + "}", quote(str(wire), safe=""))
            elif spec.location == "body":
                draft.put(f"body.{spec.wire_name}", spec.json_value(wire))
            else:
                draft.query[spec.wire_name] = wire
        if self.pagination is not None:
            self.pagination.apply(state or PaginationState(), draft)
        pairs: list[tuple[str, str]] = []
        for key, value in draft.query.items():
            if isinstance(value, list):
                pairs.extend((key, v) for v in value)
            else:
                pairs.append((key, str(value)))
        request = RequestSpec(self.method, path, tuple(pairs), (), draft.body, self.scope)
        # Per-request headers (e.g. Motive's per-vehicle X-Metric-Units) replace static ones.
        return request.with_headers({**self.headers}).with_headers(headers or {})

    def extract_items(self, body: Any) -> list[Any]:
        """The raw items of a decoded page (unwrapped, ``null`` as empty): dicts, or whatever a
        caller's typed decoder made of them (keys are read with
        :func:`~fth_core.pagination.lookup`, from mappings or attributes)."""
        if self.items_key is None:
            raw = body
        else:
            raw = dig(body, self.items_key)
            if raw is MISSING:
                raise ResponseFormatError(f"{self.key}: response has no {self.items_key!r} list")
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise ResponseFormatError(f"{self.key}: {self.items_key!r} is not a list")
        if self.item_wrapper is None:
            return raw
        wrapper = self.item_wrapper
        items = lookup_each(raw, wrapper)
        if any(item is MISSING for item in items):
            raise ResponseFormatError(f"{self.key}: records are not wrapped in {wrapper!r}")
        return items

    def parse_response(
        self, body: Any, state: PaginationState | None = None, *, typed: bool = True
    ) -> ParsedResponse:
        """Items and next state from a decoded page body.

        With ``typed`` and an ``item_model`` the items are validated models; a record that does
        not fit raises :class:`ResponseFormatError` naming the field.
        """
        raw = self.extract_items(body)
        items: list[Any] = raw
        if typed and self.item_model is not None:
            # Items a typed decoder made (Structs) go back to their wire form for the model.
            plain = msgspec.to_builtins(raw) if _structs(raw) else raw
            try:
                items = _adapter(self.item_model).validate_python(plain)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                raise ResponseFormatError(f"{self.key}: item {where}: {first['msg']}") from None
        next_state = None
        if self.pagination is not None:
            next_state = self.pagination.advance(body, state or PaginationState(), raw)
            if next_state is not None and next_state.supersedes:
                items = []  # a truncated answer, asked again in parts
        return ParsedResponse(items=items, next_state=next_state, body=body)

    def describe(self) -> dict[str, Any]:
        """A plain-data description (for ``fth endpoints`` and docs)."""
        return {
            "provider": self.provider,
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "description": self.description,
            "paginated": type(self.pagination).__name__ if self.pagination else None,
            "params": [
                {
                    "name": p.name,
                    "api_name": p.wire_name,
                    "type": p.kind.value,
                    "in": p.location,
                    "required": p.required,
                    "default": p.default,
                    "description": p.description,
                }
                for p in self.params
            ],
        }


def _structs(items: list[Any]) -> bool:
    return any(isinstance(item, msgspec.Struct) for item in items)


_ADAPTERS: dict[type[BaseModel], TypeAdapter[list[Any]]] = {}


def _adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    # Building a TypeAdapter compiles a validator; do it once per model, not per page.
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return adapter
