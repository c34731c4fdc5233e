"""How fast do the members' portal, the console's invoice pages and the API answer under load?

    python benchmarks/portal_load.py --invoices 100000 --clients 50 --requests 3000

fills a database with a coworking space two years into its life (two locations, about 5,000 customers each billed
to its own address, 100,000 issued invoices of a few lines each: most paid with their payment, some open, some
overdue, a few void; most of the older ones synced to an accounting system), serves the real app in a child process
(``flexbill serve --workers N``: uvicorn, no task worker) and lets ``--clients`` concurrent clients (asyncio +
httpx, each on its own keep-alive connection, each signed in as its own member, staff session or API key) hammer
each target in turn for ``--requests`` requests, after a warm-up. By default the clients are a closed loop (each
sends its next request when the last one is answered); ``--think S`` makes each wait S seconds on average (drawn at
random) before each request, as a person reading a page does. It prints, per target: requests, errors (any answer
that is not 2xx), p50, p95, p99 and max latency in milliseconds, throughput, and the CPU the server's processes
(cpu/req) and the clients (client) spent per request.

Targets: p99 <= 100 ms for pages, <= 50 ms for the API, at 50 concurrent clients, on a 2-vCPU machine whose two
CPUs the clients, the server and PostgreSQL all share. In a closed loop latency is about clients / throughput: 100
ms at 50 clients takes 500 pages a second, some 4 ms of CPU per page for the server, PostgreSQL and the clients
together. A page takes two to four times that in the server alone.

Figures, PostgreSQL 15, 100,000 invoices, 2 web processes, on the 2-vCPU machine (p50 and p99 in ms; req/s; cpu:
server CPU ms per request). This machine ran the same code about half as fast on 27 November as on the day of the
figures before; the cpu column compares runs of one day.

                                50 clients, closed loop       50 clients, 1 s think         1 client
    target                      p50    p99  req/s   cpu      p50    p99  req/s   cpu      p50    p99
    portal list                 449    688    109   8.2     16.5   43.4     46   9.4     14.2   18.4
    portal invoice              556    924    110  10.5     23.9   74.8     45  11.7     17.8   22.6
    console list                771   1378     82  16.4     29.7  124.7     46  15.6     22.2   30.1
    console list ?status=paid   684   1245     71  15.8     32.9  129.3     45  16.5     21.3   34.5
    console invoice             687   1252     71  17.0     54.7  202.4     43  19.0     27.1   35.4
    api list                   1433   3858     27  55.6     1255   3204     21  69.9     60.8   89.4
    api invoice                 712    957     70  13.1     22.7   92.2     45  12.8     14.9   20.7

So: with one client every page and the API's single invoice meet their targets; with 50 people reading at a human
pace the portal's pages do and the console's p99 is 125 to 202 ms; in a closed loop of 50 none does. The
API's default page (100 invoices with their lines, 220 kB) takes some 55 ms of server CPU and misses its target
even alone: integrators asking for less (``limit``) get it sooner.

What changed for these figures, measured on one day:
- a page makes half the round trips to PostgreSQL it made (ten for a portal page before, five now): a pooled
  connection is pinged only after 10 s idle (``flexbill.db``), who is signed in or whose API key it is is read
  outside a transaction (``Context.lookups``), and the lists take the locations' time zones from queries they
  already make;
- amounts are printed with Babel's pattern parsed once and the recent ones kept (a sixth of the console list);
- in a back-to-back run before and after the round trips (one run each, and runs vary by a fifth, so take it
  as rough), throughput at 50 clients rose from 48 to 64 req/s for the console's list, 50 to 63 for its invoice
  page, 16 to 23 for the API list and by a tenth for the portal's pages; uvloop and httptools under uvicorn made
  no difference that three runs each could tell from the noise, so flexbill does not depend on them.

Before, on the earlier day (p50 and p99 in ms; req/s; cpu), 50 clients in a closed loop:

                                  before the changes below        after them                1 client: p50 ms
    target                      p50    p99  req/s   cpu      p50    p99  req/s   cpu      before   after
    portal list                 317    823    141   7.9      272    638    171   5.5        52.0     7.6
    portal invoice              468   1014    101   8.9      298    592    161   5.6        56.0     8.5
    console list               1509   2973     32  31.0      553   1211    103  10.7        67.9    12.7
    console list ?status=paid  1592   3292     30  33.1      568    965     85  11.0        67.9    12.2
    console invoice             599   1219     80  12.2      424    914    110   9.4        59.9    12.1
    api list                    313   4147     39  42.4     1372   2294     36  35.4        29.7    29.3
    api invoice                 255    777    177   6.1      291    819    158   6.6        52.1     6.6

What changed then:
- serving: uvicorn's ``--workers`` left Nagle's algorithm on, so each response waited some 40 ms for the client's
  delayed acknowledgement; ``flexbill serve --workers N`` serves from a socket of its own (flexbill.web.server);
- each server process freezes its heap once started (``gc.freeze``): full garbage collections walked some 200,000
  objects for over 100 ms, every dozen API pages, stopping every request of the process (the api list's p99);
- the console's list reads no lines, tax or payments (it shows none: they were two thirds of its work), the portal's
  list reads no lines, an invoice's portal page checks the member and reads the invoice in one query instead of twice
  in two, the console's invoice page reads its payments once, and customers are found by billing address through an
  index on lower(email) (a scan of every customer before).
One web process instead of two gave less throughput at a higher CPU cost per request (portal list 121 req/s at 7.8
ms, api list 17 req/s at 57.5 ms, before the serving changes): one process per CPU is the default here.

What is left is CPU in Python (routing through FastAPI's nested routers, ORM objects, templates): the targets at 50
clients in a closed loop need a machine with several times these two CPUs.

The database named by --database-url is emptied first (unless --reuse finds it already holds the data asked for),
so the script only accepts a PostgreSQL database whose name contains "bench" (it creates it if it is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
from bill_run import _fresh_database, _generate  # the bill-run benchmark's safety rule and catalogue
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine, make_url

from flexbill.access.model import Role
from flexbill.access.service import Client, create_api_key, create_user, open_member_session, sign_in_staff
from flexbill.access.store import UserRow
from flexbill.accounting.model import RecordKind
from flexbill.accounting.store import AccountingConnectionRow, ConnectionLocationRow, SyncRecordRow
from flexbill.catalog.store import LocationRow, RevenueAccountRow, TaxRateRow
from flexbill.customers.store import CustomerRow
from flexbill.db import bulk_insert, make_engine, make_session_factory, new_id
from flexbill.invoicing.model import InvoiceStatus
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow, NumberSequenceRow, PaymentRow
from flexbill.migrations import upgrade

TODAY = date(2026, 11, 28)  # the server's today (FLEXBILL_TODAY): the data is dated around it
NOW = datetime.combine(TODAY, clock_time(12, 0), tzinfo=UTC)  # when the server's clock starts
HISTORY_DAYS = 730
DUE_DAYS = 14
TAX_PERCENT = Decimal(20)
CENT = Decimal("0.01")
STAFF_EMAIL = "load.test@flexbill.example.com"
STAFF_PASSWORD = "load-test-password-not-secret"
LINE_ITEMS = (
    ("Hot desk", Decimal("250.00")), ("Dedicated desk", Decimal("400.00")), ("Private office", Decimal("1800.00")),
    ("Meeting room, per hour", Decimal("35.00")), ("Locker", Decimal("20.00")), ("Printing", Decimal("0.10")),
)  # fmt: skip
PAGE_TARGET_MS = 100.0
API_TARGET_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_portal",
        help="a PostgreSQL database whose name contains 'bench' (emptied first unless --reuse)",
    )
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per target")
    parser.add_argument("--warmup", type=int, default=200, help="requests per target before measuring")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds each client waits between an answer and its next request, drawn at random (exponential) "
        "as a person reading the page would (default 0: a closed loop, each client asks again at once)",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="web processes of the server (default: one per CPU)"
    )
    parser.add_argument("--only", help="comma-separated target names to run (default: all)")
    parser.add_argument("--reuse", action="store_true", help="keep the data if the database already holds it")
    args = parser.parse_args()
    url = make_url(args.database_url)
    if url.get_backend_name() != "postgresql":
        sys.exit("the load test runs on PostgreSQL: give a postgresql+psycopg:// URL")
    if "bench" not in (url.database or ""):  # checked before --reuse too: the sign-ins write to it
        sys.exit(f"refusing to use database {url.database!r}: its name must contain 'bench'")
    if not 1 <= args.clients <= args.customers:
        sys.exit(
            f"--clients: each client is a member of its own, so 1 to --customers ({args.customers}), not {args.clients}"
        )
    if args.requests < 1 or args.warmup < 0 or args.think < 0:
        sys.exit("--requests must be at least 1, --warmup and --think at least 0")
    targets = _targets(args.only)

    engine = _prepared_database(args.database_url, args.invoices, args.customers, reuse=args.reuse)
    users = _sign_in_clients(engine, args.clients)
    engine.dispose()

    print(f"machine: {os.cpu_count()} CPUs, shared by the server ({args.workers} web process"
          f"{'es' if args.workers != 1 else ''}), PostgreSQL and the {args.clients} clients")  # fmt: skip
    with tempfile.TemporaryDirectory() as data_dir, _Server(args.database_url, Path(data_dir), args.workers) as server:
        print(f"server: http://127.0.0.1:{server.port} (FLEXBILL_TODAY={TODAY.isoformat()}, no worker in process)")
        results = asyncio.run(_run_targets(server, users, targets, args.requests, args.warmup, args.think))
    _print_table(results, args.clients, args.think)


# --- The data -------------------------------------------------------------------------------------------------------


def _prepared_database(url: str, invoices: int, customers: int, *, reuse: bool) -> Engine:
    if reuse:
        engine = make_engine(url)
        if _holds(engine, invoices, customers):
            upgrade(engine)  # the data stays; the schema gets this version's migrations (indexes)
            print(f"reusing {customers:,} customers and {invoices:,} invoices already in the database")
            return engine
        engine.dispose()
        print("the database does not hold that data: generating it")
    engine = _fresh_database(url)
    started = time.perf_counter()
    _generate(engine, memberships=0, fees=0, customers=customers)
    _generate_invoices(engine, invoices, random.Random(20261128))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    print(f"generated {customers:,} customers and {invoices:,} invoices in {time.perf_counter() - started:.1f} s")
    return engine


def _holds(engine: Engine, invoices: int, customers: int) -> bool:
    try:
        with engine.connect() as connection:
            found_invoices = connection.scalar(select(func.count()).select_from(InvoiceRow))
            found_customers = connection.scalar(select(func.count()).select_from(CustomerRow))
    except Exception:  # no tables yet
        return False
    return found_invoices == invoices and found_customers == customers


@dataclass(frozen=True, slots=True)
class _Place:
    location_id: uuid.UUID
    code: str
    currency: str
    inclusive: bool
    account_id: uuid.UUID
    account_code: str
    tax_rate_id: uuid.UUID
    tax_rate_code: str


def _generate_invoices(engine: Engine, count: int, rng: random.Random) -> None:
    """Issued invoices spread over the two years before :data:`TODAY`, written with COPY in one transaction."""
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        places = _places(session)
        customers = session.execute(
            select(CustomerRow.id, CustomerRow.name, CustomerRow.email, CustomerRow.home_location_id)
        ).all()
        connection_id = new_id()
        session.add(AccountingConnectionRow(
            id=connection_id, provider="xero", status="connected", redirect_uri="http://127.0.0.1/callback",
            tenant_id="load-test-tenant", tenant_name="Load test", numbering="accounting",
        ))  # fmt: skip
        session.flush()
        session.add_all(ConnectionLocationRow(location_id=place, connection_id=connection_id) for place in places)
        session.flush()

        issue_dates = sorted(TODAY - timedelta(days=rng.randint(1, HISTORY_DAYS)) for _ in range(count))
        numbers = dict.fromkeys(places, 0)
        invoices: list[tuple[Any, ...]] = []
        lines: list[tuple[Any, ...]] = []
        payments: list[tuple[Any, ...]] = []
        synced: list[tuple[Any, ...]] = []
        for issue_date in issue_dates:
            customer_id, name, email, location_id = customers[rng.randrange(len(customers))]
            place = places[location_id]
            numbers[location_id] += 1
            invoice_id = new_id()
            issued_at = datetime.combine(issue_date, clock_time(9, 0), tzinfo=UTC)
            priced = [_line(rng, place, invoice_id, position, issue_date) for position in range(rng.randint(1, 4))]
            lines.extend(priced)
            net = sum((line[_NET] for line in priced), Decimal(0))
            tax = sum((line[_TAX] for line in priced), Decimal(0))
            total = net + tax
            due_date = issue_date + timedelta(days=DUE_DAYS)
            status, paid = _standing(rng, due_date, total)
            number = f"{place.code}-{numbers[location_id]:07d}"
            invoices.append((
                invoice_id, number, location_id, customer_id, place.currency, issue_date, due_date, status,
                place.inclusive, "per_line", net, tax, total, paid, Decimal(0), name, email,
                f"{name}\n1 High Street\nLondon E1 6AN", issued_at,
                issued_at + timedelta(days=3) if status == InvoiceStatus.VOIDED else None, issued_at, issued_at,
            ))  # fmt: skip
            if paid > 0:
                paid_on = min(due_date + timedelta(days=rng.randint(-12, 10)), TODAY - timedelta(days=1))
                paid_on = max(paid_on, issue_date)
                method = rng.choice(("bank_transfer", "bank_transfer", "card", "direct_debit"))
                payments.append((
                    new_id(), invoice_id, paid_on, paid, place.currency, method, f"REF {number}", "manual",
                    "succeeded", Decimal(0), datetime.combine(paid_on, clock_time(10, 0), tzinfo=UTC),
                ))  # fmt: skip
            if issue_date < TODAY - timedelta(days=3) and rng.random() < 0.8:
                outcome = "failed" if rng.random() < 0.02 else "synced"
                synced.append((
                    RecordKind.INVOICE.value, invoice_id, connection_id, outcome, 1, 1 if outcome == "synced" else 0,
                    str(uuid.UUID(int=rng.getrandbits(128))), number,
                    ("PAID" if status == InvoiceStatus.PAID else "AUTHORISED") if outcome == "synced" else None,
                    issued_at + timedelta(minutes=5) if outcome == "synced" else None,
                    "ValidationException: the contact is archived" if outcome == "failed" else None, False, issued_at,
                ))  # fmt: skip
        bulk_insert(session, InvoiceRow, _INVOICE_COLUMNS, invoices)
        bulk_insert(session, InvoiceLineRow, _LINE_COLUMNS, lines)
        bulk_insert(session, PaymentRow, _PAYMENT_COLUMNS, payments)
        bulk_insert(session, SyncRecordRow, _SYNC_COLUMNS, synced)
        for location_id, last in numbers.items():
            session.execute(
                update(NumberSequenceRow)
                .where(NumberSequenceRow.location_id == location_id, NumberSequenceRow.kind == "invoice")
                .values(next_number=last + 1)
            )
    print(f"  {len(invoices):,} invoices, {len(lines):,} lines, {len(payments):,} payments, "
          f"{len(synced):,} sync records")  # fmt: skip


def _places(session: Any) -> dict[uuid.UUID, _Place]:
    """Each location of the bill-run benchmark's catalogue, with its revenue account and tax rate."""
    places = {}
    for location in session.scalars(select(LocationRow)):
        account = session.scalar(select(RevenueAccountRow).where(RevenueAccountRow.code == f"200-{location.code}"))
        rate = session.get(TaxRateRow, account.tax_rate_id)
        places[location.id] = _Place(
            location.id, location.code, location.currency, location.prices_include_tax, account.id, account.code,
            rate.id, rate.code,
        )  # fmt: skip
    return places


