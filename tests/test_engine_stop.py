"""How runs stop: no call starts after the token is refused, even for senders that were waiting
for the rate limiter or a retry backoff; errors end the run without hanging it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.errors import InputError
from uploader.ledger._ledger import read_ledger
from uploader.ledger._summary import RunSummary
from uploader.produce._model import Batch
from uploader.produce._producer import Producer
from uploader.send._engine import UploadConfig, upload
from uploader.send._ratelimit import RateLimit
from uploader.send._transport import HttpAnswer
from uploader.testing import Request, ScriptedTransport, accepted

TOKEN = StaticToken(Secret("tok-stop"), "test")


def clock() -> float:
    return 0.0


async def sleep_forever(seconds: float) -> None:
    """Every wait lasts longer than the test: only a stop can end it."""
    await asyncio.Event().wait()


async def run(
    small_producer: Callable[..., Producer],
    tmp_path: Path,
    transport: ScriptedTransport,
    producer: Producer | None = None,
    **kw: object,
) -> RunSummary:
    settings: dict[str, object] = {
        "client_code": "demo",
        "ledger": tmp_path / "ledger.jsonl",
        "endpoint": "https://demo.example",
        "rate": None,
        **kw,
    }
    coro = upload(
        UploadConfig(**settings),  # type: ignore[arg-type]
        producer or small_producer(tmp_path),
        TOKEN,
        transport=transport,
        clock=clock,
        sleep=sleep_forever,
        rng=random.Random(1),
    )
    return await asyncio.wait_for(coro, 10)


async def test_senders_waiting_for_the_rate_limiter_never_send_after_an_auth_stop(
    small_producer: Callable[..., Producer],
    tmp_path: Path,
) -> None:
    """2 calls fit the window; the other senders wait for the limiter. The second call's 401
    must release them as pending, not let them send the refused token when the window opens."""

    def second_refused(request: Request) -> HttpAnswer:
        return accepted(request) if request.number == 1 else HttpAnswer(401, b"<response/>")

    transport = ScriptedTransport(second_refused)
    summary = await run(small_producer, tmp_path, transport, concurrency=4, rate=RateLimit(2, 60.0))
    assert len(transport.requests) == 2
    assert summary.stop_reason == "auth" and summary.exit_code == 3
    assert summary.rows_acknowledged == 10 and summary.rows_pending == 40
    assert summary.invariant_holds  # pending = batches recorded pending + rows not yet batched
    records = read_ledger(tmp_path / "ledger.jsonl").batches
    assert {r.outcome for s, r in records.items() if s != 1} == {"pending"}
    assert sum(r.rows for r in records.values() if r.outcome == "pending") <= 40


async def test_a_batch_in_retry_backoff_is_left_pending_when_the_token_is_refused(
    small_producer: Callable[..., Producer],
    tmp_path: Path,
) -> None:
    def script(request: Request) -> HttpAnswer:
        return HttpAnswer(500, b"") if b"id0," in request.body else HttpAnswer(403, b"")

    transport = ScriptedTransport(script)
    summary = await run(small_producer, tmp_path, transport, concurrency=2)
    assert len(transport.requests) == 2  # the 500 is not retried once the run has stopped
    assert summary.exit_code == 3 and summary.rows_pending == 50 and summary.invariant_holds
    first = read_ledger(tmp_path / "ledger.jsonl").batches[1]
    assert first.outcome == "pending" and first.attempts == 1


class BreaksAfterTwo(Producer):
    def __iter__(self) -> Iterator[Batch]:
        batches = super().__iter__()
        yield next(batches)
        yield next(batches)
        raise InputError("in-1.csv: row 25: not valid UTF-8")


async def test_an_input_error_mid_stream_ends_the_run_with_that_error(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    producer = small_producer(tmp_path)
    broken = BreaksAfterTwo(producer.spec)
    with pytest.raises(InputError, match="row 25"):  # not an ExceptionGroup, not a hang
        await run(small_producer, tmp_path, ScriptedTransport(accepted), broken, concurrency=1)
    assert read_ledger(tmp_path / "ledger.jsonl").summaries  # the summary is still written


async def test_an_unexpected_sender_error_does_not_hang_on_a_full_queue(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    def boom(request: Request) -> Exception:
        return RuntimeError("bug in a transport")

    with pytest.raises(RuntimeError, match="bug in a transport"):
        await run(small_producer, tmp_path, ScriptedTransport(boom), concurrency=1)


async def test_without_a_token_no_authorization_header_is_sent(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    transport = ScriptedTransport(accepted)
    summary = await asyncio.wait_for(
        upload(
            UploadConfig(client_code="demo", ledger=tmp_path / "l.jsonl", rate=None),
            small_producer(tmp_path),
            StaticToken(None, "none"),
            transport=transport,
        ),
        10,
    )
    assert summary.exit_code == 0
    assert all("Authorization" not in r.headers for r in transport.requests)
