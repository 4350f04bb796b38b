"""Inputs in an object store (``s3://``), read from a real S3-compatible server on loopback
(``moto_server``): the same bodies as the local files, resume refused after the object
changed, one-line errors, and the CSV stream read in bounded pieces."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import polars as pl
import pytest
from click.testing import Result

from uploader.errors import ConfigError, InputError
from uploader.ledger._records import SourceRecord
from uploader.mock import FaultConfig, MockConfig, run_mock_in_thread
from uploader.produce import _objectstore, _source
from uploader.produce._source import csv_blocks, csv_frames, expand_sources


class MotoServer(Protocol):
    """The ``moto_server`` fixture's server."""

    def put(self, url: str, data: bytes) -> None: ...


def bodies(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def dry_run(cli: Callable[..., Result], out: Path, *sources: str) -> dict[str, bytes]:
    result = cli(
        "upload", *sources, "--client-code", "demo", "--dry-run", "--out", str(out),
        "--batch-rows", "40",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return bodies(out)


def typed_frame(rows: int, offset: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "thirdPartyId": [f"p-{offset + i}" for i in range(rows)],
            "score": [i * 0.1 for i in range(rows)],
            "vip": [i % 3 == 0 for i in range(rows)],
            "note": [None if i % 5 == 0 else f"n & <{i}>" for i in range(rows)],
        }
    )


def test_a_csv_object_gives_the_bodies_of_the_local_file(
    moto_server: MotoServer,
    cli: Callable[..., Result],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    local = tricky_csv(tmp_path / "crm.csv", 300)
    moto_server.put("s3://exports/daily/crm.csv", local.read_bytes())
    expected = dry_run(cli, tmp_path / "local", str(local))
    assert dry_run(cli, tmp_path / "s3", "s3://exports/daily/crm.csv") == expected
    assert len(expected) > 1


def test_a_csv_pattern_lists_the_objects_in_key_order(
    moto_server: MotoServer,
    cli: Callable[..., Result],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    for name, seed in (("b.csv", 1), ("a.csv", 2)):
        local = tricky_csv(tmp_path / "in" / name, 120, seed)
        moto_server.put(f"s3://exports/in/{name}", local.read_bytes())
    moto_server.put("s3://exports/in/deeper/c.csv", b"thirdPartyId,a\nnot,me\n")  # * stays in in/
    moto_server.put("s3://exports/in/notes.txt.bak", b"not a csv")
    expected = dry_run(cli, tmp_path / "local", str(tmp_path / "in" / "*.csv"))
    assert dry_run(cli, tmp_path / "s3", "s3://exports/in/*.csv") == expected

    found = expand_sources(["s3://exports/**/*.csv"])
    assert [str(source.path) for source in found] == [
        "s3://exports/in/a.csv",
        "s3://exports/in/b.csv",
        "s3://exports/in/deeper/c.csv",
    ]


def test_a_gzip_csv_object_is_read_as_the_local_one(
    moto_server: MotoServer,
    cli: Callable[..., Result],
    tricky_csv: Callable[..., Path],
    tmp_path: Path,
) -> None:
    local = tmp_path / "crm.csv.gz"
    local.write_bytes(gzip.compress(tricky_csv(tmp_path / "crm.csv", 200).read_bytes()))
    moto_server.put("s3://exports/crm.csv.gz", local.read_bytes())
    expected = dry_run(cli, tmp_path / "local", str(local))
    assert dry_run(cli, tmp_path / "s3", "s3://exports/crm.csv.gz") == expected


def test_parquet_objects_give_the_bodies_of_the_local_files(
    moto_server: MotoServer, cli: Callable[..., Result], tmp_path: Path
) -> None:
    (tmp_path / "pq").mkdir()
    for index in range(2):
        local = tmp_path / "pq" / f"part-{index}.parquet"
        typed_frame(70, offset=100 * index).write_parquet(local, row_group_size=25)
        moto_server.put(f"s3://lake/crm/part-{index}.parquet", local.read_bytes())
    one = dry_run(cli, tmp_path / "one-local", str(tmp_path / "pq" / "part-0.parquet"))
    assert dry_run(cli, tmp_path / "one-s3", "s3://lake/crm/part-0.parquet") == one
    both = dry_run(cli, tmp_path / "local", str(tmp_path / "pq" / "*.parquet"))
    assert dry_run(cli, tmp_path / "s3", "s3://lake/crm/*.parquet") == both
    assert len(both) > len(one)


def test_an_upload_from_s3_lands_every_profile(
    moto_server: MotoServer,
    upload_to: Callable[..., Result],
    tricky_csv: Callable[..., Path],
    expected_profiles: Callable[[Path], dict[str, dict[str, str]]],
    received_profiles: Callable[[pl.DataFrame], dict[str, dict[str, str]]],
    tmp_path: Path,
) -> None:
    local = tricky_csv(tmp_path / "crm.csv", 150)
    moto_server.put("s3://exports/crm.csv", local.read_bytes())
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        result = upload_to(mock, "s3://exports/crm.csv", tmp_path / "ledger.jsonl", "--quiet")
        assert result.exit_code == 0, result.output
        assert received_profiles(mock.received_frame()) == expected_profiles(local)


def test_resume_after_the_object_changed_is_refused(
    moto_server: MotoServer, upload_to: Callable[..., Result], tmp_path: Path
) -> None:
    rows = "".join(f"c{i},x{i}\n" for i in range(40))
    moto_server.put("s3://exports/crm.csv", b"thirdPartyId,v\n" + rows.encode())
    ledger = tmp_path / "ledger.jsonl"
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None)) as mock:
        assert upload_to(mock, "s3://exports/crm.csv", ledger, "--quiet").exit_code == 0
        same = upload_to(mock, "s3://exports/crm.csv", ledger, "--resume", "--quiet")
        assert same.exit_code == 0, same.output
        assert mock.stats["calls"] == 4  # the same object: nothing sent again
        # the same size, other bytes: only the ETag tells
        moto_server.put(
            "s3://exports/crm.csv", b"thirdPartyId,v\n" + rows.replace("x1\n", "y1\n").encode()
        )
        refused = upload_to(mock, "s3://exports/crm.csv", ledger, "--resume", "--quiet")
    assert refused.exit_code == 2
    assert "s3://exports/crm.csv changed since that run (ETag" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_report_and_resume_reread_the_object_the_ledger_names(
    moto_server: MotoServer,
    cli: Callable[..., Result],
    upload_to: Callable[..., Result],
    tmp_path: Path,
) -> None:
    rows = "".join(f"c{i},x{i}\n" for i in range(40))
    moto_server.put("s3://exports/crm.csv", b"thirdPartyId,v\n" + rows.encode())
    ledger = tmp_path / "ledger.jsonl"
    faults = FaultConfig(p_500=1.0, first_k_calls=2)  # two batches fail, resume sends them
    with run_mock_in_thread(MockConfig(client_code="demo", rate_limit=None, faults=faults)) as mock:
        first = upload_to(mock, "s3://exports/crm.csv", ledger, "--max-retries", "0", "--quiet")
        assert first.exit_code == 1, first.output
        out = tmp_path / "fix.csv"
        report = cli("report", "--ledger", str(ledger), "--failed-rows", str(out))
        assert report.exit_code == 1 and out.read_text().count("\n") == 1 + 20, report.output
        again = upload_to(mock, "s3://exports/crm.csv", ledger, "--resume", "--quiet")
        assert again.exit_code == 0, again.output
        assert mock.profiles.get("c39") == {"v": "x39"}


def test_an_object_replaced_during_the_run_is_an_error_not_a_mix(
    moto_server: MotoServer,
) -> None:
    moto_server.put("s3://exports/crm.csv", b"thirdPartyId,v\nc1,x\n")
    (source,) = expand_sources(["s3://exports/crm.csv"])  # found: its ETag is the run's
    moto_server.put("s3://exports/crm.csv", b"thirdPartyId,v\nc1,y\n")
    with pytest.raises(InputError, match=r"^s3://exports/crm.csv: changed since the run started"):
        list(csv_frames(source))


def test_the_ledger_records_an_object_by_url_size_and_etag(moto_server: MotoServer) -> None:
    moto_server.put("s3://exports/crm.csv", b"thirdPartyId,v\nc1,x\n")
    (source,) = expand_sources(["s3://exports/crm.csv"])
    record = source.fingerprint()
    assert (record.path, record.size, record.mtime_ns, record.digest) == (
        "s3://exports/crm.csv",
        20,
        None,
        None,
    )
    assert record.etag and record.last_modified
    assert SourceRecord.from_json(record.to_json()) == record
    # a file's record is written as before (no etag, last_modified keys): old readers agree
    local = SourceRecord(path="/data/crm.csv", size=1, mtime_ns=2, digest="ab")
    assert list(local.to_json()) == ["path", "size", "mtime_ns", "digest"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://exports/nope.csv", "s3://exports/nope.csv: no such object"),
        ("s3://no-bucket/crm.csv", "s3://no-bucket/crm.csv: no such bucket"),
        ("s3://no-bucket/*.csv", "s3://no-bucket/*.csv: no such bucket"),
        ("s3://exports/*.parquet", "s3://exports/*.parquet: no file matches this pattern"),
        ("s3://exports", "s3://exports: expected s3://BUCKET/KEY"),
    ],
)
def test_a_missing_object_or_bucket_is_one_line_exit_2(
    moto_server: MotoServer, cli: Callable[..., Result], tmp_path: Path, url: str, message: str
) -> None:
    moto_server.put("s3://exports/crm.csv", b"thirdPartyId,v\nc1,x\n")
    result = cli("upload", url, "--client-code", "demo", "--dry-run", "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"uploader: error: {message}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_refused_credentials_are_one_line_without_the_secret(
    moto_server: MotoServer,
    moto_checking_credentials: str,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_checking_credentials)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-key")
    for url in ("s3://exports/crm.csv", "s3://exports/*.csv"):
        out = str(tmp_path / "out")
        result = cli("upload", url, "--client-code", "demo", "--dry-run", "--out", out)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"uploader: error: {url}: access denied"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "not-the-key" not in result.stderr


def test_an_unreachable_endpoint_is_one_line_naming_it(
    moto_server: MotoServer,
    cli: Callable[..., Result],
    free_port: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    moto_server.put("s3://exports/crm.csv", b"thirdPartyId,v\nc1,x\n")

    def upload() -> str:
        result = cli(
            "upload", "s3://exports/crm.csv", "--client-code", "demo", "--dry-run",
            "--out", str(tmp_path),
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        return str(result.stderr.strip())

    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    assert upload() == (
        f"uploader: error: s3://exports/crm.csv: cannot reach the object store at {closed}"
    )


def test_the_csv_stream_is_read_in_bounded_pieces(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block reader never asks the object's stream for more than a block, and the
    stream holds less than a block (one chunk of the GET: at least its minimum size, at
    most what the HTTP client read at once): memory stays bounded whatever the size."""
    block, chunk = 1 << 20, 16 << 10
    monkeypatch.setattr(_source, "CSV_BLOCK_BYTES", block)
    monkeypatch.setattr(_objectstore, "STREAM_CHUNK_BYTES", chunk)
    data = b"thirdPartyId,v\n" + b"".join(b"c%d,%s\n" % (i, b"x" * 50) for i in range(100_000))
    moto_server.put("s3://exports/big.csv", data)
    asked: list[int] = []
    held: list[int] = []
    read = _objectstore._ObjectReader.read

    def spy(self: _objectstore._ObjectReader, size: int, /) -> bytes:
        asked.append(size)
        got = read(self, size)
        held.append(len(self._pending))
        return got

    monkeypatch.setattr(_objectstore._ObjectReader, "read", spy)
    (source,) = expand_sources(["s3://exports/big.csv"])  # reads the header and line end
    asked.clear()
    blocks = list(csv_blocks(source))
    assert b"".join(b[len(b"thirdPartyId,v\n") :] for b in blocks) == data[15:]
    assert len(blocks) >= len(data) // block
    assert max(asked) <= block and max(held) < block


def test_without_obstore_the_error_names_the_extra(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "obstore", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'uploader\[s3\]'"):
        expand_sources(["s3://exports/crm.csv"])
