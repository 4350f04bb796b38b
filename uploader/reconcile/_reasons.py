"""Why batches did not land, counted: the top reasons for summaries and reports.

The causes ("Unknown client code", "Cannot connect to host", "CERTIFICATE_VERIFY_FAILED",
Target's own message) live in each batch's ledger record; a summary that shows counts alone
sends the reader to the raw ledger. Every summary, ``--json`` and ``report`` show these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from uploader._plural import plural

__all__ = ["TOP_REASONS", "reason_lines", "top_reasons"]

TOP_REASONS = 5
_MAX_CHARS = 200  # a reason is one line of a summary, not a stack of aiohttp context


def top_reasons(messages: Iterable[str], limit: int = TOP_REASONS) -> dict[str, int]:
    """The ``limit`` most frequent messages with their counts, most frequent first."""
    counts = Counter(_one_line(message) for message in messages)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit])


def reason_lines(reasons: dict[str, int]) -> list[tuple[str, str]]:
    """Labelled rows for a summary table, none when there is no reason: a heading, then
    ``("  3 batches", "Unknown client code: acme")`` per reason."""
    if not reasons:
        return []
    heading = ("why", "batches failed or pending, by reason:")
    return [heading, *((f"  {plural(n, 'batch', 'batches')}", r) for r, n in reasons.items())]


def _one_line(message: str) -> str:
    text = " ".join((message or "no message").split())
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"
