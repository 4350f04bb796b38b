"""Reconcile: ask Target what landed (batchStatus), verify a sample, report, write failed rows.

Public names load on first use (``uploader._lazy``): ``import uploader.reconcile`` alone does
not import polars or aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uploader._lazy import lazy_exports

if TYPE_CHECKING:
    from uploader.reconcile._defaults import (
        DEFAULT_POLL_CONCURRENCY,
        DEFAULT_SAMPLE,
        DEFAULT_STATUS_RATE,
        DEFAULT_VERIFY_CONCURRENCY,
        DEFAULT_VERIFY_RATE,
        DEFAULT_WATCH_TIMEOUT,
        DEFAULT_WINDOW,
    )
    from uploader.reconcile._failed_rows import FailedRows, write_failed_rows
    from uploader.reconcile._report import RunReport, build_report
    from uploader.reconcile._status import (
        Acknowledged,
        StatusReport,
        poll_statuses,
        status_report,
    )
    from uploader.reconcile._verify import ProfileCheck, VerifySummary, verify

__all__ = [
    "DEFAULT_POLL_CONCURRENCY",
    "DEFAULT_SAMPLE",
    "DEFAULT_STATUS_RATE",
    "DEFAULT_VERIFY_CONCURRENCY",
    "DEFAULT_VERIFY_RATE",
    "DEFAULT_WATCH_TIMEOUT",
    "DEFAULT_WINDOW",
    "Acknowledged",
    "FailedRows",
    "ProfileCheck",
    "RunReport",
    "StatusReport",
    "VerifySummary",
    "build_report",
    "poll_statuses",
    "status_report",
    "verify",
    "write_failed_rows",
]
if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "Acknowledged": "uploader.reconcile._status",
            "StatusReport": "uploader.reconcile._status",
            "poll_statuses": "uploader.reconcile._status",
            "status_report": "uploader.reconcile._status",
            "ProfileCheck": "uploader.reconcile._verify",
            "VerifySummary": "uploader.reconcile._verify",
            "verify": "uploader.reconcile._verify",
            "RunReport": "uploader.reconcile._report",
            "build_report": "uploader.reconcile._report",
            "FailedRows": "uploader.reconcile._failed_rows",
            "write_failed_rows": "uploader.reconcile._failed_rows",
            "DEFAULT_POLL_CONCURRENCY": "uploader.reconcile._defaults",
            "DEFAULT_SAMPLE": "uploader.reconcile._defaults",
            "DEFAULT_STATUS_RATE": "uploader.reconcile._defaults",
            "DEFAULT_VERIFY_CONCURRENCY": "uploader.reconcile._defaults",
            "DEFAULT_VERIFY_RATE": "uploader.reconcile._defaults",
            "DEFAULT_WATCH_TIMEOUT": "uploader.reconcile._defaults",
            "DEFAULT_WINDOW": "uploader.reconcile._defaults",
        },
    )
