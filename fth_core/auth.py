"""How a provider's credentials reach its requests: a strategy per provider.

A plugin declares its credentials as a pydantic model (:class:`Credentials`; secret fields are
``SecretStr``) and one strategy:

* :class:`HeaderAuth` — a static header from one credential field (Motive's ``X-Api-Key``);
* :class:`BearerAuth` — ``Authorization: Bearer <field>`` (Samsara);
* :class:`SessionAuth` — a login call returns a :class:`Session` (and maybe another server);
  the session is put into every request. The client logs in once for all its threads, and an
  answer its classifier calls "session expired" makes one thread log in again while the
  others wait, then the request is repeated once.

Strategies are pure: they build requests, the client (:mod:`fth_core.client`) sends them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from fth_core.endpoints import RequestSpec

__all__ = [
    "ApiKeyCredentials",
    "Auth",
    "BearerAuth",
    "Credentials",
    "HeaderAuth",
    "Session",
    "SessionAuth",
    "secret_fields",
    "secret_values",
]


class Credentials(BaseModel):
    """Base of a provider's credential model. Fields typed ``SecretStr`` are secrets."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKeyCredentials(Credentials):
    """One API key (Motive, Samsara)."""

    api_key: SecretStr = Field(description="secret: use ${ENV} references, never the key itself")

    @field_validator("api_key", mode="before")
    @classmethod
    def _header_safe(cls, value: Any) -> Any:
        # A key read from a secrets file often ends with a newline; no key has whitespace at
        # its ends, and no HTTP header can carry a control or non-ASCII character (httpx
        # would fail every request with an error quoting the header, key and all).
        if not isinstance(value, str):
            return value
        key = value.strip()
        if not all(" " <= char <= "~" for char in key):
            raise ValueError("has a control or non-ASCII character, which no HTTP header can carry")
        return key


def secret_fields(model: type[BaseModel]) -> list[str]:
    """The names of ``model``'s secret fields (typed ``SecretStr``, optional or not)."""
    return [
        name
        for name, info in model.model_fields.items()
        if info.annotation is SecretStr or SecretStr in get_args(info.annotation)
    ]


def secret_values(credentials: BaseModel) -> list[str]:
    """The values of ``credentials``' secret fields, for redaction."""
    values = (getattr(credentials, name) for name in secret_fields(type(credentials)))
    return [value.get_secret_value() for value in values if isinstance(value, SecretStr)]


@dataclass(frozen=True)
class Session:
    """What a login returned: ``value`` goes into every request (a token, a credentials
    object); ``base_url`` is the server later calls must use, when the login named one;
    ``secrets`` are the texts in it to redact everywhere (a session id)."""

    value: Any
    base_url: str | None = None
    secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:  # a session id is as secret as a password
        return f"Session(base_url={self.base_url!r})"


class Auth(ABC):
    """A strategy. ``login_request`` is ``None`` for strategies without sessions;
    ``logins_per_minute`` is the budget of those that have them."""

    logins_per_minute: float = 10.0

    def login_request(self, credentials: Any) -> RequestSpec | None:
        """The login call, or ``None`` when requests need no session."""
        return None

    def read_session(self, body: Any) -> Session:
        """The session from a login's decoded answer (already classified as a success)."""
        raise NotImplementedError(f"{type(self).__name__} has no sessions")

    @abstractmethod
    def sign(self, request: RequestSpec, credentials: Any, session: Session | None) -> RequestSpec:
        """``request`` carrying the credentials (or the session)."""


@dataclass(frozen=True)
class HeaderAuth(Auth):
    """Header ``header`` with value ``prefix`` + the credential field ``field``."""

    header: str
    field: str = "api_key"
    prefix: str = ""

    def sign(self, request: RequestSpec, credentials: Any, session: Session | None) -> RequestSpec:
        secret = getattr(credentials, self.field)
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret)
        return request.with_headers({self.header: self.prefix + value})


@dataclass(frozen=True)
class BearerAuth(HeaderAuth):
    """``Authorization: Bearer <field>``."""

    header: str = "Authorization"
    prefix: str = "Bearer "


@dataclass(frozen=True)
class SessionAuth(Auth):
    """A login call makes a session that every other request carries.

    ``login`` builds the login request from the credentials; ``session`` reads a
    :class:`Session` from its decoded answer; ``apply`` puts the session into a request (in a
    header, the query or the body). Logins have their own budget, ``logins_per_minute``,
    apart from the provider's quota.
    """

    login: Callable[[Any], RequestSpec]
    session: Callable[[Any], Session]
    apply: Callable[[RequestSpec, Session], RequestSpec]
    logins_per_minute: float = 10.0

    def login_request(self, credentials: Any) -> RequestSpec:
        return self.login(credentials)

    def read_session(self, body: Any) -> Session:
        return self.session(body)

    def sign(self, request: RequestSpec, credentials: Any, session: Session | None) -> RequestSpec:
        if session is None:
            raise RuntimeError("a session-authenticated request was signed before the login")
        return self.apply(request, session)
