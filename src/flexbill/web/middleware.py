"""Plain ASGI middleware of the web app."""

from __future__ import annotations

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