_INVOICE_COLUMNS = (
    "id", "number", "location_id", "customer_id", "currency", "issue_date", "due_date", "status",
    "prices_include_tax", "tax_rounding", "subtotal", "tax_total", "total", "amount_paid", "amount_credited",
    "bill_to_name", "bill_to_email", "bill_to_address", "issued_at", "voided_at", "created_at", "updated_at",
)  # fmt: skip
_LINE_COLUMNS = (
    "id", "invoice_id", "position", "kind", "description", "quantity", "unit_price", "discount_amount",
    "net_amount", "tax_amount", "gross_amount", "account_id", "account_code", "tax_rate_id", "tax_rate_code",
    "tax_rate_percent", "period_start", "period_end_exclusive",
)  # fmt: skip
_NET = _LINE_COLUMNS.index("net_amount")
_TAX = _LINE_COLUMNS.index("tax_amount")
_PAYMENT_COLUMNS = (
    "id", "invoice_id", "date", "amount", "currency", "method", "reference", "source", "status", "amount_refunded",
    "created_at",
)  # fmt: skip
_SYNC_COLUMNS = (
    "kind", "record_id", "connection_id", "status", "revision", "synced_revision", "external_id", "external_number",
    "remote_status", "synced_at", "error", "uncertain", "updated_at",
)  # fmt: skip


