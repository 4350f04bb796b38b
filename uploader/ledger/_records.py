"""The ledger's records, typed: one class per record type, each read from and written as
exactly the JSON line the uploader writes (``to_json``/``from_json``; ``parse_record`` reads
any line). Nothing outside this module reads a ledger record by key.

A line's ``type`` says which record it is:

- ``run`` (``RunRecord``): a run (or resumed run) starts: ledger ``schema``, tool version,
  time, the input fingerprint (sources with size, mtime and content digest, or an object's
  size and ETag; the settings that shape batches), the send settings, and the hash algorithm of the digests and batch hashes;
- ``attempt`` (``AttemptRecord``, schema 3): one call of one batch to the bulk endpoint
  (bisection parts are batches of their own ``seq``), written before the batch's outcome;
- ``batch`` (``BatchRecord``): one outcome of one batch (the latest of a ``seq`` wins);
- ``status`` (``StatusRecord``): what Target's batchStatus said about one batch;
- ``verify`` (``VerifyStart`` | ``VerifyProfile`` | ``VerifyEnd``): a verification run;
- ``summary`` (``SummaryRecord``): the counts at the end of a run.

Fields a reader relies on are required; fields added over time are optional when reading
(older ledgers lack them), and every field is written, so a record written today reads back
to the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast, get_args

__all__ = [
    "ATTEMPT_SCHEMA",
    "LEDGER_SCHEMA",
    "RESUMABLE_SCHEMA",
    "UNRECORDED_HASH_ALGORITHM",
    "UNVERSIONED_SCHEMA",
    "AttemptRecord",
    "BatchRecord",
    "CallOutcome",
    "InputFingerprint",
    "LedgerRecord",
    "MalformedRecord",
    "Outcome",
    "Part",
    "RunRecord",
    "SendSettings",
    "SourceRecord",
    "StatusRecord",
    "SummaryRecord",
    "SyncRun",
    "Timings",
    "VerifyEnd",
    "VerifyProfile",
    "VerifyRecord",
    "VerifyStart",
    "parse_record",
]

# The ledger format this uploader writes (``schema`` in each run record):
#   1: unversioned ledgers of uploader 0.1.x (no ``schema`` field). Batches were encoded with
#      the raw-UTF-8 mode as the default, recorded as ``"encode": "default"`` (now ``compact``).
#   2: ``schema`` in run records; ``strict`` encoding is the default, modes recorded by their
#      new names (``strict`` | ``compact``). Run records may name their ``hash_algorithm``.
#   3: ``attempt`` records, one per call of a batch (a schema-2 reader refuses the type).
#      Batches are made as in schema 2: a schema-2 ledger is resumed in its own schema.
LEDGER_SCHEMA = 3
UNVERSIONED_SCHEMA = 1
#: the oldest schema whose batches this uploader makes the same way (``--resume`` takes it)
RESUMABLE_SCHEMA = 2
#: the first schema with ``attempt`` records (an older ledger has none, and gets none)
ATTEMPT_SCHEMA = 3
#: what every ledger written before run records named their hash algorithm used (XXH3-128)
UNRECORDED_HASH_ALGORITHM = "xxh3_128"

Outcome = Literal["acknowledged", "failed", "rejected", "pending", "split"]
_OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))
#: what one call came to: ``ok`` (answered), ``throttled`` (429/503 throttle), or what
#: ``uploader.send._retry.classify`` decided for its error: ``retry`` (transient), ``fail``
#: (Target refused the batch), ``stop`` (token refused), ``halt`` (endpoint takes no call)
CallOutcome = Literal["ok", "throttled", "retry", "fail", "stop", "halt"]
_CALL_OUTCOMES: frozenset[str] = frozenset(get_args(CallOutcome))

_T = TypeVar("_T")


class MalformedRecord(ValueError):
    """A ledger line is not a record this uploader knows (the reader names the line)."""


# -- reading JSON values, checked ------------------------------------------------------------


def _is(value: object, kind: type) -> bool:
    # JSON true/false are ints to Python: never take one for a number
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def _required(record: Mapping[str, Any], name: str, kind: type[_T]) -> _T:
    value = record.get(name)
    if not _is(value, kind):
        raise MalformedRecord(name)
    return cast(_T, value)


def _optional(record: Mapping[str, Any], name: str, kind: type[_T]) -> _T | None:
    value = record.get(name)
    if value is None:
        return None
    if not _is(value, kind):
        raise MalformedRecord(name)
    return cast(_T, value)


def _number(record: Mapping[str, Any], name: str) -> float | None:
    value = record.get(name)
    if value is None:
        return None
    if not (_is(value, int) or _is(value, float)):
        raise MalformedRecord(name)
    return float(value)


def _strings(record: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = record.get(name) or ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise MalformedRecord(name)
    return tuple(str(item) for item in value)


def _objects(record: Mapping[str, Any], name: str) -> list[Mapping[str, Any]] | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedRecord(name)
    return value


def _row(record: Mapping[str, Any], name: str) -> tuple[int, int] | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(_is(v, int) for v in value):
        raise MalformedRecord(name)
    return value[0], value[1]


# -- run -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRecord:
    """One input file as a run found it: what ``--resume`` and ``reproduce`` compare. An
    object in a store (``path`` is its URL) has its ``etag`` and ``last_modified`` time
    (ISO 8601) in place of an mtime and a digest; written only for objects, so a file's
    record reads back to the same bytes as before they existed."""

    path: str
    size: int | None = None
    mtime_ns: int | None = None
    digest: str | None = None  # content digest (the run's hash algorithm); older ledgers: none
    etag: str | None = None  # the store's content identity of an object
    last_modified: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SourceRecord:
        return cls(
            path=_required(data, "path", str),
            size=_optional(data, "size", int),
            mtime_ns=_optional(data, "mtime_ns", int),
            digest=_optional(data, "digest", str),
            etag=_optional(data, "etag", str),
            last_modified=_optional(data, "last_modified", str),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "digest": self.digest,
        }
        if self.etag is not None:
            data["etag"] = self.etag
        if self.last_modified is not None:
            data["last_modified"] = self.last_modified
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class InputFingerprint:
    """The identity of a run's input: its files, and the settings that shape its batches
    (``InputSpec.shaping_settings()``, which owns their names: compared whole on resume)."""

    sources: tuple[SourceRecord, ...] | None = None
    settings: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputFingerprint:
        sources = _objects(data, "sources")
        return cls(
            sources=None if sources is None else tuple(map(SourceRecord.from_json, sources)),
            settings=_optional(data, "settings", dict),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.sources is not None:
            data["sources"] = [source.to_json() for source in self.sources]
        if self.settings is not None:
            data["settings"] = dict(self.settings)
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class SendSettings:
    """Where and how a run sent (``UploadConfig.ledger_settings()``); absent: not recorded."""

    client_code: str | None = None
    endpoint: str | None = None
    api_version: str | None = None
    concurrency: int | None = None
    rate: str | None = None  # "N/SECONDS", or None: no limit
    max_retries: int | None = None
    bisect_calls: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SendSettings:
        return cls(
            client_code=_optional(data, "client_code", str),
            endpoint=_optional(data, "endpoint", str),
            api_version=_optional(data, "api_version", str),
            concurrency=_optional(data, "concurrency", int),
            rate=_optional(data, "rate", str),
            max_retries=_optional(data, "max_retries", int),
            bisect_calls=_optional(data, "bisect_calls", int),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "client_code": self.client_code,
            "endpoint": self.endpoint,
            "api_version": self.api_version,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "max_retries": self.max_retries,
            "bisect_calls": self.bisect_calls,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncRun:
    """What a ``sync`` run selected from: its state directory and the selection time, which
    ``--resume`` reuses so it selects (and sends) exactly the rows the first try did."""

    state: str
    selected_at: int  # unix seconds
    refresh_after_days: int
    full: bool = False
    #: tonight's rows by reason (new, changed, refresh, unchanged), known before sending
    rows: Mapping[str, int] = field(default_factory=dict)
    missing: int = 0  # ids in the state that tonight's input no longer has (never sent)
    generation: int = 0  # the state's generation it selected against

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SyncRun:
        rows = _optional(data, "rows", dict) or {}
        return cls(
            state=_required(data, "state", str),
            selected_at=_required(data, "selected_at", int),
            refresh_after_days=_required(data, "refresh_after_days", int),
            full=bool(_optional(data, "full", bool)),
            rows={str(reason): _required(rows, reason, int) for reason in rows},
            missing=_optional(data, "missing", int) or 0,
            generation=_optional(data, "generation", int) or 0,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "selected_at": self.selected_at,
            "refresh_after_days": self.refresh_after_days,
            "full": self.full,
            "rows": dict(self.rows),
            "missing": self.missing,
            "generation": self.generation,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """A run (or a resumed run) starts."""

    schema: int | None = None  # None: an unversioned ledger (uploader 0.1.x)
    version: str | None = None
    started: str | None = None
    resumed: bool | None = None
    fingerprint: InputFingerprint
    settings: SendSettings | None = None
    #: the algorithm of the source digests and batch hashes; None: not recorded (xxh3_128)
    hash_algorithm: str | None = None
    #: a ``sync`` run's selection; None: a plain upload
    sync: SyncRun | None = None

    @property
    def ledger_schema(self) -> int:
        return UNVERSIONED_SCHEMA if self.schema is None else self.schema

    @property
    def hashes(self) -> str:
        """The hash algorithm of this run's digests and batch hashes."""
        return self.hash_algorithm or UNRECORDED_HASH_ALGORITHM

    @property
    def send_settings(self) -> SendSettings:
        return self.settings or SendSettings()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        settings = _optional(data, "settings", dict)
        sync = _optional(data, "sync", dict)
        return cls(
            # an unreadable schema is read as unversioned (what older readers did too)
            schema=data["schema"] if _is(data.get("schema"), int) else None,
            version=_optional(data, "version", str),
            started=_optional(data, "started", str),
            resumed=_optional(data, "resumed", bool),
            fingerprint=InputFingerprint.from_json(_required(data, "fingerprint", dict)),
            settings=None if settings is None else SendSettings.from_json(settings),
            hash_algorithm=_optional(data, "hash_algorithm", str),
            sync=None if sync is None else SyncRun.from_json(sync),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "run"}
        if self.schema is not None:
            data["schema"] = self.schema
        data.update(
            version=self.version,
            started=self.started,
            resumed=self.resumed,
            fingerprint=self.fingerprint.to_json(),
            settings=None if self.settings is None else self.settings.to_json(),
        )
        if self.hash_algorithm is not None:
            data["hash_algorithm"] = self.hash_algorithm
        if self.sync is not None:
            data["sync"] = self.sync.to_json()
        return data


