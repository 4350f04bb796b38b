"""The one TLS context of every HTTPS call the uploader makes (Target, batchStatus, profile
fetch, Adobe IMS and Admin API): the system's trust store, plus ``--ca-bundle`` when given.

Added, not substituted: ``ssl.create_default_context(cafile=…)`` trusts *only* the bundle,
which breaks every other host a run talks to (the Adobe I/O login behind a TLS-inspecting
proxy's private CA, say). Verification is never turned off (design.md).
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path

from uploader.errors import ConfigError

__all__ = ["tls_context"]


@functools.lru_cache(maxsize=8)  # one trust store load per bundle and process, not per session
def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """The system trust store plus the PEM certificates in ``ca_bundle``.

    Raises ``ConfigError`` (one line) when the bundle is missing, unreadable, or holds no PEM
    certificate: the commands build this before sending anything.
    """
    context = ssl.create_default_context()
    if ca_bundle is None:
        return context
    option = f"$ca_bundle {ca_bundle}"
    settings = ("ca_bundle",)
    path = Path(ca_bundle)
    if not path.is_file():
        raise ConfigError(
            f"{option}: {'not a file' if path.exists() else 'no such file'}", settings=settings
        )
    try:
        # cadata, not cafile: only certificates count (a file of keys or garbage is refused)
        pem = path.read_text(encoding="ascii")
        context.load_verify_locations(cadata=pem)
    except (UnicodeDecodeError, ssl.SSLError, ValueError):
        raise ConfigError(
            f"{option}: expected PEM certificates (-----BEGIN CERTIFICATE-----)",
            settings=settings,
        ) from None
    except OSError as exc:  # after ssl.SSLError, which is an OSError
        raise ConfigError(
            f"{option}: cannot read ({exc.strerror or exc})", settings=settings
        ) from None
    return context
