"""``--metrics-file``: the Prometheus textfile parses with prometheus-client's own parser, its
numbers are the ledger's, it is written while sending (the engine's clock) and replaced
atomically, and the last success survives a failed run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from prometheus_client.parser import text_string_to_metric_families

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.ledger._ledger import read_ledger
from uploader.ledger._summary import RunSummary
from uploader.mock import FaultConfig, MockConfig, run_mock_in_thread
from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec, Producer
from uploader.send._engine import UploadConfig, upload
from uploader.send._metrics import METRICS_EVERY, MetricsFile
from uploader.testing import FakeClock, HttpAnswer, Request, ScriptedTransport, accepted

LAST_SUCCESS = "uploader_last_success_timestamp_seconds"


def samples(path: Path) -> dict[tuple[str, str], float]:
    """(sample name, outcome label or "") → value, every series labelled client_code=demo."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            assert sample.labels["client_code"] == "demo", sample
            found[sample.name, sample.labels.get("outcome", "")] = sample.value
    return found


def write_csv(path: Path, ids: list[str]) -> Path:
    path.write_text("thirdPartyId,name\n" + "".join(f"{i},n{i}\n" for i in ids))
    return path


def test_the_metrics_file_parses_and_its_numbers_are_the_ledgers(
    tmp_path: Path, cli: Callable[..., Result], upload_to: Callable[..., Result]
) -> None:
    # 30 good rows, 2 without an id (rejected), batches of 10; the batch holding id7 is
    # refused whole (failed: no bisection); the first call is a 500 (retried)
    source = write_csv(tmp_path / "in.csv", [f"id{n}" for n in range(30)] + ["", ""])
    metrics, ledger = tmp_path / "uploader.prom", tmp_path / "run" / "ledger.jsonl"
    faults = FaultConfig(reject_ids="^id7$", p_500=1.0, first_k_calls=1)

    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as mock:
        result = upload_to(
            mock, source, ledger, "--metrics-file", str(metrics),
            "--bisect-calls", "0", "--retry-max-wait", "0.01",
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    counts = read_ledger(ledger).summaries[-1].counts
    assert counts["rows_rejected"] == 2 and counts["batches_failed"] == 1 and counts["retries"] == 1
    found = samples(metrics)
    for outcome in ("acknowledged", "rejected", "failed", "pending", "merged"):
        assert found["uploader_rows_total", outcome] == counts[f"rows_{outcome}"], outcome
    for outcome in ("acknowledged", "failed", "pending", "split", "skipped"):
        assert found["uploader_batches_total", outcome] == counts[f"batches_{outcome}"], outcome
    assert found["uploader_rows_read_total", ""] == counts["rows_read"] == 32
    assert found["uploader_calls_total", ""] == counts["calls"]
    assert found["uploader_retries_total", ""] == counts["retries"]
    assert found["uploader_throttled_calls_total", ""] == counts["throttled"]
    assert found["uploader_run_duration_seconds", ""] == pytest.approx(counts["seconds"])
    assert found["uploader_exit_code", ""] == 1
    assert found["uploader_running", ""] == 0
    assert (LAST_SUCCESS, "") not in found  # never succeeded
    # the outcomes account for every row read, as the summary's invariant does
    rows = sum(value for (name, _), value in found.items() if name == "uploader_rows_total")
    assert rows == counts["rows_read"]


def test_the_last_success_survives_a_failed_run(
    tmp_path: Path, cli: Callable[..., Result], upload_to: Callable[..., Result]
) -> None:
    source = write_csv(tmp_path / "in.csv", [f"id{n}" for n in range(5)])
    metrics = tmp_path / "uploader.prom"

    ledger = tmp_path / "a" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        first = upload_to(mock, source, ledger, "--metrics-file", str(metrics))
        # the same ledger again without --resume: refused before sending (exit 2)
        second = upload_to(mock, source, ledger, "--metrics-file", str(metrics))
    assert first.exit_code == 0, first.output
    assert second.exit_code == 2, second.output
    found = samples(metrics)
    assert found["uploader_exit_code", ""] == 2
    assert found["uploader_rows_total", "acknowledged"] == 0  # the refused run's numbers
    # the first run's end, kept: the summary file was written just before it
    success = found[LAST_SUCCESS, ""]
    assert 0 <= success - os.path.getmtime(tmp_path / "a" / "summary.json") < 60


def test_an_unwritable_metrics_file_is_refused_before_anything_is_sent(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = write_csv(tmp_path / "in.csv", ["id1"])
    result = cli(
        "upload", str(source), "--client-code", "demo", "--endpoint", "http://127.0.0.1:9",
        "--ledger", str(tmp_path / "run" / "ledger.jsonl"),
        "--metrics-file", str(write_csv(tmp_path / "file", ["id1"]) / "uploader.prom"),
        token="t",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("uploader: error: --metrics-file ")
    assert "cannot write" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "run" / "ledger.jsonl").exists()


def test_a_metrics_file_in_a_missing_directory_gets_it_made_as_a_ledger_does(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = write_csv(tmp_path / "in.csv", ["id1"])
    metrics = tmp_path / "textfiles" / "new" / "uploader.prom"
    with run_mock_in_thread(MockConfig(client_code="demo", require_auth=False)) as mock:
        result = cli(
            "upload", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
            "--rate", "none", "--ledger", str(tmp_path / "run" / "ledger.jsonl"),
            "--metrics-file", str(metrics),
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "uploader_rows_total" in metrics.read_text()


def test_a_failed_write_mid_run_is_a_warning_and_the_run_goes_on(tmp_path: Path) -> None:
    directory = tmp_path / "textfiles"
    directory.mkdir()
    metrics = MetricsFile(directory / "uploader.prom", "demo")
    metrics.open()
    directory.rmdir()  # e.g. a volume unmounted mid-run (root writes read-only directories)
    summary = RunSummary()
    metrics.write(summary)
    metrics.write(summary)
    assert len(summary.warnings) == 1  # once, not every 10 s
    assert (
        "uploader.prom: cannot write the metrics (No such file or directory)"
        in (summary.warnings[0])
    )
    directory.mkdir()  # back: written again
    metrics.write(summary, exit_code=0)
    assert samples(directory / "uploader.prom")["uploader_exit_code", ""] == 0
    assert [p.name for p in directory.iterdir()] == ["uploader.prom"]  # no temporary left


async def test_the_file_is_written_every_ten_seconds_of_the_engines_clock(tmp_path: Path) -> None:
    """The first call is held until the test has seen the file written at 0 s and again
    after 10 s of the fake clock: written while sending, no real wait."""
    source = write_csv(tmp_path / "in.csv", [f"id{n}" for n in range(10)])
    path = tmp_path / "uploader.prom"
    clock = FakeClock(start=1000.0)
    seen: list[float] = []
    release = asyncio.Event()

    async def held(request: Request) -> HttpAnswer:
        await release.wait()
        return accepted(request)

    async def watch() -> None:
        while len(seen) < 2:
            if path.exists():
                duration = samples(path)["uploader_run_duration_seconds", ""]
                if not seen or duration != seen[-1]:
                    seen.append(duration)
            await asyncio.sleep(0)
        release.set()

    metrics = MetricsFile(path, "demo")
    metrics.open()
    watcher = asyncio.create_task(watch())
    summary = await upload(
        UploadConfig(client_code="demo", ledger=tmp_path / "ledger.jsonl", rate=None),
        Producer(InputSpec(sources=(source,), limits=BatchLimits(rows=10))),
        StaticToken(Secret("t"), "test"),
        transport=ScriptedTransport(held),
        clock=clock,
        sleep=clock.sleep,
        metrics=metrics,
    )
    await watcher
    assert seen[:2] == [0.0, METRICS_EVERY]
    assert summary.exit_code == 0
    found = samples(path)  # the end of sending: the caller writes the exit code
    assert found["uploader_running", ""] == 1 and ("uploader_exit_code", "") not in found
    assert found["uploader_rows_total", "acknowledged"] == 10


def test_the_write_is_atomic_through_a_temporary_file_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is never opened for writing under its own name: a temporary name in the
    same directory (the same file system, so the rename is atomic), then renamed."""
    path = tmp_path / "uploader.prom"
    path.write_text("# an earlier run's\n")
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def rename(src: str, dst: str) -> None:
        assert Path(dst).read_text() == "# an earlier run's\n"  # untouched until the rename
        renames.append((src, dst))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    metrics = MetricsFile(path, "demo")
    metrics.open()
    metrics.write(RunSummary(rows_read=3, rows_acknowledged=3), exit_code=0)
    ((src, dst),) = renames
    assert dst == str(path) and Path(src).parent == path.parent and src != dst
    assert not src.endswith(".prom")  # the textfile collector reads *.prom only
    assert samples(path)["uploader_rows_total", "acknowledged"] == 3
    assert samples(path)[LAST_SUCCESS, ""] > 0


def test_a_sharded_run_labels_its_shard(tmp_path: Path) -> None:
    path = tmp_path / "uploader.prom"
    metrics = MetricsFile(path, "demo")
    metrics.write(RunSummary(shard="1/4"))
    labels = {
        sample.labels.get("shard")
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
    }
    assert labels == {"1/4"}


def test_the_metrics_file_is_a_config_key_and_an_environment_variable(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    from uploader.cli._configfile import KNOWN_KEYS

    assert "metrics_file" in KNOWN_KEYS
    result = cli("upload", "--help")
    assert "--metrics-file" in result.output


def test_upload_files_takes_metrics_file(tmp_path: Path) -> None:
    import uploader

    source = write_csv(tmp_path / "in.csv", [f"id{n}" for n in range(3)])
    path = tmp_path / "uploader.prom"

    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        summary = uploader.upload_files(
            source,
            client_code="demo",
            endpoint=mock.base_url,
            ledger=tmp_path / "run" / "ledger.jsonl",
            rate=None,
            tokens=StaticToken(Secret(mock.token), "mock"),
            metrics_file=path,
        )
    assert summary.exit_code == 0
    found = samples(path)
    assert found["uploader_rows_total", "acknowledged"] == 3
    assert found["uploader_exit_code", ""] == 0


def test_a_sync_writes_its_unselected_rows(tmp_path: Path) -> None:
    import uploader

    source = write_csv(tmp_path / "in.csv", [f"id{n}" for n in range(4)])
    path = tmp_path / "uploader.prom"
    config = MockConfig(client_code="demo", rate_limit=None)
    with run_mock_in_thread(config) as mock:
        for night in ("1", "2"):
            summary = uploader.sync_files(
                source,
                client_code="demo",
                state=tmp_path / "state",
                endpoint=mock.base_url,
                ledger=tmp_path / night / "ledger.jsonl",
                rate=None,
                tokens=StaticToken(Secret(mock.token), "mock"),
                metrics_file=path,
            )
            assert summary.exit_code == 0, summary.lines()
    found = samples(path)  # the second night: nothing changed
    assert found["uploader_rows_total", "unselected"] == 4
    assert found["uploader_rows_total", "acknowledged"] == 0
    assert found["uploader_exit_code", ""] == 0
