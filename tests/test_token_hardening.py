"""Token sources refuse what would hang, crash or leak: control characters in a token, a FIFO
or device as --token-file, a helper's background child holding stdout, a status URL on
another local port, and a --token-command string quoted in a message."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from uploader.auth._secret import Secret
from uploader.auth._sources import CommandToken
from uploader.auth._static import MAX_TOKEN_FILE_BYTES, token_from_env, token_from_file
from uploader.errors import ConfigError
from uploader.reconcile._status import token_allowed

# -- (a) one token on one line, whatever the source ----------------------------------------------


@pytest.mark.parametrize("token", ["tok-1\r\nX-Evil: 1", "tok\x1bx", "tok\tx", "tok x", "tök"])
def test_a_token_with_control_characters_from_env_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("MY_TOKEN", token)
    with pytest.raises(ConfigError, match="one token on one line") as info:
        token_from_env("MY_TOKEN")
    assert token.strip() not in str(info.value) and "$MY_TOKEN" in str(info.value)


def test_a_token_file_with_two_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("tok-1\r\nX-Evil: 1\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="one token on one line"):
        token_from_file(path)


def test_upload_with_a_crlf_token_in_env_exits_2_in_one_line(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("thirdPartyId,tier\nc-1,gold\n")
    result = cli(
        "upload", str(source), "--client-code", "demo", "--endpoint", "http://127.0.0.1:9",
        "--ledger", str(tmp_path / "l" / "ledger.jsonl"), token="tok-1\r\nX-Evil: 1",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("uploader: error: ") and result.stderr.count("\n") == 1
    assert "tok-1" not in result.output


# -- (b) regular files only, checked before reading ----------------------------------------------


def test_a_fifo_as_token_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            token_from_file(fifo)
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    reader = threading.Thread(target=read, daemon=True)  # before the fix: blocks in open()
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "token_from_file hangs on a FIFO"
    assert isinstance(errors[0], ConfigError) and "not a regular file" in str(errors[0])


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null"])
def test_a_device_as_token_file_is_refused(path: str) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        token_from_file(Path(path), allow_insecure=True)


def test_a_directory_as_token_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        token_from_file(tmp_path)


def test_an_oversized_token_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"t" * (MAX_TOKEN_FILE_BYTES + 1))
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="larger than"):
        token_from_file(path)


def test_permissions_are_checked_before_the_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfe not utf-8")  # reading it would fail first
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        token_from_file(path)


# -- (c) the command's exit ends the wait, not stdout's EOF --------------------------------------


async def test_a_command_leaving_a_child_on_stdout_returns_at_its_exit(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # the background sleep inherits stdout: EOF comes only when it ends
    provider = CommandToken("echo tok-bg; sleep 30 & echo $! >&2", timeout=20)
    started = time.monotonic()
    token = await provider.get()
    elapsed = time.monotonic() - started
    os.kill(int(capfd.readouterr().err.split()[-1]), signal.SIGKILL)  # the child it left
    assert token == Secret("tok-bg")
    assert elapsed < 10


async def test_a_command_printing_a_lot_before_exiting_is_read_whole() -> None:
    """More than a pipe buffer before the exit: read while it runs, so it does not block."""
    with pytest.raises(ConfigError, match="printed more than 64 KiB"):
        await CommandToken("head -c 200000 /dev/zero | tr '\\0' 'a'; echo; echo b").get()
    assert await CommandToken("printf 'tok-%s' $((6*7))").get() == Secret("tok-42")


# -- (d) the token goes to the endpoint's own port, not to any local one -------------------------


@pytest.mark.parametrize(
    ("url", "endpoint", "allowed"),
    [
        ("http://localhost:8080/m2/demo/profile/batchStatus", "http://127.0.0.1:8080", True),
        ("http://127.0.0.1:8080/m2/demo/profile/batchStatus", "http://localhost:8080", True),
        ("http://127.0.0.1:8080/m2/demo/profile/batchStatus", "http://127.0.0.1:8080", True),
        ("https://localhost:8443/m2/demo/profile/batchStatus", "https://127.0.0.1:8443", True),
        ("http://127.0.0.1:6379/steal", "http://127.0.0.1:8080", False),
        ("http://localhost:9999/steal", "http://127.0.0.1:8080", False),
        ("http://127.0.0.1:443/steal", "https://acme.example.com", False),
        ("https://acme.example.com:8443/x", "https://acme.example.com", False),
        ("https://acme.example.com/x", "https://acme.example.com:443", True),
        ("https://mboxedge45.tt.omtrdc.net/m2/demo/profile/batchStatus", None, True),
        ("http://localhost:8080/m2/demo/profile/batchStatus", None, False),
    ],
)
def test_token_goes_to_the_endpoints_host_and_port_only(
    url: str, endpoint: str | None, allowed: bool
) -> None:
    assert token_allowed(url, endpoint) is allowed


# -- (e) a --token-command string is never quoted ------------------------------------------------


async def test_command_errors_and_repr_do_not_quote_the_command() -> None:
    command = "exit 3 # secret-in-cmd"
    provider = CommandToken(command)
    with pytest.raises(ConfigError) as info:
        await provider.get()
    assert provider.source == "CommandToken"
    assert "secret-in-cmd" not in str(info.value) + repr(provider)


async def test_a_command_killed_by_its_timeout_leaves_no_wait_behind() -> None:
    with pytest.raises(ConfigError, match="no answer within"):
        await asyncio.wait_for(CommandToken("sleep 5", timeout=0.2).get(), 5)
