"""The sliding-window limiter under arbitrary senders (hypothesis; fake clock, nothing waits)."""

from __future__ import annotations

import asyncio
import bisect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.send._ratelimit import RateLimit, RateLimiter, min_send_seconds
from uploader.testing import FakeClock


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def most_in_a_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


@settings(max_examples=60, deadline=None)
@given(
    calls=st.integers(1, 12),
    period=st.floats(0.1, 100.0),
    gaps=st.lists(st.lists(st.floats(0.0, 5.0), max_size=15), min_size=1, max_size=6),
    throttle_at=st.sets(st.integers(0, 60), max_size=5),
)
def test_no_window_ever_holds_more_than_the_limit(
    calls: int, period: float, gaps: list[list[float]], throttle_at: set[int]
) -> None:
    """Senders with any think time between calls, and throttle answers at any point: no
    window of ``period`` seconds (closed at both ends) ever holds more than ``calls`` sends."""

    async def scenario() -> list[float]:
        clock = Clock()
        limiter = RateLimiter(RateLimit(calls, period), clock, clock.sleep)
        sent: list[float] = []

        async def sender(pauses: list[float]) -> None:
            for pause in pauses:
                await clock.sleep(pause * period / 10)
                await limiter.acquire()
                sent.append(clock())
                if len(sent) in throttle_at:
                    limiter.throttled(None)

        await asyncio.gather(*(sender(p) for p in gaps))
        return sent

    sent = asyncio.run(scenario())
    assert len(sent) == sum(map(len, gaps))
    assert most_in_a_window(sent, period) <= calls


@pytest.mark.parametrize(
    ("calls", "expected_windows"),
    [(0, 0), (1, 0), (50, 0), (51, 1), (100, 1), (101, 2), (250, 4)],
)
def test_min_send_seconds_counts_whole_windows_after_the_first_burst(
    calls: int, expected_windows: int
) -> None:
    rate = RateLimit(50, 60)
    assert min_send_seconds(calls, rate) == pytest.approx(expected_windows * rate.window)
    assert min_send_seconds(calls, None) == 0


async def test_min_send_seconds_is_what_the_limiter_takes() -> None:
    """The bound is the limiter's own: 7 calls at 3 per 1 s start at 0, 0, 0, W, W, W, 2W."""
    clock = FakeClock()
    rate = RateLimit(3, 1.0)
    limiter = RateLimiter(rate, clock, clock.sleep)
    for _ in range(7):
        await limiter.acquire()
    assert clock() == pytest.approx(min_send_seconds(7, rate))
