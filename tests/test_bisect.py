"""Poison rows: Target refuses a whole batch for one bad row. The engine splits it in halves
until the refused rows stand alone, sends the rest, and puts those rows in the rejects file
with Target's message — bounded, recorded, resumable."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.ledger._ledger import read_ledger
from uploader.mock import FaultConfig, MockConfig, MockTarget, run_mock_in_thread
from uploader.produce._batcher import BODY_PREFIX
from uploader.produce._model import Batch
from uploader.produce._producer import Producer
from uploader.send._bisect import CHILD_SEQ_BASE, part, split

POISON = ("c-137", "c-650")


def lines(batch: Batch) -> list[bytes]:
    return batch.body[len(BODY_PREFIX) :].splitlines()


@pytest.fixture(scope="module")
def one_batch(
    small_producer: Callable[..., Producer], tmp_path_factory: pytest.TempPathFactory
) -> Batch:
    (batch,) = small_producer(tmp_path_factory.mktemp("b"), rows=37, batch_rows=100)
    return batch


@given(cut=st.integers(min_value=1, max_value=36))
def test_parts_rejoin_to_the_batch_with_their_refs(one_batch: Batch, cut: int) -> None:
    left, right = part(one_batch, 0, cut, 1), part(one_batch, cut, one_batch.rows, 2)
    header, *rows = lines(one_batch)
    assert lines(left) == [header, *rows[:cut]] and lines(right) == [header, *rows[cut:]]
    assert left.rows + right.rows == one_batch.rows
    assert (left.refs.tolist() + right.refs.tolist()) == one_batch.refs.tolist()
    assert left.first.row == int(one_batch.refs[0][1]) and right.last == one_batch.last
    again = part(one_batch, 0, cut, 1)
    assert again.content_hash == left.content_hash  # parts are deterministic


def test_halves_are_numbered_and_the_first_takes_the_extra_line(one_batch: Batch) -> None:
    left, right = split(one_batch, CHILD_SEQ_BASE + 1)
    assert (left.seq, right.seq) == (CHILD_SEQ_BASE + 1, CHILD_SEQ_BASE + 2)
    assert (left.rows, right.rows) == (19, 18)


def write_source(path: Path, rows: int = 1000) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["thirdPartyId", "tier", "city"])
        for i in range(rows):
            writer.writerow([f"c-{i}", f"t{i % 7}", "Zürich" if i % 3 else ""])
    return path


def expected(path: Path, without: tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            row.pop("thirdPartyId"): {k: v for k, v in row.items() if v}
            for row in csv.DictReader(handle)
            if row["thirdPartyId"] not in without
        }


def upload(
    upload_to: Callable[..., Result], mock: MockTarget, source: Path, ledger: Path, *extra: str
) -> Result:
    return upload_to(mock, source, ledger, "--json", *extra, batch_rows=200)


def poisoned() -> MockConfig:
    pattern = "^(" + "|".join(POISON) + ")$"
    return MockConfig(client_code="demo", rate_limit=None, faults=FaultConfig(reject_ids=pattern))


def rejects(ledger: Path) -> list[dict[str, str]]:
    with ledger.with_name("rejects.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_poison_rows_are_isolated_and_everything_else_lands(
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    cli: Callable[..., Result],
    upload_to: Callable[..., Result],
    tmp_path: Path,
) -> None:
    source = write_source(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(poisoned()) as mock:
        result = upload(upload_to, mock, source, ledger)
        frame, stats = mock.received_frame(), mock.stats
    summary: dict[str, Any] = orjson.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert summary["rows_rejected"] == summary["rows_refused"] == 2 and summary["invariant_holds"]
    assert summary["rows_acknowledged"] == 998 and summary["batches_split"] > 0
    assert received_profiles(frame) == expected(source, POISON)
    assert sorted((r["id"], r["row"], r["reason"]) for r in rejects(ledger)) == [
        ("c-137", "138", "refused by Target: Unexpected error"),
        ("c-650", "651", "refused by Target: Unexpected error"),
    ]
    # bounded: 5 batches, and per poison row at most two calls per level of halving
    assert stats["calls"] <= 5 + len(POISON) * 2 * math.ceil(math.log2(200))
    state = read_ledger(ledger)
    outcomes = [r.outcome for r in state.batches.values()]
    assert outcomes.count("rejected") == 2 and "failed" not in outcomes
    text = cli("report", "--ledger", str(ledger))
    assert text.exit_code == 4  # nothing failed; Target was not asked about statuses yet
    assert "refused by Target: Unexpected error" in text.stdout
    assert "sent                 1,000 rows" in text.stdout


def test_the_bisection_is_bounded_by_its_calls(
    upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = write_source(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(poisoned()) as mock:
        result = upload(upload_to, mock, source, ledger, "--bisect-calls", "3")
    summary = orjson.loads(result.stdout)
    assert result.exit_code == 1 and summary["invariant_holds"]
    failed = [r for r in read_ledger(ledger).batches.values() if r.outcome == "failed"]
    assert failed and all("bisection stopped after 3 calls" in r.message for r in failed)
    assert summary["rows_failed"] == sum(r.rows for r in failed)


def test_a_bisection_cut_short_by_a_crash_resumes_where_it_was(
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    cli: Callable[..., Result],
    upload_to: Callable[..., Result],
    tmp_path: Path,
) -> None:
    source = write_source(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(poisoned()) as mock:
        assert upload(upload_to, mock, source, ledger, "--concurrency", "1").exit_code == 0
        records = ledger.read_bytes().splitlines()
        first_split = next(i for i, r in enumerate(records) if b'"outcome":"split"' in r)
        kept = records[: first_split + 3]  # the split and two of its parts' records
        ledger.write_bytes(b"\n".join(kept) + b"\n")
        ledger.with_name("rejects.csv").write_bytes(b"")  # killed before writing any
        state = read_ledger(ledger)
        settled = sum(1 for r in state.batches.values() if r.outcome != "split")
        calls_before = mock.stats["calls"]
        resumed = upload(upload_to, mock, source, ledger, "--resume")
        assert resumed.exit_code == 0, resumed.output
        summary = orjson.loads(resumed.stdout)
        frame = mock.received_frame()
        assert summary["rows_refused"] == 2 and summary["invariant_holds"]
        assert summary["batches_skipped"] >= settled - 1
        assert mock.stats["calls"] - calls_before < calls_before  # not all over again
    assert received_profiles(frame) == expected(source, POISON)
    assert sorted(r["id"] for r in rejects(ledger)) == sorted(POISON)
    assert cli("report", "--ledger", str(ledger)).exit_code in (0, 4)
    out = tmp_path / "fix.csv"
    written = cli("report", "--ledger", str(ledger), "--failed-rows", str(out))
    assert written.exit_code == 4, written.output
    with out.open(newline="", encoding="utf-8") as handle:
        assert sorted(row["thirdPartyId"] for row in csv.DictReader(handle)) == sorted(POISON)


async def test_a_single_row_batch_refused_is_rejected_not_failed(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    from uploader.send._engine import UploadConfig
    from uploader.send._engine import upload as send

    config = MockConfig(client_code="demo", rate_limit=None, faults=FaultConfig(reject_ids="^id1$"))
    async with MockTarget(config) as mock:
        summary = await send(
            UploadConfig(
                client_code="demo", endpoint=mock.base_url, ledger=tmp_path / "l.jsonl", rate=None
            ),
            small_producer(tmp_path, rows=3, batch_rows=1),
            StaticToken(Secret(mock.token), "mock"),
        )
    assert summary.batches_failed == 0 and summary.batches_acknowledged == 2
    assert summary.rows_refused == summary.rows_rejected == 1 and summary.invariant_holds
