"""``uploader bench``: the real uploader and the embedded mock, each its own process, on a few
thousand generated rows (no timing is asserted: the harness fails unless the mock received
every row)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from uploader.bench._run import BACKFILL_ROWS, at_target_limit
from uploader.cli._main import main
from uploader.send._ratelimit import DEFAULT_RATE


def test_bench_prints_rows_per_second_peak_rss_and_the_verdict_at_targets_limit(
    cli: Callable[..., Result],
) -> None:
    result = cli("bench", "--quick", "--rows", "3000")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    end_to_end = next(line for line in lines if "end to end" in line)
    assert "rows/s" in end_to_end and "peak RSS" in end_to_end and "mock" in end_to_end
    assert "rows/s" in next(line for line in lines if "producer alone" in line)
    assert any(line.startswith("Target's limit: 50 calls / 60 s") for line in lines)
    assert any("is the bottleneck" in line for line in lines)
    assert sum("-row backfill" in line for line in lines) == len(BACKFILL_ROWS)


def test_bench_json_delivers_every_row_and_ignores_the_users_uploader_settings(
    tmp_path: Path,
) -> None:
    """Parquet, datasets kept in --data. ``$UPLOADER_SHARD`` (any ``UPLOADER_*`` setting: a
    shard, a daily budget, a shared rate store) is the user's production setting, not the
    bench's: every generated row is still sent."""
    data = tmp_path / "data"
    args = ["bench", "--rows", "3000", "--format", "parquet", "--data", str(data), "--json"]
    result = CliRunner().invoke(main, args, env={"UPLOADER_SHARD": "1/2"})
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["end_to_end"]["rows"] == found["producer"]["rows"] == 3000
    assert found["end_to_end"]["peak_rss_mb"] > 0 and found["end_to_end"]["rows_per_s"] > 0
    assert found["target"]["limit_rows_per_s"] > 0
    assert found["machine"]["cores"] >= 1
    assert [path.name for path in data.glob("*.parquet")] == ["crm-3000.parquet"]  # kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rows", "0"], "--rows"),
        (["--format", "xml"], "--format"),
        (["--data", "FILE"], "--data"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str, cli: Callable[..., Result]
) -> None:
    file = tmp_path / "file"
    file.write_text("")
    result = cli("bench", *[str(file) if arg == "FILE" else arg for arg in args])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


def test_the_limit_counts_full_batches_of_this_datas_rows() -> None:
    """100 B a row: a call is cut at 49 MB = 490,000 rows, so 50 calls a minute carry
    408,333 rows/s; 100M rows = 205 calls, the last starting 4 windows after the first, each
    window 2 % longer than Target's (the limiter's margin)."""
    found = at_target_limit(500_000, 100.0)
    assert found["rows_per_call"] == 490_000
    assert found["limit_rows_per_s"] == pytest.approx(408_333.3, abs=0.1)
    assert found["bottleneck"] == "target"
    backfill = {b["rows"]: b for b in found["backfills"]}[100_000_000]
    assert backfill["calls"] == 205
    assert backfill["min_seconds_at_limit"] == pytest.approx(4 * DEFAULT_RATE.window)
    assert backfill["min_seconds"] == backfill["min_seconds_at_limit"]
    assert at_target_limit(100_000, 100.0)["bottleneck"] == "machine"
