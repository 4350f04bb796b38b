"""Command-line interface: a thin layer over the library (flags → config → run → exit code)."""

from uploader.cli._main import main

__all__ = ["main"]
