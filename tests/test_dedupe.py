"""duplicated_hashes: exact across chunk boundaries, and it consumes its input list."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from uploader.produce._dedupe import duplicated_hashes

chunks_of_u64 = st.lists(
    st.lists(st.integers(0, 20) | st.integers(2**63, 2**64 - 1), max_size=30), max_size=8
)


@given(chunks_of_u64)
def test_duplicated_hashes_are_exactly_the_repeated_values(chunks: list[list[int]]) -> None:
    arrays = [np.array(chunk, dtype=np.uint64) for chunk in chunks]
    counts = Counter(value for chunk in chunks for value in chunk)
    found = duplicated_hashes(arrays)
    assert found.to_list() == sorted(value for value, count in counts.items() if count > 1)
    assert arrays == []  # consumed: each chunk is released once copied


def test_no_chunks_no_duplicates() -> None:
    assert duplicated_hashes([]).len() == 0
