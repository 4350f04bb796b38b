"""The rate limit shared through a real Redis (``redis_server``): several limiter clients never
put more than N calls in any window — on the times Redis itself recorded — and use the budget;
a throttle holds them all; Redis unreachable at the start or lost mid-run ends in one line."""

from __future__ import annotations

import asyncio
import bisect
import random
import re
from collections.abc import Callable
from typing import Protocol

import pytest
import redis.asyncio as aioredis

from uploader.auth._static import StaticToken
from uploader.errors import ConfigError, EndpointError, RateStoreLost
from uploader.send._attempt import AttemptLoop, Unanswered
from uploader.send._ratelimit import RateLimit
from uploader.send._redis_limit import RedisRateLimiter, rate_key
from uploader.send._retry import RetryPolicy


class RedisServer(Protocol):
    """The ``redis_server`` fixture's server."""

    url: str

    def kill(self) -> None: ...


LIMIT = RateLimit(5, 0.5)  # compressed: the window semantics, not Target's minute


async def admitted_times(url: str, client: str = "demo") -> list[int]:
    """The Redis time (µs) of every call admitted so far (the limiters' ``record`` log)."""
    async with aioredis.Redis.from_url(url) as redis:
        return [int(t) for t in await redis.lrange(f"{rate_key(client)}:log", 0, -1)]


def most_in_a_window(times: list[int], window: int) -> int:
    """The most calls in any half-open window ``[t, t + window)``: a call exactly one window
    after another is in the next one, as the limiter admits it."""
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_several_clients_never_exceed_the_window_and_use_the_budget(
    redis_server: RedisServer, seed: int
) -> None:
    rng = random.Random(seed)
    limiters = [RedisRateLimiter(redis_server.url, "demo", LIMIT, record=True) for _ in range(3)]
    for limiter in limiters:
        await limiter.connect()
    calls_per_task = 5

    async def sender(limiter: RedisRateLimiter, gaps: list[float]) -> None:
        for gap in gaps:
            await asyncio.sleep(gap)
            await limiter.acquire()

    # 4 senders on 3 clients: two share one client's in-process queue
    owners = [limiters[0], limiters[0], limiters[1], limiters[2]]
    plans = [[rng.uniform(0, 0.05) for _ in range(calls_per_task)] for _ in owners]
    try:
        await asyncio.gather(*(sender(o, p) for o, p in zip(owners, plans, strict=True)))
    finally:
        for limiter in limiters:
            await limiter.close()

    times = await admitted_times(redis_server.url)
    window = round(LIMIT.window * 1e6)
    assert len(times) == calls_per_task * len(owners)
    assert most_in_a_window(times, window) <= LIMIT.calls
    # the budget of the windows the run spanned: how much of it the senders used
    span = max(times) - min(times)
    allowed = LIMIT.calls * (span // window + 1)
    assert len(times) / allowed >= 0.8, (len(times), allowed, span / 1e6)


async def test_a_throttle_seen_by_one_client_holds_the_others(redis_server: RedisServer) -> None:
    limit = RateLimit(100, 1.0)  # never the reason to wait here
    seen, other = (RedisRateLimiter(redis_server.url, "demo", limit, record=True) for _ in range(2))
    async with aioredis.Redis.from_url(redis_server.url) as redis:
        seconds, micros = await redis.time()
        before = seconds * 1_000_000 + micros
        seen.throttled(0.3)
        seen.throttled(0.05)  # a shorter hold never cuts a longer one short
        while await redis.pttl(f"{rate_key('demo')}:hold") <= 0:
            await asyncio.sleep(0.01)  # the hold is written in the background
        await other.acquire()
    await seen.close()
    await other.close()
    [admitted] = await admitted_times(redis_server.url)
    assert admitted >= before + 300_000


async def test_a_hold_is_per_client_code(redis_server: RedisServer) -> None:
    held = RedisRateLimiter(redis_server.url, "demo", LIMIT)
    free = RedisRateLimiter(redis_server.url, "other", LIMIT, record=True)
    held.throttled(60)
    await held.close()  # waits for the hold to be written
    await asyncio.wait_for(free.acquire(), timeout=30)
    await free.close()
    assert len(await admitted_times(redis_server.url, "other")) == 1


async def test_a_process_with_another_rate_is_refused_at_connect(
    redis_server: RedisServer,
) -> None:
    """A window is only as strict as its largest N: 60/60 beside 40/60 would take 60 a
    minute. The second rate is refused before it sends; the same rate is welcome."""
    first = RedisRateLimiter(redis_server.url, "demo", RateLimit(40, 60))
    await first.connect()
    other = RedisRateLimiter(redis_server.url, "demo", RateLimit(60, 60))
    with pytest.raises(ConfigError) as caught:
        await other.connect()
    same = RedisRateLimiter(redis_server.url, "demo", RateLimit(40, 60))
    await same.connect()
    elsewhere = RedisRateLimiter(redis_server.url, "other", RateLimit(60, 60))
    await elsewhere.connect()  # another client code has its own window
    for limiter in (first, other, same, elsewhere):
        await limiter.close()
    assert str(caught.value) == (
        f"rate_store {redis_server.url}: other processes draw on client code demo's window "
        "with rate 40/60, this one with 60/60: every process sharing a store must use the "
        "same rate"
    )


async def test_a_rate_that_differs_at_the_first_call_stops_the_sender(
    redis_server: RedisServer,
) -> None:
    """Connected in the same instant as another rate (the claim is re-made by every call)."""
    early = RedisRateLimiter(redis_server.url, "demo", RateLimit(60, 60))
    await early.connect()
    async with aioredis.Redis.from_url(redis_server.url) as redis:
        await redis.delete(f"{rate_key('demo')}:limit")  # as if both had connected at once
    late = RedisRateLimiter(redis_server.url, "demo", RateLimit(40, 60))
    await late.connect()
    with pytest.raises(EndpointError, match="with rate 40/60, this one with 60/60"):
        await early.acquire()
    await late.acquire()
    await early.close()
    await late.close()


async def test_the_rate_is_forgotten_with_the_window(redis_server: RedisServer) -> None:
    """Once no call of a rate is in the window any more (+1 s), another rate may start."""
    limit = RateLimit(5, 0.1)
    first = RedisRateLimiter(redis_server.url, "demo", limit)
    await first.connect()
    await first.acquire()
    await first.close()
    async with aioredis.Redis.from_url(redis_server.url) as redis:
        ttl = await redis.pttl(f"{rate_key('demo')}:limit")
    assert 0 < ttl <= round(limit.window * 1000) + 1000


@pytest.mark.parametrize("password", ["", ":sekrit@"])
async def test_redis_unreachable_at_the_start_is_one_line(
    free_port: Callable[[], int], password: str
) -> None:
    url = f"redis://{password}127.0.0.1:{free_port()}/0"
    limiter = RedisRateLimiter(url, "demo", LIMIT, socket_timeout=2)
    with pytest.raises(ConfigError) as caught:
        await limiter.connect()
    await limiter.close()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("rate_store redis://")
    assert "Redis does not answer" in message
    assert "sekrit" not in message


def test_a_url_that_is_not_redis_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("rate_store 'http://127.0.0.1:1'")):
        RedisRateLimiter("http://127.0.0.1:1", "demo", LIMIT)


