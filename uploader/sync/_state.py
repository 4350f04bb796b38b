"""The sync state: what was last sent and landed, per id, in a directory beside the ledger.

::

    DIR/manifest.json            which generation is current, and how it was built
    DIR/gen-<N>/part-<PP>.parquet  one file per partition: key, id, fp, sent
    DIR/state.lock               held by the one sync using the state

A partition holds the rows whose key's top bits are its number (``partition_of``), so a sync
joins tonight's rows with the state one partition at a time: memory follows the largest
partition, not the state. Each row is ``key`` (u64, ``id_keys``), ``id`` (the raw id, to list
the ids missing from tonight's input), ``fp`` (u64, ``row_fingerprints``) and ``sent`` (unix
seconds of the last send that landed).

A commit never changes a file: ``StateWriter`` writes every partition of generation N+1 into
``gen-<N+1>/`` (temporary names, fsync'd, renamed), then replaces ``manifest.json`` with one
naming N+1 (``manifest.json.tmp``, fsync, rename, fsync of the directory). The rename is the
switch: a crash before it leaves generation N current and complete, so the rerun selects the
same rows; after it, the older generations are removed. A writer's leftovers from a crash are
removed by the next writer.

``manifest.json`` also keeps the settings that decide the bodies (columns, renames, encoding,
id type, client code: a dict the caller gives), so a sync can refuse a state built with
others, and its schema version: a newer one is refused, not misread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from uploader import _flock
from uploader._writable import fsync_dir, fsync_file, make_dirs, replace_durably
from uploader.errors import LedgerError, RecordError
from uploader.sync._keys import (
    DEFAULT_PARTITIONS,
    check_partitions,
    partition_label,
    partition_of,
)

__all__ = [
    "MANIFEST_NAME",
    "STATE_COLUMNS",
    "STATE_LOCK_NAME",
    "STATE_SCHEMA",
    "StateManifest",
    "StateStore",
    "StateWriter",
    "error_reason",
    "lock_state",
]

STATE_SCHEMA = 1
MANIFEST_NAME = "manifest.json"
STATE_LOCK_NAME = "state.lock"
STATE_COLUMNS: Mapping[str, pl.DataType] = {
    "key": pl.UInt64(),
    "id": pl.String(),
    "fp": pl.UInt64(),
    "sent": pl.Int64(),
}
_GEN_PREFIX = "gen-"


@dataclass(frozen=True, slots=True, kw_only=True)
class StateManifest:
    """What ``manifest.json`` says. Generation 0 is the empty state (no manifest yet)."""

    generation: int = 0
    partitions: int = DEFAULT_PARTITIONS
    settings: Mapping[str, Any] = field(default_factory=dict)
    created: str | None = None  # when generation 1 was committed (ISO 8601, UTC)
    committed: str | None = None  # when this generation was

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "schema": STATE_SCHEMA,
                "generation": self.generation,
                "partitions": self.partitions,
                "settings": dict(self.settings),
                "created": self.created,
                "committed": self.committed,
            },
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
        )


@contextlib.contextmanager
def lock_state(directory: Path) -> Iterator[None]:
    """``with lock_state(directory):`` the state's lock for the block: two syncs on one state
    would each commit what only they sent, and the second commit would undo the first.
    Re-entrant within a process, released by the kernel if the holder dies."""
    path = directory.resolve() / STATE_LOCK_NAME
    try:
        _flock.acquire(path)
    except _flock.LockBusy as busy:
        raise LedgerError(
            f"another sync ({busy.holder}) is using this state ({directory}); wait for it to "
            "end, or stop it, then run again"
        ) from None
    except OSError as exc:
        raise LedgerError(
            f"sync state {directory}: cannot create its lock {path} ({exc.strerror})"
        ) from exc
    try:
        yield
    finally:
        _flock.release(path)


class StateStore:
    """One state directory, at the generation its manifest names when opened.

    ``StateStore.open(directory)`` reads the manifest (a missing directory or manifest is the
    empty state); ``read_partition`` reads that generation; ``writer()`` makes the next one.
    Open it under ``lock_state``: another process's commit would otherwise remove the
    generation being read.
    """

    def __init__(self, directory: Path, manifest: StateManifest) -> None:
        self.directory = directory
        self.manifest = manifest

    @classmethod
    def open(cls, directory: Path, *, partitions: int = DEFAULT_PARTITIONS) -> StateStore:
        """The state in ``directory``; ``partitions`` is the count of a new (empty) state, an
        existing one keeps the count it was built with."""
        check_partitions(partitions)
        path = directory / MANIFEST_NAME
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(directory, StateManifest(partitions=partitions))
        except OSError as exc:
            raise LedgerError(
                f"sync state {directory}: cannot read {path} ({exc.strerror})"
            ) from exc
        return cls(directory, _parse_manifest(raw, path))

    @property
    def generation(self) -> int:
        return self.manifest.generation

    @property
    def partitions(self) -> int:
        return self.manifest.partitions

    @property
    def settings(self) -> Mapping[str, Any]:
        return self.manifest.settings

    def read_partition(self, partition: int) -> pl.DataFrame:
        """Partition ``partition`` of the current generation (``STATE_COLUMNS``); empty for
        the empty state."""
        self._check_partition(partition)
        if self.generation == 0:
            return pl.DataFrame(schema=dict(STATE_COLUMNS))
        path = _partition_path(self.directory, self.generation, partition, self.partitions)
        try:
            frame = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise LedgerError(
                f"sync state {self.directory}: cannot read {path} ({error_reason(exc)}); "
                "the state is damaged: sync again with a new state to rebuild it"
            ) from None
        if dict(frame.schema) != dict(STATE_COLUMNS):
            raise LedgerError(
                f"sync state {self.directory}: {path} does not hold key, id, fp, sent"
            )
        return frame

    def writer(self) -> StateWriter:
        """A writer of the next generation, with this state's partition count."""
        return StateWriter(self)

    def _check_partition(self, partition: int) -> None:
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition {partition} out of 0..{self.partitions - 1}")


