"""After a sync's run and its wait: which rows landed at Target, and the state recording them.

A row *landed* when Target took it and (as far as anyone can know) stored it; only those move
into the state, so every other row is selected again next night (a profile update is
idempotent: sending a row twice costs a call, never a wrong profile). From the ledger:

- each top-level batch (made by the source: seq below ``CHILD_SEQ_BASE``) as it was last
  sent: itself, or the parts a bisection split it into (``leaf_lines``), each part's rows
  being a slice of the batch's keys;
- a part (or whole batch) Target did not acknowledge (refused, failed, pending, never sent)
  took none of its rows;
- an acknowledged one, by its current status (``LedgerState.statuses``): ``complete`` took
  its rows but those Target lists as failed or not found (not found: Target updated no
  profile), and none at all when that list was cut at the answer cap (which rows failed is not
  known); ``unknown`` (Target no longer has the status) took them, *unconfirmed*: ``uploader
  verify`` can read a sample back; ``stuck``, ``incomplete``, a value this client does not
  know, or no status by the end of the wait: none.

A key whose rows are in several batches (``--duplicates off``) landed only if every one of
them did: when one did not, the state cannot tell which value Target kept.

The batches' keys come from ``BatchKeys``: the send spills each top-level batch's keys to the
work directory as the batch is made (the ledger records rows by position, not by id).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from uploader.errors import LedgerError, RecordError
from uploader.ledger._ledger import LedgerState
from uploader.ledger._records import BatchRecord, StatusRecord
from uploader.send._bisect import CHILD_SEQ_BASE, leaf_lines
from uploader.sync._keys import Hashes, id_keys, partition_of
from uploader.sync._state import STATE_COLUMNS, StateStore, error_reason
from uploader.sync._workdir import (
    MISSING_COLUMNS,
    TODAY_COLUMNS,
    keys_path,
    missing_path,
    today_path,
)

__all__ = ["BatchKeys", "CommitResult", "Landed", "commit_state", "landed_keys"]

_NO_KEYS: Hashes = np.empty(0, dtype=np.uint64)


class BatchKeys:
    """The keys of every top-level batch's rows, in body order, one ``.npy`` file a batch in
    ``work_dir``. Not fsync'd: a crash loses at most keys that ``--resume`` records again,
    since it makes every batch again."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir

    def record(self, seq: int, keys: Hashes) -> None:
        """Spill batch ``seq``'s keys (a rerun writes the same bytes over them)."""
        if not 0 <= seq < CHILD_SEQ_BASE:
            raise ValueError(f"batch {seq} is not a top-level batch: its parent's keys hold it")
        if keys.dtype != np.uint64 or keys.ndim != 1:
            raise ValueError(f"batch {seq}: keys must be one u64 per row, not {keys.dtype}")
        path = keys_path(self.work_dir, seq)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with tmp.open("wb") as out:
                np.save(out, keys, allow_pickle=False)
            os.replace(tmp, path)  # whole or not at all: a reader never sees half the keys
        except OSError as exc:
            raise RecordError(
                f"sync work directory {self.work_dir}: cannot write {path.name} ({exc.strerror})"
            ) from exc

    def keys(self, seq: int) -> Hashes:
        """Batch ``seq``'s keys as recorded."""
        path = keys_path(self.work_dir, seq)
        try:
            keys: Hashes = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise LedgerError(
                f"sync work directory {self.work_dir}: no keys of batch {seq} ({path.name}): "
                "which of its rows landed is not known; the state is left as it was"
            ) from None
        except (OSError, ValueError) as exc:
            raise LedgerError(
                f"sync work directory {self.work_dir}: cannot read {path.name} ({exc}); "
                "the state is left as it was"
            ) from None
        if keys.dtype != np.uint64 or keys.ndim != 1:
            raise LedgerError(f"sync work directory {self.work_dir}: {path.name} is not keys")
        return keys


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Landed:
    """What Target took of the ledger's rows (``keys``), and the count of rows each way (a row
    is counted once per batch line: the four add up to the rows of the ledger's batches)."""

    keys: Hashes  # sorted, unique: the keys that landed
    confirmed: int  # rows of batches Target reports complete, but the failed ones
    unconfirmed: int  # rows of batches whose status Target no longer has: taken as landed
    not_landed: int  # rows of batches not acknowledged, stuck, unfinished, or with a cut list
    failed_rows: int  # rows Target lists as failed or not found in complete batches

    @property
    def rows(self) -> int:
        return self.confirmed + self.unconfirmed + self.not_landed + self.failed_rows


