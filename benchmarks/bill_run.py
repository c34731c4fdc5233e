"""How fast is a bill run, and how much memory does it take?

    python benchmarks/bill_run.py --memberships 100000

generates a space with that many memberships, as many one-off fees, over half as many customers, bills the
previous month (not timed: memberships that started in the last months are caught up there, so the timed run is
an ordinary month: one line per active membership, plus the prorated starts and ends, plus every fee), then runs
the bill run of 1 December 2026 in a child process and prints its wall time and peak memory (the child's
maximum resident set size).
As a baseline it times a plain bulk insert of exactly the rows the bill run wrote (invoices, lines and claims),
with the same driver and batch size: the bill run's own work is the difference.

With --webhook-endpoint an enabled outgoing-webhook endpoint subscribed to every event is registered first, so the
run also writes an invoice.created and an invoice.issued event per invoice, with their deliveries and tasks
(nothing is posted: no worker runs). Without it no endpoint exists, and webhooks must cost the run nothing.

Target on PostgreSQL on a 2-core machine: <= 20 s, <= 3x the baseline, <= 1 GB peak memory.

The database named by --database-url is emptied first, so the script only accepts a database whose name
contains "bench" (it creates it on the server if it is missing), or a SQLite file.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, func, insert, select, text
from sqlalchemy.engine import Engine, make_url

from flexbill.billing.service import run_bill_run
from flexbill.billing.store import BilledFeeRow, BilledMembershipPeriodRow, BillRunRow
from flexbill.catalog.store import LocationRow, PlanRow, RevenueAccountRow, TaxComponentRow, TaxRateRow
from flexbill.clock import FixedClock
from flexbill.customers.store import CustomerRow, FeeRow, MembershipRow
from flexbill.db import bulk_insert, make_engine, make_session_factory, new_id
from flexbill.events.service import DELIVER_TASK, NewEndpoint, create_endpoint
from flexbill.events.store import WebhookDeliveryRow, WebhookEventRow
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow, NumberSequenceRow
from flexbill.migrations import upgrade
from flexbill.settings import Settings
from flexbill.tasks.store import TaskRow

RUN_DATE = date(2026, 12, 1)
PREVIOUS_RUN = date(2026, 11, 1)
CHUNK = 5000
WRITTEN = (InvoiceRow, InvoiceLineRow, BilledMembershipPeriodRow, BilledFeeRow)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memberships", type=int, default=100_000)
    parser.add_argument("--fees", type=int, help="default: as many as memberships")
    parser.add_argument("--customers", type=int, help="default: half the memberships")
    parser.add_argument(
        "--webhook-endpoint", action="store_true", help="register a webhook endpoint that wants every event"
    )
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/flexbill_bench",
        help="a PostgreSQL database whose name contains 'bench', or sqlite:///FILE",
    )
    args = parser.parse_args()
    fees = args.fees if args.fees is not None else args.memberships
    customers = args.customers if args.customers is not None else max(1, args.memberships // 2)

    engine = _fresh_database(args.database_url)
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    started = time.perf_counter()
    _generate(engine, args.memberships, fees, customers)
    print(f"generated {customers:,} customers, {args.memberships:,} memberships, {fees:,} fees "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    started = time.perf_counter()
    previous = run_bill_run(make_session_factory(engine), FixedClock(datetime(2026, 11, 1, tzinfo=UTC)), PREVIOUS_RUN)
    print(f"billed {PREVIOUS_RUN.isoformat()} first ({len(previous.invoices):,} invoices, not timed) "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    if args.webhook_endpoint:
        _register_endpoint(engine)
    engine.dispose()

    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    child = context.Process(target=_bill_run_child, args=(args.database_url, queue))
    child.start()
    result = queue.get()
    child.join()
    print(f"bill run: {result['invoices']:,} invoices, {result['lines']:,} lines "
          f"in {result['seconds']:.2f} s; peak memory {result['peak_mb']:.0f} MB")  # fmt: skip
    print(f"webhooks: {result['events']:,} events, {result['deliveries']:,} deliveries, {result['tasks']:,} tasks "
          "written by the run")  # fmt: skip

    engine = make_engine(args.database_url)
    baseline, rows = _baseline_insert(engine)
    print(f"baseline: plain bulk insert of the same {rows:,} rows in {baseline:.2f} s")
    print(f"ratio: bill run / baseline = {result['seconds'] / baseline:.2f}x")
    engine.dispose()


def _fresh_database(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        name = parsed.database or ""
        if "bench" not in name:
            sys.exit(f"refusing to empty database {name!r}: its name must contain 'bench'")
        server = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        server.dispose()
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    else:
        path = Path(parsed.database or "")
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
        engine = make_engine(url)
    upgrade(engine)
    return engine


def _generate(engine: Engine, memberships: int, fees: int, customers: int) -> None:
    rng = random.Random(20261201)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    with engine.begin() as db:
        locations = []
        for code, currency, inclusive in (("LON", "GBP", False), ("BER", "EUR", True)):
            location_id = new_id()
            db.execute(insert(LocationRow), [{
                "id": location_id, "name": code, "code": code, "currency": currency, "timezone": "UTC",
                "prices_include_tax": inclusive, "invoice_number_template": f"{code}-{{number:07}}",
                "credit_note_number_template": f"{code}-CN-{{number:06}}", "created_at": now,
            }])  # fmt: skip
            db.execute(insert(NumberSequenceRow), [
                {"location_id": location_id, "kind": kind, "next_number": 1} for kind in ("invoice", "credit_note")
            ])  # fmt: skip
            tax_id = new_id()
            db.execute(
                insert(TaxRateRow), [{"id": tax_id, "name": f"VAT {code}", "code": f"VAT-{code}", "created_at": now}]
            )
            db.execute(insert(TaxComponentRow), [
                {"id": new_id(), "tax_rate_id": tax_id, "position": 0, "name": "VAT", "rate": Decimal("20")}
            ])  # fmt: skip
            account_id = new_id()
            db.execute(insert(RevenueAccountRow), [
                {"id": account_id, "name": f"Memberships {code}", "code": f"200-{code}", "tax_rate_id": tax_id,
                 "created_at": now}
            ])  # fmt: skip
            plans = []
            for name, price, interval, proration in (
                ("Hot desk", "250.00", 1, "first_invoice"), ("Dedicated desk", "400.00", 1, "second_invoice"),
                ("Office", "5400.00", 3, "first_invoice"), ("Locker", "20.00", 1, "none"),
            ):  # fmt: skip
                plan_id = new_id()
                db.execute(insert(PlanRow), [{
                    "id": plan_id, "name": name, "price": Decimal(price), "currency": currency,
                    "revenue_account_id": account_id, "proration": proration, "interval_months": interval,
                    "created_at": now,
                }])  # fmt: skip
                plans.append(plan_id)
            locations.append((location_id, account_id, plans))

        customer_rows = []
        for index in range(customers):
            location_id = locations[index % 2][0]
            customer_rows.append({
                "id": new_id(), "name": f"Customer {index:06d}", "kind": "company" if index % 3 else "individual",
                "email": f"billing{index}@example.com", "address_line1": f"{index} High Street", "address_line2": None,
                "city": "London", "region": None, "postal_code": "E1 6AN", "country": "GB", "tax_number": None,
                "home_location_id": location_id, "tax_rate_id": None, "created_at": now, "updated_at": now,
            })  # fmt: skip
        _insert(db, CustomerRow, customer_rows)

        membership_rows = []
        for index in range(memberships):
            customer = customer_rows[index % customers]
            location_id, _, plans = locations[0] if customer["home_location_id"] == locations[0][0] else locations[1]
            start = RUN_DATE - timedelta(days=rng.randint(-20, 75))
            end = start + timedelta(days=rng.randint(20, 200)) if rng.random() < 0.2 else None
            discount = rng.random() < 0.1
            membership_rows.append({
                "id": new_id(), "customer_id": customer["id"], "plan_id": rng.choice(plans), "location_id": location_id,
                "start_date": start, "end_exclusive": end, "quantity": Decimal(rng.choice([1, 1, 1, 2])),
                "price": None, "discount_type": "percent" if discount else None,
                "discount_value": Decimal(10) if discount else None, "created_at": now, "updated_at": now,
            })  # fmt: skip
        _insert(db, MembershipRow, membership_rows)

        fee_rows = []
        for _ in range(fees):
            customer = customer_rows[rng.randrange(customers)]
            location_id, account_id, _ = (
                locations[0] if customer["home_location_id"] == locations[0][0] else locations[1]
            )
            fee_rows.append({
                "id": new_id(), "customer_id": customer["id"], "location_id": location_id,
                "date": RUN_DATE - timedelta(days=rng.randint(1, 30)), "description": "Meeting room, per hour",
                "quantity": Decimal(rng.randint(1, 4)), "unit_price": Decimal("35.00"),
                "revenue_account_id": account_id, "tax_rate_id": None, "created_at": now,
            })  # fmt: skip
        _insert(db, FeeRow, fee_rows)


def _insert(db: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        db.execute(insert(table), rows[start : start + CHUNK])


def _bill_run_child(url: str, queue: multiprocessing.Queue[dict[str, Any]]) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    clock = FixedClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    started = time.perf_counter()
    result = run_bill_run(factory, clock, RUN_DATE)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    with engine.connect() as connection:
        events = connection.scalar(select(func.count()).select_from(WebhookEventRow))
        deliveries = connection.scalar(select(func.count()).select_from(WebhookDeliveryRow))
        tasks = connection.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.kind == DELIVER_TASK))
    queue.put({
        "seconds": seconds, "peak_mb": peak_kb / 1024, "invoices": len(result.invoices),
        "lines": sum(len(invoice.lines) for invoice in result.invoices),
        "events": events, "deliveries": deliveries, "tasks": tasks,
    })  # fmt: skip
    engine.dispose()


def _register_endpoint(engine: Engine) -> None:
    """An enabled endpoint that wants every event, as the API would make it."""
    with tempfile.TemporaryDirectory() as data_dir, make_session_factory(engine)() as session, session.begin():
        settings = Settings(data_dir=Path(data_dir))
        now = datetime(2026, 11, 28, tzinfo=UTC)
        create_endpoint(session, settings, now, NewEndpoint(url="https://hooks.example.com/flexbill"))
    print("registered a webhook endpoint that wants every event")


def _baseline_insert(engine: Engine) -> tuple[float, int]:
    """Read back what the timed bill run wrote, delete it, and time inserting the same rows again."""
    with engine.connect() as connection:
        run_id = connection.scalar(select(BillRunRow.id).where(BillRunRow.date == RUN_DATE))
        invoices = select(InvoiceRow.id).where(InvoiceRow.bill_run_id == run_id)
        lines = select(InvoiceLineRow.id).where(InvoiceLineRow.invoice_id.in_(invoices))
        queries = {
            InvoiceRow: select(InvoiceRow).where(InvoiceRow.bill_run_id == run_id),
            InvoiceLineRow: select(InvoiceLineRow).where(InvoiceLineRow.invoice_id.in_(invoices)),
            BilledMembershipPeriodRow: select(BilledMembershipPeriodRow).where(
                BilledMembershipPeriodRow.invoice_line_id.in_(lines)
            ),
            BilledFeeRow: select(BilledFeeRow).where(BilledFeeRow.invoice_line_id.in_(lines)),
        }
        saved = {table: [dict(row._mapping) for row in connection.execute(query)] for table, query in queries.items()}
    with engine.begin() as connection:
        connection.execute(delete(BilledFeeRow).where(BilledFeeRow.invoice_line_id.in_(lines)))
        connection.execute(
            delete(BilledMembershipPeriodRow).where(BilledMembershipPeriodRow.invoice_line_id.in_(lines))
        )
        connection.execute(delete(InvoiceLineRow).where(InvoiceLineRow.invoice_id.in_(invoices)))
        connection.execute(delete(InvoiceRow).where(InvoiceRow.bill_run_id == run_id))
    count = sum(len(rows) for rows in saved.values())
    tables = [(table, list(saved[table][0]), [tuple(row.values()) for row in saved[table]]) for table in WRITTEN]
    started = time.perf_counter()
    with make_session_factory(engine)() as session, session.begin():
        for table, columns, rows in tables:
            bulk_insert(session, table, columns, rows)
    return time.perf_counter() - started, count


if __name__ == "__main__":
    main()
