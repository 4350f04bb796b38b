"""The sliding-window limiter under arbitrary senders (hypothesis; fake clock, nothing waits)."""

from __future__ import annotations

import asyncio
import bisect

from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.send._ratelimit import RateLimit, RateLimiter


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
