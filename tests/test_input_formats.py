"""Real-world input files (issue 14): Excel's "CSV UTF-8" (BOM + quoted header), other
separators, gzip, other encodings, stdin, and where in a file a ragged row is."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from uploader.errors import ConfigError, InputError
from uploader.produce._model import Batch, ProduceStats
from uploader.produce._producer import InputSpec, Producer

ROWS = [["c1", "Zürich", "a, b"], ["c2", "€ 5", 'say "hi"'], ["c3", "", "two\nlines"]]


def csv_text(rows: list[list[str]], sep: str = ",", eol: str = "\r\n") -> str:
    """``rows`` under the header ``thirdPartyId,city,note``, every field quoted (as Excel
    does for the fields that need it)."""
    lines = [["thirdPartyId", "city", "note"], *rows]
    quoted = (sep.join('"' + v.replace('"', '""') + '"' for v in line) for line in lines)
    return "".join(line + eol for line in quoted)


@pytest.fixture(params=[1, 7, 1 << 20], ids=["block1", "block7", "block1M"])
def block_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every reading test runs with blocks of 1 and 7 bytes too: no boundary may change what
    is read (a multi-byte character or a gzip member split across reads)."""
    import uploader.produce._source

    size: int = request.param
    monkeypatch.setattr(uploader.produce._source, "CSV_BLOCK_BYTES", size)
    return size


def read(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    src: Path,
    **spec: Any,
) -> list[list[str]]:
    batches, stats, rejects = produce(tmp_path, [src], **spec)
    assert not rejects
    rows = table(batches)
    assert stats.rows_read == len(rows) - 1
    return rows


def upload_dry(cli: Callable[..., Result], tmp_path: Path, *args: str) -> Any:
    out = tmp_path / "bodies"
    return cli("upload", *args, "--client-code", "demo", "--dry-run", "--out", str(out))


