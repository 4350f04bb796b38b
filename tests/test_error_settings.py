"""Library texts name the parameter; the CLI names its flag, with the same message: raised errors,
and the texts of results (stop messages, summary, report, reject reasons)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import uploader
from uploader.auth._static import token_from_file
from uploader.cli._errors import as_flags, flag
from uploader.cli._main import main
from uploader.errors import ConfigError, LedgerError, UploaderError, spell, spelt
from uploader.mock import MockConfig, run_mock_in_thread
from uploader.produce._batcher import BatchLimits
from uploader.produce._rejects import read_rejects
from uploader.produce._source import expand_sources, one_ahead
from uploader.produce._textstream import INPUT_ENCODING, check_encoding
from uploader.send._engine import UploadConfig
from uploader.send._tls import tls_context
from uploader.send._transport import check_endpoint

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"
LIBRARY = Path(__file__).parent.parent / "uploader"


def test_a_message_names_the_parameter_and_the_cli_spells_it_as_a_flag() -> None:
    error = ConfigError("$sample must be at least 1 (not $5, see $other)", settings=("sample",))
    assert str(error) == "sample must be at least 1 (not $5, see $other)"
    assert error.naming(flag) == "--sample must be at least 1 (not $5, see $other)"


def test_a_message_without_settings_is_left_as_it_is() -> None:
    error = LedgerError("ledger $HOME/x: unreadable")
    assert str(error) == error.naming(flag) == "ledger $HOME/x: unreadable"


def test_library_settings_errors_say_parameters() -> None:
    with pytest.raises(ConfigError, match=r"^concurrency must be between 1 and 64$"):
        UploadConfig(client_code="acme", ledger=Path("l.jsonl"), concurrency=0)
    with pytest.raises(ConfigError) as caught:
        BatchLimits(rows=0)
    assert caught.value.naming(flag) == "--batch-rows must be between 1 and 500,000"


def test_labels_handed_down_name_the_parameter(tmp_path: Path) -> None:
    """Token file, CA bundle, endpoint and encoding messages: the parameter, or the flag."""
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: token_from_file(tmp_path / "none"), "no such file"),
        (lambda: tls_context(str(tmp_path / "none.pem")), "no such file"),
        (lambda: check_endpoint("ftp://x", None), "expected an http(s)://host URL"),
        (lambda: check_encoding("nope", "$input_encoding", settings=INPUT_ENCODING), "unknown"),
        (lambda: expand_sources(["-"]), "reading from stdin is not supported"),
    ]
    for call, said in cases:
        with pytest.raises(UploaderError, match=re.escape(said)) as caught:
            call()
        (setting,) = caught.value.settings
        assert re.search(rf"(^|[ (]){setting}[ ,]", str(caught.value))
        assert "--" not in str(caught.value)
        assert re.search(rf"(^|[ (]){flag(setting)}[ ,]", caught.value.naming(flag))


def test_the_cli_still_names_the_flag() -> None:
    result = CliRunner().invoke(main, ["validate", str(SAMPLE), "--batch-rows", "0"])
    assert result.exit_code == 2
    assert result.stderr == "uploader: error: --batch-rows must be between 1 and 500,000\n"


# Every text the library makes names a setting in the caller's terms (``spell``): parameters
# for Python, flags under the CLI. Only these still name a flag, on purpose: the exit-code help
# (the CLI's --help text, kept in a click-free module), and the report's pointer to
# ``uploader report --failed-rows``, which has no library counterpart: the command is the way.
# Each literal is listed by the flags it names, so one more (a label put back) fails too.
RESULT_TEXT_FLAGS = {
    "exits.py": [("--failed-rows", "--resume", "--watch")],  # the exit-code help
    "reconcile/_report.py": [("--failed-rows",)],  # NOT LANDED: the command writes them
}
_FLAG = re.compile(r"--[a-z][a-z-]*")


def _flags_in_strings(root: Path) -> dict[str, list[tuple[str, ...]]]:
    """The flags each string literal of each module under ``root`` names (f-string parts
    included, docstrings not), outside cli/, mock/ and bench/ (which runs the CLI's commands
    and its own scripts' argparse flags as child processes): whole literals, so a message split
    over lines or a label handed down (``f"--token-file {path}"``) is found as well as a
    one-line raise."""
    found: dict[str, list[tuple[str, ...]]] = {}
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        if module.startswith(("cli/", "mock/", "bench/")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and (flags := _FLAG.findall(node.value))
            ):
                found.setdefault(module, []).append(tuple(sorted(set(flags))))
    return {module: sorted(literals) for module, literals in found.items()}


def test_no_library_error_names_a_flag() -> None:
    """A library message about a setting is written ``$setting`` with ``settings``; only the
    result texts listed above still name a flag (and the list shrinks as they are moved)."""
    assert _flags_in_strings(LIBRARY) == RESULT_TEXT_FLAGS


def test_the_flag_scan_finds_a_message_split_over_lines_and_a_label(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "def f(path):\n"
        '    """Docstrings may say --like this."""\n'
        '    name = f"--token-file {path}"\n'
        "    raise ConfigError(\n"
        '        f"{name}: bad "\n'
        '        "see --ca-bundle"\n'
        "    )\n"
    )
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "c.py").write_text('X = "--endpoint"\n')
    assert _flags_in_strings(tmp_path) == {"m.py": [("--ca-bundle",), ("--token-file",)]}


# -- result texts: in the caller's terms ------------------------------------------------------

NO_TOKEN_CLI = (
    "Target requires a profile token and none was given: set $TARGET_PROFILE_TOKEN, or use "
    "--token-env, --token-file, --token-command or --auth adobe-io; then run again with --resume"
)


def _one_row(tmp_path: Path) -> Path:
    source = tmp_path / "in.csv"
    source.write_text("thirdPartyId,v\nc1,x\n")
    return source


def test_a_python_run_without_its_token_names_parameters_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop message, the summary and the report name the caller's parameters, and the
    variable the caller's provider reads: not the CLI's flags, not the default variable."""
    monkeypatch.delenv("MY_TOKEN", raising=False)
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        summary = uploader.upload_files(
            _one_row(tmp_path),
            client_code="demo",
            endpoint=mock.base_url,
            ledger=ledger,
            rate=None,
            tokens=uploader.token_from_env("MY_TOKEN"),
        )
    assert summary.exit_code == 3
    assert summary.message == (
        "Target requires a profile token and none was given: set $MY_TOKEN, or use tokens=…; "
        "then run again with resume=True"
    )
    texts = [*summary.lines(), *uploader.build_report(ledger).lines()]
    assert not [text for text in texts if _FLAG.search(text)]
    assert any("(resume=True sends them)" in text for text in texts)
    assert any("`upload_files(…, resume=True)` continues" in text for text in texts)


def test_the_same_run_through_the_cli_names_its_flags(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    ledger = tmp_path / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        result = cli(
            "upload", str(_one_row(tmp_path)), "--client-code", "demo", "--endpoint",
            mock.base_url, "--ledger", str(ledger), "--rate", "none",
        )  # fmt: skip
    assert result.exit_code == 3
    assert NO_TOKEN_CLI in result.output and "(--resume sends them)" in result.output
    report = cli("report", "--ledger", str(ledger))
    assert "(upload --resume sends them)" in report.output
    assert "(`uploader upload … --resume` continues)" in report.output
    # what the CLI run stored reads as the CLI said it: the ledger's pending message
    assert NO_TOKEN_CLI in ledger.read_text()


def test_a_reject_reason_made_in_the_reader_thread_names_the_flag_under_the_cli(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    source = tmp_path / "l.csv"
    source.write_text("thirdPartyId,v\na,short\nb," + "x" * 200 + "\n")
    out = tmp_path / "out"
    result = cli("upload", str(source), "--client-code", "demo", "--batch-bytes", "100",
                 "--dry-run", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    reasons = set(read_rejects(out / "rejects.csv").get_column("reason"))
    assert reasons == {"row alone is larger than --batch-bytes once encoded"}


def test_a_worker_thread_of_the_reader_spells_as_its_caller() -> None:
    """``one_ahead`` hands its worker the caller's context (a plain thread would not)."""
    with spelt(as_flags):
        made = list(one_ahead(spell("$batch_bytes", "batch_bytes") for _ in range(3)))
    assert made == ["--batch-bytes"] * 3
    assert spell("$batch_bytes", "batch_bytes") == "batch_bytes"


def test_the_cli_spells_switches_tokens_and_steps() -> None:
    assert as_flags("resume=True") == "--resume"
    assert as_flags("batch_rows") == "--batch-rows"
    assert as_flags("poll_statuses(…, watch=True)") == "uploader status --watch"
    error = UploaderError("run again with ${resume=True} ($HOME)", settings=("resume=True",))
    assert str(error) == "run again with resume=True ($HOME)"
    with spelt(as_flags):
        assert str(error) == "run again with --resume ($HOME)"
