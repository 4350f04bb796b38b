"""Did it land? One run's story from its ledger: sent, acknowledged, processed by Target,
rejects by reason, verification — and an exit code for cron.

The ledger is judged by its final state: the last run (did it write its summary?) and every
batch's latest outcome and status — a crash followed by a successful ``--resume`` landed.
Verdicts and exit codes (``RunReport.exit_code``, the product's table in ``uploader.exits``):

- 0 *landed*: every batch acknowledged and ``complete`` at Target; or *landed, sample
  verified*: some statuses are gone (Target keeps ~10 for ~24 h) but nothing failed and the
  latest ``uploader verify`` read every sampled profile back as sent;
- 1 *not landed*: a batch failed or is ``stuck``, Target lists rows as failed (row level), or
  (``--fail-on-rejects``) rows were rejected;
- 4 *not yet*: batches are ``incomplete`` or were not polled (``uploader status --watch``);
- 5 *unconfirmed*: nothing failed, but Target no longer has some statuses and no read-back
  confirmed them (``uploader verify``);
- 6 *stopped early*: rows are pending or the last run did not finish (``upload --resume``).

Rejected rows are reported but change the exit code only with ``--fail-on-rejects``;
verification results (``uploader verify``) are shown but decided by ``verify``'s own exit code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uploader._plural import plural
from uploader.errors import spell
from uploader.exits import (
    EXIT_FAILED,
    EXIT_NOT_YET,
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_UNCONFIRMED,
)
from uploader.ledger._ledger import LedgerState, read_ledger
from uploader.ledger._records import BatchRecord
from uploader.ledger._summary import missing_text, selected_text
from uploader.produce._rejects import read_rejects
from uploader.produce._shard import Shard, parse_shard, shard_text
from uploader.reconcile._reasons import reason_lines, top_reasons
from uploader.reconcile._status import (
    StatusReport,
    missing_shards_text,
    status_notes,
    status_report,
)
from uploader.reconcile._verify import VerifySummary, verification_summary

__all__ = ["RunReport", "SyncCounts", "build_report", "ledger_shard", "rejects_by_reason"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncCounts:
    """A sync's selection, as its ledger keeps it: the run record's rows by reason and
    missing ids (known before sending), the summary's rows left unsent."""

    rows: Mapping[str, int]  # tonight's rows by reason (new, changed, refresh, unchanged)
    unselected: int | None  # rows not sent, unchanged since the state; None: unknown
    missing_ids: int  # ids in the state that the input no longer has (never sent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": dict(self.rows),
            "unchanged_not_sent": self.unselected,
            "missing_ids": self.missing_ids,
        }

    def lines(self) -> list[tuple[str, str]]:
        unselected = (
            "unknown (the run did not finish)"
            if self.unselected is None
            else plural(self.unselected, "row")
        )
        return [
            ("selected", selected_text(self.rows)),
            ("unchanged, not sent", unselected),
            ("missing ids", missing_text(self.missing_ids)),
        ]


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
    reasons: dict[str, int]  # why batches failed or are pending: message → batches (top few)
    rejects_file: str
    verification: VerifySummary | None
    sync: SyncCounts | None = None  # a sync's ledger: its selection; None: an upload's
    #: the shard the run took ("I/N", ``--shard``); None: unsharded (or several merged)
    shard: str | None = None
    #: a shard's rows of the other shards (None: unsharded, or unknown: not finished)
    rows_other_shards: int | None = None
    #: several shards' ledgers reported as one run (``uploader.reconcile._shards``): each
    #: one's report, and the shards of the input no ledger was given for ("2/3")
    parts: tuple[RunReport, ...] = ()
    missing_shards: tuple[str, ...] = ()

    @property
    def sample_verified(self) -> bool:
        """The latest ``uploader verify`` finished and read every sampled profile back as
        sent (or still on its way), at least one of them matching."""
        return self.verification is not None and self.verification.confirms

    def exit_code(self, *, fail_on_rejects: bool = False) -> int:
        if self.parts:  # one run of several shards: the worst of theirs, a missing one stopped
            codes = {part.exit_code(fail_on_rejects=fail_on_rejects) for part in self.parts}
            if self.missing_shards:
                codes.add(EXIT_STOPPED)
            return next(code for code in _WORST_FIRST if code in codes)
        target = self.status.exit_code
        if self.batches_failed or target == EXIT_FAILED or (fail_on_rejects and self.rows_rejected):
            return EXIT_FAILED
        if self.rows_pending or not self.finished:
            return EXIT_STOPPED
        if target == EXIT_UNCONFIRMED and self.sample_verified:
            return EXIT_OK  # landed, sample verified
        return target

    def verdict(self, *, fail_on_rejects: bool = False) -> str:
        code = self.exit_code(fail_on_rejects=fail_on_rejects)
        gone = self.status.counts["unknown"]
        if code == EXIT_OK and gone:
            return (
                f"landed, sample verified: Target no longer has {gone:,} batch statuses; "
                "`uploader verify` read the sampled profiles back as sent"
            )
        if code == EXIT_OK:
            return "landed: every batch acknowledged and complete at Target"
        if code == EXIT_NOT_YET:
            return spell(
                "not yet: Target is still processing (or was not asked: "
                "`${poll_statuses(…, watch=True)}`)",
                "poll_statuses(…, watch=True)",
            )
        if code == EXIT_UNCONFIRMED:
            return (
                f"unconfirmed: nothing failed, but Target no longer has {gone:,} batch statuses; "
                "`uploader verify` reads a sample back"
            )
        if code == EXIT_STOPPED and self.missing_shards:
            return missing_shards_text(self.missing_shards)
        if code == EXIT_STOPPED:
            why = "rows are pending" if self.finished else "the last run did not finish"
            return f"stopped early: {why} " + spell(
                "(`${upload_files(…, resume=True)}` continues)", "upload_files(…, resume=True)"
            )
        return (
            f"NOT LANDED: {self._not_landed()} (`uploader report --failed-rows OUT.csv` to re-send)"
        )

    def _not_landed(self) -> str:
        """What did not land, for the verdict (a page or a log line shows it alone)."""
        what = []
        if self.batches_failed:
            failed = plural(self.batches_failed, "failed batch", "failed batches")
            what.append(f"{plural(self.rows_failed, 'row')} in {failed}")
        if self.status.rows_failed:
            what.append(f"{plural(self.status.rows_failed, 'row')} failed at Target")
        stuck = self.status.counts["stuck"]
        if stuck:
            what.append(f"{plural(stuck, 'batch', 'batches')} stuck at Target")
        if self.status.exit_code == EXIT_FAILED and not (self.status.rows_failed or stuck):
            what.append("Target reports failed updates (batchStatus)")
        if not what and self.rows_rejected:
            what.append(f"{plural(self.rows_rejected, 'row')} rejected")
        return ", ".join(what) or "see the report"

    def to_dict(self, *, fail_on_rejects: bool = False) -> dict[str, Any]:
        data = self._to_dict(fail_on_rejects)
        if self.shard is not None:
            data["shard"] = self.shard
            data["rows"]["other_shards"] = self.rows_other_shards
        if self.parts:
            data["missing_shards"] = list(self.missing_shards)
            data["ledgers"] = [part.to_dict(fail_on_rejects=fail_on_rejects) for part in self.parts]
        return data

    def _to_dict(self, fail_on_rejects: bool) -> dict[str, Any]:
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
            **({} if self.sync is None else {"sync": self.sync.to_dict()}),
            "batches": {
                "acknowledged": self.batches_acknowledged,
                "failed": self.batches_failed,
                "pending": self.batches_pending,
            },
            "rows_failed_row_level": self.status.rows_failed,
            "verdict": self.verdict(fail_on_rejects=fail_on_rejects),
            "target": self.status.to_dict(),
            "rejects": self.rejects,
            "reasons": self.reasons,
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
            *self._shard_lines(),
            *(self.sync.lines() if self.sync is not None else []),
            ("sent", plural(self.rows_sent, "row")),
            ("acknowledged", f"{plural(self.rows_acknowledged, 'row')} in {plural(self.batches_acknowledged, 'batch', 'batches')}"),
            ("failed", f"{plural(self.rows_failed, 'row')} in {plural(self.batches_failed, 'batch', 'batches')}"),
            ("pending", plural(self.rows_pending, "row") + (spell("  (upload ${resume=True} sends them)", "resume=True") if self.rows_pending else "")),
            *reason_lines(self.reasons),
            ("rejected", plural(self.rows_rejected, "row") + (f"  → {self.rejects_file}" if self.rows_rejected else "")),
            *(
                (f"  {count:,}", reason)
                for reason, count in sorted(self.rejects.items(), key=lambda item: (-item[1], item[0]))
            ),
            ("processed", f"{totals['consumed_count']:,} of {totals['batch_size']:,} rows (batches Target reported on)"),
            ("  successfulUpdates", f"{totals['successful_updates']:,}"),
            ("  profilesNotFound", f"{totals['profiles_not_found']:,}"),
            ("  failedUpdates", f"{totals['failed_updates']:,}"),
            ("batch statuses", ", ".join(f"{counts[k]:,} {k}" for k in counts)),
            *status_notes(self.status),
            *(
                [(f"  {part.shard}", part.ledger) for part in self.parts]
                if self.parts
                else [("ledger", self.ledger)]
            ),
            ("verdict", self.verdict(fail_on_rejects=fail_on_rejects)),
        ]  # fmt: skip
        width = max(len(label) for label, _ in rows)
        out = [f"{label:<{width}}  {value}" for label, value in rows]
        out += [f"warning: {error}" for error in self.status.errors]
        if self.verification is not None:
            out += self.verification.lines()
        return out

    def _shard_lines(self) -> list[tuple[str, str]]:
        if self.parts:
            given = len(self.parts)
            missing = f"; missing {', '.join(self.missing_shards)}" if self.missing_shards else ""
            return [("shards", f"{given} of {given + len(self.missing_shards)}{missing}")]
        if self.shard is None:
            return []
        other = "unknown" if self.rows_other_shards is None else f"{self.rows_other_shards:,}"
        return [("other shards", f"{other} rows (this ledger is shard {self.shard})")]


