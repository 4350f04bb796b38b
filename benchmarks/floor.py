"""The CPU floor of the producer: what polars itself needs for the steps that cannot be left out.

    python -m benchmarks.floor FILE.csv|FILE.parquet

Runs the steps chunk by chunk over the whole file, in this process, and measures their CPU
seconds (user + system, all threads; the next CSV block is cut in a thread while a chunk is
encoded, so a little reading is counted as encoding — the total is exact): parsing every value (the check pass must, to refuse a ragged
or non-UTF-8 file before anything is sent; CSV only), reading again (the main pass), one
``str.replace_many`` per column (the encoder), and ``write_csv`` of the encoded rows (the
bodies). Nothing else of the uploader runs. ``rows / (CPU seconds / cores)`` is then an upper
bound on the producer's rows/s on this machine, reached only with perfect parallelism and
zero other work. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from uploader.produce._encode import Encoder
from uploader.produce._source import (
    SourceFile,
    csv_frames,
    expand_sources,
    parquet_slices,
    scan_parquet,
)

CHUNK_ROWS = 100_000


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def chunks(source: SourceFile) -> Iterator[pl.DataFrame]:
    if source.kind == "csv":
        return (frame for _, frame in csv_frames(source))
    return (frame for _, frame in parquet_slices(source, CHUNK_ROWS))


def timed(step: Callable[[], object]) -> float:
    before = cpu_seconds()
    step()
    return cpu_seconds() - before


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    args = parser.parse_args(argv)
    (source,) = expand_sources([args.source])
    encoder, columns = Encoder(), list(source.columns)
    steps = {"read": 0.0, "encode": 0.0, "write_bodies": 0.0}
    rows = 0
    started = cpu_seconds()
    for frame in chunks(source):  # one chunk at a time, as the producer does
        read_done = cpu_seconds()
        encoded = encoder.encode(frame, columns)
        encode_done = cpu_seconds()
        encoded.write_csv(io.BytesIO(), include_header=False, quote_style="never")
        steps["read"] += read_done - started
        steps["encode"] += encode_done - read_done
        steps["write_bodies"] += cpu_seconds() - encode_done
        rows += frame.height
        del frame, encoded
        started = cpu_seconds()
    if source.kind == "csv":  # the check pass parses every value once more
        steps["check_parse"] = steps["read"]
    else:  # Parquet's check pass reads the id column only
        steps["check_parse"] = timed(lambda: scan_parquet(source).select(pl.first()).collect())
    cores = os.cpu_count() or 1
    total = sum(steps.values())
    result = {
        "rows": rows,
        "cpu_seconds": steps,
        "total_cpu_seconds": total,
        "cores": cores,
        "max_rows_per_s": rows / (total / cores),
    }
    json.dump(result, sys.stdout)
    print()
    return result


if __name__ == "__main__":
    main()
