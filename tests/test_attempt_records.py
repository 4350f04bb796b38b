"""Every call of a batch is an ``attempt`` record (ledger schema 3): start, duration, HTTP
status, outcome, backoff — written before the batch's outcome. A schema-2 ledger (none) is
still read, and resumed in its own schema."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.errors import TransportError
from uploader.ledger._ledger import read_ledger
from uploader.ledger._records import AttemptRecord, MalformedRecord, parse_record
from uploader.ledger._summary import RunSummary
from uploader.produce._producer import Producer
from uploader.reconcile._report import build_report
from uploader.send._engine import UploadConfig, upload
from uploader.send._retry import RetryPolicy
from uploader.send._transport import HttpAnswer
from uploader.testing import FakeClock, Request, ScriptedTransport, accepted

TOKEN = StaticToken(Secret("tok-123"), "test")


async def send(
    small_producer: Callable[..., Producer],
    tmp_path: Path,
    transport: ScriptedTransport,
    clock: FakeClock,
    **kw: object,
) -> RunSummary:
    settings: dict[str, object] = {
        "client_code": "demo",
        "ledger": tmp_path / "run" / "ledger.jsonl",
        "endpoint": "https://demo.example",
        "rate": None,
        "concurrency": 1,
        **kw,
    }
    return await upload(
        UploadConfig(**settings),  # type: ignore[arg-type]
        small_producer(tmp_path),
        TOKEN,
        transport=transport,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(7),
    )


def ledger_lines(tmp_path: Path) -> list[dict[str, object]]:
    return [
        orjson.loads(line) for line in (tmp_path / "run" / "ledger.jsonl").read_bytes().splitlines()
    ]


async def test_every_call_is_recorded_before_its_batch_with_status_outcome_and_backoff(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    clock = FakeClock()

    def answers(request: Request) -> HttpAnswer | Exception:
        clock.now += 0.25 * request.number  # each call takes a known time
        if request.number == 1:
            return HttpAnswer(503, b"busy")
        if request.number == 2:
            return HttpAnswer(429, b"", retry_after=7.0)
        if request.number == 3:
            return TransportError("connection reset")
        if request.number == 5:  # batch 2's first call
            return HttpAnswer(400, b"<response><success>false</success></response>")
        return accepted(request)

    summary = await send(small_producer, tmp_path, ScriptedTransport(answers), clock)
    state = read_ledger(tmp_path / "run" / "ledger.jsonl")
    assert len(state.attempts) == summary.calls == 8  # 5 batches, 3 retried calls
    first = [a for a in state.attempts if a.seq == 1]
    assert [(a.attempt, a.http_status, a.outcome) for a in first] == [
        (1, 503, "throttled"),
        (2, 429, "throttled"),
        (3, None, "retry"),  # no answer: no status
        (4, 200, "ok"),
    ]
    assert [a.seconds for a in first] == [0.25, 0.5, 0.75, 1.0]
    assert first[1].retry_delay == 7.0  # Retry-After, honoured and recorded
    assert all(a.retry_delay is not None for a in first[:3]) and first[3].retry_delay is None
    assert [a.outcome for a in state.attempts if a.seq == 2] == ["fail"]  # refused: no retry
    assert state.attempts[0].at.endswith("+00:00")  # UTC, like every record's ``at``
    # each batch's calls come before its outcome record
    kinds = [(line["type"], line.get("seq")) for line in ledger_lines(tmp_path)]
    for seq in state.batches:
        last_call = max(i for i, k in enumerate(kinds) if k == ("attempt", seq))
        assert kinds.index(("batch", seq)) > last_call


async def test_bisection_parts_record_their_calls_under_their_own_seq(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    refused = b"<response><success>false</success><message>Unexpected error</message></response>"

    def poison(request: Request) -> HttpAnswer:
        return HttpAnswer(200, refused) if b"\nid3," in request.body else accepted(request)

    summary = await send(small_producer, tmp_path, ScriptedTransport(poison), FakeClock())
    state = read_ledger(tmp_path / "run" / "ledger.jsonl")
    assert summary.rows_refused == 1 and len(state.attempts) == summary.calls
    assert {a.seq for a in state.attempts} == set(state.batches)  # every part's calls


async def test_a_run_that_retries_up_to_its_limit_records_the_last_call_without_a_backoff(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    def down(request: Request) -> HttpAnswer:
        return HttpAnswer(500, b"") if b"id0," in request.body else accepted(request)

    await send(
        small_producer, tmp_path, ScriptedTransport(down), FakeClock(),
        retry=RetryPolicy(max_retries=2),
    )  # fmt: skip
    calls = [a for a in read_ledger(tmp_path / "run" / "ledger.jsonl").attempts if a.seq == 1]
    assert [(a.outcome, a.retry_delay is None) for a in calls] == [
        ("retry", False), ("retry", False), ("retry", True),
    ]  # fmt: skip


def test_an_attempt_record_reads_back_to_the_same_bytes_and_is_checked() -> None:
    line = (
        b'{"type":"attempt","seq":3,"attempt":2,"at":"2026-01-01T00:00:01.000+00:00",'
        b'"seconds":0.5,"http_status":null,"outcome":"retry","retry_delay":1.25}'
    )
    record = parse_record(orjson.loads(line))
    assert isinstance(record, AttemptRecord) and orjson.dumps(record.to_json()) == line
    with pytest.raises(MalformedRecord):
        parse_record({**orjson.loads(line), "outcome": "maybe"})


async def test_a_schema_2_ledger_is_read_and_resumed_in_its_own_schema(
    relabel_ledger: Callable[[Path, int | None], None],
    small_producer: Callable[..., Producer],
    tmp_path: Path,
) -> None:
    def dies(request: Request) -> HttpAnswer:
        return accepted(request) if request.number <= 2 else HttpAnswer(403, b"")

    await send(small_producer, tmp_path, ScriptedTransport(dies), FakeClock())
    ledger = tmp_path / "run" / "ledger.jsonl"
    relabel_ledger(ledger, 2)  # as uploader 0.2 wrote it: no attempt records
    old = read_ledger(ledger)
    assert old.schema == 2 and old.attempts == []
    assert build_report(ledger, old).batches_acknowledged == 2
    summary = await send(
        small_producer, tmp_path, ScriptedTransport(accepted), FakeClock(), resume=True
    )
    assert summary.rows_acknowledged == 50 and summary.exit_code == 0
    state = read_ledger(ledger)
    # continued as schema 2: the uploader that started it can still read (and resume) it
    assert [run.schema for run in state.runs] == [2, 2] and state.attempts == []
    assert all(line["type"] != "attempt" for line in ledger_lines(tmp_path))
