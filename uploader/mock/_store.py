"""What the mock keeps: profiles, receipts (every row taken, in arrival order), statuses.

Rows are kept as one polars frame per accepted call (id decoded, attribute values still
percent-encoded), shared between the receipts and the profile store; values are decoded when
read. Nothing is held per row in Python objects.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import orjson
import polars as pl

from uploader.mock._body import decode_series, decode_text

__all__ = ["BatchRecord", "BatchStatuses", "ProfileStore", "Receipts", "StoredBatch"]

Status = Literal["complete", "incomplete", "stuck"]


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """The valid rows of one accepted call."""

    call: int
    batch_id: str
    version: int
    id_name: str
    attributes: tuple[str, ...]
    frame: pl.DataFrame
    #: wall-clock epoch seconds, for ``modifiedAt``
    modified: float

    def decoded(self) -> pl.DataFrame:
        """The frame with every attribute value percent-decoded."""
        return self.frame.with_columns(
            decode_series(self.frame.get_column(name)) for name in self.attributes
        )


class Receipts:
    """Every row taken (accepted, not failed by a row fault), with its call number, in order."""

    def __init__(self) -> None:
        self._batches: list[StoredBatch] = []
        self.rows = 0

    def add(self, batch: StoredBatch) -> None:
        self._batches.append(batch)
        self.rows += batch.frame.height

    def frame(self, id_column: str = "thirdPartyId") -> pl.DataFrame:
        """``call``, the id column, then the union of attributes (missing → null), decoded.
        Only calls whose id header is ``id_column`` are included."""
        parts = [
            batch.decoded().select(pl.lit(batch.call, dtype=pl.Int64).alias("call"), pl.all())
            for batch in self._batches
            if batch.id_name == id_column and batch.frame.height
        ]
        if not parts:
            return pl.DataFrame(schema={"call": pl.Int64, id_column: pl.String})
        return pl.concat(parts, how="diagonal")

    def to_json(self) -> bytes:
        calls = [
            {
                "call": batch.call,
                "batchId": batch.batch_id,
                "version": batch.version,
                "idName": batch.id_name,
                "attributes": list(batch.attributes),
                "rows": batch.decoded().rows(),
            }
            for batch in self._batches
        ]
        return orjson.dumps({"rows": self.rows, "calls": calls})

    def dump(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_json())


@dataclass(slots=True)
class _Index:
    """Ids of one kind, sorted (stably), with where each row lives."""

    ids: pl.Series
    batch: list[int]
    row: list[int]


class ProfileStore:
    """Profiles as the sum of the stored batches: for each attribute, the last non-empty value.

    Lookups use a sorted index built lazily after a change (one sort, then binary searches).
    """

    def __init__(self) -> None:
        self._batches: list[StoredBatch] = []
        self._index: dict[str, _Index] = {}

    def add(self, batch: StoredBatch) -> None:
        self._batches.append(batch)
        self._index.pop(batch.id_name, None)

    def _index_for(self, kind: str) -> _Index:
        index = self._index.get(kind)
        if index is None:
            parts = [
                batch.frame.select(
                    pl.col(kind).alias("id"),
                    pl.lit(number, dtype=pl.UInt32).alias("batch"),
                    pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
                )
                for number, batch in enumerate(self._batches)
                if batch.id_name == kind
            ]
            frame = (
                pl.concat(parts).sort("id", maintain_order=True)
                if parts
                else pl.DataFrame(schema={"id": pl.String, "batch": pl.UInt32, "row": pl.UInt32})
            )
            index = _Index(
                ids=frame.get_column("id"),
                batch=frame.get_column("batch").to_list(),
                row=frame.get_column("row").to_list(),
            )
            self._index[kind] = index
        return index

    def known(self, ids: pl.Series, kind: str = "thirdPartyId") -> pl.Series:
        """Which of ``ids`` already have a profile."""
        return ids.is_in(self._index_for(kind).ids.implode())

    def __contains__(self, profile_id: object) -> bool:
        return isinstance(profile_id, str) and self.get_detailed(profile_id) is not None

    def get_detailed(
        self, profile_id: str, kind: str = "thirdPartyId"
    ) -> dict[str, tuple[str, float]] | None:
        """attribute → (value, modified epoch seconds), or None when there is no profile."""
        index = self._index_for(kind)
        low = int(index.ids.search_sorted(profile_id, side="left"))
        high = int(index.ids.search_sorted(profile_id, side="right"))
        if low == high:
            return None
        attributes: dict[str, tuple[str, float]] = {}
        for position in range(low, high):
            batch = self._batches[index.batch[position]]
            row = batch.frame.row(index.row[position], named=True)
            for name in batch.attributes:
                raw = row.get(name)
                if raw:  # an empty cell never clears a stored value
                    attributes[name] = (decode_text(raw), batch.modified)
        return attributes

    def get(self, profile_id: str, kind: str = "thirdPartyId") -> dict[str, str] | None:
        """attribute → value for one profile, or None when it does not exist."""
        found = self.get_detailed(profile_id, kind)
        return None if found is None else {name: value for name, (value, _) in found.items()}

    def drop(self, ids: list[str] | pl.Series, kind: str = "thirdPartyId") -> int:
        """Forget these profiles (to simulate loss); returns how many stored rows went."""
        doomed = pl.Series("ids", list(ids), dtype=pl.String).implode()
        dropped = 0
        kept: list[StoredBatch] = []
        for batch in self._batches:
            if batch.id_name == kind:
                frame = batch.frame.filter(~pl.col(kind).is_in(doomed))
                dropped += batch.frame.height - frame.height
                batch = replace(batch, frame=frame)
            kept.append(batch)
        self._batches = kept
        self._index.clear()
        return dropped


@dataclass(slots=True)
class BatchRecord:
    """What batchStatus reports about one accepted batch."""

    batch_id: str
    submitted_at: float
    #: seconds of "processing": ``incomplete`` until then
    delay: float
    batch_size: int
    successful: int
    not_found: int
    #: rows that failed (refused by the body model, or by a row fault)
    failed: int
    #: ids of the rows failed by a row fault, in batch order (what batchStatus lists)
    failed_ids: tuple[str, ...] = ()
    stuck: bool = False

    def status(self, now: float) -> Status:
        if self.stuck:
            return "stuck"
        return "complete" if now - self.submitted_at >= self.delay else "incomplete"

    def listed_failures(self, status: Status) -> tuple[str, ...]:
        """The ids batchStatus lists as failed: only once the batch is complete."""
        return self.failed_ids if status == "complete" else ()

    def details(self, status: Status) -> dict[str, int]:
        done = status == "complete"
        return {
            "consumedCount": self.batch_size if done else 0,
            "successfulUpdates": self.successful if done else 0,
            "profilesNotFound": self.not_found if done else 0,
            "failedUpdates": self.failed if done else 0,
        }


@dataclass(slots=True)
class BatchStatuses:
    """Statuses by batch id, oldest first; with ``retention``, only the last N are kept."""

    retention: int | None = None
    _records: OrderedDict[str, BatchRecord] = field(default_factory=OrderedDict)

    def add(self, record: BatchRecord) -> None:
        self._records[record.batch_id] = record
        while self.retention is not None and len(self._records) > self.retention:
            self._records.popitem(last=False)

    def get(self, batch_id: str) -> BatchRecord | None:
        return self._records.get(batch_id)

    def ids(self) -> list[str]:
        return list(self._records)
