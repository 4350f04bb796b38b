"""uploader: stream CRM profiles from CSV/Parquet into Adobe Target's Bulk Profile Update API.

The Python API (README "Python API"): ``upload_files`` (files, synchronous), ``upload`` (any
``BatchSource``, async; ``frame_source`` makes one of a polars DataFrame), the token
providers, and reconciliation (``poll_statuses``, ``verify``, ``build_report``,
``preflight``). Names are imported on first use: ``import uploader`` loads neither polars
nor the network stack, nor the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uploader._lazy import lazy_exports
from uploader.errors import (
    AuthError,
    BatchRejected,
    ConfigError,
    InputError,
    LedgerError,
    RemoteError,
    ServerError,
    Throttled,
    TransportError,
    UploaderError,
)

if TYPE_CHECKING:
    from uploader._api import FileOptions, sync_files, upload, upload_files
    from uploader._version import __version__
    from uploader.auth._adobe_io import AdobeIOCredentials
    from uploader.auth._secret import Secret
    from uploader.auth._sources import AdobeIOToken, CommandToken
    from uploader.auth._static import StaticToken, TokenProvider, token_from_env, token_from_file
    from uploader.ledger._records import InputFingerprint, SourceRecord
    from uploader.ledger._summary import RunSummary
    from uploader.produce._batcher import BatchLimits
    from uploader.produce._frame import frame_source
    from uploader.produce._model import Batch, BatchSource, ProduceStats
    from uploader.produce._producer import InputSpec, Producer
    from uploader.reconcile._preflight import CheckResult, preflight
    from uploader.reconcile._report import RunReport, build_report
    from uploader.reconcile._status import StatusReport, poll_statuses
    from uploader.reconcile._verify import VerifySummary, verify
    from uploader.send._engine import UploadConfig
    from uploader.send._ratelimit import RateLimit
    from uploader.send._retry import RetryPolicy

#: public name → the private module that defines it (imported on first use, ``uploader._lazy``)
_LAZY = {
    "__version__": "uploader._version",
    "upload": "uploader._api",
    "upload_files": "uploader._api",
    "sync_files": "uploader._api",
    "FileOptions": "uploader._api",
    "AdobeIOCredentials": "uploader.auth._adobe_io",
    "Secret": "uploader.auth._secret",
    "AdobeIOToken": "uploader.auth._sources",
    "CommandToken": "uploader.auth._sources",
    "StaticToken": "uploader.auth._static",
    "TokenProvider": "uploader.auth._static",
    "token_from_env": "uploader.auth._static",
    "token_from_file": "uploader.auth._static",
    "InputFingerprint": "uploader.ledger._records",
    "SourceRecord": "uploader.ledger._records",
    "RunSummary": "uploader.ledger._summary",
    "BatchLimits": "uploader.produce._batcher",
    "frame_source": "uploader.produce._frame",
    "Batch": "uploader.produce._model",
    "BatchSource": "uploader.produce._model",
    "ProduceStats": "uploader.produce._model",
    "InputSpec": "uploader.produce._producer",
    "Producer": "uploader.produce._producer",
    "CheckResult": "uploader.reconcile._preflight",
    "preflight": "uploader.reconcile._preflight",
    "RunReport": "uploader.reconcile._report",
    "build_report": "uploader.reconcile._report",
    "StatusReport": "uploader.reconcile._status",
    "poll_statuses": "uploader.reconcile._status",
    "VerifySummary": "uploader.reconcile._verify",
    "verify": "uploader.reconcile._verify",
    "UploadConfig": "uploader.send._engine",
    "RateLimit": "uploader.send._ratelimit",
    "RetryPolicy": "uploader.send._retry",
}

__all__ = [
    "AdobeIOCredentials",
    "AdobeIOToken",
    "AuthError",
    "Batch",
    "BatchLimits",
    "BatchRejected",
    "BatchSource",
    "CheckResult",
    "CommandToken",
    "ConfigError",
    "FileOptions",
    "InputError",
    "InputFingerprint",
    "InputSpec",
    "LedgerError",
    "ProduceStats",
    "Producer",
    "RateLimit",
    "RemoteError",
    "RetryPolicy",
    "RunReport",
    "RunSummary",
    "Secret",
    "ServerError",
    "SourceRecord",
    "StaticToken",
    "StatusReport",
    "Throttled",
    "TokenProvider",
    "TransportError",
    "UploadConfig",
    "UploaderError",
    "VerifySummary",
    "__version__",
    "build_report",
    "frame_source",
    "poll_statuses",
    "preflight",
    "sync_files",
    "token_from_env",
    "token_from_file",
    "upload",
    "upload_files",
    "verify",
]

if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
