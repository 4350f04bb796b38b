"""Rate limiter (fake clock: nothing waits) and the pure retry functions."""

from __future__ import annotations

import asyncio
import bisect
import random

import pytest

from uploader.errors import (
    AuthError,
    BatchRejected,
    ConfigError,
    ServerError,
    Throttled,
    TransportError,
)
from uploader.send._ratelimit import RateLimit, RateLimiter, parse_rate
from uploader.send._retry import RetryPolicy, backoff, retry_delay
from uploader.testing import FakeClock


def max_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(bisect.bisect_right(ordered, t + window) - i for i, t in enumerate(ordered))


@pytest.mark.parametrize(("calls", "period", "senders"), [(50, 60.0, 4), (5, 0.5, 8), (1, 2.0, 2)])
async def test_no_window_ever_exceeds_the_limit_and_the_rate_is_used(
    calls: int, period: float, senders: int
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(calls, period), clock, clock.sleep)
    sent: list[float] = []

    async def sender(n: int) -> None:
        for _ in range(n):
            await limiter.acquire()
            sent.append(clock())

    total = calls * 6  # six full windows, spread over the senders
    shares = [total // senders + (i < total % senders) for i in range(senders)]
    await asyncio.gather(*(sender(n) for n in shares))
    assert len(sent) == total
    assert max_in_any_window(sent, period) <= calls  # closed windows: the strictest reading
    elapsed_windows = (max(sent) - min(sent)) / period
    achieved = (len(sent) - calls) / elapsed_windows / calls  # the steady rate after the burst
    assert achieved >= 0.95


async def test_a_throttle_answer_holds_every_call() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(100, 1.0), clock, clock.sleep)
    await limiter.acquire()
    limiter.throttled(retry_after=5.0)
    await limiter.acquire()
    assert clock() == pytest.approx(5.0)


def test_parse_rate() -> None:
    assert parse_rate("50/60") == RateLimit(50, 60.0)
    assert parse_rate("none") is None
    for bad in ("fast", "0/60", "5/0", "5/x"):
        with pytest.raises(ConfigError):
            parse_rate(bad)


def test_backoff_is_full_jitter_clamped_and_overflow_safe() -> None:
    policy = RetryPolicy(base=0.5, max_wait=30.0)
    rng = random.Random(1)
    for attempt in range(0, 2000, 7):
        delay = backoff(attempt, policy, rng)
        assert 0.0 <= delay <= min(30.0, 0.5 * 2 ** min(attempt, 62))
    assert max(backoff(3, policy, random.Random(s)) for s in range(200)) > 3.5  # uses the range


def test_classification_of_errors() -> None:
    policy, rng = RetryPolicy(max_retries=3), random.Random(0)
    for transient in (
        TransportError("x"),
        ServerError("x", status=500),
        Throttled("x", status=503),
    ):
        assert retry_delay(transient, 0, policy, rng) is not None
        assert retry_delay(transient, 3, policy, rng) is None  # retries used up
    for permanent in (BatchRejected("x", status=200), AuthError("x", status=401)):
        assert retry_delay(permanent, 0, policy, rng) is None
    assert retry_delay(Throttled("x", retry_after=12.0), 0, policy, rng) == 12.0
    assert retry_delay(Throttled("x", retry_after=999.0), 0, policy, rng) == policy.max_wait
