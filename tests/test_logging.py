"""Log events under the ``uploader`` logger: batch outcomes, retries, throttles, token
refreshes, stops, status and verify results — and never the token."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken, TokenProvider
from uploader.ledger._summary import RunSummary
from uploader.mock import MockConfig, MockTarget
from uploader.produce._producer import Producer
from uploader.reconcile._status import poll_statuses
from uploader.reconcile._verify import verify
from uploader.send._engine import UploadConfig, upload
from uploader.send._transport import HttpAnswer
from uploader.testing import FakeClock, Request, Script, ScriptedTransport, accepted

OLD, NEW = "tok-old-5ecret", "tok-new-5ecret"


class Rotating:
    """``OLD`` until it is refused, then ``NEW``."""

    source = "the test's provider"

    def __init__(self) -> None:
        self.token = Secret(OLD)

    async def get(self) -> Secret:
        return self.token

    async def rejected(self, token: Secret | None) -> Secret:
        self.token = Secret(NEW)
        return self.token


def write_csv(path: Path, rows: int) -> Path:
    path.write_text("thirdPartyId,tier\n" + "".join(f"id{i},v{i}\n" for i in range(rows)))
    return path


@pytest.fixture
def run(
    small_producer: Callable[..., Producer],
) -> Callable[..., Awaitable[RunSummary]]:
    """An upload of 20 rows through ``script``, with one sender and a fake clock."""

    async def run(
        tmp_path: Path, script: Script, tokens: TokenProvider | None = None, **kw: object
    ) -> RunSummary:
        return await _run(small_producer(tmp_path, rows=20), tmp_path, script, tokens, **kw)

    return run


async def _run(
    producer: Producer,
    tmp_path: Path,
    script: Script,
    tokens: TokenProvider | None = None,
    **kw: object,
) -> RunSummary:
    clock = FakeClock()
    settings: dict[str, object] = {
        "client_code": "demo",
        "ledger": tmp_path / "ledger.jsonl",
        "endpoint": "https://demo.example",
        "rate": None,
        "concurrency": 1,
        **kw,
    }
    return await upload(
        UploadConfig(**settings),  # type: ignore[arg-type]
        producer,
        tokens or StaticToken(Secret(OLD), "test"),
        transport=ScriptedTransport(script),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(1),
    )


def events(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


def test_nothing_is_printed_unless_the_application_configures_logging() -> None:
    handlers = logging.getLogger("uploader").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


async def test_each_batch_outcome_is_logged_with_its_numbers(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    run: Callable[..., Awaitable[RunSummary]],
) -> None:
    caplog.set_level(logging.INFO, logger="uploader")
    await run(tmp_path, accepted)
    outcomes = events(caplog, "uploader.send._engine")
    assert [(r.seq, r.outcome, r.rows, r.attempts, r.http_status) for r in outcomes] == [  # type: ignore[attr-defined]
        (1, "acknowledged", 10, 1, 200),
        (2, "acknowledged", 10, 1, 200),
    ]
    assert outcomes[0].levelno == logging.INFO
    assert outcomes[0].getMessage() == "batch 1: acknowledged (10 rows, 1 attempt(s), HTTP 200)"


async def test_a_retry_is_logged_with_its_delay_and_reason(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    run: Callable[..., Awaitable[RunSummary]],
) -> None:
    caplog.set_level(logging.INFO, logger="uploader")
    await run(
        tmp_path, lambda request: HttpAnswer(500, b"") if request.number == 1 else accepted(request)
    )
    (retry,) = events(caplog, "uploader.send._attempt")
    assert retry.levelno == logging.INFO and retry.delay >= 0  # type: ignore[attr-defined]
    assert retry.getMessage().startswith("batch 1: retry in ")
    assert retry.getMessage().endswith("after attempt 1: server error (HTTP 500)")


async def test_a_throttle_is_a_warning_with_the_retry_after(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    run: Callable[..., Awaitable[RunSummary]],
) -> None:
    caplog.set_level(logging.INFO, logger="uploader")

    def throttled_once(request: Request) -> HttpAnswer:
        return HttpAnswer(503, b"", retry_after=3.0) if request.number == 1 else accepted(request)

    await run(tmp_path, throttled_once)
    warnings = [r for r in events(caplog, "uploader.send._attempt") if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["batch 1: throttled (HTTP 503), Retry-After: 3 s"]
    assert warnings[0].retry_after == 3.0  # type: ignore[attr-defined]


async def test_a_token_refresh_is_logged_without_the_token(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    run: Callable[..., Awaitable[RunSummary]],
) -> None:
    caplog.set_level(logging.INFO, logger="uploader")

    def needs_new(request: Request) -> HttpAnswer:
        return (
            accepted(request) if NEW in request.headers["Authorization"] else HttpAnswer(401, b"")
        )

    summary = await run(tmp_path, needs_new, Rotating())
    assert summary.token_refreshes == 1
    messages = [r.getMessage() for r in events(caplog, "uploader.send._attempt")]
    assert messages == ["the profile token was refused; a new one came from the test's provider"]


async def test_a_stop_is_a_warning_with_its_reason(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    run: Callable[..., Awaitable[RunSummary]],
) -> None:
    caplog.set_level(logging.INFO, logger="uploader")
    summary = await run(tmp_path, lambda request: HttpAnswer(401, b""))
    assert summary.stop_reason == "auth"
    stops = [r for r in events(caplog, "uploader.send._engine") if r.levelno == logging.WARNING]
    assert len(stops) == 1 and stops[0].getMessage().startswith("run stopping (auth): Target ")


async def test_status_and_verify_results_are_logged(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    engine_upload: Callable[..., Awaitable[None]],
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        await engine_upload(mock, ledger, write_csv(tmp_path / "in.csv", 20))
        caplog.set_level(logging.DEBUG, logger="uploader")
        tokens = StaticToken(Secret(mock.token), "mock")
        await poll_statuses(ledger, tokens, rate=None)
        await verify(ledger, tokens, sample=3, seed=1, rate=None)
    statuses = sorted(r.getMessage() for r in events(caplog, "uploader.reconcile._status"))
    assert statuses == ["status of batch 1: complete", "status of batch 2: complete"]
    verified = events(caplog, "uploader.reconcile._verify")
    assert [r.levelno for r in verified] == [logging.DEBUG] * 3 + [logging.INFO]
    assert verified[0].getMessage().endswith(": matched")
    assert verified[-1].getMessage().startswith("verification 1: 3 profiles checked")


async def test_the_token_never_appears_in_a_log_record(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    run: Callable[..., Awaitable[RunSummary]],
    engine_upload: Callable[..., Awaitable[None]],
) -> None:
    caplog.set_level(logging.DEBUG, logger="uploader")

    def everything(request: Request) -> HttpAnswer:
        if request.number == 1:
            return HttpAnswer(503, b"", retry_after=1.0)  # a throttle
        if request.number == 2:
            return HttpAnswer(500, b"")  # a retry
        if NEW not in request.headers["Authorization"]:
            return HttpAnswer(401, b"")  # a refresh
        return accepted(request) if request.number < 5 else HttpAnswer(403, b"")  # a stop

    (tmp_path / "upload").mkdir()
    summary = await run(tmp_path / "upload", everything, Rotating())
    assert summary.token_refreshes == 1 and summary.stop_reason == "auth"
    ledger = tmp_path / "ledger.jsonl"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        await engine_upload(mock, ledger, write_csv(tmp_path / "in.csv", 20))
        tokens = StaticToken(Secret(mock.token), "mock")
        await poll_statuses(ledger, tokens, rate=None)
        await verify(ledger, tokens, sample=3, seed=1, rate=None)
        secrets = (OLD, NEW, mock.token)
    assert {r.name for r in caplog.records} >= {
        "uploader.send._engine",
        "uploader.send._attempt",
        "uploader.reconcile._status",
        "uploader.reconcile._verify",
    }
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "Retry-After" in messages and "retry in" in messages
    assert "a new one came from" in messages and "run stopping (auth)" in messages
    for record in caplog.records:
        seen = f"{record.getMessage()} {record.__dict__!r}"
        assert not any(secret in seen for secret in secrets), record
