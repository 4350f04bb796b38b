"""Cut encoded rows into API-sized batches: pure, synchronous, deterministic.

A body is ``batch=`` + header + ``\\n`` + one ``line\\n`` per profile. Its size is counted
exactly on those bytes, so a batch never exceeds ``BatchLimits.bytes`` (< 50 MB, Target's
limit) nor ``BatchLimits.rows`` (≤ 500,000). Boundaries depend only on the sequence of rows,
never on how the rows were chunked on the way in: same input → same batches → same hashes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import polars as pl
import xxhash

from uploader.errors import ConfigError
from uploader.produce._limits import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_ROWS,
    MAX_BATCH_BYTES,
    MAX_BATCH_ROWS,
)
from uploader.produce._model import Batch, RowRef, no_keys
from uploader.produce._source import ROW_COL, SRC_COL

__all__ = ["DEFAULT_BATCH_BYTES", "DEFAULT_BATCH_ROWS", "KEY_COL", "BatchLimits", "Batcher"]

BODY_PREFIX = b"batch="
KEY_COL = "__uploader_key"  # a row's sync key (u64), fed beside ``__src``/``__row`` if wanted


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchLimits:
    """Upper bounds of one batch, checked against the final encoded body."""

    rows: int = DEFAULT_BATCH_ROWS
    bytes: int = DEFAULT_BATCH_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.rows <= MAX_BATCH_ROWS:
            raise ConfigError(
                f"$batch_rows must be between 1 and {MAX_BATCH_ROWS:,}", settings=("batch_rows",)
            )
        if not 1 <= self.bytes < MAX_BATCH_BYTES:
            raise ConfigError(
                f"$batch_bytes must be at least 1 and under {MAX_BATCH_BYTES:,}",
                settings=("batch_bytes",),
            )


class Batcher:
    """Accumulates encoded rows and emits ``Batch``es as soon as one is full.

    ``feed`` takes a frame of encoded text columns (in header order) plus ``__src`` and
    ``__row`` (and ``__uploader_key`` when made ``with_keys``: each batch's ``keys``), and
    the byte length of each row's line (without its newline). Every line must fit in an
    otherwise empty batch (``max_line_bytes``); the caller rejects longer rows.
    Rows are written into the body as they arrive, so a pending batch costs its bytes only.
    """

    def __init__(
        self, header: bytes, limits: BatchLimits, first_seq: int = 1, *, with_keys: bool = False
    ) -> None:
        self.limits = limits
        self._header = header
        self._head = _first_line(header)
        self._next_seq = first_seq
        self._with_keys = with_keys
        self._not_text = (SRC_COL, ROW_COL, KEY_COL) if with_keys else (SRC_COL, ROW_COL)
        if self.max_line_bytes < 1:
            raise ConfigError(
                f"$batch_bytes {limits.bytes:,} leaves no room for rows after the header line",
                settings=("batch_bytes",),
            )
        self._start()

    @property
    def max_line_bytes(self) -> int:
        """Longest line (without newline) that fits in a batch on its own."""
        return max_line_bytes(self._header, self.limits)

    def feed(self, frame: pl.DataFrame, line_bytes: np.ndarray) -> list[Batch]:
        """Add rows; return the batches they completed (often none, sometimes several)."""
        batches: list[Batch] = []
        # Cost of each row in the body: its line plus the newline that ends it.
        cost = np.cumsum(line_bytes.astype(np.int64) + 1)
        start, total = 0, frame.height
        while start < total:
            spent = int(cost[start - 1]) if start else 0
            room_bytes = self.limits.bytes - self._body.tell()
            room_rows = self.limits.rows - self._rows
            fit = int(np.searchsorted(cost, spent + room_bytes, side="right")) - start
            take = min(fit, room_rows, total - start)
            if take <= 0:
                if not self._rows:  # cannot happen when callers respect max_line_bytes
                    raise ValueError("a row longer than max_line_bytes was fed to the batcher")
                batches.append(self._emit())
                continue
            self._append(frame.slice(start, take), int(cost[start + take - 1]) - spent)
            start += take
            if start < total or self._rows == self.limits.rows:
                batches.append(self._emit())  # the next row does not fit
        return batches

    def flush(self) -> Batch | None:
        """The last, partly filled batch, if any rows are pending."""
        return self._emit() if self._rows else None

    def _start(self) -> None:
        self._body = io.BytesIO()
        self._body.write(self._head)
        self._rows = 0
        self._refs: list[np.ndarray] = []
        self._keys: list[np.ndarray] = []

    def _append(self, rows: pl.DataFrame, nbytes: int) -> None:
        before = self._body.tell()
        # Encoded text has no raw `,` `"` CR LF, so no quoting is needed or wanted.
        rows.drop(*self._not_text).write_csv(
            self._body, include_header=False, quote_style="never", null_value=""
        )
        if self._body.tell() - before != nbytes:  # a broken invariant must never reach the API
            raise AssertionError(f"wrote {self._body.tell() - before} bytes, expected {nbytes}")
        self._refs.append(rows.select(SRC_COL, ROW_COL).to_numpy().astype(np.uint32, copy=False))
        if self._with_keys:
            self._keys.append(rows.get_column(KEY_COL).to_numpy())
        self._rows += rows.height

    def _emit(self) -> Batch:
        body = self._body.getvalue()
        refs = np.concatenate(self._refs) if len(self._refs) > 1 else self._refs[0]
        batch = Batch(
            seq=self._next_seq,
            body=body,
            rows=self._rows,
            content_hash=content_hash(body),
            first=RowRef(*map(int, refs[0])),
            last=RowRef(*map(int, refs[-1])),
            refs=refs,
            keys=np.concatenate(self._keys) if self._with_keys else no_keys(),
        )
        self._next_seq += 1
        self._start()
        return batch


def max_line_bytes(header: bytes, limits: BatchLimits) -> int:
    """Longest line (without newline) that fits on its own in a batch within ``limits``
    under the ``header`` line (without ``batch=``)."""
    return limits.bytes - len(_first_line(header)) - 1


def _first_line(header: bytes) -> bytes:
    return BODY_PREFIX + header + b"\n"


def content_hash(body: bytes) -> str:
    """Identity of a body for --resume: XXH3-128 (``HASH_ALGORITHM``), 32 hex digits. Not for
    security (nobody forges our own bodies); SHA-1 cost 0.25 s of CPU per 2M rows, XXH3 0.02 s."""
    return xxhash.xxh3_128_hexdigest(body)
