"""Never more than N calls in any window of T seconds — and as close to N as allowed.

Target throttles more than 50 bulk calls a minute with HTTP 503. A leaky bucket (aiolimiter's
``AsyncLimiter(50, 60)``) lets a burst of 50 through and then keeps dripping, so a minute can
hold ~100 calls; pacing it down to one call per T/(N-1) keeps the guarantee but wastes up to
1/N of the rate and all of the initial burst. This limiter keeps the send times of the last N
calls instead: call N+1 waits until the oldest is a full window old. That is exactly the
server's rule, so it can use 100% of the allowed rate (a small safety margin absorbs clock
and network jitter between our send and the server's arrival time).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from uploader.errors import ConfigError

__all__ = [
    "DEFAULT_RATE",
    "Limiter",
    "Pace",
    "RateLimit",
    "RateLimiter",
    "min_send_seconds",
    "pace_of",
    "parse_rate",
]

SAFETY_MARGIN = 0.02  # windows are 2 % longer than the server's


@dataclass(frozen=True, slots=True)
class RateLimit:
    calls: int
    period: float

    def __post_init__(self) -> None:
        if self.calls < 1 or self.period <= 0:
            raise ConfigError(
                "$rate needs a positive number of calls and seconds (e.g. 50/60)",
                settings=("rate",),
            )

    def __str__(self) -> str:
        return f"{self.calls}/{self.period:g}"

    @property
    def window(self) -> float:
        """The window a limiter keeps (seconds): the server's, plus the safety margin."""
        return self.period * (1 + SAFETY_MARGIN)

    def faster_than(self, other: RateLimit) -> bool:
        """More calls per second than ``other`` allows (compared without rounding)."""
        return self.calls * other.period > other.calls * self.period


DEFAULT_RATE = RateLimit(50, 60.0)  # Target's documented limit for the bulk endpoint


def parse_rate(text: str) -> RateLimit | None:
    """``"50/60"`` → 50 calls per 60 s; ``"none"`` → no limit."""
    if text.strip().lower() == "none":
        return None
    calls, sep, seconds = text.partition("/")
    try:
        return RateLimit(int(calls), float(seconds) if sep else 60.0)
    except ValueError:
        raise ConfigError(
            f"$rate {text!r}: expected CALLS/SECONDS (e.g. 50/60) or none", settings=("rate",)
        ) from None


def min_send_seconds(calls: int, rate: RateLimit | None, recent: Sequence[float] = ()) -> float:
    """The shortest time in which ``calls`` more calls can all start under ``rate`` (as this
    limiter keeps it, margin included): the first N start at once, then N more each window,
    so call k (from 0) starts ``k // N`` windows after the first. 0 without a rate or with at
    most N calls (the sending itself and the producer take time beyond this bound).

    ``recent``: the ages (seconds, oldest first) of the calls already in the current window,
    which hold their slots until they are a window old (a run's ETA counts them)."""
    if rate is None or calls <= 0:
        return 0.0
    n, window = rate.calls, rate.window
    ages = list(recent)[-n:]
    last = len(ages) + calls - 1  # the last call's place after the ones in the window
    if last < n:
        return 0.0
    # call i waits for call i - N to be a window old: hop back by N until a call in the window
    # (its age is known) or before the first (the first N of a fresh window start now)
    hops = (last - len(ages)) // n + 1
    first = last - hops * n
    if first < 0:
        return (hops - 1) * window
    return max(0.0, hops * window - ages[first])


@dataclass(frozen=True, slots=True)
class Pace:
    """What a limiter holds back at one instant, for a progress display and its ETA."""

    rate: RateLimit
    #: the ages (seconds, oldest first) of this process's calls in the current window
    recent: tuple[float, ...]
    #: seconds until the next call may start while a sender waits on the limiter; None when
    #: no sender waits on it (waiting on Target's answers is not waiting on the rate limit)
    next_call_in: float | None


def pace_of(
    rate: RateLimit, sent: Iterable[float], waiting_until: float | None, now: float
) -> Pace:
    """A ``Pace`` from the send times a limiter keeps and the end of its current wait."""
    # a snapshot first: a progress bar reads it from its own thread while senders append
    recent = tuple(now - at for at in tuple(sent) if now - at < rate.window)
    wait = None if waiting_until is None else max(0.0, waiting_until - now)
    return Pace(rate, recent, wait)


class Limiter(Protocol):
    """What the attempt loop asks of a limiter: this process's own (``RateLimiter``) or one
    shared by several processes (``uploader.send._redis_limit.RedisRateLimiter``)."""

    async def acquire(self) -> None:
        """Wait until one more call fits in the window, then count it."""
        ...

    def throttled(self, retry_after: float | None = None) -> None:
        """The server said "too fast": hold every call for ``retry_after`` seconds."""
        ...

    def pace(self) -> Pace:
        """The calls in the current window and how long a waiting sender has left (read by
        the progress display, which the limiter knows nothing of)."""
        ...


class RateLimiter:
    """Sliding-window limiter with an injectable clock and sleep (tests never wait)."""

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.limit = limit
        self._window = limit.window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque(maxlen=limit.calls)
        self._not_before = 0.0
        self._waiting_until: float | None = None  # while a caller sleeps: until when
        self._lock = asyncio.Lock()  # FIFO: callers are served in arrival order

    async def acquire(self) -> None:
        """Wait until one more call fits, then count it as sent now."""
        async with self._lock:
            while True:
                now = self._clock()
                wait = self._not_before - now
                if len(self._sent) == self.limit.calls:
                    wait = max(wait, self._sent[0] + self._window - now)
                if wait <= 0:
                    break
                self._waiting_until = now + wait
                try:
                    await self._sleep(wait)
                finally:
                    self._waiting_until = None
            self._sent.append(self._clock())

    def pace(self) -> Pace:
        return pace_of(self.limit, self._sent, self._waiting_until, self._clock())

    def throttled(self, retry_after: float | None = None) -> None:
        """The server said "too fast" anyway: hold every call for ``retry_after`` seconds, or
        one call's share of the window."""
        pause = retry_after if retry_after is not None else self._window / self.limit.calls
        self._not_before = max(self._not_before, self._clock() + pause)
