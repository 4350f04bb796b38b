"""``classify``: what each error means for its batch (pure, no engine)."""

from __future__ import annotations

import random

import pytest

from uploader.errors import (
    AuthError,
    BatchRejected,
    ConfigError,
    LedgerError,
    ServerError,
    Throttled,
    TransportError,
)
from uploader.send._retry import Decision, RetryPolicy, classify, retry_delay


@pytest.mark.parametrize(
    ("error", "decision"),
    [
        (TransportError("reset"), Decision("retry")),
        (ServerError("HTTP 500", status=500), Decision("retry")),
        (ServerError("unreadable answer", status=200), Decision("retry")),
        (Throttled("503", status=503), Decision("retry")),
        (Throttled("429", status=429, retry_after=4.5), Decision("retry", 4.5)),
        (BatchRejected("Unexpected error", status=200), Decision("fail")),
        (BatchRejected("HTTP 413", status=413), Decision("fail")),
        (AuthError("expired", status=401), Decision("stop")),
        (LedgerError("x"), Decision("fail")),
        (ValueError("not ours"), Decision("fail")),  # unknown: never a retry loop
    ],
)
def test_classify(error: Exception, decision: Decision) -> None:
    assert classify(error) == decision


def test_retry_after_is_a_floor_not_a_replacement_for_backoff() -> None:
    policy = RetryPolicy(base=10.0, max_wait=60.0)
    delays = [
        retry_delay(Throttled("x", retry_after=1.0), 3, policy, random.Random(s)) for s in range(50)
    ]
    assert all(d is not None and 1.0 <= d <= 60.0 for d in delays)
    assert max(d for d in delays if d is not None) > 30.0  # the jittered backoff still applies


def test_zero_retries_means_one_try() -> None:
    assert retry_delay(TransportError("x"), 0, RetryPolicy(max_retries=0), random.Random()) is None


@pytest.mark.parametrize("kw", [{"max_retries": -1}, {"base": 0.0}, {"max_wait": -1.0}])
def test_policy_is_validated(kw: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**kw)  # type: ignore[arg-type]
