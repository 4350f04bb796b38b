"""The Python API: ``upload`` (any batch source, async) and ``upload_files`` (files, sync).

One run is what ``uploader upload`` does, and the command calls these: the ledger's lock,
the rejects file and ``summary.json`` beside the ledger, the batches sent (with ``wait``,
Target's batchStatus polled while sending, then until every batch is final), optionally a
sample read back. All of it runs in one event loop.

Nothing heavy is imported until a function runs: ``import uploader`` stays cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from uploader._log import get_logger
from uploader.produce._limits import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_ROWS
from uploader.produce._modes import DEFAULT_ENCODE
from uploader.send._defaults import DEFAULT_BISECT_CALLS, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT
from uploader.send._retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_MAX_WAIT
from uploader.sync._defaults import DEFAULT_REFRESH_AFTER_DAYS

if TYPE_CHECKING:
    from uploader.auth._static import TokenProvider
    from uploader.ledger._summary import RunSummary
    from uploader.produce._model import BatchSource
    from uploader.produce._modes import DuplicateMode, EncodeMode, IdType
    from uploader.produce._producer import InputSpec
    from uploader.reconcile._status import Acknowledged, StatusReport
    from uploader.reconcile._verify import VerifySummary
    from uploader.send._engine import ApiVersion, Progress, UploadConfig
    from uploader.send._metrics import MetricsFile
    from uploader.send._ratelimit import RateLimit

__all__ = [
    "EARLY_POLL_SECONDS",
    "WAIT_TIMEOUT",
    "FileOptions",
    "files_run",
    "in_own_loop",
    "run_upload",
    "sync_files",
    "upload",
    "upload_files",
    "write_summary_file",
]

log = get_logger(__name__)
T = TypeVar("T")

EARLY_POLL_SECONDS = 10.0  # with wait: poll acknowledged batches this often while sending
WAIT_TIMEOUT = 3600.0  # with wait: stop polling after this many seconds (exit 4)
STATUS_CALL_TIMEOUT = 60.0

#: called once the batches are sent, before the wait (the CLI prints there)
AfterSend = Callable[["RunSummary"], Awaitable[None]]


async def upload(
    source: BatchSource,
    config: UploadConfig,
    tokens: TokenProvider | None = None,
    *,
    progress: Progress | None = None,
    wait: bool = False,
    wait_timeout: float = WAIT_TIMEOUT,
    poll_every: float | None = EARLY_POLL_SECONDS,
    verify: int | None = None,
    after_send: AfterSend | None = None,
    handle_signals: bool = False,
) -> RunSummary:
    """Send ``source``'s batches to Target as ``config`` says; return the run's summary.

    ``tokens``: the profile token's provider; default ``token_from_env()``
    ($TARGET_PROFILE_TOKEN; unset: unauthenticated calls). The ledger's lock is held for the
    whole run; the rejects file (``rejects.csv``, when the source has none of its own) and
    ``summary.json`` are written beside the ledger.

    ``wait``: poll Target's batchStatus every ``poll_every`` seconds while sending (Target
    keeps only its last ~10 statuses; ``None``: not while sending), then until every batch is
    complete or stuck, or ``wait_timeout`` seconds passed: ``summary.target``. ``verify``:
    then read a sample of that many profiles back: ``summary.verification``. Neither runs
    after a run that stopped (refused token, interrupt). ``summary.exit_code`` says it all.

    Raises ``UploaderError``s only for what prevents a run (config, input, ledger), before
    anything is sent; what happened to the batches is in the summary.
    """
    from uploader.auth._static import token_from_env
    from uploader.errors import ConfigError, UploaderError
    from uploader.exits import exit_code_for
    from uploader.ledger import _lock as lock
    from uploader.ledger._summary import RunSummary
    from uploader.produce._rejects import RejectsWriter

    # checked now: after sending, a bad setting would lose the wait or the verification
    if wait_timeout < 0:
        raise ConfigError("$wait_timeout must be 0 or more", settings=("wait_timeout",))
    if poll_every is not None and poll_every <= 0:
        raise ConfigError("$poll_every must be positive", settings=("poll_every",))
    if verify is not None and verify < 1:
        raise ConfigError("verify: the sample must be at least 1 profile")
    if verify is not None and not _can_read_again(source):
        raise ConfigError(
            "verify compares Target's profiles with the rows read again from their files: "
            "this source has none (a DataFrame or a source of one's own); verify its run "
            "with the files, or without verify"
        )
    tokens = tokens if tokens is not None else token_from_env()
    metrics = _open_metrics(config)
    # The ledger's lock first: another run's rejects file must not be truncated. A resumed
    # run re-reads the input: its rejects file is rewritten identically.
    try:
        with lock.hold(config.ledger), contextlib.ExitStack() as stack:
            if source.rejects is None:
                source.rejects = stack.enter_context(
                    RejectsWriter(config.ledger.with_name("rejects.csv"))
                )
            early = poll_every if wait else None
            summary = await _send(source, config, tokens, progress, early, handle_signals, metrics)
            stack.close()  # the rejects file is whole once sent: kept if waiting fails later
            write_summary_file(summary, config.ledger.with_name("summary.json"))
            if after_send is not None:
                await after_send(summary)
            if summary.stop_reason is None:  # a stopped run's exit code says what to do
                async with _still_running(metrics, summary):
                    if wait:
                        summary.target = await _wait_for_target(config, tokens, wait_timeout)
                    if verify is not None:
                        summary.verification = await _verify(config, tokens, verify)
    except UploaderError as error:  # nothing sent: the file still says how the run ended
        if metrics is not None:
            metrics.write(RunSummary(), exit_code=exit_code_for(error))
        raise
    if metrics is not None:
        metrics.write(summary, exit_code=summary.exit_code)
    log.info(
        "run ended with exit code %d (ledger %s)",
        summary.exit_code,
        config.ledger,
        extra={"event": "run_ended", "exit_code": summary.exit_code},
    )
    return summary


@contextlib.asynccontextmanager
async def _still_running(metrics: MetricsFile | None, summary: RunSummary) -> AsyncIterator[None]:
    """While the run waits for Target (or reads a sample back) after sending: the metrics
    file rewritten as often as while sending, so a stalled run shows (its mtime)."""
    from uploader.send._metrics import METRICS_EVERY

    async def keep_writing(metrics: MetricsFile) -> None:
        while True:
            await asyncio.sleep(METRICS_EVERY)
            metrics.write(summary)

    writing = None if metrics is None else asyncio.create_task(keep_writing(metrics))
    try:
        yield
    finally:
        if writing is not None:
            writing.cancel()


def _open_metrics(config: UploadConfig) -> MetricsFile | None:
    """``config.metrics_file``, checked before anything is sent."""
    from uploader.send._metrics import MetricsFile

    if config.metrics_file is None:
        return None
    metrics = MetricsFile(config.metrics_file, config.client_code)
    metrics.open()
    return metrics


def run_upload(
    source: BatchSource,
    config: UploadConfig,
    tokens: TokenProvider | None = None,
    *,
    progress: Progress | None = None,
    wait: bool = False,
    wait_timeout: float = WAIT_TIMEOUT,
    poll_every: float | None = EARLY_POLL_SECONDS,
    verify: int | None = None,
    after_send: AfterSend | None = None,
    handle_signals: bool = False,
) -> RunSummary:
    """``upload`` from synchronous code, in an event loop of its own."""
    return in_own_loop(
        lambda: upload(
            source,
            config,
            tokens,
            progress=progress,
            wait=wait,
            wait_timeout=wait_timeout,
            poll_every=poll_every,
            verify=verify,
            after_send=after_send,
            handle_signals=handle_signals,
        )
    )


def in_own_loop(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` in an event loop of its own: the synchronous calls
    (``upload_files``, ``sync_files``, the commands). The loop is made before the coroutine:
    an interrupt inside the loop's construction would otherwise leave a half-made loop (a
    traceback when collected) and a coroutine never awaited."""
    from uploader.errors import ConfigError

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ConfigError(
            "upload_files and sync_files run their own event loop and this code already runs "
            "in one (async code, a Jupyter cell): use `await uploader.upload(...)` there"
        )
    with asyncio.Runner() as runner:
        runner.get_loop()
        return runner.run(make())


