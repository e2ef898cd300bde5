"""Someone at a shell (issue 20): ``-h`` everywhere, shell completion, global options before
or after the subcommand, ``--format`` choices, an example in every help, the exit codes in
``fth --help``, one meaning per short flag, and ``fth endpoints`` whole at 80 columns.

The CLI runs for real, in a subprocess (``python -m fth_core.cli``), with every installed
plugin; only the walk over the command tree imports the app.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from loopback_support import cli_env, fth

from fth_core.cli import app
from fth_core.registry import EndpointRegistry


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``group``, with its words (``("state", "show")``)."""
    found = []
    for name, command in group.commands.items():
        found.append(((*path, name), command))
        if hasattr(command, "commands"):
            found += _commands(command, (*path, name))
    return found


ROOT = typer.main.get_command(app)
COMMANDS = _commands(ROOT)
WORDS = [" ".join(words) for words, _ in COMMANDS]


def _flat(text: str) -> str:
    """Help text as one line: rich's boxes and line breaks out, spaces collapsed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("words", ["", *WORDS], ids=["fth", *WORDS])
def test_h_is_help_everywhere_and_every_help_shows_an_example(words: str, tmp_path: Path) -> None:
    result = fth(*words.split(), "-h", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"Usage: fth {words}".strip() in _flat(result.stdout)
    assert f"Example: fth {words}".strip() in _flat(result.stdout)


def test_the_exit_codes_are_in_fth_help(tmp_path: Path) -> None:
    text = _flat(fth("--help", cwd=tmp_path).stdout)
    assert (
        "Exit codes: 0 ok, 1 failure, 2 usage or config error (or the dataset in use),"
        " 3 partial, 130 / 143 interrupted (SIGINT / SIGTERM)"
    ) in text


def test_shell_completion_is_offered_and_completes_commands(tmp_path: Path) -> None:
    text = fth("--help", cwd=tmp_path).stdout
    assert "--install-completion" in text
    assert "--show-completion" in text
    # (--show-completion detects the user's shell from its parent process, which under make or
    # CI may be none: what is checked below is the completion itself.)
    # What bash's completion function asks: the words so far, and the one to complete.
    env = cli_env() | {"_FTH_COMPLETE": "complete_bash", "COMP_WORDS": "fth sta", "COMP_CWORD": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "fth_core.cli"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.stdout.split() == ["status", "state"]


def _config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"storage:\n  parquet_path: {tmp_path / name}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "{a}", "status"],
        ["status", "--config", "{a}"],
        ["-c", "{a}", "status"],
        ["-c", "{b}", "status", "-c", "{a}"],  # the command's own option wins
        ["--debug", "status", "-c", "{a}"],
        ["status", "--debug", "-c", "{a}"],
    ],
)
def test_config_and_debug_go_before_or_after_the_command(args: list[str], tmp_path: Path) -> None:
    paths = {"a": _config(tmp_path, "a"), "b": _config(tmp_path, "b")}
    result = fth(*(arg.format(**paths) for arg in args), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"dataset: {tmp_path / 'a'}\n" in result.stdout


def test_a_global_config_reaches_nested_commands(tmp_path: Path) -> None:
    result = fth("-c", str(_config(tmp_path, "a")), "state", "show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"state: {tmp_path / 'a'}" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["--debug", "run", "-c", "missing.yaml"], ["run", "--debug", "-c", "missing.yaml"]],
    ids=["before", "after"],
)
def test_debug_before_or_after_run_shows_the_traceback(args: list[str], tmp_path: Path) -> None:
    result = fth(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: missing.yaml: config file not found")


def test_a_global_config_is_run_s_and_a_debug_after_double_dash_is_an_argument(
    tmp_path: Path,
) -> None:
    result = fth("--config", "missing.yaml", "run", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr == "error: missing.yaml: config file not found (fth config init writes one)\n"
    )
    # After "--" a "--debug" is SQL (a comment), not the option: no traceback.
    result = fth("query", "-c", "missing.yaml", "--", "--debug", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_a_global_config_for_a_command_without_one_is_a_usage_error(tmp_path: Path) -> None:
    result = fth("-c", "x.yaml", "demo", cwd=tmp_path)
    assert result.returncode == 2
    assert "fth demo takes no config file" in _flat(result.stderr)
    assert not (tmp_path / "demo-data").exists()


def test_query_and_fetch_formats_list_their_choices_in_help_and_in_the_error(
    tmp_path: Path,
) -> None:
    assert "<table|csv|json>" in fth("query", "-h", cwd=tmp_path).stdout
    result = fth("query", "-f", "xml", "select 1", cwd=tmp_path)
    assert result.returncode == 2
    assert "'xml' is not one of 'table', 'csv', 'json'" in _flat(result.stderr)
    assert "<table|json|csv|parquet>" in fth("fetch", "-h", cwd=tmp_path).stdout
    result = fth("fetch", "motive", "vehicles", "-f", "xml", cwd=tmp_path)
    assert result.returncode == 2
    assert "'xml' is not one of 'table', 'json', 'csv', 'parquet'" in _flat(result.stderr)


def test_each_short_flag_means_one_long_option_across_the_cli() -> None:
    meanings: dict[str, set[str]] = {}
    for _, command in [((), ROOT), *COMMANDS]:
        for param in command.params:
            names = [*param.opts, *param.secondary_opts]
            longs = [n for n in names if n.startswith("--")]
            for short in (n for n in names if not n.startswith("--")):
                meanings.setdefault(short, set()).update(longs)
    clashes = {short: longs for short, longs in meanings.items() if len(longs) > 1}
    assert clashes == {}
    assert meanings["-p"] == {"--provider"}
    assert meanings["-P"] == {"--param"}


def test_endpoints_keeps_every_name_whole_at_80_columns(tmp_path: Path) -> None:
    # A terminal 80 columns wide, as rich sees one (TTY_COMPATIBLE), without colour.
    env = cli_env() | {"TTY_COMPATIBLE": "1", "NO_COLOR": "1", "COLUMNS": "80"}
    result = subprocess.run(
        [sys.executable, "-m", "fth_core.cli", "endpoints"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert max(len(line) for line in plain.splitlines()) <= 80
    cells = {cell.strip() for line in plain.splitlines() for cell in re.split("[│┃]", line)}
    registry = EndpointRegistry.from_plugins()
    listed = registry.list_endpoints(None)
    assert listed
    for endpoint in listed:
        assert endpoint.provider in cells
        assert endpoint.name in cells
        for param in endpoint.params:  # the names -P takes, whole on some line
            assert re.search(rf"(^|\s){re.escape(param.name)}\*?(,|\s|$)", plain), param.name
