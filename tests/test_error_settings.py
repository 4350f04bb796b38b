"""Library errors name the parameter; the CLI names its flag, with the same message."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from uploader.cli._errors import flag
from uploader.cli._main import main
from uploader.errors import ConfigError, LedgerError
from uploader.produce._batcher import BatchLimits
from uploader.send._engine import UploadConfig

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


def test_the_cli_still_names_the_flag() -> None:
    result = CliRunner().invoke(main, ["validate", str(SAMPLE), "--batch-rows", "0"])
    assert result.exit_code == 2
    assert result.stderr == "uploader: error: --batch-rows must be between 1 and 500,000\n"


def test_no_library_error_is_raised_with_a_flag_in_its_text() -> None:
    """Outside cli/ and mock/, `raise …Error("--flag …")` is written `$flag` with settings."""
    found = subprocess.run(
        ["grep", "-rnE", r"raise [A-Za-z]+Error\([^)]*[\"']--[a-z]", str(LIBRARY)],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert [line for line in found if "/cli/" not in line and "/mock/" not in line] == []
