"""The optional TOML config file: the same settings as the flags, flags win.

Keys are the long flag names with ``_`` for ``-`` (``id_column``, ``batch_rows`` …), plus a
``[rename]`` table. Unknown keys are an error, so a typo never silently does nothing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from uploader.errors import ConfigError

__all__ = ["CONFIG_FILE", "KNOWN_KEYS", "load_config_file"]

#: ``ctx.meta`` key: the --config file the command's defaults came from (a bad value in it
#: is named by the file and its key: ``uploader.cli._errors``)
CONFIG_FILE = "uploader.config_file"


# Every setting any command takes from the file (a command ignores the ones it has no flag
# for, so one file serves validate, upload and status).
KNOWN_KEYS = frozenset(
    {
        # input and batch shaping
        "id_column",
        "id_type",
        "columns",
        "rename",
        "batch_rows",
        "batch_bytes",
        "encode",
        "strict",
        "duplicates",
        "allow_empty",
        "separator",
        "input_encoding",
        "shard",
        # sending
        "client_code",
        "endpoint",
        "api_version",
        "concurrency",
        "rate",
        "rate_store",
        "daily_rows",
        "daily_rows_file",
        "token_env",
        "token_file",
        # token sources that mint (issue 5); the Adobe client secret is never a file setting
        "token_command",
        "auth",
        "adobe_client_id",
        "adobe_tenant",
        "adobe_scopes",
        "ims_url",
        "admin_url",
        "max_retries",
        "retry_max_wait",
        "timeout",
        "bisect_calls",
        "ca_bundle",
        "max_rejects",
        "ledger",
        "keep_runs",
        # waiting for Target's statuses, progress
        "wait_timeout",
        "progress_every",
        # monitoring
        "metrics_file",
        "log_format",
        # sync
        "state",
        "refresh_after",
    }
)


def load_config_file(path: Path, allowed: Iterable[str] = KNOWN_KEYS) -> dict[str, Any]:
    """Read ``path`` and return its settings; keys outside ``allowed`` are an error."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML ({exc})") from exc
    known = set(allowed)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"--config {path}: unknown setting(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    if "rename" in data:
        rename = data["rename"]
        if not isinstance(rename, dict) or not all(isinstance(v, str) for v in rename.values()):
            raise ConfigError(f"--config {path}: [rename] must map column names to new names")
        data["rename"] = [f"{old}={new}" for old, new in rename.items()]
    if "columns" in data and isinstance(data["columns"], list):
        data["columns"] = ",".join(str(c) for c in data["columns"])
    return data
