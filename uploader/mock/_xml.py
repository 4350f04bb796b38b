"""The XML bodies Target answers with (tiny, fixed shapes: string building, escaped)."""

from __future__ import annotations

from xml.sax.saxutils import escape

__all__ = [
    "batch_not_found",
    "batch_status",
    "failure",
    "submit_ok",
    "success",
]

SUBMITTED = "Batch submitted for processing"


def _element(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def submit_ok(status_url: str, *, bare_ampersand: bool = False) -> str:
    """HTTP 200 answer to an accepted batch. ``bare_ampersand`` leaves the URL's ``&`` unescaped,
    as in Adobe's documented example: the answer is then not well-formed XML, on purpose."""
    status = _element("batchStatus", status_url)
    if bare_ampersand:
        status = status.replace("&amp;", "&")
    return f"<response><success>true</success>{status}{_element('message', SUBMITTED)}</response>"


def failure(message: str, *, batch_status: bool = True) -> str:
    """``success=false`` with a message; submit answers carry an empty ``<batchStatus/>``."""
    status = "<batchStatus/>" if batch_status else ""
    return f"<response><success>false</success>{status}{_element('message', message)}</response>"


def success(message: str) -> str:
    """``success=true`` with a message (single profile update)."""
    return f"<response><success>true</success>{_element('message', message)}</response>"


def batch_status(
    batch_id: str,
    status: str,
    batch_size: int,
    details: dict[str, int] | None = None,
    failed_ids: tuple[str, ...] = (),
) -> str:
    """A batchStatus answer; ``details`` adds consumedCount and the per-row counters, then one
    ``<profile>`` per failed row, as Target has answered since May 2020 (failures only)."""
    parts = [_element("batchId", batch_id), _element("status", status)]
    parts.append(_element("batchSize", batch_size))
    for name, value in (details or {}).items():
        parts.append(_element(name, value))
    for profile_id in failed_ids:
        parts.append(f"<profile>{_element('id', profile_id)}<status>failed</status></profile>")
    return f"<response>{''.join(parts)}</response>"


def batch_not_found(batch_id: str) -> str:
    """Unknown or no longer retained batch id (undocumented; our choice, HTTP 200)."""
    return (
        f"<response><success>false</success>{_element('batchId', batch_id)}"
        f"{_element('message', 'Batch not found: unknown batchId or status no longer retained')}"
        "</response>"
    )
