"""The mock's body model (design.md), tested on ``parse_body`` directly, against a naive
per-value reading (urllib), so the vectorised reader cannot agree with itself by accident."""

from __future__ import annotations

from urllib.parse import quote, unquote_plus

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.mock._body import BodyRejected, ParsedBody, decode_series, parse_body
from uploader.mock._config import MAX_BODY_BYTES, MAX_ROWS


def parsed(body: bytes) -> ParsedBody:
    result = parse_body(body)
    assert isinstance(result, ParsedBody), result
    return result


def rejected(body: bytes) -> str:
    result = parse_body(body)
    assert isinstance(result, BodyRejected), result
    return result.message


def rows(result: ParsedBody) -> list[tuple[str | None, ...]]:
    frame = result.frame.with_columns(
        decode_series(result.frame.get_column(name)) for name in result.attributes
    )
    return frame.rows()


def test_plain_body_is_read_with_ids_and_attributes() -> None:
    result = parsed(b"batch=thirdPartyId,tier,city\ncrm-1,gold,Paris\ncrm-2,silver,Lyon\n")
    assert result.id_name == "thirdPartyId"
    assert result.attributes == ("tier", "city")
    assert rows(result) == [("crm-1", "gold", "Paris"), ("crm-2", "silver", "Lyon")]
    assert (result.batch_size, result.failed) == (2, 0)


def test_pcid_header_is_accepted() -> None:
    assert parsed(b"batch=pcId,a\npc-1,x").id_name == "pcId"


@pytest.mark.parametrize("header", [b"mbox3rdPartyId,a", b"ecid,a", b"a,thirdPartyId"])
def test_first_header_must_be_an_id_name(header: bytes) -> None:
    assert rejected(b"batch=" + header + b"\nx,y\n") == "Unexpected error"


@pytest.mark.parametrize("header", [b"thirdPartyId,a,a", b"thirdPartyId,,b", b"thirdPartyId,a%2"])
def test_bad_header_rejects_the_batch(header: bytes) -> None:
    assert rejected(b"batch=" + header + b"\nx,1,2\n") == "Unexpected error"


def test_text_after_first_raw_ampersand_is_dropped() -> None:
    result = parsed(b"batch=thirdPartyId,a\ncrm-1,x&y\ncrm-2,z\n")
    assert rows(result) == [("crm-1", "x")]


def test_ampersand_in_header_leaves_an_empty_batch() -> None:
    assert rejected(b"batch=thirdPartyId,a\n&crm-1,x\n") == "Batch is empty"


@pytest.mark.parametrize(
    "body", [b"", b"batch=", b"batch=thirdPartyId,a", b"batch=thirdPartyId\n\n"]
)
def test_empty_batches_are_rejected(body: bytes) -> None:
    assert rejected(body) == "Batch is empty"


@pytest.mark.parametrize(
    "body",
    [
        b"batch=thirdPartyId\ncrm-1\n",  # only the id column
        b"batch=thirdPartyId,a,b\ncrm-1,,\ncrm-2\n",  # every cell empty
        b"batch=thirdPartyId,a\ncrm-1,\n,\n",  # with a row that fails (empty id)
    ],
)
def test_batch_without_any_attribute_value_is_empty(body: bytes) -> None:
    assert rejected(body) == "Batch is empty"


def test_one_value_anywhere_makes_the_batch_non_empty() -> None:
    result = parsed(b"batch=thirdPartyId,a,b\ncrm-1,,\ncrm-2,,x\n")
    assert rows(result) == [("crm-1", None, None), ("crm-2", None, "x")]


def test_missing_batch_field_is_an_empty_batch() -> None:
    assert rejected(b"thirdPartyId,a\ncrm-1,x\n") == "Batch is empty"


def test_plus_is_space_and_encoded_plus_is_plus() -> None:
    result = parsed(b"batch=thirdPartyId,a\ncrm-1,high+value\ncrm-2,high%2Bvalue\n")
    assert rows(result) == [("crm-1", "high value"), ("crm-2", "high+value")]


