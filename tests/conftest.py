"""Fixtures shared by the tests: the CLI in-process, tiny and awkward inputs with independent
expectations, an independent reading of batch bodies, the mock served over loopback to tests
that drive it with plain aiohttp requests, and Adobe I/O settings for the mock. Test doubles a
user would want too (``FakeClock``, ``ScriptedTransport``) are public in ``uploader.testing``;
tests import them from there, never from each other.

Most fixtures hand out a function (``cli("upload", …)``): they hold no state, so they are
session-scoped and module-scoped fixtures can use them too."""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import aiohttp
import defusedxml.ElementTree as ET
import orjson
import polars as pl
import pytest
from click.testing import CliRunner, Result

from uploader.auth._adobe_io import AdobeIOCredentials
from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.bench._harness import RedisServer
from uploader.cli._main import main
from uploader.ledger._records import ATTEMPT_SCHEMA
from uploader.mock import MockConfig, MockTarget
from uploader.produce._batcher import BatchLimits
from uploader.produce._model import Batch, ProduceStats
from uploader.produce._producer import InputSpec, Producer
from uploader.produce._rejects import RejectsWriter
from uploader.send._engine import UploadConfig, upload
from uploader.testing import FakeClock

# -- the CLI in-process (click's runner) ------------------------------------------------------


def _cli(*args: str, token: str = "") -> Result:
    """``uploader ARGS`` with ``$TARGET_PROFILE_TOKEN`` set to ``token``."""
    return CliRunner().invoke(main, list(args), env={"TARGET_PROFILE_TOKEN": token})


def _upload_to(
    mock: MockTarget, source: Path, ledger: Path, *extra: str, batch_rows: int = 10
) -> Result:
    """``uploader upload`` of ``source`` to ``mock``: no rate limit, small batches."""
    return _cli(
        "upload", str(source), "--client-code", "demo", "--endpoint", mock.base_url,
        "--ledger", str(ledger), "--rate", "none", "--batch-rows", str(batch_rows), *extra,
        token=mock.token,
    )  # fmt: skip


@pytest.fixture(scope="session")
def cli() -> Callable[..., Result]:
    """``cli(*args, token="")``: ``uploader ARGS`` in-process, the token in the environment."""
    return _cli


@pytest.fixture(scope="session")
def upload_to() -> Callable[..., Result]:
    """``upload_to(mock, source, ledger, *extra, batch_rows=10)``: ``uploader upload`` to the
    mock, no rate limit, small batches."""
    return _upload_to


# -- tiny inputs and ledgers ------------------------------------------------------------------


def _small_producer(tmp_path: Path, rows: int = 50, batch_rows: int = 10) -> Producer:
    src = tmp_path / f"in-{rows}.csv"
    if not src.exists():  # rewriting would change its mtime, which --resume checks
        src.write_text("thirdPartyId,v\n" + "".join(f"id{i},value{i}\n" for i in range(rows)))
    return Producer(InputSpec(sources=(src,), limits=BatchLimits(rows=batch_rows)))


@pytest.fixture(scope="session")
def small_producer() -> Callable[..., Producer]:
    """``small_producer(tmp_path, rows=50, batch_rows=10)``: a producer of a CSV of ``rows``
    rows (``id<i>,value<i>``) written once in ``tmp_path``."""
    return _small_producer


def _relabel_ledger(path: Path, schema: int | None) -> None:
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    if schema is None or schema < ATTEMPT_SCHEMA:  # written before calls were recorded
        records = [record for record in records if record["type"] != "attempt"]
    for record in records:
        if record["type"] != "run":
            continue
        del record["schema"]
        if schema is not None:
            record["schema"] = schema
        elif record["fingerprint"]["settings"]["encode"] == "compact":
            record["fingerprint"]["settings"]["encode"] = "default"
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))


@pytest.fixture(scope="session")
def relabel_ledger() -> Callable[[Path, int | None], None]:
    """``relabel_ledger(path, schema)``: make the ledger at ``path`` look written by another
    uploader: ``schema`` in its run records, or none at all (uploader 0.1.x, which called the
    ``compact`` mode "default"); below schema 3, without its ``attempt`` records."""
    return _relabel_ledger


