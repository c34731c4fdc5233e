"""Helpers for tests: a small catalog made through the real use cases."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import uvicorn
from sqlalchemy.orm import Session

from flexbill.catalog import service as catalog
from flexbill.customers import service as customers


@dataclass(frozen=True)
class Catalog:
    location_id: uuid.UUID
    vat20_id: uuid.UUID
    zero_id: uuid.UUID
    memberships_account_id: uuid.UUID
    fees_account_id: uuid.UUID
    hot_desk_id: uuid.UUID  # 300.00 a month, first_invoice


def make_catalog(db: Session, *, code: str = "LON", currency: str = "GBP", prices_include_tax: bool = False) -> Catalog:
    location = catalog.create_location(
        db,
        catalog.NewLocation(
            name=f"{code} space", code=code, currency=currency, timezone="Europe/London",
            prices_include_tax=prices_include_tax, invoice_number_template=f"{code}-{{number:04}}",
        ),
    )  # fmt: skip
    vat = catalog.create_tax_rate(
        db,
        catalog.NewTaxRate(name="VAT 20%", code=f"VAT20-{code}", components=[{"name": "VAT", "rate": "20"}]),  # type: ignore[list-item]
    )
    zero = catalog.create_tax_rate(
        db,
        catalog.NewTaxRate(name="No VAT", code=f"ZERO-{code}", components=[{"name": "VAT", "rate": "0"}]),  # type: ignore[list-item]
    )
    memberships = catalog.create_revenue_account(
        db, catalog.NewRevenueAccount(name="Membership fees", code=f"200-{code}", tax_rate_id=vat.id)
    )
    fees = catalog.create_revenue_account(
        db, catalog.NewRevenueAccount(name="One-off fees", code=f"210-{code}", tax_rate_id=vat.id)
    )
    plan = catalog.create_plan(
        db, catalog.NewPlan(name="Hot desk", price=Decimal("300.00"), revenue_account_id=memberships.id)
    )
    return Catalog(location.id, vat.id, zero.id, memberships.id, fees.id, plan.id)


def make_customer(db: Session, cat: Catalog, name: str = "Acme Ltd", **fields: object) -> uuid.UUID:
    command = customers.CustomerFields(
        name=name,
        email=f"{name.split()[0].lower()}@example.com",
        home_location_id=cat.location_id,
        **fields,  # type: ignore[arg-type]
    )
    return customers.create_customer(db, command).id


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app over real HTTP on a free port in a background thread; yields its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
