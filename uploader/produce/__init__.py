"""Produce: read CSV/Parquet, map columns, validate, dedupe, percent-encode and cut API-sized batches.

Public names load on first use (``uploader._lazy``): ``import uploader.produce`` alone does
not import polars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uploader._lazy import lazy_exports

if TYPE_CHECKING:
    from uploader.produce._batcher import BatchLimits
    from uploader.produce._columns import ColumnMap
    from uploader.produce._encode import encode_text
    from uploader.produce._limits import (
        DEFAULT_BATCH_BYTES,
        DEFAULT_BATCH_ROWS,
        MAX_BATCH_BYTES,
        MAX_BATCH_ROWS,
    )
    from uploader.produce._model import Batch, ProduceStats, RowRef
    from uploader.produce._modes import (
        DEFAULT_ENCODE,
        DUPLICATE_MODES,
        ENCODE_MODES,
        ID_TYPES,
        DuplicateMode,
        EncodeMode,
        IdType,
    )
    from uploader.produce._producer import DryRunPlan, InputSpec, Producer, write_dry_run
    from uploader.produce._rejects import RejectLimit, RejectsWriter, read_rejects

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_ENCODE",
    "DUPLICATE_MODES",
    "ENCODE_MODES",
    "ID_TYPES",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ROWS",
    "Batch",
    "BatchLimits",
    "ColumnMap",
    "DryRunPlan",
    "DuplicateMode",
    "EncodeMode",
    "IdType",
    "InputSpec",
    "ProduceStats",
    "Producer",
    "RejectLimit",
    "RejectsWriter",
    "RowRef",
    "encode_text",
    "read_rejects",
    "write_dry_run",
]
if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "InputSpec": "uploader.produce._producer",
            "Producer": "uploader.produce._producer",
            "DryRunPlan": "uploader.produce._producer",
            "write_dry_run": "uploader.produce._producer",
            "Batch": "uploader.produce._model",
            "RowRef": "uploader.produce._model",
            "ProduceStats": "uploader.produce._model",
            "BatchLimits": "uploader.produce._batcher",
            "DEFAULT_BATCH_BYTES": "uploader.produce._limits",
            "DEFAULT_BATCH_ROWS": "uploader.produce._limits",
            "MAX_BATCH_BYTES": "uploader.produce._limits",
            "MAX_BATCH_ROWS": "uploader.produce._limits",
            "ColumnMap": "uploader.produce._columns",
            "DEFAULT_ENCODE": "uploader.produce._modes",
            "DUPLICATE_MODES": "uploader.produce._modes",
            "ENCODE_MODES": "uploader.produce._modes",
            "ID_TYPES": "uploader.produce._modes",
            "DuplicateMode": "uploader.produce._modes",
            "EncodeMode": "uploader.produce._modes",
            "IdType": "uploader.produce._modes",
            "encode_text": "uploader.produce._encode",
            "RejectLimit": "uploader.produce._rejects",
            "RejectsWriter": "uploader.produce._rejects",
            "read_rejects": "uploader.produce._rejects",
        },
    )