def _line(rng: random.Random, place: _Place, invoice_id: uuid.UUID, position: int, issue_date: date) -> tuple[Any, ...]:
    """One line at 20% tax, per line, in the location's basis: prices with tax in Berlin, without in London."""
    description, unit_price = LINE_ITEMS[0 if position == 0 else rng.randrange(len(LINE_ITEMS))]
    quantity = Decimal(1 if position == 0 else rng.choice((1, 1, 2, 3)))
    amount = (unit_price * quantity).quantize(CENT)
    if place.inclusive:
        gross = amount
        net = (gross * 100 / (100 + TAX_PERCENT)).quantize(CENT, ROUND_HALF_UP)
        tax = gross - net
    else:
        net = amount
        tax = (net * TAX_PERCENT / 100).quantize(CENT, ROUND_HALF_UP)
        gross = net + tax
    membership = position == 0
    period_start = issue_date.replace(day=1) if membership else None
    period_end = (period_start + timedelta(days=32)).replace(day=1) if period_start else None
    return (
        new_id(), invoice_id, position, "membership" if membership else "fee", description, quantity, unit_price,
        Decimal(0), net, tax, gross, place.account_id, place.account_code, place.tax_rate_id, place.tax_rate_code,
        TAX_PERCENT, period_start, period_end,
    )  # fmt: skip


