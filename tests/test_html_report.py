"""``uploader report --html``: the page of a real mock run (retries, throttles, a failed
batch, rejected rows, row-level failures, statuses and a verification) opens in headless
Chromium with networking disabled and shows every chart, with no page error; a screenshot is
written beside it for people to look at.

Chromium is the Debian package ``chromium`` (``.ci/run`` installs it); without it the browser
tests are skipped, saying so."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import Result

from uploader.ledger._ledger import read_ledger
from uploader.mock import FaultConfig, MockConfig, run_mock_in_thread
from uploader.reconcile._html import CHARTS, html_report
from uploader.reconcile._report import build_report
from uploader.reconcile._shards import merge_reports

ROWS = 600
POISON = "c-77"  # refuses its batch whole: bisected, and cut short (--bisect-calls) → failed


@dataclass(frozen=True, slots=True)
class Browser:
    """Headless Chromium, networking disabled: every request but loopback goes to a closed
    port, and no host name resolves."""

    path: str
    profile: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                self.path, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                f"--user-data-dir={self.profile}", "--proxy-server=127.0.0.1:9",
                "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND",
                "--enable-logging=stderr", "--v=0", *args,
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def dump_dom(self, page: Path) -> str:
        done = self.run("--virtual-time-budget=2000", "--dump-dom", page.as_uri())
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def screenshot(self, page: Path, out: Path, width: int = 1200, height: int = 2200) -> None:
        done = self.run(f"--screenshot={out}", f"--window-size={width},{height}", page.as_uri())
        assert done.returncode == 0 and out.exists(), done.stderr[-2000:]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (CI installs the Debian package: .ci/run)")
    return Browser(path, tmp_path_factory.mktemp("chromium-profile"))


def write_source(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["thirdPartyId", "tier", "city"])
        writer.writerow(["", "no-id", ""])  # rejected: empty id
        writer.writerow(["a/b", "t", ""])  # rejected: not a valid id
        for i in range(ROWS):
            writer.writerow([f"c-{i}", f"t{i % 7}", "Zürich" if i % 3 else ""])
    return path


@pytest.fixture(scope="module")
def mock_run(
    cli: Callable[..., Result], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """A real run against the mock: (its ledger, the source). The client's rate is above the
    mock's (throttles); 5xx on some calls (retries); a poison row (a bisection cut short: a
    failed batch); rows failing at Target (row level); statuses polled; a sample verified."""
    tmp = tmp_path_factory.mktemp("html")
    source = write_source(tmp / "crm <b>&.csv")  # the page shows the name: escaped
    ledger = tmp / "run" / "ledger.jsonl"
    config = MockConfig(
        client_code="demo",
        rate_limit=(12, 1.0),
        faults=FaultConfig(
            p_500=0.08, reject_ids=f"^{POISON}$", fail_ids="^c-(5|50|500)$", latency_jitter=0.05
        ),
    )
    with run_mock_in_thread(config) as mock:
        sent = cli(
            "upload", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
            "--ledger", str(ledger),
            "--rate", "20/1", "--batch-rows", "25", "--bisect-calls", "2", "--concurrency", "4",
            token=mock.token,
        )  # fmt: skip
        assert sent.exit_code == 1, sent.output  # the failed batch
        polled = cli("status", "--ledger", str(ledger), "--rate", "none", token=mock.token)
        assert polled.exit_code in (0, 1), polled.output
        checked = cli(
            "verify", "--ledger", str(ledger), "--sample", "20", "--rate", "none", token=mock.token
        )
        assert checked.exit_code in (0, 1), checked.output
    return ledger, source


def test_the_report_of_a_real_run_renders_every_chart_offline_without_errors(
    browser: Browser, cli: Callable[..., Result], mock_run: tuple[Path, Path], tmp_path: Path
) -> None:
    ledger, _ = mock_run
    state = read_ledger(ledger)
    outcomes = {a.outcome for a in state.attempts}
    assert {"ok", "throttled", "retry", "fail"} <= outcomes  # what the charts are to show
    page = tmp_path / "report.html"
    text = cli("report", "--ledger", str(ledger))
    with_html = cli("report", "--ledger", str(ledger), "--html", str(page))
    assert with_html.exit_code == text.exit_code == 1  # unchanged by --html, and so is the text
    assert with_html.stdout == text.stdout and page.exists()
    html = page.read_text(encoding="utf-8")
    # offline by construction: nothing is fetched from anywhere
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//)""", html, re.I)
    assert "<b>&" not in html and "crm &lt;b&gt;&amp;.csv" in html  # escaped
    # the page's verdict says what did not land (it has no lines "above" to point at)
    assert re.search(r"NOT LANDED: [\d,]+ rows? in 1 failed batch", html)

    dom = browser.dump_dom(page)
    for chart in ("acknowledged", "calls", "latency", "outcomes", "rejects", "statuses", "verify"):
        assert len(re.findall(rf'<svg [^>]*data-chart="{chart}"', dom)) == 1, chart
    assert len(re.findall(r"<rect ", dom)) > 20  # the bars are there, not empty frames
    assert "data-errors" not in html_tag(dom)  # window.onerror caught nothing

    shot = tmp_path / "report.png"
    browser.screenshot(page, shot)
    assert shot.stat().st_size > 10_000  # a picture, not a blank page


