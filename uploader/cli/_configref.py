"""The configuration reference (docs/config.md), generated from the commands' own options, so
it cannot drift from them: ``python -m uploader.cli._configref > docs/config.md`` writes it
and a test fails when the committed page differs."""

from __future__ import annotations

import click

from uploader.cli._configfile import KNOWN_KEYS
from uploader.cli._main import COMMANDS, main

__all__ = ["REGENERATE", "reference"]

REGENERATE = "python -m uploader.cli._configref > docs/config.md"
_NO_DEFAULT = click.Option(["--x"]).default  # what click keeps for "none given" (a sentinel)

_HEADER = f"""# Configuration reference

Every option of every command: its flag, the environment variable it also reads, its key in
the `--config` TOML file, and its default. Where the same setting is given several ways, a
flag beats the environment, which beats the config file, which beats the default; `uploader
config show COMMAND [OPTIONS]` prints what a command would run with and where each value came
from.

The config file's keys are the long option names with `_` for `-` (e.g. `batch_rows = 100`),
plus a `[rename]` table (`old = "new"`); a command ignores the keys it has no option for, so
one file serves `validate`, `upload`, `sync`, `status` and the rest. Unknown keys are an error.
What a command line asks for this once has no key: `--config` itself, `--json`, `--quiet`,
`--dry-run`, `--out`, `--resume`, `--wait`, `--full`, `--missing`, `--forget-missing` and
`--allow-insecure-token-file`.
Secrets are never settings: the profile token comes from `$TARGET_PROFILE_TOKEN` (or the
variable `--token-env` names), `--token-file` or `--token-command`, the Adobe I/O client
secret only from `$ADOBE_CLIENT_SECRET`.

<!-- generated from the CLI: {REGENERATE} -->
"""


def reference() -> str:
    """The whole page, Markdown."""
    parts = [_HEADER]
    ctx = click.Context(main, info_name="uploader")
    for name in sorted(COMMANDS):
        command = main.get_command(ctx, name)  # with the options every command takes
        assert command is not None
        if isinstance(command, click.Group):
            for sub in sorted(command.list_commands(ctx)):
                subcommand = command.get_command(ctx, sub)
                assert subcommand is not None
                parts.append(_section(f"{name} {sub}", subcommand))
        else:
            parts.append(_section(name, command))
    return "\n".join(parts)


def _section(name: str, command: click.Command) -> str:
    reads_file = any(param.name == "config" for param in command.params)
    lines = [
        f"## `uploader {name}`",
        "",
        _cell(command.get_short_help_str(limit=200)),
        "",
        "| Option | Environment | Config key | Default | Meaning |",
        "|---|---|---|---|---|",
    ]
    for param in command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        flags = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
        ctx = click.Context(command)
        metavar = "" if param.is_flag else f" {_cell(param.make_metavar(ctx))}"
        key = f"`{param.name}`" if reads_file and param.name in KNOWN_KEYS else ""
        lines.append(
            f"| {flags}{metavar} | {_envvars(param)} | {key} | {_default(param, ctx)} "
            f"| {_cell(param.help or '')} |"
        )
    return "\n".join(lines) + "\n"


def _envvars(param: click.Option) -> str:
    names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
    return ", ".join(f"`${name}`" for name in names)


def _default(param: click.Option, ctx: click.Context) -> str:
    default = param.get_default(ctx, call=False)
    if param.is_flag and not param.multiple:
        return "on" if default else "off"
    if default is None or default is _NO_DEFAULT or default == () or callable(default):
        return ""
    return f"`{default}`"


def _cell(text: str) -> str:
    """One table cell: one line, no column breaks."""
    return " ".join(text.split()).replace("|", "\\|")


if __name__ == "__main__":
    print(reference(), end="")
