"""Profile API authentication on the mock: Require Authentication on/off, expiry,
regeneration invalidating the old token, the IMS + Admin API flow, the admin hooks."""

from __future__ import annotations

from typing import Any

import aiohttp
import defusedxml.ElementTree as ET

from uploader.mock import MockTarget
from uploader.testing import FakeClock

BODY = b"batch=thirdPartyId,a\ncrm-1,x\n"


async def bulk(
    mock: MockTarget, http: aiohttp.ClientSession, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str | None]]:
    url = f"{mock.base_url}/m2/demo/v2/profile/batchUpdate"
    async with http.post(url, data=BODY, headers=headers) as response:
        root = ET.fromstring(await response.text())
        return response.status, {child.tag: child.text for child in root}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_auth_required_rejects_missing_and_wrong_tokens_with_401_xml(raw_mock: Any) -> None:
    async with raw_mock.serve(token="good") as (mock, http):
        missing = await bulk(mock, http)
        wrong = await bulk(mock, http, bearer("bad"))
        assert mock.stats["unauthorized"] == 2 and mock.receipts_count == 0
    for code, answer in (missing, wrong):
        assert code == 401
        assert answer["success"] == "false"
        assert "token" in (answer["message"] or "").lower()


async def test_only_bearer_is_accepted_by_default(raw_mock: Any) -> None:
    async with raw_mock.serve() as (mock, http):
        assert (await bulk(mock, http, bearer(mock.token)))[0] == 200
        code, answer = await bulk(mock, http, {"access_token": mock.token})
        assert mock.receipts_count == 1
    assert code == 401 and "missing" in (answer["message"] or "").lower()


async def test_legacy_access_token_header_is_accepted_behind_its_flag(raw_mock: Any) -> None:
    async with raw_mock.serve(accept_legacy_token_header=True) as (mock, http):
        assert (await bulk(mock, http, bearer(mock.token)))[0] == 200
        assert (await bulk(mock, http, {"access_token": mock.token}))[0] == 200
        assert (await bulk(mock, http, {"access_token": "wrong"}))[0] == 401
        assert mock.receipts_count == 2


async def test_auth_off_accepts_anonymous_uploads(raw_mock: Any) -> None:
    async with raw_mock.serve(require_auth=False) as (mock, http):
        code, answer = await bulk(mock, http)
    assert code == 200 and answer["success"] == "true"


async def test_status_and_profile_fetch_need_the_token_too(raw_mock: Any) -> None:
    async with raw_mock.serve() as (mock, http):
        _, answer = await bulk(mock, http, bearer(mock.token))
        status_url = answer["batchStatus"] or ""
        profile_url = f"{mock.base_url}/rest/v1/profiles/thirdPartyId/crm-1?client=demo"
        for url in (status_url, profile_url):
            async with http.get(url) as response:
                assert response.status == 401
            async with http.get(url, headers=bearer(mock.token)) as response:
                assert response.status == 200


async def test_token_expires_after_its_ttl(raw_mock: Any) -> None:
    clock = FakeClock(raw_mock.clock_start)
    async with raw_mock.serve(token_ttl=100.0, clock=clock) as (mock, http):
        clock.now += 99.9
        assert (await bulk(mock, http, bearer(mock.token)))[0] == 200
        clock.now += 0.1
        code, answer = await bulk(mock, http, bearer(mock.token))
    assert code == 401 and "expired" in (answer["message"] or "").lower()


async def test_expire_token_mid_run(raw_mock: Any) -> None:
    async with raw_mock.serve() as (mock, http):
        token = mock.token
        mock.expire_token()
        code, answer = await bulk(mock, http, bearer(token))
    assert code == 401 and "expired" in (answer["message"] or "").lower()


async def test_rotation_invalidates_the_old_token_at_once(raw_mock: Any) -> None:
    async with raw_mock.serve() as (mock, http):
        old = mock.token
        new = mock.rotate_token()
        assert new != old and mock.token == new
        code, answer = await bulk(mock, http, bearer(old))
        assert code == 401 and "invalid" in (answer["message"] or "").lower()
        assert (await bulk(mock, http, bearer(new)))[0] == 200


