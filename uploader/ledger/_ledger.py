"""The result ledger: an append-only JSON-lines record of a run, fsync'd record by record.

Its records (``run``, ``attempt``, ``batch``, ``status``, ``verify``, ``summary``) are the
typed classes of ``uploader.ledger._records``. ``read_ledger`` folds a ledger into a
``LedgerState``: the runs, every call (``attempt``), the latest ``batch`` record of each
``seq``, the current ``status`` of each (only one for the batch's current Target batch id),
the verification records and the summaries. A
writer keeps a state current without re-reading the file by opening its ``Ledger`` with
``state=``: every record written is folded in too (``LedgerState.apply``).

The token is never written. A ledger's schema is that of its first ``run`` record (the run
that shaped the batches).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from uploader._writable import make_dirs
from uploader.errors import LedgerError, RecordError
from uploader.ledger import _lock as lock
from uploader.ledger._records import (
    LEDGER_SCHEMA,
    RESUMABLE_SCHEMA,
    UNVERSIONED_SCHEMA,
    AttemptRecord,
    BatchRecord,
    LedgerRecord,
    MalformedRecord,
    RunRecord,
    StatusRecord,
    SummaryRecord,
    VerifyRecord,
    parse_record,
)
from uploader.produce._source import HASH_ALGORITHM

__all__ = ["Ledger", "LedgerState", "check_resumable", "read_ledger"]


def _refuse_newer(schema: int, path: Path) -> None:
    if schema > LEDGER_SCHEMA:
        raise LedgerError(
            f"ledger {path} was written by a newer uploader (ledger schema {schema}; this one "
            f"knows up to {LEDGER_SCHEMA}): use that version, or start a new ledger"
        )


class Ledger:
    """Appends records durably: each ``write`` is flushed and fsync'd before it returns.

    A record cut short by a crash (the last line has no newline) is cut off when the ledger
    is reopened: it was never complete, so nothing relied on it, and appending after it would
    glue the next record onto it. A ledger of a newer schema is not appended to (whoever
    opens it: upload, status, verify): its records may mean what this uploader cannot know.

    A writer holds the ledger's lock (``uploader.ledger._lock``) while it is open: a second process
    cannot append to the same ledger.

    With ``state`` (the ledger as read when opened), every record written is folded into it
    once it is on disk: the writer and whoever it hands ``state`` to see the ledger as it is
    without reading the file again.
    """

    def __init__(self, path: Path, *, state: LedgerState | None = None) -> None:
        self.path = path
        self.state = state
        self._failed: str | None = None  # why the last write failed: no more writes
        lock.acquire(path)
        try:
            make_dirs(path.parent)
            # Unbuffered: a write that fails (disk full) leaves nothing behind in a buffer
            # that a later flush or close would try, and fail, to write again.
            self._handle: IO[bytes] = path.open("ab", buffering=0)
            self._drop_partial_tail()
            _refuse_newer(self._first_schema(), path)
        except OSError as exc:
            lock.release(path)
            raise LedgerError(f"ledger {path}: cannot open for writing ({exc.strerror})") from exc
        except LedgerError:
            self._handle.close()
            lock.release(path)
            raise

    def _first_schema(self) -> int:
        """The schema of the first record (a run record), read alone: a ledger can be long."""
        with self.path.open("rb") as reader:
            first = reader.readline()
        try:
            record = parse_record(orjson.loads(first)) if first.strip() else None
        except (orjson.JSONDecodeError, MalformedRecord):
            return LEDGER_SCHEMA  # not ours to judge here; reading it says what is wrong
        return record.ledger_schema if isinstance(record, RunRecord) else LEDGER_SCHEMA

    def _drop_partial_tail(self) -> None:
        if not self._handle.seek(0, os.SEEK_END):
            return
        with self.path.open("rb") as reader:
            reader.seek(-1, os.SEEK_END)
            if reader.read(1) == b"\n":
                return
            reader.seek(0)
            content = reader.read()  # only after a crash; a ledger is a few lines per batch
        self._handle.truncate(content.rfind(b"\n") + 1)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def write(self, record: LedgerRecord, *, durable: bool = True) -> None:
        """Append ``record``. ``durable=False`` leaves the fsync to the next durable write
        (an ``attempt`` record: one per call, and the batch's outcome record after it syncs
        them all; a crash loses at most the calls of a batch whose outcome was not written)."""
        if self._failed is not None:  # a record may be cut short: never glue one onto it
            raise RecordError(self._failed)
        try:
            data = memoryview(orjson.dumps(record.to_json()) + b"\n")
            while data:  # a raw write may take part of it
                data = data[self._handle.write(data) or 0 :]
            if durable:
                os.fsync(self._handle.fileno())
        except OSError as exc:
            self._failed = f"ledger {self.path}: cannot write ({exc.strerror})"
            raise RecordError(self._failed) from None
        if self.state is not None:
            self.state.apply(record)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
            lock.release(self.path)


@dataclass(slots=True)
class LedgerState:
    """A ledger folded into what resume, status, verify and report need.

    ``apply`` is the fold, one record at a time: ``read_ledger`` applies every record of the
    file; a writer applies each record it writes (``Ledger(path, state=...)``) and the state
    stays what reading the file would give.
    """

    runs: list[RunRecord] = field(default_factory=list)
    #: every call of every batch, in the order written (schema 3; older ledgers: none)
    attempts: list[AttemptRecord] = field(default_factory=list)
    batches: dict[int, BatchRecord] = field(default_factory=dict)  # latest record per seq
    #: the current status per seq: the latest one for the batch's current Target batch id (a
    #: batch sent again by --resume has a new id, and what Target said of the old one is moot)
    statuses: dict[int, StatusRecord] = field(default_factory=dict)
    verifications: list[VerifyRecord] = field(default_factory=list)
    summaries: list[SummaryRecord] = field(default_factory=list)
    truncated_tail: bool = False  # the last line was cut short (crash mid-write): ignored
    last_run_finished: bool = False  # the last ``run`` record is followed by a ``summary``

    def apply(self, record: LedgerRecord) -> None:
        """Fold ``record`` (the next one in the ledger) into the state."""
        if isinstance(record, RunRecord):
            self.runs.append(record)
            self.last_run_finished = False
        elif isinstance(record, AttemptRecord):
            self.attempts.append(record)
        elif isinstance(record, BatchRecord):
            self.batches[record.seq] = record
            status = self.statuses.get(record.seq)
            if status is not None and status.batch_id != record.batch_id:
                del self.statuses[record.seq]
        elif isinstance(record, StatusRecord):
            if record.batch_id == self.target_batch_id(record.seq):
                self.statuses[record.seq] = record
        elif isinstance(record, SummaryRecord):
            self.summaries.append(record)
            self.last_run_finished = True
        else:
            self.verifications.append(record)

    def target_batch_id(self, seq: int) -> str | None:
        """Target's id of batch ``seq`` as last recorded (``None``: not acknowledged)."""
        batch = self.batches.get(seq)
        return batch.batch_id if batch is not None else None

    @property
    def first_run(self) -> RunRecord:
        """The run that shaped the batches (a state has one: ``read_ledger`` checks)."""
        return self.runs[0]

    @property
    def last_run(self) -> RunRecord:
        return self.runs[-1]

    @property
    def schema(self) -> int:
        """The ledger's schema: its first run record's (``UNVERSIONED_SCHEMA`` if none)."""
        return self.runs[0].ledger_schema if self.runs else UNVERSIONED_SCHEMA

    def acknowledged(self) -> dict[int, str]:
        """seq → content hash of every batch Target acknowledged."""
        return {
            seq: record.content_hash for seq, record in self.batches.items() if record.acknowledged
        }