# -- an independent reading of batch bodies ---------------------------------------------------


def _decode_body(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8").split("&", 1)[0]
    assert text.startswith("batch="), text[:20]
    lines = [line.removesuffix("\r") for line in text[len("batch=") :].split("\n")]
    return [
        [unquote_plus(field, errors="strict") for field in line.split(",")]
        for line in lines
        if line
    ]


@pytest.fixture(scope="session")
def decode_body() -> Callable[[bytes], list[list[str]]]:
    """``decode_body(body)``: header + rows of a body by the model in design.md, deliberately
    naive and sharing no code with the encoder (per-value urllib, not polars) so that a bug
    cannot cancel itself out: cut at the first raw '&', strip 'batch=', split lines on raw LF
    (CRLF tolerated) and fields on raw ',', percent-decode each field with '+' as space."""
    return _decode_body


# -- the mock, driven with plain aiohttp requests ---------------------------------------------


class RawMock:
    """Serving the mock to tests that drive it with plain aiohttp requests."""

    clock_start = 1_000.0  # mock tests start their fake clock here

    @asynccontextmanager
    async def serve(
        self, **options: Any
    ) -> AsyncIterator[tuple[MockTarget, aiohttp.ClientSession]]:
        """A mock on a free loopback port (throttle off unless asked) and a client session.

        These tests read the mock's XML with a strict parser, so its submit answers are the
        well-formed ``plain`` shape unless a test asks for Adobe's documented ``doc`` shape
        (the default everywhere else, so every client test meets the bare ``&``)."""
        config = MockConfig(**{"rate_limit": None, "status_url_style": "plain", **options})
        async with MockTarget(config) as mock, aiohttp.ClientSession() as http:
            yield mock, http

    def serve_open(
        self, **options: Any
    ) -> AbstractAsyncContextManager[tuple[MockTarget, aiohttp.ClientSession]]:
        """``serve`` with Require Authentication off, unless the test turns it on."""
        return self.serve(**{"require_auth": False, **options})

    @staticmethod
    def xml(text: str) -> dict[str, str | None]:
        root = ET.fromstring(text)
        assert root.tag == "response"
        return {child.tag: child.text for child in root}

    async def submit(
        self, mock: MockTarget, http: aiohttp.ClientSession, body: bytes, *, version: int = 2
    ) -> tuple[int, dict[str, str | None]]:
        path = "/v2/profile/batchUpdate" if version == 2 else "/profile/batchUpdate"
        url = f"{mock.base_url}/m2/{mock.config.client_code}{path}"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        # BytesIO: aiohttp warns about large raw bytes bodies
        async with http.post(url, data=io.BytesIO(body), headers=headers) as response:
            return response.status, self.xml(await response.text())

    async def status(
        self, http: aiohttp.ClientSession, url: str, details: bool = True
    ) -> dict[str, str | None]:
        params = {"showDetails": "true"} if details else {}
        async with http.get(url, params=params) as response:
            assert response.status == 200
            return self.xml(await response.text())


@pytest.fixture
def raw_mock() -> RawMock:
    """The mock served over loopback with a plain aiohttp session beside it: ``serve``,
    ``serve_open``, ``submit``, ``status``, ``xml`` and the fake clock's ``clock_start``."""
    return RawMock()


# -- end-to-end inputs and expectations -------------------------------------------------------

ADOBE_CLIENT_SECRET = "demo-client-secret"  # what the mock's IMS accepts

AWKWARD = [
    "a&b",
    "x=1",
    "50%",
    "1+1",
    "a,b",
    'say "hi"',
    "two\nlines",
    "cr\r\nlf",
    "  pad ",
    "東京",
    "🎉",
    "%41",
    "+",
    "007",
    "1.50",
]


def _tricky_csv(path: Path, rows: int, seed: int = 3) -> Path:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["thirdPartyId", "a", "b&c", "d e"])
        for i in range(rows):
            writer.writerow(
                [f"t-{i % (rows - 7)}", *(rng.choice([*AWKWARD, ""]) for _ in range(3))]
            )
    return path


