"""Target's documented answers end to end, through the CLI against the mock over loopback:
Adobe's submit answer with a bare ``&`` (the mock's default), batchStatus listing ~1 % of the
rows as failed once (the current form). Nothing is re-sent, the failed rows are written
exactly, and re-uploading them lands every row."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import orjson
import polars as pl
from click.testing import Result

from uploader.ledger._ledger import read_ledger
from uploader.mock import FaultConfig, MockConfig, MockTarget, run_mock_in_thread


def upload(
    upload_to: Callable[..., Result], mock: MockTarget, source: Path, ledger: Path, *extra: str
) -> Result:
    return upload_to(mock, source, ledger, "--quiet", *extra, batch_rows=100)


def rows_by_id(path: Path) -> dict[str, list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        grouped: dict[str, list[list[str]]] = {}
        for row in reader:
            grouped.setdefault(row[0], []).append(row)
    return grouped


def test_doc_shaped_answers_and_row_level_failures_end_to_end(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    cli: Callable[..., Result],
    upload_to: Callable[..., Result],
    tmp_path: Path,
) -> None:
    source = tricky_csv(tmp_path / "crm.csv", 3000)
    ledger = tmp_path / "run" / "ledger.jsonl"
    faults = FaultConfig(fail_rows=0.01, fail_once=True)
    config = MockConfig(client_code="demo", rate_limit=None, faults=faults)
    assert config.status_url_style == "doc"  # Adobe's answer, bare '&' and all
    with run_mock_in_thread(config) as mock:
        sent = upload(upload_to, mock, source, ledger, "--wait", "--json")
        stats = mock.stats
        state = read_ledger(ledger)
        batches = len(state.batches)
        # none re-sent: one accepted call per batch, each acknowledged once
        assert stats["calls"] == stats["ok"] == batches == len(state.acknowledged())
        assert sent.exit_code == 1, sent.output  # rows failed: not landed
        assert all(str(r.status_url).endswith("&m2Node=00") for r in state.batches.values())
        failed = {i for s in state.statuses.values() for i in s.failed_ids}
        assert 10 <= len(failed) == stats["rows_failed"] <= 60

        out = tmp_path / "fix.csv"
        reported = cli("report", "--ledger", str(ledger), "--failed-rows", str(out), "--json")
        assert reported.exit_code == 1
        data = orjson.loads(reported.stdout)
        assert data["rows_failed_row_level"] == len(failed)
        source_rows = rows_by_id(source)
        assert rows_by_id(out) == {i: source_rows[i] for i in failed}  # exactly, verbatim

        again = upload(upload_to, mock, out, tmp_path / "again" / "ledger.jsonl", "--wait")
        assert again.exit_code == 0, again.output
        frame = mock.received_frame()
    assert received_profiles(frame) == expected_profiles(source)