#: exit codes from the worst: one shard's decides for the run of several
_WORST_FIRST = (EXIT_FAILED, EXIT_STOPPED, EXIT_NOT_YET, EXIT_UNCONFIRMED, EXIT_OK)


def rejects_by_reason(path: Path) -> dict[str, int]:
    """Rows per reason in a rejects file (empty when there is none)."""
    frame = read_rejects(path)
    if frame.height == 0:
        return {}
    return dict(frame.group_by("reason").len().sort("reason").iter_rows())


def build_report(ledger: str | Path, state: LedgerState | None = None) -> RunReport:
    """The report of the run recorded in ``ledger`` (``state``: that ledger already read)."""
    ledger = Path(ledger)
    if state is None:
        state = read_ledger(ledger)
    batches = list(state.batches.values())
    by_outcome: dict[str, list[BatchRecord]] = {"acknowledged": [], "failed": [], "pending": []}
    for record in batches:
        by_outcome.setdefault(record.outcome, []).append(record)
    summary = state.summaries[-1] if state.summaries else None
    # Every run that ends (even stopped) writes a summary; a killed one leaves none. Only the
    # last run counts: a crash followed by a finished --resume is a finished ledger.
    finished = state.last_run_finished
    rejects_path = ledger.with_name("rejects.csv")
    rejects = rejects_by_reason(rejects_path)
    selection = state.last_run.sync if state.runs else None  # a --resume keeps the first's
    shard = ledger_shard(state)
    pending_rows = sum(r.rows for r in by_outcome["pending"])
    if summary is not None and finished:
        pending_rows = max(pending_rows, summary.rows_pending)
    return RunReport(
        ledger=str(ledger),
        finished=finished,
        rows_read=summary.rows_read if summary and finished else None,
        rows_sent=sum(r.rows for r in batches if r.sent),
        rows_acknowledged=sum(r.rows for r in by_outcome["acknowledged"]),
        rows_failed=sum(r.rows for r in by_outcome["failed"]),
        rows_pending=pending_rows,
        rows_rejected=sum(rejects.values()),
        rows_merged=summary.rows_merged if summary else 0,
        batches_acknowledged=len(by_outcome["acknowledged"]),
        batches_failed=len(by_outcome["failed"]),
        batches_pending=len(by_outcome["pending"]),
        status=status_report(state),
        rejects=rejects,
        reasons=top_reasons(r.message for r in by_outcome["failed"] + by_outcome["pending"]),
        rejects_file=str(rejects_path),
        verification=verification_summary(state),
        sync=None if selection is None else SyncCounts(
            rows=selection.rows,
            unselected=summary.rows_unselected if summary and finished else None,
            missing_ids=selection.missing,
        ),
        shard=None if shard is None else shard_text(shard),
        rows_other_shards=None if shard is None or not (summary and finished) else summary.rows_other_shards,
    )  # fmt: skip


def ledger_shard(state: LedgerState) -> Shard | None:
    """The shard the run in ``state`` took (``--shard``); None: unsharded."""
    settings = state.first_run.fingerprint.settings if state.runs else None
    shard = (settings or {}).get("shard")
    return None if shard is None else parse_shard(shard)
