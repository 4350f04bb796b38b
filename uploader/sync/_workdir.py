"""The files a sync keeps in its work directory between its passes, named in one place.

::

    WORK/today-<PP>.parquet   tonight's rows of state partition PP: key, id, fp (the plan)
    WORK/missing-<PP>.parquet the state's ids of partition PP not in tonight's input: key, id
    WORK/keys-<seq>.npy       the keys of top-level batch ``seq``'s rows, in body order

The plan writes the first two, the send the keys (``BatchKeys``), the commit reads them all.
A missing ``today``/``missing`` file holds no rows (a partition with nothing tonight).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from uploader.sync._keys import partition_label

__all__ = ["MISSING_COLUMNS", "TODAY_COLUMNS", "keys_path", "missing_path", "today_path"]

TODAY_COLUMNS: Mapping[str, pl.DataType] = {
    "key": pl.UInt64(),
    "id": pl.String(),
    "fp": pl.UInt64(),
}
MISSING_COLUMNS: Mapping[str, pl.DataType] = {"key": pl.UInt64(), "id": pl.String()}


def today_path(work_dir: Path, partition: int, partitions: int) -> Path:
    return work_dir / f"today-{partition_label(partition, partitions)}.parquet"


def missing_path(work_dir: Path, partition: int, partitions: int) -> Path:
    return work_dir / f"missing-{partition_label(partition, partitions)}.parquet"


def keys_path(work_dir: Path, seq: int) -> Path:
    return work_dir / f"keys-{seq}.npy"
