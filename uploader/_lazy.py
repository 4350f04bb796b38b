"""Lazy re-exports for a package's ``__init__``: its public names are imported from their
private modules only when first touched, so ``import uploader.send`` (or the CLI, which
imports light modules of the sub-packages) does not pull in polars, numpy or aiohttp.

One mechanism for every package (``uploader``'s own ``__init__`` included)::

    from typing import TYPE_CHECKING

    from uploader._lazy import lazy_exports

    if TYPE_CHECKING:  # what mypy and editors see; at runtime the names load on first use
        from uploader.send._engine import UploadConfig, upload

    __all__ = ["UploadConfig", "upload"]
    if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
        __getattr__, __dir__ = lazy_exports(
            __name__, {"UploadConfig": "uploader.send._engine", "upload": "uploader.send._engine"}
        )

Each name is looked up once, then stored in the package's namespace (later look-ups are
ordinary attribute reads). The ``if not TYPE_CHECKING`` keeps mypy strict: a module
``__getattr__`` it can see would make every misspelt name type-check as ``Any``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``, which exports each name of
    ``names`` ({public name: module that defines it}) on first access."""
    origins = dict(names)

    def __getattr__(name: str) -> Any:
        module = origins.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(origins))

    return __getattr__, __dir__
