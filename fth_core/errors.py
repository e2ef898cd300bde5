"""The exceptions fth raises, and the exit code each maps to.

Every error a user can cause or meet in normal operation derives from :class:`FthError`, whose
message is one readable line. The CLI prints that line (a traceback only with ``--debug``) and
exits with :attr:`FthError.exit_code`: 1 failure, 2 usage or configuration (a dataset another run
holds included: nothing was attempted), 3 partial success.
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "AuthError",
    "ConfigError",
    "EndpointNotFoundError",
    "FthError",
    "NoPluginAnsweredError",
    "PaginationError",
    "ParameterError",
    "PluginConflictError",
    "ProviderNotFoundError",
    "ResponseFormatError",
    "TransportError",
]


class FthError(Exception):
    """Base of every fth error; ``str(err)`` is a single line fit to show a user."""

    exit_code: int = 1


class ConfigError(FthError):
    """The configuration is invalid. ``problems`` holds one line per mistake, each with its path."""

    exit_code = 2

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = f"{where}{self.problems[0]}"
        else:
            message = f"{where}{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(message)

    def in_file(self, source: str | None) -> ConfigError:
        """This error naming the config file ``source``, for checks made after loading it
        (installed plugins, provider options) that do not know the file."""
        if source is None or self.source is not None:
            return self
        return ConfigError(self.problems, source)


class ParameterError(FthError):
    """Parameters given for an endpoint do not match its parameter specs."""

    exit_code = 2


class ProviderNotFoundError(FthError):
    """No installed plugin provides the named provider."""

    exit_code = 2


class EndpointNotFoundError(FthError):
    """The provider has no endpoint of that name."""

    exit_code = 2


class PluginConflictError(FthError):
    """Two installed distributions register the same provider name."""


class NoPluginAnsweredError(FthError):
    """A dispatched hook (fetch or flatten) found no plugin that owns the provider."""


class APIError(FthError):
    """The provider answered with an error that retrying will not fix (or retries ran out).

    ``status`` is the HTTP status (200 for an error a JSON-RPC API sends inside a success),
    ``detail`` the provider's own message when it sent one.
    """

    def __init__(
        self, provider: str, method: str, path: str, status: int, detail: str | None = None
    ) -> None:
        self.provider = provider
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        text = f": {detail}" if detail else ""
        what = f"returned HTTP {status}" if status >= 300 else "failed"
        super().__init__(f"{provider}: {method} {path} {what}{text}{self._hint()}")

    def _hint(self) -> str:
        return {401: " (check the API key)", 403: " (the key lacks permission)"}.get(
            self.status, ""
        )


class AuthError(APIError):
    """The provider refused the credentials (or a session it had just made)."""

    def _hint(self) -> str:
        return super()._hint() or " (check the credentials)"


class TransportError(FthError):
    """The request never got an HTTP answer (connection refused or reset, timeout, TLS)."""

    def __init__(self, provider: str, method: str, path: str, reason: str) -> None:
        self.provider = provider
        self.reason = reason
        super().__init__(f"{provider}: {method} {path} failed: {reason}")


class ResponseFormatError(FthError):
    """A response body is not what the endpoint's definition expects (bad JSON, wrong shape)."""


class PaginationError(FthError):
    """A page walk went wrong: a cursor seen twice, a missing cursor, or too many pages."""
