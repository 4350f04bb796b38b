"""A click group whose commands are imported only when one runs (or shows its own --help):
``uploader --help`` then starts at once, without polars, numpy, aiohttp or rich."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click

__all__ = ["LazyCommand", "LazyGroup"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command is defined (``"module:attribute"``) and its one-line help, which the
    group's --help lists without importing it (a test keeps it equal to the command's own)."""

    target: str
    short_help: str

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyGroup(click.Group):
    """``shared``: options every command takes too (added to each as it loads), beside the
    group's own copy: ``uploader --log-format json upload …`` and ``uploader upload …
    --log-format json`` alike."""

    def __init__(
        self,
        *args: Any,
        lazy_commands: Mapping[str, LazyCommand],
        shared: Sequence[click.Parameter] = (),
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)
        self.shared = tuple(shared)
        self.params.extend(self.shared)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            command = self.lazy_commands[cmd_name].load()
            names = {param.name for param in command.params}
            command.params.extend(param for param in self.shared if param.name not in names)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, from the one-line helps instead of the commands themselves (a
        stand-in command per name, so the line is shortened exactly as click would)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None:
                command = click.Command(name, help=self.lazy_commands[name].short_help)
            if not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])
