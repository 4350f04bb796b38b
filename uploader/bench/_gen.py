"""Deterministic synthetic CRM data: realistic columns, awkward characters, CSV and Parquet.

python -m uploader.bench._gen --rows 2000000 --out benchmarks/data/crm-2m.csv [--parquet]
python -m uploader.bench._gen --night-two-of benchmarks/data/crm-2m.csv --out X.csv

``uploader bench`` and ``benchmarks/`` make their datasets with it, in a child process (a
10M-row frame must not inflate the measuring process). ``--night-two-of``: the next night's
export of a sync (the ``sync`` suite of ``benchmarks/``): the same file
with one attribute changed in every 100th row (1 %) and rows/200 new ids appended (0.5 %).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

TIERS = ["bronze", "silver", "gold", "platinum", ""]
CITIES = ["Paris", "Lyon", "São Paulo", "Zürich", "New York, NY", "Köln", "東京", "Saint-Étienne"]
SEGMENTS = ["a&b", "high+value", "50%off", "x=y", 'say "hi"', "plain", "multi\nline", "c,d"]


def generate(rows: int, seed: int = 0) -> pl.DataFrame:
    """A frame of ``rows`` profiles: id + 10 text attributes, some empty, some awkward."""
    rng = np.random.default_rng(seed)
    idx = np.arange(rows)

    def pick(values: list[str]) -> pl.Series:
        return pl.Series(values).gather(rng.integers(0, len(values), rows))

    return pl.DataFrame(
        {
            "thirdPartyId": pl.Series(idx)
            .cast(pl.String)
            .str.pad_start(9, "0")
            .str.replace("^", "crm-"),
            "email": pl.Series(idx).cast(pl.String).str.replace("^", "user") + "@example.com",
            "loyaltyTier": pick(TIERS),
            "city": pick(CITIES),
            "segment": pick(SEGMENTS),
            "lifetimeValue": pl.Series(rng.integers(0, 1_000_000, rows) / 100).cast(pl.String),
            "zip": pl.Series(rng.integers(0, 99999, rows)).cast(pl.String).str.pad_start(5, "0"),
            "optIn": pick(["true", "false", ""]),
            "lastOrder": pick(["2026-11-25", "2026-01-02T10:00:00Z", ""]),
            "score": pl.Series(rng.integers(0, 100, rows)).cast(pl.String),
            "note": pick(["", "VIP", "call back", "ünïcødé ✓", "100% sure"]),
        }
    )


CHANGED_NOTE = "changed on night 2"  # a value ``generate`` never makes: the row's fingerprint moves
CHANGED_EVERY = 100  # every 100th row changes: 1 %
NEW_PER = 200  # rows / 200 new ids: 0.5 %


def night_two(night_one: pl.DataFrame, seed: int = 1) -> pl.DataFrame:
    """``night_one`` (a ``generate`` frame) a night later: ``note`` changed in every
    ``CHANGED_EVERY``-th row, and ``rows // NEW_PER`` new ids (numbered on from the last)
    appended."""
    rows = night_one.height
    changed = night_one.with_columns(
        note=pl.when(pl.int_range(pl.len()) % CHANGED_EVERY == 0)
        .then(pl.lit(CHANGED_NOTE))
        .otherwise(pl.col("note"))
    )
    new = generate(rows // NEW_PER, seed).with_columns(
        thirdPartyId=(pl.int_range(pl.len()) + rows)
        .cast(pl.String)
        .str.pad_start(9, "0")
        .str.replace("^", "crm-")
    )
    return pl.concat([changed, new])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parquet", action="store_true", help="also write OUT with .parquet")
    parser.add_argument("--night-two-of", type=Path, help="a CSV: write its next night to OUT")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.night_two_of:
        frame = night_two(pl.read_csv(args.night_two_of, infer_schema=False))
        frame.write_csv(args.out)
        print(f"wrote {frame.height:,} rows to {args.out}")
        return
    frame = generate(args.rows, args.seed)
    frame.write_csv(args.out)
    if args.parquet:
        frame.write_parquet(args.out.with_suffix(".parquet"))
    print(f"wrote {args.rows:,} rows to {args.out}")


if __name__ == "__main__":
    main()
