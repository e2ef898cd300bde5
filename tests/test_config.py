"""Configuration: every mistake is one readable line with its YAML path; secrets never show.

The mistake table runs the real ``fth config check`` in a subprocess, with only the fake
``fakefleet`` plugin loaded (it has a settings model, so ``options`` are checked too).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from fake_plugins import run_fth
from pydantic import ValidationError

from fth_core.config import FthConfig, ProviderConfig, load_config, parse_config
from fth_core.errors import ConfigError

SECRET = "sk-live-SECRET-1234567890"
GOOD = "providers:\n  fakefleet:\n    api_key: k-0123456789\n"


def _provider(**lines: object) -> str:
    """A config whose fakefleet section has a valid key plus ``lines`` (YAML values)."""
    body = "".join(f"    {key}: {value}\n" for key, value in lines.items())
    return f"providers:\n  fakefleet:\n    api_key: k-0123456789\n{body}"


# (config text, where the one message points, its gist)
MISTAKES = [
    pytest.param(
        "providers:\n  fakefleet: {api_key: k}\n  bad: value: other\n",
        "line 3, column 13",
        "invalid YAML: mapping values are not allowed here",
        id="yaml-syntax",
    ),
    pytest.param(
        GOOD + "providers:\n  other: {}\n",
        "line 4, column 1",
        "invalid YAML: duplicate key 'providers' (first on line 1)",
        id="yaml-duplicate-key",
    ),
    pytest.param(
        "- providers\n- pipeline\n",
        "the top level must be a mapping",
        "(providers:, pipeline:, ...)",
        id="top-level-list",
    ),
    pytest.param(
        GOOD + "provider: {}\n",
        "provider",
        "unknown key (did you mean providers?)",
        id="unknown-top-level-key",
    ),
    pytest.param(
        _provider(max_retry=3),
        "providers.fakefleet.max_retry",
        "unknown key (did you mean max_retries?)",
        id="unknown-provider-key",
    ),
    pytest.param(
        _provider(max_retries=-1),
        "providers.fakefleet.max_retries",
        "greater than or equal to 0 (got -1)",
        id="negative-max-retries",
    ),
    pytest.param(
        _provider(verify_ssl="/nonexistent/ca-bundle.pem"),
        "providers.fakefleet.verify_ssl",
        "CA bundle /nonexistent/ca-bundle.pem does not exist",
        id="missing-ca-bundle",
    ),
    pytest.param(
        _provider(base_url="api.fakefleet.example"),
        "providers.fakefleet.base_url",
        "must be an http:// or https:// URL (got 'api.fakefleet.example')",
        id="base-url-not-a-url",
    ),
    pytest.param(
        _provider(base_url="https://${FTH_TEST_UNSET_HOST}/api"),
        "providers.fakefleet.base_url",
        "environment variable FTH_TEST_UNSET_HOST is not set",
        id="unset-env-reference",
    ),
    pytest.param(
        "providers:\n  fakefleet:\n    max_retries: 2\n",
        "providers.fakefleet.api_key",
        "no API key (set it here or in FAKEFLEET_API_KEY)",
        id="missing-api-key",
    ),
    pytest.param(
        GOOD + "  nosuch:\n    api_key: k-0123456789\n",
        "providers.nosuch",
        "no installed plugin provides it (installed: fakefleet)",
        id="provider-not-installed",
    ),
    pytest.param(
        "providers:\n  FakeFleet:\n    api_key: k-0123456789\n",
        "providers",
        "provider name 'FakeFleet' must be lower-case letters, digits, _",
        id="provider-name-capitals",
    ),
    pytest.param(
        _provider(options="{page_size: many}"),
        "providers.fakefleet.options.page_size",
        "valid integer, unable to parse string as an integer (got 'many')",
        id="option-wrong-type",
    ),
    pytest.param(
        _provider(options="{page_sise: 10}"),
        "providers.fakefleet.options.page_sise",
        "unknown key (did you mean page_size?)",
        id="option-misspelled",
    ),
    pytest.param(
        _provider(options="{region: mars}"),
        "providers.fakefleet.options.region",
        "input should be 'us' or 'eu' (got 'mars')",
        id="option-not-a-choice",
    ),
    pytest.param(
        GOOD + "pipeline:\n  lookback_days: -1\n",
        "pipeline.lookback_days",
        "greater than or equal to 0 (got -1)",
        id="lookback-negative",
    ),
    pytest.param(
        GOOD + "pipeline:\n  default_start_date: last tuesday\n",
        "pipeline.default_start_date",
        "valid date or datetime",
        id="start-date-not-a-date",
    ),
    pytest.param(
        GOOD + "logging:\n  level: bogus\n",
        "logging.level",
        "input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR' (got 'BOGUS')",
        id="log-level-bogus",
    ),
]


# More schema mistakes, checked in-process through load_config (same messages, no plugin
# needed) to keep the subprocess count, and the suite's run time, down.
SCHEMA_MISTAKES = [
    pytest.param(
        _provider(retry_backoff_factor="fast"),
        "providers.fakefleet.retry_backoff_factor",
        "valid number, unable to parse string as a number (got 'fast')",
        id="backoff-as-text",
    ),
    pytest.param(
        _provider(request_timeout="[1, 2, 3]"),
        "providers.fakefleet.request_timeout",
        "must be [connect, read] seconds or one number",
        id="timeout-three-values",
    ),
    pytest.param(
        _provider(proxy="ftp://proxy.example:21"),
        "providers.fakefleet.proxy",
        "must be a proxy URL (http://, https:// or socks5://)",
        id="proxy-bad-scheme",
    ),
    pytest.param(
        "providers:\n  fakefleet:\n    api_key: [a, b]\n",
        "providers.fakefleet.api_key",
        "input should be a valid string",
        id="api-key-a-list",
    ),
    pytest.param(
        _provider(rate_limit="{requests_per_second: 0}"),
        "providers.fakefleet.rate_limit.requests_per_second",
        "greater than 0 (got 0)",
        id="rate-limit-zero",
    ),
    pytest.param(
        _provider(max_concurrency=0),
        "providers.fakefleet.max_concurrency",
        "greater than or equal to 1 (got 0)",
        id="max-concurrency-zero",
    ),
    pytest.param(
        GOOD + "pipeline:\n  batch_increment_days: 0\n",
        "pipeline.batch_increment_days",
        "greater than 0 (got 0)",
        id="batch-increment-zero",
    ),
    pytest.param(
        GOOD + "storage:\n  retention_days: 0\n",
        "storage.retention_days",
        "greater than or equal to 1 (got 0)",
        id="retention-zero",
    ),
    pytest.param(
        'providers:\n  fakefleet:\n    api_key: "unterminated\n',
        "line 4, column 1",
        "invalid YAML: found unexpected end of stream",
        id="yaml-unterminated-string",
    ),
    pytest.param(
        _provider(rate_limit="{requests_per_sec: 3}"),
        "providers.fakefleet.rate_limit.requests_per_sec",
        "unknown key (did you mean requests_per_second?)",
        id="unknown-rate-limit-key",
    ),
    pytest.param(
        _provider(request_timeout=-5),
        "providers.fakefleet.request_timeout",
        "timeouts must be positive numbers of seconds (got -5)",
        id="timeout-negative",
    ),
    pytest.param(
        _provider(request_timeout="slow"),
        "providers.fakefleet.request_timeout",
        "must be [connect, read] seconds or one number (got 'slow')",
        id="timeout-text",
    ),
    pytest.param(
        _provider(verify_ssl=5),
        "providers.fakefleet.verify_ssl",
        "must be true, false or the path of a CA bundle (got 5)",
        id="verify-ssl-number",
    ),
    pytest.param(
        "providers:\n  fakefleet: just-a-string\n",
        "providers.fakefleet",
        "input should be a valid dictionary",
        id="provider-section-a-scalar",
    ),
    pytest.param(
        _provider(enabled="perhaps"),
        "providers.fakefleet.enabled",
        "valid boolean, unable to interpret input (got 'perhaps')",
        id="enabled-not-a-boolean",
    ),
    pytest.param(
        GOOD + "pipeline: [lookback_days]\n",
        "pipeline",
        "input should be a valid dictionary",
        id="pipeline-a-list",
    ),
]


@pytest.mark.parametrize(("text", "where", "gist"), MISTAKES)
def test_each_config_mistake_is_one_line_with_its_path_and_exit_2(
    tmp_path: Path, text: str, where: str, gist: str
) -> None:
    config = tmp_path / "fth.yaml"
    config.write_text(text, encoding="utf-8")
    result = run_fth("config", "check", "--offline", "--config", str(config))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {config}: {where}"), lines[0]
    assert gist in lines[0]


@pytest.mark.parametrize(("text", "where", "gist"), SCHEMA_MISTAKES)
def test_each_schema_mistake_is_one_problem_with_its_path(
    tmp_path: Path, text: str, where: str, gist: str
) -> None:
    config = tmp_path / "fth.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    assert len(caught.value.problems) == 1, caught.value.problems
    assert str(caught.value).startswith(f"{config}: {where}"), str(caught.value)
    assert gist in str(caught.value)
    assert caught.value.exit_code == 2


def test_the_mistake_tables_are_broad() -> None:
    assert len(MISTAKES) >= 15
    ids = [p.id for p in [*MISTAKES, *SCHEMA_MISTAKES]]
    assert len(set(ids)) == len(ids) >= 30


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
    assert [p.split(": ", 1)[0] for p in problems] == [
        "pipeline.lookback_days",
        "providers.fakefleet.max_retries",
        "logging.level",
        "provider",
        "providers.fakefleet.api_key",
    ]
    # The unset variable is reported once, not again as "not a valid integer".
    assert (
        problems[0] == "pipeline.lookback_days: environment variable FTH_TEST_UNSET_DAYS is not set"
    )
    assert caught.value.source == str(config)
    result = run_fth("config", "check", "--offline", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"error: {config}: 5 problems: " in result.stderr


def test_config_check_on_a_valid_config_exits_0_and_says_ok(tmp_path: Path) -> None:
    config = tmp_path / "fth.yaml"
    config.write_text(_provider(options="{region: eu}"), encoding="utf-8")
    result = run_fth("config", "check", "--offline", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{config}: OK (providers enabled: fakefleet)\n"


def test_config_check_on_a_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run_fth("config", "check", "--offline", "--config", str(missing))
    assert result.returncode == 2
    assert result.stderr == f"error: config file {missing} not found\n"


def test_config_check_on_a_file_that_is_not_utf8_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "fth.yaml"
    config.write_bytes(b"\xff\xfeproviders: {}\n")
    result = run_fth("config", "check", "--offline", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot read config file {config}: ")
    assert result.stderr.count("\n") == 1


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
    assert fleet.api_key is not None
    assert fleet.api_key.get_secret_value() == "k-from-env-1"
    assert fleet.base_url == "https://api.fake.example/v2"
    assert fleet.max_retries == 7
    assert fleet.proxy is None  # ${VAR:-} means "not set", not an invalid empty URL
    assert config.logging.level == "DEBUG"


def test_a_missing_api_key_falls_back_to_the_provider_env_variable() -> None:
    env = {"FAKEFLEET_API_KEY": "k-fallback-1"}
    for section in ({}, None, {"api_key": ""}):
        config = parse_config({"providers": {"fakefleet": section}}, env=env)
        key = config.providers["fakefleet"].api_key
        assert key is not None
        assert key.get_secret_value() == "k-fallback-1"


def test_an_explicit_api_key_wins_over_the_env_fallback() -> None:
    config = parse_config(
        {"providers": {"fakefleet": {"api_key": "k-explicit"}}},
        env={"FAKEFLEET_API_KEY": "k-fallback-1"},
    )
    key = config.providers["fakefleet"].api_key
    assert key is not None
    assert key.get_secret_value() == "k-explicit"


@pytest.mark.parametrize("padded", ["k-0123456789\n", " k-0123456789", "\tk-0123456789\r\n"])
def test_whitespace_around_an_api_key_is_trimmed(padded: str) -> None:
    # A key read from a secrets file or mount often keeps the file's newline.
    for section, env in (({"api_key": padded}, {}), ({}, {"FAKEFLEET_API_KEY": padded})):
        key = parse_config({"providers": {"fakefleet": section}}, env=env).providers["fakefleet"]
        assert key.api_key is not None
        assert key.api_key.get_secret_value() == "k-0123456789"


@pytest.mark.parametrize("key", ["k-01234\n56789", "k-01234\x0056789", "k-0123456789\u00e9"])
def test_an_api_key_no_http_header_can_carry_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"providers": {"fakefleet": {"api_key": key}}}, env={})
    assert caught.value.problems == [
        "providers.fakefleet.api_key: has a control or non-ASCII character,"
        " which no HTTP header can carry"
    ]
    assert key not in repr(caught.value)


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
    for text in (str(config), repr(config), str(fleet), repr(fleet), str(fleet.model_dump())):
        assert SECRET not in text
    assert fleet.api_key is not None
    assert fleet.api_key.get_secret_value() == SECRET


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
    with pytest.raises(ConfigError) as caught:
        parse_config({"providers": {"fakefleet": section}}, env={})
    text = str(caught.value) + repr(caught.value) + " ".join(caught.value.problems)
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
        ProviderConfig.model_validate({"api_key": [SECRET]})
    assert SECRET not in str(caught.value)
