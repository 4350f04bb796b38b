"""The input options shared by ``validate`` and ``upload``, and the ``InputSpec`` they build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from uploader.cli._configfile import CONFIG_FILE, load_config_file
from uploader.cli._logformat import log_format_from_config
from uploader.cli._paths import PathType
from uploader.errors import ConfigError
from uploader.produce._limits import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_ROWS
from uploader.produce._modes import (
    DEFAULT_ENCODE,
    DUPLICATE_MODES,
    ENCODE_MODES,
    ID_TYPES,
    check_encode_mode,
)
from uploader.produce._shard import parse_shard
from uploader.produce._textstream import UTF8, check_encoding

if TYPE_CHECKING:
    from uploader.produce._producer import InputSpec

__all__ = ["config_option", "input_options", "spec_from_options"]

F = TypeVar("F", bound=Callable[..., Any])


def config_option() -> Callable[[F], F]:
    """``--config FILE``: read before the other options so that flags override it."""

    def load(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
        if value is None:
            return
        try:
            settings = load_config_file(value)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
        if "log_format" in settings:  # not a command's option: stderr's, from now on
            try:
                log_format_from_config(settings.pop("log_format"))
            except ConfigError as exc:
                raise click.BadParameter(f"--config {value}: {exc}", ctx=ctx, param=param) from exc
        ctx.default_map = {**(ctx.default_map or {}), **settings}
        ctx.meta[CONFIG_FILE] = value

    return click.option(
        "--config",
        type=PathType(dir_okay=False),
        is_eager=True,
        expose_value=False,
        callback=load,
        help="TOML file with default settings (keys = long option names with _); flags win.",
    )


def input_options(func: F) -> F:
    """The options that decide what is read and how it is shaped into batch bodies."""
    options = [
        click.argument("sources", nargs=-1, required=True, metavar="SOURCE..."),
        click.option(
            "--id-column",
            metavar="COL",
            help="Column holding the profile id. Default: 'thirdPartyId' or 'pcId', whichever "
            "the file has.",
        ),
        click.option(
            "--id-type",
            type=click.Choice(ID_TYPES),
            help="Name of the id in the batch header: thirdPartyId (mbox3rdPartyId) or pcId "
            "(v1 only with ECID). Default: pcId if the id column is 'pcId', else thirdPartyId.",
        ),
        click.option(
            "--columns",
            metavar="A,B,...",
            help="Attribute columns to send, in this order. Default: every column but the id.",
        ),
        click.option(
            "--rename",
            multiple=True,
            metavar="OLD=NEW",
            help="Send column OLD as attribute NEW (repeatable).",
        ),
        click.option(
            "--batch-rows",
            type=int,
            default=DEFAULT_BATCH_ROWS,
            show_default=True,
            help="Most rows per batch (Target allows 500,000).",
        ),
        click.option(
            "--batch-bytes",
            type=int,
            default=DEFAULT_BATCH_BYTES,
            show_default=True,
            help="Most bytes per encoded batch body (Target requires under 50,000,000).",
        ),
        click.option(
            "--encode",
            # A plain string, checked when the spec is built: a renamed mode then gets a
            # one-line message saying what to use instead, from the flag or the config file.
            metavar="|".join(ENCODE_MODES),
            default=DEFAULT_ENCODE,
            show_default=True,
            help="strict: percent-encode every character outside A-Z a-z 0-9 - . _ ~ ! * ( ) "
            "as UTF-8 bytes (pure-ASCII bodies, as Adobe recommends); compact: the same but "
            "non-ASCII letters stay raw UTF-8 (smaller bodies; line separators and bidi "
            "controls are still encoded).",
        ),
        click.option(
            "--strict",
            is_flag=True,
            help="Treat attribute-name warnings (over 128 characters, Target built-in names) "
            "as errors.",
        ),
        click.option(
            "--duplicates",
            type=click.Choice(DUPLICATE_MODES),
            default="merge",
            show_default=True,
            help="Repeated ids: merge = as if applied in file order (later non-empty values "
            "win); last = keep the last row; off = send as read.",
        ),
        click.option(
            "--separator",
            metavar="CHAR",
            help="CSV field separator, e.g. ';' (or 'tab', '\\t'). Default: tab for .tsv "
            "files, else comma.",
        ),
        click.option(
            "--input-encoding",
            metavar="NAME",
            default=UTF8,
            show_default=True,
            help="Text encoding of CSV files, e.g. cp1252 (Excel on Windows), latin-1, "
            "utf-16; transcoded to UTF-8 while read. A UTF-8 byte-order mark is fine.",
        ),
        click.option(
            "--shard",
            envvar="UPLOADER_SHARD",
            metavar="I/N",
            help="Take only shard I of N (0 <= I < N; also $UPLOADER_SHARD): the rows whose id "
            "hashes to it, so every row of an id is in one shard. Run N processes, I = 0 .. N-1, "
            "each with its own --ledger (and sync --state): encoding, sending and memory are "
            "split, but every shard still reads the whole input to hash its ids. E.g. "
            '--shard "$JOB_COMPLETION_INDEX/4" in a Kubernetes Indexed Job.',
        ),
        click.option(
            "--allow-empty",
            is_flag=True,
            help="Accept a file with a header but no data rows (by default an error, exit 2: "
            "an empty nightly export is usually a failed one).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _where(name: str) -> str:
    """How to name option ``name`` in a message: as the flag, or as the config file key."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.get_parameter_source(name) is ParameterSource.DEFAULT_MAP:
        return f"--config: {name} ="
    return f"--{name.replace('_', '-')}"


def spec_from_options(options: dict[str, Any]) -> InputSpec:
    """Build the ``InputSpec`` from the parsed input options (removed from ``options``)."""
    from uploader.produce._batcher import BatchLimits  # polars: not for --help
    from uploader.produce._producer import InputSpec
    from uploader.produce._source import check_separator

    rename: dict[str, str] = {}
    for pair in options.pop("rename") or ():
        old, sep, new = pair.partition("=")
        if not sep or not old:
            raise ConfigError(f"--rename {pair!r}: expected OLD=NEW")
        rename[old] = new
    columns = options.pop("columns")
    separator = options.pop("separator")
    shard = options.pop("shard")
    return InputSpec(
        sources=tuple(options.pop("sources")),
        id_column=options.pop("id_column"),
        id_type=options.pop("id_type"),
        columns=tuple(c.strip() for c in columns.split(",")) if columns else None,
        rename=rename,
        limits=BatchLimits(rows=options.pop("batch_rows"), bytes=options.pop("batch_bytes")),
        encode=check_encode_mode(options.pop("encode"), _where("encode")),
        strict=options.pop("strict"),
        duplicates=options.pop("duplicates"),
        allow_empty=options.pop("allow_empty"),
        separator=check_separator(separator, _where("separator"))
        if separator is not None
        else None,
        input_encoding=check_encoding(options.pop("input_encoding"), _where("input_encoding")),
        shard=parse_shard(shard) if shard is not None else None,
    )
