"""The ``shared`` suite: one Target budget across processes (``--rate-store``, ``--shard``).

- **limiter**: what the Redis window costs one call (``benchmarks.limiter``: ``acquire()``
  median and p99, the in-process limiter as the baseline in the same process), alone and with
  ``shards`` processes drawing on one window at once;
- **sharded rate**: ``shards`` uploads ``--shard i/N`` at once, one ``--rate-store``, against a
  mock throttling at the same compressed limit, beside one unsharded upload at that limit: calls
  throttled, the most calls in any window, the fraction of the budget used in aggregate;
- **sharded throughput**: ``--rate none``: one process, then ``shards`` processes at once, each
  with its shard: aggregate rows/s, each shard's peak RSS and CPU seconds. Every shard reads
  the whole input (its check pass, and the hash of every id); encoding, batching, sending and
  the bodies in memory are split.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uploader.bench._harness import (
    MB,
    Child,
    MockServer,
    RedisServer,
    call_starts,
    dataset,
    max_in_window,
    run_child,
    stats_delta,
    upload_command,
    upload_env,
    window_gaps,
)

if TYPE_CHECKING:
    from benchmarks.suites import Plan

Print = Callable[[str], None]


def at_once(commands: Sequence[Sequence[str]], timeout: float) -> list[Child]:
    """Run ``commands`` as children at the same time; each measured as ``run_child`` does."""
    with ThreadPoolExecutor(len(commands)) as pool:
        runs = [
            pool.submit(run_child, command, timeout=timeout, env=upload_env())
            for command in commands
        ]
        return [run.result() for run in runs]


def limiter(redis: RedisServer, processes: int, calls: int, timeout: float) -> dict[str, Any]:
    """``acquire()`` timings of ``processes`` limiter processes on one client code at once."""
    command = [sys.executable, "-m", "benchmarks.limiter", redis.url, "--calls", str(calls)]
    found = [child.json() for child in at_once([command] * processes, timeout)]
    return {
        "processes": processes,
        "local_median_us": max(run["local"]["median_us"] for run in found),
        "local_p99_us": max(run["local"]["p99_us"] for run in found),
        "redis_median_us": max(run["redis"]["median_us"] for run in found),
        "redis_p99_us": max(run["redis"]["p99_us"] for run in found),
    }


def sharded_uploads(
    mock: MockServer,
    source: Path,
    shards: int,
    options: Sequence[str],
    timeout: float,
) -> dict[str, Any]:
    """``shards`` uploads of ``source`` at once (``shards`` = 1: one unsharded upload): their
    summaries, what the mock received, and each child's peak RSS and CPU."""
    before = mock.stats()
    with tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp:
        commands, ledgers = [], []
        for index in range(shards):
            ledgers.append(Path(tmp) / f"shard-{index}" / "ledger.jsonl")
            shard = ["--shard", f"{index}/{shards}"] if shards > 1 else []
            commands.append(upload_command([source], mock.url, ledgers[-1], [*options, *shard]))
        children = at_once(commands, timeout)
        starts = sorted(start for ledger in ledgers for start in call_starts(ledger))
    got = stats_delta(before, mock.stats())
    summaries = [child.json() for child in children]
    rows = sum(summary["rows_acknowledged"] for summary in summaries)
    if got["rows_received"] != rows or not all(s["invariant_holds"] for s in summaries):
        raise RuntimeError(f"mock received {got['rows_received']:,} rows, shards say {rows:,}")
    wall = max(child.wall for child in children)
    return {
        "shards": shards,
        "rows": rows,
        "calls": got["calls"],
        "throttled": got["throttled"],
        "wall": wall,
        "seconds": max(summary["seconds"] for summary in summaries),
        "rows_per_s": rows / max(summary["seconds"] for summary in summaries),
        "peak_rss_mb": [round(child.peak_rss / MB) for child in children],
        "cpu_s": [round(child.cpu, 1) for child in children],
        "call_starts": starts,
    }


def sharded_rate(
    redis: RedisServer, source: Path, shards: int, calls: int, window: float, batch_rows: int,
    timeout: float,
) -> dict[str, Any]:  # fmt: skip
    """One unsharded upload, then ``shards`` sharded ones at once, each time against a mock
    throttling at ``calls``/``window`` with every uploader told the same limit in one store."""
    limit = f"{calls}/{window:g}"
    options = ["--rate", limit, "--rate-store", redis.url, "--batch-rows", str(batch_rows)]
    out = {}
    for count in (1, shards):
        with MockServer(rate_limit=limit) as mock:
            run = sharded_uploads(mock, source, count, options, timeout)
        # every shard's calls on one time line (the ledgers' call starts), measured as the
        # rate suite measures one process: the fraction of the limit sustained
        starts = run.pop("call_starts")
        gaps = window_gaps(starts, calls)
        run["fraction_of_limit"] = window / (sum(gaps) / len(gaps)) if gaps else 0.0
        run["max_calls_in_any_window"] = max_in_window(starts, window)
        out[f"shards_{count}"] = run
    return out


def shared(plan: Plan, say: Print) -> dict[str, Any]:
    """The suite (``python -m benchmarks --suites shared``)."""
    shards = plan.shards
    out: dict[str, Any] = {}
    with RedisServer() as redis:
        say(f"\n== shared limiter: acquire() of a window never full, {plan.limiter_calls} calls ==")
        out["limiter"] = [
            limiter(redis, count, plan.limiter_calls, plan.timeout) for count in (1, shards)
        ]
        for run in out["limiter"]:
            say(
                f"  {run['processes']} process(es): Redis median {run['redis_median_us']:.0f} µs, "
                f"p99 {run['redis_p99_us']:.0f} µs  (in-process limiter: median "
                f"{run['local_median_us']:.1f} µs, p99 {run['local_p99_us']:.1f} µs)"
            )
        rate_rows = plan.rate_batches * plan.rate_batch_rows
        say(
            f"\n== sharded rate: {plan.rate_calls}/{plan.rate_window:g} on the mock and in one "
            f"store, {rate_rows:,} rows in batches of {plan.rate_batch_rows:,} =="
        )
        rate_source = dataset(rate_rows, "csv", plan.data)
        out["rate"] = sharded_rate(
            redis, rate_source, shards, plan.rate_calls, plan.rate_window,
            plan.rate_batch_rows, plan.timeout,
        )  # fmt: skip
        for run in out["rate"].values():
            say(
                f"  {run['shards']} process(es): {run['calls']} calls, {run['throttled']} "
                f"throttled, {run['fraction_of_limit']:.1%} of the limit sustained, at most "
                f"{run['max_calls_in_any_window']} calls in one window, "
                f"{run['rows_per_s']:,.0f} rows/s"
            )
    say(f"\n== sharded throughput: {plan.rows:,} rows CSV, --rate none ==")
    source = dataset(plan.rows, "csv", plan.data)
    out["throughput"] = {}
    with MockServer() as mock:
        for count in (1, shards):
            run = sharded_uploads(mock, source, count, ["--rate", "none"], plan.timeout)
            del run["call_starts"]
            out["throughput"][f"shards_{count}"] = run
            say(
                f"  {count} process(es): {run['rows_per_s']:>11,.0f} rows/s aggregate, "
                f"wall {run['wall']:.1f} s, peak RSS {run['peak_rss_mb']} MB, "
                f"CPU {run['cpu_s']} s"
            )
    return json.loads(json.dumps(out))
