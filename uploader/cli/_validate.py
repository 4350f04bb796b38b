"""``uploader validate``: read, check and batch the input without sending anything."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from uploader.cli._capacity import capacity_dict, capacity_lines, daily_rows_option, rate_option
from uploader.cli._errors import handle_errors
from uploader.cli._inputs import config_option, input_options, spec_from_options
from uploader.cli._output import echo_json, echo_warnings
from uploader.cli._paths import PathType
from uploader.errors import ConfigError
from uploader.exits import EXIT_FAILED, EXIT_HELP, EXIT_OK
from uploader.send._ratelimit import parse_rate

if TYPE_CHECKING:
    from uploader.produce._model import ProduceStats


__all__ = ["plan_lines", "validate"]


@click.command(
    epilog=EXIT_HELP, short_help="Check files and show the batches an upload would send."
)
@config_option()
@input_options
@click.option(
    "--rejects",
    type=PathType(dir_okay=False),
    help="Write rejected rows (source,row,id,reason) to this CSV. Default: a temporary file, "
    "kept and its path printed only when rows were rejected.",
)
@rate_option
@daily_rows_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--fail-on-rejects", is_flag=True, help="Exit 1 when any row is rejected.")
@handle_errors
def validate(
    rejects: Path | None,
    rate: str,
    daily_rows: int | None,
    as_json: bool,
    fail_on_rejects: bool,
    **options: Any,
) -> None:
    """Check SOURCE... (CSV/Parquet files or globs) and show the batches an upload would send.

    Nothing is sent and no body is written: use `upload --dry-run --out DIR` for the bodies.
    The plan ends with the calls the batches need and the shortest time to send them at
    --rate (and the days --daily-rows needs, when given).
    Whole-input problems (missing id column, unreadable file, not UTF-8, ragged CSV,
    unsupported column type) end with exit code 2 and a one-line message.

    \b
    Example:
      uploader validate samples/crm.csv --rejects rejects.csv
    """
    from uploader.produce._producer import Producer
    from uploader.produce._rejects import RejectsWriter
    from uploader.send._row_budget import check_batch_fits

    spec = spec_from_options(options)
    limit = parse_rate(rate)  # checked before the input is read
    if daily_rows is not None and daily_rows < 1:
        raise ConfigError("$daily_rows must be at least 1", settings=("daily_rows",))
    check_batch_fits(daily_rows, spec.limits.rows)  # as the upload would
    temporary: Path | None = None
    if rejects is None:
        temporary = Path(tempfile.mkdtemp(prefix="uploader-"))
        path = temporary / "rejects.csv"
    else:
        path = rejects
    producer = Producer(spec)
    try:
        with RejectsWriter(path) as writer:
            producer.rejects = writer
            producer.check()
            batch_rows = [batch.rows for batch in producer]
    finally:
        # A temporary rejects file is kept only when it holds rows (its path is printed)
        if temporary is not None and not producer.stats.rows_rejected:
            shutil.rmtree(temporary, ignore_errors=True)
    stats = producer.stats
    if as_json:
        capacity = capacity_dict(batch_rows, limit, daily_rows)
        echo_json(plan_dict(stats, path) | capacity, warnings=stats.warnings)
    else:
        for line in plan_lines(stats, path):
            click.echo(line)
        for line in capacity_lines(batch_rows, limit, daily_rows):
            click.echo(line)
        echo_warnings(stats.warnings)
    raise SystemExit(EXIT_FAILED if fail_on_rejects and stats.rows_rejected else EXIT_OK)


def plan_dict(stats: ProduceStats, rejects: Path) -> dict[str, object]:
    return {
        "rows_read": stats.rows_read,
        "rows_rejected": stats.rows_rejected,
        "rows_merged": stats.rows_merged,
        **({"rows_other_shards": stats.rows_other_shards} if stats.rows_other_shards else {}),
        "rows_batched": stats.rows_batched,
        "batches": stats.batches,
        "bytes": stats.bytes_batched,
        "rejects_by_reason": stats.rejects_by_reason,
        "rejects_file": str(rejects) if stats.rows_rejected else None,
        "warnings": stats.warnings,
    }


def plan_lines(stats: ProduceStats, rejects: Path) -> list[str]:
    """The human plan: counts and rejects by reason (the warnings go to stderr)."""
    lines = [
        f"rows read      {stats.rows_read:>12,}",
        f"rows rejected  {stats.rows_rejected:>12,}",
        f"rows merged    {stats.rows_merged:>12,}  (duplicate ids folded into one profile)",
        *(
            [f"other shards   {stats.rows_other_shards:>12,}  (another --shard's rows)"]
            if stats.rows_other_shards
            else []
        ),
        f"rows in batches{stats.rows_batched:>12,}",
        f"batches        {stats.batches:>12,}  ({stats.bytes_batched:,} bytes encoded)",
    ]
    lines += [f"  rejected: {n:,} × {reason}" for reason, n in stats.rejects_by_reason.items()]
    if stats.rows_rejected:
        lines.append(f"rejects file   {rejects}")
    return lines
