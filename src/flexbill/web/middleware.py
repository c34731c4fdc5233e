"""Plain ASGI middleware of the web app."""

from __future__ import annotations

import asyncio
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flexbill.access.audit import request_state


class AuditActor:
    """Makes each request's state (where its authentication puts the actor) visible to every database session
    opened while serving it, so that changes made deep inside a use case are still audited under its name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # the dict behind Starlette's request.state
        token = request_state.set(state)
        try:
            await self.app(scope, receive, send)
        finally:
            request_state.reset(token)


# Paths that never wait at the door: inbound webhooks (the accounting systems and Stripe want an answer within
# seconds, and their handlers hop to no worker thread while holding a connection) and static files.
UNGATED_PREFIXES = ("/webhooks/", "/static/")


async def _whole_body(receive: Receive) -> list[Message]:
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


class Admission:
    """Lets at most ``limit`` requests into the app at once; the others wait at the door, holding nothing.

    Why: a request's transaction keeps its pooled connection from the handler until the response is built, and
    FastAPI builds a synchronous handler's response in a worker thread, a second hop. With more requests inside
    than there are worker threads and connections together, every worker thread can be waiting for a connection
    while every connection waits, held, for a worker thread: nothing moves until the pool's timeout turns them all
    into errors. With no more requests inside than the pool has connections (``limit``), and at least that many
    worker threads (made sure of here, per event loop), an admitted request always finds a thread, so every
    connection is handed back. On two CPUs a process gains nothing from more requests in flight than this anyway.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        if limit < 1:
            raise ValueError("at least one request must be let in at a time")
        self.app = app
        self.limit = limit
        self._gates: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.Semaphore] = WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(UNGATED_PREFIXES) or path == "/healthz":
            await self.app(scope, receive, send)
            return
        # The body is read before the door: a client that sends it slowly waits outside, holding no place.
        body = await _whole_body(receive)
        async with self._gate():
            await self.app(scope, _replaying(body, receive), send)

    def _gate(self) -> anyio.Semaphore:
        # One gate per event loop (a test client runs its own), as the worker-thread limiter is the loop's too.
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            threads = anyio.to_thread.current_default_thread_limiter()
            threads.total_tokens = max(threads.total_tokens, self.limit)
            gate = self._gates[loop] = anyio.Semaphore(self.limit)
        return gate
