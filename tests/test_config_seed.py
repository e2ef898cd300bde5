"""Issue 20: someone arriving from the original Fleet Telemetry Hub design.

Its ``config/telemetry_config.yaml`` is accepted as written; ``config/fth.yaml`` ships (what
``fth config init`` writes) and is found from any subfolder or through ``FTH_CONFIG``; every
config mistake, of every layer, is listed in one pass (exit 2), an unwritable dataset path
among them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from loopback_support import DAY0, Sims, cli_env, fth, fth_command, make_sims, one_line

from fth_core.checks import check_config, dataset_path_problem
from fth_core.config import load_config
from fth_core.errors import ConfigError
from fth_core.logs import configure_logging, get_logger

REPO = Path(__file__).resolve().parents[1]

ORIGINAL = """\
providers:
  motive:
    api_key: sim-key
pipeline:
  default_start_date: "2024-01-01"
  lookback_days: 7
  batch_increment_days: 1.0
storage:
  parquet_path: "data/telemetry.parquet"
  parquet_compression: "snappy"        # or gzip, brotli, zstd
logging:
  file_path: "logs/pipeline.log"
  console_level: "INFO"
  file_level: "DEBUG"
"""


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[Sims]:
    yield from make_sims(tmp_path)


# -- 1. the original config file, as written ----------------------------------------------


def test_the_original_config_file_is_accepted_as_written(tmp_path: Path) -> None:
    path = tmp_path / "config" / "telemetry_config.yaml"
    path.parent.mkdir()
    path.write_text(ORIGINAL, encoding="utf-8")
    config = load_config(path)
    assert config.storage.parquet_compression == "snappy"
    assert config.logging.file == Path("logs/pipeline.log")  # file_path, by its name today
    assert (config.logging.level, config.logging.console_level) == ("DEBUG", "INFO")
    result = fth("config", "check", "--offline", "-c", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_defaults_keep_zstd_and_warnings_only_on_the_terminal() -> None:
    config = load_config(REPO / "config" / "fth.yaml", env={"X": "y"}, credentials=False)
    assert config.storage.parquet_compression == "zstd"
    assert (config.logging.level, config.logging.console_level) == ("INFO", "WARNING")


def test_both_names_of_one_setting_or_an_unknown_codec_are_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "fth.yaml"
    path.write_text(
        "logging: {file: a.log, file_path: b.log, level: INFO, file_level: DEBUG}\n"
        "storage: {parquet_compression: lz4}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert any(p.startswith("logging: give file or file_path, not both") for p in problems)
    assert any(p.startswith("storage.parquet_compression: ") for p in problems), problems


@pytest.mark.parametrize(("codec", "written"), [("snappy", "SNAPPY"), ("none", "UNCOMPRESSED")])
def test_parquet_compression_is_what_the_run_writes(sims: Sims, codec: str, written: str) -> None:
    document = yaml.safe_load(sims.config().read_text(encoding="utf-8"))
    document["storage"]["parquet_compression"] = codec
    path = sims.tmp / "fth.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = fth("run", "-c", str(path), "--end", "2026-03-03", "--quiet", cwd=sims.tmp)
    assert result.returncode == 0, result.stderr
    files = sorted(sims.dataset.glob("date=*/*.parquet"))
    assert files
    for file in files:
        metadata = pq.ParquetFile(file).metadata
        assert metadata.row_group(0).column(0).compression == written


def test_file_level_debug_goes_to_the_file_and_console_level_info_to_the_terminal(
    sims: Sims,
) -> None:
    document = yaml.safe_load(sims.config().read_text(encoding="utf-8"))
    document["logging"] = {
        "file_path": str(sims.tmp / "logs" / "pipeline.log"),
        "console_level": "INFO",
        "file_level": "DEBUG",
    }
    path = sims.tmp / "fth.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = fth("run", "-c", str(path), "--end", "2026-03-03", cwd=sims.tmp)
    assert result.returncode == 0, result.stderr
    logged = (sims.tmp / "logs" / "pipeline.log").read_text(encoding="utf-8")
    assert " DEBUG " in logged
    assert " INFO " in logged
    assert " DEBUG " not in result.stderr  # the terminal's threshold is INFO


def test_console_level_info_shows_info_records_but_not_debug_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run's own INFO account (fth.run) stays off the terminal, whose progress lines say
    # the same: the other loggers' INFO records show there.
    path = tmp_path / "fth.yaml"
    path.write_text(ORIGINAL.replace("logs/pipeline.log", str(tmp_path / "p.log")))
    logs = load_config(path).logging
    try:
        configure_logging(logs.level, logs.file, console_level=logs.console_level)
        get_logger("fth.client").info("an info record")
        get_logger("fth.client").debug("a debug record")
    finally:
        configure_logging()
    shown = capsys.readouterr().err
    assert "an info record" in shown
    assert "a debug record" not in shown
    assert "a debug record" in (tmp_path / "p.log").read_text(encoding="utf-8")


# -- 2. config/fth.yaml: shipped, current, found -------------------------------------------


def test_the_shipped_config_is_what_config_init_writes_today(tmp_path: Path) -> None:
    written = tmp_path / "fth.yaml"
    result = fth("config", "init", "-o", str(written), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shipped = (REPO / "config" / "fth.yaml").read_text(encoding="utf-8")
    assert shipped == written.read_text(encoding="utf-8"), (
        "config/fth.yaml is stale: regenerate it with `fth config init -o config/fth.yaml --force`"
    )


def _project(tmp_path: Path, dataset: str) -> Path:
    """A project whose config/fth.yaml has a disabled provider: `config check` prints it."""
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config" / "fth.yaml").write_text(
        f"providers: {{motive: {{api_key: sim-key}}}}\nstorage: {{parquet_path: {dataset}}}\n",
        encoding="utf-8",
    )
    return tmp_path / "config" / "fth.yaml"


def test_config_is_found_in_a_parent_folder_and_fth_config_comes_first(tmp_path: Path) -> None:
    project = _project(tmp_path / "project", "data")
    deep = tmp_path / "project" / "src" / "deep"
    deep.mkdir(parents=True)
    result = fth("config", "check", "--offline", cwd=deep)
    assert result.returncode == 0, result.stderr
    assert str(project) in result.stdout  # the ancestor's config/fth.yaml

    other = tmp_path / "other.yaml"
    other.write_text("providers: {}\n", encoding="utf-8")
    env = cli_env() | {"FTH_CONFIG": str(other)}
    found = subprocess.run(
        fth_command("config", "check", "--offline"),
        env=env,
        cwd=deep,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith(f"{other}: OK")
    # --config still wins over both.
    given = subprocess.run(
        fth_command("config", "check", "--offline", "-c", str(project)),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert given.stdout.startswith(f"{project}: OK"), given.stderr


# -- 3. every layer's mistakes in one pass -------------------------------------------------

EVERY_LAYER = """\
providers:
  motiv: {}
  motive:
    api_key: abcd1234
    options: {nonsense: 1}
  samsara:
    max_retries: 2
