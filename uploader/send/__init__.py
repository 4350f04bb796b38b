"""Send: post batches to Target under the rate limit, retry what is transient, record outcomes.

Public names load on first use (``uploader._lazy``): ``import uploader.send`` alone does not
import aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uploader._lazy import lazy_exports

if TYPE_CHECKING:
    from uploader.send._defaults import DEFAULT_BISECT_CALLS, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT
    from uploader.send._engine import Progress, UploadConfig, upload
    from uploader.send._ratelimit import DEFAULT_RATE, RateLimit, parse_rate
    from uploader.send._response import StatusResult, SubmitResult
    from uploader.send._retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_MAX_WAIT, RetryPolicy
    from uploader.send._transport import AiohttpTransport, HttpAnswer, Transport

__all__ = [
    "DEFAULT_BISECT_CALLS",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RATE",
    "DEFAULT_RETRY_MAX_WAIT",
    "DEFAULT_TIMEOUT",
    "AiohttpTransport",
    "HttpAnswer",
    "Progress",
    "RateLimit",
    "RetryPolicy",
    "StatusResult",
    "SubmitResult",
    "Transport",
    "UploadConfig",
    "parse_rate",
    "upload",
]
if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "UploadConfig": "uploader.send._engine",
            "upload": "uploader.send._engine",
            "Progress": "uploader.send._engine",
            "DEFAULT_BISECT_CALLS": "uploader.send._defaults",
            "DEFAULT_CONCURRENCY": "uploader.send._defaults",
            "DEFAULT_TIMEOUT": "uploader.send._defaults",
            "DEFAULT_RATE": "uploader.send._ratelimit",
            "RateLimit": "uploader.send._ratelimit",
            "parse_rate": "uploader.send._ratelimit",
            "DEFAULT_MAX_RETRIES": "uploader.send._retry",
            "DEFAULT_RETRY_MAX_WAIT": "uploader.send._retry",
            "RetryPolicy": "uploader.send._retry",
            "AiohttpTransport": "uploader.send._transport",
            "HttpAnswer": "uploader.send._transport",
            "Transport": "uploader.send._transport",
            "StatusResult": "uploader.send._response",
            "SubmitResult": "uploader.send._response",
        },
    )
