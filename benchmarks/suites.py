"""The benchmark suites: throughput side by side, memory scaling, rate adherence, latency,
nightly sync.

Each suite returns JSON-able results and prints a small table as it goes. Sizes come from a
``Plan`` (``Plan()`` is the full run, ``QUICK`` a smoke run in well under a minute).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.shared import shared
from uploader.bench._gen import CHANGED_EVERY, NEW_PER
from uploader.bench._harness import (
    MB,
    MockServer,
    dataset,
    max_in_window,
    night_two,
    run_child,
    stats_delta,
    window_gaps,
)
from uploader.bench._measure import best, ceiling, measured, upload
from uploader.sync import StateStore

DATA = Path(__file__).parent / "data"  # datasets, made on first use (git-ignored)
Print = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Sizes of one benchmark run."""

    rows: int = 2_000_000
    repeat: int = 3  # throughput runs: best of N, uploader and ceiling interleaved
    formats: tuple[str, ...] = ("csv", "parquet")
    naive_rows: int = 500_000  # the baseline is slow; its rows/s does not depend on the count
    scale_rows: int = 10_000_000
    concurrencies: tuple[int, ...] = (1, 2, 4, 8)
    batch_bytes: tuple[int, ...] = (10 * MB, 25 * MB, 49 * MB)
    rate_calls: int = 50  # the mock's and the uploader's limit: rate_calls per rate_window
    rate_window: float = 6.0
    rate_batches: int = 150  # calls in the rate run (a multiple of rate_calls)
    rate_batch_rows: int = 2_000
    #: the mock's throttle in the rate run; False: off, so only the uploader's own limiter is
    #: measured (smoke tests: a loaded machine's arrival jitter must not make them flaky)
    rate_mock_throttle: bool = True
    latencies: tuple[float, ...] = (0.05, 0.1, 0.2)
    latency_concurrencies: tuple[int, ...] = (1, 2, 4, 8)
    latency_rows: int = 500_000
    latency_batch_rows: int = 25_000
    shards: int = 3  # the shared suite: processes on one budget (a limiter each, or a shard)
    limiter_calls: int = 5_000  # acquire() calls timed per limiter process
    timeout: float = 1800.0  # per child process
    data: Path = field(default=DATA)

    def __post_init__(self) -> None:
        if self.rows < 1 or self.naive_rows < 1 or self.rate_batches < 1:
            raise ValueError("row and call counts must be positive")
        if not set(self.formats) <= {"csv", "parquet"}:
            raise ValueError("formats are csv and parquet")


QUICK = Plan(
    rows=200_000,
    repeat=1,
    naive_rows=100_000,
    scale_rows=1_000_000,
    concurrencies=(1, 4),
    batch_bytes=(10 * MB, 49 * MB),
    rate_window=3.0,
    rate_batches=100,
    rate_batch_rows=500,
    latencies=(0.05, 0.2),
    latency_concurrencies=(1, 4),
    latency_rows=100_000,
    latency_batch_rows=10_000,
    limiter_calls=1_000,
)


# -- single measurements ---------------------------------------------------------------------


def naive(mock: MockServer, source: Path, plan: Plan) -> dict[str, Any]:
    """``benchmarks.naive`` (stdlib only) posting the first ``naive_rows`` rows to ``mock``."""
    before = mock.stats()
    command = [sys.executable, "-m", "benchmarks.naive", str(source), "--endpoint", mock.url]
    result = measured(run_child([*command, "--rows", str(plan.naive_rows)], timeout=plan.timeout))
    received = stats_delta(before, mock.stats())
    if received["rows_received"] != result["rows"]:
        raise RuntimeError(
            f"mock received {received['rows_received']:,}, naive sent {result['rows']:,}"
        )
    result["mock_peak_rss_mb"] = received["peak_rss_bytes"] / MB
    return result


def _row(label: str, result: dict[str, Any], extra: str = "") -> str:
    mock = result.get("mock_peak_rss_mb")
    mock_text = f"{mock:>6.0f} MB" if mock is not None else "     -   "
    return (
        f"  {label:<40} {result['rows']:>11,} rows {result['rows_per_s']:>11,.0f} rows/s "
        f"{result['mb_per_s']:>6.1f} MB/s  client {result['peak_rss_mb']:>5.0f} MB  "
        f"mock {mock_text}{extra}"
    )


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "call_starts"}


