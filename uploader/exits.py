"""Exit codes (documented in --help and the README) and the one place errors become them."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from uploader.errors import AuthError, UploaderError

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILED",
    "EXIT_HELP",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_YET",
    "EXIT_OK",
    "EXIT_USAGE",
    "exit_code_for",
    "handle_errors",
]

EXIT_OK = 0  # every valid row acknowledged (or: the check passed)
EXIT_FAILED = 1  # some batches failed permanently
EXIT_USAGE = 2  # usage, config or input error: nothing was sent
EXIT_AUTH = 3  # the token was rejected: the run stopped, resumable
EXIT_NOT_YET = 4  # report/status: nothing failed, but Target is still processing
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM: stopped cleanly, resumable

EXIT_HELP = """\b
Exit codes:
  0    all valid rows acknowledged
  1    some batches failed permanently (see the ledger)
  2    usage, config or input error (nothing was sent)
  3    the token was rejected (expired or regenerated); fix it and --resume
  130  interrupted (Ctrl-C / SIGTERM); --resume continues"""

F = TypeVar("F", bound=Callable[..., Any])


def exit_code_for(error: UploaderError) -> int:
    return EXIT_AUTH if isinstance(error, AuthError) else EXIT_USAGE


def handle_errors(func: F) -> F:
    """Turn an ``UploaderError`` into one line on stderr and its exit code; no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UploaderError as error:
            click.echo(f"uploader: error: {error}", err=True)
            sys.exit(exit_code_for(error))
        except KeyboardInterrupt:
            click.echo("uploader: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]
