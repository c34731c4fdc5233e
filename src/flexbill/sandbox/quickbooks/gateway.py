"""The layer in front of the QuickBooks app, doing what Intuit's API gateway does before a handler runs.

For every call to the Accounting API (``/v3/company/{realmId}/...``), in order: count it, apply an injected
fault (a Fault, a 5xx or a 429 answer at once), refuse a client that accepts XML alone (406: QuickBooks
would answer it in XML, the sandbox speaks JSON only), check the bearer token (401 with Intuit's ``fault`` body), that
the token's grant reaches the company in the path and has the accounting scope (403 AuthorizationFault), that
``minorversion`` is a number (400), take a slot under the throttles (429), replay or run a ``requestid``, and
run the handler (after an injected delay, if any). OAuth calls are counted and may be faulted. Control
endpoints under ``/_sandbox`` pass straight through.

``requestid`` (at most 50 characters, 36 on a batch) belongs to the company: the same requestid again gets the
first answer, status and body, without the request running again, whatever the new request holds (QuickBooks
does not compare them), including an error answer; answers of 5xx are not kept, so a retry after one runs.

It is plain ASGI rather than a FastAPI middleware because it must hold a throttle slot for the whole call
(concurrency), answer before the routing, and, for a lost response, close the client's connection.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flexbill.sandbox.connection import drop_connection, read_body
from flexbill.sandbox.jsonwire import dumps
from flexbill.sandbox.quickbooks.faults import Fault
from flexbill.sandbox.quickbooks.oauth import ACCOUNTING_SCOPE
from flexbill.sandbox.quickbooks.sandbox import QuickBooksSandbox
from flexbill.sandbox.quickbooks.wire import (
    ErrorItem,
    QboError,
    authentication_body,
    error,
    fault_body,
    throttle_json,
    throttle_xml,
)

API_PREFIX = "/v3/company/"
MAX_REQUESTID = 50
MAX_BATCH_REQUESTID = 36
JSON = "application/json;charset=UTF-8"
_API_PATH = re.compile(r"^/v3/company/(?P<realm>[^/]+)(?P<rest>/.*)?$")
_OAUTH_PREFIXES = ("/connect/", "/oauth2/", "/v1/openid_connect/", "/.well-known/")


def route_path(scope: Scope) -> str:
    """The path inside the QuickBooks app (after the ``/quickbooks`` mount)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


def own_url(scope: Scope) -> str:
    """Where the client reached the sandbox's root (``http://host:port/quickbooks``)."""
    headers = Headers(scope=scope)
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"


def endpoint_name(method: str, path: str) -> str:
    """``GET /v3/company/{realmId}/invoice/{id}/pdf``: a path with its ids replaced, for counting calls."""
    match = _API_PATH.match(path)
    if match is None:
        return f"{method} {path}"
    parts = (match.group("rest") or "").strip("/").split("/")
    if len(parts) > 1:
        parts[1] = "{id}"
    return f"{method} /v3/company/{{realmId}}/{'/'.join(parts)}"


async def respond(
    send: Send,
    status: int,
    body: bytes | dict[str, Any],
    headers: dict[str, str] | None = None,
    content_type: str = JSON,
) -> None:
    payload = body if isinstance(body, bytes) else dumps(body)
    raw = [(b"content-length", str(len(payload)).encode()), (b"content-type", content_type.encode())]
    raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


_FROM = re.compile(r"\bfrom\s+(\w+)", re.IGNORECASE)


def entities_of(path: str, query: str | None, body: bytes) -> frozenset[str]:
    """The kinds of record a call is about, in lower case, for faults that name one: the entity of its path
    (``/invoice/130`` is about invoices), the ``FROM`` of a query (in the URL or the body), and every entity a batch
    carries or queries."""
    match = _API_PATH.match(path)
    first = ((match.group("rest") if match else None) or "/").strip("/").split("/")[0].lower()
    found: set[str] = set()
    if first not in ("query", "batch", "cdc", ""):
        found.add(first)
    texts = [query or ""]
    if first == "query":
        texts.append(body.decode("utf-8", "replace"))
    if first == "batch":
        try:
            items = json.loads(body or b"{}").get("BatchItemRequest") or []
        except (ValueError, AttributeError):
            items = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                found.update(key.lower() for key in item if key not in ("bId", "operation", "optionsData", "Query"))
                texts.append(str(item.get("Query") or ""))
    found.update(name.lower() for text in texts for name in _FROM.findall(text))
    return frozenset(found)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _discard(message: MutableMapping[str, Any]) -> None:
    """Where a lost response goes."""


def _query_param(scope: Scope, name: str) -> str | None:
    raw: bytes = scope.get("query_string", b"")
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if key.lower() == name.lower():
            return str(value)
    return None


