"""The uploader against the real mock Target server over loopback: exact receipts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.ledger._summary import RunSummary
from uploader.mock import FaultConfig, MockConfig, MockTarget
from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec, Producer
from uploader.send._engine import UploadConfig, upload
from uploader.send._ratelimit import RateLimit
from uploader.send._retry import RetryPolicy
from uploader.testing import FakeClock

SAMPLES = Path(__file__).parent.parent / "samples"


async def run(
    mock: MockTarget, tmp_path: Path, source: Path, *, resume: bool = False, **kw: Any
) -> RunSummary:
    limits = kw.pop("limits", BatchLimits())
    config = UploadConfig(
        client_code="demo",
        endpoint=mock.base_url,
        ledger=tmp_path / "ledger.jsonl",
        resume=resume,
        **{"rate": None, **kw},
    )
    producer = Producer(InputSpec(sources=(source,), limits=limits))
    tokens = StaticToken(Secret(mock.token), "mock")
    return await upload(config, producer, tokens)


async def test_samples_arrive_exactly(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tmp_path: Path,
) -> None:
    source = SAMPLES / "crm.csv"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        summary = await run(mock, tmp_path, source)
        frame = mock.received_frame()
    assert summary.exit_code == 0 and summary.invariant_holds
    assert received_profiles(frame) == expected_profiles(source)
    assert frame.height == summary.rows_acknowledged == 996


async def test_tricky_values_arrive_exactly_in_many_batches(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    source = tricky_csv(tmp_path / "tricky.csv", 400)
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        summary = await run(mock, tmp_path, source, limits=BatchLimits(rows=37), concurrency=4)
        frame = mock.received_frame()
    assert summary.rows_merged == 7 and summary.invariant_holds
    assert received_profiles(frame) == expected_profiles(source)
    assert mock.stats["max_concurrent"] >= 2


async def test_exact_under_faults_and_a_compressed_throttle(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    source = tricky_csv(tmp_path / "tricky.csv", 600)
    faults = FaultConfig(p_500=0.12, p_429=0.12, retry_after=0.05, p_reset=0.06)
    mock_config = MockConfig(client_code="demo", rate_limit=(5, 0.5), faults=faults, seed=11)
    async with MockTarget(mock_config) as mock:
        summary = await run(
            mock,
            tmp_path,
            source,
            limits=BatchLimits(rows=25),
            concurrency=4,
            # 20 % slower than the mock allows: on a loaded machine a request can reach the
            # mock tens of ms after the limiter let it go, more than the limiter's 2 % margin
            rate=RateLimit(5, 0.6),
            retry=RetryPolicy(max_retries=20, base=0.01, max_wait=0.1),
        )
        frame, stats = mock.received_frame(), mock.stats
    assert summary.exit_code == 0, summary.lines()
    assert summary.invariant_holds and summary.retries > 0
    assert received_profiles(frame) == expected_profiles(source)
    assert stats["throttled"] == 0, stats  # the limiter kept inside the window


async def test_rotated_token_stops_the_run_and_resume_with_the_new_token_completes(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    source = tricky_csv(tmp_path / "tricky.csv", 300)

    class RotateAfterFirst:
        def __init__(self, mock: MockTarget) -> None:
            self.mock, self.done = mock, False

        def start(self) -> None: ...
        def stop(self) -> None: ...

        def update(self, summary: RunSummary, total: int | None) -> None:
            if summary.batches_acknowledged and not self.done:
                self.done = True
                self.mock.rotate_token()  # an admin regenerated the token mid-run

    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        old = StaticToken(Secret(mock.token), "mock")
        config = UploadConfig(
            client_code="demo",
            endpoint=mock.base_url,
            ledger=tmp_path / "l.jsonl",
            rate=None,
            concurrency=1,
        )
        first = await upload(
            config,
            Producer(InputSpec(sources=(source,), limits=BatchLimits(rows=20))),
            old,
            progress=RotateAfterFirst(mock),
        )
        assert first.exit_code == 3 and first.rows_pending > 0 and first.invariant_holds
        new = StaticToken(Secret(mock.token), "mock")
        resumed = UploadConfig(
            client_code="demo",
            endpoint=mock.base_url,
            ledger=tmp_path / "l.jsonl",
            rate=None,
            resume=True,
        )
        second = await upload(
            resumed, Producer(InputSpec(sources=(source,), limits=BatchLimits(rows=20))), new
        )
        frame = mock.received_frame()
    assert second.exit_code == 0 and second.batches_skipped == first.batches_acknowledged
    assert received_profiles(frame) == expected_profiles(source)


async def test_fake_clock_is_not_needed_for_loopback_but_works(tmp_path: Path) -> None:
    """The engine's clock seam also drives a real run (durations come from the fake)."""
    clock = FakeClock()
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        producer = Producer(InputSpec(sources=(SAMPLES / "crm.csv",)))
        config = UploadConfig(
            client_code="demo", endpoint=mock.base_url, ledger=tmp_path / "c.jsonl", rate=None
        )
        summary = await upload(
            config, producer, StaticToken(Secret(mock.token), "m"), clock=clock, sleep=clock.sleep
        )
    assert summary.seconds == 0.0 and summary.rows_acknowledged == 996


@pytest.mark.parametrize("api_version", ["v1", "v2"])
async def test_api_version_picks_the_endpoint(tmp_path: Path, api_version: str) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        summary = await run(mock, tmp_path, SAMPLES / "crm.csv", api_version=api_version)
        assert summary.exit_code == 0
        assert mock.stats["ok"] == 1
