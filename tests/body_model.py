"""An independent, deliberately naive reading of a batch body by the model in design.md.

Tests decode what the producer wrote with this and compare with the input; it shares no code
with the encoder (per-value urllib, not polars) so that a bug cannot cancel itself out.
"""

from __future__ import annotations

from urllib.parse import unquote_plus


def decode_body(body: bytes) -> list[list[str]]:
    """Header + rows of a body: cut at the first raw '&', strip 'batch=', split lines on raw
    LF (CRLF tolerated) and fields on raw ',', percent-decode each field with '+' as space."""
    text = body.decode("utf-8").split("&", 1)[0]
    assert text.startswith("batch="), text[:20]
    lines = [line.removesuffix("\r") for line in text[len("batch=") :].split("\n")]
    return [
        [unquote_plus(field, errors="strict") for field in line.split(",")]
        for line in lines
        if line
    ]
