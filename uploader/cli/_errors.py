"""How a command ends on an error: one line on stderr and the exit code, never a traceback."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click
import orjson

from uploader._log import json_line
from uploader.cli._configfile import CONFIG_FILE
from uploader.cli._logformat import is_json
from uploader.errors import UploaderError, spelt
from uploader.exits import EXIT_INTERRUPTED, exit_code_for

__all__ = ["as_flags", "flag", "handle_errors", "run_standalone", "terminate_as_interrupt"]

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


def run_standalone(run: Callable[[], Any], args: Sequence[str]) -> NoReturn:
    """What click's standalone mode does, ending as every error of ours does: ``run`` is the
    group's ``main`` in non-standalone mode. A usage error (click's: a bad flag value, a
    missing argument, an unknown option) is one line, ``uploader: error: --flag: …``, exit
    2, plus the error object on stdout when the command line has ``--json``. A reader that
    closes stdout early (``uploader report | head -1``) only cuts the output short: the
    command ends as it would have, with its own exit code (``_ReaderMayLeave``)."""
    stdout = sys.stdout
    sys.stdout = _ReaderMayLeave(stdout)
    try:
        code = run()
    except click.ClickException as error:
        message = _one_line(error)
        sys.stdout = stdout
        _fail(
            f"uploader: error: {message}", message, error.exit_code, "--json" in args, "usage_error"
        )
    except click.Abort:
        sys.stdout = stdout
        _fail("uploader: interrupted", "interrupted", EXIT_INTERRUPTED, "--json" in args)
    finally:
        sys.stdout = stdout
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(error: click.ClickException) -> str:
    """click's message on one line, led by the option it is about, and where help is."""
    if isinstance(error, click.BadParameter) and not isinstance(error, click.MissingParameter):
        hint = error.param_hint
        if hint is None and error.param is not None:
            hint = error.param.get_error_hint(error.ctx)
        config = _config_file(error)
        if config is not None and error.param is not None:
            message = f"config file {config}: {error.param.name}: {error.message}"
        elif isinstance(hint, str):
            message = f"{hint.replace(chr(39), '')}: {error.message}"
        else:
            message = error.format_message()
    else:
        message = error.format_message()
    message = " ".join(message.split()).rstrip(".")
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        message += f" (see {ctx.command_path} --help)"
    return message


def _config_file(error: click.BadParameter) -> object:
    """The --config file a bad value came from, if it came from one."""
    from click.core import ParameterSource

    ctx, param = error.ctx, error.param
    if ctx is None or param is None or param.name is None:
        return None
    if ctx.get_parameter_source(param.name) is not ParameterSource.DEFAULT_MAP:
        return None
    return ctx.meta.get(CONFIG_FILE)


class _ReaderMayLeave(io.TextIOBase):
    """stdout whose reader may go before the end: the first ``BrokenPipeError`` points the
    file descriptor at /dev/null (so the interpreter's flush at exit does not fail) and the
    rest of the output is dropped, quietly, as a shell pipeline expects."""

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self.raw = raw
        self._gone = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(self.raw.isatty())

    def fileno(self) -> int:
        return int(self.raw.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.raw, "encoding", "utf-8"))

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                self.raw.write(text)
            except BrokenPipeError:
                self._leave()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self.raw.flush()
            except BrokenPipeError:
                self._leave()

    def _leave(self) -> None:
        self._gone = True
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.raw.fileno())
            os.close(devnull)


def _fail(line: str, error: str, code: int, as_json: bool, event: str | None = None) -> NoReturn:
    """One line on stderr (in JSON log mode, ``event`` names its event: click's usage
    errors are ``usage_error``); with --json also an error object on stdout, which a job
    that parses stdout can still read."""
    if event is not None and is_json():
        click.echo(json_line("error", event, error), err=True)
    else:
        click.echo(line, err=True)
    if as_json:
        click.echo(orjson.dumps({"error": error, "exit_code": code}).decode())
    sys.exit(code)
