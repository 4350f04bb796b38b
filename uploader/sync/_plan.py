"""Pass 1 of a sync: which of tonight's rows to send, and the files the commit reads.

The plan runs the producer's own pipeline (column mapping, validation, duplicate folding,
encoding: the rows exactly as they would be batched) over the whole input, without batching
and without writing rejects, and keeps three columns of every final row: its ``key``
(``id_keys`` of the raw id), its raw ``id`` and its ``fp`` (``row_fingerprints`` of the
encoded values under their Target names: what would be sent), and whether it has no value
to send at all (``blank``: never sent, see ``select_partition``). They are spilled chunk by
chunk to one small file per chunk and partition, so memory follows a chunk, not the input;
then each partition's rows are gathered into ``work_dir/today-PP.parquet`` and selected
against the state's partition (``select_partition``), and the state's ids missing tonight go
to ``work_dir/missing-PP.parquet``. Only the selected keys stay in memory (8 bytes a row
sent), and not even those when every row goes (a first load, ``full``).

``today-PP.parquet`` (``key`` u64, ``id`` str, ``fp`` u64, in the order the rows are batched)
is what the commit writes into the state for the keys that landed. A key occurs once unless
duplicates were not folded (``duplicates="off"``) or two ids share a key (about n²/2⁶⁵).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from uploader._writable import make_dirs
from uploader.errors import ConfigError, RecordError
from uploader.produce._batcher import KEY_COL
from uploader.produce._producer import ID_COL, InputSpec, Producer
from uploader.sync._defaults import DEFAULT_REFRESH_AFTER_DAYS, REASONS
from uploader.sync._keys import Hashes, partition_label, partition_of, row_fingerprints
from uploader.sync._select import select_partition
from uploader.sync._state import StateStore
from uploader.sync._workdir import TODAY_COLUMNS, missing_path, today_path

__all__ = [
    "SyncPlan",
    "check_state_settings",
    "missing_path",
    "plan_sync",
    "sync_settings",
    "today_path",
]

#: what pass 1 keeps of each row: ``today-PP.parquet``'s columns, and whether the row has
#: no value to send (``select_partition``'s ``blank``)
_PLANNED_COLUMNS: Mapping[str, pl.DataType] = {**TODAY_COLUMNS, "blank": pl.Boolean()}
_SPILL_DIR = "spill"  # per chunk and partition files, gathered and removed per partition
#: the settings of ``InputSpec.shaping_settings`` that decide what a row's body says, and
#: which rows a state holds (a shard's state holds its shard's ids only)
_BODY_SETTINGS = ("columns", "rename", "encode", "id_type", "id_column", "shard")


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncPlan:
    """What pass 1 found. ``counts``: rows by reason (every one of ``REASONS``);
    ``selected``: the sorted keys to send, or ``None`` when every row goes (a first load,
    ``full``); ``sending``: how many rows that is; ``missing``: the state's ids absent
    tonight (listed in ``missing_path``); ``now``: the selection time (unix seconds), the
    ``sent`` time the commit records."""

    now: int
    counts: Mapping[str, int]
    selected: Hashes | None
    sending: int
    missing: int
    work_dir: Path
    partitions: int

    @property
    def rows(self) -> int:
        """Tonight's final rows (after rejects and duplicate folding)."""
        return sum(self.counts.values())

    def today_path(self, partition: int) -> Path:
        return today_path(self.work_dir, partition, self.partitions)

    def missing_path(self, partition: int) -> Path:
        return missing_path(self.work_dir, partition, self.partitions)