def landed_keys(state: LedgerState, batch_keys: BatchKeys) -> Landed:
    """The rows of the ledger ``state`` that landed (the rules are the module docstring's),
    their keys read from ``batch_keys``."""
    took: list[Hashes] = []
    refused: list[Hashes] = []
    counts = {"confirmed": 0, "unconfirmed": 0, "not_landed": 0, "failed_rows": 0}
    for seq, record in sorted(state.batches.items()):
        if seq >= CHILD_SEQ_BASE:
            continue  # a part: walked from its top-level batch
        keys = batch_keys.keys(seq)
        if len(keys) != record.rows:
            raise LedgerError(
                f"sync work directory {batch_keys.work_dir}: batch {seq} has {len(keys):,} "
                f"keys recorded but {record.rows:,} rows in the ledger (another run's?)"
            )
        for lines, leaf in leaf_lines(seq, record.rows, state):
            rows = keys[lines.start : lines.stop]
            landed, verdict = _leaf_took(rows, leaf, state.statuses.get(lines.seq))
            took.append(landed)
            if verdict == "confirmed":
                counts["confirmed"] += len(landed)
                counts["failed_rows"] += len(rows) - len(landed)
            else:
                counts[verdict] += len(rows)
            if len(landed) < len(rows):
                refused.append(np.setdiff1d(rows, landed))
    keys = np.unique(np.concatenate([_NO_KEYS, *took]))
    if refused:  # a key with a row that did not land: its state row cannot be trusted
        keys = np.setdiff1d(keys, np.concatenate(refused), assume_unique=False)
    return Landed(keys=keys.astype(np.uint64, copy=False), **counts)


def _leaf_took(
    rows: Hashes, leaf: BatchRecord | None, status: StatusRecord | None
) -> tuple[Hashes, str]:
    """(the keys of ``rows`` that landed, how they are counted) for one batch as sent."""
    if leaf is None or not leaf.acknowledged or status is None:
        return _NO_KEYS, "not_landed"
    if status.status == "unknown":
        return rows, "unconfirmed"
    if status.status != "complete" or not status.failed_ids_complete:
        return _NO_KEYS, "not_landed"
    failed = (*status.failed_ids, *status.not_found_ids)
    if not failed:
        return rows, "confirmed"
    failed_keys = id_keys(pl.Series(failed, dtype=pl.String))  # Target lists ids decoded: raw
    return rows[~np.isin(rows, failed_keys)], "confirmed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitResult:
    """The state generation a commit made, and its rows by what happened to them."""

    generation: int
    updated: int  # rows whose key was in the state and landed tonight
    added: int  # keys new to the state that landed
    kept: int  # rows kept as they were (not landed, or not in tonight's input)
    dropped: int  # rows of ids missing from tonight's input, forgotten (``forget_missing``)


def commit_state(
    store: StateStore,
    work_dir: Path,
    landed: Hashes,
    *,
    now: int,
    forget_missing: bool,
    settings: Mapping[str, Any],
) -> CommitResult:
    """Make the next generation of ``store``: per partition, the old rows whose key did not
    land (as they were; less the ids missing from tonight's input with ``forget_missing``) and
    tonight's rows (``work_dir``'s ``today`` files) whose key is in ``landed``, sent ``now``
    (unix seconds); then switch to it, built with ``settings``. One partition in memory at a
    time; all or nothing (``StateWriter``); the same inputs twice give the same state."""
    landed = np.asarray(landed, dtype=np.uint64)
    partition_by = partition_of(landed, store.partitions)
    writer = store.writer()
    totals = {"updated": 0, "added": 0, "kept": 0, "dropped": 0}
    for partition in range(store.partitions):
        took = pl.DataFrame({"key": landed[partition_by == partition]}, schema={"key": pl.UInt64})
        old = store.read_partition(partition)
        today = _read_work(today_path(work_dir, partition, store.partitions), TODAY_COLUMNS)
        # one row a key, the last made (``--duplicates off`` can make several)
        sent = (
            today.unique("key", keep="last", maintain_order=True)
            .join(took, on="key", how="semi")
            .with_columns(sent=pl.lit(now, dtype=pl.Int64))
        )
        kept = old.join(sent, on="key", how="anti")
        if forget_missing:
            missing = _read_work(
                missing_path(work_dir, partition, store.partitions), MISSING_COLUMNS
            )
            remaining = kept.join(missing, on="key", how="anti")
            totals["dropped"] += kept.height - remaining.height
            kept = remaining
        updated = sent.join(old, on="key", how="semi").height
        totals["updated"] += updated
        totals["added"] += sent.height - updated
        totals["kept"] += kept.height
        new = pl.concat([kept, sent.select(list(STATE_COLUMNS))]).sort("key")
        writer.write_partition(partition, new)
    manifest = writer.commit(settings)
    return CommitResult(generation=manifest.generation, **totals)


def _read_work(path: Path, columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """A work file's ``columns``; no file: no rows."""
    if not path.exists():
        return pl.DataFrame(schema=dict(columns))
    try:
        frame = pl.read_parquet(path, columns=list(columns))
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise LedgerError(
            f"sync work directory {path.parent}: cannot read {path.name} "
            f"({error_reason(exc)}); "
            "the state is left as it was"
        ) from None
    if dict(frame.schema) != dict(columns):
        raise LedgerError(
            f"sync work directory {path.parent}: {path.name} does not hold {', '.join(columns)}"
        )
    return frame
