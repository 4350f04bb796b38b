"""``--metrics-file``: a run's numbers as a Prometheus textfile, for node_exporter's textfile
collector (written during the run every ``METRICS_EVERY`` seconds, and when it ends).

Each write builds a registry of its own (never prometheus-client's global one: a library
must not add series to its host application's) and replaces the file atomically:
``prometheus_client.write_to_textfile`` writes ``PATH.<pid>.<thread>`` in the same directory
and renames it, so the collector (which reads ``*.prom`` only) never sees a part.

Labels are ``client_code`` and, for a sharded run, ``shard``: bounded, so a nightly job makes
the same series every night (a run directory or batch id as a label would make new ones).

``uploader_last_success_timestamp_seconds`` is the alert's anchor ("no success for 26 h"): a
run that does not end with exit 0 keeps the value the file had, read back when the run starts.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from uploader._log import get_logger
from uploader._writable import make_dirs
from uploader.errors import ConfigError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from uploader.ledger._summary import RunSummary

__all__ = ["LAST_SUCCESS", "METRICS_EVERY", "MetricsFile"]

log = get_logger(__name__)

METRICS_EVERY = 10.0  # seconds between two writes during a run
LAST_SUCCESS = "uploader_last_success_timestamp_seconds"


class MetricsFile:
    """The textfile of one run: ``open`` it at the start (checks that it can be written and
    reads the last success back), ``write`` the numbers as they are, as often as wanted."""

    def __init__(
        self, path: Path, client_code: str, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.client_code = client_code
        self.wall_clock = wall_clock
        self.last_success: float | None = None
        self.failed_write: str | None = None  # the last write's error, once warned about

    def open(self) -> None:
        """Read the previous last success back, and check that the file can be written (its
        directory made if missing; a file of the run's own in it, made and removed): a path that cannot be is
        refused now, before anything is sent, not by a warning every 10 s."""
        self.last_success = _read_last_success(self.path)
        probe = self.path.with_name(f"{self.path.name}.{os.getpid()}.probe")
        try:
            if self.path.is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            make_dirs(self.path.parent)  # as a --ledger's and a --daily-rows-file's is
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise ConfigError(
                f"$metrics_file {self.path}: cannot write ({error.strerror or error})",
                settings=("metrics_file",),
            ) from None

    def write(self, summary: RunSummary, *, exit_code: int | None = None) -> None:
        """The numbers of ``summary``; ``exit_code``: the run has ended (``None``: running).
        A write that fails is a warning (once, in ``summary.warnings``): metrics never fail
        an upload."""
        if exit_code == 0:
            self.last_success = self.wall_clock()
        try:
            self._write(summary, exit_code)
        except OSError as error:
            why = f"{self.path}: cannot write the metrics ({error.strerror or error})"
            log.warning("%s", why, extra={"event": "metrics_not_written"})
            if self.failed_write is None:
                summary.warnings.append(why)
            self.failed_write = why
        else:
            self.failed_write = None

    def _write(self, summary: RunSummary, exit_code: int | None) -> None:
        from prometheus_client import CollectorRegistry, write_to_textfile

        registry = CollectorRegistry(auto_describe=False)
        # the shard: a label of its own, each shard writing its own file
        labels = {
            "client_code": self.client_code,
            **({"shard": summary.shard} if summary.shard else {}),
        }
        registry.register(_RunCollector(summary, labels, exit_code, self.last_success))
        write_to_textfile(str(self.path), registry)


class _RunCollector:
    """One run's numbers as metric families (a custom collector: the values are set, not
    counted here)."""

    def __init__(
        self,
        summary: RunSummary,
        labels: dict[str, str],
        exit_code: int | None,
        last_success: float | None,
    ) -> None:
        self.summary = summary
        self.labels = labels
        self.exit_code = exit_code
        self.last_success = last_success

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s, names, values = self.summary, list(self.labels), list(self.labels.values())

        def counter(name: str, doc: str, value: float, **by: str) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=[*names, *by])
            family.add_metric([*values, *by.values()], value)
            return family

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=names)
            family.add_metric(values, value)
            return family

        rows = CounterMetricFamily(
            "uploader_rows",
            "Rows of the current or last run by outcome (acknowledged includes those an earlier "
            "run of a resumed ledger got acknowledged).",
            labels=[*names, "outcome"],
        )
        for outcome, count in _row_outcomes(s).items():
            rows.add_metric([*values, outcome], count)
        yield rows
        batches = CounterMetricFamily(
            "uploader_batches",
            "Batches of the current or last run by outcome.",
            labels=[*names, "outcome"],
        )
        for outcome, count in _batch_outcomes(s).items():
            batches.add_metric([*values, outcome], count)
        yield batches
        yield counter("uploader_rows_read", "Rows read from the input.", s.rows_read)
        yield counter("uploader_calls", "Calls to Target's bulk API.", s.calls)
        yield counter("uploader_retries", "Calls retried after a transient error.", s.retries)
        yield counter(
            "uploader_throttled_calls", "Calls Target throttled (HTTP 429/503).", s.throttled
        )
        yield gauge("uploader_run_duration_seconds", "Seconds the run has been sending.", s.seconds)
        yield gauge(
            "uploader_rows_per_second",
            "Rows acknowledged per second by this run.",
            s.rows_per_second,
        )
        yield gauge(
            "uploader_running",
            "1 while the run goes on, 0 once it ended.",
            0 if self.exit_code is not None else 1,
        )
        if self.exit_code is not None:
            yield gauge(
                "uploader_exit_code", "The last run's exit code (0: landed).", self.exit_code
            )
        if self.last_success is not None:
            yield gauge(
                LAST_SUCCESS, "Unix time the last run that exited 0 ended.", self.last_success
            )


def _row_outcomes(summary: RunSummary) -> dict[str, int]:
    """Every row read in exactly one outcome (the summary's accounting invariant)."""
    return {
        "acknowledged": summary.rows_acknowledged,
        "rejected": summary.rows_rejected,
        "failed": summary.rows_failed,
        "pending": summary.rows_pending,
        "merged": summary.rows_merged,
        "unselected": summary.rows_unselected,
        "other_shards": summary.rows_other_shards,
    }


def _batch_outcomes(summary: RunSummary) -> dict[str, int]:
    return {
        "acknowledged": summary.batches_acknowledged,
        "failed": summary.batches_failed,
        "pending": summary.batches_pending,
        "split": summary.batches_split,
        "skipped": summary.batches_skipped,
    }


def _read_last_success(path: Path) -> float | None:
    """The last success an earlier run wrote into ``path``; None: no file, or none in it (a
    file that is not a textfile is only overwritten: it held nothing of ours)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS:
                    return float(sample.value)
    except ValueError:
        return None
    return None
