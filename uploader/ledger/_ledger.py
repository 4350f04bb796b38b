"""The result ledger: an append-only JSON-lines record of a run, fsync'd record by record.

Record types (one JSON object a line, ``type`` first):

- ``run``: a run (or resumed run) starts: ``schema`` (``LEDGER_SCHEMA``), tool version, time,
  the input fingerprint (files with size and mtime, and the settings that shape batches), the
  send settings;
- ``batch``: one batch's outcome: ``seq``, ``hash``, ``rows``, ``bytes``, ``first``/``last``
  source rows, ``outcome`` (``acknowledged`` | ``failed`` | ``pending``), ``attempts``,
  ``http_status``, ``target_batch_id`` and ``status_url`` from Target, ``message``,
  ``timings`` (``total`` seconds from first try to verdict, ``last_call`` seconds), ``at``;
- ``summary``: the counts at the end of a run;
- ``status`` / ``verify``: what later reconciliation learnt (``uploader status``/``verify``).

The latest ``batch`` record of a ``seq`` wins. The token is never written. A ledger's schema
is that of its first ``run`` record (the run that shaped the batches).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from uploader._writable import make_dirs
from uploader.errors import LedgerError, RecordError
from uploader.ledger import _lock as lock

__all__ = ["LEDGER_SCHEMA", "Ledger", "LedgerState", "check_resumable", "read_ledger"]

# The ledger format this uploader writes (``schema`` in each run record):
#   1: unversioned ledgers of uploader 0.1.x (no ``schema`` field). Batches were encoded with
#      the raw-UTF-8 mode as the default, recorded as ``"encode": "default"`` (now ``compact``).
#   2: ``schema`` in run records; ``strict`` encoding is the default, modes recorded by their
#      new names (``strict`` | ``compact``).
LEDGER_SCHEMA = 2
UNVERSIONED_SCHEMA = 1


def _refuse_newer(schema: int, path: Path) -> None:
    if schema > LEDGER_SCHEMA:
        raise LedgerError(
            f"ledger {path} was written by a newer uploader (ledger schema {schema}; this one "
            f"knows up to {LEDGER_SCHEMA}): use that version, or start a new ledger"
        )


def _run_schema(record: dict[str, Any]) -> int:
    schema = record.get("schema", UNVERSIONED_SCHEMA)
    return schema if isinstance(schema, int) else UNVERSIONED_SCHEMA


class Ledger:
    """Appends records durably: each ``write`` is flushed and fsync'd before it returns.

    A record cut short by a crash (the last line has no newline) is cut off when the ledger
    is reopened: it was never complete, so nothing relied on it, and appending after it would
    glue the next record onto it. A ledger of a newer schema is not appended to (whoever
    opens it: upload, status, verify): its records may mean what this uploader cannot know.

    A writer holds the ledger's lock (``uploader.ledger._lock``) while it is open: a second process
    cannot append to the same ledger.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
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
            record = orjson.loads(first) if first.strip() else None
        except orjson.JSONDecodeError:
            return LEDGER_SCHEMA  # not ours to judge here; reading it says what is wrong
        return _run_schema(record) if isinstance(record, dict) else LEDGER_SCHEMA

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

    def write(self, record: dict[str, Any]) -> None:
        if self._failed is not None:  # a record may be cut short: never glue one onto it
            raise RecordError(self._failed)
        try:
            data = memoryview(orjson.dumps(record) + b"\n")
            while data:  # a raw write may take part of it
                data = data[self._handle.write(data) or 0 :]
            os.fsync(self._handle.fileno())
        except OSError as exc:
            self._failed = f"ledger {self.path}: cannot write ({exc.strerror})"
            raise RecordError(self._failed) from None

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
            lock.release(self.path)


@dataclass(slots=True)
class LedgerState:
    """A ledger folded into what resume, status and report need."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    batches: dict[int, dict[str, Any]] = field(default_factory=dict)  # latest record per seq
    statuses: dict[int, dict[str, Any]] = field(default_factory=dict)  # latest status per seq
    verifications: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    truncated_tail: bool = False  # the last line was cut short (crash mid-write): ignored
    last_run_finished: bool = False  # the last ``run`` record is followed by a ``summary``

    @property
    def schema(self) -> int:
        """The ledger's schema: its first run record's (``UNVERSIONED_SCHEMA`` if none)."""
        return _run_schema(self.runs[0]) if self.runs else UNVERSIONED_SCHEMA

    @property
    def fingerprint(self) -> dict[str, Any] | None:
        return self.runs[0].get("fingerprint") if self.runs else None

    def acknowledged(self) -> dict[int, str]:
        """seq → content hash of every batch Target acknowledged."""
        return {
            seq: record["hash"]
            for seq, record in self.batches.items()
            if record.get("outcome") == "acknowledged"
        }


#: per record type, the fields a reader relies on and their JSON types
_REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "run": {"fingerprint": dict},
    "batch": {"seq": int, "hash": str, "rows": int, "outcome": str},
    "status": {"seq": int},
    "summary": {},
    "verify": {"kind": str, "run": int},
}


def _valid(record: dict[str, Any]) -> bool:
    fields = _REQUIRED.get(record["type"]) if isinstance(record["type"], str) else None
    if fields is None:
        return False
    return all(
        isinstance(record.get(name), kind) and not isinstance(record.get(name), bool)
        for name, kind in fields.items()
    )


def check_resumable(state: LedgerState, path: Path) -> None:
    """Refuse to resume a ledger whose batches this uploader would not make the same way."""
    _refuse_newer(state.schema, path)
    if state.schema < LEDGER_SCHEMA:
        raise LedgerError(
            f"cannot resume {path}: it was written by an older uploader (ledger schema "
            f"{state.schema}) whose batches were encoded differently, so resuming would "
            "re-send different batches; start a new ledger (or finish it with the older version)"
        )


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
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
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            if number - 1 == last:  # a write cut short by a crash
                yield number, None
                continue
            raise LedgerError(f"ledger {path}: line {number} is not JSON") from None
        if not isinstance(record, dict) or "type" not in record or not _valid(record):
            raise LedgerError(
                f"ledger {path}: line {number} is not a valid record (a ledger line has a "
                "known type and its fields; was the file edited or mixed with another?)"
            )
        yield number, record


def read_ledger(path: Path) -> LedgerState:
    """Fold the ledger at ``path``."""
    state = LedgerState()
    for _number, record in _records(path):
        if record is None:
            state.truncated_tail = True
            continue
        kind = record["type"]
        if kind == "run":
            state.runs.append(record)
            state.last_run_finished = False
        elif kind == "batch":
            state.batches[int(record["seq"])] = record
        elif kind == "status":
            state.statuses[int(record["seq"])] = record
        elif kind == "verify":
            state.verifications.append(record)
        elif kind == "summary":
            state.summaries.append(record)
            state.last_run_finished = True
    if not state.runs:
        raise LedgerError(f"ledger {path}: no run record (is this an uploader ledger?)")
    return state
