"""Every path a command writes, made unwritable the three ways root cannot bypass (a file in
the way, a missing parent under a file, a path under /proc): one line on stderr naming the
path, exit 2 before anything is sent (summary.json, written after sending: a warning line and
the run's own code), and never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result

from uploader.mock import MockConfig, MockTarget, run_mock_in_thread

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"

# Where each kind puts a path, given the test's folder (which holds a regular file blocker.txt).
KINDS: dict[str, Callable[[Path], Path]] = {
    "file-in-the-way": lambda d: d / "blocker.txt" / "run" / "x",
    "parent-is-a-file": lambda d: d / "blocker.txt" / "x",
    "under-proc": lambda _: Path("/proc/uploader-test/x"),
}


@dataclass(frozen=True)
class World:
    cli: Callable[..., Result]  # the ``cli`` fixture
    mock: MockTarget
    ledger: Path  # a finished run's ledger (for report, status, verify)
    folder: Path  # the test's own folder, with blocker.txt in it


@pytest.fixture(scope="module")
def finished(
    cli: Callable[..., Result], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MockTarget, Path]]:
    ledger = tmp_path_factory.mktemp("done") / "run" / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        done = upload(cli, mock, ledger)
        assert done.exit_code == 0, done.output
        yield mock, ledger


@pytest.fixture
def world(
    cli: Callable[..., Result],
    finished: tuple[MockTarget, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    (tmp_path / "blocker.txt").write_text("a regular file where a directory is expected\n")
    monkeypatch.chdir(tmp_path)  # for the default ledger under runs/
    return World(cli=cli, mock=finished[0], ledger=finished[1], folder=tmp_path)


def upload(
    cli: Callable[..., Result], mock: MockTarget, ledger: Path | None, *extra: str
) -> Result:
    at = () if ledger is None else ("--ledger", str(ledger))
    return cli(
        "upload", str(SAMPLE), "--client-code", "demo", "--endpoint", mock.base_url,
        "--rate", "none", "--batch-rows", "100", "--quiet", *at, *extra, token=mock.token,
    )  # fmt: skip


def beside_ledger(world: World, name: str) -> Path:
    """A ledger in a fresh folder whose side file ``name`` is blocked by a directory."""
    ledger = world.folder / "run" / "ledger.jsonl"
    (ledger.parent / name).mkdir(parents=True)
    return ledger


def copied_ledger(world: World) -> Path:
    """The finished run's ledger, copied to a folder whose ``ledger.lock`` is a directory."""
    ledger = beside_ledger(world, "ledger.lock")
    shutil.copy(world.ledger, ledger)
    return ledger


def dry_run_out(world: World, path: Path) -> Result:
    return world.cli("upload", str(SAMPLE), "--dry-run", "--out", str(path))


def blocked_body(world: World) -> Result:
    out = world.folder / "bodies"
    (out / "batch-000001.txt").mkdir(parents=True)
    return dry_run_out(world, out)


CASES: dict[str, tuple[Callable[[World, Path], Result], int]] = {
    "upload --ledger": (lambda w, p: upload(w.cli, w.mock, p / "ledger.jsonl"), 2),
    "validate --rejects": (lambda w, p: w.cli("validate", str(SAMPLE), "--rejects", str(p)), 2),
    "upload --dry-run --out": (dry_run_out, 2),
    "report --failed-rows": (
        lambda w, p: w.cli("report", "--ledger", str(w.ledger), "--failed-rows", str(p)),
        2,
    ),
}

SIDE_FILES: dict[str, tuple[Callable[[World], Result], int]] = {
    "rejects.csv": (lambda w: upload(w.cli, w.mock, beside_ledger(w, "rejects.csv")), 2),
    "ledger.lock": (lambda w: upload(w.cli, w.mock, beside_ledger(w, "ledger.lock")), 2),
    "summary.json": (lambda w: upload(w.cli, w.mock, beside_ledger(w, "summary.json")), 0),
    "runs/ (default ledger)": (lambda w: upload(w.cli, w.mock, None), 2),
    "runs/ (demo)": (lambda w: w.cli("demo", "--source", str(SAMPLE)), 2),
    "status ledger.lock": (
        lambda w: w.cli("status", "--ledger", str(copied_ledger(w)), token=w.mock.token),
        2,
    ),
    "verify ledger.lock": (
        lambda w: w.cli("verify", "--ledger", str(copied_ledger(w)), token=w.mock.token),
        2,
    ),
    "dry-run body": (blocked_body, 2),
}


def assert_one_line(result: Result, code: int) -> None:
    # click's runner keeps an uncaught exception instead of printing its traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    prefix = "uploader: error: " if code == 2 else "uploader: warning: "
    assert lines[0].startswith(prefix), lines
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("case", list(CASES))
def test_an_unwritable_path_is_one_line_and_exit_2(world: World, case: str, kind: str) -> None:
    path = KINDS[kind](world.folder)
    before = world.mock.receipts_count
    run, code = CASES[case]
    result = run(world, path)
    assert_one_line(result, code)
    named = path.parent if kind == "under-proc" else world.folder / "blocker.txt"
    assert str(named.relative_to(world.folder) if kind != "under-proc" else named) in result.stderr
    assert "File exists" not in result.stderr  # the cause, not mkdir's
    assert world.mock.receipts_count == before  # nothing was sent


@pytest.mark.parametrize("case", list(SIDE_FILES))
def test_a_blocked_side_file_is_one_line(world: World, case: str) -> None:
    if case == "runs/ (default ledger)" or case == "runs/ (demo)":
        (world.folder / "runs").write_text("a file where the run directories go\n")
    before = world.mock.receipts_count
    run, code = SIDE_FILES[case]
    result = run(world)
    assert_one_line(result, code)
    if code == 2 and case != "runs/ (demo)":
        assert world.mock.receipts_count == before  # nothing was sent


@pytest.mark.parametrize("kind", list(KINDS))
def test_mock_server_with_unwritable_receipts_stops_at_once(tmp_path: Path, kind: str) -> None:
    """Checked before serving: a receipts file that cannot be written would be lost at exit."""
    (tmp_path / "blocker.txt").write_text("in the way\n")
    path = KINDS[kind](tmp_path)
    command = [sys.executable, "-m", "uploader", "mock-server", "--port", "0"]
    done = subprocess.run(
        [*command, "--receipts", str(path)],
        capture_output=True,
        text=True,
        timeout=60,  # a server that starts anyway never ends: that is the failure
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("uploader: error: ") and str(path) in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
