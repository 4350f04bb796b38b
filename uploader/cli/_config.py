"""``uploader config show``: the settings a command would run with, and where each came from.

The command's own options are parsed (a copy of them, none required, so no SOURCE is needed)
exactly as the command would parse them: a flag beats its environment variable, which beats
the ``--config`` file, which beats the default. click records which of these gave each value
(``Context.get_parameter_source``); the file's settings come in through the context's
``default_map``. Secrets are never printed: token values are not settings (only where the
token would come from, and whether it is set), and a URL's password is masked.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from uploader.auth._secret import redacted_url
from uploader.cli._errors import handle_errors
from uploader.cli._output import echo_json

__all__ = ["config", "effective_settings"]

_SOURCES = {
    ParameterSource.COMMANDLINE: "flag",
    ParameterSource.ENVIRONMENT: "env",
    ParameterSource.DEFAULT_MAP: "config file",
    ParameterSource.DEFAULT: "default",
}
_NOT_SHOWN = {"sources", "help"}  # the input files are not a setting; --help is not one
#: settings that may hold a secret (a command line may carry one): shown as set or not only
_SECRET = {"token_command", "ims_client_secret"}


@click.group("config", short_help="Show the settings a command would run with, and their sources.")
def config() -> None:
    """Show the settings a command would run with, and their sources."""


@config.command(
    "show",
    short_help="Print the settings COMMAND would run with and where each came from.",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@click.argument("command", required=False, metavar="[COMMAND]")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[OPTIONS]...")
@handle_errors
def show(as_json: bool, command: str | None, args: tuple[str, ...]) -> None:
    """Print each setting COMMAND (default: upload) would run with and where it came from:
    flag, env ($NAME), config file (--config PATH), or default. Give the options you would
    give COMMAND (no SOURCE is needed); --json goes before COMMAND. Nothing is read or sent,
    and no secret is printed: for the token, only whether it is set and where from.

    \b
    Examples:
      uploader config show upload --config nightly.toml
      uploader config show sync --config nightly.toml --rate 40/60
      uploader config show --json upload --config nightly.toml
    """
    if command is None or command.startswith("-"):
        args = (command, *args) if command else args
        command = "upload"
    settings = effective_settings(command, list(args))
    if as_json:
        echo_json({"command": command, "settings": settings})
        return
    rows = [(entry["flag"], _text(entry["value"]), _where(entry)) for entry in settings.values()]
    width = max(len(flag) for flag, _, _ in rows)
    value_width = min(40, max(len(value) for _, value, _ in rows))
    click.echo(f"uploader {command}: effective settings")
    for flag, value, where in rows:
        click.echo(f"  {flag:<{width}}  {value:<{value_width}}  ({where})")


def effective_settings(command: str, args: list[str]) -> dict[str, dict[str, Any]]:
    """``{setting: {"value", "source", and "env" or "file" when it says which}}`` for
    ``uploader COMMAND ARGS``, plus the token's source when the command takes one."""
    ctx = click.get_current_context()
    group = ctx.find_root().command
    assert isinstance(group, click.Group)
    target = group.get_command(ctx, command)
    if target is None or command == "config" or isinstance(target, click.Group):
        raise click.UsageError(f"config show: no command {command!r} to show the settings of")
    params = [_optional(param) for param in target.params]
    probe = click.Command(command, params=params, add_help_option=False)
    # no parent: a usage error then reads "Usage: uploader config show upload [OPTIONS]"
    parsed = probe.make_context(f"{ctx.command_path} {command}", args)
    _check_values(command, parsed.params)
    config_file = parsed.params.get("config")
    settings: dict[str, dict[str, Any]] = {}
    for param in params:
        name = param.name
        if name is None or name in _NOT_SHOWN or not isinstance(param, click.Option):
            continue
        source = _SOURCES.get(parsed.get_parameter_source(name) or ParameterSource.DEFAULT)
        value = parsed.params.get(name)
        entry: dict[str, Any] = {
            "flag": next((o for o in param.opts if o.startswith("--")), param.opts[0]),
            "value": ("set" if value else None) if name in _SECRET else _plain(value),
            "source": source,
        }
        if source == "env":
            entry["env"] = _env_name(param)
        elif source == "config file":
            entry["file"] = str(config_file)
        settings[name] = entry
    if "log_format" in settings and settings["log_format"]["source"] == "default":
        settings["log_format"] = _log_format_entry(settings["log_format"], config_file)
    if "token_env" in settings:
        settings["token"] = _token_entry(settings)
    return settings


