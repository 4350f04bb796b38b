"""Read CSV and Parquet sources in bounded chunks, as text.

CSV values are passed through verbatim (``007`` stays ``007``); Parquet typed columns are
rendered canonically as text (see ``render_expr``). Every chunk carries the source index and
the 1-based data row number of each row, for error reports and the rejects file.

CSV is cut into ~8 MB blocks on record boundaries, each parsed by polars' in-memory reader;
Parquet is read in row slices, each its own query. polars' streaming readers were faster per
row but held 270-360 MB themselves and grew with the file (benchmarks/README.md).

The reading stages (``csv_blocks``, ``csv_frames``, ``parquet_slices``, ``one_ahead``) are
public so that the benchmarks measure the very code the producer runs (``benchmarks/floor.py``,
``benchmarks/what_if.py``).
"""

from __future__ import annotations

import contextvars
import csv
import glob
import io
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

import numpy as np
import polars as pl
import xxhash

from uploader.errors import ConfigError, InputError, first_line
from uploader.ledger._records import SourceRecord
from uploader.produce._objectstore import (
    SCHEMES,
    ObjectPath,
    expand_objects,
    is_object_url,
    storage_options,
)
from uploader.produce._textstream import INPUT_ENCODING, UTF8, ByteReader, is_gzip, open_utf8

__all__ = [
    "HASH_ALGORITHM",
    "INTERNAL_PREFIX",
    "ROW_COL",
    "SRC_COL",
    "SourceFile",
    "changed_sources",
    "check_frames",
    "check_separator",
    "csv_blocks",
    "csv_frames",
    "expand_sources",
    "file_digest",
    "frame_file",
    "one_ahead",
    "parquet_slices",
    "read_frames",
    "scan_parquet",
]

# Internal column names start with this; a source column that does too is refused.
INTERNAL_PREFIX = "__uploader_"
ROW_COL = "__uploader_row"  # 1-based data row number within its file (header excluded)
SRC_COL = "__uploader_src"  # index of the file in the run's source list
DEFAULT_CHUNK_ROWS = 100_000
# The Parquet check pass reads only the id column (~30 bytes a row): larger slices cost less.
CHECK_CHUNK_ROWS = 500_000
_DIGEST_BLOCK = 8 << 20
#: the hash of file digests and batch bodies (``content_hash``), named in each run record:
#: a ledger hashed with another one cannot be resumed (its hashes would never match)
HASH_ALGORITHM = "xxh3_128"

# raised with settings=INPUT_ENCODING: the CLI names the flag, the library the parameter
_NOT_UTF8 = (
    "not valid UTF-8 (re-save the file as UTF-8, or name its encoding: $input_encoding cp1252)"
)
_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
# The check pass reads the input twice, and --resume, report and verify read it again later:
# a pipe cannot be read again, and a spooled copy would be gone when they need it.
_NO_STDIN = (
    "-: reading from stdin is not supported (the input is read twice, and $resume, report "
    "and verify read it again): save it to a file first (a .csv.gz is read as it is)"
)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One input file (its absolute path: a ledger is read from other directories too, e.g.
    by an Airflow task, or an object in a store, by URL) and the names of its columns, in
    file order. A DataFrame in memory is one too (``frame_file``): read as a Parquet file
    is, its name in place of a path."""

    path: Path | ObjectPath
    kind: str  # "csv" | "parquet" | "frame"
    columns: tuple[str, ...]
    # how a CSV file is read (a gzip file is decompressed while read, see textstream)
    separator: str = ","
    encoding: str = UTF8
    eol: bytes = b"\n"
    frame: pl.DataFrame | None = field(default=None, repr=False, compare=False)

    def fingerprint(self) -> SourceRecord:
        """What identifies this file's content for --resume: path, size, mtime, and a content
        digest (so a file that was only touched is still the same file). A frame has no
        mtime: its digest alone decides. An object: its URL, size, ETag and last-modified
        time, as found when the run expanded its inputs (every read asks for that ETag)."""
        if self.frame is not None:
            size, digest = _frame_digest(self)
            return SourceRecord(path=str(self.path), size=size, mtime_ns=None, digest=digest)
        if isinstance(self.path, ObjectPath):
            found = self.path
            return SourceRecord(
                path=found.url,
                size=found.size,
                etag=found.etag,
                last_modified=found.last_modified,
            )
        stat = self.path.stat()
        return SourceRecord(
            path=str(self.path),
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            digest=file_digest(self.path),
        )


def frame_file(frame: pl.DataFrame, name: str) -> SourceFile:
    """``frame`` as a source named ``name`` (in messages, the rejects file and the ledger);
    its columns must have a text form, as a Parquet file's."""
    for column, dtype in frame.schema.items():
        _check_renderable(Path(name), column, dtype)
    return SourceFile(path=Path(name), kind="frame", columns=tuple(frame.columns), frame=frame)