def _standing(rng: random.Random, due_date: date, total: Decimal) -> tuple[str, Decimal]:
    """Where an invoice stands today, and how much of it is paid: long-due ones are nearly all paid, a few are
    void, and the recent ones are still open (overdue once past their due date)."""
    roll = rng.random()
    if roll < 0.015:
        return InvoiceStatus.VOIDED.value, Decimal(0)
    days_past_due = (TODAY - due_date).days
    paid_share = 0.97 if days_past_due > 60 else 0.75 if days_past_due > 0 else 0.35
    if roll < 0.015 + paid_share * 0.985:
        return InvoiceStatus.PAID.value, total
    if rng.random() < 0.15:
        return InvoiceStatus.PARTIALLY_PAID.value, (total / 2).quantize(CENT)
    return InvoiceStatus.AWAITING_PAYMENT.value, Decimal(0)


# --- Who the clients are ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Users:
    """Per client: a member's portal cookie and their invoices, a staff session cookie and an API key; and the ids
    the console and the API are asked for."""

    member_cookies: list[str]
    member_invoices: list[list[str]]
    staff_cookies: list[str]
    api_keys: list[str]
    invoice_ids: list[str]


def _sign_in_clients(engine: Engine, clients: int) -> _Users:
    rng = random.Random(clients)
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        owned = session.execute(
            select(CustomerRow.email, func.array_agg(InvoiceRow.id))
            .join(InvoiceRow, InvoiceRow.customer_id == CustomerRow.id)
            .group_by(CustomerRow.email)
        ).all()
        chosen = rng.sample(owned, clients)
        member_cookies = []
        for index, (email, _) in enumerate(chosen):
            client = Client(ip=f"127.0.1.{index % 250}", user_agent="flexbill load test")
            member_cookies.append(open_member_session(session, NOW, email=email, client=client).token)
        if session.scalar(select(UserRow.id).where(UserRow.email == STAFF_EMAIL)) is None:
            create_user(session, email=STAFF_EMAIL, name="Load test", role=Role.BILLING, password=STAFF_PASSWORD)
        staff_cookies = []
        for index in range(clients):
            client = Client(ip=f"127.0.2.{index % 250}", user_agent="flexbill load test")
            made = sign_in_staff(session, NOW, email=STAFF_EMAIL, password=STAFF_PASSWORD, client=client)
            assert made is not None, "the load test's staff user could not sign in"
            staff_cookies.append(made.token)
        api_keys = [create_api_key(session, f"load test {index}", frozenset({"read"})).key for index in range(clients)]
        every_id = session.scalars(select(InvoiceRow.id).order_by(InvoiceRow.id)).all()
        sample = rng.sample(every_id, min(5000, len(every_id)))
    return _Users(
        member_cookies=member_cookies,
        member_invoices=[[str(invoice_id) for invoice_id in ids] for _, ids in chosen],
        staff_cookies=staff_cookies,
        api_keys=api_keys,
        invoice_ids=[str(invoice_id) for invoice_id in sample],
    )


