"""Errors no retry can fix stop the run at once, not one retry budget per batch: an
unreachable endpoint, a TLS certificate that does not verify, an unknown client code. Unsent
batches stay pending (resumable) and the exit code is 6."""

from __future__ import annotations

import random
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from click.testing import Result

from uploader.auth._static import StaticToken
from uploader.ledger._ledger import read_ledger
from uploader.mock import MockConfig, run_mock_in_thread
from uploader.produce._producer import Producer
from uploader.send._breaker import ConnectionBreaker
from uploader.send._engine import UploadConfig, upload
from uploader.send._retry import RetryPolicy
from uploader.testing import FakeClock

DATA = Path(__file__).parent / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_breaker_trips_after_one_budget_or_three_minutes_and_resets_on_an_answer() -> None:
    breaker = ConnectionBreaker(max_failures=3)
    assert not breaker.failed(0.0) and not breaker.failed(1.0)
    breaker.answered()
    assert not breaker.failed(2.0) and not breaker.failed(3.0) and breaker.failed(4.0)
    slow = ConnectionBreaker(max_failures=100)
    assert not slow.failed(10.0) and not slow.failed(100.0) and slow.failed(190.0)


async def test_an_unreachable_endpoint_stops_after_one_retry_budget_not_one_per_batch(
    small_producer: Callable[..., Producer],
    tmp_path: Path,
) -> None:
    """40 batches, --max-retries 2: it used to make 120 calls (124 s); now 3 and a stop."""
    clock = FakeClock()
    endpoint = f"http://127.0.0.1:{free_port()}"
    config = UploadConfig(
        client_code="demo",
        endpoint=endpoint,
        ledger=tmp_path / "run" / "ledger.jsonl",
        rate=None,
        concurrency=4,
        retry=RetryPolicy(max_retries=2),
        timeout=5.0,
    )
    summary = await upload(
        config,
        small_producer(tmp_path, rows=400, batch_rows=10),
        StaticToken(None, "none"),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(1),
    )
    assert summary.exit_code == 6 and summary.stop_reason == "endpoint"
    assert summary.calls <= 3 + config.concurrency  # the streak, plus calls already out
    assert summary.batches_failed == 0 and summary.rows_acknowledged == 0
    assert summary.invariant_holds and summary.rows_pending == 400
    assert endpoint in summary.message and "unreachable" in summary.message
    assert "run again with resume=True" in summary.message
    state = read_ledger(config.ledger)
    assert {r.outcome for r in state.batches.values()} == {"pending"}


def test_an_unknown_client_code_stops_at_once_with_exit_6(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("thirdPartyId,v\n" + "".join(f"c{i},x\n" for i in range(200)))
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        result = cli(
            "upload", str(source), "--client-code", "acme", "--endpoint", mock.base_url,
            "--ledger", str(tmp_path / "run" / "ledger.jsonl"), "--batch-rows", "10",
            "--rate", "none", "--concurrency", "1", "--quiet", token=mock.token,
        )  # fmt: skip
        calls = mock.stats["calls"]
    assert result.exit_code == 6, result.output
    assert calls == 1
    assert "HTTP 404" in result.output and "Unknown client code: acme" in result.output
    assert "--client-code" in result.output


@pytest.fixture
async def untrusted_https() -> AsyncIterator[str]:
    """An HTTPS server whose certificate no trust store knows."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text="<response><success>true</success></response>")

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(DATA / "untrusted-cert.pem", DATA / "untrusted-key.pem")
    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_certificate_that_does_not_verify_stops_at_once(
    small_producer: Callable[..., Producer], tmp_path: Path, untrusted_https: str
) -> None:
    clock = FakeClock()
    config = UploadConfig(
        client_code="demo",
        endpoint=untrusted_https,
        ledger=tmp_path / "run" / "ledger.jsonl",
        rate=None,
        concurrency=1,
    )
    summary = await upload(
        config,
        small_producer(tmp_path, rows=100),
        StaticToken(None, "none"),
        clock=clock,
        sleep=clock.sleep,
    )
    assert summary.exit_code == 6 and summary.calls == 1 and summary.retries == 0
    assert "certificate verification failed" in summary.message
    assert "with ca_bundle;" in summary.message and summary.rows_pending == 100


def test_no_token_where_one_is_required_says_so_not_expired(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """Exit 3 either way, but "expired or regenerated" sends a user the wrong way when no
    token was given at all."""
    source = tmp_path / "in.csv"
    source.write_text("thirdPartyId,v\nc1,x\n")
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        result = cli(
            "upload", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
            "--ledger", str(tmp_path / "run" / "ledger.jsonl"), "--rate", "none", "--quiet",
        )  # fmt: skip
    assert result.exit_code == 3
    assert "requires a profile token and none was given" in result.output
    assert "expired" not in result.output


def test_the_reasons_batches_did_not_land_show_in_summary_json_and_report(
    cli: Callable[..., Result],
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("thirdPartyId,v\n" + "".join(f"c{i},x\n" for i in range(30)))
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        args = (
            "upload", str(source), "--client-code", "acme", "--endpoint", mock.base_url,
            "--ledger", str(ledger), "--batch-rows", "10", "--rate", "none",
            "--concurrency", "1",
        )  # fmt: skip
        text = cli(*args, token=mock.token)
    assert "batches failed or pending, by reason:" in text.stdout
    assert "  1 batch " in text.stdout and "Unknown client code: acme" in text.stdout
    assert (
        "  2 batches" in text.stdout and "not sent: the endpoint cannot take calls" in text.stdout
    )
    summary = orjson.loads(ledger.with_name("summary.json").read_bytes())
    assert summary["reasons"] == {
        "not sent: the endpoint cannot take calls": 2,
        next(iter(k for k in summary["reasons"] if "Unknown client code" in k)): 1,
    }
    report = cli("report", "--ledger", str(ledger), "--json")
    reasons = orjson.loads(report.stdout)["reasons"]
    assert sum(reasons.values()) == 3 and any("Unknown client code: acme" in r for r in reasons)
    assert "Unknown client code: acme" in cli("report", "--ledger", str(ledger)).stdout
