"""The engine with a scripted transport and a fake clock: retries, auth, ledger, resume."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.errors import LedgerError, TransportError
from uploader.ledger._ledger import read_ledger
from uploader.ledger._records import LEDGER_SCHEMA
from uploader.ledger._summary import RunSummary
from uploader.produce._producer import Producer
from uploader.send._engine import UploadConfig, upload
from uploader.send._retry import RetryPolicy
from uploader.send._transport import HttpAnswer
from uploader.testing import FakeClock, Request, ScriptedTransport, accepted

TOKEN = StaticToken(Secret("tok-123"), "test")


def config(tmp_path: Path, **kw: object) -> UploadConfig:
    base: dict[str, object] = {
        "client_code": "demo",
        "ledger": tmp_path / "run" / "ledger.jsonl",
        "endpoint": "https://demo.example",
        "rate": None,
        "concurrency": 3,
    }
    return UploadConfig(**{**base, **kw})  # type: ignore[arg-type]


async def run(
    small_producer: Callable[..., Producer],
    tmp_path: Path,
    transport: ScriptedTransport,
    clock: FakeClock | None = None,
    **kw: object,
) -> RunSummary:
    clock = clock or FakeClock()
    return await upload(
        config(tmp_path, **kw),
        small_producer(tmp_path),
        TOKEN,
        transport=transport,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(7),
    )


async def test_every_batch_is_sent_once_with_bearer_token_and_acknowledged(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    transport = ScriptedTransport(accepted)
    summary = await run(small_producer, tmp_path, transport)
    assert summary.batches_acknowledged == 5 and summary.rows_acknowledged == 50
    assert summary.invariant_holds and summary.exit_code == 0
    bodies = sorted(r.body for r in transport.requests)
    assert len(set(bodies)) == 5
    assert all(r.headers["Authorization"] == "Bearer tok-123" for r in transport.requests)
    assert all(
        r.headers["Content-Type"] == "application/x-www-form-urlencoded" for r in transport.requests
    )
    state = read_ledger(tmp_path / "run" / "ledger.jsonl")
    assert sorted(state.acknowledged()) == [1, 2, 3, 4, 5]
    assert state.batches[1].batch_id and str(state.batches[1].status_url).startswith(
        "https://edge."
    )


async def test_the_documented_answer_with_a_bare_ampersand_is_acknowledged_once(
    small_producer: Callable[..., Producer],
    tmp_path: Path,
) -> None:
    """Adobe's own example answer is not well-formed XML (a bare ``&``): it must still be a
    success, or the batch Target accepted is re-sent up to 1 + max-retries times."""

    def doc(request: Request) -> HttpAnswer:
        return HttpAnswer(
            200,
            b"<response><success>true</success><batchStatus>http://mboxedge17.tt.omtrdc.net/"
            b"m2/demo/v2/profile/batchStatus?batchId=demo-%d&m2Node=00</batchStatus>"
            b"<message>Batch submitted for processing</message></response>" % request.number,
        )

    transport = ScriptedTransport(doc)
    summary = await run(small_producer, tmp_path, transport)
    assert len(transport.requests) == 5 and summary.retries == 0
    assert summary.batches_acknowledged == 5 and summary.exit_code == 0
    state = read_ledger(tmp_path / "run" / "ledger.jsonl")
    assert {r.batch_id for r in state.batches.values()} == {f"demo-{call}" for call in range(1, 6)}
    assert all(str(r.status_url).endswith("&m2Node=00") for r in state.batches.values())


async def test_transient_errors_are_retried_with_backoff_and_retry_after(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    def flaky(request: Request) -> HttpAnswer | Exception:
        if request.number == 1:
            return HttpAnswer(503, b"busy")
        if request.number == 2:
            return HttpAnswer(429, b"", retry_after=7.0)
        if request.number == 3:
            return TransportError("connection reset")
        if request.number == 4:
            return HttpAnswer(200, b"<response><succ")  # garbled: transient
        if request.number == 5:
            return HttpAnswer(502, b"")
        return accepted(request)

    clock = FakeClock()
    summary = await run(small_producer, tmp_path, ScriptedTransport(flaky), clock, concurrency=1)
    assert summary.rows_acknowledged == 50 and summary.retries == 5 and summary.throttled == 2
    assert 7.0 in clock.sleeps  # Retry-After honoured exactly (it exceeds the backoff)
    assert all(0 <= s <= 60 for s in clock.sleeps)


async def test_retries_are_bounded_and_a_batch_that_keeps_failing_is_failed(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    def broken_first(request: Request) -> HttpAnswer:
        return HttpAnswer(500, b"") if b"id0," in request.body else accepted(request)

    summary = await run(
        small_producer, tmp_path, ScriptedTransport(broken_first), retry=RetryPolicy(max_retries=3)
    )
    assert summary.batches_failed == 1 and summary.rows_failed == 10
    assert summary.rows_acknowledged == 40 and summary.exit_code == 1 and summary.invariant_holds
    record = read_ledger(tmp_path / "run" / "ledger.jsonl").batches[1]
    assert record.outcome == "failed" and record.attempts == 4
    assert "gave up after 4 attempt(s)" in record.message


async def test_success_false_is_a_rejected_batch_not_retried(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    rejected = b"<response><success>false</success><batchStatus/><message>Unexpected error</message></response>"
    transport = ScriptedTransport(lambda request: HttpAnswer(200, rejected))
    summary = await run(
        small_producer, tmp_path, transport, bisect_calls=0
    )  # no bisection: see test_bisect
    assert summary.batches_failed == 5 and len(transport.requests) == 5
    assert read_ledger(tmp_path / "run" / "ledger.jsonl").batches[2].message == "Unexpected error"


async def test_auth_failure_stops_at_once_and_leaves_the_rest_pending(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    def expires(request: Request) -> HttpAnswer:
        return accepted(request) if request.number <= 2 else HttpAnswer(401, b"<response/>")

    transport = ScriptedTransport(expires)
    summary = await run(small_producer, tmp_path, transport, concurrency=1)
    assert summary.stop_reason == "auth" and summary.exit_code == 3
    assert len(transport.requests) == 3  # no retry storm: one refused call, then nothing
    assert summary.rows_acknowledged == 20 and summary.rows_pending == 30
    assert summary.invariant_holds
    assert "Profile API" in summary.message and "run again with resume=True." in summary.message


async def test_a_refreshing_provider_gets_one_refresh_for_many_concurrent_401s(
    small_producer: Callable[..., Producer],
    tmp_path: Path,
) -> None:
    class Rotating:
        source = "test"

        def __init__(self) -> None:
            self.token, self.refreshes = Secret("old"), 0

        async def get(self) -> Secret:
            return self.token

        async def rejected(self, token: Secret | None) -> Secret:
            self.refreshes += 1
            self.token = Secret("new")
            return self.token

    def needs_new(request: Request) -> HttpAnswer:
        return (
            accepted(request)
            if request.headers["Authorization"] == "Bearer new"
            else HttpAnswer(401, b"")
        )

    provider = Rotating()
    clock = FakeClock()
    summary = await upload(
        config(tmp_path, concurrency=4),
        small_producer(tmp_path),
        provider,
        transport=ScriptedTransport(needs_new),
        clock=clock,
        sleep=clock.sleep,
    )
    assert provider.refreshes == 1 and summary.token_refreshes == 1
    assert summary.rows_acknowledged == 50 and summary.stop_reason is None


async def test_resume_sends_only_unacknowledged_batches_and_refuses_changed_input(
    small_producer: Callable[..., Producer],
    tmp_path: Path,
) -> None:
    def dies(request: Request) -> HttpAnswer:
        return accepted(request) if request.number <= 2 else HttpAnswer(403, b"")

    first = await run(small_producer, tmp_path, ScriptedTransport(dies), concurrency=1)
    assert first.rows_acknowledged == 20
    again = ScriptedTransport(accepted)
    second = await run(small_producer, tmp_path, again, resume=True)
    assert len(again.requests) == 3 and second.batches_skipped == 2
    assert second.rows_acknowledged == 50 and second.invariant_holds and second.exit_code == 0
    with pytest.raises(LedgerError, match="already exists"):
        await run(small_producer, tmp_path, ScriptedTransport(accepted))
    with pytest.raises(LedgerError, match=r"settings changed .*batch_rows"):
        await upload(
            config(tmp_path, resume=True),
            small_producer(tmp_path, batch_rows=7),
            TOKEN,
            transport=ScriptedTransport(accepted),
        )


async def test_run_records_carry_the_ledger_schema_and_unversioned_ones_are_schema_1(
    relabel_ledger: Callable[[Path, int | None], None],
    small_producer: Callable[..., Producer],
    tmp_path: Path,
) -> None:
    await run(small_producer, tmp_path, ScriptedTransport(accepted))
    ledger = tmp_path / "run" / "ledger.jsonl"
    state = read_ledger(ledger)
    assert LEDGER_SCHEMA == 3 and state.runs[0].schema == 3 and state.schema == 3
    relabel_ledger(ledger, None)
    assert read_ledger(ledger).schema == 1


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (None, r"older uploader \(ledger schema 1\) whose batches were encoded differently, so "
         r"resuming would re-send different batches; start a new ledger \(or finish it with "
         r"the older version\)"),
        (4, r"written by a newer uploader \(ledger schema 4; this one knows up to 3\)"),
    ],
)  # fmt: skip
async def test_resume_refuses_a_ledger_of_an_older_or_a_newer_uploader(
    relabel_ledger: Callable[[Path, int | None], None],
    small_producer: Callable[..., Producer],
    tmp_path: Path,
    schema: int | None,
    message: str,
) -> None:
    def dies(request: Request) -> HttpAnswer:
        return accepted(request) if request.number <= 2 else HttpAnswer(403, b"")

    await run(small_producer, tmp_path, ScriptedTransport(dies), concurrency=1)
    ledger = tmp_path / "run" / "ledger.jsonl"
    relabel_ledger(ledger, schema)
    before = ledger.read_bytes()
    again = ScriptedTransport(accepted)
    with pytest.raises(LedgerError, match=message):
        await run(small_producer, tmp_path, again, resume=True)
    assert again.requests == [] and ledger.read_bytes() == before


async def test_token_never_reaches_the_ledger(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    await run(small_producer, tmp_path, ScriptedTransport(lambda request: HttpAnswer(401, b"")))
    assert b"tok-123" not in (tmp_path / "run" / "ledger.jsonl").read_bytes()
    assert "tok-123" not in repr(TOKEN) + str(Secret("tok-123"))


async def test_interrupt_abandons_hung_calls_after_the_grace_period(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    """SIGINT: no new batches; calls still hanging after ``grace`` are abandoned as pending.
    The grace period is waited on the injected clock (real time made this flaky under load)."""
    never = asyncio.Event()
    three_on_the_wire = asyncio.Event()

    async def hang(request: Request) -> HttpAnswer:
        if request.number == 3:
            three_on_the_wire.set()
        await never.wait()
        raise AssertionError("unreachable")

    transport = ScriptedTransport(hang)
    clock = FakeClock()
    task = asyncio.create_task(
        upload(
            config(tmp_path, grace=30.0),
            small_producer(tmp_path),
            TOKEN,
            transport=transport,
            clock=clock,
            sleep=clock.sleep,
            handle_signals=True,
        )
    )
    await three_on_the_wire.wait()
    os.kill(os.getpid(), signal.SIGINT)
    summary = await asyncio.wait_for(task, 60)
    assert clock.sleeps == [30.0]
    assert summary.exit_code == 130 and summary.stop_reason == "interrupted"
    # How many of the other 2 batches were made before the stop is the producer thread's
    # pace: every row is pending either way.
    assert summary.batches_pending >= 3 and summary.rows_pending == 50 and summary.invariant_holds
    records = read_ledger(tmp_path / "run" / "ledger.jsonl").batches
    assert sum(r.message == "abandoned after the grace period" for r in records.values()) == 3
