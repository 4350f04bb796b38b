"""Serving the mock to the tests that drive it with plain aiohttp requests."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
import defusedxml.ElementTree as ET

from uploader.mock import MockConfig, MockTarget

CLOCK_START = 1_000.0  # mock tests start their fake clock here


@asynccontextmanager
async def serve(**options: Any) -> AsyncIterator[tuple[MockTarget, aiohttp.ClientSession]]:
    """A mock on a free loopback port (throttle off unless asked) and a client session.

    These tests read the mock's XML with a strict parser, so its submit answers are the
    well-formed ``plain`` shape unless a test asks for Adobe's documented ``doc`` shape (the
    default everywhere else, so every client test meets the bare ``&``)."""
    config = MockConfig(**{"rate_limit": None, "status_url_style": "plain", **options})
    async with MockTarget(config) as mock, aiohttp.ClientSession() as http:
        yield mock, http


def serve_open(
    **options: Any,
) -> AbstractAsyncContextManager[tuple[MockTarget, aiohttp.ClientSession]]:
    """``serve`` with Require Authentication off, unless the test turns it on."""
    return serve(**{"require_auth": False, **options})


def xml(text: str) -> dict[str, str | None]:
    root = ET.fromstring(text)
    assert root.tag == "response"
    return {child.tag: child.text for child in root}


async def submit(
    mock: MockTarget, http: aiohttp.ClientSession, body: bytes, *, version: int = 2
) -> tuple[int, dict[str, str | None]]:
    path = "/v2/profile/batchUpdate" if version == 2 else "/profile/batchUpdate"
    url = f"{mock.base_url}/m2/{mock.config.client_code}{path}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    # BytesIO: aiohttp warns about large raw bytes bodies
    async with http.post(url, data=io.BytesIO(body), headers=headers) as response:
        return response.status, xml(await response.text())


async def status(
    http: aiohttp.ClientSession, url: str, details: bool = True
) -> dict[str, str | None]:
    params = {"showDetails": "true"} if details else {}
    async with http.get(url, params=params) as response:
        assert response.status == 200
        return xml(await response.text())
