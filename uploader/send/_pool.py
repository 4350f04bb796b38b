"""One worker pool: a feeder fills a bounded queue, N workers drain it, all in a TaskGroup.

The queue is bounded, so the feeder runs at most ``queue_size`` items ahead of the workers
(backpressure: the engine keeps one batch body waiting, not the whole input). The feeder
puts one end marker per worker only after a clean end of its items: when a worker fails,
the group cancels the feeder, and waiting for room in a queue nobody drains would hang. The
error that ended the group is raised on its own (``first_error``), not as an exception group.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TypeVar

from uploader.errors import UploaderError

__all__ = ["first_error", "run_pool"]

T = TypeVar("T")


class _End:
    """The marker that tells a worker the items are over (``None`` may be an item)."""


_END = _End()


async def run_pool(
    items: Iterable[T] | AsyncIterable[T],
    handle: Callable[[T], Awaitable[None]],
    *,
    workers: int,
    queue_size: int,
) -> None:
    """``handle`` every item of ``items``, ``workers`` at a time, at most ``queue_size`` items
    waiting. An async generator as ``items`` is closed when the pool ends early (its
    ``finally`` runs then, not whenever the garbage collector gets to it)."""
    queue: asyncio.Queue[T | _End] = asyncio.Queue(maxsize=queue_size)

    async def feed() -> None:
        if isinstance(items, AsyncIterable):
            iterator = aiter(items)
            try:
                async for item in iterator:
                    await queue.put(item)
            finally:
                close = getattr(iterator, "aclose", None)
                if close is not None:
                    await close()
        else:
            for item in items:
                await queue.put(item)
        for _ in range(workers):  # only after a clean end (see the module doc)
            await queue.put(_END)

    async def work() -> None:
        while not isinstance(item := await queue.get(), _End):
            await handle(item)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(feed())
            for _ in range(workers):
                group.create_task(work())
    except BaseExceptionGroup as failure:
        raise first_error(failure) from None


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that ended a TaskGroup, out of its group: an ``UploaderError`` (the CLI
    turns it into one line and an exit code) if there is one, else the first."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        error = stack.pop(0)
        if isinstance(error, BaseExceptionGroup):
            stack.extend(error.exceptions)
        else:
            leaves.append(error)
    return next((e for e in leaves if isinstance(e, UploaderError)), leaves[0] if leaves else group)
