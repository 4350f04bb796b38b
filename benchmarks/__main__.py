"""``python -m benchmarks`` / ``make bench``: every benchmark, one command, one process tree.

    python -m benchmarks [--quick] [--rows N] [--formats csv,parquet] [--suites a,b]
                         [--json PATH]

Suites: throughput (uploader end to end vs ceiling vs naive), encoding (--encode strict vs
compact, end to end and producer alone), memory (2M vs 10M rows,
--concurrency, --batch-bytes), rate (throttle adherence), latency (added latency vs
--concurrency), sync (night 2 of a nightly sync vs a full upload of the same file),
shared (the Redis limiter's cost per call; shards on one budget: rate and throughput; needs
redis-server). The mock runs as a separate process on 127.0.0.1, auth and throttle off unless the suite needs
the throttle. See benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.suites import QUICK, SUITES, Plan
from uploader.bench._harness import machine_info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--rows", type=int, help="rows of the throughput runs (default 2M)")
    parser.add_argument("--scale-rows", type=int, help="rows of the big memory run (default 10M)")
    parser.add_argument("--naive-rows", type=int, help="rows the naive baseline sends")
    parser.add_argument("--repeat", type=int, help="throughput runs: best of N (default 3)")
    parser.add_argument("--formats", default="csv,parquet", help="csv,parquet (default both)")
    parser.add_argument(
        "--suites", default=",".join(SUITES), help=f"comma-separated, of {', '.join(SUITES)}"
    )
    parser.add_argument("--data", type=Path, help="dataset directory (default benchmarks/data)")
    parser.add_argument("--json", type=Path, help="also write every result to this JSON file")
    return parser.parse_args(argv)


def plan_from(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else Plan()
    changes: dict[str, Any] = {"formats": tuple(f for f in args.formats.split(",") if f)}
    for name in ("rows", "scale_rows", "naive_rows", "repeat", "data"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    return replace(plan, **changes)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    suites = [s for s in args.suites.split(",") if s]
    unknown = set(suites) - set(SUITES)
    if unknown:
        raise SystemExit(f"unknown suite(s): {', '.join(sorted(unknown))}")
    plan = plan_from(args)

    def say(line: str) -> None:
        print(line, flush=True)

    machine = machine_info()
    say(
        f"machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gb']} GB, "
        f"Python {machine['python']}, polars {machine['polars']}, aiohttp {machine['aiohttp']}"
    )
    say("client and mock share the machine's cores; figures vary by about ±10 % run to run")
    results: dict[str, Any] = {"machine": machine, "plan": _plan_json(plan), "suites": {}}
    started = time.perf_counter()
    for name in suites:
        results["suites"][name] = SUITES[name](plan, say)
    results["seconds"] = time.perf_counter() - started
    say(f"\ndone in {results['seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        say(f"results: {args.json}")
    return results


def _plan_json(plan: Plan) -> dict[str, Any]:
    return {
        name: str(value) if isinstance(value, Path) else value
        for name, value in ((n, getattr(plan, n)) for n in plan.__dataclass_fields__)
    }


def main() -> None:
    try:
        run()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
