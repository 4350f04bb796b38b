"""The ceiling: the uploader's own producer (read + validate + encode + batch), no network.

    python -m uploader.bench._ceiling FILE [--duplicates merge|last|off] [--batch-bytes N]
                                           [--batch-rows N] [--encode strict|compact]

What the machine can do at best with the uploader's settings: every batch body is built
exactly as ``uploader upload`` would send it, then dropped. Prints one JSON object: rows,
bytes (of final bodies), batches, seconds (from opening the input to the last body).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("--duplicates", choices=["merge", "last", "off"], default="merge")
    parser.add_argument("--batch-bytes", type=int, default=49_000_000)
    parser.add_argument("--batch-rows", type=int, default=500_000)
    parser.add_argument("--encode", choices=["strict", "compact"], default="strict")
    args = parser.parse_args(argv)

    from uploader.produce._batcher import BatchLimits
    from uploader.produce._producer import InputSpec, Producer

    started = time.perf_counter()
    limits = BatchLimits(rows=args.batch_rows, bytes=args.batch_bytes)
    producer = Producer(
        InputSpec(
            sources=(args.source,), duplicates=args.duplicates, limits=limits, encode=args.encode
        )
    )
    nbytes = batches = 0
    for batch in producer:
        nbytes += batch.nbytes
        batches += 1
        # A sender lets go of a body once it is sent: don't hold it while the next is made.
        del batch
    seconds = time.perf_counter() - started
    result = {
        "rows": producer.stats.rows_read,
        "bytes": nbytes,
        "batches": batches,
        "seconds": seconds,
    }
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
