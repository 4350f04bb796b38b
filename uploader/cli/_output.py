"""What a command prints with ``--json``: the JSON alone on stdout, problems on stderr too.

A nightly job parses stdout and keeps stderr in its log: an error that is only inside the JSON
is lost to whoever reads the log, and a line that is not JSON on stdout breaks the parser.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click
import orjson

if TYPE_CHECKING:
    from uploader.ledger._summary import RunSummary

__all__ = ["echo_json", "echo_warnings", "report", "summary_problems"]


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


def report(summary: RunSummary, as_json: bool) -> None:
    """An upload's summary on stdout, and what the run waited for (Target's statuses, the
    sample read back); its warnings (and an error that stopped it) on stderr."""
    if as_json:
        echo_json(summary.to_dict(), **summary_problems(summary))
        return
    for line in summary.lines():
        click.echo(line)
    echo_warnings(summary.warnings)
    for result in (summary.target, summary.verification):
        for line in result.lines() if result is not None else ():
            click.echo(line)


def summary_problems(summary: RunSummary) -> dict[str, list[str]]:
    """Why the run stopped (an error) and its warnings, for stderr beside the JSON."""
    polls = list(summary.target.errors) if summary.target is not None else []
    return {
        "errors": [summary.message] if summary.message else [],
        "warnings": [*summary.warnings, *polls],
    }
