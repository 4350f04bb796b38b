"""The uploader's loggers: every module logs under ``uploader.…``, and nothing is printed
unless the application configures logging (a ``NullHandler`` on the ``uploader`` logger,
added once, here: without it Python's last-resort handler would print warnings to stderr
beside the CLI's own output).

Events: batch outcomes, retries, throttles, token refreshes, stops, status and verify
results. Never the token: log ``Secret`` objects only, which format as ``***``. A log call
names its event and what it is about in ``extra`` (``event``, ``batch``, ``attempt``,
``status``); ``JsonFormatter`` makes each record one JSON object (``--log-format json``).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

__all__ = ["JsonFormatter", "get_logger", "json_line"]

logging.getLogger("uploader").addHandler(logging.NullHandler())

#: the keys every JSON line has, in this order (None when a record has no such thing)
_KEYS = ("ts", "level", "event", "batch", "attempt", "status", "message")
#: the same things under the names older log calls give them in ``extra``
_ALIASES = {"batch": "seq", "attempt": "attempts", "status": "http_status"}
#: what every ``LogRecord`` has: not an ``extra``
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def get_logger(name: str) -> logging.Logger:
    """The logger of module ``name`` (its ``__name__``, under ``uploader``)."""
    return logging.getLogger(name)


def json_line(
    level: str, event: str, message: str, *, at: float | None = None, **fields: Any
) -> str:
    """One JSON object, no newline: ``ts`` (ISO 8601 UTC, ms; ``at``: unix seconds, default
    now), ``level``, ``event``, ``batch``, ``attempt``, ``status``, ``message``, then any other
    ``fields``. Values orjson cannot write are written as their ``str``."""
    import orjson

    when = dt.datetime.now(dt.UTC) if at is None else dt.datetime.fromtimestamp(at, dt.UTC)
    data: dict[str, Any] = {
        "ts": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": level,
        "event": event,
        "batch": fields.pop("batch", None),
        "attempt": fields.pop("attempt", None),
        "status": fields.pop("status", None),
        "message": message,
        **fields,
    }
    return orjson.dumps(data, default=str).decode()


class JsonFormatter(logging.Formatter):
    """A record as ``json_line``: its ``extra`` fields are the line's (``event`` defaults to
    the logger's last part, e.g. ``engine``); a traceback goes in ``exc_info`` as text."""

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
        for key, alias in _ALIASES.items():
            if key not in extra and alias in extra:
                extra[key] = extra.pop(alias)
        event = extra.pop("event", None) or record.name.rsplit(".", 1)[-1].lstrip("_")
        if record.exc_info:
            extra["exc_info"] = self.formatException(record.exc_info)
        for key in _KEYS:
            if key not in ("batch", "attempt", "status"):
                extra.pop(key, None)
        return json_line(
            record.levelname.lower(), str(event), record.getMessage(), at=record.created, **extra
        )
