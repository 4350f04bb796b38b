"""``uploader sync``: send only what changed since the state, refresh what is due, and commit
the state for what landed (``uploader.sync``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from uploader._plural import plural
from uploader.cli._capacity import capacity_dict, capacity_lines
from uploader.cli._errors import handle_errors, terminate_as_interrupt
from uploader.cli._output import echo_json, echo_warnings, report
from uploader.cli._paths import PathType
from uploader.cli._progress import make_progress
from uploader.cli._upload import prune, run_options, send_config, send_options
from uploader.cli._validate import plan_lines
from uploader.errors import ConfigError
from uploader.exits import EXIT_HELP
from uploader.send._ratelimit import RateLimit, parse_rate
from uploader.sync._defaults import DEFAULT_REFRESH_AFTER_DAYS, REASONS

__all__ = ["sync_command"]


@click.command("sync", epilog=EXIT_HELP, short_help="Send only new, changed and due rows.")
@send_options(wait=False)
@click.option(
    "--state",
    type=PathType(file_okay=False),
    help="The sync's state directory (what was sent, and when; also TOML `state`). Made on "
    "the first run; two syncs on one state never run at once.",
)
@click.option(
    "--refresh-after",
    type=int,
    default=DEFAULT_REFRESH_AFTER_DAYS,
    show_default=True,
    metavar="DAYS",
    help="Send an unchanged row again before it is this many days old (Target drops a "
    "profile after 14 days without activity by default): about rows ÷ DAYS a night, spread by "
    "id, none ever older.",
)
@click.option("--full", is_flag=True, help="Send every row, whatever the state says.")
@click.option(
    "--missing",
    type=PathType(dir_okay=False),
    help="Write the ids in the state but not in today's input to this CSV (they are never "
    "sent: the API cannot delete).",
)
@click.option(
    "--forget-missing", is_flag=True, help="Drop the missing ids from the state when it commits."
)
@handle_errors
def sync_command(**options: Any) -> None:
    """Sync SOURCE... (the night's full export) to Target: send only the rows that are new,
    changed, or due for a refresh since the state in --state, wait for Target's batch
    statuses (as `upload --wait`), then commit the state for the rows that landed.

    Rows in failed or pending batches, and rows Target failed one by one, keep their old
    state, so the next run sends them again; a run that stops early commits nothing (rerun,
    or --resume with its --ledger). Every `upload` option applies.

    \b
    Examples:
      uploader sync exports/crm.csv --client-code acme --state state/crm
      uploader sync exports/crm.csv --client-code acme --state state/crm --dry-run --out plan/
      uploader sync exports/crm.csv --client-code acme --state state/crm --full
    """
    with terminate_as_interrupt():
        _sync(options)


def _sync(options: dict[str, Any]) -> None:
    run = run_options(options)
    state, refresh_after = options.pop("state"), options.pop("refresh_after")
    full, missing, forget = (
        options.pop("full"),
        options.pop("missing"),
        options.pop("forget_missing"),
    )
    if state is None:
        raise ConfigError("--state DIR is required (the sync's state directory)")
    if run.out is not None:
        if not options["client_code"]:
            raise ConfigError("--client-code is required (or set $TARGET_CLIENT_CODE)")
        _dry_run(
            run.spec,
            options["client_code"],
            state,
            run.out,
            refresh_after,
            full,
            run.as_json,
            parse_rate(options["rate"]),
            options["daily_rows"],
        )
        return
    config, tokens = send_config(options, run)
    from uploader._api import in_own_loop
    from uploader.sync._run import sync

    summary = in_own_loop(
        lambda: sync(
            run.spec,
            config,
            state,
            tokens,
            refresh_after_days=refresh_after,
            full=full,
            forget_missing=forget,
            missing=missing,
            wait_timeout=run.wait_timeout,
            progress=make_progress(run.quiet, every=run.progress_every),
            handle_signals=True,
        )
    )
    if run.keep_runs is not None:
        prune(run.keep_runs, config.ledger.parent)
    report(summary, run.as_json)
    raise SystemExit(summary.exit_code)


def _dry_run(
    spec: Any,
    client_code: str,
    state: Path,
    out: Path,
    refresh: int,
    full: bool,
    as_json: bool,
    rate: RateLimit | None,
    daily_rows: int | None,
) -> None:
    from uploader.send._row_budget import check_batch_fits
    from uploader.sync._run import sync_dry_run

    check_batch_fits(daily_rows, spec.limits.rows)  # as the sync would
    rows, missing, written = sync_dry_run(
        spec, client_code, state, out, refresh_after_days=refresh, full=full
    )
    stats = written.stats
    capacity = capacity_dict(written.batch_rows, rate, daily_rows)
    if as_json:
        echo_json(
            {"out": str(out), "files": len(written.files), "rows": rows, "missing": missing}
            | capacity
        )
        return
    for reason in REASONS:
        click.echo(f"{reason:<15}{rows.get(reason, 0):>12,}")
    click.echo(f"missing ids    {missing:>12,}  (in the state, not in the input; never sent)")
    for line in plan_lines(stats, out / "rejects.csv"):
        click.echo(line)
    for line in capacity_lines(written.batch_rows, rate, daily_rows):
        click.echo(line)
    echo_warnings(stats.warnings)
    click.echo(f"bodies         {out}/batch-000001.txt … ({plural(len(written.files), 'file')})")