pipeline:
  lookback_days: -1
"""


@pytest.mark.parametrize("command", [("config", "check"), ("run",)])
def test_mistakes_of_every_layer_are_listed_in_one_pass(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "fth.yaml"
    path.write_text(EVERY_LAYER + f"storage: {{parquet_path: {tmp_path / 'data'}}}\n")
    result = fth(*command, "-c", str(path), cwd=tmp_path)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"error: {path}: 4 problems: "), line
    for where in (
        "pipeline.lookback_days: ",  # a value
        "providers.motiv: no installed plugin provides it",  # a provider
        "providers.motive.options.nonsense: unknown key",  # a plugin option
        "providers.samsara.api_key: no API key",  # credentials
    ):
        assert where in line, line
    assert not (tmp_path / "data").exists()


def test_check_config_lists_options_and_credentials_of_one_provider_together(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fth.yaml"
    path.write_text("providers: {motive: {options: {nonsense: 1}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        check_config(path, env={})
    assert caught.value.problems == [
        "providers.motive.api_key: no API key (set it here or in MOTIVE_API_KEY)",
        "providers.motive.options.nonsense: unknown key",
    ]


# -- 4. an unwritable dataset path --------------------------------------------------------

# A folder no one can create a file in, root included (os.access would say yes to root).
UNWRITABLE = Path("/proc/fth-dataset")


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("command", [("config", "check", "--offline"), ("run",)])
def test_an_unwritable_dataset_path_is_a_config_error(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = _project(tmp_path, str(UNWRITABLE))
    result = fth(*command, "-c", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(
        f"error: {path}: storage.parquet_path: {UNWRITABLE} cannot be created in /proc"
    )


def test_a_writable_or_creatable_dataset_path_passes(tmp_path: Path) -> None:
    assert dataset_path_problem(tmp_path) is None
    assert dataset_path_problem(tmp_path / "not" / "yet") is None
    assert not (tmp_path / "not").exists()  # checked, not created
    assert os.listdir(tmp_path) == []  # the probe file is gone


def test_a_good_run_prints_nothing_more_with_quiet(sims: Sims) -> None:
    # The checks add nothing to a good run's output.
    result = fth("run", "-c", str(sims.config()), "--end", "2026-03-03", "--quiet", cwd=sims.tmp)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert DAY0.date().isoformat() in {p.name.removeprefix("date=") for p in sims.dataset.iterdir()}
