"""The network seam: a small ``Transport`` protocol, its aiohttp implementation, and the one
place where HTTP answers and aiohttp exceptions become uploader outcomes and errors."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from uploader._version import __version__
from uploader.auth._secret import Secret
from uploader.errors import (
    AuthError,
    BatchRejected,
    ConfigError,
    EndpointError,
    ServerError,
    Throttled,
    TransportError,
    spell,
)
from uploader.send._response import MAX_SUBMIT_BYTES, SubmitResult, parse_submit
from uploader.send._tls import tls_context

__all__ = [
    "USER_AGENT",
    "AiohttpTransport",
    "HttpAnswer",
    "Transport",
    "api_base_url",
    "auth_headers",
    "check_client_code",
    "check_endpoint",
    "check_endpoint_url",
    "is_loopback_host",
    "raise_for_refusal",
    "refuse_cleartext",
    "submit_outcome",
]

USER_AGENT = f"uploader/{__version__}"
FORM = "application/x-www-form-urlencoded"
_TOKEN_WORDS = ("token", "unauthori", "authenticat", "expired")
#: a client code is one path segment and one host label of Target's URLs
_CLIENT_CODE = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: bytes
    retry_after: float | None = None
    truncated: bool = False  # the body went on past the caller's ``limit``: cut there


class Transport(Protocol):
    """What the engine needs from HTTP: one request, an answer read up to ``limit`` bytes,
    mapped errors. Every call carries ``User-Agent: uploader/<version>``."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str],
        limit: int = MAX_SUBMIT_BYTES,
    ) -> HttpAnswer: ...

    async def close(self) -> None: ...


