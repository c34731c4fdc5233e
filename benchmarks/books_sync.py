"""What the accounting-sync benchmarks share (``xero_sync.py``, ``quickbooks_sync.py``): bill a month of one
invoice per member with accounting sync on (auto) and the PDFs fetched for sending, let the worker send it all to
a sandbox at the accounting system's real limits, and print the calls per invoice, the share of the rate limit used
and the 429s.

Each script says which sandbox, how a connection's codes map onto its demo company, and how its limits read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

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
from flexbill.notify.capture import start_capture
from flexbill.sandbox.server import RunningSandbox, start_sandbox
from flexbill.settings import Settings
from flexbill.tasks.service import pending_count
from flexbill.worker import Worker, default_handlers

RUN_DATE = date(2026, 12, 1)


@dataclass(frozen=True)
class Books:
    """One accounting system under test."""

    name: str  # as printed: "Xero", "QuickBooks"
    provider: str  # the connection's provider
    root: Callable[[RunningSandbox], str]  # the sandbox's root, the connection's base_url
    mappings: Mapping[str, object]  # the benchmark space's codes onto the sandbox's demo company
    state: Callable[[RunningSandbox], dict[str, Any]]  # the sandbox's call counts: by_endpoint, throttled
    counted: Callable[[str], bool]  # whether an endpoint's calls count against the rate limit
    per_minute: int  # the limit of calls a minute the share used is reported against
    targets: str  # what the figures should be, printed with them


def arguments(description: str, *, time_scale: float = 10.0) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--time-scale", type=float, default=time_scale, help="sandbox time runs this much faster")
    parser.add_argument("--workers", type=int, default=1, help="worker threads sharing the tasks")
    parser.add_argument("--database-url", help="default: a fresh SQLite file; or a PostgreSQL database named *bench*")
    return parser.parse_args()


def main(books: Books, args: argparse.Namespace, *, prepare: Callable[[float], None] | None = None) -> None:
    """Run the benchmark; ``prepare`` is told the time scale before anything is sent (a connector whose limits
    are counted on its side must count the sandbox's compressed minutes)."""
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'bench.sqlite3'}"
        # The invoices are emailed with the PDFs: to a mail capture of the run's own, on any free port.
        settings = Settings(database_url=url, data_dir=Path(scratch), smtp_host=None, mail_capture_port=0)
        capture = start_capture(settings)
        settings = settings.model_copy(update={"mail_capture_port": capture.port})
        ctx = build_context(settings, clock=ShiftedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))
        prepare_database(ctx, url)
        if prepare is not None:
            prepare(args.time_scale)
        sandbox = start_sandbox(time_scale=args.time_scale)
        try:
            run(ctx, books, sandbox, args.invoices, args.time_scale, args.workers)
        finally:
            sandbox.stop()
            capture.stop()


def prepare_database(ctx: Context, url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        if "bench" not in (parsed.database or ""):
            sys.exit("refusing to empty a database whose name does not contain 'bench'")
        with ctx.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(ctx.engine)


def run(ctx: Context, books: Books, sandbox: RunningSandbox, invoices: int, time_scale: float, workers: int) -> None:
    location_id = make_space(ctx, invoices)
    connect(ctx, books, sandbox, location_id)
    started_billing = time.perf_counter()
    result = run_bill_run(ctx.sessions, ctx.clock, RUN_DATE)
    billed = time.perf_counter() - started_billing
    assert len(result.invoice_ids) == invoices, (len(result.invoice_ids), invoices)

    before = books.state(sandbox)["calls"]
    started = time.perf_counter()
    drain(ctx, workers)
    elapsed = time.perf_counter() - started
    after = books.state(sandbox)["calls"]

    with ctx.readers() as db:
        synced = db.scalar(
            select(func.count()).where(SyncRecordRow.kind == "invoice", SyncRecordRow.status == "synced")
        )
        pdfs = db.scalar(select(func.count()).select_from(AccountingDocumentRow))
    by_endpoint = {
        name: after["by_endpoint"].get(name, 0) - before["by_endpoint"].get(name, 0)
        for name in after["by_endpoint"]
        if books.counted(name)
    }
    calls = sum(by_endpoint.values())
    throttled = after["throttled"] - before["throttled"]
    minutes = elapsed * time_scale / 60
    allowed = books.per_minute * minutes  # the calls the limit allowed over the time the sync took
    print(f"invoices billed:            {invoices:,} (bill run {billed:.1f} s)")
    print(f"invoices synced:            {synced:,}, with {books.name}'s PDF: {pdfs:,}")
    print(
        f"sync time:                  {elapsed:.1f} s real = {minutes:.1f} {books.name} minutes (time x{time_scale:g})"
    )
    print(f"API calls:                  {calls:,} = {calls / invoices:.3f} per invoice")
    for name, count in sorted(by_endpoint.items()):
        if count:
            print(f"  {name:<48} {count:,}")
    print(
        f"per-minute limit used:      {calls / allowed:.1%} "
        f"({calls:,} calls in {minutes:.1f} minutes of {books.per_minute})"
    )
    print(f"429s received:              {throttled} ({max(0, throttled - 1)} after the first)")
    print(f"targets:                    {books.targets}")


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


def connect(ctx: Context, books: Books, sandbox: RunningSandbox, location_id: uuid.UUID) -> None:
    with ctx.sessions() as db, db.begin():
        command = accounting.NewConnection.model_validate(
            {"location_id": location_id, "provider": books.provider, "base_url": books.root(sandbox)}
        )
        _, authorize_url = accounting.create_connection(db, ctx.settings, command, "http://127.0.0.1/callback")
    answer = httpx.URL(httpx.get(authorize_url, follow_redirects=False).headers["location"]).params
    connection = accounting.complete_authorization(ctx, answer["state"], answer["code"], dict(answer))
    accounting.set_mappings(ctx, connection.id, accounting.Mappings.model_validate(dict(books.mappings)))
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