def plan_sync(
    spec: InputSpec,
    store: StateStore,
    *,
    now: int,
    refresh_after_days: int = DEFAULT_REFRESH_AFTER_DAYS,
    full: bool = False,
    work_dir: Path,
) -> SyncPlan:
    """Read the whole input once and select the rows to send against ``store`` (see the
    module docstring). ``work_dir`` is created; plan files of an earlier run there are
    replaced. Input errors raise as an upload's would; rows rejected are not planned (the
    send pass rejects them again, into its rejects file)."""
    partitions = store.partitions
    spill = work_dir / _SPILL_DIR
    try:
        if spill.exists():
            shutil.rmtree(spill)  # a crashed plan's leftovers
        make_dirs(spill)
    except OSError as exc:
        raise _cannot_write(spill, exc) from None
    _spill(spec, spill, partitions)
    counts = dict.fromkeys(REASONS, 0)
    chosen: list[Hashes] = []
    sending = missing = 0
    for partition in range(partitions):
        today = _gather(spill, partition, partitions)
        _write(today.select(list(TODAY_COLUMNS)), today_path(work_dir, partition, partitions))
        selection = select_partition(
            today.with_row_index("row"),
            store.read_partition(partition),
            now=now,
            refresh_after_days=refresh_after_days,
            full=full,
        )
        for reason, rows in selection.rows.group_by("reason").len().iter_rows():
            counts[reason] += rows
        send = selection.rows.get_column("send")
        chosen.append(today.get_column("key").filter(send).to_numpy())
        sending += int(send.sum())
        missing += selection.missing.height
        _write(selection.missing, missing_path(work_dir, partition, partitions))
    shutil.rmtree(spill, ignore_errors=True)  # only space: a rerun removes it first
    selected = None if sending == sum(counts.values()) else np.sort(np.concatenate(chosen))
    return SyncPlan(
        now=now,
        counts=counts,
        selected=selected,
        sending=sending,
        missing=missing,
        work_dir=work_dir,
        partitions=partitions,
    )


def sync_settings(spec: InputSpec, client_code: str) -> dict[str, Any]:
    """The settings that decide the bodies, kept with the state: a state built with others
    would compare fingerprints of other bodies."""
    shaping = spec.shaping_settings()
    return {**{name: shaping[name] for name in _BODY_SETTINGS}, "client_code": client_code}


def check_state_settings(stored: Mapping[str, Any], today: Mapping[str, Any], full: bool) -> None:
    """Refuse a state built with other body-deciding settings than ``today``'s (a one-line
    ``ConfigError`` naming the first that changed), unless ``full`` (everything is sent
    again, and the state rebuilt with today's) or the state is empty."""
    if full or not stored:
        return
    for name in sorted({*stored, *today}):
        before, after = stored.get(name), today.get(name)
        if before != after:
            raise ConfigError(
                f"{name.replace('_', ' ')} changed since the state was written "
                f"({_shown(before)} → {_shown(after)}): run with $full to send everything again",
                settings=("full",),
            )


def _spill(spec: InputSpec, spill: Path, partitions: int) -> None:
    """Write ``_PLANNED_COLUMNS`` of every final row into ``spill/today-PP-CCCCCC.arrow``."""
    producer = Producer(spec, with_keys=True)  # no rejects writer: the send pass writes them
    attributes = [name for _, name in producer.check().attributes]
    for chunk, rows in enumerate(producer._final_rows()):
        if not rows.height:
            continue
        keys = rows.get_column(KEY_COL).to_numpy()
        planned = pl.DataFrame(
            {
                "key": rows.get_column(KEY_COL),
                "id": rows.get_column(ID_COL),
                "fp": row_fingerprints(rows, ID_COL, attributes),
                "blank": rows.select(_no_value(attributes)).to_series(),
                "part": partition_of(keys, partitions),
            },
            schema={**_PLANNED_COLUMNS, "part": pl.Int64},
        )
        for part in planned.partition_by("part", maintain_order=True):
            number = partition_label(int(part.item(0, "part")), partitions)
            path = spill / f"today-{number}-{chunk:06d}.arrow"
            try:  # Arrow IPC, uncompressed: read back once, soon (parquet cost 1.7x)
                part.drop("part").write_ipc(path, compression="uncompressed")
            except OSError as exc:
                raise _cannot_write(path, exc) from None


def _no_value(attributes: list[str]) -> pl.Expr:
    """True for a row whose every attribute cell is empty (or missing)."""
    return ~pl.any_horizontal(
        pl.lit(False), *(pl.col(name).str.len_bytes().fill_null(0) > 0 for name in attributes)
    )


def _gather(spill: Path, partition: int, partitions: int) -> pl.DataFrame:
    """One partition's spilled chunks, in order, as one frame (``_PLANNED_COLUMNS``)."""
    files = sorted(spill.glob(f"today-{partition_label(partition, partitions)}-*.arrow"))
    if not files:
        return pl.DataFrame(schema=dict(_PLANNED_COLUMNS))
    try:
        return pl.scan_ipc(files).collect()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise RecordError(f"sync plan: cannot read back {files[0].parent} ({exc})") from None


def _write(frame: pl.DataFrame, path: Path) -> None:
    try:
        frame.write_parquet(path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def _cannot_write(path: Path, exc: OSError) -> RecordError:
    return RecordError(f"sync plan: cannot write {path} ({exc.strerror}); nothing was sent")


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)
