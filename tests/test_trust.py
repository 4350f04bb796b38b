"""What a nightly job must be able to trust: one writer per ledger, an honest verdict after a
crash, a readable rejects file after kill -9, no ledger left by an input error, and clear
refusals of ledgers that are not what they seem."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import Result

from uploader.errors import LedgerError
from uploader.ledger._ledger import read_ledger
from uploader.mock import MockConfig, MockTarget, run_mock_in_thread
from uploader.produce._rejects import RejectsWriter

HOLDER = """
import sys, time
from pathlib import Path
from uploader.ledger import _lock as lock
lock.acquire(Path(sys.argv[1]))
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin (or kills us)
"""


def write_csv(path: Path, rows: int, *, ragged_at: int | None = None) -> Path:
    lines = ["thirdPartyId,tier"]
    for i in range(rows):
        lines.append(f"c-{i},t{i}" + (",extra" if i == ragged_at else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def upload(
    upload_to: Callable[..., Result], mock: MockTarget, source: Path, ledger: Path, *extra: str
) -> Result:
    return upload_to(mock, source, ledger, "--quiet", *extra)


def holder(ledger: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ledger)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "holding\n"
    return process


def test_a_second_run_on_a_busy_ledger_stops_at_once_and_a_dead_holder_frees_it(
    cli: Callable[..., Result],
    upload_to: Callable[..., Result],
    tmp_path: Path,
) -> None:
    source = write_csv(tmp_path / "in.csv", 30)
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        process = holder(ledger)
        try:
            busy = upload(upload_to, mock, source, ledger, "--resume")
            status = cli("status", "--ledger", str(ledger), token=mock.token)
        finally:
            process.kill()  # SIGKILL: the kernel releases the lock with the process
            process.communicate()
        assert busy.exit_code == 2 and mock.stats["calls"] == 0
        assert f"another run (pid {process.pid}, started " in busy.stderr
        assert busy.stderr.count("\n") == 1 and "Traceback" not in busy.output
        assert not ledger.exists()  # refused before anything was read or written
        assert status.exit_code == 2
        done = upload(upload_to, mock, source, ledger)
        assert done.exit_code == 0, done.output
        assert mock.stats["calls"] == 3


def test_an_input_error_before_the_first_send_leaves_no_ledger(
    upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    """A ragged row deep in the file: exit 2, no ledger; once fixed, the same command runs
    (it used to say "ledger exists, add --resume", then "input changed")."""
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        source = write_csv(tmp_path / "in.csv", 50, ragged_at=45)
        failed = upload(upload_to, mock, source, ledger)
        assert failed.exit_code == 2 and "more fields than the header" in failed.stderr
        assert not ledger.exists() and mock.stats["calls"] == 0
        write_csv(source, 50)
        fixed = upload(upload_to, mock, source, ledger)
        assert fixed.exit_code == 0, fixed.output
    assert read_ledger(ledger).runs[0].resumed is False


def test_report_judges_the_final_state_after_a_crash_and_a_resume(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", 60)
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload(upload_to, mock, source, ledger).exit_code == 0
        lines = ledger.read_bytes().splitlines()
        crashed = [line for line in lines if b'"type":"summary"' not in line][:4]
        ledger.write_bytes(b"\n".join(crashed) + b"\n")  # killed after 3 batches
        assert cli("report", "--ledger", str(ledger)).exit_code == 6  # stopped early
        assert upload(upload_to, mock, source, ledger, "--resume", "--wait").exit_code == 0
    text = cli("report", "--ledger", str(ledger))
    assert text.exit_code == 0, text.output
    assert "landed" in text.stdout and "NOT LANDED" not in text.stdout


def test_rejects_header_is_on_disk_before_the_first_reject(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    with RejectsWriter(path):
        assert path.read_bytes() == b"source,row,id,reason\n"  # as a kill -9 would leave it


def test_an_empty_rejects_file_means_none_recorded_yet(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", 20)
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload(upload_to, mock, source, ledger, "--wait").exit_code == 0
    ledger.with_name("rejects.csv").write_bytes(b"")  # an older version killed early
    assert cli("report", "--ledger", str(ledger)).exit_code == 0
    out = tmp_path / "fix.csv"
    assert cli("report", "--ledger", str(ledger), "--failed-rows", str(out)).exit_code == 0


@pytest.mark.parametrize(
    "record",
    [
        {"type": "batch"},
        {"type": "batch", "seq": "x", "hash": "h", "rows": 1, "outcome": "acknowledged"},
        {"type": "batch", "seq": 1, "hash": "h", "rows": "many", "outcome": "acknowledged"},
        {"type": "status", "batch_id": "b"},
        {"type": "run"},
        {"type": "verify", "kind": "profile"},
        {"type": "mystery"},
        ["type", "batch"],
    ],
)
def test_a_ledger_line_that_is_json_but_not_a_record_is_named(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path, record: object
) -> None:
    source = write_csv(tmp_path / "in.csv", 20)
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload(upload_to, mock, source, ledger).exit_code == 0
        good = ledger.read_bytes()
        ledger.write_bytes(good + orjson.dumps(record) + b"\n")
        number = good.count(b"\n") + 1
        with pytest.raises(LedgerError, match=f"line {number} is not a valid"):
            read_ledger(ledger)
        for result in (
            cli("report", "--ledger", str(ledger)),
            upload(upload_to, mock, source, ledger, "--resume"),
        ):
            assert result.exit_code == 2 and f"line {number} is not a valid" in result.stderr
            assert "Traceback" not in result.output


def test_the_lock_file_lives_beside_the_ledger(tmp_path: Path) -> None:
    from uploader.ledger import _lock as lock

    ledger = tmp_path / "x" / "ledger.jsonl"
    with lock.hold(ledger), lock.hold(ledger):  # re-entrant within a process
        assert (tmp_path / "x" / lock.LOCK_NAME).exists()
        assert str(os.getpid()) in (tmp_path / "x" / lock.LOCK_NAME).read_text()


def limited_upload(limit: int, *args: str, token: str) -> subprocess.CompletedProcess[str]:
    """``uploader upload`` in a process that cannot grow any file past ``limit`` bytes: the
    kernel answers EFBIG like a full disk (SIGXFSZ ignored), mid-run, for real."""
    import resource
    import signal

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "uploader", "upload", *args],
        env={**os.environ, "TARGET_PROFILE_TOKEN": token, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit_files,
    )


def test_a_full_disk_mid_run_stops_in_one_line_and_the_ledger_agrees(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", 400)
    ledger = tmp_path / "run" / "ledger.jsonl"
    args = [
        str(source), "--client-code", "demo", "--ledger", str(ledger), "--rate", "none",
        "--batch-rows", "10", "--concurrency", "1", "--quiet", "--json",
    ]  # fmt: skip
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        full = limited_upload(4000, *args, "--endpoint", mock.base_url, token=mock.token)
        sent = mock.stats["calls"]
        assert full.returncode == 6, full.stderr
        assert "Traceback" not in full.stderr + full.stdout
        summary = orjson.loads(full.stdout)
        assert summary["exit_code"] == 6 and summary["stop_reason"] == "record"
        assert f"ledger {ledger}: cannot write (File too large)" in summary["message"]
        assert 0 < sent < 40  # it stopped sending
        state = read_ledger(ledger)
        assert not state.last_run_finished  # no room for the summary: "did not finish"
        assert cli("report", "--ledger", str(ledger)).exit_code == 6  # the ledger agrees
        recorded = len(state.acknowledged())
        assert recorded <= sent <= recorded + 1  # at most the one call it could not record
        done = upload(upload_to, mock, source, ledger, "--resume")
        assert done.exit_code == 0, done.output
        assert mock.stats["calls"] == sent + 40 - recorded  # nothing acknowledged forgotten


def test_kept_rejects_survive_a_refused_run_and_are_replaced_by_one_that_ran(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rejects.csv"
    earlier = b"source,row,id,reason\nin.csv,3,,empty id\n"
    path.write_bytes(earlier)
    with pytest.raises(LedgerError), RejectsWriter(path):
        raise LedgerError("refused before the run began")
    assert path.read_bytes() == earlier
    with RejectsWriter(path):
        pass
    assert path.read_bytes() == b"source,row,id,reason\n"
    missing = tmp_path / "new" / "rejects.csv"
    with pytest.raises(LedgerError), RejectsWriter(missing):
        raise LedgerError("refused")
    assert not missing.exists()
