"""Logging set-up: the log file appears with the first record (not before), secrets redacted."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from fth_core.logs import configure_logging, get_logger, register_secret


@pytest.fixture
def fth_logger() -> Iterator[logging.Logger]:
    """The ``fth`` logger, given back afterwards as it was (handlers closed)."""
    logger = logging.getLogger("fth")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    for handler in logger.handlers:
        handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_the_log_file_and_its_folder_appear_with_the_first_record(
    tmp_path: Path, fth_logger: logging.Logger
) -> None:
    log_file = tmp_path / "logs" / "fth.log"
    configure_logging("INFO", log_file)
    assert not (tmp_path / "logs").exists(), "nothing is written before there is something to log"
    register_secret("k-logged-secret-123")
    get_logger("fth.test").info("fetched with key %s", "k-logged-secret-123")
    for handler in fth_logger.handlers:
        handler.flush()
    text = log_file.read_text(encoding="utf-8")
    assert "INFO fth.test: fetched with key ***" in text
    assert "k-logged-secret-123" not in text
