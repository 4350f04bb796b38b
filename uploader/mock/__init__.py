"""A faithful local Adobe Target Profile API (bulk v1/v2, batchStatus, profile fetch, single
update, IMS + Admin API tokens) with seeded fault injection and exact receipts.

    async with MockTarget(MockConfig(client_code="demo")) as mock:
        ...  # POST f"{mock.base_url}/m2/demo/v2/profile/batchUpdate"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uploader._lazy import lazy_exports

if TYPE_CHECKING:
    from uploader.mock._config import FaultConfig, MockConfig
    from uploader.mock._server import MockTarget, run_mock_in_thread
    from uploader.mock._store import ProfileStore

__all__ = ["FaultConfig", "MockConfig", "MockTarget", "ProfileStore", "run_mock_in_thread"]
if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "FaultConfig": "uploader.mock._config",
            "MockConfig": "uploader.mock._config",
            "MockTarget": "uploader.mock._server",
            "ProfileStore": "uploader.mock._store",
            "run_mock_in_thread": "uploader.mock._server",
        },
    )
