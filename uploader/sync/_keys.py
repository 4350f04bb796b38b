"""Stable 64-bit hashes of ids and rows, and the state partition a key lives in.

A sync compares tonight's rows with a state written nights (and polars releases) ago, so the
hashes must never change with a library version: polars' own ``hash`` does not promise that.
Both are XXH3-64 (seed 0) of a byte string defined here, pinned by golden values in
``tests/test_sync_keys.py``; changing a definition orphans every state written before it.

- **key** (``id_keys``): XXH3-64 of the raw id's UTF-8 bytes. Raw, not percent-encoded, so a
  key survives a change of encoding mode and matches the ids Target reports back in
  row-level failures.
- **fingerprint** (``row_fingerprints``): XXH3-64 of what the row asks Target to store: the
  id, then for each attribute that carries a value its name and the value (raw text), in name
  order. The strings are joined by the separator ``\x00\x00``, a NUL inside a string being
  written ``\x00\x01``: every NUL of the byte string starts a two-byte token, so it splits one
  way only: ("ab", "c") and ("a", "bc") differ, and no value can forge a name. (A length
  prefix would do too, but writing each length as text made the whole pass ~2.5x slower.)
  A null and an empty cell are the same (both are an empty cell in the body, which Target
  ignores) and add nothing; an attribute the frame leaves empty on every row hashes as if it
  were absent. So the fingerprint changes exactly when what Target would store does: a new
  value, a renamed attribute on the rows that carry it, an id; not when columns are
  reordered, nor when a column is added that is empty on this row. Settings that change the
  bodies but not what Target stores (encoding mode) are guarded by the state's settings, not
  here.

- **shard** (``shard_of``): which of ``N`` shards (``--shard I/N``) a key's row belongs to:
  bits 16..47 of the key, as a fraction of 2³², times ``N`` (multiply-shift: uniform for any
  ``N``, no modulo bias). Middle bits, so that a shard is independent of both the state
  partition (the top bits) and the refresh slot (``key % refresh_after_days``, which the low
  bits decide most): every shard holds its share of every partition and of tonight's due
  rows. All rows of one id share a shard, so duplicate folding stays exact within one.
  Changing it re-shards every sharded state.

A key collision (two ids, one key: about n²/2⁶⁵, 3·10⁻⁶ for 10M ids) makes the two rows'
fingerprints differ, so it can cost a re-send, never a skipped row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl
import xxhash

from uploader.produce._shard import MAX_SHARDS

__all__ = [
    "DEFAULT_PARTITIONS",
    "check_partitions",
    "id_keys",
    "partition_label",
    "partition_of",
    "row_fingerprints",
    "shard_of",
]

# 64 partitions keep each one near 160k rows for a 10M-row state: the commit's read, join and
# sort of one partition at a time stays far below the producer's own memory (with 16, night
# 2's peak RSS grew 34 % from 2M to 10M rows; with 64, 2 %: benchmarks/README.md). A state
# keeps the count it was made with (its manifest says it).
DEFAULT_PARTITIONS = 64

SEPARATOR = "\x00\x00"  # between the strings of a fingerprint
ESCAPED_NUL = "\x00\x01"  # a NUL inside one

Hashes = npt.NDArray[np.uint64]


def id_keys(ids: pl.Series) -> Hashes:
    """The key of each raw id: XXH3-64 of its UTF-8 bytes. Ids must not be null (validation
    rejects a row without an id before any hashing)."""
    if ids.null_count():
        raise ValueError(f"id_keys: {ids.null_count()} null ids (reject them first)")
    return _xxh3(ids.cast(pl.String))


def row_fingerprints(frame: pl.DataFrame, id_column: str, attributes: Sequence[str]) -> Hashes:
    """The fingerprint of each row of ``frame`` (see the module docstring): ``id_column`` and
    the ``attributes`` that would be sent, each a column of ``frame`` holding raw text (a
    non-text column is hashed as its polars text form)."""
    names = sorted(attributes)  # the column order of a file does not change what is stored
    if len(set(names)) != len(names) or id_column in names:
        raise ValueError(f"row_fingerprints: repeated attribute or id in {list(attributes)}")
    missing = [name for name in (id_column, *names) if name not in frame.columns]
    if missing:
        raise ValueError(f"row_fingerprints: no column {missing[0]!r} in the frame")
    if frame.get_column(id_column).null_count():
        raise ValueError("row_fingerprints: null ids (reject them first)")
    parts = [_escaped(pl.col(id_column).cast(pl.String))]
    for name in names:
        value = pl.col(name).cast(pl.String)
        carried = value != ""  # null for a null cell, which ``when`` takes as false
        # Flat, not one concat_str per attribute: nesting made polars ~2x slower.
        parts += [
            pl.when(carried).then(pl.lit(SEPARATOR + _escape(name) + SEPARATOR)),
            pl.when(carried).then(_escaped(value)),
        ]
    text = frame.select(pl.concat_str(parts, ignore_nulls=True).alias("fp")).to_series()
    return _xxh3(text)


def partition_of(keys: Hashes, partitions: int = DEFAULT_PARTITIONS) -> npt.NDArray[np.int64]:
    """The state partition of each key: its top ``log2(partitions)`` bits. The top bits, so
    that the refresh slot (``key % refresh_after``, the low bits) spreads evenly within every
    partition."""
    bits = check_partitions(partitions)
    if bits == 0:  # a shift by 64 is undefined: one partition holds every key
        return np.zeros(len(keys), dtype=np.int64)
    return (keys >> np.uint64(64 - bits)).astype(np.int64)


def shard_of(keys: Hashes, count: int) -> npt.NDArray[np.int64]:
    """The shard (0 to ``count - 1``) of each key: ``((key >> 16) & 0xFFFFFFFF) * count >> 32``
    (see the module docstring)."""
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"shard count must be 1 to {MAX_SHARDS}, not {count}")
    middle = (keys >> np.uint64(16)) & np.uint64(0xFFFF_FFFF)
    # below 2**32 times a count of at most 2**16: the product fits in 64 bits
    return ((middle * np.uint64(count)) >> np.uint64(32)).astype(np.int64)


def partition_label(partition: int, partitions: int) -> str:
    """A partition's number as file names spell it: as wide as the largest one, at least 2
    digits (``part-07.parquet``), so the names sort in partition order."""
    return f"{partition:0{max(2, len(str(partitions - 1)))}d}"


def check_partitions(partitions: int) -> int:
    """``log2(partitions)``; ``ValueError`` unless ``partitions`` is a power of two."""
    bits = partitions.bit_length() - 1
    if partitions < 1 or partitions != 1 << bits:
        raise ValueError(f"partitions must be a power of two, not {partitions}")
    return bits


def _escaped(text: pl.Expr) -> pl.Expr:
    return text.str.replace_all("\x00", ESCAPED_NUL, literal=True)


def _escape(text: str) -> str:
    return text.replace("\x00", ESCAPED_NUL)


def _xxh3(text: pl.Series) -> Hashes:
    """XXH3-64 of each string's UTF-8 bytes. One C call a row through ``map``: the only
    per-row Python left (polars has no stable hash of its own)."""
    blobs = text.cast(pl.Binary).to_list()
    return np.fromiter(map(xxhash.xxh3_64_intdigest, blobs), dtype=np.uint64, count=len(blobs))
