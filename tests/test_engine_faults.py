"""Every fault the mock can inject at once, with the throttle compressed in time: still exact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.ledger._ledger import read_ledger
from uploader.mock import FaultConfig, MockConfig, MockTarget
from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec, Producer
from uploader.send._engine import UploadConfig, upload
from uploader.send._ratelimit import RateLimit
from uploader.send._retry import RetryPolicy


async def test_all_faults_at_once_still_deliver_every_row_exactly(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    source = tricky_csv(tmp_path / "tricky.csv", 700)
    faults = FaultConfig(
        p_500=0.10,
        p_502=0.04,
        p_503=0.04,
        p_429=0.10,
        retry_after=0.02,
        p_reset=0.06,
        p_truncated=0.05,  # processed, but the answer is cut: retried, received twice
        latency=0.002,
        latency_jitter=0.01,
    )
    mock_config = MockConfig(client_code="demo", rate_limit=(10, 0.25), faults=faults, seed=5)
    async with MockTarget(mock_config) as mock:
        summary = await upload(
            UploadConfig(
                client_code="demo",
                endpoint=mock.base_url,
                ledger=tmp_path / "ledger.jsonl",
                concurrency=4,
                rate=RateLimit(10, 0.25),
                retry=RetryPolicy(max_retries=25, base=0.005, max_wait=0.05),
            ),
            Producer(InputSpec(sources=(source,), limits=BatchLimits(rows=20))),
            StaticToken(Secret(mock.token), "mock"),
        )
        frame, stats = mock.received_frame(), mock.stats
    assert summary.exit_code == 0, summary.lines()
    assert summary.invariant_holds and summary.retries >= 5
    assert summary.calls == summary.batches_acknowledged + summary.retries
    assert received_profiles(frame) == expected_profiles(source)
    assert stats["throttled"] == 0, stats  # the limiter kept every window within the limit
    ledger = read_ledger(tmp_path / "ledger.jsonl")
    assert len(ledger.acknowledged()) == summary.batches_acknowledged
    assert sum(r.attempts for r in ledger.batches.values()) == summary.calls
