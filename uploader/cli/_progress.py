"""Progress on long runs: a rich bar on a terminal, plain periodic lines in logs (each with
its UTC time, and a last one when sending ends), or heartbeat events with
``--log-format json``."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from uploader._log import json_line
from uploader._plural import plural
from uploader.cli._eta import eta_seconds, format_eta, rate_wait_note

if TYPE_CHECKING:
    from uploader.ledger._summary import RunSummary
    from uploader.send._ratelimit import Pace

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


class _Watch:
    """The counts of the last update and the limiter's pace (when there is a limit), from
    which both displays compute the ETA and the rate-limit note at the moment they draw."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.pace: Callable[[], Pace] | None = None
        self.started = 0.0
        self.rows_left = 0
        self.rows_sent = 0
        self.batches_sent = 0

    def watch(self, pace: Callable[[], Pace]) -> None:
        self.pace = pace

    def count(self, summary: RunSummary, total: int | None) -> None:
        """``total``: the rows the batches will hold (None: unknown)."""
        done = summary.rows_acknowledged + summary.rows_failed
        self.rows_left = total - done if total is not None else 0
        self.rows_sent = done - summary.rows_skipped
        self.batches_sent = (
            summary.batches_acknowledged + summary.batches_failed - summary.batches_skipped
        )

    def now(self, known_total: bool) -> tuple[str, str | None]:
        """The ETA text and the rate-limit note (None: the senders do not wait on it)."""
        pace = self.pace() if self.pace is not None else None
        eta = eta_seconds(
            rows_left=self.rows_left,
            rows_sent=self.rows_sent,
            batches_sent=self.batches_sent,
            elapsed=self.clock() - self.started,
            pace=pace,
        )
        return format_eta(eta if known_total else None), rate_wait_note(pace)


class TerminalProgress:
    """rows done / total, batches, retries, rows/s and ETA, redrawn on stderr; while the
    senders wait on the rate limit, when the next call goes (redrawn as it counts down)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        # rich is imported only for a bar: not for --help, nor a run logging lines
        from rich.console import Console
        from rich.progress import BarColumn, Progress, ProgressColumn, Task, TimeElapsedColumn
        from rich.text import Text

        self._watch = _Watch(clock)
        watched = self._watch

        class Counts(ProgressColumn):
            def render(self, task: Task) -> Text:
                of = f"/{task.total:,.0f}" if task.total is not None else ""
                eta, note = watched.now(task.total is not None)
                detail = f"{task.fields['detail']}, {note}" if note else task.fields["detail"]
                return Text(f"{task.completed:,.0f}{of} rows · {detail} · {eta}")

        self._bar = Progress(
            "[bold]uploading",
            BarColumn(),
            Counts(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task("upload", total=None, detail="")
        self._watch.started = clock()

    def watch(self, pace: Callable[[], Pace]) -> None:
        self._watch.watch(pace)

    def start(self) -> None:
        self._watch.started = self._watch.clock()
        self._bar.start()

    def update(self, summary: RunSummary, total_rows: int | None) -> None:
        done = summary.rows_acknowledged + summary.rows_failed
        total = (
            None if total_rows is None else total_rows - summary.rows_rejected - summary.rows_merged
        )
        self._watch.count(summary, total)
        elapsed = self._watch.clock() - self._watch.started
        rate = (done - summary.rows_skipped) / elapsed if elapsed > 0 else 0.0
        detail = (
            f"{rate:,.0f} rows/s, {plural(summary.batches_acknowledged, 'batch', 'batches')}, "
            f"{plural(summary.retries, 'retry', 'retries')}, {summary.throttled:,} throttled"
        )
        self._bar.update(self._task, completed=done, total=total, detail=detail)

    def stop(self) -> None:
        self._bar.stop()


class LineProgress:
    """One line every ``every`` seconds (cron and Airflow logs have no terminal), stamped with
    its UTC time, also while the run waits (the engine updates it every ``every`` seconds,
    not only at each batch's outcome), and a last ``done`` line; ``json``: each a JSON event (``heartbeat``,
    ``done``) as ``--log-format json`` writes them."""

    def __init__(
        self,
        stream: TextIO | None = None,
        every: float = DEFAULT_PROGRESS_EVERY,
        clock: Callable[[], float] = time.monotonic,
        *,
        json: bool = False,
    ) -> None:
        self._stream = stream  # None: sys.stderr when writing (click's test runner swaps it)
        self.every = every  # the engine's heartbeat (``Heartbeat``); 0: at each batch only
        self._json = json
        self._last = 0.0
        self._watch = _Watch(clock)
        self._summary: RunSummary | None = None  # the run's, as last told (it fills in)
        self._total_rows: int | None = None

    def watch(self, pace: Callable[[], Pace]) -> None:
        self._watch.watch(pace)

    def start(self) -> None:
        self._last = self._watch.started = self._watch.clock()

    def update(self, summary: RunSummary, total_rows: int | None) -> None:
        self._summary, self._total_rows = summary, total_rows
        now = self._watch.clock()
        if now - self._last < self.every:
            return
        self._last = now
        self._write("heartbeat", "", summary, now)

    def stop(self) -> None:
        if self._summary is not None:
            self._write("done", "done: ", self._summary, self._watch.clock())

    def _write(self, event: str, lead: str, summary: RunSummary, now: float) -> None:
        total_rows = self._total_rows
        rate = (summary.rows_acknowledged - summary.rows_skipped) / max(
            now - self._watch.started, 1e-9
        )
        of = f" of {total_rows:,}" if total_rows is not None else ""
        text = (
            f"{lead}{summary.rows_acknowledged:,}{of} rows acknowledged, "
            f"{plural(summary.batches_acknowledged, 'batch', 'batches')}, "
            f"{plural(summary.retries, 'retry', 'retries')}, "
            f"{summary.throttled:,} throttled, {rate:,.0f} rows/s"
        )
        if event == "heartbeat":  # the last line has nothing left to wait for
            total = (
                None
                if total_rows is None
                else total_rows - summary.rows_rejected - summary.rows_merged
            )
            self._watch.count(summary, total)
            eta, note = self._watch.now(total is not None)
            text += f", {eta}" + (f"; {note}" if note else "")
        if self._json:
            line = json_line(
                "info",
                event,
                text,
                rows_acknowledged=summary.rows_acknowledged,
                total_rows=total_rows,
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
