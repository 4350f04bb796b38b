"""The producer end to end (no network): files in, exact bodies and rejects out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uploader.errors import ConfigError, InputError
from uploader.produce._batcher import BatchLimits
from uploader.produce._model import Batch, ProduceStats
from uploader.produce._producer import InputSpec, Producer, write_dry_run


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


# -- CSV reading ------------------------------------------------------------------------------
def test_csv_values_pass_through_verbatim(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    src = write(tmp_path / "a.csv", "thirdPartyId,v,w\n007,1.50,true\n1e3,NaN, spaced \n")
    batches, _, _ = produce(tmp_path, [src])
    assert table(batches) == [
        ["thirdPartyId", "v", "w"],
        ["007", "1.50", "true"],
        ["1e3", "NaN", " spaced "],
    ]


def test_quoted_csv_fields_with_commas_quotes_and_newlines(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    src = write(
        tmp_path / "q.csv",
        'thirdPartyId,note\r\nx1,"a, b"\r\nx2,"say ""hi"""\r\nx3,"two\nlines"\r\nx4,"cr\r\nlf"\r\n',
    )
    batches, stats, _ = produce(tmp_path, [src])
    assert table(batches)[1:] == [
        ["x1", "a, b"],
        ["x2", 'say "hi"'],
        ["x3", "two\nlines"],
        ["x4", "cr\r\nlf"],
    ]
    assert stats.rows_read == 4


def test_form_and_csv_metacharacters_are_encoded_in_the_body(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]], tmp_path: Path
) -> None:
    src = write(tmp_path / "m.csv", 'thirdPartyId,v\nid1,"a&b=c+d%e,f"\n')
    (batch,), _, _ = produce(tmp_path, [src])
    assert batch.body == b"batch=thirdPartyId,v\nid1,a%26b%3Dc%2Bd%25e%2Cf\n"


