"""uploader: stream CRM profiles from CSV/Parquet into Adobe Target's Bulk Profile Update API."""

from importlib.metadata import PackageNotFoundError, version

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

try:
    __version__ = version("uploader")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

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
