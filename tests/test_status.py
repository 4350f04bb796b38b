"""The batchStatus poller against the real mock over loopback: delays, stuck, forgotten
statuses, counters, retries, the token's destinations, and `upload --wait` end to end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from click.testing import CliRunner

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.cli._main import main
from uploader.errors import AuthError
from uploader.ledger._ledger import read_ledger
from uploader.mock import FaultConfig, MockConfig, MockTarget, run_mock_in_thread
from uploader.reconcile._status import detailed_url, poll_statuses, secure_status_url, token_allowed
from uploader.send._retry import RetryPolicy
from uploader.send._transport import HttpAnswer
from uploader.testing import FakeClock, Request, ScriptedTransport


def write_csv(path: Path, ids: range, attribute: str = "tier") -> Path:
    path.write_text(
        f"thirdPartyId,{attribute}\n" + "".join(f"id{i},value-{i}\n" for i in ids),
        encoding="utf-8",
    )
    return path


async def test_statuses_reach_complete_after_a_delay_with_growing_waits(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tmp_path: Path,
) -> None:
    """Target answers `incomplete` for 30 s: the watcher waits 5, 10, 20 s (virtual time),
    follows the status URL to its other host, and records `complete` with the counters."""
    clock = FakeClock()
    ledger = tmp_path / "ledger.jsonl"
    source = write_csv(tmp_path / "in.csv", range(50))
    config = MockConfig(client_code="demo", rate_limit=None, status_delay=30.0, clock=clock)
    async with MockTarget(config) as mock:
        await engine_upload(mock, ledger, source, clock=clock)
        report = await poll_statuses(
            ledger, mock_token(mock), clock=clock, sleep=clock.sleep, rate=None, watch=True
        )
    assert clock.sleeps == [5.0, 10.0, 20.0]
    assert report.all_complete and not report.timed_out and report.counts["complete"] == 5
    assert report.totals == {
        "batch_size": 50,
        "consumed_count": 50,
        "successful_updates": 50,
        "profiles_not_found": 0,
        "failed_updates": 0,
    }
    state = read_ledger(ledger)
    submit_host = urlsplit(mock.base_url).hostname
    assert {urlsplit(str(b.status_url)).hostname for b in state.batches.values()} == {"localhost"}
    assert submit_host == "127.0.0.1"  # the edge-host quirk was followed, not "fixed"
    records = [
        r for r in map(orjson.loads, ledger.read_bytes().splitlines()) if r["type"] == "status"
    ]
    assert [r["status"] for r in records].count("incomplete") == 15  # 3 rounds x 5 batches
    assert {r["batch_id"] for r in records} == {b.batch_id for b in state.batches.values()}


async def test_without_watch_one_round_and_incomplete_is_not_final(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    ledger = tmp_path / "ledger.jsonl"
    config = MockConfig(client_code="demo", rate_limit=None, status_delay=30.0, clock=clock)
    async with MockTarget(config) as mock:
        await engine_upload(mock, ledger, write_csv(tmp_path / "in.csv", range(20)), clock=clock)
        first = await poll_statuses(
            ledger, mock_token(mock), clock=clock, sleep=clock.sleep, rate=None
        )
        clock.now += 31
        second = await poll_statuses(
            ledger, mock_token(mock), clock=clock, sleep=clock.sleep, rate=None
        )
        third = await poll_statuses(
            ledger, mock_token(mock), clock=clock, sleep=clock.sleep, rate=None
        )
    assert first.counts["incomplete"] == 2 and not first.all_complete and clock.sleeps == []
    assert second.all_complete and second.calls == 2
    assert third.all_complete and third.calls == 0  # complete is final: not asked again


async def test_stuck_batch_is_final_and_reported(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    ledger = tmp_path / "ledger.jsonl"
    config = MockConfig(client_code="demo", rate_limit=None, status_delay=10.0, clock=clock)
    async with MockTarget(config) as mock:
        await engine_upload(mock, ledger, write_csv(tmp_path / "in.csv", range(30)), clock=clock)
        stuck_id = mock.batch_ids[1]
        mock.mark_stuck(stuck_id)
        report = await poll_statuses(
            ledger, mock_token(mock), clock=clock, sleep=clock.sleep, rate=None, watch=True
        )
        calls = mock.stats["status_calls"]
    assert report.counts == {
        "complete": 2,
        "incomplete": 0,
        "stuck": 1,
        "unknown": 0,
        "unpolled": 0,
    }
    assert calls == 3 + 2 + 2  # the stuck batch was asked once; the others until complete
    (stuck,) = [s for s in report.statuses if s.status == "stuck"]
    seq_of = {b.batch_id: seq for seq, b in read_ledger(ledger).batches.items()}
    assert stuck.batch_id == stuck_id and stuck.seq == seq_of[stuck_id]
    assert any("stuck" in line and stuck_id in line for line in report.lines())


async def test_forgotten_status_is_unknown_and_not_asked_again(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tmp_path: Path,
) -> None:
    """Target keeps only the last few statuses: the older ones answer "Batch not found"."""
    ledger = tmp_path / "ledger.jsonl"
    config = MockConfig(client_code="demo", rate_limit=None, status_retention=2)
    async with MockTarget(config) as mock:
        await engine_upload(mock, ledger, write_csv(tmp_path / "in.csv", range(50)))
        first = await poll_statuses(ledger, mock_token(mock), rate=None, watch=True)
        again = await poll_statuses(ledger, mock_token(mock), rate=None, watch=True)
    assert first.counts["unknown"] == 3 and first.counts["complete"] == 2
    assert all("not found" in s.message.lower() for s in first.statuses if s.status == "unknown")
    assert again.calls == 0 and again.counts == first.counts
    assert first.totals["successful_updates"] == 20  # only what Target still reported


async def test_counters_are_summed_across_batches(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tmp_path: Path,
) -> None:
    """v1 updates existing profiles only: ids Target never saw count as profilesNotFound."""
    ledger = tmp_path / "v1.jsonl"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        await engine_upload(
            mock, tmp_path / "v2.jsonl", write_csv(tmp_path / "known.csv", range(0, 45, 3))
        )
        await engine_upload(
            mock, ledger, write_csv(tmp_path / "all.csv", range(45)), api_version="v1"
        )
        report = await poll_statuses(ledger, mock_token(mock), rate=None)
    assert report.all_complete and len(report.statuses) == 5
    assert report.totals == {
        "batch_size": 45,
        "consumed_count": 45,
        "successful_updates": 15,
        "profiles_not_found": 30,
        "failed_updates": 0,
    }
    per_batch = [(s.successful_updates, s.profiles_not_found) for s in report.statuses]
    assert per_batch == [(4, 6), (3, 7), (3, 7), (4, 6), (1, 4)]  # ids 0, 3, 6 … were known


async def test_transient_status_errors_are_retried(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    ledger = tmp_path / "ledger.jsonl"
    faults = FaultConfig(p_500=0.3, p_503=0.2, p_reset=0.1, on_status=True)
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None, seed=5)) as mock:
        await engine_upload(mock, ledger, write_csv(tmp_path / "in.csv", range(80)))
        mock.set_faults(faults)
        report = await poll_statuses(
            ledger,
            mock_token(mock),
            clock=clock,
            sleep=clock.sleep,
            rate=None,
            retry=RetryPolicy(max_retries=30, base=0.01, max_wait=0.1),
        )
    assert report.all_complete and report.calls > 8 and clock.sleeps and not report.errors


async def test_refused_token_stops_polling(
    engine_upload: Callable[..., Awaitable[None]], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        await engine_upload(mock, ledger, write_csv(tmp_path / "in.csv", range(50)))
        mock.rotate_token()
        with pytest.raises(AuthError):  # one worker, five batches: the feeder must not hang
            await poll_statuses(ledger, StaticToken(Secret("old"), "x"), rate=None, concurrency=1)


async def test_watch_timeout_leaves_incomplete_batches(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    ledger = tmp_path / "ledger.jsonl"
    config = MockConfig(client_code="demo", rate_limit=None, status_delay=1000.0, clock=clock)
    async with MockTarget(config) as mock:
        await engine_upload(mock, ledger, write_csv(tmp_path / "in.csv", range(10)), clock=clock)
        report = await poll_statuses(
            ledger,
            mock_token(mock),
            clock=clock,
            sleep=clock.sleep,
            rate=None,
            watch=True,
            timeout=60,
        )
    assert report.timed_out and report.counts["incomplete"] == 1
    assert sum(clock.sleeps) == 60.0 and clock.sleeps == [5.0, 10.0, 20.0, 25.0]


def test_status_url_gets_show_details_and_keeps_the_rest() -> None:
    url = "https://mboxedge45.tt.omtrdc.net/m2/demo/profile/batchStatus?batchId=demo-1-2"
    assert detailed_url(url) == url + "&showDetails=true"
    assert detailed_url(url + "&showDetails=false").count("showDetails") == 1


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://mboxedge45.tt.omtrdc.net/m2/demo/profile/batchStatus?batchId=1", True),
        ("https://acme.example.com/m2/demo/profile/batchStatus?batchId=1", True),
        ("http://mboxedge45.tt.omtrdc.net/m2/demo/profile/batchStatus", False),
        ("https://evil.example.net/steal", False),
        # any port of this machine but the endpoint's: no (tests/test_token_hardening.py)
        ("http://localhost:8080/m2/demo/profile/batchStatus", False),
        ("http://127.0.0.1:8080/m2/demo/profile/batchStatus", False),
    ],
)
def test_token_goes_only_to_target_hosts(url: str, allowed: bool) -> None:
    """A status URL comes from a server's answer: it must not pull the token elsewhere."""
    assert token_allowed(url, "https://acme.example.com") is allowed


