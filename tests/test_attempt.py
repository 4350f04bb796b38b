"""The one attempt loop, on its own: a scripted transport, a fake clock, real limiter and
breaker. Token refresh shared by concurrent items, giving up on a token refused after a
refresh, throttles feeding the limiter, retries used up, and stops during the waits."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken, TokenProvider
from uploader.errors import AuthError, EndpointError, RemoteError, ServerError, TransportError
from uploader.send._attempt import Answered, AttemptLoop, CallCounts, Unanswered
from uploader.send._breaker import ConnectionBreaker
from uploader.send._ratelimit import RateLimit, RateLimiter
from uploader.send._retry import RetryPolicy
from uploader.send._transport import HttpAnswer, auth_headers, raise_for_refusal
from uploader.testing import FakeClock, Request, Script, ScriptedTransport

OK = HttpAnswer(200, b"fine")


class Minting:
    """Every refusal reported mints the next token: ``tok-1``, ``tok-2``, …"""

    source = "test"

    def __init__(self) -> None:
        self.minted = 1
        self.asked: list[Secret | None] = []

    async def get(self) -> Secret:
        return Secret(f"tok-{self.minted}")

    async def rejected(self, token: Secret | None) -> Secret:
        self.asked.append(token)
        await asyncio.sleep(0)  # a real provider waits for its command or the Admin API
        self.minted += 1
        return Secret(f"tok-{self.minted}")


def accepts(*tokens: str) -> Script:
    """Answers 200 to a call with one of ``tokens``, 401 to any other."""
    allowed = {f"Bearer {token}" for token in tokens}

    def script(request: Request) -> HttpAnswer:
        return OK if request.headers.get("Authorization") in allowed else HttpAnswer(401, b"")

    return script


def attempts(
    transport: ScriptedTransport,
    tokens: TokenProvider,
    clock: FakeClock,
    **kw: object,
) -> tuple[AttemptLoop, Callable[[Secret | None], Awaitable[int]]]:
    """The loop under test, and the call it makes: a GET whose refusals raise."""
    options: dict[str, Any] = {
        "limiter": None,
        "retry": RetryPolicy(max_retries=3, base=1.0, max_wait=10.0),
        "rng": random.Random(3),
        "clock": clock,
        "sleep": clock.sleep,
        **kw,
    }
    loop = AttemptLoop(tokens=tokens, **options)

    async def call(token: Secret | None) -> int:
        answer = await transport.request("GET", "https://x.example/", headers=auth_headers(token))
        raise_for_refusal(answer, "token refused")
        return answer.status

    return loop, call


async def test_concurrent_refusals_share_one_refresh() -> None:
    provider, clock = Minting(), FakeClock()
    transport = ScriptedTransport(accepts("tok-2"))
    loop, call = attempts(transport, provider, clock)
    outcomes = await asyncio.gather(*(loop.run(call, f"item {i}") for i in range(4)))
    assert all(isinstance(o, Answered) and o.attempts == 2 for o in outcomes)
    assert provider.asked == [Secret("tok-1")]  # the other three took the fresh token
    assert loop.counts.token_refreshes == 1 and loop.counts.calls == 8


async def test_a_fresh_token_refused_again_is_given_up() -> None:
    provider, clock = Minting(), FakeClock()
    transport = ScriptedTransport(accepts())  # no token is good: wrong client code, say
    loop, call = attempts(transport, provider, clock)
    outcome = await loop.run(call, "item")
    assert isinstance(outcome, Unanswered) and outcome.why == "refused"
    assert outcome.attempts == 2 and provider.asked == [Secret("tok-1")]  # no refresh loop
    with pytest.raises(AuthError, match="token refused"):
        outcome.raise_if_final()


async def test_a_token_the_provider_was_told_about_is_not_reported_twice() -> None:
    """The provider answered with the same token: no new one to try, for any item."""

    class SameAgain:
        source = "test"
        asked = 0

        async def get(self) -> Secret:
            return Secret("tok")

        async def rejected(self, token: Secret | None) -> Secret:
            self.asked += 1
            return Secret("tok")

    provider, clock = SameAgain(), FakeClock()
    transport = ScriptedTransport(accepts())
    loop, call = attempts(transport, provider, clock)
    first = await loop.run(call, "one")
    second = await loop.run(call, "two")
    assert isinstance(first, Unanswered) and isinstance(second, Unanswered)
    assert first.why == second.why == "refused" and first.attempts == second.attempts == 1
    assert provider.asked == 1 and loop.counts.token_refreshes == 0


@pytest.mark.parametrize(("token", "had_token"), [(Secret("tok"), True), (None, False)])
async def test_a_static_token_is_refused_after_one_call(
    token: Secret | None, had_token: bool
) -> None:
    clock = FakeClock()
    transport = ScriptedTransport(accepts())
    loop, call = attempts(transport, StaticToken(token, "test"), clock)
    outcome = await loop.run(call, "item")
    assert isinstance(outcome, Unanswered) and outcome.why == "refused"
    assert outcome.attempts == 1 and outcome.had_token is had_token


async def test_a_throttle_holds_the_limiter_for_its_retry_after() -> None:
    clock = FakeClock()
    sent_at: list[float] = []

    def script(request: Request) -> HttpAnswer:
        sent_at.append(clock.now)
        return HttpAnswer(503, b"", retry_after=7.0) if request.number == 1 else OK

    limiter = RateLimiter(RateLimit(100, 60.0), clock, clock.sleep)
    # the backoff is capped at 1 s: only the limiter can make the retry wait 7 s
    retry = RetryPolicy(max_retries=3, base=0.5, max_wait=1.0)
    loop, call = attempts(
        ScriptedTransport(script), StaticToken(None, "none"), clock, limiter=limiter, retry=retry
    )
    outcome = await loop.run(call, "item")
    assert isinstance(outcome, Answered) and outcome.attempts == 2
    assert sent_at[1] >= 7.0
    assert loop.counts == CallCounts(calls=2, retries=1, throttled=1)


async def test_transient_errors_are_retried_until_the_budget_is_spent() -> None:
    clock = FakeClock()
    transport = ScriptedTransport(lambda request: HttpAnswer(500, b""))
    loop, call = attempts(transport, StaticToken(None, "none"), clock)
    outcome = await loop.run(call, "item")
    assert isinstance(outcome, Unanswered) and outcome.why == "failed"
    assert isinstance(outcome.error, ServerError) and outcome.attempts == 4
    assert len(clock.sleeps) == 3 and loop.counts.retries == 3
    outcome.raise_if_final()  # a failed item ends nothing


@pytest.mark.parametrize(
    ("error", "why"),
    [(RemoteError("HTTP 400", status=400), "failed"), (EndpointError("HTTP 404"), "halted")],
)
async def test_a_permanent_error_is_not_retried(error: Exception, why: str) -> None:
    clock = FakeClock()
    transport = ScriptedTransport(lambda request: error)
    loop, call = attempts(transport, StaticToken(None, "none"), clock)
    outcome = await loop.run(call, "item")
    assert isinstance(outcome, Unanswered) and outcome.why == why and outcome.error is error
    assert outcome.attempts == 1 and not clock.sleeps
    if why == "halted":  # no call can succeed: status and verify end there
        with pytest.raises(EndpointError):
            outcome.raise_if_final()


async def test_connection_errors_across_items_trip_the_breaker() -> None:
    clock = FakeClock()
    transport = ScriptedTransport(lambda request: TransportError("connection refused"))
    breaker = ConnectionBreaker(max_failures=3)
    loop, call = attempts(transport, StaticToken(None, "none"), clock, breaker=breaker)
    first = await loop.run(call, "one")
    assert isinstance(first, Unanswered) and first.why == "unreachable" and first.attempts == 3


async def test_a_stop_during_a_backoff_ends_the_wait_and_starts_no_call() -> None:
    stop, backing_off = asyncio.Event(), asyncio.Event()

    async def sleep_until_stopped(seconds: float) -> None:
        backing_off.set()
        await asyncio.Event().wait()  # only the stop can end it

    clock = FakeClock()
    transport = ScriptedTransport(lambda request: HttpAnswer(500, b""))
    loop, call = attempts(
        transport, StaticToken(None, "none"), clock, sleep=sleep_until_stopped, stop=stop
    )
    running = asyncio.create_task(loop.run(call, "item"))
    await backing_off.wait()
    stop.set()
    outcome = await asyncio.wait_for(running, 5)
    assert isinstance(outcome, Unanswered) and outcome.why == "stopped"
    assert isinstance(outcome.error, ServerError) and outcome.attempts == 1
    assert len(transport.requests) == 1


async def test_a_stop_releases_an_item_waiting_for_the_limiter() -> None:
    stop, limited = asyncio.Event(), asyncio.Event()
    clock = FakeClock()

    async def sleep_forever(seconds: float) -> None:
        limited.set()
        await asyncio.Event().wait()

    limiter = RateLimiter(RateLimit(1, 60.0), clock, sleep_forever)
    transport = ScriptedTransport(lambda request: OK)
    loop, call = attempts(transport, StaticToken(None, "none"), clock, limiter=limiter, stop=stop)
    assert isinstance(await loop.run(call, "first"), Answered)
    waiting = asyncio.create_task(loop.run(call, "second"))
    await limited.wait()
    stop.set()
    outcome = await asyncio.wait_for(waiting, 5)
    assert isinstance(outcome, Unanswered) and outcome.why == "stopped"
    assert outcome.attempts == 0 and outcome.error is None and len(transport.requests) == 1
    late = await loop.run(call, "third")
    assert isinstance(late, Unanswered) and late.why == "stopped" and len(transport.requests) == 1
