"""Token sources on their own, against the mock's IMS + Admin API over loopback: env, file,
command, Adobe I/O; one refresh per rejected token however many ask; proactive renewal before
the announced expiry (fake clock, no waiting); secrets never in a repr or an error."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from uploader.auth._adobe_io import AdobeIOCredentials, request_profile_token
from uploader.auth._secret import Secret
from uploader.auth._sources import AdobeIOToken, CommandToken
from uploader.auth._static import token_from_env, token_from_file
from uploader.errors import AuthError, ConfigError, RemoteError
from uploader.mock import MockConfig, MockTarget
from uploader.send._transport import HttpAnswer
from uploader.testing import Request, ScriptedTransport

SECRET = "demo-client-secret"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


# -- env and file -------------------------------------------------------------------------------


async def test_env_token_is_read_and_an_explicit_empty_variable_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_TOKEN", " tok-env \n")
    provider = token_from_env("MY_TOKEN", required=True)
    assert (await provider.get()) == Secret("tok-env") and provider.source == "$MY_TOKEN"
    assert await provider.rejected(Secret("tok-env")) is None  # static: never loops
    monkeypatch.setenv("MY_TOKEN", "")
    with pytest.raises(ConfigError, match="MY_TOKEN"):
        token_from_env("MY_TOKEN", required=True)
    assert await token_from_env("MY_TOKEN").get() is None  # default var unset: no auth


async def test_file_token_is_read_and_a_readable_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("tok-file\n")
    path.chmod(0o600)
    assert await token_from_file(path).get() == Secret("tok-file")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        token_from_file(path)
    assert "tok-file" not in str(info.value)
    assert await token_from_file(path, allow_insecure=True).get() == Secret("tok-file")


# -- command ------------------------------------------------------------------------------------


async def test_command_token_runs_once_for_many_concurrent_gets(
    token_printer: Callable[[Path], str], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.write_text("tok-1")
    provider = CommandToken(token_printer(store))
    tokens = await asyncio.gather(*(provider.get() for _ in range(8)))
    assert set(tokens) == {Secret("tok-1")} and provider.runs == 1


async def test_command_reruns_once_per_rejected_token_however_many_report_it(
    token_printer: Callable[[Path], str],
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    store.write_text("tok-1")
    warnings: list[str] = []
    provider = CommandToken(token_printer(store), warn=warnings.append)
    old = await provider.get()
    store.write_text("tok-2")  # the secret store has the regenerated token
    fresh = await asyncio.gather(*(provider.rejected(old) for _ in range(8)))
    assert set(fresh) == {Secret("tok-2")} and provider.runs == 2
    assert await provider.get() == Secret("tok-2")
    # The fresh one rejected too, and the store has nothing newer: no loop, None.
    assert await provider.rejected(Secret("tok-2")) is None and provider.runs == 3
    assert await provider.rejected(Secret("tok-2")) is None and provider.runs == 3
    assert warnings and "tok-2" not in " ".join(warnings)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("echo tok-$((6*7))x; exit 3", "failed (exit status 3)"),
        ("true", "printed nothing"),
        ("printf 'tok-%sx\\nsecond-line' $((6*7))", "one token on one line"),
        ("   ", "the command is empty"),
    ],
)
async def test_command_failures_are_config_errors_naming_it_without_its_output(
    command: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        await CommandToken(command).get()
    assert "tok-42x" not in str(info.value)  # what it printed is never echoed
    if command.strip():
        assert "CommandToken" in str(info.value)


async def test_command_that_hangs_is_killed_after_its_timeout() -> None:
    with pytest.raises(ConfigError, match=r"no answer within 0\.2 s"):
        await CommandToken("sleep 5", timeout=0.2).get()


async def test_command_failing_on_refresh_returns_none_and_warns(tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    flag.write_text("")
    warnings: list[str] = []
    provider = CommandToken(f"test -e {flag} && echo tok-1", warn=warnings.append)
    old = await provider.get()
    flag.unlink()
    assert await provider.rejected(old) is None
    assert "failed (exit status 1)" in warnings[0]


# -- Adobe I/O ----------------------------------------------------------------------------------


async def test_adobe_io_gets_the_current_profile_token_from_the_admin_api(
    adobe_credentials: Callable[..., AdobeIOCredentials], mock_config: Callable[..., MockConfig]
) -> None:
    async with MockTarget(mock_config()) as mock:
        provider = AdobeIOToken(adobe_credentials(mock))
        assert (await provider.get()) == Secret(mock.token)
        assert await provider.get() == Secret(mock.token)
        assert provider.fetches == 1 and provider.mints == 0  # cached, not one call per batch
        new = await request_profile_token(adobe_credentials(mock), new=True)
        assert new.token == Secret(mock.token) and new.expires_in is not None


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"client_secret": Secret("wrong-secret")}, AuthError, "IMS refused the credentials"),
        ({"client_id": "other-client"}, AuthError, "IMS refused"),
        ({"tenant": "someone-else"}, RemoteError, "check the tenant"),
    ],
)
async def test_adobe_io_errors_say_what_is_wrong_without_secrets(
    adobe_credentials: Callable[..., AdobeIOCredentials],
    mock_config: Callable[..., MockConfig],
    overrides: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    async with MockTarget(mock_config()) as mock:
        with pytest.raises(error, match=message) as info:
            await AdobeIOToken(adobe_credentials(mock, **overrides)).get()
        assert mock.token not in str(info.value) and "secret" not in str(info.value).split()
        assert "wrong-secret" not in str(info.value)


def test_adobe_io_refuses_plain_http_to_other_hosts_and_hides_the_secret() -> None:
    with pytest.raises(ConfigError, match=r"^ims_url .*plain http"):
        AdobeIOCredentials(
            client_id="c", client_secret=Secret(SECRET), tenant="t", ims_url="http://ims.example"
        )
    with pytest.raises(ConfigError, match="client secret is not set"):
        AdobeIOCredentials(client_id="c", client_secret=Secret(""), tenant="t")
    creds = AdobeIOCredentials(client_id="c", client_secret=Secret(SECRET), tenant="t")
    provider = AdobeIOToken(creds)
    for text in (repr(creds), str(creds), repr(provider), f"{creds.client_secret}"):
        assert SECRET not in text


async def test_adobe_io_renews_before_the_announced_expiry_without_a_rejection(
    adobe_credentials: Callable[..., AdobeIOCredentials], mock_config: Callable[..., MockConfig]
) -> None:
    clock = Clock()
    async with MockTarget(mock_config(token_ttl=1_000.0, clock=clock)) as mock:
        provider = AdobeIOToken(adobe_credentials(mock), clock=clock, refresh_margin=300.0)
        first = await provider.get()
        clock.now += 650  # 350 s left: not yet
        assert await provider.get() == first and provider.fetches == 1
        clock.now += 100  # 250 s left: inside the margin, the Admin API says the same
        second = await provider.get()
        assert second != first and second == Secret(mock.token)
        assert provider.fetches == 2 and provider.mints == 1
        clock.now += 650  # the new token's own margin is counted from its issue
        assert await provider.get() == second and provider.mints == 1


async def test_adobe_io_adopts_a_token_regenerated_elsewhere_instead_of_minting(
    adobe_credentials: Callable[..., AdobeIOCredentials], mock_config: Callable[..., MockConfig]
) -> None:
    clock = Clock()
    async with MockTarget(mock_config(token_ttl=1_000.0, clock=clock)) as mock:
        provider = AdobeIOToken(adobe_credentials(mock), clock=clock)
        old = await provider.get()
        clock.now += 500
        mock.rotate_token()  # an admin pressed "Generate New Authentication Token"
        assert await provider.rejected(old) == Secret(mock.token)
        assert provider.mints == 0  # nobody else's fresh token was invalidated
        clock.now += 300  # the old token's renewal time: the adopted one has 700 s left
        assert await provider.get() == Secret(mock.token) and provider.mints == 0


async def test_concurrent_rejections_of_an_expired_token_mint_exactly_once(
    adobe_credentials: Callable[..., AdobeIOCredentials], mock_config: Callable[..., MockConfig]
) -> None:
    clock = Clock()
    async with MockTarget(mock_config(token_ttl=1_000.0, clock=clock)) as mock:
        provider = AdobeIOToken(adobe_credentials(mock), clock=clock)
        old = await provider.get()
        mock.expire_token()
        fresh = await asyncio.gather(*(provider.rejected(old) for _ in range(10)))
        assert set(fresh) == {Secret(mock.token)} and Secret(mock.token) != old
        assert provider.mints == 1
        assert await provider.rejected(old) == Secret(mock.token)  # late reporter: no mint
        assert provider.mints == 1


async def test_adobe_io_refresh_failure_is_a_warning_and_none() -> None:
    def ims_refuses_the_second_time(request: Request) -> HttpAnswer:
        if request.url.endswith("/ims/token/v3"):
            if request.number > 1:
                return HttpAnswer(401, b'{"error": "invalid_client"}')
            return HttpAnswer(200, b'{"access_token": "ims-token"}')
        return HttpAnswer(200, b'{"accessToken": "tok-1"}')

    warnings: list[str] = []
    creds = AdobeIOCredentials(client_id="c", client_secret=Secret(SECRET), tenant="t")
    transport = ScriptedTransport(ims_refuses_the_second_time)
    provider = AdobeIOToken(creds, transport=transport, warn=warnings.append)
    token = await provider.get()
    assert await provider.rejected(token) is None
    assert "IMS refused" in warnings[0]
