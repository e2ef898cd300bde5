"""Configuration: pydantic models, a YAML loader, ``${ENV}`` interpolation and readable errors.

Shape (every key optional except what a run needs)::

    providers:
      motive:
        enabled: true
        base_url: https://api.gomotive.com     # default: the plugin's
        api_key: ${MOTIVE_API_KEY}             # falls back to MOTIVE_API_KEY when omitted
        request_timeout: [10, 30]              # connect, read seconds (or one number for both)
        max_retries: 3
        retry_backoff_factor: 1.0
        verify_ssl: true                       # or a CA-bundle path
        use_truststore: false                  # trust the OS certificate store
        proxy: null                            # default: HTTP(S)_PROXY from the environment
        rate_limit: {requests_per_second: 5, burst: 10}   # default: the plugin's quota
        max_concurrency: 10
        options: {}                            # provider-specific, checked by the plugin
    pipeline: {default_start_date: 2026-01-01, lookback_days: 1, batch_increment_days: 1}
    storage: {parquet_path: data/telemetry, retention_days: null, parquet_compression: zstd}
    logging: {level: INFO, console_level: WARNING, file: null}   # file_path, file_level: aliases

Every problem is reported as one line ``<yaml.path>: <what is wrong>``, all problems at once,
and never with the value of a secret. A key given twice in one mapping is an error (plain YAML
would silently keep the last). ``${VAR:-}`` for ``base_url``, ``proxy`` or ``logging.file``
means "not set". Booleans are never taken for numbers (YAML reads ``yes`` as true, and pydantic
would count true as 1), nor NaN or infinity for a number of seconds or days.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fth_core.errors import ConfigError

__all__ = [
    "FthConfig",
    "LoggingConfig",
    "PipelineConfig",
    "ProviderConfig",
    "RateLimitConfig",
    "StorageConfig",
    "did_you_mean",
    "format_validation_error",
    "load_config",
    "parse_config",
    "plain_message",
    "read_config_file",
]

# Fields never echoed in a problem line or a repr (a proxy URL may carry user:password).
_SECRET_KEYS = {"api_key", "proxy"}
# Environment variables whose values are never echoed in a problem line, whatever field they fill.
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)
# Errors about a whole section given as a scalar: the value adds nothing and may be a secret
# (``motive: ${MOTIVE_API_KEY}``), so it is not echoed.
_SECTION_ERRORS = {"dict_type", "model_type", "model_attributes_type"}
# Names of the original Fleet Telemetry Hub design, read as today's (see LoggingConfig).
_LOGGING_ALIASES = {"file_path": "file", "file_level": "level"}
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _is_number(annotation: Any) -> bool:
    """Whether a field holds an int or float (``None`` allowed), not a bool or a union of more."""
    members = {a for a in get_args(annotation) or (annotation,) if a is not type(None)}
    return bool(members) and members <= {int, float}


def _folder_or_file(path: Path, *, folder: bool) -> Path:
    """``path`` with ``~`` expanded, refused when what is there (or would have to hold it) is
    the wrong kind of thing: found at load time rather than as a crash mid-run."""
    path = path.expanduser()
    if path.exists() and path.is_dir() != folder:
        kind = "a file, not a folder" if folder else "a folder, not a file"
        raise ValueError(f"{path} is {kind}")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"{parent} is a file, so {path} cannot be created")
    return path


class _Strict(BaseModel):
    # hide_input_in_errors: a ValidationError's own text never shows values (an API key).
    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, allow_inf_nan=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic takes true as 1: ``lookback_days: yes`` would silently mean one day.
        if (
            isinstance(value, bool)
            and info.field_name is not None
            and _is_number(cls.model_fields[info.field_name].annotation)
        ):
            raise ValueError("must be a number, not true/false")
        return value


class RateLimitConfig(_Strict):
    """Overrides the plugin's default quota; unset fields keep the plugin's figure."""

    requests_per_second: float | None = Field(
        default=None, gt=0, le=10_000, description="sustained requests per second (token bucket)"
    )
    burst: int | None = Field(
        default=None, ge=1, le=10_000, description="requests allowed at once above the rate"
    )


class ProviderConfig(_Strict):
    """Settings of one provider (``providers.<name>``).

    Keys beside these are the provider's credentials (``api_key``; ``database``, ``username``,
    ``password``), checked against the plugin's credential model when the provider is built
    (:class:`~fth_core.provider.Provider`): config cannot know them before a plugin says.
    They never show in a repr.
    """

    model_config = ConfigDict(
        extra="allow", frozen=True, hide_input_in_errors=True, allow_inf_nan=False
    )

    enabled: bool = Field(default=True, description="false keeps the settings but skips it")
    base_url: str | None = Field(default=None, description="API root; default: the plugin's")
    request_timeout: tuple[float, float] = Field(
        default=(10.0, 30.0), description="seconds: [connect, read], or one number for both"
    )
    request_deadline: float = Field(
        default=300.0, gt=0, le=3600, description="seconds a whole answer may take, at most"
    )
    max_response_mb: float = Field(
        default=512.0, gt=0, le=16_384, description="largest answer accepted, decompressed"
    )
    max_retries: int = Field(
        default=3, ge=0, le=20, description="retries of timeouts, resets, 408 and 5xx"
    )
    retry_backoff_factor: float = Field(
        default=1.0, ge=0, le=60, description="seconds; doubles per retry, jittered, max 30"
    )
    verify_ssl: bool | str = Field(default=True, description="true, false or a CA-bundle path")
    use_truststore: bool = Field(
        default=False, description="trust the OS certificate store (fth-core[truststore])"
    )
    proxy: str | None = Field(
        default=None,
        repr=False,
        description="http(s)/socks5 URL; default: HTTPS_PROXY from the environment",
    )
    rate_limit: RateLimitConfig = Field(
        default=RateLimitConfig(), description="default: the plugin's quota"
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, le=256, description="requests in flight; default: the plugin's"
    )
    max_pages: int = Field(default=10_000, ge=1, description="guard against runaway page walks")
    options: dict[str, Any] = Field(
        default_factory=dict, description="provider-specific settings, checked by its plugin"
    )
    # The environment credentials fall back to (<NAME>_<FIELD>), as parse_config saw it.
    _env: Mapping[str, str] | None = PrivateAttr(default=None)

    @property
    def credentials(self) -> dict[str, Any]:
        """The keys of this section that are not settings: the provider's credentials."""
        return dict(self.model_extra or {})

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self._env is None else self._env

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        extra = self.model_extra or {}
        for name, value in super().__repr_args__():
            yield (name, "***") if name in extra else (name, value)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:  # null, or empty from ``${FAKE_URL:-}``: the plugin's default
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if not value:  # null, or empty from ``${HTTPS_PROXY:-}``: the environment's, if any
            return None
        if not re.match(r"^(https?|socks5h?)://[^/\s]+", value):
            raise ValueError("must be a proxy URL (http://, https:// or socks5://)")
        return value

    @field_validator("request_timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        if isinstance(value, str):  # e.g. from ${FTH_TIMEOUT}
            try:
                value = float(value)
            except ValueError:
                raise ValueError("must be [connect, read] seconds or one number") from None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = (value, value)
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("must be [connect, read] seconds or one number")
            if any(
                isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < math.inf
                for v in value
            ):
                raise ValueError("timeouts must be positive numbers of seconds")
            return value
        raise ValueError("must be [connect, read] seconds or one number")

    @field_validator("verify_ssl", mode="before")
    @classmethod
    def _verify(cls, value: Any) -> Any:
        # true/false from an environment variable arrive as text; anything else is one mistake
        # (not two union-member errors).
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.strip().lower()]
        if not isinstance(value, bool | str) or value == "":
            raise ValueError("must be true, false or the path of a CA bundle")
        return value

    @field_validator("verify_ssl")
    @classmethod
    def _ca_bundle(cls, value: bool | str) -> bool | str:
        if isinstance(value, str):
            bundle = Path(value).expanduser()
            if not bundle.exists():
                raise ValueError(f"CA bundle {value} does not exist (or use true/false)")
            if not bundle.is_file():
                raise ValueError(f"CA bundle {value} is not a file (or use true/false)")
        return value


