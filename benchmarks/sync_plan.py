"""Pass 1 of a sync alone: ``plan_sync`` over FILE against the state in DIR, nothing sent.

    python -m benchmarks.sync_plan FILE --state DIR [--now UNIX_SECONDS]

What a night's selection costs: every row read once through the producer's pipeline (as
``uploader sync`` with default settings reads it), its key and fingerprint spilled by
partition, each partition selected against the state's. The state is only read (under its
lock, as a sync reads it); the plan's work files go to a temporary directory. Prints one JSON
object: rows (examined), bytes (of the input file), seconds (from opening the state to the
plan), the rows by reason, sending, missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--now", type=int, help="selection time, unix seconds (default: now)")
    args = parser.parse_args(argv)

    from uploader.produce import InputSpec
    from uploader.sync import StateStore, lock_state, plan_sync

    now = int(time.time()) if args.now is None else args.now
    with tempfile.TemporaryDirectory(prefix="bench-sync-plan-") as work, lock_state(args.state):
        started = time.perf_counter()
        store = StateStore.open(args.state)
        plan = plan_sync(InputSpec(sources=(args.source,)), store, now=now, work_dir=Path(work))
        seconds = time.perf_counter() - started
    result = {
        "rows": plan.rows,
        "bytes": args.source.stat().st_size,
        "seconds": seconds,
        "counts": dict(plan.counts),
        "sending": plan.sending,
        "missing": plan.missing,
    }
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
