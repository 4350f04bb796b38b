"""Row-level faults, decided per id (never per arrival): which rows of an accepted batch fail
(``fail_rows``, ``fail_ids``, ``fail_once``), and which ids refuse a whole batch
(``reject_ids``). Vectorised over the batch's decoded id column."""

from __future__ import annotations

import polars as pl

from uploader.mock._config import FaultConfig

__all__ = ["RowFaults"]

#: ``fail_rows`` compares the top 53 bits of a seeded 64-bit hash of the id with RATE·2^53.
_HASH_BITS_DROPPED = 1 << 11
_HASH_RANGE = 1 << 53


class RowFaults:
    """Row failures and poisoned batches for one mock; ``config`` may be swapped at run time.

    ``fail_rows`` hashes each id with ``seed`` (polars' hash: reproducible within one polars
    version), so the same ids fail whatever the batching or the order of arrival. With
    ``fail_once``, the ids that already failed are remembered (only those: memory grows with
    failures, not with rows) and succeed when sent again.
    """

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self._failed_before: dict[str, pl.Series] = {}  # id kind → ids that failed once

    def poisoned(self, ids: pl.Series) -> bool:
        """Does any id match ``reject_ids`` (the whole batch is then refused)?"""
        pattern = self.config.reject_ids
        return pattern is not None and bool(ids.str.contains(pattern).any())

    def failing(self, ids: pl.Series, kind: str) -> pl.Series | None:
        """Which rows fail (a boolean mask), or None when none does. Records the failures
        ``fail_once`` must not repeat, so call it once per accepted batch."""
        cfg = self.config
        if not cfg.fail_rows and cfg.fail_ids is None:
            return None
        mask = pl.repeat(False, ids.len(), dtype=pl.Boolean, eager=True)
        if cfg.fail_rows:
            draw = ids.hash(seed=self.seed) // _HASH_BITS_DROPPED
            mask = mask | (draw < int(cfg.fail_rows * _HASH_RANGE))
        if cfg.fail_ids is not None:
            mask = mask | ids.str.contains(cfg.fail_ids)
        if cfg.fail_once:
            before = self._failed_before.get(kind)
            if before is not None:
                mask = mask & ~ids.is_in(before.implode())
            failed = ids.filter(mask)
            self._failed_before[kind] = failed if before is None else before.append(failed)
        return mask if mask.any() else None
