"""Logging set-up, and the filter that keeps secrets out of every log line.

Every API key a client is built with is registered with :func:`register_secret`; the
:class:`RedactingFilter` installed on the ``fth`` logger replaces any occurrence with
``***`` — in the message, its arguments and a formatted exception — so even an error text that
somehow embeds a key cannot leak it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from io import TextIOWrapper
from pathlib import Path

__all__ = ["RedactingFilter", "configure_logging", "get_logger", "redact", "register_secret"]

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Never show ``value`` in logs or error texts that pass through :func:`redact`."""
    global _pattern
    if len(value) >= 4 and value not in _secrets:  # shorter strings would redact words
        with _lock:
            _secrets.add(value)
            # Longest first, so a secret that contains another is hidden whole.
            ordered = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``, in any letter case (a
    server that echoes a password upper-cased must not leak it either)."""
    pattern = _pattern
    return text if pattern is None else pattern.sub("***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = redact(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class _LazyFileHandler(logging.FileHandler):
    """A log file (and its folder) created with the first record, not before: a run refused
    for a config or usage mistake leaves nothing behind."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self) -> TextIOWrapper:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


class _Without(logging.Filter):
    """Drops the records of the named loggers (and their children)."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self.names = tuple(names)

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(record.name == n or record.name.startswith(f"{n}.") for n in self.names)


def configure_logging(
    level: str = "WARNING",
    file: Path | None = None,
    *,
    console_level: str | None = None,
    file_only: Sequence[str] = (),
) -> None:
    """Send ``fth`` logs to stderr (and ``file``), secrets redacted.

    ``level`` is the file's threshold, and stderr's unless ``console_level`` sets another:
    ``fth run`` writes ``logging.level`` to the log file but only warnings to the terminal,
    whose quiet mode means "problems only". The records of the loggers in ``file_only`` go to
    the file alone: ones whose facts the command already prints its own way (``fth.run``).
    """
    logger = logging.getLogger("fth")
    console = console_level or level
    logger.setLevel(min(logging.getLevelName(level), logging.getLevelName(console)))
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    stream = logging.StreamHandler()
    stream.setLevel(console)
    stream.addFilter(_Without(file_only))
    handlers: list[logging.Handler] = [stream]
    if file is not None:
        handlers.append(_LazyFileHandler(file))
        handlers[-1].setLevel(level)
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
    logger.propagate = False


def get_logger(name: str) -> logging.Logger:
    """A logger whose own records are redacted, whatever handlers capture them (pytest too)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
