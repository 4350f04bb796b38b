"""`uploader report`: the summary, its exit codes for cron, and `--failed-rows` files that
re-upload cleanly — through the CLI against the mock in a thread."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from click.testing import Result

from uploader.ledger._ledger import read_ledger
from uploader.mock import FaultConfig, MockConfig, MockTarget, run_mock_in_thread

AWKWARD = ["a,b", 'say "hi"', "two\nlines", "50%", "x&y=1", "1+1", "  pad ", "東京", "007"]


def upload(
    upload_to: Callable[..., Result],
    mock: MockTarget,
    source: Path,
    ledger: Path,
    *extra: str,
    batch_rows: int = 10,
) -> Result:
    return upload_to(
        mock, source, ledger, "--concurrency", "1", "--quiet", *extra, batch_rows=batch_rows
    )


def report(cli: Callable[..., Result], ledger: Path, *extra: str) -> Result:
    return cli("report", "--ledger", str(ledger), *extra)


def status(cli: Callable[..., Result], mock: MockTarget, ledger: Path) -> Result:
    return cli("status", "--ledger", str(ledger), token=mock.token)


def source_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def make_source(path: Path, rows: int = 60) -> Path:
    """Awkward values; row 5 and row 40 share an id (merged, sent in the last batch); rows 7
    and 33 have ids Target refuses."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["thirdPartyId", "tier", "note"])
        for row in range(1, rows + 1):
            ident = {5: "dup", 40: "dup", 7: "bad+7", 33: ""}.get(row, f"c-{row}")
            note = AWKWARD[row % len(AWKWARD)] if row != 40 else ""
            writer.writerow([ident, f"t{row}", note])
    return path


