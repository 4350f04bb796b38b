"""``--shard I/N``: the shards of an input partition its rows exactly (every row of an id in
one shard, so duplicate folding stays exact), each shard's run accounts for the others'
rows, and a shard's ledger or sync state is its own."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from uploader._api import FileOptions, files_run
from uploader.errors import ConfigError
from uploader.ledger._runs import new_run_ledger, prune_runs
from uploader.mock import MockConfig, run_mock_in_thread
from uploader.produce._batcher import BatchLimits
from uploader.produce._model import Batch, ProduceStats
from uploader.produce._producer import InputSpec
from uploader.produce._shard import parse_shard

Produce = Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]]


def ids_of(batches: list[Batch], table: Callable[[list[Batch]], list[list[str]]]) -> list[str]:
    return [row[0] for row in table(batches)[1:]]


def test_shards_partition_the_rows_exactly(
    tmp_path: Path,
    tricky_csv: Callable[..., Path],
    produce: Produce,
    table: Callable[[list[Batch]], list[list[str]]],
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 400)
    limits = BatchLimits(rows=25)
    whole, whole_stats, _ = produce(tmp_path, [source], limits=limits)
    shards = [produce(tmp_path, [source], limits=limits, shard=(i, 3)) for i in range(3)]
    whole_rows = sorted(map(tuple, table(whole)[1:]))
    shard_rows = [sorted(map(tuple, table(batches)[1:])) for batches, _, _ in shards]
    # the same final rows (duplicates folded to the same values), each in exactly one shard
    assert sorted(row for rows in shard_rows for row in rows) == whole_rows
    shard_ids = [set(ids_of(batches, table)) for batches, _, _ in shards]
    for i in range(3):
        assert shard_ids[i], "each shard of 400 rows holds some"
        for j in range(i + 1, 3):
            assert not shard_ids[i] & shard_ids[j]
    stats = [stats for _, stats, _ in shards]
    assert sum(s.rows_merged for s in stats) == whole_stats.rows_merged > 0
    assert sum(s.rows_batched for s in stats) == whole_stats.rows_batched
    for s in stats:
        assert s.rows_read == whole_stats.rows_read == 400
        own = s.rows_read - s.rows_other_shards
        assert own == s.rows_batched + s.rows_merged + s.rows_rejected
    assert sum(s.rows_read - s.rows_other_shards for s in stats) == 400


def test_one_shard_of_one_is_the_whole_input(
    tmp_path: Path,
    tricky_csv: Callable[..., Path],
    produce: Produce,
    table: Callable[[list[Batch]], list[list[str]]],
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 60)
    whole, _, _ = produce(tmp_path, [source])
    single, stats, _ = produce(tmp_path, [source], shard=(0, 1))
    assert table(single) == table(whole)
    assert stats.rows_other_shards == 0


def test_rejects_are_counted_once_across_the_shards(tmp_path: Path, produce: Produce) -> None:
    source = tmp_path / "in.csv"
    rows = [["thirdPartyId", "a"], ["", "empty"], ["a+b", "plus"], ["x/y", "slash"]]
    rows += [[f"id-{i}", str(i)] for i in range(30)] + [["", "again"]]
    with source.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    _, whole, whole_rejects = produce(tmp_path, [source])
    shards = [produce(tmp_path, [source], shard=(i, 3)) for i in range(3)]
    assert sum(stats.rows_rejected for _, stats, _ in shards) == whole.rows_rejected == 4
    rejected = sorted(r["row"] for _, _, rejects in shards for r in rejects)
    assert rejected == sorted(r["row"] for r in whole_rejects)
    # rows without an id are shard 0's (rows 1 and 34)
    assert {r["row"] for r in shards[0][2] if not r["id"]} == {"1", "34"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3/3", "shard 3/3: I must be below N"),
        ("0/0", "shard 0/0: N must be 1 to 65536"),
        ("1", "shard '1': expected I/N"),
        ("-1/3", "shard '-1/3': expected I/N"),
        ((1, 2, 3), "expected I/N or a pair"),
    ],
)
def test_a_bad_shard_is_one_line(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_shard(value)
    with pytest.raises(ConfigError, match=message):
        InputSpec(sources=("x.csv",), shard=value)  # type: ignore[arg-type]


def test_the_api_takes_a_pair_or_text(tmp_path: Path) -> None:
    for shard in ((1, 3), "1/3", " 1 / 3 "):
        options: FileOptions = {"shard": shard, "ledger": tmp_path / "l.jsonl"}
        spec, _ = files_run([tmp_path / "in.csv"], "demo", options)
        assert spec.shard == (1, 3)
        assert spec.shaping_settings()["shard"] == "1/3"
    spec, config = files_run([tmp_path / "in.csv"], "demo", {"shard": "2/4"})
    assert config.ledger.parent.name.endswith("-shard-2of4")
    spec, config = files_run([tmp_path / "in.csv"], "demo", {"shard": "0/1"})
    assert spec.shard is None and spec.shaping_settings()["shard"] is None
    assert "shard" not in config.ledger.parent.name  # the same run as no --shard


def test_a_shards_run_directory_says_the_shard_and_prunes_its_own_shard_only(
    tmp_path: Path,
) -> None:
    """One night of three shards is three directories: shard 0's --keep-runs 1 removes only
    shard 0's older nights, never another shard's nor an unsharded run's."""
    runs = tmp_path / "runs"
    ledgers = [new_run_ledger(runs, shard=(i, 3)) for i in range(3)]
    assert len({ledger.parent for ledger in ledgers}) == 3
    assert ledgers[1].parent.name.endswith("-shard-1of3")
    names = [
        *(f"20260101T000000Z-7-shard-{i}of3" for i in range(3)),  # last night's shards
        "20260101T000000Z-8",  # an unsharded run
        "demo-20260101T000000Z",
    ]
    for ledger in [*ledgers, *(runs / name / "ledger.jsonl" for name in names)]:
        ledger.parent.mkdir(parents=True)
        ledger.write_text("{}\n")
    pruned = prune_runs(1, ledgers[0].parent, runs)
    assert pruned.removed == [runs / "20260101T000000Z-7-shard-0of3"]
    unsharded = prune_runs(1, runs / "20260101T000000Z-8", runs)
    assert unsharded.removed == [runs / "demo-20260101T000000Z"]


