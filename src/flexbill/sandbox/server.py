"""Running the sandboxes over real HTTP: in a background thread on a free port, or in the foreground.

>>> with running_sandbox() as sandbox:  # doctest: +SKIP
...     httpx.get(f"{sandbox.base_url}/healthz").json()
{'status': 'ok', 'version': '0.1.0'}
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from flexbill.sandbox.app import create_sandbox_app
from flexbill.sandbox.connection import RAW_SEND_KEY
from flexbill.sandbox.quickbooks import QuickBooksSandbox
from flexbill.sandbox.stripe import StripeSandbox
from flexbill.sandbox.xero import XeroSandbox


class _KeepServerSend:
    """Keeps the server's own ``send`` in the scope: the sandboxes drop a connection through it to lose a
    response on purpose (an injected fault), whatever middleware wraps ``send`` on the way in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND_KEY] = send
        await self.app(scope, receive, send)


@dataclass
class RunningSandbox:
    """A sandbox server running in a background thread."""

    app: FastAPI
    host: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def xero(self) -> XeroSandbox:
        sandbox: XeroSandbox = self.app.state.xero
        return sandbox

    @property
    def xero_url(self) -> str:
        """The root of the Xero sandbox (identity and control endpoints hang off it)."""
        return f"{self.base_url}/xero"

    @property
    def xero_api_url(self) -> str:
        """The Accounting API base URL, to use instead of ``https://api.xero.com/api.xro/2.0``."""
        return f"{self.base_url}/xero/api.xro/2.0"

    @property
    def stripe(self) -> StripeSandbox:
        sandbox: StripeSandbox = self.app.state.stripe
        return sandbox

    @property
    def stripe_url(self) -> str:
        """The Stripe API base address, to use instead of ``https://api.stripe.com`` (paths start ``/v1``)."""
        return f"{self.base_url}/stripe"

    @property
    def quickbooks(self) -> QuickBooksSandbox:
        sandbox: QuickBooksSandbox = self.app.state.quickbooks
        return sandbox

    @property
    def quickbooks_url(self) -> str:
        """The root of the QuickBooks sandbox: the API is ``{quickbooks_url}/v3/company/{realmId}``, the OAuth
        discovery document ``{quickbooks_url}/.well-known/openid_configuration``."""
        return f"{self.base_url}/quickbooks"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def start_sandbox(
    app: FastAPI | None = None, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning", **options: Any
) -> RunningSandbox:
    """Serve ``app`` (default: :func:`create_sandbox_app` with ``options``) in a daemon thread; port 0 picks
    a free port. Returns once the server accepts connections."""
    app = app or create_sandbox_app(**options)
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it a kept-alive connection waits ~40 ms per answer (Nagle's
    # algorithm against the client's delayed ACK), as uvicorn sets it only on sockets it opens itself.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((host, port))
    actual_port = listener.getsockname()[1]
    config = uvicorn.Config(_KeepServerSend(app), log_level=log_level, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="sandbox-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            listener.close()
            raise RuntimeError(f"the sandbox server did not start on {host}:{actual_port}")
        time.sleep(0.01)
    running = RunningSandbox(app, host, actual_port, server, thread)
    running.xero.public_url = running.xero_url
    running.stripe.public_url = running.stripe_url
    running.quickbooks.public_url = running.quickbooks_url
    return running


@contextmanager
def running_sandbox(app: FastAPI | None = None, **options: Any) -> Iterator[RunningSandbox]:
    """:func:`start_sandbox` for the length of a ``with`` block."""
    running = start_sandbox(app, **options)
    try:
        yield running
    finally:
        running.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    public_host: str | None = None,
    log_level: str = "info",
    **options: Any,
) -> None:
    """Run the sandboxes in the foreground until interrupted (``flexbill sandbox serve``)."""
    app = create_sandbox_app(**options)
    shown = public_host or ("127.0.0.1" if host in ("0.0.0.0", "::") else host)
    app.state.xero.public_url = f"http://{shown}:{port}/xero"
    app.state.stripe.public_url = f"http://{shown}:{port}/stripe"
    app.state.quickbooks.public_url = f"http://{shown}:{port}/quickbooks"
    uvicorn.run(_KeepServerSend(app), host=host, port=port, log_level=log_level, access_log=log_level == "debug")
