"""Progress on long runs: a rich bar on a terminal, plain periodic lines in logs (each with
its UTC time, and a last one when sending ends), or heartbeat events with
``--log-format json``."""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import TYPE_CHECKING, TextIO

from uploader._log import json_line
from uploader._plural import plural

if TYPE_CHECKING:
    from uploader.ledger._summary import RunSummary

__all__ = [
    "DEFAULT_PROGRESS_EVERY",
    "LineProgress",
    "NoProgress",
    "TerminalProgress",
    "make_progress",
]

DEFAULT_PROGRESS_EVERY = 10.0  # seconds between two lines in a log


class NoProgress:
    def start(self) -> None:
        pass

    def update(self, summary: RunSummary, total_rows: int | None) -> None:
        pass

    def stop(self) -> None:
        pass


class TerminalProgress:
    """rows done / total, batches, retries, rows/s and ETA, redrawn on stderr."""

    def __init__(self) -> None:
        # rich is imported only for a bar: not for --help, nor a run logging lines
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]uploading"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows · {task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task("upload", total=None, detail="")
        self._started = time.monotonic()

    def start(self) -> None:
        self._started = time.monotonic()
        self._bar.start()

    def update(self, summary: RunSummary, total_rows: int | None) -> None:
        done = summary.rows_acknowledged + summary.rows_failed
        total = (
            None if total_rows is None else total_rows - summary.rows_rejected - summary.rows_merged
        )
        elapsed = time.monotonic() - self._started
        rate = (done - summary.rows_skipped) / elapsed if elapsed > 0 else 0.0
        detail = (
            f"{rate:,.0f} rows/s, {plural(summary.batches_acknowledged, 'batch', 'batches')}, "
            f"{plural(summary.retries, 'retry', 'retries')}, {summary.throttled} throttled"
        )
        self._bar.update(self._task, completed=done, total=total, detail=detail)

    def stop(self) -> None:
        self._bar.stop()


class LineProgress:
    """One line every ``every`` seconds (cron and Airflow logs have no terminal), stamped
    with its UTC time, and a last one (``done: …``) when sending ends; ``json``: each a
    heartbeat event (``--log-format json``), the last a ``done`` one."""

    def __init__(
        self,
        stream: TextIO | None = None,
        every: float = DEFAULT_PROGRESS_EVERY,
        *,
        json: bool = False,
    ) -> None:
        self._stream = stream  # None: sys.stderr when writing (click's test runner swaps it)
        self._every = every
        self._json = json
        self._last = 0.0
        self._started = 0.0
        self._summary: RunSummary | None = None  # the run's, as last told (it fills in)
        self._total_rows: int | None = None

    def start(self) -> None:
        self._started = self._last = time.monotonic()

    def update(self, summary: RunSummary, total_rows: int | None) -> None:
        self._summary, self._total_rows = summary, total_rows
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        self._write("heartbeat", "", summary, now)

    def stop(self) -> None:
        if self._summary is not None:
            self._write("done", "done: ", self._summary, time.monotonic())

    def _write(self, event: str, lead: str, summary: RunSummary, now: float) -> None:
        total = self._total_rows
        rate = (summary.rows_acknowledged - summary.rows_skipped) / max(now - self._started, 1e-9)
        of = f" of {total:,}" if total is not None else ""
        text = (
            f"{lead}{summary.rows_acknowledged:,}{of} rows acknowledged, "
            f"{plural(summary.batches_acknowledged, 'batch', 'batches')}, "
            f"{plural(summary.retries, 'retry', 'retries')}, "
            f"{summary.throttled} throttled, {rate:,.0f} rows/s"
        )
        if self._json:
            line = json_line(
                "info",
                event,
                text,
                rows_acknowledged=summary.rows_acknowledged,
                total_rows=total,
                batches_acknowledged=summary.batches_acknowledged,
                batches_failed=summary.batches_failed,
                retries=summary.retries,
                throttled=summary.throttled,
                rows_per_second=round(rate, 1),
            )
        else:
            stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            line = f"{stamp} uploader: {text}"
        print(line, file=self._stream or sys.stderr, flush=True)


def make_progress(
    quiet: bool, every: float = DEFAULT_PROGRESS_EVERY
) -> NoProgress | TerminalProgress | LineProgress:
    """Progress always goes to stderr (stdout may hold --json): a bar on a terminal, else
    one plain line every ``every`` seconds; JSON heartbeats with ``--log-format json``."""
    from uploader.cli._logformat import is_json

    if quiet:
        return NoProgress()
    if is_json():
        return LineProgress(every=every, json=True)
    return TerminalProgress() if sys.stderr.isatty() else LineProgress(every=every)
