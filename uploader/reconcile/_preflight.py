"""The pre-flight for cron — settings, token, endpoint — sending no data.

Two harmless calls: a profile fetch for an id that does not exist, once without the token
(does the endpoint require authentication?) and once with it (is the token accepted?). The
good answer is Target's 404 "No profile found for client … with third party id=<that id>":
the endpoint is reachable, the client code known and the call let through. Any other 404
(an unknown client code, a wrong endpoint path) is a wrong setting, not "ready".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote

import orjson

from uploader.auth._secret import Secret
from uploader.auth._static import TokenProvider, token_from_env
from uploader.errors import AuthError, ConfigError, TransportError, UploaderError, spell
from uploader.exits import EXIT_AUTH, EXIT_OK, EXIT_STOPPED, EXIT_USAGE
from uploader.reconcile._defaults import DEFAULT_CHECK_TIMEOUT
from uploader.send._transport import (
    AiohttpTransport,
    HttpAnswer,
    Transport,
    api_base_url,
    auth_headers,
    check_endpoint,
)

__all__ = ["DEFAULT_CHECK_TIMEOUT", "CheckResult", "preflight"]


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


@dataclass(slots=True)
class _Findings:
    """What the pre-flight knows so far; each step fills in what it learnt."""

    endpoint: str
    token_source: str
    reachable: bool = False
    auth_required: bool | None = None
    token_accepted: bool | None = None

    def result(self, exit_code: int, message: str) -> CheckResult:
        return CheckResult(
            endpoint=self.endpoint,
            token_source=self.token_source,
            reachable=self.reachable,
            auth_required=self.auth_required,
            token_accepted=self.token_accepted,
            exit_code=exit_code,
            message=message,
        )


async def preflight(
    client_code: str,
    tokens: TokenProvider | None = None,
    *,
    endpoint: str | None = None,
    timeout: float = DEFAULT_CHECK_TIMEOUT,
    ca_bundle: str | None = None,
    transport: Transport | None = None,
) -> CheckResult:
    """Would an upload get through? (``uploader check``.) ``tokens`` default to
    ``token_from_env()`` ($TARGET_PROFILE_TOKEN), ``endpoint`` to
    ``https://CLIENT.tt.omtrdc.net``. The verdict is in the result's ``exit_code`` (0: ready;
    2 a wrong setting; 3 the token; 6 unreachable); raises only ``ConfigError`` (a setting
    that cannot work)."""
    base_url = api_base_url(client_code, endpoint)  # checks both, before any call
    if timeout <= 0:
        raise ConfigError("$timeout must be positive", settings=("timeout",))
    tokens = tokens if tokens is not None else token_from_env()
    found = _Findings(endpoint=base_url, token_source=tokens.source)
    try:
        token: Secret | None = await tokens.get()
    except AuthError as error:
        found.token_accepted = False
        return found.result(EXIT_AUTH, f"cannot get the token: {error}")
    except ConfigError:
        raise
    except UploaderError as error:
        return found.result(EXIT_USAGE, f"cannot get the token: {error}")
    if token is None:
        found.token_source = "none"
    check_endpoint(base_url, token)
    own = transport is None
    if transport is None:
        transport = AiohttpTransport(timeout=timeout, connections=1, ca_bundle=ca_bundle)
    try:
        code, message = await _probe(found, transport, base_url, client_code, token)
    finally:
        if own:
            await transport.close()
    return found.result(code, message)


async def _probe(
    found: _Findings, transport: Transport, base_url: str, client_code: str, token: Secret | None
) -> tuple[int, str]:
    """The two calls; fills in ``found`` and returns the verdict (exit code, message)."""
    probe = f"uploader-check-{secrets.token_hex(8)}"  # no such profile: nothing is read
    url = f"{base_url}/rest/v1/profiles/thirdPartyId/{quote(probe)}?client={quote(client_code)}"
    try:
        anonymous = await transport.request("GET", url, headers={})
    except TransportError as error:
        return EXIT_STOPPED, f"endpoint unreachable: {error}"
    found.reachable = True
    odd = _unexpected(anonymous, probe)
    if odd:
        return EXIT_USAGE, odd
    found.auth_required = anonymous.status in (401, 403)
    if token is None:
        if found.auth_required:
            return EXIT_AUTH, spell(
                "the endpoint requires a profile token and none was given (${tokens=…})",
                "tokens=…",
            )
        return EXIT_OK, "authentication is off; uploads need no token"
    try:
        answer = await transport.request("GET", url, headers=auth_headers(token))
    except TransportError as error:
        found.reachable = False
        return EXIT_STOPPED, f"endpoint unreachable: {error}"
    odd = _unexpected(answer, probe)
    if odd:
        return EXIT_USAGE, odd
    if answer.status in (401, 403):
        found.token_accepted = False
        return EXIT_AUTH, (
            f"the token was rejected (HTTP {answer.status}): it has expired or "
            "was regenerated; get the current one in Target (Administration > "
            "Implementation > Profile API) or with `uploader token get`"
        )
    found.token_accepted = True
    note = "" if found.auth_required else " (authentication is off: the token is not needed)"
    return EXIT_OK, f"ready to upload{note}"


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
        + spell("check $client_code and $endpoint", "client_code", "endpoint")
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
