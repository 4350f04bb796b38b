"""A real `python -m uploader upload` process with a known token (and a known Adobe I/O client
secret): the strings occur nowhere in its stdout, stderr or any file of its run directory —
neither when the run succeeds nor when the token is rejected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from uploader.mock import MockConfig, run_mock_in_thread

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"
TOKEN = "tok-Known-8fGq2LxW-must-not-leak"
OTHER = "tok-Other-3vNp9TzR-must-not-leak"
CLIENT_SECRET = "cs-Known-Ue4mWq7Z-must-not-leak"


def upload(
    base_url: str, run_dir: Path, *extra: str, **env: str
) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TARGET_", "ADOBE_"))}
    args = [
        sys.executable, "-m", "uploader", "upload", str(SAMPLE),
        "--client-code", "demo", "--endpoint", base_url, "--rate", "none",
        "--batch-rows", "100", "--ledger", str(run_dir / "ledger.jsonl"), *extra,
    ]  # fmt: skip
    return subprocess.run(args, env={**clean, **env}, capture_output=True, timeout=60, check=False)


def assert_nowhere(
    secrets: list[str], result: subprocess.CompletedProcess[bytes], run_dir: Path
) -> None:
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"ledger.jsonl", "rejects.csv", "summary.json"}
    for secret in secrets:
        needle = secret.encode()
        assert needle not in result.stdout and needle not in result.stderr
        for path in files:
            assert needle not in path.read_bytes(), path


@pytest.mark.parametrize("accepted", [True, False])
def test_env_token_never_leaks_from_a_real_process(tmp_path: Path, accepted: bool) -> None:
    with run_mock_in_thread(MockConfig(client_code="demo", token=TOKEN, rate_limit=None)) as mock:
        token = TOKEN if accepted else OTHER
        result = upload(mock.base_url, tmp_path, "--json", TARGET_PROFILE_TOKEN=token)
    assert result.returncode == (0 if accepted else 3), result.stderr
    assert_nowhere([TOKEN, OTHER], result, tmp_path)


def test_command_token_rejected_mid_way_never_leaks(tmp_path: Path) -> None:
    """A helper that prints a stale token: refused, asked again once, still refused: exit 3."""
    with run_mock_in_thread(MockConfig(client_code="demo", token=TOKEN, rate_limit=None)) as mock:
        result = upload(
            mock.base_url,
            tmp_path,
            "--token-command",
            f"printf %s {OTHER[:9]}; printf %s {OTHER[9:]}",
        )
    assert result.returncode == 3, result.stderr
    assert b"Target rejected the profile token" in result.stderr + result.stdout
    assert_nowhere([TOKEN, OTHER], result, tmp_path)


@pytest.mark.parametrize("accepted", [True, False])
def test_adobe_io_token_and_client_secret_never_leak(tmp_path: Path, accepted: bool) -> None:
    config = MockConfig(
        client_code="demo", token=TOKEN, rate_limit=None, ims_client_secret=CLIENT_SECRET
    )
    with run_mock_in_thread(config) as mock:
        result = upload(
            mock.base_url, tmp_path, "--auth", "adobe-io",
            ADOBE_CLIENT_ID="demo-client-id", ADOBE_TENANT="demo-tenant",
            ADOBE_CLIENT_SECRET=CLIENT_SECRET if accepted else OTHER,
            ADOBE_IMS_URL=mock.base_url, ADOBE_ADMIN_URL=mock.base_url,
        )  # fmt: skip
    assert result.returncode == (0 if accepted else 3), result.stderr
    if accepted:
        assert_nowhere([TOKEN, CLIENT_SECRET], result, tmp_path)
    else:  # refused before anything was sent: no run directory, one line on stderr
        assert b"IMS refused the credentials" in result.stderr
        for secret in (TOKEN, CLIENT_SECRET, OTHER):
            assert secret.encode() not in result.stdout + result.stderr
