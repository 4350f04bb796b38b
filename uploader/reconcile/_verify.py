"""Read a sample of profiles back through the Profile Fetch API and compare with what was sent.

Adobe warns that up to 0.1 % of a large batch may not be onboarded; reading profiles back is
the only way to measure it. ``verify``:

1. re-makes the run's acknowledged batches from the ledger (``uploader.reconcile._reproduce``) and takes
   a seeded uniform sample of their ids (bottom-k of a seeded id hash: the same seed gives the
   same sample, each id counted once however many batches carried it);
2. for each sampled id, the *last value sent* for every attribute: later non-empty cells win,
   empty cells are not sent (Target ignores them) — all in encoded form, straight from the
   bodies;
3. fetches ``GET {endpoint}/rest/v1/profiles/thirdPartyId/{id}?client={client}`` (rate-limited,
   ``concurrency`` at once, transient errors retried: ``uploader.send._attempt``) and encodes
   what Target returns with the run's own encoder, so values are compared exactly as bytes of
   the body, never decoded;
4. classifies each profile and appends one ``verify`` record per profile to the ledger.

Classes — and how *not visible yet* is told apart from a loss:

- ``matched``: every attribute sent has the value sent;
- ``not_visible_yet``: the difference can still be Target's processing delay: the batch is
  not reported ``complete`` (``uploader status``) and it was sent less than ``window`` (24 h,
  Target's documented worst case) ago, and either the profile does not exist yet (404) or
  every differing attribute is missing or was last modified *before* the batch was sent;
- ``not_found``: 404 although the batch is ``complete`` or older than ``window``;
- ``different``: an attribute has another value and either it was modified after the batch
  was sent (something else wrote it since) or the batch is ``complete``/older than ``window``;
- ``error``: the profile could not be fetched (retries used up, unexpected answer).

Run it again later and the latest verdict per id counts; ``--resume`` continues an
interrupted verification with the same sample.

Ledger records (``type: verify``): ``kind: start`` (run, seed, sample, population), ``kind:
profile`` (run, id, seq, result, attribute names that differ — names only, no values), ``kind:
end`` (run, counts).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import orjson
import polars as pl

from uploader._log import get_logger
from uploader.auth._secret import Secret
from uploader.auth._static import TokenProvider
from uploader.errors import ConfigError, LedgerError, RemoteError, ServerError, spell
from uploader.ledger._ledger import Ledger, LedgerState, read_ledger
from uploader.ledger._records import BatchRecord, VerifyEnd, VerifyProfile, VerifyStart
from uploader.produce._encode import encode_text
from uploader.reconcile._defaults import (
    DEFAULT_SAMPLE,
    DEFAULT_VERIFY_CONCURRENCY,
    DEFAULT_VERIFY_RATE,
    DEFAULT_WINDOW,
)
from uploader.reconcile._reproduce import body_frame, producer_from_ledger, reproduce
from uploader.send._attempt import Answered, reading_loop
from uploader.send._pool import run_pool
from uploader.send._ratelimit import RateLimit
from uploader.send._retry import RetryPolicy
from uploader.send._transport import (
    AiohttpTransport,
    HttpAnswer,
    Transport,
    api_base_url,
    auth_headers,
    raise_for_refusal,
)

__all__ = [
    "DEFAULT_SAMPLE",
    "DEFAULT_WINDOW",
    "RESULTS",
    "Expected",
    "ProfileCheck",
    "VerifySummary",
    "classify_profile",
    "sample_expected",
    "verification_summary",
    "verify",
]

CLOCK_SKEW = 5.0  # seconds between Target's modifiedAt clock and ours
RESULTS = ("matched", "different", "not_visible_yet", "not_found", "error")
_KEY, _SEQ, _LINE = "__uploader_key", "__uploader_seq", "__uploader_line"
log = get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """What the run last sent for one id (encoded names → encoded non-empty values)."""

    id: str  # as Target knows it (decoded, checked to re-encode to ``encoded_id``)
    encoded_id: str
    values: dict[str, str]
    seq: int  # the batch of the last send
    sent_at: float | None  # epoch seconds of the call that sent that batch
    complete: bool  # Target reported that batch complete


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileCheck:
    id: str
    seq: int
    result: str  # one of RESULTS
    attributes: tuple[str, ...] = ()  # names (as sent) that differ or are missing
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifySummary:
    """The latest verification run of a ledger."""

    run: int
    seed: int
    sample: int
    population: int  # acknowledged rows the sample was drawn from
    checks: tuple[ProfileCheck, ...]
    finished: bool

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(RESULTS, 0)
        for check in self.checks:
            counts[check.result] = counts.get(check.result, 0) + 1
        return counts

    @property
    def confirms(self) -> bool:
        """The verification finished and read every sampled profile back as sent (or still
        on its way), at least one of them matching: the run landed, statuses or not."""
        return self.finished and self.exit_code == 0 and self.counts["matched"] > 0

    @property
    def exit_code(self) -> int:
        """0 when nothing is proven missing or different, else 1."""
        counts = self.counts
        return 1 if counts["not_found"] or counts["different"] or counts["error"] else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "seed": self.seed,
            "sample": self.sample,
            "population": self.population,
            "checked": len(self.checks),
            "finished": self.finished,
            "counts": self.counts,
            "problems": [asdict(c) for c in self.checks if c.result != "matched"],
        }

    def lines(self, limit: int = 10) -> list[str]:
        counts = self.counts
        done = (
            ""
            if self.finished
            else spell(" (interrupted: ${resume=True} continues)", "resume=True")
        )
        rows = [
            (
                "verified",
                f"{len(self.checks):,} of {self.population:,} acknowledged rows "
                f"(sample {self.sample:,}, seed {self.seed}){done}",
            ),
            *((f"  {k.replace('_', ' ')}", f"{n:,}") for k, n in counts.items() if n),
        ]
        problems = [c for c in self.checks if c.result != "matched"]
        for check in problems[:limit]:
            names = f" [{', '.join(check.attributes)}]" if check.attributes else ""
            said = f": {check.message}" if check.message else ""
            rows.append((f"  {check.result}", f"{check.id} (batch {check.seq}){names}{said}"))
        out = [f"{label:<19}  {value}" for label, value in rows]
        if len(problems) > limit:
            more = spell("(${to_dict()} lists them all)", "to_dict()")
            out.append(f"  … and {len(problems) - limit:,} more {more}")
        return out


# -- the sample -------------------------------------------------------------------------------


def _sent_at(record: BatchRecord) -> float | None:
    """When the acknowledged call started: answer time minus the call's duration."""
    try:
        answered = dt.datetime.fromisoformat(record.at or "").timestamp()
    except ValueError:
        return None
    return answered - (record.timings.last_call if record.timings else 0.0)


