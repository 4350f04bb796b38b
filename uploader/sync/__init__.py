"""Sync: send only the rows that are new, changed or due for a refresh, against a state of
what was last sent and landed (stable keys and fingerprints, a partitioned state directory
committed atomically, the per-partition selection, which rows landed and the commit of
the next state).

Public names load on first use (``uploader._lazy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uploader._lazy import lazy_exports

if TYPE_CHECKING:
    from uploader.sync._commit import BatchKeys, CommitResult, Landed, commit_state, landed_keys
    from uploader.sync._defaults import DEFAULT_REFRESH_AFTER_DAYS, REASONS
    from uploader.sync._keys import DEFAULT_PARTITIONS, id_keys, partition_of, row_fingerprints
    from uploader.sync._plan import SyncPlan, check_state_settings, plan_sync, sync_settings
    from uploader.sync._run import sync, sync_dry_run
    from uploader.sync._select import PartitionSelection, select_partition
    from uploader.sync._state import (
        STATE_COLUMNS,
        STATE_SCHEMA,
        StateManifest,
        StateStore,
        StateWriter,
        lock_state,
    )

__all__ = [
    "DEFAULT_PARTITIONS",
    "DEFAULT_REFRESH_AFTER_DAYS",
    "REASONS",
    "STATE_COLUMNS",
    "STATE_SCHEMA",
    "BatchKeys",
    "CommitResult",
    "Landed",
    "PartitionSelection",
    "StateManifest",
    "StateStore",
    "StateWriter",
    "SyncPlan",
    "check_state_settings",
    "commit_state",
    "id_keys",
    "landed_keys",
    "lock_state",
    "partition_of",
    "plan_sync",
    "row_fingerprints",
    "select_partition",
    "sync",
    "sync_dry_run",
    "sync_settings",
]
if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "BatchKeys": "uploader.sync._commit",
            "CommitResult": "uploader.sync._commit",
            "Landed": "uploader.sync._commit",
            "commit_state": "uploader.sync._commit",
            "landed_keys": "uploader.sync._commit",
            "DEFAULT_PARTITIONS": "uploader.sync._keys",
            "id_keys": "uploader.sync._keys",
            "partition_of": "uploader.sync._keys",
            "row_fingerprints": "uploader.sync._keys",
            "SyncPlan": "uploader.sync._plan",
            "check_state_settings": "uploader.sync._plan",
            "plan_sync": "uploader.sync._plan",
            "sync_settings": "uploader.sync._plan",
            "DEFAULT_REFRESH_AFTER_DAYS": "uploader.sync._defaults",
            "sync": "uploader.sync._run",
            "sync_dry_run": "uploader.sync._run",
            "REASONS": "uploader.sync._defaults",
            "PartitionSelection": "uploader.sync._select",
            "select_partition": "uploader.sync._select",
            "STATE_COLUMNS": "uploader.sync._state",
            "STATE_SCHEMA": "uploader.sync._state",
            "StateManifest": "uploader.sync._state",
            "StateStore": "uploader.sync._state",
            "StateWriter": "uploader.sync._state",
            "lock_state": "uploader.sync._state",
        },
    )
