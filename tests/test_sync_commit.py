"""The end of a sync: which rows of a ledger landed at Target (acknowledged, split into parts,
by their batch status, less the rows Target lists as failed), and the commit of the next state
from them (landed rows take tonight's values, others keep theirs, all or nothing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from uploader.errors import LedgerError
from uploader.ledger._ledger import Ledger, LedgerState, read_ledger
from uploader.ledger._records import (
    BatchRecord,
    InputFingerprint,
    LedgerRecord,
    Outcome,
    Part,
    RunRecord,
    StatusRecord,
)
from uploader.send._bisect import CHILD_SEQ_BASE
from uploader.sync import BatchKeys, Landed, StateStore, commit_state, landed_keys
from uploader.sync._keys import Hashes, id_keys, partition_of
from uploader.sync._state import STATE_COLUMNS
from uploader.sync._workdir import MISSING_COLUMNS, TODAY_COLUMNS, missing_path, today_path

SETTINGS = {"columns": ["id", "a"], "encode": "strict", "client_code": "demo"}
PARTITIONS = 4
CHILD = CHILD_SEQ_BASE


def keys_of(ids: list[str]) -> Hashes:
    return id_keys(pl.Series(ids, dtype=pl.String))


def batch(
    seq: int, rows: int, outcome: Outcome, *, parts: tuple[Part, ...] | None = None
) -> BatchRecord:
    acknowledged = outcome == "acknowledged"
    return BatchRecord(
        seq=seq,
        content_hash=f"h{seq}",
        rows=rows,
        outcome=outcome,
        attempts=0 if outcome in ("pending", "split") else 1,
        batch_id=f"target-{seq}" if acknowledged else None,
        parts=parts,
    )


def status(
    seq: int,
    value: str,
    *,
    failed_ids: tuple[str, ...] = (),
    not_found_ids: tuple[str, ...] = (),
    failed_ids_complete: bool = True,
) -> StatusRecord:
    return StatusRecord(
        seq=seq,
        batch_id=f"target-{seq}",
        status=value,
        failed_ids=failed_ids,
        not_found_ids=not_found_ids,
        failed_ids_complete=failed_ids_complete,
    )


def ledger_state(tmp_path: Path, *records: LedgerRecord) -> LedgerState:
    """The state of a real ledger file holding a run record and ``records``."""
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.write(RunRecord(fingerprint=InputFingerprint()))
    for record in records:
        ledger.write(record)
    ledger.close()
    return read_ledger(path)


def recorded(tmp_path: Path, batches: dict[int, list[str]]) -> BatchKeys:
    batch_keys = BatchKeys(tmp_path / "work")
    batch_keys.work_dir.mkdir(exist_ok=True)
    for seq, ids in batches.items():
        batch_keys.record(seq, keys_of(ids))
    return batch_keys


def landed_ids(landed: Landed, ids: list[str]) -> list[str]:
    return [i for i, key in zip(ids, keys_of(ids), strict=True) if key in set(landed.keys)]


def counts(landed: Landed) -> tuple[int, int, int, int]:
    return landed.confirmed, landed.unconfirmed, landed.not_landed, landed.failed_rows


# -- BatchKeys -------------------------------------------------------------------------------


def test_batch_keys_round_trip_and_a_rerun_writes_the_same_file(tmp_path: Path) -> None:
    batch_keys = recorded(tmp_path, {0: ["a", "b"], 7: ["c"]})
    np.testing.assert_array_equal(batch_keys.keys(0), keys_of(["a", "b"]))
    first = (batch_keys.work_dir / "keys-0.npy").read_bytes()
    batch_keys.record(0, keys_of(["a", "b"]))  # --resume makes the batch again
    assert (batch_keys.work_dir / "keys-0.npy").read_bytes() == first
    assert sorted(p.name for p in batch_keys.work_dir.iterdir()) == ["keys-0.npy", "keys-7.npy"]


def test_batch_keys_missing_or_not_top_level(tmp_path: Path) -> None:
    batch_keys = recorded(tmp_path, {})
    with pytest.raises(LedgerError, match=r"no keys of batch 3 \(keys-3.npy\)"):
        batch_keys.keys(3)
    with pytest.raises(ValueError, match="not a top-level batch"):
        batch_keys.record(CHILD, keys_of(["a"]))
    with pytest.raises(ValueError, match="one u64 per row"):
        batch_keys.record(1, np.array([1, 2], dtype=np.int64))


# -- landed_keys -----------------------------------------------------------------------------


def test_acknowledged_and_complete_lands_the_rest_does_not(tmp_path: Path) -> None:
    ids = {0: ["a", "b"], 1: ["c"], 2: ["d"], 3: ["e", "f"], 4: ["g"]}
    state = ledger_state(
        tmp_path,
        batch(0, 2, "acknowledged"),
        batch(1, 1, "failed"),
        batch(2, 1, "pending"),
        batch(3, 2, "rejected"),
        batch(4, 1, "acknowledged"),  # acknowledged, no status by the end of the wait
        status(0, "complete"),
    )
    landed = landed_keys(state, recorded(tmp_path, ids))
    assert landed_ids(landed, [i for batch_ids in ids.values() for i in batch_ids]) == ["a", "b"]
    assert counts(landed) == (2, 0, 5, 0) and landed.rows == 7
    assert landed.keys.dtype == np.uint64 and bool(np.all(landed.keys[1:] > landed.keys[:-1]))


@pytest.mark.parametrize(
    ("value", "expected", "verdict"),
    [
        ("complete", ["a", "b"], (2, 0, 0, 0)),
        ("unknown", ["a", "b"], (0, 2, 0, 0)),  # Target forgot it: landed, unconfirmed
        ("stuck", [], (0, 0, 2, 0)),
        ("incomplete", [], (0, 0, 2, 0)),
        ("queued", [], (0, 0, 2, 0)),  # a value this client does not know: not final
    ],
)
def test_the_status_decides(
    tmp_path: Path, value: str, expected: list[str], verdict: tuple[int, ...]
) -> None:
    state = ledger_state(tmp_path, batch(0, 2, "acknowledged"), status(0, value))
    landed = landed_keys(state, recorded(tmp_path, {0: ["a", "b"]}))
    assert landed_ids(landed, ["a", "b"]) == expected and counts(landed) == verdict


def test_rows_target_lists_as_failed_or_not_found_did_not_land(tmp_path: Path) -> None:
    ids = ["a", "b", "c", "d"]
    state = ledger_state(
        tmp_path,
        batch(0, 4, "acknowledged"),
        status(0, "complete", failed_ids=("b",), not_found_ids=("d",)),
    )
    landed = landed_keys(state, recorded(tmp_path, {0: ids}))
    assert landed_ids(landed, ids) == ["a", "c"] and counts(landed) == (2, 0, 0, 2)


def test_a_cut_list_of_failed_rows_lands_nothing_of_its_batch(tmp_path: Path) -> None:
    state = ledger_state(
        tmp_path,
        batch(0, 3, "acknowledged"),
        status(0, "complete", failed_ids=("a",), failed_ids_complete=False),
    )
    landed = landed_keys(state, recorded(tmp_path, {0: ["a", "b", "c"]}))
    assert landed_ids(landed, ["a", "b", "c"]) == [] and counts(landed) == (0, 0, 3, 0)


def test_a_status_of_an_earlier_send_does_not_count(tmp_path: Path) -> None:
    """--resume sent the batch again under a new Target id: the old complete is moot."""
    state = ledger_state(
        tmp_path,
        batch(0, 1, "acknowledged"),
        status(0, "complete"),
        BatchRecord(seq=0, content_hash="h0", rows=1, outcome="acknowledged", batch_id="new"),
    )
    landed = landed_keys(state, recorded(tmp_path, {0: ["a"]}))
    assert counts(landed) == (0, 0, 1, 0)


def test_a_split_batch_lands_its_acknowledged_parts(tmp_path: Path) -> None:
    """Batch 0 (5 rows) split in [0,3) and [3,5); the second split again into a refused
    single row (line 3 of batch 0) and an acknowledged one (line 4)."""
    ids = ["a", "b", "c", "poison", "e"]
    state = ledger_state(
        tmp_path,
        batch(0, 5, "split", parts=(Part(CHILD, 0, 3), Part(CHILD + 1, 3, 5))),
        batch(CHILD, 3, "acknowledged"),
        batch(CHILD + 1, 2, "split", parts=(Part(CHILD + 2, 0, 1), Part(CHILD + 3, 1, 2))),
        batch(CHILD + 2, 1, "rejected"),
        batch(CHILD + 3, 1, "acknowledged"),
        status(CHILD, "complete", failed_ids=("b",)),
        status(CHILD + 3, "unknown"),
    )
    landed = landed_keys(state, recorded(tmp_path, {0: ids}))
    assert landed_ids(landed, ids) == ["a", "c", "e"]
    assert counts(landed) == (2, 1, 1, 1)


def test_a_key_lands_only_if_every_row_of_it_did(tmp_path: Path) -> None:
    """--duplicates off: one id in two batches, one of them stuck; which value Target kept
    is not known, so the key is sent again."""
    state = ledger_state(
        tmp_path,
        batch(0, 2, "acknowledged"),
        batch(1, 1, "acknowledged"),
        status(0, "complete"),
        status(1, "stuck"),
    )
    landed = landed_keys(state, recorded(tmp_path, {0: ["a", "b"], 1: ["a"]}))
    assert landed_ids(landed, ["a", "b"]) == ["b"] and counts(landed) == (2, 0, 1, 0)


def test_keys_that_do_not_match_the_ledger_are_refused(tmp_path: Path) -> None:
    state = ledger_state(tmp_path, batch(0, 2, "acknowledged"), batch(1, 1, "failed"))
    with pytest.raises(LedgerError, match="batch 1"):
        landed_keys(state, recorded(tmp_path, {0: ["a", "b"]}))
    with pytest.raises(LedgerError, match="batch 0 has 3 keys recorded but 2 rows"):
        landed_keys(state, recorded(tmp_path, {0: ["a", "b", "c"], 1: ["d"]}))


# -- commit_state ----------------------------------------------------------------------------


def rows(ids: list[str], fp: int, sent: int) -> pl.DataFrame:
    keys = keys_of(ids)
    return pl.DataFrame(
        {"key": keys, "id": ids, "fp": [fp] * len(ids), "sent": [sent] * len(ids)},
        schema=dict(STATE_COLUMNS),
    )


def by_partition(frame: pl.DataFrame) -> dict[int, pl.DataFrame]:
    split_by = partition_of(frame.get_column("key").to_numpy(), PARTITIONS)
    return {p: frame.filter(pl.Series(split_by == p)) for p in range(PARTITIONS)}


def old_state(directory: Path, frame: pl.DataFrame) -> StateStore:
    writer = StateStore.open(directory, partitions=PARTITIONS).writer()
    for partition, part in by_partition(frame).items():
        writer.write_partition(partition, part)
    writer.commit(SETTINGS)
    return StateStore.open(directory)


def write_work(work: Path, today: pl.DataFrame, missing: list[str]) -> None:
    """The plan's files: tonight's rows and the missing ids, by partition (an empty
    partition's files are left out, as a plan may)."""
    work.mkdir(exist_ok=True)
    for partition, part in by_partition(today).items():
        if part.height:
            part.select(list(TODAY_COLUMNS)).write_parquet(today_path(work, partition, PARTITIONS))
    gone = pl.DataFrame({"key": keys_of(missing), "id": missing}, schema=dict(MISSING_COLUMNS))
    for partition, part in by_partition(gone).items():
        part.write_parquet(missing_path(work, partition, PARTITIONS))


def read_all(directory: Path) -> pl.DataFrame:
    store = StateStore.open(directory)
    return pl.concat([store.read_partition(p) for p in range(store.partitions)]).sort("id")


OLD = ["kept", "changed", "stuck", "gone"]  # in the state since night 1
TODAY = ["kept", "changed", "stuck", "new", "new-failed"]  # tonight; "gone" is missing
LANDED = keys_of(["changed", "new"])


def night_two(tmp_path: Path) -> tuple[StateStore, Path]:
    store = old_state(tmp_path / "state", rows(OLD, fp=1, sent=100))
    write_work(tmp_path / "work", rows(TODAY, fp=2, sent=0), missing=["gone"])
    return store, tmp_path / "work"


def test_landed_rows_take_tonights_values_the_rest_keep_theirs(tmp_path: Path) -> None:
    store, work = night_two(tmp_path)
    result = commit_state(
        store, work, LANDED, now=200, forget_missing=False, settings={**SETTINGS, "n": 2}
    )
    assert (result.generation, result.updated, result.added, result.kept, result.dropped) == (
        2,
        1,
        1,
        3,
        0,
    )
    expected = pl.concat(
        [rows(["kept", "stuck", "gone"], fp=1, sent=100), rows(["changed", "new"], fp=2, sent=200)]
    ).sort("id")
    assert read_all(tmp_path / "state").equals(expected)
    assert dict(StateStore.open(tmp_path / "state").settings) == {**SETTINGS, "n": 2}


def test_missing_ids_are_dropped_only_when_asked(tmp_path: Path) -> None:
    store, work = night_two(tmp_path)
    result = commit_state(store, work, LANDED, now=200, forget_missing=True, settings=SETTINGS)
    assert (result.kept, result.dropped) == (2, 1)
    assert read_all(tmp_path / "state").get_column("id").to_list() == [
        "changed",
        "kept",
        "new",
        "stuck",
    ]


def test_a_first_sync_adds_only_the_rows_that_landed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_work(work, rows(TODAY, fp=2, sent=0), missing=[])
    store = StateStore.open(tmp_path / "state", partitions=PARTITIONS)
    result = commit_state(store, work, LANDED, now=200, forget_missing=True, settings=SETTINGS)
    assert (result.generation, result.updated, result.added, result.kept) == (1, 0, 2, 0)
    assert read_all(tmp_path / "state").equals(rows(["changed", "new"], fp=2, sent=200))


def test_a_crash_before_the_switch_leaves_the_old_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, work = night_two(tmp_path)
    before = read_all(tmp_path / "state")

    def crash(*_: object) -> None:
        raise KeyboardInterrupt  # killed after writing every partition, before the switch

    monkeypatch.setattr("uploader.sync._state.StateWriter.commit", crash)
    with pytest.raises(KeyboardInterrupt):
        commit_state(store, work, LANDED, now=200, forget_missing=True, settings=SETTINGS)
    monkeypatch.undo()
    reopened = StateStore.open(tmp_path / "state")
    assert reopened.generation == 1 and read_all(tmp_path / "state").equals(before)
    # the rerun commits what the interrupted one would have
    commit_state(reopened, work, LANDED, now=200, forget_missing=True, settings=SETTINGS)
    assert StateStore.open(tmp_path / "state").generation == 2


def test_committing_twice_gives_the_same_state(tmp_path: Path) -> None:
    store, work = night_two(tmp_path)
    commit_state(store, work, LANDED, now=200, forget_missing=True, settings=SETTINGS)
    once = read_all(tmp_path / "state")
    again = commit_state(
        StateStore.open(tmp_path / "state"),
        work,
        LANDED,
        now=200,
        forget_missing=True,
        settings=SETTINGS,
    )
    assert again.generation == 3 and (again.added, again.dropped) == (0, 0)
    assert read_all(tmp_path / "state").equals(once)


def test_a_damaged_work_file_is_one_line(tmp_path: Path) -> None:
    store, work = night_two(tmp_path)
    for path in work.glob("today-*.parquet"):
        pl.DataFrame({"key": [1]}).write_parquet(path)
    with pytest.raises(LedgerError, match=r"today-0\d.parquet"):
        commit_state(store, work, LANDED, now=200, forget_missing=False, settings=SETTINGS)
    assert StateStore.open(tmp_path / "state").generation == 1