# -- suites ----------------------------------------------------------------------------------


def throughput(plan: Plan, say: Print) -> dict[str, Any]:
    """Uploader end to end vs the ceiling vs the naive baseline, on the same file."""
    say(
        f"\n== throughput: {plan.rows:,} rows x 10 attributes, mock throttle off, loopback, "
        f"best of {plan.repeat} =="
    )
    out: dict[str, Any] = {"rows": plan.rows, "runs": {}, "ratios": {}, "cpu": {}}
    samples: dict[str, list[dict[str, Any]]] = {}
    csv_source = dataset(plan.rows, "csv", plan.data)
    with MockServer() as mock:
        for _ in range(plan.repeat):  # interleaved, so that a noisy neighbour hits all alike
            for fmt in plan.formats:
                source = dataset(plan.rows, fmt, plan.data)
                samples.setdefault(f"uploader_{fmt}", []).append(
                    upload(mock, source, timeout=plan.timeout)
                )
                samples.setdefault(f"ceiling_{fmt}", []).append(
                    ceiling(source, timeout=plan.timeout)
                )
            samples.setdefault("naive_csv", []).append(naive(mock, csv_source, plan))
    runs = {name: best(results) for name, results in samples.items()}
    labels = {"uploader": "uploader, {}", "ceiling": "ceiling (producer, no network), {}"}
    labels["naive"] = "naive (csv + quote + urllib), {}"
    for name, result in runs.items():
        kind, fmt = name.split("_")
        calls = f"  ({result['calls']} calls)" if "calls" in result else ""
        say(_row(labels[kind].format(fmt), result, calls))
    for fmt in plan.formats:
        speed = runs[f"uploader_{fmt}"]["rows_per_s"]
        out["ratios"][f"uploader_{fmt}/ceiling_{fmt}"] = (
            speed / runs[f"ceiling_{fmt}"]["rows_per_s"]
        )
        out["ratios"][f"uploader_{fmt}/naive_csv"] = speed / runs["naive_csv"]["rows_per_s"]
    for name, ratio in out["ratios"].items():
        say(f"  {name:<40} {ratio:>6.2f}x")
    # CPU-seconds (whole processes, start-up included): on a 2-core machine the ceiling alone
    # keeps both cores busy, so what the mock burns parsing bodies comes out of the uploader.
    for fmt in plan.formats:
        up, top = runs[f"uploader_{fmt}"], runs[f"ceiling_{fmt}"]
        out["cpu"][fmt] = cpu = {
            "uploader_cpu_s": up["cpu_s"],
            "mock_cpu_s": up["mock_cpu_s"],
            "ceiling_cpu_s": top["cpu_s"],
            "ceiling_cores_busy": top["cpu_s"] / top["wall"],
        }
        say(
            f"  cpu {fmt}: uploader {cpu['uploader_cpu_s']:.1f} s + mock {cpu['mock_cpu_s']:.1f} s"
            f" vs ceiling {cpu['ceiling_cpu_s']:.1f} s ({cpu['ceiling_cores_busy']:.1f} cores busy)"
        )
    out["runs"] = {name: _public(result) for name, result in runs.items()}
    return out


