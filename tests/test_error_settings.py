"""Library errors name the parameter; the CLI names its flag, with the same message."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from uploader.auth._static import token_from_file
from uploader.cli._errors import flag
from uploader.cli._main import main
from uploader.errors import ConfigError, LedgerError, UploaderError
from uploader.produce._batcher import BatchLimits
from uploader.produce._source import expand_sources
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


# Texts that still name a flag because they are results, not raised errors: lines of the
# summary, the ledger, the report, the check verdict and the exit-code help, and the stop
# messages (``str(error)`` of a transport error, kept in the summary and the ledger). They
# are worded for the CLI; a library caller reads them as they are. Nothing else may name one:
# each literal is listed by the flags it names, so one more (a label put back) fails too.
RESULT_TEXT_FLAGS = {
    "auth/_sources.py": [("--token-command",)],  # CommandToken.source, shown by `check`
    "exits.py": [("--failed-rows", "--resume", "--watch")],  # the exit-code help
    "ledger/_summary.py": [("--resume",)],
    "produce/_producer.py": [("--batch-bytes",)],  # a reject reason, in the rejects file
    "produce/_rejects.py": [("--max-rejects",)],
    "reconcile/_preflight.py": [
        ("--auth", "--token-command", "--token-env", "--token-file"),
        ("--client-code", "--endpoint"),
    ],
    "reconcile/_report.py": [("--failed-rows",), ("--resume",), ("--resume",), ("--watch",)],
    "reconcile/_verify.py": [("--json",), ("--resume",)],
    "send/_engine.py": [
        ("--auth", "--resume", "--token-command", "--token-env", "--token-file"),
        ("--resume",),
        ("--resume",),
        ("--resume",),
    ],
    "send/_transport.py": [  # stop messages: TLS refused, HTTP 404, token rejected
        ("--api-version", "--client-code", "--endpoint"),
        ("--ca-bundle",),
        ("--resume",),
    ],
}
_FLAG = re.compile(r"--[a-z][a-z-]*")


def _flags_in_strings(root: Path) -> dict[str, list[tuple[str, ...]]]:
    """The flags each string literal of each module under ``root`` names (f-string parts
    included, docstrings not), outside cli/ and mock/: whole literals, so a message split
    over lines or a label handed down (``f"--token-file {path}"``) is found as well as a
    one-line raise."""
    found: dict[str, list[tuple[str, ...]]] = {}
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        if module.startswith(("cli/", "mock/")):
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
