"""``uploader upload``: flags → configs → ``engine.upload`` → summary and exit code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from uploader._plural import plural
from uploader.cli._auth_options import (
    ca_bundle_option,
    static_token_options,
    token_source_options,
    tokens_from_options,
)
from uploader.cli._capacity import capacity_dict, capacity_lines, daily_rows_option, rate_option
from uploader.cli._errors import handle_errors, terminate_as_interrupt
from uploader.cli._inputs import config_option, input_options, spec_from_options
from uploader.cli._output import echo_json, echo_warnings, report
from uploader.cli._paths import PathType
from uploader.cli._progress import DEFAULT_PROGRESS_EVERY, make_progress
from uploader.cli._validate import plan_lines
from uploader.errors import ConfigError
from uploader.exits import EXIT_FAILED, EXIT_HELP, EXIT_OK
from uploader.ledger._runs import new_run_ledger, prune_runs
from uploader.send._defaults import DEFAULT_BISECT_CALLS, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT
from uploader.send._ratelimit import DEFAULT_RATE, RateLimit, parse_rate
from uploader.send._retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_MAX_WAIT, RetryPolicy

if TYPE_CHECKING:  # the rest is imported when a command runs: --help stays light
    from uploader.auth._static import TokenProvider
    from uploader.ledger._summary import RunSummary
    from uploader.produce._producer import InputSpec, Producer
    from uploader.produce._rejects import RejectLimit
    from uploader.send._engine import UploadConfig

__all__ = ["RunOptions", "prune", "run_options", "send_config", "send_options", "upload_command"]

F = TypeVar("F", bound=Callable[..., Any])


def send_options(*, wait: bool) -> Callable[[F], F]:
    """The options of the commands that send (``upload``, ``sync``), in the order ``--help``
    lists them; ``wait``: with ``--wait`` (``sync`` always waits)."""
    options: list[Callable[[F], F]] = [
        config_option(),
        input_options,
        click.option(
            "--client-code",
            envvar="TARGET_CLIENT_CODE",
            help="Your Target client code (also $TARGET_CLIENT_CODE).",
        ),
        click.option(
            "--endpoint",
            metavar="URL",
            help="Base URL of the API. Default: https://CLIENT.tt.omtrdc.net. Plain http is refused "
            "with a token unless the host is this machine.",
        ),
        click.option(
            "--api-version",
            type=click.Choice(["v1", "v2"]),
            default="v2",
            show_default=True,
            help="v2 creates missing profiles; v1 only updates existing ones.",
        ),
        click.option(
            "--concurrency",
            type=int,
            default=DEFAULT_CONCURRENCY,
            show_default=True,
            help="Batches in flight at once (each holds up to --batch-bytes in memory).",
        ),
        rate_option,
        click.option(
            "--rate-store",
            envvar="UPLOADER_RATE_STORE",
            metavar="redis://HOST:PORT/DB",
            help="Keep the --rate window in this Redis, shared by every process that sends for the "
            "client code; all of them must use the same store and the same --rate.",
        ),
        daily_rows_option,
        click.option(
            "--daily-rows-file",
            type=PathType(dir_okay=False),
            envvar="UPLOADER_DAILY_ROWS_FILE",
            metavar="PATH",
            help="Without --rate-store: count --daily-rows in this local file (JSON, locked while "
            "written), shared by every run on this machine that names it.",
        ),
        click.option(
            "--metrics-file",
            type=PathType(dir_okay=False),
            envvar="UPLOADER_METRICS_FILE",
            metavar="PATH",
            help="Write the run's numbers (rows and batches by outcome, calls, retries, "
            "throttles, duration, rows/s, exit code, last success) to PATH in Prometheus' text "
            "format, every 10 s and when the run ends, replaced atomically: for node_exporter's "
            "textfile collector (name it *.prom in its directory).",
        ),
        static_token_options,
        token_source_options,
        click.option(
            "--ledger",
            type=PathType(dir_okay=False),
            help="Ledger file (JSON lines). Default: runs/<UTC time>-<pid>/ledger.jsonl, with "
            "rejects.csv, summary.json and ledger.lock beside it (one ledger per directory).",
        ),
        click.option(
            "--keep-runs",
            type=int,
            metavar="N",
            help="After the run, remove the older run directories under runs/ that the uploader made "
            "(runs/<UTC time>-<pid>/ and runs/demo-<UTC time>/ holding a ledger), keeping the N "
            "newest, this run's included. With --shard I/N only shard I/N's directories "
            "(runs/<UTC time>-<pid>-shard-IofN/) are counted and removed, and an unsharded run "
            "never removes a shard's. Nothing else is touched, nor a run another process is "
            "using (its ledger.lock is held). Default: keep all.",
        ),
        click.option(
            "--resume",
            is_flag=True,
            help="Continue the run in --ledger: send only what it has not acknowledged.",
        ),
        click.option(
            "--dry-run", is_flag=True, help="Send nothing: write each exact body to --out."
        ),
        click.option(
            "--out",
            type=PathType(file_okay=False),
            help="Directory for --dry-run bodies (batch-000001.txt …) and rejects.csv: new, empty, or "
            "holding only an earlier dry run's files, which are replaced; anything else is refused.",
        ),
        click.option(
            "--max-rejects",
            metavar="N|P%",
            help="Exit 1 when more than N rows (or more than P percent of the rows read) are "
            "rejected. Checked when the run ends: the good rows are sent all the same. Default: no "
            "limit (an input whose every row is rejected exits 1 anyway).",
        ),
        click.option(
            "--max-retries",
            type=int,
            default=DEFAULT_MAX_RETRIES,
            show_default=True,
            help="Retries per batch for transient errors (network, 5xx, 429, 503 throttle).",
        ),
        click.option(
            "--bisect-calls",
            type=int,
            default=DEFAULT_BISECT_CALLS,
            show_default=True,
            help='When Target refuses a whole batch (success=false, e.g. "Unexpected error"), '
            "split it in halves until the rows it refuses stand alone (they go to the rejects file "
            "with Target's message; the rest is sent), spending at most this many calls per batch "
            "under the same --rate. 0: no splitting, the batch fails.",
        ),
        click.option(
            "--retry-max-wait",
            type=float,
            default=DEFAULT_RETRY_MAX_WAIT,
            show_default=True,
            help="Longest wait between two tries, in seconds.",
        ),
        click.option(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT,
            show_default=True,
            help="Seconds one call may take, body upload included.",
        ),
        ca_bundle_option,
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Print the summary as JSON on stdout (alone: progress, errors and warnings stay on "
            'stderr; an error that ends the command gives {"error": …, "exit_code": …}).',
        ),
        click.option("--quiet", is_flag=True, help="No progress output."),
        click.option(
            "--progress-every",
            type=float,
            default=DEFAULT_PROGRESS_EVERY,
            show_default=True,
            metavar="SECONDS",
            help="When stderr is not a terminal (cron, Airflow): one progress line this often.",
        ),
    ]
    if wait:
        options.append(
            click.option(
                "--wait",
                is_flag=True,
                help="Poll Target's batchStatus every 10 s while sending (Target keeps only its last ~10 "
                "statuses), then until every batch is complete or stuck (as `uploader status --watch`); "
                "the exit code then also says whether it landed.",
            ),
        )
    options += [
        click.option(
            "--wait-timeout",
            type=float,
            default=3600.0,
            show_default=True,
            help=("With --wait: s" if wait else "S")
            + "top polling after this many seconds (exit 4 if still incomplete).",
        ),
    ]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@click.command(
    "upload", epilog=EXIT_HELP, short_help="Upload CSV/Parquet files to Target's bulk API."
)
@send_options(wait=True)
@handle_errors
def upload_command(**options: Any) -> None:
    """Upload SOURCE... (CSV/Parquet files or globs) to Target's Bulk Profile Update API.

    Rows are validated, percent-encoded and cut into batches (see `uploader validate`); the
    batches are sent concurrently under the rate limit, retried when the failure is
    transient, and every outcome is written to the ledger. A stopped or crashed run continues
    exactly where it was with --resume (same files, same settings).

    \b
    Examples:
      TARGET_PROFILE_TOKEN=… uploader upload crm.csv --client-code acme
      uploader upload 'exports/*.parquet' --client-code acme --token-file ~/.target-token
      uploader upload crm.csv --client-code acme --ledger runs/nightly.jsonl --resume
      uploader upload crm.csv --client-code acme --dry-run --out bodies/
    """
    with terminate_as_interrupt():
        _upload(options)


def _upload(options: dict[str, Any]) -> None:
    from uploader.produce._producer import Producer

    run = run_options(options)
    wait = options.pop("wait")
    if run.out is not None:
        _dry_run(
            Producer(run.spec),
            run.out,
            run.as_json,
            run.max_rejects,
            parse_rate(options["rate"]),
            options["daily_rows"],
        )
        return
    config, tokens = send_config(options, run)
    keep_runs, quiet = run.keep_runs, run.quiet
    from uploader._api import run_upload

    async def after_send(summary: RunSummary) -> None:
        if keep_runs is not None:
            prune(keep_runs, config.ledger.parent)
        if wait and summary.stop_reason is None and not quiet:
            click.echo("waiting for Target to process the batches (--wait) …", err=True)

    summary = run_upload(
        Producer(run.spec),
        config,
        tokens,
        progress=make_progress(quiet, every=run.progress_every),
        wait=wait,
        wait_timeout=run.wait_timeout,
        after_send=after_send,
        handle_signals=True,
    )
    report(summary, run.as_json)
    raise SystemExit(summary.exit_code)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The options every sending command (``upload``, ``sync``) reads the same way."""

    as_json: bool
    quiet: bool
    progress_every: float
    keep_runs: int | None
    wait_timeout: float
    out: Path | None  # a dry run's directory; None: a run that sends
    max_rejects: RejectLimit | None
    spec: InputSpec


