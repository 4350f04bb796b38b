"""``uploader report``: did the run in a ledger land? A summary, an exit code, failed rows."""

from __future__ import annotations

from typing import Any

import click

from uploader._plural import plural
from uploader.cli._errors import handle_errors
from uploader.cli._output import echo_json
from uploader.cli._paths import PathType
from uploader.cli._status import ledgers_of, ledgers_option
from uploader.exits import EXIT_HELP

__all__ = ["report_command"]


@click.command("report", epilog=EXIT_HELP)
@ledgers_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--failed-rows",
    type=PathType(dir_okay=False),
    metavar="OUT.csv",
    help="Write the source rows of failed, pending and stuck batches and the rejected rows "
    "(all columns, text as in the source) to OUT.csv, to fix and upload again.",
)
@click.option(
    "--html",
    "html_file",
    type=PathType(dir_okay=False),
    metavar="FILE",
    help="Also write the report as one self-contained HTML page (charts of rows acknowledged "
    "over time, calls against the rate limit, latency, outcomes, statuses, verification; "
    "works offline). The text or JSON report and the exit code are the same.",
)
@click.option(
    "--fail-on-rejects",
    is_flag=True,
    help="Exit 1 when rows were rejected (by default they are only reported).",
)
@handle_errors
def report_command(**options: Any) -> None:
    """Summarise the run in --ledger: rows sent and acknowledged, what Target processed
    (successfulUpdates, profilesNotFound, failedUpdates), stuck and unknown batches, rejects
    by reason, and the last `uploader verify` results. Reads the ledger only (run `uploader
    status` first to ask Target); --failed-rows also re-reads the input files.

    Several ledgers (the shards of one input, --shard I/N) are one run: counts summed, one
    verdict; a shard no ledger is given for makes it incomplete (exit 6).

    \b
    Examples:
      uploader report --ledger runs/nightly/ledger.jsonl
      uploader report --ledger runs/nightly/ledger.jsonl --failed-rows fix-me.csv
      uploader report --ledger runs/nightly/ledger.jsonl --html report.html
      uploader report runs/a/ledger.jsonl runs/b/ledger.jsonl runs/c/ledger.jsonl
    """
    from uploader.ledger._ledger import read_ledger
    from uploader.reconcile._failed_rows import write_shards_failed_rows
    from uploader.reconcile._report import build_report
    from uploader.reconcile._shards import check_shards, merge_reports

    ledgers = [(path, read_ledger(path)) for path in ledgers_of(options)]
    reports = [build_report(path, state) for path, state in ledgers]
    if len(ledgers) == 1:
        report = reports[0]
    else:
        _, missing = check_shards(ledgers)
        report = merge_reports(reports, missing)
    fail_on_rejects = options["fail_on_rejects"]
    recovered = None
    if options["failed_rows"] is not None:
        recovered = write_shards_failed_rows(ledgers, options["failed_rows"])
    if options["html_file"] is not None:
        from uploader.reconcile._html import write_html_report

        write_html_report(options["html_file"], report, ledgers)
    if options["as_json"]:
        data = report.to_dict(fail_on_rejects=fail_on_rejects)
        if recovered is not None:
            data["failed_rows"] = {
                "path": str(recovered.path),
                "rows": recovered.rows,
                "batches": list(recovered.batches),
                "rejects": recovered.rejects,
                "row_level": recovered.row_level,
                "unconfirmed_batches": list(recovered.unconfirmed),
            }
        echo_json(data)
    else:
        for line in report.lines(fail_on_rejects=fail_on_rejects):
            click.echo(line)
        if recovered is not None:
            click.echo(
                f"{'failed rows':<19}  {recovered.rows:,} source rows → {recovered.path} "
                f"({plural(len(recovered.batches), 'batch', 'batches')}, "
                f"{plural(recovered.rejects, 'rejected row')}, "
                f"{plural(recovered.row_level, 'id')} failed row level)"
            )
            if recovered.unconfirmed:
                click.echo(
                    f"{'':<19}  not included: "
                    f"{plural(len(recovered.unconfirmed), 'batch', 'batches')} whose "
                    "status Target no longer has (cannot be known from the ledger; "
                    "`uploader verify` reads a sample back)"
                )
    raise SystemExit(report.exit_code(fail_on_rejects=fail_on_rejects))
