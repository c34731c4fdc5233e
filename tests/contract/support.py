"""What the contract suite does the same way for every accounting system: connect through the OAuth flow, map
codes, bill a month, run the worker to the end, and check that the books hold exactly one twin of each record."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flexbill.accounting.store import SyncRecordRow
from flexbill.billing.service import run_bill_run
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.customers import service as customers
from flexbill.customers.store import CustomerRow
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.tasks.service import next_due_at, pending_count
from flexbill.worker import Worker, default_handlers
from tests.contract.books import Books
from tests.support import Catalog, make_customer


def connect(client: TestClient, books: Books, location_id: uuid.UUID) -> str:
    """Connect the location as an operator does: start, consent (the sandbox agrees at once), come back."""
    created = client.post(
        "/api/v1/accounting/connections",
        json={"location_id": str(location_id), "provider": books.provider, "base_url": books.root},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "authorizing"
    consent = httpx.get(body["authorize_url"], follow_redirects=False)
    assert consent.status_code in (302, 303), consent.text
    callback = httpx.URL(consent.headers["location"])
    assert callback.path == "/accounting/callback"
    done = client.get(f"{callback.path}?{callback.query.decode()}")
    assert done.status_code == 200, done.text
    assert "Connected" in done.text
    connection = client.get(f"/api/v1/accounting/connections/{body['id']}").json()
    assert connection["status"] == "connected"
    assert connection["tenant_name"]
    return str(body["id"])


def map_codes(client: TestClient, books: Books, connection_id: str) -> None:
    mapped = client.put(f"/api/v1/accounting/connections/{connection_id}/mappings", json=books.mappings())
    assert mapped.status_code == 200, mapped.text


def connected(client: TestClient, books: Books, cat: Catalog) -> str:
    """The test catalog's location connected to the books, its codes mapped."""
    connection_id = connect(client, books, cat.location_id)
    map_codes(client, books, connection_id)
    return connection_id


def bill_month(ctx: Context, cat: Catalog, customers_count: int) -> list[uuid.UUID]:
    with ctx.sessions() as db, db.begin():
        for index in range(customers_count):
            customer_id = make_customer(db, cat, name=f"Member {index:03} Ltd")
            customers.create_membership(
                db,
                customers.NewMembership(
                    customer_id=customer_id,
                    plan_id=cat.hot_desk_id,
                    location_id=cat.location_id,
                    start_date=date(2026, 11, 1),
                    quantity=Decimal(1 + index % 3),
                ),
            )
    return run_bill_run(ctx.sessions, ctx.clock, date(2026, 12, 1)).invoice_ids


def drain(ctx: Context, *, timeout: float = 60.0) -> None:
    """Run the worker until no task is left. A task delayed on the business clock (a retry, or a rate limit the
    connector keeps: QuickBooks' ten calls a second come round in real time) is brought due by moving a test's
    fixed clock on to it; the sandboxes' compressed minutes pass in real time meanwhile."""
    # The lease is long: the fixed clock is moved on to the next task due, here or in another thread draining at the
    # same time, while a worker may still be in the middle of a batch; a real clock never jumps under a live worker.
    worker = Worker(ctx, default_handlers(ctx), poll_interval=0.05, lease=timedelta(hours=6))
    kinds = list(worker.handlers)
    deadline = time.monotonic() + timeout
    while True:
        worker.run_until_idle()
        with ctx.readers() as db:
            if pending_count(db) == 0:
                return
            due = next_due_at(db, kinds, ctx.clock.now())
        assert time.monotonic() < deadline, f"the sync did not finish in time: {waiting(ctx)}"
        if isinstance(ctx.clock, FixedClock) and due is not None and due > ctx.clock.instant:
            ctx.clock.instant = due
        time.sleep(0.05)


def drain_in_time(ctx: Context, clock: FixedClock) -> None:
    """``drain``, for a test that holds the fixed clock the context runs on."""
    assert ctx.clock is clock
    drain(ctx, timeout=120.0)


def waiting(ctx: Context) -> list[tuple[str, str, int, str | None]]:
    """What is left, and why: shown when a drain times out."""
    from flexbill.tasks.store import TaskRow

    with ctx.readers() as db:
        rows = db.execute(
            select(TaskRow.kind, TaskRow.status, TaskRow.attempts, TaskRow.last_error).where(TaskRow.status != "done")
        ).all()
    return [(kind, status, attempts, error) for kind, status, attempts, error in rows][:20]


def assert_one_remote_twin_each(ctx: Context, books: Books, invoice_ids: list[uuid.UUID]) -> None:
    """Every local record has exactly one counterpart in the books, with the same totals to the cent."""
    with ctx.readers() as db:
        invoices = {row.id: row for row in db.scalars(select(InvoiceRow).where(InvoiceRow.id.in_(invoice_ids)))}
        records = {(r.kind, r.record_id): r for r in db.scalars(select(SyncRecordRow))}
        payments = db.scalars(select(PaymentRow)).all()
        notes = db.scalars(select(CreditNoteRow)).all()
        customers_count = db.scalar(select(func.count()).select_from(CustomerRow))
    failed = {key: r.error for key, r in records.items() if r.status not in ("synced", "not_synced")}
    assert not failed, failed
    counts = books.counts()
    assert counts["contacts"] == customers_count, counts
    remote_invoices = books.invoices()
    assert len(remote_invoices) == len(invoice_ids)
    by_id = {doc.external_id: doc for doc in remote_invoices}
    for invoice in invoices.values():
        external_id = records[("invoice", invoice.id)].external_id
        assert external_id is not None, invoice.number
        remote = by_id[external_id]
        assert remote.number == invoice.number
        assert remote.voided == (invoice.status == "voided"), invoice.number
        if remote.voided:
            continue  # some systems zero a void invoice's amounts (QuickBooks does)
        assert remote.total == invoice.total, invoice.number
        assert remote.amount_paid == invoice.amount_paid, invoice.number
        assert remote.amount_credited == invoice.amount_credited, invoice.number
    assert counts["payments"] == len(payments), counts
    assert counts["credit_notes"] == len(notes), counts
