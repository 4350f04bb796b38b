"""``--shard I/N``: which of N shards of the input one run takes (dependency-free: the CLI
parses it without importing polars). The shard of a row is ``uploader.sync._keys.shard_of``
of its id's key."""

from __future__ import annotations

import re

from uploader.errors import ConfigError

__all__ = ["MAX_SHARDS", "Shard", "parse_shard", "shard_label", "shard_text"]

#: (I, N): shard I of N, 0 <= I < N
Shard = tuple[int, int]

#: at most this many shards (``shard_of``'s product must fit in 64 bits)
MAX_SHARDS = 1 << 16

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(value: object) -> Shard:
    """``value`` (``"I/N"``, or a pair ``(I, N)``) as a checked ``Shard``; a one-line
    ``ConfigError`` naming ``$shard`` otherwise."""
    if isinstance(value, str):
        match = _SHARD.fullmatch(value)
        if match is None:
            raise ConfigError(
                f"$shard {value!r}: expected I/N (shard I of N, counted from 0), e.g. 0/3",
                settings=("shard",),
            )
        index, count = int(match[1]), int(match[2])
    elif (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    ):
        index, count = value
    else:
        raise ConfigError(
            f"$shard {value!r}: expected I/N or a pair (I, N) of integers", settings=("shard",)
        )
    text = f"{index}/{count}"
    if not 1 <= count <= MAX_SHARDS:
        raise ConfigError(f"$shard {text}: N must be 1 to {MAX_SHARDS}", settings=("shard",))
    if not 0 <= index < count:
        raise ConfigError(
            f"$shard {text}: I must be below N (shards are counted from 0)", settings=("shard",)
        )
    return index, count


def shard_text(shard: Shard) -> str:
    """``"I/N"``, as the flag takes it and reports show it."""
    return f"{shard[0]}/{shard[1]}"


def shard_label(shard: Shard) -> str:
    """``"shard-IofN"``: a shard in a file or directory name."""
    return f"shard-{shard[0]}of{shard[1]}"
