"""The small typed values that stages hand to each other.

``source`` → polars frames, one chunk at a time → (validate, dedupe, encode) → ``Batch`` →
engine → ``BatchRecord`` (``uploader.ledger._records``). ``RowRef`` points a row back to its
file and line; ``ProduceStats`` counts what the producer read, rejected and merged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from uploader.ledger._records import InputFingerprint
    from uploader.produce._rejects import RejectsWriter

__all__ = ["Batch", "BatchSource", "ProduceStats", "RowRef"]


def no_keys() -> np.ndarray:
    """``Batch.keys`` of a batch made without them."""
    return np.empty(0, dtype=np.uint64)


@dataclass(frozen=True, slots=True)
class RowRef:
    """Where a row came from: index into the run's source list and 1-based data row number."""

    source: int
    row: int


@dataclass(frozen=True, slots=True)
class Batch:
    """One API call's worth of profiles: the exact request body and what it holds.

    Batches are deterministic: the same input and batch-shaping settings give the same
    ``seq`` numbering, bodies and ``content_hash``. The ledger keys on (seq, content_hash).
    """

    seq: int  # 1-based position in the run
    body: bytes  # exact request body: b"batch=" + header line + "\n" + one line per profile
    rows: int  # profiles (lines after the header)
    content_hash: str  # XXH3-128 hex of ``body`` (batcher.content_hash)
    first: RowRef  # first and last source row in the batch (rows need not be contiguous:
    last: RowRef  # rejected rows are skipped and merged duplicates come at the end)
    #: (source, row) of every line, in body order, shape (rows, 2): where each line came
    #: from, for the rejects file when Target refuses single rows (``uploader.send._bisect``)
    refs: np.ndarray = field(repr=False, compare=False)
    #: the sync key (``uploader.sync._keys.id_keys`` of the raw id, u64) of every line, in
    #: body order, when the producer was asked for them (``with_keys``); else empty: which
    #: rows of the batch landed, for the sync state
    keys: np.ndarray = field(default_factory=no_keys, repr=False, compare=False)

    @property
    def nbytes(self) -> int:
        return len(self.body)

    def __repr__(self) -> str:  # never dump a 49 MB body into a log line
        return (
            f"Batch(seq={self.seq}, rows={self.rows}, bytes={self.nbytes}, "
            f"hash={self.content_hash[:12]})"
        )


@dataclass(slots=True)
class ProduceStats:
    """Running counts kept by the producer (read → validate → dedupe → encode → batch)."""

    rows_read: int = 0  # data rows read from all sources
    rows_rejected: int = 0  # written to the rejects file, never sent
    rows_merged: int = 0  # duplicate-id rows folded into an earlier row of the same id
    rows_unselected: int = 0  # valid rows left out by a sync's selection (``only_keys``)
    rows_other_shards: int = 0  # rows of the other shards (``InputSpec.shard``), not batched
    #: rows placed in batches (= read - rejected - merged - unselected - other shards at the end)
    rows_batched: int = 0
    batches: int = 0
    bytes_batched: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class BatchSource(Protocol):
    """What ``upload`` sends: the ``Batch``es, in ``seq`` order, and what the ledger and the
    summary need to know about them. ``Producer`` (files) and ``frame_source`` (a polars
    DataFrame) are two; a small class of one's own is another.

    ``fingerprint()`` is called first, before anything is sent: a source checks its input
    there (``Producer`` opens every file and resolves the columns). Its value is recorded in
    the ledger and compared on resume, so the same input gives the same fingerprint:
    an ``InputFingerprint`` of ``SourceRecord``s (path, size, mtime_ns, digest) and the
    settings that shape the batches (the paths also name where rows came from in the rejects file). The batches must be deterministic
    too: a resumed run skips those the ledger holds as acknowledged, by ``seq`` and
    ``content_hash``.
    """

    #: where rejected rows go (and the rows Target refuses alone); ``upload`` sets the rejects
    #: file beside the ledger here when it is ``None``
    rejects: RejectsWriter | None

    @property
    def stats(self) -> ProduceStats:
        """Counts so far (rows read, rejected, merged, batched) and warnings for the summary."""
        ...

    @property
    def total_rows(self) -> int | None:
        """The rows the batches will hold, once known (progress and ETA); ``None``: unknown."""
        ...

    def fingerprint(self) -> InputFingerprint: ...

    def __iter__(self) -> Iterator[Batch]: ...
