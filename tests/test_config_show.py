"""`uploader config show` (each setting's value and source: flag > env > file > default, no
secret ever printed) and the generated configuration reference, docs/config.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
import pytest
from click.testing import CliRunner, Result

from uploader.cli._configfile import KNOWN_KEYS
from uploader.cli._configref import REGENERATE, reference
from uploader.cli._main import COMMANDS, main

PAGE = Path(__file__).parent.parent / "docs" / "config.md"
CLEAN = {"TARGET_CLIENT_CODE": None, "TARGET_PROFILE_TOKEN": None, "UPLOADER_RATE_STORE": None}


def show(*args: str, **env: str | None) -> Result:
    return CliRunner().invoke(main, ["config", "show", *args], env={**CLEAN, **env})


def settings(*args: str, **env: str | None) -> dict[str, Any]:
    result = show("--json", *args, **env)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = orjson.loads(result.stdout)["settings"]
    return data


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "nightly.toml"
    path.write_text('client_code = "from-file"\nrate = "40/60"\nbatch_rows = 1000\n')
    return path


def test_a_flag_beats_the_environment_beats_the_file_beats_the_default(config_file: Path) -> None:
    file = ("upload", "--config", str(config_file))
    env = {"TARGET_CLIENT_CODE": "from-env"}
    flagged = settings(*file, "--client-code", "from-flag", **env)["client_code"]
    assert flagged == {"flag": "--client-code", "value": "from-flag", "source": "flag"}
    from_env = settings(*file, **env)["client_code"]
    assert from_env == {
        "flag": "--client-code",
        "value": "from-env",
        "source": "env",
        "env": "$TARGET_CLIENT_CODE",
    }
    from_file = settings(*file)
    assert from_file["client_code"]["source"] == "config file"
    assert from_file["client_code"]["file"] == str(config_file)
    assert from_file["rate"]["value"] == "40/60" and from_file["batch_rows"]["value"] == 1000
    assert from_file["config"] == {"flag": "--config", "value": str(config_file), "source": "flag"}
    default = settings("upload")
    assert default["client_code"] == {"flag": "--client-code", "value": None, "source": "default"}
    assert default["rate"] == {"flag": "--rate", "value": "50/60", "source": "default"}


def test_the_text_table_names_each_source(config_file: Path) -> None:
    result = show(
        "sync", "--config", str(config_file), "--batch-rows", "5", TARGET_CLIENT_CODE="acme"
    )
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert lines["--batch-rows"].endswith("(flag)")
    assert lines["--client-code"].endswith("(env $TARGET_CLIENT_CODE)")
    assert lines["--rate"].endswith(f"(config file {config_file})")
    assert lines["--refresh-after"].endswith("(default)")  # sync's own options too
    assert result.stdout.startswith("uploader sync: effective settings")


def test_upload_is_the_default_command() -> None:
    assert settings("--client-code", "x")["client_code"]["value"] == "x"
    assert "wait" in settings() and "state" not in settings()


def test_no_secret_is_ever_printed() -> None:
    store = "redis://:hunter2@localhost:6379/0"
    for as_json in (True, False):
        args = ("--json",) if as_json else ()
        result = show(
            *args,
            "upload",
            "--rate-store",
            store,
            TARGET_PROFILE_TOKEN="s3cret-token",
            ADOBE_CLIENT_SECRET="s3cret-client",
        )
        assert result.exit_code == 0, result.output
        assert "s3cret" not in result.output and "hunter2" not in result.output
        assert "redis://:***@localhost:6379/0" in result.output
    token = settings(TARGET_PROFILE_TOKEN="s3cret-token")["token"]
    assert token["value"] == "set (from $TARGET_PROFILE_TOKEN)" and token["source"] == "env"
    unset = settings()["token"]["value"]
    assert unset == "not set: calls go unauthenticated ($TARGET_PROFILE_TOKEN is unset)"
    adobe = settings("check", "--auth", "adobe-io", ADOBE_CLIENT_SECRET="s3cret-client")
    assert adobe["token"]["value"] == "minted through Adobe I/O ($ADOBE_CLIENT_SECRET set)"
    assert adobe["token"]["source"] == "flag"
    command = settings("upload", "--token-command", "vault read -field=token x")["token"]
    assert command["value"] == "printed by --token-command"


def test_bad_commands_and_options_are_usage_errors(tmp_path: Path) -> None:
    assert show("nope").exit_code == 2 and "no command 'nope'" in show("nope").stderr
    bad = show("upload", "--bogus")
    assert bad.exit_code == 2 and "No such option '--bogus'" in bad.stderr
    missing = show("upload", "--config", str(tmp_path / "none.toml"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_the_config_reference_is_the_generated_one() -> None:
    assert PAGE.read_text() == reference(), f"docs/config.md is stale: run `{REGENERATE}`"


def test_the_reference_lists_every_option_of_every_command_and_every_file_key() -> None:
    page = PAGE.read_text()
    ctx = click.Context(main, info_name="uploader")
    commands = []
    for lazy in COMMANDS.values():
        command = lazy.load()
        if isinstance(command, click.Group):
            commands += [command.get_command(ctx, sub) for sub in command.list_commands(ctx)]
        else:
            commands.append(command)
    for command in commands:
        assert command is not None
        for param in command.params:
            if isinstance(param, click.Option):
                assert f"`{param.opts[0]}`" in page, param.opts
    for key in KNOWN_KEYS:
        assert f"| `{key}` |" in page, key


def test_the_log_format_shows_its_value_and_where_it_came_from(tmp_path: Path) -> None:
    """--log-format is every command's (added by the group): its effective value and source,
    whether given on the command, on ``uploader`` itself, by the variable or by the file."""
    default = settings("upload")["log_format"]
    assert default == {"flag": "--log-format", "value": "text", "source": "default"}
    flagged = settings("upload", "--log-format", "json")["log_format"]
    assert flagged == {"flag": "--log-format", "value": "json", "source": "flag"}
    from_env = settings("upload", UPLOADER_LOG_FORMAT="json")["log_format"]
    assert from_env["value"] == "json" and from_env["env"] == "$UPLOADER_LOG_FORMAT"
    path = tmp_path / "c.toml"
    path.write_text('log_format = "json"\n')
    from_file = settings("upload", "--config", str(path))["log_format"]
    assert from_file == {
        "flag": "--log-format",
        "value": "json",
        "source": "config file",
        "file": str(path),
    }
    on_the_group = CliRunner().invoke(
        main, ["--log-format", "json", "config", "show", "--json", "upload"], env=CLEAN
    )
    assert on_the_group.exit_code == 0, on_the_group.output
    shown = orjson.loads(on_the_group.stdout)["settings"]["log_format"]
    assert shown["value"] == "json" and shown["source"] == "flag"


def test_the_token_command_is_never_shown_only_that_it_is_set(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('token_command = "echo supersecret"\n')
    for args in (("--token-command", "echo supersecret"), ("--config", str(path))):
        for as_json in (("--json",), ()):
            result = show(*as_json, "upload", *args)
            assert result.exit_code == 0, result.output
            assert "supersecret" not in result.output
    shown = settings("upload", "--config", str(path))["token_command"]
    assert shown["value"] == "set" and shown["source"] == "config file"
    assert settings("upload")["token_command"]["value"] is None


def test_an_unset_token_says_so_and_claims_no_variable() -> None:
    token = settings()["token"]
    assert token == {
        "flag": "token",
        "value": "not set: calls go unauthenticated ($TARGET_PROFILE_TOKEN is unset)",
        "source": "default",
    }
    lines = show().stdout.splitlines()
    (row,) = [line for line in lines if line.split()[0] == "token"]
    assert row.endswith("(default)") and "(env" not in row


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("upload", "--rate", "x"), "--rate 'x': expected CALLS/SECONDS"),
        (("sync", "--rate", "0/60"), "--rate needs a positive number"),
        (("upload", "--shard", "3/2"), "--shard"),
        (("upload", "--max-rejects", "lots"), "--max-rejects"),
        (("upload", "--progress-every", "-1"), "--progress-every must not be negative"),
        (("status", "--rate", "x"), "--rate 'x'"),
    ],
)
def test_a_value_the_command_would_refuse_is_refused_here_too(
    args: tuple[str, ...], error: str
) -> None:
    result = show(*args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("uploader: error: ") and error in line, line