class PipelineConfig(_Strict):
    default_start_date: date | None = Field(
        default=None, description="first run starts here (UTC); null: one day before now"
    )
    lookback_days: int = Field(
        default=1, ge=0, le=365, description="days re-fetched before the watermark (late data)"
    )
    batch_increment_days: float = Field(
        default=1.0, gt=0, le=90, description="window size; memory is bounded by one window"
    )

    @field_validator("default_start_date", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        # Only a calendar date: pydantic would read 20260101 as seconds since 1970, and a
        # date-time as a date when its time happens to be midnight.
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError as exc:
                raise ValueError(f"not a calendar date: {exc}") from None
        raise ValueError("must be a date as YYYY-MM-DD")


class StorageConfig(_Strict):
    parquet_path: Path = Field(
        default=Path("data/telemetry"), description="dataset root (date=YYYY-MM-DD partitions)"
    )
    retention_days: int | None = Field(
        default=None, ge=1, description="fth prune deletes older dates; null keeps everything"
    )
    parquet_compression: Literal["zstd", "snappy", "gzip", "brotli", "none"] = Field(
        default="zstd", description="codec of the files written: zstd, snappy, gzip, brotli, none"
    )

    @field_validator("parquet_compression", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("parquet_path", mode="before")
    @classmethod
    def _path_text(cls, value: Any) -> Any:
        # An empty path would be the working directory: never a dataset root by accident.
        if not isinstance(value, str | Path) or not str(value).strip():
            raise ValueError("must be the path of a folder")
        return value

    @field_validator("parquet_path")
    @classmethod
    def _a_folder(cls, value: Path) -> Path:
        return _folder_or_file(value, folder=True)


_Level = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class LoggingConfig(_Strict):
    """``file_path`` and ``file_level`` (the original Fleet Telemetry Hub's names) are accepted
    for ``file`` and ``level``; giving both names of one setting is a mistake."""

    level: _Level = Field(
        default="INFO",
        description="for the file (or file_level): INFO each run's start, windows, outcome;"
        " DEBUG every request (credentials redacted)",
    )
    console_level: _Level = Field(
        default="WARNING", description="fth run's terminal; --debug shows everything"
    )
    file: Path | None = Field(
        default=None,
        description="(or file_path) append each run's account to this file (README: The log)",
    )

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for alias, name in _LOGGING_ALIASES.items():
                if alias in data:
                    if name in data:
                        raise ValueError(f"give {name} or {alias}, not both")
                    data = {**data, name: data[alias]}
                    del data[alias]
        return data

    @field_validator("level", "console_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("file", mode="before")
    @classmethod
    def _file_text(cls, value: Any) -> Any:
        if value is None or value == "":  # null, or empty from ``${FTH_LOG_FILE:-}``: no file
            return None
        if not isinstance(value, str | Path) or not str(value).strip():
            raise ValueError("must be the path of a file")
        return value

    @field_validator("file")
    @classmethod
    def _a_file(cls, value: Path | None) -> Path | None:
        return None if value is None else _folder_or_file(value, folder=False)


class FthConfig(_Strict):
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    pipeline: PipelineConfig = PipelineConfig()
    storage: StorageConfig = StorageConfig()
    logging: LoggingConfig = LoggingConfig()

    @field_validator("providers", mode="before")
    @classmethod
    def _provider_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name in value:
                if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                    raise ValueError(
                        f"provider name {name!r} must be lower-case letters, digits, _"
                    )
        return value

    def enabled_providers(self) -> dict[str, ProviderConfig]:
        return {name: p for name, p in self.providers.items() if p.enabled}


# -- errors ------------------------------------------------------------------------------


def _path(loc: tuple[int | str, ...], prefix: tuple[str, ...] = ()) -> str:
    text = ""
    for part in (*prefix, *loc):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def plain_message(error: Any) -> str:
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    msg = re.sub(r" or instance of \w+", "", msg)  # "a valid dictionary or instance of X"
    msg = msg.replace("a valid dictionary", "a mapping")  # YAML's word, not Python's
    if msg[1:2].isupper():  # an acronym ("CA bundle ..."): keep its case
        return msg
    return msg[:1].lower() + msg[1:]


def format_validation_error(
    exc: ValidationError,
    prefix: tuple[str, ...] = (),
    model: type[BaseModel] | None = None,
    *,
    secret: bool = False,
    hidden: Collection[str] = (),
) -> list[str]:
    """One line per pydantic error: ``path: message (got value)``; secrets never echoed
    (``secret``: no value at all is, as for credentials; ``hidden``: no value at these YAML
    paths or below them is)."""
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        # Pydantic appends the union member or tuple index it tried; hide type names.
        loc = tuple(p for p in loc if not (isinstance(p, str) and p in ("bool", "str")))
        where = _path(loc, prefix)
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            hint = _suggest(key, model, loc[:-1])
            lines.append(f"{where}: unknown key{hint}")
            continue
        message = plain_message(error)
        masked = (
            secret
            or any(str(p) in _SECRET_KEYS for p in loc)
            or any(where == h or where.startswith((f"{h}.", f"{h}[")) for h in hidden)
        )
        value = error.get("input")
        if (
            not masked
            and error["type"] not in {"missing", *_SECTION_ERRORS}
            and not isinstance(value, dict | list)
            and not (isinstance(value, str) and value and value in message)  # said already
        ):
            shown = str(value).lower() if isinstance(value, bool) else repr(value)  # as in YAML
            message += f" (got {shown if len(shown) <= 40 else shown[:37] + '...'})"
        lines.append(f"{where}: {message}")
    return list(dict.fromkeys(lines))


def _model_at(parent: tuple[Any, ...], model: type[BaseModel]) -> type[BaseModel] | None:
    """The model that validates the mapping at ``parent`` (skipping ``dict`` keys)."""
    target: type[BaseModel] = model
    parts = list(parent)
    while parts:
        field = target.model_fields.get(str(parts.pop(0)))
        if field is None:
            return None
        annotation = field.annotation
        if get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
            if parts:
                parts.pop(0)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        target = annotation
    return target


def _suggest(key: str, model: type[BaseModel] | None, parent: tuple[Any, ...]) -> str:
    target = _model_at(parent, model) if model is not None else None
    return did_you_mean(key, target.model_fields if target is not None else ())


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the known name closest to a mistyped ``key``, else ``""``."""
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


# -- loading -----------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Interpolation:
    """``${VAR}`` / ``${VAR:-default}`` substitution, remembering what went wrong and which
    substituted values are secrets (never to be echoed in a problem line)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.unset_paths: set[str] = set()
        self.secrets: set[str] = set()
        # Where a secret went: no value at these paths is echoed, whatever a validator made of
        # it (upper-cased, cut short), so no problem line can show it even transformed.
        self.secret_paths: set[str] = set()

    def __call__(self, value: Any, loc: tuple[str, ...] = ()) -> Any:
        if isinstance(value, dict):
            return {k: self(v, (*loc, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, (*loc, f"[{i}]")) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        where = ".".join(loc).replace(".[", "[")

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.env:
                if _SECRET_ENV.search(name):
                    self.secrets.add(self.env[name])
                    self.secret_paths.add(where)
                return self.env[name]
            if default is not None:
                return default
            self.problems.append(f"{where}: environment variable {name} is not set")
            self.unset_paths.add(where)
            return ""

        return _ENV_REF.sub(replace, value)


def parse_config(
    data: Any,
    *,
    source: str | None = None,
    env: dict[str, str] | None = None,
    credentials: bool = True,
) -> FthConfig:
    """Validate already-parsed YAML data. Raises :class:`ConfigError` listing every problem.

    ``credentials=False`` is for commands that make no request (``fth status``, ``query``,
    ``verify``, ``prune``, ``state``): a credential whose ``${VAR}`` is unset is then left out
    of its provider's section instead of being a problem, so those commands run where no API
    key is set. Everything else is checked as for a run.
    """
    env = dict(os.environ) if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping (providers:, pipeline:, ...)", source)
    interpolate = _Interpolation(env)
    data = interpolate(data)
    secrets = interpolate.secrets
    left_out: set[str] = set()  # credentials (paths) not needed, whose variable is unset
    providers = data.get("providers")
    if isinstance(providers, dict):
        for name, settings in providers.items():
            if settings is None:
                providers[name] = settings = {}
            if not isinstance(settings, dict):
                continue
            for key in [k for k in settings if k not in ProviderConfig.model_fields]:
                where = f"providers.{name}.{key}"
                unset = {
                    p
                    for p in interpolate.unset_paths
                    if p == where or p.startswith((f"{where}.", f"{where}["))
                }
                if not credentials and unset:
                    del settings[key]
                    left_out |= unset
            secrets.update(  # credentials are not echoed, whatever they are
                value
                for key, value in settings.items()
                if key not in ProviderConfig.model_fields and isinstance(value, str)
            )
    problems = [line for line in interpolate.problems if line.split(": ", 1)[0] not in left_out]
    config: FthConfig | None = None
    try:
        config = FthConfig.model_validate(data)
    except ValidationError as exc:
        # A value emptied by an unset variable is already reported as such.
        problems.extend(
            line
            for line in format_validation_error(
                exc, model=FthConfig, hidden=interpolate.secret_paths
            )
            if line.split(": ", 1)[0] not in interpolate.unset_paths
        )
    if problems or config is None:
        raise ConfigError([_scrub(line, secrets) for line in problems], source)
    for settings in config.providers.values():
        settings._env = env
    return config


def _scrub(line: str, secrets: set[str]) -> str:
    """``line`` with each secret replaced by ``***`` in any letter case: a validator may have
    changed the case of what it quotes (``logging.level`` upper-cases its value)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            line = re.sub(re.escape(secret), "***", line, flags=re.IGNORECASE)
    return line


# A config is a few levels deep and holds hundreds of values; these bounds are far above any
# real one and far below what would hang or crash the loader (see _UniqueKeyLoader).
MAX_YAML_DEPTH = 64
MAX_YAML_VALUES = 100_000


class _Refused(yaml.MarkedYAMLError):
    """Well-formed YAML refused for its size: too deep, or aliases expanding too far."""


def _expansion(
    node: yaml.Node, depth: int, known: dict[int, tuple[int, int]], open_: set[int]
) -> tuple[int, int]:
    """How many values ``node`` stands for once its aliases are expanded, and how many levels
    deep it then is; :class:`_Refused` past the bounds. Each node (an alias is the node it
    names) is counted once and remembered, so the count costs the composed size, not the
    expanded one; ``depth`` is ``node``'s own, aliases expanded, which bounds the recursion."""
    if id(node) not in known:
        if id(node) in open_:
            raise _Refused(None, None, "an alias refers to a node containing it", node.start_mark)
        if depth > MAX_YAML_DEPTH:
            problem = f"aliases expand it deeper than {MAX_YAML_DEPTH} levels"
            raise _Refused(None, None, problem, node.start_mark)
        open_.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        values, height = 1, 1
        for child in children:
            count, below = _expansion(child, depth + 1, known, open_)
            values, height = values + count, max(height, below + 1)
            if values > MAX_YAML_VALUES:
                problem = f"aliases expand it to more than {MAX_YAML_VALUES:,} values"
                raise _Refused(None, None, problem, node.start_mark)
        open_.discard(id(node))
        known[id(node)] = (values, height)
    values, height = known[id(node)]
    if depth + height - 1 > MAX_YAML_DEPTH:
        problem = f"aliases expand it deeper than {MAX_YAML_DEPTH} levels"
        raise _Refused(None, None, problem, node.start_mark)
    return values, height


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (plain
    PyYAML keeps the last one: a second ``providers:`` block would silently drop the first),
    and an impossible date stays text for the schema to report.

    It also refuses, before building any object, a document nested deeper than
    :data:`MAX_YAML_DEPTH` (PyYAML composes recursively: 5,000 levels raise RecursionError)
    or whose aliases expand it beyond :data:`MAX_YAML_VALUES` values, or into itself. A
    500-byte alias bomb composes into a few shared nodes, but every step after it (``${ENV}``
    interpolation, validation) walks the expansion: billions of values.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(
                    None,
                    None,
                    f"nested deeper than {MAX_YAML_DEPTH} levels",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]  # (stubs)
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _expansion(node, 1, {}, set())
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark.line)
            except TypeError:  # an unhashable key; the base loader reports it
                continue
            if first != key_node.start_mark.line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first + 1})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        # PyYAML raises a bare ValueError for a date-shaped impossible date (2026-13-01); as
        # text, the schema reports it with its path.
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_UniqueKeyLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _UniqueKeyLoader.construct_yaml_timestamp
)


def load_config(
    path: str | Path, *, env: dict[str, str] | None = None, credentials: bool = True
) -> FthConfig:
    """Read and validate a YAML config file (``credentials``: see :func:`parse_config`)."""
    data = read_config_file(path)
    return parse_config(data, source=str(path), env=env, credentials=credentials)


def read_config_file(path: str | Path) -> Any:
    """The YAML document of a config file, not yet validated; :class:`ConfigError` when it
    cannot be read or is not YAML (then nothing more can be checked)."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config file not found (fth config init writes one)", source) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a config file", source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror or exc}", source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"line {line}, column {column}: not UTF-8 text (byte 0x{raw[exc.start]:02x})", source
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "'\\t'" in problem:
            problem += " (indent with spaces; YAML forbids tabs)"
        if isinstance(exc, _Refused):
            raise ConfigError(f"{where}refused: {problem}", source) from None
        raise ConfigError(f"{where}invalid YAML: {problem}", source) from None
    return data
