"""``uploader demo``: the main job, end to end, against the embedded mock Target server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from uploader.auth import StaticToken
from uploader.batcher import BatchLimits
from uploader.commands.upload import report, run_upload
from uploader.engine import UploadConfig
from uploader.errors import ConfigError
from uploader.exits import handle_errors
from uploader.mock import MockConfig, run_mock_in_thread
from uploader.pipeline import InputSpec
from uploader.secret import Secret

__all__ = ["demo"]

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@click.command()
@click.option(
    "--source",
    type=click.Path(path_type=Path, dir_okay=False),
    default=SAMPLES / "crm.csv",
    show_default=True,
    help="File to upload.",
)
@click.option(
    "--batch-rows",
    type=int,
    default=100,
    show_default=True,
    help="Rows per batch (small, so the demo shows several batches in flight).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def demo(source: Path, batch_rows: int, as_json: bool) -> None:
    """Start the embedded mock Target server (authentication on), upload the sample CRM
    export to it, print the summary and where the ledger is, and stop the mock."""
    if not source.is_file():
        raise ConfigError(f"{source}: no such file (run from a checkout with samples/)")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    ledger = Path("runs") / f"demo-{stamp}" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", require_auth=True)) as mock:
        click.echo(f"mock Target server on {mock.base_url} (authentication required)", err=True)
        config = UploadConfig(client_code="demo", endpoint=mock.base_url, ledger=ledger)
        tokens = StaticToken(Secret(mock.token), "the embedded mock")
        spec = InputSpec(sources=(source,), limits=BatchLimits(rows=batch_rows))
        summary = run_upload(config, spec, tokens, quiet=as_json)
        received = mock.received_frame().height
    report(summary, as_json)
    if not as_json:
        click.echo(
            f"the mock received {received:,} profiles; ledger and rejects in {ledger.parent}/"
        )
    raise SystemExit(summary.exit_code)
