"""How a command ends on an error: one line on stderr and the exit code, never a traceback."""

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

from uploader.errors import UploaderError, spelt
from uploader.exits import EXIT_INTERRUPTED, exit_code_for

__all__ = ["as_flags", "flag", "handle_errors", "terminate_as_interrupt"]

F = TypeVar("F", bound=Callable[..., Any])


def flag(setting: str) -> str:
    """The option of a library parameter: ``batch_rows`` → ``--batch-rows`` (click's own
    naming, which every option of the CLI follows)."""
    return f"--{setting.replace('_', '-')}"


#: library keys the command line says otherwise than as one flag (``uploader.errors``)
_COMMAND_LINE = {
    "tokens=…": "--token-env, --token-file, --token-command or --auth adobe-io",
    "CommandToken": "--token-command",
    "poll_statuses(…, watch=True)": "uploader status --watch",
    "upload_files(…, resume=True)": "uploader upload … --resume",
    "to_dict()": "--json",
}


def as_flags(key: str) -> str:
    """How the command line names a library key: its flag (a switch turned on,
    ``resume=True``, is the flag alone), or its own words for the few that are not one flag."""
    return _COMMAND_LINE.get(key) or flag(key.removesuffix("=True"))


def handle_errors(func: F) -> F:
    """Turn an ``UploaderError`` into one line on stderr and its exit code; no traceback.
    A command given ``--json`` also gets ``{"error": …, "exit_code": …}`` on stdout. Every
    text the library makes meanwhile names flags, not parameters (``as_flags``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))  # the command's --json (its own copy is popped)
        with spelt(as_flags):
            try:
                return func(*args, **kwargs)
            except UploaderError as error:
                message = str(error)
                _fail(f"uploader: error: {message}", message, exit_code_for(error), as_json)
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
