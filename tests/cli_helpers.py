"""Driving the CLI in-process (click's runner) the way the tests of this wave do."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from uploader.cli._main import main
from uploader.mock import MockTarget


def cli(*args: str, token: str = "") -> Result:
    """``uploader ARGS`` with ``$TARGET_PROFILE_TOKEN`` set to ``token``."""
    return CliRunner().invoke(main, list(args), env={"TARGET_PROFILE_TOKEN": token})


def upload_to(
    mock: MockTarget, source: Path, ledger: Path, *extra: str, batch_rows: int = 10
) -> Result:
    """``uploader upload`` of ``source`` to ``mock``: no rate limit, small batches."""
    return cli(
        "upload", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
        "--ledger", str(ledger), "--rate", "none", "--batch-rows", str(batch_rows), *extra,
        token=mock.token,
    )  # fmt: skip
