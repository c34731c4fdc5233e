"""Accounting connections (OAuth, organisation, mappings), manual sync, pull, and the sync state of records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.accounting import service as accounting
from flexbill.accounting.model import RecordKind, RemoteAccount, RemoteTaxRate
from flexbill.accounting.store import AccountingConnectionRow, SyncLogRow
from flexbill.bootstrap import Context
from flexbill.errors import FlexbillError
from flexbill.web.api.deps import DB, ReadDB, context, require_read, require_write
from flexbill.web.api.views import AccountingOut
from flexbill.web.api.views import accounting_states as accounting_states  # the sync state of records
from flexbill.web.api.views import with_accounting as with_accounting

router = APIRouter()
callback_router = APIRouter()  # outside /api/v1: the operator's browser comes back here, without an API key
read = [Depends(require_read)]
write = [Depends(require_write)]

CALLBACK_PATH = "/accounting/callback"


class ConnectionOut(BaseModel):
    id: uuid.UUID
    provider: str
    status: str  # authorizing, choose_tenant, connected, reconnect_needed
    numbering: str  # accounting (the accounting system numbers invoices) or flexbill
    tenant_id: str | None
    tenant_name: str | None
    tenants: list[dict[str, str]]  # offered by the last consent, to choose from when there are several
    location_ids: list[uuid.UUID]
    mappings: dict[str, object]
    base_url: str | None
    last_error: str | None


class NewConnectionOut(ConnectionOut):
    authorize_url: str


class SyncRequest(BaseModel):
    invoice_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=1000)]


class SyncStarted(BaseModel):
    tasks: int
    invoices: dict[uuid.UUID, AccountingOut]


def connection_out(db: Session, row: AccountingConnectionRow) -> ConnectionOut:
    return ConnectionOut(
        id=row.id,
        provider=row.provider,
        status=row.status,
        numbering=row.numbering,
        tenant_id=row.tenant_id,
        tenant_name=row.tenant_name,
        tenants=list(row.tenants or []),
        location_ids=accounting.connection_location_ids(db, row.id),
        mappings=dict(row.mappings or {}),
        base_url=row.base_url,
        last_error=row.last_error,
    )


def _callback_url(request: Request, ctx: Context) -> str:
    """Where the accounting system sends the operator back: FLEXBILL_PUBLIC_URL, or this request's own host."""
    base = ctx.settings.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


@router.post("/accounting/connections", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["accounting"])
def create_connection(
    body: accounting.NewConnection, request: Request, db: DB, ctx: Context = Depends(context)
) -> NewConnectionOut:
    """Start connecting a location to an accounting system: open ``authorize_url`` to consent."""
    row, url = accounting.create_connection(db, ctx.settings, body, _callback_url(request, ctx))
    return NewConnectionOut(**connection_out(db, row).model_dump(), authorize_url=url)


@router.get("/accounting/connections", dependencies=read, tags=["accounting"])
def list_connections(db: ReadDB) -> list[ConnectionOut]:
    rows = db.scalars(select(AccountingConnectionRow).order_by(AccountingConnectionRow.id))
    return [connection_out(db, row) for row in rows]


@router.get("/accounting/connections/{connection_id}", dependencies=read, tags=["accounting"])
def get_connection(connection_id: uuid.UUID, db: ReadDB) -> ConnectionOut:
    return connection_out(db, accounting.get_connection(db, connection_id))


@router.patch("/accounting/connections/{connection_id}", dependencies=write, tags=["accounting"])
def update_connection(
    connection_id: uuid.UUID, body: accounting.ConnectionChanges, db: DB, ctx: Context = Depends(context)
) -> ConnectionOut:
    """Set who numbers invoices (``numbering``), choose the organisation (``tenant_id``), or which locations
    sync to this organisation (``location_ids``)."""
    accounting.update_connection(ctx, db, connection_id, body)
    return connection_out(db, accounting.get_connection(db, connection_id))


@router.post("/accounting/connections/{connection_id}/reconnect", dependencies=write, tags=["accounting"])
def reconnect(connection_id: uuid.UUID, request: Request, db: DB, ctx: Context = Depends(context)) -> NewConnectionOut:
    """Authorize again (the tokens expired or were revoked): the connection's waiting work resumes after."""
    row, url = accounting.restart_authorization(db, ctx.settings, connection_id, _callback_url(request, ctx))
    return NewConnectionOut(**connection_out(db, row).model_dump(), authorize_url=url)


RemoteList = Literal["accounts", "tax-rates", "tracking-categories"]


