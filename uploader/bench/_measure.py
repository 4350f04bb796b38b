"""One measurement each: the uploader end to end against the mock, the producer alone (the
ceiling), and the best of repeated runs. Every program measured is a child process
(``uploader.bench._harness.run_child``); the results are JSON-able dicts."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from uploader.bench._harness import (
    MB,
    TIMEOUT,
    Child,
    MockServer,
    call_starts,
    run_child,
    stats_delta,
    upload_command,
    upload_env,
)

__all__ = ["best", "ceiling", "measured", "upload"]

#: what a sync's summary adds: rows by reason, rows not sent, the state generation committed
_SYNC_FIELDS = ("rows_read", "selection", "rows_unselected", "missing_ids", "state_generation")


def upload(
    mock: MockServer,
    source: Path,
    options: Sequence[str] = (),
    *,
    command: str = "upload",
    timeout: float = TIMEOUT,
) -> dict[str, Any]:
    """``uploader upload`` (or ``command``: ``sync``) of ``source`` end to end, ``--rate
    none``, as a child of this process against ``mock``. Fails unless the mock received every
    row the uploader says was acknowledged and the summary's accounting invariant holds."""
    before = mock.stats()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ledger = Path(tmp) / "ledger.jsonl"
        options = ["--rate", "none", *options]
        command_line = upload_command([source], mock.url, ledger, options, command=command)
        child = run_child(command_line, timeout=timeout, env=upload_env())
        starts = call_starts(ledger)
    after = mock.stats()
    got = stats_delta(before, after)
    if child.returncode != 0:
        raise RuntimeError(f"uploader exited {child.returncode}: {child.stderr[-2000:]}")
    summary = json.loads(child.stdout)
    rows, seconds = summary["rows_acknowledged"], summary["seconds"]
    if got["rows_received"] != rows or not summary["invariant_holds"]:
        raise RuntimeError(f"mock received {got['rows_received']:,} rows, uploader says {rows:,}")
    return {
        "rows": rows,
        "bytes": got["bytes_received"],
        "seconds": seconds,
        "wall": child.wall,
        "rows_per_s": rows / seconds,
        "mb_per_s": got["bytes_received"] / seconds / MB,
        "peak_rss_mb": child.peak_rss / MB,
        "cpu_s": child.cpu,
        "calls": summary["calls"],
        "retries": summary["retries"],
        "throttled": got["throttled"],
        "latency_p50": summary["latency_p50"],
        "latency_p95": summary["latency_p95"],
        "call_starts": starts,
        "mock_peak_rss_mb": got["peak_rss_bytes"] / MB,
        "mock_cpu_s": got["cpu_seconds"],
        "mock_max_concurrent": got["max_concurrent"],
        **{name: summary[name] for name in _SYNC_FIELDS if name in summary},
    }


def measured(child: Child) -> dict[str, Any]:
    """The JSON a measured child printed (rows, bytes, seconds, …) with rates, its wall time,
    peak RSS and CPU."""
    got = child.json()
    return {
        **got,
        "wall": child.wall,
        "rows_per_s": got["rows"] / got["seconds"],
        "mb_per_s": got["bytes"] / got["seconds"] / MB,
        "peak_rss_mb": child.peak_rss / MB,
        "cpu_s": child.cpu,
    }


def ceiling(
    source: Path, options: Sequence[str] = (), *, timeout: float = TIMEOUT
) -> dict[str, Any]:
    """The producer alone (``uploader.bench._ceiling``) in its own process."""
    command = [sys.executable, "-m", "uploader.bench._ceiling", str(source), *options]
    return measured(run_child(command, timeout=timeout))


def best(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of repeated runs (the machine is shared: slower runs measure the
    neighbours), with every sample's rows/s and the highest peak RSS of all of them."""
    top = dict(max(samples, key=lambda result: result["rows_per_s"]))
    top["samples_rows_per_s"] = [result["rows_per_s"] for result in samples]
    top["peak_rss_mb"] = max(result["peak_rss_mb"] for result in samples)
    if "mock_peak_rss_mb" in top:
        top["mock_peak_rss_mb"] = max(result["mock_peak_rss_mb"] for result in samples)
    return top
