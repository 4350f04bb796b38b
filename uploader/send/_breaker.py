"""Stop sending when the endpoint is unreachable, instead of spending a retry budget per batch.

Retries exist for the odd dropped connection. When the endpoint is down (wrong host, firewall,
outage), every batch would burn its own budget: 40 batches × 9 attempts, minutes of backoff,
and a ledger of failed batches that were never seen by Target. The breaker counts connection
errors across all batches since the last answer of any kind (an HTTP status, even a 5xx, proves
the endpoint is there) and trips after one retry budget of them or ``max_seconds`` of them,
whichever comes first. The run then stops; unsent batches stay pending and ``--resume`` sends
them once the endpoint is back.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_BREAKER_SECONDS", "ConnectionBreaker"]

DEFAULT_BREAKER_SECONDS = 180.0


@dataclass(slots=True)
class ConnectionBreaker:
    """``failed(now)`` after each connection error, ``answered()`` after any answer."""

    max_failures: int  # one retry budget: 1 + max retries
    max_seconds: float = DEFAULT_BREAKER_SECONDS
    failures: int = 0
    since: float | None = None  # when the current streak of connection errors began

    def answered(self) -> None:
        self.failures, self.since = 0, None

    def failed(self, now: float) -> bool:
        """Count one connection error; True when the breaker trips (stop sending)."""
        self.failures += 1
        if self.since is None:
            self.since = now
        return self.failures >= self.max_failures or now - self.since >= self.max_seconds

    def describe(self, now: float) -> str:
        seconds = 0.0 if self.since is None else now - self.since
        return f"{self.failures} connection errors in a row over {seconds:,.0f} s"