class FileOptions(TypedDict, total=False):
    """The options of ``upload_files`` and ``sync_files`` beside ``client_code``: the
    command's flags under their parameter names (``--batch-rows`` → ``batch_rows``), with the
    command's defaults. ``ledger``: default ``runs/<UTC time>-<pid>/ledger.jsonl``;
    ``resume`` continues the run in it. ``rate``: ``"50/60"`` (N calls per SECONDS; the
    default), a ``RateLimit``, or ``None`` for no client-side limit. ``max_rejects``: ``"100"``
    rows or ``"0.5%"`` of the rows read. ``rate_store``:
    ``"redis://HOST:PORT/DB"`` keeps the rate's window there, shared by every process of the
    client code. ``daily_rows``: never more rows than this for the client code in any rolling
    24 h (a batch that would exceed it stops the run, the rest pending; ``resume`` later),
    counted in ``rate_store``'s Redis or else in ``daily_rows_file``. ``shard``: ``(I, N)`` or
    ``"I/N"``, only the rows of shard I of N (see ``--shard``). ``metrics_file``: write
    the run's numbers there as a Prometheus textfile, every 10 s and at the end (see
    ``--metrics-file``). ``tokens``: default ``$TARGET_PROFILE_TOKEN``."""

    endpoint: str | None
    ledger: str | Path | None
    resume: bool
    tokens: TokenProvider | None
    id_column: str | None
    id_type: IdType | None
    columns: Sequence[str] | None
    rename: Mapping[str, str] | None
    duplicates: DuplicateMode
    encode: EncodeMode
    strict: bool
    allow_empty: bool
    separator: str | None
    input_encoding: str
    shard: tuple[int, int] | str | None
    batch_rows: int
    batch_bytes: int
    api_version: ApiVersion
    concurrency: int
    rate: RateLimit | str | None
    rate_store: str | None
    daily_rows: int | None
    daily_rows_file: str | Path | None
    max_retries: int
    retry_max_wait: float
    timeout: float
    bisect_calls: int
    max_rejects: str | None
    ca_bundle: str | None
    metrics_file: str | Path | None
    progress: Progress | None


