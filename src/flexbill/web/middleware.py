"""Plain ASGI middleware of the web app."""

from __future__ import annotations

import asyncio
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

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
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self._gate():
            await self.app(scope, receive, send)

    def _gate(self) -> anyio.Semaphore:
        # One gate per event loop (a test client runs its own), as the worker-thread limiter is the loop's too.
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            threads = anyio.to_thread.current_default_thread_limiter()
            threads.total_tokens = max(threads.total_tokens, self.limit)
            gate = self._gates[loop] = anyio.Semaphore(self.limit)
        return gate
