"""``uploader demo``: the main job, end to end, against the embedded mock Target server."""

from __future__ import annotations

import contextlib
import importlib.resources
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.cli._errors import handle_errors
from uploader.cli._output import report
from uploader.cli._paths import PathType
from uploader.cli._progress import make_progress
from uploader.errors import ConfigError
from uploader.exits import EXIT_HELP
from uploader.ledger import _lock as lock
from uploader.ledger._runs import LEDGER_NAME, RUNS_DIR, run_stamp
from uploader.mock._config import MockConfig

if TYPE_CHECKING:
    from uploader.ledger._summary import RunSummary

__all__ = ["DEMO_MOCK", "demo", "demo_source"]

#: The sample CRM export, shipped inside the package (an installed wheel has no samples/
#: directory); samples/crm.csv is the same file, for users to read.
SAMPLE = "_data/crm.csv"

#: The mock shaped like the real service: each batch takes 2-5 s to process, only the last
#: 10 statuses are kept, and the submit answer is Adobe's documented one (a bare ``&`` in it).
DEMO_MOCK = MockConfig(
    client_code="demo",
    require_auth=True,
    status_delay=2.0,
    status_delay_jitter=3.0,
    status_retention=10,
    status_url_style="doc",
)
#: The demo must end within a minute: the statuses are complete within about 5 s.
WAIT_TIMEOUT = 40.0


@click.command(epilog=EXIT_HELP)
@click.option(
    "--source",
    type=PathType(dir_okay=False),
    help="File to upload. Default: the sample CRM export shipped with the uploader (the same "
    "as samples/crm.csv).",
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
def demo(source: Path | None, batch_rows: int, as_json: bool) -> None:
    """Start the embedded mock Target server (authentication on, 2-5 s of processing per
    batch, the last 10 statuses kept, as Target does), upload the sample CRM export to it,
    wait for Target's batch statuses (incomplete, then complete), print the summary and
    where the ledger is, and stop the mock."""
    with demo_source(source) as path:
        _demo(path, batch_rows, as_json)


@contextlib.contextmanager
def demo_source(source: Path | None) -> Iterator[Path]:
    """``source``, or the packaged sample as a file on disk (a zipped install extracts it
    for the block)."""
    if source is not None:
        if not source.is_file():
            raise ConfigError(f"{source}: no such file")
        yield source
        return
    with importlib.resources.as_file(importlib.resources.files("uploader") / SAMPLE) as path:
        yield path


def _demo(source: Path, batch_rows: int, as_json: bool) -> None:
    from uploader._api import run_upload
    from uploader.mock._server import run_mock_in_thread
    from uploader.produce._batcher import BatchLimits
    from uploader.produce._producer import InputSpec, Producer
    from uploader.reconcile._status import poll_statuses
    from uploader.send._engine import UploadConfig

    ledger = RUNS_DIR / f"demo-{run_stamp()}" / LEDGER_NAME
    # The ledger's lock before the mock: a run directory that cannot be made is one line
    # (the upload's own hold of it only counts)
    with lock.hold(ledger), run_mock_in_thread(DEMO_MOCK) as mock:
        click.echo(f"mock Target server on {mock.base_url} (authentication required)", err=True)
        config = UploadConfig(client_code="demo", endpoint=mock.base_url, ledger=ledger)
        tokens = StaticToken(Secret(mock.token), "the embedded mock")
        spec = InputSpec(sources=(source,), limits=BatchLimits(rows=batch_rows))

        async def after_send(summary: RunSummary) -> None:
            """One round now, so the user sees Target still processing before it completes."""
            if summary.stop_reason is not None:
                return
            first = (await poll_statuses(ledger, tokens)).counts
            states = ", ".join(f"{n} {name}" for name, n in first.items() if n)
            click.echo(f"batch statuses right after the upload: {states}", err=True)
            received = mock.received_frame().height
            click.echo(
                f"the mock received {received:,} profiles; ledger and rejects in {ledger.parent}/",
                err=True,
            )
            click.echo("waiting for Target to process the batches (--wait) …", err=True)

        # Progress and these notes go to stderr, so they stay with --json too (stdout: JSON)
        summary = run_upload(
            Producer(spec),
            config,
            tokens,
            progress=make_progress(quiet=False),
            wait=True,
            wait_timeout=WAIT_TIMEOUT,
            poll_every=None,  # the sample is sent in seconds
            after_send=after_send,
        )
        # The summary and Target's answer; the exit code is the worse of the two.
        report(summary, as_json)
        raise SystemExit(summary.exit_code)