def check_resumable(state: LedgerState, path: Path) -> None:
    """Refuse to resume a ledger whose batches this uploader would not make the same way."""
    _refuse_newer(state.schema, path)
    if state.schema < RESUMABLE_SCHEMA:
        raise LedgerError(
            f"cannot resume {path}: it was written by an older uploader (ledger schema "
            f"{state.schema}) whose batches were encoded differently, so resuming would "
            "re-send different batches; start a new ledger (or finish it with the older version)"
        )
    hashes = state.first_run.hashes
    if hashes != HASH_ALGORITHM:
        raise LedgerError(
            f"cannot resume {path}: its batches were hashed with {hashes}, this uploader "
            f"hashes with {HASH_ALGORITHM}; start a new ledger (or finish it with that version)"
        )


def _records(path: Path) -> Iterator[LedgerRecord | None]:
    """Each record of the ledger at ``path``; ``None`` for a last line cut short by a crash."""
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        raise LedgerError(f"ledger {path}: no such file") from None
    except OSError as exc:
        raise LedgerError(f"ledger {path}: cannot read ({exc.strerror})") from exc
    last = len(lines) - 1
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            if number - 1 == last:  # a write cut short by a crash
                yield None
                continue
            raise LedgerError(f"ledger {path}: line {number} is not JSON") from None
        try:
            yield parse_record(data)
        except MalformedRecord:
            raise LedgerError(
                f"ledger {path}: line {number} is not a valid record (a ledger line has a "
                "known type and its fields; was the file edited or mixed with another?)"
            ) from None


def read_ledger(path: Path) -> LedgerState:
    """Fold the ledger at ``path``."""
    state = LedgerState()
    for record in _records(path):
        if record is None:
            state.truncated_tail = True
        else:
            state.apply(record)
    if not state.runs:
        raise LedgerError(f"ledger {path}: no run record (is this an uploader ledger?)")
    return state
