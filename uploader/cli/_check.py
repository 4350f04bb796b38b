"""``uploader check``: a pre-flight for cron — settings, token, endpoint — sending no data.

Two harmless calls: a profile fetch for an id that does not exist, once without the token
(does the endpoint require authentication?) and once with it (is the token accepted?). The
good answer is Target's 404 "No profile found for client … with third party id=<that id>":
the endpoint is reachable, the client code known and the call let through. Any other 404
(an unknown client code, a wrong --endpoint path) is a wrong setting, not "ready".
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click
import orjson

from uploader.auth._secret import Secret
from uploader.auth._static import TokenProvider
from uploader.cli._auth_options import (
    ca_bundle_option,
    static_token_options,
    token_source_options,
)
from uploader.cli._auth_options import tokens_from_options as _tokens
from uploader.cli._errors import handle_errors
from uploader.cli._inputs import config_option
from uploader.cli._output import echo_json
from uploader.errors import AuthError, ConfigError, TransportError, UploaderError
from uploader.exits import EXIT_AUTH, EXIT_HELP, EXIT_OK, EXIT_STOPPED, EXIT_USAGE

if TYPE_CHECKING:
    from uploader.send._transport import HttpAnswer, Transport


__all__ = ["CheckResult", "check", "run_check"]

DEFAULT_CHECK_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """What the pre-flight found (no token in it: only where it came from)."""

    endpoint: str
    token_source: str
    reachable: bool
    auth_required: bool | None  # None: unknown (unreachable)
    token_accepted: bool | None  # None: no token, or not tried
    exit_code: int
    message: str

    def lines(self) -> list[str]:
        def yes_no(value: bool | None) -> str:
            return "unknown" if value is None else ("yes" if value else "no")

        accepted = "no token" if self.token_source == "none" else yes_no(self.token_accepted)
        verdict = "ok" if self.exit_code == EXIT_OK else "FAILED"
        return [
            f"endpoint        {self.endpoint}",
            f"reachable       {yes_no(self.reachable)}",
            f"auth required   {yes_no(self.auth_required)}",
            f"token source    {self.token_source}",
            f"token accepted  {accepted}",
            f"result          {verdict}: {self.message}",
        ]


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
    client_code = options["client_code"]
    if not client_code or "/" in client_code:
        raise ConfigError("--client-code is required (or set $TARGET_CLIENT_CODE)")
    if options["timeout"] <= 0:
        raise ConfigError("--timeout must be positive")
    base = (options["endpoint"] or f"https://{client_code}.tt.omtrdc.net").rstrip("/")
    tokens = _tokens(options)
    result = asyncio.run(
        run_check(
            base,
            client_code,
            tokens,
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


async def run_check(
    base_url: str,
    client_code: str,
    tokens: TokenProvider,
    *,
    timeout: float = DEFAULT_CHECK_TIMEOUT,
    ca_bundle: str | None = None,
    transport: Transport | None = None,
) -> CheckResult:
    """The pre-flight itself; raises only ``ConfigError`` (a setting is wrong)."""
    from uploader.send._transport import AiohttpTransport, auth_headers, check_endpoint

    source = tokens.source
    common = {"endpoint": base_url, "token_source": source}
    try:
        token: Secret | None = await tokens.get()
    except AuthError as error:
        return CheckResult(
            **common,
            reachable=False,
            auth_required=None,
            token_accepted=False,
            exit_code=EXIT_AUTH,
            message=f"cannot get the token: {error}",
        )
    except ConfigError:
        raise
    except UploaderError as error:
        return CheckResult(
            **common,
            reachable=False,
            auth_required=None,
            token_accepted=None,
            exit_code=EXIT_USAGE,
            message=f"cannot get the token: {error}",
        )
    if token is None:
        common["token_source"] = "none"
    check_endpoint(base_url, token)
    own = transport is None
    if transport is None:
        transport = AiohttpTransport(timeout=timeout, connections=1, ca_bundle=ca_bundle)
    probe = f"uploader-check-{secrets.token_hex(8)}"  # no such profile: nothing is read
    url = f"{base_url}/rest/v1/profiles/thirdPartyId/{quote(probe)}?client={quote(client_code)}"
    try:
        try:
            anonymous = await transport.request("GET", url, headers={})
        except TransportError as error:
            return CheckResult(
                **common,
                reachable=False,
                auth_required=None,
                token_accepted=None,
                exit_code=EXIT_STOPPED,
                message=f"endpoint unreachable: {error}",
            )
        odd = _unexpected(anonymous, probe)
        if odd:
            return CheckResult(
                **common,
                reachable=True,
                auth_required=None,
                token_accepted=None,
                exit_code=EXIT_USAGE,
                message=odd,
            )
        required = anonymous.status in (401, 403)
        if token is None:
            if required:
                return CheckResult(
                    **common,
                    reachable=True,
                    auth_required=True,
                    token_accepted=None,
                    exit_code=EXIT_AUTH,
                    message="the endpoint requires a profile token and none was given "
                    "(--token-env, --token-file, --token-command or --auth adobe-io)",
                )
            return CheckResult(
                **common,
                reachable=True,
                auth_required=False,
                token_accepted=None,
                exit_code=EXIT_OK,
                message="authentication is off; uploads need no token",
            )
        try:
            answer = await transport.request("GET", url, headers=auth_headers(token))
        except TransportError as error:
            return CheckResult(
                **common,
                reachable=False,
                auth_required=required,
                token_accepted=None,
                exit_code=EXIT_STOPPED,
                message=f"endpoint unreachable: {error}",
            )
        odd = _unexpected(answer, probe)
        if odd:
            return CheckResult(
                **common,
                reachable=True,
                auth_required=required,
                token_accepted=None,
                exit_code=EXIT_USAGE,
                message=odd,
            )
        if answer.status in (401, 403):
            return CheckResult(
                **common,
                reachable=True,
                auth_required=required,
                token_accepted=False,
                exit_code=EXIT_AUTH,
                message=f"the token was rejected (HTTP {answer.status}): it has expired or "
                "was regenerated; get the current one in Target (Administration > "
                "Implementation > Profile API) or with `uploader token get`",
            )
        note = "" if required else " (authentication is off: the token is not needed)"
        return CheckResult(
            **common,
            reachable=True,
            auth_required=required,
            token_accepted=True,
            exit_code=EXIT_OK,
            message=f"ready to upload{note}",
        )
    finally:
        if own:
            await transport.close()


def _unexpected(answer: HttpAnswer, probe: str) -> str:
    """Empty when the answer is a refusal (401/403) or Target's "no profile found" for
    ``probe``; else what is wrong, for the one-line result."""
    if answer.status in (401, 403):
        return ""
    said = _message(answer.body)
    if answer.status == 404 and probe in said:
        return ""
    return (
        f"a profile fetch for a made-up id was answered HTTP {answer.status}"
        f"{': ' + said if said else ''} (expected 404 'No profile found … id={probe}'): "
        "check --client-code and --endpoint"
    )


def _message(body: bytes) -> str:
    """The ``message`` of a JSON error answer, else the start of the body (one line)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        text = data["message"]
    else:
        text = body[:120].decode("utf-8", errors="replace")
    return " ".join(text.split())[:200]