# -- batch ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds from the first try to the verdict, and of the last call (acknowledged batches)."""

    total: float
    last_call: float


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a split batch: its seq and its lines ``[start, stop)`` in the parent."""

    seq: int
    start: int
    stop: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRecord:
    """One outcome of one batch (the latest record of a ``seq`` is its state)."""

    seq: int
    content_hash: str  # JSON ``hash``
    rows: int
    outcome: Outcome
    nbytes: int | None = None  # JSON ``bytes``
    first: tuple[int, int] | None = None  # (source index, row) of the first and last row
    last: tuple[int, int] | None = None
    attempts: int = 0  # 0: never sent
    http_status: int | None = None
    batch_id: str | None = None  # JSON ``target_batch_id``: Target's id of an acknowledged batch
    status_url: str | None = None
    message: str = ""
    timings: Timings | None = None
    parts: tuple[Part, ...] | None = None  # a ``split`` batch's parts
    at: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.outcome == "acknowledged"

    @property
    def sent(self) -> bool:
        """Its rows went to Target at least once (a split batch's rows are in its parts)."""
        return self.outcome != "split" and (self.attempts > 0 or self.acknowledged)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchRecord:
        outcome = _required(data, "outcome", str)
        if outcome not in _OUTCOMES:
            raise MalformedRecord("outcome")
        timings = _optional(data, "timings", dict) or {}
        total, last_call = _number(timings, "total"), _number(timings, "last_call")
        parts = _objects(data, "parts")
        return cls(
            seq=_required(data, "seq", int),
            content_hash=_required(data, "hash", str),
            rows=_required(data, "rows", int),
            outcome=outcome,  # type: ignore[arg-type]  # checked against Outcome above
            nbytes=_optional(data, "bytes", int),
            first=_row(data, "first"),
            last=_row(data, "last"),
            attempts=_optional(data, "attempts", int) or 0,
            http_status=_optional(data, "http_status", int),
            batch_id=_optional(data, "target_batch_id", str),
            status_url=_optional(data, "status_url", str),
            message=_optional(data, "message", str) or "",
            timings=None if total is None or last_call is None else Timings(total, last_call),
            parts=None if parts is None else tuple(_part(part) for part in parts),
            at=_optional(data, "at", str),
        )

    def to_json(self) -> dict[str, Any]:
        timings = self.timings
        data: dict[str, Any] = {
            "type": "batch",
            "seq": self.seq,
            "hash": self.content_hash,
            "rows": self.rows,
            "bytes": self.nbytes,
            "first": None if self.first is None else list(self.first),
            "last": None if self.last is None else list(self.last),
            "outcome": self.outcome,
            "attempts": self.attempts,
            "http_status": self.http_status,
            "target_batch_id": self.batch_id,
            "status_url": self.status_url,
            "message": self.message,
            "timings": {} if timings is None else {"total": timings.total, "last_call": timings.last_call},
        }  # fmt: skip
        if self.parts is not None:
            data["parts"] = [{"seq": p.seq, "start": p.start, "stop": p.stop} for p in self.parts]
        data["at"] = self.at
        return data


def _part(data: Mapping[str, Any]) -> Part:
    return Part(
        _required(data, "seq", int), _required(data, "start", int), _required(data, "stop", int)
    )


# -- attempt -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRecord:
    """One call of batch ``seq`` (a bisection part has its own seq): when it started (UTC,
    ISO 8601), how long it took, Target's HTTP status (``None``: no answer — connection error,
    timeout), what it came to, and the backoff chosen before the next call (``None``: none
    followed from this one). Token calls are not batch calls: none is recorded."""

    seq: int
    attempt: int  # 1-based, per batch
    at: str
    seconds: float
    http_status: int | None
    outcome: CallOutcome
    retry_delay: float | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttemptRecord:
        outcome = _required(data, "outcome", str)
        if outcome not in _CALL_OUTCOMES:
            raise MalformedRecord("outcome")
        seconds = _number(data, "seconds")
        if seconds is None:
            raise MalformedRecord("seconds")
        return cls(
            seq=_required(data, "seq", int),
            attempt=_required(data, "attempt", int),
            at=_required(data, "at", str),
            seconds=seconds,
            http_status=_optional(data, "http_status", int),
            outcome=outcome,  # type: ignore[arg-type]  # checked against CallOutcome above
            retry_delay=_number(data, "retry_delay"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "attempt",
            "seq": self.seq,
            "attempt": self.attempt,
            "at": self.at,
            "seconds": self.seconds,
            "http_status": self.http_status,
            "outcome": self.outcome,
            "retry_delay": self.retry_delay,
        }


# -- status --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRecord:
    """What Target's batchStatus last said about one batch (schema-1 ledgers have no row
    lists: none failed)."""

    seq: int
    batch_id: str | None
    status: str  # complete | incomplete | stuck | unknown (Target no longer has it) | other
    batch_size: int | None = None
    consumed_count: int | None = None
    successful_updates: int | None = None
    profiles_not_found: int | None = None
    failed_updates: int | None = None
    message: str = ""
    failed_ids: tuple[str, ...] = ()  # rows Target lists as failed (row-level failures)
    not_found_ids: tuple[str, ...] = ()  # rows listed as not found (v1: no such profile)
    failed_ids_complete: bool = True  # False: the answer was over its cap, the list is cut
    at: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusRecord:
        complete = _optional(data, "failed_ids_complete", bool)
        return cls(
            seq=_required(data, "seq", int),
            batch_id=_optional(data, "batch_id", str),
            status=_optional(data, "status", str) or "unknown",
            batch_size=_optional(data, "batch_size", int),
            consumed_count=_optional(data, "consumed_count", int),
            successful_updates=_optional(data, "successful_updates", int),
            profiles_not_found=_optional(data, "profiles_not_found", int),
            failed_updates=_optional(data, "failed_updates", int),
            message=_optional(data, "message", str) or "",
            failed_ids=_strings(data, "failed_ids"),
            not_found_ids=_strings(data, "not_found_ids"),
            failed_ids_complete=True if complete is None else complete,
            at=_optional(data, "at", str) or "",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "status",
            "seq": self.seq,
            "batch_id": self.batch_id,
            "status": self.status,
            "batch_size": self.batch_size,
            "consumed_count": self.consumed_count,
            "successful_updates": self.successful_updates,
            "profiles_not_found": self.profiles_not_found,
            "failed_updates": self.failed_updates,
            "message": self.message,
            "failed_ids": list(self.failed_ids),
            "not_found_ids": list(self.not_found_ids),
            "failed_ids_complete": self.failed_ids_complete,
            "at": self.at,
        }


# -- verify --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyStart:
    """A verification run starts: its seeded sample of the acknowledged rows."""

    run: int
    seed: int
    sample: int
    population: int = 0  # acknowledged rows the sample was drawn from
    at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VerifyStart:
        return cls(
            run=_required(data, "run", int),
            seed=_required(data, "seed", int),
            sample=_required(data, "sample", int),
            population=_optional(data, "population", int) or 0,
            at=_optional(data, "at", str),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "verify",
            "kind": "start",
            "run": self.run,
            "seed": self.seed,
            "sample": self.sample,
            "population": self.population,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyProfile:
    """One profile read back: the verdict and the names (never the values) that differ."""

    run: int
    id: str
    seq: int
    result: str  # matched | different | not_visible_yet | not_found | error
    attributes: tuple[str, ...] = ()
    message: str = ""
    at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VerifyProfile:
        return cls(
            run=_required(data, "run", int),
            id=_required(data, "id", str),
            seq=_required(data, "seq", int),
            result=_required(data, "result", str),
            attributes=_strings(data, "attributes"),
            message=_optional(data, "message", str) or "",
            at=_optional(data, "at", str),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "verify",
            "kind": "profile",
            "run": self.run,
            "id": self.id,
            "seq": self.seq,
            "result": self.result,
            "attributes": list(self.attributes),
            "message": self.message,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyEnd:
    """A verification run finished: its counts per result."""

    run: int
    counts: Mapping[str, int]
    at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VerifyEnd:
        counts = _optional(data, "counts", dict) or {}
        if not all(_is(n, int) for n in counts.values()):
            raise MalformedRecord("counts")
        return cls(run=_required(data, "run", int), counts=counts, at=_optional(data, "at", str))

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "verify",
            "kind": "end",
            "run": self.run,
            "counts": dict(self.counts),
            "at": self.at,
        }


VerifyRecord = VerifyStart | VerifyProfile | VerifyEnd
_VERIFY_KINDS: dict[str, type[VerifyStart] | type[VerifyProfile] | type[VerifyEnd]] = {
    "start": VerifyStart,
    "profile": VerifyProfile,
    "end": VerifyEnd,
}


# -- summary -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryRecord:
    """The counts at the end of a run: ``RunSummary.to_dict()`` as written (that class owns
    its fields); the ones readers of a ledger rely on are checked and typed here."""

    at: str | None = None
    counts: Mapping[str, Any]

    def __post_init__(self) -> None:
        for name in (
            "rows_read",
            "rows_pending",
            "rows_merged",
            "rows_unselected",
            "rows_other_shards",
        ):
            _optional(self.counts, name, int)

    @property
    def rows_read(self) -> int:
        return _optional(self.counts, "rows_read", int) or 0

    @property
    def rows_pending(self) -> int:
        return _optional(self.counts, "rows_pending", int) or 0

    @property
    def rows_merged(self) -> int:
        return _optional(self.counts, "rows_merged", int) or 0

    @property
    def rows_unselected(self) -> int:
        """A sync's rows left unsent (0 in an upload's summary, which has no such field)."""
        return _optional(self.counts, "rows_unselected", int) or 0

    @property
    def rows_other_shards(self) -> int:
        """A shard's rows of the other shards (0 unsharded, whose summary has no such field)."""
        return _optional(self.counts, "rows_other_shards", int) or 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SummaryRecord:
        counts = {k: v for k, v in data.items() if k not in ("type", "at")}
        return cls(at=_optional(data, "at", str), counts=counts)

    def to_json(self) -> dict[str, Any]:
        head: dict[str, Any] = {"type": "summary"}
        if self.at is not None:
            head["at"] = self.at
        return {**head, **self.counts}


# -- any record ----------------------------------------------------------------------------------

LedgerRecord = RunRecord | BatchRecord | AttemptRecord | StatusRecord | VerifyRecord | SummaryRecord


def parse_record(data: object) -> LedgerRecord:
    """The record a ledger line holds (its JSON, decoded); ``MalformedRecord`` when it is not
    one: not an object, an unknown ``type`` (or verify ``kind``), a field missing or of
    another type."""
    if not isinstance(data, dict):
        raise MalformedRecord("not an object")
    kind = data.get("type")
    if kind == "run":
        return RunRecord.from_json(data)
    if kind == "batch":
        return BatchRecord.from_json(data)
    if kind == "attempt":
        return AttemptRecord.from_json(data)
    if kind == "status":
        return StatusRecord.from_json(data)
    if kind == "summary":
        return SummaryRecord.from_json(data)
    if kind == "verify":
        verify = _VERIFY_KINDS.get(_required(data, "kind", str))
        if verify is None:
            raise MalformedRecord("kind")
        return verify.from_json(data)
    raise MalformedRecord("type")
