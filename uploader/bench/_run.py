"""``uploader bench``'s suite: generated data through the real uploader end to end against
the embedded mock (each its own process), the producer alone, and what the speed measured
means at Target's real limit.

The figures are this machine's on loopback: the client and the mock share its cores, so the
end-to-end speed is lower than against Target, where the mock's CPU is not the client's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from uploader._plural import duration, plural
from uploader.bench._harness import MB, MockServer, dataset, machine_info
from uploader.bench._measure import ceiling, upload
from uploader.produce._limits import DEFAULT_BATCH_BYTES, MAX_BATCH_ROWS
from uploader.send._ratelimit import DEFAULT_RATE, RateLimit, min_send_seconds

__all__ = ["BACKFILL_ROWS", "DEFAULT_ROWS", "QUICK_ROWS", "at_target_limit", "describe", "run"]

QUICK_ROWS = 200_000  # --quick: a few seconds
DEFAULT_ROWS = 2_000_000  # enough rows for the fixed costs (start-up, check pass) to fade
#: backfill sizes the report turns into times at Target's limit
BACKFILL_ROWS = (10_000_000, 100_000_000)

Say = Callable[[str], None]


def run(rows: int, fmt: str, data: Path, say: Say) -> dict[str, Any]:
    """Generate ``rows`` rows as ``fmt`` in ``data`` (kept there: a second run reuses them),
    upload them with ``uploader upload --rate none`` to the mock, run the producer alone on
    them, and judge the end-to-end speed against Target's limit. Raises ``RuntimeError``
    when a run fails or the mock did not receive every row."""
    say(f"generating {rows:,} rows ({fmt}) in {data} …")
    source = dataset(rows, fmt, data)
    say("uploading them to the mock (uploader upload --rate none, default settings) …")
    with MockServer() as mock:
        end_to_end = upload(mock, source)
    del end_to_end["call_starts"]
    say("running the producer alone (read, check, encode, batch; no network) …")
    producer = ceiling(source)
    return {
        "rows": rows,
        "format": fmt,
        "input_bytes": source.stat().st_size,
        "end_to_end": end_to_end,
        "producer": producer,
        "target": at_target_limit(end_to_end["rows_per_s"], end_to_end["bytes"] / rows),
        "machine": machine_info(),
    }


def at_target_limit(
    rows_per_s: float, bytes_per_row: float, rate: RateLimit = DEFAULT_RATE
) -> dict[str, Any]:
    """What ``rows_per_s`` end to end means under ``rate`` with full batches of rows of
    ``bytes_per_row`` (encoded): rows a call, the most rows/s the limit allows, which of the
    two sets the pace, and how long each of ``BACKFILL_ROWS`` takes at least."""
    rows_per_call = min(MAX_BATCH_ROWS, max(1, int(DEFAULT_BATCH_BYTES // bytes_per_row)))
    limit_rows_per_s = rate.calls * rows_per_call / rate.period
    backfills = []
    for rows in BACKFILL_ROWS:
        calls = math.ceil(rows / rows_per_call)
        at_limit = min_send_seconds(calls, rate)
        at_machine = rows / rows_per_s
        backfills.append(
            {
                "rows": rows,
                "calls": calls,
                "min_seconds_at_limit": at_limit,
                "seconds_at_this_speed": at_machine,
                "min_seconds": max(at_limit, at_machine),
            }
        )
    return {
        "rate_calls": rate.calls,
        "rate_seconds": rate.period,
        "rows_per_call": rows_per_call,
        "bytes_per_row": bytes_per_row,
        "limit_rows_per_s": limit_rows_per_s,
        "bandwidth_at_limit_mb_per_s": limit_rows_per_s * bytes_per_row / MB,
        "machine_over_limit": rows_per_s / limit_rows_per_s,
        "bottleneck": "target" if rows_per_s >= limit_rows_per_s else "machine",
        "backfills": backfills,
    }


def describe(result: dict[str, Any]) -> list[str]:
    """The report ``uploader bench`` prints: the two measurements, then the limit's verdict."""
    e2e, producer, target = result["end_to_end"], result["producer"], result["target"]
    machine = result["machine"]
    lines = [
        f"uploader bench: {result['rows']:,} rows x 11 columns, {result['format']} "
        f"({result['input_bytes'] / MB:,.1f} MB), {machine['cores']} cores ({machine['cpu']})",
        f"  end to end (uploader upload -> mock)  {e2e['rows_per_s']:>11,.0f} rows/s "
        f"{e2e['mb_per_s']:>6.1f} MB/s  peak RSS {e2e['peak_rss_mb']:>5.0f} MB "
        f"(mock {e2e['mock_peak_rss_mb']:.0f} MB), {plural(e2e['calls'], 'call')}",
        f"  producer alone (no network)           {producer['rows_per_s']:>11,.0f} rows/s "
        f"{producer['mb_per_s']:>6.1f} MB/s  peak RSS {producer['peak_rss_mb']:>5.0f} MB",
        f"Target's limit: {target['rate_calls']} calls / {target['rate_seconds']:g} s per "
        f"client code, a call ≤ {MAX_BATCH_ROWS:,} rows and {DEFAULT_BATCH_BYTES / MB:.0f} MB",
        f"  this data: {target['bytes_per_row']:.0f} B a row encoded, "
        f"{target['rows_per_call']:,} rows a call → at most {target['limit_rows_per_s']:,.0f} "
        f"rows/s ({target['bandwidth_at_limit_mb_per_s']:.0f} MB/s of upload bandwidth)",
    ]
    ratio = target["machine_over_limit"]
    if target["bottleneck"] == "target":
        lines.append(
            f"  this machine: {e2e['rows_per_s']:,.0f} rows/s end to end = {ratio:.2f}x the "
            f"limit → the API, not this machine, is the bottleneck"
        )
    else:
        lines.append(
            f"  this machine: {e2e['rows_per_s']:,.0f} rows/s end to end = {ratio:.2f}x the "
            f"limit → this machine is the bottleneck (here the mock shares its cores; against "
            f"Target it does not)"
        )
    for backfill in target["backfills"]:
        at_limit = backfill["min_seconds_at_limit"]
        window = (
            f"at least {duration(at_limit)} at the limit"
            if at_limit
            else f"within one window's {target['rate_calls']} calls"
        )
        lines.append(
            f"  a {_rows(backfill['rows'])}-row backfill: {backfill['calls']:,} calls, {window}; "
            f"{duration(backfill['seconds_at_this_speed'])} at this machine's speed → at "
            f"least {duration(backfill['min_seconds'])}"
        )
    if result["rows"] < DEFAULT_ROWS:
        lines.append(
            f"  (a small run: fixed costs weigh more; the default {DEFAULT_ROWS:,} rows is "
            f"closer to a real file)"
        )
    return lines


def _rows(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows:,}"
