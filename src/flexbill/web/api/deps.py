"""Request plumbing of the JSON API: the unit of work, the clock and API-key authentication."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from flexbill.access.model import Actor, ActorKind
from flexbill.access.service import find_api_key
from flexbill.bootstrap import Context
from flexbill.clock import Clock


def context(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


def session(ctx: Annotated[Context, Depends(context)]) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back when it raises. Its changes
    are audited under the request's API key (see flexbill.access.audit)."""
    with ctx.sessions() as db, db.begin():
        yield db


def read_session(ctx: Annotated[Context, Depends(context)]) -> Iterator[Session]:
    """A transaction that only reads (GET requests): it never waits for, nor blocks, a writer."""
    with ctx.readers() as db, db.begin():
        yield db


def clock(ctx: Annotated[Context, Depends(context)]) -> Clock:
    return ctx.clock


def _authenticate(request: Request, ctx: Context, scope: str) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send your API key as 'Authorization: Bearer <key>' (make one with `flexbill api-keys create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with ctx.lookups() as db:
        row = find_api_key(db, key.strip())
        if row is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this API key is not valid or has been revoked")
        if scope not in row.scopes.split():
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks the {scope!r} scope")
        client = request.client.host if request.client else None
        request.state.actor = Actor(ActorKind.API_KEY, f"API key {row.name} ({row.prefix}…)", row.id, client)


def require_read(request: Request, ctx: Annotated[Context, Depends(context)]) -> None:
    _authenticate(request, ctx, "read")


def require_write(request: Request, ctx: Annotated[Context, Depends(context)]) -> None:
    _authenticate(request, ctx, "write")


DB = Annotated[Session, Depends(session)]
ReadDB = Annotated[Session, Depends(read_session)]
Now = Annotated[Clock, Depends(clock)]