def encoding(plan: Plan, say: Print) -> dict[str, Any]:
    """``--encode strict`` (the default) against ``--encode compact`` on the same CSV: end to
    end and the producer alone, rows/s and body bytes, interleaved, best of ``repeat``."""
    say(
        f"\n== encoding: strict (default) vs compact, CSV {plan.rows:,} rows, "
        f"best of {plan.repeat} =="
    )
    source = dataset(plan.rows, "csv", plan.data)
    modes = ("strict", "compact")
    samples: dict[str, list[dict[str, Any]]] = {}
    with MockServer() as mock:
        for _ in range(plan.repeat):  # interleaved, so that a noisy neighbour hits both alike
            for mode in modes:
                option = ["--encode", mode]
                samples.setdefault(f"uploader_{mode}", []).append(
                    upload(mock, source, option, timeout=plan.timeout)
                )
                samples.setdefault(f"ceiling_{mode}", []).append(
                    ceiling(source, option, timeout=plan.timeout)
                )
    runs = {name: best(results) for name, results in samples.items()}
    for name, result in runs.items():
        kind, mode = name.split("_")
        label = "uploader end to end" if kind == "uploader" else "producer alone (ceiling)"
        say(
            _row(f"{label}, --encode {mode}", result, f"  {result['bytes'] / MB:,.1f} MB of bodies")
        )
    out: dict[str, Any] = {"rows": plan.rows, "runs": {n: _public(r) for n, r in runs.items()}}
    for kind in ("uploader", "ceiling"):
        strict, compact = runs[f"{kind}_strict"], runs[f"{kind}_compact"]
        out[f"{kind}_strict_cost"] = cost = 1 - strict["rows_per_s"] / compact["rows_per_s"]
        say(f"  {kind}: strict costs {cost:+.1%} of compact's rows/s")
    out["strict_extra_bytes"] = extra = (
        runs["ceiling_strict"]["bytes"] / runs["ceiling_compact"]["bytes"] - 1
    )
    say(f"  strict bodies are {extra:+.1%} bytes vs compact")
    return out


def memory(plan: Plan, say: Print) -> dict[str, Any]:
    """Peak client RSS against input size, --concurrency and --batch-bytes."""
    say(f"\n== memory: {plan.rows:,} vs {plan.scale_rows:,} rows; concurrency; batch bytes ==")
    out: dict[str, Any] = {"size": {}, "concurrency": {}, "batch_bytes": {}, "growth": {}}
    with MockServer() as mock:
        for fmt in plan.formats:
            for rows in (plan.rows, plan.scale_rows):
                result = upload(mock, dataset(rows, fmt, plan.data), timeout=plan.timeout)
                out["size"][f"{fmt}_{rows}"] = _public(result)
                say(_row(f"default settings, {fmt}", result))
            small, big = out["size"][f"{fmt}_{plan.rows}"], out["size"][f"{fmt}_{plan.scale_rows}"]
            out["growth"][fmt] = big["peak_rss_mb"] / small["peak_rss_mb"] - 1
            say(
                f"  peak RSS growth {fmt} {plan.rows:,} -> {plan.scale_rows:,}: {out['growth'][fmt]:+.1%}"
            )
        source = dataset(plan.rows, "csv", plan.data)
        for concurrency in plan.concurrencies:
            result = upload(mock, source, ["--concurrency", str(concurrency)], timeout=plan.timeout)
            out["concurrency"][str(concurrency)] = _public(result)
            say(_row(f"csv, --concurrency {concurrency}", result))
        for size in plan.batch_bytes:
            result = upload(mock, source, ["--batch-bytes", str(size)], timeout=plan.timeout)
            out["batch_bytes"][str(size)] = _public(result)
            say(
                _row(f"csv, --batch-bytes {size / MB:.0f}M", result, f"  ({result['calls']} calls)")
            )
    return out


