"""Pass 1 and 2 of a sync: the plan over the producer's own final rows (first load, nothing
changed, each reason, duplicates folded, rejects never selected, missing ids), the producer
sending only the selected keys with its accounting, keys carried by batches and their parts,
and the settings a state was built with."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote_plus

import numpy as np
import polars as pl
import pytest

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.errors import ConfigError
from uploader.ledger._ledger import read_ledger
from uploader.ledger._records import SummaryRecord
from uploader.ledger._summary import RunSummary
from uploader.mock import MockConfig, MockTarget
from uploader.produce._batcher import BatchLimits
from uploader.produce._model import Batch
from uploader.produce._producer import InputSpec, Producer
from uploader.send._bisect import part, split
from uploader.send._engine import UploadConfig, upload
from uploader.sync._keys import id_keys, partition_of
from uploader.sync._plan import SyncPlan, check_state_settings, plan_sync, sync_settings
from uploader.sync._select import DAY_SECONDS
from uploader.sync._state import StateStore

R = 13
DAY = 20_000  # a day number: ``now`` is its 03:00 UTC
NOW = DAY * DAY_SECONDS + 3 * 3600
PARTITIONS = 4


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["thirdPartyId,a,b", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def spec_of(path: Path, **options: object) -> InputSpec:
    return InputSpec(sources=(path,), **options)  # type: ignore[arg-type]


def base_rows(count: int = 40) -> list[tuple[str, str, str]]:
    return [(f"id-{n}", f"v{n}", "x y") for n in range(count)]


def plan(
    spec: InputSpec, state: Path, work: Path, *, now: int = NOW, full: bool = False
) -> SyncPlan:
    store = StateStore.open(state, partitions=PARTITIONS)
    return plan_sync(spec, store, now=now, refresh_after_days=R, full=full, work_dir=work)


def commit_all(done: SyncPlan, state: Path) -> None:
    """What a commit writes when every planned row landed: today's rows sent at ``now``."""
    store = StateStore.open(state, partitions=PARTITIONS)
    writer = store.writer()
    for partition in range(done.partitions):
        today = pl.read_parquet(done.today_path(partition))
        writer.write_partition(partition, today.with_columns(sent=pl.lit(done.now, pl.Int64)))
    writer.commit({})


def ids_of(keys: np.ndarray | None, ids: list[str]) -> set[str]:
    assert keys is not None
    by_key = dict(zip(id_keys(pl.Series(ids)).tolist(), ids, strict=True))
    return {by_key[key] for key in keys.tolist()}


def no_refresh_due(ids: list[str], day: int) -> list[str]:
    """``ids`` whose refresh slot is not ``day``'s (so "unchanged" stays unchanged)."""
    keys = id_keys(pl.Series(ids))
    return [i for i, key in zip(ids, keys.tolist(), strict=True) if key % R != day % R]


