"""The Target encoder: what it escapes, and that bodies round-trip under the body model."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.errors import ConfigError
from uploader.produce._encode import (
    DEFAULT_ENCODE,
    ENCODE_MODES,
    SAFE_CHARS,
    SEPARATORS,
    Encoder,
    encode_text,
)

AWKWARD = ["%", "&", "+", "=", ",", '"', "\r", "\n", "a b", "100%", "x=1&y=2", "é", "東京", ""]


@pytest.mark.parametrize("mode", ["strict", "compact"])
def test_reserved_characters_never_appear_raw(mode: str) -> None:
    """% & + = , " CR LF are always escaped, in both modes."""
    encoded = encode_text(AWKWARD, mode)  # type: ignore[arg-type]
    for raw, enc in zip(AWKWARD, encoded, strict=True):
        assert not set(enc) & set('&+=,"\r\n'), (raw, enc)
        assert all(
            enc[i + 1 : i + 3].upper() == enc[i + 1 : i + 3] for i, c in enumerate(enc) if c == "%"
        )


def test_compact_mode_keeps_non_ascii_and_safe_ascii_raw() -> None:
    safe = "".join(sorted(SAFE_CHARS))
    assert encode_text([safe, "Zürich 東京"], "compact") == [safe, "Zürich%20東京"]


def test_compact_mode_always_escapes_line_separators_and_bidi_controls() -> None:
    assert set(SEPARATORS) >= {"\u0085", "\u2028", "\u2029", "\ufeff", "\u061c", "\u200e"}
    assert set(SEPARATORS) >= {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
    chars = sorted(SEPARATORS)
    assert encode_text(chars, "compact") == [
        "".join(f"%{b:02X}" for b in c.encode()) for c in chars
    ]
    assert encode_text(["a\u2028b\u200fé"], "compact") == ["a%E2%80%A8b%E2%80%8Fé"]


def test_strict_is_the_default_and_escapes_non_ascii_as_utf8_bytes() -> None:
    assert DEFAULT_ENCODE == "strict"
    assert encode_text(["Zürich", "東", "🎉", "\u2028"]) == [
        "Z%C3%BCrich",
        "%E6%9D%B1",
        "%F0%9F%8E%89",
        "%E2%80%A8",
    ]


@pytest.mark.parametrize("make", [Encoder, lambda mode: encode_text(["x"], mode)])
def test_the_old_default_mode_name_is_refused_with_the_new_names(make: Any) -> None:
    with pytest.raises(ConfigError, match=r"renamed: `compact` \(the old default\) or `strict`"):
        make("default")
    with pytest.raises(ConfigError, match="expected one of strict, compact"):
        make("weird")


def test_what_the_encoder_learnt_does_not_change_the_bytes() -> None:
    """Characters met in earlier chunks go into the static table; a new encoder, one that
    learnt them, and one past its table limit all write the same escapes."""
    values = ["Zürich", None, "東京 ✓", "", "plain"] + [chr(0x4E00 + i) for i in range(600)]
    frame = pl.DataFrame({"v": values, "w": list(reversed(values))})
    fresh = Encoder().encode(frame, ["v", "w"])
    learnt = Encoder()
    learnt.encode(frame.head(5), ["v", "w"])  # learns ü 東 京 ✓
    assert learnt.encode(frame, ["v", "w"]).equals(fresh)
    assert fresh.get_column("v").to_list() == [
        None if v is None else quote(v, safe="-._~!*()") for v in values
    ]


def test_every_unsafe_ascii_character_is_escaped_in_uppercase_hex() -> None:
    unsafe = [c for c in map(chr, range(128)) if c not in SAFE_CHARS]
    assert encode_text(unsafe) == [f"%{ord(c):02X}" for c in unsafe]
    assert set(string.ascii_letters + string.digits) <= SAFE_CHARS


def test_null_stays_null_and_empty_stays_empty() -> None:
    frame = pl.DataFrame({"v": ["", None, "a"]}, schema={"v": pl.String})
    for mode in ENCODE_MODES:
        out = Encoder(mode).encode(frame, ["v"]).to_series().to_list()
        assert out == ["", None, "a"]


text_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(text_values, min_size=1, max_size=30),
    mode=st.sampled_from(["strict", "compact"]),
)
def test_any_unicode_value_round_trips_through_the_body_model(
    decode_body: Callable[[bytes], list[list[str]]], values: list[str], mode: str
) -> None:
    """One column of arbitrary text, encoded and joined like a body, decodes to itself."""
    encoded = encode_text(values, mode)  # type: ignore[arg-type]
    body = (
        "batch=thirdPartyId,v\n" + "".join(f"id{i},{e}\n" for i, e in enumerate(encoded))
    ).encode()
    decoded = decode_body(body)
    assert decoded[0] == ["thirdPartyId", "v"]
    assert [row[1] for row in decoded[1:]] == values


cells = st.one_of(st.none(), text_values)  # None: an empty cell


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(
        st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=12), min_size=1, max_size=3
    )
)
def test_strict_bodies_are_ascii_and_both_modes_decode_back_exactly(
    chunks: list[list[tuple[str | None, str | None, str | None]]],
) -> None:
    """Any text (every category but surrogates), empty cells anywhere, several chunks through
    one encoder (as the producer does): strict values are pure ASCII, compact values never
    hold a raw separator, and both percent-decode (UTF-8) to the exact input."""
    columns = ["a", "b", "c"]
    encoders = {mode: Encoder(mode) for mode in ENCODE_MODES}
    for rows in chunks:
        frame = pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String), orient="row")
        for mode, encoder in encoders.items():
            out = encoder.encode(frame, columns)
            for column in columns:
                for raw, enc in zip(frame[column], out[column], strict=True):
                    assert (enc is None) == (raw is None)
                    if enc is None:
                        continue
                    assert unquote(enc, errors="strict") == raw
                    if mode == "strict":
                        assert enc.isascii() and set(enc) <= SAFE_CHARS | {"%"}
                    else:
                        assert not set(enc) & SEPARATORS
