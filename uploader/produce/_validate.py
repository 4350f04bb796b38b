"""Row validation: which rows Target would refuse, as one vectorised reason column.

The checks run on the raw id and on the *encoded* attribute columns: every ``%XX`` escape
stands for exactly one UTF-8 byte, so a cell's raw size is its encoded size minus two bytes
per ``%``. That lets one formula serve both fresh rows and merged duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

__all__ = [
    "LEN_COL",
    "MAX_ID_CHARS",
    "MAX_PROFILE_BYTES",
    "REASON_COL",
    "id_reason",
    "line_bytes",
    "oversized",
    "profile_bytes",
]

REASON_COL = "__uploader_reason"
LEN_COL = "__uploader_len"
MAX_ID_CHARS = 256  # mbox3rdPartyId
MAX_PROFILE_BYTES = 64 * 1024  # external profile data per profile

EMPTY_ID = "empty id"
LONG_ID = f"id longer than {MAX_ID_CHARS} characters"
FORBIDDEN_ID = "id contains '+' or '/' (forbidden in mbox3rdPartyId)"
TOO_BIG = "profile data over 64 KB (UTF-8 names and values)"


def _raw_bytes(encoded: pl.Expr) -> pl.Expr:
    return encoded.str.len_bytes() - 2 * encoded.str.count_matches("%", literal=True)


def profile_bytes(names: Sequence[str]) -> pl.Expr:
    """UTF-8 bytes of each row's non-empty cells, name plus raw value; the columns hold the
    encoded values and are named by their Target names."""
    return pl.sum_horizontal(
        pl.when(pl.col(n).str.len_bytes() > 0).then(_raw_bytes(pl.col(n)) + len(n.encode()))
        for n in names
    )


def line_bytes(names: Sequence[str]) -> pl.Expr:
    """Bytes of a row's body line (encoded cells, null as empty, commas between)."""
    cells = pl.sum_horizontal(pl.col(n).str.len_bytes().fill_null(0) for n in names)
    return (cells + (len(names) - 1)).alias(LEN_COL)


def id_reason(raw_id: str) -> pl.Expr:
    """Why a row's id must not be sent, or null when it is fine (``raw_id``: unencoded)."""
    ident = pl.col(raw_id)
    return (
        pl.when(ident.is_null() | (ident == ""))
        .then(pl.lit(EMPTY_ID))
        .when(ident.str.len_chars() > MAX_ID_CHARS)
        .then(pl.lit(LONG_ID))
        .when(ident.str.contains(r"[+/]"))
        .then(pl.lit(FORBIDDEN_ID))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias(REASON_COL)
    )


def oversized(names: Sequence[str], reason: str = TOO_BIG) -> pl.Expr:
    """``reason`` for rows over 64 KB of profile data, else null; needs ``__len``.

    The exact size needs a pass over every cell, so it is computed only where the cheap
    upper bound (line bytes + name bytes: encoding never shrinks a value) is over the limit.
    """
    names_bytes = sum(len(n.encode()) for n in names)
    suspect = pl.col(LEN_COL) + names_bytes > MAX_PROFILE_BYTES
    return (
        pl.when(suspect & (profile_bytes(names) > MAX_PROFILE_BYTES))
        .then(pl.lit(reason))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias(REASON_COL)
    )