def _frame_digest(source: SourceFile) -> tuple[int, str]:
    """(bytes, XXH3-128) of the frame's text as it is read (CSV of the rendered columns, in
    slices): the same values give the same digest, whatever object holds them."""
    digest, size = xxhash.xxh3_128(), 0
    for _, rows in parquet_slices(source, DEFAULT_CHUNK_ROWS):
        text = rows.write_csv().encode()
        digest.update(text)
        size += len(text)
    return size, digest.hexdigest()


def file_digest(path: Path) -> str:
    """XXH3-128 (``HASH_ALGORITHM``) of the file's bytes (~0.1 s per 200 MB from the page
    cache)."""
    digest = xxhash.xxh3_128()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_DIGEST_BLOCK):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    return digest.hexdigest()


def changed_sources(before: Sequence[SourceRecord], now: Sequence[SourceRecord]) -> str | None:
    """``None`` when the files recorded ``before`` are the files ``now`` (same paths; same
    size and mtime, or same content digest; objects: same size and ETag), else what
    changed, naming the file."""
    then_paths = [item.path for item in before]
    now_paths = [item.path for item in now]
    if then_paths != now_paths:
        return (
            f"the input files are not the same ({', '.join(then_paths)} then; "
            f"{', '.join(now_paths)} now)"
        )
    for then, current in zip(before, now, strict=True):
        if then.etag is not None or current.etag is not None:  # an object: its ETag decides
            if then.etag == current.etag and then.size == current.size:
                continue
            return f"{current.path} changed since that run (ETag {then.etag} → {current.etag})"
        # a frame has no modification time: its digest decides
        if (
            then.size == current.size
            and current.mtime_ns is not None
            and then.mtime_ns == current.mtime_ns
        ):
            continue
        if then.digest and then.digest == current.digest:
            continue  # touched (or copied back) but the same bytes
        if then.size != current.size:
            what = f"size {then.size} → {current.size} bytes"
        elif then.digest:
            what = "same size, different content"
        else:
            what = "modification time changed; this ledger has no content digest to compare"
        return f"{current.path} changed since that run ({what})"
    return None


def check_separator(separator: str, where: str) -> str:
    """``separator`` as one character: ``tab`` and ``\\t`` spell a tab. polars splits
    fields on one byte, and quotes and line ends delimit records."""
    char = {"tab": "\t", "\\t": "\t"}.get(separator.lower(), separator)
    if len(char) != 1 or not char.isascii() or char in '"\r\n':
        raise ConfigError(
            f"{where} {separator!r}: expected one ASCII character other than a quote or a "
            "line end (e.g. ';', or 'tab')"
        )
    return char


