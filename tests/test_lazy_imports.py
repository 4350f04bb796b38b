"""The CLI starts at once and the library stands without click: what each entry point
imports, checked in a fresh interpreter (no timing: ``sys.modules`` says it exactly)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest

from uploader.cli._main import COMMANDS, main

#: What `uploader --help` must not wait for: the data stack, the HTTP stack, the terminal
#: stack and the mock server.
HEAVY = ("polars", "numpy", "aiohttp", "rich", "pyarrow", "xxhash", "uploader.mock._server")


def imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def cli_imports(*args: str) -> set[str]:
    return imported_after(
        "from uploader.cli import main\n"
        "try:\n"
        f"    main({list(args)!r}, prog_name='uploader', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass"
    )


def heavy_in(modules: set[str]) -> list[str]:
    return [name for name in HEAVY if name in modules]


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], *([name, "--help"] for name in sorted(COMMANDS))],
    ids=" ".join,
)
def test_help_and_version_import_no_heavy_module(args: list[str]) -> None:
    modules = cli_imports(*args)
    assert heavy_in(modules) == []
    if args[0] in COMMANDS:  # the command's own module was loaded for its --help
        assert COMMANDS[args[0]].target.partition(":")[0] in modules


def test_group_help_imports_no_command_module() -> None:
    modules = cli_imports("--help")
    assert not [c.target for c in COMMANDS.values() if c.target.partition(":")[0] in modules]


def test_the_help_table_matches_each_commands_own_short_help() -> None:
    """`uploader --help` lists the table's lines without importing the commands: each must
    be the line the command itself would give."""
    ctx = click.Context(main)
    assert main.list_commands(ctx) == sorted(COMMANDS)
    for name, lazy in COMMANDS.items():
        command = lazy.load()
        assert command.name == name
        assert command.get_short_help_str(limit=10_000) == lazy.short_help, name


def test_exit_codes_summaries_and_reports_do_not_import_click() -> None:
    modules = imported_after(
        "import uploader.exits, uploader.ledger._summary, uploader.reconcile._report"
    )
    assert "click" not in modules


PACKAGES = (
    "uploader.produce",
    "uploader.send",
    "uploader.auth",
    "uploader.ledger",
    "uploader.reconcile",
    "uploader.sync",
    "uploader.mock",
)


def test_importing_the_sub_packages_imports_nothing_heavy() -> None:
    modules = imported_after("\n".join(f"import {package}" for package in PACKAGES))
    assert heavy_in(modules) == []
    assert "click" not in modules


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_and_is_listed(package: str) -> None:
    module = importlib.import_module(package)
    listed = dir(module)
    for name in module.__all__:
        assert name in listed
        getattr(module, name)  # imports its module, or AttributeError
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_a_name_loads_only_its_own_module() -> None:
    modules = imported_after("from uploader.send import RetryPolicy")
    assert "uploader.send._retry" in modules
    assert heavy_in(modules) == []
