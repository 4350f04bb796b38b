"""Issue 17's "done when" for shards: three processes, ``--shard 0/3 .. 2/3``, one Redis
budget, against a mock that throttles at that same limit: no call throttled, the budget
used, every row landed exactly once as in the input, and the three ledgers' report one
landed run."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from click.testing import Result

from uploader.mock import MockConfig, run_mock_in_thread


class RedisServer(Protocol):
    """What this test uses of the ``redis_server`` fixture."""

    url: str


CALLS, WINDOW = 20, 4.0  # the budget, compressed (Target's is 50 per 60 s)
BATCH_ROWS = 10
ROWS = 700  # about 70 calls: three full windows and a part


def write_input(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["thirdPartyId", "tier", "city"])
        for i in range(ROWS):
            # every 10th id twice: duplicates fold within their shard
            writer.writerow([f"c-{i - i % 10 * (i % 10 == 9)}", f"t{i % 7}", f"city {i}"])
    return path


def upload_command(source: Path, endpoint: str, ledger: Path, shard: str, store: str) -> list[str]:
    return [
        sys.executable, "-m", "uploader", "upload", str(source), "--client-code", "demo",
        "--endpoint", endpoint, "--ledger", str(ledger), "--shard", shard,
        "--rate", f"{CALLS}/{WINDOW:g}", "--rate-store", store,
        "--batch-rows", str(BATCH_ROWS), "--json", "--quiet",
    ]  # fmt: skip


def full_window_use(times: list[float]) -> float:
    """Calls in the busy period's full windows (from the first call), as a share of what
    the budget allows in them."""
    first, last = times[0], times[-1]
    windows = int((last - first) // WINDOW)
    assert windows >= 2, f"busy for {last - first:.1f} s only: too few calls to judge"
    used = sum(1 for t in times if t < first + windows * WINDOW)
    return used / (windows * CALLS)


def most_in_any_window(times: list[float]) -> int:
    return max(sum(1 for t in times[i:] if t - start < WINDOW) for i, start in enumerate(times))


def test_three_shards_share_one_budget_and_land_the_input_exactly(
    tmp_path: Path,
    redis_server: RedisServer,
    cli: Callable[..., Result],
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[..., dict[str, dict[str, str]]],
) -> None:
    source = write_input(tmp_path / "crm.csv")
    ledgers = [tmp_path / f"shard-{i}" / "ledger.jsonl" for i in range(3)]
    config = MockConfig(client_code="demo", rate_limit=(CALLS, WINDOW))
    with run_mock_in_thread(config) as mock:
        env = {**os.environ, "TARGET_PROFILE_TOKEN": mock.token}
        processes = [
            subprocess.Popen(
                upload_command(source, mock.base_url, ledger, f"{i}/3", redis_server.url),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, ledger in enumerate(ledgers)
        ]
        outputs = [process.communicate(timeout=300) for process in processes]
        times = sorted(mock.admitted_call_times())
        throttled = mock.stats["throttled"]
        received = received_profiles(mock.received_frame())
        polled = cli("status", *map(str, ledgers), token=mock.token)
    summaries = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        summaries.append(json.loads(out))
    assert throttled == 0
    assert sum(s["calls"] for s in summaries) == len(times) > 3 * CALLS
    assert most_in_any_window(times) <= CALLS
    assert full_window_use(times) >= 0.9
    assert received == expected_profiles(source)
    assert all(s["invariant_holds"] and s["throttled"] == 0 for s in summaries)
    assert polled.exit_code == 0, polled.output
    report = cli("report", *map(str, ledgers), "--json")
    assert report.exit_code == 0, report.output
    merged = json.loads(report.stdout)
    assert merged["rows"]["read"] == ROWS
    assert merged["rows"]["acknowledged"] == len(expected_profiles(source))
