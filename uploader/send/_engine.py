"""The upload engine: batches in, acknowledged Target batches and a ledger out.

::

    producer (thread hops: read → encode → batch)
        → worker pool (``uploader.send._pool``): a queue of one batch (backpressure: a few
          bodies in memory, whatever the input) and N senders in a TaskGroup
        → per batch, the attempt loop (``uploader.send._attempt``: rate limit, retries,
          token refresh, connection breaker); a batch Target refuses whole is bisected
        → ledger (append-only, fsync'd per batch)

Per-batch results are ledger records; only a stop (auth, interrupt) or a whole-input error
ends the run early. On ``--resume`` the producer re-makes the same batches and only those not
acknowledged in the ledger are sent (at-least-once: a crash between Target's answer and the
ledger write re-sends that one batch; profile updates are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import polars as pl

from uploader._log import get_logger
from uploader._version import __version__
from uploader.auth._secret import Secret, redacted_url
from uploader.auth._static import SharesRateLimit, TokenProvider
from uploader.errors import (
    BatchRejected,
    ConfigError,
    EndpointError,
    InputError,
    LedgerError,
    RateStoreLost,
    RecordError,
    RemoteError,
    spell,
)
from uploader.ledger import _lock as lock
from uploader.ledger._ledger import Ledger, LedgerState, check_resumable, read_ledger
from uploader.ledger._records import (
    ATTEMPT_SCHEMA,
    LEDGER_SCHEMA,
    AttemptRecord,
    BatchRecord,
    InputFingerprint,
    LedgerRecord,
    Outcome,
    Part,
    RunRecord,
    SendSettings,
    SummaryRecord,
    SyncRun,
    Timings,
)
from uploader.ledger._summary import RunSummary, percentile
from uploader.produce._model import Batch, BatchSource
from uploader.produce._producer import ADDED_SETTINGS
from uploader.produce._rejects import RejectLimit
from uploader.produce._source import HASH_ALGORITHM, changed_sources
from uploader.reconcile._reasons import top_reasons
from uploader.reconcile._status import Acknowledged
from uploader.send._attempt import Answered, AttemptLoop, Call
from uploader.send._bisect import (
    DEFAULT_BISECT_CALLS,
    BisectBudget,
    leaves,
    next_child_seq,
    row_caused,
    split,
)
from uploader.send._breaker import ConnectionBreaker
from uploader.send._defaults import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT
from uploader.send._metrics import METRICS_EVERY, MetricsFile
from uploader.send._pool import run_pool
from uploader.send._ratelimit import DEFAULT_RATE, Limiter, Pace, RateLimit, RateLimiter
from uploader.send._response import SubmitResult
from uploader.send._retry import RetryPolicy, classify
from uploader.send._row_budget import FileRowBudget, Reservation, RowBudget, refusal
from uploader.send._transport import (
    FORM,
    AiohttpTransport,
    Transport,
    api_base_url,
    auth_headers,
    check_endpoint,
    submit_outcome,
)

__all__ = ["DEFAULT_CONCURRENCY", "Progress", "UploadConfig", "WatchesPace", "upload"]

log = get_logger(__name__)
DEFAULT_GRACE = 30.0
# The stop messages name settings in the caller's terms (``spell``): they are kept in the
# summary and the ledger as worded for the caller who ran it.
RESUME = "${resume=True}"
RESUME_HINT = f"unsent batches are pending: run again with {RESUME} once it is fixed"


def no_token(source: str) -> str:
    """Why the run stopped when Target wants a token and ``source`` (the provider's) gave
    none: an environment variable is named to be set."""
    where = f"set {source}, or use" if source.startswith("$") else f"{source} gave none; use"
    return spell(
        "Target requires a profile token and none was given: {where} ${tokens=…}; then run "
        f"again with {RESUME}",
        "tokens=…",
        "resume=True",
    ).format(where=where)


#: the ledger message of a batch left pending, by the reason the run stopped
_STOP_NOTES = {
    "auth": "not sent: the token was rejected",
    "endpoint": "not sent: the endpoint cannot take calls",
    "rate_store": "not sent: the rate store (Redis) did not answer",
    "record": "not sent: the ledger or rejects file cannot be written",
    "budget": "not sent: the daily row budget is used up",
}
ApiVersion = Literal["v1", "v2"]


def stop_reason_of(error: Exception | None) -> str:
    """Whose fault a halt is: Target's endpoint, or the shared rate store (Redis), so that
    whoever branches on ``stop_reason`` does not blame Target for a lost Redis."""
    return "rate_store" if isinstance(error, RateStoreLost) else "endpoint"


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadConfig:
    """How to send (what to send is the producer's ``InputSpec``)."""

    client_code: str
    ledger: Path
    endpoint: str | None = None  # default https://{client_code}.tt.omtrdc.net
    api_version: ApiVersion = "v2"
    concurrency: int = DEFAULT_CONCURRENCY
    rate: RateLimit | None = DEFAULT_RATE
    #: ``redis://HOST:PORT/DB``: keep ``rate``'s window there, shared by every process that
    #: sends for this client code (``uploader.send._redis_limit``); None: this process's own
    rate_store: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = DEFAULT_TIMEOUT
    resume: bool = False
    grace: float = DEFAULT_GRACE  # seconds in-flight calls may finish after a stop
    ca_bundle: str | None = None
    #: calls a refused batch may spend isolating its bad rows (``uploader.send._bisect``); 0: off
    bisect_calls: int = DEFAULT_BISECT_CALLS
    #: ``--max-rejects``: more rejected rows than this make the run exit 1 (checked at the end)
    max_rejects: RejectLimit | None = None
    #: a ``sync`` run's selection, written into the run record (``--resume`` reuses it)
    sync: SyncRun | None = None
    #: ``--daily-rows``: never more rows than this for the client code in any rolling 24 h
    #: (``uploader.send._row_budget``), counted in ``rate_store`` or else ``daily_rows_file``
    daily_rows: int | None = None
    daily_rows_file: Path | None = None
    #: ``--metrics-file``: the run's numbers as a Prometheus textfile (``uploader.send._metrics``)
    metrics_file: Path | None = None
    #: the checked base URL the API's paths go after (``api_base_url``), made once here
    base_url: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # checks both (ConfigError); once, not at every call's URL
        object.__setattr__(self, "base_url", api_base_url(self.client_code, self.endpoint))
        if self.api_version not in ("v1", "v2"):
            raise ConfigError("$api_version must be v1 or v2", settings=("api_version",))
        if not 1 <= self.concurrency <= 64:
            raise ConfigError("$concurrency must be between 1 and 64", settings=("concurrency",))
        if self.timeout <= 0:
            raise ConfigError("$timeout must be positive", settings=("timeout",))
        if self.bisect_calls < 0:
            raise ConfigError("$bisect_calls must be 0 or more", settings=("bisect_calls",))
        if self.rate_store is not None and self.rate is None:
            raise ConfigError("$rate_store needs a rate", settings=("rate_store", "rate"))
        if self.rate_store is not None:
            check_store_url(self.rate_store)
        self._check_daily_rows()

    def _check_daily_rows(self) -> None:
        if self.daily_rows is None:
            if self.daily_rows_file is not None:
                raise ConfigError(
                    "$daily_rows_file needs $daily_rows (the budget's rows per 24 h)",
                    settings=("daily_rows_file", "daily_rows"),
                )
            return
        if self.daily_rows < 1:
            raise ConfigError("$daily_rows must be at least 1", settings=("daily_rows",))
        if self.rate_store is None and self.daily_rows_file is None:
            raise ConfigError(
                "$daily_rows needs a place to count the rows sent: $rate_store (Redis, shared "
                "by every process of the client code) or $daily_rows_file (a local file)",
                settings=("daily_rows", "rate_store", "daily_rows_file"),
            )
        if self.rate_store is not None and self.daily_rows_file is not None:
            raise ConfigError(
                "$daily_rows_file goes without $rate_store: with a rate store the daily rows "
                "are counted in its Redis",
                settings=("daily_rows_file", "rate_store"),
            )

    @property
    def submit_url(self) -> str:
        version = "/v2" if self.api_version == "v2" else ""
        return f"{self.base_url}/m2/{self.client_code}{version}/profile/batchUpdate"

    def ledger_settings(self) -> SendSettings:
        return SendSettings(
            client_code=self.client_code,
            endpoint=self.base_url,
            api_version=self.api_version,
            concurrency=self.concurrency,
            rate=str(self.rate) if self.rate else None,
            max_retries=self.retry.max_retries,
            bisect_calls=self.bisect_calls,
        )


class Progress(Protocol):
    """Told about every batch outcome; draws a bar or prints lines (``uploader.cli._progress``)."""

    def start(self) -> None: ...

    def update(self, summary: RunSummary, total_rows: int | None) -> None: ...

    def stop(self) -> None: ...


@runtime_checkable
class Heartbeat(Protocol):
    """A progress display that also wants the counts every ``every`` seconds while the run
    sends, not only at each batch's outcome: a log must not look hung while the senders wait
    on the rate limit, Redis or Target (``every`` 0: at each outcome only)."""

    every: float


@runtime_checkable
class WatchesPace(Protocol):
    """A progress display that can also show the rate limit's hold on the run: given the
    limiter's ``pace`` to read whenever it redraws (the limiter knows nothing of it)."""

    def watch(self, pace: Callable[[], Pace]) -> None: ...


class _Run:
    """One invocation of ``upload``: its state, workers and ledger."""

    def __init__(
        self,
        config: UploadConfig,
        producer: BatchSource,
        tokens: TokenProvider,
        transport: Transport,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random,
        progress: Progress | None,
        limiter: Limiter | None,
        fingerprint: InputFingerprint,
        on_acknowledged: Callable[[Acknowledged], None] | None = None,
        row_budget: RowBudget | None = None,
        metrics: MetricsFile | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.started = clock()
        self.producer = producer
        self.transport = transport
        self.clock = clock
        self.sleep = sleep
        self.progress = progress
        rejects = producer.rejects.path if producer.rejects is not None else None
        self.summary = RunSummary(ledger=str(config.ledger), rejects=str(rejects or ""))
        if config.sync is not None:  # before any summary record is written
            self.summary.sync = True
            self.summary.selection = dict(config.sync.rows)
            self.summary.missing_ids = config.sync.missing
        shard = (fingerprint.settings or {}).get("shard")
        self.summary.shard = shard if isinstance(shard, str) else None
        self.latencies: list[float] = []
        self.previous: LedgerState | None = None  # the ledger as --resume found it
        #: the schema this run writes: a resumed ledger keeps its own (schema 2: no attempt
        #: records, so the uploader that started it can still read it)
        self.schema = LEDGER_SCHEMA
        self.next_child = next_child_seq(None)  # seq of the next bisection part
        self.split_seqs: set[int] = set()
        self.rows_refused = 0  # rows Target refused alone (bisection), in the rejects file
        self.not_landed_messages: list[str] = []  # of failed and pending batches, for reasons
        self.ledger: Ledger | None = None
        self.inflight: set[asyncio.Task[None]] = set()
        self.abandoned: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()
        self.abandon_timer: asyncio.Task[None] | None = None
        self.pending_rows_in_batches = 0
        self.fingerprint = fingerprint
        self.on_acknowledged = on_acknowledged
        self.row_budget = row_budget
        # one reservation at a time, in the order batches come: once one is refused, the
        # batches after it find the run stopping and stay pending
        self.reserving = asyncio.Lock()
        # why the budget took no more batches: unlike a stop, the batches already counted go
        # on (their retries too); the run ends with this reason unless a stop came too
        self.budget_spent: str | None = None
        if row_budget is not None:
            self.summary.daily_rows = row_budget.limit
        self.breaker = ConnectionBreaker(max_failures=config.retry.max_retries + 1)
        self.attempts = AttemptLoop(
            tokens=tokens,
            limiter=limiter,
            retry=config.retry,
            rng=rng,
            clock=clock,
            sleep=sleep,
            counts=self.summary,
            stop=self.stopping,
            breaker=self.breaker,
        )

    # -- set-up ---------------------------------------------------------------------------
    def check_ledger(self) -> None:
        """Refuse a ledger this run may not write (exists without --resume, or the input
        changed since); nothing is written yet."""
        path = self.config.ledger
        if self.config.resume:
            state = read_ledger(path)
            check_resumable(state, path)
            _check_same_input(state.first_run.fingerprint, self.fingerprint, path)
            _check_same_target(state.first_run.send_settings, self.config.ledger_settings(), path)
            self.previous = state
            self.schema = state.schema
            self.next_child = next_child_seq(state)
        elif path.exists() and path.stat().st_size:
            raise LedgerError(
                f"ledger {path} already exists: add $resume to continue that run, "
                "or choose another $ledger",
                settings=("resume", "ledger"),
            )

    def open_ledger(self) -> Ledger:
        """The ledger, opened and the run record written on first need: the first send or
        the end of the run. An input error found by the check pass before that leaves no
        ledger behind, so fixing the file and running the same command again just works."""
        if self.ledger is None:
            self.ledger = Ledger(self.config.ledger)
            self.ledger.write(
                RunRecord(
                    schema=self.schema,
                    version=__version__,
                    started=_now(),
                    resumed=self.config.resume,
                    fingerprint=self.fingerprint,
                    settings=self.config.ledger_settings(),
                    hash_algorithm=HASH_ALGORITHM,
                    sync=self.config.sync,
                )
            )
        return self.ledger

    # -- the pipeline ---------------------------------------------------------------------
    async def run(self) -> RunSummary:
        self.started = self.clock()
        if self.progress:
            self.progress.start()
        error: BaseException | None = None
        periodic = (
            asyncio.create_task(self.tick())
            if self.metrics is not None or self.heartbeat_every() > 0
            else None
        )
        try:
            # One batch waiting is enough to keep the senders busy; every extra one is up to
            # --batch-bytes of memory.
            await run_pool(
                self.batches(), self.handle, workers=self.config.concurrency, queue_size=1
            )
            await self.count_budget_left()
        except BaseException as failure:
            error = failure
            raise
        finally:
            if self.abandon_timer is not None:
                self.abandon_timer.cancel()
            if periodic is not None:
                periodic.cancel()
            self.summary.seconds = self.clock() - self.started
            # An input error before the first send ends the run without a trace.
            if not (isinstance(error, InputError) and self.ledger is None):
                self.finish()
            if self.metrics is not None:  # sent: the caller writes the exit code once known
                self.metrics.write(self.summary)
            if self.progress:
                self.progress.stop()
        return self.summary

    def heartbeat_every(self) -> float:
        """Seconds between two updates of a ``Heartbeat`` progress (0: none)."""
        return self.progress.every if isinstance(self.progress, Heartbeat) else 0.0

    async def tick(self) -> None:
        """The run's one periodic task, on the injected clock and sleep (tests never wait):
        the metrics file now and every ``METRICS_EVERY`` seconds, the counts to a
        ``Heartbeat`` progress every ``every`` seconds (math.inf: not due, ever)."""
        heartbeat = self.heartbeat_every()
        metrics_due = self.clock() if self.metrics is not None else math.inf
        progress_due = self.clock() if heartbeat > 0 else math.inf
        while True:
            now = self.clock()
            if self.metrics is not None and now >= metrics_due:
                self.metrics.write(self.counts_now())
                metrics_due = now + METRICS_EVERY
            if self.progress is not None and now >= progress_due:
                self.progress.update(self.counts_now(), self.producer.total_rows)
                progress_due = now + heartbeat
            await self.sleep(max(0.0, min(metrics_due, progress_due) - self.clock()))

    def counts_now(self) -> RunSummary:
        """The summary as it stands while sending: the producer's counts so far, the rows of
        the batches recorded pending (the rows not yet batched are counted at the end)."""
        summary = replace(self.summary, seconds=self.clock() - self.started)
        self.take_counts(summary)
        summary.rows_pending = self.pending_rows_in_batches
        return summary

    async def batches(self) -> AsyncIterator[Batch]:
        """The batches to send, one thread hop each (polars releases the GIL, so reading and
        encoding run beside the senders); none after a stop."""
        batches: Iterator[Batch] = iter(self.producer)
        try:
            while not self.stopping.is_set() and self.budget_spent is None:
                try:
                    batch = await asyncio.to_thread(next, batches, None)
                except RecordError as error:  # the rejects file cannot be written
                    self.record_failed(error)
                    continue  # the loop ends: the run is stopping
                if batch is None:
                    break
                for todo in self.still_to_send(batch):
                    yield todo  # a batch made before a stop is recorded pending
            else:
                self.summary.input_complete = False
        finally:
            # A run that stops early closes the producer now, not whenever the garbage
            # collector gets to it (its reader threads are let go; see source.one_ahead).
            # Still running in a worker thread (this task was cancelled), it cannot be closed:
            # it ends on its own.
            with contextlib.suppress(ValueError):
                close = getattr(batches, "close", None)
                if close is not None:
                    close()

    def still_to_send(self, batch: Batch) -> list[Batch]:
        """What of ``batch`` an earlier run of this ledger did not settle: nothing when it was
        acknowledged; after a bisection, the parts neither acknowledged nor refused alone
        (those are counted, and written to the rejects file again)."""
        if self.previous is None:
            return [batch]
        todo = []
        for leaf, record in leaves(batch, self.previous):
            done = record is not None and record.content_hash == leaf.content_hash
            if done and record is not None and record.acknowledged:
                self.summary.batches_skipped += 1
                self.summary.rows_skipped += leaf.rows
                self.summary.rows_acknowledged += leaf.rows
            elif done and record is not None and record.outcome == "rejected":
                self.refused_rows(leaf, record.message)
            else:
                todo.append(leaf)
        return todo

    def refused_rows(self, batch: Batch, message: str) -> None:
        """Rows Target refuses on their own: counted and written to the rejects file."""
        self.rows_refused += batch.rows
        rejects = self.producer.rejects
        if rejects is None:
            return
        paths = [source.path for source in self.fingerprint.sources or ()]
        ids = [unquote(line.split(b",", 1)[0].decode()) for line in batch.body.splitlines()[1:]]
        frame = pl.DataFrame(
            {
                "source": [paths[int(src)] for src in batch.refs[:, 0]],
                "row": batch.refs[:, 1].astype("int64"),
                "id": ids,
                "reason": f"refused by Target: {message}",
            }
        )
        try:
            rejects.write(frame)
        except RecordError as error:
            self.record_failed(error)

    async def handle(self, batch: Batch) -> None:
        """One batch from the pool: sent as a task of its own, so that after an interrupt's
        grace period it can be abandoned (cancelled) while its worker records it pending."""
        if self.stopping.is_set():
            self.record(batch, "pending", attempts=0, message=self.stop_note())
            return
        task = asyncio.create_task(self.send(batch))
        self.inflight.add(task)
        try:
            await task
        except asyncio.CancelledError:
            if task not in self.abandoned:  # the worker itself is being cancelled
                raise
            if batch.seq not in self.split_seqs:  # a split one is settled by its parts
                self.record(
                    batch, "pending", attempts=0, message="abandoned after the grace period"
                )
        finally:
            self.inflight.discard(task)

    async def send(self, batch: Batch, budget: BisectBudget | None = None) -> None:
        """One batch to a verdict: acknowledged, failed, pending (the run stopped), or — when
        Target refuses it whole — split to isolate the rows it refuses (``budget``: what is
        left of that bisection's calls).

        After a stop no new call starts: a sender waiting for the rate limiter or a retry
        backoff gives up at once; only calls already on the wire are let finish.
        """
        started = self.clock()
        reservation: Reservation | None = None
        if self.row_budget is not None and budget is None:  # a bisection's parts are counted
            reservation = await self.reserve_rows(batch)
            if reservation is None:
                note = self.stop_note() if self.stopping.is_set() else _STOP_NOTES["budget"]
                self.record(batch, "pending", attempts=0, message=note)
                return

        async def post(token: Secret | None) -> tuple[int, SubmitResult]:
            self.open_ledger()  # the run record goes first, before any call
            if budget is not None:
                budget.spend()
            answer = await self.transport.request(
                "POST",
                self.config.submit_url,
                body=batch.body,
                headers={"Content-Type": FORM, **auth_headers(token)},
            )
            return answer.status, submit_outcome(answer, self.config.submit_url)

        def write_call(call: Call, answer: tuple[int, SubmitResult] | None) -> None:
            self.write_attempt(batch.seq, call, call.status if answer is None else answer[0])

        on_call = write_call if self.schema >= ATTEMPT_SCHEMA else None
        outcome = await self.attempts.run(post, f"batch {batch.seq}", on_call, batch=batch.seq)
        attempts = outcome.attempts
        if reservation is not None and attempts == 0:
            await self.give_back_rows(reservation)  # the run stopped before its first call
        if isinstance(outcome, Answered):
            (code, result), now = outcome.value, self.clock()
            self.latencies.append(now - outcome.sent_at)
            self.record(
                batch,
                "acknowledged",
                attempts,
                status=code,
                message=result.message,
                batch_id=result.batch_id,
                status_url=result.status_url,
                timings=Timings(total=now - started, last_call=now - outcome.sent_at),
            )
            return
        error = outcome.error
        status = error.status if isinstance(error, RemoteError) else None
        if outcome.why == "stopped":
            self.record(batch, "pending", attempts, status=status, message=self.stop_note())
        elif outcome.why == "halted":
            self.stop(
                stop_reason_of(error), f"stopped: {error}; {spell(RESUME_HINT, 'resume=True')}"
            )
            self.record(batch, "pending", attempts, status=status, message=str(error))
        elif outcome.why == "unreachable":
            streak = self.breaker.describe(self.clock())
            self.stop(
                "endpoint",
                f"stopped: {self.config.base_url} is unreachable ({streak}; last: "
                f"{error}); {spell(RESUME_HINT, 'resume=True')}",
            )
            self.record(batch, "pending", attempts, message=str(error))
        elif outcome.why == "refused":
            # "expired or regenerated" is wrong when no token went at all
            said = str(error) if outcome.had_token else no_token(self.attempts.tokens.source)
            self.stop("auth", said)
            self.record(batch, "pending", attempts, status=status, message=said)
        elif isinstance(error, BatchRejected):
            await self.refused(batch, error, attempts, budget)
        else:
            message = str(error)
            if error is not None and classify(error).action == "retry":
                message = f"gave up after {attempts} attempt(s): {error}"
            self.record(batch, "failed", attempts, status=status, message=message)

    async def refused(
        self, batch: Batch, error: BatchRejected, attempts: int, budget: BisectBudget | None
    ) -> None:
        """Target refused ``batch`` whole: a single row is refused alone (rejects file);
        more rows are split in halves and each sent again, until the bad rows stand alone or
        the bisection's calls are spent (see ``uploader.send._bisect``)."""
        message = str(error)
        caused = row_caused(message, error.status)
        if caused and batch.rows == 1:
            self.record(batch, "rejected", attempts, status=error.status, message=message)
            self.refused_rows(batch, message)
            return
        budget = budget or BisectBudget(self.config.bisect_calls)
        if not caused or budget.spent:
            if caused and self.config.bisect_calls:
                message += f" (bisection stopped after {self.config.bisect_calls} calls)"
            self.record(batch, "failed", attempts, status=error.status, message=message)
            return
        halves = split(batch, self.next_child)
        self.next_child += len(halves)
        self.split_seqs.add(batch.seq)
        ranges = [(0, halves[0].rows), (halves[0].rows, batch.rows)]
        parts = tuple(
            Part(half.seq, start, stop) for half, (start, stop) in zip(halves, ranges, strict=True)
        )
        self.record(batch, "split", attempts, status=error.status, message=message, parts=parts)
        for half in halves:
            await self.send(half, budget)

    # -- the daily row budget -------------------------------------------------------------
    async def reserve_rows(self, batch: Batch) -> Reservation | None:
        """Count ``batch``'s rows in the daily budget before it is sent; ``None``: it must not
        be sent — the budget has no room (no more batches are taken: the rest pending, the
        message says when room frees), or its store failed (the run stops), or the run is
        stopping."""
        assert self.row_budget is not None
        async with self.reserving:
            if self.stopping.is_set() or self.budget_spent is not None:
                return None
            try:
                reservation = await self.row_budget.reserve(batch.rows)
            except EndpointError as error:  # the rate store's Redis is lost
                self.stop(
                    stop_reason_of(error), f"stopped: {error}; {spell(RESUME_HINT, 'resume=True')}"
                )
                return None
            except RecordError as error:  # the budget file cannot be written
                self.record_failed(error)
                return None
            if not reservation.admitted:
                self.budget_spent = refusal(self.row_budget, self.config.client_code, reservation)
                log.warning("no more batches: %s", self.budget_spent)
                return None
            self.summary.daily_rows_used += batch.rows
            return reservation

    async def give_back_rows(self, reservation: Reservation) -> None:
        """Uncount a batch that made no call. Rows of a batch that made one stay counted, sent
        or not: Target may have counted them."""
        assert self.row_budget is not None
        try:
            await self.row_budget.release(reservation)
        except (EndpointError, RecordError) as error:  # counted too much is the safe side
            log.warning("daily row budget: %d rows stay counted: %s", reservation.rows, error)
            return
        self.summary.daily_rows_used -= reservation.rows

    async def count_budget_left(self) -> None:
        """What the budget has left now, for the summary (other processes' rows included)."""
        if self.row_budget is None:
            return
        try:
            used = await self.row_budget.used()
        except (EndpointError, RecordError) as error:
            log.warning("daily row budget: cannot count what is left: %s", error)
            return
        self.summary.daily_rows_left = max(0, self.row_budget.limit - used)

    # -- stopping -------------------------------------------------------------------------
    def stop(self, reason: str, message: str = "") -> None:
        """Take no new batches and start no new call; calls on the wire finish (after an
        interrupt: within ``grace`` seconds, then they are abandoned)."""
        if self.summary.stop_reason is not None:
            return
        self.summary.stop_reason = reason
        self.summary.message = message
        self.stopping.set()
        log.warning(
            "run stopping (%s): %s", reason, message, extra={"event": "stopping", "reason": reason}
        )
        if reason == "interrupted":
            self.abandon_timer = asyncio.create_task(self.abandon_after_grace())

    def interrupt(self) -> None:
        """SIGINT/SIGTERM: the first stops gracefully, a second abandons in-flight calls."""
        if self.summary.stop_reason is None:
            self.stop(
                "interrupted",
                spell(f"interrupted: run again with {RESUME} to continue", "resume=True"),
            )
        else:
            self.abandon()

    async def abandon_after_grace(self) -> None:
        """The injected ``sleep``, not the loop's timer: time is the caller's (tests)."""
        await self.sleep(self.config.grace)
        self.abandon()

    def abandon(self) -> None:
        """The grace period is over: cancel the calls still in flight (they stay pending)."""
        for task in list(self.inflight):
            self.abandoned.add(task)
            task.cancel()

    def stop_note(self) -> str:
        return _STOP_NOTES.get(self.summary.stop_reason or "", "not sent: the run was interrupted")

    # -- bookkeeping ----------------------------------------------------------------------
    def record(
        self,
        batch: Batch,
        outcome: Outcome,
        attempts: int,
        *,
        status: int | None = None,
        message: str = "",
        batch_id: str | None = None,
        status_url: str | None = None,
        timings: Timings | None = None,
        parts: tuple[Part, ...] | None = None,
    ) -> None:
        summary = self.summary
        if outcome == "acknowledged":
            summary.batches_acknowledged += 1
            summary.rows_acknowledged += batch.rows
            if self.on_acknowledged is not None:  # e.g. polled early by ``upload(wait=True)``
                self.on_acknowledged(Acknowledged(batch.seq, batch_id, status_url))
        elif outcome == "failed":
            summary.batches_failed += 1
            summary.rows_failed += batch.rows
            self.not_landed_messages.append(message)
        elif outcome == "pending":
            summary.batches_pending += 1
            self.pending_rows_in_batches += batch.rows
            self.not_landed_messages.append(message)
        elif outcome == "split":
            summary.batches_split += 1  # its rows are settled by its parts
        self.write(
            BatchRecord(
                seq=batch.seq,
                content_hash=batch.content_hash,
                rows=batch.rows,
                nbytes=batch.nbytes,
                first=(batch.first.source, batch.first.row),
                last=(batch.last.source, batch.last.row),
                outcome=outcome,
                attempts=attempts,
                http_status=status,
                batch_id=batch_id,
                status_url=status_url,
                message=message,
                timings=None
                if timings is None
                else Timings(round(timings.total, 4), round(timings.last_call, 4)),
                parts=parts,
                at=_now(),
            )
        )
        log.info(
            "batch %d: %s (%d rows, %d attempt(s), HTTP %s)%s",
            batch.seq,
            outcome,
            batch.rows,
            attempts,
            status,
            f": {message}" if message and outcome != "acknowledged" else "",
            extra={
                "event": f"batch_{outcome}",
                "seq": batch.seq,
                "rows": batch.rows,
                "outcome": outcome,
                "attempts": attempts,
                "http_status": status,
            },
        )
        if self.progress:
            self.progress.update(summary, self.producer.total_rows)

    def write_attempt(self, seq: int, call: Call, status: int | None) -> None:
        """One call of batch ``seq``: not fsync'd alone (the batch's outcome record, written
        after it, syncs it), so a run of thousands of calls costs no more fsyncs."""
        record = AttemptRecord(
            seq=seq,
            attempt=call.attempt,
            at=dt.datetime.fromtimestamp(call.started, dt.UTC).isoformat(timespec="milliseconds"),
            seconds=round(call.seconds, 4),
            http_status=status,
            outcome=call.outcome,
            retry_delay=None if call.retry_delay is None else round(call.retry_delay, 4),
        )
        self.write(record, durable=False)

    def write(self, record: LedgerRecord, *, durable: bool = True) -> None:
        """Append ``record``; when the ledger cannot be written any more (disk full, read-only)
        the run stops: nothing more may be sent whose outcome could not be recorded."""
        try:
            self.open_ledger().write(record, durable=durable)
        except RecordError as error:
            self.record_failed(error)

    def record_failed(self, error: RecordError) -> None:
        if self.summary.stop_reason != "record":
            self.summary.stop_reason = None  # this cause wins: it decides what to do next
            self.stop(
                "record",
                f"stopped: {error}; "
                + spell(
                    "what the ledger holds is safe: make room (or fix the directory), then run "
                    f"again with {RESUME}",
                    "resume=True",
                ),
            )

    def take_counts(self, summary: RunSummary) -> None:
        """The producer's counts (and the rows Target refused alone) into ``summary``."""
        stats = self.producer.stats
        summary.rows_read = stats.rows_read
        summary.rows_rejected = stats.rows_rejected + self.rows_refused
        summary.rows_refused = self.rows_refused
        summary.rows_merged = stats.rows_merged
        summary.rows_unselected = stats.rows_unselected
        summary.rows_other_shards = stats.rows_other_shards

    def finish(self) -> None:
        summary, stats = self.summary, self.producer.stats
        if summary.stop_reason is None and self.budget_spent is not None:
            summary.stop_reason, summary.message = "budget", self.budget_spent
        self.take_counts(summary)
        limit = self.config.max_rejects
        if limit is not None and limit.exceeded(summary.rows_rejected, summary.rows_of_run):
            summary.rejects_over_limit = limit.message(summary.rows_rejected, summary.rejects)
        # the producer's first; a metrics file that could not be written said so meanwhile
        summary.warnings = [*stats.warnings, *summary.warnings]
        summary.reasons = top_reasons(self.not_landed_messages)
        summary.latency_p50 = percentile(self.latencies, 0.50)
        summary.latency_p95 = percentile(self.latencies, 0.95)
        # Pending, counted on its own so the invariant is a real check: rows in batches
        # recorded pending, plus rows read but not yet in a batch when the run stopped
        # (held back for duplicate folding, or in the chunk being batched).
        not_batched = (
            stats.rows_read
            - stats.rows_rejected
            - stats.rows_merged
            - stats.rows_unselected
            - stats.rows_other_shards
            - stats.rows_batched
        )
        summary.rows_pending = self.pending_rows_in_batches + not_batched
        if self.summary.stop_reason != "record":
            # the summary's own failure must show in the exit code it carries: decide first
            try:
                self.open_ledger()
            except RecordError as error:
                self.record_failed(error)
            except LedgerError:
                return  # it never opened: the error that ended the run says why
        if self.ledger is not None:
            self.write(SummaryRecord(at=_now(), counts=summary.to_dict()))
            self.ledger.close()


async def upload(
    config: UploadConfig,
    producer: BatchSource,
    tokens: TokenProvider,
    *,
    transport: Transport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    progress: Progress | None = None,
    handle_signals: bool = False,
    on_acknowledged: Callable[[Acknowledged], None] | None = None,
    metrics: MetricsFile | None = None,
) -> RunSummary:
    """Send every batch of ``producer``; returns the run's summary (also in the ledger).
    ``on_acknowledged`` is told of each batch Target acknowledges, as it is recorded.
    ``metrics``: written at the start, every ``METRICS_EVERY`` seconds of ``clock`` while
    sending, and once sent (the caller, knowing the exit code, writes it last).

    Raises only for what prevents a run: input/config/ledger errors, before anything is sent.
    Holds the ledger's lock (``uploader.ledger._lock``) from before the check pass to the end.
    """
    with lock.hold(config.ledger):
        fingerprint = producer.fingerprint()  # the source checks its input: fail before any call
        async with _limiter(config, clock, sleep) as limiter:
            row_budget = await _row_budget(config, limiter)
            # One budget per Target account: a provider that calls the Admin API draws on it
            # too, from its very first token fetch.
            if isinstance(tokens, SharesRateLimit):
                tokens.share_rate_limit(limiter)
            if limiter is not None and isinstance(progress, WatchesPace):
                progress.watch(limiter.pace)
            return await _send_all(
                config,
                producer,
                tokens,
                transport,
                clock,
                sleep,
                rng,
                progress,
                handle_signals,
                on_acknowledged,
                limiter,
                fingerprint,
                row_budget,
                metrics,
            )


async def _row_budget(config: UploadConfig, limiter: Limiter | None) -> RowBudget | None:
    """``config.daily_rows``'s budget: in the rate store's Redis, on the limiter's connection,
    or in ``config.daily_rows_file`` (read and rewritten now: a damaged or unwritable file
    stops the run before any call or ledger write)."""
    if config.daily_rows is None:
        return None
    if config.rate_store is not None:
        from uploader.send._redis_limit import RedisRateLimiter, RedisRowBudget

        assert isinstance(limiter, RedisRateLimiter)  # a rate store needs a rate
        return RedisRowBudget(limiter, config.client_code, config.daily_rows)
    assert config.daily_rows_file is not None  # UploadConfig checked it
    budget = FileRowBudget(config.daily_rows_file, config.client_code, config.daily_rows)
    await asyncio.to_thread(budget.open)
    return budget


@contextlib.asynccontextmanager
async def _limiter(
    config: UploadConfig, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
) -> AsyncIterator[Limiter | None]:
    """This process's own limiter, or the one shared in ``config.rate_store``: connected
    first, so an unreachable store stops the run before any call or ledger write, and closed
    when the run ends."""
    if config.rate is None:
        yield None
        return
    if config.rate_store is None:
        yield RateLimiter(config.rate, clock, sleep)
        return
    try:  # redis is an extra: imported only when asked for
        from uploader.send._redis_limit import RedisRateLimiter
    except ImportError:
        raise ConfigError(
            "$rate_store needs the redis package: pip install 'uploader[redis]'",
            settings=("rate_store",),
        ) from None

    shared = RedisRateLimiter(
        config.rate_store, config.client_code, config.rate, clock=clock, sleep=sleep
    )
    try:
        await shared.connect()
        yield shared
    finally:
        await shared.close()


async def _send_all(
    config: UploadConfig,
    producer: BatchSource,
    tokens: TokenProvider,
    transport: Transport | None,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    rng: random.Random | None,
    progress: Progress | None,
    handle_signals: bool,
    on_acknowledged: Callable[[Acknowledged], None] | None,
    limiter: Limiter | None,
    fingerprint: InputFingerprint,
    row_budget: RowBudget | None,
    metrics: MetricsFile | None,
) -> RunSummary:
    check_endpoint(config.base_url, await tokens.get())
    own_transport = transport is None
    if transport is None:
        transport = AiohttpTransport(
            timeout=config.timeout, connections=config.concurrency, ca_bundle=config.ca_bundle
        )
    run = _Run(
        config,
        producer,
        tokens,
        transport,
        clock,
        sleep,
        rng or random.Random(),
        progress,
        limiter,
        fingerprint,
        on_acknowledged,
        row_budget,
        metrics,
    )
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    # The caller's handlers, put back afterwards: asyncio's removal resets them to the
    # defaults, and a SIGTERM after sending (summary, --wait) would then kill the process.
    previous = {signum: signal.getsignal(signum) for signum in signals}
    try:
        run.check_ledger()
        for signum in signals:
            loop.add_signal_handler(signum, run.interrupt)
        return await run.run()
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            if handler is not None:
                signal.signal(signum, handler)
        if own_transport:
            await transport.close()


def _check_same_input(before: InputFingerprint, now: InputFingerprint, path: Path) -> None:
    current = dict(now.settings or {})
    # a setting added since that ledger was written: the value it was read with then (for
    # the settings this source records: a source of one's own need not record them)
    added = {key: value for key, value in ADDED_SETTINGS.items() if key in current}
    then = {**added, **(before.settings or {})}
    if then != current:
        changed = sorted(key for key in {**then, **current} if then.get(key) != current.get(key))
        raise LedgerError(
            f"cannot resume {path}: batch-shaping settings changed ({', '.join(changed)}); "
            "resume with the same settings, or start a new ledger"
        )
    what = changed_sources(before.sources or (), now.sources or ())
    if what is not None:
        raise LedgerError(f"cannot resume {path}: {what}; start a new ledger")


def _check_same_target(before: SendSettings, now: SendSettings, path: Path) -> None:
    """A resumed run sends to where the first run sent: another client code, endpoint or API
    version would split one run's batches between two destinations."""
    where = {
        "client_code": (before.client_code, now.client_code),
        "endpoint": (before.endpoint, now.endpoint),
        "api_version": (before.api_version, now.api_version),
    }
    differ = {
        key: pair for key, pair in where.items() if pair[0] is not None and pair[0] != pair[1]
    }
    if differ:
        then = ", ".join(f"{key} {was}" for key, (was, _) in differ.items())
        current = ", ".join(f"{key} {is_}" for key, (_, is_) in differ.items())
        raise LedgerError(
            f"cannot resume {path}: that run sent to {then}; this one names {current}; "
            "resume with the same $client_code, $endpoint and $api_version, or start a "
            "new ledger",
            settings=("client_code", "endpoint", "api_version"),
        )


def check_store_url(url: str) -> None:
    """A rate store's path is its Redis DB number (``redis://HOST:PORT/0``) or nothing:
    anything else would silently use DB 0."""
    db = urlsplit(url).path.strip("/")
    if db and not db.isdigit():
        raise ConfigError(
            f"$rate_store {redacted_url(url)}: the path must be a DB number "
            f"(redis://HOST:PORT/0), not {db!r}",
            settings=("rate_store",),
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
