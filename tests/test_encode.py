"""The Target encoder: what it escapes, and that bodies round-trip under the body model."""

from __future__ import annotations

import string

import polars as pl
import pytest
from body_model import decode_body
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.encode import SAFE_CHARS, Encoder, encode_text

AWKWARD = ["%", "&", "+", "=", ",", '"', "\r", "\n", "a b", "100%", "x=1&y=2", "é", "東京", ""]


@pytest.mark.parametrize("mode", ["default", "strict"])
def test_reserved_characters_never_appear_raw(mode: str) -> None:
    """% & + = , " CR LF are always escaped, in both modes."""
    encoded = encode_text(AWKWARD, mode)  # type: ignore[arg-type]
    for raw, enc in zip(AWKWARD, encoded, strict=True):
        assert not set(enc) & set('&+=,"\r\n'), (raw, enc)
        assert all(
            enc[i + 1 : i + 3].upper() == enc[i + 1 : i + 3] for i, c in enumerate(enc) if c == "%"
        )


def test_default_mode_keeps_non_ascii_and_safe_ascii_raw() -> None:
    safe = "".join(sorted(SAFE_CHARS))
    assert encode_text([safe, "Zürich 東京"]) == [safe, "Z%C3%BCrich%20東京".replace("%C3%BC", "ü")]


def test_strict_mode_escapes_non_ascii_as_utf8_bytes() -> None:
    assert encode_text(["Zürich", "東", "🎉"], "strict") == [
        "Z%C3%BCrich",
        "%E6%9D%B1",
        "%F0%9F%8E%89",
    ]


def test_every_unsafe_ascii_character_is_escaped_in_uppercase_hex() -> None:
    unsafe = [c for c in map(chr, range(128)) if c not in SAFE_CHARS]
    assert encode_text(unsafe) == [f"%{ord(c):02X}" for c in unsafe]
    assert set(string.ascii_letters + string.digits) <= SAFE_CHARS


def test_null_stays_null_and_empty_stays_empty() -> None:
    frame = pl.DataFrame({"v": ["", None, "a"]}, schema={"v": pl.String})
    out = frame.select(Encoder().exprs(frame, ["v"])).to_series().to_list()
    assert out == ["", None, "a"]


text_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(text_values, min_size=1, max_size=30),
    mode=st.sampled_from(["default", "strict"]),
)
def test_any_unicode_value_round_trips_through_the_body_model(values: list[str], mode: str) -> None:
    """One column of arbitrary text, encoded and joined like a body, decodes to itself."""
    encoded = encode_text(values, mode)  # type: ignore[arg-type]
    body = (
        "batch=thirdPartyId,v\n" + "".join(f"id{i},{e}\n" for i, e in enumerate(encoded))
    ).encode()
    decoded = decode_body(body)
    assert decoded[0] == ["thirdPartyId", "v"]
    assert [row[1] for row in decoded[1:]] == values
