"""The aiohttp application: routes, and the order in which a call meets faults, auth, the
throttle and the body model."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web
from yarl import URL

from uploader.mock import _xml
from uploader.mock._auth import IMS_TOKEN_TTL, TokenAuthority, bearer_token
from uploader.mock._body import MAX_ID_CHARS, BodyRejected, parse_body
from uploader.mock._config import CLIENT_MAX_SIZE, StatusUrlStyle
from uploader.mock._faults import FaultDecision
from uploader.mock._state import MockState

__all__ = ["STATE", "build_app"]

STATE = web.AppKey("mock_state", MockState)
XML = "application/xml"
ADMIN_JSON = "application/vnd.adobe.target.v1+json"
#: The submit answer's batchStatus URL names another host, as Target's edge nodes do.
_OTHER_HOST = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def _state(request: web.Request) -> MockState:
    return request.app[STATE]


def _json(payload: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type=content_type)


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def _send(
    request: web.Request,
    text: str,
    *,
    status: int = 200,
    content_type: str = XML,
    headers: dict[str, str] | None = None,
    decision: FaultDecision | None = None,
) -> web.StreamResponse:
    """Write an answer, cut short (truncated fault) or trickled out (slow-body fault)."""
    data = text.encode()
    if decision is not None and decision.kind == "truncated":
        data = data[: max(1, int(len(data) * decision.cut))]
    slow = decision.slow_body if decision is not None else 0.0
    if slow <= 0:
        return web.Response(
            body=data, status=status, content_type=content_type, charset="utf-8", headers=headers
        )
    response = web.StreamResponse(status=status, headers=headers)
    response.content_type = content_type
    response.charset = "utf-8"
    response.content_length = len(data)
    await response.prepare(request)
    pieces = 10
    step = -(-len(data) // pieces)
    for start in range(0, len(data), step):
        await asyncio.sleep(slow / pieces)
        await response.write(data[start : start + step])
    await response.write_eof()
    return response


def _reset(request: web.Request) -> web.Response:
    """Drop the connection with a TCP RST, before any byte of the answer."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)  # never written: the transport is gone


_FAULT_STATUS = {"500": 500, "502": 502, "503": 503, "429": 429}


async def _apply_fault(
    request: web.Request, state: MockState, decision: FaultDecision
) -> web.StreamResponse | None:
    """Latency, then an injected error answer or reset (None: carry on normally)."""
    if decision.latency > 0:
        await asyncio.sleep(decision.latency)
    kind = decision.kind
    if kind == "reset":
        state.count("reset")
        return _reset(request)
    if kind in _FAULT_STATUS:
        state.count(f"fault_{kind}")
        headers = {"Retry-After": f"{decision.retry_after:g}"} if kind == "429" else None
        message = "Too Many Requests" if kind == "429" else "Injected server error"
        return await _send(
            request,
            _xml.failure(message, batch_status=False),
            status=_FAULT_STATUS[kind],
            headers=headers,
        )
    return None


def _unauthorized(
    state: MockState, request: web.Request, *, xml: bool = True
) -> web.Response | None:
    if not state.config.require_auth:
        return None
    with state.lock:
        token = bearer_token(request.headers, legacy=state.config.accept_legacy_token_header)
        verdict = state.auth.check(token)
    if verdict == "ok":
        return None
    message = TokenAuthority.message(verdict)
    headers = {"WWW-Authenticate": 'Bearer realm="target"'}
    if xml:
        return web.Response(
            text=_xml.failure(message, batch_status=False),
            status=401,
            content_type=XML,
            headers=headers,
        )
    response = _json({"status": 401, "message": message}, status=401)
    response.headers.update(headers)
    return response


