"""Small CLI edges (issue 14, item 7): stale dry-run bodies, temporary files, signals at any
point of an upload, rates Target refuses, where warnings go, plurals, the demo's sample."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import Result

import uploader
from uploader.mock import MockConfig, run_mock_in_thread

ROOT = Path(__file__).parent.parent


def small_csv(path: Path, rows: int = 3, extra: str = "v") -> Path:
    path.write_text(f"thirdPartyId,{extra}\n" + "".join(f"c{i},x{i}\n" for i in range(rows)))
    return path


def dry_run(cli: Callable[..., Result], src: Path, out: Path, *extra: str) -> list[str]:
    result = cli("upload", str(src), "--dry-run", "--out", str(out), *extra)
    return [str(result.exit_code), result.stdout, result.stderr]


# -- upload --dry-run --out ----------------------------------------------------------------
def test_a_dry_run_replaces_the_bodies_of_an_earlier_dry_run(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """Three bodies then one: batch-000002/3.txt of the first run were left beside the new
    one, as if they belonged to it."""
    out = tmp_path / "bodies"
    code, _, err = dry_run(cli, small_csv(tmp_path / "a.csv", 3), out, "--batch-rows", "1")
    assert code == "0", err
    assert len(list(out.glob("batch-*.txt"))) == 3
    code, _, err = dry_run(cli, small_csv(tmp_path / "b.csv", 1), out, "--batch-rows", "1")
    assert code == "0", err
    assert sorted(p.name for p in out.iterdir()) == ["batch-000001.txt", "rejects.csv"]


def test_a_dry_run_refuses_an_out_dir_holding_other_files(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    out = tmp_path / "bodies"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = dry_run(cli, small_csv(tmp_path / "a.csv"), out)
    assert code == "2"
    assert err.count("\n") == 1 and "not empty" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_dry_run_names_the_sending_options_it_ignores_in_one_note(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """--wait, --metrics-file, --rate-store… do nothing in a dry run: one note names those
    given (an unreachable store is not even tried, no metrics file is written), for upload
    and sync alike; a dry run without them prints no note."""
    src, metrics = small_csv(tmp_path / "in.csv"), tmp_path / "m.prom"
    given = ("--metrics-file", str(metrics), "--rate-store", "redis://127.0.0.1:9")
    upload = cli(
        "upload", str(src), "--client-code", "demo", "--dry-run", "--out", str(tmp_path / "a"),
        "--wait", *given,
    )  # fmt: skip
    sync = cli(
        "sync", str(src), "--client-code", "demo", "--state", str(tmp_path / "state"),
        "--dry-run", "--out", str(tmp_path / "b"), *given, "--daily-rows", "100", "--batch-rows", "10",
    )  # fmt: skip
    plain = cli("upload", str(src), "--dry-run", "--out", str(tmp_path / "c"))
    assert [upload.exit_code, sync.exit_code, plain.exit_code] == [0, 0, 0], upload.output
    assert upload.stderr == (
        "uploader: note: --dry-run sends nothing: --rate-store, --metrics-file, --wait are "
        "ignored\n"
    )
    assert sync.stderr == (
        "uploader: note: --dry-run sends nothing: --rate-store, --metrics-file are ignored; "
        "--daily-rows is not counted\n"
    )
    assert plain.stderr == "" and not metrics.exists()


# -- validate's temporary rejects file -------------------------------------------------------
@pytest.mark.parametrize(("rows", "kept"), [("c1,x\n", 0), ("c1,x\n,y\n", 1)])
def test_validate_without_rejects_leaves_no_temporary_directory_behind(
    cli: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rows: str,
    kept: int,
) -> None:
    """Without ``--rejects``: removed when nothing was rejected; kept (its path printed) when
    rows were, since that file is then the answer."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    src = tmp_path / "a.csv"
    src.write_text("thirdPartyId,v\n" + rows)
    result = cli("validate", str(src))
    assert result.exit_code == 0, result.output
    assert len(list(temp.iterdir())) == kept
    if kept:
        (folder,) = temp.iterdir()
        assert str(folder / "rejects.csv") in result.stdout


