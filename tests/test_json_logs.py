"""``--log-format json``: every line the uploader writes on stderr is one JSON object (the
library's events, heartbeats, warnings, errors, click's usage errors), stdout untouched; in
text mode the progress lines carry their time and a last line."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result

from uploader._log import JsonFormatter
from uploader.cli._main import main
from uploader.mock import FaultConfig, MockConfig, run_mock_in_thread

KEYS = ("ts", "level", "event", "batch", "attempt", "status", "message")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line of ``stderr`` as a JSON object with the keys every line has."""
    lines = stderr.splitlines()
    assert lines, "nothing on stderr"
    events = []
    for line in lines:
        event = orjson.loads(line)
        assert isinstance(event, dict), line
        assert list(event)[: len(KEYS)] == list(KEYS), line
        assert ISO_UTC.match(event["ts"]), line
        assert event["level"] in ("debug", "info", "warning", "error"), line
        events.append(event)
    return events


def write_csv(path: Path, ids: list[str]) -> Path:
    path.write_text("thirdPartyId,name\n" + "".join(f"{i},n{i}\n" for i in ids))
    return path


def test_an_upload_with_a_retry_and_a_failed_batch_logs_json_lines(
    tmp_path: Path, upload_to: Callable[..., Result]
) -> None:
    source = write_csv(tmp_path / "in.csv", [f"id{n}" for n in range(30)] + [""])
    faults = FaultConfig(reject_ids="^id7$", p_500=1.0, first_k_calls=1)
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as mock:
        result = upload_to(
            mock, source, tmp_path / "run" / "ledger.jsonl", "--log-format", "json",
            "--bisect-calls", "0", "--retry-max-wait", "0.01", "--progress-every", "0",
        )  # fmt: skip
        token = mock.token
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("rows read")  # the summary stays as it is, on stdout
    assert token not in result.stderr
    events = json_lines(result.stderr)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_event.setdefault(event["event"], []).append(event)
    (retry,) = by_event["retry"]
    assert retry["status"] == 500 and retry["attempt"] == 1 and retry["batch"] is not None
    (failed,) = by_event["batch_failed"]
    assert failed["level"] == "info" and failed["status"] == 200 and failed["attempt"] in (1, 2)
    assert isinstance(failed["batch"], int) and "Unexpected error" in failed["message"]
    assert len(by_event["batch_acknowledged"]) == 2
    assert by_event["heartbeat"] and by_event["heartbeat"][-1]["rows_acknowledged"] == 20
    (done,) = by_event["done"]
    assert done["rows_acknowledged"] == 20 and done["batches_failed"] == 1
    (ended,) = by_event["run_ended"]
    assert ended["exit_code"] == 1


def test_status_report_validate_and_errors_are_json_lines_too(
    tmp_path: Path, upload_to: Callable[..., Result], cli: Callable[..., Result]
) -> None:
    source = write_csv(tmp_path / "in.csv", ["id1", "id2", ""])
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        sent = upload_to(mock, source, ledger, "--quiet")
        status = cli("--log-format", "json", "status", "--ledger", str(ledger), token=mock.token)
    assert sent.exit_code == 0, sent.output
    assert status.exit_code in (0, 4), status.output
    statuses = [e for e in json_lines(status.stderr) if e["event"] == "batch_status"]
    assert statuses and statuses[0]["batch"] == 1

    report = cli("--log-format", "json", "report", "--ledger", str(ledger), "--json")
    assert report.exit_code in (0, 4), report.output
    assert orjson.loads(report.stdout)  # stdout holds the --json document alone
    assert all(json_lines(report.stderr)) if report.stderr else True

    # a column named as a Target built-in: a warning on stderr
    named = built_in_column(tmp_path / "user.csv")
    validate = cli("validate", str(named), "--log-format", "json", "--fail-on-rejects")
    assert validate.exit_code == 1
    (warning,) = json_lines(validate.stderr)
    assert warning["level"] == "warning" and "'user' collides" in warning["message"]

    # an error of the uploader's: one event, level error
    missing = cli("upload", str(source), "--log-format", "json")
    assert missing.exit_code == 2
    (error,) = json_lines(missing.stderr)
    assert error["event"] == "error" and error["message"].startswith("--client-code is required")

    # click's own usage error, shown after the command: JSON lines as well
    usage = cli("--log-format", "json", "upload", "--no-such-flag")
    assert usage.exit_code == 2
    events = json_lines(usage.stderr)
    assert any(e["event"] == "usage_error" for e in events)


def built_in_column(path: Path) -> Path:
    """A file whose column is named as a Target built-in (a warning), one row rejected."""
    path.write_text("thirdPartyId,user\nid1,a\n,b\n")
    return path


def test_the_environment_variable_and_the_config_key_choose_json(tmp_path: Path) -> None:
    source = built_in_column(tmp_path / "in.csv")
    by_env = CliRunner().invoke(
        main, ["validate", str(source), "--fail-on-rejects"], env={"UPLOADER_LOG_FORMAT": "json"}
    )
    assert by_env.exit_code == 1
    json_lines(by_env.stderr)
    config = tmp_path / "uploader.toml"
    config.write_text('log_format = "json"\n')
    by_config = CliRunner().invoke(
        main, ["validate", str(source), "--config", str(config), "--fail-on-rejects"]
    )
    assert by_config.exit_code == 1
    json_lines(by_config.stderr)
    # the next command in the same process is back to text
    plain = CliRunner().invoke(main, ["validate", str(source), "--fail-on-rejects"])
    assert plain.stderr and not plain.stderr.startswith("{")


def test_text_progress_lines_carry_their_time_and_a_last_line(
    tmp_path: Path, upload_to: Callable[..., Result]
) -> None:
    source = write_csv(tmp_path / "in.csv", [f"id{n}" for n in range(20)])
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        result = upload_to(mock, source, tmp_path / "run" / "ledger.jsonl", "--progress-every", "0")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    stamped = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ uploader: ")
    assert lines and all(stamped.match(line) for line in lines), lines
    assert " uploader: done: 20 of 20 rows acknowledged, 2 batches" in lines[-1]


def test_the_formatter_maps_a_records_extras_and_names_its_event() -> None:
    record = logging.makeLogRecord(
        {
            "name": "uploader.send._engine",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "batch %d: acknowledged",
            "args": (3,),
            "seq": 3,
            "attempts": 2,
            "http_status": 200,
            "rows": 10,
        }
    )
    line = orjson.loads(JsonFormatter().format(record))
    assert line["event"] == "engine" and line["message"] == "batch 3: acknowledged"
    assert (line["batch"], line["attempt"], line["status"], line["rows"]) == (3, 2, 200, 10)