@pytest.mark.parametrize("bad", [b"50%off", b"100%", b"%4", b"%G1", b"%%41"])
def test_invalid_percent_escape_rejects_the_whole_batch(bad: bytes) -> None:
    body = b"batch=thirdPartyId,a\ncrm-1,ok\ncrm-2," + bad + b"\n"
    assert rejected(body) == "Unexpected error"


def test_percent_25_decodes_once_only() -> None:
    result = parsed(b"batch=thirdPartyId,a,b\ncrm-1,%2541,%25C3%25A9\n")
    assert rows(result) == [("crm-1", "%41", "%C3%A9")]


def test_lowercase_and_uppercase_escapes_decode() -> None:
    result = parsed(b"batch=thirdPartyId,a\ncrm-1,%2c%2C%3d%0a%0D\n")
    assert rows(result) == [("crm-1", ",,=\n\r")]


def test_non_ascii_escapes_and_raw_utf8_decode() -> None:
    body = "batch=thirdPartyId,city,note\ncrm-1,Z%C3%BCrich,東京 %E2%9C%93\n".encode()
    assert rows(parsed(body)) == [("crm-1", "Zürich", "東京 ✓")]


@pytest.mark.parametrize(
    "line",
    [
        b"crm-1,x%FFy",  # never a UTF-8 byte
        b"crm-1,%C3%28",  # lead byte, then no continuation
        b"crm-1,%C3",  # cut short at the end of the value
        b"crm-1,%C3+%A9",  # a space between the two halves
        b"crm-1,%C3%41",  # an ASCII escape after a lead byte
        b"crm-1,%C0%80",  # overlong
        b"crm-1,%ED%A0%80",  # a surrogate
        b"crm-1,%A9",  # a lone continuation byte
        b"crm-1,%C3\xa9",  # escaped lead byte, raw continuation
        b"crm-1,x\xffy",  # raw invalid byte
        b"crm-1,x\xc3(",  # raw lead byte without continuation
        b"crm-%FF,x",  # in an id
        b"crm-1,x\ncrm-2,y,%FF",  # in a row that fails anyway (too wide)
    ],
)
def test_invalid_utf8_anywhere_rejects_the_whole_batch(line: bytes) -> None:
    assert rejected(b"batch=thirdPartyId,a\ncrm-0,ok\n" + line + b"\n") == "Unexpected error"


@pytest.mark.parametrize("header", [b"thirdPartyId,a%FF", b"thirdPartyId,a\xff"])
def test_invalid_utf8_in_a_header_name_rejects_the_whole_batch(header: bytes) -> None:
    assert rejected(b"batch=" + header + b"\ncrm-1,x\n") == "Unexpected error"


def test_valid_utf8_escapes_next_to_raw_characters_are_accepted() -> None:
    body = "batch=thirdPartyId,a,b\ncrm-1,%F0%9F%98%80é%C3%A9,%E2%9C%93%2C%C3%A9\n".encode()
    assert rows(parsed(body)) == [("crm-1", "😀éé", "✓,é")]


@settings(max_examples=200, deadline=None)
@given(value=st.binary(min_size=1, max_size=8), split=st.integers(0, 8))
def test_escaped_bytes_are_accepted_exactly_when_they_are_utf8(value: bytes, split: int) -> None:
    # the same bytes in two neighbouring cells must not be read as one run
    head, tail = value[:split], value[split:]
    cells = [quote(part, safe="").encode() or b"z" for part in (head, tail)]
    body = b"batch=thirdPartyId,a,b\ncrm-1," + b",".join(cells) + b"\n"
    try:
        head.decode("utf-8"), tail.decode("utf-8")
    except UnicodeDecodeError:
        assert rejected(body) == "Unexpected error"
    else:
        assert isinstance(parse_body(body), ParsedBody)


def test_header_names_are_decoded() -> None:
    assert parsed(b"batch=thirdPartyId,a%20b,c%2Cd\nx,1,2\n").attributes == ("a b", "c,d")


