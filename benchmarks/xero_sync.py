"""How efficiently does a month reach Xero?

    python benchmarks/xero_sync.py --invoices 2000

bills a month of that many invoices (one customer and one membership each) with accounting sync on (auto) and the
PDFs fetched for sending, then lets the worker send everything to the Xero sandbox at Xero's real limits (60 calls a
minute, 5 at once, 5,000 a day) and prints:

- API calls per invoice (contacts, invoices and PDFs together; the OAuth calls go to Xero's identity service, which
  has no such limit, and are not counted),
- the share of the per-minute limit used while syncing (calls made / calls the minutes allowed),
- the 429s received, and how many came after the first.

The sandbox compresses time by ``--time-scale`` (default 10: a Xero minute lasts six real seconds), reported with the
figures; the limits themselves are Xero's. Targets: <= 1.1 calls per invoice, >= 90% of the per-minute limit used,
no 429 after the first.

Runs on a fresh SQLite file by default, or on a PostgreSQL database whose name contains "bench" (emptied first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from flexbill.accounting import service as accounting
from flexbill.accounting.store import AccountingDocumentRow, SyncRecordRow
from flexbill.billing.service import BillingRulesChanges, run_bill_run, update_billing_rules
from flexbill.bootstrap import Context, build_context
from flexbill.catalog import service as catalog
from flexbill.clock import ShiftedClock
from flexbill.customers import service as customers
from flexbill.migrations import upgrade
from flexbill.sandbox.server import RunningSandbox, start_sandbox
from flexbill.settings import Settings
from flexbill.tasks.service import pending_count
from flexbill.worker import Worker, default_handlers

RUN_DATE = date(2026, 12, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--time-scale", type=float, default=10.0, help="sandbox time runs this much faster")
    parser.add_argument("--workers", type=int, default=1, help="worker threads sharing the tasks")
    parser.add_argument("--database-url", help="default: a fresh SQLite file; or a PostgreSQL database named *bench*")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'bench.sqlite3'}"
        ctx = build_context(
            Settings(database_url=url, data_dir=Path(scratch)),
            clock=ShiftedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        )
        prepare_database(ctx, url)
        sandbox = start_sandbox(time_scale=args.time_scale)
        try:
            run(ctx, sandbox, args.invoices, args.time_scale, args.workers)
        finally:
            sandbox.stop()


def prepare_database(ctx: Context, url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        if "bench" not in (parsed.database or ""):
            sys.exit("refusing to empty a database whose name does not contain 'bench'")
        with ctx.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(ctx.engine)


def run(ctx: Context, sandbox: RunningSandbox, invoices: int, time_scale: float, workers: int) -> None:
    location_id = make_space(ctx, invoices)
    connect(ctx, sandbox, location_id)
    started_billing = time.perf_counter()
    result = run_bill_run(ctx.sessions, ctx.clock, RUN_DATE)
    billed = time.perf_counter() - started_billing
    assert len(result.invoice_ids) == invoices, (len(result.invoice_ids), invoices)

    before = sandbox.xero.state()["calls"]
    started = time.perf_counter()
    drain(ctx, workers)
    elapsed = time.perf_counter() - started
    after = sandbox.xero.state()["calls"]

    with ctx.readers() as db:
        synced = db.scalar(
            select(func.count()).where(SyncRecordRow.kind == "invoice", SyncRecordRow.status == "synced")
        )
        pdfs = db.scalar(select(func.count()).select_from(AccountingDocumentRow))
    by_endpoint = {
        name: after["by_endpoint"].get(name, 0) - before["by_endpoint"].get(name, 0)
        for name in after["by_endpoint"]
        if "/api.xro/" in name  # the Accounting API's limit; the identity service's calls are not counted by it
    }
    calls = sum(by_endpoint.values())
    throttled = after["throttled"] - before["throttled"]
    xero_minutes = elapsed * time_scale / 60
    allowed = 60 * xero_minutes  # the calls Xero's limit allowed over the time the sync took
    print(f"invoices billed:            {invoices:,} (bill run {billed:.1f} s)")
    print(f"invoices synced:            {synced:,}, with Xero's PDF: {pdfs:,}")
    print(f"sync time:                  {elapsed:.1f} s real = {xero_minutes:.1f} Xero minutes (time x{time_scale:g})")
    print(f"API calls:                  {calls:,} = {calls / invoices:.3f} per invoice")
    for name, count in sorted(by_endpoint.items()):
        if count:
            print(f"  {name:<40} {count:,}")
    print(f"per-minute limit used:      {calls / allowed:.1%} ({calls:,} calls in {xero_minutes:.1f} minutes of 60)")
    print(f"429s received:              {throttled} ({max(0, throttled - 1)} after the first)")


def make_space(ctx: Context, invoices: int) -> uuid.UUID:
    with ctx.sessions() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(billing_day=1, due_days=14))
        location = catalog.create_location(
            db,
            catalog.NewLocation(
                name="Bench space", code="LON", currency="GBP", timezone="Europe/London", prices_include_tax=False,
                invoice_number_template="LON-{number:05}",
            ),
        )  # fmt: skip
        vat = catalog.create_tax_rate(
            db,
            catalog.NewTaxRate(
                name="VAT 20%", code="VAT20", components=[catalog.NewTaxComponent(name="VAT", rate=Decimal(20))]
            ),
        )
        account = catalog.create_revenue_account(
            db, catalog.NewRevenueAccount(name="Memberships", code="4000", tax_rate_id=vat.id)
        )
        plan = catalog.create_plan(
            db, catalog.NewPlan(name="Hot desk", price=Decimal("250.00"), revenue_account_id=account.id)
        )
        for index in range(invoices):
            customer = customers.create_customer(
                db,
                customers.CustomerFields(
                    name=f"Member {index:05}", email=f"member{index}@example.com", home_location_id=location.id
                ),
            )
            customers.create_membership(
                db,
                customers.NewMembership(
                    customer_id=customer.id, plan_id=plan.id, location_id=location.id,
                    start_date=date(2026, 12, 1), quantity=Decimal(1),
                ),
            )  # fmt: skip
    return location.id


def connect(ctx: Context, sandbox: RunningSandbox, location_id: uuid.UUID) -> None:
    with ctx.sessions() as db, db.begin():
        command = accounting.NewConnection.model_validate(
            {"location_id": location_id, "provider": "xero", "base_url": sandbox.xero_url}
        )
        _, authorize_url = accounting.create_connection(db, ctx.settings, command, "http://127.0.0.1/callback")
    answer = httpx.URL(httpx.get(authorize_url, follow_redirects=False).headers["location"]).params
    connection = accounting.complete_authorization(ctx, answer["state"], answer["code"])
    accounting.set_mappings(
        ctx,
        connection.id,
        accounting.Mappings.model_validate(
            {"accounts": {"4000": "200"}, "tax_rates": {"VAT20": "OUTPUT2"}, "payment_account": "090"}
        ),
    )
    with ctx.sessions() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(accounting_sync="auto", auto_send=True))


def drain(ctx: Context, workers: int) -> None:
    """Run the worker(s) until no task is left; each idles as a real worker does (sleeping until the next task or
    the end of a rate-limit wait), never busy-looping."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=Worker(ctx, default_handlers(ctx), poll_interval=0.2).run_forever, args=(stop,))
        for _ in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        while True:
            time.sleep(0.5)
            with ctx.readers() as db:
                if pending_count(db) == 0:
                    return
    finally:
        stop.set()
        for thread in threads:
            thread.join()


if __name__ == "__main__":
    main()
