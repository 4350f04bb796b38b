"""The one worker pool: every item handled once, a bounded queue, end markers only after a
clean end, and the first error ending the pool without a hang or an exception group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from uploader.errors import InputError
from uploader.send._pool import first_error, run_pool


async def test_every_item_is_handled_once_by_the_workers() -> None:
    seen: list[int | None] = []

    async def handle(item: int | None) -> None:
        await asyncio.sleep(0)
        seen.append(item)

    items: list[int | None] = [1, None, 2, 3]  # None is an item like any other
    await asyncio.wait_for(run_pool(items, handle, workers=5, queue_size=2), 5)
    assert sorted(seen, key=str) == sorted(items, key=str)


async def test_an_async_generator_feeds_the_pool() -> None:
    async def numbers() -> AsyncIterator[int]:
        for n in range(10):
            await asyncio.sleep(0)
            yield n

    seen: list[int] = []

    async def handle(item: int) -> None:
        seen.append(item)

    await asyncio.wait_for(run_pool(numbers(), handle, workers=3, queue_size=1), 5)
    assert sorted(seen) == list(range(10))


async def test_the_feeder_runs_at_most_a_queue_ahead_of_the_workers() -> None:
    taken: list[int] = []
    gate, busy = asyncio.Event(), asyncio.Event()

    async def numbers() -> AsyncIterator[int]:
        for n in range(100):
            taken.append(n)
            yield n

    async def handle(item: int) -> None:
        busy.set()
        await gate.wait()

    pool = asyncio.create_task(run_pool(numbers(), handle, workers=1, queue_size=1))
    await busy.wait()
    for _ in range(20):  # give the feeder every chance to run ahead
        await asyncio.sleep(0)
    # one in the worker, one in the queue, one held by the feeder waiting for room
    assert taken == [0, 1, 2]
    gate.set()
    await asyncio.wait_for(pool, 5)
    assert len(taken) == 100


async def test_a_failing_worker_ends_the_pool_with_its_error_and_closes_the_feed() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    async def handle(item: int) -> None:
        if item == 3:
            raise InputError("row 3: not valid UTF-8")

    # a full queue nobody drains must not hang the pool: no end marker after an error
    with pytest.raises(InputError, match="row 3"):  # the error itself, not a group
        await asyncio.wait_for(run_pool(endless(), handle, workers=1, queue_size=1), 5)
    assert closed.is_set()


async def test_an_error_of_the_feed_ends_the_pool_with_that_error() -> None:
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise InputError("in.csv: row 2: bad")

    async def handle(item: int) -> None:
        await asyncio.Event().wait()  # the workers would wait for ever

    with pytest.raises(InputError, match="row 2"):
        await asyncio.wait_for(run_pool(broken(), handle, workers=2, queue_size=2), 5)


def test_first_error_prefers_the_uploaders_own_error() -> None:
    inner = BaseExceptionGroup("inner", [RuntimeError("bug"), InputError("input")])
    group = BaseExceptionGroup("outer", [ValueError("first"), inner])
    assert isinstance(first_error(group), InputError)
    assert isinstance(first_error(BaseExceptionGroup("g", [ValueError("v")])), ValueError)
