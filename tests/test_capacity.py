"""Capacity planning: the calls the input needs and the shortest time at --rate (and the days
--daily-rows needs), in `validate`, `upload --dry-run` and `sync --dry-run`, text and JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import Result

from uploader._plural import duration
from uploader.cli._capacity import capacity_dict, capacity_lines
from uploader.send._ratelimit import RateLimit

RATE = RateLimit(50, 60)
SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"  # 996 rows in batches


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        (0, "0 batches → nothing to send"),
        (1, "1 batch → 2 s at 50 calls/min sustained; from a fresh window it starts at once"),
        (
            38,
            "38 batches → 47 s at 50 calls/min sustained; from a fresh window all 38 start "
            "at once (up to 50 do)",
        ),
        (
            50,
            "50 batches → 1 min 2 s at 50 calls/min sustained; from a fresh window all 50 "
            "start at once (up to 50 do)",
        ),
        (
            51,
            "51 batches → 1 min 3 s at 50 calls/min sustained; from a fresh window at least "
            "1 min 2 s (50 start at once, then 50 more each 61.2 s window)",
        ),
        (
            1_000,
            "1,000 batches → 20 min 24 s at 50 calls/min sustained; from a fresh window at "
            "least 19 min 23 s (50 start at once, then 50 more each 61.2 s window)",
        ),
    ],
)
def test_capacity_line_at_the_strict_window(batches: int, expected: str) -> None:
    assert capacity_lines([10] * batches, RATE, None) == [f"capacity       {expected}"]


def test_capacity_without_a_rate_and_with_another_period() -> None:
    assert capacity_lines([10] * 38, None, None) == [
        "capacity       38 batches → no rate limit (--rate none)"
    ]
    assert "at 10 calls/30 s sustained" in capacity_lines([10] * 5, RateLimit(10, 30), None)[0]


THREE_BATCHES = [1_000_000, 1_000_000, 500_000]


def test_days_of_the_daily_row_budget() -> None:
    assert capacity_lines([500_000] * 2, RATE, 1_000_000)[1] == (
        "daily budget   1,000,000 rows → within one day's --daily-rows 1,000,000"
    )
    assert capacity_lines(THREE_BATCHES, RATE, 1_000_000)[1] == (
        "daily budget   2,500,000 rows → at least 3 days of --daily-rows 1,000,000 (a rolling "
        "24 h each: the last batches go 2 days or more after the first)"
    )
    assert capacity_dict(THREE_BATCHES, None, 1_000_000) == {
        "calls_needed": 3,
        "rate": None,
        "min_seconds_at_rate": None,
        "sustained_seconds_at_rate": None,
        "daily_rows": 1_000_000,
        "days_needed": 3,
    }


def test_the_days_pack_whole_batches_in_order() -> None:
    """7,000-row batches and 10,000 rows a day: one batch a day (two would be 14,000), so
    100,000 rows need 14 days, not 10; the last 2,000 rows share the 14th."""
    batches = [7_000] * 14 + [2_000]
    assert capacity_dict(batches, None, 10_000)["days_needed"] == 14
    assert "at least 14 days of --daily-rows 10,000" in capacity_lines(batches, RATE, 10_000)[1]
    assert capacity_dict([6_000, 4_000, 6_000], None, 10_000)["days_needed"] == 2


def test_a_batch_bigger_than_the_daily_budget_is_refused_by_the_plans_too(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """``upload`` refuses it at the start: ``validate`` and the dry runs must not plan it."""
    plans = [
        ("validate", str(SAMPLE)),
        ("upload", str(SAMPLE), "--client-code", "acme", "--dry-run", "--out", str(tmp_path / "a")),
        ("sync", str(SAMPLE), "--client-code", "acme", "--state", str(tmp_path / "state"),
         "--dry-run", "--out", str(tmp_path / "b")),
    ]  # fmt: skip
    for plan in plans:
        result = cli(*plan, "--batch-rows", "600", "--daily-rows", "500")
        assert result.exit_code == 2, (plan[0], result.output)
        assert "--batch-rows 600 is more than --daily-rows 500" in result.stderr, result.stderr
        assert "Traceback" not in result.output


def test_seconds_are_rounded_up_as_a_lower_bound_should_be() -> None:
    assert [duration(s) for s in (0, 0.2, 59.5, 60, 3599.5, 3600, 86_400 * 3)] == [
        "0 s",
        "1 s",
        "1 min 0 s",
        "1 min 0 s",
        "1 h 00 min",
        "1 h 00 min",
        "72 h 00 min",
    ]


def test_validate_prints_and_reports_the_capacity(cli: Callable[..., Result]) -> None:
    text = cli("validate", str(SAMPLE), "--batch-rows", "20", "--daily-rows", "500")
    assert text.exit_code == 0, text.output
    assert (
        "capacity       50 batches → 1 min 2 s at 50 calls/min sustained; from a fresh "
        "window all 50 start at once (up to 50 do)"
    ) in text.stdout
    assert "996 rows → at least 2 days of --daily-rows 500" in text.stdout
    data = orjson.loads(cli("validate", str(SAMPLE), "--batch-rows", "20", "--json").stdout)
    assert data["calls_needed"] == 50 and data["rate"] == "50/60"
    assert data["min_seconds_at_rate"] == 0 and data["sustained_seconds_at_rate"] == 61.2
    assert "days_needed" not in data
    none = orjson.loads(cli("validate", str(SAMPLE), "--rate", "none", "--json").stdout)
    assert none["rate"] is None and none["min_seconds_at_rate"] is None


def test_validate_takes_the_rate_from_the_config_file(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('rate = "5/60"\nbatch_rows = 100\n')
    data = orjson.loads(cli("validate", str(SAMPLE), "--config", str(config), "--json").stdout)
    assert data["calls_needed"] == 10 and data["min_seconds_at_rate"] == pytest.approx(61.2)
    bad = cli("validate", str(SAMPLE), "--rate", "fast")
    assert bad.exit_code == 2 and "--rate 'fast'" in bad.stderr


def test_dry_runs_print_the_capacity(cli: Callable[..., Result], tmp_path: Path) -> None:
    upload = ("upload", str(SAMPLE), "--client-code", "acme", "--dry-run", "--batch-rows", "10")
    text = cli(*upload, "--out", str(tmp_path / "a"))
    assert text.exit_code == 0, text.output
    assert "capacity       100 batches → 2 min 3 s at 50 calls/min sustained" in text.stdout
    data = orjson.loads(
        cli(*upload, "--out", str(tmp_path / "b"), "--json", "--rate", "none").stdout
    )
    assert data["files"] == data["calls_needed"] == 100 and data["rate"] is None
    sync = cli(
        "sync", str(SAMPLE), "--client-code", "acme", "--state", str(tmp_path / "state"),
        "--dry-run", "--out", str(tmp_path / "c"), "--json", "--batch-rows", "500",
    )  # fmt: skip
    assert sync.exit_code == 0, sync.output
    assert orjson.loads(sync.stdout)["calls_needed"] == 2
