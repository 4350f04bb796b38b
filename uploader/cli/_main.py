"""Command-line interface: a thin layer over the library (flags → config → run → exit code)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from uploader.cli._errors import run_standalone
from uploader.cli._lazygroup import LazyCommand, LazyGroup
from uploader.cli._logformat import log_format_option
from uploader.exits import EXIT_HELP

# Each command is imported when it runs; its line here is what `uploader --help` lists.
COMMANDS = {
    "bench": LazyCommand(
        "uploader.cli._bench:bench",
        "Measure this machine: generated CRM data (id + 10 text attributes) uploaded end to "
        "end by the real uploader to the embedded mock Target server, each in its own process "
        "on 127.0.0.1 (no rate limit), then the producer alone; print rows/s, peak RSS and what "
        "that means at Target's real limit (50 calls a minute).",
    ),
    "check": LazyCommand(
        "uploader.cli._check:check",
        "Check that a nightly upload would get through: settings, token, endpoint.",
    ),
    "config": LazyCommand(
        "uploader.cli._config:config",
        "Show the settings a command would run with, and their sources.",
    ),
    "demo": LazyCommand(
        "uploader.cli._demo:demo",
        "Start the embedded mock Target server (authentication on, 2-5 s of processing per "
        "batch, the last 10 statuses kept, as Target does), upload the sample CRM export to "
        "it, wait for Target's batch statuses (incomplete, then complete), print the summary "
        "and where the ledger is, and stop the mock.",
    ),
    "mock-server": LazyCommand(
        "uploader.mock.cli:mock_server",
        "Run a local mock of Adobe Target's Profile APIs (bulk v1/v2, batchStatus, profile "
        "fetch, IMS and Admin API tokens) with fault injection, until Ctrl-C.",
    ),
    "report": LazyCommand(
        "uploader.cli._report:report_command",
        "Summarise the run in --ledger: rows sent and acknowledged, what Target processed "
        "(successfulUpdates, profilesNotFound, failedUpdates), stuck and unknown batches, "
        "rejects by reason, and the last `uploader verify` results.",
    ),
    "status": LazyCommand(
        "uploader.cli._status:status",
        "Poll Target's batchStatus for every batch the run in --ledger got acknowledged.",
    ),
    "sync": LazyCommand("uploader.cli._sync:sync_command", "Send only new, changed and due rows."),
    "token": LazyCommand(
        "uploader.cli._token:token",
        "Get or generate the profile authentication token (Target Admin API).",
    ),
    "upload": LazyCommand(
        "uploader.cli._upload:upload_command", "Upload CSV/Parquet files to Target's bulk API."
    ),
    "validate": LazyCommand(
        "uploader.cli._validate:validate",
        "Check files and show the batches an upload would send.",
    ),
    "verify": LazyCommand(
        "uploader.cli._verify:verify_command",
        "Fetch a random sample of the profiles the run in --ledger got acknowledged, through "
        "Target's Profile Fetch API, and compare every attribute with the last value sent.",
    ),
}


class UploaderGroup(LazyGroup):
    """The ``uploader`` group: click's parsing, our way of ending on an error
    (``run_standalone``: one line, the exit code, the JSON error object with --json)."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> NoReturn:
        given = list(sys.argv[1:] if args is None else args)
        kwargs["standalone_mode"] = False
        run_standalone(lambda: super(UploaderGroup, self).main(given, *rest, **kwargs), given)


@click.group(
    cls=UploaderGroup,
    lazy_commands=COMMANDS,
    shared=[log_format_option()],
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_HELP,
)
@click.version_option(package_name="uploader")
def main() -> None:
    """Stream CRM profile data from CSV/Parquet into Adobe Target's Bulk Profile Update API."""
