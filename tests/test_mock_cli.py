"""``uploader mock-server`` (flags, help, a real process) and ``run_mock_in_thread``."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click
import pytest

from uploader.mock import MockConfig, run_mock_in_thread
from uploader.mock.cli import mock_server, parse_faults, parse_rate_limit


def test_every_option_has_help_text() -> None:
    assert mock_server.name == "mock-server" and mock_server.help
    for param in mock_server.params:
        assert isinstance(param, click.Option) and param.help, param.name


def test_rate_limit_flag() -> None:
    assert parse_rate_limit("50/60") == (50, 60.0)
    assert parse_rate_limit("none") is None
    with pytest.raises(click.BadParameter):
        parse_rate_limit("50")


def test_fault_flags() -> None:
    faults = parse_faults(("500=0.1", "429=0.2", "retry-after=3", "first-k=5", "on-status=true"))
    assert (faults.p_500, faults.p_429, faults.retry_after) == (0.1, 0.2, 3.0)
    assert faults.first_k_calls == 5 and faults.on_status
    rows = parse_faults(("fail-rows=0.1", "fail-ids=^crm-9", "fail-once=true", "reject-ids=x$"))
    assert (rows.fail_rows, rows.fail_ids, rows.fail_once, rows.reject_ids) == (
        0.1,
        "^crm-9",
        True,
        "x$",
    )
    for bad in ("nope=1", "500", "500=x", "500=2", "fail-rows=2", "fail-ids=("):
        with pytest.raises(click.BadParameter):
            parse_faults((bad,))


def post(
    url: str, body: bytes, token: str | None = None, header: str = "Authorization"
) -> tuple[int, str]:
    headers = {}
    if token:
        headers[header] = f"Bearer {token}" if header == "Authorization" else token
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_mock_server_process_prints_url_and_token_and_writes_receipts(tmp_path: Path) -> None:
    receipts = tmp_path / "receipts.json"
    command = [
        sys.executable, "-m", "uploader", "mock-server", "--port", "0", "--token", "tok-1",
        "--rate-limit", "none", "--receipts", str(receipts), "--status-url-style", "doc",
        "--accept-legacy-token-header", "--status-delay", "2", "--status-delay-jitter", "3",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(4)]
            base = re.search(r"(http://127\.0\.0\.1:\d+)", lines[0])
            assert base, lines
            assert "tok-1" in lines[3]
            url = f"{base.group(1)}/m2/demo/v2/profile/batchUpdate"
            assert post(url, b"batch=thirdPartyId,a\ncrm-1,x\n")[0] == 401
            status, text = post(url, b"batch=thirdPartyId,a\ncrm-1,x\n", token="tok-1")
            assert status == 200 and "<success>true</success>" in text
            assert "&m2Node=00</batchStatus>" in text
            legacy = post(url, b"batch=thirdPartyId,a\ncrm-2,y\n", "tok-1", "access_token")
            assert legacy[0] == 200
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
    assert process.returncode == 0
    assert json.loads(receipts.read_text())["calls"][0]["rows"] == [["crm-1", "x"]]


def test_run_mock_in_thread_serves_synchronous_callers() -> None:
    with run_mock_in_thread(MockConfig(rate_limit=None)) as mock:
        url = f"{mock.base_url}/m2/demo/v2/profile/batchUpdate"
        assert post(url, b"batch=thirdPartyId,a\ncrm-1,x\n", token=mock.token)[0] == 200
        old = mock.token
        mock.rotate_token()
        assert post(url, b"batch=thirdPartyId,a\ncrm-2,y\n", token=old)[0] == 401
        assert mock.received_frame().rows() == [(1, "crm-1", "x")]
        assert mock.profiles.get("crm-1") == {"a": "x"}


def test_run_mock_in_thread_reports_a_port_in_use() -> None:
    with run_mock_in_thread(MockConfig()) as mock:
        taken = MockConfig(port=mock.port)
        with pytest.raises(OSError), run_mock_in_thread(taken):
            pass