def expand_sources(
    specs: Sequence[str | Path | SourceFile], separator: str | None = None, encoding: str = UTF8
) -> list[SourceFile]:
    """Resolve paths and globs to files, in a stable order, and read each header (CSV: with
    ``separator``, default tab for ``.tsv`` files and comma for others, and ``encoding``)."""
    paths: list[Path | ObjectPath | SourceFile] = []  # a SourceFile (a frame) is taken as it is
    for spec in specs:
        if isinstance(spec, SourceFile):
            paths.append(spec)
            continue
        text = str(spec)
        if text == "-":
            raise InputError(_NO_STDIN, settings=("resume",))
        if is_object_url(text):
            paths.extend(expand_objects(text))
        elif "://" in text:
            scheme = text.partition("://")[0]
            raise InputError(
                f"{text}: {scheme}:// is not supported (a local path, or "
                f"{', '.join(f'{s}://' for s in SCHEMES)})"
            )
        elif glob.has_magic(text):
            matched = sorted(Path(p) for p in glob.glob(text, recursive=True))
            if not matched:
                raise InputError(f"{text}: no file matches this pattern")
            paths.extend(matched)
        else:
            paths.append(Path(text))
    if not paths:
        raise InputError("no input file given")
    return [
        path if isinstance(path, SourceFile) else _open(path, separator, encoding) for path in paths
    ]


def _suffix(path: Path | ObjectPath) -> str:
    """The type suffix (``.csv`` of ``a.csv.gz`` too)."""
    name = PurePosixPath(path.name)
    return (name.with_suffix("") if is_gzip(path) else name).suffix.lower()


def _kind(path: Path | ObjectPath) -> str:
    suffix = _suffix(path)
    if suffix in _PARQUET_SUFFIXES and not is_gzip(path):
        return "parquet"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    name = PurePosixPath(path.name)
    raise InputError(
        f"{path}: unknown file type {''.join(name.suffixes[-2:]) or name.name!r} (expected "
        ".csv, .tsv or .txt, gzipped or not, .parquet or .pq)"
    )


def _open(path: Path | ObjectPath, separator: str | None, encoding: str) -> SourceFile:
    if isinstance(path, Path):
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        path = path.resolve()
    kind = _kind(path)
    if kind == "parquet":
        return SourceFile(path=path, kind=kind, columns=_parquet_columns(path))
    separator = separator or ("\t" if _suffix(path) == ".tsv" else ",")
    eol = _line_end(path, encoding)
    columns = _csv_header(path, separator, encoding, eol)
    return SourceFile(path, kind, columns, separator=separator, encoding=encoding, eol=eol)


def _csv_header(
    path: Path | ObjectPath, separator: str, encoding: str, eol: bytes
) -> tuple[str, ...]:
    """The raw header: the bytes the block cutter repeats in every block (so both agree on
    it), parsed with the csv module so duplicate names are seen as they are (polars would
    silently rename a repeated ``a`` to ``a_duplicated_0``)."""
    with open_utf8(path, encoding) as handle:
        line, _ = _read_header(handle, eol)
    try:
        text = line.decode()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: {_NOT_UTF8}", settings=INPUT_ENCODING) from exc
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=separator), None)
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV header ({exc})") from exc
    if not header:
        raise InputError(f"{path}: empty file (no header line)")
    return tuple(header)


def _parquet_columns(path: Path | ObjectPath) -> tuple[str, ...]:
    try:
        schema = (
            pl.read_parquet_schema(path)
            if isinstance(path, Path)
            else _scan_object(path).collect_schema()
        )
    except Exception as exc:  # polars raises several types for a file that isn't Parquet
        raise InputError(f"{path}: not a readable Parquet file ({first_line(exc)})") from exc
    for name, dtype in schema.items():
        _check_renderable(path, name, dtype)
    return tuple(schema)


def _check_renderable(path: Path | ObjectPath, name: str, dtype: pl.DataType) -> None:
    if dtype.is_nested() or dtype in (pl.Binary, pl.Object):
        raise InputError(
            f"{path}: column {name!r} has type {dtype}, which has no text form for Target "
            "(flatten it or cast it to a string first)"
        )


