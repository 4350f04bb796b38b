"""Inputs in object stores: ``s3://bucket/key.csv``, ``s3://bucket/prefix/*.parquet``.

An object is found (HEAD, or a listing for a pattern) when the run expands its inputs; its
size, ETag and last-modified time are what ``--resume`` compares (the ETag is the store's
own content identity: a digest of our own would mean reading the object once more). CSV
bytes come from a streamed GET, read by the same bounded block reader as a local file, and
every GET asks for the ETag found (``if_match``): an object replaced during the run is an
error, never a mix of two versions. Parquet is read by polars' own cloud reader
(``storage_options``).

The client is obstore (the ``s3`` extra): its streamed GET read a 161 MB CSV from a loopback
moto server at ~800 MB/s holding 32 MB, where fsspec/s3fs read ~80 MB/s holding 141 MB
(README "Inputs in object stores"). obstore reads ``gs://`` and ``az://`` with the same
calls; only ``s3://`` is tested (against moto). Credentials are obstore's chain (the
``AWS_*`` variables, web identity, ECS and instance roles), ``AWS_ENDPOINT_URL`` names
another endpoint: plain http is allowed only for an ``http://`` endpoint named so.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from uploader.errors import ConfigError, InputError, first_line

if TYPE_CHECKING:
    from obstore.store import ObjectStore

__all__ = ["ObjectPath", "expand_objects", "is_object_url", "open_object", "storage_options"]

#: the URL schemes read from an object store (those obstore's ``from_url`` knows)
SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss")
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
# A missing or unreachable store fails in seconds, not after obstore's 3-minute default.
_RETRY_TIMEOUT = timedelta(seconds=20)
_MAX_RETRIES = 3
_CONNECT_TIMEOUT = timedelta(seconds=5)
# What one streamed GET hands over at a time (the CSV reader asks for 8 MB blocks).
STREAM_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ObjectPath:
    """One object as the run found it: its URL (what messages and the ledger show), size,
    ETag and last-modified time (ISO 8601)."""

    url: str
    size: int
    etag: str | None
    last_modified: str | None

    def __str__(self) -> str:
        return self.url

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def root(self) -> str:
        """``scheme://bucket``."""
        return _split(self.url)[0]

    @property
    def key(self) -> str:
        return _split(self.url)[1]


def is_object_url(text: str) -> bool:
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def _split(url: str) -> tuple[str, str]:
    """(``scheme://bucket``, key) of ``url``; a URL without a bucket or key is refused."""
    scheme, rest = url.split("://", 1)
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise InputError(f"{url}: expected {scheme}://BUCKET/KEY (or a pattern such as *.csv)")
    return f"{scheme}://{bucket}", key


def expand_objects(spec: str) -> list[ObjectPath]:
    """The objects ``spec`` names: one (a HEAD: missing is an error), or those a pattern
    matches, sorted by key as local matches are sorted by path (``*`` stays within one
    ``/`` level, ``**`` spans levels, as in a local glob)."""
    root, key = _split(spec)
    store = _store(root)
    obstore = _obstore()
    if not glob.has_magic(key):
        try:
            return [_found(root, obstore.head(store, key))]
        except Exception as exc:
            raise _error(spec, exc, store, key) from None
    prefix = key[: min(key.index(c) for c in "*?[" if c in key)].rpartition("/")[0]
    pattern = key.split("/")
    found: list[ObjectPath] = []
    try:
        for chunk in obstore.list(store, prefix=prefix or None):
            found.extend(
                _found(root, meta) for meta in chunk if _matches(meta["path"].split("/"), pattern)
            )
    except Exception as exc:
        raise _error(spec, exc, store, prefix) from None
    if not found:
        raise InputError(f"{spec}: no file matches this pattern")
    return sorted(found, key=lambda item: item.key)


def _found(root: str, meta: Any) -> ObjectPath:
    modified = meta.get("last_modified")
    return ObjectPath(
        url=f"{root}/{meta['path']}",
        size=int(meta["size"]),
        etag=meta.get("e_tag"),
        last_modified=None if modified is None else modified.isoformat(),
    )


