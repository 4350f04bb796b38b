"""Which source column is the id, which are attributes, and what they are called in Target."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from uploader.errors import ConfigError, InputError
from uploader.produce._modes import ID_TYPES, IdType
from uploader.produce._source import INTERNAL_PREFIX

__all__ = ["ID_TYPES", "ColumnMap", "IdType", "resolve_columns"]

MAX_NAME_CHARS = 128
# Names Target uses for its own profile data; an attribute of the same name is ambiguous.
BUILTIN_NAMES = frozenset(
    {
        "user",
        "sessionCount",
        "browserTime",
        "geolocation",
        "mobile",
        "isFirstSession",
        "isNewSession",
        "categoryAffinity",
        "categoryAffinities",
        "mbox3rdPartyId",
        "marketingCloudVisitorId",
        "tntId",
    }
)


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Source column → Target name, id first. ``warnings`` are name problems let through."""

    id_source: str
    id_name: IdType
    attributes: tuple[tuple[str, str], ...]  # (source column, Target attribute name)
    warnings: tuple[str, ...] = ()

    @property
    def source_columns(self) -> list[str]:
        return [self.id_source, *(src for src, _ in self.attributes)]

    @property
    def target_names(self) -> list[str]:
        return [self.id_name, *(name for _, name in self.attributes)]


def resolve_columns(
    available: Sequence[str],
    *,
    where: str,
    id_column: str | None = None,
    id_type: IdType | None = None,
    columns: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    strict: bool = False,
) -> ColumnMap:
    """Validate the user's column choices against a source header ``available``."""
    rename = dict(rename or {})
    duplicated = sorted(name for name, n in Counter(available).items() if n > 1)
    if duplicated:
        raise InputError(f"{where}: column name(s) appear more than once: {_names(duplicated)}")
    internal = [name for name in available if name.startswith(INTERNAL_PREFIX)]
    if internal:
        raise InputError(f"{where}: column name(s) {_names(internal)} are reserved by uploader")
    if "" in available:
        position = list(available).index("") + 1
        raise InputError(f"{where}: column {position} has an empty name")
    if id_column is None:
        id_column = next((c for c in ID_TYPES if c in available), None)
        if id_column is None:
            raise InputError(
                f"{where}: no id column: expected 'thirdPartyId' or 'pcId', found "
                f"{_names(available)} (choose one with $id_column)",
                settings=("id_column",),
            )
    elif id_column not in available:
        raise InputError(
            f"{where}: $id_column {id_column!r} not found in {_names(available)}",
            settings=("id_column",),
        )
    if id_type is None:
        id_type = "pcId" if id_column == "pcId" else "thirdPartyId"
    elif id_type not in ID_TYPES:
        raise ConfigError(
            f"$id_type must be one of {', '.join(ID_TYPES)}, not {id_type!r}", settings=("id_type",)
        )

    if columns is None:
        chosen = [c for c in available if c != id_column]
    else:
        missing = [c for c in columns if c not in available]
        if missing:
            raise InputError(
                f"{where}: $columns names unknown column(s) {_names(missing)}",
                settings=("columns",),
            )
        chosen = [c for c in columns if c != id_column]
    unknown_renames = [old for old in rename if old not in chosen]
    if unknown_renames:
        raise ConfigError(
            f"$rename names column(s) not being sent: {_names(unknown_renames)}",
            settings=("rename",),
        )

    attributes = tuple((src, rename.get(src, src)) for src in chosen)
    names = [id_type, *(name for _, name in attributes)]
    if "" in names:
        raise ConfigError("$rename gives a column an empty name", settings=("rename",))
    clashes = sorted(name for name, n in Counter(names).items() if n > 1)
    if clashes:
        raise ConfigError(f"attribute name(s) would appear twice in the batch: {_names(clashes)}")
    warnings = _name_warnings(name for _, name in attributes)
    if strict and warnings:
        raise ConfigError(f"{warnings[0]} ($strict)", settings=("strict",))
    return ColumnMap(id_column, id_type, attributes, warnings)


def _name_warnings(names: Iterable[str]) -> tuple[str, ...]:
    found: list[str] = []
    for name in names:
        if len(name) > MAX_NAME_CHARS:
            found.append(f"attribute name {name[:40]!r}… is over {MAX_NAME_CHARS} characters")
        if name in BUILTIN_NAMES:
            found.append(f"attribute name {name!r} collides with a Target built-in profile name")
    return tuple(found)


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names[:12]) + (" …" if len(names) > 12 else "")
