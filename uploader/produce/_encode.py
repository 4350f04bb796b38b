"""Percent-encoding of names and values, the way Target's bulk body needs it, vectorised.

Target reads the body as a form field: a raw ``&`` ends it, ``+`` turns into a space, ``%``
starts an escape, and ``,`` / CR / LF are the CSV structure (there is no quoting). Adobe says
names and values "must be URL-encoded using UTF-8" and recommends encoding all values. Two
modes:

- ``strict`` (the default): every character outside ``A-Z a-z 0-9 - . _ ~ ! * ( )`` is
  written as ``%XX`` of its UTF-8 bytes (uppercase hex), so a body is pure ASCII.
- ``compact``: the same for ASCII, but non-ASCII letters stay raw UTF-8 (bodies ~7-14 %
  smaller). Line and format separators (U+0085, U+2028, U+2029, U+FEFF) and the bidi marks
  and controls are always escaped: raw, they can break lines or reorder text in whatever
  reads the body next.

Both run as ``str.replace_many`` per column (Aho-Corasick in Rust): a per-value Python
``urllib.parse.quote`` is ~20x slower and is not acceptable on the hot path. The table of
``strict`` depends on the data (there are too many non-ASCII characters for one table, and
a table of all 2-byte characters already makes ``replace_many`` ~4x slower), so the encoder
learns the non-ASCII characters it meets: ``static_exprs`` escapes what is known so far (and
can be part of a chunk's lazy plan), ``finish`` escapes what a chunk still holds raw. Each
character has one escape, so the bodies do not depend on what was learnt when.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import polars as pl

from uploader.produce._modes import DEFAULT_ENCODE, ENCODE_MODES, EncodeMode, check_encode_mode

__all__ = [
    "DEFAULT_ENCODE",
    "ENCODE_MODES",
    "EncodeMode",
    "Encoder",
    "check_encode_mode",
    "encode_text",
]


SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!*()")
# Escaped even in compact mode: next line, line/paragraph separators, the byte-order mark,
# and the bidi marks, embeddings, overrides and isolates (U+061C ALM, U+200E/F LRM/RLM,
# U+202A-U+202E, U+2066-U+2069).
SEPARATORS = frozenset(
    "\u0085\u2028\u2029\ufeff\u061c\u200e\u200f"
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2066, 0x206A)))
)
# Learnt characters beyond this many are escaped chunk by chunk instead: a big table slows
# every value down (text in a large script is the case).
MAX_LEARNT = 512


def _escape(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def _table(chars: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(patterns, replacements) escaping ``chars``."""
    ordered = sorted(chars)
    return tuple(ordered), tuple(map(_escape, ordered))


_ASCII = [chr(code) for code in range(128) if chr(code) not in SAFE_CHARS]
_ASCII_RUNS = r"[\x00-\x7F]+"


def _has_non_ascii(column: str) -> pl.Expr:
    # More bytes than characters: cheaper than a regex (null for an empty cell).
    return pl.col(column).str.len_bytes() != pl.col(column).str.len_chars()


class Encoder:
    """Encodes columns of a frame in the chosen mode (see the module doc).

    Not for concurrent ``finish`` calls; ``static_exprs`` may run in another thread (it reads
    the learnt table once, which ``finish`` replaces whole).
    """

    __slots__ = ("_known", "mode")

    def __init__(self, mode: str = DEFAULT_ENCODE) -> None:
        self.mode: EncodeMode = check_encode_mode(mode)
        compact = self.mode == "compact"
        self._known = _table([*_ASCII, *SEPARATORS] if compact else _ASCII)

    def static_exprs(self, columns: Sequence[str]) -> list[pl.Expr]:
        """One expression per column escaping every character known so far (all of them in
        compact mode); nulls stay null (empty cells)."""
        patterns, replacements = self._known
        return [
            pl.col(c).str.replace_many(list(patterns), list(replacements)).alias(c) for c in columns
        ]

    def finish(self, frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        """``frame`` (whose ``columns`` went through ``static_exprs``) with the non-ASCII
        characters still raw escaped too (strict mode); ``frame`` itself if there are none."""
        if self.mode == "compact" or not columns:
            return frame
        flags = frame.select(_has_non_ascii(c).any() for c in columns).row(0)
        todo = [c for c, flag in zip(columns, flags, strict=True) if flag]
        if not todo:
            return frame
        found = frame.select(
            pl.col(c).filter(_has_non_ascii(c)).str.replace_all(_ASCII_RUNS, "").unique().implode()
            for c in todo
        ).row(0)
        chars = sorted({char for values in found for value in values for char in value})
        known = self._known[0]
        if len(known) + len(chars) <= len(_ASCII) + MAX_LEARNT:
            self._known = _table([*known, *chars])
        new_patterns, new_replacements = _table(chars)
        return frame.with_columns(
            pl.col(c).str.replace_many(list(new_patterns), list(new_replacements)) for c in todo
        )

    def encode(self, frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        """``frame`` with ``columns`` encoded (the other columns unchanged)."""
        return self.finish(frame.with_columns(self.static_exprs(columns)), columns)


def encode_text(values: Sequence[str], mode: str = DEFAULT_ENCODE) -> list[str]:
    """Encode a few strings (e.g. header names) exactly as the columns are encoded."""
    frame = pl.DataFrame({"v": list(values)}, schema={"v": pl.String})
    return Encoder(mode).encode(frame, ["v"]).to_series().to_list()
