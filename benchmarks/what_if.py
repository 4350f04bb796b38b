"""What the producer's speed would be without each of its two big costs — experiments, not
modes: the variants below break a guarantee or the bodies, and exist only to measure.

    python -m benchmarks.what_if FILE.csv [--repeat 3]

Runs ``uploader.bench._ceiling`` (the real ``Producer``) in child processes, as shipped and
with one or both of these patched in:

- ``projected-check``: the CSV check pass parses the id column only. Faster, but a row with
  more fields than the header is then found only in the main pass, after batches went out —
  which issue 2 forbids.
- ``no-encoding``: the encoder returns the values unchanged. The bodies are wrong; this is the
  most any faster encoder (a compiled one, say) could give.

Prints one line per variant: rows/s (best of ``--repeat``) and peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from uploader.bench._harness import run_child

VARIANTS = {
    "as shipped": (),
    "projected-check": ("projected-check",),
    "no-encoding": ("no-encoding",),
    "projected-check + no-encoding": ("projected-check", "no-encoding"),
}


def patch(changes: Sequence[str]) -> None:
    import polars as pl

    from uploader.produce import _encode as encode
    from uploader.produce import _producer as pipeline
    from uploader.produce import _source as source

    if "no-encoding" in changes:
        encode.Encoder.static_exprs = lambda self, columns: [pl.col(c) for c in columns]  # type: ignore[method-assign]
        encode.Encoder.finish = lambda self, frame, columns: frame  # type: ignore[method-assign]
    if "projected-check" in changes:

        def check_frames(
            src: source.SourceFile, exprs: Sequence[pl.Expr], chunk_rows: int
        ) -> Iterator[pl.DataFrame]:
            for block in source.one_ahead(source.csv_blocks(src)):
                yield (
                    pl.read_csv(
                        block,
                        new_columns=list(src.columns),
                        columns=[src.columns[0]],
                        infer_schema=False,
                    )
                    .with_columns(  # the blank-line test then sees only the id: a what-if of
                        # the cost, not of the answers
                        pl.lit(None, pl.String).alias(name)
                        for name in src.columns[1:]
                    )
                    .select(exprs)
                )

        pipeline.check_frames = check_frames  # type: ignore[assignment]


def child(path: Path, changes: Sequence[str]) -> None:
    """``uploader.bench._ceiling`` with ``changes`` patched in (prints its JSON)."""
    patch(changes)
    from uploader.bench import _ceiling

    _ceiling.main([str(path)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.source, [c for c in args.child.split(",") if c])
        return
    for label, changes in VARIANTS.items():
        command = [sys.executable, "-m", "benchmarks.what_if", str(args.source)]
        runs = [run_child([*command, "--child", ",".join(changes)], timeout=1800) for _ in range(args.repeat)]  # fmt: skip
        speeds = [run.json()["rows"] / run.json()["seconds"] for run in runs]
        peak = max(run.peak_rss for run in runs) / 1e6
        print(f"{label:<32} {max(speeds):>11,.0f} rows/s  peak RSS {peak:>4.0f} MB")


if __name__ == "__main__":
    main()