def html_tag(dom: str) -> str:
    found = re.search(r"<html[^>]*>", dom)
    assert found is not None, dom[:200]
    return found.group(0)


def test_a_page_error_would_be_seen(
    browser: Browser, mock_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """The error check above can fail: a page that throws says so in its DOM."""
    ledger, _ = mock_run
    state = read_ledger(ledger)
    page = tmp_path / "broken.html"
    html = html_report(build_report(ledger, state), [state])
    page.write_text(html.replace("</body>", "<script>undefinedFunction()</script></body>"))
    assert "undefinedFunction" in html_tag(browser.dump_dom(page))


def test_a_schema_2_ledger_gets_a_page_without_per_call_charts(
    relabel_ledger: Callable[[Path, int | None], None],
    cli: Callable[..., Result],
    mock_run: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ledger, _ = mock_run
    old = tmp_path / "ledger.jsonl"
    shutil.copy(ledger, old)
    relabel_ledger(old, 2)
    page = tmp_path / "old.html"
    result = cli("report", "--ledger", str(old), "--html", str(page))
    assert result.exit_code == 1, result.output
    html = page.read_text(encoding="utf-8")
    assert "No per-call records: this ledger&#x27;s schema (2) records batches" in html
    assert 'data-chart="calls"' not in html and 'data-chart="acknowledged"' in html
    assert set(re.findall(r'data-chart="([a-z]+)"', html)) <= set(CHARTS)


def test_several_shards_make_one_page_with_every_shards_calls(
    cli: Callable[..., Result], upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    source = write_source(tmp_path / "in.csv")
    ledgers = [tmp_path / f"shard{i}" / "ledger.jsonl" for i in range(2)]
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        for i, ledger in enumerate(ledgers):
            assert (
                upload_to(mock, source, ledger, "--shard", f"{i}/2", batch_rows=50).exit_code == 0
            )
    calls = sum(len(read_ledger(ledger).attempts) for ledger in ledgers)
    page = tmp_path / "report.html"
    text = cli("report", *map(str, ledgers))
    result = cli("report", *map(str, ledgers), "--html", str(page))
    assert result.exit_code == text.exit_code and result.stdout == text.stdout
    html = page.read_text(encoding="utf-8")
    assert f"{calls:,} calls (" in html and "2 ledgers" in html
    assert html.count("<h3>run started") == 2  # each shard's settings


def test_a_page_that_cannot_be_written_is_one_line_and_exit_2(
    cli: Callable[..., Result], mock_run: tuple[Path, Path], tmp_path: Path
) -> None:
    ledger, _ = mock_run
    result = cli("report", "--ledger", str(ledger), "--html", str(tmp_path / "no" / "r.html"))
    assert (
        result.exit_code == 2
        and "r.html: cannot write (No such file or directory)" in result.output
    )
    assert "Traceback" not in result.output and not (tmp_path / "no").exists()


def test_a_shards_page_shows_each_shards_verification(mock_run: tuple[Path, Path]) -> None:
    """The merged report has no verification of its own: the page shows each shard's, and
    names the command for a shard not verified yet."""
    ledger, _ = mock_run
    state = read_ledger(ledger)
    verified = build_report(ledger, state)
    assert verified.verification is not None
    unverified = replace(verified, ledger="shard1/ledger.jsonl", verification=None)
    html = html_report(merge_reports([verified, unverified], []), [state, state])
    assert "each shard&#x27;s is in its own ledger" not in html
    assert html.count('data-chart="verify"') == 1
    assert f"Run {verified.verification.run} (" in html
    assert "No verification of shard1/ledger.jsonl: run `uploader verify` on it." in html
