"""The mock over loopback, driven by plain aiohttp requests: XML answers, v1/v2, statuses,
receipts, the profile store, profile fetch and single updates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as ET
import pytest
from yarl import URL

from uploader.testing import FakeClock


async def test_accepted_batch_answer_names_an_edge_host_and_batch_id(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        code, answer = await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-1,x\n")
    assert code == 200
    assert answer["success"] == "true"
    assert answer["message"] == "Batch submitted for processing"
    url = URL(answer["batchStatus"] or "")
    assert url.host == "localhost" and url.port == mock.port
    assert url.path == "/m2/demo/profile/batchStatus"
    assert re.fullmatch(r"demo-\d{13}-1", url.query["batchId"])


async def test_rejected_batch_answer_is_http_200_success_false_empty_status(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        code, answer = await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-1,50%off\n")
        assert mock.stats["rejected"] == 1 and mock.receipts_count == 0
    assert code == 200
    assert answer == {"success": "false", "batchStatus": None, "message": "Unexpected error"}


async def test_empty_and_too_large_answers(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        _, empty = await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\n&crm-1,x")
        _, large = await raw_mock.submit(mock, http, b"batch=thirdPartyId\n" + b"a\n" * 25_000_000)
    assert empty["message"] == "Batch is empty"
    assert large["success"] == "false" and "too large" in (large["message"] or "")


@pytest.mark.parametrize(
    "body", [b"batch=thirdPartyId\ncrm-1\ncrm-2\n", b"batch=thirdPartyId,a,b\ncrm-1,,\ncrm-2\n"]
)
async def test_batch_without_any_value_is_skipped_as_empty_and_counted_rejected(
    raw_mock: Any,
    body: bytes,
) -> None:
    async with raw_mock.serve_open() as (mock, http):
        _, answer = await raw_mock.submit(mock, http, body)
        assert (mock.stats["ok"], mock.stats["rejected"]) == (0, 1)
        assert mock.receipts_count == 0 and mock.batch_ids == []
        assert mock.profiles.get("crm-1") is None
    assert answer == {"success": "false", "batchStatus": None, "message": "Batch is empty"}


async def test_status_is_incomplete_until_the_delay_then_complete_with_details(
    raw_mock: Any,
) -> None:
    clock = FakeClock(raw_mock.clock_start)
    async with raw_mock.serve_open(status_delay=30.0, clock=clock) as (mock, http):
        body = b"batch=thirdPartyId,a\ncrm-1,x\ncrm-2,y,extra\n%2Fbad,z\ncrm-3,w\n"
        _, answer = await raw_mock.submit(mock, http, body)
        url = answer["batchStatus"] or ""
        first = await raw_mock.status(http, url)
        clock.now += 29.9
        assert (await raw_mock.status(http, url))["status"] == "incomplete"
        clock.now += 0.1
        done = await raw_mock.status(http, url)
        plain = await raw_mock.status(http, url, details=False)
    assert first == {
        "batchId": URL(url).query["batchId"],
        "status": "incomplete",
        "batchSize": "4",
        "consumedCount": "0",
        "successfulUpdates": "0",
        "profilesNotFound": "0",
        "failedUpdates": "0",
    }
    assert done["status"] == "complete"
    assert (done["batchSize"], done["consumedCount"]) == ("4", "4")
    assert (done["successfulUpdates"], done["profilesNotFound"], done["failedUpdates"]) == (
        "2",
        "0",
        "2",
    )
    assert set(plain) == {"batchId", "status", "batchSize"}


async def test_v2_status_path_alias_answers_too(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        _, answer = await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-1,x\n")
        url = (answer["batchStatus"] or "").replace("/profile/", "/v2/profile/")
        assert (await raw_mock.status(http, url))["status"] == "complete"


async def test_doc_status_url_style_answers_like_adobes_example_with_a_bare_ampersand(
    raw_mock: Any,
) -> None:
    async with raw_mock.serve_open(status_url_style="doc") as (mock, http):
        url = f"{mock.base_url}/m2/demo/v2/profile/batchUpdate"
        async with http.post(url, data=b"batch=thirdPartyId,a\ncrm-1,x\n") as response:
            raw = await response.read()
        found = re.fullmatch(
            rb"<response><success>true</success><batchStatus>(http://localhost:\d+"
            rb"/m2/demo/v2/profile/batchStatus\?batchId=demo-\d{13}-1&m2Node=00)</batchStatus>"
            rb"<message>Batch submitted for processing</message></response>",
            raw,
        )
        assert found, raw
        with pytest.raises(ET.ParseError):  # not well-formed, exactly as documented
            ET.fromstring(raw)
        answer = await raw_mock.status(
            http, found.group(1).decode()
        )  # the URL verbatim, m2Node and all
    assert answer["status"] == "complete" and answer["successfulUpdates"] == "1"


async def test_mark_stuck_makes_status_stuck(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        _, answer = await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-1,x\n")
        (batch_id,) = mock.batch_ids
        mock.mark_stuck(batch_id)
        stuck = await raw_mock.status(http, answer["batchStatus"] or "")
    assert stuck["status"] == "stuck" and stuck["consumedCount"] == "0"


async def test_retention_keeps_only_the_last_statuses_and_unknown_ids_say_not_found(
    raw_mock: Any,
) -> None:
    async with raw_mock.serve_open(status_retention=2) as (mock, http):
        urls = []
        for n in range(3):
            _, answer = await raw_mock.submit(
                mock, http, f"batch=thirdPartyId,a\ncrm-{n},x\n".encode()
            )
            urls.append(answer["batchStatus"] or "")
        assert len(mock.batch_ids) == 2
        gone = await raw_mock.status(http, urls[0])
        kept = await raw_mock.status(http, urls[2])
    assert gone["success"] == "false" and "not found" in (gone["message"] or "").lower()
    assert kept["status"] == "complete"


async def test_v1_updates_existing_profiles_only_v2_creates(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        _, v1 = await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-1,x\n", version=1)
        assert mock.profiles.get("crm-1") is None
        await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-1,x\n", version=2)
        body = b"batch=thirdPartyId,a\ncrm-1,y\ncrm-2,z\n"
        _, again = await raw_mock.submit(mock, http, body, version=1)
        first = await raw_mock.status(http, v1["batchStatus"] or "")
        second = await raw_mock.status(http, again["batchStatus"] or "")
        assert mock.profiles.get("crm-1") == {"a": "y"}
        assert mock.profiles.get("crm-2") is None
    assert (first["successfulUpdates"], first["profilesNotFound"]) == ("0", "1")
    assert (second["successfulUpdates"], second["profilesNotFound"]) == ("1", "1")


async def test_empty_cells_never_clear_and_later_values_win(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        await raw_mock.submit(mock, http, b"batch=thirdPartyId,a,b\ncrm-1,x,y\n")
        await raw_mock.submit(mock, http, b"batch=thirdPartyId,a,b\ncrm-1,,z\ncrm-1,w\n")
        assert mock.profiles.get("crm-1") == {"a": "w", "b": "z"}


async def test_received_frame_has_every_accepted_row_in_order_with_call_numbers(
    raw_mock: Any,
) -> None:
    async with raw_mock.serve_open() as (mock, http):
        await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-1,x%2Cy\ncrm-2,+\n")
        await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-9,50%off\n")  # rejected
        await raw_mock.submit(mock, http, b"batch=thirdPartyId,b,a\ncrm-3,%C3%A9,\ncrm-4,q,r,s\n")
        await raw_mock.submit(mock, http, b"batch=pcId,a\npc-1,x\n")
        frame = mock.received_frame()
        pc = mock.received_frame(id_column="pcId")
        assert mock.receipts_count == 4
        assert mock.stats["rows_received"] == 4 and mock.stats["rows_failed"] == 1
    assert frame.columns == ["call", "thirdPartyId", "a", "b"]
    assert frame.rows() == [
        (1, "crm-1", "x,y", None),
        (1, "crm-2", " ", None),
        (3, "crm-3", None, "é"),
    ]
    assert pc.rows() == [(4, "pc-1", "x")]


async def test_receipts_dump_and_endpoint_are_the_same_json(raw_mock: Any, tmp_path: Path) -> None:
    async with raw_mock.serve_open() as (mock, http):
        await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-1,x%26y\n")
        mock.dump_receipts(tmp_path / "receipts.json")
        async with http.get(f"{mock.base_url}/__mock/receipts") as response:
            served = await response.json()
    dumped = json.loads((tmp_path / "receipts.json").read_text())
    assert dumped == served
    assert dumped["rows"] == 1
    (call,) = dumped["calls"]
    assert (call["call"], call["version"], call["idName"]) == (1, 2, "thirdPartyId")
    assert call["attributes"] == ["a"] and call["rows"] == [["crm-1", "x&y"]]


async def test_keep_receipts_and_store_profiles_off(raw_mock: Any) -> None:
    async with raw_mock.serve_open(keep_receipts=False, store_profiles=False) as (mock, http):
        _, answer = await raw_mock.submit(mock, http, b"batch=thirdPartyId,a\ncrm-1,x\n", version=1)
        assert answer["success"] == "true"
        assert mock.receipts_count == 0 and mock.profiles.get("crm-1") is None
        assert mock.stats["rows_received"] == 1


async def test_profile_fetch_returns_documented_json_and_404_after_drop(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        await raw_mock.submit(
            mock, http, b"batch=thirdPartyId,tier,city\ncrm-1,gold,S%C3%A3o+Paulo\n"
        )
        url = f"{mock.base_url}/rest/v1/profiles/thirdPartyId/crm-1"
        async with http.get(url, params={"client": "demo"}) as response:
            assert response.status == 200
            found = await response.json()
        assert mock.drop_profiles(["crm-1"]) == 1
        async with http.get(url, params={"client": "demo"}) as response:
            assert response.status == 404
            missing = await response.json()
        assert mock.received_frame().height == 1  # receipts keep what arrived
    assert found["client"] == "demo" and found["visitorId"]
    attributes = found["profileAttributes"]
    assert {name: item["value"] for name, item in attributes.items()} == {
        "tier": "gold",
        "city": "São Paulo",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", found["modifiedAt"])
    assert missing == {
        "status": 404,
        "message": "No profile found for client demo with third party id=crm-1",
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_single_update_creates_profile(raw_mock: Any, method: str) -> None:
    async with raw_mock.serve_open() as (mock, http):
        url = f"{mock.base_url}/m2/demo/profile/update"
        params = {"mbox3rdPartyId": "crm-7", "profile.tier": "gold & co", "other": "x"}
        async with http.request(method, url, params=params) as response:
            answer = raw_mock.xml(await response.text())
        assert answer == {"success": "true", "message": "Request successfully submitted"}
        assert mock.profiles.get("crm-7") == {"tier": "gold & co"}
        async with http.get(url, params={"profile.tier": "x"}) as response:
            assert raw_mock.xml(await response.text())["success"] == "false"


async def test_unknown_client_code_is_404(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        url = f"{mock.base_url}/m2/other/v2/profile/batchUpdate"
        async with http.post(url, data=b"batch=thirdPartyId\nx\n") as response:
            assert response.status == 404
        assert mock.stats["unknown_client"] == 1


async def test_stats_count_calls_bytes_and_outcomes(raw_mock: Any) -> None:
    async with raw_mock.serve_open() as (mock, http):
        body = b"batch=thirdPartyId,a\ncrm-1,x\n"
        await raw_mock.submit(mock, http, body)
        await raw_mock.submit(mock, http, b"batch=x")
        stats = mock.stats
    assert (stats["calls"], stats["ok"], stats["rejected"]) == (2, 1, 1)
    assert stats["bytes_received"] == len(body) + len(b"batch=x")
    assert stats["max_concurrent"] == 1
