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


def airflow_task() -> Any:
    """The README's ``@task`` function, without Airflow: its import and decorator dropped."""
    code = python_block(ROOT / "README.md", "@task")
    code = "\n".join(
        line for line in code.splitlines() if not line.startswith(("from airflow", "@task"))
    )
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["upload_profiles"]


def test_the_readme_airflow_task_uploads_and_raises_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    shutil.copy(SAMPLE, tmp_path / "exports" / "crm-2024-05-01.csv")
    upload_profiles = airflow_task()
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
