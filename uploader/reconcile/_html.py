"""``uploader report --html FILE``: one run's report as a self-contained page.

Everything is inline (CSS, the SVG charts of ``uploader.reconcile._charts``, and one line of
script that records page errors in ``data-errors`` on ``<html>``, for tests and curious
readers); a Content-Security-Policy forbids any request, so the page works offline and
cannot leak what it shows. Built from what ``build_report`` (or the merged shards' report)
gives, plus the ledgers' own records: ``attempt`` records (every call; a schema-2 ledger has
none, and the page says so), acknowledged batches' times, and run records' settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

from uploader._plural import plural
from uploader._version import __version__
from uploader._writable import replace_durably
from uploader.errors import InputError
from uploader.ledger._ledger import LedgerState
from uploader.ledger._records import ATTEMPT_SCHEMA, AttemptRecord, RunRecord
from uploader.ledger._summary import percentile
from uploader.reconcile._charts import (
    bar_list,
    histogram,
    line_chart,
    nice_step,
    stacked_bars,
    time_axis,
)
from uploader.reconcile._report import RunReport
from uploader.send._ratelimit import RateLimit, parse_rate

__all__ = ["CHARTS", "html_report", "write_html_report"]

#: the charts a page can show (``data-chart``), in page order
CHARTS = (
    "acknowledged",
    "calls",
    "latency",
    "outcomes",
    "rejects",
    "statuses",
    "verify",
    "sync",
)
_MAX_BUCKETS = 60
#: calls by what they came to, as stacked in the calls chart and counted in its caption
_CALL_SERIES = (
    ("ok", "answered"),
    ("throttled", "throttled"),
    ("retry", "retried"),
    ("fail", "failed"),
)

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f5f5f5;color:#212121}
header{background:#263238;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:20px}
main{display:flex;flex-wrap:wrap;gap:16px;padding:16px 24px}
section{background:#fff;border-radius:6px;padding:12px 16px;box-shadow:0 1px 2px #0002;
  flex:1 1 480px;max-width:640px}
svg{max-width:100%;height:auto}
section.wide{max-width:none;flex-basis:100%}
h2{font-size:15px;margin:0 0 8px}
p.note{color:#616161;margin:4px 0}
table{border-collapse:collapse;font-size:13px}
td,th{text-align:left;padding:2px 12px 2px 0;vertical-align:top}
th{color:#616161;font-weight:normal}
pre{font-size:12px;overflow-x:auto;margin:0}
.verdict{font-size:16px;font-weight:600}
"""
#: page errors, visible in the DOM (``chromium --dump-dom``) without a console
_ERRORS = (
    "window.onerror=function(m){var e=document.documentElement;"
    "e.setAttribute('data-errors',(e.getAttribute('data-errors')||'')+m+'\\n')};"
)
_POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def write_html_report(
    path: Path, report: RunReport, ledgers: Sequence[tuple[Path, LedgerState]]
) -> None:
    """Write the page to ``path`` atomically (a temporary file renamed over it): a page
    there is the old one or the new one, never a part."""
    page = html_report(report, [state for _, state in ledgers])
    try:
        replace_durably(path, page.encode())
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None


def html_report(report: RunReport, states: Sequence[LedgerState]) -> str:
    """The page of ``report``, the run recorded in ``states`` (one ledger, or each shard's)."""
    zero = _time_zero(states)
    sections = [
        _acknowledged(states, zero),
        *_calls(states, zero),
        _outcomes(report),
        _rejects(report),
        _statuses(report),
        _verification(report),
        *([_sync(report)] if report.sync is not None else []),
        _settings(states),
        _section("Text report", f"<pre>{escape(chr(10).join(report.lines()))}</pre>", wide=True),
    ]
    title = f"uploader report: {report.ledger}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        f"<script>{_ERRORS}</script><title>{escape(title)}</title><style>{_STYLE}</style>"
        f"</head><body><header><h1>{escape(title)}</h1>"
        f'<div class="verdict">{escape(report.verdict())} (exit {report.exit_code()})</div>'
        f"<div>{len(states)} ledger{'s' if len(states) != 1 else ''}, "
        f"{sum(len(s.runs) for s in states)} run record(s); times from "
        f"{escape(_clock(zero))} UTC; page by uploader {escape(__version__)}</div></header>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )


# -- time --------------------------------------------------------------------------------------