def test_report_of_a_landed_run_exits_0(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = make_source(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload(upload_to, mock, source, ledger, "--wait").exit_code == 0
    text = report(cli, ledger)
    assert text.exit_code == 0, text.output
    for words in ("sent", "acknowledged", "processed", "successfulUpdates", "profilesNotFound"):
        assert words in text.stdout
    assert "landed" in text.stdout and "6 complete" in text.stdout
    assert "2 rows  → " in text.stdout and "empty id" in text.stdout.lower()
    data = orjson.loads(report(cli, ledger, "--json").stdout)
    assert data["rows"] == {
        "read": 60,
        "sent": 57,
        "acknowledged": 57,
        "failed": 0,
        "pending": 0,
        "rejected": 2,
        "merged": 1,
    }
    assert data["target"]["totals"]["successful_updates"] == 57 and data["exit_code"] == 0
    assert sum(data["rejects"].values()) == 2
    assert "sync" not in data and "unchanged" not in text.stdout  # an upload's: no selection
    assert report(cli, ledger, "--fail-on-rejects").exit_code == 1  # rejects count only on demand


def test_exit_codes_not_polled_incomplete_stuck_unknown(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = make_source(tmp_path / "in.csv")
    ledgers = {name: tmp_path / name / "ledger.jsonl" for name in ("a", "b", "c")}
    config = MockConfig(client_code="demo", rate_limit=None, status_delay=3600.0)
    with run_mock_in_thread(config) as mock:
        assert upload(upload_to, mock, source, ledgers["a"]).exit_code == 0
        assert report(cli, ledgers["a"]).exit_code == 4  # acknowledged, never asked
        assert status(cli, mock, ledgers["a"]).exit_code == 4
        incomplete = report(cli, ledgers["a"])
        mock.mark_stuck(mock.batch_ids[-1])
        assert status(cli, mock, ledgers["a"]).exit_code == 1
        stuck = report(cli, ledgers["a"])
    retained = MockConfig(client_code="demo", rate_limit=None, status_retention=2)
    with run_mock_in_thread(retained) as mock:
        assert upload(upload_to, mock, source, ledgers["b"]).exit_code == 0
        assert status(cli, mock, ledgers["b"]).exit_code == 5  # forgotten: unconfirmed, not failed
        unknown = report(cli, ledgers["b"])
    assert incomplete.exit_code == 4 and "6 incomplete" in incomplete.stdout
    assert "not yet" in incomplete.stdout
    assert stuck.exit_code == 1 and "1 stuck" in stuck.stdout
    assert "NOT LANDED: 1 batch stuck at Target" in stuck.stdout  # the verdict says what
    assert unknown.exit_code == 5 and "4 unknown" in unknown.stdout
    assert "unconfirmed" in unknown.stdout and "uploader verify" in unknown.stdout
    assert "Batch not found" in unknown.stdout


def test_failed_batch_and_unfinished_run_exit_1(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = make_source(tmp_path / "in.csv")
    ledger = tmp_path / "ledger.jsonl"
    faults = FaultConfig(p_500=1.0, first_k_calls=1)
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as m:
        assert upload(upload_to, m, source, ledger, "--max-retries", "0", "--wait").exit_code == 1
    failed = report(cli, ledger)
    assert failed.exit_code == 1 and "10 rows in 1 batch\n" in failed.stdout
    lines = ledger.read_bytes().splitlines()
    summary_at = max(i for i, line in enumerate(lines) if b'"type":"summary"' in line)
    crashed = tmp_path / "crashed.jsonl"
    crashed.write_bytes(b"\n".join(lines[:summary_at]) + b"\n")  # killed before its summary
    unfinished = report(cli, crashed)
    assert unfinished.exit_code == 1 and "did not finish" in unfinished.stdout


def test_failed_rows_are_verbatim_and_reupload_cleanly(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    cli: Callable[..., Result],
    upload_to: Callable[..., Result],
    tmp_path: Path,
) -> None:
    """Batch 1 fails, the last (with the merged duplicate) is stuck, two rows are rejected:
    --failed-rows writes exactly those source rows; fixed and re-sent, every profile is right."""
    source = make_source(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    out = tmp_path / "fix-me.csv"
    faults = FaultConfig(p_500=1.0, first_k_calls=1)
    config = MockConfig(client_code="demo", rate_limit=None, faults=faults)
    with run_mock_in_thread(config) as mock:
        assert upload(upload_to, mock, source, ledger, "--max-retries", "0").exit_code == 1
        state = read_ledger(ledger)
        last = state.batches[max(state.batches)]
        mock.mark_stuck(str(last.batch_id))
        assert status(cli, mock, ledger).exit_code == 1
        result = report(cli, ledger, "--failed-rows", str(out), "--json")
        assert result.exit_code == 1, result.output
        data = orjson.loads(result.stdout)
        assert data["failed_rows"]["batches"] == [1, max(state.batches)]

        original = source_rows(source)
        written = source_rows(out)
        assert written[0] == original[0]
        body = written[1:]
        position = [original.index(row) for row in body]  # verbatim rows of the source…
        assert position == sorted(position)  # …in file order
        failed_rows = state.batches[1].rows + last.rows
        assert len(body) == failed_rows + 2 + 1  # + 2 rejected + the merged duplicate's rows
        assert {5, 40, 7, 33} <= set(position)

        fixed = tmp_path / "fixed.csv"
        with fixed.open("w", newline="", encoding="utf-8") as handle:
            rows = [[r[0].replace("+", "-") or "fixed-33", *r[1:]] for r in body]
            csv.writer(handle).writerows([written[0], *rows])
        again = upload(upload_to, mock, fixed, tmp_path / "again" / "ledger.jsonl", "--wait")
        assert again.exit_code == 0, again.output
        everything = tmp_path / "everything.csv"
        with everything.open("w", newline="", encoding="utf-8") as handle:
            fixed_ids = {"bad+7": "bad-7", "": "fixed-33"}
            csv.writer(handle).writerows(
                [original[0], *([fixed_ids.get(r[0], r[0]), *r[1:]] for r in original[1:])]
            )
        want = expected_profiles(everything)
        got = {ident: mock.profiles.get(ident) for ident in want}
    assert got == want


def test_failed_rows_of_a_clean_run_is_just_a_header(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("thirdPartyId,a\nx,1\ny,2\n")
    ledger = tmp_path / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload(upload_to, mock, source, ledger, "--wait").exit_code == 0
    result = report(cli, ledger, "--failed-rows", str(tmp_path / "out.csv"))
    assert result.exit_code == 0 and "0 source rows" in result.stdout
    assert (tmp_path / "out.csv").read_text() == "thirdPartyId,a\n"


def test_failed_rows_refuses_a_changed_input(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("thirdPartyId,a\nx,1\ny,2\n")
    ledger = tmp_path / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload(upload_to, mock, source, ledger).exit_code == 0
    source.write_text("thirdPartyId,a\nx,1\ny,3\nz,4\n")
    result = report(cli, ledger, "--failed-rows", str(tmp_path / "out.csv"))
    assert result.exit_code == 2 and "changed since that run" in result.stderr


def test_report_and_status_still_read_a_ledger_of_uploader_0_1(
    cli: Callable[..., Result],
    relabel_ledger: Callable[[Path, int | None], None],
    upload_to: Callable[..., Result],
    tmp_path: Path,
) -> None:
    """Unversioned (schema 1) ledgers recorded compact encoding as "default": report and
    --failed-rows re-make their batches with compact, status polls them."""
    source = make_source(tmp_path / "in.csv")
    ledger = tmp_path / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload(upload_to, mock, source, ledger, "--encode", "compact").exit_code == 0
        relabel_ledger(ledger, None)
        polled = status(cli, mock, ledger)
        assert polled.exit_code == 0, polled.output
    assert read_ledger(ledger).schema == 1 and read_ledger(ledger).statuses
    assert report(cli, ledger).exit_code == 0
    result = report(cli, ledger, "--failed-rows", str(tmp_path / "out.csv"))
    assert result.exit_code == 0 and "(0 batches, 2 rejected rows," in result.stdout, result.output


@pytest.mark.parametrize("command", ["status", "report", "verify"])
def test_new_commands_have_help_and_exit_codes(cli: Callable[..., Result], command: str) -> None:
    result = cli(command, "--help")
    assert result.exit_code == 0 and "--ledger" in result.stdout and "Exit codes" in result.stdout


def test_row_level_failures_exit_1_and_their_rows_are_written_verbatim(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    """Target lists two ids of one batch as failed (the current batchStatus form): `report`
    counts them, exits 1, and --failed-rows writes exactly those source rows."""
    source = make_source(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload(upload_to, mock, source, ledger, "--wait").exit_code == 0
    state = read_ledger(ledger)
    seq = min(state.batches)
    record = replace(state.statuses[seq], failed_ids=("c-2", "c-4"), failed_updates=2)
    with ledger.open("ab") as handle:
        handle.write(orjson.dumps(record.to_json()) + b"\n")
    text = report(cli, ledger)
    assert text.exit_code == 1 and "NOT LANDED: 2 rows failed at Target" in text.stdout
    assert "rows failed" in text.stdout and "2 (listed by Target, row level)" in text.stdout
    out = tmp_path / "fix.csv"
    written = report(cli, ledger, "--failed-rows", str(out), "--json")
    assert written.exit_code == 1
    data = orjson.loads(written.stdout)
    assert data["rows_failed_row_level"] == 2 and data["failed_rows"]["row_level"] == 2
    wanted = {2, 4, 7, 33}  # the two failed ids, and the two rejected rows
    rows = source_rows(source)
    assert source_rows(out) == [rows[0], *(rows[i] for i in sorted(wanted))]


def test_forgotten_statuses_are_unconfirmed_until_a_read_back_matches(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    """Target keeps ~10 statuses: gone is not failed (exit 5), and once `verify` reads the
    sampled profiles back as sent the verdict is "landed, sample verified" (exit 0)."""
    source = make_source(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    retained = MockConfig(client_code="demo", rate_limit=None, status_retention=2)
    with run_mock_in_thread(retained) as mock:
        assert upload(upload_to, mock, source, ledger).exit_code == 0
        assert status(cli, mock, ledger).exit_code == 5
        unconfirmed = report(cli, ledger)
        checked = cli(
            "verify", "--ledger", str(ledger), "--sample", "20", "--rate", "none",
            token=mock.token,
        )  # fmt: skip
        assert checked.exit_code == 0, checked.output
    assert unconfirmed.exit_code == 5 and "unconfirmed" in unconfirmed.stdout
    verified = report(cli, ledger)
    assert verified.exit_code == 0, verified.output
    assert "landed, sample verified" in verified.stdout