def upload_files(
    paths: str | Path | Iterable[str | Path],
    *,
    client_code: str,
    wait: bool = False,
    wait_timeout: float = WAIT_TIMEOUT,
    verify: int | None = None,
    **options: Unpack[FileOptions],
) -> RunSummary:
    """Upload CSV/Parquet files (a path, or paths and globs) as ``uploader upload`` does, from
    synchronous code (an Airflow task, a script): one event loop for the whole run. Inside a
    running event loop (async code, a Jupyter cell) ``await upload(...)`` instead.

    ``options``: see ``FileOptions`` (every flag of the command). ``wait``: poll Target's
    batch statuses while sending and then until each is final (``summary.target``);
    ``verify``: then read that many profiles back. Returns the summary;
    ``summary.exit_code`` is the command's exit code.
    """
    from uploader.produce._producer import Producer

    spec, config = files_run(paths, client_code, options)
    return run_upload(
        Producer(spec),
        config,
        options.get("tokens"),
        progress=options.get("progress"),
        wait=wait,
        wait_timeout=wait_timeout,
        verify=verify,
    )


def sync_files(
    paths: str | Path | Iterable[str | Path],
    *,
    client_code: str,
    state: str | Path,
    refresh_after_days: int = DEFAULT_REFRESH_AFTER_DAYS,
    full: bool = False,
    forget_missing: bool = False,
    missing: str | Path | None = None,
    wait_timeout: float = WAIT_TIMEOUT,
    **options: Unpack[FileOptions],
) -> RunSummary:
    """One night of a nightly sync, as ``uploader sync`` does it, from synchronous code: send
    the rows of ``paths`` that are new, changed or due for a refresh since the state in
    ``state``, wait for Target's statuses, commit the state for what landed
    (``uploader.sync.sync``). ``options``: see ``FileOptions``."""
    from uploader.sync._run import sync

    spec, config = files_run(paths, client_code, options)
    state_dir = given_path("state", state)
    missing_file = given_path("missing", missing)
    assert state_dir is not None  # given, not None
    return in_own_loop(
        lambda: sync(
            spec,
            config,
            state_dir,
            options.get("tokens"),
            refresh_after_days=refresh_after_days,
            full=full,
            forget_missing=forget_missing,
            missing=missing_file,
            wait_timeout=wait_timeout,
            progress=options.get("progress"),
        )
    )