def render_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """The canonical text of a typed Parquet column.

    Integers and decimals as written; floats in shortest round-trip form (``0.1``,
    ``1e+20``); booleans ``true``/``false``; dates ``YYYY-MM-DD``; datetimes ISO 8601 with a
    ``T``, in the column's precision, with the offset when the column has a time zone
    (``2026-01-02T03:04:05.120000-05:00``); times ``HH:MM:SS.ffffff`` (nine digits when the
    value has nanoseconds: exact either way); durations ISO 8601 (``PT1H2M3.5S``, ``-P1D``);
    null stays null (an empty cell, which Target ignores).
    """
    col = pl.col(name)
    if dtype == pl.String:
        return col
    if isinstance(dtype, pl.Datetime):
        return col.cast(pl.String).str.replace(" ", "T", literal=True)
    if dtype == pl.Time:
        # polars casts a time to HH:MM:SS, dropping the fraction; its times are nanoseconds
        return (
            pl.when(col.dt.nanosecond() % 1000 != 0)
            .then(col.dt.to_string("%H:%M:%S%.9f"))
            .otherwise(col.dt.to_string("%H:%M:%S%.6f"))
        )
    if isinstance(dtype, pl.Duration):
        return col.dt.to_string("iso")  # polars cannot cast a duration to a string
    if dtype == pl.Boolean:
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
    return col.cast(pl.String)


def scan_parquet(source: SourceFile) -> pl.LazyFrame:
    """A lazy frame of a Parquet (or frame) ``source`` with every column rendered as text."""
    frame = _scan(source)
    schema = frame.collect_schema()
    return frame.select(render_expr(name, dtype).alias(name) for name, dtype in schema.items())


def _numbered(frame: pl.DataFrame, index: int, first_row: int) -> pl.DataFrame:
    return frame.with_row_index(ROW_COL, offset=first_row).with_columns(
        pl.lit(index, dtype=pl.UInt32).alias(SRC_COL)
    )


def read_frames(
    source: SourceFile,
    index: int,
    plan: Callable[[pl.LazyFrame], pl.LazyFrame],
    chunk_rows: int,
) -> Iterator[pl.DataFrame]:
    """Run ``plan`` over ``source`` chunk by chunk (rows numbered, ``SRC_COL`` and
    ``ROW_COL`` added first); read errors become one-line ``InputError``s naming the file
    (and, for CSV, the row near which it happened). The next chunk is made in a worker
    thread while the caller uses this one.
    """
    chunks = csv_frames(source) if source.kind == "csv" else parquet_slices(source, chunk_rows)
    yield from one_ahead(
        plan(_numbered(frame, index, first_row).lazy()).collect() for first_row, frame in chunks
    )


def check_frames(
    source: SourceFile, exprs: Sequence[pl.Expr], chunk_rows: int
) -> Iterator[pl.DataFrame]:
    """``exprs`` evaluated over ``source`` chunk by chunk, for the check pass: every CSV
    value is parsed (a ragged row or bad UTF-8 anywhere raises here), Parquet reads only the
    columns ``exprs`` need (its types were checked when it was opened)."""
    if source.kind != "csv":
        chunks = parquet_slices(source, max(chunk_rows, CHECK_CHUNK_ROWS), exprs)
    else:
        chunks = ((row, frame.select(exprs)) for row, frame in csv_frames(source))
    yield from one_ahead(frame for _, frame in chunks)


def _scan(source: SourceFile) -> pl.LazyFrame:
    """The typed rows of a Parquet file, object or of a frame."""
    if source.frame is not None:
        return source.frame.lazy()
    if isinstance(source.path, ObjectPath):
        return _scan_object(source.path)
    return pl.scan_parquet(source.path)


def _scan_object(path: ObjectPath) -> pl.LazyFrame:
    """A Parquet object, read by polars' own cloud reader (ranged GETs of the row groups a
    slice needs)."""
    return pl.scan_parquet(path.url, storage_options=storage_options())


def parquet_slices(
    source: SourceFile, chunk_rows: int, exprs: Sequence[pl.Expr] | None = None
) -> Iterator[tuple[int, pl.DataFrame]]:
    """(first row number, rows) of a Parquet or frame ``source`` in slices of
    ``chunk_rows``, each its own small query (optionally just ``exprs``).

    The reader decodes only the row groups a slice touches, so memory stays about one row
    group; polars' streaming engine reads ahead (~300 MB held for a 2M-row file).
    """
    try:
        frame = scan_parquet(source) if exprs is None else scan_parquet(source).select(exprs)
        total = int(_scan(source).select(pl.len()).collect().item())
        for offset in range(0, total, chunk_rows):
            yield offset + 1, frame.slice(offset, chunk_rows).collect()
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"{source.path}: {_describe_read_error(exc)}", settings=INPUT_ENCODING
        ) from exc


