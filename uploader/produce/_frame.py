"""A polars DataFrame as a batch source: the files' path (validate, resolve duplicates,
encode, batch) over rows already in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from uploader.produce._batcher import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_ROWS, BatchLimits
from uploader.produce._columns import IdType
from uploader.produce._dedupe import DuplicateMode
from uploader.produce._encode import DEFAULT_ENCODE, EncodeMode
from uploader.produce._producer import InputSpec, Producer
from uploader.produce._source import frame_file

__all__ = ["frame_source"]


def frame_source(
    frame: pl.DataFrame,
    *,
    id_column: str | None = None,
    id_type: IdType | None = None,
    columns: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    encode: EncodeMode = DEFAULT_ENCODE,
    strict: bool = False,
    duplicates: DuplicateMode = "merge",
    allow_empty: bool = False,
    name: str = "<frame>",
) -> Producer:
    """The batches of ``frame``, made exactly as a file's are: its columns rendered as text
    as a Parquet file's (integers as written, dates ISO 8601, null an empty cell), each row
    validated (rejected rows go to the rejects file under ``name`` with their 1-based row
    number), duplicate ids resolved, values encoded and cut into batches.

    The options are those of ``upload_files`` (``id_column``: the id column when it is not
    the first or named as Target names ids). Its fingerprint is a digest of the values, so a
    resumed run (``UploadConfig(resume=True)``) accepts the same rows in another frame and
    refuses different ones.
    """
    spec = InputSpec(
        sources=(frame_file(frame, name),),
        id_column=id_column,
        id_type=id_type,
        columns=tuple(columns) if columns is not None else None,
        rename=dict(rename or {}),
        limits=BatchLimits(rows=batch_rows, bytes=batch_bytes),
        encode=encode,
        strict=strict,
        duplicates=duplicates,
        allow_empty=allow_empty,
    )
    return Producer(spec)
