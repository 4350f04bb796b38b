"""Selection of one partition: each reason, refreshes spread over the nights and bounded by
refresh_after_days, missing ids, full."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from uploader.errors import ConfigError
from uploader.sync._keys import id_keys
from uploader.sync._select import DAY_SECONDS, select_partition
from uploader.sync._state import STATE_COLUMNS

NIGHT = 3 * 3600  # 03:00 UTC
R = 13


def keys_with_slot(slot: int, count: int) -> list[int]:
    """Keys whose refresh slot (key % R) is ``slot``."""
    return [slot + R * n for n in range(1, count + 1)]


def state(keys: list[int], fps: list[int], sent: list[int]) -> pl.DataFrame:
    ids = [f"id-{k}" for k in keys]
    return pl.DataFrame(
        {"key": keys, "id": ids, "fp": fps, "sent": sent}, schema=dict(STATE_COLUMNS)
    )


def today(keys: list[int], fps: list[int], blank: list[bool] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {"row": range(len(keys)), "key": keys, "fp": fps, "blank": blank or [False] * len(keys)},
        schema={"row": pl.UInt32, "key": pl.UInt64, "fp": pl.UInt64, "blank": pl.Boolean},
    )


def test_each_reason() -> None:
    day = 100
    now = day * DAY_SECONDS + NIGHT
    due_slot, other_slot = day % R, (day + 1) % R
    new, changed = keys_with_slot(other_slot, 2)
    refresh, unchanged, sent_today = keys_with_slot(due_slot, 3)
    (stale,) = keys_with_slot(other_slot, 3)[2:]  # off its slot, but R days unsent
    keys = [new, changed, refresh, unchanged, sent_today, stale]
    stored = state(
        keys[1:],
        fps=[9, 1, 1, 1, 1],
        sent=[now - DAY_SECONDS, now - R * DAY_SECONDS + 1, now, now - 3600, now - R * DAY_SECONDS],
    )
    # ``unchanged`` was sent on its slot day already (earlier tonight: a rerun)
    selection = select_partition(today(keys, [1] * 6), stored, now=now)
    assert selection.rows["reason"].to_list() == [
        "new",
        "changed",
        "refresh",
        "unchanged",
        "unchanged",
        "refresh",
    ]
    assert selection.rows["send"].to_list() == [True, True, True, False, False, True]
    assert selection.rows["row"].to_list() == list(range(6))
    assert selection.missing.height == 0


def test_rows_keep_tonights_order() -> None:
    keys = [int(k) for k in id_keys(pl.Series([f"c{n}" for n in range(1000)]))]
    stored = state(keys[::-1], [5] * 1000, [0] * 1000)
    tonight = today(keys, [5] * 1000).sample(fraction=1.0, shuffle=True, seed=1)
    selection = select_partition(tonight, stored, now=DAY_SECONDS)
    assert selection.rows["row"].equals(tonight["row"])


def test_missing_ids_are_listed_and_not_selected() -> None:
    stored = state([1, 2, 3, 4], [1, 1, 1, 1], [0, 0, 0, 0])
    selection = select_partition(today([2, 4, 5], [1, 1, 1]), stored, now=NIGHT)
    assert selection.missing.sort("key").rows() == [(1, "id-1"), (3, "id-3")]
    assert selection.rows.height == 3


def test_full_sends_everything_and_keeps_the_reasons() -> None:
    now = 50 * DAY_SECONDS + NIGHT
    stored = state([1, 2], [1, 1], [now, now])
    selection = select_partition(today([1, 2, 3], [1, 2, 1]), stored, now=now, full=True)
    assert selection.rows["reason"].to_list() == ["unchanged", "changed", "new"]
    assert selection.rows["send"].to_list() == [True, True, True]


def test_a_row_with_no_value_is_never_sent() -> None:
    """Not new, changed, due, nor in a full run: it could change nothing at Target."""
    now = 50 * DAY_SECONDS + NIGHT
    stored = state([1, 2], [1, 1], [0, 0])  # both overdue
    tonight = today([1, 2, 3], [1, 2, 1], blank=[True, True, True])
    for full in (False, True):
        selection = select_partition(tonight, stored, now=now, full=full)
        assert selection.rows["reason"].to_list() == ["unchanged"] * 3
        assert selection.rows["send"].to_list() == [False] * 3


def test_refresh_after_days_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="refresh_after_days must be at least 1"):
        select_partition(today([], []), state([], [], []), now=0, refresh_after_days=0)


@pytest.mark.parametrize("missed", [(), (20, 21, 22, 23)])
def test_refreshes_are_spread_and_bounded(missed: tuple[int, ...]) -> None:
    """10k rows all sent on night 0, unchanged for 60 nights (some nights missed): each night
    refreshes about 10k / 13 of them, and no row is ever more than 13 days unsent."""
    keys = id_keys(pl.Series([f"customer-{n}" for n in range(10_000)]))
    fps = np.ones(len(keys), dtype=np.uint64)
    sent = np.full(len(keys), NIGHT, dtype=np.int64)  # night 0
    tonight = today(keys.tolist(), fps.tolist())
    for night in range(1, 61):
        if night in missed:
            continue
        now = night * DAY_SECONDS + NIGHT
        stored = state(keys.tolist(), fps.tolist(), sent.tolist())
        selection = select_partition(tonight, stored, now=now)
        reasons = selection.rows["reason"]
        assert set(reasons.unique().to_list()) <= {"refresh", "unchanged"}
        refreshed = selection.rows["send"].to_numpy()
        if night - 1 in missed or night <= 1:
            assert refreshed.sum() > 0
        else:  # a steady night: about one slot's worth
            assert abs(int(refreshed.sum()) - 10_000 / R) < 150, night
        sent[refreshed] = now
        assert (now - sent).max() < R * DAY_SECONDS, night  # none older than R days after