def _instant(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _time_zero(states: Sequence[LedgerState]) -> dt.datetime:
    """The first moment any of the ledgers records: the charts' time 0."""
    moments = [
        moment
        for state in states
        for moment in (
            *(_instant(run.started) for run in state.runs),
            *(_instant(a.at) for a in state.attempts[:1]),
        )
        if moment is not None
    ]
    return min(moments, default=dt.datetime.now(dt.UTC))


def _clock(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _elapsed(seconds: float) -> str:
    """A duration in the unit of its size, to 3 significant digits ("9.19 min")."""
    return time_axis(seconds)[1](seconds)


def _since(zero: dt.datetime, text: str | None) -> float | None:
    moment = _instant(text)
    return None if moment is None else max(0.0, (moment - zero).total_seconds())


# -- sections ----------------------------------------------------------------------------------


def _section(title: str, body: str, *, wide: bool = False) -> str:
    kind = ' class="wide"' if wide else ""
    return f"<section{kind}><h2>{escape(title)}</h2>{body}</section>"


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _table(rows: Iterable[tuple[str, object]], head: tuple[str, str] | None = None) -> str:
    top = f"<tr><th>{escape(head[0])}</th><th>{escape(head[1])}</th></tr>" if head else ""
    cells = "".join(
        f"<tr><th>{escape(label)}</th><td>{escape(_text(value))}</td></tr>" for label, value in rows
    )
    return f"<table>{top}{cells}</table>"


def _text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _acknowledged(states: Sequence[LedgerState], zero: dt.datetime) -> str:
    landed = sorted(
        (when, record.rows)
        for state in states
        for record in state.batches.values()
        if record.acknowledged and (when := _since(zero, record.at)) is not None
    )
    if not landed:
        return _section("Rows acknowledged over time", _note("No batch was acknowledged."))
    points, total = [], 0
    for when, rows in landed:
        total += rows
        points.append((when, float(total)))
    scale, x_text = time_axis(points[-1][0])
    chart = line_chart(
        "acknowledged",
        "Rows acknowledged over time",
        points,
        x_label="time since start",
        y_label="rows",
        x_text=x_text,
        x_scale=scale,
    )
    return _section(
        "Rows acknowledged over time",
        chart
        + _note(
            f"{plural(total, 'row')} in {plural(len(landed), 'batch', 'batches')}, the last after {_elapsed(points[-1][0])}."
        ),
    )


def _rate(states: Sequence[LedgerState]) -> RateLimit | None:
    for state in states:
        for run in state.runs:
            if run.send_settings.rate:
                return parse_rate(run.send_settings.rate)
    return None


def _calls(states: Sequence[LedgerState], zero: dt.datetime) -> list[str]:
    attempts = [a for state in states for a in state.attempts]
    if not attempts:
        old = [s.schema for s in states if s.schema < ATTEMPT_SCHEMA]
        why = (
            f"this ledger's schema ({old[0]}) records batches, not calls"
            if old
            else "no call was made"
        )
        note = _note(
            f"No per-call records: {why}; calls and latency charts need ledger schema {ATTEMPT_SCHEMA}."
        )
        return [_section("Calls, retries and throttles", note), _section("Call latency", note)]
    rate = _rate(states)
    starts = [_since(zero, a.at) or 0.0 for a in attempts]
    span = max(starts) + 1e-9
    if rate is not None:  # whole windows: a bucket of the window's length holds at most its calls
        windows = max(1, -(-span // (rate.period * _MAX_BUCKETS)))
        bucket = rate.period * windows
        per_bar = rate.calls * windows
        limit: float | None = per_bar
        limit_label = f"rate limit {rate} ({per_bar:g} per bar)"
    else:
        bucket, limit, limit_label = nice_step(span, 40), None, ""
    counts: list[dict[str, int]] = [{} for _ in range(int(span // bucket) + 1)]
    by_kind: dict[str, int] = {}
    for attempt, start in zip(attempts, starts, strict=True):
        key = _call_kind(attempt)
        slot = counts[int(start // bucket)]
        slot[key] = slot.get(key, 0) + 1
        by_kind[key] = by_kind.get(key, 0) + 1
    scale, x_text = time_axis(len(counts) * bucket)
    calls_chart = stacked_bars(
        "calls",
        f"Calls per {_elapsed(bucket)}",
        counts,
        bucket_seconds=bucket,
        series=_CALL_SERIES,
        limit=limit,
        limit_label=limit_label,
        x_label="time since start",
        x_text=x_text,
        x_scale=scale,
    )
    retried = sum(1 for a in attempts if a.retry_delay is not None)
    summary = ", ".join(
        f"{by_kind[key]:,} {label}" for key, label in _CALL_SERIES if by_kind.get(key)
    )
    seconds = [a.seconds for a in attempts]
    p50, p95 = percentile(seconds, 0.5), percentile(seconds, 0.95)
    latency = histogram("latency", "Call latency", seconds, x_label="seconds per call", unit="s")
    return [
        _section(
            "Calls, retries and throttles",
            calls_chart
            + _note(f"{len(attempts):,} calls ({summary}); {retried:,} followed by a backoff."),
        ),
        _section(
            "Call latency",
            latency
            + _note(
                f"p50 {p50:.3f} s, p95 {p95:.3f} s, max {max(seconds):.3f} s over {len(seconds):,} calls."
            ),
        ),
    ]


def _call_kind(attempt: AttemptRecord) -> str:
    """What a call came to, as the run's summary counts it: a throttled call is throttled;
    any other call followed by a backoff was retried; the last call of a batch that gave up
    (no backoff after it), a refusal, a stop: failed."""
    if attempt.outcome in ("ok", "throttled"):
        return attempt.outcome
    return "retry" if attempt.retry_delay is not None else "fail"


def _outcomes(report: RunReport) -> str:
    items = [
        ("acknowledged", report.rows_acknowledged),
        ("failed (batches)", report.rows_failed),
        ("failed (row level)", report.status.rows_failed),
        ("pending", report.rows_pending),
        ("rejected", report.rows_rejected),
    ]
    batches = _table(
        [
            ("batches acknowledged", report.batches_acknowledged),
            ("batches failed", report.batches_failed),
            ("batches pending", report.batches_pending),
            ("rows read", report.rows_read),
            ("rows sent", report.rows_sent),
        ]
    )
    return _section(
        "Outcomes (rows)", bar_list("outcomes", "Outcomes", items, unit="rows") + batches
    )


def _rejects(report: RunReport) -> str:
    if not report.rejects:
        return _section("Rejected rows by reason", _note("No row was rejected."))
    items = sorted(report.rejects.items(), key=lambda item: (-item[1], item[0]))
    chart = bar_list("rejects", "Rejected rows by reason", items[:12], unit="rows")
    table = _table(((reason, n) for reason, n in items), head=("reason", "rows"))
    return _section("Rejected rows by reason", chart + table + _note(f"in {report.rejects_file}"))


def _statuses(report: RunReport) -> str:
    status = report.status
    counts = status.counts
    if not status.statuses:
        return _section(
            "Target's batchStatus",
            _note(
                f"No status recorded ({counts['unpolled']:,} batches unpolled): run `uploader status`."
            ),
        )
    totals = status.totals
    chart = bar_list("statuses", "Batch statuses", list(counts.items()), unit="batches")
    table = _table(
        [
            ("batchSize", totals["batch_size"]),
            ("consumedCount", totals["consumed_count"]),
            ("successfulUpdates", totals["successful_updates"]),
            ("profilesNotFound", totals["profiles_not_found"]),
            ("failedUpdates", totals["failed_updates"]),
            ("rows listed as failed", status.rows_failed),
        ]
    )
    return _section("Target's batchStatus", chart + table)


def _verification(report: RunReport) -> str:
    """The run's verification; for shards (each verified on its own ledger), each shard's."""
    if report.parts:
        body = "".join(f"<h3>{escape(part.ledger)}</h3>{_verified(part)}" for part in report.parts)
        return _section("Verification", body)
    return _section("Verification", _verified(report))


def _verified(report: RunReport) -> str:
    verification = report.verification
    if verification is None:
        return _note(f"No verification of {report.ledger}: run `uploader verify` on it.")
    chart = bar_list("verify", "Verification", list(verification.counts.items()), unit="profiles")
    state = "finished" if verification.finished else "did not finish"
    note = _note(
        f"Run {verification.run} ({state}): {len(verification.checks):,} of a sample of "
        f"{verification.sample:,} from {verification.population:,} acknowledged rows "
        f"(seed {verification.seed})."
    )
    return chart + note


def _sync(report: RunReport) -> str:
    assert report.sync is not None
    sync = report.sync
    chart = bar_list("sync", "Sync: rows by reason", list(sync.rows.items()), unit="rows")
    return _section("Sync: rows by reason", chart + _table(sync.lines()))


def _settings(states: Sequence[LedgerState]) -> str:
    tables = [
        f"<h3>{escape(_run_title(run))}</h3>{_table(_run_settings(run))}"
        for state in states
        for run in state.runs
    ]
    return _section("Settings", "".join(tables), wide=True)


def _run_title(run: RunRecord) -> str:
    kind = "resumed run" if run.resumed else "run"
    return f"{kind} started {run.started or 'at an unrecorded time'}"


def _run_settings(run: RunRecord) -> list[tuple[str, object]]:
    """What the run record holds, settings first (it never holds the token)."""
    rows: list[tuple[str, object]] = [
        ("uploader", run.version),
        ("ledger schema", run.ledger_schema),
    ]
    rows += [(name, value) for name, value in run.send_settings.to_json().items()]
    rows += sorted((run.fingerprint.settings or {}).items())
    rows += [
        (f"source {i + 1}", f"{source.path} ({_text(source.size)} bytes)")
        for i, source in enumerate(run.fingerprint.sources or ())
    ]
    if run.sync is not None:
        rows += [("sync state", run.sync.state), ("sync full", run.sync.full)]
    return rows