def run_options(options: dict[str, Any]) -> RunOptions:
    """Take the shared options out of ``options`` (what is left is ``send_config``'s)."""
    from uploader.produce._rejects import RejectLimit

    progress_every, keep_runs = options.pop("progress_every"), options.pop("keep_runs")
    if progress_every < 0:
        raise ConfigError("--progress-every must not be negative")
    if keep_runs is not None and keep_runs < 1:
        raise ConfigError("--keep-runs must be at least 1 (this run's directory is kept)")
    dry_run, out = options.pop("dry_run"), options.pop("out")
    if dry_run and out is None:
        raise ConfigError("--dry-run needs --out DIR for the bodies")
    if out is not None and not dry_run:
        raise ConfigError("--out goes with --dry-run")
    if dry_run:
        _note_ignored_by_dry_run(options)
    text = options.pop("max_rejects")
    return RunOptions(
        as_json=options.pop("as_json"),
        quiet=options.pop("quiet"),
        progress_every=progress_every,
        keep_runs=keep_runs,
        wait_timeout=options.pop("wait_timeout"),
        out=out,
        max_rejects=RejectLimit(text) if text is not None else None,
        spec=spec_from_options(options),
    )


#: the options of ``send_options`` (and ``sync``'s) that only matter when sending, in --help's
#: order: a dry run given any of them says it ignores them
_SENDING_ONLY = (
    "concurrency",
    "rate_store",
    "daily_rows_file",
    "metrics_file",
    "ledger",
    "keep_runs",
    "resume",
    "max_retries",
    "bisect_calls",
    "retry_max_wait",
    "timeout",
    "wait",
    "wait_timeout",
    "missing",
    "forget_missing",
)


