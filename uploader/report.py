"""Did it land? One run's story from its ledger: sent, acknowledged, processed by Target,
rejects by reason, verification — and an exit code for cron.

Exit codes (``RunReport.exit_code``):

- 0: every batch was acknowledged and Target reports every one ``complete``;
- 1: something needs action: a batch failed, is pending (not sent: ``upload --resume``), is
  ``stuck`` at Target, or its status is ``unknown`` (Target forgot it before it was polled);
  the run did not finish (no summary); with ``--fail-on-rejects``, rows were rejected;
- 4: nothing failed, but Target has not finished yet: batches are ``incomplete`` or were not
  polled (``uploader status --ledger … --watch``, or try again later).

Rejected rows are reported but change the exit code only with ``--fail-on-rejects``;
verification results (``uploader verify``) are shown but decided by ``verify``'s own exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from uploader.errors import LedgerError
from uploader.exits import EXIT_FAILED, EXIT_NOT_YET, EXIT_OK
from uploader.ledger import LedgerState
from uploader.status import StatusReport, status_report
from uploader.verify import VerifySummary, verification_summary

__all__ = ["RunReport", "build_report", "rejects_by_reason"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReport:
    ledger: str
    finished: bool  # the last run wrote its summary
    rows_read: int | None
    rows_sent: int  # rows in batches that were sent at least once
    rows_acknowledged: int
    rows_failed: int
    rows_pending: int
    rows_rejected: int
    rows_merged: int
    batches_acknowledged: int
    batches_failed: int
    batches_pending: int
    status: StatusReport
    rejects: dict[str, int]  # reason → rows
    rejects_file: str
    verification: VerifySummary | None

    def exit_code(self, *, fail_on_rejects: bool = False) -> int:
        counts = self.status.counts
        if (
            not self.finished
            or self.batches_failed
            or self.rows_pending
            or counts["stuck"]
            or counts["unknown"]
            or (fail_on_rejects and self.rows_rejected)
        ):
            return EXIT_FAILED
        if not self.status.all_complete:
            return EXIT_NOT_YET
        return EXIT_OK

    def to_dict(self, *, fail_on_rejects: bool = False) -> dict[str, Any]:
        return {
            "ledger": self.ledger,
            "finished": self.finished,
            "rows": {
                "read": self.rows_read,
                "sent": self.rows_sent,
                "acknowledged": self.rows_acknowledged,
                "failed": self.rows_failed,
                "pending": self.rows_pending,
                "rejected": self.rows_rejected,
                "merged": self.rows_merged,
            },
            "batches": {
                "acknowledged": self.batches_acknowledged,
                "failed": self.batches_failed,
                "pending": self.batches_pending,
            },
            "target": self.status.to_dict(),
            "rejects": self.rejects,
            "rejects_file": self.rejects_file,
            "verification": self.verification.to_dict() if self.verification else None,
            "exit_code": self.exit_code(fail_on_rejects=fail_on_rejects),
        }

    def lines(self, *, fail_on_rejects: bool = False) -> list[str]:
        totals, counts = self.status.totals, self.status.counts
        read = (
            "unknown (the run did not finish)" if self.rows_read is None else f"{self.rows_read:,}"
        )
        rows = [
            ("rows read", read),
            ("sent", f"{self.rows_sent:,} rows"),
            ("acknowledged", f"{self.rows_acknowledged:,} rows in {self.batches_acknowledged:,} batches"),
            ("failed", f"{self.rows_failed:,} rows in {self.batches_failed:,} batches"),
            ("pending", f"{self.rows_pending:,} rows" + ("  (upload --resume sends them)" if self.rows_pending else "")),
            ("rejected", f"{self.rows_rejected:,} rows" + (f"  → {self.rejects_file}" if self.rows_rejected else "")),
            *(
                (f"  {count:,}", reason)
                for reason, count in sorted(self.rejects.items(), key=lambda item: (-item[1], item[0]))
            ),
            ("processed", f"{totals['consumed_count']:,} of {totals['batch_size']:,} rows (batches Target reported on)"),
            ("  successfulUpdates", f"{totals['successful_updates']:,}"),
            ("  profilesNotFound", f"{totals['profiles_not_found']:,}"),
            ("  failedUpdates", f"{totals['failed_updates']:,}"),
            ("batch statuses", ", ".join(f"{counts[k]:,} {k}" for k in counts)),
            *(
                (f"  batch {s.seq}", f"{s.status} ({s.batch_id}){': ' + s.message if s.message else ''}")
                for s in self.status.statuses
                if s.status in ("stuck", "unknown")
            ),
            ("ledger", self.ledger),
            ("verdict", _verdict(self.exit_code(fail_on_rejects=fail_on_rejects))),
        ]  # fmt: skip
        width = max(len(label) for label, _ in rows)
        out = [f"{label:<{width}}  {value}" for label, value in rows]
        out += [f"warning: {error}" for error in self.status.errors]
        if self.verification is not None:
            out += self.verification.lines()
        return out


def _verdict(code: int) -> str:
    if code == EXIT_OK:
        return "landed: every batch acknowledged and complete at Target"
    if code == EXIT_NOT_YET:
        return "not yet: Target is still processing (or was not asked: `uploader status --watch`)"
    return "NOT LANDED: see above (`uploader report --failed-rows OUT.csv` to re-send)"


def rejects_by_reason(path: Path) -> dict[str, int]:
    """Rows per reason in a rejects file (empty when there is none)."""
    if not path.exists():
        return {}
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise LedgerError(f"{path}: unreadable ({exc})") from exc
    if frame.height == 0 or "reason" not in frame.columns:
        return {}
    return dict(frame.group_by("reason").len().sort("reason").iter_rows())


def build_report(state: LedgerState, ledger: Path) -> RunReport:
    """The report of the run recorded in ``state`` (read from ``ledger``)."""
    batches = list(state.batches.values())
    by_outcome: dict[str, list[dict[str, Any]]] = {"acknowledged": [], "failed": [], "pending": []}
    for record in batches:
        by_outcome.setdefault(str(record.get("outcome")), []).append(record)
    summary = state.summaries[-1] if state.summaries else None
    # Every run that ends (even stopped) writes a summary; a killed one leaves none.
    finished = summary is not None and len(state.summaries) >= len(state.runs)
    rejects_path = ledger.with_name("rejects.csv")
    rejects = rejects_by_reason(rejects_path)
    pending_rows = sum(int(r["rows"]) for r in by_outcome["pending"])
    if summary is not None and finished:
        pending_rows = max(pending_rows, int(summary.get("rows_pending") or 0))
    return RunReport(
        ledger=str(ledger),
        finished=finished,
        rows_read=int(summary["rows_read"]) if summary and finished else None,
        rows_sent=sum(int(r["rows"]) for r in batches if int(r.get("attempts") or 0) > 0 or r.get("outcome") == "acknowledged"),
        rows_acknowledged=sum(int(r["rows"]) for r in by_outcome["acknowledged"]),
        rows_failed=sum(int(r["rows"]) for r in by_outcome["failed"]),
        rows_pending=pending_rows,
        rows_rejected=sum(rejects.values()),
        rows_merged=int(summary.get("rows_merged") or 0) if summary else 0,
        batches_acknowledged=len(by_outcome["acknowledged"]),
        batches_failed=len(by_outcome["failed"]),
        batches_pending=len(by_outcome["pending"]),
        status=status_report(state),
        rejects=rejects,
        rejects_file=str(rejects_path),
        verification=verification_summary(state),
    )  # fmt: skip
