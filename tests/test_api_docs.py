"""The Python examples of the README and docs/upload.md run, against the mock."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from uploader.mock import MockConfig, run_mock_in_thread

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "samples" / "crm.csv"


def python_block(doc: Path, containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.DOTALL)
    (block,) = [b for b in blocks if containing in b]
    return str(block)


class AirflowFailException(Exception):
    """Airflow's "fail, no retry", for the README's task without Airflow."""


def airflow_task(name: str) -> Any:
    """The README's ``@task`` function ``name``, without Airflow: its imports and decorator
    dropped."""
    code = python_block(ROOT / "README.md", f"def {name}(")
    code = "\n".join(
        line for line in code.splitlines() if not line.startswith(("from airflow", "@task"))
    )
    namespace: dict[str, Any] = {"AirflowFailException": AirflowFailException}
    exec(code, namespace)
    return namespace[name]


def test_the_readme_airflow_task_uploads_and_raises_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    shutil.copy(SAMPLE, tmp_path / "exports" / "crm-2024-05-01.csv")
    upload_profiles = airflow_task("upload_profiles")
    with run_mock_in_thread(MockConfig(client_code="acme", rate_limit=None)) as mock:
        monkeypatch.setenv("TARGET_ENDPOINT", mock.base_url)
        monkeypatch.setenv("TARGET_PROFILE_TOKEN", mock.token)
        done = upload_profiles("2024-05-01")
        assert done["exit_code"] == 0 and done["target"]["all_complete"]
        assert done["rows_acknowledged"] == mock.received_frame().height
        again = upload_profiles("2024-05-01")  # an Airflow retry: resumed, nothing re-sent
        assert again["batches_skipped"] == done["batches_acknowledged"]
        monkeypatch.setenv("TARGET_PROFILE_TOKEN", "expired")
        shutil.copy(SAMPLE, tmp_path / "exports" / "crm-2024-05-02.csv")
        with pytest.raises(RuntimeError, match="upload exit code 3"):
            upload_profiles("2024-05-02")


def test_the_library_snippet_of_docs_upload_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = python_block(ROOT / "docs" / "upload.md", "uploader.upload(")
    monkeypatch.chdir(tmp_path)
    shutil.copy(SAMPLE, tmp_path / "crm.csv")
    with run_mock_in_thread(MockConfig(client_code="acme", rate_limit=None)) as mock:
        port = mock.base_url.rsplit(":", 1)[1]
        monkeypatch.setenv("TARGET_PROFILE_TOKEN", mock.token)
        exec(code.replace("127.0.0.1:8080", f"127.0.0.1:{port}"), {})
        assert mock.received_frame().height > 0
    assert capsys.readouterr().out.strip() == "0"
    assert (tmp_path / "runs" / "x" / "summary.json").exists()


@pytest.mark.parametrize(
    "containing", ['ledger="runs/x/ledger.jsonl"', "uploader.frame_source(df)"]
)
def test_the_readme_python_examples_run(
    containing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's first two examples, as written, with the mock's port for 8080."""
    code = python_block(ROOT / "README.md", containing)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    shutil.copy(SAMPLE, tmp_path / "exports" / "crm.csv")
    namespace: dict[str, Any] = {}
    with run_mock_in_thread(MockConfig(client_code="acme", rate_limit=None)) as mock:
        port = mock.base_url.rsplit(":", 1)[1]
        monkeypatch.setenv("TARGET_PROFILE_TOKEN", mock.token)
        exec(code.replace("127.0.0.1:8080", f"127.0.0.1:{port}"), namespace)
        assert mock.received_frame().height > 0
    assert namespace["summary"].exit_code == 0


def test_the_readme_sync_task_sends_only_what_changed_and_resumes_a_stopped_night(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    shutil.copy(SAMPLE, tmp_path / "exports" / "crm-2024-05-01.csv")
    night_2 = SAMPLE.read_text(encoding="utf-8").replace(",bronze,", ",silver,")
    (tmp_path / "exports" / "crm-2024-05-02.csv").write_text(night_2, encoding="utf-8")
    sync_profiles = airflow_task("sync_profiles")
    with run_mock_in_thread(MockConfig(client_code="acme", rate_limit=None)) as mock:
        monkeypatch.setenv("TARGET_ENDPOINT", mock.base_url)
        monkeypatch.setenv("TARGET_PROFILE_TOKEN", mock.token)
        first = sync_profiles("2024-05-01")
        assert first["exit_code"] == 0 and first["state_generation"] == 1
        taken = mock.receipts_count
        monkeypatch.setenv("TARGET_PROFILE_TOKEN", "expired")
        with pytest.raises(RuntimeError, match="sync exit code 3"):
            sync_profiles("2024-05-02")  # stopped: nothing committed, Airflow retries
        monkeypatch.setenv("TARGET_PROFILE_TOKEN", mock.token)
        second = sync_profiles("2024-05-02")  # the retry resumes the night
        assert second["exit_code"] == 0 and second["state_generation"] == 2
        assert (
            second["rows_unselected"]
            + second["rows_acknowledged"]
            + second["rows_rejected"]
            + second["rows_merged"]
            == second["rows_read"]
        )
        assert mock.receipts_count - taken == second["rows_acknowledged"] > 0
        assert second["selection"]["changed"] == second["rows_acknowledged"]
