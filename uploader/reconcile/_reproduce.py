"""Re-make a run's batches from its ledger alone: the sources and settings it recorded.

Batches are deterministic (same files + same batch-shaping settings ⇒ same seq, rows, bytes
and hash), so the exact bodies a run sent can be had again without storing them. ``report
--failed-rows`` uses them to find the source rows of batches that did not land, ``verify`` to
know the last value sent for each id. The files must be unchanged (path, size, mtime, as the
ledger's fingerprint says) and every re-made batch the ledger knows must have the same hash.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from uploader.errors import LedgerError
from uploader.ledger._ledger import LedgerState
from uploader.ledger._records import UNVERSIONED_SCHEMA
from uploader.produce._batcher import BODY_PREFIX, BatchLimits
from uploader.produce._encode import DEFAULT_ENCODE, EncodeMode, check_encode_mode
from uploader.produce._model import Batch
from uploader.produce._producer import ADDED_SETTINGS, InputSpec, Producer
from uploader.produce._source import changed_sources
from uploader.send._bisect import leaves

__all__ = ["body_frame", "producer_from_ledger", "reproduce", "spec_from_ledger"]


def spec_from_ledger(state: LedgerState, path: Path) -> InputSpec:
    """The ``InputSpec`` of the run recorded in ``state`` (the ledger at ``path``)."""
    fingerprint = state.first_run.fingerprint
    if fingerprint.sources is None or fingerprint.settings is None:
        raise LedgerError(f"ledger {path}: no input fingerprint (sources and settings)")
    # the batch-shaping settings, as ``InputSpec.shaping_settings`` wrote them
    settings: dict[str, Any] = {**ADDED_SETTINGS, **fingerprint.settings}
    columns = settings.get("columns")
    return InputSpec(
        sources=tuple(source.path for source in fingerprint.sources),
        id_column=settings.get("id_column"),
        id_type=settings.get("id_type"),
        columns=tuple(columns) if columns is not None else None,
        rename=dict(settings.get("rename") or {}),
        limits=BatchLimits(rows=settings["batch_rows"], bytes=settings["batch_bytes"]),
        encode=_encode_mode(state, settings, path),
        duplicates=settings.get("duplicates", "merge"),
        separator=settings["separator"],
        input_encoding=settings["input_encoding"],
        shard=settings["shard"],
    )


def _encode_mode(state: LedgerState, settings: dict[str, Any], path: Path) -> EncodeMode:
    mode = str(settings.get("encode", DEFAULT_ENCODE))
    if state.schema == UNVERSIONED_SCHEMA and mode == "default":
        return "compact"  # what schema 1 called "default" (raw UTF-8) is now "compact"
    return check_encode_mode(mode, f"ledger {path}: encode")


def producer_from_ledger(state: LedgerState, path: Path) -> Producer:
    """A producer over the recorded sources; refuses files that changed since the run."""
    producer = Producer(spec_from_ledger(state, path))
    try:
        now = producer.fingerprint()
    except Exception as exc:  # a source that vanished: say which run needs it
        raise LedgerError(f"ledger {path}: cannot re-read the run's input ({exc})") from exc
    changed = changed_sources(state.first_run.fingerprint.sources or (), now.sources or ())
    if changed is not None:
        raise LedgerError(
            f"ledger {path}: {changed}: the rows it sent cannot be recovered from the files"
        )
    return producer


def reproduce(state: LedgerState, path: Path, producer: Producer | None = None) -> Iterator[Batch]:
    """Every batch of the run as it was last sent (a split batch as its parts), in order,
    checked against the ledger's hashes."""
    producer = producer or producer_from_ledger(state, path)
    for made in producer:
        for batch, recorded in leaves(made, state):  # a split batch: the parts it was sent as
            if recorded is not None and recorded.content_hash != batch.content_hash:
                raise LedgerError(
                    f"ledger {path}: batch {batch.seq} re-made from the input differs from the "
                    "one sent (another uploader or polars version, or settings?); cannot "
                    "recover its rows"
                )
            yield batch


def body_frame(batch: Batch) -> pl.DataFrame:
    """A body's lines as a frame of *encoded* text: the encoded header names as columns,
    empty cells as ``""``. Nothing is decoded: encoded text has no raw ``,`` ``"`` CR LF,
    so the body is plain unquoted CSV."""
    text = batch.body[len(BODY_PREFIX) :]
    return pl.read_csv(
        io.BytesIO(text),
        has_header=True,
        infer_schema=False,
        quote_char=None,
        empty_string_is_null=False,
    )
