"""--ca-bundle: one TLS context (system store + the bundle) for every call of every command,
against the mock served over HTTPS with a certificate of a private CA (tests/data/private-ca*,
made once with openssl, valid 100 years, SAN IP:127.0.0.1 and DNS:localhost)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import Result

from uploader.errors import ConfigError
from uploader.mock import MockConfig, MockTarget, run_mock_in_thread
from uploader.send._tls import tls_context
from uploader.send._transport import AiohttpTransport

DATA = Path(__file__).parent / "data"
CA = str(DATA / "private-ca.pem")
SECRET = "demo-client-secret"


def server_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(DATA / cert, DATA / key)
    return context


PRIVATE = ("private-ca-server-cert.pem", "private-ca-server-key.pem")
SELF_SIGNED = ("untrusted-cert.pem", "untrusted-key.pem")


def mock_config() -> MockConfig:
    return MockConfig(client_code="demo", rate_limit=None, token="tok-tls-1")


@pytest.fixture
def tls_mock() -> Iterator[MockTarget]:
    with run_mock_in_thread(mock_config(), ssl_context=server_context(*PRIVATE)) as mock:
        yield mock


def write_csv(path: Path, rows: int = 25) -> Path:
    path.write_text("thirdPartyId,tier\n" + "".join(f"c-{i},t{i}\n" for i in range(rows)))
    return path


def upload(cli: Callable[..., Result], mock: MockTarget, tmp_path: Path, *extra: str) -> Result:
    return cli(
        "upload", str(write_csv(tmp_path / "in.csv")), "--client-code", "demo",
        "--endpoint", mock.base_url, "--ledger", str(tmp_path / "run" / "ledger.jsonl"),
        "--rate", "none", "--batch-rows", "10", "--quiet", "--max-retries", "0", *extra,
        token=mock.token,
    )  # fmt: skip


# -- the context ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ("no-such.pem", "no such file"),
        (".", "not a file"),
        ("untrusted-key.pem", "expected PEM certificates"),  # a key, not a certificate
    ],
)
def test_a_bad_bundle_is_one_config_error(bundle: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tls_context(str(DATA / bundle))


async def test_the_bundle_adds_to_the_system_store_rather_than_replacing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 'system store' here is the self-signed cert (SSL_CERT_FILE); with --ca-bundle
    both it and the private CA are trusted (Adobe I/O and Target in the same run)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(DATA / "untrusted-cert.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(DATA / "no-such-dir"))
    tls_context.cache_clear()
    try:
        async with (
            MockTarget(mock_config(), ssl_context=server_context(*PRIVATE)) as private,
            MockTarget(mock_config(), ssl_context=server_context(*SELF_SIGNED)) as system,
        ):
            transport = AiohttpTransport(timeout=10, connections=2, ca_bundle=CA)
            try:
                for mock in (private, system):
                    url = f"{mock.base_url}/rest/v1/profiles/thirdPartyId/x?client=demo"
                    answer = await transport.request("GET", url, headers={})
                    assert answer.status in (401, 404)
            finally:
                await transport.close()
    finally:
        tls_context.cache_clear()


# -- every command -------------------------------------------------------------------------------


def test_upload_wait_status_and_verify_trust_the_bundle(
    cli: Callable[..., Result], tls_mock: MockTarget, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "run" / "ledger.jsonl")
    sent = upload(cli, tls_mock, tmp_path, "--ca-bundle", CA, "--wait", "--wait-timeout", "60")
    assert sent.exit_code == 0, sent.output
    assert "status no longer" not in sent.output and "CERTIFICATE" not in sent.output
    status = cli("status", "--ledger", ledger, "--ca-bundle", CA, "--json", token=tls_mock.token)
    assert status.exit_code == 0, status.output
    assert orjson.loads(status.stdout)["counts"]["complete"] == 3
    verify = cli(
        "verify", "--ledger", ledger, "--ca-bundle", CA, "--sample", "5", token=tls_mock.token
    )
    assert verify.exit_code == 0, verify.output


def test_without_the_bundle_the_upload_stops_resumable(
    cli: Callable[..., Result], tls_mock: MockTarget, tmp_path: Path
) -> None:
    result = upload(cli, tls_mock, tmp_path)
    assert result.exit_code == 6, result.output
    assert "certificate verification failed" in result.output and "--ca-bundle" in result.output
    assert tls_mock.receipts_count == 0


def test_a_missing_bundle_exits_2_before_anything_is_sent(
    cli: Callable[..., Result], tls_mock: MockTarget, tmp_path: Path
) -> None:
    result = upload(cli, tls_mock, tmp_path, "--ca-bundle", str(tmp_path / "nope.pem"))
    assert result.exit_code == 2, result.output
    assert result.stderr == f"uploader: error: --ca-bundle {tmp_path / 'nope.pem'}: no such file\n"
    assert tls_mock.stats["calls"] == 0
    assert not (tmp_path / "run" / "ledger.jsonl").exists()


@pytest.mark.parametrize("command", ["status", "verify"])
def test_status_and_verify_refuse_a_bad_bundle_in_one_line(
    cli: Callable[..., Result], tmp_path: Path, command: str
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("")
    result = cli(command, "--ledger", str(ledger), "--ca-bundle", str(DATA / "untrusted-key.pem"))
    assert result.exit_code == 2, result.output
    assert (
        result.stderr.startswith("uploader: error: --ca-bundle ") and result.stderr.count("\n") == 1
    )


def test_check_and_adobe_io_login_trust_the_bundle(tls_mock: MockTarget) -> None:
    adobe = {
        "ADOBE_CLIENT_ID": "demo-client-id",
        "ADOBE_TENANT": "demo-tenant",
        "ADOBE_CLIENT_SECRET": SECRET,
        "ADOBE_IMS_URL": tls_mock.base_url,
        "ADOBE_ADMIN_URL": tls_mock.base_url,
    }
    from click.testing import CliRunner

    from uploader.cli._main import main

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env={"TARGET_PROFILE_TOKEN": "", **adobe})

    check = run(
        "check", "--client-code", "demo", "--endpoint", tls_mock.base_url,
        "--auth", "adobe-io", "--ca-bundle", CA,
    )  # fmt: skip
    assert check.exit_code == 0, check.output
    token = run("token", "get", "--ca-bundle", CA)
    assert token.exit_code == 0, token.output
    assert token.stdout.strip() == tls_mock.token
