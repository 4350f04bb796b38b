"""Adobe I/O: mint a Target profile token with OAuth server-to-server credentials.

IMS ``POST {ims}/ims/token/v3`` (client_credentials) gives an access token (~24 h); the Target
Admin API ``{admin}/{tenant}/target/authentication/token?authorizationScope=profile_api`` then
returns the current profile token (``GET``) or generates a new one (``POST``; the previous
token stops working at once). Both base URLs are settings so the mock can serve them, and
every call goes through the ``Transport`` seam (``uploader.send._transport``): the same TLS
trust, User-Agent and no-redirect rule as Target's calls, and a ``ScriptedTransport``
(``uploader.testing``) can answer them in a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from uploader.auth._defaults import (
    DEFAULT_ADMIN_TIMEOUT,
    DEFAULT_ADMIN_URL,
    DEFAULT_IMS_URL,
    DEFAULT_SCOPES,
)
from uploader.auth._secret import Secret
from uploader.errors import AuthError, ConfigError, EndpointError, RemoteError, TransportError
from uploader.send._transport import AiohttpTransport, Transport, refuse_cleartext

__all__ = [
    "DEFAULT_ADMIN_URL",
    "DEFAULT_IMS_URL",
    "DEFAULT_SCOPES",
    "AdobeIOCredentials",
    "ProfileToken",
    "fetch_profile_token",
    "request_profile_token",
]

_ADMIN_MEDIA_TYPE = "application/vnd.adobe.target.v1+json"
_MAX_RESPONSE = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class AdobeIOCredentials:
    """An Adobe Developer Console project's OAuth server-to-server credentials."""

    client_id: str
    client_secret: Secret = field(repr=False)
    tenant: str  # the IMS tenant (organisation name in the Admin API URL), not the client code
    scopes: str = DEFAULT_SCOPES
    ims_url: str = DEFAULT_IMS_URL
    admin_url: str = DEFAULT_ADMIN_URL

    def __post_init__(self) -> None:
        for name in ("client_id", "tenant"):
            if not getattr(self, name):
                raise ConfigError(f"Adobe I/O: {name} is not set")
        if not self.client_secret.reveal():
            raise ConfigError("Adobe I/O: client secret is not set ($ADOBE_CLIENT_SECRET)")
        if "/" in self.tenant:
            raise ConfigError(f"Adobe I/O: tenant {self.tenant!r} must be a name, not a path")
        for name, url in (("ims_url", self.ims_url), ("admin_url", self.admin_url)):
            refuse_cleartext(url, setting=name, secret="Adobe I/O credentials")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileToken:
    """A Target profile token and its lifetime in seconds, as the Admin API reports it."""

    token: Secret
    expires_in: float | None


async def fetch_profile_token(
    transport: Transport, credentials: AdobeIOCredentials, *, new: bool = False
) -> ProfileToken:
    """The current profile token (``new=False``) or a freshly generated one (``new=True``),
    asked over ``transport`` (which the caller owns and closes)."""
    ims_token = await _ims_token(transport, credentials)
    url = (
        f"{credentials.admin_url.rstrip('/')}/{credentials.tenant}"
        "/target/authentication/token?authorizationScope=profile_api"
    )
    headers = {
        "Authorization": f"Bearer {ims_token.reveal()}",
        "X-Api-Key": credentials.client_id,
        "Accept": _ADMIN_MEDIA_TYPE,
    }
    body = await _call(transport, "POST" if new else "GET", url, headers=headers, what="Admin API")
    token = body.get("accessToken")
    if not isinstance(token, str) or not token:
        raise RemoteError("Admin API: the answer holds no accessToken")
    expires = body.get("expiresIn")
    seconds = float(expires) if isinstance(expires, int | float) and expires >= 0 else None
    return ProfileToken(token=Secret(token), expires_in=seconds)


async def request_profile_token(
    credentials: AdobeIOCredentials,
    *,
    new: bool = False,
    timeout: float = DEFAULT_ADMIN_TIMEOUT,
    ca_bundle: str | None = None,
) -> ProfileToken:
    """``fetch_profile_token`` over a transport of its own (a few calls a run: no reuse
    needed), trusting the system store plus ``ca_bundle``."""
    # IMS and the Admin API are two hosts: one connection each
    transport = AiohttpTransport(timeout=timeout, connections=2, ca_bundle=ca_bundle)
    try:
        return await fetch_profile_token(transport, credentials, new=new)
    finally:
        await transport.close()


async def _ims_token(transport: Transport, credentials: AdobeIOCredentials) -> Secret:
    form = {
        "grant_type": "client_credentials",
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret.reveal(),
        "scope": credentials.scopes,
    }
    url = f"{credentials.ims_url.rstrip('/')}/ims/token/v3"
    body = await _call(transport, "POST", url, form=form, what="IMS")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise RemoteError("IMS: the answer holds no access_token")
    return Secret(token)


async def _call(
    transport: Transport,
    method: str,
    url: str,
    *,
    what: str,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> dict[str, Any]:
    headers = dict(headers or {})
    body = None
    if form is not None:
        body = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        # The transport follows no redirect: the IMS token and the client secret go to the
        # configured host only.
        answer = await transport.request(
            method, url, body=body, headers=headers, limit=_MAX_RESPONSE
        )
    except (TransportError, EndpointError) as exc:
        cause = exc.__cause__ or exc  # what went wrong on the wire, not the transport's words
        raise TransportError(
            f"{what}: cannot reach {url.split('?')[0]} ({type(cause).__name__})"
        ) from exc
    raw, status = answer.body, answer.status
    if status in (401, 403):
        raise AuthError(
            f"{what} refused the credentials (HTTP {status}): check the client id, client "
            "secret, scopes and that the project has the Target product profile",
            status=status,
        )
    if status == 404 and what == "Admin API":
        raise RemoteError(
            "Admin API answered HTTP 404: check the tenant (ADOBE_TENANT is the IMS "
            "organisation name in the Admin API URL, not the Target client code)",
            status=status,
        )
    if status >= 300:
        raise RemoteError(f"{what} answered HTTP {status}", status=status)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RemoteError(f"{what}: the answer is not JSON") from exc
    if not isinstance(body, dict):
        raise RemoteError(f"{what}: unexpected answer")
    return body
