"""The aiohttp transport over loopback: whole answers, capped answers, no redirects, errors
mapped into the uploader's tree."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import polars as pl
import pytest
from aiohttp import web

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.errors import TransportError
from uploader.mock import FaultConfig, MockConfig, MockTarget
from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec, Producer
from uploader.send._engine import UploadConfig, upload
from uploader.send._response import MAX_SUBMIT_BYTES
from uploader.send._transport import AiohttpTransport

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_an_answer_written_in_pieces_is_read_whole_and_never_retried(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """A slow answer must not look truncated: Target accepted the batch, a retry re-sends it."""
    source = tricky_csv(tmp_path / "t.csv", 120)
    slow = MockConfig(client_code="demo", rate_limit=None, faults=FaultConfig(slow_body=0.05))
    async with MockTarget(slow) as mock:
        summary = await upload(
            UploadConfig(client_code="demo", endpoint=mock.base_url, ledger=tmp_path / "l.jsonl"),
            Producer(InputSpec(sources=(source,), limits=BatchLimits(rows=30))),
            StaticToken(Secret(mock.token), "mock"),
        )
        frame = mock.received_frame()
    assert summary.exit_code == 0 and summary.retries == 0 and summary.calls == 4
    assert received_profiles(frame) == expected_profiles(source)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"x" * 65536)
        return response

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(text="<response><success>true</success></response>")

    app = web.Application()
    app.router.add_post("/huge", huge)
    app.router.add_post("/redirect", redirect)
    app.router.add_route("*", "/elsewhere", elsewhere)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_answers_are_capped_and_redirects_not_followed(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = server
    transport = AiohttpTransport(timeout=10, connections=2)
    try:
        big = await transport.request("POST", f"{base}/huge", body=b"batch=", headers=FORM)
        assert len(big.body) == MAX_SUBMIT_BYTES and big.truncated
        small = await transport.request(
            "POST", f"{base}/huge", body=b"", headers=FORM, limit=1 << 22
        )
        assert len(small.body) < 1 << 22 and not small.truncated
        moved = await transport.request(
            "POST", f"{base}/redirect", body=b"batch=", headers={**FORM, "Authorization": "x"}
        )
        assert moved.status == 302 and seen == []  # the token went nowhere else
    finally:
        await transport.close()


async def test_connection_refused_is_a_transport_error() -> None:
    transport = AiohttpTransport(timeout=5, connections=1)
    try:
        with pytest.raises(TransportError, match=r"127\.0\.0\.1:9"):
            await transport.request("POST", "http://127.0.0.1:9/x", body=b"", headers=FORM)
    finally:
        await transport.close()


async def test_every_call_names_the_uploader_and_its_version(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    from uploader import __version__

    base, seen = server
    transport = AiohttpTransport(timeout=10, connections=1)
    try:
        await transport.request("GET", f"{base}/elsewhere", headers={})
    finally:
        await transport.close()
    assert seen[0]["User-Agent"] == f"uploader/{__version__}"
