"""``POST /webhooks/{provider}``: an accounting system's change notices.

The signature is checked on the raw body before anything is parsed. A notice carries no data, only what changed;
each event is taken in once (re-deliveries are dropped by their id) and becomes a task that reads the record, so
the answer goes back within the accounting system's few seconds whatever the load. Xero's "intent to receive"
check is a delivery with no events: answered 200 when signed correctly and 401 when not, like any other.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.accounting import outbox, sync
from flexbill.accounting.model import WebhookEvent
from flexbill.accounting.ports import BadSignature, ConnectorError
from flexbill.accounting.registry import connectors
from flexbill.accounting.store import AccountingConnectionRow, InboundEventRow
from flexbill.bootstrap import Context
from flexbill.db import insert_for
from flexbill.tasks.service import enqueue
from flexbill.web.api.deps import context

router = APIRouter(include_in_schema=False)
logger = logging.getLogger("flexbill.webhooks")


@router.post("/webhooks/{provider}")
async def receive(provider: str, request: Request, ctx: Context = Depends(context)) -> Response:
    connector = connectors().get(provider)
    signing_key = getattr(ctx.settings, f"{provider}_webhook_key", None)
    if connector is None:
        return Response(status_code=404)
    body = await request.body()
    if not signing_key:
        logger.warning("a %s webhook arrived but FLEXBILL_%s_WEBHOOK_KEY is not set", provider, provider.upper())
        return Response(status_code=401)
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        events = connector.webhook_events(body, headers, signing_key)
    except BadSignature:
        return Response(status_code=401)
    except ConnectorError as error:
        logger.warning("a %s webhook could not be read: %s", provider, error.message)
        return Response(status_code=400)
    if events:
        with ctx.sessions() as db, db.begin():
            take_in(db, ctx, provider, events)
    return Response(status_code=200)


def take_in(db: Session, ctx: Context, provider: str, events: list[WebhookEvent]) -> int:
    """Record each new event and enqueue a read of what it names; returns how many were new."""
    now = ctx.clock.now()
    new = 0
    for event in events:
        written = db.execute(
            insert_for(db)(InboundEventRow)
            .values(event_id=f"{provider}:{event.event_id}", provider=provider, received_at=now)
            .on_conflict_do_nothing(index_elements=[InboundEventRow.event_id])
            .returning(InboundEventRow.event_id)
        ).first()
        if written is None:  # taken in before: a re-delivery
            continue
        new += 1
        if event.category != "invoice":  # payments and credits show on the invoice they settle
            continue
        connection_ids = db.scalars(
            select(AccountingConnectionRow.id).where(
                AccountingConnectionRow.provider == provider,
                AccountingConnectionRow.tenant_id == event.tenant_id,
                AccountingConnectionRow.status.in_(outbox.USABLE),
            )
        ).all()
        for connection_id in connection_ids:
            enqueue(
                db,
                sync.REFRESH_TASK,
                f"accounting:refresh:{connection_id}:{event.event_id}",
                group=outbox.group_of(connection_id),
                payload={"external_id": event.resource_id},
                run_at=now,
            )
    return new
