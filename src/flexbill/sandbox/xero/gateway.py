"""The layer in front of the Xero app, doing what Xero's API gateway does before (and after) a handler runs.

For every call to the Accounting API, in order: count it, apply an injected fault (429 and 5xx answer at
once), refuse XML-only clients, check the bearer token (401), the ``xero-tenant-id`` (403) and the token's
scopes (403), take a slot under the rate limits (429), replay or run an ``Idempotency-Key``, run the handler
(after an injected delay, if any), and add the limit headers to the answer. Identity calls are
counted and may be faulted; ``/connections`` needs a bearer token. Control endpoints under ``/_sandbox`` pass
straight through.

Xero answers XML unless asked for JSON; the sandbox answers JSON (or a PDF when asked) and refuses only a client
that accepts XML alone (406), so a client that forgets ``Accept: application/json`` still works here.

It is plain ASGI rather than a FastAPI middleware because it must hold a rate-limit slot for the whole call
(concurrency), answer before the routing, and — for a lost response — close the client's connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flexbill.sandbox.connection import RAW_SEND_KEY as RAW_SEND_KEY
from flexbill.sandbox.connection import ResponseLost as ResponseLost
from flexbill.sandbox.connection import drop_connection, read_body
from flexbill.sandbox.xero.faults import Fault
from flexbill.sandbox.xero.idempotency import MAX_KEY_LENGTH, fingerprint
from flexbill.sandbox.xero.oauth import Caller, scopes_allow
from flexbill.sandbox.xero.reader import is_guid, normal_id
from flexbill.sandbox.xero.sandbox import XeroSandbox
from flexbill.sandbox.xero.wire import api_error, dumps, problem

API_PREFIX = "/api.xro/2.0"
IDEMPOTENCY_WAIT_SECONDS = 60.0

_SCOPES: dict[str, tuple[str, ...]] = {
    "contacts": ("accounting.contacts",),
    "invoices": ("accounting.transactions", "accounting.invoices"),
    "creditnotes": ("accounting.transactions", "accounting.invoices"),
    "payments": ("accounting.transactions", "accounting.payments"),
}
_SETTINGS = ("accounting.settings",)


def route_path(scope: Scope) -> str:
    """The path inside the Xero app (after the ``/xero`` mount)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


def endpoint_name(method: str, path: str) -> str:
    """``GET /api.xro/2.0/Invoices/{id}/pdf``: a path with its ids replaced, for counting calls by endpoint."""
    parts = path.strip("/").split("/")
    if path.lower().startswith(API_PREFIX.lower() + "/") and len(parts) > 3:
        parts[3] = "{id}"
        if len(parts) > 5 and parts[4].lower() == "allocations":
            parts[5] = "{id}"
    elif parts and parts[0].lower() == "connections" and len(parts) > 1:
        parts[1] = "{id}"
    return f"{method} /{'/'.join(parts)}"


def _area(path: str) -> str:
    lower = path.lower()
    if lower.startswith(API_PREFIX.lower() + "/"):
        return "api"
    if lower.startswith("/identity/") or lower == "/connections" or lower.startswith("/connections/"):
        return "identity"
    return "other"


def _needed_scopes(method: str, path: str) -> tuple[str, ...]:
    resource = path[len(API_PREFIX) + 1 :].split("/")[0].lower()
    write = _SCOPES.get(resource, _SETTINGS)
    return write if method.upper() not in ("GET", "HEAD") else write + tuple(f"{s}.read" for s in write)


