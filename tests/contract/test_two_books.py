"""One space, two sets of books: a location that keeps them in Xero and another in QuickBooks Online, billed in the
same bill run, each invoice synced to its own location's system and nowhere else."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from flexbill.billing.service import run_bill_run
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.customers import service as customers
from flexbill.invoicing.store import InvoiceRow
from flexbill.sandbox.server import RunningSandbox
from tests.contract.books import Books, QuickBooksBooks, XeroBooks
from tests.contract.support import connect, drain_in_time
from tests.support import Catalog, make_catalog, make_customer


def members(ctx: Context, cat: Catalog, prefix: str, count: int) -> None:
    with ctx.sessions() as db, db.begin():
        for index in range(count):
            customer_id = make_customer(db, cat, name=f"{prefix} member {index:02}")
            customers.create_membership(
                db,
                customers.NewMembership(
                    customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                    start_date=date(2026, 11, 1), quantity=Decimal(1),
                ),
            )  # fmt: skip


def map_location(client: TestClient, books: Books, connection_id: str, code: str) -> None:
    """The books' codes for the test catalog's LON location, for location ``code`` instead."""
    codes = books.mappings()
    renamed = {
        key: {ours.replace("-LON", f"-{code}"): theirs for ours, theirs in value.items()}
        if isinstance(value, dict)
        else value
        for key, value in codes.items()
    }
    mapped = client.put(f"/api/v1/accounting/connections/{connection_id}/mappings", json=renamed)
    assert mapped.status_code == 200, mapped.text


def test_one_bill_run_sends_each_locations_invoices_to_its_own_books(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    xero, quickbooks = XeroBooks(sandbox), QuickBooksBooks(sandbox)
    with ctx.sessions() as db, db.begin():
        manchester = make_catalog(db, code="MAN")
    map_location(client, xero, connect(client, xero, cat.location_id), "LON")
    map_location(client, quickbooks, connect(client, quickbooks, manchester.location_id), "MAN")
    members(ctx, cat, "london", 4)
    members(ctx, manchester, "manchester", 3)

    result = run_bill_run(ctx.sessions, ctx.clock, date(2026, 12, 1))
    assert len(result.invoice_ids) == 7
    drain_in_time(ctx, clock)

    with ctx.readers() as db:
        invoices = db.scalars(select(InvoiceRow)).all()
    by_location: dict[uuid.UUID, list[InvoiceRow]] = {cat.location_id: [], manchester.location_id: []}
    for invoice in invoices:
        by_location[invoice.location_id].append(invoice)
    listed = {item["id"]: item for item in client.get("/api/v1/invoices", params={"limit": 100}).json()["items"]}
    for books, location_id, count in ((xero, cat.location_id, 4), (quickbooks, manchester.location_id, 3)):
        ours = by_location[location_id]
        held = books.invoices()
        assert len(held) == count, books.provider
        assert sorted(i.number for i in ours if i.number) == sorted(books.first_numbers(count)), books.provider
        assert {doc.number: doc.total for doc in held} == {i.number: i.total for i in ours}, books.provider
        for invoice in ours:
            state = listed[str(invoice.id)]["accounting"]
            assert (state["provider"], state["status"]) == (books.provider, "synced")
        assert books.counts()["contacts"] == count, books.provider
