"""Serving the mock to the tests that drive it with plain aiohttp requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp

from uploader.mock import MockConfig, MockTarget

CLOCK_START = 1_000.0  # mock tests start their fake clock here


@asynccontextmanager
async def serve(**options: Any) -> AsyncIterator[tuple[MockTarget, aiohttp.ClientSession]]:
    """A mock on a free loopback port (throttle off unless asked) and a client session."""
    config = MockConfig(**{"rate_limit": None, **options})
    async with MockTarget(config) as mock, aiohttp.ClientSession() as http:
        yield mock, http


def serve_open(
    **options: Any,
) -> AbstractAsyncContextManager[tuple[MockTarget, aiohttp.ClientSession]]:
    """``serve`` with Require Authentication off, unless the test turns it on."""
    return serve(**{"require_auth": False, **options})
