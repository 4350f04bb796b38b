"""``uploader sync`` end to end against the mock over loopback: each night sends exactly the
rows that are new, changed, due for a refresh, or did not land the night before."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import Result

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.errors import LedgerError
from uploader.ledger._summary import RunSummary
from uploader.mock import FaultConfig, MockConfig, MockTarget, run_mock_in_thread
from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec
from uploader.reconcile._report import build_report
from uploader.send._engine import UploadConfig
from uploader.send._retry import RetryPolicy
from uploader.sync._run import sync
from uploader.sync._state import StateStore

HOLD_STATE = """
import sys, time
from pathlib import Path
from uploader.sync._state import lock_state
with lock_state(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(60)
"""
DAY = 86_400
NIGHT_1 = 1_764_374_400  # 2025-11-29 00:00 UTC


def export(path: Path, rows: dict[str, str]) -> Path:
    path.write_text(
        "thirdPartyId,tier\n" + "".join(f"{i},{tier}\n" for i, tier in rows.items()),
        encoding="utf-8",
    )
    return path


class Nights:
    """One state and one mock; ``run(rows, night)`` is one night's sync of an export."""

    def __init__(self, tmp_path: Path, mock: MockTarget) -> None:
        self.tmp_path, self.mock, self.count = tmp_path, mock, 0
        self.token = mock.token  # the night's token, kept when the mock's is regenerated

    async def run(
        self, rows: dict[str, str], night: int = 0, retry: RetryPolicy | None = None, **options: Any
    ) -> RunSummary:
        self.count += 1
        source = export(self.tmp_path / f"crm-{self.count}.csv", rows)
        spec = InputSpec(sources=(source,), limits=BatchLimits(rows=7))
        config = UploadConfig(
            client_code="demo",
            endpoint=self.mock.base_url,
            ledger=self.tmp_path / f"run-{self.count}" / "ledger.jsonl",
            rate=None,
            retry=retry or RetryPolicy(),
        )
        return await sync(
            spec,
            config,
            self.tmp_path / "state",
            StaticToken(Secret(self.token), "test"),
            clock=lambda: NIGHT_1 + night * DAY,
            **options,
        )

    def received(self, since: int) -> list[str]:
        return sorted(self.mock.received_frame()["thirdPartyId"].to_list()[since:])


def profiles(n: int, tier: str = "gold") -> dict[str, str]:
    return {f"id-{i:03d}": tier for i in range(n)}


async def test_a_first_sync_sends_all_then_an_unchanged_one_nothing(tmp_path: Path) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        nights = Nights(tmp_path, mock)
        first = await nights.run(profiles(30))
        second = await nights.run(profiles(30))  # later the same night: nothing is due
    assert first.exit_code == 0 and first.rows_acknowledged == 30, first.lines()
    assert first.selection == {"new": 30, "changed": 0, "refresh": 0, "unchanged": 0}
    assert first.state_generation == 1 and first.invariant_holds
    assert second.exit_code == 0 and second.calls == 0 and second.rows_unselected == 30
    assert second.state_generation == 2 and second.invariant_holds
    assert mock.receipts_count == 30
    assert any(line.startswith("selected") for line in second.lines())


async def test_changed_and_new_rows_are_exactly_what_goes(tmp_path: Path) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        nights = Nights(tmp_path, mock)
        await nights.run(profiles(40))
        tonight = {**profiles(40), "id-005": "silver", "id-017": "silver", "new-1": "bronze"}
        summary = await nights.run(tonight)
        sent = nights.received(since=40)
    assert sent == ["id-005", "id-017", "new-1"]
    assert summary.selection["changed"] == 2 and summary.selection["new"] == 1
    assert summary.rows_unselected == 38 and summary.invariant_holds


async def test_rows_that_failed_go_again_the_next_night_and_nothing_else(tmp_path: Path) -> None:
    faults = FaultConfig(fail_ids="^id-01[0-2]$", fail_once=True)  # row-level failures
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as mock:
        nights = Nights(tmp_path, mock)
        first = await nights.run(profiles(30))
        taken = mock.receipts_count
        second = await nights.run(profiles(30))
        sent = nights.received(since=taken)
    assert first.exit_code == 1  # the failed rows say so
    assert sent == ["id-010", "id-011", "id-012"]
    assert second.exit_code == 0 and second.rows_unselected == 27


async def test_a_stopped_run_commits_nothing_and_its_resume_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        nights = Nights(tmp_path, mock)
        await nights.run(profiles(20))
        mock.rotate_token("new-token")  # tonight's token was regenerated: the run stops
        tonight = {**profiles(20), **{f"id-{i:03d}": "silver" for i in range(10)}}
        stopped = await nights.run(tonight)
        assert stopped.exit_code == 3 and stopped.state_generation is None
        assert StateStore.open(tmp_path / "state").generation == 1  # as before the night
        taken = mock.receipts_count
        source = tmp_path / f"crm-{nights.count}.csv"
        spec = InputSpec(sources=(source,), limits=BatchLimits(rows=7))
        config = UploadConfig(
            client_code="demo",
            endpoint=mock.base_url,
            ledger=tmp_path / f"run-{nights.count}" / "ledger.jsonl",
            rate=None,
            resume=True,
        )
        resumed = await sync(
            spec,
            config,
            tmp_path / "state",
            StaticToken(Secret("new-token"), "test"),
            clock=lambda: NIGHT_1 + 5 * DAY,  # later: the selection is the first try's
        )
        sent = nights.received(since=taken)
    assert resumed.exit_code == 0 and resumed.state_generation == 2, resumed.lines()
    assert sent == [f"id-{i:03d}" for i in range(10)]
    assert resumed.selection == stopped.selection


async def test_refreshes_are_spread_over_nights_and_none_goes_stale(tmp_path: Path) -> None:
    """With --refresh-after 3, each unchanged row is sent again once every 3 nights, on
    its own night: about a third of them a night, never one older than 3 days."""
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        nights = Nights(tmp_path, mock)
        await nights.run(profiles(60), refresh_after_days=3)
        per_night: list[list[str]] = []
        last_sent = dict.fromkeys(profiles(60), 0)
        for night in range(1, 7):
            taken = mock.receipts_count
            summary = await nights.run(profiles(60), night=night, refresh_after_days=3)
            sent = nights.received(since=taken)
            assert summary.selection["refresh"] == len(sent)
            per_night.append(sent)
            for ident in sent:
                last_sent[ident] = night
            assert all(night - then < 3 for then in last_sent.values())
    assert all(5 <= len(sent) <= 35 for sent in per_night), [len(s) for s in per_night]


async def test_missing_ids_are_listed_never_sent_and_forgotten_on_request(
    tmp_path: Path,
) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        nights = Nights(tmp_path, mock)
        await nights.run(profiles(10))
        listed = tmp_path / "missing.csv"
        kept = await nights.run(profiles(8), missing=listed)
        dropped = await nights.run(profiles(8), forget_missing=True)
        again = await nights.run(profiles(8))
    assert kept.missing_ids == 2 and dropped.missing_ids == 2 and again.missing_ids == 0
    assert pl.read_csv(listed)["id"].to_list() == ["id-008", "id-009"]
    assert mock.receipts_count == 10


def test_the_cli_syncs_refuses_a_second_sync_and_dry_runs(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    source = export(tmp_path / "crm.csv", profiles(12))
    state = tmp_path / "state"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:

        def run(*extra: str) -> Result:
            return cli(
                "sync", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
                "--rate", "none", "--state", str(state), *extra, token=mock.token,
            )  # fmt: skip

        first = run("--ledger", str(tmp_path / "r1" / "ledger.jsonl"))
        holder = subprocess.Popen(  # another sync of this state is running
            [sys.executable, "-c", HOLD_STATE, str(state)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
            busy = run("--ledger", str(tmp_path / "r2" / "ledger.jsonl"))
        finally:
            holder.kill()
            holder.communicate()
        export(source, {**profiles(12), "id-003": "silver"})
        planned = run("--dry-run", "--out", str(tmp_path / "plan"))
        no_state = cli("sync", str(source), "--client-code", "demo")
    reported = cli("report", "--ledger", str(tmp_path / "r1" / "ledger.jsonl"))
    assert reported.exit_code == 0 and "unchanged, not sent" in reported.stdout, reported.output
    assert "selected" in reported.stdout and "12 new" in reported.stdout
    assert first.exit_code == 0, first.output
    assert "committed (generation 1)" in first.stdout
    assert busy.exit_code == 2 and "another sync (pid " in busy.stderr
    assert planned.exit_code == 0, planned.output
    assert "changed                   1" in planned.stdout
    assert (tmp_path / "plan" / "batch-000001.txt").read_text().count("\n") == 2  # header + 1
    assert StateStore.open(state).generation == 1  # a dry run moves nothing
    assert no_state.exit_code == 2 and "--state DIR is required" in no_state.stderr


async def test_resuming_a_sync_that_committed_is_refused(tmp_path: Path) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        nights = Nights(tmp_path, mock)
        done = await nights.run(profiles(10))
        config = UploadConfig(
            client_code="demo",
            endpoint=mock.base_url,
            ledger=Path(done.ledger),
            rate=None,
            resume=True,
        )
        spec = InputSpec(sources=(tmp_path / "crm-1.csv",), limits=BatchLimits(rows=7))
        with pytest.raises(LedgerError, match=r"has ended and committed its state \(generation 0"):
            await sync(spec, config, tmp_path / "state", StaticToken(Secret(mock.token), "t"))


async def test_a_failed_batch_goes_again_the_next_night_and_nothing_else(tmp_path: Path) -> None:
    faults = FaultConfig(p_500=1.0, first_k_calls=1)  # the first call fails: no retries
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as mock:
        nights = Nights(tmp_path, mock)
        first = await nights.run(profiles(21), retry=RetryPolicy(max_retries=0))
        taken = mock.receipts_count
        second = await nights.run(profiles(21))
        sent = nights.received(since=taken)
    assert first.exit_code == 1 and first.batches_failed == 1 and first.state_generation == 1
    assert sent == [f"id-{i:03d}" for i in range(7)]  # the failed batch's rows, and only them
    assert second.exit_code == 0 and second.rows_unselected == 14


async def test_rows_with_no_value_are_not_sent(tmp_path: Path) -> None:
    """A row whose every cell is empty changes nothing at Target (an empty cell never clears
    a value) and, alone in a batch, is refused ("Batch is empty"): a sync whose only news
    is such rows sends nothing, instead of failing every night until they get a value."""
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        nights = Nights(tmp_path, mock)
        await nights.run(profiles(10))
        emptied = await nights.run({**profiles(10), "id-003": "", "new-1": ""})
        again = await nights.run({**profiles(10), "id-003": "", "new-1": ""}, night=1)
        stored = mock.profiles.get("id-003")
    assert emptied.exit_code == 0 and emptied.calls == 0, emptied.lines()
    assert emptied.selection == {"new": 0, "changed": 0, "refresh": 0, "unchanged": 11}
    assert again.exit_code == 0 and again.invariant_holds, again.lines()
    assert stored == {"tier": "gold"} and "new-1" not in mock.profiles


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            ("--rename", "tier=level"),
            "rename changed since the state was written (none → tier=level)",
        ),
        (("--columns", "tier"), "columns changed since the state was written (none → tier)"),
        (("--encode", "compact"), "encode changed since the state was written (strict → compact)"),
        (
            ("--client-code", "other"),
            "client code changed since the state was written (demo → other)",
        ),
    ],
)
def test_a_changed_body_setting_is_refused_unless_full(
    cli: Callable[..., Result], tmp_path: Path, change: tuple[str, str], named: str
) -> None:
    """The state's fingerprints are of other bodies: one line says what changed and how to
    go on (``--full``), nothing is sent, the state stays; ``--full`` sends every row again and
    commits the state with the new settings."""
    source = export(tmp_path / "crm.csv", profiles(12))
    state = tmp_path / "state"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:

        def run(night: int, *extra: str) -> Result:
            return cli(
                "sync", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
                "--rate", "none", "--state", str(state),
                "--ledger", str(tmp_path / f"r{night}" / "ledger.jsonl"), *extra,
                token=mock.token,
            )  # fmt: skip

        first = run(1)
        refused = run(2, *change)
        taken = mock.receipts_count
        full = run(3, *change, "--full") if change[0] != "--client-code" else None
        sent = mock.receipts_count - taken
        after = run(4, *change)
    assert first.exit_code == 0, first.output
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.strip().splitlines() == [
        f"uploader: error: {named}: run with --full to send everything again"
    ]
    assert taken == 12
    assert StateStore.open(state).generation == (1 if full is None else 3)
    if full is not None:
        assert full.exit_code == 0 and sent == 12, full.output
        assert "committed (generation 2)" in full.stdout
        assert after.exit_code == 0 and "unchanged, not sent  12" in after.stdout, after.output


async def test_the_report_of_a_sync_shows_its_rows_by_reason(tmp_path: Path) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        nights = Nights(tmp_path, mock)
        await nights.run(profiles(40))
        tonight = {**profiles(38), "id-005": "silver", "id-017": "silver", "new-1": "bronze"}
        await nights.run(tonight)
    report = build_report(tmp_path / "run-2" / "ledger.jsonl")
    lines = report.lines()
    assert report.exit_code() == 0, lines
    assert any(
        line.split() == ["selected", "1", "new,", "2", "changed,", "0", "refresh"] for line in lines
    ), lines
    assert any(line.split() == ["unchanged,", "not", "sent", "36", "rows"] for line in lines), lines
    assert any(line.startswith("missing ids") and " 2 (" in line for line in lines), lines
    assert report.to_dict()["sync"] == {
        "rows": {"new": 1, "changed": 2, "refresh": 0, "unchanged": 36},
        "unchanged_not_sent": 36,
        "missing_ids": 2,
    }


async def test_summary_json_says_which_state_the_night_committed(tmp_path: Path) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        summary = await Nights(tmp_path, mock).run(profiles(5))
    written = json.loads(Path(summary.ledger).with_name("summary.json").read_text())
    assert written["state_generation"] == 1 and written["selection"]["new"] == 5


def test_sync_keeps_only_keep_runs_run_directories(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--keep-runs`` is one of upload's options: a sync honours it too (it was ignored)."""
    from uploader.mock import run_mock_in_thread

    monkeypatch.chdir(tmp_path)
    older = tmp_path / "runs" / "20260101T000000Z-1"  # an earlier run's directory
    older.mkdir(parents=True)
    (older / "ledger.jsonl").write_text("")
    source = export(tmp_path / "crm.csv", profiles(5))
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        done = cli(
            "sync", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
            "--rate", "none", "--state", "state", "--keep-runs", "1", token=mock.token,
        )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert not older.exists() and len(list((tmp_path / "runs").iterdir())) == 1
