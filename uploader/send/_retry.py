"""When to retry, and how long to wait: pure functions, tested directly.

``classify`` sorts an error into what the engine does with the batch (retry it, fail it, or
stop the run); ``backoff`` is the wait before a retry; ``retry_delay`` combines the two with
the policy's retry budget and a server's ``Retry-After``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from uploader.errors import (
    AuthError,
    ConfigError,
    EndpointError,
    ServerError,
    Throttled,
    TransportError,
)

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RETRY_MAX_WAIT",
    "Decision",
    "RetryPolicy",
    "backoff",
    "classify",
    "retry_delay",
]

DEFAULT_MAX_RETRIES = 8
DEFAULT_RETRY_MAX_WAIT = 60.0
_MAX_EXPONENT = 62  # 2**62 is still exact in a float; beyond it the cap applies anyway


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter: retry n waits uniform(0, min(max_wait, base·2ⁿ))."""

    max_retries: int = DEFAULT_MAX_RETRIES
    base: float = 0.5
    max_wait: float = DEFAULT_RETRY_MAX_WAIT

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError("$max_retries must be 0 or more", settings=("max_retries",))
        if self.max_wait <= 0:
            raise ConfigError("$retry_max_wait must be positive", settings=("retry_max_wait",))
        if self.base <= 0:
            raise ConfigError("the first retry's wait (base) must be positive")


@dataclass(frozen=True, slots=True)
class Decision:
    """What an error means for its batch.

    ``retry``: transient (network, timeout, 5xx, garbled body, 429, 503 throttle);
    ``fail``: permanent for this batch (Target refused it), recorded and not retried;
    ``stop``: the token was refused; no further call may be made with it;
    ``halt``: the endpoint cannot take any call (``EndpointError``): the run stops.
    ``at_least`` is the server's ``Retry-After``, when it sent one.
    """

    action: Literal["retry", "fail", "stop", "halt"]
    at_least: float | None = None


def classify(error: Exception) -> Decision:
    """Pure: the ``Decision`` for ``error`` (anything unknown is permanent, never a loop)."""
    if isinstance(error, AuthError):
        return Decision("stop")
    if isinstance(error, EndpointError):
        return Decision("halt")
    if isinstance(error, Throttled):
        return Decision("retry", error.retry_after)
    if isinstance(error, TransportError | ServerError):
        return Decision("retry")
    return Decision("fail")


def backoff(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Wait before retry number ``attempt`` (0-based); clamped, never overflows."""
    exponent = min(max(attempt, 0), _MAX_EXPONENT)
    return rng.uniform(0.0, min(policy.max_wait, policy.base * 2.0**exponent))


def retry_delay(
    error: Exception, attempt: int, policy: RetryPolicy, rng: random.Random
) -> float | None:
    """Seconds to wait before retrying after ``error`` on attempt ``attempt`` (0-based), or
    ``None`` when it must not be retried (permanent, auth, or retries used up).

    A server's ``Retry-After`` is honoured (capped at ``max_wait``) and never undercut by the
    jittered backoff.
    """
    decision = classify(error)
    if decision.action != "retry" or attempt >= policy.max_retries:
        return None
    delay = backoff(attempt, policy, rng)
    if decision.at_least is not None:
        delay = max(delay, min(decision.at_least, policy.max_wait))
    return delay
