"""Bad input on the command line or to the library (new-user trial of issues 17-18): one
line that names the option, the right exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import Result

from uploader.exits import EXIT_USAGE

ROOT = Path(__file__).parent.parent


def one_line_error(result: Result) -> str:
    """The one stderr line of a run refused up front (exit 2, no traceback)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert result.exit_code == EXIT_USAGE, result.output
    assert len(lines) == 1, lines
    assert lines[0].startswith("uploader: error: "), lines
    return lines[0]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "a.csv"
    path.write_text("thirdPartyId,v\nc1,x\n")
    return path


# -- 1. an empty path ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("upload", "--ledger"),
        ("upload", "--metrics-file"),
        ("upload", "--daily-rows-file"),
        ("upload", "--out"),
        ("upload", "--token-file"),
        ("sync", "--state"),
        ("sync", "--missing"),
        ("upload", "--config"),
        ("demo", "--source"),
        ("validate", "--rejects"),
        ("report", "--html"),
        ("report", "--failed-rows"),
        ("report", "--ledger"),
        ("status", "--ledger"),
        ("bench", "--data"),
        ("mock-server", "--receipts"),
    ],
)
def test_an_empty_path_is_refused_naming_its_option(
    cli: Callable[..., Result], src: Path, tmp_path: Path, command: str, option: str
) -> None:
    ledger = tmp_path / "l.jsonl"
    ledger.write_text("")
    base = {
        "upload": [str(src), "--client-code", "demo", "--daily-rows", "5", "--dry-run"],
        "sync": [str(src), "--client-code", "demo"],
        "validate": [str(src)],
        "report": ["--ledger", str(ledger)],
        "status": [],
        "bench": [],
        "demo": [],
        "mock-server": [],
    }[command]
    line = one_line_error(cli(command, *base, option, ""))
    assert f"uploader: error: {option}: an empty path (see " in line


@pytest.mark.parametrize(
    "setting", ["ledger", "daily_rows_file", "metrics_file", "state", "missing"]
)
def test_the_library_refuses_an_empty_path_naming_its_parameter(src: Path, setting: str) -> None:
    import uploader

    options: dict[str, Any] = {"daily_rows": 5} if setting == "daily_rows_file" else {}
    options[setting] = ""
    run = uploader.sync_files if setting in ("state", "missing") else uploader.upload_files
    if run is uploader.sync_files and setting != "state":
        options["state"] = str(src.with_name("state"))
    with pytest.raises(uploader.ConfigError, match=f"^{setting}: an empty path$"):
        run(src, client_code="demo", **options)


# -- 2. click's usage errors --------------------------------------------------------------------
def test_a_usage_error_is_one_line_naming_the_flag(cli: Callable[..., Result], src: Path) -> None:
    line = one_line_error(cli("upload", str(src), "--client-code", "demo", "--batch-rows", "abc"))
    assert line == (
        "uploader: error: --batch-rows: 'abc' is not a valid integer (see main upload --help)"
    )
    assert one_line_error(cli("upload", "--no-such-flag")).startswith(
        "uploader: error: No such option '--no-such-flag'"
    )
    assert one_line_error(cli("upload")) == (
        "uploader: error: Missing argument 'SOURCE...' (see main upload --help)"
    )


def test_a_usage_error_gives_the_json_error_object_and_one_json_event(
    cli: Callable[..., Result], src: Path
) -> None:
    result = cli("upload", str(src), "--client-code", "demo", "--json", "--batch-rows", "abc")
    assert result.exit_code == EXIT_USAGE
    assert orjson.loads(result.stdout) == {
        "error": "--batch-rows: 'abc' is not a valid integer (see main upload --help)",
        "exit_code": EXIT_USAGE,
    }
    logged = cli("--log-format", "json", "upload", str(src), "--batch-rows", "abc")
    (event,) = [orjson.loads(line) for line in logged.stderr.splitlines()]
    assert event["event"] == "usage_error" and event["level"] == "error"
    assert event["message"].startswith("--batch-rows: 'abc' is not a valid integer")


