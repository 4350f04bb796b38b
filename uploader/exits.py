"""Exit codes (documented in --help and the README) and the one mapping of errors to them.

Pure and click-free: the library's summaries and reports judge runs with these codes; the CLI
turns an error into its line and code in ``uploader.cli._errors``."""

from __future__ import annotations

from uploader.errors import AuthError, EndpointError, RecordError, UploaderError

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILED",
    "EXIT_HELP",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_YET",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_UNCONFIRMED",
    "EXIT_USAGE",
    "exit_code_for",
]

# One table for the whole product: every command exits with one of these (README, --help).
EXIT_OK = 0  # landed (also "landed, sample verified"; check: ready)
EXIT_FAILED = 1  # some batches or rows failed
EXIT_USAGE = 2  # usage, config, input or ledger error, before anything was sent
EXIT_AUTH = 3  # the token was rejected (or none was given where one is required)
EXIT_NOT_YET = 4  # not final yet: Target is still processing (statuses incomplete)
EXIT_UNCONFIRMED = 5  # nothing failed, but statuses expired and no read-back confirmed them
EXIT_STOPPED = 6  # stopped early, resumable (endpoint unreachable, daily budget, limiter lost)
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM: stopped cleanly, resumable

EXIT_HELP = """\b
Exit codes (the same for every command):
  0    landed (or: landed, sample verified; check: ready)
  1    some batches or rows failed (`uploader report --failed-rows` writes them)
  2    usage, config, input or ledger error, before anything was sent
  3    the token was rejected or is missing; fix it and --resume
  4    not final yet: Target is still processing (`uploader status --watch`)
  5    unconfirmed: nothing failed, but Target forgot the statuses and no
       read-back confirmed them (`uploader verify`)
  6    stopped early, resumable (e.g. endpoint unreachable); --resume continues
  130  interrupted (Ctrl-C / SIGTERM); --resume continues"""


def exit_code_for(error: UploaderError) -> int:
    if isinstance(error, AuthError):
        return EXIT_AUTH
    if isinstance(error, RecordError | EndpointError):
        return EXIT_STOPPED  # something may have been sent: resumable, not a usage error
    return EXIT_USAGE
