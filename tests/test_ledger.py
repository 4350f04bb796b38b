"""The ledger: durable appends, folding, and surviving a record cut short by a crash."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from uploader.errors import LedgerError
from uploader.ledger._ledger import Ledger, read_ledger
from uploader.ledger._records import LEDGER_SCHEMA, InputFingerprint, RunRecord, parse_record


def batch(seq: int, outcome: str, digest: str = "h") -> dict[str, object]:
    return {"type": "batch", "seq": seq, "hash": f"{digest}{seq}", "rows": 10, "outcome": outcome}


def write(path: Path, *records: dict[str, object]) -> None:
    ledger = Ledger(path)
    for record in records:
        ledger.write(parse_record(record))
    ledger.close()


def test_the_latest_record_of_a_seq_wins_and_only_acknowledged_batches_count(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "ledger.jsonl"
    run = {"type": "run", "fingerprint": {"sources": [], "settings": {}}}
    write(path, run, batch(1, "acknowledged"), batch(2, "pending"), batch(3, "failed"))
    write(path, {"type": "run", "fingerprint": {}}, batch(2, "acknowledged"), {"type": "summary"})
    state = read_ledger(path)
    assert state.acknowledged() == {1: "h1", 2: "h2"}
    assert state.batches[3].outcome == "failed"
    # the first run's input is the reference
    assert state.first_run.fingerprint == InputFingerprint(sources=(), settings={})
    assert len(state.runs) == 2 and len(state.summaries) == 1


@pytest.mark.parametrize("schema", [None, 1, 2])
def test_ledgers_of_this_or_an_older_schema_are_appended_to(
    tmp_path: Path, schema: int | None
) -> None:
    path = tmp_path / "ledger.jsonl"
    run: dict[str, object] = {"type": "run", "fingerprint": {}}
    if schema is not None:
        run["schema"] = schema
    write(path, run)
    write(path, {"type": "status", "seq": 1})
    assert read_ledger(path).schema == (schema or 1) and len(read_ledger(path).statuses) == 1


def test_a_ledger_of_a_newer_uploader_is_not_appended_to(tmp_path: Path) -> None:
    """Whoever opens it for writing (upload, status, verify) is refused; it still reads."""
    path = tmp_path / "ledger.jsonl"
    newer = {"type": "run", "schema": LEDGER_SCHEMA + 1, "fingerprint": {}}
    path.write_bytes(orjson.dumps(newer) + b"\n")
    with pytest.raises(LedgerError, match="written by a newer uploader"):
        Ledger(path)
    assert path.read_bytes().count(b"\n") == 1
    assert read_ledger(path).schema == LEDGER_SCHEMA + 1


def test_a_record_cut_short_is_ignored_and_cut_off_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    write(path, {"type": "run", "fingerprint": {}}, batch(1, "acknowledged"))
    with path.open("ab") as handle:
        handle.write(orjson.dumps(batch(2, "acknowledged"))[:20])  # killed mid-write
    state = read_ledger(path)
    assert state.truncated_tail and state.acknowledged() == {1: "h1"}
    write(path, batch(3, "acknowledged"))  # the resumed run appends
    state = read_ledger(path)
    assert not state.truncated_tail and state.acknowledged() == {1: "h1", 3: "h3"}


def test_a_corrupt_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b'{"type":"run","fingerprint":{}}\nnot json\n{"type":"summary"}\n')
    with pytest.raises(LedgerError, match="line 2"):
        read_ledger(path)


def test_missing_or_foreign_ledgers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no such file"):
        read_ledger(tmp_path / "nope.jsonl")
    other = tmp_path / "other.jsonl"
    other.write_bytes(orjson.dumps(batch(1, "acknowledged")) + b"\n")
    with pytest.raises(LedgerError, match="no run record"):
        read_ledger(other)
    with pytest.raises(LedgerError, match="cannot open"):
        Ledger(tmp_path)  # a directory


def test_every_record_is_on_disk_when_write_returns(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.write(RunRecord(fingerprint=InputFingerprint()))
    # read through another handle
    assert path.read_bytes().startswith(b'{"type":"run",') and path.read_bytes().endswith(b"\n")
    ledger.close()