def test_a_first_load_selects_every_row_as_new(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", base_rows())
    done = plan(spec_of(source), tmp_path / "state", tmp_path / "work")
    assert done.selected is None and done.sending == 40 and done.rows == 40
    assert dict(done.counts) == {"new": 40, "changed": 0, "refresh": 0, "unchanged": 0}
    today = pl.concat(pl.read_parquet(done.today_path(p)) for p in range(PARTITIONS))
    assert sorted(today.get_column("id").to_list()) == sorted(f"id-{n}" for n in range(40))
    for p in range(PARTITIONS):  # each key in its own partition's file
        keys = pl.read_parquet(done.today_path(p)).get_column("key").to_numpy()
        assert (partition_of(keys, PARTITIONS) == p).all()
    assert not (tmp_path / "work" / "spill").exists()


def test_after_a_commit_an_unchanged_input_selects_nothing_and_changes_select_their_keys(
    tmp_path: Path,
) -> None:
    state, work = tmp_path / "state", tmp_path / "work"
    ids = no_refresh_due([f"id-{n}" for n in range(60)], DAY + 1)
    due = next(  # a key whose refresh slot comes tomorrow
        f"late-{n}"
        for n in range(1000)
        if int(id_keys(pl.Series([f"late-{n}"]))[0]) % R == (DAY + 1) % R
    )
    rows = [(i, f"value of {i}", "x") for i in [*ids, due]]
    commit_all(plan(spec_of(write_csv(tmp_path / "in.csv", rows)), state, work), state)

    again = plan(spec_of(tmp_path / "in.csv"), state, work, now=NOW + 3600)
    assert again.selected is not None and len(again.selected) == 0 and again.sending == 0
    assert again.counts["unchanged"] == len(rows) and again.missing == 0

    # tomorrow, one value changed, one row new, one key due: exactly those, with their reasons
    changed = [*rows[1:], (rows[0][0], "a new value", "x"), ("brand-new", "v", "")]
    moved = plan(
        spec_of(write_csv(tmp_path / "in.csv", changed)), state, work, now=NOW + DAY_SECONDS
    )
    assert ids_of(moved.selected, [r[0] for r in changed]) == {rows[0][0], "brand-new", due}
    assert (moved.counts["new"], moved.counts["changed"], moved.counts["refresh"]) == (1, 1, 1)
    assert moved.sending == 3 and moved.rows == len(changed)


def test_a_value_changed_by_the_encoding_counts_but_reordered_columns_do_not(
    tmp_path: Path,
) -> None:
    state, work = tmp_path / "state", tmp_path / "work"
    ids = no_refresh_due([f"id-{n}" for n in range(10)], DAY)
    (tmp_path / "in.csv").write_text("thirdPartyId,a,b\n" + "".join(f"{i},1,2\n" for i in ids))
    commit_all(plan(spec_of(tmp_path / "in.csv"), state, work), state)
    (tmp_path / "in.csv").write_text("thirdPartyId,b,a\n" + "".join(f"{i},2,1\n" for i in ids))
    assert plan(spec_of(tmp_path / "in.csv"), state, work).sending == 0


def test_duplicates_are_folded_before_the_fingerprint(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", [("a", "1", ""), ("b", "2", "x"), ("a", "", "3")])
    state, work = tmp_path / "state", tmp_path / "work"
    done = plan(spec_of(source), state, work)
    assert done.rows == 2 and done.counts["new"] == 2
    commit_all(done, state)
    # the same profile in one row: what Target stores is the same, nothing to send
    refolded = write_csv(tmp_path / "in.csv", [("b", "2", "x"), ("a", "1", "3")])
    again = plan(spec_of(refolded), state, work, now=NOW + 60)
    assert again.counts["unchanged"] == 2 and again.sending == 0


def test_rejected_rows_are_never_planned_and_missing_ids_are_listed(tmp_path: Path) -> None:
    state, work = tmp_path / "state", tmp_path / "work"
    commit_all(plan(spec_of(write_csv(tmp_path / "in.csv", base_rows(8))), state, work), state)
    bad = [*base_rows(5), ("", "no id", ""), ("has/slash", "bad id", "")]
    source = write_csv(tmp_path / "in.csv", bad)
    done = plan(spec_of(source), state, work, now=NOW + 60)
    assert done.rows == 5 and done.missing == 3
    listed = pl.concat(pl.read_parquet(done.missing_path(p)) for p in range(PARTITIONS))
    assert sorted(listed.get_column("id").to_list()) == ["id-5", "id-6", "id-7"]
    assert listed.columns == ["key", "id"]


def test_the_producer_sends_only_the_selected_keys_and_accounts_for_the_rest(
    tmp_path: Path,
) -> None:
    rows = [*base_rows(30), ("id-3", "", "later"), ("", "rejected", "")]
    spec = spec_of(write_csv(tmp_path / "in.csv", rows), limits=BatchLimits(rows=4))
    chosen = ["id-3", "id-7", "id-29"]
    producer = Producer(spec, only_keys=np.sort(id_keys(pl.Series(chosen))))
    batches = list(producer)
    sent = [line[0] for batch in batches for line in decode(batch)[1:]]
    assert sorted(sent) == sorted(chosen)
    stats = producer.stats
    assert (stats.rows_read, stats.rows_rejected, stats.rows_merged) == (32, 1, 1)
    assert (stats.rows_unselected, stats.rows_batched) == (27, 3)
    summary = RunSummary(
        rows_read=stats.rows_read,
        rows_acknowledged=stats.rows_batched,
        rows_rejected=stats.rows_rejected,
        rows_merged=stats.rows_merged,
        rows_unselected=stats.rows_unselected,
    )
    assert summary.invariant_holds
    assert all(len(batch.keys) == 0 for batch in batches)  # keys only when asked for


def test_an_empty_selection_sends_nothing(tmp_path: Path) -> None:
    producer = Producer(
        spec_of(write_csv(tmp_path / "in.csv", base_rows(5))), only_keys=np.empty(0, np.uint64)
    )
    assert list(producer) == [] and producer.stats.rows_unselected == 5


def decode(batch: Batch) -> list[list[str]]:
    lines = batch.body.decode().removeprefix("batch=").splitlines()
    return [[unquote_plus(field) for field in line.split(",")] for line in lines]


def body_keys(batch: Batch) -> list[int]:
    return id_keys(pl.Series([line[0] for line in decode(batch)[1:]])).tolist()


def test_batch_keys_follow_the_body_lines_and_bisection_parts(tmp_path: Path) -> None:
    rows = [*base_rows(23), ("id-5", "merged", ""), ("weird id é%", "1", "")]
    spec = spec_of(write_csv(tmp_path / "in.csv", rows), limits=BatchLimits(rows=7))
    producer = Producer(spec, with_keys=True)
    batches = list(producer)
    assert [batch.keys.dtype for batch in batches] == [np.uint64] * len(batches)
    for batch in batches:
        assert batch.keys.tolist() == body_keys(batch)
    whole = batches[0]
    left, right = split(whole, 100)
    middle = part(whole, 2, 5, 102)
    for piece in (left, right, middle):
        assert piece.keys.tolist() == body_keys(piece)
    assert middle.keys.tolist() == whole.keys[2:5].tolist()
    plain = list(Producer(spec))  # the same bodies without keys
    assert [b.body for b in plain] == [b.body for b in batches]
    assert len(part(plain[0], 0, 2, 100).keys) == 0


def test_plan_and_send_agree_on_the_rows(tmp_path: Path) -> None:
    """The keys the plan selects are the keys the send pass batches, row for row."""
    state, work = tmp_path / "state", tmp_path / "work"
    rows = base_rows(50)
    commit_all(plan(spec_of(write_csv(tmp_path / "in.csv", rows)), state, work), state)
    rows[10] = ("id-10", "changed", "x y")
    spec = spec_of(write_csv(tmp_path / "in.csv", rows), limits=BatchLimits(rows=6))
    done = plan(spec, state, work, now=NOW + DAY_SECONDS)
    producer = Producer(spec, only_keys=done.selected, with_keys=True)
    sent = np.sort(np.concatenate([batch.keys for batch in producer]))
    assert done.selected is not None and sent.tolist() == done.selected.tolist()
    assert producer.stats.rows_unselected == 50 - done.sending


def test_state_settings_guard(tmp_path: Path) -> None:
    spec = spec_of(tmp_path / "in.csv", columns=("thirdPartyId", "a"), encode="strict")
    stored = sync_settings(spec, "demo")
    assert stored == {
        "columns": ["thirdPartyId", "a"],
        "rename": {},
        "encode": "strict",
        "id_type": None,
        "id_column": None,
        "shard": None,
        "client_code": "demo",
    }
    check_state_settings(stored, stored, full=False)
    # a state written before shards existed has no "shard": it reads as unsharded
    check_state_settings({k: v for k, v in stored.items() if k != "shard"}, stored, full=False)
    other = sync_settings(
        spec_of(tmp_path / "in.csv", columns=("thirdPartyId", "a"), encode="compact"), "demo"
    )
    with pytest.raises(ConfigError) as raised:
        check_state_settings(stored, other, full=False)
    assert str(raised.value) == (
        "encode changed since the state was written (strict → compact): "
        "run with full to send everything again"
    )
    assert "\n" not in str(raised.value) and raised.value.settings == ("full",)
    check_state_settings(stored, other, full=True)
    check_state_settings({}, other, full=False)  # an empty state takes any settings
    with pytest.raises(ConfigError, match=r"client code changed .*\(demo → prod\)"):
        check_state_settings(stored, {**stored, "client_code": "prod"}, full=False)


def test_summary_shows_unselected_rows_only_for_a_sync() -> None:
    upload = RunSummary(rows_read=3, rows_acknowledged=3)
    assert "rows_unselected" not in upload.to_dict() and "sync" not in upload.to_dict()
    assert not any("unchanged" in line for line in upload.lines())
    synced = RunSummary(rows_read=3, rows_acknowledged=1, rows_unselected=2)
    assert synced.invariant_holds and synced.to_dict()["rows_unselected"] == 2
    assert any(line.split() == ["unchanged,", "not", "sent", "2"] for line in synced.lines())
    nothing = RunSummary(sync=True)
    assert nothing.to_dict()["rows_unselected"] == 0 and nothing.to_dict()["sync"] is True


async def test_the_engine_counts_the_unselected_rows_of_a_selective_source(tmp_path: Path) -> None:
    spec = spec_of(write_csv(tmp_path / "in.csv", base_rows(20)), limits=BatchLimits(rows=3))
    chosen = np.sort(id_keys(pl.Series(["id-1", "id-2", "id-12"])))
    ledger = tmp_path / "run.jsonl"
    async with MockTarget(MockConfig(rate_limit=None)) as mock:
        config = UploadConfig(client_code="demo", endpoint=mock.base_url, ledger=ledger, rate=None)
        token = StaticToken(Secret(mock.token), "mock")
        summary = await upload(config, Producer(spec, only_keys=chosen), token)
        received = mock.received_frame().get_column("thirdPartyId").to_list()
    assert sorted(received) == ["id-1", "id-12", "id-2"]
    assert (summary.rows_read, summary.rows_acknowledged, summary.rows_unselected) == (20, 3, 17)
    assert summary.rows_pending == 0 and summary.invariant_holds and summary.exit_code == 0
    (recorded,) = read_ledger(ledger).summaries
    assert recorded.rows_unselected == 17


def test_a_summary_record_written_before_syncs_reads_no_unselected_rows() -> None:
    older = SummaryRecord.from_json({"type": "summary", "rows_read": 3, "rows_pending": 0})
    assert older.rows_unselected == 0 and older.rows_read == 3