# -- 4. a reader that closes stdout early -------------------------------------------------------
def test_a_closed_stdout_keeps_the_commands_own_exit_code_quietly(src: Path) -> None:
    """``uploader validate … | head -1``: the reader is gone before the first line (its end
    of the pipe closed before the command starts), so every write meets a broken pipe."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "uploader", "validate", str(src)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr.decode()) == (0, "")


# -- 3. the endpoint and the client code, before anything is sent --------------------------------
@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--endpoint", "http://127.0.0.1:1/some/path?x=1", "--endpoint"),
        ("--endpoint", "http://127.0.0.1:1/#top", "--endpoint"),
        ("--endpoint", "127.0.0.1:18080", "--endpoint"),
        ("--client-code", "de mo", "--client-code"),
        ("--client-code", "demo?x", "--client-code"),
    ],
)
def test_a_bad_endpoint_or_client_code_is_refused_up_front(
    cli: Callable[..., Result], src: Path, tmp_path: Path, option: str, value: str, says: str
) -> None:
    options = {"--client-code": "demo", "--endpoint": "http://127.0.0.1:1", option: value}
    args = [x for pair in options.items() for x in pair]
    result = cli("upload", str(src), *args, "--ledger", str(tmp_path / "l.jsonl"), token="t")
    assert says in one_line_error(result)
    assert not (tmp_path / "l.jsonl").exists()


def test_the_library_refuses_a_bad_endpoint_and_client_code() -> None:
    from uploader.errors import ConfigError
    from uploader.send._engine import UploadConfig

    with pytest.raises(ConfigError, match="endpoint"):
        UploadConfig(client_code="demo", ledger=Path("l"), endpoint="https://x.example/a?b=1")
    with pytest.raises(ConfigError, match="client_code"):
        UploadConfig(client_code="de mo", ledger=Path("l"))
    assert UploadConfig(client_code="acme-1.eu_2", ledger=Path("l")).client_code == "acme-1.eu_2"


BAD_ENDPOINTS = ["http://127.0.0.1:1/x?y=1", "http://127.0.0.1:1/#top", "127.0.0.1:18080"]


@pytest.mark.parametrize(
    ("option", "value"),
    [("--endpoint", value) for value in BAD_ENDPOINTS]
    + [("--client-code", "de mo"), ("--client-code", "demo?x"), ("--client-code", "a/b")],
)
def test_check_refuses_a_bad_endpoint_or_client_code_as_upload_does(
    cli: Callable[..., Result], option: str, value: str
) -> None:
    """``uploader check`` builds its URL itself: the same checks, before any call (an
    unreachable endpoint would otherwise be exit 6, "unreachable")."""
    options = {"--client-code": "demo", "--endpoint": "http://127.0.0.1:1", option: value}
    args = [x for pair in options.items() for x in pair]
    assert option in one_line_error(cli("check", *args, token="t"))


def test_the_preflight_refuses_a_bad_endpoint_and_client_code() -> None:
    import asyncio

    from uploader.auth._static import StaticToken
    from uploader.errors import ConfigError
    from uploader.reconcile._preflight import preflight

    tokens = StaticToken(None, "none")
    with pytest.raises(ConfigError, match=r"^endpoint .*no query"):
        asyncio.run(preflight("demo", tokens, endpoint="http://127.0.0.1:1/?q"))
    with pytest.raises(ConfigError, match=r"^client_code 'de mo'"):
        asyncio.run(preflight("de mo", tokens, endpoint="http://127.0.0.1:1"))


def test_verify_refuses_a_ledger_whose_endpoint_is_not_a_base_url(
    cli: Callable[..., Result], upload_to: Callable[..., Result], src: Path, tmp_path: Path
) -> None:
    """``uploader verify`` builds its URLs from the run record (an older uploader wrote any
    endpoint there): the same check, naming the ledger, before any call."""
    from uploader.mock import MockConfig, run_mock_in_thread

    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload_to(mock, src, ledger, "--quiet").exit_code == 0
        records = [orjson.loads(line) for line in ledger.read_bytes().splitlines()]
        for record in records:
            if record.get("settings"):
                record["settings"]["endpoint"] = mock.base_url + "/?q=1"
        ledger.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        written = ledger.read_bytes()
        line = one_line_error(cli("verify", "--ledger", str(ledger), token=mock.token))
    assert ledger.read_bytes() == written  # no verification started
    assert f"ledger {ledger}: " in line and "no query or fragment" in line, line


def test_status_refuses_a_bad_endpoint_given_to_the_library(tmp_path: Path) -> None:
    import asyncio

    from uploader.auth._static import StaticToken
    from uploader.errors import ConfigError
    from uploader.reconcile._status import poll_statuses

    with pytest.raises(ConfigError, match=r"^endpoint .*no query"):
        asyncio.run(
            poll_statuses(
                tmp_path / "l.jsonl",
                StaticToken(None, "none"),
                acknowledged=[],
                endpoint="http://h/?q",
            )
        )


# -- 5. messages that name the flag and the real cause -------------------------------------------
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--retry-max-wait", "-1"], "--retry-max-wait must be positive"),
        (["--wait", "--wait-timeout", "-5"], "--wait-timeout must be 0 or more"),
        (["--rate-store", "redis://127.0.0.1:1/abc"], "the path must be a DB number"),
    ],
)
def test_a_bad_value_names_its_flag(
    cli: Callable[..., Result], src: Path, tmp_path: Path, args: list[str], says: str
) -> None:
    base = ["upload", str(src), "--client-code", "demo", "--endpoint", "http://127.0.0.1:1"]
    line = one_line_error(cli(*base, "--ledger", str(tmp_path / "l.jsonl"), *args, token="t"))
    assert says in line, line


def test_a_bad_value_in_the_config_file_names_the_file_and_the_key(
    cli: Callable[..., Result], src: Path, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('daily_rows = "1e6"\n')
    line = one_line_error(cli("validate", str(src), "--config", str(config)))
    assert line.startswith(f"uploader: error: config file {config}: daily_rows: '1e6' is not"), line


def test_a_redis_db_out_of_range_says_so(
    cli: Callable[..., Result], src: Path, tmp_path: Path, redis_server: Any
) -> None:
    store = redis_server.url.rsplit("/", 1)[0] + "/99"
    base = ["upload", str(src), "--client-code", "demo", "--endpoint", "http://127.0.0.1:1"]
    line = one_line_error(
        cli(*base, "--ledger", str(tmp_path / "l.jsonl"), "--rate-store", store, token="t")
    )
    assert "DB 99" in line and "out of range" in line and "does not answer" not in line, line


def test_an_unsupported_url_scheme_says_which_are(cli: Callable[..., Result]) -> None:
    line = one_line_error(cli("validate", "ftp://x/y.csv"))
    assert "ftp://x/y.csv: ftp:// is not supported" in line and "s3://" in line, line


def test_every_send_and_run_option_of_upload_and_sync_has_a_config_key() -> None:
    """README: config-file keys are the long option names with ``_``."""
    import click

    from uploader.cli._configfile import KNOWN_KEYS
    from uploader.cli._main import main

    # not settings of a run but of this command line: what to do now, and where to print it
    # (docs/config.md lists them)
    exceptions = {"config", "as_json", "quiet", "dry_run", "out", "resume", "wait", "full",
                  "missing", "forget_missing", "allow_insecure_token_file"}  # fmt: skip
    ctx = click.Context(main)
    for name in ("upload", "sync"):
        command = main.get_command(ctx, name)
        assert command is not None
        names = {p.name for p in command.params if isinstance(p, click.Option)}
        assert sorted(n for n in names - KNOWN_KEYS - exceptions if n) == [], name


# -- 6. one row, one call -----------------------------------------------------------------------
def test_the_report_and_status_say_one_row(
    cli: Callable[..., Result],
    upload_to: Callable[..., Result],
    mock_config: Callable[..., Any],
    tmp_path: Path,
) -> None:
    from uploader.ledger._records import StatusRecord
    from uploader.mock import run_mock_in_thread
    from uploader.reconcile._status import StatusReport, status_notes

    source = tmp_path / "in.csv"
    source.write_text("thirdPartyId,v\nc1,x\n,rejected for its empty id\n")
    ledger = tmp_path / "l.jsonl"
    with run_mock_in_thread(mock_config()) as mock:
        assert upload_to(mock, source, ledger).exit_code == 0
    report = cli("report", "--ledger", str(ledger)).stdout
    for line in ("sent", "rejected"):
        (said,) = [x for x in report.splitlines() if x.strip().startswith(line + " ")]
        assert " 1 row" in said and "1 rows" not in said, said
    failed = StatusRecord(seq=1, batch_id="b", status="complete", failed_ids=("c1",))
    notes = dict(status_notes(StatusReport(statuses=(failed,))))
    assert notes["  batch 1"] == "complete (b), 1 row failed"


def test_capacity_says_one_call_and_one_start() -> None:
    from uploader.cli._capacity import capacity_lines
    from uploader.send._ratelimit import RateLimit

    (line,) = capacity_lines([10, 10], RateLimit(1, 3600), None)
    assert "at 1 call/3600 s sustained" in line and "(1 starts at once, then 1 more" in line, line
