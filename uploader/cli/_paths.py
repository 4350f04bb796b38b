"""The type of every path option: ``click.Path`` that refuses an empty value, which
``pathlib`` would read as the current directory (``--ledger ''`` → ``.``)."""

from __future__ import annotations

from typing import Any

import click

__all__ = ["PathType"]


class PathType(click.Path):
    """``click.Path`` (``path_type=Path``, the rest as given) refusing an empty value as a
    usage error that names the option."""

    def __init__(self, **kwargs: Any) -> None:
        from pathlib import Path

        super().__init__(path_type=Path, **kwargs)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path", param, ctx)
        return super().convert(value, param, ctx)