def files_run(
    paths: str | Path | Iterable[str | Path], client_code: str, options: FileOptions
) -> tuple[InputSpec, UploadConfig]:
    """What to read and how to send it, from ``FileOptions`` (the command's defaults)."""
    from uploader.errors import ConfigError
    from uploader.ledger._runs import new_run_ledger
    from uploader.produce._batcher import BatchLimits
    from uploader.produce._producer import InputSpec
    from uploader.produce._rejects import RejectLimit
    from uploader.produce._shard import parse_shard
    from uploader.send._engine import UploadConfig
    from uploader.send._ratelimit import parse_rate
    from uploader.send._retry import RetryPolicy
    from uploader.send._row_budget import check_batch_fits

    rate = options.get("rate", "50/60")
    if isinstance(rate, str):
        rate = parse_rate(rate)
    if isinstance(paths, (str, Path)):  # one file: not the characters of its name
        paths = [paths]
    max_retries = options.get("max_retries", DEFAULT_MAX_RETRIES)
    if max_retries < 0:
        raise ConfigError("$max_retries must be 0 or more", settings=("max_retries",))
    columns, ledger = options.get("columns"), given_path("ledger", options.get("ledger"))
    budget_file = given_path("daily_rows_file", options.get("daily_rows_file"))
    shard = options.get("shard")
    max_rejects = options.get("max_rejects")
    metrics_file = given_path("metrics_file", options.get("metrics_file"))
    spec = InputSpec(
        sources=tuple(paths),
        id_column=options.get("id_column"),
        id_type=options.get("id_type"),
        columns=tuple(columns) if columns is not None else None,
        rename=dict(options.get("rename") or {}),
        limits=BatchLimits(
            rows=options.get("batch_rows", DEFAULT_BATCH_ROWS),
            bytes=options.get("batch_bytes", DEFAULT_BATCH_BYTES),
        ),
        encode=options.get("encode", DEFAULT_ENCODE),
        strict=options.get("strict", False),
        duplicates=options.get("duplicates", "merge"),
        allow_empty=options.get("allow_empty", False),
        separator=options.get("separator"),
        input_encoding=options.get("input_encoding", "utf-8"),
        shard=parse_shard(shard) if shard is not None else None,
    )
    config = UploadConfig(
        client_code=client_code,
        ledger=ledger if ledger is not None else new_run_ledger(shard=spec.shard),
        endpoint=options.get("endpoint"),
        api_version=options.get("api_version", "v2"),
        concurrency=options.get("concurrency", DEFAULT_CONCURRENCY),
        rate=rate,
        rate_store=options.get("rate_store"),
        retry=RetryPolicy(
            max_retries=max_retries,
            max_wait=options.get("retry_max_wait", DEFAULT_RETRY_MAX_WAIT),
        ),
        timeout=options.get("timeout", DEFAULT_TIMEOUT),
        resume=options.get("resume", False),
        ca_bundle=options.get("ca_bundle"),
        bisect_calls=options.get("bisect_calls", DEFAULT_BISECT_CALLS),
        max_rejects=RejectLimit(max_rejects) if max_rejects is not None else None,
        daily_rows=options.get("daily_rows"),
        daily_rows_file=budget_file,
        metrics_file=metrics_file,
    )
    check_batch_fits(config.daily_rows, spec.limits.rows)
    return spec, config


