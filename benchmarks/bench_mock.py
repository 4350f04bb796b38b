"""Ingest throughput of the mock Target server, measured in its own process.

    python -m benchmarks.bench_mock [--rows 2000000] [--batch-rows 400000] [--concurrency 2]
                                    [--encode strict|compact]

Builds ~2M rows x 11 columns of percent-encoded bulk bodies (email ``%40``, ``%2C``, ``%25``,
``%0A``, all-escaped UTF-8, or raw UTF-8 letters with ``--encode compact``), starts
``python -m uploader mock-server --rate-limit none`` as a subprocess, posts every body over
loopback, checks the mock accepted every row, and prints rows/s and the mock's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from uploader.bench._gen import generate
from uploader.produce._encode import Encoder

TOKEN = "bench-token"


def build_bodies(rows: int, batch_rows: int, mode: str) -> list[tuple[int, bytes]]:
    frame = generate(rows)
    encoded = Encoder(mode).encode(frame, frame.columns)
    bodies = []
    for offset in range(0, rows, batch_rows):
        chunk = encoded.slice(offset, batch_rows)
        text = chunk.write_csv(quote_style="never", include_header=True, line_terminator="\n")
        bodies.append((chunk.height, b"batch=" + text.encode()))
    return bodies


def start_mock() -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable, "-m", "uploader", "mock-server", "--port", "0",
        "--rate-limit", "none", "--token", TOKEN,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    match = re.search(r"(http://\S+)", first)
    if not match:
        process.kill()
        raise SystemExit(f"mock did not start: {first!r}")
    return process, match.group(1)


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


async def post_all(base_url: str, bodies: list[tuple[int, bytes]], concurrency: int) -> float:
    url = f"{base_url}/m2/demo/v2/profile/batchUpdate"
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for _, body in bodies:
        queue.put_nowait(body)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                async with session.post(url, data=body, headers=headers) as response:
                    text = await response.text()
                    if response.status != 200 or "<success>true</success>" not in text:
                        raise SystemExit(f"batch failed: {response.status} {text[:200]}")

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
        return time.perf_counter() - started


async def fetch_stats(base_url: str) -> dict[str, int]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base_url}/__mock/stats") as response,
    ):
        return await response.json()  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--batch-rows", type=int, default=400_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--encode", choices=["strict", "compact"], default="strict")
    args = parser.parse_args()

    started = time.perf_counter()
    bodies = build_bodies(args.rows, args.batch_rows, args.encode)
    total_bytes = sum(len(body) for _, body in bodies)
    print(
        f"built {len(bodies)} bodies, {args.rows:,} rows, {total_bytes / 1e6:,.1f} MB "
        f"({args.encode} encoding) in {time.perf_counter() - started:.1f} s"
    )
    process, base_url = start_mock()
    try:
        elapsed = asyncio.run(post_all(base_url, bodies, args.concurrency))
        stats = asyncio.run(fetch_stats(base_url))
        rss = peak_rss(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    if stats["rows_received"] != args.rows:
        raise SystemExit(f"mock received {stats['rows_received']:,} rows, sent {args.rows:,}")
    print(
        f"mock ingested {args.rows:,} rows in {elapsed:.2f} s: "
        f"{args.rows / elapsed:,.0f} rows/s, {total_bytes / elapsed / 1e6:,.0f} MB/s "
        f"(concurrency {args.concurrency}, {os.cpu_count()} CPUs)"
    )
    print(f"mock peak RSS: {rss / 2**20:,.0f} MiB (receipts and profile store kept)")


if __name__ == "__main__":
    main()
