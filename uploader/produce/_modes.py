"""The choices the producer offers (id type, duplicate handling, encoding), dependency-free:
the CLI's options list them without importing polars."""

from __future__ import annotations

from typing import Final, Literal

from uploader.errors import ConfigError

__all__ = [
    "DEFAULT_ENCODE",
    "DUPLICATE_MODES",
    "ENCODE_MODES",
    "ID_TYPES",
    "RENAMED_MODES",
    "DuplicateMode",
    "EncodeMode",
    "IdType",
    "check_choice",
    "check_encode_mode",
]

IdType = Literal["thirdPartyId", "pcId"]
ID_TYPES: tuple[IdType, ...] = ("thirdPartyId", "pcId")

DuplicateMode = Literal["merge", "last", "off"]
DUPLICATE_MODES: tuple[DuplicateMode, ...] = ("merge", "last", "off")

EncodeMode = Literal["strict", "compact"]
ENCODE_MODES: tuple[EncodeMode, ...] = ("strict", "compact")
DEFAULT_ENCODE: Final[EncodeMode] = "strict"
# Mode names that once meant something else: refused with what to use instead.
RENAMED_MODES: Final = {
    "default": "renamed: `compact` (the old default) or `strict` (the new default)",
}


def check_encode_mode(value: str, where: str = "encode mode") -> EncodeMode:
    """``value`` as an ``EncodeMode``; a one-line ``ConfigError`` naming ``where`` (the flag
    or setting) otherwise."""
    for mode in ENCODE_MODES:
        if value == mode:
            return mode
    if value in RENAMED_MODES:
        raise ConfigError(f"{where} {value!r}: {RENAMED_MODES[value]}")
    raise ConfigError(f"{where} {value!r}: expected one of {', '.join(ENCODE_MODES)}")


def check_choice(value: object, choices: tuple[str, ...], setting: str) -> None:
    """A one-line ``ConfigError`` naming ``setting`` unless ``value`` is one of ``choices``
    (the CLI offers only these; a Python caller can pass anything)."""
    if value not in choices:
        raise ConfigError(
            f"${setting} {value!r}: expected one of {', '.join(choices)}", settings=(setting,)
        )