def rate(plan: Plan, say: Print) -> dict[str, Any]:
    """The mock's throttle compressed in time; the uploader told the same limit."""
    limit = f"{plan.rate_calls}/{plan.rate_window:g}"
    rows = plan.rate_batches * plan.rate_batch_rows
    say(
        f"\n== rate adherence: {limit} on both sides, {plan.rate_batches} calls of {plan.rate_batch_rows:,} rows =="
    )
    source = dataset(rows, "csv", plan.data)
    with MockServer(rate_limit=limit if plan.rate_mock_throttle else "none") as mock:
        options = ["--rate", limit, "--batch-rows", str(plan.rate_batch_rows)]
        result = upload(mock, source, options, timeout=plan.timeout)
    starts = result["call_starts"]
    n = plan.rate_calls
    gaps = window_gaps(starts, n)
    mean_gap = sum(gaps) / len(gaps) if gaps else 0.0
    allowed = n / plan.rate_window
    sustained = n / mean_gap if mean_gap > 0 else 0.0
    out = {
        "limit": limit,
        "calls": result["calls"],
        "throttled": result["throttled"],
        "retries": result["retries"],
        "seconds": result["seconds"],
        "mean_gap_n_calls": mean_gap,
        "min_gap_n_calls": min(gaps, default=0.0),
        "calls_per_s": sustained,
        "fraction_of_limit": sustained / allowed,
        "max_calls_in_any_window": max_in_window(starts, plan.rate_window),
        "rows_per_s": result["rows_per_s"],
        "peak_rss_mb": result["peak_rss_mb"],
    }
    say(
        f"  {out['calls']} calls, {out['throttled']} throttled by the mock, {out['retries']} retries; "
        f"sustained {sustained:.2f} calls/s = {out['fraction_of_limit']:.1%} of {allowed:.2f}/s; "
        f"most calls started in one {plan.rate_window:g} s window: {out['max_calls_in_any_window']}"
    )
    return out


def latency(plan: Plan, say: Print) -> dict[str, Any]:
    """Rows/s against --concurrency with the mock adding latency to every call."""
    say(
        f"\n== latency: {plan.latency_rows:,} rows in batches of {plan.latency_batch_rows:,}, "
        f"added latency x --concurrency (rows/s) =="
    )
    source = dataset(plan.latency_rows, "csv", plan.data)
    out: dict[str, Any] = {}
    header = "  latency  " + "".join(f"{f'c={c}':>12}" for c in plan.latency_concurrencies)
    say(header)
    for delay in plan.latencies:
        line = f"  {delay * 1000:>4.0f} ms  "
        with MockServer(faults=[f"latency={delay}"]) as mock:
            for concurrency in plan.latency_concurrencies:
                options = ["--concurrency", str(concurrency)]
                options += ["--batch-rows", str(plan.latency_batch_rows)]
                result = upload(mock, source, options, timeout=plan.timeout)
                out[f"{delay}_{concurrency}"] = _public(result) | {
                    "latency": delay,
                    "concurrency": concurrency,
                }
                line += f"{result['rows_per_s']:>12,.0f}"
        say(line)
    return out


