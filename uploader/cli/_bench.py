"""``uploader bench``: how fast this machine uploads, and what that means at Target's limit."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import orjson

from uploader._writable import make_dirs
from uploader.cli._errors import handle_errors
from uploader.cli._paths import PathType
from uploader.errors import ConfigError, first_line
from uploader.exits import EXIT_FAILED, EXIT_HELP

__all__ = ["bench"]


@click.command(epilog=EXIT_HELP)
@click.option("--quick", is_flag=True, help="200,000 rows (a few seconds) instead of 2,000,000.")
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    help="Rows to generate and upload (overrides --quick). Default: 2,000,000.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="The generated file's format.",
)
@click.option(
    "--data",
    type=PathType(file_okay=False),
    metavar="DIR",
    help="Keep the generated datasets in DIR and reuse them on the next run. Default: a "
    "temporary directory, removed at the end.",
)
@click.option("--json", "as_json", is_flag=True, help="Print every figure as one JSON object.")
@handle_errors
def bench(quick: bool, rows: int | None, fmt: str, data: Path | None, as_json: bool) -> None:
    """Measure this machine: generated CRM data (id + 10 text attributes) uploaded end to
    end by the real uploader to the embedded mock Target server, each in its own process on
    127.0.0.1 (no rate limit), then the producer alone; print rows/s, peak RSS and what that
    means at Target's real limit (50 calls a minute)."""
    from uploader.bench import _run

    count = rows or (_run.QUICK_ROWS if quick else _run.DEFAULT_ROWS)

    def say(line: str) -> None:
        if not as_json:
            click.echo(line, err=True)

    with _data_dir(data) as directory:
        try:
            result = _run.run(count, fmt, directory, say)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            # the harness's own failures (a child that failed, a row the mock did not get)
            click.echo(f"uploader: error: bench failed: {first_line(exc)}", err=True)
            if as_json:
                click.echo(orjson.dumps({"error": first_line(exc), "exit_code": 1}).decode())
            sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    for line in _run.describe(result):
        click.echo(line)


@contextlib.contextmanager
def _data_dir(data: Path | None) -> Iterator[Path]:
    """``data`` (created if missing), or a temporary directory removed afterwards."""
    if data is None:
        with tempfile.TemporaryDirectory(prefix="uploader-bench-") as tmp:
            yield Path(tmp)
        return
    try:
        make_dirs(data)
    except OSError as exc:
        raise ConfigError(f"--data {data}: cannot create ({exc.strerror})") from None
    yield data
