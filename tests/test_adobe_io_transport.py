"""Adobe I/O over the Transport seam, with no server: what IMS and the Admin API are sent
(form, headers, methods, URLs) and how each of their answers is judged."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest

from uploader.auth._adobe_io import AdobeIOCredentials, fetch_profile_token
from uploader.auth._secret import Secret
from uploader.auth._sources import AdobeIOToken
from uploader.errors import AuthError, RemoteError, TransportError
from uploader.send._transport import HttpAnswer
from uploader.testing import Request, ScriptedTransport

CREDENTIALS = AdobeIOCredentials(
    client_id="client-1",
    client_secret=Secret("s3cret-value"),
    tenant="acme",
    scopes="openid,target_sdk",
    ims_url="https://ims.example/",
    admin_url="https://admin.example",
)
IMS_OK = HttpAnswer(200, b'{"access_token": "ims-token", "expires_in": 86399999}')


def answering(
    admin: HttpAnswer | Exception, ims: HttpAnswer | Exception = IMS_OK
) -> ScriptedTransport:
    def script(request: Request) -> HttpAnswer | Exception:
        return ims if request.url.startswith("https://ims.example/") else admin

    return ScriptedTransport(script)


@pytest.mark.parametrize(("new", "method"), [(False, "GET"), (True, "POST")])
async def test_ims_then_admin_api_calls_carry_the_credentials_and_the_ims_token(
    new: bool, method: str
) -> None:
    transport = answering(HttpAnswer(200, b'{"accessToken": "profile-1", "expiresIn": 600}'))
    token = await fetch_profile_token(transport, CREDENTIALS, new=new)
    assert token.token == Secret("profile-1") and token.expires_in == 600.0
    ims, admin = transport.requests
    assert (ims.method, ims.url) == ("POST", "https://ims.example/ims/token/v3")
    assert ims.headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert parse_qs(ims.body.decode(), strict_parsing=True) == {
        "grant_type": ["client_credentials"],
        "client_id": ["client-1"],
        "client_secret": ["s3cret-value"],
        "scope": ["openid,target_sdk"],
    }
    assert admin.method == method and admin.body == b""
    assert admin.url == (
        "https://admin.example/acme/target/authentication/token?authorizationScope=profile_api"
    )
    assert admin.headers == {
        "Authorization": "Bearer ims-token",
        "X-Api-Key": "client-1",
        "Accept": "application/vnd.adobe.target.v1+json",
    }
    assert not transport.closed  # the caller's transport: the caller closes it


@pytest.mark.parametrize(
    ("ims", "admin", "error", "message"),
    [
        (HttpAnswer(401, b"{}"), None, AuthError, "IMS refused the credentials (HTTP 401)"),
        (None, HttpAnswer(403, b"{}"), AuthError, "Admin API refused the credentials"),
        (None, HttpAnswer(404, b"{}"), RemoteError, "check the tenant"),
        (HttpAnswer(500, b"{}"), None, RemoteError, "IMS answered HTTP 500"),
        (None, HttpAnswer(302, b""), RemoteError, "Admin API answered HTTP 302"),
        (HttpAnswer(200, b"<html>"), None, RemoteError, "IMS: the answer is not JSON"),
        (HttpAnswer(200, b"[1]"), None, RemoteError, "IMS: unexpected answer"),
        (HttpAnswer(200, b"{}"), None, RemoteError, "IMS: the answer holds no access_token"),
        (None, HttpAnswer(200, b"{}"), RemoteError, "the answer holds no accessToken"),
    ],
)
async def test_each_refusal_is_one_error_that_names_the_service_and_no_secret(
    ims: HttpAnswer | None, admin: HttpAnswer | None, error: type[Exception], message: str
) -> None:
    transport = answering(admin or HttpAnswer(200, b'{"accessToken": "p"}'), ims or IMS_OK)
    with pytest.raises(error, match=re.escape(message)) as info:
        await fetch_profile_token(transport, CREDENTIALS)
    assert "s3cret-value" not in str(info.value) and "ims-token" not in str(info.value)


async def test_a_lost_connection_names_the_host_and_the_cause_not_the_query() -> None:
    lost = TransportError("admin.example: ClientOSError: reset")
    lost.__cause__ = ConnectionResetError()
    with pytest.raises(TransportError) as info:
        await fetch_profile_token(answering(lost), CREDENTIALS)
    assert str(info.value) == (
        "Admin API: cannot reach https://admin.example/acme/target/authentication/token "
        "(ConnectionResetError)"
    )


async def test_the_provider_calls_over_the_injected_transport() -> None:
    transport = answering(HttpAnswer(200, b'{"accessToken": "profile-1"}'))
    provider = AdobeIOToken(CREDENTIALS, transport=transport)
    assert await provider.get() == Secret("profile-1")
    assert [r.method for r in transport.requests] == ["POST", "GET"]
    assert provider.fetches == 1 and provider.mints == 0