def one_line_error(result: Any, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("uploader: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr, result.stderr


# -- 1. Excel's "CSV UTF-8": a byte-order mark and a quoted header ----------------------------
def test_bom_and_quoted_header_are_read_like_excel_wrote_them(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    block_bytes: int,
) -> None:
    src = tmp_path / "excel.csv"
    src.write_bytes(b"\xef\xbb\xbf" + csv_text(ROWS).encode())
    assert read(produce, table, tmp_path, src) == [["thirdPartyId", "city", "note"], *ROWS]


def test_bom_and_quoted_header_through_the_cli(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "excel.csv"
    src.write_bytes(b"\xef\xbb\xbf" + csv_text(ROWS).encode())
    result = cli("validate", str(src))
    assert result.exit_code == 0, result.output
    assert upload_dry(cli, tmp_path, str(src)).exit_code == 0


# -- 2. separators, gzip, stdin ----------------------------------------------------------------
def test_tsv_is_read_with_tabs(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    block_bytes: int,
) -> None:
    src = tmp_path / "export.tsv"
    src.write_text(csv_text(ROWS, sep="\t"), encoding="utf-8", newline="")
    assert read(produce, table, tmp_path, src)[1:] == ROWS


def test_semicolon_separator(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    block_bytes: int,
) -> None:
    """A European export: ``;`` between fields, commas inside values."""
    src = tmp_path / "export.csv"
    src.write_text("thirdPartyId;price;note\nc1;1,50;a,b\nc2;2,00;\n", encoding="utf-8")
    assert read(produce, table, tmp_path, src, separator=";")[1:] == [
        ["c1", "1,50", "a,b"],
        ["c2", "2,00", ""],
    ]


@pytest.mark.parametrize("flag", ["tab", "\\t", "\t"])
def test_separator_flag_accepts_tab_spellings(
    cli: Callable[..., Result], tmp_path: Path, flag: str
) -> None:
    src = tmp_path / "export.txt"
    src.write_text("thirdPartyId\tv\nc1\ta,b\n", encoding="utf-8")
    result = upload_dry(cli, tmp_path, str(src), "--separator", flag)
    assert result.exit_code == 0, result.output
    body = next((tmp_path / "bodies").glob("batch-*.txt")).read_bytes()
    assert body == b"batch=thirdPartyId,v\nc1,a%2Cb\n"


def test_separator_from_the_config_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "export.csv"
    src.write_text("thirdPartyId;v\nc1;x\n", encoding="utf-8")
    config = tmp_path / "uploader.toml"
    config.write_text('separator = ";"\n', encoding="utf-8")
    result = upload_dry(cli, tmp_path, "--config", str(config), str(src))
    assert result.exit_code == 0, result.output
    body = next((tmp_path / "bodies").glob("batch-*.txt")).read_bytes()
    assert body == b"batch=thirdPartyId,v\nc1,x\n"


@pytest.mark.parametrize("bad", ["::", '"', "", "\n"])
def test_a_bad_separator_is_one_line(cli: Callable[..., Result], tmp_path: Path, bad: str) -> None:
    src = tmp_path / "a.csv"
    src.write_text("thirdPartyId,v\nc1,x\n", encoding="utf-8")
    one_line_error(upload_dry(cli, tmp_path, str(src), "--separator", bad), "--separator")


def test_separator_and_encoding_shape_batches(tmp_path: Path) -> None:
    """Recorded with the run: --resume with another one is refused, and a ledger's spec
    re-reads the file the same way."""
    from uploader.ledger._ledger import LedgerState
    from uploader.ledger._records import InputFingerprint, RunRecord, SourceRecord
    from uploader.reconcile._reproduce import spec_from_ledger

    plain = InputSpec(sources=("a.csv",))
    other = InputSpec(sources=("a.csv",), separator=";", input_encoding="windows-1252")
    assert plain.shaping_settings() != other.shaping_settings()
    assert other.shaping_settings()["input_encoding"] == "cp1252"  # one name per codec
    sources = (SourceRecord(path="a.csv"),)
    fingerprint = InputFingerprint(sources=sources, settings=other.shaping_settings())
    state = LedgerState(runs=[RunRecord(fingerprint=fingerprint)])
    again = spec_from_ledger(state, tmp_path / "ledger.jsonl")
    assert again.shaping_settings() == other.shaping_settings()


def test_resume_with_another_separator_is_refused(tmp_path: Path) -> None:
    from uploader.send._engine import _check_same_input

    src = tmp_path / "a.csv"
    src.write_text("thirdPartyId\nc1\n", encoding="utf-8")  # one column: read either way
    before = Producer(InputSpec(sources=(src,), separator=";")).fingerprint()
    now = Producer(InputSpec(sources=(src,), separator=",")).fingerprint()
    with pytest.raises(Exception, match=r"settings changed \(separator\)"):
        _check_same_input(before, now, tmp_path / "ledger.jsonl")


def test_a_ledger_without_the_new_settings_still_resumes(tmp_path: Path) -> None:
    """A run started by the previous version (no separator/encoding recorded) read the file
    with the defaults: resuming it with the defaults is the same input."""
    from uploader.send._engine import _check_same_input

    src = tmp_path / "a.csv"
    src.write_text("thirdPartyId,v\nc1,x\n", encoding="utf-8")
    now = Producer(InputSpec(sources=(src,))).fingerprint()
    settings = dict(now.settings or {})
    del settings["separator"], settings["input_encoding"]
    _check_same_input(replace(now, settings=settings), now, tmp_path / "ledger.jsonl")


@pytest.mark.parametrize("name", ["export.csv.gz", "export.tsv.gz", "export.txt.gz"])
def test_gzipped_csv_is_read_while_decompressing(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    block_bytes: int,
    name: str,
) -> None:
    src = tmp_path / name
    sep = "\t" if ".tsv" in name else ","
    with gzip.open(src, "wt", encoding="utf-8", newline="") as handle:
        handle.write("\ufeff" + csv_text(ROWS, sep=sep))
    assert read(produce, table, tmp_path, src) == [["thirdPartyId", "city", "note"], *ROWS]


def test_gzipped_csv_through_the_cli(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "export.csv.gz"
    src.write_bytes(gzip.compress(csv_text(ROWS).encode()))
    assert cli("validate", str(src)).exit_code == 0
    result = upload_dry(cli, tmp_path, str(src))
    assert result.exit_code == 0, result.output


def test_a_corrupt_gzip_file_is_one_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "export.csv.gz"
    src.write_bytes(gzip.compress(csv_text(ROWS * 50).encode())[:-30])
    one_line_error(
        upload_dry(cli, tmp_path, str(src)), "export.csv.gz: damaged or truncated gzip data"
    )


def test_stdin_is_refused_with_a_suggestion(cli: Callable[..., Result], tmp_path: Path) -> None:
    one_line_error(upload_dry(cli, tmp_path, "-"), "stdin", "save it to a file")
    with pytest.raises(InputError, match="stdin"):
        Producer(InputSpec(sources=("-",))).check()


# -- 3. other encodings --------------------------------------------------------------------------
def test_windows_1252_is_transcoded(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    block_bytes: int,
) -> None:
    src = tmp_path / "excel.csv"
    src.write_bytes(csv_text(ROWS).encode("cp1252"))
    assert read(produce, table, tmp_path, src, input_encoding="cp1252")[1:] == ROWS


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig", "latin-1"])
def test_other_encodings_are_transcoded(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    block_bytes: int,
    encoding: str,
) -> None:
    rows = [["c1", "Zürich", "a, b"], ["c2", "ñ", 'say "hi"'], ["c3", "", "two\nlines"]]
    src = tmp_path / "export.csv"
    text = csv_text(rows)
    src.write_bytes(("\ufeff" + text if encoding == "utf-16-le" else text).encode(encoding))
    assert read(produce, table, tmp_path, src, input_encoding=encoding)[1:] == rows


def test_windows_1252_through_the_cli(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "excel.csv"
    src.write_bytes(csv_text(ROWS).encode("cp1252"))
    refused = upload_dry(cli, tmp_path, str(src))
    one_line_error(refused, "not valid UTF-8", "--input-encoding")
    result = upload_dry(
        cli, tmp_path, str(src), "--input-encoding", "cp1252", "--encode", "compact"
    )
    assert result.exit_code == 0, result.output
    body = next((tmp_path / "bodies").glob("batch-*.txt")).read_bytes().decode()
    assert "c1,Zürich,a%2C%20b" in body and "c2,€%205," in body


def test_an_unknown_encoding_is_one_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("thirdPartyId,v\nc1,x\n", encoding="utf-8")
    for name in ("klingon", "base64"):
        one_line_error(upload_dry(cli, tmp_path, str(src), "--input-encoding", name), name)
    with pytest.raises(ConfigError, match="klingon"):
        InputSpec(sources=(src,), input_encoding="klingon")


def test_bytes_the_encoding_has_no_character_for_are_an_error(tmp_path: Path) -> None:
    """0x81 is undefined in cp1252: refused, never replaced."""
    src = tmp_path / "a.csv"
    src.write_bytes(b"thirdPartyId,v\nc1,x\nc2,\x81\n")
    with pytest.raises(InputError, match=r"a\.csv.*not valid cp1252"):
        list(Producer(InputSpec(sources=(src,), input_encoding="cp1252")))


# -- 4. where a ragged row is ----------------------------------------------------------------------
def test_a_ragged_row_deep_in_the_file_is_located(tmp_path: Path, block_bytes: int) -> None:
    """Line and row of the offending record, whatever block it falls in (quoted line breaks
    make lines and rows differ)."""
    src = tmp_path / "ragged.csv"
    good = "".join(f'c{i},"two\nlines"\n' for i in range(300))  # rows 1-300, lines 2-601
    src.write_text("thirdPartyId,v\n" + good + "c300,x\nc301,x,extra\nc302,x\n")
    with pytest.raises(InputError) as caught:
        list(Producer(InputSpec(sources=(src,))))
    assert str(caught.value) == (
        f"{src}, line 603 (row 302): a row has more fields than the header "
        "(ragged CSV; quote values containing the separator)"
    )


def test_a_ragged_row_through_the_cli(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "ragged.tsv"
    src.write_text("thirdPartyId\tv\n" + "".join(f"c{i}\tx\n" for i in range(50_000)) + "z\t1\t2\n")
    one_line_error(cli("validate", str(src)), "line 50,002 (row 50,001)", "more fields")


@pytest.mark.parametrize(
    ("tail", "place"),
    [(b"c3,\xe9t\xe9\n", "line 603 (row 302)"), (b'c3,"a\nb\xe9"\n', "line 603 (row 302)"),
     (b"\xe9,x\n", "line 603 (row 302)")],
)  # fmt: skip
def test_bytes_that_are_not_utf8_are_located(
    tmp_path: Path, block_bytes: int, tail: bytes, place: str
) -> None:
    src = tmp_path / "latin.csv"
    good = "".join(f'c{i},"two\nlines"\n' for i in range(300))
    src.write_bytes(b"thirdPartyId,v\n" + good.encode() + b"c300,x\n" + tail + b"c4,x\n")
    with pytest.raises(InputError, match=rf"latin\.csv, {re.escape(place)}: not valid UTF-8"):
        list(Producer(InputSpec(sources=(src,))))