def _matches(parts: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(parts[skip:], rest) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _matches(parts[1:], rest)


class _ObjectReader:
    """A streamed GET as a ``ByteReader``: holds one stream chunk at most (plus what one
    ``read`` returns), whatever the object's size."""

    def __init__(self, chunks: Iterator[Any], where: ObjectPath) -> None:
        self._chunks, self._where = chunks, where
        self._pending = memoryview(b"")

    def read(self, size: int, /) -> bytes:
        parts: list[memoryview] = []
        wanted = size
        while wanted > 0:
            if not self._pending:
                try:
                    chunk = next(self._chunks, None)
                except Exception as exc:
                    raise _error(self._where.url, exc) from None
                if chunk is None:
                    break
                self._pending = memoryview(chunk)
            parts.append(self._pending[:wanted])
            self._pending = self._pending[wanted:]
            wanted -= len(parts[-1])
        return b"".join(parts)

    def close(self) -> None:
        self._pending = memoryview(b"")


def open_object(source: ObjectPath) -> _ObjectReader:
    """The object's bytes, streamed; the GET asks for the ETag the run found."""
    store = _store(source.root)
    options = {"if_match": source.etag} if source.etag else None
    try:
        result = _obstore().get(store, source.key, options=options)
    except Exception as exc:
        raise _error(source.url, exc, store, source.key) from None
    return _ObjectReader(iter(result.stream(min_chunk_size=STREAM_CHUNK_BYTES)), source)


def storage_options() -> dict[str, str]:
    """polars' ``storage_options`` for reading Parquet objects: the same endpoint rule as
    the CSV reader (the rest of the chain polars reads from the environment itself)."""
    return {"aws_allow_http": "true"} if _http_endpoint() else {}


def _http_endpoint() -> bool:
    return any(
        os.environ.get(name, "").lower().startswith("http://") for name in _ENDPOINT_VARIABLES
    )


def _obstore() -> Any:
    try:  # obstore is an extra: imported only when an object is read
        import obstore
    except ImportError:
        raise ConfigError(
            "reading s3://, gs:// or az:// inputs needs the obstore package: "
            "pip install 'uploader[s3]'"
        ) from None
    return obstore


def _store(root: str) -> ObjectStore:
    from obstore.store import from_url

    _obstore()
    try:
        return from_url(
            root,
            client_options={"allow_http": _http_endpoint(), "connect_timeout": _CONNECT_TIMEOUT},
            retry_config={"max_retries": _MAX_RETRIES, "retry_timeout": _RETRY_TIMEOUT},
        )
    except Exception as exc:
        raise InputError(f"{root}: cannot use this object store ({first_line(exc)})") from None


def _error(url: str, exc: Exception, store: Any = None, key: str | None = None) -> InputError:
    """One line for a store's error about ``url`` (obstore's messages run over many lines
    and hold the request, never a secret, but name no cause a user acts on)."""
    from obstore import exceptions as errors

    if isinstance(exc, errors.NotFoundError | FileNotFoundError):
        if store is not None and not _bucket_exists(store):
            return InputError(f"{url}: no such bucket")
        return InputError(f"{url}: no such object")
    if isinstance(exc, errors.PreconditionError):
        return InputError(f"{url}: changed since the run started (not the ETag it had then)")
    if isinstance(exc, errors.PermissionDeniedError | errors.UnauthenticatedError):
        return InputError(
            f"{url}: access denied (check the credentials: AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or the role)"
        )
    text = str(exc)
    if "NoSuchBucket" in text:
        return InputError(f"{url}: no such bucket")
    if "AccessDenied" in text or "InvalidAccessKeyId" in text or "SignatureDoesNotMatch" in text:
        return _error(url, errors.PermissionDeniedError())
    if "error sending request" in text or "connect" in text.lower():
        endpoint = next((os.environ[n] for n in _ENDPOINT_VARIABLES if n in os.environ), None)
        where = f" at {endpoint}" if endpoint else ""
        return InputError(f"{url}: cannot reach the object store{where}")
    return InputError(f"{url}: cannot read ({first_line(exc)})")


def _bucket_exists(store: Any) -> bool:
    from obstore import exceptions as errors

    try:
        next(iter(_obstore().list(store, chunk_size=1)), None)
    except errors.NotFoundError:
        return False
    except Exception as exc:
        return "NoSuchBucket" not in str(exc)
    return True