async def test_redis_lost_mid_run_waits_a_bounded_time_then_stops(
    redis_server: RedisServer,
) -> None:
    limiter = RedisRateLimiter(redis_server.url, "demo", LIMIT, lost_after=0.5, socket_timeout=1)
    await limiter.connect()
    await limiter.acquire()
    redis_server.kill()
    with pytest.raises(RateStoreLost, match=r"rate store redis://127\.0\.0\.1:\d+/0 \(Redis\)"):
        await asyncio.wait_for(limiter.acquire(), timeout=30)
    await limiter.close()


async def test_the_attempt_loop_halts_when_the_shared_limiter_is_lost(
    redis_server: RedisServer,
) -> None:
    """What the engine stops the run on (``halted`` → stop "rate_store", the rest pending)."""
    limiter = RedisRateLimiter(redis_server.url, "demo", LIMIT, lost_after=0.2, socket_timeout=1)
    await limiter.connect()
    redis_server.kill()
    calls: list[object] = []

    async def call(token: object) -> None:
        calls.append(token)

    loop = AttemptLoop(
        tokens=StaticToken(None, "none"),
        limiter=limiter,
        retry=RetryPolicy(max_retries=0),
        rng=random.Random(0),
        clock=asyncio.get_running_loop().time,
        sleep=asyncio.sleep,
    )
    outcome = await loop.run(call, "batch 1")
    await limiter.close()
    assert isinstance(outcome, Unanswered)
    assert outcome.why == "halted"
    assert isinstance(outcome.error, RateStoreLost)
    assert calls == []
