"""The producer: read → validate → resolve duplicates → encode → batch. No network.

``Producer`` is a plain iterator of ``Batch``es (CPU-bound; polars releases the GIL, so the
engine runs it in a thread). Rejected rows go to a ``RejectsWriter``; counts to ``stats``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from uploader._writable import make_dirs
from uploader.errors import ConfigError, InputError, spell
from uploader.ledger._records import InputFingerprint
from uploader.produce._batcher import KEY_COL, Batcher, BatchLimits, max_line_bytes
from uploader.produce._columns import ColumnMap, IdType, resolve_columns
from uploader.produce._dedupe import DuplicateMode, duplicated_hashes, fold_duplicates, id_hash
from uploader.produce._encode import (
    DEFAULT_ENCODE,
    EncodeMode,
    Encoder,
    check_encode_mode,
    encode_text,
)
from uploader.produce._model import Batch, ProduceStats
from uploader.produce._modes import DUPLICATE_MODES, ID_TYPES, check_choice
from uploader.produce._objectstore import ObjectPath
from uploader.produce._rejects import RejectsWriter
from uploader.produce._shard import Shard, parse_shard, shard_text
from uploader.produce._source import (
    DEFAULT_CHUNK_ROWS,
    ROW_COL,
    SRC_COL,
    SourceFile,
    check_frames,
    check_separator,
    expand_sources,
    read_frames,
)
from uploader.produce._textstream import INPUT_ENCODING, UTF8, check_encoding
from uploader.produce._validate import (
    LEN_COL,
    MAX_PROFILE_BYTES,
    REASON_COL,
    TOO_BIG,
    id_reason,
    line_bytes,
    oversized,
)
from uploader.sync._keys import Hashes as Keys
from uploader.sync._keys import id_keys, shard_of

__all__ = [
    "ADDED_SETTINGS",
    "DryRunPlan",
    "InputSpec",
    "Producer",
    "clear_dry_run_dir",
    "write_dry_run",
]

#: Shaping settings recorded since a ledger format already in use, with the value a ledger
#: without them read its input with: resuming such a run with these is the same input.
ADDED_SETTINGS: dict[str, object] = {"separator": None, "input_encoding": UTF8, "shard": None}

#: a reject reason (spelt as the caller names the setting: kept so in the rejects file)
TOO_LONG_FOR_BATCH = "row alone is larger than $batch_bytes once encoded"
MERGED_TOO_BIG = "merged duplicate rows exceed 64 KB of profile data"
ID_COL = "__uploader_id"  # the raw (unencoded) id, for validation, duplicates and the rejects file
DUP_COL = "__uploader_dup"  # the id's hash is among the duplicated ones
KEEP_COL = "__uploader_keep"  # the row is not a blank line
SHARD_COL = "__uploader_shard"  # the row is in the run's shard


def _not_blank(source: SourceFile) -> pl.Expr:
    """False for a blank CSV line (every cell empty: nothing, or separators only), which is
    skipped: not read, not rejected (a trailing blank line is common in exports, and it is no
    profile). polars reads it as a row of nulls (an unquoted empty cell is null; a quoted
    ``""`` is a value someone wrote); row numbers still count it, so the rows after it keep
    their numbers in the file. A Parquet row is always kept (an all-null row is a row someone
    wrote; it is rejected for its empty id)."""
    if source.kind != "csv":
        return pl.lit(True)
    return ~pl.all_horizontal(pl.col(c).is_null() for c in source.columns)


@dataclass(frozen=True, slots=True, kw_only=True)
class InputSpec:
    """What to read and how to shape it into batches (everything that decides the bodies)."""

    sources: tuple[str | Path | SourceFile, ...]
    id_column: str | None = None
    id_type: IdType | None = None
    columns: tuple[str, ...] | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    limits: BatchLimits = field(default_factory=BatchLimits)
    encode: EncodeMode = DEFAULT_ENCODE
    strict: bool = False
    duplicates: DuplicateMode = "merge"
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    #: a file with a header but no data rows is an error unless this is set
    allow_empty: bool = False
    #: CSV field separator; ``None``: tab for ``.tsv`` files, else comma
    separator: str | None = None
    #: the CSV files' text encoding, transcoded to UTF-8 while read
    input_encoding: str = UTF8
    #: (I, N): batch only the rows of shard I of N (``uploader.sync._keys.shard_of`` of the
    #: id's key), counting the others in ``stats.rows_other_shards``; ``None``: every row
    shard: Shard | None = None

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError("no input file given")
        if self.chunk_rows < 1:
            raise ConfigError("chunk_rows must be positive")
        check_encode_mode(self.encode, "encode")
        check_choice(self.duplicates, DUPLICATE_MODES, "duplicates")
        if self.id_type is not None:
            check_choice(self.id_type, ID_TYPES, "id_type")
        if self.separator is not None:
            check_separator(self.separator, "separator")
        check_encoding(self.input_encoding, "$input_encoding", settings=INPUT_ENCODING)
        if self.shard is not None:
            shard = parse_shard(self.shard)
            # 0/1 is every row: the same run as no shard (its ledger, state and name too)
            object.__setattr__(self, "shard", None if shard == (0, 1) else shard)

    def shaping_settings(self) -> dict[str, object]:
        """The settings that decide batch boundaries and bodies (compared on --resume)."""
        return {
            "id_column": self.id_column,
            "id_type": self.id_type,
            "columns": list(self.columns) if self.columns is not None else None,
            "rename": dict(sorted(self.rename.items())),
            "batch_rows": self.limits.rows,
            "batch_bytes": self.limits.bytes,
            "encode": self.encode,
            "duplicates": self.duplicates,
            # how the files are read decides the values
            "separator": self.separator,
            "input_encoding": check_encoding(
                self.input_encoding, "$input_encoding", settings=INPUT_ENCODING
            ),
            # which rows are batched at all
            "shard": None if self.shard is None else shard_text(self.shard),
        }


class Producer:
    """Iterates the ``Batch``es of ``spec``; call ``check()`` first to fail fast."""

    def __init__(
        self,
        spec: InputSpec,
        rejects: RejectsWriter | None = None,
        *,
        only_keys: Keys | None = None,
        with_keys: bool = False,
    ) -> None:
        """``only_keys``: batch only the rows whose sync key (``id_keys`` of the raw id) is
        in this sorted u64 array, counting the others in ``stats.rows_unselected`` (a sync's
        selection; ``None``: every row). ``with_keys``: give each batch the keys of its rows
        (``Batch.keys``). Plain uploads set neither and compute no key."""
        self.spec = spec
        self.rejects = rejects
        self.only_keys = only_keys
        self.with_keys = with_keys
        self.stats = ProduceStats()
        self._sources: list[SourceFile] | None = None
        self._with_blank_lines: set[Path | ObjectPath] = (
            set()
        )  # CSV files the check pass found them in
        self._columns: ColumnMap | None = None
        #: the rows the batches will hold before rejects and folding (a shard's, when
        #: sharded: progress and ETA count what goes), known once the check pass has run
        self.total_rows: int | None = None
        self._input_rows = 0  # every data row of the input (all shards), from the check pass

    # -- set-up -------------------------------------------------------------------------
    def check(self) -> ColumnMap:
        """Open every source and resolve the columns; raises on whole-input problems."""
        if self._columns is not None:
            return self._columns
        sources = expand_sources(self.spec.sources, self.spec.separator, self.spec.input_encoding)
        column_map: ColumnMap | None = None
        for source in sources:
            found = resolve_columns(
                source.columns,
                where=str(source.path),
                id_column=self.spec.id_column,
                id_type=self.spec.id_type,
                columns=self.spec.columns,
                rename=self.spec.rename,
                strict=self.spec.strict,
            )
            if column_map is not None and found.source_columns != column_map.source_columns:
                raise InputError(
                    f"{source.path}: columns differ from {sources[0].path} "
                    f"({', '.join(found.source_columns)} vs {', '.join(column_map.source_columns)})"
                )
            column_map = column_map or found
        assert column_map is not None  # expand_sources never returns an empty list
        self._sources, self._columns = sources, column_map
        self.stats.warnings.extend(column_map.warnings)
        return column_map

    @property
    def sources(self) -> list[SourceFile]:
        self.check()
        assert self._sources is not None
        return self._sources

    def header(self) -> bytes:
        """The encoded header line of every batch (without ``batch=``)."""
        return ",".join(encode_text(self.check().target_names, self.spec.encode)).encode()

    def fingerprint(self) -> InputFingerprint:
        """The identity of this input: files (path, size, mtime, digest) + shaping settings."""
        return InputFingerprint(
            sources=tuple(source.fingerprint() for source in self.sources),
            settings=self.spec.shaping_settings(),
        )

    # -- the pass -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[Batch]:
        names = self.check().target_names
        batcher = Batcher(self.header(), self.spec.limits, with_keys=self.with_keys)
        for rows in self._final_rows():
            yield from self._batch(rows, batcher, names)
        last = batcher.flush()
        if last is not None:
            yield self._count(last)

    def _final_rows(self) -> Iterator[pl.DataFrame]:
        """The rows as they will be batched, a frame at a time: mapped, validated, duplicates
        folded (those come last), encoded, too long ones rejected, then a sync's selection
        kept (``only_keys``). Each frame holds ``__src``, ``__row``, ``__uploader_id`` (the
        raw id), the encoded columns under their Target names, ``__len`` (line bytes), and
        ``__uploader_key`` when keys were asked for. Counts rows read, rejected, merged and
        unselected in ``stats``; rejected rows go to ``rejects`` (if any)."""
        columns = self.check()
        names = columns.target_names
        longest = max_line_bytes(self.header(), self.spec.limits)
        dups = self._check_pass(columns)
        held: list[pl.DataFrame] = []
        in_shard = 0
        for chunk in self._encoded_chunks(columns, Encoder(self.spec.encode), dups):
            self.stats.rows_read += chunk.height
            in_shard += chunk.height
            good = self._drop(chunk)
            if dups is not None:
                is_dup = good.get_column(DUP_COL)
                if is_dup.any():
                    held.append(good.filter(is_dup))
                    good = good.filter(~is_dup)
            yield self._finish(self._drop_oversized(good, names, TOO_BIG), longest)
        if self.spec.shard is not None:
            # the rows the read pass left out: every row the check pass counted, less ours
            self.stats.rows_other_shards = self._input_rows - in_shard
            self.stats.rows_read += self.stats.rows_other_shards
        if held:
            yield self._finish(self._fold(held, columns), longest)

    def _finish(self, rows: pl.DataFrame, longest: int) -> pl.DataFrame:
        """Reject the rows too long for any batch; add the keys and select, for a sync."""
        if (rows.get_column(LEN_COL) > longest).any():
            rows = self._drop(
                rows.with_columns(
                    pl.when(pl.col(LEN_COL) > longest)
                    .then(pl.lit(spell(TOO_LONG_FOR_BATCH, "batch_bytes")))
                    .alias(REASON_COL)
                )
            )
        if self.only_keys is None and not self.with_keys:
            return rows  # a plain upload: no key is computed
        keys = id_keys(rows.get_column(ID_COL))
        rows = rows.with_columns(pl.Series(KEY_COL, keys, dtype=pl.UInt64))
        if self.only_keys is None:
            return rows
        chosen = _members(keys, self.only_keys)
        self.stats.rows_unselected += rows.height - int(chosen.sum())
        return rows.filter(pl.Series(chosen))

    def _check_pass(self, columns: ColumnMap) -> pl.Series | None:
        """Read the whole input once before anything is produced.

        Whole-input problems (bad UTF-8, ragged rows) surface here, not after batches were
        sent. The same pass collects the id hashes for duplicate detection (``None``: no
        duplicates; over every shard's ids, which is exact: all rows of an id share a shard)
        and counts the rows (for progress and ETA: a shard's own, when sharded).
        """
        want_dups = self.spec.duplicates != "off"
        in_shard = _in_shard(columns.id_source, self.spec.shard)
        hashes: list[np.ndarray] = []
        total = ours = 0
        for source in self.sources:
            rows = 0
            exprs = [id_hash(columns.id_source), _not_blank(source).alias(KEEP_COL)]
            if in_shard is not None:
                exprs.append(in_shard.alias(SHARD_COL))
            for chunk in check_frames(source, exprs, self.spec.chunk_rows):
                if not chunk.get_column(KEEP_COL).all():
                    self._with_blank_lines.add(source.path)
                    chunk = chunk.filter(KEEP_COL)
                rows += chunk.height
                if in_shard is not None:
                    ours += int(chunk.get_column(SHARD_COL).sum())
                if want_dups:
                    hashes.append(chunk.to_series(0).to_numpy())
            if not rows and not self.spec.allow_empty:
                raise InputError(
                    f"{source.path}: no data rows (a header only); an empty export is "
                    "usually a failed one (allow it with $allow_empty)",
                    settings=("allow_empty",),
                )
            total += rows
        self._input_rows = total
        self.total_rows = total if in_shard is None else ours
        if not want_dups:
            return None
        found = duplicated_hashes(hashes)
        return found if found.len() else None

    def _encoded_chunks(
        self, columns: ColumnMap, encoder: Encoder, dups: pl.Series | None
    ) -> Iterator[pl.DataFrame]:
        """Chunks of ``__src, __row, __id`` (raw id), ``[__dup]``, the encoded columns under
        their Target names (id first), ``__reason`` (id problems) and ``__len``.

        The encoding is part of each chunk's plan, made in the reader's worker thread while
        the previous chunk is batched, with the characters the encoder knows by then; strict
        mode then escapes the non-ASCII characters it meets for the first time (rare after
        the first chunks) and measures those rows again.
        """
        names = columns.target_names
        renamed = [pl.col(s).alias(t) for s, t in zip(columns.source_columns, names, strict=True)]
        keys = [pl.col(SRC_COL), pl.col(ROW_COL), pl.col(names[0]).alias(ID_COL)]
        if dups is not None:
            keys.append(id_hash(names[0]).is_in(dups.implode()).alias(DUP_COL))
        checks = [id_reason(ID_COL), line_bytes(names)]

        in_shard = _in_shard(names[0], self.spec.shard)

        def plan(frame: pl.LazyFrame, keep: pl.Expr | None) -> pl.LazyFrame:
            if keep is not None:
                frame = frame.filter(keep)
            frame = frame.select(SRC_COL, ROW_COL, *renamed)
            if in_shard is not None:  # before encoding: other shards' rows cost only a hash
                frame = frame.filter(in_shard)
            return frame.select(*keys, *encoder.static_exprs(names)).with_columns(checks)

        for index, source in enumerate(self.sources):
            # filtering copies every column: only for a file the check pass saw blank lines in
            blank = source.path in self._with_blank_lines
            source_plan = functools.partial(plan, keep=_not_blank(source) if blank else None)
            for chunk in read_frames(source, index, source_plan, self.spec.chunk_rows):
                finished = encoder.finish(chunk, names)
                if finished is not chunk:  # more characters escaped: longer lines
                    finished = finished.with_columns(line_bytes(names))
                yield finished

    def _fold(self, held: list[pl.DataFrame], columns: ColumnMap) -> pl.DataFrame:
        rows = pl.concat(held)
        attributes = [name for _, name in columns.attributes]
        folded = fold_duplicates(rows, ID_COL, attributes, self.spec.duplicates)
        self.stats.rows_merged += rows.height - folded.height
        names = columns.target_names
        return self._drop_oversized(folded.with_columns(line_bytes(names)), names, MERGED_TOO_BIG)

    def _drop_oversized(
        self, rows: pl.DataFrame, names: Sequence[str], reason: str
    ) -> pl.DataFrame:
        """Reject rows over 64 KB of profile data; the exact count runs only when a row's
        cheap upper bound (line bytes + name bytes) is over the limit."""
        names_bytes = sum(len(n.encode()) for n in names)
        if not (rows.get_column(LEN_COL) + names_bytes > MAX_PROFILE_BYTES).any():
            return rows
        return self._drop(rows.with_columns(oversized(names, reason)))

    def _batch(self, rows: pl.DataFrame, batcher: Batcher, names: Sequence[str]) -> Iterator[Batch]:
        if rows.height == 0:
            return
        body_columns = rows.select(SRC_COL, ROW_COL, *names, *([KEY_COL] if self.with_keys else []))
        for batch in batcher.feed(body_columns, rows.get_column(LEN_COL).to_numpy()):
            yield self._count(batch)

    def _count(self, batch: Batch) -> Batch:
        self.stats.batches += 1
        self.stats.rows_batched += batch.rows
        self.stats.bytes_batched += batch.nbytes
        return batch

    def _drop(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Rows with a ``__reason`` go to the rejects file; the others are returned."""
        mask = rows.get_column(REASON_COL).is_not_null()
        if not mask.any():
            return rows
        bad = rows.filter(mask)
        self.stats.rows_rejected += bad.height
        for reason, count in bad.group_by(REASON_COL).len().iter_rows():
            self.stats.rejects_by_reason[reason] = (
                self.stats.rejects_by_reason.get(reason, 0) + count
            )
        if self.rejects is not None:
            paths = {index: str(source.path) for index, source in enumerate(self.sources)}
            self.rejects.write(
                bad.select(
                    pl.col(SRC_COL).replace_strict(paths, return_dtype=pl.String).alias("source"),
                    pl.col(ROW_COL).alias("row"),
                    pl.col(ID_COL).alias("id"),
                    pl.col(REASON_COL).alias("reason"),
                )
            )
        return rows.filter(~mask)


def _in_shard(id_column: str, shard: Shard | None) -> pl.Expr | None:
    """True for the rows of ``shard`` (by the raw id in ``id_column``); ``None``: no shard.
    A row without an id (rejected for it) belongs to shard 0, so each shard's run does not
    reject it again: across the shards it is counted once."""
    if shard is None:
        return None
    index, count = shard

    def member(ids: pl.Series) -> pl.Series:
        text = ids.cast(pl.String)
        missing = (text.is_null() | (text == "")).to_numpy()
        shards = np.zeros(len(text), dtype=np.int64)
        shards[~missing] = shard_of(id_keys(text.filter(pl.Series(~missing))), count)
        return pl.Series(shards == index)

    return pl.col(id_column).map_batches(member, return_dtype=pl.Boolean, is_elementwise=True)


def _members(keys: Keys, sorted_keys: Keys) -> npt.NDArray[np.bool_]:
    """Which of ``keys`` are in ``sorted_keys`` (sorted): a binary search each, no set."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=np.bool_)
    at = np.searchsorted(sorted_keys, keys).clip(max=len(sorted_keys) - 1)
    return np.asarray(sorted_keys[at] == keys)


@dataclass(frozen=True, slots=True)
class DryRunPlan:
    """What a dry run produced: the bodies on disk and the counts."""

    out_dir: Path
    stats: ProduceStats
    files: tuple[Path, ...]
    batch_rows: tuple[int, ...] = ()  # each batch's rows, in order (the days a budget needs)


#: what a dry run writes into its --out directory
_DRY_RUN_FILE = re.compile(r"batch-[0-9]{6,}\.txt|rejects\.csv")


def clear_dry_run_dir(out_dir: Path) -> None:
    """Make ``out_dir`` ready for a dry run: it must be missing, empty, or hold only what an
    earlier dry run wrote (bodies and rejects file), which is removed — stale bodies beside
    the new ones would read as part of this run. Anything else there: ``ConfigError``."""
    try:
        entries = list(out_dir.iterdir()) if out_dir.is_dir() else []
        others = sorted(
            entry.name
            for entry in entries
            if not (_DRY_RUN_FILE.fullmatch(entry.name) and entry.is_file())
        )
        if others:
            raise ConfigError(
                f"$out {out_dir} is not empty ({', '.join(others[:3])}"
                f"{', …' if len(others) > 3 else ''}): choose an empty or new directory "
                "(the files of an earlier dry run are replaced)",
                settings=("out",),
            )
        for entry in entries:
            entry.unlink()
    except OSError as exc:
        raise ConfigError(f"{out_dir}: cannot clear ({exc.strerror})") from None


def write_dry_run(producer: Producer, out_dir: Path) -> DryRunPlan:
    """Write every batch body to ``out_dir/batch-000001.txt`` …; nothing is sent."""
    files: list[Path] = []
    batch_rows: list[int] = []
    path = out_dir
    try:  # nothing is sent on a dry run: an unwritable --out is a usage error (exit 2)
        make_dirs(out_dir)
        for batch in producer:
            path = out_dir / f"batch-{batch.seq:06d}.txt"
            path.write_bytes(batch.body)
            files.append(path)
            batch_rows.append(batch.rows)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None
    return DryRunPlan(out_dir, producer.stats, tuple(files), tuple(batch_rows))