def csv_frames(source: SourceFile) -> Iterator[tuple[int, pl.DataFrame]]:
    """(first row number, rows) of a CSV file, one record-aligned block at a time, every
    value parsed as text: memory stays a few blocks whatever the file size (polars'
    streaming CSV reader holds several hundred MB, more for larger files)."""
    first_row = 1
    eols_before = 0  # to tell the line of a bad record
    # cut the next block while parsing this one
    for blocks_before, block in enumerate(one_ahead(csv_blocks(source))):
        try:
            frame = pl.read_csv(
                block,
                has_header=True,
                new_columns=list(source.columns),
                infer_schema=False,  # every value stays the exact text of the file
                encoding="utf8",  # textstream transcoded any other encoding
                raise_if_empty=False,
                separator=source.separator,
                eol_char=source.eol.decode(),
            )
        except pl.exceptions.PolarsError as exc:
            where = f"{source.path}, row {first_row:,} or after"
            found = _bad_record(block, source, str(exc))
            if found is not None:
                header_lines, line, index = found
                line += eols_before - header_lines * blocks_before  # blocks repeat the header
                where = f"{source.path}, line {line:,} (row {first_row + index:,})"
            raise InputError(
                f"{where}: {_describe_read_error(exc)}", settings=INPUT_ENCODING
            ) from exc
        yield first_row, frame
        first_row += frame.height
        eols_before += block.count(source.eol)


def _bad_record(block: bytes, source: SourceFile, error: str) -> tuple[int, int, int] | None:
    """(lines of the header, line within ``block``, index among its rows) of the record that
    polars' ``error`` is about: the first with more fields than the header, or the one
    holding the first byte that is not UTF-8; ``None`` for another error. Python's csv
    module is slow but tells where each record starts; it only ever reads the one block
    polars refused."""
    if "more fields than defined" in error:
        text, ragged = block.decode(errors="replace"), True
    elif "invalid utf-8" in error.lower():
        try:
            block.decode()
            return None
        except UnicodeDecodeError as exc:  # read up to the bad byte: its record is the last
            text, ragged = block[: exc.start].decode(), False
    else:
        return None
    eol = source.eol.decode()
    reader = csv.reader(_lines(text, eol), delimiter=source.separator)
    try:
        next(reader, None)
        header_lines = start = before = reader.line_num
        index = -1
        for index, record in enumerate(reader):
            if ragged and len(record) > len(source.columns):
                return header_lines, start + 1, index
            before, start = start, reader.line_num
    except csv.Error:  # e.g. a field over csv's size limit: the block's first row is said
        return None
    if ragged:
        return None
    if not text.endswith(eol):  # the bad byte is inside the last record read
        return header_lines, before + 1, index
    return header_lines, start + 1, index + 1  # it starts a record


def _lines(text: str, eol: str) -> Iterator[str]:
    """The lines of ``text``, each with its line end (csv's ``line_num`` then counts the
    lines polars splits records on)."""
    start = 0
    while (end := text.find(eol, start)) >= 0:
        yield text[start : end + 1]
        start = end + 1
    if start < len(text):
        yield text[start:]


_END = object()
T = TypeVar("T")


