"""Counts in messages: ``1 file``, ``2 files`` ("1 files" reads as a bug)."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, or ``nouns`` (default ``noun + "s"``) when it is not 1."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"