class AiohttpTransport:
    """One ``aiohttp.ClientSession`` (connection reuse) with total and connect timeouts."""

    def __init__(self, *, timeout: float, connections: int, ca_bundle: str | None = None) -> None:
        context = tls_context(ca_bundle)  # before the session: a bad bundle leaves nothing open
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 30.0)),
            connector=aiohttp.TCPConnector(limit=connections, ssl=context),
            auto_decompress=True,
            headers={"User-Agent": USER_AGENT},
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str],
        limit: int = MAX_SUBMIT_BYTES,
    ) -> HttpAnswer:
        try:
            # No redirects: a 3xx must not carry the bearer token to another host (or to
            # plain http); it is answered as a refused batch instead.
            async with self._session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                data = await _read_capped(resp.content, limit + 1)
                return HttpAnswer(
                    resp.status,
                    data[:limit],
                    _retry_after(resp.headers.get("Retry-After")),
                    truncated=len(data) > limit,
                )
        except TimeoutError as exc:
            raise TransportError(f"no answer from {_host(url)} in time") from exc
        except (aiohttp.ClientConnectorCertificateError, ssl.SSLCertVerificationError) as exc:
            raise EndpointError(
                f"{_host(url)}: TLS certificate verification failed ({_reason(exc)}); "
                + spell(
                    "if the endpoint uses a private CA, pass its certificates with $ca_bundle",
                    "ca_bundle",
                )
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{_host(url)}: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:  # a reset while writing a large body can surface unwrapped
            raise TransportError(f"{_host(url)}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        await self._session.close()


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to EOF, but never more than ``limit`` bytes. ``read(n)`` alone returns
    whatever has arrived so far: an answer sent in several pieces would look truncated, and a
    batch Target accepted would be retried."""
    data = bytearray()
    while len(data) < limit:
        chunk = await stream.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def auth_headers(token: Secret | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.reveal()}"} if token else {}


def raise_for_refusal(answer: HttpAnswer, auth_message: str) -> None:
    """Raise for answers that refuse the call rather than answer it, the same for every
    Target API: 401/403 ``AuthError(auth_message)``; 429/503 ``Throttled`` and other 5xx
    ``ServerError`` (both transient)."""
    status = answer.status
    if status in (401, 403):
        raise AuthError(auth_message, status=status)
    if status in (429, 503):
        raise Throttled(f"throttled (HTTP {status})", status=status, retry_after=answer.retry_after)
    if status >= 500:
        raise ServerError(f"server error (HTTP {status})", status=status)


def submit_outcome(answer: HttpAnswer, url: str = "the submit URL") -> SubmitResult:
    """The batch's fate from Target's answer; raises for anything that is not a verdict.

    The body decides, not the status: HTTP 200 with ``<success>false</success>`` is a
    rejected batch. 401/403 (or a rejection that talks about the token) is ``AuthError``;
    429/503 ``Throttled``; other 5xx and unreadable bodies ``ServerError`` (transient); 404
    ``EndpointError``: no batch can succeed at ``url`` (unknown client code, wrong endpoint).
    """
    status = answer.status
    raise_for_refusal(answer, _auth_message(status))
    if status == 404:
        said = _said(answer.body)
        raise EndpointError(
            f"{url} answered HTTP 404{': ' + said if said else ''}: "
            + spell(
                "check $client_code, $endpoint and $api_version",
                "client_code",
                "endpoint",
                "api_version",
            )
        )
    if status != 200:
        snippet = answer.body[:200].decode("utf-8", errors="replace")
        raise BatchRejected(f"HTTP {status}: {snippet}", status=status)
    result = parse_submit(answer.body)
    if not result.success:
        if any(word in result.message.lower() for word in _TOKEN_WORDS):
            raise AuthError(_auth_message(status, result.message), status=status)
        raise BatchRejected(result.message or "rejected without a message", status=status)
    return result


def _auth_message(status: int, detail: str = "") -> str:
    said = f": {detail}" if detail else ""
    return (
        f"Target rejected the profile token (HTTP {status}{said}). It has expired or was "
        "regenerated (a new token invalidates the old one at once). Get a new one in Target "
        "(Administration > Implementation > Profile API > Generate New Authentication Token) "
        + spell("or with `uploader token get`, then run again with ${resume=True}.", "resume=True")
    )


def check_endpoint(url: str, token: Secret | None) -> None:
    """Refuse to send a token in clear text to anything but this machine."""
    if token:
        refuse_cleartext(url, setting="endpoint", secret="the profile token")
    else:
        _require_http_url(url, "endpoint")


def api_base_url(client_code: str, endpoint: str | None) -> str:
    """The base URL Target's API paths are appended to: ``endpoint`` (default
    ``https://CLIENT.tt.omtrdc.net``), without a trailing slash. Every URL built from a user's
    client code and endpoint starts here, so both are checked here (``ConfigError``)."""
    check_client_code(client_code)
    if endpoint is None:
        return f"https://{client_code}.tt.omtrdc.net"
    check_endpoint_url(endpoint)
    return endpoint.rstrip("/")


def check_client_code(client_code: str) -> None:
    """A client code goes into a host name and a path segment: letters, digits, _, - and ."""
    if not client_code:
        raise ConfigError(
            "$client_code is required (your Target client code)", settings=("client_code",)
        )
    if not _CLIENT_CODE.fullmatch(client_code):
        raise ConfigError(
            f"$client_code {client_code!r}: a client code is letters, digits, _, - and "
            ". only (your Target client code, as in https://CLIENT.tt.omtrdc.net)",
            settings=("client_code",),
        )


def check_endpoint_url(url: str) -> None:
    """An endpoint is a base URL the API's paths are appended to: http(s), a host, no query
    and no fragment (``…?x=1`` + ``/m2/…`` would send every call to a wrong path)."""
    _require_http_url(url, "endpoint")
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.rstrip("/").endswith(("?", "#")):
        raise ConfigError(
            f"$endpoint {url!r}: a base URL takes no query or fragment (?…, #…)",
            settings=("endpoint",),
        )


def refuse_cleartext(url: str, *, setting: str, secret: str) -> None:
    """``url`` (the value of parameter ``setting``) must be https, or plain http to this
    machine only: ``secret`` goes there."""
    host = _require_http_url(url, setting)
    if urlsplit(url).scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            f"${setting} {url}: refusing to send {secret} over plain http to a non-loopback "
            "host; use https",
            settings=(setting,),
        )


def _require_http_url(url: str, setting: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"${setting} {url!r}: expected an http(s)://host URL", settings=(setting,)
        )
    return parts.hostname


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1): this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _said(body: bytes) -> str:
    """Target's ``<message>`` in an error answer, or a short plain-text snippet."""
    try:
        return parse_submit(body).message
    except ServerError:
        return body[:120].decode("utf-8", errors="replace").strip()


def _reason(exc: BaseException) -> str:
    """The certificate problem in a few words (aiohttp's message repeats the whole request)."""
    cert = getattr(exc, "certificate_error", None) or exc
    return str(getattr(cert, "verify_message", "") or cert).strip() or type(exc).__name__


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
