"""Which of tonight's rows a sync sends, one state partition at a time.

Each of tonight's rows gets one reason, the first that holds:

- ``unchanged``, when the row has no value to send (every attribute cell empty): an empty cell
  never changes what Target holds, and a batch of only such rows is refused ("Batch is
  empty"), so sending it would fail every night and change nothing;
- ``new``: its key is not in the state;
- ``changed``: its fingerprint differs from the state's (what Target would store changed);
- ``refresh``: unchanged, but due (below), so its profile does not expire on Target's side
  (14 days without activity by default);
- ``unchanged``: not sent.

**Refresh rule.** With ``R = refresh_after_days`` and ``day = now // 86400``, an unchanged row
is due when ``key % R == day % R`` (its slot) and it was not sent today, or when it was last
sent ``R`` days ago or more (``now - sent >= R * 86400``: nights were missed). The slot comes
round every R days, so a nightly sync refreshes about rows ÷ R unchanged rows a night, a
first full load does not all come due on one night (each row's slot is fixed by its key, not
by when it was loaded), and no row goes more than R days unsent. ``now`` is injected: the
sync stores its selection time in the run record and a ``resume`` reuses it, so the rerun
selects the same rows.

**full** sends every row with a value, and keeps the reason as computed, so a full run still counts how
many rows were new, changed, due or unchanged (``send`` says what goes, ``reason`` why it
would have gone otherwise).

**Missing ids** are the state's rows whose key is not among tonight's: counted, listable,
never sent (the API cannot delete).

Everything is a polars join and column expressions: no Python per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from uploader.errors import ConfigError
from uploader.sync._defaults import DEFAULT_REFRESH_AFTER_DAYS, REASONS

__all__ = [
    "PartitionSelection",
    "select_partition",
]

DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class PartitionSelection:
    """``rows``: one per row of tonight's partition, in its order: ``row`` (as given),
    ``reason`` (an Enum of ``REASONS``), ``send`` (bool). ``missing``: ``key`` and ``id`` of
    the state's rows not in tonight's input."""

    rows: pl.DataFrame
    missing: pl.DataFrame


def select_partition(
    today: pl.DataFrame,
    state: pl.DataFrame,
    *,
    now: int,
    refresh_after_days: int = DEFAULT_REFRESH_AFTER_DAYS,
    full: bool = False,
) -> PartitionSelection:
    """Select tonight's rows of one partition against the state's.

    ``today``: ``row`` (any integer type, to find the row again), ``key`` and ``fp`` (u64),
    ``blank`` (bool: the row has no value to send).
    ``state``: ``key``, ``id``, ``fp``, ``sent`` (``STATE_COLUMNS``). ``now``: unix seconds.
    """
    if refresh_after_days < 1:
        raise ConfigError(
            "$refresh_after_days must be at least 1", settings=("refresh_after_days",)
        )
    period = refresh_after_days
    day = now // DAY_SECONDS
    joined = today.select("row", "key", "fp", "blank").join(
        state.select("key", pl.col("fp").alias("state_fp"), "sent"),
        on="key",
        how="left",
        maintain_order="left",
    )
    sent = pl.col("sent")
    slot_today = (pl.col("key") % period) == (day % period)
    due = (slot_today & (sent // DAY_SECONDS < day)) | (now - sent >= period * DAY_SECONDS)
    reason = (
        pl.when(pl.col("blank"))
        .then(pl.lit("unchanged"))
        .when(pl.col("state_fp").is_null())
        .then(pl.lit("new"))
        .when(pl.col("fp") != pl.col("state_fp"))
        .then(pl.lit("changed"))
        .when(due)
        .then(pl.lit("refresh"))
        .otherwise(pl.lit("unchanged"))
        .cast(pl.Enum(REASONS))
    )
    rows = joined.select(
        "row",
        reason.alias("reason"),
        send=~pl.col("blank") if full else reason != "unchanged",
    )
    missing = state.select("key", "id").join(today.select("key"), on="key", how="anti")
    return PartitionSelection(rows=rows, missing=missing)
