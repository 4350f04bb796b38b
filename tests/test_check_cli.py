"""`uploader check` against the mock (in a thread, CliRunner): 0 ready, 3 token missing or
rejected, 2 unreachable or misconfigured; no token in its output."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from click.testing import CliRunner, Result

from uploader.cli._main import main
from uploader.mock import MockConfig, run_mock_in_thread

TOKEN = "tok-Check-Pk7s-known"
SECRET = "demo-client-secret"


def invoke(*args: str, token: str = "", **env: str) -> Result:
    return CliRunner().invoke(
        main,
        ["check", "--client-code", "demo", *args],
        env={"TARGET_PROFILE_TOKEN": token, "ADOBE_CLIENT_SECRET": SECRET, **env},
    )


def mock(require_auth: bool = True) -> MockConfig:
    return MockConfig(client_code="demo", token=TOKEN, rate_limit=None, require_auth=require_auth)


def test_check_passes_with_the_right_token_and_reports_auth_required() -> None:
    with run_mock_in_thread(mock()) as server:
        result = invoke("--endpoint", server.base_url, "--json", token=TOKEN)
        text = invoke("--endpoint", server.base_url, token=TOKEN)
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["reachable"] and report["auth_required"] and report["token_accepted"]
    assert report["token_source"] == "$TARGET_PROFILE_TOKEN"
    assert text.exit_code == 0 and "result          ok: ready to upload" in text.stdout
    assert TOKEN not in result.output + text.output


def test_check_exits_3_for_a_rejected_or_missing_token() -> None:
    with run_mock_in_thread(mock()) as server:
        wrong = invoke("--endpoint", server.base_url, token="tok-wrong-one")
        none = invoke("--endpoint", server.base_url, "--json")
    assert wrong.exit_code == 3 and "token accepted  no" in wrong.stdout
    assert "uploader token get" in wrong.stdout and "tok-wrong-one" not in wrong.output
    assert none.exit_code == 3
    report = orjson.loads(none.stdout)
    assert report["auth_required"] is True and report["token_source"] == "none"


def test_check_with_authentication_off_needs_no_token() -> None:
    with run_mock_in_thread(mock(require_auth=False)) as server:
        result = invoke("--endpoint", server.base_url)
    assert result.exit_code == 0, result.output
    assert "auth required   no" in result.stdout and "token accepted  no token" in result.stdout


def test_check_with_adobe_io_and_with_a_token_command() -> None:
    with run_mock_in_thread(mock()) as server:
        adobe = invoke(
            "--endpoint", server.base_url, "--auth", "adobe-io",
            ADOBE_CLIENT_ID="demo-client-id", ADOBE_TENANT="demo-tenant",
            ADOBE_IMS_URL=server.base_url, ADOBE_ADMIN_URL=server.base_url,
        )  # fmt: skip
        command = invoke("--endpoint", server.base_url, "--token-command", f"echo {TOKEN}")
    assert adobe.exit_code == 0, adobe.output
    assert "Adobe I/O (tenant demo-tenant)" in adobe.stdout
    assert command.exit_code == 0, command.output
    assert TOKEN not in adobe.output and SECRET not in adobe.output


def test_check_exits_6_when_the_endpoint_is_unreachable(free_port: Callable[[], int]) -> None:
    result = invoke("--endpoint", f"http://127.0.0.1:{free_port()}", "--timeout", "5", token=TOKEN)
    assert result.exit_code == 6  # try again later: nothing is wrong with the settings
    assert "reachable       no" in result.stdout and "endpoint unreachable" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client-code", ""], "--client-code is required"),
        (["--token-env", "X", "--token-command", "echo t"], "are alternatives"),
        (["--endpoint", "http://example.com"], "refusing to send the profile token"),
        (["--token-command", "exit 4"], "failed (exit status 4)"),
        (["--auth", "adobe-io"], "Adobe I/O needs --adobe-client-id"),
    ],
)
def test_check_config_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = invoke(*args, token=TOKEN, X="x")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_check_fails_with_a_wrong_client_code_but_not_for_the_missing_probe_profile() -> None:
    """The probe profile does not exist: 'No profile found … id=<probe>' is the good answer.
    Any other 404 (here the mock's unknown client code) is a setting that is wrong."""
    with run_mock_in_thread(mock()) as server:
        wrong = CliRunner().invoke(
            main,
            ["check", "--client-code", "wrong", "--endpoint", server.base_url, "--json"],
            env={"TARGET_PROFILE_TOKEN": TOKEN},
        )
    assert wrong.exit_code == 2, wrong.output
    report = orjson.loads(wrong.stdout)
    assert report["token_accepted"] is None and "--client-code" in report["message"]
    assert "wrong" in report["message"] and TOKEN not in wrong.output


def test_check_without_auth_fails_on_a_wrong_client_code_too() -> None:
    with run_mock_in_thread(mock(require_auth=False)) as server:
        wrong = CliRunner().invoke(
            main, ["check", "--client-code", "wrong", "--endpoint", server.base_url]
        )
    assert wrong.exit_code == 2, wrong.output
    assert "auth required   unknown" in wrong.stdout


def test_check_without_a_token_where_one_is_required_says_none_was_given() -> None:
    with run_mock_in_thread(mock()) as server:
        none = invoke("--endpoint", server.base_url)
    assert none.exit_code == 3
    assert "requires a profile token and none was given" in none.stdout
