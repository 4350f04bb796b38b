"""The producer alone (read + check pass + validate + encode + batch, no network) vs a naive
baseline, CSV and Parquet — issue 2's target: ≥ 1.2M rows/s at ≤ 400 MB peak RSS.

    python -m benchmarks.bench_producer [--rows 2000000] [--formats csv,parquet]
                                        [--repeat 3] [--naive-rows 200000] [--scale-rows N]
                                        [--json PATH]

Each measurement is its own child process (``python -m uploader.bench._ceiling`` for the
uploader, ``python -m benchmarks.naive --no-send`` for the baseline) with its peak RSS read
from ``/proc/PID/status`` (VmHWM) while it runs: ``ru_maxrss`` of a child inherits the
parent's high-water mark across fork/exec and once reported the generator's 524 MB for
every child. rows/s = rows / the child's own seconds (interpreter start-up excluded);
best of ``--repeat`` (rows/s of the fastest run, the highest peak RSS of all). ``--scale-rows`` adds one run on a larger file to show memory is flat.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.suites import DATA, Plan
from uploader.bench._harness import MB, dataset, machine_info, run_child
from uploader.bench._measure import best, ceiling, measured

PLAN = Plan()


def naive(source: Path, rows: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.naive", str(source), "--no-send", "--rows", str(rows)]  # fmt: skip
    return measured(run_child(command, timeout=PLAN.timeout))


def line(label: str, result: dict[str, Any]) -> str:
    return (
        f"{label:<34} {result['rows_per_s']:>11,.0f} rows/s  "
        f"peak RSS {result['peak_rss_mb']:>5.0f} MB  CPU {result['cpu_s']:.1f} s"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-rows", type=int, default=200_000)
    parser.add_argument("--scale-rows", type=int, default=0, help="one more run at this size")
    parser.add_argument("--data", type=Path, default=DATA, help="where the datasets are made")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    info = machine_info()
    print(f"{info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB, Python {info['python']}, polars {info['polars']}")  # fmt: skip
    results: dict[str, Any] = {"machine": info}
    for fmt in args.formats.split(","):
        source = dataset(args.rows, fmt, args.data)
        print(
            f"{source.name}: {args.rows:,} rows x 11 columns, {source.stat().st_size / MB:.0f} MB"
        )
        for duplicates in ("merge", "off"):
            label = f"uploader {fmt}, duplicates={duplicates}"
            options = ["--duplicates", duplicates]
            results[label] = best(
                [ceiling(source, options, timeout=PLAN.timeout) for _ in range(args.repeat)]
            )
            print(line(label, results[label]))
        if args.scale_rows:
            label = f"uploader {fmt}, {args.scale_rows:,} rows"
            results[label] = ceiling(dataset(args.scale_rows, fmt, args.data), timeout=PLAN.timeout)
            print(line(label, results[label]))
    label = "naive (csv module + urllib quote)"
    results[label] = naive(dataset(args.rows, "csv", args.data), args.naive_rows)
    print(line(label, results[label]))
    for fmt in args.formats.split(","):
        ratio = (
            results[f"uploader {fmt}, duplicates=merge"]["rows_per_s"]
            / results[label]["rows_per_s"]
        )
        print(f"uploader {fmt} / naive: {ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
