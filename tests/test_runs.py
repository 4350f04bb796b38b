"""Run directories under runs/: ``upload --keep-runs N`` removes the old ones the uploader made
(never anything else, never the current run's, never one a running process holds), and
``report``/``status``/``verify`` without ``--ledger`` use the newest run."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from uploader.mock import MockConfig, MockTarget, run_mock_in_thread

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockTarget]:
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as target:
        yield target


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def upload(cli: Callable[..., Result], mock: MockTarget, *extra: str) -> Result:
    return cli(
        "upload", str(SAMPLE), "--client-code", "demo", "--endpoint", mock.base_url,
        "--rate", "none", "--batch-rows", "100", "--quiet", *extra, token=mock.token,
    )  # fmt: skip


def old_run(name: str, ledger: bool = True) -> Path:
    folder = Path("runs") / name
    folder.mkdir(parents=True)
    if ledger:
        (folder / "ledger.jsonl").write_text("{}\n")
    return folder


def test_keep_runs_removes_only_old_uploader_runs_that_no_one_holds(
    cli: Callable[..., Result], mock: MockTarget, here: Path
) -> None:
    oldest = old_run("20240101T000000Z-11")
    older = old_run("20240102T000000Z-12")
    held = old_run("20240103T000000Z-13")
    newer = old_run("20240104T000000Z-14")
    demo = old_run("demo-20240105T000000Z")
    no_ledger = old_run("20230101T000000Z-10", ledger=False)  # not a run: no ledger in it
    named = old_run("nightly")  # a ledger the user named: not ours to delete
    (Path("runs") / "notes.txt").write_text("keep me\n")
    # another process's hold: flock on its own open file, as uploader.ledger._lock takes it
    fd = os.open(held / "ledger.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        result = upload(cli, mock, "--keep-runs", "2")
    finally:
        os.close(fd)
    assert result.exit_code == 0, result.output
    current = [p for p in Path("runs").iterdir() if p.name.endswith(f"-{os.getpid()}")]
    assert len(current) == 1 and (current[0] / "ledger.jsonl").is_file()
    # kept: the current run and the newest before it (2), plus what is not ours or is held
    assert demo.is_dir() and held.is_dir() and no_ledger.is_dir() and named.is_dir()
    assert (Path("runs") / "notes.txt").is_file()
    assert not oldest.exists() and not older.exists() and not newer.exists()
    assert "--keep-runs" in result.stderr and str(oldest) in result.stderr


def test_keep_runs_below_one_is_a_usage_error(
    cli: Callable[..., Result], mock: MockTarget, here: Path
) -> None:
    result = upload(cli, mock, "--keep-runs", "0")
    assert result.exit_code == 2
    assert result.stderr.startswith("uploader: error: --keep-runs")
    assert len(result.stderr.splitlines()) == 1
    assert not Path("runs").exists()  # checked before anything was made or sent


def test_report_status_verify_use_the_newest_run_without_ledger(
    cli: Callable[..., Result], mock: MockTarget, here: Path
) -> None:
    first = upload(cli, mock, "--ledger", "runs/older/ledger.jsonl")
    assert first.exit_code == 0, first.output
    os.utime("runs/older/ledger.jsonl", (1_000_000, 1_000_000))  # clearly the older one
    assert upload(cli, mock).exit_code == 0
    newest = next(p for p in Path("runs").glob("*/ledger.jsonl") if p.parent.name != "older")
    for argv in (["status"], ["report"], ["verify", "--sample", "5"]):
        result = cli(*argv, token=mock.token)
        assert result.exit_code == 0, (argv, result.output)
        assert str(newest) in result.stderr, (argv, result.stderr)
        assert "runs/older" not in result.output + result.stderr


def test_report_without_ledger_and_no_runs_is_one_line(
    cli: Callable[..., Result], here: Path
) -> None:
    result = cli("report")
    assert result.exit_code == 2
    assert result.stderr.startswith("uploader: error: ") and "--ledger" in result.stderr
    assert len(result.stderr.splitlines()) == 1


# -- a run that ends before its ledger exists leaves nothing behind ------------------------------


def test_a_run_refused_before_its_ledger_removes_its_run_directory(
    cli: Callable[..., Result], mock: MockTarget, here: Path
) -> None:
    """No input file: exit 2, and neither the run directory nor runs/ (both made by this run)
    is left behind: a directory with no ledger is one --keep-runs would never remove."""
    result = cli(
        "upload", "nofile.csv", "--client-code", "demo", "--endpoint", mock.base_url,
        "--quiet", token=mock.token,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert not Path("runs").exists()


def test_a_refused_run_keeps_what_it_did_not_make(
    cli: Callable[..., Result], mock: MockTarget, here: Path
) -> None:
    """runs/ existed (with an earlier run in it) and the --ledger directory existed with a
    file of the user's: only the run's own lock and rejects file go; the directories stay."""
    earlier = old_run("20240101T000000Z-11")
    named = Path("runs") / "nightly"
    named.mkdir()
    (named / "notes.txt").write_text("mine\n")
    empty = Path("bad.csv")
    empty.write_text("")  # an input error found by the check pass
    for ledger in (named / "ledger.jsonl", None):
        extra = ("--ledger", str(ledger)) if ledger is not None else ()
        result = upload_file(cli, mock, empty, *extra)
        assert result.exit_code == 2, result.output
    assert sorted(p.name for p in named.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in Path("runs").iterdir()) == [earlier.name, "nightly"]


def test_a_refused_resume_keeps_the_earlier_runs_files(
    cli: Callable[..., Result], mock: MockTarget, here: Path
) -> None:
    """A --resume refused (the input changed) leaves the ledger, its lock and rejects file."""
    ledger = Path("runs") / "nightly" / "ledger.jsonl"
    assert upload(cli, mock, "--ledger", str(ledger)).exit_code == 0
    before = sorted(p.name for p in ledger.parent.iterdir())
    assert {"ledger.lock", "rejects.csv", "ledger.jsonl"} <= set(before)
    changed = Path("changed.csv")
    changed.write_text(SAMPLE.read_text() + SAMPLE.read_text().splitlines()[1] + "\n")
    result = upload_file(cli, mock, changed, "--ledger", str(ledger), "--resume")
    assert result.exit_code == 2, result.output
    assert sorted(p.name for p in ledger.parent.iterdir()) == before


def upload_file(cli: Callable[..., Result], mock: MockTarget, path: Path, *extra: str) -> Result:
    return cli(
        "upload", str(path), "--client-code", "demo", "--endpoint", mock.base_url,
        "--rate", "none", "--quiet", *extra, token=mock.token,
    )  # fmt: skip
