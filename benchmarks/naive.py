"""The naive baseline: the documented way, by hand, with the standard library only.

    python -m benchmarks.naive FILE.csv (--endpoint http://127.0.0.1:PORT | --no-send) [--client-code demo]
                               [--rows N] [--batch-bytes 49000000] [--batch-rows 500000]

Read the CSV with the ``csv`` module, percent-encode every name and value with
``urllib.parse.quote(value, safe="")``, cut the lines into parts under Target's limits (bytes
and rows), and POST each part in turn with ``urllib.request``. Prints one JSON object:
rows, bytes sent, calls, seconds (from the first read to the last answer). Nothing here
imports polars or the uploader, so the process's peak RSS is the baseline's own.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote


def parts(path: Path, rows: int | None, batch_bytes: int, batch_rows: int) -> Iterator[bytes]:
    """Encoded bodies ``batch=header\\nline\\n...`` of at most ``batch_bytes`` / ``batch_rows``."""
    read = 0
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = ("batch=" + ",".join(quote(name, safe="") for name in next(reader))).encode()
        lines: list[bytes] = []
        size = len(header)
        for record in reader:
            if rows is not None and read >= rows:
                break
            line = ",".join(quote(value, safe="") for value in record).encode()
            if lines and (size + 1 + len(line) > batch_bytes or len(lines) >= batch_rows):
                yield b"\n".join([header, *lines])
                lines, size = [], len(header)
            lines.append(line)
            size += 1 + len(line)
            read += 1
        if lines:
            yield b"\n".join([header, *lines])


def post(url: str, body: bytes, timeout: float) -> None:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = response.read(1 << 20).decode("utf-8", "replace")
    if "<success>true</success>" not in answer:
        raise SystemExit(f"batch refused: {answer[:300]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("--endpoint", help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument(
        "--no-send", action="store_true", help="build the bodies only (the producer's baseline)"
    )
    parser.add_argument("--client-code", default="demo")
    parser.add_argument("--rows", type=int, default=None, help="stop after N rows")
    parser.add_argument("--batch-bytes", type=int, default=49_000_000)
    parser.add_argument("--batch-rows", type=int, default=500_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if not args.no_send and not args.endpoint:
        parser.error("--endpoint is required unless --no-send")
    url = f"{(args.endpoint or '').rstrip('/')}/m2/{args.client_code}/v2/profile/batchUpdate"
    started = time.perf_counter()
    rows = nbytes = calls = 0
    for body in parts(args.source, args.rows, args.batch_bytes, args.batch_rows):
        if not args.no_send:
            post(url, body, args.timeout)
        rows += body.count(b"\n")  # one newline per data row (the header line has none after)
        nbytes += len(body)
        calls += 1
    seconds = time.perf_counter() - started
    json.dump({"rows": rows, "bytes": nbytes, "calls": calls, "seconds": seconds}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
