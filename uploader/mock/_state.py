"""Everything the mock knows, behind one lock (handlers run on the server's loop; the public
methods may be called from another thread when the server runs in ``run_mock_in_thread``)."""

from __future__ import annotations

import itertools
import random
import resource
import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import polars as pl

from uploader.mock._auth import ImsAuthority, TokenAuthority
from uploader.mock._body import MSG_UNEXPECTED, BodyRejected, ParsedBody
from uploader.mock._config import FaultConfig, MockConfig
from uploader.mock._faults import FaultInjector
from uploader.mock._rowfaults import RowFaults
from uploader.mock._store import BatchRecord, BatchStatuses, ProfileStore, Receipts, StoredBatch
from uploader.mock._throttle import SlidingWindow

__all__ = ["OUTCOMES", "MockState"]

#: Bulk-call outcomes counted in ``stats``.
OUTCOMES = (
    "ok",
    "rejected",
    "throttled",
    "unauthorized",
    "unknown_client",
    "fault_500",
    "fault_502",
    "fault_503",
    "fault_429",
    "reset",
    "truncated",
)


class MockState:
    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.auth = TokenAuthority(config.clock, config.token_ttl, config.token)
        self.ims = ImsAuthority(config.clock, config.ims_client_id, config.ims_client_secret)
        self.bulk_faults = FaultInjector(config.faults, config.seed)
        # A separate stream for status calls: polling frequency never shifts bulk faults.
        self.status_faults = FaultInjector(config.faults, config.seed + 1)
        self.row_faults = RowFaults(config.faults, config.seed)
        # Its own stream too: the processing time of a batch never depends on faults drawn.
        self._status_rng = random.Random(config.seed + 2)
        self.throttle = (
            SlidingWindow(config.rate_limit[0], config.rate_limit[1], config.clock)
            if config.rate_limit is not None
            else None
        )
        self.profiles = ProfileStore()
        self.receipts = Receipts()
        self.statuses = BatchStatuses(config.status_retention)
        self.outcomes: Counter[str] = Counter()
        self.bulk_calls = 0
        self.status_calls = 0
        self.single_updates = 0
        self.in_flight = 0
        self.max_concurrent = 0
        self.bytes_received = 0
        self.rows_failed = 0
        self.rows_received = 0
        self._batch_counter = itertools.count(1)

    # -- bookkeeping -------------------------------------------------------------------------

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def next_bulk_call(self, size: int) -> int:
        with self.lock:
            self.bulk_calls += 1
            self.bytes_received += size
            return self.bulk_calls

    def next_status_call(self) -> int:
        with self.lock:
            self.status_calls += 1
            return self.status_calls

    def count(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1

    def set_faults(self, faults: FaultConfig) -> None:
        with self.lock:
            self.bulk_faults.config = faults
            self.status_faults.config = faults
            self.row_faults.config = faults

    # -- ingestion ---------------------------------------------------------------------------

    def refusal(self, parsed: ParsedBody) -> BodyRejected | None:
        """The ``reject_ids`` fault: a batch holding a matching id is refused whole."""
        with self.lock:
            poisoned = self.row_faults.poisoned(parsed.frame.get_column(parsed.id_name))
        return BodyRejected(MSG_UNEXPECTED) if poisoned else None

    def commit(self, parsed: ParsedBody, *, version: int, call: int, stuck: bool) -> BatchRecord:
        """Record an accepted batch: receipts, profiles, status. Returns its status record.

        Rows failed by a row fault are neither applied nor kept in the receipts (receipts are
        the rows Target took); only their ids are kept, for batchStatus to list."""
        cfg = self.config
        with self.lock:
            batch_id = f"{cfg.client_code}-{int(time.time() * 1000)}-{next(self._batch_counter)}"
            frame = parsed.frame
            ids = frame.get_column(parsed.id_name)
            failing = self.row_faults.failing(ids, parsed.id_name)
            failed_ids: tuple[str, ...] = ()
            if failing is not None:
                failed_ids = tuple(ids.filter(failing).to_list())
                frame = frame.filter(~failing)
            stored = StoredBatch(
                call=call,
                batch_id=batch_id,
                version=version,
                id_name=parsed.id_name,
                attributes=parsed.attributes,
                frame=frame,
                modified=time.time(),
            )
            not_found = 0
            if cfg.store_profiles:
                applied = stored
                if version == 1:  # v1 updates existing profiles only
                    known = self.profiles.known(frame.get_column(parsed.id_name), parsed.id_name)
                    not_found = int((~known).sum())
                    if not_found:
                        applied = replace(stored, frame=frame.filter(known))
                self.profiles.add(applied)
            if cfg.keep_receipts:
                self.receipts.add(stored)
            failed = parsed.failed + len(failed_ids)
            self.rows_failed += failed
            record = BatchRecord(
                batch_id=batch_id,
                submitted_at=cfg.clock(),
                delay=cfg.status_delay + cfg.status_delay_jitter * self._status_rng.random(),
                batch_size=parsed.batch_size,
                successful=frame.height - not_found,
                not_found=not_found,
                failed=failed,
                failed_ids=failed_ids,
                stuck=stuck,
            )
            self.statuses.add(record)
            self.rows_received += frame.height
            return record

    def single_update(self, profile_id: str, raw_attributes: dict[str, str]) -> None:
        """A single-profile update; ``raw_attributes`` values are percent-encoded."""
        with self.lock:
            self.single_updates += 1
            if not self.config.store_profiles:
                return
            names = tuple(raw_attributes)
            frame = pl.DataFrame(
                {"thirdPartyId": [profile_id], **{k: [v] for k, v in raw_attributes.items()}},
                schema={"thirdPartyId": pl.String, **dict.fromkeys(names, pl.String)},
            )
            self.profiles.add(
                StoredBatch(
                    call=0,
                    batch_id="",
                    version=0,
                    id_name="thirdPartyId",
                    attributes=names,
                    frame=frame,
                    modified=time.time(),
                )
            )

    # -- reports -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self.lock:
            outcomes = {name: self.outcomes.get(name, 0) for name in OUTCOMES}
            outcomes["fault_5xx"] = outcomes["fault_500"] + outcomes["fault_502"]
            outcomes["fault_5xx"] += outcomes["fault_503"]
            return {
                **outcomes,
                "calls": self.bulk_calls,
                "status_calls": self.status_calls,
                "single_updates": self.single_updates,
                "max_concurrent": self.max_concurrent,
                "in_flight": self.in_flight,
                "bytes_received": self.bytes_received,
                "rows_received": self.rows_received,
                "rows_failed": self.rows_failed,
                "receipts_rows": self.receipts.rows,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