def _expected_profiles(path: Path) -> dict[str, dict[str, str]]:
    """Independent expectation: csv module, Target's id rules, rows applied in file order
    (later non-empty values win; empty cells never clear)."""
    profiles: dict[str, dict[str, str]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            ident = row.pop("thirdPartyId")
            if not ident or "+" in ident or "/" in ident or len(ident) > 256:
                continue
            profile = profiles.setdefault(ident, {})
            profile.update({k: v for k, v in row.items() if v})
    return profiles


def _received_profiles(frame: pl.DataFrame) -> dict[str, dict[str, str]]:
    """What the mock got, one dict per id; a batch received twice (retry after a lost answer)
    must carry the same values both times."""
    got: dict[str, dict[str, str]] = {}
    for row in frame.drop("call").iter_rows(named=True):
        ident = row.pop("thirdPartyId")
        values = {k: v for k, v in row.items() if v is not None and v != ""}
        assert got.setdefault(ident, values) == values, f"{ident} received with different values"
    return got


def _produce(
    tmp_path: Path, sources: list[Path], **spec: Any
) -> tuple[list[Batch], ProduceStats, list[dict[str, str]]]:
    rejects_path = tmp_path / "rejects.csv"
    with RejectsWriter(rejects_path) as writer:
        producer = Producer(InputSpec(sources=tuple(sources), **spec), rejects=writer)
        batches = list(producer)
    with rejects_path.open(newline="", encoding="utf-8") as handle:
        rejects = list(csv.DictReader(handle))
    return batches, producer.stats, rejects


def _table(batches: list[Batch]) -> list[list[str]]:
    """Header + all rows of all batches, decoded by the body model."""
    rows: list[list[str]] = []
    for batch in batches:
        header, *body = _decode_body(batch.body)
        rows = rows or [header]
        assert header == rows[0]
        rows += body
    return rows


async def _send(
    mock: MockTarget,
    ledger: Path,
    source: Path,
    *,
    batch_rows: int = 10,
    clock: FakeClock | None = None,
    **config: Any,
) -> None:
    """Upload ``source`` to ``mock`` with the real engine; the ledger is what status reads."""
    upload_config = UploadConfig(
        client_code="demo", endpoint=mock.base_url, ledger=ledger, rate=None, **config
    )
    producer = Producer(InputSpec(sources=(source,), limits=BatchLimits(rows=batch_rows)))
    extra: dict[str, Any] = {"clock": clock, "sleep": clock.sleep} if clock else {}
    summary = await upload(upload_config, producer, _token(mock), **extra)
    assert summary.exit_code == 0, summary.lines()


def _token(mock: MockTarget) -> StaticToken:
    return StaticToken(Secret(mock.token), "mock")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _credentials(mock: MockTarget, **overrides: object) -> AdobeIOCredentials:
    fields: dict[str, object] = {
        "client_id": "demo-client-id",
        "client_secret": Secret(ADOBE_CLIENT_SECRET),
        "tenant": "demo-tenant",
        "ims_url": mock.base_url,
        "admin_url": mock.base_url,
        **overrides,
    }
    return AdobeIOCredentials(**fields)  # type: ignore[arg-type]


def _mock_config(**options: object) -> MockConfig:
    return MockConfig(**{"client_code": "demo", "rate_limit": None, **options})  # type: ignore[arg-type]


def _printer(path: Path) -> str:
    """A token command that prints the file's content (a stand-in for a secret store)."""
    return f"{shlex.quote(sys.executable)} -c 'import sys; print(open(sys.argv[1]).read())' {shlex.quote(str(path))}"


@pytest.fixture(scope="session")
def tricky_csv() -> Callable[..., Path]:
    """``tricky_csv(path, rows, seed=3)``: a CSV of awkward values (``&``, ``%``, quotes, newlines, non-ASCII) and repeated ids."""
    return _tricky_csv


@pytest.fixture(scope="session")
def expected_profiles() -> Callable[[Path], dict[str, dict[str, str]]]:
    """``expected_profiles(csv_path)``: the profiles Target should hold, by an independent reading (csv module, Target's id rules, later non-empty values win)."""
    return _expected_profiles


@pytest.fixture(scope="session")
def received_profiles() -> Callable[[pl.DataFrame], dict[str, dict[str, str]]]:
    """``received_profiles(frame)``: what the mock got, one dict per id (a batch received twice must carry the same values)."""
    return _received_profiles


@pytest.fixture(scope="session")
def produce() -> Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]]:
    """``produce(tmp_path, sources, **spec)``: every batch, the stats and the rejects of a producer run."""
    return _produce


