"""Command-line interface: a thin layer over the library (flags → config → run → exit code)."""

from __future__ import annotations

import click

from uploader.exits import EXIT_HELP


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_HELP,
)
@click.version_option(package_name="uploader")
def main() -> None:
    """Stream CRM profile data from CSV/Parquet into Adobe Target's Bulk Profile Update API."""


def _register_subcommands() -> None:
    from uploader.cli._check import check
    from uploader.cli._demo import demo
    from uploader.cli._report import report_command
    from uploader.cli._status import status
    from uploader.cli._token import token
    from uploader.cli._upload import upload_command
    from uploader.cli._validate import validate
    from uploader.cli._verify import verify_command
    from uploader.mock.cli import mock_server

    for command in (upload_command, validate, demo, mock_server, check, token):
        main.add_command(command)
    for command in (status, report_command, verify_command):
        main.add_command(command)


_register_subcommands()
