"""``--json`` for cron: stdout holds only JSON (an error object when the command ends on an
error), while progress, errors and warnings stay on stderr, where the job's log keeps them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import Result

from uploader.mock import MockConfig, MockTarget, run_mock_in_thread

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockTarget]:
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as target:
        yield target


@pytest.fixture(scope="module")
def finished(
    cli: Callable[..., Result], mock: MockTarget, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    ledger = tmp_path_factory.mktemp("done") / "ledger.jsonl"
    done = upload(cli, mock, ledger, "--quiet")
    assert done.exit_code == 0, done.output
    return ledger


def upload(
    cli: Callable[..., Result],
    mock: MockTarget,
    ledger: Path,
    *extra: str,
    token: str | None = None,
) -> Result:
    return cli(
        "upload", str(SAMPLE), "--client-code", "demo", "--endpoint", mock.base_url,
        "--ledger", str(ledger), "--rate", "none", "--batch-rows", "10", *extra,
        token=mock.token if token is None else token,
    )  # fmt: skip


def parsed(result: Result) -> dict[str, Any]:
    data = orjson.loads(result.stdout)  # all of stdout: nothing else may be there
    assert isinstance(data, dict)
    return data


def errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("uploader: error: ")]


def test_upload_json_keeps_progress_lines_on_stderr(
    cli: Callable[..., Result], mock: MockTarget, tmp_path: Path
) -> None:
    result = upload(cli, mock, tmp_path / "ledger.jsonl", "--json", "--progress-every", "0")
    assert result.exit_code == 0, result.output
    assert parsed(result)["rows_acknowledged"] > 0
    progress = [line for line in result.stderr.splitlines() if "rows acknowledged" in line]
    assert progress, result.stderr
    # plain lines, no bar, each stamped with its UTC time
    assert all(re.match(r"\d{4}-\d\d-\d\dT\S+Z uploader: ", line) for line in progress)


def test_upload_json_stopped_by_the_token_says_why_on_stderr(
    cli: Callable[..., Result], mock: MockTarget, tmp_path: Path
) -> None:
    result = upload(cli, mock, tmp_path / "ledger.jsonl", "--json", "--quiet", token="not-it")
    assert result.exit_code == 3, result.output
    assert parsed(result)["exit_code"] == 3
    assert len(errors(result)) == 1 and "token" in errors(result)[0], result.stderr


def test_check_json_failure_is_also_a_line_on_stderr(
    cli: Callable[..., Result], mock: MockTarget
) -> None:
    result = cli("check", "--client-code", "demo", "--endpoint", mock.base_url, "--json")
    assert result.exit_code == 3, result.output
    assert parsed(result)["exit_code"] == 3
    assert len(errors(result)) == 1, result.stderr


def upload_argv(mock: MockTarget) -> list[str]:
    return ["upload", str(SAMPLE), "--client-code", "demo", "--endpoint", mock.base_url]


def garbage(folder: Path) -> str:
    path = folder / "garbage.jsonl"
    path.write_text("not a ledger\n")
    return str(path)


# Every command with --json, ended by an UploaderError (handle_errors): (argv, exit code)
FAILING: dict[str, Callable[[MockTarget, Path, Path], tuple[list[str], str, int]]] = {
    "upload": lambda m, d, _: (
        [*upload_argv(m), "--ledger", str(d / "blocker.txt" / "ledger.jsonl")],
        "",
        2,
    ),
    "validate": lambda m, d, _: (["validate", str(d / "missing.csv")], "", 2),
    "status": lambda m, d, _: (["status", "--ledger", garbage(d)], "", 2),
    "status (token)": lambda m, d, done: (["status", "--ledger", str(done)], "wrong", 3),
    "report": lambda m, d, _: (["report", "--ledger", garbage(d)], "", 2),
    "verify": lambda m, d, _: (["verify", "--ledger", garbage(d)], "", 2),
    "check": lambda m, d, _: (["check", "--endpoint", m.base_url], "", 2),
    "demo": lambda m, d, _: (["demo", "--source", str(d / "missing.csv")], "", 2),
}


@pytest.mark.parametrize("command", list(FAILING))
def test_an_error_with_json_is_a_json_object_on_stdout_and_a_line_on_stderr(
    cli: Callable[..., Result], mock: MockTarget, finished: Path, tmp_path: Path, command: str
) -> None:
    (tmp_path / "blocker.txt").write_text("in the way\n")
    argv, token, code = FAILING[command](mock, tmp_path, finished)
    result = cli(*argv, "--json", token=token)
    assert result.exit_code == code, result.output
    data = parsed(result)
    assert data["exit_code"] == code and data["error"], data
    assert result.stderr.splitlines() == [f"uploader: error: {data['error']}"]


def test_demo_json_prints_only_json_on_stdout(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo's run directory goes under runs/
    result = cli("demo", "--json")
    assert result.exit_code == 0, result.output
    assert parsed(result)["target"]
    assert "mock Target server on" in result.stderr
    assert "batch statuses right after the upload" in result.stderr