def test_crlf_lines_and_empty_lines_are_tolerated() -> None:
    result = parsed(b"batch=thirdPartyId,a\r\ncrm-1,x\r\n\r\n\ncrm-2,y\r\n")
    assert rows(result) == [("crm-1", "x"), ("crm-2", "y")]
    assert result.batch_size == 2


def test_raw_carriage_return_inside_a_value_is_kept() -> None:
    assert rows(parsed(b"batch=thirdPartyId,a\ncrm-1,x\ry\n")) == [("crm-1", "x\ry")]


def test_rows_wider_than_the_header_fail_and_are_not_kept() -> None:
    result = parsed(b"batch=thirdPartyId,a\ncrm-1,x\ncrm-2,y,z\ncrm-3,w\n")
    assert rows(result) == [("crm-1", "x"), ("crm-3", "w")]
    assert (result.batch_size, result.failed) == (3, 1)


def test_short_rows_have_empty_cells() -> None:
    assert rows(parsed(b"batch=thirdPartyId,a,b\ncrm-1,x\n")) == [("crm-1", "x", None)]


@pytest.mark.parametrize("bad_id", [b"", b"a%2Bb", b"a/b", b"a%2Fb", b"x" * 257, b"%C3%A9" * 257])
def test_forbidden_ids_fail_the_row(bad_id: bytes) -> None:
    result = parsed(b"batch=thirdPartyId,a\ncrm-1,x\n" + bad_id + b",y\n")
    assert rows(result) == [("crm-1", "x")]
    assert result.failed == 1


def test_id_of_256_characters_and_plus_as_space_are_allowed() -> None:
    long_id = "é" * 256
    body = f"batch=thirdPartyId,a\n{long_id},x\nab+c,y\n".encode()
    assert [row[0] for row in rows(parsed(body))] == [long_id, "ab c"]


def test_only_commas_row_fails_but_empty_line_is_ignored() -> None:
    result = parsed(b"batch=thirdPartyId,a\ncrm-1,x\n,\n\n")
    assert (result.batch_size, result.failed) == (2, 1)


def test_too_large_body_is_rejected() -> None:
    body = b"batch=thirdPartyId,a\n" + b"x" * MAX_BODY_BYTES
    assert "too large" in rejected(body)


def test_more_than_500000_rows_is_rejected_and_exactly_500000_is_not() -> None:
    header = b"batch=thirdPartyId,a\n"
    assert parsed(header + b"x,1\n" * MAX_ROWS).batch_size == MAX_ROWS
    assert "too large" in rejected(header + b"x,1\n" * (MAX_ROWS + 1))


# -- property: any text, percent-encoded as documented, round-trips exactly --------------------

values = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12
)  # non-empty: an empty cell reads as "no value"


def naive(body: bytes) -> list[list[str]]:
    text = body.decode().split("&", 1)[0].removeprefix("batch=")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return [[unquote_plus(field) for field in line.split(",")] for line in lines if line]


@settings(max_examples=150, deadline=None)
@given(
    table=st.lists(st.tuples(values, values), min_size=1, max_size=20),
    raw_safe=st.booleans(),
)
def test_encoded_values_round_trip(table: list[tuple[str, str]], raw_safe: bool) -> None:
    # raw_safe: keep non-ASCII letters raw, as the uploader's default mode does
    def encode(value: str) -> str:
        if not raw_safe:
            return quote(value, safe="")
        return "".join(ch if ord(ch) > 127 else quote(ch, safe="") for ch in value)

    ids = [f"id-{n}" for n in range(len(table))]
    lines = ["thirdPartyId,a,b"] + [
        f"{pid},{encode(a)},{encode(b)}" for pid, (a, b) in zip(ids, table, strict=True)
    ]
    body = ("batch=" + "\n".join(lines)).encode()
    got = rows(parsed(body))
    assert got == [(pid, a, b) for pid, (a, b) in zip(ids, table, strict=True)]
    assert [list(row) for row in got] == naive(body)[1:]


def test_decode_series_keeps_nulls() -> None:
    series = pl.Series("a", ["%41", None, "b%C3%A9"])
    assert decode_series(series).to_list() == ["A", None, "bé"]
