"""Did Target finish the batches it acknowledged? Poll each batch's ``batchStatus`` URL.

An acknowledged batch is only *accepted for processing*. Target finishes it minutes to hours
later, reports ``complete`` | ``incomplete`` | ``stuck`` with counters (``showDetails=true``),
and keeps only the last few statuses for about a day. The poller:

- reads the ledger, picks every acknowledged batch whose status is not final yet (final:
  ``complete``, ``stuck``, ``unknown``; a batch re-sent by ``--resume`` has a new Target batch
  id and is polled again);
- GETs its status URL as Target gave it (another edge host than the submit) with
  ``showDetails=true`` — upgraded from ``http`` to ``https`` for Target's own edge hosts
  (``*.tt.omtrdc.net``; every documented example says ``http://``), so the token can go along — rate-limited, ``concurrency`` calls at once, transient errors retried;
- appends one ``status`` record per answer to the same ledger, with the ids of the rows Target
  lists as failed (``failed_ids``; both the current failed-only form and the legacy per-row
  form are read) and as not found;
- a status value it does not know (neither ``complete``, ``incomplete`` nor ``stuck``) is not
  taken as final: it is recorded, said in a warning, and asked again (bounded by ``timeout``);
- a status Target no longer has (``Batch not found``, HTTP 404) is recorded ``unknown`` and not
  asked for again: polling it forever would never end;
- with ``watch``, repeats the ``incomplete`` ones with an exponentially growing interval until
  none is left or ``timeout`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from uploader.auth._static import TokenProvider
from uploader.errors import (
    AuthError,
    ConfigError,
    RemoteError,
    Throttled,
    TransportError,
    UploaderError,
)
from uploader.exits import EXIT_FAILED, EXIT_NOT_YET, EXIT_OK, EXIT_UNCONFIRMED
from uploader.ledger._ledger import Ledger, LedgerState, read_ledger
from uploader.reconcile._defaults import (
    DEFAULT_POLL_CONCURRENCY,
    DEFAULT_STATUS_RATE,
    DEFAULT_WATCH_TIMEOUT,
)
from uploader.send._ratelimit import RateLimit, RateLimiter
from uploader.send._response import MAX_STATUS_BYTES, StatusResult, parse_status
from uploader.send._retry import RetryPolicy, retry_delay
from uploader.send._transport import (
    AiohttpTransport,
    HttpAnswer,
    Transport,
    auth_headers,
    is_loopback_host,
    raise_for_refusal,
)

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_STATUS_RATE",
    "DEFAULT_WATCH_TIMEOUT",
    "FINAL",
    "BatchStatus",
    "StatusReport",
    "first_error",
    "poll_statuses",
    "secure_status_url",
    "status_report",
]

DEFAULT_POLL_INTERVAL = 5.0  # first wait between two rounds; doubles up to MAX_POLL_INTERVAL
MAX_POLL_INTERVAL = 300.0
DEFAULT_CALL_TIMEOUT = 60.0
FINAL = frozenset({"complete", "stuck", "unknown"})
#: what Target documents; any other value is recorded but not taken as final
KNOWN = frozenset({"complete", "incomplete", "stuck"})
COUNTERS = (
    "batch_size",
    "consumed_count",
    "successful_updates",
    "profiles_not_found",
    "failed_updates",
)
# The token goes only to Target's own edge hosts, the configured endpoint's host, or this
# machine: a status URL comes from a server's answer and must not be able to pull it elsewhere.
TARGET_EDGE_SUFFIX = ".tt.omtrdc.net"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchStatus:
    """What Target last said about one batch (one ``status`` ledger record)."""

    seq: int
    batch_id: str | None
    status: str  # complete | incomplete | stuck | unknown (Target no longer has it)
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
    def from_record(cls, record: dict[str, Any]) -> BatchStatus:
        """A ledger ``status`` record (schema 1 ledgers have no row lists: none failed)."""
        return cls(
            seq=int(record["seq"]),
            batch_id=record.get("batch_id"),
            status=str(record.get("status") or "unknown"),
            **{name: record.get(name) for name in COUNTERS},
            message=str(record.get("message") or ""),
            failed_ids=tuple(str(i) for i in record.get("failed_ids") or ()),
            not_found_ids=tuple(str(i) for i in record.get("not_found_ids") or ()),
            failed_ids_complete=bool(record.get("failed_ids_complete", True)),
            at=str(record.get("at") or ""),
        )

    @classmethod
    def from_answer(cls, seq: int, batch_id: str | None, answer: StatusResult) -> BatchStatus:
        return cls(
            seq=seq,
            batch_id=answer.batch_id or batch_id,
            status=answer.status,
            batch_size=answer.batch_size,
            consumed_count=answer.consumed_count,
            successful_updates=answer.successful_updates,
            profiles_not_found=answer.profiles_not_found,
            failed_updates=answer.failed_updates,
            message=answer.message,
            failed_ids=answer.failed_ids,
            not_found_ids=answer.not_found_ids,
            failed_ids_complete=answer.failed_ids_complete,
        )

    def to_record(self) -> dict[str, Any]:
        return {"type": "status", **asdict(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport:
    """The latest status of every acknowledged batch, after a poll (or read from a ledger)."""

    statuses: tuple[BatchStatus, ...]  # latest per acknowledged seq that has one
    unpolled: tuple[int, ...] = ()  # acknowledged seqs with no status yet
    errors: tuple[str, ...] = ()  # polls that failed after their retries (this run)
    timed_out: bool = False
    calls: int = 0

    @property
    def counts(self) -> dict[str, int]:
        counts = {"complete": 0, "incomplete": 0, "stuck": 0, "unknown": 0}
        for status in self.statuses:
            counts[status.status] = counts.get(status.status, 0) + 1
        counts["unpolled"] = len(self.unpolled)
        return counts

    @property
    def totals(self) -> dict[str, int]:
        """The counters summed over the batches Target reported on."""
        return {name: sum(getattr(s, name) or 0 for s in self.statuses) for name in COUNTERS}

    @property
    def all_complete(self) -> bool:
        return not self.unpolled and all(s.status == "complete" for s in self.statuses)

    @property
    def rows_failed(self) -> int:
        """Rows Target lists as failed, over all batches (row-level failures)."""
        return sum(len(s.failed_ids) for s in self.statuses)

    @property
    def rows_not_found(self) -> int:
        return sum(len(s.not_found_ids) for s in self.statuses)

    @property
    def exit_code(self) -> int:
        """What Target's answers say, in the product's exit codes: 1 a batch is stuck or rows
        failed; 4 still processing (or not polled, or a status this client does not know);
        5 Target forgot a status (``uploader verify`` can confirm); else 0."""
        counts = self.counts
        if counts["stuck"] or self.rows_failed or self.cut_lists:
            return EXIT_FAILED
        if self.unpolled or any(s.status not in ("complete", "unknown") for s in self.statuses):
            return EXIT_NOT_YET
        return EXIT_UNCONFIRMED if counts["unknown"] else EXIT_OK

    @property
    def cut_lists(self) -> tuple[int, ...]:
        """Seqs whose failed-row list was cut at the answer cap (all their rows are suspect)."""
        return tuple(s.seq for s in self.statuses if not s.failed_ids_complete)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "totals": self.totals,
            "all_complete": self.all_complete,
            "rows_failed": self.rows_failed,
            "rows_not_found": self.rows_not_found,
            "failed_lists_cut": list(self.cut_lists),
            "timed_out": self.timed_out,
            "calls": self.calls,
            "errors": list(self.errors),
            "batches": [asdict(s) for s in self.statuses],
            "unpolled": list(self.unpolled),
        }

    def lines(self) -> list[str]:
        counts, totals = self.counts, self.totals
        rows = [
            ("batch statuses", ", ".join(f"{n:,} {k}" for k, n in counts.items() if n or k == "complete")),
            ("processed", f"{totals['consumed_count']:,} of {totals['batch_size']:,} rows"),
            ("  successfulUpdates", f"{totals['successful_updates']:,}"),
            ("  profilesNotFound", f"{totals['profiles_not_found']:,}"),
            ("  failedUpdates", f"{totals['failed_updates']:,}"),
            *status_notes(self),
        ]  # fmt: skip
        out = [f"{label:<19}  {value}" for label, value in rows]
        if self.timed_out:
            out.append("note: stopped waiting (timeout) while batches were still incomplete")
        out += [f"warning: {error}" for error in self.errors]
        return out


def status_notes(report: StatusReport) -> list[tuple[str, str]]:
    """Labelled lines for row-level failures and for batches that need a look (stuck,
    forgotten, or in a status this client does not know)."""
    notes: list[tuple[str, str]] = []
    if report.rows_failed or report.rows_not_found:
        notes.append(("rows failed", f"{report.rows_failed:,} (listed by Target, row level)"))
        if report.rows_not_found:
            notes.append(("rows not found", f"{report.rows_not_found:,} (v1: no such profile)"))
    for s in report.statuses:
        if s.status not in ("complete", "incomplete") or s.failed_ids:
            said = f": {s.message}" if s.message else ""
            failed = f", {len(s.failed_ids):,} rows failed" if s.failed_ids else ""
            cut = " (list cut at the answer cap)" if not s.failed_ids_complete else ""
            notes.append((f"  batch {s.seq}", f"{s.status} ({s.batch_id}){failed}{cut}{said}"))
    return notes


def status_report(
    state: LedgerState, *, errors: Iterable[str] = (), timed_out: bool = False, calls: int = 0
) -> StatusReport:
    """Fold the ledger's status records over its acknowledged batches."""
    statuses: list[BatchStatus] = []
    unpolled: list[int] = []
    for seq in sorted(state.acknowledged()):
        record = state.statuses.get(seq)
        if record is not None and record.get("batch_id") == state.batches[seq].get(
            "target_batch_id"
        ):
            statuses.append(BatchStatus.from_record(record))
        else:
            unpolled.append(seq)
    return StatusReport(
        statuses=tuple(statuses),
        unpolled=tuple(unpolled),
        errors=tuple(errors),
        timed_out=timed_out,
        calls=calls,
    )


