"""The bulk endpoint's throttle: more than N calls in any sliding window of T seconds → 503."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """Admits at most ``limit`` calls in any window of ``window`` seconds of ``clock``.

    Refused calls are not recorded: a client that backs off is not punished for its retries.
    """

    __slots__ = ("_admitted", "admitted_at", "clock", "limit", "window")

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._admitted: deque[float] = deque()
        #: the time of every call admitted, in order: how a test sees the rate it was sent at
        self.admitted_at: list[float] = []

    def admit(self) -> bool:
        now = self.clock()
        horizon = now - self.window
        while self._admitted and self._admitted[0] <= horizon:
            self._admitted.popleft()
        if len(self._admitted) >= self.limit:
            return False
        self._admitted.append(now)
        self.admitted_at.append(now)
        return True
