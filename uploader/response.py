"""Target's XML answers, parsed safely (defusedxml: no entities, no external fetches).

Submit: ``<response><success>true</success><batchStatus>URL</batchStatus>
<message>…</message></response>`` — HTTP 200 even when ``success`` is false.
Status: ``<response><batchId>…</batchId><status>complete|incomplete|stuck</status>
<batchSize>…</batchSize>[<consumedCount>…, <successfulUpdates>…, <profilesNotFound>…,
<failedUpdates>…]</response>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from uploader.errors import ServerError

__all__ = ["StatusResult", "SubmitResult", "parse_status", "parse_submit"]


@dataclass(frozen=True, slots=True)
class SubmitResult:
    success: bool
    message: str
    status_url: str | None  # where Target reports on the batch (often another edge host)
    batch_id: str | None


@dataclass(frozen=True, slots=True)
class StatusResult:
    batch_id: str | None
    status: str  # complete | incomplete | stuck | (anything else Target says)
    batch_size: int | None
    consumed_count: int | None
    successful_updates: int | None
    profiles_not_found: int | None
    failed_updates: int | None
    message: str  # for answers without a status (e.g. an unknown batch id)


def _root(body: bytes) -> Element:
    try:
        root: Element = SafeET.fromstring(body)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        snippet = body[:80].decode("utf-8", errors="replace")
        raise ServerError(f"unreadable answer from Target: {snippet!r}") from exc
    if root.tag != "response":
        raise ServerError(f"unexpected answer from Target: <{root.tag}>")
    return root


def _text(root: Element, tag: str) -> str | None:
    element = root.find(tag)
    if element is None:
        return None
    return (element.text or "").strip()


def _int(root: Element, tag: str) -> int | None:
    text = _text(root, tag)
    try:
        return int(text) if text else None
    except ValueError:
        return None


def parse_submit(body: bytes) -> SubmitResult:
    """The batchUpdate answer. Raises ``ServerError`` (transient) when it cannot be read."""
    root = _root(body)
    success = _text(root, "success")
    if success not in ("true", "false"):
        raise ServerError("answer from Target has no <success> verdict")
    status_url = _text(root, "batchStatus") or None
    batch_id = None
    if status_url:
        batch_id = parse_qs(urlsplit(status_url).query).get("batchId", [None])[0]
    return SubmitResult(success == "true", _text(root, "message") or "", status_url, batch_id)


def parse_status(body: bytes) -> StatusResult:
    """The batchStatus answer (with or without ``showDetails=true``)."""
    root = _root(body)
    return StatusResult(
        batch_id=_text(root, "batchId"),
        status=_text(root, "status") or "",
        batch_size=_int(root, "batchSize"),
        consumed_count=_int(root, "consumedCount"),
        successful_updates=_int(root, "successfulUpdates"),
        profiles_not_found=_int(root, "profilesNotFound"),
        failed_updates=_int(root, "failedUpdates"),
        message=_text(root, "message") or "",
    )
