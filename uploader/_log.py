"""The uploader's loggers: every module logs under ``uploader.…``, and nothing is printed
unless the application configures logging (a ``NullHandler`` on the ``uploader`` logger,
added once, here: without it Python's last-resort handler would print warnings to stderr
beside the CLI's own output).

Events: batch outcomes, retries, throttles, token refreshes, stops, status and verify
results. Never the token: log ``Secret`` objects only, which format as ``***``.
"""

from __future__ import annotations

import logging

__all__ = ["get_logger"]

logging.getLogger("uploader").addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """The logger of module ``name`` (its ``__name__``, under ``uploader``)."""
    return logging.getLogger(name)
