"""Several shards' ledgers (``--shard I/N``) reported, or polled, as one run.

The ledgers must be shards of one input: the same files (size and digest; the paths may
differ from one machine to the next), the same N, each I once. A shard of 0..N-1 no ledger
was given for is *missing*: the run is incomplete, and its report exits 6 like a run that
stopped early. Counts are summed: each row is counted once, by the shard it belongs to; rows
read is the input's rows (every shard reads them all).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from uploader.errors import ConfigError
from uploader.ledger._ledger import LedgerState
from uploader.produce._shard import Shard, shard_text
from uploader.reconcile._reasons import top_reasons
from uploader.reconcile._report import RunReport, SyncCounts, ledger_shard
from uploader.reconcile._status import StatusReport

__all__ = ["check_shards", "merge_reports", "merge_statuses"]


def check_shards(ledgers: Sequence[tuple[Path, LedgerState]]) -> tuple[list[Shard], list[str]]:
    """The shard of each ledger and the shards missing (``"I/N"``); a one-line
    ``ConfigError`` unless the ledgers are distinct shards of one input."""
    shards: list[Shard] = []
    first_path, first = ledgers[0]
    inputs = _input_of(first)
    for path, state in ledgers:
        shard = ledger_shard(state)
        if shard is None:
            raise ConfigError(
                f"ledger {path}: not a shard's (its run had no $shard); several ledgers are "
                "reported together only as the shards of one input",
                settings=("shard",),
            )
        if shards and shard[1] != shards[0][1]:
            raise ConfigError(
                f"ledger {path} is shard {shard_text(shard)}, ledger {first_path} "
                f"{shard_text(shards[0])}: not shards of one split"
            )
        if shard in shards:
            other = ledgers[shards.index(shard)][0]
            raise ConfigError(f"ledgers {other} and {path} are both shard {shard_text(shard)}")
        if _input_of(state) != inputs:
            raise ConfigError(
                f"ledger {path}: its run read other files than {first_path}'s: not shards of "
                "one input"
            )
        shards.append(shard)
    count = shards[0][1]
    taken = {index for index, _ in shards}
    missing = [shard_text((index, count)) for index in range(count) if index not in taken]
    return shards, missing


def merge_reports(parts: Sequence[RunReport], missing: Sequence[str]) -> RunReport:
    """The report of one run made of ``parts``, the shards' reports (see the module doc)."""
    finished = all(part.finished for part in parts)
    reads = {part.rows_read for part in parts}
    rejects: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for part in parts:
        rejects.update(part.rejects)
        reasons.update(part.reasons)
    return RunReport(
        ledger=", ".join(part.ledger for part in parts),
        finished=finished,
        rows_read=reads.pop() if finished and len(reads) == 1 else None,
        rows_sent=sum(part.rows_sent for part in parts),
        rows_acknowledged=sum(part.rows_acknowledged for part in parts),
        rows_failed=sum(part.rows_failed for part in parts),
        rows_pending=sum(part.rows_pending for part in parts),
        rows_rejected=sum(part.rows_rejected for part in parts),
        rows_merged=sum(part.rows_merged for part in parts),
        batches_acknowledged=sum(part.batches_acknowledged for part in parts),
        batches_failed=sum(part.batches_failed for part in parts),
        batches_pending=sum(part.batches_pending for part in parts),
        status=merge_statuses([part.status for part in parts]),
        rejects=dict(sorted(rejects.items())),
        reasons=top_reasons(reason for reason, n in reasons.items() for _ in range(n)),
        rejects_file=", ".join(part.rejects_file for part in parts if part.rows_rejected),
        verification=None,  # each shard's is its own (``uploader verify`` reads one ledger)
        sync=_merge_sync(parts),
        parts=tuple(parts),
        missing_shards=tuple(missing),
    )


def merge_statuses(reports: Sequence[StatusReport], missing: Sequence[str] = ()) -> StatusReport:
    """Target's statuses of several ledgers' batches as one report (the batches keep their
    own ledger's seq: the per-ledger reports tell them apart); ``missing``: the shards no
    ledger was given for (``check_shards``)."""
    return StatusReport(
        statuses=tuple(s for report in reports for s in report.statuses),
        unpolled=tuple(seq for report in reports for seq in report.unpolled),
        errors=tuple(error for report in reports for error in report.errors),
        timed_out=any(report.timed_out for report in reports),
        calls=sum(report.calls for report in reports),
        missing_shards=tuple(missing),
    )


def _merge_sync(parts: Sequence[RunReport]) -> SyncCounts | None:
    syncs = [part.sync for part in parts if part.sync is not None]
    if not syncs:
        return None
    rows: Counter[str] = Counter()
    for sync in syncs:
        rows.update(sync.rows)
    unselected = [sync.unselected for sync in syncs]
    return SyncCounts(
        rows=dict(rows),
        unselected=None if None in unselected else sum(n for n in unselected if n is not None),
        missing_ids=sum(sync.missing_ids for sync in syncs),
    )


def _input_of(state: LedgerState) -> list[tuple[int | None, str | None]]:
    """The files a run read, as (size, digest): what must be equal for shards of one input."""
    return [(source.size, source.digest) for source in state.first_run.fingerprint.sources or ()]