def _complete(state: LedgerState, seq: int) -> bool:
    status = state.statuses.get(seq)
    return status is not None and status.status == "complete"


def sample_expected(
    state: LedgerState, ledger: Path, sample: int, seed: int
) -> tuple[list[Expected], int]:
    """A seeded sample of ``sample`` acknowledged ids with their last sent values, and the
    number of acknowledged rows it was drawn from."""
    producer = producer_from_ledger(state, ledger)
    mode = producer.spec.encode
    acknowledged = state.acknowledged()
    kept: pl.DataFrame | None = None
    population = 0
    for batch in reproduce(state, ledger, producer):
        if acknowledged.get(batch.seq) != batch.content_hash:
            continue
        frame = body_frame(batch)
        population += frame.height
        frame = frame.with_columns(
            pl.first().hash(seed=seed).alias(_KEY),
            pl.lit(batch.seq, dtype=pl.Int64).alias(_SEQ),
            pl.int_range(pl.len(), dtype=pl.Int64).alias(_LINE),
        )
        kept = frame if kept is None else pl.concat([kept, frame])
        keys = kept.get_column(_KEY).unique().sort()
        if keys.len() > sample:  # keep the ``sample`` smallest keys: bounded memory
            kept = kept.filter(pl.col(_KEY) <= keys[sample - 1])
    if kept is None or sample == 0:
        return [], population
    return list(_expected(state, kept.sort(_SEQ, _LINE), mode)), population


def _expected(state: LedgerState, rows: pl.DataFrame, mode: Any) -> Iterator[Expected]:
    id_name = rows.columns[0]
    attributes = [c for c in rows.columns[1:] if not c.startswith("__uploader_")]
    by_id: dict[str, tuple[dict[str, str], int]] = {}
    for row in rows.iter_rows(named=True):
        values, _ = by_id.get(row[id_name], ({}, 0))
        values.update({name: row[name] for name in attributes if row[name]})
        by_id[row[id_name]] = (values, int(row[_SEQ]))
    for encoded_id, (values, seq) in sorted(by_id.items()):
        raw = unquote(encoded_id, errors="strict")
        if encode_text([raw], mode)[0] != encoded_id:  # our encoding is plain UTF-8 %XX
            raise LedgerError(f"batch {seq}: id {encoded_id!r} does not round-trip")
        yield Expected(
            id=raw,
            encoded_id=encoded_id,
            values=values,
            seq=seq,
            sent_at=_sent_at(state.batches[seq]),
            complete=_complete(state, seq),
        )


