"""Ledger: the durable JSON-lines record of a run, its lock, run directories and the run summary.

Public names load on first use (``uploader._lazy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uploader._lazy import lazy_exports

if TYPE_CHECKING:
    from uploader.ledger._ledger import Ledger, LedgerState, read_ledger
    from uploader.ledger._records import (
        LEDGER_SCHEMA,
        BatchRecord,
        InputFingerprint,
        LedgerRecord,
        RunRecord,
        SourceRecord,
        StatusRecord,
        SummaryRecord,
        VerifyEnd,
        VerifyProfile,
        VerifyRecord,
        VerifyStart,
        parse_record,
    )
    from uploader.ledger._runs import (
        LEDGER_NAME,
        RUNS_DIR,
        Pruned,
        latest_ledger,
        new_run_ledger,
        prune_runs,
    )
    from uploader.ledger._summary import RunSummary

__all__ = [
    "LEDGER_NAME",
    "LEDGER_SCHEMA",
    "RUNS_DIR",
    "BatchRecord",
    "InputFingerprint",
    "Ledger",
    "LedgerRecord",
    "LedgerState",
    "Pruned",
    "RunRecord",
    "RunSummary",
    "SourceRecord",
    "StatusRecord",
    "SummaryRecord",
    "VerifyEnd",
    "VerifyProfile",
    "VerifyRecord",
    "VerifyStart",
    "latest_ledger",
    "new_run_ledger",
    "parse_record",
    "prune_runs",
    "read_ledger",
]
if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "LEDGER_SCHEMA": "uploader.ledger._records",
            "BatchRecord": "uploader.ledger._records",
            "InputFingerprint": "uploader.ledger._records",
            "LedgerRecord": "uploader.ledger._records",
            "RunRecord": "uploader.ledger._records",
            "SourceRecord": "uploader.ledger._records",
            "StatusRecord": "uploader.ledger._records",
            "SummaryRecord": "uploader.ledger._records",
            "VerifyEnd": "uploader.ledger._records",
            "VerifyProfile": "uploader.ledger._records",
            "VerifyRecord": "uploader.ledger._records",
            "VerifyStart": "uploader.ledger._records",
            "parse_record": "uploader.ledger._records",
            "Ledger": "uploader.ledger._ledger",
            "LedgerState": "uploader.ledger._ledger",
            "read_ledger": "uploader.ledger._ledger",
            "RunSummary": "uploader.ledger._summary",
            "LEDGER_NAME": "uploader.ledger._runs",
            "RUNS_DIR": "uploader.ledger._runs",
            "Pruned": "uploader.ledger._runs",
            "latest_ledger": "uploader.ledger._runs",
            "new_run_ledger": "uploader.ledger._runs",
            "prune_runs": "uploader.ledger._runs",
        },
    )