def sync(plan: Plan, say: Print) -> dict[str, Any]:
    """Two nights of ``uploader sync``: night 1 loads ``rows`` into an empty state, night 2
    (the same file, 1 % of rows changed and 0.5 % new) sends only those. Night 2 beside a
    plain upload of the same file (calls, bytes, wall time, peak RSS; single runs), its
    selection pass alone beside the producer alone (best of ``repeat``, interleaved), and the
    state's size on disk. CSV only."""
    say(
        f"\n== sync: night 1 = first sync of {plan.rows:,} rows (empty state), night 2 = the "
        f"same file, 1 % changed + 0.5 % new; vs a full upload of night 2 =="
    )
    night_one_file = dataset(plan.rows, "csv", plan.data)
    night_two_file = night_two(night_one_file)
    samples: dict[str, list[dict[str, Any]]] = {}
    with MockServer() as mock, tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        state = Path(tmp) / "state"
        sync_options = ["--state", str(state)]
        first = upload(mock, night_one_file, sync_options, command="sync", timeout=plan.timeout)
        state_one = state_on_disk(state)
        for _ in range(plan.repeat):  # interleaved, so that a noisy neighbour hits both alike
            samples.setdefault("plan", []).append(sync_plan(night_two_file, state, plan))
            samples.setdefault("ceiling", []).append(ceiling(night_two_file, timeout=plan.timeout))
        second = upload(mock, night_two_file, sync_options, command="sync", timeout=plan.timeout)
        state_two = state_on_disk(state)
        full = upload(mock, night_two_file, timeout=plan.timeout)
    selection, ceiling_best = best(samples["plan"]), best(samples["ceiling"])
    _check_night_two(plan.rows, second["selection"], selection["counts"])
    for label, result in (
        ("night 1: sync, empty state", first),
        ("night 2: sync", second),
        ("night 2: full upload (no state)", full),
    ):
        say(
            f"  {label:<32} {result['rows']:>11,} rows sent {result['calls']:>4} calls "
            f"{result['bytes'] / MB:>9,.1f} MB  wall {result['wall']:>6.1f} s  "
            f"client {result['peak_rss_mb']:>5.0f} MB"
        )
    reasons = ", ".join(f"{n:,} {reason}" for reason, n in second["selection"].items())
    say(f"  night 2 rows by reason: {reasons}")
    ratios = {
        "calls": second["calls"] / full["calls"],
        "bytes": second["bytes"] / full["bytes"],
        "wall": second["wall"] / full["wall"],
    }
    extra_rss = second["peak_rss_mb"] - full["peak_rss_mb"]
    say(
        f"  night 2 / full upload: calls {ratios['calls']:.1%}, bytes {ratios['bytes']:.2%}, "
        f"wall time {ratios['wall']:.2f}x, client peak RSS {extra_rss:+.0f} MB"
    )
    say(
        f"  selection pass alone (plan_sync): {selection['rows_per_s']:>11,.0f} rows/s "
        f"({selection['seconds']:.1f} s, client {selection['peak_rss_mb']:.0f} MB) vs producer "
        f"alone {ceiling_best['rows_per_s']:>11,.0f} rows/s "
        f"({selection['rows_per_s'] / ceiling_best['rows_per_s']:.2f}x), best of {plan.repeat}"
    )
    for label, size in (("after night 1", state_one), ("after night 2", state_two)):
        say(
            f"  state {label}: {size['rows']:,} rows, {size['bytes'] / MB:,.1f} MB = "
            f"{size['bytes_per_row']:.1f} B/row; its work dir (tonight's plan, kept) "
            f"{size['work_bytes'] / MB:,.1f} MB"
        )
    return {
        "rows": plan.rows,
        "night_one": _public(first),
        "night_two": _public(second),
        "full_upload": _public(full),
        "night_two_vs_full": ratios | {"peak_rss_extra_mb": extra_rss},
        "selection": selection,
        "ceiling": ceiling_best,
        "selection_vs_ceiling": selection["rows_per_s"] / ceiling_best["rows_per_s"],
        "state_after_night_one": state_one,
        "state_after_night_two": state_two,
    }


def sync_plan(source: Path, state: Path, plan: Plan) -> dict[str, Any]:
    """A sync's selection pass alone (``benchmarks.sync_plan``) in its own process."""
    command = [sys.executable, "-m", "benchmarks.sync_plan", str(source), "--state", str(state)]
    return measured(run_child(command, timeout=plan.timeout))


def state_on_disk(state: Path) -> dict[str, Any]:
    """Bytes and rows of the state's current generation (its ``gen-N/*.parquet``), and of
    the work files the last run left beside it."""
    files = list((state / f"gen-{StateStore.open(state).generation}").glob("*.parquet"))
    rows = pl.scan_parquet(files).select(pl.len()).collect().item() if files else 0
    size = sum(file.stat().st_size for file in files)
    work = sum(file.stat().st_size for file in (state / "work").rglob("*") if file.is_file())
    return {
        "rows": rows,
        "bytes": size,
        "bytes_per_row": size / rows if rows else 0.0,
        "work_bytes": work,
    }


def _check_night_two(rows: int, synced: dict[str, int], planned: dict[str, int]) -> None:
    """Night 2 must select exactly the rows ``gen.night_two`` changed and added (a wrong
    selection fails the benchmark, as a lost row does)."""
    changed, new = -(-rows // CHANGED_EVERY), rows // NEW_PER
    if (synced["changed"], synced["new"]) != (changed, new):
        raise RuntimeError(
            f"night 2 selected {synced['changed']:,} changed and {synced['new']:,} new rows, "
            f"expected {changed:,} and {new:,}"
        )
    if planned != synced:
        raise RuntimeError(f"the plan alone selected {planned}, the sync {synced}")


SUITES: dict[str, Callable[[Plan, Print], dict[str, Any]]] = {
    "throughput": throughput,
    "encoding": encoding,
    "memory": memory,
    "rate": rate,
    "latency": latency,
    "sync": sync,
    "shared": shared,
}
