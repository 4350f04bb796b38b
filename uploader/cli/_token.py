"""``uploader token get|new``: the profile token from the Target Admin API (Adobe I/O).

The only place the uploader ever prints a token: on stdout, alone, for piping into a secret
store. Every other message goes to stderr.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from uploader.auth._defaults import DEFAULT_ADMIN_TIMEOUT
from uploader.cli._auth_options import (
    CLIENT_SECRET_ENV,
    adobe_credentials,
    adobe_options,
    ca_bundle_from_options,
    ca_bundle_option,
)
from uploader.cli._errors import handle_errors
from uploader.cli._inputs import config_option
from uploader.exits import EXIT_USAGE

__all__ = ["token"]

_ENV_HELP = f"""\b
Credentials: an Adobe Developer Console project (OAuth server-to-server) with the Adobe
Target product: --adobe-client-id ($ADOBE_CLIENT_ID), ${CLIENT_SECRET_ENV},
--adobe-tenant ($ADOBE_TENANT)."""

_EXIT_HELP = """\b
Exit codes (of the product's table, see `uploader --help`):
  0  the token was printed
  2  usage or config error, not confirmed, Adobe I/O or the Admin API failing
  3  Adobe I/O refused the credentials"""


@click.group("token", epilog=_ENV_HELP)
def token() -> None:
    """Get or generate the profile authentication token (Target Admin API)."""


def _common(func: Any) -> Any:
    func = ca_bundle_option(adobe_options(func))
    func = click.option(
        "--timeout",
        type=float,
        default=DEFAULT_ADMIN_TIMEOUT,
        show_default=True,
        help="Seconds each Adobe I/O call may take.",
    )(func)
    return config_option()(func)


@token.command("get", epilog=_EXIT_HELP)
@_common
@handle_errors
def get(**options: Any) -> None:
    """Print the current profile token on stdout (e.g. into a secret store).

    \b
    Example:
      uploader token get | vault kv put secret/target profile_token=-
    """
    _print(options, new=False)


@token.command("new", epilog=_EXIT_HELP)
@_common
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@handle_errors
def new(**options: Any) -> None:
    """Generate a new profile token and print it on stdout.

    The current token stops working AT ONCE: every job and integration still using it fails
    (HTTP 401) until it gets the new one.
    """
    if not options.pop("yes") and not click.confirm(
        "Generating a new profile token makes the current one stop working at once: every "
        "job still using it will fail until it gets the new one. Continue?",
        err=True,
    ):
        click.echo("not confirmed: no token was generated", err=True)
        raise SystemExit(EXIT_USAGE)
    _print(options, new=True)


def _print(options: dict[str, Any], *, new: bool) -> None:
    from uploader.auth._adobe_io import request_profile_token

    ca_bundle = ca_bundle_from_options(options)
    credentials = adobe_credentials(options)
    answer = asyncio.run(
        request_profile_token(credentials, new=new, timeout=options["timeout"], ca_bundle=ca_bundle)
    )
    click.echo(answer.token.reveal())  # the one place a token is printed
