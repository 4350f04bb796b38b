"""`uploader validate` through the real CLI: plan, rejects, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path

import click
import orjson
from click.testing import CliRunner

from uploader.cli._main import main

SAMPLE = Path(__file__).parent.parent / "samples" / "crm.csv"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_prints_the_plan_and_writes_rejects(tmp_path: Path) -> None:
    code, out, _ = invoke("validate", str(SAMPLE), "--rejects", str(tmp_path / "r.csv"))
    assert code == 0
    assert "rows read             1,000" in out
    assert "rows rejected             3" in out
    assert "rows merged               1" in out
    assert (tmp_path / "r.csv").read_text().count("\n") == 4  # header + 3 rejects


def test_validate_json_and_fail_on_rejects(tmp_path: Path) -> None:
    code, out, _ = invoke("validate", str(SAMPLE), "--json", "--fail-on-rejects")
    assert code == 1
    plan = orjson.loads(out)
    assert plan["rows_read"] == plan["rows_batched"] + plan["rows_rejected"] + plan["rows_merged"]


def test_config_file_is_applied_and_flags_override_it(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('columns = ["email"]\nbatch_rows = 100\n[rename]\nemail = "mail"\n')
    code, out, _ = invoke("validate", str(SAMPLE), "--config", str(config), "--json")
    assert code == 0 and orjson.loads(out)["batches"] == 10
    code, out, _ = invoke(
        "validate", str(SAMPLE), "--config", str(config), "--batch-rows", "500", "--json"
    )
    assert code == 0 and orjson.loads(out)["batches"] == 2


def test_unknown_config_key_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("batch_rowz = 1\n")
    code, _, err = invoke("validate", str(SAMPLE), "--config", str(config))
    assert code == 2
    assert "unknown setting(s) batch_rowz" in err


def test_input_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,city\nx,y\n")
    code, out, err = invoke("validate", str(bad))
    assert code == 2
    assert err.strip().splitlines() == [
        f"uploader: error: {bad}: no id column: expected 'thirdPartyId' or 'pcId', found "
        "'name', 'city' (choose one with --id-column)"
    ]
    assert "Traceback" not in out + err


def test_bad_flag_values_are_usage_errors() -> None:
    assert invoke("validate", str(SAMPLE), "--batch-bytes", "50000000")[0] == 2
    assert invoke("validate", str(SAMPLE), "--rename", "nonsense")[0] == 2
    assert invoke("validate", str(SAMPLE), "--encode", "weird")[0] == 2


def test_every_command_and_option_has_help_text() -> None:
    assert main.help
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None, name
        assert command.help, f"{name} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"


def test_the_old_encode_mode_name_is_a_one_line_usage_error_from_flag_and_config(
    tmp_path: Path,
) -> None:
    """`default` was renamed: the message names both new modes, from the flag or the file."""
    config = tmp_path / "config.toml"
    config.write_text('encode = "default"\n')
    renamed = "renamed: `compact` (the old default) or `strict` (the new default)"
    for args, where in [
        (["--encode", "default"], "--encode 'default'"),
        (["--config", str(config)], "--config: encode = 'default'"),
    ]:
        code, _, err = invoke("validate", str(SAMPLE), *args)
        assert code == 2
        assert err.strip().splitlines() == [f"uploader: error: {where}: {renamed}"]
    config.write_text('encode = "compact"\n')
    assert invoke("validate", str(SAMPLE), "--config", str(config))[0] == 0
