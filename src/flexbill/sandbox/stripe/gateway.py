"""The layer in front of the Stripe routes, doing what Stripe's API edge does around a handler.

For every request under ``/v1``, in order: give it a ``Request-Id``, check the secret key (401) and open its
account, find the route (404), take a slot under the rate limit (429), parse the form-encoded parameters (400),
apply an injected fault, claim the ``Idempotency-Key`` (replay, 400 for other parameters, 409 while the first
is running), hold the request if a ``timeout`` fault says so, run the handler under the sandbox's lock in the
thread pool, save the answer under the key if the handler began to execute, and answer (or, for a
``lost_response`` fault, drop the connection). Every answer carries ``Request-Id`` and echoes ``Stripe-Version``.
Everything else (hosted pages, control endpoints, docs) passes straight through to the app behind.

It is plain ASGI because it must answer before the routing, keep a held request from blocking others (it
waits on the event loop, outside the lock), and close the client's connection to lose an answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from flexbill.sandbox.connection import drop_connection, read_body
from flexbill.sandbox.stripe import api, render
from flexbill.sandbox.stripe.errors import (
    StripeError,
    invalid_request,
    rate_limited,
    server_error,
    unrecognised_url,
)
from flexbill.sandbox.stripe.faults import Fault
from flexbill.sandbox.stripe.idempotency import MAX_KEY_LENGTH, SavedResponse, fingerprint
from flexbill.sandbox.stripe.model import Origin
from flexbill.sandbox.stripe.params import Params, form_pairs, parse_pairs
from flexbill.sandbox.stripe.sandbox import LoggedRequest, StripeSandbox
from flexbill.sandbox.stripe.state import Account

_log = logging.getLogger(__name__)

NO_KEY_MESSAGE = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer "
    "auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
    "details, or we can help at https://support.stripe.com/."
)
PUBLISHABLE_KEY_MESSAGE = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of "
    "your API keys at https://dashboard.stripe.com/account/apikeys."
)
CONTENT_TYPE_MESSAGE = (
    "Invalid request (check that your POST content type is application/x-www-form-urlencoded). If you have any "
    "questions, we can help at https://support.stripe.com/."
)
MISMATCH_MESSAGE = (
    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using "
    "a key other than '{key}' if you meant to execute a different request."
)
IN_PROGRESS_MESSAGE = (
    "There is currently another in-progress request using this Idempotent Key (that probably means you submitted "
    "twice, and the other request is still going through): {key}. Please try again later."
)


def route_path(scope: Scope) -> str:
    """The path inside the Stripe app (after the ``/stripe`` mount)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


def own_url(scope: Scope) -> str:
    """Where the client reached the Stripe sandbox's root (``http://host:port/stripe``)."""
    host = Headers(scope=scope).get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"


def masked(key: str) -> str:
    """A key as Stripe's messages show it (``sk_test_****abcd``)."""
    parts = key.split("_")
    prefix = f"{parts[0]}_{parts[1]}_" if len(parts) > 2 and parts[1] in ("test", "live") else ""
    return f"{prefix}****{key[-4:]}"


def secret_key(headers: Headers) -> str | StripeError:
    """The secret key from ``Authorization: Bearer sk_...`` (or Basic auth with the key as user name)."""
    header = headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "basic" and credentials:
        try:
            credentials = base64.b64decode(credentials).decode("utf-8").partition(":")[0]
        except ValueError:
            credentials = ""
    elif scheme.lower() != "bearer":
        credentials = ""
    if not credentials:
        return StripeError(401, "invalid_request_error", NO_KEY_MESSAGE)
    if credentials.startswith("pk_"):
        return StripeError(401, "invalid_request_error", PUBLISHABLE_KEY_MESSAGE)
    if not credentials.startswith("sk_") or len(credentials) < 8:
        return StripeError(401, "invalid_request_error", f"Invalid API Key provided: {masked(credentials)}")
    return credentials


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, indent=2).encode("utf-8")


