"""Dropping a client's connection on purpose, shared by every sandbox that injects a lost response.

A lost response is the hardest failure for a client: the change was made, and the client sees only a broken
connection. To produce it a sandbox closes the connection's transport instead of answering. uvicorn's ``send``
is a method of the request cycle that holds the transport; :mod:`flexbill.sandbox.server` stashes the server's
own ``send`` in the scope under :data:`RAW_SEND_KEY`, and otherwise the transport is found by following the
closures of the middleware that wrapped ``send``. FastAPI's TestClient has no transport: there a sandbox raises
:class:`ResponseLost` instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive, Scope, Send

RAW_SEND_KEY = "flexbill.sandbox.raw_send"  # the server's own send, stashed by flexbill.sandbox.server


class ResponseLost(Exception):
    """Raised when a response must be lost but the server offers no way to drop the connection (e.g. TestClient)."""


def transport_of(scope: Scope, send: Send) -> Any:
    """The connection's transport, or ``None`` when the server is not uvicorn (e.g. TestClient)."""
    candidates: list[object] = [scope.get(RAW_SEND_KEY), send]
    seen: set[int] = set()
    while candidates:
        candidate = candidates.pop()
        if candidate is None or id(candidate) in seen or len(seen) > 32:
            continue
        seen.add(id(candidate))
        transport = getattr(getattr(candidate, "__self__", None), "transport", None)
        if transport is not None and hasattr(transport, "close"):
            return transport
        for cell in getattr(candidate, "__closure__", None) or ():
            try:
                candidates.append(cell.cell_contents)
            except ValueError:
                continue
    return None


async def drop_connection(scope: Scope, send: Send, reason: str) -> None:
    """Close the client's connection without a status line (raises :class:`ResponseLost` where it cannot)."""
    transport = transport_of(scope, send)
    if transport is None:
        raise ResponseLost(reason)
    transport.close()
    for _ in range(3):  # let the server see the connection go before the app returns
        await asyncio.sleep(0)


async def read_body(receive: Receive) -> bytes:
    """The whole request body, read from the ASGI ``receive`` (a sandbox gateway reads it before the routes do,
    to check signatures, limits and idempotency keys)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