def _note_ignored_by_dry_run(options: dict[str, Any]) -> None:
    """One note naming the sending-only options given (flag, environment or config file) to
    a dry run, and that --daily-rows, which the capacity plan uses, is not counted."""
    from click.core import ParameterSource

    context = click.get_current_context()
    given = [
        "--" + name.replace("_", "-")
        for name in _SENDING_ONLY
        if context.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
    ]
    parts = []
    if given:
        parts.append(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} ignored")
    if options["daily_rows"] is not None:
        parts.append("--daily-rows is not counted")
    if parts:
        click.echo(f"uploader: note: --dry-run sends nothing: {'; '.join(parts)}", err=True)


def send_config(options: dict[str, Any], run: RunOptions) -> tuple[UploadConfig, TokenProvider]:
    """Where and how to send, and the token's source, from the sending options (and the
    run's: its reject limit, and its shard, which names the default run directory)."""
    from uploader.send._engine import UploadConfig
    from uploader.send._row_budget import check_batch_fits

    if not options["client_code"]:
        raise ConfigError("--client-code is required (or set $TARGET_CLIENT_CODE)")
    tokens = tokens_from_options(options)  # env, file, command or Adobe I/O: exactly one
    if options["resume"] and options["ledger"] is None:
        raise ConfigError("--resume needs --ledger PATH (the ledger of the run to continue)")
    config = UploadConfig(
        client_code=options["client_code"],
        ledger=options["ledger"] or new_run_ledger(shard=run.spec.shard),
        endpoint=options["endpoint"],
        api_version=options["api_version"],
        concurrency=options["concurrency"],
        rate=_rate(options["rate"]),
        rate_store=options["rate_store"],
        retry=RetryPolicy(max_retries=options["max_retries"], max_wait=options["retry_max_wait"]),
        timeout=options["timeout"],
        resume=options["resume"],
        ca_bundle=options["ca_bundle"],
        bisect_calls=options["bisect_calls"],
        max_rejects=run.max_rejects,
        daily_rows=options["daily_rows"],
        daily_rows_file=options["daily_rows_file"],
        metrics_file=options["metrics_file"],
    )
    check_batch_fits(config.daily_rows, run.spec.limits.rows)
    return config, tokens


