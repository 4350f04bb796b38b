"""The installed version (one metadata look-up, ~70 ms: loaded only when something asks)."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("uploader")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
