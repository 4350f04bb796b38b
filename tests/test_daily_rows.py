"""``--daily-rows N``: never more than N rows for a client code in any rolling 24 h.

The file budget on an injected clock (admits to the limit, refuses with the time room frees,
admits again once 24 h passed; shared by processes; its schema version; damaged and
unwritable files), the Redis budget on a real ``redis-server`` (concurrent reservations of
several clients never exceed it, on the data Redis holds; old entries leave the window), and
whole runs against the mock: a run that hits the budget stops with exit 6 and the rest
pending, and ``--resume`` once the window freed sends exactly the rest, no row twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import orjson
import pytest
import redis.asyncio as aioredis
from click.testing import Result

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.errors import ConfigError
from uploader.mock import MockConfig, MockTarget, run_mock_in_thread
from uploader.mock._config import FaultConfig
from uploader.produce._producer import Producer
from uploader.send._engine import UploadConfig, upload
from uploader.send._ratelimit import RateLimit
from uploader.send._redis_limit import RedisRateLimiter, RedisRowBudget, rows_key
from uploader.send._row_budget import DAY, FileRowBudget, Reservation, refusal

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"  # 996 rows (and rejects)
T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC).timestamp()


class RedisServer(Protocol):
    url: str


class Clock:
    """Wall-clock seconds that a test moves on."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entries(path: Path, client: str = "demo") -> list[dict[str, object]]:
    clients = orjson.loads(path.read_bytes())["clients"]
    return list(clients.get(client, []))


def age_file(path: Path, seconds: float) -> None:
    """Move every entry of the budget file ``seconds`` into the past (time passing)."""
    document = orjson.loads(path.read_bytes())
    for listed in document["clients"].values():
        for entry in listed:
            at = dt.datetime.fromisoformat(entry["at"]) - dt.timedelta(seconds=seconds)
            entry["at"] = at.isoformat()
    path.write_bytes(orjson.dumps(document))


# -- the file budget ---------------------------------------------------------------------------


async def test_the_file_budget_admits_to_the_limit_and_again_after_24_h(tmp_path: Path) -> None:
    clock = Clock()
    budget = FileRowBudget(tmp_path / "budget.json", "demo", 100, now=clock)
    budget.open()
    first = await budget.reserve(60)
    clock.now += 3600
    second = await budget.reserve(40)
    clock.now += 60
    refused = await budget.reserve(10)
    assert (first.admitted, second.admitted, refused.admitted) == (True, True, False)
    assert refused.used == 100 and await budget.used() == 100
    assert refused.free_at == T0 + DAY  # the 60 rows of the first leave the window then
    clock.now = T0 + DAY - 0.001
    assert not (await budget.reserve(10)).admitted
    clock.now = T0 + DAY  # exactly 24 h old: out
    assert (await budget.reserve(10)).admitted
    assert [e["rows"] for e in entries(budget.path)] == [40, 10]
    assert orjson.loads(budget.path.read_bytes())["schema"] == 1


def test_the_refusal_names_the_first_whole_second_with_room(tmp_path: Path) -> None:
    budget = FileRowBudget(tmp_path / "budget.json", "acme", 100)
    said = refusal(budget, "acme", Reservation(False, 50, 80, free_at=T0 + DAY + 0.4))
    assert said == (
        f"daily row budget: 100 rows per 24 h for client acme ({budget.path}); 80 used; the "
        "next batch of 50 would exceed it; the rest is pending: run again with resume=True "
        "after 2025-06-02 12:00:01 UTC"
    )
    never = refusal(budget, "acme", Reservation(False, 500, 0, free_at=None))
    assert "a batch of 500 rows can never fit: lower batch_rows" in never


async def test_a_released_reservation_is_uncounted_and_clients_are_apart(tmp_path: Path) -> None:
    path = tmp_path / "budget.json"
    acme, demo = FileRowBudget(path, "acme", 50), FileRowBudget(path, "demo", 50)
    taken = await acme.reserve(50)
    assert (await demo.reserve(50)).admitted  # another client code: another budget
    assert not (await acme.reserve(1)).admitted
    await acme.release(taken)
    assert await acme.used() == 0 and (await acme.reserve(1)).admitted


