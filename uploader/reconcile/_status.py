"""Did Target finish the batches it acknowledged? Poll each batch's ``batchStatus`` URL.

An acknowledged batch is only *accepted for processing*. Target finishes it minutes to hours
later, reports ``complete`` | ``incomplete`` | ``stuck`` with counters (``showDetails=true``),
and keeps only the last few statuses for about a day. The poller:

- reads the ledger, picks every acknowledged batch whose status is not final yet (final:
  ``complete``, ``stuck``, ``unknown``; a batch re-sent by ``--resume`` has a new Target batch
  id and is polled again);
- GETs its status URL as Target gave it (another edge host than the submit) with
  ``showDetails=true`` — upgraded from ``http`` to ``https`` for Target's own edge hosts
  (``*.tt.omtrdc.net``; every documented example says ``http://``), so the token can go along — rate-limited, ``concurrency`` calls at once, transient errors retried (``uploader.send._attempt``, ``uploader.send._pool``);
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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from uploader._log import get_logger
from uploader._plural import plural
from uploader.auth._secret import Secret
from uploader.auth._static import TokenProvider
from uploader.errors import ConfigError, RemoteError
from uploader.exits import EXIT_FAILED, EXIT_NOT_YET, EXIT_OK, EXIT_STOPPED, EXIT_UNCONFIRMED
from uploader.ledger._ledger import Ledger, LedgerState, read_ledger
from uploader.ledger._records import StatusRecord
from uploader.reconcile._defaults import (
    DEFAULT_POLL_CONCURRENCY,
    DEFAULT_STATUS_RATE,
    DEFAULT_WATCH_TIMEOUT,
)
from uploader.send._attempt import Answered, AttemptLoop, reading_loop
from uploader.send._pool import run_pool
from uploader.send._ratelimit import RateLimit
from uploader.send._response import MAX_STATUS_BYTES, StatusResult, parse_status
from uploader.send._retry import RetryPolicy
from uploader.send._transport import (
    AiohttpTransport,
    HttpAnswer,
    Transport,
    auth_headers,
    check_endpoint_url,
    is_loopback_host,
    raise_for_refusal,
)

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_STATUS_RATE",
    "DEFAULT_WATCH_TIMEOUT",
    "FINAL",
    "Acknowledged",
    "StatusReport",
    "poll_statuses",
    "secure_status_url",
    "status_of_answer",
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
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """A batch Target acknowledged, as the engine knows it in memory: what polling needs."""

    seq: int
    batch_id: str | None
    status_url: str | None


def status_of_answer(seq: int, batch_id: str | None, answer: StatusResult) -> StatusRecord:
    """What Target's batchStatus ``answer`` says about batch ``seq`` (Target's id ``batch_id``)."""
    return StatusRecord(
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


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport:
    """The latest status of every acknowledged batch, after a poll (or read from a ledger)."""

    statuses: tuple[StatusRecord, ...]  # current per acknowledged seq that has one
    unpolled: tuple[int, ...] = ()  # acknowledged seqs with no status yet
    errors: tuple[str, ...] = ()  # polls that failed after their retries (this run)
    timed_out: bool = False
    calls: int = 0
    #: several shards' ledgers polled as one run: the shards of the input no ledger was
    #: given for ("1/3"): the run is incomplete (``uploader.reconcile._shards``)
    missing_shards: tuple[str, ...] = ()

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
        5 Target forgot a status (``uploader verify`` can confirm); 6 a shard is missing;
        else 0."""
        counts = self.counts
        if counts["stuck"] or self.rows_failed or self.cut_lists:
            return EXIT_FAILED
        if self.missing_shards:
            return EXIT_STOPPED
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
            **({"missing_shards": list(self.missing_shards)} if self.missing_shards else {}),
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
        if self.missing_shards:
            out.append(missing_shards_text(self.missing_shards))
        if self.timed_out:
            out.append("note: stopped waiting (timeout) while batches were still incomplete")
        out += [f"warning: {error}" for error in self.errors]
        return out


def missing_shards_text(missing: Sequence[str]) -> str:
    """What a run of several shards' ledgers lacks, said in ``status`` and ``report``."""
    them = "it" if len(missing) == 1 else "them"
    return (
        f"incomplete: {plural(len(missing), 'shard')} missing ({', '.join(missing)}): "
        f"no ledger given for {them}"
    )


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
            failed = f", {plural(len(s.failed_ids), 'row')} failed" if s.failed_ids else ""
            cut = " (list cut at the answer cap)" if not s.failed_ids_complete else ""
            notes.append((f"  batch {s.seq}", f"{s.status} ({s.batch_id}){failed}{cut}{said}"))
    return notes


def status_report(
    state: LedgerState, *, errors: Iterable[str] = (), timed_out: bool = False, calls: int = 0
) -> StatusReport:
    """The ledger's current statuses of its acknowledged batches."""
    statuses: list[StatusRecord] = []
    unpolled: list[int] = []
    for seq in sorted(state.acknowledged()):
        record = state.statuses.get(seq)
        if record is not None:
            statuses.append(record)
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


def _to_poll(state: LedgerState) -> list[Acknowledged]:
    targets = []
    for seq in sorted(state.acknowledged()):
        batch = state.batches[seq]
        last = state.statuses.get(seq)
        if last is not None and last.status in FINAL:
            continue
        targets.append(Acknowledged(seq, batch.batch_id, batch.status_url))
    return targets