@router.get("/accounting/connections/{connection_id}/remote/{what}", dependencies=read, tags=["accounting"])
def remote_list(connection_id: uuid.UUID, what: RemoteList, ctx: Context = Depends(context)) -> list[dict[str, object]]:
    """What the organisation has, to map our codes to: its accounts, tax rates or tracking categories."""
    items = accounting.fetch_remote_lists(ctx, connection_id, what)
    out: list[dict[str, object]] = []
    for item in items:
        if isinstance(item, RemoteAccount):
            out.append(
                {"code": item.code, "name": item.name, "type": item.type, "status": item.status,
                 "sales": item.sales, "payments": item.payments}
            )  # fmt: skip
        elif isinstance(item, RemoteTaxRate):
            out.append({"code": item.code, "name": item.name, "rate": str(item.rate), "status": item.status})
        else:
            out.append({"name": item.name, "options": list(item.options)})
    return out


@router.put("/accounting/connections/{connection_id}/mappings", dependencies=write, tags=["accounting"])
def set_mappings(
    connection_id: uuid.UUID, body: accounting.Mappings, ctx: Context = Depends(context)
) -> dict[str, object]:
    """Map our revenue account and tax rate codes to the organisation's, and name the account payments go to.
    Every code is checked on both sides; records that failed for want of a mapping are sent again."""
    return accounting.set_mappings(ctx, connection_id, body)


@router.post("/accounting/connections/{connection_id}/pull", dependencies=write, tags=["accounting"])
def pull_now(connection_id: uuid.UUID, ctx: Context = Depends(context)) -> dict[str, object]:
    """Take in the changes made in the accounting system now (payments, voids), rather than at the next poll."""
    from flexbill.accounting.runner import pull_now as pull

    return pull(ctx, connection_id)


@router.post("/invoices/sync", status_code=status.HTTP_202_ACCEPTED, dependencies=write, tags=["accounting"])
def sync_invoices(body: SyncRequest, db: DB, ctx: Context = Depends(context)) -> SyncStarted:
    """Send these invoices to the accounting system now, whatever the sync rule (unless it is ``off``): the
    semi-automated mode, and the retry after a failure. The worker does the sending."""
    keys = accounting.request_sync(db, ctx, [str(invoice_id) for invoice_id in body.invoice_ids])
    states = accounting_states(db, RecordKind.INVOICE, body.invoice_ids)
    return SyncStarted(tasks=len(keys), invoices=states)


class SyncLogEntry(BaseModel):
    at: datetime
    action: str  # create, update, find, void, pdf, allocate, pull
    result: str  # ok, failed, retry
    detail: str
    connection_id: uuid.UUID


@router.get("/accounting/log", dependencies=read, tags=["accounting"])
def sync_log(
    db: ReadDB,
    record_id: uuid.UUID,
    kind: Literal["invoice", "customer", "payment", "credit_note"] = "invoice",
    limit: int = Query(100, ge=1, le=1000),
) -> list[SyncLogEntry]:
    """What the sync did with one record, newest first: the answer to "why is this not in the books?"."""
    rows = db.scalars(
        select(SyncLogRow)
        .where(SyncLogRow.kind == kind, SyncLogRow.record_id == record_id)
        .order_by(SyncLogRow.at.desc(), SyncLogRow.id.desc())
        .limit(limit)
    )
    return [
        SyncLogEntry(at=r.at, action=r.action, result=r.result, detail=r.detail, connection_id=r.connection_id)
        for r in rows
    ]


# --- the OAuth callback ----------------------------------------------------------------------------------------


@callback_router.get(CALLBACK_PATH, include_in_schema=False, response_class=HTMLResponse)
def oauth_callback(
    request: Request,
    ctx: Context = Depends(context),
    code: str | None = Query(None),
    state: str | None = Query(None),
    error: str | None = Query(None),
) -> HTMLResponse:
    """Where the accounting system sends the operator's browser after consent. The ``state`` is the proof that
    this consent belongs to a connection started here; it works once."""
    if error or not code or not state:
        reason = error or "the accounting system sent no authorization code"
        return _page(400, "Not connected", f"The connection was not made: {reason}. Start again from flexbill.")
    try:
        row = accounting.complete_authorization(ctx, state, code, dict(request.query_params))
    except FlexbillError as problem:
        return _page(problem.status_code, "Not connected", problem.message)
    back = f"/admin/settings/integrations/{row.id}"
    if row.status == "choose_tenant":
        return _page(200, "Choose the organisation", "The consent covers several organisations: choose one in the "
                     "connection's settings below, or with "
                     f"PATCH /api/v1/accounting/connections/{row.id} {{\"tenant_id\": ...}}.", back)  # fmt: skip
    return _page(200, "Connected", f"flexbill is connected to {row.provider} organisation {row.tenant_name}.", back)


def _page(status_code: int, title: str, message: str, back: str = "/admin/settings/integrations") -> HTMLResponse:
    from html import escape

    body = (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{escape(title)} · flexbill</title>"
        f"<main><h1>{escape(title)}</h1><p>{escape(message)}</p>"
        f"<p><a href='{escape(back)}'>Back to the connection in flexbill's settings</a></p></main></html>"
    )
    return HTMLResponse(body, status_code=status_code)