async def respond(
    send: Send,
    status: int,
    body: bytes | dict[str, Any] | None,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json; charset=utf-8",
) -> None:
    payload = body if isinstance(body, bytes) else (dumps(body) if body is not None else b"")
    raw = [(b"content-length", str(len(payload)).encode())]
    if payload:
        raw.append((b"content-type", content_type.encode()))
    raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    extra = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class Gateway:
    def __init__(self, app: ASGIApp, sandbox: XeroSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        area = _area(path)
        sandbox = self.sandbox
        if sandbox.public_url is None:
            sandbox.public_url = own_url(scope)
        if area == "other":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        sandbox.stats.call(endpoint_name(method, path))
        observed = self._observe(send)
        fault = sandbox.faults.take(method, path)
        lost: Fault | None = None
        delay = 0.0
        if fault is not None:
            if fault.kind == "latency":
                delay = fault.seconds
            elif fault.kind == "rate_limit":
                headers = {"X-Rate-Limit-Problem": fault.problem}
                if fault.problem in ("minute", "day"):
                    headers["Retry-After"] = str(fault.retry_after)
                await respond(
                    observed, 429, problem(429, "Too Many Requests", f"Rate limit exceeded: {fault.problem}"), headers
                )
                return
            elif fault.kind == "server_error":
                detail = "An error occurred in Xero. Check the API Status page http://status.developer.xero.com"
                await respond(observed, fault.status, problem(fault.status, "An error occurred", detail))
                return
            elif fault.kind == "lose_response":
                lost = fault
        target = _discard if lost is not None else observed
        if area == "api":
            await self._api(scope, receive, target, method, path, delay)
        else:
            await asyncio.sleep(delay)
            await self._identity(scope, receive, target, path)
        if lost is not None:
            sandbox.stats.lost_response()
            await self._lose(lost, scope, send)

    def _observe(self, send: Send) -> Send:
        stats = self.sandbox.stats

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                stats.answered(int(message["status"]), headers.get("x-rate-limit-problem"))
            await send(message)

        return observed

    async def _lose(self, fault: Fault, scope: Scope, send: Send) -> None:
        """The change is committed; now the client gets no usable answer."""
        if fault.mode == "gateway_timeout":
            page = b"<html><body><h1>504 Gateway Time-out</h1>The server didn't respond in time.</body></html>"
            await respond(send, 504, page, content_type="text/html")
            return
        await drop_connection(scope, send, "the response was lost on purpose (an injected lose_response fault)")

    async def _identity(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        if path.lower().startswith("/connections"):
            caller = self._caller(scope)
            if isinstance(caller, str):
                await self._unauthorized(send, caller)
                return
            scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)

    def _caller(self, scope: Scope) -> Caller | str:
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "AuthenticationUnsuccessful"
        return self.sandbox.tokens.check(token.strip())

    async def _unauthorized(self, send: Send, detail: str) -> None:
        await respond(
            send,
            401,
            problem(401, "Unauthorized", detail),
            {"WWW-Authenticate": "Bearer error=invalid_token", "Xero-Correlation-Id": str(uuid.uuid4())},
        )

    async def _api(self, scope: Scope, receive: Receive, send: Send, method: str, path: str, delay: float) -> None:
        sandbox = self.sandbox
        headers = Headers(scope=scope)
        correlation = {"Xero-Correlation-Id": str(uuid.uuid4())}
        accept = headers.get("accept", "").lower()
        if accept and "xml" in accept and not any(t in accept for t in ("json", "pdf", "*/*")):
            detail = "The sandbox answers in JSON only: send Accept: application/json"
            await respond(send, 406, problem(406, "Not Acceptable", detail), correlation)
            return
        caller = self._caller(scope)
        if isinstance(caller, str):
            await self._unauthorized(send, caller)
            return
        tenant = (headers.get("xero-tenant-id") or "").strip()
        tenant_id = normal_id(tenant) if is_guid(tenant) else None
        if caller.tenant_free and not tenant:
            tenant_id = sandbox.tenant_id
        elif tenant_id != sandbox.tenant_id or not (
            caller.tenant_free or sandbox.tokens.is_connected(caller.client_id, sandbox.tenant_id)
        ):
            app_headers = {**sandbox.limiter.app_headers(caller.client_id), **correlation}
            await respond(send, 403, problem(403, "Forbidden", "AuthenticationUnsuccessful"), app_headers)
            return
        if not scopes_allow(caller.scopes, _needed_scopes(method, path)):
            app_headers = {**sandbox.limiter.app_headers(caller.client_id), **correlation}
            await respond(send, 403, problem(403, "Forbidden", "AuthorizationUnsuccessful"), app_headers)
            return
        verdict = sandbox.limiter.acquire(sandbox.tenant_id, caller.client_id)
        if not verdict.allowed:
            detail = f"Rate limit exceeded: {verdict.problem}"
            await respond(send, 429, problem(429, "Too Many Requests", detail), {**verdict.headers, **correlation})
            return
        try:
            scope.setdefault("state", {})["caller"] = caller
            send = _with_headers(send, {**verdict.headers, **correlation})
            key = headers.get("idempotency-key")
            if method in ("PUT", "POST") and key is not None:
                await self._idempotent(scope, receive, send, method, path, key, caller, delay)
            else:
                await self._handle(scope, receive, send, delay)
        finally:
            sandbox.limiter.release(sandbox.tenant_id)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, delay: float) -> None:
        """Run the handler; an injected delay is a slow server: the call holds its rate-limit slot (and its
        idempotency key) meanwhile, so it counts against the concurrent limit as a slow Xero call does."""
        if delay:
            await asyncio.sleep(delay)
        await self.app(scope, receive, send)

    async def _idempotent(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        path: str,
        key: str,
        caller: Caller,
        delay: float,
    ) -> None:
        if not key.strip():
            await respond(send, 400, api_error(10, "ValidationException", "The Idempotency-Key header is empty"))
            return
        if len(key) > MAX_KEY_LENGTH:
            message = f"The Idempotency-Key must not be more than {MAX_KEY_LENGTH} characters long"
            await respond(send, 400, api_error(10, "ValidationException", message))
            return
        store = self.sandbox.idempotency
        body = await read_body(receive)
        print_ = fingerprint(method, path, scope.get("query_string", b""), body)
        claim_scope = (self.sandbox.tenant_id, caller.client_id, key)
        deadline = asyncio.get_running_loop().time() + IDEMPOTENCY_WAIT_SECONDS
        while True:
            verdict, stored = store.claim(claim_scope, print_)
            if verdict == "replay" and stored is not None:
                await send({"type": "http.response.start", "status": stored.status, "headers": list(stored.headers)})
                await send({"type": "http.response.body", "body": stored.body})
                return
            if verdict == "conflict":
                message = (
                    f"The Idempotency-Key '{key}' was already used for a different request. "
                    "Use a new key for a new request."
                )
                await respond(send, 400, api_error(10, "ValidationException", message))
                return
            if verdict == "run":
                break
            if asyncio.get_running_loop().time() > deadline:
                message = f"A request with the Idempotency-Key '{key}' is still being processed; retry later."
                await respond(send, 409, api_error(10, "ValidationException", message))
                return
            await asyncio.sleep(0.01)
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = int(message["status"])
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        try:
            await self._handle(scope, _replaying(body, receive), capture, delay)
        except BaseException:
            store.abandon(claim_scope)
            raise
        payload = bytes(captured["body"])
        store.finish(claim_scope, print_, captured["status"], captured["headers"], payload)
        await send({"type": "http.response.start", "status": captured["status"], "headers": captured["headers"]})
        await send({"type": "http.response.body", "body": payload})


async def _discard(message: MutableMapping[str, Any]) -> None:
    """Where a lost response goes."""


def own_url(scope: Scope) -> str:
    """Where the client reached the Xero sandbox's root (``http://host:port/xero``)."""
    headers = Headers(scope=scope)
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"