class Gateway:
    def __init__(self, app: ASGIApp, sandbox: QuickBooksSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        if sandbox.public_url is None:
            sandbox.public_url = own_url(scope)
        path = route_path(scope)
        is_api = path.startswith(API_PREFIX)
        if not is_api and not path.startswith(_OAUTH_PREFIXES):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        sandbox.stats.call(endpoint_name(method, path))
        observed = self._observe(send)
        entities: frozenset[str] = frozenset()
        if is_api:
            body = await read_body(receive)
            receive = _replaying(body, receive)
            entities = entities_of(path, _query_param(scope, "query"), body)
        fault = sandbox.faults.take(method, path, entities)
        lost: Fault | None = None
        delay = 0.0
        if fault is not None:
            if fault.kind == "latency":
                delay = fault.seconds
            elif fault.kind == "lose_response":
                lost = fault
            else:
                await self._fault_answer(observed, fault)
                return
        target = _discard if lost is not None else observed
        if is_api:
            await self._api(scope, receive, target, method, path, delay)
        else:
            await asyncio.sleep(delay)
            await self.app(scope, receive, target)
        if lost is not None:
            sandbox.stats.lost_response()
            await self._lose(lost, scope, send)

    def _observe(self, send: Send) -> Send:
        stats = self.sandbox.stats

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                stats.answered(int(message["status"]))
            await send(message)

        return observed

    async def _fault_answer(self, send: Send, fault: Fault) -> None:
        now = self.sandbox.clock.now()
        if fault.kind == "throttle":
            self.sandbox.stats.throttle("injected")
            await self._throttled(send, xml=fault.xml)
            return
        if fault.kind == "server_error":
            failure = QboError(
                [
                    ErrorItem(
                        "10000",
                        "An application error has occurred while processing your request",
                        "System Failure Error: An unexpected error occurred while accessing or saving your data. "
                        "Please wait a few minutes and try again.",
                    )
                ],
                type="SystemFault",
                status=fault.status,
            )
        else:
            failure = QboError(
                [ErrorItem(fault.code, fault.message, fault.detail)],
                type="ValidationFault" if fault.status < 500 else "SystemFault",
                status=fault.status,
            )
        self.sandbox.stats.fault(failure.errors[0].code)
        await respond(send, failure.status, fault_body(failure, now=now))

    async def _throttled(self, send: Send, *, xml: bool) -> None:
        now = self.sandbox.clock.now()
        if xml:
            await respond(send, 429, throttle_xml(now), content_type="application/xml")
        else:
            await respond(send, 429, throttle_json(now))

    async def _lose(self, fault: Fault, scope: Scope, send: Send) -> None:
        """The change is committed; now the client gets no usable answer."""
        if fault.mode == "gateway_timeout":
            page = b"<html><body><h1>504 Gateway Time-out</h1>The server didn't respond in time.</body></html>"
            await respond(send, 504, page, content_type="text/html")
            return
        await drop_connection(scope, send, "the response was lost on purpose (an injected lose_response fault)")

    async def _refuse(self, send: Send, failure: QboError) -> None:
        self.sandbox.stats.fault(failure.errors[0].code)
        await respond(send, failure.status, fault_body(failure, now=self.sandbox.clock.now()))

    async def _api(self, scope: Scope, receive: Receive, send: Send, method: str, path: str, delay: float) -> None:
        sandbox = self.sandbox
        headers = Headers(scope=scope)
        accept = headers.get("accept", "").lower()
        if accept and "xml" in accept and not any(kind in accept for kind in ("json", "pdf", "*/*")):
            detail = "The sandbox answers in JSON only: send Accept: application/json"
            await self._refuse(send, error("4000", "Unsupported media type", detail, "Accept", status=406))
            return
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            caller: Any = "Token invalid: no bearer token in the Authorization header"
        else:
            caller = sandbox.tokens.check(token.strip())
        if isinstance(caller, str):
            await respond(
                send,
                401,
                authentication_body(caller, now=sandbox.clock.now()),
                {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'},
            )
            return
        match = _API_PATH.match(path)
        realm = match.group("realm") if match else ""
        if realm != sandbox.realm_id or ACCOUNTING_SCOPE not in caller.scopes:
            failure = error(
                "3100",
                "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                "" if realm == sandbox.realm_id else f"The token does not give access to company {realm}",
                status=403,
            )
            failure.type = "AuthorizationFault"
            await self._refuse(send, failure)
            return
        minor = _query_param(scope, "minorversion")
        if minor is not None and not minor.strip().isdigit():
            await self._refuse(
                send,
                error(
                    "2010",
                    "Request has invalid or unsupported property",
                    f"minorversion {minor!r} is not a number (the sandbox answers as minor version 75)",
                    "minorversion",
                ),
            )
            return
        batch = path.rstrip("/").endswith("/batch")
        refused_by = sandbox.limiter.acquire(sandbox.realm_id, batch=batch)
        if refused_by is not None:
            sandbox.stats.throttle(refused_by)
            await self._throttled(send, xml=sandbox.limiter.limits.throttle_body == "xml")
            return
        try:
            request_id = _query_param(scope, "requestid")
            if request_id is not None:
                await self._once(scope, receive, send, request_id, batch, delay)
            else:
                await self._handle(scope, receive, send, delay)
        finally:
            sandbox.limiter.release(sandbox.realm_id)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, delay: float) -> None:
        """Run the handler; an injected delay is a slow server: the call holds its throttle slot meanwhile."""
        if delay:
            await asyncio.sleep(delay)
        await self.app(scope, receive, send)

    async def _once(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, batch: bool, delay: float
    ) -> None:
        limit = MAX_BATCH_REQUESTID if batch else MAX_REQUESTID
        if not request_id.strip() or len(request_id) > limit:
            where = "on a batch " if batch else ""
            await self._refuse(
                send,
                error(
                    "2010",
                    "Request has invalid or unsupported property",
                    f"requestid must be 1 to {limit} characters {where}(got {len(request_id)})",
                    "requestid",
                ),
            )
            return
        store = self.sandbox.requests
        key = (self.sandbox.realm_id, request_id)
        while True:
            verdict, stored = store.claim(key, "")
            if verdict == "replay" and stored is not None:
                await send({"type": "http.response.start", "status": stored.status, "headers": list(stored.headers)})
                await send({"type": "http.response.body", "body": stored.body})
                return
            if verdict == "run":
                break
            await asyncio.sleep(0.01)
        body = await read_body(receive)
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
            store.abandon(key)
            raise
        payload = bytes(captured["body"])
        store.finish(key, "", captured["status"], captured["headers"], payload)
        await send({"type": "http.response.start", "status": captured["status"], "headers": captured["headers"]})
        await send({"type": "http.response.body", "body": payload})