# --- The server -------------------------------------------------------------------------------------------------


class _Server:
    """``flexbill serve --workers N`` (uvicorn, N web processes) on a free loopback port, stopped on leaving."""

    def __init__(self, database_url: str, data_dir: Path, workers: int) -> None:
        self.port = _free_port()
        self.log = data_dir / "server.log"
        self.env = {
            **os.environ,
            "FLEXBILL_DATABASE_URL": database_url,
            "FLEXBILL_DATA_DIR": str(data_dir),
            "FLEXBILL_WORKER_IN_PROCESS": "false",
            "FLEXBILL_TODAY": TODAY.isoformat(),
            "FLEXBILL_HOST": "127.0.0.1",
            "FLEXBILL_PORT": str(self.port),
            "FLEXBILL_MAIL_CAPTURE_PORT": "0",  # any free port: the emails of sign-in links are not asked for
        }
        self.command = [
            sys.executable, "-m", "flexbill.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(workers),
        ]  # fmt: skip
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Server:
        with self.log.open("wb") as log:
            # Run from the data directory, so no .env file of the working directory changes the settings; in a
            # process group of its own, so that stopping it stops its workers too.
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=self.data_dir, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the server stopped at start:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        sys.exit(f"the server did not answer within 60 s:\n{self.log.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes (the first and the web processes it started), from /proc."""
        assert self.process is not None
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            pid, parent = int(stat.parent.name), int(fields[1])
            if self.process.pid in (pid, parent):
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def __exit__(self, *_exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker stuck in a request: stop it at once
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in (8000, 8001):
            return port


# --- The clients ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    name: str
    api: bool  # judged against the API's target, not the pages'
    credentials: Callable[[_Users, int], tuple[dict[str, str], dict[str, str]]]  # (cookies, headers) of a client
    path: Callable[[_Users, int, random.Random], str]


def _member(users: _Users, index: int) -> tuple[dict[str, str], dict[str, str]]:
    return {"flexbill_member": users.member_cookies[index]}, {}


def _staff(users: _Users, index: int) -> tuple[dict[str, str], dict[str, str]]:
    return {"flexbill_staff": users.staff_cookies[index]}, {}


def _api(users: _Users, index: int) -> tuple[dict[str, str], dict[str, str]]:
    return {}, {"authorization": f"Bearer {users.api_keys[index]}"}


TARGETS = (
    _Target("portal list", False, _member, lambda users, index, rng: "/portal"),
    _Target(
        "portal invoice",
        False,
        _member,
        lambda users, index, rng: f"/portal/invoices/{rng.choice(users.member_invoices[index])}",
    ),
    _Target("console list", False, _staff, lambda users, index, rng: "/admin/invoices"),
    _Target("console list ?status=paid", False, _staff, lambda users, index, rng: "/admin/invoices?status=paid"),
    _Target(
        "console invoice", False, _staff, lambda users, index, rng: f"/admin/invoices/{rng.choice(users.invoice_ids)}"
    ),
    _Target("api list", True, _api, lambda users, index, rng: "/api/v1/invoices"),
    _Target("api invoice", True, _api, lambda users, index, rng: f"/api/v1/invoices/{rng.choice(users.invoice_ids)}"),
)


def _targets(only: str | None) -> list[_Target]:
    if not only:
        return list(TARGETS)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    known = {target.name: target for target in TARGETS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        sys.exit(f"--only: no target named {', '.join(map(repr, unknown))}; the targets are {', '.join(known)}")
    return [known[name] for name in wanted]


@dataclass
class _Result:
    target: _Target
    seconds: float = 0.0
    server_cpu: float = 0.0  # seconds of CPU the server's processes used
    client_cpu: float = 0.0  # seconds of CPU the clients (this process) used
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


async def _run_targets(
    server: _Server, users: _Users, targets: Sequence[_Target], requests: int, warmup: int, think: float
) -> list[_Result]:
    base = f"http://127.0.0.1:{server.port}"
    results = []
    for target in targets:
        clients = []
        for index in range(len(users.api_keys)):
            cookies, headers = target.credentials(users, index)
            clients.append(
                httpx.AsyncClient(
                    base_url=base, cookies=cookies, headers=headers, timeout=60, follow_redirects=False,
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                )
            )  # fmt: skip
        try:
            await _hammer(clients, users, target, warmup, _Result(target), think)
            cpu, own_cpu = server.cpu_seconds(), time.process_time()
            result = await _hammer(clients, users, target, requests, _Result(target), think)
            result.server_cpu = server.cpu_seconds() - cpu
            result.client_cpu = time.process_time() - own_cpu
        finally:
            for client in clients:
                await client.aclose()
        results.append(result)
        print(f"  {target.name}: {len(result.latencies):,} requests in {result.seconds:.1f} s", flush=True)
    return results


async def _hammer(
    clients: Sequence[httpx.AsyncClient],
    users: _Users,
    target: _Target,
    requests: int,
    result: _Result,
    think: float = 0.0,
) -> _Result:
    """Every client sends one request after another until ``requests`` have been sent between them; with
    ``think``, each waits a random while (exponential, ``think`` seconds on average) before each request, so the
    clients do not ask in step."""
    left = [requests]

    async def one_client(index: int) -> None:
        rng = random.Random(index)
        client = clients[index]
        while left[0] > 0:
            left[0] -= 1
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))
            path = target.path(users, index, rng)
            started = time.perf_counter()
            try:
                response = await client.get(path)
                problem = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                problem = type(error).__name__
            result.latencies.append(time.perf_counter() - started)
            if problem is not None:
                result.errors[problem] = result.errors.get(problem, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(one_client(index) for index in range(len(clients))))
    result.seconds = time.perf_counter() - started
    return result


def _percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value that at least ``share`` of the values are at or below."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _print_table(results: Sequence[_Result], clients: int, think: float) -> None:
    print()
    print(f"{'target':<27} {'requests':>8} {'errors':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
          f"{'req/s':>7} {'cpu/req':>7} {'client':>7}  p99 target")  # fmt: skip
    for result in results:
        ordered = sorted(result.latencies)
        ms = [_percentile(ordered, share) * 1000 for share in (0.5, 0.95, 0.99, 1.0)]
        goal = API_TARGET_MS if result.target.api else PAGE_TARGET_MS
        verdict = "met" if ms[2] <= goal and not result.errors else "NOT met"
        print(f"{result.target.name:<27} {len(ordered):>8,} {sum(result.errors.values()):>6,} "
              f"{ms[0]:>7.1f} {ms[1]:>7.1f} {ms[2]:>7.1f} {ms[3]:>7.1f} {len(ordered) / result.seconds:>7.1f} "
              f"{result.server_cpu * 1000 / len(ordered):>7.1f} {result.client_cpu * 1000 / len(ordered):>7.1f}  "
              f"<= {goal:.0f} ms: {verdict}")  # fmt: skip
        for problem, count in sorted(result.errors.items()):
            print(f"{'':<29}{count:,} x {problem}")
    loop = f"each waiting {think:g} s on average between requests" if think else "in a closed loop"
    print(f"(latencies in ms, {clients} clients {loop}, on the same machine as the server; cpu/req: milliseconds "
          "of CPU the server's processes spent per request, PostgreSQL's not included; client: the same for the "
          "clients)")  # fmt: skip


if __name__ == "__main__":
    main()