def test_processes_sharing_a_budget_file_never_exceed_it(tmp_path: Path) -> None:
    """Four processes take one row at a time, 40 tries each, from a budget of 50."""
    path = tmp_path / "budget.json"
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from uploader.send._row_budget import FileRowBudget\n"
        "async def main():\n"
        "    budget = FileRowBudget(Path(sys.argv[1]), 'demo', 50)\n"
        "    got = [(await budget.reserve(1)).admitted for _ in range(40)]\n"
        "    print(sum(got))\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, env=env, text=True
        )
        for _ in range(4)
    ]
    admitted = [int(worker.communicate(timeout=120)[0]) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert sum(admitted) == 50
    assert sum(int(str(e["rows"])) for e in entries(path)) == 50


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'{"schema": 2, "clients": {}}', "budget file schema 2; this uploader reads 1"),
        (b'{"schema": 1, "clients": {"demo": [{"at": "yesterday"}]}}', "damaged"),
        (b"\x00garbage", "damaged"),
    ],
)
def test_a_foreign_or_damaged_budget_file_is_refused(
    tmp_path: Path, content: bytes, said: str
) -> None:
    path = tmp_path / "budget.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as refused:
        FileRowBudget(path, "demo", 10).open()
    message = str(refused.value)
    assert said in message and str(path) in message and "\n" not in message
    assert path.read_bytes() == content  # left as it was


# -- the Redis budget ----------------------------------------------------------------------


async def test_concurrent_reservations_in_redis_never_exceed_the_budget(
    redis_server: RedisServer,
) -> None:
    """Five clients (connections) reserve 7 rows at a time from 100: 14 fit (98 rows)."""
    stores = [RedisRateLimiter(redis_server.url, "demo", RateLimit(50, 60)) for _ in range(5)]
    budgets = [RedisRowBudget(store, "demo", 100) for store in stores]
    try:

        async def take(budget: RedisRowBudget) -> int:
            return sum([(await budget.reserve(7)).admitted for _ in range(10)]) * 7

        taken = await asyncio.gather(*(take(budget) for budget in budgets))
        async with aioredis.Redis.from_url(redis_server.url) as redis:
            members = await redis.zrange(rows_key("demo"), 0, -1)
    finally:
        for store in stores:
            await store.close()
    held = sum(int(member.split(b":")[0]) for member in members)
    assert sum(taken) == held == 98


async def test_rows_older_than_the_window_leave_the_redis_budget(
    redis_server: RedisServer,
) -> None:
    store = RedisRateLimiter(redis_server.url, "demo", RateLimit(50, 60))
    budget = RedisRowBudget(store, "demo", 100)
    async with aioredis.Redis.from_url(redis_server.url) as redis:
        seconds, micros = await redis.time()
        now_us = seconds * 1_000_000 + micros
        await redis.zadd(
            rows_key("demo"),
            {"90:old": now_us - round(DAY * 1e6) - 1, "60:recent": now_us - 3_600_000_000},
        )
    try:
        refused = await budget.reserve(50)
        taken = await budget.reserve(40)
        await budget.release(taken)
        used = await budget.used()
    finally:
        await store.close()
    assert not refused.admitted and refused.used == 60  # the 90 rows left the window
    assert refused.free_at == pytest.approx((now_us - 3_600_000_000) / 1e6 + DAY)
    assert taken.admitted and used == 60


# -- whole runs --------------------------------------------------------------------------------


def file_config(mock: MockTarget, ledger: Path, budget: Path, daily_rows: int) -> UploadConfig:
    return UploadConfig(
        client_code="demo",
        endpoint=mock.base_url,
        ledger=ledger,
        rate=None,
        concurrency=2,
        daily_rows=daily_rows,
        daily_rows_file=budget,
        resume=ledger.exists(),
    )


