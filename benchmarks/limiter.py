"""What the shared rate limit costs a call: ``acquire()`` timed on the in-process limiter and on
the Redis one, in one process, the window never full (so only the limiter's own work is
timed, not a wait for the budget).

    python -m benchmarks.limiter REDIS_URL [--calls N] [--client-code CODE]

Prints one JSON object: per limiter, the median, p99 and max of one ``acquire()`` in
microseconds. Several of these processes at once on one client code measure the contention of
several senders on one window (``benchmarks.shared``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from uploader.send._ratelimit import RateLimit, RateLimiter
from uploader.send._redis_limit import RedisRateLimiter

#: far more calls than the run makes: acquire never waits for the budget
NEVER_FULL = RateLimit(10_000_000, 60)


async def _timed(acquire: Any, calls: int) -> list[float]:
    took = []
    for _ in range(calls):
        start = time.perf_counter()
        await acquire()
        took.append((time.perf_counter() - start) * 1e6)
    return took


def _figures(took: list[float]) -> dict[str, float]:
    ordered = sorted(took)
    return {
        "calls": len(ordered),
        "median_us": statistics.median(ordered),
        "p99_us": ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))],
        "max_us": ordered[-1],
    }


async def measure(url: str, calls: int, client_code: str) -> dict[str, Any]:
    local = RateLimiter(NEVER_FULL, time.monotonic, asyncio.sleep)
    out: dict[str, Any] = {"local": _figures(await _timed(local.acquire, calls))}
    shared = RedisRateLimiter(url, client_code, NEVER_FULL)
    try:
        await shared.connect()
        await _timed(shared.acquire, 100)  # the script loaded, the connection warm
        out["redis"] = _figures(await _timed(shared.acquire, calls))
    finally:
        await shared.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--client-code", default="bench")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(measure(args.url, args.calls, args.client_code))))


if __name__ == "__main__":
    main()
