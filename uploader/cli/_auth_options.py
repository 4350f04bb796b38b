"""Where the profile token comes from: the options shared by ``upload``, ``check`` and ``token``,
and the one ``TokenProvider`` they build."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from uploader.auth._defaults import DEFAULT_ADMIN_URL, DEFAULT_IMS_URL, DEFAULT_SCOPES
from uploader.auth._secret import Secret
from uploader.auth._static import DEFAULT_TOKEN_ENV, TokenProvider, token_from_env, token_from_file
from uploader.cli._paths import PathType
from uploader.errors import ConfigError
from uploader.send._tls import tls_context

if TYPE_CHECKING:  # aiohttp: imported when a token is asked for, not for --help
    from uploader.auth._adobe_io import AdobeIOCredentials

__all__ = [
    "CLIENT_SECRET_ENV",
    "adobe_credentials",
    "adobe_options",
    "ca_bundle_from_options",
    "ca_bundle_option",
    "static_token_options",
    "token_source_options",
    "tokens_from_options",
    "warn",
]

CLIENT_SECRET_ENV = "ADOBE_CLIENT_SECRET"
AUTH_MODES = ("token", "adobe-io")

F = TypeVar("F", bound=Callable[..., Any])


def _apply(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def adobe_options(func: F) -> F:
    """Adobe I/O OAuth server-to-server settings (the client secret: only $ADOBE_CLIENT_SECRET)."""
    return _apply(
        func,
        [
            click.option(
                "--adobe-client-id",
                envvar="ADOBE_CLIENT_ID",
                metavar="ID",
                help="Adobe I/O client id (also $ADOBE_CLIENT_ID). The client secret is read "
                f"from ${CLIENT_SECRET_ENV} only.",
            ),
            click.option(
                "--adobe-tenant",
                envvar="ADOBE_TENANT",
                metavar="TENANT",
                help="IMS tenant in the Admin API URL, not the client code (also $ADOBE_TENANT).",
            ),
            click.option(
                "--adobe-scopes",
                envvar="ADOBE_SCOPES",
                default=DEFAULT_SCOPES,
                metavar="SCOPES",
                help="OAuth scopes, comma-separated (also $ADOBE_SCOPES).",
            ),
            click.option(
                "--ims-url",
                envvar="ADOBE_IMS_URL",
                default=DEFAULT_IMS_URL,
                show_default=True,
                metavar="URL",
                help="Adobe IMS base URL (also $ADOBE_IMS_URL).",
            ),
            click.option(
                "--admin-url",
                envvar="ADOBE_ADMIN_URL",
                default=DEFAULT_ADMIN_URL,
                show_default=True,
                metavar="URL",
                help="Target Admin API base URL (also $ADOBE_ADMIN_URL).",
            ),
        ],
    )


def static_token_options(func: F) -> F:
    """``--token-env``, ``--token-file``, ``--allow-insecure-token-file``: the token given,
    the same for every command that calls Target."""
    return _apply(
        func,
        [
            click.option(
                "--token-env",
                metavar="VAR",
                help=f"Environment variable holding the profile token (default "
                f"${DEFAULT_TOKEN_ENV}; unset: unauthenticated calls).",
            ),
            click.option(
                "--token-file",
                type=PathType(dir_okay=False),
                help="File holding the profile token (must not be readable by other users).",
            ),
            click.option(
                "--allow-insecure-token-file",
                is_flag=True,
                help="Accept a --token-file that other users can read.",
            ),
        ],
    )


def token_source_options(func: F) -> F:
    """The token sources that can mint a fresh token: a command, or Adobe I/O."""
    return _apply(
        func,
        [
            click.option(
                "--token-command",
                metavar="CMD",
                help="Shell command that prints the profile token on stdout (like a git "
                "credential helper); run again once when Target rejects the token.",
            ),
            click.option(
                "--auth",
                type=click.Choice(AUTH_MODES),
                default="token",
                show_default=True,
                help="token: from --token-env/--token-file/--token-command; adobe-io: get it "
                "from the Target Admin API with Adobe I/O credentials (renewed on expiry and "
                "on rejection).",
            ),
            adobe_options,
        ],
    )


def ca_bundle_option(func: F) -> F:
    """``--ca-bundle``, the same for every command that calls out (Target and Adobe I/O)."""
    return click.option(
        "--ca-bundle",
        metavar="PEM",
        help="Extra CA certificates (PEM) to trust, besides the system's (e.g. a private CA "
        "or a TLS-inspecting proxy); used for every call: Target, batchStatus, Adobe I/O.",
    )(func)


def ca_bundle_from_options(options: dict[str, Any]) -> str | None:
    """The ``--ca-bundle`` path, checked now (one line, exit 2, before anything is sent)."""
    ca_bundle: str | None = options.get("ca_bundle")
    tls_context(ca_bundle)
    return ca_bundle


def warn(message: str) -> None:
    click.echo(f"uploader: warning: {message}", err=True)


def adobe_credentials(options: dict[str, Any]) -> AdobeIOCredentials:
    """Credentials from the parsed ``adobe_options``; the secret from $ADOBE_CLIENT_SECRET."""
    from uploader.auth._adobe_io import AdobeIOCredentials

    missing = [
        hint
        for key, hint in (
            ("adobe_client_id", "--adobe-client-id / $ADOBE_CLIENT_ID"),
            ("adobe_tenant", "--adobe-tenant / $ADOBE_TENANT"),
        )
        if not options.get(key)
    ]
    secret = os.environ.get(CLIENT_SECRET_ENV, "").strip()
    if not secret:
        missing.append(f"${CLIENT_SECRET_ENV}")
    if missing:
        raise ConfigError(f"Adobe I/O needs {', '.join(missing)}")
    return AdobeIOCredentials(
        client_id=options["adobe_client_id"],
        client_secret=Secret(secret),
        tenant=options["adobe_tenant"],
        scopes=options.get("adobe_scopes") or DEFAULT_SCOPES,
        ims_url=options.get("ims_url") or DEFAULT_IMS_URL,
        admin_url=options.get("admin_url") or DEFAULT_ADMIN_URL,
    )


def tokens_from_options(options: dict[str, Any]) -> TokenProvider:
    """The one provider the options name; naming two sources is a ``ConfigError``. Checks
    ``--ca-bundle`` too (every command that needs a token calls out)."""
    from uploader.auth._sources import AdobeIOToken, CommandToken

    ca_bundle = ca_bundle_from_options(options)
    env, file = options.get("token_env"), options.get("token_file")
    command, mode = options.get("token_command"), options.get("auth") or "token"
    given = [
        name
        for name, value in (
            ("--token-env", env),
            ("--token-file", file),
            ("--token-command", command),
            ("--auth adobe-io", mode == "adobe-io"),
        )
        if value
    ]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} are alternatives; give one token source")
    if mode == "adobe-io":
        return AdobeIOToken(adobe_credentials(options), ca_bundle=ca_bundle, warn=warn)
    if command:
        return CommandToken(command, warn=warn)
    if file is not None:
        return token_from_file(file, allow_insecure=bool(options.get("allow_insecure_token_file")))
    return token_from_env(env or DEFAULT_TOKEN_ENV, required=env is not None)