def _check_values(command: str, params: dict[str, Any]) -> None:
    """Check each value as COMMAND would, with its own conversions (``ConfigError``: its
    one-line error, exit 2): a value the command would refuse is not shown as a setting."""
    from uploader.cli._upload import run_options
    from uploader.send._ratelimit import parse_rate

    if isinstance(params.get("rate"), str):
        parse_rate(params["rate"])
    if command in ("upload", "sync"):  # a copy: run_options takes what it reads; no file
        run_options({**params, "sources": params.get("sources") or (Path("SOURCE"),)})


def _log_format_entry(entry: dict[str, Any], config_file: Path | None) -> dict[str, Any]:
    """--log-format when the command's own flag and the variable did not give it: given on
    ``uploader`` itself (the group applied it: stderr is JSON lines or not), or by the
    config file's ``log_format`` (which the file's loader applies, not as a default)."""
    from uploader.cli._configfile import load_config_file
    from uploader.cli._logformat import is_json

    root = click.get_current_context().find_root()
    if root.get_parameter_source("log_format") == ParameterSource.COMMANDLINE:
        return {**entry, "value": "json" if is_json() else "text", "source": "flag"}
    if config_file is not None and "log_format" in (file := load_config_file(config_file)):
        return {
            **entry,
            "value": file["log_format"],
            "source": "config file",
            "file": str(config_file),
        }
    return {**entry, "value": "text"}


def _optional(param: click.Parameter) -> click.Parameter:
    """A copy of ``param`` that may be missing (``show`` needs no SOURCE) and, for
    ``--config`` and ``--log-format``, whose value is kept (the command only applies it)."""
    clone = copy.copy(param)
    clone.required = False
    if not clone.expose_value:
        apply = clone.callback

        def keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
            if apply is not None:
                apply(ctx, param, value)
            return value

        clone.callback, clone.expose_value = keep, True
    return clone


def _env_name(param: click.Option) -> str | None:
    """The variable that gave the value (an option may name several)."""
    names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
    return next((f"${name}" for name in names if os.environ.get(name)), None)


def _token_entry(settings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where the profile token would come from, and whether it is there: never its value.
    Its source is that of the setting that chose it."""
    from uploader.auth._static import DEFAULT_TOKEN_ENV
    from uploader.cli._auth_options import CLIENT_SECRET_ENV

    def value(name: str) -> Any:
        return settings.get(name, {}).get("value")

    def chosen_by(name: str, said: str) -> dict[str, Any]:
        return {**settings[name], "flag": "token", "value": said}

    if value("auth") == "adobe-io":
        secret = "set" if os.environ.get(CLIENT_SECRET_ENV, "").strip() else "NOT set"
        return chosen_by("auth", f"minted through Adobe I/O (${CLIENT_SECRET_ENV} {secret})")
    if value("token_command"):
        return chosen_by("token_command", "printed by --token-command")
    if value("token_file") is not None:
        return chosen_by("token_file", f"read from {value('token_file')}")
    variable = value("token_env") or DEFAULT_TOKEN_ENV
    if not os.environ.get(variable, "").strip():
        said = f"not set: calls go unauthenticated (${variable} is unset)"
        return {"flag": "token", "value": said, "source": "default"}
    return {
        "flag": "token",
        "value": f"set (from ${variable})",
        "source": "env",
        "env": f"${variable}",
    }


def _plain(value: Any) -> Any:
    """A JSON-able value, with any URL's password masked."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return redacted_url(value)
    return value


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def _where(entry: dict[str, Any]) -> str:
    source = str(entry["source"])
    if source == "env" and entry.get("env"):
        return f"env {entry['env']}"
    if source == "config file":
        return f"config file {entry['file']}"
    return source
