"""Ledgers used from elsewhere, as an Airflow task does: absolute source paths, a touched
file is still the same file, a changed one is named, and a resume goes where the run went."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from uploader.ledger._ledger import read_ledger
from uploader.mock import FaultConfig, MockConfig, run_mock_in_thread


def write(path: Path, rows: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("thirdPartyId,v\n" + "".join(f"c{i},x{i}\n" for i in range(rows)))
    return path


def test_a_relative_path_run_resumes_and_reports_from_another_directory(
    cli: Callable[..., Result],
    upload_to: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(tmp_path / "exports" / "in.csv")
    ledger = tmp_path / "runs" / "ledger.jsonl"
    faults = FaultConfig(p_500=1.0, first_k_calls=2)  # two batches fail, resume sends them
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as mock:
        monkeypatch.chdir(tmp_path / "exports")
        first = upload_to(mock, Path("in.csv"), ledger, "--max-retries", "0", "--quiet")
        assert first.exit_code == 1
        sources = read_ledger(ledger).first_run.fingerprint.sources
        assert sources and sources[0].path == str(tmp_path / "exports" / "in.csv")
        elsewhere = tmp_path / "airflow"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)  # a retry task runs in another directory
        out = elsewhere / "fix.csv"
        report = cli("report", "--ledger", str(ledger), "--failed-rows", str(out))
        assert report.exit_code == 1 and out.read_text().count("\n") == 1 + 20, report.output
        again = upload_to(mock, tmp_path / "exports" / "in.csv", ledger, "--resume", "--quiet")
        assert again.exit_code == 0, again.output


def test_a_touched_file_is_still_the_same_file(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = write(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload_to(mock, source, ledger, "--quiet").exit_code == 0
        stat = source.stat()
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # `touch`
        resumed = upload_to(mock, source, ledger, "--resume", "--quiet")
        assert resumed.exit_code == 0, resumed.output
        assert mock.stats["calls"] == 4  # nothing sent again
    out = tmp_path / "fix.csv"
    assert cli("report", "--ledger", str(ledger), "--failed-rows", str(out)).exit_code == 4


def test_a_changed_file_of_the_same_size_is_named(
    upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = write(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload_to(mock, source, ledger, "--quiet").exit_code == 0
        source.write_text(source.read_text().replace("x1\n", "y1\n"))
        refused = upload_to(mock, source, ledger, "--resume", "--quiet")
    assert refused.exit_code == 2
    assert f"{source} changed since that run (same size, different content)" in refused.stderr


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [("--endpoint", "http://127.0.0.1:9", "endpoint"), ("--api-version", "v1", "api_version")],
)
def test_resume_refuses_another_endpoint_or_api_version(
    cli: Callable[..., Result],
    upload_to: Callable[..., Result],
    tmp_path: Path,
    option: str,
    value: str,
    named: str,
) -> None:
    source = write(tmp_path / "in.csv")
    ledger = tmp_path / "run" / "ledger.jsonl"
    faults = FaultConfig(p_500=1.0, first_k_calls=1)
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as mock:
        first = upload_to(mock, source, ledger, "--max-retries", "0", "--quiet")
        assert first.exit_code == 1
        calls = mock.stats["calls"]
        other = cli(
            "upload", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
            "--ledger", str(ledger), "--rate", "none", "--batch-rows", "10", "--resume",
            "--quiet", option, value, token=mock.token,
        )  # fmt: skip
        assert mock.stats["calls"] == calls
    assert other.exit_code == 2 and f"that run sent to {named}" in other.stderr
