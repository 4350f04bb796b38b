"""``--rate-store``: the engine draws on the window shared in a real Redis (``redis_server``),
against the mock over loopback — calls counted there, two runs at once never throttled by a
mock holding the same limit, an unreachable store refused before anything is sent or written,
a store lost mid-run stopping the run with the rest pending."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner, Result

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.cli._main import main
from uploader.errors import ConfigError
from uploader.ledger._ledger import read_ledger
from uploader.ledger._summary import RunSummary
from uploader.mock import MockConfig, MockTarget, run_mock_in_thread
from uploader.produce._producer import Producer
from uploader.send import _redis_limit
from uploader.send._engine import UploadConfig, upload
from uploader.send._ratelimit import RateLimit
from uploader.send._redis_limit import rate_key
from uploader.testing import FakeClock

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"


class RedisServer(Protocol):
    """The ``redis_server`` fixture's server."""

    url: str

    def kill(self) -> None: ...

    def restart(self) -> None: ...


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["upload", *args], env={"TARGET_PROFILE_TOKEN": ""})


def upload_args(base_url: str, ledger: Path, *extra: str) -> list[str]:
    return [
        str(SAMPLE), "--client-code", "demo", "--endpoint", base_url, "--ledger", str(ledger),
        "--batch-rows", "200", "--quiet", *extra,
    ]  # fmt: skip


async def calls_in_window(url: str) -> int:
    async with aioredis.Redis.from_url(url) as redis:
        return int(await redis.zcard(rate_key("demo")))


def test_an_upload_draws_on_the_shared_window(redis_server: RedisServer, tmp_path: Path) -> None:
    open_mock = MockConfig(client_code="demo", require_auth=False, rate_limit=None)
    with run_mock_in_thread(open_mock) as mock:
        result = invoke(
            *upload_args(mock.base_url, tmp_path / "l.jsonl", "--rate", "1000/60"),
            "--rate-store",
            redis_server.url,
        )
        calls = mock.stats["calls"]
    assert result.exit_code == 0, result.output
    assert calls == 5  # 996 rows in batches of 200
    assert asyncio.run(calls_in_window(redis_server.url)) == calls


def test_an_unreachable_store_is_refused_before_anything_is_sent(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    ledger = tmp_path / "run" / "l.jsonl"
    open_mock = MockConfig(client_code="demo", require_auth=False, rate_limit=None)
    with run_mock_in_thread(open_mock) as mock:
        env_store = CliRunner().invoke(
            main,
            ["upload", *upload_args(mock.base_url, ledger)],
            env={
                "TARGET_PROFILE_TOKEN": "",
                "UPLOADER_RATE_STORE": f"redis://127.0.0.1:{free_port()}/0",
            },
        )
        calls = mock.stats["calls"]
    assert env_store.exit_code == 2, env_store.output
    message = env_store.stderr.strip()
    assert "\n" not in message and "--rate-store" in message and "Redis does not answer" in message
    assert calls == 0 and not ledger.exists()


def test_a_store_needs_a_rate(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rate_store needs a rate"):
        UploadConfig(
            client_code="demo", ledger=tmp_path / "l", rate=None, rate_store="redis://h:1/0"
        )


async def test_two_runs_at_once_share_one_budget(
    redis_server: RedisServer, small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    """Each run alone keeps 4 calls per 2 s; without the shared window the two together would
    put 8 into the first window of a mock that allows 4."""
    rate = RateLimit(4, 2.0)
    mock_config = MockConfig(client_code="demo", rate_limit=(rate.calls, rate.period))
    async with MockTarget(mock_config) as mock:

        async def one_run(name: str) -> RunSummary:
            folder = tmp_path / name
            folder.mkdir()
            config = UploadConfig(
                client_code="demo",
                endpoint=mock.base_url,
                ledger=folder / "ledger.jsonl",
                rate=rate,
                rate_store=redis_server.url,
                concurrency=4,
            )
            tokens = StaticToken(Secret(mock.token), "mock")
            return await upload(config, small_producer(folder, rows=60), tokens)

        summaries = await asyncio.gather(one_run("a"), one_run("b"))
        stats = mock.stats
    assert [s.exit_code for s in summaries] == [0, 0]
    assert [s.throttled for s in summaries] == [0, 0]
    assert stats["throttled"] == 0 and stats["calls"] == 12


@pytest.mark.parametrize("daily_rows", [None, 1000])
async def test_a_store_lost_mid_run_stops_it_and_resume_sends_exactly_the_rest(
    daily_rows: int | None,
    redis_server: RedisServer,
    small_producer: Callable[..., Producer],
    tmp_path: Path,
) -> None:
    """Redis killed after the first acknowledgement: the run stops with the rest pending (the
    virtual clock lets the limiter wait out its ``lost_after`` at once). Restarted (empty:
    persistence is off), ``--resume`` sends the 40 pending rows once each, nothing twice.
    The stop is the rate store's, not the endpoint's, whether the call window or the daily
    row budget (reserved first) finds Redis gone."""
    clock = FakeClock()
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        tokens = StaticToken(Secret(mock.token), "mock")
        config = UploadConfig(
            client_code="demo",
            endpoint=mock.base_url,
            ledger=tmp_path / "ledger.jsonl",
            rate=RateLimit(1000, 60),
            rate_store=redis_server.url,
            concurrency=1,
            daily_rows=daily_rows,
        )
        stopped = await upload(
            config,
            small_producer(tmp_path, rows=50, batch_rows=10),
            tokens,
            clock=clock,
            sleep=clock.sleep,
            on_acknowledged=lambda _: redis_server.kill(),
        )
        calls_before = mock.stats["calls"]
        left = read_ledger(config.ledger).batches.values()
        notes = {record.message for record in left if record.outcome == "pending"}
        redis_server.restart()
        resumed = await upload(
            replace(config, resume=True), small_producer(tmp_path, rows=50, batch_rows=10), tokens
        )
        received = mock.received_frame()
        calls = mock.stats["calls"]
    assert stopped.exit_code == 6
    assert stopped.batches_acknowledged == calls_before == 1
    assert stopped.stop_reason == "rate_store" and stopped.batches_failed == 0
    assert "rate store" in stopped.message and "(Redis)" in stopped.message
    assert "not sent: the rate store (Redis) did not answer" in notes
    assert (stopped.rows_acknowledged, stopped.rows_pending) == (10, 40)
    assert stopped.invariant_holds
    assert sum(clock.sleeps) >= _redis_limit.DEFAULT_LOST_AFTER
    assert resumed.exit_code == 0 and resumed.invariant_holds
    assert (resumed.batches_skipped, resumed.rows_acknowledged) == (1, 50)
    assert calls == 5 and await calls_in_window(redis_server.url) == 4
    assert received.get_column("thirdPartyId").to_list() == [f"id{i}" for i in range(50)]


async def test_a_store_without_the_redis_package_is_one_line(
    tmp_path: Path, small_producer: Callable[..., Producer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "uploader.send._redis_limit")
    config = UploadConfig(
        client_code="demo", ledger=tmp_path / "l.jsonl", rate_store="redis://127.0.0.1:1/0"
    )
    with pytest.raises(ConfigError, match=r"pip install 'uploader\[redis\]'"):
        await upload(config, small_producer(tmp_path), StaticToken(None, "none"))
    assert not config.ledger.exists()
