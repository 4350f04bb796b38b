"""``sync``: one night of a nightly sync — select, send, wait, commit.

    lock the state → plan (pass 1: every row's key and fingerprint, selected against the
    state) → send the selected rows as ``upload(wait=True)`` does, recording each batch's
    keys → once Target's statuses are in, commit tonight's values for the rows that landed

A run that stops early (refused token, interrupt, dead endpoint) commits nothing: the state
stays as it was, so the rerun (or ``resume``, which selects again at the same time, stored in
the run record) sends the same rows. Nothing is ever deleted at Target: ids missing from
tonight's input are counted, listed on request, and only forgotten by the state.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from uploader.sync._defaults import DEFAULT_REFRESH_AFTER_DAYS

if TYPE_CHECKING:
    from uploader.auth._static import TokenProvider
    from uploader.ledger._records import InputFingerprint, SyncRun
    from uploader.ledger._summary import RunSummary
    from uploader.produce._model import Batch, ProduceStats
    from uploader.produce._producer import DryRunPlan, InputSpec, Producer
    from uploader.produce._rejects import RejectsWriter
    from uploader.send._engine import Progress, UploadConfig
    from uploader.sync._commit import BatchKeys
    from uploader.sync._state import StateStore

__all__ = ["WORK_DIR", "sync", "sync_dry_run"]

WORK_DIR = "work"  # beside the manifest: tonight's plan and batch keys, rebuilt by every run


async def sync(
    spec: InputSpec,
    config: UploadConfig,
    state: str | Path,
    tokens: TokenProvider | None = None,
    *,
    refresh_after_days: int = DEFAULT_REFRESH_AFTER_DAYS,
    full: bool = False,
    forget_missing: bool = False,
    missing: str | Path | None = None,
    wait_timeout: float = 3600.0,
    progress: Progress | None = None,
    handle_signals: bool = False,
    clock: Callable[[], float] = time.time,
) -> RunSummary:
    """Send tonight's new, changed and due rows of ``spec``'s files, wait for Target's
    statuses, and commit the state in ``state`` for the rows that landed (see the module doc).

    ``summary.selection`` counts tonight's rows by reason, ``summary.rows_unselected`` the
    unchanged ones not sent, ``summary.missing_ids`` the state's ids not in the input (listed
    in ``missing``, a CSV, when given; dropped from the state with ``forget_missing``), and
    ``summary.state_generation`` the state committed (None: not committed). ``clock``: unix
    seconds, the selection time (injectable for tests)."""
    from uploader._api import upload, write_summary_file
    from uploader.ledger._ledger import read_ledger
    from uploader.produce._producer import Producer
    from uploader.sync._commit import BatchKeys, commit_state, landed_keys
    from uploader.sync._plan import check_state_settings, plan_sync, sync_settings
    from uploader.sync._state import StateStore, lock_state

    state_dir = Path(state)
    with lock_state(state_dir):
        store = StateStore.open(state_dir)
        settings = sync_settings(spec, config.client_code)
        check_state_settings(store.settings, settings, full)
        selection = _selection(config, store, refresh_after_days, full, clock)
        work_dir = _fresh_work_dir(state_dir)
        plan = await asyncio.to_thread(
            plan_sync,
            spec,
            store,
            now=selection.selected_at,
            refresh_after_days=refresh_after_days,
            full=full,
            work_dir=work_dir,
        )
        selection = replace(selection, rows=dict(plan.counts), missing=plan.missing)
        keys = BatchKeys(work_dir)
        producer = Producer(spec, only_keys=plan.selected, with_keys=True)
        source = _KeyRecorder(producer, keys, unselected=plan.rows - plan.sending)
        summary = await upload(
            source,
            replace(config, sync=selection),
            tokens,
            progress=progress,
            wait=True,
            wait_timeout=wait_timeout,
            handle_signals=handle_signals,
        )
        if missing is not None:
            _write_missing(work_dir, plan.partitions, Path(missing))
        if summary.stop_reason is None:
            landed = landed_keys(read_ledger(config.ledger), keys)
            committed = commit_state(
                store,
                work_dir,
                landed.keys,
                now=selection.selected_at,
                forget_missing=forget_missing,
                settings=settings,
            )
            summary.state_generation = committed.generation
            shutil.rmtree(work_dir, ignore_errors=True)  # tonight's plan is in the state now
            # written again: the one written after sending could not know the commit
            write_summary_file(summary, config.ledger.with_name("summary.json"))
    return summary


def _selection(
    config: UploadConfig,
    store: StateStore,
    refresh_after_days: int,
    full: bool,
    clock: Callable[[], float],
) -> SyncRun:
    """Tonight's selection; a resumed run's is the first try's (the same rows again), which
    only holds while the state is the one it selected against (nothing committed since)."""
    from uploader.errors import LedgerError
    from uploader.ledger._ledger import read_ledger
    from uploader.ledger._records import SyncRun

    if config.resume:
        first = read_ledger(config.ledger).first_run.sync
        if first is None:
            raise LedgerError(
                f"ledger {config.ledger}: not a sync's ledger (no selection in its run record)"
            )
        if Path(first.state).resolve() != store.directory.resolve():
            raise LedgerError(
                f"ledger {config.ledger}: that sync read the state in {first.state}, not "
                f"{store.directory}"
            )
        if first.generation != store.generation:
            raise LedgerError(
                f"ledger {config.ledger}: that sync has ended and committed its state "
                f"(generation {first.generation} → {store.generation}); what did not land "
                "goes with the next sync: start it with a new ledger, without resume"
            )
        return first
    return SyncRun(
        state=str(store.directory.resolve()),
        selected_at=int(clock()),
        refresh_after_days=refresh_after_days,
        full=full,
        generation=store.generation,
    )


def _fresh_work_dir(state_dir: Path) -> Path:
    """The work directory, emptied: what an earlier run left there is rebuilt."""
    work_dir = state_dir / WORK_DIR
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    return work_dir


class _KeyRecorder:
    """``source`` as it is, recording the keys of each batch it gives (for the commit); its
    ``total_rows`` leaves out the ``unselected`` rows (progress and ETA count what goes)."""

    def __init__(self, source: Producer, keys: BatchKeys, *, unselected: int) -> None:
        self.source = source
        self.keys = keys
        self.unselected = unselected

    @property
    def rejects(self) -> RejectsWriter | None:
        return self.source.rejects

    @rejects.setter
    def rejects(self, writer: RejectsWriter | None) -> None:
        self.source.rejects = writer

    @property
    def stats(self) -> ProduceStats:
        return self.source.stats

    @property
    def total_rows(self) -> int | None:
        total = self.source.total_rows
        return None if total is None else total - self.unselected

    def fingerprint(self) -> InputFingerprint:
        return self.source.fingerprint()

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.source:
            self.keys.record(batch.seq, batch.keys)
            yield batch


def _write_missing(work_dir: Path, partitions: int, path: Path) -> None:
    """The ids in the state but not in tonight's input, one per line (CSV, header ``id``)."""
    import polars as pl

    from uploader.sync._plan import missing_path

    frames = [
        pl.read_parquet(file, columns=["id"])
        for p in range(partitions)
        if (file := missing_path(work_dir, p, partitions)).exists()
    ]
    ids = pl.concat(frames) if frames else pl.DataFrame(schema={"id": pl.String})
    ids.sort("id").write_csv(path)