def _rate(text: str) -> RateLimit | None:
    """``--rate``, kept as given; one faster than Target's documented 50 calls a minute is
    worth a warning (the mock and the benchmarks use such rates on purpose)."""
    rate = parse_rate(text)
    if rate is not None and rate.faster_than(DEFAULT_RATE):
        click.echo(
            f"uploader: warning: --rate {rate}: Target answers 503 above 50 calls per minute "
            "(fine for the mock server or a benchmark)",
            err=True,
        )
    return rate


def prune(keep: int, current: Path) -> None:
    """--keep-runs: a directory that cannot be removed is a warning, not a failed upload."""
    pruned = prune_runs(keep, current)
    if pruned.removed:
        names = ", ".join(str(path) for path in pruned.removed)
        click.echo(f"uploader: --keep-runs {keep}: removed {names}", err=True)
    for path, why in pruned.failed:
        click.echo(f"uploader: warning: --keep-runs: cannot remove {path} ({why})", err=True)


def _dry_run(
    producer: Producer,
    out: Path,
    as_json: bool,
    max_rejects: RejectLimit | None,
    rate: RateLimit | None,
    daily_rows: int | None,
) -> None:
    from uploader.produce._producer import clear_dry_run_dir, write_dry_run
    from uploader.produce._rejects import RejectsWriter
    from uploader.send._row_budget import check_batch_fits

    check_batch_fits(daily_rows, producer.spec.limits.rows)  # as the upload would
    rejects_path = out / "rejects.csv"
    clear_dry_run_dir(out)
    with RejectsWriter(rejects_path) as rejects:
        producer.rejects = rejects
        producer.check()
        plan = write_dry_run(producer, out)
    stats = plan.stats
    if as_json:
        capacity = capacity_dict(plan.batch_rows, rate, daily_rows)
        echo_json({"out": str(out), "files": len(plan.files), **capacity})
    else:
        for line in plan_lines(stats, rejects_path):
            click.echo(line)
        for line in capacity_lines(plan.batch_rows, rate, daily_rows):
            click.echo(line)
        echo_warnings(stats.warnings)
        files = plural(len(plan.files), "file")
        click.echo(f"bodies         {out}/batch-000001.txt … ({files})")
    if max_rejects is not None and max_rejects.exceeded(
        stats.rows_rejected, stats.rows_read - stats.rows_other_shards
    ):
        click.echo(
            f"uploader: {max_rejects.message(stats.rows_rejected, str(rejects_path))}", err=True
        )
        raise SystemExit(EXIT_FAILED)
    raise SystemExit(EXIT_OK)
