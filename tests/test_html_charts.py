"""The HTML report's charts on a long run, from a ledger state built in memory (no 9-minute
run): time axes in one unit with round ticks, captions of at most 3 significant digits, no
label past the chart's edge, and the calls chart counting calls as the summary does."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from uploader.ledger._ledger import LedgerState
from uploader.ledger._records import (
    AttemptRecord,
    BatchRecord,
    CallOutcome,
    InputFingerprint,
    RunRecord,
    SendSettings,
)
from uploader.reconcile._charts import time_axis
from uploader.reconcile._html import _acknowledged, _calls

ZERO = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SPAN = 551.2  # 9.19 minutes


def at(seconds: float) -> str:
    return (ZERO + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def call(
    seq: int, attempt: int, seconds: float, outcome: CallOutcome, delay: float | None
) -> AttemptRecord:
    status = {"ok": 200, "throttled": 503, "retry": 500, "fail": 400}[outcome]
    return AttemptRecord(
        seq=seq, attempt=attempt, at=at(seconds), seconds=0.2, http_status=status,
        outcome=outcome, retry_delay=delay,
    )  # fmt: skip


def long_run(rate: str | None = "50/60") -> LedgerState:
    """50 answered calls over 9.2 minutes; batch 60 retried twice after a 500 then gave up
    on its third (a 500 with no backoff after it); batch 61 throttled once, then answered."""
    attempts = [call(seq, 1, seq * SPAN / 49, "ok", None) for seq in range(50)]
    attempts += [
        call(60, 1, 100.0, "retry", 1.0),
        call(60, 2, 101.0, "retry", 2.0),
        call(60, 3, 103.0, "retry", None),
        call(61, 1, 200.0, "throttled", 6.0),
        call(61, 2, 206.0, "ok", None),
    ]
    batches = {
        seq: BatchRecord(
            seq=seq,
            content_hash="h",
            rows=10,
            nbytes=100,
            first=("a", 1),
            last=("a", 10),
            outcome="acknowledged",
            attempts=1,
            http_status=200,
            batch_id=f"b{seq}",
            status_url=None,
            message=None,
            timings=None,
            parts=None,
            at=at(seq * SPAN / 49),
        )
        for seq in range(50)
    }
    run = RunRecord(
        schema=3, started=at(0), fingerprint=InputFingerprint(), settings=SendSettings(rate=rate)
    )
    return LedgerState(runs=[run], attempts=attempts, batches=batches)


def tick_labels(svg: str) -> list[str]:
    """The x axis's labels: the texts just below the plot's base line."""
    return re.findall(
        r'<text x="[\d.]+" y="232\.0" text-anchor="(?:middle|end)">([^<]*)</text>', svg
    )


@pytest.mark.parametrize(("span", "unit"), [(90.0, "s"), (551.2, "min"), (3 * 3600.0, "h")])
def test_a_time_axis_has_one_unit_and_round_ticks(span: float, unit: str) -> None:
    scale, text = time_axis(span)
    assert text(span).endswith(f" {unit}")
    assert len(text(span).split()[0].replace(".", "")) <= 3, text(span)  # significant digits
    assert scale == {"s": 1.0, "min": 60.0, "h": 3600.0}[unit]


def test_the_long_runs_axes_tick_in_round_minutes() -> None:
    state = long_run()
    calls_section, _ = _calls([state], ZERO)
    assert tick_labels(calls_section) == ["0 min", "2 min", "4 min", "6 min", "8 min", "10 min"]
    acknowledged = _acknowledged([state], ZERO)
    assert tick_labels(acknowledged) == ["0 min", "2 min", "4 min", "6 min", "8 min"]
    assert "the last after 9.19 min." in acknowledged
    assert "Calls per 60 s" in calls_section
    unlimited, _ = _calls([long_run(rate=None)], ZERO)
    assert tick_labels(unlimited) == ["0 min", "2 min", "4 min", "6 min", "8 min"]


def test_no_tick_label_runs_past_the_right_edge() -> None:
    calls_section, _ = _calls([long_run()], ZERO)
    last = re.findall(
        r'<text x="([\d.]+)" y="232\.0" text-anchor="(middle|end)">([^<]*)<', calls_section
    )[-1]
    x, anchor, text = float(last[0]), last[1], last[2]
    half = 3.5 * len(text)  # 11 px system-ui: under 7 px a character
    assert (x + half if anchor == "middle" else x) <= 560, last


def test_the_calls_chart_counts_as_the_summary_and_says_it_in_the_legends_words() -> None:
    """The last 500 of a batch that gave up had no backoff after it: failed, not retried."""
    calls_section, _ = _calls([long_run()], ZERO)
    assert "55 calls (51 answered, 1 throttled, 2 retried, 1 failed)" in calls_section
    assert ">failed</text>" in calls_section  # the legend's word
    assert "retry" not in re.sub(r"<[^>]*>", "", calls_section)  # no internal names shown
