"""What a run did, in numbers: the accounting invariant, exit code, table and JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from uploader.errors import spell
from uploader.exits import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_UNCONFIRMED,
)
from uploader.reconcile._reasons import reason_lines

if TYPE_CHECKING:
    from collections.abc import Mapping

    from uploader.reconcile._status import StatusReport
    from uploader.reconcile._verify import VerifySummary

__all__ = ["RunSummary", "missing_text", "percentile", "selected_text"]


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))  # 1-based
    return ordered[rank - 1]


@dataclass(slots=True)
class RunSummary:
    """Counts of one run. Invariant: rows read = acknowledged + rejected + merged + in failed
    batches + pending (what was read but not acknowledged or failed, resumable) + unselected
    (left out by a sync's selection: unchanged since the state) + other shards (rows of the
    shards other runs take, when sharded)."""

    rows_read: int = 0
    rows_acknowledged: int = 0
    rows_rejected: int = 0
    rows_merged: int = 0
    rows_failed: int = 0
    rows_pending: int = 0
    rows_unselected: int = 0  # a sync's rows unchanged since its state: not sent
    rows_other_shards: int = 0  # rows of the other shards (``--shard``): another run's
    #: the shard this run took ("I/N"); None: not sharded (its summary shows neither field)
    shard: str | None = None
    #: the run is a sync's: its summary shows ``rows_unselected`` even when 0 (an upload's
    #: summary shows neither field, so its output stays byte for byte as it was)
    sync: bool = False
    selection: dict[str, int] = field(default_factory=dict)  # a sync's rows by reason
    missing_ids: int = 0  # a sync's ids in its state but not in tonight's input (never sent)
    #: a sync's state after the run: the generation committed; None: not committed (the run
    #: stopped early, or the summary was written before the commit)
    state_generation: int | None = None
    #: ``--daily-rows``: the budget (rows per rolling 24 h), the rows this run counted in it,
    #: and what it had left when the run ended (None: unknown); shown only with a budget
    daily_rows: int | None = None
    daily_rows_used: int = 0
    daily_rows_left: int | None = None
    batches_acknowledged: int = 0
    batches_skipped: int = 0  # acknowledged by an earlier run of this ledger (--resume)
    rows_skipped: int = 0  # their rows (included in rows_acknowledged)
    batches_failed: int = 0
    batches_pending: int = 0
    batches_split: int = 0  # refused whole and split to isolate the rows Target refuses
    rows_refused: int = (
        0  # rows Target refused on their own (in rows_rejected and the rejects file)
    )
    calls: int = 0
    retries: int = 0
    throttled: int = 0
    token_refreshes: int = 0
    seconds: float = 0.0
    latency_p50: float | None = None
    latency_p95: float | None = None
    input_complete: bool = True  # False when a stop came before the whole input was read
    #: None | "auth" | "interrupted" | "endpoint", "rate_store", "record", "budget" (exit 6)
    stop_reason: str | None = None
    message: str = ""
    ledger: str = ""
    rejects: str = ""
    warnings: list[str] = field(default_factory=list)
    #: set when the rejected rows exceed ``--max-rejects``: why the run exits 1
    rejects_over_limit: str = ""
    #: why batches failed or are pending: message → batches (the top few, see ``reasons``)
    reasons: dict[str, int] = field(default_factory=dict)
    #: Target's batch statuses, when the run waited for them (``wait=True``, ``--wait``)
    target: StatusReport | None = None
    #: the sample read back, when the run verified one (``verify=N``)
    verification: VerifySummary | None = None

    @property
    def rows_per_second(self) -> float:
        """Rows this run delivered per second (batches done by an earlier run excluded)."""
        sent = self.rows_acknowledged - self.rows_skipped
        return sent / self.seconds if self.seconds > 0 else 0.0

    @property
    def rows_of_run(self) -> int:
        """The rows read that are this run's to send: its shard's (every row unsharded)."""
        return self.rows_read - self.rows_other_shards

    @property
    def invariant_holds(self) -> bool:
        accounted = (
            self.rows_acknowledged
            + self.rows_rejected
            + self.rows_merged
            + self.rows_failed
            + self.rows_pending
            + self.rows_unselected
            + self.rows_other_shards
        )
        return accounted == self.rows_read and self.rows_pending >= 0

    @property
    def _shows_unselected(self) -> bool:
        return self.sync or self.rows_unselected != 0

    @property
    def _shows_shard(self) -> bool:
        return self.shard is not None or self.rows_other_shards != 0

    @property
    def exit_code(self) -> int:
        """The upload's code; once it is 0, what Target's statuses and the sample read back
        say (a sample read back as sent confirms statuses Target forgot)."""
        code = self.upload_exit_code
        if code != EXIT_OK:
            return code
        if self.verification is not None and self.verification.exit_code:
            return EXIT_FAILED
        if self.target is None:
            return code
        target = self.target.exit_code
        if target == EXIT_UNCONFIRMED and self.verification and self.verification.confirms:
            return EXIT_OK
        return target

    @property
    def upload_exit_code(self) -> int:
        """What the sending alone says."""
        if self.stop_reason == "auth":
            return EXIT_AUTH
        if self.stop_reason == "interrupted":
            return EXIT_INTERRUPTED
        if self.batches_failed or self.rows_failed:
            return EXIT_FAILED
        if self.rows_of_run and self.rows_rejected == self.rows_of_run:
            return EXIT_FAILED  # nothing was worth sending: every row was rejected
        if self.rejects_over_limit:
            return EXIT_FAILED
        if self.stop_reason is not None or self.rows_pending:
            return EXIT_STOPPED  # stopped early for another reason: --resume continues
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; ``target`` and ``verification`` only when the run has them (the
        ledger's summary record is written before either)."""
        data = asdict(replace(self, target=None, verification=None))
        del data["target"], data["verification"]
        if not self._shows_unselected:
            del data["rows_unselected"], data["sync"]
        if not self._shows_shard:
            del data["rows_other_shards"], data["shard"]
        if not self.sync:
            del data["selection"], data["missing_ids"], data["state_generation"]
        if self.daily_rows is None:
            del data["daily_rows"], data["daily_rows_used"], data["daily_rows_left"]
        data["rows_per_second"] = round(self.rows_per_second, 1)
        data["invariant_holds"] = self.invariant_holds
        data["exit_code"] = self.exit_code
        if self.target is not None:
            data["target"] = self.target.to_dict()
        if self.verification is not None:
            data["verification"] = self.verification.to_dict()
        return data

    def lines(self) -> list[str]:
        """The human summary (plain text: it goes to cron logs as often as to terminals);
        the warnings are not in it: they go to stderr."""
        rows = [
            ("rows read", f"{self.rows_read:,}"),
            ("  acknowledged", f"{self.rows_acknowledged:,}"),
            (
                "  rejected",
                f"{self.rows_rejected:,}"
                + (f" ({self.rows_refused:,} refused by Target)" if self.rows_refused else "")
                + (f"  → {self.rejects}" if self.rows_rejected else ""),
            ),
            ("  merged duplicates", f"{self.rows_merged:,}"),
            *(
                [("  unchanged, not sent", f"{self.rows_unselected:,}")]
                if self._shows_unselected
                else []
            ),
            *(
                [(f"  other shards (this is {self.shard})", f"{self.rows_other_shards:,}")]
                if self._shows_shard
                else []
            ),
            ("  in failed batches", f"{self.rows_failed:,}"),
            (
                "  pending",
                f"{self.rows_pending:,}"
                + (
                    spell("  (${resume=True} sends them)", "resume=True")
                    if self.rows_pending
                    else ""
                ),
            ),
            (
                "batches",
                f"{self.batches_acknowledged:,} acknowledged, {self.batches_failed:,} failed, "
                f"{self.batches_pending:,} pending, {self.batches_skipped:,} done earlier"
                + (f", {self.batches_split:,} split" if self.batches_split else ""),
            ),
            *reason_lines(self.reasons),
            ("calls", f"{self.calls:,} ({self.retries:,} retries, {self.throttled:,} throttled)"),
            ("wall time", f"{self.seconds:,.1f} s ({self.rows_per_second:,.0f} rows/s)"),
            ("latency", f"p50 {_ms(self.latency_p50)}, p95 {_ms(self.latency_p95)}"),
            ("ledger", self.ledger),
            *self._budget_lines(),
            *self._sync_lines(),
        ]
        width = max(len(label) for label, _ in rows)
        out = [f"{label:<{width}}  {value}" for label, value in rows]
        if not self.input_complete:
            out.append("note: the run stopped before reading the whole input")
        if not self.invariant_holds:
            out.append("WARNING: the row accounting does not add up; please report this")
        out += [line for line in (self.rejects_over_limit, self.message) if line]
        return out

    def _budget_lines(self) -> list[tuple[str, str]]:
        if self.daily_rows is None:
            return []
        left = "" if self.daily_rows_left is None else f", {self.daily_rows_left:,} left"
        return [
            (
                "daily budget",
                f"{self.daily_rows:,} rows per 24 h: {self.daily_rows_used:,} counted by this "
                f"run{left}",
            )
        ]

    def _sync_lines(self) -> list[tuple[str, str]]:
        if not self.sync:
            return []
        state = (
            f"committed (generation {self.state_generation})"
            if self.state_generation is not None
            else "not committed: the same rows go again on the next run"
        )
        return [
            ("selected", selected_text(self.selection)),
            ("missing ids", missing_text(self.missing_ids)),
            ("state", state),
        ]


def selected_text(rows: Mapping[str, int]) -> str:
    """A sync's rows sent by reason (``rows``: by reason), as its summary and report say."""
    return ", ".join(
        f"{rows.get(reason, 0):,} {reason}" for reason in ("new", "changed", "refresh")
    )


def missing_text(ids: int) -> str:
    """A sync's missing ids, as its summary and report say."""
    return f"{ids:,} (in the state, not in the input; never sent)"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"
