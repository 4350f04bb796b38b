"""The sender's default settings, dependency-free: the CLI's option defaults read them
without importing the engine (aiohttp, polars)."""

from __future__ import annotations

__all__ = ["DEFAULT_BISECT_CALLS", "DEFAULT_CONCURRENCY", "DEFAULT_TIMEOUT"]

DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT = 300.0  # a 49 MB body over a slow link takes a while
DEFAULT_BISECT_CALLS = 100
