"""Adobe I/O's default endpoints, scopes and timeout, importable without aiohttp (the CLI's
option defaults read them)."""

from __future__ import annotations

__all__ = ["DEFAULT_ADMIN_TIMEOUT", "DEFAULT_ADMIN_URL", "DEFAULT_IMS_URL", "DEFAULT_SCOPES"]

DEFAULT_IMS_URL = "https://ims-na1.adobelogin.com"
DEFAULT_ADMIN_URL = "https://mc.adobe.io"
DEFAULT_SCOPES = "openid,AdobeID,target_sdk,additional_info.projectedProductContext,read_organizations,additional_info.roles"
DEFAULT_ADMIN_TIMEOUT = 30.0