def one_ahead(items: Iterator[T]) -> Iterator[T]:
    """Make the next item in a worker thread while the caller uses this one (polars
    releases the GIL): e.g. parsing and encoding overlap with batching, for one item of
    memory more.

    Left unfinished (the caller stopped early), it does not wait for the worker: this
    generator may then be closed by the garbage collector, at any moment and in any thread —
    even inside ``threading``'s own bookkeeping of a thread being started, where joining
    another thread deadlocks (seen as a hung test run). The worker ends after its item.

    Each item is made in a copy of the caller's context: the texts it makes (reject reasons)
    name settings as the caller does (``uploader.errors.SPELLING``)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uploader-read")
    finished = False
    try:
        pending = pool.submit(contextvars.copy_context().run, _next_or_end, items)
        while (item := pending.result()) is not _END:
            pending = pool.submit(contextvars.copy_context().run, _next_or_end, items)
            yield item  # type: ignore[misc]
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=True)


def _next_or_end(items: Iterator[T]) -> T | object:
    return next(items, _END)


CSV_BLOCK_BYTES = 8 << 20


def _line_end(path: Path | ObjectPath, encoding: str = UTF8) -> bytes:
    """``b"\r"`` for a file whose records end in a bare CR (old Mac exports: the first line
    end outside quotes is a CR not followed by LF), else ``b"\n"`` (LF and CRLF). polars
    splits records on one byte; read as LF, a CR-only file is one header line and no rows."""
    quoted = False
    with open_utf8(path, encoding) as handle:
        data = handle.read(1 << 20)
    for index in range(len(data)):
        byte = data[index : index + 1]
        if byte == b'"':
            quoted = not quoted
        elif not quoted and byte == b"\n":
            return b"\n"
        elif not quoted and byte == b"\r":
            return b"\n" if data[index + 1 : index + 2] == b"\n" else b"\r"
    return b"\n"


def csv_blocks(source: SourceFile) -> Iterator[bytes]:
    """The CSV file as blocks of about ``CSV_BLOCK_BYTES``, each the header line followed by
    whole records: a block ends on a line end (``eol``) preceded by an even number of quote
    characters (RFC 4180 doubles quotes inside quoted fields, so the parity is exact).
    Repeating the header makes each block parse exactly as the whole file would (same width,
    same names)."""
    eol = source.eol
    with open_utf8(source.path, source.encoding) as handle:
        header, carry = _read_header(handle, eol)
        while True:
            data = handle.read(CSV_BLOCK_BYTES)
            if not data:
                if carry.strip():
                    yield header + carry
                return
            cut = _last_record_end(data, _quotes(carry), eol)
            if cut < 0:  # no record ends in this read: one record longer than a block
                carry += data
                continue
            # One copy per block (header + carried tail + this read up to the cut): fresh
            # 8 MB buffers cost page faults, and three copies cost 10 % of the parse.
            yield b"".join((header, carry, memoryview(data)[: cut + 1]))
            carry = data[cut + 1 :]


def _quotes(data: bytes) -> int:
    """Number of ``"`` bytes (numpy: three times faster than ``bytes.count``)."""
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == _QUOTE))


_QUOTE = ord('"')


def _last_record_end(data: bytes, quotes_before: int, eol: bytes = b"\n") -> int:
    """Index in ``data`` of the last line end outside quotes, or -1; ``quotes_before``
    counts the quotes of the record tail that precedes ``data``."""
    quotes = quotes_before + _quotes(data)
    end = len(data)
    while (newline := data.rfind(eol, 0, end)) >= 0:
        quotes -= data.count(b'"', newline, end)
        if quotes % 2 == 0:
            return newline
        end = newline
    return -1


def _read_header(handle: ByteReader, eol: bytes = b"\n") -> tuple[bytes, bytes]:
    """Consume the header record: (the header line with its line end, what was read past
    it)."""
    buffer = b""
    while chunk := handle.read(1 << 16):
        buffer += chunk
        quotes, start = 0, 0
        while (newline := buffer.find(eol, start)) >= 0:
            quotes += buffer.count(b'"', start, newline)
            if quotes % 2 == 0:
                return buffer[: newline + 1], buffer[newline + 1 :]
            start = newline + 1
    return buffer + eol, b""


def _describe_read_error(exc: Exception) -> str:
    """One line for polars' read error; raised with ``settings=INPUT_ENCODING`` (it may be
    ``_NOT_UTF8``)."""
    text = first_line(exc)
    if "invalid utf-8" in text.lower():
        return _NOT_UTF8
    if "more fields than defined" in text:
        return "a row has more fields than the header (ragged CSV; quote values containing the separator)"
    return text
