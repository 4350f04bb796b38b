"""Refreshing token providers driving the real engine against the mock over loopback:
Adobe I/O end to end (IMS → Admin API → bulk), and a token rotated or expired mid-run is
replaced once and the run completes without stopping, with exact receipts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import polars as pl

from uploader.auth._adobe_io import AdobeIOCredentials, ProfileToken
from uploader.auth._secret import Secret
from uploader.auth._sources import AdobeIOToken, CommandToken
from uploader.auth._static import TokenProvider
from uploader.ledger._summary import RunSummary
from uploader.mock import MockConfig, MockTarget
from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec, Producer
from uploader.send._engine import UploadConfig, upload
from uploader.send._ratelimit import RateLimit
from uploader.send._transport import HttpAnswer
from uploader.testing import OK_XML, FakeClock, Request, Script, ScriptedTransport, accepted


class AfterFirstAck:
    """Progress that does something to the mock once, after the first acknowledged batch."""

    def __init__(self, action: object) -> None:
        self.action, self.done = action, False

    def start(self) -> None: ...
    def stop(self) -> None: ...

    def update(self, summary: RunSummary, total: int | None) -> None:
        if summary.batches_acknowledged and not self.done:
            self.done = True
            self.action()  # type: ignore[operator]


async def run(
    mock: MockTarget,
    tmp_path: Path,
    source: Path,
    tokens: TokenProvider,
    progress: AfterFirstAck | None = None,
    concurrency: int = 1,
) -> RunSummary:
    config = UploadConfig(
        client_code="demo",
        endpoint=mock.base_url,
        ledger=tmp_path / "ledger.jsonl",
        rate=None,
        concurrency=concurrency,
    )
    producer = Producer(InputSpec(sources=(source,), limits=BatchLimits(rows=20)))
    return await upload(config, producer, tokens, progress=progress)


async def test_adobe_io_end_to_end_ims_admin_api_bulk(
    adobe_credentials: Callable[..., AdobeIOCredentials],
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    mock_config: Callable[..., MockConfig],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 200)
    async with MockTarget(mock_config()) as mock:
        provider = AdobeIOToken(adobe_credentials(mock))
        summary = await run(mock, tmp_path, source, provider)
        frame = mock.received_frame()
        assert mock.stats["unauthorized"] == 0
    assert summary.exit_code == 0 and summary.invariant_holds
    assert received_profiles(frame) == expected_profiles(source)
    assert provider.fetches == 1 and provider.mints == 0


async def test_command_token_survives_a_mid_run_rotation_without_stopping(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    mock_config: Callable[..., MockConfig],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    token_printer: Callable[[Path], str],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """An admin regenerates the token mid-run and the secret store gets the new one: the
    helper is asked again once, the rejected batch is re-sent, the run completes."""
    source = tricky_csv(tmp_path / "in.csv", 300)
    store = tmp_path / "store"
    async with MockTarget(mock_config()) as mock:
        store.write_text(mock.token)

        def rotate() -> None:
            store.write_text(mock.rotate_token())

        provider = CommandToken(token_printer(store))
        summary = await run(mock, tmp_path, source, provider, AfterFirstAck(rotate))
        frame, stats = mock.received_frame(), mock.stats
    assert summary.exit_code == 0 and summary.stop_reason is None, summary.lines()
    assert summary.batches_pending == 0 and summary.invariant_holds
    assert stats["unauthorized"] == 1 and summary.token_refreshes == 1
    assert provider.runs == 2
    assert received_profiles(frame) == expected_profiles(source)


async def test_adobe_io_survives_an_expiry_mid_run_with_one_mint_for_concurrent_401s(
    adobe_credentials: Callable[..., AdobeIOCredentials],
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    mock_config: Callable[..., MockConfig],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """The token expires while four senders are busy: exactly one new token is generated
    (however many of them saw the 401), every batch arrives once."""
    source = tricky_csv(tmp_path / "in.csv", 600)
    async with MockTarget(mock_config()) as mock:
        provider = AdobeIOToken(adobe_credentials(mock))
        first = mock.token
        summary = await run(
            mock, tmp_path, source, provider, AfterFirstAck(mock.expire_token), concurrency=4
        )
        frame, stats, last = mock.received_frame(), mock.stats, mock.token
    assert summary.exit_code == 0 and summary.stop_reason is None, summary.lines()
    assert summary.batches_pending == 0 and summary.invariant_holds
    assert stats["unauthorized"] >= 1 and stats["max_concurrent"] >= 2
    assert provider.mints == 1 and summary.token_refreshes == 1 and last != first
    assert received_profiles(frame) == expected_profiles(source)
    assert frame.height == summary.rows_acknowledged


async def test_adobe_io_adopts_a_token_regenerated_in_the_ui_mid_run(
    adobe_credentials: Callable[..., AdobeIOCredentials],
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    mock_config: Callable[..., MockConfig],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """Regenerated by someone else: adopted from the Admin API (GET), no new one minted
    (which would break the other party's fresh token)."""
    source = tricky_csv(tmp_path / "in.csv", 300)
    async with MockTarget(mock_config()) as mock:
        provider = AdobeIOToken(adobe_credentials(mock))
        summary = await run(mock, tmp_path, source, provider, AfterFirstAck(mock.rotate_token))
        frame = mock.received_frame()
    assert summary.exit_code == 0 and summary.token_refreshes == 1
    assert provider.mints == 0 and provider.fetches == 2
    assert received_profiles(frame) == expected_profiles(source)


def admin_api(profile_token: Callable[[bool], Awaitable[ProfileToken]]) -> Script:
    """IMS and the Admin API as a transport script: the Admin API answers
    ``profile_token(new)``."""

    async def script(request: Request) -> HttpAnswer:
        if request.url.endswith("/ims/token/v3"):
            return HttpAnswer(200, b'{"access_token": "ims-token"}')
        answer = await profile_token(request.method == "POST")
        body = {"accessToken": answer.token.reveal(), "expiresIn": answer.expires_in}
        return HttpAnswer(200, orjson.dumps(body))

    return script


async def test_four_simultaneous_401s_mint_exactly_one_token(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    minted: list[str] = []

    async def current_or_new(new: bool) -> ProfileToken:
        await asyncio.sleep(0)
        if new:
            minted.append(f"tok-{len(minted) + 2}")
        return ProfileToken(token=Secret(minted[-1] if minted else "tok-1"), expires_in=None)

    all_in = asyncio.Event()
    rejected: list[Request] = []

    async def hold_then_reject(request: Request) -> HttpAnswer:
        """Holds the first 4 calls until all 4 are in flight, then answers the old token
        with 401: 4 senders see the rejection at the same moment."""
        if request.number <= 4:
            if request.number == 4:
                all_in.set()
            await all_in.wait()
        if request.headers.get("Authorization") == "Bearer tok-1":
            rejected.append(request)
            return HttpAnswer(401, b"<response><success>false</success></response>")
        return HttpAnswer(200, OK_XML % request.number)

    creds = AdobeIOCredentials(client_id="c", client_secret=Secret("s"), tenant="t")
    provider = AdobeIOToken(creds, transport=ScriptedTransport(admin_api(current_or_new)))
    transport = ScriptedTransport(hold_then_reject)
    config = UploadConfig(client_code="demo", ledger=tmp_path / "l.jsonl", rate=None, concurrency=4)
    summary = await upload(config, small_producer(tmp_path, rows=80), provider, transport=transport)
    assert len(rejected) == 4
    assert minted == ["tok-2"] and provider.mints == 1 and summary.token_refreshes == 1
    assert summary.exit_code == 0 and summary.batches_acknowledged == 8


async def test_admin_api_token_calls_draw_on_the_bulk_budget(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    """Target's 50/min is shared by the Admin and bulk APIs of one account: the token fetch
    takes a slot of the same limiter, so no window ever holds more than N calls of both."""
    clock = FakeClock()
    calls: list[tuple[str, float]] = []

    async def current(new: bool) -> ProfileToken:
        calls.append(("admin", clock()))
        return ProfileToken(token=Secret("tok-1"), expires_in=None)

    def bulk(request: Request) -> HttpAnswer:
        calls.append(("bulk", clock()))
        return accepted(request)

    provider = AdobeIOToken(
        AdobeIOCredentials(client_id="c", client_secret=Secret("s"), tenant="t"),
        transport=ScriptedTransport(admin_api(current)),
    )
    config = UploadConfig(
        client_code="demo", ledger=tmp_path / "l.jsonl", rate=RateLimit(3, 60.0), concurrency=2
    )
    summary = await upload(
        config,
        small_producer(tmp_path, rows=40),
        provider,
        transport=ScriptedTransport(bulk),
        clock=clock,
        sleep=clock.sleep,
    )
    assert summary.exit_code == 0 and summary.batches_acknowledged == 4
    assert [kind for kind, _ in calls].count("admin") == 1
    times = sorted(when for _, when in calls)
    assert all(times[i + 3] - times[i] >= 60.0 for i in range(len(times) - 3)), calls
