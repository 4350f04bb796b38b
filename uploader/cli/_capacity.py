"""Capacity planning for ``validate`` and the dry runs: how many calls the input needs, and
how long the rate limit (and the daily row budget) make sending them take at the least.

Two figures, because the strict window gives both honestly: from a fresh window the first N
calls start at once and then N more each window (``min_send_seconds``), so 38 batches at
50/60 wait for nothing; but they take 38 of the account's 50 calls a minute, so beside other
jobs (or a second run) the rate costs 38 × 61.2/50 = 47 s — the sustained figure (the
limiter's window is 2 % longer than Target's 60 s, so both figures are what it really keeps).
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from uploader._plural import duration, plural
from uploader.send._ratelimit import DEFAULT_RATE, RateLimit, min_send_seconds

__all__ = [
    "capacity_dict",
    "capacity_lines",
    "daily_rows_option",
    "rate_option",
]

rate_option = click.option(
    "--rate",
    default=str(DEFAULT_RATE),
    show_default=True,
    metavar="N/SECONDS|none",
    help="Never more than N calls in any SECONDS window (Target throttles over 50/60). The "
    "budget is per Target account and shared by the Admin, Reporting and bulk profile APIs: "
    "leave room for other jobs of the same account (e.g. 40/60), and --auth adobe-io token "
    "calls draw on it too.",
)

daily_rows_option = click.option(
    "--daily-rows",
    type=int,
    envvar="UPLOADER_DAILY_ROWS",
    metavar="N",
    help="Never send more than N rows for the client code in any rolling 24 h (older Adobe "
    "docs cap bulk updates at 1,000,000 a day): a batch that would exceed it is not sent, "
    "the run stops with the rest pending (exit 6) and says when --resume can go on. Counted "
    "in the --rate-store Redis, else in --daily-rows-file. Default: no budget.",
)


def _per(rate: RateLimit) -> str:
    return (
        f"{plural(rate.calls, 'call')}/min"
        if rate.period == 60
        else f"{plural(rate.calls, 'call')}/{rate.period:g} s"
    )


def _sustained(batches: int, rate: RateLimit) -> float:
    """The batches' share of the account's rate: N calls per window, however they burst."""
    return batches * rate.window / rate.calls


def days_needed(batch_rows: Sequence[int], daily_rows: int) -> int:
    """Rolling 24-hour budgets the batches need at the least: whole batches, in the order
    they are sent, packed into each day's budget (a batch is counted whole or not sent, so
    7,000-row batches take one day each of a 10,000 budget). ``check_batch_fits`` has refused
    a batch bigger than the budget before."""
    days, used = 0, daily_rows  # no day opened yet
    for rows in batch_rows:
        if used + rows > daily_rows:
            days, used = days + 1, 0
        used += rows
    return days


def capacity_dict(
    batch_rows: Sequence[int], rate: RateLimit | None, daily_rows: int | None
) -> dict[str, object]:
    """The ``--json`` fields: calls, the shortest time from a fresh window, the sustained
    time at the rate (both ``None`` without a rate), and the days of ``--daily-rows``;
    ``batch_rows``: the rows of each batch the plan made, in order."""
    batches = len(batch_rows)
    return {
        "calls_needed": batches,
        "rate": str(rate) if rate is not None else None,
        "min_seconds_at_rate": round(min_send_seconds(batches, rate), 3) if rate else None,
        "sustained_seconds_at_rate": round(_sustained(batches, rate), 3) if rate else None,
        **(
            {"daily_rows": daily_rows, "days_needed": days_needed(batch_rows, daily_rows)}
            if daily_rows and daily_rows > 0
            else {}
        ),
    }


def capacity_lines(
    batch_rows: Sequence[int], rate: RateLimit | None, daily_rows: int | None
) -> list[str]:
    """E.g. "38 batches → 47 s at 50 calls/min sustained; from a fresh window all 38 start
    at once (up to 50 do)"; and the days ``--daily-rows`` needs."""
    batches, rows = len(batch_rows), sum(batch_rows)
    calls = plural(batches, "batch", "batches")
    if not batches:
        line = f"{calls} → nothing to send"
    elif rate is None:
        line = f"{calls} → no rate limit (--rate none)"
    else:
        sustained = duration(_sustained(batches, rate))
        if batches <= rate.calls:
            fresh = (
                f"all {batches:,} start at once (up to {rate.calls:,} do)"
                if batches > 1
                else "it starts at once"
            )
        else:
            fresh = (
                f"at least {duration(min_send_seconds(batches, rate))} ({rate.calls:,} "
                f"start{'s' if rate.calls == 1 else ''} at once, then {rate.calls:,} more each {rate.window:g} s window)"
            )
        line = f"{calls} → {sustained} at {_per(rate)} sustained; from a fresh window {fresh}"
    lines = [f"capacity       {line}"]
    if daily_rows and daily_rows > 0:
        days = days_needed(batch_rows, daily_rows)
        budget = f"--daily-rows {daily_rows:,}"
        lines.append(
            f"daily budget   {rows:,} rows → "
            + (
                f"within one day's {budget}"
                if days <= 1
                else f"at least {days:,} days of {budget} (a rolling 24 h each: the last "
                f"batches go {plural(days - 1, 'day')} or more after the first)"
            )
        )
    return lines
