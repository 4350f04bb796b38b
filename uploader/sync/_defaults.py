"""A sync's defaults and reasons, importable without polars (the CLI's options read them)."""

from __future__ import annotations

__all__ = ["DEFAULT_REFRESH_AFTER_DAYS", "REASONS"]

#: Target drops a profile after 14 days without activity by default: refresh a day before
DEFAULT_REFRESH_AFTER_DAYS = 13
#: why a row of tonight's input is sent, or not (``unchanged``), in the order they are decided
REASONS = ("new", "changed", "refresh", "unchanged")
