"""`verify`: profiles read back through the mock's Profile Fetch API and compared with the
last value sent; the classification rules on their own; resume; the CLI and the report."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from uploader.auth._static import StaticToken
from uploader.cli._main import main
from uploader.errors import AuthError
from uploader.ledger._ledger import read_ledger
from uploader.ledger._records import VerifyProfile
from uploader.mock import MockConfig, MockTarget, run_mock_in_thread
from uploader.reconcile._status import poll_statuses
from uploader.reconcile._verify import Expected, classify_profile, sample_expected, verify
from uploader.send._transport import AiohttpTransport, HttpAnswer
from uploader.testing import FakeClock


async def uploaded(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tricky_csv: Callable[..., Path],
    mock: MockTarget,
    tmp_path: Path,
    rows: int = 200,
    poll: bool = True,
) -> Path:
    """A tricky source (reserved characters, duplicates merged) uploaded, statuses polled."""
    ledger = tmp_path / "ledger.jsonl"
    await engine_upload(mock, ledger, tricky_csv(tmp_path / "tricky.csv", rows), batch_rows=37)
    if poll:
        await poll_statuses(ledger, mock_token(mock), rate=None)
    return ledger


async def test_every_sampled_profile_matches(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        ledger = await uploaded(engine_upload, mock_token, tricky_csv, mock, tmp_path)
        summary = await verify(ledger, mock_token(mock), sample=50, seed=7, rate=None)
    assert summary.counts["matched"] == 50 and summary.exit_code == 0 and summary.finished
    assert summary.population == 193  # acknowledged rows (200 read, 7 merged)
    state = read_ledger(ledger)
    kinds = [type(r).__name__ for r in state.verifications]
    assert (
        kinds[0] == "VerifyStart"
        and kinds[-1] == "VerifyEnd"
        and kinds.count("VerifyProfile") == 50
    )


async def test_sample_larger_than_the_run_checks_every_id_with_merged_values(
    engine_upload: Callable[..., Awaitable[None]],
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    mock_token: Callable[[MockTarget], StaticToken],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """Merged duplicates: the expectation is the folded row, straight from the bodies."""
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        ledger = await uploaded(engine_upload, mock_token, tricky_csv, mock, tmp_path)
        summary = await verify(ledger, mock_token(mock), sample=10_000, seed=1, rate=None)
    assert summary.counts["matched"] == len(expected_profiles(tmp_path / "tricky.csv")) == 193


async def test_dropped_profiles_are_not_found(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        ledger = await uploaded(engine_upload, mock_token, tricky_csv, mock, tmp_path)
        state = read_ledger(ledger)
        sample, _ = sample_expected(state, ledger, 30, seed=3)
        lost = [item.id for item in sample[::5]]
        assert mock.drop_profiles(lost) == len(lost)
        summary = await verify(ledger, mock_token(mock), sample=30, seed=3, rate=None)
    found = {check.id for check in summary.checks if check.result == "not_found"}
    assert found == set(lost) and summary.counts["matched"] == 30 - len(lost)
    assert summary.exit_code == 1


async def test_missing_soon_after_upload_is_not_visible_yet(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """The batch is still `incomplete` at Target and was sent seconds ago: a 404 may be the
    processing delay. Past the window it is a loss."""
    clock = FakeClock()
    config = MockConfig(client_code="demo", rate_limit=None, status_delay=3600.0, clock=clock)
    async with MockTarget(config) as mock:
        ledger = await uploaded(engine_upload, mock_token, tricky_csv, mock, tmp_path)
        state = read_ledger(ledger)
        assert {r.status for r in state.statuses.values()} == {"incomplete"}
        sample, _ = sample_expected(state, ledger, 10, seed=4)
        mock.drop_profiles([item.id for item in sample[:4]])
        soon = await verify(ledger, mock_token(mock), sample=10, seed=4, rate=None)
        late = await verify(ledger, mock_token(mock), sample=10, seed=4, rate=None, window=0.0)
    assert soon.counts["not_visible_yet"] == 4 and soon.counts["matched"] == 6
    assert soon.exit_code == 0
    assert late.counts["not_found"] == 4 and late.run == soon.run + 1


async def test_same_seed_same_sample(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        ledger = await uploaded(engine_upload, mock_token, tricky_csv, mock, tmp_path, poll=False)
    state = read_ledger(ledger)
    first = [e.id for e in sample_expected(state, ledger, 20, seed=9)[0]]
    again = [e.id for e in sample_expected(state, ledger, 20, seed=9)[0]]
    other = [e.id for e in sample_expected(state, ledger, 20, seed=10)[0]]
    assert first == again and len(set(first)) == 20 and first != other


async def test_resume_continues_the_interrupted_verification(
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """The token is refused after 5 fetches: the run stops with 5 verdicts in the ledger;
    --resume fetches only the other 15 of the same sample."""
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        ledger = await uploaded(engine_upload, mock_token, tricky_csv, mock, tmp_path)
        real = AiohttpTransport(timeout=10, connections=1)
        fetched: list[str] = []

        class Flaky:
            async def request(
                self,
                method: str,
                url: str,
                *,
                body: bytes | None = None,
                headers: dict[str, str],
                limit: int = 0,
            ) -> HttpAnswer:
                fetched.append(url)
                if len(fetched) > 5:
                    return HttpAnswer(401, b'{"status": 401}')
                return await real.request(method, url, body=body, headers=headers)

            async def close(self) -> None:
                await real.close()

        with pytest.raises(AuthError):
            await verify(
                ledger,
                mock_token(mock),
                sample=20,
                seed=2,
                rate=None,
                concurrency=1,
                transport=Flaky(),
            )
        await real.close()
        stopped = read_ledger(ledger)
        done = [r for r in stopped.verifications if isinstance(r, VerifyProfile)]
        fetched.clear()
        real = AiohttpTransport(timeout=10, connections=1)
        summary = await verify(ledger, mock_token(mock), resume=True, rate=None, transport=real)
        await real.close()
    assert len(done) == 5
    assert len(fetched) == 0 and summary.finished and summary.counts["matched"] == 20
    assert summary.run == 1 and summary.seed == 2


def expected(**kw: object) -> Expected:
    base: dict[str, object] = {
        "id": "p1",
        "encoded_id": "p1",
        "values": {"tier": "gold", "city": "Paris"},
        "seq": 1,
        "sent_at": 1000.0,
        "complete": False,
    }
    return Expected(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("found", "complete", "now", "result"),
    [
        ({"tier": ("gold", 1001.0), "city": ("Paris", 1001.0)}, False, 1010.0, "matched"),
        (None, False, 1010.0, "not_visible_yet"),  # 404 seconds after sending
        (None, True, 1010.0, "not_found"),  # 404 though Target says the batch is complete
        (None, False, 1000.0 + 86_401, "not_found"),  # 404 a day later
        ({"tier": ("silver", 500.0), "city": ("Paris", 1001.0)}, False, 1010.0, "not_visible_yet"),
        ({"city": ("Paris", 1001.0)}, False, 1010.0, "not_visible_yet"),  # attribute not yet there
        ({"tier": ("silver", 500.0), "city": ("Paris", 1001.0)}, True, 1010.0, "different"),
        ({"tier": ("silver", 2000.0), "city": ("Paris", 1001.0)}, False, 2010.0, "different"),
    ],
)
def test_classification_rules(
    found: dict[str, tuple[str, float | None]] | None, complete: bool, now: float, result: str
) -> None:
    check = classify_profile(expected(complete=complete), found, now=now)
    assert check.result == result
    if result in ("different",):
        assert check.attributes == ("tier",)


# -- through the CLI -----------------------------------------------------------------------------


def test_verify_and_report_through_the_cli(tricky_csv: Callable[..., Path], tmp_path: Path) -> None:
    source = tricky_csv(tmp_path / "tricky.csv", 120)
    ledger = tmp_path / "run" / "ledger.jsonl"
    mock_config = MockConfig(client_code="demo", rate_limit=None, token="tok-verify-secret")
    with run_mock_in_thread(mock_config) as mock:
        env = {"TARGET_PROFILE_TOKEN": mock.token}
        runner = CliRunner()
        sent = runner.invoke(
            main,
            ["upload", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
             "--ledger", str(ledger), "--rate", "none", "--batch-rows", "25", "--wait", "--quiet"],
            env=env,
        )  # fmt: skip
        assert sent.exit_code == 0, sent.output
        ok = runner.invoke(
            main, ["verify", "--ledger", str(ledger), "--sample", "15", "--rate", "none"], env=env
        )
        mock.drop_profiles(["t-0", "t-1", "t-2"])
        bad = runner.invoke(
            main,
            ["verify", "--ledger", str(ledger), "--sample", "500", "--json", "--rate", "none"],
            env=env,
        )
    assert ok.exit_code == 0, ok.output
    assert re.search(r"^  matched +15$", ok.stdout, re.M)
    assert bad.exit_code == 1, bad.output
    data = orjson.loads(bad.stdout)
    assert data["counts"]["not_found"] == 3 and data["counts"]["matched"] == 110
    assert {p["id"] for p in data["problems"]} == {"t-0", "t-1", "t-2"}
    shown = runner.invoke(main, ["report", "--ledger", str(ledger)])
    assert shown.exit_code == 0  # verification is shown; verify's own exit code judges it
    assert re.search(r"^  not found +3$", shown.stdout, re.M)
    assert re.search(r"^  not_found +t-0 \(batch \d+\)$", shown.stdout, re.M)
    assert "tok-verify-secret" not in ledger.read_text()


def test_verify_refuses_without_a_valid_token(
    tricky_csv: Callable[..., Path], tmp_path: Path
) -> None:
    source = tricky_csv(tmp_path / "tricky.csv", 30)
    ledger = tmp_path / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        runner = CliRunner()
        env = {"TARGET_PROFILE_TOKEN": mock.token}
        args = [str(source), "--client-code", "demo", "--endpoint", mock.base_url]
        assert (
            runner.invoke(main, ["upload", *args, "--ledger", str(ledger)], env=env).exit_code == 0
        )
        refused = runner.invoke(
            main, ["verify", "--ledger", str(ledger)], env={"TARGET_PROFILE_TOKEN": "nope"}
        )
    assert refused.exit_code == 3 and "refused the profile token" in refused.stderr
