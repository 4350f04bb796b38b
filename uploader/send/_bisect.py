"""Isolate the rows that make Target refuse a whole batch (bisection).

Target answers ``success=false`` ("Unexpected error") for a whole batch when one row in it is
bad, so one poison row takes up to 500,000 rows down with it — and, in a nightly sync, again
every night. When that happens the engine splits the batch in two halves (by lines, in body
order) and sends each under the same rate limit; a half that is refused again is split
again, until the refused rows stand alone. They go to the rejects file with Target's message;
everything else is sent.

**Bounded:** a batch of N rows with k poison rows costs about 2·k·log2(N/k) extra calls (one
poison row in 500,000: 38 calls, under a minute at Target's 50 calls/min). The engine stops
bisecting a batch after ``DEFAULT_BISECT_CALLS`` calls (``--bisect-calls``); the parts still
unresolved then are recorded *failed* with Target's message.

**Recorded and resumable:** the split batch's ledger record has outcome ``split`` and lists its
parts (``seq``, and ``start``/``stop`` line numbers in the parent); each part is a batch record
of its own, numbered from ``CHILD_SEQ_BASE`` up (no input makes a billion batches). Parts are
re-made from the parent exactly (same lines, same bytes, same hash), so ``--resume``, ``report
--failed-rows`` and ``verify`` follow a bisection the way they follow any batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from uploader.errors import LedgerError
from uploader.ledger._ledger import LedgerState
from uploader.ledger._records import BatchRecord, Part
from uploader.produce._batcher import BODY_PREFIX, content_hash
from uploader.produce._model import Batch, RowRef
from uploader.send._defaults import DEFAULT_BISECT_CALLS

__all__ = [
    "CHILD_SEQ_BASE",
    "DEFAULT_BISECT_CALLS",
    "BisectBudget",
    "leaf_lines",
    "leaves",
    "next_child_seq",
    "part",
    "parts_of",
    "row_caused",
    "split",
]

CHILD_SEQ_BASE = 1_000_000_000
#: answers that splitting cannot cure: an empty batch stays empty in halves
_NOT_ROW_CAUSED = ("empty",)


@dataclass(slots=True)
class BisectBudget:
    """Calls one refused batch may still spend on finding its bad rows."""

    calls: int

    def spend(self) -> None:
        self.calls -= 1

    @property
    def spent(self) -> bool:
        return self.calls <= 0


def row_caused(message: str, http_status: int | None) -> bool:
    """Target refused a batch whole (HTTP 200, ``success=false``) for a reason a row can
    cause (not, say, an empty batch or an HTTP error)."""
    return http_status == 200 and not any(word in message.lower() for word in _NOT_ROW_CAUSED)


def _line_starts(batch: Batch) -> tuple[int, np.ndarray]:
    """(where the first line starts, start offset of every line and of the end)."""
    head_end = batch.body.index(b"\n", len(BODY_PREFIX)) + 1
    data = np.frombuffer(batch.body, dtype=np.uint8)
    ends = np.flatnonzero(data[head_end:] == 0x0A) + head_end + 1
    return head_end, np.concatenate(([head_end], ends))


def part(batch: Batch, start: int, stop: int, seq: int) -> Batch:
    """Lines ``[start, stop)`` of ``batch`` as a batch of their own, numbered ``seq``."""
    if not 0 <= start < stop <= batch.rows:
        raise ValueError(f"lines {start}..{stop} are not within a batch of {batch.rows}")
    head_end, starts = _line_starts(batch)
    body = batch.body[:head_end] + batch.body[int(starts[start]) : int(starts[stop])]
    refs = batch.refs[start:stop]
    return Batch(
        seq=seq,
        body=body,
        rows=stop - start,
        content_hash=content_hash(body),
        first=RowRef(*map(int, refs[0])),
        last=RowRef(*map(int, refs[-1])),
        refs=refs,
        keys=batch.keys[start:stop],  # empty stays empty: a batch made without keys
    )


def split(batch: Batch, first_seq: int) -> tuple[Batch, Batch]:
    """The two halves of ``batch`` (the first gets the extra line), numbered ``first_seq``
    and ``first_seq + 1``."""
    middle = (batch.rows + 1) // 2
    return part(batch, 0, middle, first_seq), part(batch, middle, batch.rows, first_seq + 1)


def parts_of(record: BatchRecord) -> tuple[Part, ...]:
    """The parts listed by a ``split`` record."""
    if record.parts is None:
        raise LedgerError(f"batch {record.seq}: a split record without its parts")
    return record.parts


def next_child_seq(state: LedgerState | None) -> int:
    """The first seq free for new parts in a ledger: past every part it has a record of, and
    every part a split lists (a crash can leave a split whose parts were never recorded)."""
    used = [CHILD_SEQ_BASE]
    for seq, record in (state.batches if state else {}).items():
        used.append(seq)
        if record.outcome == "split":
            used.extend(child.seq for child in parts_of(record))
    return max(used) + 1


def leaf_lines(
    seq: int, rows: int, state: LedgerState
) -> Iterator[tuple[Part, BatchRecord | None]]:
    """Batch ``seq`` (of ``rows`` lines) as it was last sent, as lines of it: itself whole, or
    — when the ledger says it was split — its parts, recursively; each a ``Part`` whose
    ``start``/``stop`` count in batch ``seq``'s own lines, with its latest record. The one
    walk of a bisection: ``leaves`` cuts the bodies by it, a sync the rows' keys."""
    record = state.batches.get(seq)
    if record is None or record.outcome != "split":
        yield Part(seq, 0, rows), record
        return
    for child in parts_of(record):
        for lines, leaf in leaf_lines(child.seq, child.stop - child.start, state):
            yield Part(lines.seq, child.start + lines.start, child.start + lines.stop), leaf


def leaves(batch: Batch, state: LedgerState) -> Iterator[tuple[Batch, BatchRecord | None]]:
    """``batch`` as it was last sent: itself, or — when the ledger says it was split and it
    is the same batch (same hash) — its parts, recursively; each with its latest record."""
    record = state.batches.get(batch.seq)
    if (
        record is not None
        and record.outcome == "split"
        and record.content_hash != batch.content_hash
    ):
        raise LedgerError(
            f"batch {batch.seq} re-made from the input differs from the one that was split"
        )
    for lines, leaf in leaf_lines(batch.seq, batch.rows, state):
        if lines.seq == batch.seq:
            yield batch, leaf
        else:  # a part of a part is the same lines of the batch: cut once, from the batch
            yield part(batch, lines.start, lines.stop, lines.seq), leaf