@pytest.fixture(scope="session")
def table() -> Callable[[list[Batch]], list[list[str]]]:
    """``table(batches)``: header + all rows of all batches, decoded by ``decode_body``."""
    return _table


@pytest.fixture(scope="session")
def engine_upload() -> Callable[..., Awaitable[None]]:
    """``engine_upload(mock, ledger, source, *, batch_rows=10, clock=None, **config)``: upload with the real engine (the ledger is what status reads)."""
    return _send


@pytest.fixture(scope="session")
def mock_token() -> Callable[[MockTarget], StaticToken]:
    """``mock_token(mock)``: the mock's current token as a provider."""
    return _token


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: a loopback port nothing listens on."""
    return _free_port


@pytest.fixture(scope="session")
def adobe_credentials() -> Callable[..., AdobeIOCredentials]:
    """``adobe_credentials(mock, **overrides)``: Adobe I/O credentials for the mock's IMS and Admin API."""
    return _credentials


@pytest.fixture(scope="session")
def mock_config() -> Callable[..., MockConfig]:
    """``mock_config(**options)``: a mock of client ``demo`` with no rate limit."""
    return _mock_config


@pytest.fixture(scope="session")
def token_printer() -> Callable[[Path], str]:
    """``token_printer(path)``: a token command that prints the file's content."""
    return _printer


# -- a real Redis on loopback (the shared rate limit) -----------------------------------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A ``redis-server`` for this test (the Debian package ``redis-server``; CI installs it),
    on a free loopback port, persistence off, stopped after it; ``kill()`` and ``restart()``
    (a new, empty server on the same port) for the tests of a lost store."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    try:
        server.start()
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield server
    finally:
        server.__exit__()


# -- a real S3-compatible server on loopback (object-store inputs) ----------------------------


@dataclass
class MotoServer:
    """A ``moto_server`` (S3) on a free loopback port: ``endpoint`` and a boto3 client."""

    endpoint: str
    client: Any

    def put(self, url: str, data: bytes) -> None:
        """Store ``data`` at ``s3://BUCKET/KEY``, making the bucket if it is new."""
        bucket, _, key = url.removeprefix("s3://").partition("/")
        if bucket not in {b["Name"] for b in self.client.list_buckets()["Buckets"]}:
            self.client.create_bucket(Bucket=bucket)
        self.client.put_object(Bucket=bucket, Key=key, Body=data)


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def _moto_process(log_dir: Path, **env: str) -> Iterator[str]:
    """A ``moto_server`` process (``env`` added to its environment); its endpoint."""
    if importlib.util.find_spec("moto") is None:
        pytest.skip("moto is not installed (pip install 'moto[server]', in the dev extra)")
    port = _free_port()
    log = (log_dir / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # imports are slow on a loaded machine
        while not _answers_http(f"{endpoint}/moto-api/"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server on port {port} did not start (see {log.name})")
            time.sleep(0.05)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def _moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``moto_server`` process for the session (it takes seconds to start); each test
    empties it (``moto_server``)."""
    with _moto_process(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture
def moto_checking_credentials(tmp_path: Path) -> Iterator[str]:
    """The endpoint of a ``moto_server`` that checks credentials (it knows none, so every
    request is refused as S3 refuses unknown keys), for this test."""
    with _moto_process(tmp_path, INITIAL_NO_AUTH_ACTION_COUNT="0") as endpoint:
        yield endpoint


@pytest.fixture
def moto_server(_moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """An empty S3 at ``AWS_ENDPOINT_URL`` with test credentials, for this test."""
    import boto3

    request = urllib.request.Request(f"{_moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ENDPOINT_URL": _moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return MotoServer(_moto_endpoint, boto3.client("s3", endpoint_url=_moto_endpoint))
