"""The benchmark harness runs end to end on a few thousand rows (no timing is asserted)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import bench_producer, floor, what_if
from benchmarks.__main__ import run
from benchmarks.shared import shared
from benchmarks.suites import Plan, encoding, rate, sync
from uploader.bench._harness import dataset


def test_throughput_suite_runs_uploader_ceiling_and_naive_against_a_real_mock(
    tmp_path: Path,
) -> None:
    """``python -m benchmarks`` (throughput, CSV) on 3,000 rows: every run delivers every row."""
    out = tmp_path / "results.json"
    argv = ["--suites", "throughput", "--formats", "csv", "--rows", "3000", "--naive-rows", "1000"]
    argv += ["--repeat", "1"]
    results = run([*argv, "--data", str(tmp_path / "data"), "--json", str(out)])
    assert json.loads(out.read_text())["suites"].keys() == {"throughput"}
    runs = results["suites"]["throughput"]["runs"]
    assert runs["uploader_csv"]["rows"] == runs["ceiling_csv"]["rows"] == 3000
    assert runs["naive_csv"]["rows"] == 1000
    assert runs["uploader_csv"]["throttled"] == 0
    for result in runs.values():
        assert result["rows_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert results["machine"]["cores"] >= 1


def test_encoding_suite_compares_strict_and_compact(tmp_path: Path) -> None:
    """strict vs compact on 2,000 rows: both modes deliver every row; strict bodies are bigger
    (the dataset has non-ASCII values)."""
    plan = Plan(rows=2000, repeat=1, data=tmp_path)
    result = encoding(plan, lambda line: None)
    for name in ("uploader_strict", "uploader_compact", "ceiling_strict", "ceiling_compact"):
        assert result["runs"][name]["rows"] == 2000
    assert result["strict_extra_bytes"] > 0


def test_rate_suite_counts_calls_and_throttles(tmp_path: Path) -> None:
    """A 10-calls-per-0.5-s limit on the uploader: 20 calls, never more than 10 started in a
    window. The mock's throttle is off: at 0.5 s windows, a loaded machine's arrival jitter
    exceeds the limiter's 2 % margin and a throttled retry would make a 21st call."""
    plan = Plan(
        rate_calls=10,
        rate_window=0.5,
        rate_batches=20,
        rate_batch_rows=50,
        rate_mock_throttle=False,
        data=tmp_path,
    )
    result = rate(plan, lambda line: None)
    assert result["calls"] == 20
    assert result["throttled"] == 0
    assert result["max_calls_in_any_window"] <= 10
    assert result["fraction_of_limit"] > 0


def test_sync_suite_sends_only_night_twos_changed_and_new_rows(tmp_path: Path) -> None:
    """Two nights on 3,000 rows: night 1 sends all, night 2 the 30 changed and 15 new rows
    (the suite itself fails on another count), against a full upload of 3,015."""
    result = sync(Plan(rows=3000, repeat=1, data=tmp_path), lambda line: None)
    assert result["night_one"]["rows"] == 3000
    # refresh: none, unless the two nights straddle midnight UTC (the CLI's clock is real)
    selection = result["night_two"]["selection"]
    assert (selection["new"], selection["changed"]) == (15, 30)
    assert result["night_two"]["rows"] == 45 + selection["refresh"]
    assert result["full_upload"]["rows"] == 3015
    assert result["selection"]["rows"] == 3015 and result["selection"]["peak_rss_mb"] > 0
    assert result["state_after_night_two"]["rows"] == 3015
    assert result["state_after_night_two"]["bytes_per_row"] > 0


def test_bench_producer_measures_both_formats_and_the_naive_baseline(tmp_path: Path) -> None:
    """``python -m benchmarks.bench_producer`` on 3,000 rows: every child read every row."""
    argv = ["--rows", "3000", "--repeat", "1", "--naive-rows", "500", "--data", str(tmp_path)]
    results = bench_producer.main(argv)
    for fmt in ("csv", "parquet"):
        for duplicates in ("merge", "off"):
            result = results[f"uploader {fmt}, duplicates={duplicates}"]
            assert result["rows"] == 3000 and result["peak_rss_mb"] > 0
    assert results["naive (csv module + urllib quote)"]["rows"] == 500


def test_floor_times_every_step(tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        result = floor.main([str(dataset(3000, fmt, tmp_path))])
        assert result["rows"] == 3000
        assert set(result["cpu_seconds"]) == {"read", "encode", "write_bodies", "check_parse"}


def test_what_if_runs_every_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    what_if.main([str(dataset(3000, "csv", tmp_path)), "--repeat", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0].strip() for line in lines] == list(what_if.VARIANTS)


def test_shared_suite_times_the_limiter_and_runs_shards(tmp_path: Path) -> None:
    """The shared suite on 3,000 rows and 2 shards, a real redis-server (``.ci/run`` installs
    it): every shard's rows land once (the suite checks the mock's count), the limiter is
    timed in each process."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    plan = Plan(
        rows=3000,
        shards=2,
        limiter_calls=50,
        rate_calls=10,
        rate_window=0.5,
        rate_batches=10,
        rate_batch_rows=50,
        data=tmp_path,
    )
    result = shared(plan, lambda line: None)
    assert [run["processes"] for run in result["limiter"]] == [1, 2]
    assert all(run["redis_median_us"] > 0 for run in result["limiter"])
    for runs in (result["rate"], result["throughput"]):
        assert [run["shards"] for run in runs.values()] == [1, 2]
    assert result["rate"]["shards_2"]["rows"] == 500
    assert result["throughput"]["shards_2"]["rows"] == 3000
    assert len(result["throughput"]["shards_2"]["peak_rss_mb"]) == 2
