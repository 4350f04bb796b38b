"""What a command prints with ``--json``: the JSON alone on stdout, problems on stderr too.

A nightly job parses stdout and keeps stderr in its log: an error that is only inside the JSON
is lost to whoever reads the log, and a line that is not JSON on stdout breaks the parser.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import click
import orjson

__all__ = ["echo_json", "echo_warnings"]


def echo_json(
    data: Mapping[str, Any], *, errors: Iterable[str] = (), warnings: Iterable[str] = ()
) -> None:
    """``data`` as JSON on stdout; each error and warning as one line on stderr."""
    for error in errors:
        click.echo(f"uploader: error: {_one_line(error)}", err=True)
    echo_warnings(warnings)
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def echo_warnings(warnings: Iterable[str]) -> None:
    """Each warning as one line on stderr, with or without --json: stdout holds the result
    (a plan, a summary or JSON) that a job may parse; the log keeps stderr."""
    for warning in warnings:
        click.echo(f"uploader: warning: {_one_line(warning)}", err=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())
