"""The Python API (``uploader.upload``, ``uploader.upload_files``, ``frame_source``) against
the real mock Target server over loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pytest

import uploader
from uploader.mock import MockConfig, MockTarget, run_mock_in_thread
from uploader.produce._batcher import content_hash
from uploader.produce._model import Batch, ProduceStats, RowRef
from uploader.produce._rejects import RejectsWriter, read_rejects
from uploader.send._ratelimit import DEFAULT_RATE, parse_rate

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"


def test_import_is_light_and_lazy() -> None:
    code = (
        "import uploader, sys; uploader.upload_files; uploader.upload; uploader.UploaderError; "
        "print('click' in sys.modules, 'polars' in sys.modules, 'aiohttp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_every_public_name_resolves() -> None:
    for name in uploader.__all__:
        assert getattr(uploader, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        uploader.nope  # noqa: B018


def test_the_default_rate_of_upload_files_is_targets_limit() -> None:
    assert parse_rate("50/60") == DEFAULT_RATE


def test_upload_files_does_what_the_cli_does(tmp_path: Path) -> None:
    """The brief's call, str paths and all: rejects file and summary.json beside the ledger,
    the summary with its exit code; with wait, Target's statuses in it."""
    ledger = tmp_path / "runs" / "x" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="acme", rate_limit=None)) as mock:
        summary = uploader.upload_files(
            [str(SAMPLE)],
            client_code="acme",
            endpoint=mock.base_url,
            ledger=str(ledger),
            batch_rows=1000,
            rate=None,
            tokens=uploader.StaticToken(uploader.Secret(mock.token), "test"),
            wait=True,
        )
        received = mock.received_frame().height
    assert summary.exit_code == 0, summary.lines()
    assert summary.rows_acknowledged == received > 0
    assert summary.target is not None and summary.target.all_complete
    assert (ledger.parent / "rejects.csv").exists()
    written = orjson.loads((ledger.parent / "summary.json").read_bytes())
    assert written["rows_acknowledged"] == received and "target" not in written
    assert summary.to_dict()["target"]["all_complete"] is True
    report = uploader.build_report(ledger)  # what `uploader report` prints, from the ledger
    assert report.exit_code() == 0 and report.lines()


def test_upload_files_takes_the_token_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with run_mock_in_thread(MockConfig(client_code="acme", rate_limit=None)) as mock:
        monkeypatch.setenv("TARGET_PROFILE_TOKEN", "wrong")
        refused = uploader.upload_files(
            [SAMPLE], client_code="acme", endpoint=mock.base_url, ledger=tmp_path / "a.jsonl"
        )
        monkeypatch.setenv("TARGET_PROFILE_TOKEN", mock.token)
        accepted = uploader.upload_files(
            [SAMPLE], client_code="acme", endpoint=mock.base_url, ledger=tmp_path / "b.jsonl"
        )
    assert refused.exit_code == 3 and accepted.exit_code == 0


def test_a_bad_setting_raises_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(uploader.ConfigError, match=r"^rate 'fast'"):
        uploader.upload_files([SAMPLE], client_code="acme", rate="fast", ledger=tmp_path / "l")
    with pytest.raises(uploader.InputError, match="no such file"):
        uploader.upload_files([tmp_path / "missing.csv"], client_code="acme")


class TwoBatches:
    """A batch source of one's own: two hand-made batches of one profile each."""

    def __init__(self) -> None:
        self.rejects: RejectsWriter | None = None
        self.stats = ProduceStats()
        self.total_rows: int | None = 2

    def fingerprint(self) -> uploader.InputFingerprint:
        return uploader.InputFingerprint(
            sources=(uploader.SourceRecord(path="mine", size=2, mtime_ns=1, digest="x"),),
            settings={},
        )

    def __iter__(self) -> Iterator[Batch]:
        for seq, line in enumerate([b"p-1,gold", b"p-2,silver"], start=1):
            body = b"batch=thirdPartyId,tier\n" + line + b"\n"
            self.stats.rows_read += 1
            self.stats.rows_batched += 1
            refs = np.array([[0, seq]], dtype=np.uint32)
            ref = RowRef(0, seq)
            yield Batch(seq, body, 1, content_hash(body), ref, ref, refs)


def config(mock: MockTarget, ledger: Path, **options: Any) -> uploader.UploadConfig:
    return uploader.UploadConfig(
        client_code="demo", endpoint=mock.base_url, ledger=ledger, rate=None, **options
    )