def sync_dry_run(
    spec: InputSpec,
    client_code: str,
    state: str | Path,
    out: Path,
    *,
    refresh_after_days: int = DEFAULT_REFRESH_AFTER_DAYS,
    full: bool = False,
    clock: Callable[[], float] = time.time,
) -> tuple[dict[str, int], int, DryRunPlan]:
    """What tonight's sync would send, sending nothing and moving no state: tonight's rows
    by reason, the missing ids, and the exact bodies of the selected rows in ``out`` (with
    their rejects file), as ``upload --dry-run`` writes them."""
    import tempfile

    from uploader.produce._producer import Producer, clear_dry_run_dir, write_dry_run
    from uploader.produce._rejects import RejectsWriter
    from uploader.sync._plan import check_state_settings, plan_sync, sync_settings
    from uploader.sync._state import StateStore

    store = StateStore.open(Path(state))  # read only: a commit switches it atomically
    check_state_settings(store.settings, sync_settings(spec, client_code), full)
    clear_dry_run_dir(out)
    with tempfile.TemporaryDirectory(prefix="uploader-sync-plan-") as work:
        plan = plan_sync(
            spec,
            store,
            now=int(clock()),
            refresh_after_days=refresh_after_days,
            full=full,
            work_dir=Path(work),
        )
    with RejectsWriter(out / "rejects.csv") as rejects:
        producer = Producer(spec, rejects, only_keys=plan.selected)
        written = write_dry_run(producer, out)
    return dict(plan.counts), plan.missing, written