# -- Parquet rendering ------------------------------------------------------------------------
def test_parquet_typed_columns_render_canonically(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    frame = pl.DataFrame(
        {
            "thirdPartyId": ["p1", "p2"],
            "i": pl.Series([7, None], dtype=pl.Int64),
            "f": [0.1, 1e20],
            "b": [True, False],
            "d": [dt.date(2026, 11, 26), None],
            "t": [dt.datetime(2026, 11, 26, 1, 2, 3), dt.datetime(2026, 1, 2, 3, 4, 5, 120000)],
            "s": ["007", ""],
        }
    )
    frame.write_parquet(tmp_path / "t.parquet")
    batches, _, _ = produce(tmp_path, [tmp_path / "t.parquet"])
    assert table(batches)[1:] == [
        ["p1", "7", "0.1", "true", "2026-11-26", "2026-11-26T01:02:03.000000", "007"],
        ["p2", "", "1e+20", "false", "", "2026-01-02T03:04:05.120000", ""],
    ]


def test_parquet_times_keep_their_fraction_exactly(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    """``pl.Time`` rendered ``HH:MM:SS.ffffff`` (nine digits when it has nanoseconds): the
    fraction was dropped (``01:02:03``)."""
    nanos = [3723_456_789_000, 3723_000_000_000, 0, 3600_000_000_001]
    frame = pl.DataFrame(
        {"thirdPartyId": ["a", "b", "c", "d"], "t": pl.Series(nanos).cast(pl.Time)}
    )
    frame.write_parquet(tmp_path / "t.parquet")
    batches, _, _ = produce(tmp_path, [tmp_path / "t.parquet"])
    assert [row[1] for row in table(batches)[1:]] == [
        "01:02:03.456789",
        "01:02:03.000000",
        "00:00:00.000000",
        "01:00:00.000000001",
    ]


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
def test_parquet_durations_render_as_iso_8601(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    unit: str,
) -> None:
    """A Duration column was a raw polars error ("casting … not supported")."""
    values = [dt.timedelta(hours=1, minutes=2, seconds=3.5), dt.timedelta(days=-1), None]
    frame = pl.DataFrame(
        {"thirdPartyId": ["a", "b", "c"], "d": pl.Series(values).cast(pl.Duration(unit))}
    )
    frame.write_parquet(tmp_path / "d.parquet")
    batches, _, _ = produce(tmp_path, [tmp_path / "d.parquet"])
    assert [row[1] for row in table(batches)[1:]] == ["PT1H2M3.5S", "-P1D", ""]


def test_parquet_datetimes_with_a_time_zone_keep_the_offset(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    moment = pl.Series([dt.datetime(2026, 1, 2, 3, 4, 5, 120000)])
    frame = pl.DataFrame(
        {
            "thirdPartyId": ["a"],
            "ny": moment.dt.replace_time_zone("America/New_York"),
            "utc": moment.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
        }
    )
    frame.write_parquet(tmp_path / "z.parquet")
    batches, _, _ = produce(tmp_path, [tmp_path / "z.parquet"])
    assert table(batches)[1][1:] == [
        "2026-01-02T03:04:05.120000-05:00",
        "2026-01-02T03:04:05.120+00:00",
    ]


def test_parquet_nested_column_is_a_clear_error(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]], tmp_path: Path
) -> None:
    pl.DataFrame({"thirdPartyId": ["a"], "tags": [["x", "y"]]}).write_parquet(
        tmp_path / "n.parquet"
    )
    with pytest.raises(InputError, match=r"n\.parquet: column 'tags' has type List"):
        produce(tmp_path, [tmp_path / "n.parquet"])


# -- validation and rejects -------------------------------------------------------------------
def test_each_rejection_reason_goes_to_the_rejects_file(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    long_id = "x" * 257
    big = "v" * (64 * 1024)
    src = write(
        tmp_path / "r.csv",
        f"thirdPartyId,v\nok1,a\n,b\n{long_id},c\nplus+id,d\nslash/id,e\nbig,{big}\nok2,f\n",
    )
    batches, stats, rejects = produce(tmp_path, [src])
    assert table(batches)[1:] == [["ok1", "a"], ["ok2", "f"]]
    assert [(r["row"], r["id"], r["reason"]) for r in rejects] == [
        ("2", "", "empty id"),
        ("3", long_id, "id longer than 256 characters"),
        ("4", "plus+id", "id contains '+' or '/' (forbidden in mbox3rdPartyId)"),
        ("5", "slash/id", "id contains '+' or '/' (forbidden in mbox3rdPartyId)"),
        ("6", "big", "profile data over 64 KB (UTF-8 names and values)"),
    ]
    assert all(r["source"] == str(src) for r in rejects)
    assert stats.rows_read == stats.rows_rejected + stats.rows_batched == 7


def test_64kb_limit_counts_utf8_bytes_of_names_and_values(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    # name "v" (1 byte) + value: exactly 64 KB together with the id cell passes, one more fails
    budget = 64 * 1024 - len("thirdPartyId") - len("a") - len("v")
    src = write(
        tmp_path / "s.csv",
        f"thirdPartyId,v\na,{'é' * (budget // 2)}\nb,{'é' * (budget // 2 + 1)}\n",
    )
    batches, _, rejects = produce(tmp_path, [src])
    assert [row[0] for row in table(batches)[1:]] == ["a"]
    assert [r["id"] for r in rejects] == ["b"]


def test_row_larger_than_batch_bytes_is_rejected_not_sent(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    src = write(tmp_path / "l.csv", "thirdPartyId,v\na,short\nb," + "x" * 200 + "\nc,short\n")
    batches, _, rejects = produce(tmp_path, [src], limits=BatchLimits(bytes=100))
    assert [row[0] for row in table(batches)[1:]] == ["a", "c"]
    assert [(r["id"], r["reason"]) for r in rejects] == [
        ("b", "row alone is larger than batch_bytes once encoded")
    ]
    assert all(b.nbytes <= 100 for b in batches)


# -- duplicates ---------------------------------------------------------------------------------
DUPS = "thirdPartyId,tier,city\nu1,gold,Paris\nu2,silver,\nu1,,Lyon\nu3,x,y\nu1,platinum,\n"


def test_duplicates_merge_as_if_applied_in_file_order(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    batches, stats, _ = produce(tmp_path, [write(tmp_path / "d.csv", DUPS)])
    assert table(batches)[1:] == [
        ["u2", "silver", ""],
        ["u3", "x", "y"],
        ["u1", "platinum", "Lyon"],
    ]
    assert stats.rows_merged == 2
    assert stats.rows_read == stats.rows_batched + stats.rows_merged


def test_duplicates_last_keeps_the_last_row(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    batches, stats, _ = produce(tmp_path, [write(tmp_path / "d.csv", DUPS)], duplicates="last")
    assert sorted(table(batches)[1:]) == [
        ["u1", "platinum", ""],
        ["u2", "silver", ""],
        ["u3", "x", "y"],
    ]
    assert stats.rows_merged == 2


def test_duplicates_off_sends_rows_as_read(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    batches, stats, _ = produce(tmp_path, [write(tmp_path / "d.csv", DUPS)], duplicates="off")
    assert [row[0] for row in table(batches)[1:]] == ["u1", "u2", "u1", "u3", "u1"]
    assert stats.rows_merged == 0


def test_duplicates_across_files_merge_in_file_order(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    a = write(tmp_path / "a.csv", "thirdPartyId,v\nk,first\nz,1\n")
    b = write(tmp_path / "b.csv", "thirdPartyId,v\nk,second\n")
    batches, stats, _ = produce(tmp_path, [a, b])
    assert table(batches)[1:] == [["z", "1"], ["k", "second"]]
    assert stats.rows_merged == 1


# -- determinism, files, mapping --------------------------------------------------------------
def test_same_input_gives_identical_bodies_and_hashes_whatever_the_chunk_size(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    tmp_path: Path,
) -> None:
    rows = "".join(f"id{i},v{i % 7},{'dup' if i % 50 == 0 else i}\n" for i in range(3000))
    src = write(tmp_path / "big.csv", "thirdPartyId,a,b\n" + rows + "id5,again,\n")
    limits = BatchLimits(rows=700, bytes=9000)
    runs = [produce(tmp_path, [src], limits=limits, chunk_rows=n)[0] for n in (97, 1000, 50_000)]
    hashes = [[b.content_hash for b in batches] for batches in runs]
    assert hashes[0] == hashes[1] == hashes[2]
    assert len(hashes[0]) > 3


def test_glob_reads_files_in_sorted_order_and_refuses_mismatched_columns(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    write(tmp_path / "p2.csv", "thirdPartyId,v\nb,2\n")
    write(tmp_path / "p1.csv", "thirdPartyId,v\na,1\n")
    batches, _, _ = produce(tmp_path, [tmp_path / "p*.csv"])
    assert table(batches)[1:] == [["a", "1"], ["b", "2"]]
    write(tmp_path / "p3.csv", "thirdPartyId,w\nc,3\n")
    with pytest.raises(InputError, match=r"p3\.csv: columns differ"):
        produce(tmp_path, [tmp_path / "p*.csv"])


def test_columns_rename_and_id_column_shape_the_header(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    src = write(tmp_path / "c.csv", "cust,a,b,c\nk1,1,2,3\n")
    batches, _, _ = produce(
        tmp_path, [src], id_column="cust", id_type="pcId", columns=("c", "a"), rename={"a": "alpha"}
    )
    assert table(batches) == [["pcId", "c", "alpha"], ["k1", "3", "1"]]


def test_name_warnings_and_strict(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]], tmp_path: Path
) -> None:
    src = write(tmp_path / "w.csv", f"thirdPartyId,user,{'n' * 129}\nk,1,2\n")
    _, stats, _ = produce(tmp_path, [src])
    assert any("'user' collides" in w for w in stats.warnings)
    assert any("over 128 characters" in w for w in stats.warnings)
    with pytest.raises(ConfigError, match=r"\(strict\)$"):
        produce(tmp_path, [src], strict=True)


def test_dry_run_writes_each_exact_body(tmp_path: Path) -> None:
    src = write(tmp_path / "d.csv", "thirdPartyId,v\n" + "".join(f"i{n},x\n" for n in range(10)))
    producer = Producer(InputSpec(sources=(src,), limits=BatchLimits(rows=4)))
    plan = write_dry_run(producer, tmp_path / "out")
    assert [p.name for p in plan.files] == [
        "batch-000001.txt",
        "batch-000002.txt",
        "batch-000003.txt",
    ]
    assert plan.files[0].read_bytes() == b"batch=thirdPartyId,v\ni0,x\ni1,x\ni2,x\ni3,x\n"


# -- whole-input errors -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "spec", "message"),
    [
        ("a,b\n1,2\n", {}, r"no id column: expected 'thirdPartyId' or 'pcId', found 'a', 'b'"),
        ("thirdPartyId,b\n1,2\n", {"id_column": "cust"}, r"id_column 'cust' not found"),
        ("thirdPartyId,b,b\n1,2,3\n", {}, r"column name\(s\) appear more than once: 'b'"),
        ("thirdPartyId,,c\n1,2,3\n", {}, r"column 2 has an empty name"),
        ("", {}, r"empty file"),
        ("thirdPartyId,b\n1,2,3\n", {}, r"more fields than the header"),
        (
            "thirdPartyId,b\n1,2\n",
            {"columns": ("zz",)},
            r"columns names unknown column\(s\) 'zz'",
        ),
        (
            "thirdPartyId,b\n1,2\n",
            {"rename": {"zz": "y"}},
            r"rename names column\(s\) not being sent",
        ),
        (
            "thirdPartyId,b,c\n1,2,3\n",
            {"rename": {"b": "c"}},
            r"would appear twice in the batch: 'c'",
        ),
        ("thirdPartyId,__uploader_row\n1,2\n", {}, r"reserved by uploader"),
    ],
)
def test_whole_input_errors_are_one_clear_line(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    tmp_path: Path,
    content: str,
    spec: dict[str, Any],
    message: str,
) -> None:
    src = write(tmp_path / "in.csv", content)
    with pytest.raises((InputError, ConfigError), match=message) as info:
        produce(tmp_path, [src], **spec)
    assert "\n" not in str(info.value)


def test_not_utf8_is_a_clear_error(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]], tmp_path: Path
) -> None:
    src = tmp_path / "latin1.csv"
    src.write_bytes("thirdPartyId,city\nk,Zürich\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1\.csv, line 2 \(row 1\): not valid UTF-8"):
        produce(tmp_path, [src])


@pytest.mark.parametrize(
    ("name", "message"), [("missing.csv", "no such file"), ("data.xlsx", "unknown file type")]
)
def test_missing_or_unknown_files(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    tmp_path: Path,
    name: str,
    message: str,
) -> None:
    if name.endswith("xlsx"):
        write(tmp_path / name, "x")
    with pytest.raises(InputError, match=message):
        produce(tmp_path, [tmp_path / name])


# -- the property -------------------------------------------------------------------------------
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda n: n not in ("thirdPartyId", "pcId") and not n.startswith("__uploader_")
)
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    attrs=st.lists(names, min_size=1, max_size=4, unique=True),
    data=st.data(),
    mode=st.sampled_from(["strict", "compact"]),
)
def test_any_unicode_table_round_trips_exactly(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    attrs: list[str],
    data: st.DataObject,
    mode: str,
) -> None:
    """Arbitrary Unicode names and values: decoding the bodies gives back the input table."""
    n = data.draw(st.integers(1, 12))
    cells = {a: data.draw(st.lists(values, min_size=n, max_size=n)) for a in attrs}
    frame = pl.DataFrame({"thirdPartyId": [f"id-{i}" for i in range(n)], **cells})
    src = tmp_path / "t.parquet"
    frame.write_parquet(src)
    batches, stats, _ = produce(tmp_path, [src], encode=mode, limits=BatchLimits(rows=5))
    assert table(batches) == [
        ["thirdPartyId", *attrs],
        *(list(r) for r in frame.iter_rows()),
    ]
    assert stats.rows_batched == n


@pytest.mark.parametrize(("tail", "message"), [(b"x,y,z\n", "more fields"), (b"x,\xff\n", "UTF-8")])
def test_bad_row_late_in_the_file_fails_before_any_batch(
    tmp_path: Path, tail: bytes, message: str
) -> None:
    """A ragged or non-UTF-8 row at the end is found before the first batch exists."""
    src = tmp_path / "late.csv"
    src.write_bytes(b"thirdPartyId,a\n" + b"".join(b"id%d,v\n" % i for i in range(5000)) + tail)
    for duplicates in ("merge", "off"):
        producer = Producer(
            InputSpec(
                sources=(src,), duplicates=duplicates, chunk_rows=100, limits=BatchLimits(rows=10)
            )
        )
        batches = iter(producer)
        with pytest.raises(InputError, match=message):
            next(batches)


@pytest.mark.parametrize("block_bytes", [1, 7, 64, 1 << 20])
def test_csv_blocks_cut_only_on_record_boundaries(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    block_bytes: int,
) -> None:
    """Quoted newlines, doubled quotes, CRLF, a BOM, short rows and records longer than a
    block read the same whatever the block size; row numbers run on across blocks."""
    import uploader.produce._source

    monkeypatch.setattr(uploader.produce._source, "CSV_BLOCK_BYTES", block_bytes)
    rows = [
        ("a1", "plain"),
        ("a2", 'multi\nline "quoted"\r\nvalue'),
        ("a3", ""),
        ("a4", "x" * 300),
        ("a5", '""'),
    ]
    text = "\ufeffthirdPartyId,v\r\n" + "".join(
        f'{i},"{v.replace(chr(34), chr(34) * 2)}"\r\n' for i, v in rows
    )
    src = write(tmp_path / "b.csv", text + "a6\r\n")  # a short row: its missing cell is empty
    batches, stats, rejects = produce(tmp_path, [src])
    assert table(batches)[1:] == [[i, v] for i, v in rows] + [["a6", ""]]
    assert stats.rows_read == 6 and not rejects


def test_strict_mode_escapes_non_ascii_in_rows_with_an_empty_cell(
    produce: Callable[..., tuple[list[Batch], ProduceStats, list[dict[str, str]]]],
    table: Callable[[list[Batch]], list[list[str]]],
    tmp_path: Path,
) -> None:
    """An empty cell in a row must not leave that row's other non-ASCII values raw."""
    src = write(tmp_path / "a.csv", "thirdPartyId,city,note\nid1,Zürich,\nid2,,東京\nid3,Köln,ok\n")
    batches, _, _ = produce(tmp_path, [src], encode="strict")
    assert all(byte < 0x80 for batch in batches for byte in batch.body)
    assert table(batches)[1:] == [
        ["id1", "Zürich", ""],
        ["id2", "", "東京"],
        ["id3", "Köln", "ok"],
    ]