async def _read_body(request: web.Request) -> bytes:
    """The request body with a single copy (``request.read()`` makes two: ~25 ms per 45 MB),
    capped at ``CLIENT_MAX_SIZE`` like aiohttp's own reader."""
    if (request.content_length or 0) > CLIENT_MAX_SIZE:
        raise web.HTTPRequestEntityTooLarge(
            max_size=CLIENT_MAX_SIZE, actual_size=request.content_length or 0
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > CLIENT_MAX_SIZE:
            raise web.HTTPRequestEntityTooLarge(max_size=CLIENT_MAX_SIZE, actual_size=size)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _status_url(request: web.Request, client: str, batch_id: str, style: StatusUrlStyle) -> str:
    """The batchStatus URL of the submit answer, in the configured shape (the batchStatus
    route serves both: it reads ``batchId`` and ignores ``m2Node``)."""
    host = request.url.host or "127.0.0.1"
    doc = style == "doc"
    url = URL.build(
        scheme=request.scheme,
        host=_OTHER_HOST.get(host, host),
        port=request.url.port,
        path=f"/m2/{client}/v2/profile/batchStatus" if doc else f"/m2/{client}/profile/batchStatus",
        query={"batchId": batch_id, "m2Node": "00"} if doc else {"batchId": batch_id},
    )
    return str(url)


async def _bulk(request: web.Request, version: int) -> web.StreamResponse:
    state = _state(request)
    state.enter()
    try:
        body = await _read_body(request)
        call = state.next_bulk_call(len(body))
        with state.lock:
            decision = state.bulk_faults.decide(call)
        faulted = await _apply_fault(request, state, decision)
        if faulted is not None:
            return faulted
        client = request.match_info["client"]
        if client != state.config.client_code:
            state.count("unknown_client")
            text = _xml.failure(f"Unknown client code: {client}", batch_status=False)
            return web.Response(text=text, status=404, content_type=XML)
        denied = _unauthorized(state, request)
        if denied is not None:
            state.count("unauthorized")
            return denied
        if state.throttle is not None:
            with state.lock:
                admitted = state.throttle.admit()
            if not admitted:
                state.count("throttled")
                limit, window = state.config.rate_limit or (0, 0.0)
                message = f"Too many requests: more than {limit} calls in {window:g} s"
                text = _xml.failure(message, batch_status=False)
                return web.Response(text=text, status=503, content_type=XML)
        loop = asyncio.get_running_loop()
        parsed = await loop.run_in_executor(None, parse_body, body)
        del body
        if not isinstance(parsed, BodyRejected):
            parsed = state.refusal(parsed) or parsed
        if isinstance(parsed, BodyRejected):
            state.count("rejected")
            return await _send(request, _xml.failure(parsed.message), decision=decision)
        record = state.commit(parsed, version=version, call=call, stuck=decision.stuck)
        state.count("truncated" if decision.kind == "truncated" else "ok")
        style = state.config.status_url_style
        url = _status_url(request, client, record.batch_id, style)
        text = _xml.submit_ok(url, bare_ampersand=style == "doc")
        return await _send(request, text, decision=decision)
    finally:
        state.leave()


async def bulk_v1(request: web.Request) -> web.StreamResponse:
    return await _bulk(request, 1)


async def bulk_v2(request: web.Request) -> web.StreamResponse:
    return await _bulk(request, 2)


async def batch_status(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    call = state.next_status_call()
    with state.lock:
        decision = state.status_faults.decide(call, status_call=True)
    faulted = await _apply_fault(request, state, decision)
    if faulted is not None:
        return faulted
    denied = _unauthorized(state, request)
    if denied is not None:
        return denied
    batch_id = request.query.get("batchId", "")
    with state.lock:
        record = state.statuses.get(batch_id)
        now = state.config.clock()
    if record is None:
        return await _send(request, _xml.batch_not_found(batch_id), decision=decision)
    status = record.status(now)
    details = record.details(status) if request.query.get("showDetails") == "true" else None
    failed_ids = record.listed_failures(status)
    text = _xml.batch_status(record.batch_id, status, record.batch_size, details, failed_ids)
    return await _send(request, text, decision=decision)


async def profile_fetch(request: web.Request) -> web.Response:
    state = _state(request)
    denied = _unauthorized(state, request, xml=False)
    if denied is not None:
        return denied
    profile_id = request.match_info["profile_id"]
    client = request.query.get("client", state.config.client_code)
    if client != state.config.client_code:
        # (inferred) as the bulk endpoint: an unknown client is not "no such profile", so
        # `uploader check` can tell a wrong client code from the made-up id it asks for
        state.count("unknown_client")
        return _json({"status": 404, "message": f"Unknown client code: {client}"}, status=404)
    with state.lock:
        found = state.profiles.get_detailed(profile_id)
    if found is None:
        message = f"No profile found for client {client} with third party id={profile_id}"
        return _json({"status": 404, "message": message}, status=404)
    modified = max((when for _, when in found.values()), default=0.0)
    visitor = int(hashlib.sha256(profile_id.encode()).hexdigest()[:16], 16)
    return _json(
        {
            "client": client,
            "visitorId": f"{visitor:020d}-0",
            "thirdPartyId": profile_id,
            "modifiedAt": _iso(modified),
            "profileAttributes": {
                name: {"value": value, "modifiedAt": _iso(when)}
                for name, (value, when) in found.items()
            },
        }
    )


async def single_update(request: web.Request) -> web.Response:
    state = _state(request)
    params = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        params.update((key, str(value)) for key, value in (await request.post()).items())
    profile_id = params.get("mbox3rdPartyId", "")
    if not profile_id or "+" in profile_id or "/" in profile_id or len(profile_id) > MAX_ID_CHARS:
        text = _xml.failure("mbox3rdPartyId is missing or invalid", batch_status=False)
        return web.Response(text=text, content_type=XML)
    attributes = {
        key.removeprefix("profile."): quote(value, safe="")
        for key, value in params.items()
        if key.startswith("profile.") and len(key) > len("profile.")
    }
    state.single_update(profile_id, attributes)
    return web.Response(text=_xml.success("Request successfully submitted"), content_type=XML)


async def ims_token(request: web.Request) -> web.Response:
    state = _state(request)
    form = {**request.query, **{k: str(v) for k, v in (await request.post()).items()}}
    if form.get("grant_type") != "client_credentials":
        return _json({"error": "unsupported_grant_type"}, status=400)
    with state.lock:
        token = state.ims.issue(form.get("client_id", ""), form.get("client_secret", ""))
    if token is None:
        description = "invalid client_id or client_secret"
        return _json({"error": "invalid_client", "error_description": description}, status=401)
    # IMS v3 gives expires_in in seconds (v2 gave milliseconds).
    payload = {"access_token": token, "token_type": "bearer", "expires_in": int(IMS_TOKEN_TTL)}
    return _json(payload)


async def admin_token(request: web.Request) -> web.Response:
    state = _state(request)
    cfg = state.config
    if request.match_info["tenant"] != cfg.tenant:
        return _json({"errorCode": "NotFound", "message": "Unknown tenant"}, 404, ADMIN_JSON)
    with state.lock:
        ims_ok = state.ims.valid(bearer_token(request.headers))
    if not ims_ok:
        message = "Invalid or expired IMS access token"
        return _json({"errorCode": "Unauthorized", "message": message}, 401, ADMIN_JSON)
    if request.headers.get("X-Api-Key") != cfg.ims_client_id:
        message = "X-Api-Key does not match the IMS client"
        return _json({"errorCode": "Forbidden", "message": message}, 403, ADMIN_JSON)
    if request.query.get("authorizationScope") != "profile_api":
        message = "authorizationScope must be profile_api"
        return _json({"errorCode": "BadRequest", "message": message}, 400, ADMIN_JSON)
    with state.lock:
        if request.method == "POST":
            state.auth.rotate()
        token, expires_in = state.auth.token, state.auth.expires_in()
    payload = {
        "accessToken": token,
        "tokenType": "bearer",
        "scope": "profile_api",
        "expiresIn": int(expires_in),
    }
    return _json(payload, 201 if request.method == "POST" else 200, ADMIN_JSON)


async def hook_rotate(request: web.Request) -> web.Response:
    state = _state(request)
    with state.lock:
        token = state.auth.rotate()
    return _json({"token": token})


async def hook_expire(request: web.Request) -> web.Response:
    state = _state(request)
    with state.lock:
        state.auth.expire()
    return _json({"expired": True})


async def hook_token(request: web.Request) -> web.Response:
    state = _state(request)
    with state.lock:
        return _json({"token": state.auth.token, "expiresIn": int(state.auth.expires_in())})


async def hook_receipts(request: web.Request) -> web.Response:
    state = _state(request)
    with state.lock:
        body = state.receipts.to_json()
    return web.Response(body=body, content_type="application/json")


async def hook_stats(request: web.Request) -> web.Response:
    return _json(_state(request).stats())


def build_app(state: MockState) -> web.Application:
    app = web.Application(client_max_size=CLIENT_MAX_SIZE)
    app[STATE] = state
    app.router.add_post("/m2/{client}/profile/batchUpdate", bulk_v1)
    app.router.add_post("/m2/{client}/v2/profile/batchUpdate", bulk_v2)
    app.router.add_get("/m2/{client}/profile/batchStatus", batch_status)
    app.router.add_get("/m2/{client}/v2/profile/batchStatus", batch_status)
    app.router.add_get("/rest/v1/profiles/thirdPartyId/{profile_id}", profile_fetch)
    app.router.add_route("GET", "/m2/{client}/profile/update", single_update)
    app.router.add_route("POST", "/m2/{client}/profile/update", single_update)
    app.router.add_post("/ims/token/v3", ims_token)
    app.router.add_route("GET", "/{tenant}/target/authentication/token", admin_token)
    app.router.add_route("POST", "/{tenant}/target/authentication/token", admin_token)
    app.router.add_post("/__mock/rotate-token", hook_rotate)
    app.router.add_post("/__mock/expire-token", hook_expire)
    app.router.add_get("/__mock/token", hook_token)
    app.router.add_get("/__mock/receipts", hook_receipts)
    app.router.add_get("/__mock/stats", hook_stats)
    return app