async def test_upload_sends_a_batch_source_of_ones_own(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        tokens = uploader.StaticToken(uploader.Secret(mock.token), "test")
        summary = await uploader.upload(TwoBatches(), config(mock, ledger), tokens, wait=True)
        again = await uploader.upload(
            TwoBatches(), config(mock, ledger, resume=True), tokens, wait=True
        )
        frame = mock.received_frame()
    assert summary.exit_code == 0 and summary.invariant_holds, summary.lines()
    assert sorted(frame["thirdPartyId"]) == ["p-1", "p-2"]
    assert again.batches_skipped == 2 and again.exit_code == 0  # resumed: nothing sent again


async def test_frame_source_goes_the_files_way_and_resumes_by_content(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"

    def frame(tier: str) -> pl.DataFrame:
        return pl.DataFrame(
            {"thirdPartyId": ["a", "b", "", "a"], "visits": [1, 2, 3, None], "tier": tier}
        )

    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        tokens = uploader.StaticToken(uploader.Secret(mock.token), "test")
        source = uploader.frame_source(frame("gold"), batch_rows=1, name="crm-frame")
        summary = await uploader.upload(source, config(mock, ledger), tokens)
        received = mock.received_frame()
        rejects = read_rejects(ledger.with_name("rejects.csv"))
        same = uploader.frame_source(frame("gold"), batch_rows=1, name="crm-frame")
        resumed = await uploader.upload(same, config(mock, ledger, resume=True), tokens)
        other = uploader.frame_source(frame("silver"), batch_rows=1, name="crm-frame")
        with pytest.raises(uploader.LedgerError, match="crm-frame changed since that run"):
            await uploader.upload(other, config(mock, ledger, resume=True), tokens)
    assert summary.exit_code == 0, summary.lines()
    assert (summary.rows_read, summary.rows_rejected, summary.rows_merged) == (4, 1, 1)
    assert sorted(received["thirdPartyId"]) == ["a", "b"]
    assert rejects.select("source", "row", "reason").rows() == [("crm-frame", "3", "empty id")]
    assert resumed.batches_skipped == 2 and resumed.exit_code == 0


def test_a_frame_column_without_a_text_form_is_one_error() -> None:
    nested = pl.DataFrame({"thirdPartyId": ["a"], "tags": [["x", "y"]]})
    with pytest.raises(uploader.InputError, match="'tags' has type"):
        uploader.frame_source(nested)


def test_one_command_token_serves_two_runs(tmp_path: Path) -> None:
    """Each ``upload_files`` has its own event loop; the provider's lock follows it."""
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        tokens = uploader.CommandToken(f"echo {mock.token}")
        for name in ("a", "b"):
            summary = uploader.upload_files(
                [SAMPLE],
                client_code="demo",
                endpoint=mock.base_url,
                ledger=tmp_path / name / "ledger.jsonl",
                batch_rows=50,
                rate=None,
                tokens=tokens,
            )
            assert summary.exit_code == 0, summary.lines()


async def test_preflight_says_ready() -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        tokens = uploader.StaticToken(uploader.Secret(mock.token), "test")
        ready = await uploader.preflight("demo", tokens, endpoint=mock.base_url)
        refused = await uploader.preflight(
            "demo", uploader.StaticToken(uploader.Secret("nope"), "t"), endpoint=mock.base_url
        )
    assert ready.exit_code == 0 and ready.token_accepted
    assert refused.exit_code == 3 and refused.token_accepted is False


async def test_verify_of_a_frame_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    """verify reads the rows again from their files: a DataFrame has none. Refused first,
    not after the rows went (the summary would be lost to an exception)."""
    frame = pl.DataFrame({"thirdPartyId": ["a1"], "tier": ["gold"]})
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        with pytest.raises(uploader.ConfigError, match="verify compares"):
            await uploader.upload(
                uploader.frame_source(frame), config(mock, tmp_path / "l.jsonl"), verify=2
            )
        assert mock.received_frame().height == 0


async def test_reconciliation_takes_a_str_ledger_path(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        tokens = uploader.StaticToken(uploader.Secret(mock.token), "test")
        frame = pl.DataFrame({"thirdPartyId": ["a", "b"], "tier": ["gold", "silver"]})
        await uploader.upload(uploader.frame_source(frame), config(mock, ledger), tokens)
        status = await uploader.poll_statuses(str(ledger), tokens, rate=None)
    assert len(status.statuses) == 1
    assert uploader.build_report(str(ledger)).exit_code() in (0, 4, 5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"duplicates": "first"}, "^duplicates 'first': expected one of merge, last, off"),
        ({"id_type": "email"}, "^id_type 'email': expected one of thirdPartyId, pcId"),
        ({"batch_rows": 0}, "^batch_rows"),
        ({"concurrency": 0}, "^concurrency must be between 1 and 64"),
        ({"max_retries": -1}, "^max_retries must be 0 or more"),
    ],
)
def test_upload_files_checks_what_the_command_checks(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    """The command's options are choices and ranges; a Python caller can pass anything."""
    with pytest.raises(uploader.ConfigError, match=message):
        uploader.upload_files([SAMPLE], client_code="acme", ledger=tmp_path / "l", **options)


def test_upload_files_takes_one_path_and_the_commands_input_options(tmp_path: Path) -> None:
    """A single str is one file, not the characters of its name; separator and the other
    input options are the command's."""
    source = tmp_path / "crm.csv"
    source.write_text("thirdPartyId;tier\na;gold\nb;silver\n", encoding="utf-8")
    with run_mock_in_thread(MockConfig(client_code="acme", rate_limit=None)) as mock:
        summary = uploader.upload_files(
            str(source),
            client_code="acme",
            endpoint=mock.base_url,
            ledger=tmp_path / "run" / "ledger.jsonl",
            rate=None,
            separator=";",
            tokens=uploader.StaticToken(uploader.Secret(mock.token), "test"),
        )
        received = sorted(mock.received_frame()["tier"])
    assert summary.exit_code == 0 and received == ["gold", "silver"]


async def test_upload_files_inside_an_event_loop_says_what_to_use() -> None:
    with pytest.raises(uploader.ConfigError, match=r"use `await uploader.upload\(...\)`"):
        uploader.upload_files([SAMPLE], client_code="acme")
