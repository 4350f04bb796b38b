"""`uploader upload` and `uploader demo` through the real CLI against the mock in a thread:
exact receipts, exit codes, one-line errors, and the token never written anywhere."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import polars as pl
import pytest
from click.testing import CliRunner, Result

from uploader.cli._main import main
from uploader.mock import FaultConfig, MockConfig, run_mock_in_thread

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"
TOKEN = "tok-Zq8wK2-do-not-leak"
NEW_TOKEN = "tok-Rt5vB9-rotated-secret"


def invoke(*args: str, token: str | None = None) -> Result:
    env = {"TARGET_PROFILE_TOKEN": token} if token else {"TARGET_PROFILE_TOKEN": ""}
    return CliRunner().invoke(main, ["upload", *args], env=env)


def upload_args(source: Path, base_url: str, ledger: Path, *extra: str) -> list[str]:
    return [
        str(source), "--client-code", "demo", "--endpoint", base_url, "--ledger", str(ledger),
        "--rate", "none", *extra,
    ]  # fmt: skip


def assert_nowhere(secrets: list[str], results: list[Result], folder: Path) -> None:
    """Zero occurrences of any secret in stdout, stderr, or any file the runs wrote."""
    for secret in secrets:
        for result in results:
            assert secret not in result.stdout and secret not in result.stderr
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_upload_delivers_exactly_writes_summary_and_never_the_token(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "run" / "ledger.jsonl"
    mock_config = MockConfig(client_code="demo", token=TOKEN, rate_limit=None)
    with run_mock_in_thread(mock_config) as mock:
        refused = invoke(
            *upload_args(SAMPLE, mock.base_url, tmp_path / "bad" / "ledger.jsonl"),
            token=NEW_TOKEN,  # not the mock's token: refused
        )
        done = invoke(
            *upload_args(SAMPLE, mock.base_url, ledger, "--batch-rows", "100"), token=TOKEN
        )
        frame = mock.received_frame()
    assert refused.exit_code == 3, refused.output
    assert "Target rejected the profile token" in refused.stderr + refused.stdout
    assert done.exit_code == 0, done.output
    assert received_profiles(frame) == expected_profiles(SAMPLE)
    assert "rows read" in done.stdout and str(ledger) in done.stdout
    summary = orjson.loads((ledger.parent / "summary.json").read_bytes())
    assert summary["rows_acknowledged"] == 996 and summary["invariant_holds"]
    assert summary["batches_acknowledged"] == 10
    assert (ledger.parent / "rejects.csv").read_text().count("\n") == 4  # header + 3
    assert_nowhere([TOKEN, NEW_TOKEN], [refused, done], tmp_path)


def test_token_file_and_json_output(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", token=TOKEN, rate_limit=None)) as mock:
        result = invoke(
            *upload_args(SAMPLE, mock.base_url, ledger, "--token-file", str(token_file), "--json")
        )
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["exit_code"] == 0 and summary["rows_read"] == 1000
    assert_nowhere([TOKEN], [result], tmp_path / "run")


def test_batches_that_keep_failing_exit_1(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    broken = MockConfig(client_code="demo", require_auth=False, faults=FaultConfig(p_500=1.0))
    with run_mock_in_thread(broken) as mock:
        result = invoke(*upload_args(SAMPLE, mock.base_url, ledger, "--max-retries", "1", "--json"))
    assert result.exit_code == 1, result.output
    summary = orjson.loads(result.stdout)
    assert summary["batches_failed"] == 1 and summary["rows_failed"] == 996
    assert summary["invariant_holds"] and summary["calls"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--endpoint", "http://example.com"], "refusing to send the profile token"),
        (["--client-code", ""], "--client-code is required"),
        (["--rate", "fast"], "--rate 'fast'"),
        (["--resume"], "--resume needs --ledger"),
        (["--concurrency", "0"], "--concurrency"),
        (["--token-file", "/nonexistent/token"], "no such file"),
        (["--out", "x"], "--out goes with --dry-run"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_nothing_sent(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = invoke(str(SAMPLE), "--client-code", "demo", *args, token=TOKEN)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert TOKEN not in result.output


def test_resume_refuses_a_changed_input_and_an_existing_ledger_needs_resume(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(SAMPLE.read_text())
    ledger = tmp_path / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", token=TOKEN, rate_limit=None)) as mock:
        first = invoke(*upload_args(source, mock.base_url, ledger), token=TOKEN)
        rejects = (tmp_path / "rejects.csv").read_bytes()
        again = invoke(*upload_args(source, mock.base_url, ledger), token=TOKEN)
        other = invoke(*upload_args(source, mock.base_url, ledger, "--resume", "--batch-rows", "9"))
        source.write_text(SAMPLE.read_text() + "crm-new,Ann,,,,,,,,\n")
        changed = invoke(*upload_args(source, mock.base_url, ledger, "--resume"), token=TOKEN)
    assert first.exit_code == 0
    # a refused run leaves the first run's record alone: its rejects file too
    assert rejects.count(b"\n") > 1 and (tmp_path / "rejects.csv").read_bytes() == rejects
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert other.exit_code == 2 and "batch_rows" in other.stderr
    assert changed.exit_code == 2 and "in.csv changed since that run (size" in changed.stderr


def test_token_rotated_mid_run_exits_3_and_resume_with_the_new_token_is_exact(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    source = tricky_csv(tmp_path / "tricky.csv", 600)
    ledger = tmp_path / "run" / "ledger.jsonl"
    slow = FaultConfig(latency=0.03)
    mock_config = MockConfig(client_code="demo", token=TOKEN, rate_limit=None, faults=slow)
    with run_mock_in_thread(mock_config) as mock:

        def rotate_after_a_few_batches() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if ledger.exists() and ledger.read_text().count('"type":"batch"') >= 3:
                    mock.rotate_token(NEW_TOKEN)  # an admin regenerated the token
                    return
                time.sleep(0.005)

        rotator = threading.Thread(target=rotate_after_a_few_batches)
        rotator.start()
        args = upload_args(
            source, mock.base_url, ledger, "--batch-rows", "20", "--concurrency", "2"
        )
        stopped = invoke(*args, "--json", token=TOKEN)
        rotator.join()
        resumed = invoke(*args, "--resume", token=NEW_TOKEN)
        frame = mock.received_frame()
    assert stopped.exit_code == 3, stopped.output
    first = orjson.loads(stopped.stdout)
    assert first["stop_reason"] == "auth" and first["rows_pending"] > 0 and first["invariant_holds"]
    assert "uploader token get" in first["message"]
    assert resumed.exit_code == 0, resumed.output
    assert received_profiles(frame) == expected_profiles(source)
    assert_nowhere([TOKEN, NEW_TOKEN], [stopped, resumed], tmp_path)


def test_dry_run_sends_nothing_and_writes_the_bodies(tmp_path: Path) -> None:
    out = tmp_path / "bodies"
    result = invoke(str(SAMPLE), "--dry-run", "--out", str(out), "--batch-rows", "400")
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("batch-*.txt"))) == 3


def test_dry_run_with_default_settings_writes_pure_ascii_bodies(
    decode_body: Callable[[bytes], list[list[str]]], tmp_path: Path
) -> None:
    """Non-ASCII names and values, empty cells, line separators: with the default encoding
    no body byte is 0x80 or above, and the bodies decode back to the file."""
    source = tmp_path / "in.csv"
    rows = [
        ["thirdPartyId", "ville", "note", "prénom"],
        ["c-1", "Zürich", "", "Zoë"],
        ["c-2", "", "東京 ✓ 🎉", ""],
        ["c-3", "São Paulo", "a\u2028b\u200fc", "Ünïcødé"],
    ]
    source.write_text("".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "bodies"
    result = invoke(str(source), "--client-code", "demo", "--dry-run", "--out", str(out))
    assert result.exit_code == 0, result.output
    bodies = [path.read_bytes() for path in sorted(out.glob("batch-*.txt"))]
    assert bodies and all(byte < 0x80 for body in bodies for byte in body)
    assert [row for body in bodies for row in decode_body(body)] == rows


def test_demo_runs_against_the_embedded_mock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real time: the demo's mock takes 2-5 s per batch, and the demo waits for it (~6 s)."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert "acknowledged" in result.stdout and "ledger" in result.stdout
    assert "batch statuses right after the upload:" in result.stderr
    assert re.search(r"batch statuses +10 complete\n", result.stdout), result.stdout
    assert list((tmp_path / "runs").glob("*/ledger.jsonl"))


@pytest.mark.parametrize("command", ["upload", "demo"])
def test_commands_have_help_with_exit_codes(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and len(result.stdout) > 200
    if command == "upload":
        assert "130" in result.stdout and "--resume" in result.stdout


def test_no_token_environment_means_unauthenticated(tmp_path: Path) -> None:
    """An empty or unset $TARGET_PROFILE_TOKEN: calls go out without Authorization."""
    open_mock = MockConfig(client_code="demo", require_auth=False, rate_limit=None)
    with run_mock_in_thread(open_mock) as mock:
        result = invoke(*upload_args(SAMPLE, mock.base_url, tmp_path / "l.jsonl", "--quiet"))
    assert result.exit_code == 0, result.output
