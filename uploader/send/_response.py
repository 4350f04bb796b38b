"""Target's XML answers, parsed safely and tolerantly.

Submit: ``<response><success>true</success><batchStatus>URL</batchStatus>
<message>…</message></response>`` — HTTP 200 even when ``success`` is false.
Status: ``<response><batchId>…</batchId><status>complete|incomplete|stuck</status>
<batchSize>…</batchSize>[<consumedCount>…, <successfulUpdates>…, <profilesNotFound>…,
<failedUpdates>…]</response>``, then rows: since May 2020 one
``<profile><id>…</id><status>failed</status></profile>`` per *failed* row only; older answers
listed every row as ``success`` | ``error`` | ``pending``.

**Tolerant:** Adobe's own reference shows a submit answer with a bare ``&`` in the status URL
(``…?batchId=demo-1845664501&m2Node=00``), which is not well-formed XML. Treating it as
unreadable would retry — re-send — a batch Target accepted. So a ``&`` that does not start one
of XML's five predefined entities or a character reference is escaped before parsing.

**Safe:** defusedxml refuses DTDs, so no entity is ever expanded and nothing is fetched; what a
transport reads is capped (``MAX_SUBMIT_BYTES`` for a submit answer, a few hundred bytes in
practice; ``MAX_STATUS_BYTES`` for batchStatus, which lists failed rows). A status answer cut
at its cap is read as far as it goes and marked ``failed_ids_complete=False``: the batch's
counters stand, but which of its rows failed is not fully known.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from uploader.errors import ServerError

__all__ = [
    "MAX_STATUS_BYTES",
    "MAX_SUBMIT_BYTES",
    "StatusResult",
    "SubmitResult",
    "parse_status",
    "parse_submit",
]

MAX_SUBMIT_BYTES = 1 << 20  # a submit answer is a few hundred bytes; never read more
#: batchStatus lists failed rows: 500,000 rows × (256-character id + markup) stays under this
MAX_STATUS_BYTES = 192 << 20

_BARE_AMPERSAND = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)")
#: row statuses of the legacy per-row form (case-insensitive); anything else counts as failed
_ROW_OK = frozenset({"success", "successful", "ok"})
_ROW_NOT_FOUND = frozenset({"notfound", "not_found", "not found", "profilenotfound"})
_ROW_PENDING = frozenset({"pending"})
_PARSE_ERRORS = (SafeET.ParseError, DefusedXmlException, ValueError)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    success: bool
    message: str
    status_url: str | None  # where Target reports on the batch (often another edge host)
    batch_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusResult:
    batch_id: str | None
    status: str  # complete | incomplete | stuck | (anything else Target says)
    batch_size: int | None = None
    consumed_count: int | None = None
    successful_updates: int | None = None
    profiles_not_found: int | None = None
    failed_updates: int | None = None
    message: str = ""  # for answers without a status (e.g. an unknown batch id)
    failed_ids: tuple[str, ...] = ()  # ids of rows Target lists as failed (or error)
    not_found_ids: tuple[str, ...] = ()  # ids listed as not found (v1: no such profile)
    pending_rows: int = 0  # legacy form: rows still pending
    failed_ids_complete: bool = True  # False: the answer was cut at its cap


def repair(body: bytes) -> bytes:
    """``body`` with every bare ``&`` escaped (see the module doc)."""
    return _BARE_AMPERSAND.sub(b"&amp;", body)


def _unreadable(body: bytes) -> ServerError:
    snippet = body[:80].decode("utf-8", errors="replace")
    return ServerError(f"unreadable answer from Target: {snippet!r}")


def _root(body: bytes) -> Element:
    try:
        root: Element = SafeET.fromstring(repair(body))
    except _PARSE_ERRORS as exc:
        raise _unreadable(body) from exc
    if root.tag != "response":
        raise ServerError(f"unexpected answer from Target: <{root.tag}>")
    return root


def _text(root: Element, tag: str) -> str | None:
    element = root.find(tag)
    if element is None:
        return None
    return (element.text or "").strip()


def _int(text: str | None) -> int | None:
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


class _StatusReader:
    """Folds a batchStatus answer element by element, so a status listing 500,000 failed
    rows never becomes a tree of a million elements in memory."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.failed: list[str] = []
        self.not_found: list[str] = []
        self.pending = 0

    def read(self, body: bytes, *, truncated: bool) -> bool:
        """Read ``body``; returns False when a cut answer ended mid-way (what came before it
        is kept). Raises ``ServerError`` for anything else that is not a status answer."""
        depth = 0
        try:
            for event, element in SafeET.iterparse(io.BytesIO(repair(body)), ("start", "end")):
                if event == "start":
                    depth += 1
                    if depth == 1 and element.tag != "response":
                        raise ServerError(f"unexpected answer from Target: <{element.tag}>")
                    continue
                depth -= 1
                if depth == 1 and element.tag == "profile":
                    self._row(element)
                    element.clear()
                elif depth == 1:
                    self.fields[element.tag] = (element.text or "").strip()
                    element.clear()
        except _PARSE_ERRORS as exc:
            if truncated and depth > 0:
                return False
            raise _unreadable(body) from exc
        return True

    def _row(self, element: Element) -> None:
        row_id = _text(element, "id")
        if row_id is None:
            return
        status = (_text(element, "status") or "").lower()
        if status in _ROW_OK:
            return
        if status in _ROW_PENDING:
            self.pending += 1
        elif status in _ROW_NOT_FOUND:
            self.not_found.append(row_id)
        else:  # failed, error, or a row status this client does not know: not landed
            self.failed.append(row_id)


def parse_status(body: bytes, *, truncated: bool = False) -> StatusResult:
    """The batchStatus answer (with or without ``showDetails=true``); ``truncated``: the
    transport cut it at ``MAX_STATUS_BYTES``."""
    reader = _StatusReader()
    whole = reader.read(body, truncated=truncated)
    fields = reader.fields
    return StatusResult(
        batch_id=fields.get("batchId"),
        status=fields.get("status") or "",
        batch_size=_int(fields.get("batchSize")),
        consumed_count=_int(fields.get("consumedCount")),
        successful_updates=_int(fields.get("successfulUpdates")),
        profiles_not_found=_int(fields.get("profilesNotFound")),
        failed_updates=_int(fields.get("failedUpdates")),
        message=fields.get("message") or "",
        failed_ids=tuple(reader.failed),
        not_found_ids=tuple(reader.not_found),
        pending_rows=reader.pending,
        failed_ids_complete=whole and not truncated,
    )
