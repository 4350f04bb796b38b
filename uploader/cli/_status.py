"""``uploader status``: ask Target how far it got with the batches a run's ledger acknowledged."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from uploader.cli._auth_options import (
    ca_bundle_option,
    static_token_options,
    token_source_options,
    tokens_from_options,
)
from uploader.cli._errors import handle_errors
from uploader.cli._output import echo_json
from uploader.cli._paths import PathType
from uploader.errors import ConfigError
from uploader.exits import EXIT_HELP
from uploader.ledger._runs import LEDGER_NAME, RUNS_DIR, latest_ledger
from uploader.reconcile._defaults import (
    DEFAULT_POLL_CONCURRENCY,
    DEFAULT_STATUS_RATE,
    DEFAULT_WATCH_TIMEOUT,
)
from uploader.send._ratelimit import parse_rate

if TYPE_CHECKING:
    from uploader.reconcile._status import StatusReport

__all__ = ["ledger_of", "ledger_option", "ledgers_of", "ledgers_option", "status"]


def ledger_option(func: Any) -> Any:
    return click.option(
        "--ledger",
        type=PathType(dir_okay=False, exists=True),
        help="The run's ledger (ledger.jsonl written by `uploader upload`). Default: the most "
        "recently written runs/*/ledger.jsonl in this directory (named on stderr).",
    )(func)


def ledger_of(options: dict[str, Any]) -> Path:
    """--ledger, or the latest run's ledger under runs/ (said on stderr: stdout may be JSON)."""
    ledger: Path | None = options["ledger"]
    if ledger is not None:
        return ledger
    latest = latest_ledger()
    if latest is None:
        raise ConfigError(f"--ledger is required: no {RUNS_DIR}/*/{LEDGER_NAME} in this directory")
    click.echo(f"uploader: using the latest run's ledger {latest} (--ledger to choose)", err=True)
    return latest


def ledgers_option(func: Any) -> Any:
    """``--ledger`` repeatable, and ledgers as arguments: several shards' ledgers are one run."""
    ledger = click.option(
        "--ledger",
        "ledger_options",
        multiple=True,
        type=PathType(dir_okay=False, exists=True),
        help="The run's ledger (ledger.jsonl written by `uploader upload`); repeat it (or name "
        "the ledgers as arguments) for the shards of one input (--shard), reported as one run. "
        "Default: the most recently written runs/*/ledger.jsonl in this directory (named on "
        "stderr).",
    )
    argument = click.argument(
        "ledger_arguments",
        nargs=-1,
        metavar="[LEDGER]...",
        type=PathType(dir_okay=False, exists=True),
    )
    return argument(ledger(func))


def ledgers_of(options: dict[str, Any]) -> list[Path]:
    """The ledgers of ``ledgers_option`` (each once), or the latest run's (``ledger_of``)."""
    given = [*options.pop("ledger_arguments"), *options.pop("ledger_options")]
    unique = list({path.resolve(): path for path in given}.values())
    return unique or [ledger_of({"ledger": None})]


@click.command("status", epilog=EXIT_HELP)
@ledgers_option
@click.option(
    "--watch",
    is_flag=True,
    help="Keep polling incomplete batches (5 s, 10 s, 20 s … up to 5 min apart) until every "
    "one is complete or stuck, or --timeout passes.",
)
@click.option(
    "--timeout",
    type=float,
    default=DEFAULT_WATCH_TIMEOUT,
    show_default=True,
    help="With --watch: give up after this many seconds.",
)
@click.option(
    "--rate",
    default=str(DEFAULT_STATUS_RATE),
    show_default=True,
    metavar="N/SECONDS|none",
    help="Never more than N status calls in any SECONDS window.",
)
@click.option(
    "--concurrency",
    type=int,
    default=DEFAULT_POLL_CONCURRENCY,
    show_default=True,
    help="Status calls in flight at once.",
)
@static_token_options
@token_source_options
@ca_bundle_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@handle_errors
def status(**options: Any) -> None:
    """Poll Target's batchStatus for every batch the run in --ledger got acknowledged.

    Appends each answer (complete / incomplete / stuck, with batchSize, consumedCount,
    successfulUpdates, profilesNotFound, failedUpdates) to the same ledger; a status Target
    no longer keeps is recorded as unknown. Target keeps only the last ~10 statuses for about
    a day: poll soon after the upload (or use `uploader upload --wait`).

    Several ledgers (the shards of one input, --shard I/N) are polled in turn and shown as
    one table; as with `uploader report`, they must be distinct shards of one input (exit 2),
    and a shard no ledger is given for makes the run incomplete (exit 6).

    \b
    Examples:
      uploader status --ledger runs/nightly/ledger.jsonl
      uploader status --ledger runs/nightly/ledger.jsonl --watch --timeout 7200
      uploader status runs/*-shard-*of3/ledger.jsonl
    """
    from uploader.ledger._ledger import read_ledger
    from uploader.reconcile._shards import check_shards, merge_statuses
    from uploader.reconcile._status import poll_statuses

    ledgers = ledgers_of(options)
    missing: list[str] = []
    if len(ledgers) > 1:  # before any call: the same checks as `uploader report`
        _, missing = check_shards([(path, read_ledger(path)) for path in ledgers])
    tokens = tokens_from_options(options)  # checks --ca-bundle too

    async def poll_each() -> list[StatusReport]:
        return [
            await poll_statuses(
                ledger,
                tokens,
                ca_bundle=options["ca_bundle"],
                rate=parse_rate(options["rate"]),
                concurrency=options["concurrency"],
                timeout=options["timeout"],
                watch=options["watch"],
            )
            for ledger in ledgers
        ]

    parts = asyncio.run(poll_each())
    report = parts[0] if len(parts) == 1 else merge_statuses(parts, missing)
    if options["as_json"]:
        data = {**report.to_dict(), "exit_code": report.exit_code}
        if len(parts) > 1:
            data["ledgers"] = [
                {"ledger": str(ledger), **part.to_dict(), "exit_code": part.exit_code}
                for ledger, part in zip(ledgers, parts, strict=True)
            ]
        echo_json(data, warnings=report.errors)
    else:
        for line in report.lines():
            click.echo(line)
    raise SystemExit(report.exit_code)
