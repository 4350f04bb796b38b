"""``--log-format json``: everything the uploader writes on stderr as one JSON object a line.

Two sources, one shape (``uploader._log.json_line``): the library's log records (batch
outcomes, retries, throttles, stops, statuses), through a ``JsonFormatter`` handler on the
``uploader`` logger; and every line a command writes on stderr itself (errors, warnings,
notes, heartbeats), through ``JsonLines`` in place of ``sys.stderr``,
which wraps a plain line into an event and passes a JSON one through. stdout is untouched
(``--json`` keeps its one document there).

``text`` (the default) prints the library's records nowhere, as before.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from typing import Literal, TextIO

import click

from uploader._log import JsonFormatter, json_line
from uploader.errors import ConfigError

__all__ = [
    "LOG_FORMATS",
    "JsonLines",
    "is_json",
    "log_format_from_config",
    "log_format_option",
    "use_log_format",
]

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

#: a command's own stderr lines: prefix → (level, event); the first that matches
_PREFIXES = (
    ("uploader: error: ", "error", "error"),
    ("uploader: warning: ", "warning", "warning"),
    ("uploader: note: ", "info", "note"),
    ("uploader: interrupted", "error", "interrupted"),
    ("uploader: ", "info", "message"),
)

_handler: logging.Handler | None = None  # the JSON handler, while a command runs
_level = logging.NOTSET  # the ``uploader`` logger's level before it
_chosen = False  # --log-format or $UPLOADER_LOG_FORMAT was given: a config file's yields


class JsonLines(io.TextIOBase):
    """A text stream that writes each line given to it to ``raw`` as one JSON object: a
    line that already is one as it is, any other as a ``json_line`` (its level and event
    read from its prefix: ``uploader: warning: …`` → ``warning``). Blank lines are dropped."""

    def __init__(self, raw: TextIO) -> None:
        super().__init__()
        self.raw = raw
        self._partial = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False  # no terminal tricks (a progress bar) on a JSON stream

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""
        self.raw.flush()

    def _line(self, line: str) -> None:
        line = line.rstrip("\r")
        if not line.strip():
            return
        if not _is_json_object(line):
            line = _event(line)
        self.raw.write(line + "\n")
        self.raw.flush()


def _is_json_object(line: str) -> bool:
    if not line.startswith("{"):
        return False
    import orjson

    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _event(line: str) -> str:
    for prefix, level, event in _PREFIXES:
        if line.startswith(prefix):
            return json_line(level, event, line.removeprefix(prefix).strip() or line)
    return json_line("info", "message", line)


def is_json() -> bool:
    """Whether this command's stderr is JSON lines (progress is then heartbeat events)."""
    return isinstance(sys.stderr, JsonLines)


def use_log_format(log_format: LogFormat) -> None:
    """Switch stderr to ``log_format`` for the rest of the command (idempotent). The stream
    stays wrapped up to the process's end, so that click's own usage errors, shown after the
    command returned, are JSON lines too; the log handler goes when the command's context
    closes (``log_format_option``)."""
    global _handler, _level
    if log_format != "json" or is_json():
        return
    stream = JsonLines(sys.stderr)
    sys.stderr = stream
    _handler = logging.StreamHandler(stream)
    _handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("uploader")
    logger.addHandler(_handler)
    _level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


def log_format_from_config(value: object) -> None:
    """A config file's ``log_format``: applies unless the flag or the variable chose."""
    if value not in LOG_FORMATS:
        raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}, not {value!r}")
    if not _chosen and os.environ.get("UPLOADER_LOG_FORMAT") is None:
        use_log_format(value)
        click.get_current_context().call_on_close(_remove_handler)


def _remove_handler() -> None:
    global _handler, _chosen
    _chosen = False
    if _handler is not None:
        logger = logging.getLogger("uploader")
        logger.removeHandler(_handler)
        logger.setLevel(_level)
        _handler = None


def log_format_option() -> click.Option:
    """``--log-format text|json`` (also ``$UPLOADER_LOG_FORMAT``), on the group and on every
    command (``LazyGroup`` adds it): given either place it applies from then on."""

    def apply(ctx: click.Context, param: click.Parameter, value: LogFormat | None) -> None:
        global _chosen
        if value is not None:
            _chosen = True
            use_log_format(value)
            ctx.call_on_close(_remove_handler)

    return click.Option(
        ["--log-format"],
        type=click.Choice(LOG_FORMATS),
        envvar="UPLOADER_LOG_FORMAT",
        is_eager=True,
        expose_value=False,
        callback=apply,
        help="json: everything written on stderr (progress heartbeats, batch events, retries, "
        "warnings, errors) as one JSON object per line: ts, level, event, batch, attempt, "
        "status, message. Default: text (also $UPLOADER_LOG_FORMAT, or log_format in --config).",
    )