async def test_admin_hooks_rotate_expire_and_show_the_token(raw_mock: Any) -> None:
    async with raw_mock.serve() as (mock, http):
        old = mock.token
        async with http.post(f"{mock.base_url}/__mock/rotate-token") as response:
            new = (await response.json())["token"]
        assert new == mock.token != old
        async with http.get(f"{mock.base_url}/__mock/token") as response:
            assert (await response.json())["token"] == new
        async with http.post(f"{mock.base_url}/__mock/expire-token") as response:
            assert response.status == 200
        assert (await bulk(mock, http, bearer(new)))[0] == 401


async def ims_token(mock: MockTarget, http: aiohttp.ClientSession, secret: str) -> Any:
    form = {
        "grant_type": "client_credentials",
        "client_id": "demo-client-id",
        "client_secret": secret,
        "scope": "openid,AdobeID,target_sdk",
    }
    async with http.post(f"{mock.base_url}/ims/token/v3", data=form) as response:
        return response.status, await response.json()


async def test_ims_then_admin_api_get_and_regenerate_the_profile_token(raw_mock: Any) -> None:
    async with raw_mock.serve() as (mock, http):
        code, ims = await ims_token(mock, http, "demo-client-secret")
        assert code == 200
        assert ims["token_type"] == "bearer" and ims["expires_in"] == 86_400
        url = f"{mock.base_url}/demo-tenant/target/authentication/token"
        params = {"authorizationScope": "profile_api"}
        headers = {**bearer(ims["access_token"]), "X-Api-Key": "demo-client-id"}
        old = mock.token
        async with http.get(url, params=params, headers=headers) as response:
            assert response.status == 200
            assert response.content_type == "application/vnd.adobe.target.v1+json"
            current = await response.json()
        async with http.post(url, params=params, headers=headers) as response:
            assert response.status == 201
            created = await response.json()
        assert current["accessToken"] == old
        assert created["accessToken"] == mock.token != old
        assert created["tokenType"] == "bearer" and created["scope"] == "profile_api"
        assert 0 < created["expiresIn"] <= 86_400
        assert (await bulk(mock, http, bearer(old)))[0] == 401
        assert (await bulk(mock, http, bearer(created["accessToken"])))[0] == 200


async def test_ims_refuses_bad_credentials_and_admin_api_checks_its_headers(raw_mock: Any) -> None:
    async with raw_mock.serve() as (mock, http):
        code, error = await ims_token(mock, http, "wrong")
        assert code == 401 and error["error"] == "invalid_client"
        _, ims = await ims_token(mock, http, "demo-client-secret")
        url = f"{mock.base_url}/demo-tenant/target/authentication/token"
        scope = {"authorizationScope": "profile_api"}
        good = {**bearer(ims["access_token"]), "X-Api-Key": "demo-client-id"}
        cases = [
            (scope, {"X-Api-Key": "demo-client-id"}, 401),  # no IMS token
            (scope, {**bearer(mock.token), "X-Api-Key": "demo-client-id"}, 401),  # not IMS
            (scope, {**good, "X-Api-Key": "other"}, 403),
            ({"authorizationScope": "other"}, good, 400),
        ]
        for params, headers, expected in cases:
            async with http.get(url, params=params, headers=headers) as response:
                assert response.status == expected, (params, headers)
        async with http.get(
            f"{mock.base_url}/other-tenant/target/authentication/token",
            params=scope,
            headers=good,
        ) as response:
            assert response.status == 404


async def test_ims_token_itself_expires(raw_mock: Any) -> None:
    clock = FakeClock(raw_mock.clock_start)
    async with raw_mock.serve(clock=clock) as (mock, http):
        _, ims = await ims_token(mock, http, "demo-client-secret")
        clock.now += 86_400.0
        url = f"{mock.base_url}/demo-tenant/target/authentication/token"
        headers = {**bearer(ims["access_token"]), "X-Api-Key": "demo-client-id"}
        async with http.get(
            url, params={"authorizationScope": "profile_api"}, headers=headers
        ) as response:
            assert response.status == 401
