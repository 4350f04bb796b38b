"""The progress display's ETA and rate-limit note: pure functions of the run's counts so far
and the limiter's ``Pace`` (``uploader.send._ratelimit``), so a test needs no clock at all.

Under the rate limit a run sends in bursts: N calls, then nothing until the oldest is a window
old. Rows/s observed during the burst promise far too early an end, and while the senders
wait the bar would freeze. The ETA is therefore the later of two: the rows left at the rate
observed so far, and the shortest time the limiter lets the batches left start in (counting
the calls already in the current window, which hold their slots until they age out).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from uploader.send._ratelimit import min_send_seconds

if TYPE_CHECKING:
    from uploader.send._ratelimit import Pace

__all__ = ["eta_seconds", "format_eta", "rate_wait_note"]


def eta_seconds(
    *, rows_left: int, rows_sent: int, batches_sent: int, elapsed: float, pace: Pace | None
) -> float | None:
    """Seconds until the run is done: the later of the observed rate's estimate and the rate
    limit's bound. ``rows_sent`` and ``batches_sent``: what this run sent to a verdict so far
    (not what a resumed run skipped); the batches left are estimated from their mean size.
    ``None`` until there is something to estimate from."""
    if rows_left <= 0:
        return 0.0
    if rows_sent <= 0:
        return None
    estimates = [rows_left / rows_sent * elapsed] if elapsed > 0 else []
    if pace is not None and batches_sent > 0:
        batches_left = math.ceil(rows_left * batches_sent / rows_sent)
        estimates.append(min_send_seconds(batches_left, pace.rate, pace.recent))
    return max(estimates) if estimates else None


def rate_wait_note(pace: Pace | None) -> str | None:
    """ "waiting for rate limit, next call in 8 s" while a sender waits on the limiter (never
    while the senders wait on Target's answers); None otherwise. Rounded up, and never 0 s
    (a sender woken late still waits); a wait on the window is at most the window the user
    set (the limiter's safety margin is its own), a throttle hold may be longer."""
    if pace is None or pace.next_call_in is None:
        return None
    seconds = math.ceil(pace.next_call_in)
    if pace.next_call_in <= pace.rate.window:
        seconds = min(seconds, math.ceil(pace.rate.period))
    return f"waiting for rate limit, next call in {max(seconds, 1):,} s"


def format_eta(seconds: float | None) -> str:
    """``"ETA 0:01:05"``; ``"ETA -:--:--"`` while unknown."""
    if seconds is None:
        return "ETA -:--:--"
    whole = math.ceil(seconds)
    return f"ETA {whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