def _targets(batches: Iterable[Acknowledged]) -> list[_Target]:
    """The status URL of each batch that has one, as it is asked (https, details)."""
    return [
        _Target(batch.seq, batch.batch_id, detailed_url(secure_status_url(batch.status_url)))
        for batch in batches
        if batch.status_url
    ]


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
        transport: Transport,
        attempts: AttemptLoop,
        *,
        endpoint: str | None,
        concurrency: int,
    ) -> None:
        self.ledger = ledger
        self.transport = transport
        self.attempts = attempts
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.errors: list[str] = []
        self.answers: dict[int, StatusRecord] = {}  # the latest status recorded, by seq

    async def round(self, targets: list[_Target]) -> list[_Target]:
        """Poll ``targets`` once (N workers over a bounded queue); return those still
        ``incomplete`` (or unreachable this round)."""
        again: list[_Target] = []

        async def check(target: _Target) -> None:
            if not await self.poll(target):
                again.append(target)

        await run_pool(targets, check, workers=self.concurrency, queue_size=self.concurrency)
        return sorted(again, key=lambda t: t.seq)

    async def poll(self, target: _Target) -> bool:
        """One batch: True once its status is final (recorded), False to ask again."""

        async def ask(token: Secret | None) -> tuple[str, Any]:
            headers = auth_headers(token) if token_allowed(target.url, self.endpoint) else {}
            answer = await self.transport.request(
                "GET", target.url, headers=headers, limit=MAX_STATUS_BYTES
            )
            return classify_answer(answer)

        outcome = await self.attempts.run(ask, f"status of batch {target.seq}", batch=target.seq)
        if not isinstance(outcome, Answered):
            outcome.raise_if_final()
            self.errors.append(f"batch {target.seq}: {outcome.error}")
            log.info(
                "status of batch %d: not polled: %s",
                target.seq,
                outcome.error,
                extra={"event": "status_not_polled", "batch": target.seq},
            )
            return False
        kind, value = outcome.value
        if kind == "gone":
            status = StatusRecord(
                seq=target.seq, batch_id=target.batch_id, status="unknown", message=value
            )
        else:
            status = status_of_answer(target.seq, target.batch_id, value)
            if status.status not in KNOWN:
                self.errors.append(
                    f"batch {target.seq}: Target answered status {status.status!r}, which "
                    "this uploader does not know: not taken as final, asked again"
                )
        self.ledger.write(replace(status, at=_now()))
        self.answers[target.seq] = status
        log.info(
            "status of batch %d: %s",
            target.seq,
            status.status,
            extra={"event": "batch_status", "batch": target.seq, "target_status": status.status},
        )
        return kind == "gone" or status.status in ("complete", "stuck")


async def poll_statuses(
    ledger_path: str | Path,
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
    acknowledged: Sequence[Acknowledged] | None = None,
    endpoint: str | None = None,
) -> StatusReport:
    """Poll the status of every acknowledged batch in the ledger not known to be final,
    append ``status`` records, and return the folded report (all acknowledged batches).

    With ``acknowledged`` (what the engine knows in memory, while it sends): poll those
    batches instead, without reading the ledger, and return the report of those alone;
    ``endpoint`` is then the run's (the token may go to its host; default: only to Target's
    own edge hosts).

    Without ``watch``: one round. With it: ``incomplete`` batches are asked again after
    ``interval``, ``2·interval``, … (at most ``max_interval``) until none is left or
    ``timeout`` seconds have passed. Raises ``AuthError`` when the token is refused.
    """
    ledger_path = Path(ledger_path)
    if not 1 <= concurrency <= 64:
        raise ConfigError("$concurrency must be between 1 and 64", settings=("concurrency",))
    if timeout < 0 or interval <= 0 or max_interval <= 0:
        raise ConfigError("timeouts and poll intervals must be positive")
    if endpoint is not None:  # the base URL whose host the token may go to: as upload's
        check_endpoint_url(endpoint)
    state: LedgerState | None = None
    if acknowledged is None:
        state = read_ledger(ledger_path)
        endpoint = state.last_run.send_settings.endpoint
        acknowledged = _to_poll(state)
    targets = _targets(acknowledged)
    # first: a ledger that cannot be written leaks no session; each status written is
    # folded into ``state``, which is then the ledger as it is
    ledger = Ledger(ledger_path, state=state)
    own_transport = transport is None
    if transport is None:
        transport = AiohttpTransport(
            timeout=call_timeout, connections=concurrency, ca_bundle=ca_bundle
        )
    attempts = reading_loop(tokens, rate=rate, retry=retry, rng=rng, clock=clock, sleep=sleep)
    poller = _Poller(
        ledger,
        transport,
        attempts,
        endpoint=endpoint,
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
    if state is None:
        return StatusReport(
            statuses=tuple(poller.answers[batch.seq] for batch in acknowledged if batch.seq in poller.answers),
            unpolled=tuple(batch.seq for batch in acknowledged if batch.seq not in poller.answers),
            errors=tuple(poller.errors),
            timed_out=timed_out,
            calls=attempts.counts.calls,
        )  # fmt: skip
    return status_report(
        state, errors=poller.errors, timed_out=timed_out, calls=attempts.counts.calls
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
