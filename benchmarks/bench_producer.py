"""Read + validate + encode + batch, no network: uploader's producer vs a naive baseline.

    python -m benchmarks.bench_producer [--rows 2000000] [--format csv|parquet] [--naive-rows N]

Each measurement runs in its own child process so that its peak RSS is its own. The naive
baseline is the documented way done by hand: the csv module, per-value
``urllib.parse.quote``, lines joined into bodies of the same limits (stdlib only).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import platform
import resource
import time
from pathlib import Path
from urllib.parse import quote

import polars as pl

from benchmarks.gen import generate

DATA = Path(__file__).parent / "data"


def dataset(rows: int, fmt: str) -> Path:
    path = DATA / f"crm-{rows}.{fmt}"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        frame = generate(rows)
        frame.write_csv(path) if fmt == "csv" else frame.write_parquet(path)
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_uploader(path: Path, duplicates: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from uploader.pipeline import InputSpec, Producer

    start = time.perf_counter()
    producer = Producer(InputSpec(sources=(path,), duplicates=duplicates))  # type: ignore[arg-type]
    nbytes = sum(batch.nbytes for batch in producer)
    seconds = time.perf_counter() - start
    out.put((producer.stats.rows_read, nbytes, seconds, peak_rss_mb()))


def run_naive(path: Path, rows: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    start = time.perf_counter()
    read = nbytes = 0
    limit = 49_000_000
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = "batch=" + ",".join(quote(name, safe="") for name in next(reader)) + "\n"
        body, size = [header], len(header)
        for record in reader:
            line = ",".join(quote(value, safe="") for value in record) + "\n"
            if size + len(line) > limit:
                nbytes += len("".join(body).encode())
                body, size = [header], len(header)
            body.append(line)
            size += len(line)
            read += 1
            if read == rows:
                break
        nbytes += len("".join(body).encode())
    out.put((read, nbytes, time.perf_counter() - start, peak_rss_mb()))


def measure(target: object, *args: object) -> tuple[int, int, float, float]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    process = ctx.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument(
        "--naive-rows", type=int, default=200_000, help="rows for the slow baseline"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    path = dataset(args.rows, args.format)
    csv_path = dataset(args.rows, "csv")
    print(
        f"machine: {platform.machine()}, {mp.cpu_count()} cores, Python {platform.python_version()}, polars {pl.__version__}"
    )
    print(f"input: {path} ({path.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows x 11 columns)")
    results = {}
    for label, target, extra in [
        ("uploader (duplicates=merge)", run_uploader, ("merge",)),
        ("uploader (duplicates=off)", run_uploader, ("off",)),
        ("naive (csv + urllib.quote)", run_naive, None),
    ]:
        if extra is None:
            rows, nbytes, seconds, rss = measure(target, csv_path, args.naive_rows)
        else:
            rows, nbytes, seconds, rss = measure(target, path, *extra)
        results[label] = {
            "rows": rows,
            "bytes": nbytes,
            "seconds": seconds,
            "rows_per_s": rows / seconds,
            "peak_rss_mb": rss,
        }
        print(
            f"{label:<30} {rows / seconds:>12,.0f} rows/s  {nbytes / seconds / 1e6:>7.1f} MB/s  peak RSS {rss:>6.0f} MB"
        )
    ratio = (
        results["uploader (duplicates=merge)"]["rows_per_s"]
        / results["naive (csv + urllib.quote)"]["rows_per_s"]
    )
    print(f"uploader / naive: {ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
