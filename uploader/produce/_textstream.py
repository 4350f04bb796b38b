"""An input file as a stream of UTF-8 bytes, whatever it was written as.

gzip is decompressed while read, another encoding is transcoded to UTF-8 read by read (an
incremental decoder keeps a character split between two reads for the next one), and a
leading byte-order mark is dropped. Everything after this (the header reader, the block
cutter, polars) then sees one format: UTF-8, no BOM. Memory stays one read.
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Protocol

from uploader.errors import ConfigError, InputError
from uploader.produce._objectstore import ObjectPath, open_object

__all__ = ["INPUT_ENCODING", "UTF8", "ByteReader", "check_encoding", "is_gzip", "open_utf8"]

UTF8 = "utf-8"
#: the ``settings`` of a message that names the encoding parameter as ``$input_encoding``
INPUT_ENCODING = ("input_encoding",)
# Read as they are (polars checks UTF-8 itself, ~10x faster than Python's decoder); only the
# BOM is dropped.
_PASSTHROUGH = {"utf-8", "utf-8-sig"}
_BOM = codecs.BOM_UTF8


class ByteReader(Protocol):
    def read(self, size: int, /) -> bytes: ...


def check_encoding(name: str, where: str, *, settings: tuple[str, ...] = ()) -> str:
    """The codec's canonical name (``windows-1252`` → ``cp1252``: one name per codec in the
    ledger); ``ConfigError`` for a name Python knows no text encoding by, naming ``where``
    (with ``$setting`` for each of ``settings`` it names)."""
    try:
        canonical = codecs.lookup(name).name
        "a".encode(canonical)  # refuses bytes-to-bytes codecs (base64, zlib …)
    except LookupError:
        raise ConfigError(
            f"{where} {name!r}: unknown text encoding (e.g. utf-8, cp1252, latin-1, utf-16)",
            settings=settings,
        ) from None
    return canonical


def is_gzip(path: Path | ObjectPath) -> bool:
    return path.suffix.lower() == ".gz"


@contextmanager
def open_utf8(path: Path | ObjectPath, encoding: str = UTF8) -> Iterator[ByteReader]:
    """``path`` (a file, or an object streamed from its store) opened for reading as UTF-8
    bytes without a BOM (see the module docstring); read errors are ``InputError``s naming
    the file."""
    with ExitStack() as stack:
        try:
            raw: ByteReader
            if isinstance(path, ObjectPath):
                raw = stack.enter_context(closing(open_object(path)))
                if is_gzip(path):  # typeshed wants seek(), which GzipFile calls only if asked to
                    raw = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))  # type: ignore[call-overload]
            else:
                raw = stack.enter_context(
                    gzip.open(path, "rb") if is_gzip(path) else path.open("rb")  # noqa: SIM115
                )
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
        if check_encoding(encoding, "$input_encoding", settings=INPUT_ENCODING) not in _PASSTHROUGH:
            raw = _Transcoder(raw, encoding, path)
        yield _Guarded(_NoBom(raw), path)


class _Transcoder:
    """UTF-8 bytes of a stream in another encoding. Undecodable bytes are an error, never
    replaced: values pass through verbatim or not at all."""

    def __init__(self, raw: ByteReader, encoding: str, path: Path | ObjectPath) -> None:
        self._raw, self._encoding, self._path = raw, encoding, path
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self._offset = 0  # raw bytes decoded so far, for the error message
        self._done = False

    def read(self, size: int, /) -> bytes:
        while not self._done:
            data = self._raw.read(max(size, 1))
            self._done = not data
            try:
                text = self._decoder.decode(data, final=self._done)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{self._path}: not valid {self._encoding} (byte 0x{exc.object[exc.start]:02x} "
                    f"near byte {self._offset + exc.start:,}): is $input_encoding the file's "
                    "encoding?",
                    settings=INPUT_ENCODING,
                ) from exc
            self._offset += len(data)
            if text:  # a read may end inside a character: nothing to give yet, read on
                return text.encode()
        return b""


class _NoBom:
    """Drops a leading UTF-8 byte-order mark (Excel's "CSV UTF-8" starts with one): it is
    not part of the first column's name, and before a quote it would make the quote
    literal."""

    def __init__(self, raw: ByteReader) -> None:
        self._raw = raw
        self._started = False

    def read(self, size: int, /) -> bytes:
        if self._started:
            return self._raw.read(size)
        self._started = True
        head = b""
        while len(head) < len(_BOM) and (more := self._raw.read(max(size, 1))):
            head += more  # reads may be shorter than the mark
        if head.startswith(_BOM):
            head = head[len(_BOM) :]
        # b"" means the end: a file that is only a mark ends here, another reads on
        return head or self._raw.read(size)


class _Guarded:
    """Read errors of the file or its decompression as one-line ``InputError``s."""

    def __init__(self, raw: ByteReader, path: Path | ObjectPath) -> None:
        self._raw, self._path = raw, path

    def read(self, size: int, /) -> bytes:
        try:
            return self._raw.read(size)
        except gzip.BadGzipFile as exc:
            raise InputError(f"{self._path}: not a valid gzip file ({exc})") from exc
        except (EOFError, zlib.error) as exc:
            raise InputError(f"{self._path}: damaged or truncated gzip data ({exc})") from exc
        except OSError as exc:
            raise InputError(f"{self._path}: cannot read ({exc.strerror})") from exc
