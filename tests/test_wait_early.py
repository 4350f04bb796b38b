"""`upload --wait` polls while sending: with Target keeping only a few statuses, batches
polled only after the last send come back unknown; polled early, they are all seen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from uploader._api import run_upload
from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.ledger._ledger import read_ledger
from uploader.mock import FaultConfig, MockConfig, run_mock_in_thread
from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec, Producer
from uploader.reconcile._status import poll_statuses
from uploader.send._engine import UploadConfig


def statuses_after(
    tricky_csv: Callable[..., Path], tmp_path: Path, poll_every: float | None
) -> dict[str, int]:
    tmp_path.mkdir()
    source = tricky_csv(tmp_path / "t.csv", 400)
    ledger = tmp_path / "run" / "ledger.jsonl"
    slow = FaultConfig(latency=0.05)
    config = MockConfig(client_code="demo", rate_limit=None, faults=slow, status_retention=3)
    with run_mock_in_thread(config) as mock:
        tokens = StaticToken(Secret(mock.token), "mock")
        upload = UploadConfig(
            client_code="demo", endpoint=mock.base_url, ledger=ledger, rate=None, concurrency=1
        )
        spec = InputSpec(sources=(source,), limits=BatchLimits(rows=20))
        # wait: the early rounds (of what the engine acknowledged so far), then the final one
        wait = poll_every is not None
        summary = run_upload(Producer(spec), upload, tokens, wait=wait, poll_every=poll_every)
        if wait:
            assert summary.exit_code == 0 and summary.target is not None, summary.lines()
        else:
            assert summary.exit_code == 0
            asyncio.run(poll_statuses(ledger, tokens))  # the final round alone
    counts: dict[str, int] = {}
    for record in read_ledger(ledger).statuses.values():
        counts[record.status] = counts.get(record.status, 0) + 1
    return counts


def test_polling_while_sending_sees_every_batch_before_target_forgets_it(
    tricky_csv: Callable[..., Path], tmp_path: Path
) -> None:
    early = statuses_after(tricky_csv, tmp_path / "early", poll_every=0.1)
    assert early.get("unknown", 0) == 0 and early.get("complete", 0) >= 19


def test_polling_only_at_the_end_loses_the_early_batches(
    tricky_csv: Callable[..., Path], tmp_path: Path
) -> None:
    """The control: the same run without early polls (what --wait used to do)."""
    late = statuses_after(tricky_csv, tmp_path / "late", poll_every=None)
    assert late.get("unknown", 0) >= 15
