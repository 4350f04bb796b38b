"""``uploader verify``: read a sample of the uploaded profiles back and compare."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from uploader.cli._auth_options import (
    ca_bundle_option,
    static_token_options,
    token_source_options,
    tokens_from_options,
)
from uploader.cli._errors import handle_errors
from uploader.cli._output import echo_json
from uploader.cli._status import ledger_of, ledger_option
from uploader.exits import EXIT_HELP
from uploader.reconcile._defaults import (
    DEFAULT_SAMPLE,
    DEFAULT_VERIFY_CONCURRENCY,
    DEFAULT_VERIFY_RATE,
    DEFAULT_WINDOW,
)
from uploader.send._ratelimit import parse_rate

__all__ = ["verify_command"]


@click.command("verify", epilog=EXIT_HELP)
@ledger_option
@click.option(
    "--sample",
    type=int,
    default=DEFAULT_SAMPLE,
    show_default=True,
    help="How many acknowledged profiles to read back.",
)
@click.option(
    "--seed",
    type=int,
    help="Seed of the sample (same seed, same profiles). Default: random, recorded in the ledger.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the last verification of this ledger (same sample; checked ids skipped).",
)
@click.option(
    "--window",
    type=float,
    default=DEFAULT_WINDOW,
    show_default=True,
    help="Seconds after sending during which a missing or older value of a batch Target has "
    "not reported complete counts as 'not visible yet' rather than lost.",
)
@click.option(
    "--rate",
    default=str(DEFAULT_VERIFY_RATE),
    show_default=True,
    metavar="N/SECONDS|none",
    help="Never more than N profile fetches in any SECONDS window.",
)
@click.option(
    "--concurrency",
    type=int,
    default=DEFAULT_VERIFY_CONCURRENCY,
    show_default=True,
    help="Profile fetches in flight at once.",
)
@static_token_options
@token_source_options
@ca_bundle_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@handle_errors
def verify_command(**options: Any) -> None:
    """Fetch a random sample of the profiles the run in --ledger got acknowledged, through
    Target's Profile Fetch API, and compare every attribute with the last value sent.

    Each profile is matched, different, not visible yet (Target can take up to 24 h) or not
    found; results are appended to the ledger and shown by `uploader report`. The input files
    must be unchanged: the values sent are re-made from them.

    \b
    Examples:
      uploader verify --ledger runs/nightly/ledger.jsonl --sample 500
      uploader verify --ledger runs/nightly/ledger.jsonl --resume
    """
    from uploader.reconcile._verify import verify

    tokens = tokens_from_options(options)  # checks --ca-bundle too
    summary = asyncio.run(
        verify(
            ledger_of(options),
            tokens,
            ca_bundle=options["ca_bundle"],
            sample=options["sample"],
            seed=options["seed"],
            resume=options["resume"],
            window=options["window"],
            rate=parse_rate(options["rate"]),
            concurrency=options["concurrency"],
        )
    )
    if options["as_json"]:
        data = {**summary.to_dict(), "exit_code": summary.exit_code}
        echo_json(data)
    else:
        for line in summary.lines():
            click.echo(line)
    raise SystemExit(summary.exit_code)
