"""Inputs a nightly job meets that the happy path never shows: old Mac (CR-only) line ends,
files with bytes but no rows, inputs whose every row is rejected."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from uploader.errors import InputError
from uploader.mock import MockConfig, run_mock_in_thread
from uploader.produce._model import Batch, ProduceStats
from uploader.produce._producer import InputSpec, Producer


@pytest.mark.parametrize("block_bytes", [1, 16, 1 << 20])
def test_cr_only_line_ends_are_read_as_rows(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    block_bytes: int,
) -> None:
    """Python's csv reads 3 rows from this file; the uploader must too (it read 0 and
    reported success)."""
    import uploader.produce._source

    monkeypatch.setattr(uploader.produce._source, "CSV_BLOCK_BYTES", block_bytes)
    text = 'thirdPartyId,v\rc1,one\rc2,"two\rlines"\rc3,three\r'
    src = tmp_path / "mac.csv"
    src.write_bytes(text.encode())
    with src.open(newline="", encoding="utf-8") as handle:
        expected = list(csv.reader(handle))
    batches, stats, rejects = produce(tmp_path, [src])
    assert table(batches) == expected
    assert stats.rows_read == 3 and not rejects


def test_cr_only_file_without_a_final_line_end(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
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


def test_upload_of_a_header_only_file_exits_2_in_one_line(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
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


def test_an_input_whose_every_row_is_rejected_exits_1(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
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


@pytest.mark.parametrize(
    "text",
    [
        "thirdPartyId,v\nc1,x\n\n",
        "thirdPartyId,v\r\nc1,x\r\n\r\n",
        "thirdPartyId,v\nc1,x\n,\n\n\n",
        "thirdPartyId,v\n\nc1,x\n",
    ],
)
def test_blank_lines_are_skipped_not_counted_nor_rejected(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    text: str,
) -> None:
    """A trailing (or stray) blank line, or one of separators only, is no row: it was read
    as a row and rejected as "empty id"."""
    src = tmp_path / "blank.csv"
    src.write_bytes(text.encode())
    batches, stats, rejects = produce(tmp_path, [src])
    assert table(batches)[1:] == [["c1", "x"]]
    assert stats.rows_read == 1 and stats.rows_rejected == 0 and not rejects


def test_a_row_without_id_but_with_a_value_stays_a_reject(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    """Only a line with every cell empty is skipped; the row numbers of the file stay."""
    src = tmp_path / "noid.csv"
    src.write_text("thirdPartyId,v\n\n,x\nc1,y\n")
    batches, stats, rejects = produce(tmp_path, [src])
    assert table(batches)[1:] == [["c1", "y"]]
    assert stats.rows_read == 2 and stats.rows_rejected == 1
    assert [(r["row"], r["reason"]) for r in rejects] == [("2", "empty id")]


def test_a_file_of_blank_lines_only_has_no_data_rows(tmp_path: Path) -> None:
    src = tmp_path / "blank.csv"
    src.write_text("thirdPartyId,v\n\n,\n")
    with pytest.raises(InputError, match=r"blank\.csv: no data rows"):
        list(Producer(InputSpec(sources=(src,))))


@pytest.mark.parametrize(
    ("limit", "code"), [("1", 1), ("2", 0), ("40%", 0), ("39.9%", 1), ("0", 1)]
)
def test_max_rejects_makes_a_run_with_too_many_rejects_exit_1(
    upload_to: Callable[..., Result], tmp_path: Path, limit: str, code: int
) -> None:
    """2 of 5 rows rejected: over ``--max-rejects 1`` (or 39.9 %) the run exits 1 and says
    why; the good rows are sent all the same (the limit is checked when the run ends)."""
    src = tmp_path / "some-bad.csv"
    src.write_text("thirdPartyId,v\nc1,a\nbad+1,x\nc2,b\n,y\nc3,c\n")
    with run_mock_in_thread(
        MockConfig(client_code="demo", rate_limit=None, require_auth=False)
    ) as mock:
        result = upload_to(
            mock, src, tmp_path / "l" / "ledger.jsonl", "--quiet", "--max-rejects", limit
        )
        received = mock.received_frame().height
    assert result.exit_code == code, result.output
    assert received == 3
    over = f"2 rows rejected, over --max-rejects {limit}"
    assert (over in result.output) == (code == 1)


@pytest.mark.parametrize("limit", ["abc", "-1", "101%", "%", "1.5"])
def test_a_bad_max_rejects_is_one_line_exit_2(
    cli: Callable[..., Result], tmp_path: Path, limit: str
) -> None:
    src = tmp_path / "a.csv"
    src.write_text("thirdPartyId,v\nc1,a\n")
    result = cli(
        "upload", str(src), "--client-code", "demo", "--ledger", str(tmp_path / "l.jsonl"),
        "--max-rejects", limit,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--max-rejects" in result.stderr and result.stderr.count("\n") == 1


def test_a_dry_run_over_max_rejects_exits_1(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "some-bad.csv"
    src.write_text("thirdPartyId,v\nc1,a\nbad+1,x\n")
    out = tmp_path / "bodies"
    result = cli("upload", str(src), "--dry-run", "--out", str(out), "--max-rejects", "0")
    assert result.exit_code == 1, result.output
    assert "1 row rejected, over --max-rejects 0" in result.stderr


def test_a_reader_left_unfinished_lets_its_worker_go_without_waiting() -> None:
    """Closing ``one_ahead`` early (a run that stopped, or the garbage collector, in any
    thread) must not join its worker: a join there deadlocked a whole test run inside
    ``threading``'s bookkeeping. The worker ends after its item."""
    import threading

    from uploader.produce._source import one_ahead

    release = threading.Event()

    def items() -> Iterator[int]:
        yield 1
        release.wait(30)  # the item being made when the reader is closed
        yield 2

    reader = one_ahead(items())
    assert next(reader) == 1
    closer = threading.Thread(target=reader.close)
    closer.start()
    closer.join(10)
    closed_at_once = not closer.is_alive()
    release.set()
    closer.join()
    assert closed_at_once
