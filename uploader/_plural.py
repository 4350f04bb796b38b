"""Counts and durations in messages: ``1 file``, ``2 files`` ("1 files" reads as a bug),
``2 min 3 s``."""

from __future__ import annotations

import math

__all__ = ["duration", "plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, or ``nouns`` (default ``noun + "s"``) when it is not 1."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def duration(seconds: float) -> str:
    """``46 s``, ``2 min 3 s``, ``1 h 05 min``, rounded up: a lower bound stays one."""
    whole = math.ceil(seconds - 1e-9)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600:,} h {whole // 60 % 60:02d} min"