class StateWriter:
    """Writes generation N+1 partition by partition; ``commit`` makes it current.

    Every partition must be written before ``commit`` (an unchanged partition too: its
    ``sent`` times move with the refreshes). A writer that is never committed leaves the
    current generation as it was; its files are removed by the next writer or commit.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.generation = store.generation + 1
        self._dir = _generation_dir(store.directory, self.generation)
        self._written: set[int] = set()
        try:
            _remove_generations(store.directory, keep=store.generation)  # a crash's leftovers
            make_dirs(self._dir)
        except OSError as exc:
            raise self._cannot_write(self._dir, exc) from exc

    def write_partition(self, partition: int, frame: pl.DataFrame) -> None:
        """Write ``frame`` (``STATE_COLUMNS``, each key in ``partition``) as the partition."""
        store = self.store
        store._check_partition(partition)
        if dict(frame.schema) != dict(STATE_COLUMNS):
            raise ValueError(f"a state partition holds {dict(STATE_COLUMNS)}, not {frame.schema}")
        keys = frame.get_column("key").to_numpy()
        if (partition_of(keys, store.partitions) != partition).any():
            raise ValueError(f"keys of another partition written to partition {partition}")
        path = _partition_path(store.directory, self.generation, partition, store.partitions)
        tmp = path.with_name(path.name + ".tmp")
        try:
            frame.write_parquet(tmp)
            fsync_file(tmp)
            tmp.rename(path)
        except OSError as exc:
            raise self._cannot_write(path, exc) from exc
        self._written.add(partition)

    def commit(self, settings: Mapping[str, Any]) -> StateManifest:
        """Make this generation current, built with ``settings``; returns its manifest."""
        store = self.store
        unwritten = sorted(set(range(store.partitions)) - self._written)
        if unwritten:
            raise ValueError(f"state partitions {unwritten} not written before the commit")
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        manifest = StateManifest(
            generation=self.generation,
            partitions=store.partitions,
            settings=dict(settings),
            created=store.manifest.created or now,
            committed=now,
        )
        path = store.directory / MANIFEST_NAME
        try:
            fsync_dir(self._dir)  # the partitions' names are durable before the switch
            replace_durably(path, manifest.to_json())  # the switch: manifest.json.tmp renamed
        except OSError as exc:
            raise self._cannot_write(path, exc) from exc
        store.manifest = manifest
        with contextlib.suppress(OSError):  # the new state stands; the old is only space
            _remove_generations(store.directory, keep=self.generation)
        return manifest

    def _cannot_write(self, path: Path, exc: OSError) -> RecordError:
        return RecordError(
            f"sync state {self.store.directory}: cannot write {path} ({exc.strerror}); "
            "the state stays as it was"
        )


def _parse_manifest(raw: bytes, path: Path) -> StateManifest:
    try:
        data = orjson.loads(raw)
        schema = data["schema"]
        if not isinstance(schema, int):
            raise TypeError("schema")
        if schema > STATE_SCHEMA:
            raise LedgerError(
                f"sync state {path.parent} was written by a newer uploader (state schema "
                f"{schema}; this one reads {STATE_SCHEMA}): upgrade the uploader"
            )
        manifest = StateManifest(
            generation=data["generation"],
            partitions=data["partitions"],
            settings=data["settings"],
            created=data["created"],
            committed=data["committed"],
        )
        if not (
            schema == STATE_SCHEMA
            and isinstance(manifest.generation, int)
            and manifest.generation >= 1
            and isinstance(manifest.partitions, int)
            and isinstance(manifest.settings, dict)
        ):
            raise TypeError("fields")
        check_partitions(manifest.partitions)
    except LedgerError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise LedgerError(
            f"sync state {path.parent}: {path.name} is not a state manifest (damaged?); "
            "move the directory away to start a new state"
        ) from None
    return manifest


def _generation_dir(directory: Path, generation: int) -> Path:
    return directory / f"{_GEN_PREFIX}{generation}"


def _partition_path(directory: Path, generation: int, partition: int, partitions: int) -> Path:
    name = f"part-{partition_label(partition, partitions)}.parquet"
    return _generation_dir(directory, generation) / name


def _remove_generations(directory: Path, *, keep: int) -> None:
    """Remove every ``gen-*`` directory but generation ``keep``'s."""
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.name.startswith(_GEN_PREFIX) and entry != _generation_dir(directory, keep):
            shutil.rmtree(entry)


def error_reason(exc: Exception) -> str:
    """What went wrong, in one short line (an OS error's own words, or the first line)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
