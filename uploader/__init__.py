"""uploader: stream CRM profiles from CSV/Parquet into Adobe Target's Bulk Profile Update API."""

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

__all__ = [
    "AuthError",
    "BatchRejected",
    "ConfigError",
    "InputError",
    "LedgerError",
    "RemoteError",
    "ServerError",
    "Throttled",
    "TransportError",
    "UploaderError",
]