def test_the_cli_names_the_flag(
    tmp_path: Path, tricky_csv: Callable[..., Path], cli: Callable[..., Result]
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 20)
    result = cli("validate", str(source), "--shard", "3/3")
    assert result.exit_code == 2
    assert "--shard 3/3: I must be below N" in result.output
    assert "Traceback" not in result.output


def json_summary(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_shards_uploaded_apart_land_as_the_whole_input(
    tmp_path: Path,
    tricky_csv: Callable[..., Path],
    upload_to: Callable[..., Result],
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[..., dict[str, dict[str, str]]],
    cli: Callable[..., Result],
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 300)
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        summaries = []
        for i in range(3):
            ledger = tmp_path / f"s{i}" / "ledger.jsonl"
            result = upload_to(mock, source, ledger, "--shard", f"{i}/3", "--json")
            assert result.exit_code == 0, result.output
            summaries.append(json_summary(result))
        assert received_profiles(mock.received_frame()) == expected_profiles(source)
    for i, summary in enumerate(summaries):
        assert summary["shard"] == f"{i}/3"
        assert summary["invariant_holds"]
        assert summary["rows_read"] == 300
    assert sum(s["rows_read"] - s["rows_other_shards"] for s in summaries) == 300
    assert sum(s["rows_acknowledged"] for s in summaries) == len(expected_profiles(source))


def test_an_unsharded_summary_says_nothing_of_shards(
    tmp_path: Path, tricky_csv: Callable[..., Path], upload_to: Callable[..., Result]
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 30)
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        result = upload_to(mock, source, tmp_path / "ledger.jsonl", "--json")
    assert result.exit_code == 0, result.output
    summary = json_summary(result)
    assert "shard" not in summary
    assert "rows_other_shards" not in summary


def test_a_shards_ledger_resumes_only_as_that_shard(
    tmp_path: Path, tricky_csv: Callable[..., Path], upload_to: Callable[..., Result]
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 60)
    ledger = tmp_path / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload_to(mock, source, ledger, "--shard", "0/2").exit_code == 0
        other = upload_to(mock, source, ledger, "--shard", "1/2", "--resume")
        unsharded = upload_to(mock, source, ledger, "--resume")
        same = upload_to(mock, source, ledger, "--shard", "0/2", "--resume")
    for result in (other, unsharded):
        assert result.exit_code == 2, result.output
        assert "batch-shaping settings changed (shard)" in result.output
    assert same.exit_code == 0, same.output


def test_the_shard_comes_from_the_environment(
    tmp_path: Path, tricky_csv: Callable[..., Path]
) -> None:
    from click.testing import CliRunner

    from uploader.cli._main import main

    source = tricky_csv(tmp_path / "in.csv", 40)
    index = "2"  # as a Kubernetes Indexed Job's $JOB_COMPLETION_INDEX gives it
    result = CliRunner().invoke(
        main, ["validate", str(source), "--json"], env={"UPLOADER_SHARD": f"{index}/4"}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_other_shards"] > 0


def test_each_shard_syncs_with_its_own_state(tmp_path: Path, cli: Callable[..., Result]) -> None:
    source = tmp_path / "crm.csv"
    source.write_text("thirdPartyId,tier\n" + "".join(f"id-{i:03d},gold\n" for i in range(40)))
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:

        def run(shard: str, state: str, name: str, *extra: str) -> Result:
            return cli(
                "sync", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
                "--rate", "none", "--state", str(tmp_path / state), "--shard", shard,
                "--ledger", str(tmp_path / name / "ledger.jsonl"), "--json", *extra,
                token=mock.token,
            )  # fmt: skip

        first = [run(f"{i}/2", f"state-{i}", f"n1-{i}") for i in range(2)]
        sent_first = mock.receipts_count
        second = [run(f"{i}/2", f"state-{i}", f"n2-{i}") for i in range(2)]
        crossed = run("1/2", "state-0", "crossed")
        unsharded = run("0/1", "state-0", "unsharded")
        sent_after = mock.receipts_count
    for result in first + second:
        assert result.exit_code == 0, result.output
    firsts, seconds = [json_summary(r) for r in first], [json_summary(r) for r in second]
    assert sent_first == sent_after == 40
    assert sum(s["rows_acknowledged"] for s in firsts) == 40
    for night_1, night_2 in zip(firsts, seconds, strict=True):
        assert night_1["invariant_holds"] and night_2["invariant_holds"]
        own = night_1["rows_read"] - night_1["rows_other_shards"]
        assert night_1["selection"]["new"] == own > 0
        assert night_2["rows_unselected"] == own and night_2["calls"] == 0
    assert crossed.exit_code == 2
    assert "shard changed since the state was written (0/2 → 1/2)" in crossed.output
    assert unsharded.exit_code == 2
    # 0/1 is every row: an unsharded run, whose state is not shard 0/2's
    assert "shard changed since the state was written (0/2 → none)" in unsharded.output


def shard_ledgers(
    tmp_path: Path,
    upload_to: Callable[..., Result],
    source: Path,
    count: int,
    *extra: str,
    mock_options: dict[str, Any] | None = None,
) -> list[Path]:
    """``source`` uploaded as ``count`` shards with ``--wait``; their ledgers."""
    options = {"client_code": "demo", "rate_limit": None, **(mock_options or {})}
    ledgers = [tmp_path / f"shard-{i}" / "ledger.jsonl" for i in range(count)]
    with run_mock_in_thread(MockConfig(**options)) as mock:
        for i, ledger in enumerate(ledgers):
            result = upload_to(mock, source, ledger, "--shard", f"{i}/{count}", "--wait", *extra)
            assert result.exit_code in (0, 1), result.output
    return ledgers


def test_the_shards_ledgers_report_as_one_run(
    tmp_path: Path,
    tricky_csv: Callable[..., Path],
    upload_to: Callable[..., Result],
    cli: Callable[..., Result],
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 200)
    ledgers = shard_ledgers(tmp_path, upload_to, source, 3)
    single = cli("report", str(ledgers[1]), "--json")
    both_ways = cli("report", str(ledgers[0]), "--ledger", str(ledgers[1]), str(ledgers[2]))
    merged = cli("report", *map(str, ledgers), "--json")
    missing = cli("report", "--ledger", str(ledgers[0]), "--ledger", str(ledgers[2]))
    assert single.exit_code == 0, single.output
    one = json_summary(single)
    assert one["shard"] == "1/3" and one["rows"]["read"] == 200
    assert 0 < one["rows"]["other_shards"] < 200
    assert both_ways.exit_code == 0, both_ways.output
    assert "shards" in both_ways.stdout and "3 of 3" in both_ways.stdout
    assert merged.exit_code == 0, merged.output
    data = json_summary(merged)
    parts = data["ledgers"]
    assert [part["shard"] for part in parts] == ["0/3", "1/3", "2/3"]
    assert data["rows"]["read"] == 200
    for name in ("sent", "acknowledged", "merged", "rejected"):
        assert data["rows"][name] == sum(part["rows"][name] for part in parts)
    own = sum(part["rows"]["read"] - part["rows"]["other_shards"] for part in parts)
    assert own == 200
    assert data["target"]["counts"]["complete"] == data["batches"]["acknowledged"]
    assert data["missing_shards"] == [] and data["exit_code"] == 0
    assert missing.exit_code == 6, missing.output
    assert "1 shard missing (1/3)" in missing.stdout


def test_status_of_the_shards_says_a_missing_one(
    tmp_path: Path,
    tricky_csv: Callable[..., Path],
    upload_to: Callable[..., Result],
    cli: Callable[..., Result],
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 60)
    ledgers = shard_ledgers(tmp_path, upload_to, source, 3)
    every = cli("status", *map(str, ledgers))
    missing = cli("status", str(ledgers[0]), str(ledgers[2]))
    as_json = cli("status", str(ledgers[0]), str(ledgers[2]), "--json")
    assert every.exit_code == 0, every.output
    assert "missing" not in every.stdout
    assert missing.exit_code == 6, missing.output
    assert "1 shard missing (1/3)" in missing.stdout
    assert as_json.exit_code == 6, as_json.output
    data = json_summary(as_json)
    assert data["missing_shards"] == ["1/3"] and data["exit_code"] == 6


@pytest.mark.parametrize("command", ["report", "status"])
def test_ledgers_that_are_not_shards_of_one_input_are_refused(
    command: str,
    tmp_path: Path,
    tricky_csv: Callable[..., Path],
    upload_to: Callable[..., Result],
    cli: Callable[..., Result],
) -> None:
    source = tricky_csv(tmp_path / "in.csv", 40)
    other = tricky_csv(tmp_path / "other.csv", 40, seed=9)
    halves = shard_ledgers(tmp_path / "a", upload_to, source, 2)
    thirds = shard_ledgers(tmp_path / "b", upload_to, source, 3)
    others = shard_ledgers(tmp_path / "c", upload_to, other, 2)
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        whole = tmp_path / "whole" / "ledger.jsonl"
        assert upload_to(mock, source, whole).exit_code == 0
    cases = {
        "not a shard's": (halves[0], whole),
        "both shard 0/2": (halves[0], others[0]),
        "not shards of one split": (halves[0], thirds[1]),
        "other files": (halves[0], others[1]),
    }
    for words, (first, second) in cases.items():
        result = cli(command, str(first), str(second))
        assert result.exit_code == 2, (words, result.output)
        assert words in result.stderr and "Traceback" not in result.output, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_failed_rows_of_several_shards_are_one_file(
    tmp_path: Path,
    upload_to: Callable[..., Result],
    cli: Callable[..., Result],
) -> None:
    source = tmp_path / "in.csv"
    rows = [[f"id-{i:03d}", f"v{i}"] for i in range(60)] + [["bad+id", "x"], ["", "y"]]
    with source.open("w", newline="") as handle:
        csv.writer(handle).writerows([["thirdPartyId", "a"], *rows])
    ledgers = shard_ledgers(tmp_path, upload_to, source, 3)
    out = tmp_path / "failed.csv"
    result = cli("report", *map(str, ledgers), "--failed-rows", str(out), "--json")
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        written = list(csv.reader(handle))
    assert written == [["thirdPartyId", "a"], ["bad+id", "x"], ["", "y"]]
    assert json_summary(result)["failed_rows"]["rejects"] == 2
