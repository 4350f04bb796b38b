"""Row-level faults over loopback: failed rows listed in batchStatus (Target's current form),
per-id reproducible failure rates, fail-once, whole-batch poison ids, per-batch delays."""

from __future__ import annotations

from typing import Any

import aiohttp
import defusedxml.ElementTree as ET
import pytest

from uploader.mock import FaultConfig, MockTarget
from uploader.testing import FakeClock


def body_of(ids: list[str]) -> bytes:
    return ("batch=thirdPartyId,a\n" + "".join(f"{i},v-{i}\n" for i in ids)).encode()


async def status_xml(http: aiohttp.ClientSession, url: str, details: bool = True) -> str:
    params = {"showDetails": "true"} if details else {}
    async with http.get(url, params=params) as response:
        return await response.text()


def listed(text: str) -> list[str]:
    root = ET.fromstring(text)
    assert all(p.findtext("status") == "failed" for p in root.iter("profile"))
    return [p.findtext("id") or "" for p in root.iter("profile")]


async def failed_ids(
    raw_mock: Any, mock: MockTarget, http: aiohttp.ClientSession, bodies: list[bytes]
) -> set[str]:
    found: set[str] = set()
    for body in bodies:
        _, answer = await raw_mock.submit(mock, http, body)
        assert answer["success"] == "true"
        found |= set(listed(await status_xml(http, answer["batchStatus"] or "")))
    return found


async def test_failed_rows_are_listed_escaped_once_complete_and_not_applied(raw_mock: Any) -> None:
    clock = FakeClock(raw_mock.clock_start)
    faults = FaultConfig(fail_ids="^bad")
    async with raw_mock.serve_open(faults=faults, status_delay=10.0, clock=clock) as (mock, http):
        body = b"batch=thirdPartyId,a\ncrm-1,x\nbad%26%3C1%3E,y\ncrm-2,z\nbad-2,w\n%2Fno,q\n"
        _, answer = await raw_mock.submit(mock, http, body)
        url = answer["batchStatus"] or ""
        early = await status_xml(http, url)
        clock.now += 10.0
        done = await status_xml(http, url)
        assert mock.profiles.get("bad&<1>") is None and mock.profiles.get("bad-2") is None
        assert mock.profiles.get("crm-2") == {"a": "z"}
        assert mock.received_frame().get_column("thirdPartyId").to_list() == ["crm-1", "crm-2"]
        stats = mock.stats
    assert answer["success"] == "true"
    assert "<profile>" not in early and ET.fromstring(early).findtext("failedUpdates") == "0"
    assert done.endswith(
        "<failedUpdates>3</failedUpdates>"
        "<profile><id>bad&amp;&lt;1&gt;</id><status>failed</status></profile>"
        "<profile><id>bad-2</id><status>failed</status></profile></response>"
    )
    root = ET.fromstring(done)
    assert (root.findtext("batchSize"), root.findtext("successfulUpdates")) == ("5", "2")
    assert listed(done) == ["bad&<1>", "bad-2"]  # the row with an invalid id is only counted
    assert (stats["ok"], stats["rows_received"], stats["rows_failed"]) == (1, 2, 3)


async def test_failures_are_listed_without_showdetails_too(raw_mock: Any) -> None:
    async with raw_mock.serve_open(faults=FaultConfig(fail_ids="2")) as (mock, http):
        _, answer = await raw_mock.submit(mock, http, body_of(["crm-1", "crm-2"]))
        plain = await status_xml(http, answer["batchStatus"] or "", details=False)
    assert listed(plain) == ["crm-2"] and "failedUpdates" not in plain


async def test_fail_rows_picks_the_same_ids_whatever_the_batching_and_order(raw_mock: Any) -> None:
    ids = [f"crm-{n}" for n in range(400)]
    faults = FaultConfig(fail_rows=0.25)
    async with raw_mock.serve_open(faults=faults, seed=7) as (mock, http):
        split = await failed_ids(raw_mock, mock, http, [body_of(ids[:150]), body_of(ids[150:])])
    async with raw_mock.serve_open(faults=faults, seed=7) as (mock, http):
        reversed_whole = await failed_ids(raw_mock, mock, http, [body_of(ids[::-1])])
        assert mock.stats["rows_received"] == 400 - len(reversed_whole)
    async with raw_mock.serve_open(faults=faults, seed=8) as (mock, http):
        other_seed = await failed_ids(raw_mock, mock, http, [body_of(ids)])
    assert split == reversed_whole
    assert 70 <= len(split) <= 130  # about a quarter of 400
    assert other_seed != split


async def test_fail_once_fails_an_id_only_the_first_time_it_is_sent(raw_mock: Any) -> None:
    faults = FaultConfig(fail_ids="^crm-[12]$", fail_once=True)
    async with raw_mock.serve_open(faults=faults) as (mock, http):
        first = await failed_ids(raw_mock, mock, http, [body_of(["crm-1", "crm-3"])])
        assert mock.profiles.get("crm-1") is None
        second = await failed_ids(raw_mock, mock, http, [body_of(["crm-1", "crm-2"])])
        third = await failed_ids(raw_mock, mock, http, [body_of(["crm-1", "crm-2"])])
        assert mock.profiles.get("crm-1") == {"a": "v-crm-1"}
    assert (first, second, third) == ({"crm-1"}, {"crm-2"}, set())


async def test_reject_ids_refuses_the_whole_batch_and_stores_nothing(raw_mock: Any) -> None:
    async with raw_mock.serve_open(faults=FaultConfig(reject_ids="poison")) as (mock, http):
        _, refused = await raw_mock.submit(mock, http, body_of(["crm-1", "x-poison-1", "crm-2"]))
        assert mock.receipts_count == 0 and mock.batch_ids == []
        assert mock.profiles.get("crm-1") is None
        _, accepted = await raw_mock.submit(mock, http, body_of(["crm-1", "crm-2"]))
        stats = mock.stats
    assert refused == {"success": "false", "batchStatus": None, "message": "Unexpected error"}
    assert accepted["success"] == "true"
    assert (stats["rejected"], stats["ok"]) == (1, 1)


async def completion_times(raw_mock: Any, seed: int) -> list[float]:
    """How long each of 6 batches stays incomplete, to 0.5 s (delay 2 s + jitter up to 3 s)."""
    clock = FakeClock(raw_mock.clock_start)
    options = {"status_delay": 2.0, "status_delay_jitter": 3.0, "clock": clock, "seed": seed}
    async with raw_mock.serve_open(**options) as (mock, http):
        urls = []
        for n in range(6):
            _, answer = await raw_mock.submit(mock, http, body_of([f"crm-{n}"]))
            urls.append(answer["batchStatus"] or "")
        done: dict[str, float] = {}
        while len(done) < len(urls):
            for url in urls:
                if url not in done and (await raw_mock.status(http, url))["status"] == "complete":
                    done[url] = clock.now - raw_mock.clock_start
            clock.now += 0.5
    return [done[url] for url in urls]


async def test_status_delay_jitter_gives_each_batch_its_own_seeded_processing_time(
    raw_mock: Any,
) -> None:
    first, again, other = (
        await completion_times(raw_mock, 1),
        await completion_times(raw_mock, 1),
        await completion_times(raw_mock, 2),
    )
    assert all(2.0 <= when <= 5.0 for when in first + other)
    assert len(set(first)) > 1
    assert first == again and first != other


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"fail_rows": 1.5}, "fail_rows"),
        ({"fail_ids": "("}, "fail_ids"),
        ({"reject_ids": ""}, "reject_ids"),
    ],
)
def test_row_fault_config_is_validated(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FaultConfig(**options)
