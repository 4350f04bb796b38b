"""Typed ledger records: each reads and writes exactly the JSON line the uploader writes, and
one fold (``LedgerState.apply``) turns them into a ledger's state, whether read from the file
or kept current by the writer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from uploader.auth._static import StaticToken
from uploader.errors import LedgerError
from uploader.ledger._ledger import Ledger, LedgerState, check_resumable, read_ledger
from uploader.ledger._records import (
    UNRECORDED_HASH_ALGORITHM,
    BatchRecord,
    InputFingerprint,
    LedgerRecord,
    RunRecord,
    StatusRecord,
    SummaryRecord,
    VerifyEnd,
    VerifyProfile,
    VerifyStart,
    parse_record,
)
from uploader.mock import MockConfig, MockTarget
from uploader.produce._source import HASH_ALGORITHM
from uploader.reconcile._status import poll_statuses
from uploader.reconcile._verify import verification_summary, verify

AT = "2025-01-02T03:04:05.678+00:00"
FINGERPRINT = (
    '"fingerprint":{"sources":[{"path":"/data/crm.csv","size":99518,'
    '"mtime_ns":1735787045000000000,"digest":"0123456789abcdef0123456789abcdef"}],'
    '"settings":{"id_column":null,"id_type":null,"columns":null,"rename":{},'
    '"batch_rows":500000,"batch_bytes":49000000,"encode":"strict","duplicates":"merge",'
    '"separator":",","input_encoding":"utf-8"}}'
)
SETTINGS = (
    '"settings":{"client_code":"acme","endpoint":"https://acme.tt.omtrdc.net",'
    '"api_version":"v2","concurrency":4,"rate":"50/60","max_retries":5,"bisect_calls":100}'
)
RUN = f'{{"type":"run","schema":2,"version":"0.3.0","started":"{AT}","resumed":false,{FINGERPRINT},{SETTINGS}'
STATUS_URL = "https://mboxedge45.tt.omtrdc.net/m2/acme/profile/batchStatus?batchId=acme-1-1"
GOLDEN = {
    # schema 2 as written before run records named their hash algorithm
    "run": RUN + "}",
    "run naming its hash algorithm": RUN + ',"hash_algorithm":"xxh3_128"}',
    "run of uploader 0.1.x (schema 1)": (
        '{"type":"run","version":"0.1.0","started":"' + AT + '","resumed":true,'
        '"fingerprint":{"sources":[{"path":"crm.csv","size":10,"mtime_ns":1,"digest":null}],'
        '"settings":{"encode":"default"}},"settings":{"client_code":"acme","endpoint":null,'
        '"api_version":null,"concurrency":null,"rate":null,"max_retries":null,"bisect_calls":null}}'
    ),
    "acknowledged batch": (
        '{"type":"batch","seq":4,"hash":"6d20da8f0123456789abcdef01234567","rows":100,'
        '"bytes":10914,"first":[0,305],"last":[0,404],"outcome":"acknowledged","attempts":1,'
        '"http_status":200,"target_batch_id":"acme-1-1","status_url":"' + STATUS_URL + '",'
        '"message":"Batch submitted for processing","timings":{"total":0.0194,"last_call":0.0179},'
        '"at":"' + AT + '"}'
    ),
    "split batch": (
        '{"type":"batch","seq":5,"hash":"ffff","rows":100,"bytes":9000,"first":[0,1],'
        '"last":[1,100],"outcome":"split","attempts":1,"http_status":200,"target_batch_id":null,'
        '"status_url":null,"message":"Unexpected error","timings":{},"parts":['
        '{"seq":1000000001,"start":0,"stop":50},{"seq":1000000002,"start":50,"stop":100}],'
        '"at":"' + AT + '"}'
    ),
    "pending batch": (
        '{"type":"batch","seq":6,"hash":"eeee","rows":3,"bytes":90,"first":[0,7],"last":[0,9],'
        '"outcome":"pending","attempts":0,"http_status":null,"target_batch_id":null,'
        '"status_url":null,"message":"not sent: the run was interrupted","timings":{},'
        '"at":"' + AT + '"}'
    ),
    "status": (
        '{"type":"status","seq":4,"batch_id":"acme-1-1","status":"complete","batch_size":100,'
        '"consumed_count":100,"successful_updates":98,"profiles_not_found":0,"failed_updates":2,'
        '"message":"","failed_ids":["c-2","c-4"],"not_found_ids":[],"failed_ids_complete":true,'
        '"at":"' + AT + '"}'
    ),
    "verify start": (
        '{"type":"verify","kind":"start","run":1,"seed":7,"sample":100,"population":193,'
        '"at":"' + AT + '"}'
    ),
    "verify profile": (
        '{"type":"verify","kind":"profile","run":1,"id":"c-1","seq":4,"result":"different",'
        '"attributes":["color"],"message":"","at":"' + AT + '"}'
    ),
    "verify end": (
        '{"type":"verify","kind":"end","run":1,"counts":{"matched":99,"different":1,'
        '"not_visible_yet":0,"not_found":0,"error":0},"at":"' + AT + '"}'
    ),
    "summary": (
        '{"type":"summary","at":"' + AT + '","rows_read":1000,"rows_acknowledged":996,'
        '"rows_rejected":3,"rows_merged":1,"rows_failed":0,"rows_pending":0,'
        '"latency_p50":0.0179,"latency_p95":null,"stop_reason":null,"warnings":[],'
        '"reasons":{},"rows_per_second":1234.5,"invariant_holds":true,"exit_code":0}'
    ),
}


@pytest.mark.parametrize("line", GOLDEN.values(), ids=GOLDEN.keys())
def test_every_record_reads_and_writes_back_to_the_same_bytes(line: str) -> None:
    record = parse_record(orjson.loads(line))
    assert orjson.dumps(record.to_json()).decode() == line


def test_records_are_typed() -> None:
    run = parse_record(orjson.loads(GOLDEN["run"]))
    assert isinstance(run, RunRecord) and run.ledger_schema == 2
    assert run.fingerprint.sources and run.fingerprint.sources[0].size == 99518
    assert run.send_settings.endpoint == "https://acme.tt.omtrdc.net"
    old = parse_record(orjson.loads(GOLDEN["run of uploader 0.1.x (schema 1)"]))
    assert isinstance(old, RunRecord) and old.ledger_schema == 1 and old.schema is None
    split = parse_record(orjson.loads(GOLDEN["split batch"]))
    assert isinstance(split, BatchRecord) and split.parts and split.parts[1].start == 50
    assert not split.sent and split.timings is None
    acknowledged = parse_record(orjson.loads(GOLDEN["acknowledged batch"]))
    assert isinstance(acknowledged, BatchRecord) and acknowledged.acknowledged
    assert acknowledged.timings and acknowledged.timings.last_call == 0.0179
    status = parse_record(orjson.loads(GOLDEN["status"]))
    assert isinstance(status, StatusRecord) and status.failed_ids == ("c-2", "c-4")
    summary = parse_record(orjson.loads(GOLDEN["summary"]))
    assert isinstance(summary, SummaryRecord) and (summary.rows_read, summary.rows_merged) == (
        1000,
        1,
    )
    kinds = [parse_record(orjson.loads(GOLDEN[f"verify {k}"])) for k in ("start", "profile", "end")]
    assert [type(k) for k in kinds] == [VerifyStart, VerifyProfile, VerifyEnd]


def test_a_run_record_without_its_hash_algorithm_reads_as_xxh3() -> None:
    before = parse_record(orjson.loads(GOLDEN["run"]))
    named = parse_record(orjson.loads(GOLDEN["run naming its hash algorithm"]))
    assert isinstance(before, RunRecord) and isinstance(named, RunRecord)
    assert before.hash_algorithm is None and before.hashes == UNRECORDED_HASH_ALGORITHM
    assert named.hashes == HASH_ALGORITHM == "xxh3_128"


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "line",
    [
        '{"type":"bogus"}',
        '["run"]',
        '{"type":"batch","seq":1,"hash":"h","rows":1,"outcome":"lost"}',  # unknown outcome
        '{"type":"batch","seq":"1","hash":"h","rows":1,"outcome":"failed"}',  # seq as text
        '{"type":"batch","seq":true,"hash":"h","rows":1,"outcome":"failed"}',  # a bool
        '{"type":"verify","kind":"later","run":1}',  # unknown verify kind
        '{"type":"status","seq":1,"failed_ids":"c-1"}',  # a list expected
        '{"type":"summary","rows_read":"many"}',
    ],
)
def test_an_unknown_or_malformed_record_is_refused_naming_its_line(
    tmp_path: Path, line: str
) -> None:
    path = write_lines(tmp_path / "ledger.jsonl", GOLDEN["run"], line, GOLDEN["status"])
    with pytest.raises(LedgerError, match=r"line 2 is not a valid record"):
        read_ledger(path)


def test_an_unversioned_ledger_still_folds_and_is_not_resumed(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "ledger.jsonl",
        GOLDEN["run of uploader 0.1.x (schema 1)"],
        GOLDEN["acknowledged batch"],
        GOLDEN["status"],
        '{"type":"summary","rows_read":100}',  # 0.1.x summaries had no time
    )
    state = read_ledger(path)
    assert state.schema == 1 and state.acknowledged() == {4: "6d20da8f0123456789abcdef01234567"}
    assert state.statuses[4].status == "complete" and state.last_run_finished
    assert state.summaries[0].rows_read == 100 and state.summaries[0].at is None
    with pytest.raises(LedgerError, match="written by an older uploader"):
        check_resumable(state, path)


def test_a_ledger_hashed_with_another_algorithm_is_not_resumed(tmp_path: Path) -> None:
    other = RUN + ',"hash_algorithm":"sha256"}'
    path = write_lines(tmp_path / "ledger.jsonl", other, GOLDEN["acknowledged batch"])
    with pytest.raises(LedgerError, match="hashed with sha256"):
        check_resumable(read_ledger(path), path)
    check_resumable(read_ledger(write_lines(path, GOLDEN["run"])), path)  # xxh3: resumes


def status_of(batch_id: str, status: str = "complete") -> StatusRecord:
    return StatusRecord(seq=4, batch_id=batch_id, status=status, at=AT)


def test_a_status_counts_only_for_the_batch_s_current_target_id() -> None:
    """--resume sends a batch again (a new Target id): what Target said of the old id is moot,
    whenever it was recorded."""
    acknowledged = parse_record(orjson.loads(GOLDEN["acknowledged batch"]))
    assert isinstance(acknowledged, BatchRecord)
    state = LedgerState()
    state.apply(parse_record(orjson.loads(GOLDEN["run"])))
    state.apply(acknowledged)
    state.apply(status_of("acme-1-1"))
    assert state.statuses[4].batch_id == "acme-1-1"
    state.apply(replace(acknowledged, batch_id="acme-2-1"))  # re-sent: another Target id
    assert 4 not in state.statuses
    state.apply(status_of("acme-1-1", "stuck"))  # late news of the old id: ignored
    assert 4 not in state.statuses
    state.apply(status_of("acme-2-1", "incomplete"))
    assert state.statuses[4].status == "incomplete"
    state.apply(status_of("acme-1-1", "stuck"))  # still ignored: the current one stays
    assert state.statuses[4].status == "incomplete"


def records_of(*names: str) -> list[LedgerRecord]:
    return [parse_record(orjson.loads(GOLDEN[name])) for name in names]


def test_apply_is_the_fold_read_ledger_does(tmp_path: Path) -> None:
    """A writer that opens its ledger with ``state=`` holds what reading the file gives."""
    first = records_of("run", "acknowledged batch", "split batch", "pending batch")
    later = [
        *records_of("status", "verify start", "verify profile", "verify end", "summary"),
        status_of("acme-0-0"),  # for no current id: ignored both ways
    ]
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    for record in first:
        ledger.write(record)
    ledger.close()
    state = read_ledger(path)
    ledger = Ledger(path, state=state)
    for record in later:
        ledger.write(record)
    ledger.close()
    folded = LedgerState()
    for record in first + later:
        folded.apply(record)
    assert state == read_ledger(path) == folded
    assert list(state.statuses) == [4] and state.last_run_finished


async def test_every_record_the_uploader_writes_reads_back_to_its_bytes(
    tmp_path: Path,
    engine_upload: Callable[..., Awaitable[None]],
    mock_token: Callable[[MockTarget], StaticToken],
    tricky_csv: Callable[..., Path],
) -> None:
    """A real run, its statuses and a verification: every line round-trips, and verify's
    in-memory state (``Ledger(state=)``) is the ledger as read."""
    ledger = tmp_path / "ledger.jsonl"
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        await engine_upload(mock, ledger, tricky_csv(tmp_path / "tricky.csv", 60), batch_rows=37)
        await poll_statuses(ledger, mock_token(mock), rate=None)
        summary = await verify(ledger, mock_token(mock), sample=5, seed=3, rate=None)
    assert summary == verification_summary(read_ledger(ledger))
    lines = ledger.read_bytes().splitlines()
    types = {orjson.loads(line)["type"] for line in lines}
    assert types == {"run", "attempt", "batch", "summary", "status", "verify"}
    for line in lines:
        assert orjson.dumps(parse_record(orjson.loads(line)).to_json()) == line
    (run,) = read_ledger(ledger).runs
    assert run.hash_algorithm == HASH_ALGORITHM and isinstance(run.fingerprint, InputFingerprint)


def test_a_sync_run_record_carries_its_selection_and_reads_back() -> None:
    line = (
        '{"type":"run","schema":2,"version":"0.1.0","started":"2026-11-29T01:00:00.000+00:00",'
        '"resumed":false,"fingerprint":{},"settings":null,"hash_algorithm":"xxh3_128",'
        '"sync":{"state":"state","selected_at":1764378000,"refresh_after_days":13,"full":false,'
        '"rows":{"new":2,"changed":1,"refresh":0,"unchanged":7},"missing":1,"generation":3}}'
    )
    record = parse_record(orjson.loads(line))
    assert isinstance(record, RunRecord) and record.sync is not None
    assert record.sync.selected_at == 1764378000
    assert orjson.dumps(record.to_json()).decode() == line
