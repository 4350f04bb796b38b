"""The batcher on its own: limits, exact byte counts, determinism, no empty batch."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.errors import ConfigError
from uploader.produce._batcher import Batcher, BatchLimits
from uploader.produce._model import Batch
from uploader.produce._source import ROW_COL, SRC_COL

HEADER = b"thirdPartyId,a"


def frame_of(lines: list[str], first_row: int = 1) -> pl.DataFrame:
    ids = [line.split(",", 1)[0] for line in lines]
    values = [line.split(",", 1)[1] for line in lines]
    return pl.DataFrame(
        {
            SRC_COL: pl.Series([0] * len(lines), dtype=pl.UInt32),
            ROW_COL: pl.Series(range(first_row, first_row + len(lines)), dtype=pl.UInt32),
            "thirdPartyId": ids,
            "a": values,
        }
    )


def run(lines: list[str], limits: BatchLimits, chunk: int) -> list[Batch]:
    batcher = Batcher(HEADER, limits)
    out: list[Batch] = []
    for start in range(0, len(lines), chunk):
        part = lines[start : start + chunk]
        out += batcher.feed(frame_of(part, start + 1), np.array([len(x.encode()) for x in part]))
    last = batcher.flush()
    return out + ([last] if last else [])


line_text = st.text(alphabet="abcxyz%0123456789é", min_size=0, max_size=30).map(lambda v: f"id,{v}")


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(line_text, min_size=1, max_size=60),
    max_rows=st.integers(1, 20),
    extra_bytes=st.integers(0, 120),
    chunks=st.lists(st.integers(1, 25), min_size=2, max_size=2),
)
def test_batches_rejoin_to_the_input_within_limits_whatever_the_chunking(
    lines: list[str], max_rows: int, extra_bytes: int, chunks: list[int]
) -> None:
    longest = max(len(x.encode()) for x in lines)
    limits = BatchLimits(
        rows=max_rows, bytes=len(b"batch=") + len(HEADER) + 2 + longest + extra_bytes
    )
    first, second = (run(lines, limits, c) for c in chunks)
    assert [b.body for b in first] == [b.body for b in second]  # boundaries ignore chunking
    assert [b.content_hash for b in first] == [b.content_hash for b in second]
    rejoined: list[str] = []
    for seq, batch in enumerate(first, start=1):
        assert batch.seq == seq
        assert 0 < batch.rows <= max_rows
        assert batch.nbytes <= limits.bytes
        head, *rows = batch.body.decode().split("\n")
        assert head == "batch=" + HEADER.decode()
        assert rows[-1] == ""  # each line ends with a newline
        assert len(rows) - 1 == batch.rows
        rejoined += rows[:-1]
    assert rejoined == lines


def test_batch_is_cut_exactly_at_the_byte_limit() -> None:
    lines = ["id,aaaa"] * 10  # 7 bytes + newline = 8 per row
    head = len(b"batch=") + len(HEADER) + 1
    batches = run(lines, BatchLimits(bytes=head + 8 * 3), chunk=4)
    assert [b.rows for b in batches] == [3, 3, 3, 1]
    assert batches[0].nbytes == head + 24
    assert (batches[0].first.row, batches[0].last.row) == (1, 3)
    assert (batches[3].first.row, batches[3].last.row) == (10, 10)


def test_row_limit_closes_a_batch_even_when_bytes_remain() -> None:
    assert [b.rows for b in run(["id,a"] * 5, BatchLimits(rows=2), chunk=5)] == [2, 2, 1]


def test_limits_are_validated() -> None:
    """The library names its parameters (the CLI says --batch-rows: test_error_settings)."""
    with pytest.raises(ConfigError, match=r"^batch_rows must be between 1 and 500,000$"):
        BatchLimits(rows=500_001)
    with pytest.raises(ConfigError, match=r"^batch_bytes"):
        BatchLimits(bytes=50_000_000)
    with pytest.raises(ConfigError, match="no room"):
        Batcher(HEADER, BatchLimits(bytes=len(HEADER)))


def test_repr_never_contains_the_body() -> None:
    (batch,) = run(["id,secretvalue"], BatchLimits(), chunk=1)
    assert "secretvalue" not in repr(batch)