def test_validate_of_a_bad_input_leaves_no_temporary_directory_behind(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    src = tmp_path / "a.csv"
    src.write_text("other,v\nc1,x\n")
    assert cli("validate", str(src)).exit_code == 2
    assert not list(temp.iterdir())


# -- signals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_at_any_point_of_an_upload_exits_130(tmp_path: Path, signum: int) -> None:
    """The signal lands as soon as the run holds its ledger lock (before the engine's own
    handlers exist: SIGTERM killed it, exit 143). The rate (1 call an hour) keeps the run from
    ending on its own, so whatever the timing, 130 is the only right answer."""
    src = tmp_path / "big.csv"
    rows = 1_000_000
    pl.DataFrame(
        {"thirdPartyId": [f"id{i}" for i in range(rows)], "v": ["value"] * rows}
    ).write_csv(src)
    ledger = tmp_path / "run" / "ledger.jsonl"
    lock = ledger.with_name("ledger.lock")
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        args = [
            sys.executable, "-m", "uploader", "upload", str(src), "--client-code", "demo",
            "--endpoint", mock.base_url, "--ledger", str(ledger), "--rate", "1/3600",
        ]  # fmt: skip
        env = {**os.environ, "TARGET_PROFILE_TOKEN": mock.token}
        process = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not lock.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)  # polling for the lock file: no race, only how soon we see it
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "uploader: interrupted" in stderr and "Traceback" not in stderr


# -- --rate above Target's limit -------------------------------------------------------------
@pytest.mark.parametrize(("rate", "warned"), [("100/60", True), ("2/1", True), ("50/60", False),
                                              ("40/60", False), ("none", False)])  # fmt: skip
def test_a_rate_above_targets_limit_is_kept_with_a_warning(
    cli: Callable[..., Result], tmp_path: Path, rate: str, warned: bool
) -> None:
    src = small_csv(tmp_path / "a.csv")
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        result = cli(
            "upload", str(src), "--client-code", "demo", "--endpoint", mock.base_url,
            "--ledger", str(tmp_path / "m" / "ledger.jsonl"), "--quiet", "--rate", rate,
            token=mock.token,
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    warning = "Target answers 503 above 50 calls per minute"
    assert (warning in result.stderr) == warned
    assert warning not in result.stdout


# -- warnings on stderr ------------------------------------------------------------------------
def test_warnings_go_to_stderr_not_stdout(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    """A Target built-in attribute name is a warning: it was printed on stdout with the plan
    and the summary."""
    src = small_csv(tmp_path / "a.csv", extra="user")
    checked = cli("validate", str(src))
    dry = cli("upload", str(src), "--dry-run", "--out", str(tmp_path / "bodies"))
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        sent = upload_to(mock, src, tmp_path / "l" / "ledger.jsonl", "--quiet")
    for result in (checked, dry, sent):
        assert result.exit_code == 0, result.output
        assert "warning:" not in result.stdout
        assert "uploader: warning:" in result.stderr and "'user'" in result.stderr


# -- plurals -----------------------------------------------------------------------------------
def test_one_body_is_one_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("upload", str(small_csv(tmp_path / "a.csv")), "--dry-run", "--out",
                 str(tmp_path / "bodies"))  # fmt: skip
    assert "(1 file)" in result.stdout and "1 files" not in result.stdout


# -- the demo's sample ships in the package ------------------------------------------------------
def test_the_demo_sample_is_inside_the_package(tmp_path: Path) -> None:
    """From a wheel there is no samples/ directory: the demo's default source must be package
    data (and the same as the samples/ copy users read)."""
    from uploader.cli._demo import demo, demo_source

    option = next(p for p in demo.params if p.name == "source")
    assert not isinstance(option.default, (str, Path))  # no path outside the package
    with demo_source(None) as source:
        assert source.is_file()
        assert Path(uploader.__file__).parent in source.parents
        assert source.read_bytes() == (ROOT / "samples" / "crm.csv").read_bytes()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    relative = source.relative_to(Path(uploader.__file__).parent).as_posix()
    assert relative in package_data["package-data"]["uploader"]


def test_progress_lines_say_one_batch_and_one_retry() -> None:
    from io import StringIO

    from uploader.cli._progress import LineProgress
    from uploader.ledger._summary import RunSummary

    stream = StringIO()
    progress = LineProgress(stream=stream, every=0.0)
    progress.start()
    progress.update(RunSummary(rows_acknowledged=10, batches_acknowledged=1, retries=1), 10)
    assert "1 batch, 1 retry," in stream.getvalue()
