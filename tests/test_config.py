"""Configuration: every mistake is one readable line with its YAML path; secrets never show.

The mistake table runs the real ``fth run`` in a subprocess, with only the fake ``fakefleet``
plugin loaded (it has a settings model, so ``options`` are checked too), and proves each
mistake stops the run before anything is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fake_plugins import run_fth
from loopback_support import closed_port_url, one_line, tree_snapshot
from pydantic import ValidationError

from fth_core.auth import ApiKeyCredentials, HeaderAuth
from fth_core.config import FthConfig, ProviderConfig, load_config, parse_config
from fth_core.errors import ConfigError
from fth_core.provider import Provider
from fth_core.spec import ProviderSpec, Quota

SECRET = "sk-live-SECRET-1234567890"
FAKEFLEET = ProviderSpec(
    name="fakefleet",
    endpoints=(),
    default_base_url="https://api.fakefleet.example",
    auth=HeaderAuth("X-Api-Key"),
    quota=Quota(1),
)


def _api_key(section: dict[str, Any] | None, env: dict[str, str]) -> str:
    """The API key the fakefleet provider gets from a config section and an environment."""
    config = parse_config({"providers": {"fakefleet": section}}, env=env)
    with Provider(FAKEFLEET, config.providers["fakefleet"]) as provider:
        assert isinstance(provider.credentials, ApiKeyCredentials)
        return provider.credentials.api_key.get_secret_value()


def _credential_problems(section: dict[str, Any], env: dict[str, str] | None = None) -> ConfigError:
    config = parse_config({"providers": {"fakefleet": section}}, env=env or {})
    with pytest.raises(ConfigError) as caught:
        Provider(FAKEFLEET, config.providers["fakefleet"])
    return caught.value


KEY = "k-live-0123456789abcdef"  # every table config's key: no line may show it
# Replaced by a loopback URL nothing listens on, so a config the loader wrongly accepted fails
# at once (exit 1) instead of reaching out.
BASE_URL = "@BASE_URL@"
_DEFAULTS = {"api_key": KEY, "base_url": BASE_URL}


def _provider(**lines: object) -> str:
    """A config whose fakefleet section has a valid key and the test's base URL, replaced or
    extended by ``lines`` (YAML values; ``None`` leaves the key out)."""
    body = "".join(
        f"    {key}: {value}\n" for key, value in (_DEFAULTS | lines).items() if value is not None
    )
    return f"providers:\n  fakefleet:\n{body}"


GOOD = _provider()


def _setting(key: str, value: object, gist: str, case: str, *, at: str | None = None) -> Any:
    """A table case: fakefleet's ``key`` set to ``value`` (YAML text), reported at
    ``providers.fakefleet.<at>`` (``at`` defaults to ``key``)."""
    return pytest.param(
        _provider(**{key: value}), f"providers.fakefleet.{at or key}", gist, id=case
    )


def _section_setting(section: str, key: str, value: str, gist: str, case: str) -> Any:
    """A table case: a valid config plus ``<section>.<key>: <value>``, reported at that path."""
    return pytest.param(GOOD + f"{section}:\n  {key}: {value}\n", f"{section}.{key}", gist, id=case)


def _unreadable(tmp: Path) -> Path:
    """A config file fth cannot read: mode 000, or, for root (who reads any file whatever its
    mode), a symbolic link to itself: unreadable for anyone."""
    path = tmp / "fth.yaml"
    if os.geteuid() == 0:
        path.symlink_to(path.name)
    else:
        path.write_text(GOOD, encoding="utf-8")
        path.chmod(0)
    return path


def _folder(tmp: Path) -> Path:
    path = tmp / "fth.yaml"
    path.mkdir()
    return path


# What a table case writes: config text (``tmp/fth.yaml``), raw bytes, or a function that
# makes whatever it needs under ``tmp`` and returns the path to pass as ``--config``.
ConfigSource = str | bytes | Callable[[Path], Path]

# (config, what the one line names right after the file, the message's gist)
MISTAKES = [
    # -- the file itself
    pytest.param(
        lambda tmp: tmp / "missing.yaml",
        "config file not found",
        "fth config init writes one",
        id="file-missing",
    ),
    pytest.param(_folder, "is a folder, not a config file", "", id="file-is-a-folder"),
    pytest.param(_unreadable, "cannot read the config file: ", "", id="file-unreadable"),
    pytest.param(
        b"providers:\n  fakefleet:\n    api_key: caf\xe9\n",
        "line 3, column 17",
        "not UTF-8 text (byte 0xe9)",
        id="file-not-utf8",
    ),
    pytest.param("", "providers", "no enabled provider to run", id="file-empty"),
    # -- YAML
    pytest.param(
        "providers:\n  fakefleet: {api_key: k}\n  bad: value: other\n",
        "line 3, column 13",
        "invalid YAML: mapping values are not allowed here",
        id="yaml-syntax",
    ),
    pytest.param(
        "providers:\n\tfakefleet: {}\n",
        "line 2, column 1",
        "invalid YAML: found character '\\t' that cannot start any token (indent with spaces",
        id="yaml-tab-indent",
    ),
    pytest.param(
        'providers:\n  fakefleet:\n    api_key: "unterminated\n',
        "line 4, column 1",
        "invalid YAML: found unexpected end of stream",
        id="yaml-unclosed-quote",
    ),
    pytest.param(
        GOOD + "providers:\n  other: {}\n",
        "line 5, column 1",
        "invalid YAML: duplicate key 'providers' (first on line 1)",
        id="yaml-duplicate-key",
    ),
    pytest.param(
        "- providers\n- pipeline\n",
        "the top level must be a mapping",
        "(providers:, pipeline:, ...)",
        id="top-level-a-list",
    ),
    pytest.param(
        "just some text\n", "the top level must be a mapping", "", id="top-level-a-scalar"
    ),
    # -- sections
    pytest.param(
        "pipeline:\n  lookback_days: 2\n",
        "providers",
        "no enabled provider to run",
        id="providers-missing",
    ),
    pytest.param(
        "providers: [fakefleet]\n", "providers", "input should be a mapping", id="providers-a-list"
    ),
    pytest.param(
        f"providers:\n  fakefleet: {KEY}\n",
        "providers.fakefleet",
        "input should be a mapping",
        id="provider-section-a-scalar",
    ),
    pytest.param(
        GOOD + "pipeline: [lookback_days]\n",
        "pipeline",
        "input should be a mapping",
        id="pipeline-a-list",
    ),
    pytest.param(
        GOOD + "storage: data/telemetry\n",
        "storage",
        "input should be a mapping",
        id="storage-a-scalar",
    ),
    # -- unknown keys, at every level
    pytest.param(
        GOOD + "provider: {}\n",
        "provider",
        "unknown key (did you mean providers?)",
        id="unknown-top-level-key",
    ),
    _setting("max_retry", 3, "unknown key (did you mean max_retries?)", "unknown-provider-key"),
    _setting(
        "rate_limit",
        "{requests_per_sec: 3}",
        "unknown key (did you mean requests_per_second?)",
        "unknown-rate-limit-key",
        at="rate_limit.requests_per_sec",
    ),
    _setting(
        "options",
        "{page_sise: 10}",
        "unknown key (did you mean page_size?)",
        "unknown-option",
        at="options.page_sise",
    ),
    _section_setting(
        "pipeline",
        "lookback",
        "2",
        "unknown key (did you mean lookback_days?)",
        "unknown-pipeline-key",
    ),
    _section_setting(
        "storage",
        "parquet_dir",
        "data",
        "unknown key (did you mean parquet_path?)",
        "unknown-storage-key",
    ),
    _section_setting(
        "logging", "levl", "INFO", "unknown key (did you mean level?)", "unknown-logging-key"
    ),
    # -- which providers
    pytest.param(
        GOOD.replace("fakefleet", "fakefleat"),
        "providers.fakefleat",
        "no installed plugin provides it (did you mean fakefleet? installed: fakefleet)",
        id="provider-not-installed",
    ),
    pytest.param(
        GOOD.replace("fakefleet", "FakeFleet"),
        "providers",
        "provider name 'FakeFleet' must be lower-case letters, digits, _",
        id="provider-name-capitals",
    ),
    # -- API keys
    pytest.param(
        _provider(api_key=None),
        "providers.fakefleet.api_key",
        "no API key (set it here or in FAKEFLEET_API_KEY)",
        id="api-key-missing",
    ),
    _setting("api_key", '""', "no API key (set it here or in FAKEFLEET_API_KEY)", "api-key-empty"),
    _setting(
        "api_key",
        "${FTH_TEST_UNSET_KEY}",
        "environment variable FTH_TEST_UNSET_KEY is not set",
        "api-key-unset-variable",
    ),
    _setting("api_key", f"[{KEY}]", "input should be a valid string", "api-key-a-list"),
    # -- provider settings
    _setting(
        "base_url",
        "api.fakefleet.example",
        "must be an http:// or https:// URL (got 'api.fakefleet.example')",
        "base-url-not-http",
    ),
    _setting(
        "base_url",
        "https://${FTH_TEST_UNSET_HOST}/api",
        "environment variable FTH_TEST_UNSET_HOST is not set",
        "base-url-unset-variable",
    ),
    _setting(
        "max_retries",
        "three",
        "input should be a valid integer, unable to parse string as an integer (got 'three')",
        "max-retries-text",
    ),
    _setting("max_retries", "yes", "must be a number, not true/false", "max-retries-a-boolean"),
    _setting("max_retries", -1, "greater than or equal to 0 (got -1)", "max-retries-negative"),
    _setting(
        "enabled",
        "perhaps",
        "valid boolean, unable to interpret input (got 'perhaps')",
        "enabled-not-a-boolean",
    ),
    _setting(
        "retry_backoff_factor",
        "fast",
        "valid number, unable to parse string as a number (got 'fast')",
        "backoff-text",
    ),
    _setting(
        "request_timeout",
        -5,
        "timeouts must be positive numbers of seconds (got -5)",
        "timeout-negative",
    ),
    _setting(
        "request_timeout",
        ".inf",
        "timeouts must be positive numbers of seconds (got inf)",
        "timeout-infinite",
    ),
    _setting(
        "request_timeout",
        "slow",
        "must be [connect, read] seconds or one number (got 'slow')",
        "timeout-text",
    ),
    _setting(
        "request_timeout",
        "[1, 2, 3]",
        "must be [connect, read] seconds or one number",
        "timeout-three-values",
    ),
    _setting(
        "request_timeout",
        "{connect: 1}",
        "must be [connect, read] seconds or one number",
        "timeout-a-mapping",
    ),
    _setting(
        "verify_ssl",
        "/nonexistent/ca-bundle.pem",
        "CA bundle /nonexistent/ca-bundle.pem does not exist (or use true/false)",
        "verify-ssl-missing-ca-file",
    ),
    _setting(
        "verify_ssl",
        5,
        "must be true, false or the path of a CA bundle (got 5)",
        "verify-ssl-a-number",
    ),
    _setting(
        "proxy",
        "ftp://proxy.example:21",
        "must be a proxy URL (http://, https:// or socks5://)",
        "proxy-bad-scheme",
    ),
    _setting(
        "rate_limit",
        "{requests_per_second: 0}",
        "greater than 0 (got 0)",
        "rate-limit-zero",
        at="rate_limit.requests_per_second",
    ),
    _setting(
        "rate_limit",
        "{burst: -2}",
        "greater than or equal to 1 (got -2)",
        "rate-limit-burst-negative",
        at="rate_limit.burst",
    ),
    _setting("rate_limit", 5, "input should be a mapping", "rate-limit-a-number"),
    _setting("max_concurrency", 0, "greater than or equal to 1 (got 0)", "max-concurrency-zero"),
    _setting(
        "options",
        "{page_size: many}",
        "valid integer, unable to parse string as an integer (got 'many')",
        "option-wrong-type",
        at="options.page_size",
    ),
    _setting(
        "options",
        "{region: mars}",
        "input should be 'us' or 'eu' (got 'mars')",
        "option-not-a-choice",
        at="options.region",
    ),
    # -- pipeline
    _section_setting(
        "pipeline",
        "lookback_days",
        "-1",
        "greater than or equal to 0 (got -1)",
        "lookback-negative",
    ),
    _section_setting(
        "pipeline",
        "lookback_days",
        "true",
        "must be a number, not true/false",
        "lookback-a-boolean",
    ),
    _section_setting(
        "pipeline",
        "default_start_date",
        "2026-13-01",
        "not a calendar date: month must be in 1..12 (got '2026-13-01')",
        "start-date-month-13",
    ),
    _section_setting(
        "pipeline",
        "default_start_date",
        "yesterday",
        "must be a date as YYYY-MM-DD (got 'yesterday')",
        "start-date-a-word",
    ),
    _section_setting(
        "pipeline", "batch_increment_days", "0", "greater than 0 (got 0)", "batch-increment-zero"
    ),
    _section_setting(
        "pipeline",
        "batch_increment_days",
        "-1",
        "greater than 0 (got -1)",
        "batch-increment-negative",
    ),
    # -- storage and logging
    _section_setting(
        "storage", "retention_days", "0", "greater than or equal to 1 (got 0)", "retention-zero"
    ),
    pytest.param(
        GOOD + 'storage:\n  parquet_path: ""\n',
        "storage.parquet_path",
        "must be the path of a folder (got '')",
        id="dataset-path-empty",
    ),
    _section_setting(
        "storage",
        "parquet_path",
        "fth.yaml",
        "fth.yaml is a file, not a folder",
        "dataset-path-a-file",
    ),
    _section_setting(
        "logging",
        "level",
        "bogus",
        "input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR' (got 'BOGUS')",
        "log-level-bogus",
    ),
    _section_setting("logging", "file", ".", ". is a folder, not a file", "log-file-a-folder"),
    pytest.param(
        # Found only once the plugins are loaded, after logging is set up: the log file is
        # not created for a run that never started.
        GOOD.replace("fakefleet", "nosuch") + "logging:\n  file: logs/fth.log\n",
        "providers.nosuch",
        "no installed plugin provides it (installed: fakefleet)",
        id="late-mistake-leaves-no-log-file",
    ),
]
_BY_ID = {case.id: case.values for case in MISTAKES}


def _config_file(config: ConfigSource, tmp: Path) -> Path:
    if callable(config):
        return config(tmp)
    path = tmp / "fth.yaml"
    if isinstance(config, bytes):
        path.write_bytes(config)
    else:
        path.write_text(config.replace(BASE_URL, closed_port_url()), encoding="utf-8")
    return path


@pytest.mark.parametrize(("config", "where", "gist"), MISTAKES)
def test_each_config_mistake_stops_fth_run_with_one_line_naming_it_and_nothing_written(
    tmp_path: Path, config: ConfigSource, where: str, gist: str
) -> None:
    path = _config_file(config, tmp_path)
    before = tree_snapshot(tmp_path)
    # In tmp_path: the default dataset (data/telemetry) and relative paths land there.
    result = run_fth("run", "--config", str(path), "--end", "2026-03-03", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    line = one_line(result.stderr)  # no traceback
    assert line.startswith(f"error: {path}: {where}"), line
    assert gist in line
    assert KEY not in result.stderr
    assert tree_snapshot(tmp_path) == before, "a refused run writes nothing"


@pytest.mark.parametrize("case", ["file-missing", "yaml-duplicate-key", "provider-not-installed"])
def test_config_check_reports_a_mistake_as_fth_run_does(tmp_path: Path, case: str) -> None:
    config, where, gist = _BY_ID[case]
    path = _config_file(config, tmp_path)
    result = run_fth("config", "check", "--offline", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert line.startswith(f"error: {path}: {where}"), line
    assert gist in line


def test_the_mistake_table_is_broad() -> None:
    ids = [case.id for case in MISTAKES]
    assert len(set(ids)) == len(ids) >= 50


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "fth.yaml"
    config.write_text(
        "provider: {}\n"
        "providers:\n"
        "  fakefleet:\n"
        "    max_retries: -1\n"  # and no api_key: still reported alongside the rest
        "pipeline:\n"
        "  lookback_days: ${FTH_TEST_UNSET_DAYS}\n"
        "logging:\n"
        "  level: loud\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    problems = caught.value.problems
    # The missing api_key is the plugin's to judge (its credential model), once the file loads.
    assert [p.split(": ", 1)[0] for p in problems] == [
        "pipeline.lookback_days",
        "providers.fakefleet.max_retries",
        "logging.level",
        "provider",
    ]
    # The unset variable is reported once, not again as "not a valid integer".
    assert (
        problems[0] == "pipeline.lookback_days: environment variable FTH_TEST_UNSET_DAYS is not set"
    )
    assert caught.value.source == str(config)
    result = run_fth("config", "check", "--offline", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"error: {config}: 4 problems: " in result.stderr


def test_config_check_on_a_valid_config_exits_0_and_says_ok(tmp_path: Path) -> None:
    config = _config_file(_provider(options="{region: eu}"), tmp_path)
    result = run_fth("config", "check", "--offline", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{config}: OK (providers enabled: fakefleet)\n"


# -- in-process: defaults, interpolation, fallbacks ------------------------------------


def test_an_empty_file_is_a_valid_config_of_defaults(tmp_path: Path) -> None:
    config = tmp_path / "fth.yaml"
    config.write_text("# nothing yet\n", encoding="utf-8")
    loaded = load_config(config, env={})
    assert loaded == FthConfig()
    assert loaded.providers == {}
    assert loaded.pipeline.lookback_days == 1
    assert loaded.logging.level == "INFO"


def test_env_references_are_interpolated_with_and_without_defaults() -> None:
    env = {"FAKE_HOST": "api.fake.example", "FAKE_KEY": "k-from-env-1"}
    config = parse_config(
        {
            "providers": {
                "fakefleet": {
                    "api_key": "${FAKE_KEY}",
                    "base_url": "https://${FAKE_HOST}/v2/",
                    "max_retries": "${FAKE_RETRIES:-7}",
                    "proxy": "${FAKE_PROXY:-}",
                }
            },
            "logging": {"level": "${FAKE_LEVEL:-debug}"},
        },
        env=env,
    )
    fleet = config.providers["fakefleet"]
    assert fleet.credentials == {"api_key": "k-from-env-1"}
    assert fleet.base_url == "https://api.fake.example/v2"
    assert fleet.max_retries == 7
    assert fleet.proxy is None  # ${VAR:-} means "not set", not an invalid empty URL
    assert config.logging.level == "DEBUG"


def test_a_missing_api_key_falls_back_to_the_provider_env_variable() -> None:
    env = {"FAKEFLEET_API_KEY": "k-fallback-1"}
    for section in ({}, None, {"api_key": ""}):
        assert _api_key(section, env) == "k-fallback-1"


def test_an_explicit_api_key_wins_over_the_env_fallback() -> None:
    assert _api_key({"api_key": "k-explicit"}, {"FAKEFLEET_API_KEY": "k-fallback-1"}) == (
        "k-explicit"
    )


@pytest.mark.parametrize("padded", ["k-0123456789\n", " k-0123456789", "\tk-0123456789\r\n"])
def test_whitespace_around_an_api_key_is_trimmed(padded: str) -> None:
    # A key read from a secrets file or mount often keeps the file's newline.
    for section, env in (({"api_key": padded}, {}), ({}, {"FAKEFLEET_API_KEY": padded})):
        assert _api_key(section, env) == "k-0123456789"


@pytest.mark.parametrize("key", ["k-01234\n56789", "k-01234\x0056789", "k-0123456789\u00e9"])
def test_an_api_key_no_http_header_can_carry_is_refused_without_showing_it(key: str) -> None:
    problems = _credential_problems({"api_key": key})
    assert problems.problems == [
        "providers.fakefleet.api_key: has a control or non-ASCII character,"
        " which no HTTP header can carry"
    ]
    assert key not in repr(problems)


def test_an_unset_key_reference_is_reported_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"providers": {"fakefleet": {"api_key": "${FAKE_UNSET_KEY}"}}}, env={})
    assert caught.value.problems == [
        "providers.fakefleet.api_key: environment variable FAKE_UNSET_KEY is not set"
    ]


def test_a_disabled_provider_needs_no_api_key() -> None:
    config = parse_config({"providers": {"fakefleet": {"enabled": "false"}}}, env={})
    assert config.enabled_providers() == {}


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("False", False), ("no", False)])
def test_verify_ssl_from_an_env_variable_is_a_boolean_not_a_ca_path(
    text: str, expected: bool
) -> None:
    config = parse_config(
        {"providers": {"fakefleet": {"api_key": "k-1234", "verify_ssl": "${FAKE_VERIFY}"}}},
        env={"FAKE_VERIFY": text},
    )
    assert config.providers["fakefleet"].verify_ssl is expected


def test_verify_ssl_accepts_an_existing_ca_bundle_path(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    config = ProviderConfig(verify_ssl=str(bundle))
    assert config.verify_ssl == str(bundle)


def test_one_timeout_number_means_connect_and_read() -> None:
    assert ProviderConfig.model_validate({"request_timeout": 12}).request_timeout == (12.0, 12.0)
    assert ProviderConfig.model_validate({"request_timeout": "4.5"}).request_timeout == (4.5, 4.5)
    assert ProviderConfig.model_validate({"request_timeout": [3, 20]}).request_timeout == (3, 20)


def test_yaml_types_and_merge_keys_load(tmp_path: Path) -> None:
    config = tmp_path / "fth.yaml"
    config.write_text(
        "providers:\n"
        "  fakefleet: &base\n"
        "    api_key: k-0123456789\n"
        "    max_retries: 2\n"
        "  other:\n"
        "    <<: *base\n"
        "    max_retries: 5\n"
        "pipeline:\n"
        "  default_start_date: 2026-01-01\n"
        "  batch_increment_days: 0.5\n",
        encoding="utf-8",
    )
    loaded = load_config(config, env={})
    assert loaded.providers["other"].max_retries == 5
    assert loaded.providers["fakefleet"].max_retries == 2
    assert loaded.pipeline.default_start_date == date(2026, 1, 1)
    assert loaded.pipeline.batch_increment_days == 0.5


# -- secrets -------------------------------------------------------------------------------


def test_the_api_key_is_masked_in_config_str_and_repr() -> None:
    config = parse_config({"providers": {"fakefleet": {"api_key": SECRET}}}, env={})
    fleet = config.providers["fakefleet"]
    provider = Provider(FAKEFLEET, fleet)
    for text in (str(config), repr(config), str(fleet), repr(fleet), repr(provider)):
        assert SECRET not in text
    assert _api_key({"api_key": SECRET}, {}) == SECRET


@pytest.mark.parametrize(
    "section",
    [
        {"api_key": [SECRET]},
        {"api_key": {"value": SECRET}},
        {"api_key": 12345678901234567890, "max_retries": -1},
        {"api_key": SECRET, "max_retries": "many", "base_url": "nope"},
        {"api_kye": SECRET},
    ],
    ids=["list", "mapping", "number", "other-errors", "misspelled-key"],
)
def test_config_errors_never_show_the_api_key(section: dict[str, object]) -> None:
    try:  # the file's mistakes first, then the credentials the plugin asks for
        config = parse_config({"providers": {"fakefleet": section}}, env={})
        Provider(FAKEFLEET, config.providers["fakefleet"])
    except ConfigError as exc:
        caught = exc
    else:
        raise AssertionError("no ConfigError")
    text = str(caught) + repr(caught) + " ".join(caught.problems)
    assert SECRET not in text
    assert "12345678901234567890" not in text
    assert "providers.fakefleet." in text


def test_a_secret_from_the_environment_is_not_echoed_wherever_it_lands() -> None:
    env = {"FAKEFLEET_API_KEY": SECRET}
    for section in ("${FAKEFLEET_API_KEY}", {"base_url": "${FAKEFLEET_API_KEY}"}):
        with pytest.raises(ConfigError) as caught:
            parse_config({"providers": {"fakefleet": section}}, env=env)
        assert SECRET not in str(caught.value)
        assert re.search(r"providers\.fakefleet(\.base_url)?: ", str(caught.value))


def test_pydantic_errors_of_the_models_themselves_hide_the_key() -> None:
    with pytest.raises(ValidationError) as caught:
        ProviderConfig.model_validate({"max_retries": SECRET})
    assert SECRET not in str(caught.value)
