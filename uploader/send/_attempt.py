"""One attempt loop for every call to Target: the bulk submit, ``batchStatus``, profile fetch.

Per item (a batch, a status URL, a profile), until it has an answer or must give up::

    wait for the rate limiter → take the current token → call → read the answer
      answered                      → ``Answered`` (the parsed answer)
      token refused (401/403)       → refresh it once (``TokenRefresher``), call again;
                                      refused again → ``Unanswered("refused")``
      endpoint takes no call        → ``Unanswered("halted")`` (TLS refused, 404 submit URL,
                                      a shared limiter's Redis lost)
      connection errors trip the breaker (optional) → ``Unanswered("unreachable")``
      transient (timeout, 5xx, throttle) → the limiter is told of a throttle; back off
                                      (``retry_delay``) and call again, until the retries
                                      are used up → ``Unanswered("failed")``
      permanent (a refused batch)   → ``Unanswered("failed")``

What the caller makes of an ``Unanswered`` differs: the engine records the batch (pending,
failed, or split to find the refused rows) and stops the run on a refused token or a dead
endpoint; ``status`` and ``verify`` record an error for the item, and end on a refused token
(``Unanswered.raise_if_final``). With a ``stop`` event (the engine's), no call starts after a
stop: waiting for the limiter or a backoff gives up at once (``Unanswered("stopped")``).

Counters (calls, retries, throttled, token_refreshes) go to a ``Counters`` — the engine's
``RunSummary`` itself, so the progress line sees them at once. A caller that records every
call (the engine: the ledger's ``attempt`` records) passes ``on_call``: it is told of each
call once its fate is known (a ``Call``: start, duration, HTTP status, outcome, backoff).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from uploader._log import get_logger
from uploader.auth._secret import Secret
from uploader.auth._static import TokenProvider
from uploader.errors import EndpointError, RemoteError, Throttled, TransportError
from uploader.ledger._records import CallOutcome
from uploader.send._breaker import ConnectionBreaker
from uploader.send._ratelimit import Limiter, RateLimit, RateLimiter
from uploader.send._retry import RetryPolicy, classify, retry_delay

__all__ = [
    "READ_RETRY",
    "Answered",
    "AttemptLoop",
    "Call",
    "CallCounts",
    "Counters",
    "TokenRefresher",
    "Unanswered",
    "reading_loop",
    "unless_stopped",
]

T = TypeVar("T")
log = get_logger(__name__)

#: reads (batchStatus, profile fetch) give up sooner than a submit: a read that failed is
#: only reported, and can be asked again
READ_RETRY = RetryPolicy(max_retries=5, base=0.5, max_wait=30.0)


class Counters(Protocol):
    """What the loop counts (``RunSummary`` has these fields; ``CallCounts`` is just them)."""

    calls: int
    retries: int
    throttled: int
    token_refreshes: int


@dataclass(slots=True)
class CallCounts:
    calls: int = 0
    retries: int = 0
    throttled: int = 0
    token_refreshes: int = 0


@dataclass(frozen=True, slots=True)
class Answered(Generic[T]):
    value: T  # what the caller's call returned
    attempts: int
    sent_at: float  # when the answered call started (the loop's clock)


@dataclass(frozen=True, slots=True)
class Call:
    """One call the loop made, told to ``on_call`` once what follows it is decided."""

    attempt: int  # 1-based, per item
    started: float  # wall clock (unix seconds): when the request went out
    seconds: float  # how long it took (the loop's clock)
    status: int | None  # the HTTP status of an error; None: no answer, or an answered call
    outcome: CallOutcome
    retry_delay: float | None = None  # the backoff before the next call; None: no next call


@dataclass(frozen=True, slots=True)
class Unanswered:
    """Why an item got no answer; ``error`` is the last error (``None``: the run stopped
    before any call of it failed)."""

    why: Literal["failed", "stopped", "refused", "halted", "unreachable"]
    attempts: int
    error: Exception | None = None
    had_token: bool = True  # the last call was given a token (False: there was none)

    def raise_if_final(self) -> None:
        """For callers that end on the first such error (status, verify): raise the error
        after which no call can succeed — a refused token, an endpoint that takes none."""
        if self.why in ("refused", "halted") and self.error is not None:
            raise self.error


class TokenRefresher:
    """The one rule for a refused token, shared by every worker of a run.

    A refused token is replaced by the provider's current one when that already changed
    (another worker refreshed it); else the provider is asked once (``rejected``), under a
    lock, so concurrent refusals share that one refresh. A token the provider was already
    told about, refused again, is given up on: asking again would loop.
    """

    def __init__(self, tokens: TokenProvider, counts: Counters) -> None:
        self.tokens = tokens
        self._counts = counts
        self._lock = asyncio.Lock()
        self._reported: set[Secret | None] = set()

    async def replace(self, refused: Secret | None) -> bool:
        """True when a token other than ``refused`` is there to try (``tokens.get()``)."""
        async with self._lock:
            current = await self.tokens.get()
            if current is not None and current != refused:
                return True  # another worker already refreshed it
            if refused in self._reported:
                return False
            self._reported.add(refused)
            fresh = await self.tokens.rejected(refused)
            if fresh is None or fresh == refused:
                return False
            self._counts.token_refreshes += 1
            log.info(
                "the profile token was refused; a new one came from %s",
                self.tokens.source,
                extra={"event": "token_refreshed"},
            )
            return True


@dataclass(slots=True, kw_only=True)
class AttemptLoop:
    """The attempt loop (see the module doc), shared by all workers of one run: one rate
    limiter, one token refresher, one set of counters. ``stop``: no call starts once it is
    set; ``breaker``: connection errors across all items stop the run."""

    tokens: TokenProvider
    limiter: Limiter | None
    retry: RetryPolicy
    rng: random.Random
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    counts: Counters = field(default_factory=CallCounts)
    stop: asyncio.Event | None = None
    breaker: ConnectionBreaker | None = None
    wall: Callable[[], float] = time.time  # the start time ``Call`` records
    refresher: TokenRefresher = field(init=False)

    def __post_init__(self) -> None:
        self.refresher = TokenRefresher(self.tokens, self.counts)

    async def run(
        self,
        call: Callable[[Secret | None], Awaitable[T]],
        what: str,
        on_call: Callable[[Call, T | None], None] | None = None,
        batch: int | None = None,
    ) -> Answered[T] | Unanswered:
        """Call ``call(token)`` until it returns or the item must give up. ``call`` makes
        one request and reads its answer, raising the uploader's errors for what is not
        one (``uploader.send._transport``); ``what`` names the item in log messages, and
        ``batch`` (its batch's number) is in their ``extra``; ``on_call(call, answer)`` is
        told of every call (``answer``: what an answered call returned, else None)."""

        def told(outcome: CallOutcome, error: Exception | None, delay: float | None) -> None:
            if on_call is not None:
                status = error.status if isinstance(error, RemoteError) else None
                on_call(Call(attempts, started, took, status, outcome, delay), None)

        attempts = 0
        retries = 0  # the retry budget counts backoffs; a call a refresh cost is no retry
        replaced = False  # this item already got a fresh token
        while True:
            if self.limiter:
                try:
                    if not await self.unless_stopped(self.limiter.acquire()):
                        return Unanswered("stopped", attempts)
                except EndpointError as error:  # a shared limiter lost its store (Redis)
                    return Unanswered("halted", attempts, error)
            if self.stop is not None and self.stop.is_set():
                return Unanswered("stopped", attempts)
            token = await self.tokens.get()
            attempts += 1
            self.counts.calls += 1
            sent_at, started = self.clock(), self.wall()
            try:
                value = await call(token)
            except (TransportError, RemoteError, EndpointError) as error:
                took = self.clock() - sent_at
                decision = classify(error)
                outcome: CallOutcome = (
                    "throttled" if isinstance(error, Throttled) else decision.action
                )
                if decision.action == "halt":
                    told(outcome, error, None)
                    return Unanswered("halted", attempts, error)
                if isinstance(error, TransportError):
                    if self.breaker is not None and self.breaker.failed(self.clock()):
                        told(outcome, error, None)
                        return Unanswered("unreachable", attempts, error)
                elif self.breaker is not None:
                    self.breaker.answered()  # an answer of any kind: the endpoint is there
                if decision.action == "stop":
                    told(outcome, error, None)
                    if replaced or not await self.refresher.replace(token):
                        return Unanswered("refused", attempts, error, had_token=token is not None)
                    replaced = True
                    continue
                if isinstance(error, Throttled):
                    self.counts.throttled += 1
                    log.warning(
                        "%s: throttled (HTTP %s), Retry-After: %s",
                        what,
                        error.status,
                        "none" if error.retry_after is None else f"{error.retry_after:g} s",
                        extra={
                            "event": "throttled",
                            "batch": batch,
                            "attempt": attempts,
                            "status": error.status,
                            "retry_after": error.retry_after,
                        },
                    )
                    if self.limiter:
                        self.limiter.throttled(error.retry_after)
                delay = retry_delay(error, retries, self.retry, self.rng)
                told(outcome, error, delay)
                if delay is None:
                    return Unanswered("failed", attempts, error)
                retries += 1
                self.counts.retries += 1
                log.info(
                    "%s: retry in %.2f s after attempt %d: %s",
                    what,
                    delay,
                    attempts,
                    error,
                    extra={
                        "event": "retry",
                        "batch": batch,
                        "attempt": attempts,
                        "status": getattr(error, "status", None),
                        "delay": delay,
                        "attempts": attempts,
                    },
                )
                if not await self.unless_stopped(self.sleep(delay)):
                    return Unanswered("stopped", attempts, error)
                continue
            if self.breaker is not None:
                self.breaker.answered()
            if on_call is not None:
                on_call(Call(attempts, started, self.clock() - sent_at, None, "ok"), value)
            return Answered(value, attempts, sent_at)

    async def unless_stopped(self, waiting: Awaitable[None]) -> bool:
        return await unless_stopped(waiting, self.stop)


def reading_loop(
    tokens: TokenProvider,
    *,
    rate: RateLimit | None,
    retry: RetryPolicy | None,
    rng: random.Random | None,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> AttemptLoop:
    """The attempt loop of ``status`` and ``verify``: a limiter of their own (theirs are not
    the throttled bulk endpoint), ``READ_RETRY`` unless told, no stop and no breaker."""
    return AttemptLoop(
        tokens=tokens,
        limiter=RateLimiter(rate, clock, sleep) if rate else None,
        retry=retry or READ_RETRY,
        rng=rng or random.Random(),
        clock=clock,
        sleep=sleep,
    )


async def unless_stopped(waiting: Awaitable[None], stop: asyncio.Event | None) -> bool:
    """Await ``waiting`` (the limiter, a backoff) unless ``stop`` is set first: then cancel
    it and return False."""
    if stop is None:
        await waiting
        return True
    if stop.is_set():
        if isinstance(waiting, Coroutine):
            waiting.close()  # never started: close it so no "never awaited" warning
        return False
    wait = asyncio.ensure_future(waiting)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((wait, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (wait, stopped):
            task.cancel()
        await asyncio.gather(wait, stopped, return_exceptions=True)
    if wait.cancelled():
        return False
    error = wait.exception()
    if error is not None:
        raise error
    return True
