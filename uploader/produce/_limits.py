"""Target's limits on one batch, and the uploader's defaults under them (dependency-free:
the CLI's option defaults read them without importing the producer)."""

from __future__ import annotations

__all__ = ["DEFAULT_BATCH_BYTES", "DEFAULT_BATCH_ROWS", "MAX_BATCH_BYTES", "MAX_BATCH_ROWS"]

MAX_BATCH_ROWS = 500_000  # Target: at most 500,000 rows per call
MAX_BATCH_BYTES = 50_000_000  # Target: the body must be under 50 MB
DEFAULT_BATCH_ROWS = MAX_BATCH_ROWS
DEFAULT_BATCH_BYTES = 49_000_000  # a margin under the hard limit
