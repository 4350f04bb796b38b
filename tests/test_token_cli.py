"""`uploader token get|new` against the mock's IMS + Admin API (mock in a thread, CliRunner):
the token alone on stdout, confirmation before regenerating, the old token dead at once."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

from click.testing import CliRunner, Result

from uploader.cli._main import main
from uploader.mock import MockConfig, MockTarget, run_mock_in_thread

SECRET = "cs-Hq2n-known-client-secret"


def invoke(
    free_port: Callable[[], int],
    mock: MockTarget | None,
    *args: str,
    secret: str = SECRET,
    stdin: str = "",
) -> Result:
    base = mock.base_url if mock else f"http://127.0.0.1:{free_port()}"
    env = {
        "ADOBE_CLIENT_ID": "demo-client-id",
        "ADOBE_CLIENT_SECRET": secret,
        "ADOBE_TENANT": "demo-tenant",
        "ADOBE_IMS_URL": base,
        "ADOBE_ADMIN_URL": base,
    }
    return CliRunner().invoke(main, ["token", *args], env=env, input=stdin)


def profile_status(mock: MockTarget, token: str) -> int:
    """HTTP status of a profile fetch with ``token`` (404: accepted, 401: refused)."""
    request = urllib.request.Request(
        f"{mock.base_url}/rest/v1/profiles/thirdPartyId/nobody?client=demo",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def config() -> MockConfig:
    return MockConfig(client_code="demo", rate_limit=None, ims_client_secret=SECRET)


def test_token_get_prints_only_the_current_token(free_port: Callable[[], int]) -> None:
    with run_mock_in_thread(config()) as mock:
        result = invoke(free_port, mock, "get")
        assert result.exit_code == 0, result.output
        assert result.stdout == mock.token + "\n" and result.stderr == ""
        assert SECRET not in result.output


def test_token_new_asks_first_and_declining_changes_nothing(free_port: Callable[[], int]) -> None:
    with run_mock_in_thread(config()) as mock:
        old = mock.token
        result = invoke(free_port, mock, "new", stdin="n\n")
        assert result.exit_code == 2 and "not confirmed" in result.stderr
        assert "stop working at once" in result.stderr
        assert result.stdout == ""  # the prompt is on stderr: stdout is for the token
        assert mock.token == old and profile_status(mock, old) == 404


def test_token_new_confirmed_invalidates_the_old_token_at_once(
    free_port: Callable[[], int],
) -> None:
    with run_mock_in_thread(config()) as mock:
        old = mock.token
        result = invoke(free_port, mock, "new", stdin="y\n")
        assert result.exit_code == 0, result.output
        new = result.stdout.strip()
        assert new == mock.token and new != old
        assert profile_status(mock, old) == 401 and profile_status(mock, new) == 404
        again = invoke(free_port, mock, "new", "--yes")
        assert again.exit_code == 0 and again.stdout.strip() == mock.token != new
        assert "stop working" not in again.stderr
        assert profile_status(mock, new) == 401


def test_token_errors_exit_3_for_refused_credentials_and_2_otherwise(
    free_port: Callable[[], int],
) -> None:
    with run_mock_in_thread(config()) as mock:
        refused = invoke(free_port, mock, "get", secret="wrong-secret")
        assert refused.exit_code == 3 and "IMS refused the credentials" in refused.stderr
        assert refused.stdout == "" and "wrong-secret" not in refused.output
    missing = invoke(free_port, None, "get", secret="")
    assert missing.exit_code == 2 and "$ADOBE_CLIENT_SECRET" in missing.stderr
    unreachable = invoke(free_port, None, "get")
    assert unreachable.exit_code == 2 and "cannot reach" in unreachable.stderr
    assert SECRET not in unreachable.output
