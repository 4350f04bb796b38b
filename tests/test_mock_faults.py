"""The 503 sliding-window throttle (fake clock, no waiting) and every injected fault kind."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from xml.etree.ElementTree import ParseError

import aiohttp
import defusedxml.ElementTree as ET
import pytest

from uploader.mock import FaultConfig, MockConfig, MockTarget
from uploader.testing import FakeClock

BODY = b"batch=thirdPartyId,a\ncrm-1,x\ncrm-2,y\n"


async def post(mock: MockTarget, http: aiohttp.ClientSession) -> tuple[int, str]:
    async with http.post(f"{mock.base_url}/m2/demo/v2/profile/batchUpdate", data=BODY) as r:
        return r.status, await r.text()


async def test_throttle_is_a_sliding_window_and_refused_calls_do_not_count(raw_mock: Any) -> None:
    clock = FakeClock(raw_mock.clock_start)
    async with raw_mock.serve_open(rate_limit=(3, 60.0), clock=clock) as (mock, http):
        codes = [(await post(mock, http))[0] for _ in range(3)]  # t = 0
        clock.now += 30.0
        codes.append((await post(mock, http))[0])  # 4th within 60 s
        codes.append((await post(mock, http))[0])
        clock.now += 29.9  # t = 59.9: the first three still in the window
        codes.append((await post(mock, http))[0])
        clock.now += 0.1  # t = 60: they leave; refused calls never entered
        codes += [(await post(mock, http))[0] for _ in range(4)]
        stats = mock.stats
    assert codes == [200, 200, 200, 503, 503, 503, 200, 200, 200, 503]
    assert (stats["ok"], stats["throttled"]) == (6, 4)
    assert mock.receipts_count == 12


async def test_default_rate_limit_is_50_per_minute(raw_mock: Any) -> None:
    clock = FakeClock(raw_mock.clock_start)
    async with raw_mock.serve_open(rate_limit=MockConfig().rate_limit, clock=clock) as (mock, http):
        codes = [(await post(mock, http))[0] for _ in range(51)]
    assert codes.count(200) == 50 and codes[-1] == 503


@pytest.mark.parametrize("kind", ["500", "502", "503", "429"])
async def test_injected_error_status_and_batch_not_kept(raw_mock: Any, kind: str) -> None:
    faults = FaultConfig(**{f"p_{kind}": 1.0, "retry_after": 7.0})
    async with raw_mock.serve_open(faults=faults) as (mock, http):
        async with http.post(f"{mock.base_url}/m2/demo/v2/profile/batchUpdate", data=BODY) as r:
            status, retry_after = r.status, r.headers.get("Retry-After")
        assert mock.receipts_count == 0
        assert mock.stats[f"fault_{kind}"] == 1
    assert status == int(kind)
    assert retry_after == ("7" if kind == "429" else None)


async def test_reset_drops_the_connection_before_processing(raw_mock: Any) -> None:
    async with raw_mock.serve_open(faults=FaultConfig(p_reset=1.0)) as (mock, http):
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(mock, http)
        assert mock.receipts_count == 0 and mock.stats["reset"] == 1


async def test_truncated_answer_is_garbled_but_the_batch_was_processed(raw_mock: Any) -> None:
    async with raw_mock.serve_open(faults=FaultConfig(p_truncated=1.0)) as (mock, http):
        status, text = await post(mock, http)
        assert mock.receipts_count == 2 and mock.stats["truncated"] == 1
    assert status == 200
    assert text.startswith("<response>") and "</response>" not in text
    with pytest.raises(ParseError):
        ET.fromstring(text)


async def test_latency_and_slow_body_delay_the_answer_but_keep_it_whole(raw_mock: Any) -> None:
    async with raw_mock.serve_open(faults=FaultConfig(latency=0.15, slow_body=0.2)) as (mock, http):
        started = time.perf_counter()
        status, text = await post(mock, http)
        elapsed = time.perf_counter() - started
    assert status == 200 and ET.fromstring(text).findtext("success") == "true"
    assert elapsed >= 0.3


async def test_concurrent_calls_are_measured(raw_mock: Any) -> None:
    async with raw_mock.serve_open(faults=FaultConfig(latency=0.2)) as (mock, http):
        await asyncio.gather(*(post(mock, http) for _ in range(3)))
        assert mock.stats["max_concurrent"] == 3


async def test_faults_only_on_first_k_calls(raw_mock: Any) -> None:
    async with raw_mock.serve_open(faults=FaultConfig(p_500=1.0, first_k_calls=2)) as (mock, http):
        codes = [(await post(mock, http))[0] for _ in range(4)]
    assert codes == [500, 500, 200, 200]


async def codes_for(raw_mock: Any, seed: int) -> list[int]:
    faults = FaultConfig(p_500=0.3, p_429=0.3, latency_jitter=0.001)
    async with raw_mock.serve_open(faults=faults, seed=seed) as (mock, http):
        return [(await post(mock, http))[0] for _ in range(30)]


async def test_faults_are_reproducible_by_seed(raw_mock: Any) -> None:
    first, again, other = (
        await codes_for(raw_mock, 1),
        await codes_for(raw_mock, 1),
        await codes_for(raw_mock, 2),
    )
    assert first == again
    assert first != other
    assert {200, 500, 429} <= set(first)


async def test_stuck_probability_marks_accepted_batches_stuck(raw_mock: Any) -> None:
    async with raw_mock.serve_open(faults=FaultConfig(p_stuck=1.0)) as (mock, http):
        _, text = await post(mock, http)
        url = ET.fromstring(text).findtext("batchStatus")
        async with http.get(url) as response:
            assert ET.fromstring(await response.text()).findtext("status") == "stuck"


async def test_status_calls_get_faults_only_when_asked_and_faults_change_at_runtime(
    raw_mock: Any,
) -> None:
    async with raw_mock.serve_open() as (mock, http):
        _, text = await post(mock, http)
        url = ET.fromstring(text).findtext("batchStatus")
        mock.set_faults(FaultConfig(p_503=1.0))
        async with http.get(url) as response:
            assert response.status == 200
        mock.set_faults(FaultConfig(p_503=1.0, on_status=True))
        async with http.get(url) as response:
            assert response.status == 503
        assert (await post(mock, http))[0] == 503
        mock.set_faults(FaultConfig())
        assert (await post(mock, http))[0] == 200


def test_fault_config_validates_probabilities() -> None:
    with pytest.raises(ValueError, match="sum above 1"):
        FaultConfig(p_500=0.6, p_503=0.6)
    with pytest.raises(ValueError, match="within"):
        FaultConfig(p_reset=1.5)
