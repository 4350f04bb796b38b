"""Regenerate the bundled samples (deterministic): python samples/make_samples.py"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl

HERE = Path(__file__).parent
FIRST = ["Ana", "Björn", "Chloé", "Dmitri", "Émile", "Fatima", "Grace", "Hiro", "Inès", "José"]
LAST = ["O'Brien", "Müller", "Dupont", "Nakamura", "García", "Smith-Jones", "Ødegaard", "Li"]
CITIES = ["Paris", "Lyon", "São Paulo", "Zürich", "New York, NY", "Köln", "東京", "Saint-Étienne"]
TIERS = ["bronze", "silver", "gold", "platinum", ""]
NOTES = [
    "",
    "VIP",
    'said "call me later"',
    "50% off coupon",
    "R&D team",
    "a+b=c",
    "line one\nline two",
    "tab\there",
    "emoji 🎉",
    "comma, inside",
    "  leading and trailing spaces  ",
]


def main() -> None:
    rng = random.Random(20261126)
    rows = []
    for n in range(1, 1001):
        rows.append(
            {
                "thirdPartyId": f"crm-{n:06d}",
                "firstName": rng.choice(FIRST),
                "lastName": rng.choice(LAST),
                "email": f"user{n}+news@example.com",
                "loyaltyTier": rng.choice(TIERS),
                "city": rng.choice(CITIES),
                "lifetimeValue": rng.choice(["1.50", "007", "1e3", "NaN", "0", f"{n * 3.7:.2f}"]),
                "optIn": rng.choice(["true", "false", ""]),
                "lastPurchase": rng.choice(["2026-11-25", "2026-01-02T10:00:00Z", ""]),
                "note": rng.choice(NOTES),
            }
        )
    # Rows Target would refuse, to show the rejects file.
    rows[10]["thirdPartyId"] = ""
    rows[20]["thirdPartyId"] = "crm+bad"
    rows[30]["thirdPartyId"] = "crm/bad"
    # A duplicate id: later non-empty values win, empty cells never clear.
    rows[500]["thirdPartyId"] = "crm-000042"
    rows[500]["loyaltyTier"] = "platinum"
    rows[500]["city"] = ""
    frame = pl.DataFrame(rows)
    frame.write_csv(HERE / "crm.csv")
    typed = frame.with_columns(
        pl.col("optIn").replace_strict({"true": True, "false": False, "": None}, return_dtype=pl.Boolean),
    )
    typed.write_parquet(HERE / "parquet" / "crm.parquet")
    print(f"wrote {frame.height} rows to samples/crm.csv and samples/parquet/crm.parquet")


if __name__ == "__main__":
    main()
