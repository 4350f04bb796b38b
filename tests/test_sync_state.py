"""The sync state directory: generations switched by one manifest rename, a crash before the
switch leaves the old state, a newer or damaged state is refused in one line, one sync at a
time."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pytest

from uploader.errors import LedgerError
from uploader.sync._keys import DEFAULT_PARTITIONS, id_keys, partition_of
from uploader.sync._state import (
    MANIFEST_NAME,
    STATE_COLUMNS,
    STATE_LOCK_NAME,
    STATE_SCHEMA,
    StateStore,
    lock_state,
)

SETTINGS = {"columns": ["id", "a"], "encode": "strict", "client_code": "demo"}


def state_rows(ids: list[str], *, sent: int = 1_000) -> pl.DataFrame:
    keys = id_keys(pl.Series(ids))
    return pl.DataFrame(
        {"key": keys, "id": ids, "fp": keys ^ np.uint64(1), "sent": [sent] * len(ids)},
        schema=dict(STATE_COLUMNS),
    )


def write_state(directory: Path, rows: pl.DataFrame, *, partitions: int = 4) -> StateStore:
    """Commit ``rows`` as the next generation of the state in ``directory``."""
    store = StateStore.open(directory, partitions=partitions)
    writer = store.writer()
    split_by = partition_of(rows.get_column("key").to_numpy(), store.partitions)
    for partition in range(store.partitions):
        writer.write_partition(partition, rows.filter(pl.Series(split_by == partition)))
    writer.commit(SETTINGS)
    return StateStore.open(directory)


def read_all(store: StateStore) -> pl.DataFrame:
    frames = [store.read_partition(p) for p in range(store.partitions)]
    return pl.concat(frames).sort("id")


def test_a_missing_directory_is_the_empty_state(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "nothing")
    assert (store.generation, store.partitions, dict(store.settings)) == (0, DEFAULT_PARTITIONS, {})
    empty = store.read_partition(3)
    assert empty.height == 0 and dict(empty.schema) == dict(STATE_COLUMNS)
    assert not (tmp_path / "nothing").exists()  # reading creates nothing


def test_commits_switch_generations_and_remove_the_old(tmp_path: Path) -> None:
    ids = [f"id-{n}" for n in range(200)]
    first = write_state(tmp_path, state_rows(ids))
    assert (first.generation, first.partitions, dict(first.settings)) == (1, 4, SETTINGS)
    assert first.manifest.created == first.manifest.committed is not None
    assert read_all(first).equals(state_rows(ids).sort("id"))

    second = write_state(tmp_path, state_rows(ids[:50], sent=2_000))
    assert second.generation == 2 and second.manifest.created == first.manifest.created
    assert read_all(second).equals(state_rows(ids[:50], sent=2_000).sort("id"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen-2", MANIFEST_NAME]
    assert sorted(p.name for p in (tmp_path / "gen-2").iterdir()) == [
        f"part-0{p}.parquet" for p in range(4)
    ]
    manifest = orjson.loads((tmp_path / MANIFEST_NAME).read_bytes())
    assert manifest["schema"] == STATE_SCHEMA and manifest["generation"] == 2


def test_a_writer_never_committed_leaves_the_old_state(tmp_path: Path) -> None:
    ids = [f"id-{n}" for n in range(100)]
    write_state(tmp_path, state_rows(ids))
    crashed = StateStore.open(tmp_path).writer()
    for partition in range(4):  # every partition written, then the process dies
        crashed.write_partition(partition, state_rows([]))
    reopened = StateStore.open(tmp_path)
    assert reopened.generation == 1
    assert read_all(reopened).equals(state_rows(ids).sort("id"))
    # the next writer clears the leftovers and commits cleanly
    again = write_state(tmp_path, state_rows(ids[:10]))
    assert again.generation == 2 and read_all(again).height == 10


def test_a_commit_needs_every_partition_of_the_right_keys(tmp_path: Path) -> None:
    writer = StateStore.open(tmp_path, partitions=2).writer()
    rows = state_rows([f"id-{n}" for n in range(20)])
    with pytest.raises(ValueError, match="another partition"):
        writer.write_partition(0, rows)
    with pytest.raises(ValueError, match="a state partition holds"):
        writer.write_partition(0, rows.drop("sent"))
    with pytest.raises(ValueError, match=r"partitions \[0, 1\] not written"):
        writer.commit(SETTINGS)
    assert StateStore.open(tmp_path).generation == 0


def test_a_newer_state_is_refused(tmp_path: Path) -> None:
    write_state(tmp_path, state_rows(["a"]))
    manifest = orjson.loads((tmp_path / MANIFEST_NAME).read_bytes())
    manifest["schema"] = STATE_SCHEMA + 1
    (tmp_path / MANIFEST_NAME).write_bytes(orjson.dumps(manifest))
    with pytest.raises(LedgerError, match=r"newer uploader .*upgrade") as caught:
        StateStore.open(tmp_path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "damage",
    [
        b"{not json",
        b"[]",
        b'{"schema": 1}',
        b'{"schema": 1, "generation": 0, "partitions": 4, "settings": {}, '
        b'"created": null, "committed": null}',
        b'{"schema": 1, "generation": 1, "partitions": 3, "settings": {}, '
        b'"created": null, "committed": null}',
    ],
)
def test_a_damaged_manifest_is_one_line(tmp_path: Path, damage: bytes) -> None:
    (tmp_path / MANIFEST_NAME).write_bytes(damage)
    with pytest.raises(LedgerError, match="is not a state manifest") as caught:
        StateStore.open(tmp_path)
    assert "\n" not in str(caught.value)


def test_a_damaged_partition_is_one_line(tmp_path: Path) -> None:
    store = write_state(tmp_path, state_rows(["a", "b"]))
    (tmp_path / "gen-1" / "part-01.parquet").write_bytes(b"garbage")
    with pytest.raises(LedgerError, match=r"cannot read .*part-01\.parquet") as caught:
        store.read_partition(1)
    assert "\n" not in str(caught.value)
    (tmp_path / "gen-1" / "part-02.parquet").unlink()
    with pytest.raises(LedgerError, match=r"part-02\.parquet"):
        store.read_partition(2)


def test_one_sync_at_a_time(tmp_path: Path) -> None:
    with lock_state(tmp_path), lock_state(tmp_path):  # re-entrant within a process
        assert str(os.getpid()) in (tmp_path / STATE_LOCK_NAME).read_text()
    # another process's hold: flock on its own open file
    fd = os.open(tmp_path / STATE_LOCK_NAME, os.O_RDWR)
    os.write(fd, b"pid 4242, started then\n")
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        busy = pytest.raises(LedgerError, match=r"another sync \(pid 4242, started then\)")
        with busy, lock_state(tmp_path):
            pass
    finally:
        os.close(fd)
    with lock_state(tmp_path):  # free again once the holder is gone
        pass
