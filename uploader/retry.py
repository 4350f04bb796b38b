"""When to retry, and how long to wait: pure functions, tested directly."""

from __future__ import annotations

import random
from dataclasses import dataclass

from uploader.errors import ConfigError, ServerError, Throttled, TransportError, UploaderError

__all__ = ["DEFAULT_MAX_RETRIES", "DEFAULT_RETRY_MAX_WAIT", "RetryPolicy", "backoff", "retry_delay"]

DEFAULT_MAX_RETRIES = 8
DEFAULT_RETRY_MAX_WAIT = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base·2ⁿ))."""

    max_retries: int = DEFAULT_MAX_RETRIES
    base: float = 0.5
    max_wait: float = DEFAULT_RETRY_MAX_WAIT

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError("--max-retries must be 0 or more")
        if self.base <= 0 or self.max_wait <= 0:
            raise ConfigError("retry waits must be positive")


def backoff(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Wait before retry number ``attempt`` (0-based); clamped, never overflows."""
    ceiling = policy.max_wait if attempt >= 62 else min(policy.max_wait, policy.base * 2**attempt)
    return rng.uniform(0.0, ceiling)


def retry_delay(
    error: UploaderError, attempt: int, policy: RetryPolicy, rng: random.Random
) -> float | None:
    """Seconds to wait before retrying after ``error`` on attempt ``attempt`` (0-based), or
    ``None`` when it must not be retried (permanent, or retries used up).

    Transient: network errors, timeouts, 5xx, garbled answers, 429 and the 503 throttle. A
    server's ``Retry-After`` is honoured (capped at ``max_wait``) and never undercut.
    """
    if not isinstance(error, TransportError | ServerError | Throttled):
        return None
    if attempt >= policy.max_retries:
        return None
    delay = backoff(attempt, policy, rng)
    if isinstance(error, Throttled) and error.retry_after is not None:
        delay = max(delay, min(error.retry_after, policy.max_wait))
    return delay
