"""Test doubles for code that drives the uploader: a scripted transport and a clock that never
waits, the ones the uploader's own tests use (as httpx ships ``MockTransport``).

Every network call of the library goes through the ``Transport`` protocol (Target's bulk API,
batchStatus, profile fetches, Adobe IMS and the Admin API), so a ``ScriptedTransport`` can
answer any of them without a socket; a ``FakeClock`` makes rate limits, retries and token
renewals run in virtual time::

    from uploader.testing import FakeClock, ScriptedTransport, accepted

    clock = FakeClock()
    transport = ScriptedTransport(accepted)
    summary = await upload(config, producer, tokens, transport=transport,
                           clock=clock, sleep=clock.sleep)
    assert len(transport.requests) == summary.calls

For tests against a real server over loopback, ``uploader.mock.MockTarget`` serves the same API.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from uploader.send._response import MAX_SUBMIT_BYTES
from uploader.send._transport import HttpAnswer

__all__ = [
    "OK_XML",
    "FakeClock",
    "HttpAnswer",
    "Request",
    "Script",
    "ScriptedTransport",
    "accepted",
]

#: Target's answer to an accepted batch, as bytes with one ``%d`` (the batch's number), e.g.
#: ``OK_XML % 3`` for batch id ``demo-1-3``.
OK_XML = (
    b"<response><success>true</success><batchStatus>https://edge.example/m2/demo/profile/"
    b"batchStatus?batchId=demo-1-%d</batchStatus><message>Batch submitted for processing"
    b"</message></response>"
)


class FakeClock:
    """A ``clock()`` and a ``sleep()`` sharing one virtual time: ``sleep`` records how long it
    was asked to wait (in ``sleeps``), advances ``now`` by that much and returns at once.

    Pass the clock itself where a ``clock: Callable[[], float]`` is taken and ``clock.sleep``
    where a ``sleep`` is."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is


@dataclass(frozen=True, slots=True)
class Request:
    """One call a ``ScriptedTransport`` received; ``number`` counts from 1."""

    number: int
    method: str
    url: str
    body: bytes  # empty when the call had none
    headers: dict[str, str]
    limit: int  # how many bytes of the answer the caller reads


#: What a ``ScriptedTransport`` answers a request with: an ``HttpAnswer``, or an exception to
#: raise (an ``uploader.errors.TransportError`` is how a lost connection or a timeout looks).
#: The script may be a coroutine function, to hold a call (``await event.wait()``) or to pass
#: it on to a real transport.
Script = Callable[[Request], HttpAnswer | Exception | Awaitable[HttpAnswer | Exception]]


class ScriptedTransport:
    """A ``Transport`` that answers each call with ``script(request)`` and records every call
    in ``requests`` (in the order they arrived, before the script runs)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self.closed = False

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str],
        limit: int = MAX_SUBMIT_BYTES,
    ) -> HttpAnswer:
        request = Request(len(self.requests) + 1, method, url, body or b"", headers, limit)
        self.requests.append(request)
        answer = self.script(request)
        if inspect.isawaitable(answer):
            answer = await answer
        else:
            await asyncio.sleep(0)  # a real call suspends: other senders get to run meanwhile
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        self.closed = True


def accepted(request: Request) -> HttpAnswer:
    """A ``Script`` under which Target accepts every batch (``OK_XML``, numbered by call)."""
    return HttpAnswer(200, OK_XML % request.number)
