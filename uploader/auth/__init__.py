"""Auth: where the profile token comes from (env, file, command, Adobe I/O) and how it is kept secret.

Public names load on first use (``uploader._lazy``): ``import uploader.auth`` alone does not
import aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uploader._lazy import lazy_exports

if TYPE_CHECKING:
    from uploader.auth._adobe_io import AdobeIOCredentials, ProfileToken, request_profile_token
    from uploader.auth._defaults import DEFAULT_ADMIN_URL, DEFAULT_IMS_URL, DEFAULT_SCOPES
    from uploader.auth._secret import Secret
    from uploader.auth._sources import AdobeIOToken, CommandToken
    from uploader.auth._static import (
        DEFAULT_TOKEN_ENV,
        StaticToken,
        TokenProvider,
        token_from_env,
        token_from_file,
    )

__all__ = [
    "DEFAULT_ADMIN_URL",
    "DEFAULT_IMS_URL",
    "DEFAULT_SCOPES",
    "DEFAULT_TOKEN_ENV",
    "AdobeIOCredentials",
    "AdobeIOToken",
    "CommandToken",
    "ProfileToken",
    "Secret",
    "StaticToken",
    "TokenProvider",
    "request_profile_token",
    "token_from_env",
    "token_from_file",
]
if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "DEFAULT_TOKEN_ENV": "uploader.auth._static",
            "StaticToken": "uploader.auth._static",
            "TokenProvider": "uploader.auth._static",
            "token_from_env": "uploader.auth._static",
            "token_from_file": "uploader.auth._static",
            "AdobeIOToken": "uploader.auth._sources",
            "CommandToken": "uploader.auth._sources",
            "AdobeIOCredentials": "uploader.auth._adobe_io",
            "ProfileToken": "uploader.auth._adobe_io",
            "request_profile_token": "uploader.auth._adobe_io",
            "DEFAULT_ADMIN_URL": "uploader.auth._defaults",
            "DEFAULT_IMS_URL": "uploader.auth._defaults",
            "DEFAULT_SCOPES": "uploader.auth._defaults",
            "Secret": "uploader.auth._secret",
        },
    )
