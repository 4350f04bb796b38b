"""The source rows that did not land, written back out so they can be fixed and re-sent.

Which rows: those of every batch that failed, is pending or was never sent (the run stopped
first), or that Target reports ``stuck``; the rows whose ids Target's batchStatus lists as
failed (row-level failures; a batch whose list was cut at the answer cap counts whole); and
every rejected row (``rejects.csv`` beside the ledger). Batches whose status Target no longer
has cannot be judged from the ledger: they are counted (``unconfirmed``), not written —
``uploader verify`` reads a sample back. The batches are re-made from the ledger (``uploader.reconcile._reproduce``) and matched to the
source by id, compared in *encoded* form with the producer's own encoder (nothing is decoded):

- an id's rows are all written, in file order: with ``--duplicates merge`` (the default) a
  batch line can fold several source rows of one id, and re-sending them all re-merges to the
  same profile; with ``last``/``off`` the extra rows re-apply values Target already has
  (profile updates are idempotent; order is kept, so the outcome is the same);
- columns and text are the source's, verbatim (CSV cells as read; Parquet cells rendered as
  text), so ``uploader upload OUT.csv`` with the same column options sends them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from uploader._writable import make_dirs
from uploader.errors import InputError
from uploader.ledger._ledger import LedgerState
from uploader.produce._encode import Encoder, encode_text
from uploader.produce._rejects import read_rejects
from uploader.produce._source import ROW_COL, SRC_COL, read_frames
from uploader.reconcile._reproduce import body_frame, producer_from_ledger, reproduce
from uploader.reconcile._status import StatusReport, status_report

__all__ = ["FailedRows", "not_landed", "write_failed_rows", "write_shards_failed_rows"]

_ENC_ID = "__uploader_encoded_id"


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedRows:
    path: Path
    rows: int  # source rows written
    batches: tuple[int, ...]  # seqs whose rows were recovered
    rejects: int  # rejected rows among them
    row_level: int  # ids Target listed as failed (row level) among them
    unconfirmed: tuple[int, ...] = ()  # seqs whose status Target no longer has: not judged


def not_landed(state: LedgerState, target: StatusReport) -> set[int]:
    """Seqs in the ledger that failed, are pending, are ``stuck`` at Target (``target``: the
    ledger's statuses), or whose list of failed rows was cut (which of their rows failed is
    not known)."""
    seqs = {seq for seq, record in state.batches.items() if not record.acknowledged}
    seqs.update(s.seq for s in target.statuses if s.status == "stuck")
    return seqs | set(target.cut_lists)


def _reject_refs(state: LedgerState, ledger: Path, paths: list[str]) -> set[tuple[int, int]]:
    frame = read_rejects(ledger.with_name("rejects.csv"))
    if frame.height == 0:
        return set()
    index = {path: number for number, path in enumerate(paths)}
    refs = set()
    for source, row in frame.select("source", "row").iter_rows():
        # rejects files record absolute paths; older ones the path as typed in that run
        number = index.get(source, index.get(str(Path(source).resolve())))
        if number is not None:
            refs.add((number, int(row)))
    return refs


def write_failed_rows(state: LedgerState, ledger: Path, out: Path) -> FailedRows:
    """Write the source rows that did not land (see the module doc) to ``out`` (CSV)."""
    return write_shards_failed_rows([(ledger, state)], out)


def write_shards_failed_rows(ledgers: Sequence[tuple[Path, LedgerState]], out: Path) -> FailedRows:
    """``write_failed_rows`` of several shards' ledgers of one input (``--shard``), into one
    ``out`` in file order (a row is in one shard only); the seqs are each ledger's own."""
    found = [_failed_rows(state, ledger) for ledger, state in ledgers]
    frames = [frame for frame, _, _ in found]
    columns = found[0][1]
    if any(frame.height for frame in frames):
        frame = pl.concat(frames, how="diagonal").sort(SRC_COL, ROW_COL)
        extra = [c for c in frame.columns if c not in columns and c not in (SRC_COL, ROW_COL)]
        frame = frame.select(*columns, *extra)
    else:
        frame = pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    try:
        make_dirs(out.parent)
        frame.write_csv(out, null_value="")
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({exc.strerror})") from exc
    counts = [failed for _, _, failed in found]
    return FailedRows(
        path=out,
        rows=frame.height,
        batches=tuple(seq for failed in counts for seq in failed.batches),
        rejects=sum(failed.rejects for failed in counts),
        row_level=sum(failed.row_level for failed in counts),
        unconfirmed=tuple(seq for failed in counts for seq in failed.unconfirmed),
    )


def _failed_rows(state: LedgerState, ledger: Path) -> tuple[pl.DataFrame, list[str], FailedRows]:
    """One ledger's rows that did not land (with ``__src``, ``__row``; empty: no columns),
    the source's columns, and the counts (``path`` and ``rows`` left unset)."""
    producer = producer_from_ledger(state, ledger)
    column_map = producer.check()
    sources = producer.sources
    target = status_report(state)
    wanted = not_landed(state, target)
    acknowledged = state.acknowledged()
    failed_ids = sorted({i for s in target.statuses if s.seq not in wanted for i in s.failed_ids})
    # Target lists ids decoded; the source is matched in encoded form (the producer's own
    # encoder, so both sides are the same bytes)
    encoded_failed = encode_text(failed_ids, producer.spec.encode) if failed_ids else []
    ids: list[pl.Series] = []
    recovered: list[int] = []
    for batch in reproduce(state, ledger, producer):
        if batch.seq in wanted or batch.seq not in acknowledged:
            recovered.append(batch.seq)
            ids.append(body_frame(batch).to_series(0))
    ids.append(pl.Series(_ENC_ID, encoded_failed, dtype=pl.String))
    id_set = pl.concat(ids).unique()
    refs = _reject_refs(state, ledger, [str(source.path) for source in sources])
    encoder = Encoder(producer.spec.encode)
    parts: list[pl.DataFrame] = []
    for index, source in enumerate(sources):
        rows = sorted(row for src, row in refs if src == index)
        reject_rows = pl.Series("rows", rows, dtype=pl.UInt32)
        for chunk in read_frames(source, index, _as_read, producer.spec.chunk_rows):
            id_col = column_map.id_source
            encoded = encoder.encode(chunk.select(id_col), [id_col]).to_series()
            keep = chunk.with_columns(encoded.alias(_ENC_ID)).filter(
                pl.col(_ENC_ID).is_in(id_set.implode())
                | pl.col(ROW_COL).cast(pl.UInt32).is_in(reject_rows.implode())
            )
            if keep.height:
                parts.append(keep.drop(_ENC_ID))
    columns = list(sources[0].columns)
    frame = pl.concat(parts, how="diagonal") if parts else pl.DataFrame()
    return (
        frame,
        columns,
        FailedRows(
            path=ledger,
            rows=0,
            batches=tuple(recovered),
            rejects=len(refs),
            row_level=len(failed_ids),
            unconfirmed=tuple(s.seq for s in target.statuses if s.status == "unknown"),
        ),
    )


def _as_read(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame
