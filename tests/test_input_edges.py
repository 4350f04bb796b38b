"""Inputs a nightly job meets that the happy path never shows: old Mac (CR-only) line ends,
files with bytes but no rows, inputs whose every row is rejected."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from cli_helpers import cli
from test_pipeline import produce, table

from uploader.errors import InputError
from uploader.mock import MockConfig, run_mock_in_thread
from uploader.pipeline import InputSpec, Producer


@pytest.mark.parametrize("block_bytes", [1, 16, 1 << 20])
def test_cr_only_line_ends_are_read_as_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    """Python's csv reads 3 rows from this file; the uploader must too (it read 0 and
    reported success)."""
    import uploader.source

    monkeypatch.setattr(uploader.source, "CSV_BLOCK_BYTES", block_bytes)
    text = 'thirdPartyId,v\rc1,one\rc2,"two\rlines"\rc3,three\r'
    src = tmp_path / "mac.csv"
    src.write_bytes(text.encode())
    with src.open(newline="", encoding="utf-8") as handle:
        expected = list(csv.reader(handle))
    batches, stats, rejects = produce(tmp_path, [src])
    assert table(batches) == expected
    assert stats.rows_read == 3 and not rejects


def test_cr_only_file_without_a_final_line_end(tmp_path: Path) -> None:
    src = tmp_path / "mac.csv"
    src.write_bytes(b"thirdPartyId,v\rc1,one\rc2,two")
    batches, stats, _ = produce(tmp_path, [src])
    assert table(batches)[1:] == [["c1", "one"], ["c2", "two"]] and stats.rows_read == 2


@pytest.mark.parametrize("text", ["thirdPartyId,v\n", "thirdPartyId,v\r\n", "thirdPartyId,v"])
def test_a_header_without_rows_is_an_error(tmp_path: Path, text: str) -> None:
    src = tmp_path / "empty.csv"
    src.write_text(text)
    producer = Producer(InputSpec(sources=(src,)))
    with pytest.raises(InputError, match=r"empty\.csv: no data rows"):
        list(producer)


def test_a_header_without_rows_is_allowed_when_asked(tmp_path: Path) -> None:
    src = tmp_path / "empty.csv"
    src.write_text("thirdPartyId,v\n")
    producer = Producer(InputSpec(sources=(src,), allow_empty=True))
    assert list(producer) == [] and producer.stats.rows_read == 0


def test_upload_of_a_header_only_file_exits_2_in_one_line(tmp_path: Path) -> None:
    src = tmp_path / "empty.csv"
    src.write_text("thirdPartyId,v\n")
    out = tmp_path / "bodies"
    result = cli("upload", str(src), "--client-code", "demo", "--dry-run", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no data rows" in result.stderr
    assert "Traceback" not in result.output
    allowed = cli(
        "upload", str(src), "--client-code", "demo", "--dry-run", "--out", str(out), "--allow-empty"
    )
    assert allowed.exit_code == 0, allowed.output


def test_an_input_whose_every_row_is_rejected_exits_1(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("thirdPartyId,v\nbad+1,x\n,y\n")
    with run_mock_in_thread(
        MockConfig(client_code="demo", rate_limit=None, require_auth=False)
    ) as mock:
        result = cli(
            "upload", str(src), "--client-code", "demo", "--endpoint", mock.base_url,
            "--ledger", str(tmp_path / "l" / "ledger.jsonl"), "--quiet",
        )  # fmt: skip
    assert result.exit_code == 1, result.output