# -- one profile --------------------------------------------------------------------------------


def _epoch(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def classify_profile(
    expected: Expected,
    found: dict[str, tuple[str, float | None]] | None,
    *,
    now: float,
    window: float = DEFAULT_WINDOW,
    names: dict[str, str] | None = None,
) -> ProfileCheck:
    """Pure: the verdict for one profile. ``found``: encoded name → (encoded value, modified
    epoch) as Target returned it, or ``None`` for a 404. ``names``: encoded → readable name."""
    may_still_come = not expected.complete and (
        expected.sent_at is None or now - expected.sent_at < window
    )
    if found is None:
        result = "not_visible_yet" if may_still_come else "not_found"
        return ProfileCheck(id=expected.id, seq=expected.seq, result=result)
    differing, all_older = [], True
    for name, value in expected.values.items():
        got = found.get(name)
        if got is not None and got[0] == value:
            continue
        differing.append((names or {}).get(name, name))
        modified = got[1] if got is not None else None
        sent = expected.sent_at
        if got is not None and (modified is None or sent is None or modified >= sent - CLOCK_SKEW):
            all_older = False  # written at or after our send: not a delay
    if not differing:
        return ProfileCheck(id=expected.id, seq=expected.seq, result="matched")
    result = "not_visible_yet" if all_older and may_still_come else "different"
    return ProfileCheck(
        id=expected.id, seq=expected.seq, result=result, attributes=tuple(sorted(differing))
    )


def _found(body: bytes, mode: Any) -> dict[str, tuple[str, float | None]]:
    try:
        data = orjson.loads(body)
        attributes = data.get("profileAttributes") or {}
        items = [
            (str(name), str(entry.get("value", "")), _epoch(entry.get("modifiedAt")))
            for name, entry in attributes.items()
            if isinstance(entry, dict)
        ]
    except (orjson.JSONDecodeError, AttributeError) as exc:
        raise ServerError("unreadable profile from Target") from exc
    if not items:
        return {}
    encoded_names = encode_text([n for n, _, _ in items], mode)
    encoded_values = encode_text([v for _, v, _ in items], mode)
    return {
        name: (value, modified)
        for name, value, (_, _, modified) in zip(encoded_names, encoded_values, items, strict=True)
    }


def _answer(answer: HttpAnswer, mode: Any) -> dict[str, tuple[str, float | None]] | None:
    code = answer.status
    raise_for_refusal(
        answer,
        f"Target refused the profile token for the profile fetch (HTTP {code}): it has "
        "expired or was regenerated; run again with a valid token",
    )
    if code == 404:
        return None
    if code != 200:
        raise RemoteError(f"unexpected answer to the profile fetch (HTTP {code})", status=code)
    return _found(answer.body, mode)


# -- the run ------------------------------------------------------------------------------------


def verification_summary(state: LedgerState) -> VerifySummary | None:
    """The latest verification run recorded in the ledger (``None``: never verified)."""
    starts = [r for r in state.verifications if isinstance(r, VerifyStart)]
    if not starts:
        return None
    start = starts[-1]
    latest: dict[str, ProfileCheck] = {}
    finished = False
    for record in state.verifications:
        if record.run != start.run:
            continue
        if isinstance(record, VerifyProfile):
            latest[record.id] = ProfileCheck(
                id=record.id,
                seq=record.seq,
                result=record.result,
                attributes=record.attributes,
                message=record.message,
            )
        elif isinstance(record, VerifyEnd):
            finished = True
    return VerifySummary(
        run=start.run,
        seed=start.seed,
        sample=start.sample,
        population=start.population,
        checks=tuple(latest[key] for key in sorted(latest)),
        finished=finished,
    )


async def verify(
    ledger_path: str | Path,
    tokens: TokenProvider,
    *,
    sample: int = DEFAULT_SAMPLE,
    seed: int | None = None,
    resume: bool = False,
    transport: Transport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    now: Callable[[], float] = time.time,
    rate: RateLimit | None = DEFAULT_VERIFY_RATE,
    concurrency: int = DEFAULT_VERIFY_CONCURRENCY,
    window: float = DEFAULT_WINDOW,
    retry: RetryPolicy | None = None,
    call_timeout: float = 60.0,
    ca_bundle: str | None = None,
    rng: random.Random | None = None,
) -> VerifySummary:
    """Verify a sample of the run in ``ledger_path`` (see the module doc); returns the summary
    of this verification run (also in the ledger). Raises ``AuthError`` on a refused token."""
    ledger_path = Path(ledger_path)
    if sample < 1:
        raise ConfigError("$sample must be at least 1", settings=("sample",))
    if not 1 <= concurrency <= 64:
        raise ConfigError("$concurrency must be between 1 and 64", settings=("concurrency",))
    state = read_ledger(ledger_path)
    settings = state.last_run.send_settings
    client = settings.client_code or ""
    if not settings.endpoint or not client:
        raise LedgerError(f"ledger {ledger_path}: no endpoint or client code in its run record")
    try:  # an older uploader recorded any endpoint and client code: checked as upload's are
        base = api_base_url(client, settings.endpoint)
    except ConfigError as error:
        named = error.naming(str)  # the run record's key, not a flag of this command
        raise LedgerError(f"ledger {ledger_path}: its run record's {named}") from None
    previous = verification_summary(state)
    done: set[str] = set()
    if resume:
        if previous is None:
            raise ConfigError(
                "$resume: this ledger has no verification to continue", settings=("resume",)
            )
        run, seed, sample = previous.run, previous.seed, previous.sample
        done = {check.id for check in previous.checks}
    else:
        run = (previous.run + 1) if previous else 1
        seed = seed if seed is not None else secrets.randbits(31)
    producer = producer_from_ledger(state, ledger_path)
    columns = producer.check()
    if columns.id_name != "thirdPartyId":
        raise ConfigError(f"verify reads profiles by thirdPartyId; this run sent {columns.id_name}")
    producer_mode = producer.spec.encode
    # encoded attribute name → the name as the user knows it (for messages)
    header = dict(
        zip(encode_text(columns.target_names, producer_mode), columns.target_names, strict=True)
    )
    expected, population = await asyncio.to_thread(
        sample_expected, state, ledger_path, sample, seed
    )
    ledger = Ledger(ledger_path, state=state)  # what it writes is folded into ``state``
    if not resume:
        ledger.write(
            VerifyStart(run=run, seed=seed, sample=sample, population=population, at=_now())
        )
    own_transport = transport is None
    if transport is None:
        transport = AiohttpTransport(
            timeout=call_timeout, connections=concurrency, ca_bundle=ca_bundle
        )
    attempts = reading_loop(tokens, rate=rate, retry=retry, rng=rng, clock=clock, sleep=sleep)

    async def fetch(item: Expected) -> ProfileCheck:
        url = f"{base}/rest/v1/profiles/thirdPartyId/{quote(item.id, safe='')}?client={client}"

        async def get(token: Secret | None) -> dict[str, tuple[str, float | None]] | None:
            answer = await transport.request("GET", url, headers=auth_headers(token))
            return _answer(answer, producer_mode)

        outcome = await attempts.run(get, f"profile of batch {item.seq}", batch=item.seq)
        if not isinstance(outcome, Answered):
            outcome.raise_if_final()
            return ProfileCheck(
                id=item.id, seq=item.seq, result="error", message=str(outcome.error)
            )
        return classify_profile(item, outcome.value, now=now(), window=window, names=header)

    async def work(item: Expected) -> None:
        check = await fetch(item)
        log.debug("verify: %s (batch %d): %s", check.id, check.seq, check.result)
        ledger.write(
            VerifyProfile(
                run=run,
                id=check.id,
                seq=check.seq,
                result=check.result,
                attributes=check.attributes,
                message=check.message,
                at=_now(),
            )
        )

    try:
        todo = (item for item in expected if item.id not in done)
        await run_pool(todo, work, workers=concurrency, queue_size=concurrency)
        summary = verification_summary(state)
        assert summary is not None
        ledger.write(VerifyEnd(run=run, counts=summary.counts, at=_now()))
    finally:
        ledger.close()
        if own_transport:
            await transport.close()
    final = verification_summary(state)
    assert final is not None
    log.info("verification %d: %d profiles checked: %s", run, len(final.checks), final.counts)
    return final


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
