"""Kill the uploader mid-run (SIGKILL), resume it, and find every row exactly once more."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from uploader.mock import FaultConfig, MockConfig, run_mock_in_thread

CONCURRENCY = 2


def upload_cmd(source: Path, ledger: Path, base_url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "uploader", "upload", str(source),
        "--client-code", "demo", "--endpoint", base_url, "--ledger", str(ledger),
        "--batch-rows", "20", "--concurrency", str(CONCURRENCY), "--rate", "none", "--quiet",
        *extra,
    ]  # fmt: skip


def test_sigkill_then_resume_delivers_everything_resending_at_most_concurrency(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    source = tricky_csv(tmp_path / "tricky.csv", 800)
    ledger = tmp_path / "run" / "ledger.jsonl"
    slow = FaultConfig(latency=0.05)
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None, faults=slow)) as mock:
        env = {**os.environ, "TARGET_PROFILE_TOKEN": mock.token}
        process = subprocess.Popen(upload_cmd(source, ledger, mock.base_url), env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = ledger.read_text() if ledger.exists() else ""
            if text.count('"type":"batch"') >= 5:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        killed_at = ledger.read_text().count('"type":"batch"')
        assert 5 <= killed_at < 40, "the kill must land mid-run"

        done = subprocess.run(
            upload_cmd(source, ledger, mock.base_url, "--resume", "--json"),
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        frame = mock.received_frame()

    assert received_profiles(frame) == expected_profiles(source)
    # Each batch is identified by its first id; a batch that arrived in two calls was re-sent.
    calls_per_batch = frame.group_by("call", maintain_order=True).agg(frame.columns[1]).to_series(1)
    firsts = [ids[0] for ids in calls_per_batch.to_list()]
    resent = len(firsts) - len(set(firsts))
    assert resent <= CONCURRENCY
    assert '"invariant_holds": true' in done.stdout


def test_sigterm_stops_cleanly_with_exit_130_and_resume_completes(
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    source = tricky_csv(tmp_path / "tricky.csv", 800)
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(
        MockConfig(client_code="demo", rate_limit=None, faults=FaultConfig(latency=0.05))
    ) as mock:
        env = {**os.environ, "TARGET_PROFILE_TOKEN": mock.token}
        process = subprocess.Popen(
            upload_cmd(source, ledger, mock.base_url, "--json"),
            env=env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            not ledger.exists() or ledger.read_text().count('"type":"batch"') < 3
        ):
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 130
        assert '"stop_reason": "interrupted"' in out and '"invariant_holds": true' in out
        assert ledger.read_text().rstrip().splitlines()[-1].startswith('{"type":"summary"')
        done = subprocess.run(
            upload_cmd(source, ledger, mock.base_url, "--resume"), env=env, timeout=120
        )
        assert done.returncode == 0
        frame = mock.received_frame()
    assert received_profiles(frame) == expected_profiles(source)


def sync_cmd(source: Path, ledger: Path, state: Path, base_url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "uploader", "sync", str(source), "--state", str(state),
        "--client-code", "demo", "--endpoint", base_url, "--ledger", str(ledger),
        "--batch-rows", "20", "--concurrency", str(CONCURRENCY), "--rate", "none", "--quiet",
        *extra,
    ]  # fmt: skip


def test_a_sync_killed_mid_run_commits_nothing_and_its_resume_commits_once(
    tricky_csv: Callable[..., Path], tmp_path: Path
) -> None:
    """SIGKILL in the middle of a night: the state is as it was (the rerun would select the
    same rows); --resume sends what was not acknowledged (at most the calls in flight again),
    commits once, and the next run sends nothing."""
    source = tricky_csv(tmp_path / "tricky.csv", 800)
    state = tmp_path / "state"
    ledger = tmp_path / "run" / "ledger.jsonl"
    slow = FaultConfig(latency=0.05)
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None, faults=slow)) as mock:
        env = {**os.environ, "TARGET_PROFILE_TOKEN": mock.token}
        process = subprocess.Popen(sync_cmd(source, ledger, state, mock.base_url), env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = ledger.read_text() if ledger.exists() else ""
            if text.count('"type":"batch"') >= 5:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert 5 <= ledger.read_text().count('"type":"batch"') < 40, "the kill must land mid-run"
        assert not (state / "manifest.json").exists()  # nothing committed
        resumed = subprocess.run(
            sync_cmd(source, ledger, state, mock.base_url, "--resume", "--json"),
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        frame = mock.received_frame()
        again = subprocess.run(
            sync_cmd(source, tmp_path / "next" / "ledger.jsonl", state, mock.base_url, "--json"),
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert '"state_generation": 1' in resumed.stdout and '"invariant_holds": true' in resumed.stdout
    calls_per_batch = frame.group_by("call", maintain_order=True).agg(frame.columns[1]).to_series(1)
    firsts = [ids[0] for ids in calls_per_batch.to_list()]
    assert len(firsts) - len(set(firsts)) <= CONCURRENCY  # re-sent: only the calls in flight
    assert again.returncode == 0, again.stderr
    assert '"calls": 0' in again.stdout and '"state_generation": 2' in again.stdout