@dataclass(frozen=True, slots=True)
class _Target:
    seq: int
    batch_id: str | None
    url: str


def _to_poll(state: LedgerState) -> list[_Target]:
    targets = []
    for seq in sorted(state.acknowledged()):
        batch = state.batches[seq]
        url, batch_id = batch.get("status_url"), batch.get("target_batch_id")
        if not url:
            continue
        last = state.statuses.get(seq)
        if last and last.get("batch_id") == batch_id and last.get("status") in FINAL:
            continue
        targets.append(_Target(seq, batch_id, detailed_url(secure_status_url(url))))
    return targets


def secure_status_url(url: str) -> str:
    """``url`` over https when it names one of Target's edge hosts (``*.tt.omtrdc.net``):
    Adobe's answers say ``http://mboxedgeNN.tt.omtrdc.net/…``, and the token must never go
    over clear text. Any other URL is returned as it is."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and host.endswith(TARGET_EDGE_SUFFIX):
        netloc = parts.netloc
        if parts.port == 80:  # the http port, named: https has its own
            netloc = netloc.rsplit(":", 1)[0]
        return urlunsplit(parts._replace(scheme="https", netloc=netloc))
    return url


def detailed_url(url: str) -> str:
    """``url`` with ``showDetails=true`` (the counters), everything else as Target gave it."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = [(k, v) for k, v in query if k != "showDetails"] + [("showDetails", "true")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def token_allowed(url: str, endpoint: str | None) -> bool:
    """May the profile token go to ``url``? A status URL comes from a server's answer, so
    only to: the run's endpoint (same host and port; https unless it is this machine);
    another loopback name on the endpoint's port when the endpoint is this machine (the mock
    answers 127.0.0.1 with localhost and back, as Target answers with another edge host);
    Target's own edge hosts over https. Not to any port of this machine: another local
    service (a proxy, a debugger) must not receive it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host.endswith(TARGET_EDGE_SUFFIX):
        return True
    if not endpoint:
        return False
    base = urlsplit(endpoint)
    base_host = (base.hostname or "").lower()
    if _port(parts) != _port(base):
        return False
    if is_loopback_host(host):
        return is_loopback_host(base_host)
    return host == base_host and parts.scheme == "https"


def _port(parts: SplitResult) -> int | None:
    """The port a URL connects to (its scheme's default when it names none)."""
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # not a port number
        return None


def classify_answer(answer: HttpAnswer) -> tuple[str, Any]:
    """``("status", StatusResult)``, ``("gone", message)``; raises ``AuthError`` and the
    transient ``Throttled``/``ServerError`` (retried by the caller)."""
    code = answer.status
    raise_for_refusal(
        answer,
        f"Target refused the profile token for batchStatus (HTTP {code}): it has expired "
        "or was regenerated; run again with a valid token",
    )
    if code in (404, 410):
        return "gone", f"status no longer available (HTTP {code})"
    if code != 200:
        raise RemoteError(f"unexpected answer to batchStatus (HTTP {code})", status=code)
    result = parse_status(answer.body, truncated=answer.truncated)
    if not result.status:  # <success>false</success>: "Batch not found"
        return "gone", result.message or "Target has no status for this batch"
    return "status", result


class _Poller:
    def __init__(
        self,
        ledger: Ledger,
        tokens: TokenProvider,
        transport: Transport,
        *,
        endpoint: str | None,
        limiter: RateLimiter | None,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random,
        concurrency: int,
    ) -> None:
        self.ledger = ledger
        self.tokens = tokens
        self.transport = transport
        self.endpoint = endpoint
        self.limiter = limiter
        self.retry = retry
        self.sleep = sleep
        self.rng = rng
        self.concurrency = concurrency
        self.calls = 0
        self.errors: list[str] = []

    async def round(self, targets: list[_Target]) -> list[_Target]:
        """Poll ``targets`` once (N workers over a bounded queue); return those still
        ``incomplete`` (or unreachable this round)."""
        queue: asyncio.Queue[_Target | None] = asyncio.Queue(maxsize=self.concurrency)
        again: list[_Target] = []

        async def feed() -> None:
            for target in targets:
                await queue.put(target)
            # Only after a clean end: when a worker fails the group cancels this task, and
            # waiting for room in a queue nobody drains would hang.
            for _ in range(self.concurrency):
                await queue.put(None)

        async def work() -> None:
            while (target := await queue.get()) is not None:
                if not await self.poll(target):
                    again.append(target)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(feed())
                for _ in range(self.concurrency):
                    group.create_task(work())
        except BaseExceptionGroup as failure:
            raise first_error(failure) from None
        return sorted(again, key=lambda t: t.seq)

    async def poll(self, target: _Target) -> bool:
        """One batch: True once its status is final (recorded), False to ask again."""
        attempt, refreshed = 0, False
        while True:
            if self.limiter:
                await self.limiter.acquire()
            token = await self.tokens.get()
            headers = auth_headers(token) if token_allowed(target.url, self.endpoint) else {}
            self.calls += 1
            try:
                answer = await self.transport.request(
                    "GET", target.url, headers=headers, limit=MAX_STATUS_BYTES
                )
                kind, value = classify_answer(answer)
            except AuthError:
                fresh = None if refreshed else await self.tokens.rejected(token)
                if fresh is None:
                    raise
                refreshed = True
                continue
            except (TransportError, RemoteError) as error:
                if isinstance(error, Throttled) and self.limiter:
                    self.limiter.throttled(error.retry_after)
                delay = retry_delay(error, attempt, self.retry, self.rng)
                if delay is None:
                    self.errors.append(f"batch {target.seq}: {error}")
                    return False
                attempt += 1
                await self.sleep(delay)
                continue
            if kind == "gone":
                status = BatchStatus(
                    seq=target.seq, batch_id=target.batch_id, status="unknown", message=value
                )
            else:
                status = BatchStatus.from_answer(target.seq, target.batch_id, value)
                if status.status not in KNOWN:
                    self.errors.append(
                        f"batch {target.seq}: Target answered status {status.status!r}, which "
                        "this uploader does not know: not taken as final, asked again"
                    )
            self.ledger.write({**status.to_record(), "at": _now()})
            return kind == "gone" or status.status in ("complete", "stuck")


async def poll_statuses(
    ledger_path: Path,
    tokens: TokenProvider,
    *,
    transport: Transport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rate: RateLimit | None = DEFAULT_STATUS_RATE,
    concurrency: int = DEFAULT_POLL_CONCURRENCY,
    timeout: float = DEFAULT_WATCH_TIMEOUT,
    watch: bool = False,
    interval: float = DEFAULT_POLL_INTERVAL,
    max_interval: float = MAX_POLL_INTERVAL,
    retry: RetryPolicy | None = None,
    call_timeout: float = DEFAULT_CALL_TIMEOUT,
    ca_bundle: str | None = None,
    rng: random.Random | None = None,
) -> StatusReport:
    """Poll the status of every acknowledged batch in the ledger not known to be final,
    append ``status`` records, and return the folded report (all acknowledged batches).

    Without ``watch``: one round. With it: ``incomplete`` batches are asked again after
    ``interval``, ``2·interval``, … (at most ``max_interval``) until none is left or
    ``timeout`` seconds have passed. Raises ``AuthError`` when the token is refused.
    """
    if not 1 <= concurrency <= 64:
        raise ConfigError("$concurrency must be between 1 and 64", settings=("concurrency",))
    if timeout < 0 or interval <= 0 or max_interval <= 0:
        raise ConfigError("timeouts and poll intervals must be positive")
    state = read_ledger(ledger_path)
    settings = state.runs[-1].get("settings") or {}
    targets = _to_poll(state)
    ledger = Ledger(ledger_path)  # first: a ledger that cannot be written leaks no session
    own_transport = transport is None
    if transport is None:
        transport = AiohttpTransport(
            timeout=call_timeout, connections=concurrency, ca_bundle=ca_bundle
        )
    poller = _Poller(
        ledger,
        tokens,
        transport,
        endpoint=settings.get("endpoint"),
        limiter=RateLimiter(rate, clock, sleep) if rate else None,
        retry=retry or RetryPolicy(max_retries=5, base=0.5, max_wait=30.0),
        sleep=sleep,
        rng=rng or random.Random(),
        concurrency=concurrency,
    )
    started, wait, timed_out = clock(), interval, False
    try:
        while targets:
            targets = await poller.round(targets)
            if not targets or not watch:
                break
            left = timeout - (clock() - started)
            if left <= 0:
                timed_out = True
                break
            await sleep(min(wait, left))
            wait = min(wait * 2, max_interval)
    finally:
        ledger.close()
        if own_transport:
            await transport.close()
    return status_report(
        read_ledger(ledger_path), errors=poller.errors, timed_out=timed_out, calls=poller.calls
    )


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that ended a TaskGroup, out of its group: an ``UploaderError`` (the CLI
    turns it into one line and an exit code) if there is one, else the first."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        error = stack.pop(0)
        if isinstance(error, BaseExceptionGroup):
            stack.extend(error.exceptions)
        else:
            leaves.append(error)
    return next((e for e in leaves if isinstance(e, UploaderError)), leaves[0] if leaves else group)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
