"""Two bill runs at once for the same date bill everything exactly once, and the database itself refuses a
second claim on a membership period or a fee (the guarantee does not rest on the service's own checks). Many more
requests at once than a process has connections and worker threads are all answered."""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from flexbill.access.service import create_api_key
from flexbill.billing.service import run_bill_run
from flexbill.billing.store import BilledFeeRow, BilledMembershipPeriodRow
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.customers import service as customers
from flexbill.db import make_engine, make_session_factory
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow
from flexbill.web.app import create_app
from tests.support import make_catalog, make_customer

RUN_DATE = date(2026, 12, 1)


def _space(ctx: Context, members: int) -> None:
    with ctx.sessions() as db, db.begin():
        cat = make_catalog(db)
        for index in range(members):
            customer = make_customer(db, cat, f"Member{index:03d} Ltd")
            customers.create_membership(
                db,
                customers.NewMembership(
                    customer_id=customer, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                    start_date=date(2026, 11, 10),
                ),
            )  # fmt: skip
            customers.create_fee(
                db,
                customers.NewFee(
                    customer_id=customer, location_id=cat.location_id, date=date(2026, 11, 20),
                    description="Meeting room", unit_price=Decimal("40.00"), revenue_account_id=cat.fees_account_id,
                ),
            )  # fmt: skip


def _run_when_told(url: str, start: multiprocessing.synchronize.Event, results: multiprocessing.Queue[int]) -> None:
    engine = make_engine(url)
    start.wait(30)
    result = run_bill_run(make_session_factory(engine), FixedClock(datetime(2026, 11, 28, tzinfo=UTC)), RUN_DATE)
    results.put(len(result.invoices))
    engine.dispose()


def test_two_bill_runs_started_at_once_bill_everything_exactly_once(ctx: Context) -> None:
    members = 40
    _space(ctx, members)
    processes = multiprocessing.get_context("spawn")
    start, results = processes.Event(), processes.Queue()
    url = str(ctx.settings.database_url)
    runs = [processes.Process(target=_run_when_told, args=(url, start, results)) for _ in range(2)]
    for run in runs:
        run.start()
    start.set()
    counts = sorted(results.get(timeout=120) for _ in runs)
    for run in runs:
        run.join(60)
        assert run.exitcode == 0

    assert counts == [0, members]  # one run billed everyone; the other found nothing left to bill
    with ctx.sessions() as db:
        numbers = sorted(db.scalars(select(InvoiceRow.number)))
        assert numbers == [f"LON-{n:04d}" for n in range(1, members + 1)]  # unique and gap-free
        assert db.scalar(select(func.count()).select_from(InvoiceLineRow)) == members * 3
        assert db.scalar(select(func.count()).select_from(BilledFeeRow)) == members


def test_the_database_refuses_a_second_claim_on_a_membership_period_or_a_fee(ctx: Context) -> None:
    _space(ctx, 1)
    run_bill_run(ctx.sessions, ctx.clock, RUN_DATE)
    with ctx.sessions() as db:
        claim = db.scalars(select(BilledMembershipPeriodRow)).first()
        fee_claim = db.scalars(select(BilledFeeRow)).first()
        assert claim is not None
        assert fee_claim is not None
        line_id = claim.invoice_line_id
        duplicate_period = {
            "membership_id": claim.membership_id, "period_start": claim.period_start,
            "period_end": claim.period_end, "invoice_line_id": line_id,
        }  # fmt: skip
    with pytest.raises(IntegrityError), ctx.sessions() as db, db.begin():
        db.execute(insert(BilledMembershipPeriodRow), [duplicate_period])
    with pytest.raises(IntegrityError), ctx.sessions() as db, db.begin():
        db.execute(insert(BilledFeeRow), [{"fee_id": fee_claim.fee_id, "invoice_line_id": line_id}])


def test_more_requests_at_once_than_connections_and_threads_are_all_answered(ctx: Context) -> None:
    """One connection in the pool and 60 API requests at once, more than the 40 worker threads: a request's
    transaction holds its connection until its response is built in a worker thread, so without the app's door
    every thread would wait for the connection while its holder waited for a thread, until the pool gave up."""
    _space(ctx, 3)
    url = ctx.engine.url.render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=1, max_overflow=0, pool_timeout=5)
    small = Context(settings=ctx.settings, engine=engine, sessions=make_session_factory(engine), clock=ctx.clock)
    with small.sessions() as db, db.begin():
        key = create_api_key(db, "load").key

    async def hammer() -> list[int]:
        transport = httpx.ASGITransport(app=create_app(small))
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://flexbill", headers=headers) as client:
            answers = await asyncio.gather(*(client.get("/api/v1/customers") for _ in range(60)))
        return [answer.status_code for answer in answers]

    try:
        assert asyncio.run(asyncio.wait_for(hammer(), timeout=60)) == [200] * 60
    finally:
        engine.dispose()
