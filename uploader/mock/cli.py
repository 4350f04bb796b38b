"""``uploader mock-server``: run the mock Target server until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from uploader._writable import make_dirs
from uploader.cli._errors import handle_errors
from uploader.cli._paths import PathType
from uploader.errors import ConfigError
from uploader.mock._config import FaultConfig, MockConfig, StatusUrlStyle

if TYPE_CHECKING:
    from uploader.mock._server import MockTarget


__all__ = ["mock_server", "parse_faults", "parse_rate_limit"]

_FAULT_KEYS: dict[str, tuple[str, type]] = {
    "500": ("p_500", float),
    "502": ("p_502", float),
    "503": ("p_503", float),
    "429": ("p_429", float),
    "reset": ("p_reset", float),
    "truncated": ("p_truncated", float),
    "stuck": ("p_stuck", float),
    "retry-after": ("retry_after", float),
    "latency": ("latency", float),
    "jitter": ("latency_jitter", float),
    "slow-body": ("slow_body", float),
    "first-k": ("first_k_calls", int),
    "on-status": ("on_status", bool),
    "fail-rows": ("fail_rows", float),
    "fail-ids": ("fail_ids", str),
    "fail-once": ("fail_once", bool),
    "reject-ids": ("reject_ids", str),
}


def parse_rate_limit(text: str) -> tuple[int, float] | None:
    """``"50/60"`` → (50, 60.0); ``"none"`` → None."""
    if text.strip().lower() == "none":
        return None
    calls, sep, window = text.partition("/")
    try:
        if not sep:
            raise ValueError(text)
        return int(calls), float(window)
    except ValueError:
        raise click.BadParameter(f"expected CALLS/SECONDS or none, not {text!r}") from None


def parse_faults(items: tuple[str, ...]) -> FaultConfig:
    """``("500=0.1", "latency=0.2", ...)`` → FaultConfig."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in _FAULT_KEYS:
            known = ", ".join(_FAULT_KEYS)
            raise click.BadParameter(f"expected KIND=VALUE with KIND one of {known}: {item!r}")
        name, kind = _FAULT_KEYS[key]
        try:
            if kind is bool:
                values[name] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                values[name] = kind(raw)
        except ValueError:
            raise click.BadParameter(f"{key} needs a {kind.__name__}, not {raw!r}") from None
    try:
        return FaultConfig(**values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


async def _serve(config: MockConfig, receipts: Path | None) -> None:
    from uploader.mock._server import MockTarget  # aiohttp, polars: not for --help

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    async with MockTarget(config) as mock:
        try:
            client = config.client_code
            click.echo(f"Mock Target server on {mock.base_url} (client code {client!r})")
            click.echo(f"  bulk v2:  POST {mock.base_url}/m2/{client}/v2/profile/batchUpdate")
            click.echo(f"  bulk v1:  POST {mock.base_url}/m2/{client}/profile/batchUpdate")
            if config.require_auth:
                click.echo(f"  token:    {mock.token}")
            else:
                click.echo("  token:    (authentication not required)")
            click.echo("Press Ctrl-C to stop.", nl=True)
            await asyncio.Event().wait()
        finally:
            if receipts is not None:
                _dump_receipts(mock, receipts)


def _check_receipts(path: Path) -> None:
    """Create the receipts file before serving: found unwritable only at exit, the rows
    taken by the whole session would be lost."""
    try:
        make_dirs(path.parent)
        with path.open("ab"):
            pass
    except OSError as exc:
        raise ConfigError(f"--receipts {path}: cannot write ({exc.strerror})") from None


def _dump_receipts(mock: MockTarget, path: Path) -> None:
    try:
        mock.dump_receipts(path)
    except OSError as exc:  # at exit (disk full …): say so, the server's run itself was fine
        click.echo(f"uploader: warning: --receipts {path}: cannot write ({exc.strerror})", err=True)
        return
    click.echo(f"receipts written to {path}", err=True)


@click.command("mock-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, help="Port to bind (0: any free).")
@click.option("--client-code", default="demo", show_default=True, help="Target client code.")
@click.option(
    "--require-auth/--no-require-auth",
    default=True,
    show_default=True,
    help="Require a profile API token on bulk, status and profile calls.",
)
@click.option("--token", default=None, help="Profile API token to accept (default: random).")
@click.option("--token-ttl", default=86_400.0, show_default=True, help="Token lifetime in seconds.")
@click.option(
    "--accept-legacy-token-header",
    is_flag=True,
    help="Also accept the token in the 'access_token:' header of older Adobe docs "
    "(default: only 'Authorization: Bearer').",
)
@click.option(
    "--rate-limit",
    default="50/60",
    show_default=True,
    help="Bulk calls allowed per sliding window, CALLS/SECONDS, or 'none'.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND=VALUE",
    help="Inject a fault (repeatable): 500/502/503/429/reset/truncated/stuck=PROBABILITY, "
    "retry-after/latency/jitter/slow-body=SECONDS, first-k=CALLS, on-status=true. Row faults "
    "(the batch is accepted, the row is not applied and batchStatus lists it as failed): "
    "fail-rows=RATE (per id, by a seeded hash), fail-ids=REGEX (on the decoded id), "
    "fail-once=true (a failed id succeeds when sent again). reject-ids=REGEX: a batch holding "
    "a matching id is refused whole (success=false, 'Unexpected error').",
)
@click.option(
    "--status-delay",
    default=0.0,
    show_default=True,
    help="Seconds a batch stays 'incomplete' before 'complete'.",
)
@click.option(
    "--status-delay-jitter",
    default=0.0,
    show_default=True,
    help="Random extra seconds per batch, uniform in [0, J) (seeded): e.g. --status-delay 2 "
    "--status-delay-jitter 3 for 2-5 s of processing per batch.",
)
@click.option(
    "--status-url-style",
    type=click.Choice(["plain", "doc"]),
    default="doc",
    show_default=True,
    help="batchStatus URL of the submit answer: plain (…/profile/batchStatus?batchId=…) or doc "
    "(Adobe's documented example: …/v2/profile/batchStatus?batchId=…&m2Node=00, with the '&' "
    "left bare, so the answer is not well-formed XML).",
)
@click.option(
    "--status-retention",
    type=int,
    default=None,
    help="Keep only the last N batch statuses (Target keeps about 10; default: all).",
)
@click.option(
    "--store-profiles/--no-store-profiles",
    default=True,
    show_default=True,
    help="Keep a profile store (v1 existence checks, profile fetch).",
)
@click.option(
    "--keep-receipts/--no-keep-receipts",
    default=True,
    show_default=True,
    help="Keep every row taken (accepted, not failed by a row fault) for --receipts and "
    "/__mock/receipts.",
)
@click.option(
    "--receipts",
    type=PathType(dir_okay=False),
    default=None,
    help="Write the receipts (every row taken) as JSON to this file on exit.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    help="Seed of the fault injection, row failures and status delays.",
)
@click.option("--tenant", default="demo-tenant", show_default=True, help="IMS tenant (Admin API).")
@click.option("--ims-client-id", default="demo-client-id", show_default=True, help="IMS client id.")
@click.option(
    "--ims-client-secret",
    default="demo-client-secret",
    show_default=True,
    help="IMS client secret.",
)
@handle_errors
def mock_server(
    host: str,
    port: int,
    client_code: str,
    require_auth: bool,
    token: str | None,
    token_ttl: float,
    accept_legacy_token_header: bool,
    rate_limit: str,
    faults: tuple[str, ...],
    status_delay: float,
    status_delay_jitter: float,
    status_url_style: StatusUrlStyle,
    status_retention: int | None,
    store_profiles: bool,
    keep_receipts: bool,
    receipts: Path | None,
    seed: int,
    tenant: str,
    ims_client_id: str,
    ims_client_secret: str,
) -> None:
    """Run a local mock of Adobe Target's Profile APIs (bulk v1/v2, batchStatus, profile
    fetch, IMS and Admin API tokens) with fault injection, until Ctrl-C."""
    try:
        config = MockConfig(
            client_code=client_code,
            require_auth=require_auth,
            token=token,
            token_ttl=token_ttl,
            accept_legacy_token_header=accept_legacy_token_header,
            rate_limit=parse_rate_limit(rate_limit),
            status_delay=status_delay,
            status_delay_jitter=status_delay_jitter,
            status_url_style=status_url_style,
            status_retention=status_retention,
            faults=parse_faults(faults),
            keep_receipts=keep_receipts,
            store_profiles=store_profiles,
            seed=seed,
            ims_client_id=ims_client_id,
            ims_client_secret=ims_client_secret,
            tenant=tenant,
            host=host,
            port=port,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if receipts is not None:
        _check_receipts(receipts)
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(_serve(config, receipts))
