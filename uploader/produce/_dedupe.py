"""Duplicate ids within one run, resolved deterministically and in bounded memory.

A pre-pass reads only the id column and keeps a 64-bit hash per row (8 bytes a row, in numpy),
sorts the hashes once and keeps only the ones seen twice. The main pass then sets aside the
rows whose id hash is in that small set and, at the end, folds each id's rows into one:

- ``merge`` (default): as if the rows were applied in file order — for each attribute the
  last non-empty value wins, and an empty cell never clears a value (Target ignores empty
  cells). The result is exactly what sequential single updates would leave.
- ``last``: the last row of each id is sent as it is; earlier rows are dropped.
- ``off``: no pre-pass; rows are sent as read (Target's handling of repeated ids within one
  batch is undocumented).

A hash collision only sets a unique row aside too; folding groups on the real id, so the
outcome is still exact. Memory: 8 bytes per input row during the pre-pass (freed before
upload), plus the duplicated rows themselves until the end of the run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from uploader.produce._modes import DUPLICATE_MODES, DuplicateMode

__all__ = ["DUPLICATE_MODES", "DuplicateMode", "duplicated_hashes", "fold_duplicates", "id_hash"]

_SEED = 0x5EED


def id_hash(id_column: str) -> pl.Expr:
    """The 64-bit hash used for both passes (deterministic for a polars version)."""
    return pl.col(id_column).hash(seed=_SEED)


def duplicated_hashes(hash_chunks: list[np.ndarray]) -> pl.Series:
    """The hashes that occur more than once across ``hash_chunks`` (u64 arrays).

    Consumes the list: each chunk is copied into one preallocated array and released, so
    the peak is 8 bytes a row (``np.concatenate`` would hold 16).
    """
    hashes = np.empty(sum(len(chunk) for chunk in hash_chunks), dtype=np.uint64)
    end = len(hashes)
    while hash_chunks:
        chunk = hash_chunks.pop()
        hashes[end - len(chunk) : end] = chunk
        end -= len(chunk)
        del chunk
    hashes.sort()  # in place: no second copy
    repeated = hashes[1:][hashes[1:] == hashes[:-1]]
    return pl.Series("hash", np.unique(repeated), dtype=pl.UInt64)


def fold_duplicates(
    rows: pl.DataFrame, id_column: str, attributes: Sequence[str], mode: DuplicateMode
) -> pl.DataFrame:
    """One row per id, in order of first appearance; other columns (``__src``/``__row``)
    keep the values of the id's last row, the one that completes the profile."""
    others = [c for c in rows.columns if c != id_column and c not in attributes]
    if mode == "last":
        aggregations = [pl.col(c).last() for c in (*attributes, *others)]
    else:
        aggregations = [
            *(pl.col(c).filter(pl.col(c).str.len_bytes() > 0).last() for c in attributes),
            *(pl.col(c).last() for c in others),
        ]
    return rows.group_by(id_column, maintain_order=True).agg(aggregations).select(rows.columns)
