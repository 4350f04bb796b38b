"""Sync keys and fingerprints: stable across library versions (golden values written out),
unambiguous, and blind to what does not change what Target stores."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import xxhash

from uploader.sync._keys import id_keys, partition_of, row_fingerprints, shard_of

IDS = ["a1", "", "é-42", "cust-000000001"]


def fingerprints(rows: dict[str, list[str | None]], attributes: list[str]) -> list[int]:
    return [int(h) for h in row_fingerprints(pl.DataFrame(rows), "id", attributes)]


def test_id_keys_are_pinned() -> None:
    # Changing these orphans every state ever written: never update them to make a test pass.
    assert id_keys(pl.Series(IDS)).tolist() == [
        13329955623826921276,
        3244421341483603138,
        11299925178266740335,
        15938850564210460090,
    ]
    assert id_keys(pl.Series(IDS)).dtype == np.uint64


def test_an_id_key_is_xxh3_of_the_raw_utf8() -> None:
    assert id_keys(pl.Series(["é-42"]))[0] == xxhash.xxh3_64_intdigest("é-42".encode())


def test_fingerprints_are_pinned() -> None:
    rows: dict[str, list[str | None]] = {
        "id": ["a1", "a1", "b2", "c\x003"],
        "name": ["Ann", None, "", "x\x00y"],
        "city": ["Köln", "Köln", None, ""],
    }
    assert fingerprints(rows, ["name", "city"]) == [
        13413516921754019399,
        11536070426612043546,
        9797937872833393340,
        163826591726377561,
    ]


def test_a_fingerprint_is_xxh3_of_the_documented_bytes() -> None:
    # id, then name / value of each carried attribute in name order, joined by NUL NUL; a NUL
    # inside a string is NUL 0x01.
    expected = b"a\x00\x011\x00\x00city\x00\x00K\xc3\xb6ln\x00\x00name\x00\x00Ann"
    rows: dict[str, list[str | None]] = {"id": ["a\x001"], "name": ["Ann"], "city": ["Köln"]}
    assert fingerprints(rows, ["name", "city"]) == [xxhash.xxh3_64_intdigest(expected)]


def test_values_are_separated_unambiguously() -> None:
    split = {"id": ["1", "1"], "a": ["ab", "a"], "b": ["c", "bc"]}
    first, second = fingerprints(split, ["a", "b"])
    assert first != second
    # a value cannot pass for a name and another value
    forged = {"id": ["1", "1"], "a": ["x\x00\x00b\x00\x00y", "x"], "b": [None, "y"]}
    first, second = fingerprints(forged, ["a", "b"])
    assert first != second


def test_null_and_empty_are_the_same_and_add_nothing() -> None:
    rows: dict[str, list[str | None]] = {"id": ["1", "1", "1"], "a": ["v", "v", "v"]}
    rows["b"] = [None, "", None]
    with_empty = fingerprints(rows, ["a", "b"])
    without = fingerprints({"id": ["1"], "a": ["v"]}, ["a"])
    assert with_empty == without * 3


def test_column_order_does_not_matter_names_and_ids_do() -> None:
    rows = {"id": ["1"], "a": ["x"], "b": ["y"]}
    assert fingerprints(rows, ["a", "b"]) == fingerprints(rows, ["b", "a"])
    renamed = {"id": ["1"], "a": ["x"], "c": ["y"]}
    assert fingerprints(rows, ["a", "b"]) != fingerprints(renamed, ["a", "c"])
    other_id = {"id": ["2"], "a": ["x"], "b": ["y"]}
    assert fingerprints(rows, ["a", "b"]) != fingerprints(other_id, ["a", "b"])


def test_non_text_columns_hash_as_their_text() -> None:
    numbers = pl.DataFrame({"id": [7], "n": [42]})
    text = pl.DataFrame({"id": ["7"], "n": ["42"]})
    assert row_fingerprints(numbers, "id", ["n"]) == row_fingerprints(text, "id", ["n"])


@pytest.mark.parametrize(
    ("attributes", "message"),
    [(["a", "a"], "repeated"), (["id"], "repeated"), (["zz"], "no column 'zz'")],
)
def test_bad_attribute_lists_are_refused(attributes: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        row_fingerprints(pl.DataFrame({"id": ["1"], "a": ["x"]}), "id", attributes)


def test_null_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="null ids"):
        id_keys(pl.Series([None, "a"], dtype=pl.String))
    with pytest.raises(ValueError, match="null ids"):
        row_fingerprints(pl.DataFrame({"id": [None, "a"], "a": ["x", "y"]}), "id", ["a"])


def test_partitions_are_the_top_bits() -> None:
    keys = np.array([0, 2**60 - 1, 2**60, 2**64 - 1], dtype=np.uint64)
    assert partition_of(keys, 16).tolist() == [0, 0, 1, 15]
    assert partition_of(keys).tolist() == [0, 3, 4, 63]  # the default: 64
    assert partition_of(keys, 1).tolist() == [0, 0, 0, 0]
    assert partition_of(keys, 2).tolist() == [0, 0, 0, 1]
    assert partition_of(id_keys(pl.Series(IDS)), 16).tolist() == [11, 2, 9, 13]
    with pytest.raises(ValueError, match="power of two"):
        partition_of(keys, 12)


SHARD_IDS = [f"cust-{i:09d}" for i in range(8)]


def test_shards_are_pinned() -> None:
    # Changing these re-shards every sharded state: never update them to make a test pass.
    keys = id_keys(pl.Series(SHARD_IDS))
    assert shard_of(keys, 3).tolist() == [0, 0, 0, 0, 0, 2, 2, 2]
    assert shard_of(keys, 4).tolist() == [0, 0, 0, 1, 1, 3, 3, 2]
    assert shard_of(keys, 1).tolist() == [0] * 8


def test_a_shard_is_the_middle_bits_multiplied_and_shifted() -> None:
    keys = np.array([0, 0xFFFF_FFFF_FFFF_FFFF, 0x0000_8000_0000_0000], dtype=np.uint64)
    # bits 16..47: 0, all ones, and exactly one half
    assert shard_of(keys, 3).tolist() == [0, 2, 1]
    assert shard_of(keys, 2).tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="shard count"):
        shard_of(keys, 0)


@pytest.mark.parametrize("refresh_after", [14, 30])
def test_each_shard_holds_its_share_of_every_refresh_slot_and_partition(
    refresh_after: int,
) -> None:
    # A shard must not follow the refresh slot (else one shard would hold every row due
    # tonight) nor the state partition: every (shard, slot) and (shard, partition) cell holds
    # about 1/N of its slot or partition.
    count = 3
    keys = id_keys(pl.Series([f"id-{i}" for i in range(300_000)]))
    shards = shard_of(keys, count)
    for groups in (keys % np.uint64(refresh_after), partition_of(keys)):
        for group in np.unique(groups):
            in_group = shards[groups == group]
            shares = np.bincount(in_group, minlength=count) / len(in_group)
            assert np.all(np.abs(shares - 1 / count) < 0.04), (group, shares)
