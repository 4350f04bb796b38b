"""``uploader check``: a pre-flight for cron — settings, token, endpoint — sending no data
(``uploader.reconcile._preflight``)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import click

from uploader.cli._auth_options import (
    ca_bundle_option,
    static_token_options,
    token_source_options,
)
from uploader.cli._auth_options import tokens_from_options as _tokens
from uploader.cli._errors import handle_errors
from uploader.cli._inputs import config_option
from uploader.cli._output import echo_json
from uploader.errors import ConfigError
from uploader.exits import EXIT_HELP, EXIT_OK
from uploader.reconcile._defaults import DEFAULT_CHECK_TIMEOUT

__all__ = ["check"]


@click.command(
    "check",
    epilog=EXIT_HELP,
)
@config_option()
@click.option(
    "--client-code",
    envvar="TARGET_CLIENT_CODE",
    help="Your Target client code (also $TARGET_CLIENT_CODE).",
)
@click.option("--endpoint", metavar="URL", help="Base URL of the API (as for upload).")
@static_token_options
@token_source_options
@click.option(
    "--timeout",
    type=float,
    default=DEFAULT_CHECK_TIMEOUT,
    show_default=True,
    help="Seconds each call may take.",
)
@ca_bundle_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@handle_errors
def check(**options: Any) -> None:
    """Check that a nightly upload would get through: settings, token, endpoint.

    Sends no profile data: one profile fetch for a made-up id without the token and one with
    it (an unknown profile answered "not found" is the success case).

    \b
    Example (cron):
      uploader check --client-code acme --token-file ~/.target-token && uploader upload …
    """
    from uploader.reconcile._preflight import preflight

    client_code = options["client_code"]
    if not client_code:  # the rest of the checks: preflight's, as the library's
        raise ConfigError("--client-code is required (or set $TARGET_CLIENT_CODE)")
    tokens = _tokens(options)
    result = asyncio.run(
        preflight(
            client_code,
            tokens,
            endpoint=options["endpoint"],
            timeout=options["timeout"],
            ca_bundle=options["ca_bundle"],
        )
    )
    if options["as_json"]:
        failed = [result.message] if result.exit_code != EXIT_OK else []
        echo_json(asdict(result), errors=failed)
    else:
        for line in result.lines():
            click.echo(line)
    raise SystemExit(result.exit_code)
