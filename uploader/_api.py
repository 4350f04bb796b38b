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
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from uploader._log import get_logger
from uploader.produce._limits import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_ROWS
from uploader.produce._modes import DEFAULT_ENCODE
from uploader.send._defaults import DEFAULT_BISECT_CALLS, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT
from uploader.send._retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_MAX_WAIT

if TYPE_CHECKING:
    from uploader.auth._static import TokenProvider
    from uploader.ledger._summary import RunSummary
    from uploader.produce._model import BatchSource
    from uploader.produce._modes import DuplicateMode, EncodeMode, IdType
    from uploader.reconcile._status import Acknowledged, StatusReport
    from uploader.reconcile._verify import VerifySummary
    from uploader.send._engine import ApiVersion, Progress, UploadConfig
    from uploader.send._ratelimit import RateLimit

__all__ = ["EARLY_POLL_SECONDS", "WAIT_TIMEOUT", "run_upload", "upload", "upload_files"]

log = get_logger(__name__)

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
    from uploader.errors import ConfigError
    from uploader.ledger import _lock as lock
    from uploader.produce._rejects import RejectsWriter

    # checked now: after sending, a bad setting would lose the wait or the verification
    if wait_timeout < 0 or (poll_every is not None and poll_every <= 0):
        raise ConfigError("the wait timeout and the poll interval must be positive")
    if verify is not None and verify < 1:
        raise ConfigError("verify: the sample must be at least 1 profile")
    if verify is not None and not _can_read_again(source):
        raise ConfigError(
            "verify compares Target's profiles with the rows read again from their files: "
            "this source has none (a DataFrame or a source of one's own); verify its run "
            "with the files, or without verify"
        )
    tokens = tokens if tokens is not None else token_from_env()
    # The ledger's lock first: another run's rejects file must not be truncated. A resumed
    # run re-reads the input: its rejects file is rewritten identically.
    with lock.hold(config.ledger), contextlib.ExitStack() as stack:
        if source.rejects is None:
            # an existing ledger's rejects are that run's: kept if this run is refused
            keep = config.ledger.exists()
            source.rejects = stack.enter_context(
                RejectsWriter(config.ledger.with_name("rejects.csv"), keep=keep)
            )
        early = poll_every if wait else None
        summary = await _send(source, config, tokens, progress, early, handle_signals)
        _write_summary_file(summary, config.ledger.with_name("summary.json"))
        if after_send is not None:
            await after_send(summary)
        if summary.stop_reason is None:  # a stopped run's exit code says what to do
            if wait:
                summary.target = await _wait_for_target(config, tokens, wait_timeout)
            if verify is not None:
                summary.verification = await _verify(config, tokens, verify)
    log.info("run ended with exit code %d (ledger %s)", summary.exit_code, config.ledger)
    return summary


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
    _no_running_loop()
    # The event loop is made first: an interrupt inside its construction leaves a
    # half-made loop that prints a traceback when collected.
    with asyncio.Runner() as runner:
        runner.get_loop()
        return runner.run(
            upload(
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


def upload_files(
    paths: str | Path | Iterable[str | Path],
    *,
    client_code: str,
    endpoint: str | None = None,
    ledger: str | Path | None = None,
    resume: bool = False,
    tokens: TokenProvider | None = None,
    id_column: str | None = None,
    id_type: IdType | None = None,
    columns: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    duplicates: DuplicateMode = "merge",
    encode: EncodeMode = DEFAULT_ENCODE,
    strict: bool = False,
    allow_empty: bool = False,
    separator: str | None = None,
    input_encoding: str = "utf-8",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    api_version: ApiVersion = "v2",
    concurrency: int = DEFAULT_CONCURRENCY,
    rate: RateLimit | str | None = "50/60",
    max_retries: int = DEFAULT_MAX_RETRIES,
    retry_max_wait: float = DEFAULT_RETRY_MAX_WAIT,
    timeout: float = DEFAULT_TIMEOUT,
    bisect_calls: int = DEFAULT_BISECT_CALLS,
    max_rejects: str | None = None,
    ca_bundle: str | None = None,
    wait: bool = False,
    wait_timeout: float = WAIT_TIMEOUT,
    verify: int | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Upload CSV/Parquet files (a path, or paths and globs) as ``uploader upload`` does, from
    synchronous code (an Airflow task, a script): one event loop for the whole run. Inside a
    running event loop (async code, a Jupyter cell) ``await upload(...)`` instead.

    Every option is the command's flag of the same name (``--batch-rows`` → ``batch_rows``),
    with the same default. ``ledger``: default ``runs/<UTC time>-<pid>/ledger.jsonl``;
    ``resume`` continues the run in it. ``rate``: ``"50/60"`` (N calls per SECONDS; the
    default), a ``RateLimit``, or ``None`` for no client-side limit. ``max_rejects``:
    ``"100"`` rows or ``"0.5%"`` of the rows read. Returns the summary; ``summary.exit_code``
    is the command's exit code.
    """
    from uploader.errors import ConfigError
    from uploader.ledger._runs import new_run_ledger
    from uploader.produce._batcher import BatchLimits
    from uploader.produce._producer import InputSpec, Producer
    from uploader.produce._rejects import RejectLimit
    from uploader.send._engine import UploadConfig
    from uploader.send._ratelimit import parse_rate
    from uploader.send._retry import RetryPolicy

    _no_running_loop()
    if isinstance(rate, str):
        rate = parse_rate(rate)
    if isinstance(paths, (str, Path)):  # one file: not the characters of its name
        paths = [paths]
    if max_retries < 0:
        raise ConfigError("$max_retries must be 0 or more", settings=("max_retries",))
    spec = InputSpec(
        sources=tuple(paths),
        id_column=id_column,
        id_type=id_type,
        columns=tuple(columns) if columns is not None else None,
        rename=dict(rename or {}),
        limits=BatchLimits(rows=batch_rows, bytes=batch_bytes),
        encode=encode,
        strict=strict,
        duplicates=duplicates,
        allow_empty=allow_empty,
        separator=separator,
        input_encoding=input_encoding,
    )
    config = UploadConfig(
        client_code=client_code,
        ledger=Path(ledger) if ledger is not None else new_run_ledger(),
        endpoint=endpoint,
        api_version=api_version,
        concurrency=concurrency,
        rate=rate,
        retry=RetryPolicy(max_retries=max_retries, max_wait=retry_max_wait),
        timeout=timeout,
        resume=resume,
        ca_bundle=ca_bundle,
        bisect_calls=bisect_calls,
        max_rejects=RejectLimit(max_rejects) if max_rejects is not None else None,
    )
    return run_upload(
        Producer(spec),
        config,
        tokens,
        progress=progress,
        wait=wait,
        wait_timeout=wait_timeout,
        verify=verify,
    )


def _no_running_loop() -> None:
    """The synchronous calls make their own event loop, which cannot run inside another."""
    from uploader.errors import ConfigError

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise ConfigError(
        "upload_files runs its own event loop and this code already runs in one (async "
        "code, a Jupyter cell): use `await uploader.upload(...)` there"
    )


async def _send(
    source: BatchSource,
    config: UploadConfig,
    tokens: TokenProvider,
    progress: Progress | None,
    poll_every: float | None,
    handle_signals: bool,
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

    log.info("waiting for Target to process the batches")
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


def _write_summary_file(summary: RunSummary, path: Path) -> None:
    """``summary.json``: a side file, the ledger holds the same summary (if it could): one
    that cannot be written is a warning, not a failed run."""
    import orjson

    try:
        path.write_bytes(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2))
    except OSError as exc:
        warning = f"{path}: cannot write ({exc.strerror})"
        log.warning("%s", warning)
        summary.warnings.append(warning)
