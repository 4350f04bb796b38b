"""The run summary (invariant, exit codes, percentiles, table, JSON) and progress output."""

from __future__ import annotations

import io
import re

import orjson
from rich.console import Console

from uploader.cli._progress import LineProgress, NoProgress, TerminalProgress, make_progress
from uploader.ledger._summary import RunSummary, percentile


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0 and percentile(values, 0.95) == 95.0
    assert percentile([], 0.5) is None and percentile([3.0], 0.95) == 3.0


def test_exit_codes_follow_the_outcome() -> None:
    assert RunSummary().exit_code == 0
    assert RunSummary(batches_failed=1).exit_code == 1
    assert RunSummary(rows_pending=5).exit_code == 6  # stopped early, resumable
    assert RunSummary(stop_reason="unreachable").exit_code == 6
    assert RunSummary(stop_reason="auth", batches_failed=1).exit_code == 3
    assert RunSummary(stop_reason="interrupted").exit_code == 130


def test_invariant_and_rate_after_a_resume() -> None:
    summary = RunSummary(
        rows_read=100,
        rows_acknowledged=90,
        rows_skipped=60,  # done by the earlier run: not this run's throughput
        rows_rejected=4,
        rows_merged=1,
        rows_failed=3,
        rows_pending=2,
        seconds=3.0,
    )
    assert summary.invariant_holds and summary.rows_per_second == 10.0
    assert not RunSummary(rows_read=5, rows_acknowledged=4).invariant_holds
    data = orjson.loads(orjson.dumps(summary.to_dict()))
    assert data["invariant_holds"] and data["exit_code"] == 1 and data["rows_per_second"] == 10.0


def test_the_table_names_every_count_and_warns_when_accounting_is_off() -> None:
    text = "\n".join(RunSummary(rows_read=10, rows_pending=10, ledger="l.jsonl").lines())
    for label in ("acknowledged", "rejected", "merged", "in failed batches", "pending", "latency"):
        assert label in text
    assert "resume=True sends them" in text and "WARNING" not in text
    assert "WARNING" in "\n".join(RunSummary(rows_read=10).lines())


def test_plain_progress_lines_for_logs() -> None:
    stream = io.StringIO()
    progress = LineProgress(stream, every=0.0)
    progress.start()
    progress.update(RunSummary(rows_acknowledged=1500, batches_acknowledged=3), 4000)
    progress.stop()
    # each line stamped with its UTC time; a last one when sending ends
    heartbeat, done = stream.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
    assert re.match(stamp + "uploader: 1,500 of 4,000 rows acknowledged, 3 batches", heartbeat)
    assert re.match(stamp + "uploader: done: 1,500 of 4,000 rows acknowledged", done)


def test_terminal_progress_draws_without_error() -> None:
    progress = TerminalProgress()
    out = io.StringIO()
    progress._bar.live.console = Console(file=out, force_terminal=True, width=120)
    progress.start()
    progress.update(RunSummary(rows_acknowledged=10, batches_acknowledged=1), 100)
    progress.stop()
    assert isinstance(make_progress(quiet=True), NoProgress)