async def test_a_run_stops_at_the_budget_and_resume_sends_the_rest_once(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    """50 rows in batches of 10, 30 a day; the first call fails once (a retry of one batch
    is counted once). Then the window frees (the file's entries age 24 h) and --resume
    sends exactly the rest."""
    ledger, budget = tmp_path / "run" / "ledger.jsonl", tmp_path / "budget.json"
    faults = FaultConfig(p_500=1.0, first_k_calls=1)
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as mock:
        tokens = StaticToken(Secret(mock.token), "mock")
        first = await upload(
            file_config(mock, ledger, budget, 30), small_producer(tmp_path), tokens
        )
        counted = sum(int(str(e["rows"])) for e in entries(budget))
        age_file(budget, DAY)
        second = await upload(
            file_config(mock, ledger, budget, 30), small_producer(tmp_path), tokens
        )
        received = mock.received_frame()
    assert first.exit_code == 6 and first.stop_reason == "budget", first.lines()
    assert (first.rows_acknowledged, first.rows_pending, first.retries) == (30, 20, 1)
    assert first.invariant_holds and counted == 30
    assert "daily row budget: 30 rows per 24 h for client demo" in first.message
    assert "30 used; the next batch of 10 would exceed it" in first.message
    assert "run again with resume=True after 20" in first.message
    assert (first.daily_rows, first.daily_rows_used, first.daily_rows_left) == (30, 30, 0)
    assert second.exit_code == 0, second.lines()
    assert (second.rows_acknowledged, second.rows_skipped, second.daily_rows_used) == (50, 30, 20)
    assert second.daily_rows_left == 10 and second.invariant_holds
    ids = received.get_column("thirdPartyId").to_list()
    assert sorted(ids) == sorted(f"id{i}" for i in range(50))  # each row once


async def test_a_batch_that_made_no_call_gives_its_rows_back(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    """The token is refused on the first call while the second batch, counted already, waits
    for the rate limiter: the run stops and that batch's rows are uncounted."""
    ledger, budget = tmp_path / "ledger.jsonl", tmp_path / "budget.json"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        config = UploadConfig(
            client_code="demo",
            endpoint=mock.base_url,
            ledger=ledger,
            rate=RateLimit(1, 600),
            concurrency=2,
            daily_rows=1000,
            daily_rows_file=budget,
        )
        tokens = StaticToken(Secret("not-the-token"), "a test")
        summary = await upload(config, small_producer(tmp_path), tokens)
    assert summary.stop_reason == "auth" and summary.calls == 1, summary.lines()
    assert summary.daily_rows_used == 10 and summary.daily_rows_left == 990
    assert [e["rows"] for e in entries(budget)] == [10]


async def test_a_budget_file_damaged_mid_run_stops_it_with_the_rest_pending(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    ledger, budget = tmp_path / "ledger.jsonl", tmp_path / "budget.json"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        config = file_config(mock, ledger, budget, 1000)
        summary = await upload(
            replace(config, concurrency=1),
            small_producer(tmp_path),
            StaticToken(Secret(mock.token), "mock"),
            on_acknowledged=lambda _: budget.write_bytes(b"{"),
        )
    assert summary.exit_code == 6 and summary.stop_reason == "record", summary.lines()
    assert f"daily row budget file {budget}: not a daily row budget file" in summary.message
    assert (summary.rows_acknowledged, summary.rows_pending) == (10, 40)
    assert summary.invariant_holds


def cli_upload(cli: Callable[..., Result], mock: MockTarget, ledger: Path, *extra: str) -> Result:
    return cli(
        "upload", str(SAMPLE), "--client-code", "demo", "--endpoint", mock.base_url,
        "--ledger", str(ledger), "--batch-rows", "200", "--quiet", "--json", *extra,
    )  # fmt: skip


async def age_redis(url: str, seconds: float) -> None:
    async with aioredis.Redis.from_url(url) as redis:
        key = rows_key("demo")
        for member, score in await redis.zrange(key, 0, -1, withscores=True):
            await redis.zadd(key, {member: score - round(seconds * 1e6)})


def test_the_redis_budget_stops_runs_until_the_whole_input_is_sent(
    cli: Callable[..., Result], redis_server: RedisServer, tmp_path: Path
) -> None:
    """996 rows in batches of 200, 400 a day: two batches a "day", three runs."""
    ledger = tmp_path / "run" / "ledger.jsonl"
    store = ("--rate", "1000/60", "--rate-store", redis_server.url, "--daily-rows", "400")
    with run_mock_in_thread(MockConfig(client_code="demo", require_auth=False)) as mock:
        runs = [cli_upload(cli, mock, ledger, *store)]
        for _ in range(2):
            asyncio.run(age_redis(redis_server.url, DAY))
            runs.append(cli_upload(cli, mock, ledger, *store, "--resume"))
        calls, received = mock.stats["calls"], mock.receipts_count
    assert [run.exit_code for run in runs] == [6, 6, 0], [run.output for run in runs]
    summaries = [json.loads(run.stdout) for run in runs]
    assert [s["daily_rows_used"] for s in summaries] == [400, 400, 196]
    assert [s["daily_rows_left"] for s in summaries] == [0, 0, 204]
    assert all(s["invariant_holds"] for s in summaries)
    assert "--resume after" in summaries[0]["message"]
    assert calls == 5 and received == summaries[-1]["rows_acknowledged"] == 996


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (("--daily-rows", "100"), "--daily-rows needs a place to count"),
        (("--daily-rows-file", "b.json"), "--daily-rows-file needs --daily-rows"),
        (("--daily-rows", "0", "--daily-rows-file", "b.json"), "--daily-rows must be at least 1"),
        (
            ("--daily-rows", "100", "--daily-rows-file", "b.json", "--batch-rows", "200"),
            "--batch-rows 200 is more than --daily-rows 100",
        ),
    ],
)
def test_budget_settings_that_cannot_work_are_one_line(
    cli: Callable[..., Result], tmp_path: Path, extra: tuple[str, ...], said: str
) -> None:
    ledger = tmp_path / "l.jsonl"
    result = cli(
        "upload", str(SAMPLE), "--client-code", "demo", "--ledger", str(ledger),
        "--endpoint", "http://127.0.0.1:9", "--batch-rows", "50", *extra,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert said in result.stderr and result.stderr.count("\n") == 1
    assert not ledger.exists()


def test_an_unusable_budget_file_stops_the_run_before_anything_is_sent(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    ledger = tmp_path / "run" / "l.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", require_auth=False)) as mock:
        result = cli_upload(
            cli, mock, ledger, "--daily-rows", "1000", "--daily-rows-file",
            str(tmp_path / "file" / "budget.json"),
        )  # fmt: skip
        calls = mock.stats["calls"]
    assert result.exit_code == 2, result.output
    assert "--daily-rows-file" in result.stderr and result.stderr.count("\n") == 1
    assert calls == 0 and not ledger.exists()


def test_a_dry_run_ignores_the_budget_and_says_so(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    budget = tmp_path / "budget.json"
    result = cli(
        "upload", str(SAMPLE), "--client-code", "demo", "--dry-run", "--out",
        str(tmp_path / "out"), "--daily-rows", "10", "--daily-rows-file", str(budget),
        "--batch-rows", "10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "uploader: note: --dry-run sends nothing: --daily-rows-file is ignored; --daily-rows "
        "is not counted\n"
    )
    assert not budget.exists()


def test_a_sync_stops_at_the_budget_and_commits_nothing(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    state, budget = tmp_path / "state", tmp_path / "budget.json"
    with run_mock_in_thread(MockConfig(client_code="demo", require_auth=False)) as mock:
        result = cli(
            "sync", str(SAMPLE), "--client-code", "demo", "--endpoint", mock.base_url,
            "--rate", "none", "--state", str(state), "--ledger", str(tmp_path / "l.jsonl"),
            "--batch-rows", "200", "--daily-rows", "500", "--daily-rows-file", str(budget),
        )  # fmt: skip
        calls = mock.stats["calls"]
    assert result.exit_code == 6, result.output
    assert "daily budget" in result.stdout and "400 counted by this run, 100 left" in result.stdout
    assert "not committed" in result.stdout and calls == 2


def test_the_python_api_takes_the_budget_and_refuses_a_batch_bigger_than_it(
    tmp_path: Path,
) -> None:
    from uploader import upload_files

    with pytest.raises(ConfigError, match="batch_rows 10 is more than daily_rows 5"):
        upload_files(
            SAMPLE,
            client_code="demo",
            ledger=tmp_path / "l.jsonl",
            batch_rows=10,
            daily_rows=5,
            daily_rows_file=str(tmp_path / "budget.json"),
        )