def given_path(setting: str, value: str | Path | None) -> Path | None:
    """A path parameter as a ``Path``; an empty one is refused (``Path("")`` is the current
    directory, which no caller means)."""
    from uploader.errors import ConfigError

    if value is not None and not str(value).strip():
        raise ConfigError(f"${setting}: an empty path", settings=(setting,))
    return Path(value) if value is not None else None


async def _send(
    source: BatchSource,
    config: UploadConfig,
    tokens: TokenProvider,
    progress: Progress | None,
    poll_every: float | None,
    handle_signals: bool,
    metrics: MetricsFile | None = None,
) -> RunSummary:
    """The engine's run; with ``poll_every``, meanwhile a status round over the batches it
    has acknowledged so far (as it tells them, in memory) every so many seconds, appended
    to the same ledger. A failed round is left to the final wait, which reports; the upload
    alone decides how the run ends."""
    from uploader.errors import UploaderError
    from uploader.reconcile._status import FINAL, poll_statuses
    from uploader.send._engine import upload as send

    acknowledged: list[Acknowledged] = []
    sending = asyncio.create_task(
        send(
            config,
            source,
            tokens,
            progress=progress,
            handle_signals=handle_signals,
            on_acknowledged=acknowledged.append,
            metrics=metrics,
        )
    )
    if poll_every is None:
        return await sending
    final: set[int] = set()
    while not (await asyncio.wait({sending}, timeout=poll_every))[0]:
        todo = [batch for batch in acknowledged if batch.seq not in final]
        if not todo:
            continue
        with contextlib.suppress(UploaderError):
            report = await poll_statuses(
                config.ledger,
                tokens,
                acknowledged=todo,
                endpoint=config.base_url,
                call_timeout=STATUS_CALL_TIMEOUT,
                ca_bundle=config.ca_bundle,
            )
            final.update(status.seq for status in report.statuses if status.status in FINAL)
    return sending.result()


async def _wait_for_target(
    config: UploadConfig, tokens: TokenProvider, timeout: float
) -> StatusReport:
    """Poll every acknowledged batch of the ledger until each is final (Target forgets
    statuses within hours): the ledger's, so a resumed run's earlier batches are in it."""
    from uploader.reconcile._status import poll_statuses

    log.info("waiting for Target to process the batches", extra={"event": "waiting"})
    return await poll_statuses(
        config.ledger,
        tokens,
        watch=True,
        timeout=timeout,
        call_timeout=STATUS_CALL_TIMEOUT,
        ca_bundle=config.ca_bundle,
    )


async def _verify(config: UploadConfig, tokens: TokenProvider, sample: int) -> VerifySummary:
    from uploader.reconcile._verify import verify

    return await verify(config.ledger, tokens, sample=sample, ca_bundle=config.ca_bundle)


def _can_read_again(source: BatchSource) -> bool:
    """Whether ``verify`` (and ``report``'s failed rows) can rebuild ``source``'s batches
    from the ledger: only files read by a ``Producer`` can be read again."""
    from uploader.produce._producer import Producer
    from uploader.produce._source import SourceFile

    return isinstance(source, Producer) and not any(
        isinstance(item, SourceFile) and item.frame is not None for item in source.spec.sources
    )


def write_summary_file(summary: RunSummary, path: Path) -> None:
    """``summary.json``: a side file, the ledger holds the same summary (if it could): one
    that cannot be written is a warning, not a failed run."""
    import orjson

    try:
        path.write_bytes(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2))
    except OSError as exc:
        warning = f"{path}: cannot write ({exc.strerror})"
        log.warning("%s", warning)
        summary.warnings.append(warning)