async def test_token_is_not_sent_to_a_foreign_status_host(
    engine_upload: Callable[..., Awaitable[None]], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        await engine_upload(mock, ledger, write_csv(tmp_path / "in.csv", range(5)))
    text = ledger.read_text().replace("http://localhost", "https://evil.example.net")
    ledger.write_text(text)
    seen: list[dict[str, str]] = []

    def answer(request: Request) -> HttpAnswer:
        seen.append(request.headers)
        return HttpAnswer(200, b"<response><success>false</success></response>")

    report = await poll_statuses(
        ledger, StaticToken(Secret("tok"), "x"), transport=ScriptedTransport(answer), rate=None
    )
    assert seen == [{}] and report.counts["unknown"] == 1


# -- upload --wait, through the CLI ------------------------------------------------------------


def cli(*args: str, token: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"TARGET_PROFILE_TOKEN": token})


def test_upload_wait_end_to_end(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", range(120))
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        result = cli(
            "upload", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
            "--ledger", str(ledger), "--rate", "none", "--batch-rows", "25", "--wait", "--json",
            token=mock.token,
        )  # fmt: skip
        status = cli("status", "--ledger", str(ledger), token=mock.token)
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert data["rows_acknowledged"] == 120 and data["exit_code"] == 0
    assert data["target"]["counts"]["complete"] == 5 and data["target"]["all_complete"]
    assert data["target"]["totals"]["successful_updates"] == 120
    assert status.exit_code == 0 and "5 complete" in status.stdout
    assert len(read_ledger(ledger).statuses) == 5


def test_upload_wait_reports_a_stuck_batch_with_exit_1(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", range(30))
    ledger = tmp_path / "ledger.jsonl"
    faults = FaultConfig(p_stuck=1.0)
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as mock:
        result = cli(
            "upload", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
            "--ledger", str(ledger), "--rate", "none", "--batch-rows", "10", "--wait", "--quiet",
            token=mock.token,
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "rows read" in result.stdout and "3 stuck" in result.stdout


# -- Target's documented shapes: http edge URLs, row-level failures, unknown statuses ----------


@pytest.mark.parametrize(
    ("url", "secured"),
    [
        (
            "http://mboxedge17.tt.omtrdc.net/m2/demo/v2/profile/batchStatus?batchId=demo-1845664501&m2Node=00",
            "https://mboxedge17.tt.omtrdc.net/m2/demo/v2/profile/batchStatus?batchId=demo-1845664501&m2Node=00",
        ),
        (
            "http://MBOXEDGE1.TT.OMTRDC.NET:80/s?batchId=1",
            "https://MBOXEDGE1.TT.OMTRDC.NET/s?batchId=1",
        ),
        (
            "https://mboxedge45.tt.omtrdc.net/s?batchId=1",
            "https://mboxedge45.tt.omtrdc.net/s?batchId=1",
        ),
        (
            "http://localhost:8080/s?batchId=1&m2Node=00",
            "http://localhost:8080/s?batchId=1&m2Node=00",
        ),
        ("http://tt.omtrdc.net.evil.example/s", "http://tt.omtrdc.net.evil.example/s"),
        ("http://evil.example/x.tt.omtrdc.net", "http://evil.example/x.tt.omtrdc.net"),
    ],
)
def test_target_edge_status_urls_are_upgraded_to_https(url: str, secured: str) -> None:
    assert secure_status_url(url) == secured


async def acknowledged_ledger(
    engine_upload: Callable[..., Awaitable[None]],
    tmp_path: Path,
    rows: int = 5,
    batch_rows: int = 10,
) -> Path:
    ledger = tmp_path / "ledger.jsonl"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        await engine_upload(
            mock, ledger, write_csv(tmp_path / "in.csv", range(rows)), batch_rows=batch_rows
        )
    return ledger


async def test_documented_http_edge_status_url_is_polled_over_https_with_the_token(
    engine_upload: Callable[..., Awaitable[None]],
    tmp_path: Path,
) -> None:
    ledger = await acknowledged_ledger(engine_upload, tmp_path)
    doc = (
        "http://mboxedge17.tt.omtrdc.net/m2/demo/v2/profile/batchStatus?batchId=demo-1-1&m2Node=00"
    )
    state = read_ledger(ledger)
    (first,) = state.batches.values()
    ledger.write_text(ledger.read_text().replace(str(first.status_url), doc))
    seen: list[dict[str, str]] = []

    def answer(request: Request) -> HttpAnswer:
        seen.append(request.headers)
        return HttpAnswer(
            200, b"<response><batchId>demo-1-1</batchId><status>complete</status></response>"
        )

    transport = ScriptedTransport(answer)
    await poll_statuses(ledger, StaticToken(Secret("tok"), "x"), transport=transport, rate=None)
    assert [r.url for r in transport.requests] == [
        "https://mboxedge17.tt.omtrdc.net/m2/demo/v2/profile/batchStatus"
        "?batchId=demo-1-1&m2Node=00&showDetails=true"
    ]
    assert seen == [{"Authorization": "Bearer tok"}]


async def test_row_level_failures_are_recorded_with_their_ids(
    engine_upload: Callable[..., Awaitable[None]], tmp_path: Path
) -> None:
    ledger = await acknowledged_ledger(engine_upload, tmp_path)
    body = (
        b"<response><batchId>B</batchId><status>complete</status><batchSize>5</batchSize>"
        b"<failedUpdates>2</failedUpdates><profile><id>id1</id><status>failed</status></profile>"
        b"<profile><id>id3</id><status>failed</status></profile></response>"
    )
    (batch,) = read_ledger(ledger).batches.values()
    batch_id = batch.batch_id
    transport = ScriptedTransport(
        lambda request: HttpAnswer(200, body.replace(b"B", str(batch_id).encode()))
    )
    report = await poll_statuses(ledger, StaticToken(None, "x"), transport=transport, rate=None)
    assert report.rows_failed == 2 and report.statuses[0].failed_ids == ("id1", "id3")
    (record,) = read_ledger(ledger).statuses.values()
    assert record.failed_ids == ("id1", "id3") and record.failed_ids_complete is True
    assert any("rows failed" in line for line in report.lines())


async def test_a_status_value_the_client_does_not_know_is_not_final(
    engine_upload: Callable[..., Awaitable[None]], tmp_path: Path
) -> None:
    ledger = await acknowledged_ledger(engine_upload, tmp_path)
    (batch,) = read_ledger(ledger).batches.values()
    body = f"<response><batchId>{batch.batch_id}</batchId><status>queued</status></response>"
    transport = ScriptedTransport(lambda request: HttpAnswer(200, body.encode()))
    clock = FakeClock()
    report = await poll_statuses(
        ledger,
        StaticToken(None, "x"),
        transport=transport,
        rate=None,
        watch=True,
        timeout=30,
        clock=clock,
        sleep=clock.sleep,
    )
    assert (
        len([r.url for r in transport.requests]) > 1 and report.timed_out
    )  # asked again, bounded by the timeout
    assert report.counts["queued"] == 1 and not report.all_complete
    assert any("'queued'" in error and "not taken as final" in error for error in report.errors)