@dataclass
class Outcome:
    """An answer from the handler: its status and body, and whether the handler began to execute."""

    status: int
    body: bytes
    executed: bool
    error: StripeError | None = None


@dataclass
class Exchange:
    """What the request log records about one request."""

    request_id: str
    method: str
    path: str
    account: Account | None = None
    operation: str | None = None
    status: int = 500
    key: str | None = None
    replayed: bool = False
    error: StripeError | None = None
    fault: str | None = None


class Gateway:
    def __init__(self, app: ASGIApp, sandbox: StripeSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if self.sandbox.public_url is None:
            self.sandbox.public_url = own_url(scope)
        if path != "/v1" and not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        exchange = Exchange(self.sandbox.ids.new("req", 14), scope["method"], path)
        try:
            await self._api(scope, receive, send, exchange)
        finally:
            self._log(exchange)

    def _log(self, exchange: Exchange) -> None:
        error = exchange.error
        self.sandbox.requests.add(
            LoggedRequest(
                id=exchange.request_id,
                account=exchange.account.id if exchange.account else None,
                method=exchange.method,
                path=exchange.path,
                operation=exchange.operation,
                status=exchange.status,
                at=self.sandbox.clock.now().isoformat(),
                idempotency_key=exchange.key,
                replayed=exchange.replayed,
                error_type=error.error_type if error else None,
                error_code=error.code if error else None,
                fault=exchange.fault,
            )
        )

    def _log_url(self, request_id: str) -> str:
        return f"{self.sandbox.base_url}/_sandbox/requests/{request_id}"

    async def _answer(
        self,
        send: Send,
        exchange: Exchange,
        status: int,
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        exchange.status = status
        raw = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _refuse(self, send: Send, exchange: Exchange, error: StripeError, headers: dict[str, str]) -> None:
        exchange.error = error
        body = encode(error.body(self._log_url(exchange.request_id)))
        await self._answer(send, exchange, error.status, body, {**headers, **error.headers})

    async def _api(self, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        sandbox = self.sandbox
        headers = Headers(scope=scope)
        version = headers.get("stripe-version") or sandbox.api_version
        answer_headers = {"Request-Id": exchange.request_id, "Stripe-Version": version}
        body = await read_body(receive)
        key = secret_key(headers)
        if isinstance(key, StripeError):
            await self._refuse(send, exchange, key, {**answer_headers, "WWW-Authenticate": 'Bearer realm="Stripe"'})
            return
        account = exchange.account = sandbox.account_for_key(key)
        found = api.resolve(exchange.method, exchange.path)
        if found is None:
            await self._refuse(send, exchange, unrecognised_url(exchange.method, exchange.path), answer_headers)
            return
        route, args = found
        exchange.operation = route.operation
        if headers.get("stripe-account"):
            error = invalid_request("The sandbox has no Connect accounts: do not send the Stripe-Account header.")
            await self._refuse(send, exchange, error, answer_headers)
            return
        if not sandbox.limiter.acquire(account.id):
            await self._refuse(send, exchange, rate_limited(), answer_headers)
            return
        try:
            params = self._params(scope, headers, body)
        except StripeError as error:
            await self._refuse(send, exchange, error, answer_headers)
            return
        fault = sandbox.faults.take(route.operation)
        exchange.fault = fault.kind if fault is not None else None
        if fault is not None and fault.kind == "rate_limited":
            await self._refuse(send, exchange, rate_limited(), answer_headers)
            return
        idempotency_key = headers.get("idempotency-key") if exchange.method == "POST" else None
        if idempotency_key is None:
            outcome = await self._run(account, route, params, args, exchange, fault)
            await self._finish(scope, send, exchange, outcome, answer_headers, fault)
            return
        exchange.key = idempotency_key
        await self._idempotent(scope, send, exchange, account, route, params, args, fault, answer_headers)

    def _params(self, scope: Scope, headers: Headers, body: bytes) -> Params:
        pairs = form_pairs(scope.get("query_string", b""))
        if scope["method"] == "POST" and body:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                raise invalid_request(CONTENT_TYPE_MESSAGE)
            pairs += form_pairs(body)
        return parse_pairs(pairs)

    async def _idempotent(
        self,
        scope: Scope,
        send: Send,
        exchange: Exchange,
        account: Account,
        route: api.Route,
        params: Params,
        args: dict[str, str],
        fault: Fault | None,
        answer_headers: dict[str, str],
    ) -> None:
        key = exchange.key or ""
        store = self.sandbox.idempotency
        headers = {**answer_headers, "Idempotency-Key": key}
        if len(key) > MAX_KEY_LENGTH or not key.strip():
            error = invalid_request(
                f"Invalid Idempotency-Key: it must be 1 to {MAX_KEY_LENGTH} characters long (this one has {len(key)}).",
                param="Idempotency-Key",
            )
            await self._refuse(send, exchange, error, headers)
            return
        scope_key = (account.id, key)
        print_ = fingerprint(exchange.method, exchange.path, params.raw)
        verdict = store.claim(scope_key, print_)
        if isinstance(verdict, SavedResponse):
            exchange.replayed = True
            replay_headers = {**headers, "Idempotent-Replayed": "true", "Original-Request": verdict.request_id}
            await self._answer(send, exchange, verdict.status, verdict.body, replay_headers)
            return
        if verdict == "mismatch":
            error = StripeError(400, "idempotency_error", MISMATCH_MESSAGE.format(key=key))
            await self._refuse(send, exchange, error, headers)
            return
        if verdict == "in_progress":
            error = StripeError(
                409, "idempotency_error", IN_PROGRESS_MESSAGE.format(key=key), headers={"Stripe-Should-Retry": "true"}
            )
            await self._refuse(send, exchange, error, headers)
            return
        try:
            outcome = await self._run(account, route, params, args, exchange, fault)
        except BaseException:
            store.release(scope_key)
            raise
        if outcome.executed:
            store.save(scope_key, print_, outcome.status, outcome.body, exchange.request_id)
        else:
            store.release(scope_key)
        await self._finish(scope, send, exchange, outcome, {**headers, "Original-Request": exchange.request_id}, fault)

    async def _run(
        self,
        account: Account,
        route: api.Route,
        params: Params,
        args: dict[str, str],
        exchange: Exchange,
        fault: Fault | None,
    ) -> Outcome:
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.seconds)  # held on the event loop: other requests go on meanwhile
        if fault is not None and fault.kind == "server_error":
            error = server_error()
            return Outcome(500, encode(error.body(self._log_url(exchange.request_id))), True, error)
        origin = Origin(exchange.request_id, exchange.key)
        return await run_in_threadpool(self._execute, account, route, params, args, origin)

    def _execute(
        self, account: Account, route: api.Route, params: Params, args: dict[str, str], origin: Origin
    ) -> Outcome:
        log_url = self._log_url(origin.request_id or "")
        with self.sandbox.lock:
            account.sweep()
            before = account.version
            try:
                expand = params.strings("expand") or []
                body = route.handler(api.Call(self.sandbox, account, params, args, origin))
                if expand:
                    body = render.expand(body, expand, account.lookup)
            except StripeError as error:
                # A refusal that changed nothing is a validation failure: Stripe saves nothing for it.
                executed = account.version != before or error.status == 402
                return Outcome(error.status, encode(error.body(log_url)), executed, error)
            except Exception:
                _log.exception("the Stripe sandbox failed on %s %s", route.method, route.template)
                failure = server_error()
                return Outcome(500, encode(failure.body(log_url)), account.version != before, failure)
            return Outcome(200, encode(body), True)

    async def _finish(
        self,
        scope: Scope,
        send: Send,
        exchange: Exchange,
        outcome: Outcome,
        headers: dict[str, str],
        fault: Fault | None,
    ) -> None:
        exchange.error = outcome.error
        exchange.status = outcome.status
        if fault is not None and fault.kind == "lost_response":
            await drop_connection(scope, send, "the response was lost on purpose (an injected lost_response fault)")
            return
        await self._answer(send, exchange, outcome.status, outcome.body, headers)
