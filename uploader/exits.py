"""Exit codes (documented in --help and the README) and the one place errors become them."""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click
import orjson

from uploader.errors import AuthError, EndpointError, RecordError, UploaderError

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILED",
    "EXIT_HELP",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_YET",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_UNCONFIRMED",
    "EXIT_USAGE",
    "exit_code_for",
    "handle_errors",
    "terminate_as_interrupt",
]

# One table for the whole product: every command exits with one of these (README, --help).
EXIT_OK = 0  # landed (also "landed, sample verified"; check: ready)
EXIT_FAILED = 1  # some batches or rows failed
EXIT_USAGE = 2  # usage, config, input or ledger error, before anything was sent
EXIT_AUTH = 3  # the token was rejected (or none was given where one is required)
EXIT_NOT_YET = 4  # not final yet: Target is still processing (statuses incomplete)
EXIT_UNCONFIRMED = 5  # nothing failed, but statuses expired and no read-back confirmed them
EXIT_STOPPED = 6  # stopped early, resumable (endpoint unreachable, daily budget, limiter lost)
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM: stopped cleanly, resumable

EXIT_HELP = """\b
Exit codes (the same for every command):
  0    landed (or: landed, sample verified; check: ready)
  1    some batches or rows failed (`uploader report --failed-rows` writes them)
  2    usage, config, input or ledger error, before anything was sent
  3    the token was rejected or is missing; fix it and --resume
  4    not final yet: Target is still processing (`uploader status --watch`)
  5    unconfirmed: nothing failed, but Target forgot the statuses and no
       read-back confirmed them (`uploader verify`)
  6    stopped early, resumable (e.g. endpoint unreachable); --resume continues
  130  interrupted (Ctrl-C / SIGTERM); --resume continues"""

F = TypeVar("F", bound=Callable[..., Any])


def exit_code_for(error: UploaderError) -> int:
    if isinstance(error, AuthError):
        return EXIT_AUTH
    if isinstance(error, RecordError | EndpointError):
        return EXIT_STOPPED  # something may have been sent: resumable, not a usage error
    return EXIT_USAGE


def handle_errors(func: F) -> F:
    """Turn an ``UploaderError`` into one line on stderr and its exit code; no traceback.
    A command given ``--json`` also gets ``{"error": …, "exit_code": …}`` on stdout."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))  # the command's --json (its own copy is popped)
        try:
            return func(*args, **kwargs)
        except UploaderError as error:
            _fail(f"uploader: error: {error}", str(error), exit_code_for(error), as_json)
        except KeyboardInterrupt:
            _fail("uploader: interrupted", "interrupted", EXIT_INTERRUPTED, as_json)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler stopping the job) handled as Ctrl-C is, so at any point of a
    command it ends as "interrupted", exit 130 (``handle_errors``), not as a kill (143): the
    current SIGINT handler runs (inside ``asyncio.run`` it cancels the main task cleanly;
    elsewhere it raises ``KeyboardInterrupt``). While sending, the engine's own handlers
    stop the run gracefully instead."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(line: str, error: str, code: int, as_json: bool) -> NoReturn:
    """One line on stderr; with --json also an error object on stdout, which a job that
    parses stdout can still read."""
    click.echo(line, err=True)
    if as_json:
        click.echo(orjson.dumps({"error": error, "exit_code": code}).decode())
    sys.exit(code)
