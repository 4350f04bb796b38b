"""Default settings of status polling and verification, importable without aiohttp or
polars (the CLI's option defaults read them)."""

from __future__ import annotations

from uploader.send._ratelimit import RateLimit

__all__ = [
    "DEFAULT_CHECK_TIMEOUT",
    "DEFAULT_POLL_CONCURRENCY",
    "DEFAULT_SAMPLE",
    "DEFAULT_STATUS_RATE",
    "DEFAULT_VERIFY_CONCURRENCY",
    "DEFAULT_VERIFY_RATE",
    "DEFAULT_WATCH_TIMEOUT",
    "DEFAULT_WINDOW",
]

DEFAULT_STATUS_RATE = RateLimit(10, 1.0)  # batchStatus is not the throttled bulk endpoint
DEFAULT_POLL_CONCURRENCY = 4
DEFAULT_WATCH_TIMEOUT = 3600.0

DEFAULT_SAMPLE = 100
DEFAULT_WINDOW = 86_400.0  # Target: updates appear within an hour, up to 24 h
DEFAULT_VERIFY_RATE = RateLimit(10, 1.0)
DEFAULT_VERIFY_CONCURRENCY = 4

DEFAULT_CHECK_TIMEOUT = 30.0  # the pre-flight (`check`): two profile fetches
