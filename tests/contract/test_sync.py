"""The accounting sync end to end over real HTTP, for every accounting system: flexbill's API and worker against
the system's sandbox.

A connection is made through the OAuth flow (the sandbox consents at once), codes are mapped against the company's
own lists, a month is billed, and the worker sends it: every invoice exactly once, numbered by the books, with
their PDF; payments go both ways; faults injected on every kind of call, a worker killed mid-batch and two workers
at once leave no duplicates; a name already taken, revoked tokens, manual mode and records that keep failing are
met as an operator would want.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from flexbill.accounting import sync
from flexbill.accounting.ports import ConnectorSession
from flexbill.accounting.store import AccountingDocumentRow, InboundEventRow, SyncRecordRow
from flexbill.bootstrap import Context
from flexbill.cli import app
from flexbill.clock import FixedClock
from flexbill.customers import service as customers
from flexbill.invoicing.store import InvoiceRow, PaymentRow
from flexbill.settings import get_settings
from flexbill.tasks.service import pending_count
from flexbill.web.app import create_app
from flexbill.worker import RetryLater, Worker, default_handlers
from tests.conftest import ON_POSTGRESQL
from tests.contract.books import Books, Call, FaultKind
from tests.contract.support import (
    assert_one_remote_twin_each,
    bill_month,
    connect,
    connected,
    drain,
    drain_in_time,
)
from tests.support import Catalog, make_customer, serving

WEBHOOK_KEY = "sandbox-webhook-key"


def test_a_month_is_synced_once_with_the_books_numbers_and_pdfs(
    ctx: Context, clock: FixedClock, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connected(client, books, cat)
    invoice_ids = bill_month(ctx, cat, 60)
    assert len(invoice_ids) == 60

    with ctx.readers() as db:
        numbers = db.scalars(select(InvoiceRow.number).where(InvoiceRow.id.in_(invoice_ids))).all()
    assert set(numbers) == {None}, "the books number this location's invoices: none before they are synced"

    drain_in_time(ctx, clock)  # a retry (a rate limit met on a busy machine) comes due on the business clock

    with ctx.readers() as db:
        invoices = db.scalars(select(InvoiceRow).where(InvoiceRow.id.in_(invoice_ids))).all()
        records = {r.record_id: r for r in db.scalars(select(SyncRecordRow).where(SyncRecordRow.kind == "invoice"))}
        pdfs = db.scalar(select(func.count()).select_from(AccountingDocumentRow))
    assert {records[i.id].status for i in invoices} == {"synced"}
    assert sorted(i.number for i in invoices if i.number) == sorted(books.first_numbers(60))
    assert all(records[i.id].external_number == i.number for i in invoices)
    assert pdfs == 60
    counts = books.counts()
    assert (counts["invoices"], counts["contacts"]) == (60, 60), counts
    # Each invoice as the books hold it: the same total to the cent.
    assert_one_remote_twin_each(ctx, books, invoice_ids)
    api = client.get("/api/v1/invoices", params={"limit": 100}).json()["items"]
    assert {item["accounting"]["status"] for item in api} == {"synced"}
    assert {item["accounting"]["provider"] for item in api} == {books.provider}


def test_payments_go_both_ways(ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None) -> None:
    connection_id = connected(client, books, cat)
    first, second = bill_month(ctx, cat, 2)
    drain(ctx)

    # Paid here: the payment is recorded in the books against the invoice.
    invoice = client.get(f"/api/v1/invoices/{first}").json()
    paid = client.post(f"/api/v1/invoices/{first}/payments", json={"date": "2026-12-02", "amount": invoice["total"]})
    assert paid.status_code == 201, paid.text
    drain(ctx)
    payment = client.get(f"/api/v1/invoices/{first}/payments").json()["items"][0]
    assert payment["accounting"]["status"] == "synced"
    external = client.get(f"/api/v1/invoices/{first}").json()["accounting"]["external_id"]
    assert books.pay(external).status_code == 409  # nothing is due there any more
    # Asked to sync again, a paid invoice already in the books is only read back, not edited.
    assert client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(first)]}).status_code == 202
    drain(ctx)
    again = client.get(f"/api/v1/invoices/{first}").json()["accounting"]
    assert (again["status"], again["remote_status"]) == ("synced", books.paid_status)

    # Paid in the books: the next pull records it here, once, from the books.
    other = client.get(f"/api/v1/invoices/{second}").json()
    paid_there = books.pay(other["accounting"]["external_id"], date="2026-12-03")
    assert paid_there.status_code == 200, paid_there.text
    books.let_the_rate_limit_come_round()  # a pull on request waits for none
    for _ in range(2):  # a second pull sees the same payment again, and records nothing more
        pulled = client.post(f"/api/v1/accounting/connections/{connection_id}/pull")
        assert pulled.status_code == 200, pulled.text
        assert pulled.json()["status"] == "done", pulled.json()
    after = client.get(f"/api/v1/invoices/{second}").json()
    assert after["status"] == "paid"
    with ctx.readers() as db:
        payments = db.scalars(select(PaymentRow).where(PaymentRow.invoice_id == second)).all()
    assert [(p.source, p.amount) for p in payments] == [("accounting", Decimal(other["total"]))]


# --- bad days: faults on every kind of call, a worker that dies mid-batch, two workers at once -----------------


def test_faults_on_every_call_leave_exactly_one_remote_record_each(
    ctx: Context, clock: FixedClock, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connected(client, books, cat)
    books.fault(FaultKind.LOSE_RESPONSE, Call.CREATE_CONTACTS)
    books.fault(FaultKind.LOSE_RESPONSE, Call.CREATE_INVOICES)
    books.fault(FaultKind.SERVER_ERROR, Call.CREATE_INVOICES)
    books.fault(FaultKind.GATEWAY_TIMEOUT, Call.CREATE_INVOICES)
    books.fault(FaultKind.RATE_LIMIT, Call.READ_INVOICE)
    books.fault(FaultKind.SERVER_ERROR, Call.READ_INVOICE, count=2)
    invoice_ids = bill_month(ctx, cat, 75)
    drain_in_time(ctx, clock)

    books.fault(FaultKind.LOSE_RESPONSE, Call.CREATE_PAYMENTS)
    books.fault(FaultKind.LOSE_RESPONSE, Call.CREATE_CREDIT_NOTES)
    books.fault(FaultKind.LOSE_RESPONSE, Call.ALLOCATE_CREDIT_NOTE)
    books.fault(FaultKind.LOSE_RESPONSE, Call.CHANGE_INVOICE)
    for invoice_id in invoice_ids[:10]:
        total = client.get(f"/api/v1/invoices/{invoice_id}").json()["total"]
        paid = client.post(f"/api/v1/invoices/{invoice_id}/payments", json={"date": "2026-12-02", "amount": total})
        assert paid.status_code == 201, paid.text
    for invoice_id in invoice_ids[10:14]:
        credited = client.post(
            f"/api/v1/invoices/{invoice_id}/credit-notes", json={"amount": "10.00", "reason": "Broken chair"}
        )
        assert credited.status_code == 201, credited.text
    for invoice_id in invoice_ids[14:16]:
        assert client.post(f"/api/v1/invoices/{invoice_id}/void").status_code == 200
    drain_in_time(ctx, clock)

    faults = books.faults()
    assert faults["pending"] == [], "every injected fault was met"
    assert faults["fired"]["lose_response"] == 7
    assert_one_remote_twin_each(ctx, books, invoice_ids)


def test_a_worker_killed_mid_batch_leaves_no_duplicate_when_another_takes_over(
    ctx: Context,
    clock: FixedClock,
    client: TestClient,
    books: Books,
    cat: Catalog,
    auto_sync: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connected(client, books, cat)
    invoice_ids = bill_month(ctx, cat, 30)

    class Killed(BaseException):
        """The process dies: nothing after this runs, no outcome is recorded."""

    real_store = sync._store

    def die_after_the_books_committed(*args: object, **kwargs: object) -> None:
        raise Killed

    monkeypatch.setattr(sync, "_store", die_after_the_books_committed)
    with pytest.raises(Killed):
        Worker(ctx, default_handlers(ctx), lease=timedelta(minutes=5)).run_until_idle()
    monkeypatch.setattr(sync, "_store", real_store)
    assert books.counts()["invoices"] == 30  # the books have them; flexbill never heard back

    clock.instant += timedelta(minutes=6)  # the dead worker's lease runs out; another worker takes the batch over
    drain_in_time(ctx, clock)
    assert_one_remote_twin_each(ctx, books, invoice_ids)


@pytest.mark.postgres_only
@ON_POSTGRESQL
def test_two_workers_at_once_with_faults_still_leave_one_remote_record_each(
    ctx: Context, clock: FixedClock, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connected(client, books, cat)
    books.fault(FaultKind.LOSE_RESPONSE, Call.CREATE_INVOICES)
    books.fault(FaultKind.LATENCY, Call.CREATE_INVOICES, seconds=0.5)
    books.fault(FaultKind.SERVER_ERROR, Call.READ_INVOICE)
    invoice_ids = bill_month(ctx, cat, 120)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            drain_in_time(ctx, clock)
        except BaseException as error:  # the assertion below reports it
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert_one_remote_twin_each(ctx, books, invoice_ids)


def test_a_record_the_books_keep_refusing_ends_failed_with_the_reason_and_can_be_sent_again(
    ctx: Context, clock: FixedClock, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connected(client, books, cat)
    books.fault(FaultKind.SERVER_ERROR, Call.CREATE_INVOICES, count=None, status=503)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain_in_time(ctx, clock)
    state = client.get(f"/api/v1/invoices/{invoice_id}").json()["accounting"]
    assert state["status"] == "failed"
    assert state["error"].startswith("gave up after 12 attempts: Transient")
    assert books.counts()["invoices"] == 0

    books.clear_faults()
    assert client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(invoice_id)]}).status_code == 202
    drain(ctx)
    assert client.get(f"/api/v1/invoices/{invoice_id}").json()["accounting"]["status"] == "synced"
    assert books.counts()["invoices"] == 1


def test_a_void_made_while_the_invoice_was_being_sent_still_reaches_the_books(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flexbill.invoicing.service import VoidRequest, void_invoice

    connected(client, books, cat)
    [invoice_id] = bill_month(ctx, cat, 1)
    send = books.session_class.push_invoices

    def send_then_void_here(self: ConnectorSession, invoices: Any, key: str) -> Any:
        answer = send(self, invoices, key)
        with ctx.sessions() as db, db.begin():  # staff void it while the answer is on its way back
            void_invoice(db, ctx.clock, invoice_id, VoidRequest())
        return answer

    monkeypatch.setattr(books.session_class, "push_invoices", send_then_void_here)
    drain(ctx)
    state = client.get(f"/api/v1/invoices/{invoice_id}").json()["accounting"]
    assert (state["status"], state["remote_status"]) == ("synced", books.voided_status)
    assert [doc.voided for doc in books.invoices()] == [True]


def test_a_record_another_worker_is_sending_waits_for_it_rather_than_being_sent_twice(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    from flexbill.tasks.service import claim

    connected(client, books, cat)
    [invoice_id] = bill_month(ctx, cat, 1)
    with ctx.sessions() as db, db.begin():  # a worker elsewhere has taken revision 1 and is sending it
        [first] = claim(db, "elsewhere", ctx.clock.now(), timedelta(minutes=5), {"accounting.invoice": 1})
    assert client.post(f"/api/v1/invoices/{invoice_id}/void").status_code == 200  # revision 2
    with ctx.sessions() as db, db.begin():
        [second] = claim(db, "here", ctx.clock.now(), timedelta(minutes=5), {"accounting.invoice": 1})
    assert (first.payload["revision"], second.payload["revision"]) == ("1", "2")

    [outcome] = sync.sync_invoices(ctx, [second]).values()
    assert outcome == RetryLater(timedelta(seconds=30), "another worker is sending it right now")
    assert books.counts()["invoices"] == 0


# --- what the operator meets: pre-flight, manual mode, reconnecting, names taken --------------------------------


def test_issuing_with_codes_not_mapped_is_refused_naming_each_and_writes_nothing(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, books, cat.location_id)
    full = books.mappings()
    accounts: dict[str, str] = full["accounts"]  # type: ignore[assignment]
    partial = client.put(
        f"/api/v1/accounting/connections/{connection_id}/mappings",
        json={**full, "accounts": {"200-LON": accounts["200-LON"]}, "tax_rates": {}},
    )
    assert partial.status_code == 200, partial.text
    with ctx.sessions() as db, db.begin():
        customer_id = make_customer(db, cat)
        customers.create_membership(
            db,
            customers.NewMembership(
                customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                start_date=date(2026, 11, 1), quantity=Decimal(1),
            ),
        )  # fmt: skip
    refused = client.post("/api/v1/bill-runs", json={"date": "2026-12-01"})
    assert refused.status_code == 422, refused.text
    message = refused.json()["message"]
    assert f"location LON ({books.provider}): tax rates VAT20-LON" in message
    assert "revenue accounts" not in message  # 200-LON is mapped
    assert client.get("/api/v1/invoices").json()["items"] == []

    wrong = client.put(
        f"/api/v1/accounting/connections/{connection_id}/mappings",
        json={"accounts": {"200-LON": "999", "NOPE": accounts["200-LON"]}, "tax_rates": {"VAT20-LON": "OUTPUT9"}},
    )
    assert wrong.status_code == 422
    message = wrong.json()["message"]
    for problem in ("accounts.200-LON:", "999", "accounts.NOPE: flexbill has no revenue account NOPE",
                    "tax_rates.VAT20-LON:", "OUTPUT9"):  # fmt: skip
        assert problem in message, message


def test_manual_mode_sends_only_what_staff_pick(ctx: Context, client: TestClient, books: Books, cat: Catalog) -> None:
    assert client.patch("/api/v1/settings/billing", json={"accounting_sync": "manual"}).status_code == 200
    connected(client, books, cat)
    first, second, third = bill_month(ctx, cat, 3)
    drain(ctx)
    assert books.counts()["invoices"] == 0
    listed = client.get("/api/v1/invoices").json()["items"]
    assert {item["accounting"]["status"] for item in listed} == {"not_synced"}

    started = client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(first), str(second)]})
    assert started.status_code == 202, started.text
    assert started.json()["tasks"] == 2
    drain(ctx)
    assert books.counts()["invoices"] == 2
    states = {item["id"]: item["accounting"]["status"] for item in client.get("/api/v1/invoices").json()["items"]}
    assert states == {str(first): "synced", str(second): "synced", str(third): "not_synced"}

    unknown = client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(uuid.UUID(int=1))]})
    assert unknown.status_code == 422
    assert "there is no invoice" in unknown.json()["message"]


def test_flexbill_sync_sends_the_invoices_named_and_waits_for_the_result(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.patch("/api/v1/settings/billing", json={"accounting_sync": "manual"}).status_code == 200
    connected(client, books, cat)
    monkeypatch.setenv("FLEXBILL_DATABASE_URL", str(ctx.settings.database_url))
    monkeypatch.setenv("FLEXBILL_DATA_DIR", str(ctx.settings.data_dir))  # the key the tokens are sealed with
    get_settings.cache_clear()
    first, _second = bill_month(ctx, cat, 2)

    missing = CliRunner().invoke(app, ["sync"])
    assert missing.exit_code == 1
    assert "--invoice" in missing.output

    one = CliRunner().invoke(app, ["sync", "--invoice", str(first), "--wait", "60"])
    assert one.exit_code == 0, one.output
    assert books.first_numbers(1)[0] in one.output
    assert books.counts()["invoices"] == 1

    rest = CliRunner().invoke(app, ["sync", "--all-pending", "--wait", "60"])
    assert rest.exit_code == 0, rest.output
    assert books.counts()["invoices"] == 2

    unknown = CliRunner().invoke(app, ["sync", "--invoice", "NOPE-1"])
    assert unknown.exit_code == 1
    assert "there is no invoice NOPE-1" in unknown.output
    get_settings.cache_clear()


def test_revoked_tokens_pause_the_work_until_the_operator_reconnects(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    books.revoke_all()
    bill_month(ctx, cat, 3)
    Worker(ctx, default_handlers(ctx)).run_until_idle()

    connection = client.get(f"/api/v1/accounting/connections/{connection_id}").json()
    assert connection["status"] == "reconnect_needed"
    with ctx.readers() as db:
        assert pending_count(db) == 3, "no task is lost while the connection waits"
    assert books.counts()["invoices"] == 0

    again = client.post(f"/api/v1/accounting/connections/{connection_id}/reconnect")
    assert again.status_code == 200, again.text
    consent = httpx.get(again.json()["authorize_url"], follow_redirects=False)
    callback = httpx.URL(consent.headers["location"])
    assert client.get(f"{callback.path}?{callback.query.decode()}").status_code == 200
    assert client.get(f"/api/v1/accounting/connections/{connection_id}").json()["status"] == "connected"
    drain(ctx)
    assert books.counts()["invoices"] == 3


def test_contacts_are_never_duplicated_and_follow_the_customer(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connected(client, books, cat)
    books.add_foreign_contact("Member 000 Ltd")  # someone in the books already has our member's name
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    invoice = client.get(f"/api/v1/invoices/{invoice_id}").json()
    assert invoice["accounting"]["status"] == "synced"
    names = sorted(contact.name for contact in books.contacts())
    assert names[0] == "Member 000 Ltd"
    assert len(names) == 2
    assert names[1].startswith("Member 000 Ltd (")

    # The member's new address reaches the contact; the log says what was done.
    changed = client.patch(f"/api/v1/customers/{invoice['customer_id']}", json={"city": "Leeds", "tax_number": "GB1"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["accounting"]["status"] == "pending"
    drain(ctx)
    ours = next(c for c in books.contacts() if c.our_id == invoice["customer_id"])
    assert ours.city == "Leeds"
    assert ours.tax_number == ("GB1" if books.keeps_tax_numbers else None)
    # And the next change too (a system that replays a known request's first answer must not swallow it).
    moved = client.patch(f"/api/v1/customers/{invoice['customer_id']}", json={"city": "York"})
    assert moved.status_code == 200, moved.text
    drain(ctx)
    assert next(c for c in books.contacts() if c.our_id == invoice["customer_id"]).city == "York"
    log = client.get("/api/v1/accounting/log", params={"kind": "customer", "record_id": invoice["customer_id"]})
    assert [entry["action"] for entry in log.json()] == ["update", "update", "create"]
    invoice_log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_id)}).json()
    assert [entry["action"] for entry in invoice_log][-1] == "create"


# --- the way back by webhook -----------------------------------------------------------------------------------


def test_a_payment_made_in_the_books_comes_back_by_webhook_and_a_forged_one_is_refused(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    ctx.settings = ctx.settings.model_copy(update={f"{books.provider}_webhook_key": WEBHOOK_KEY})
    with serving(create_app(ctx)) as flexbill_url:  # flexbill itself over real HTTP, for the books to call
        books.receive_webhooks(f"{flexbill_url}/webhooks/{books.provider}", WEBHOOK_KEY)
        connected(client, books, cat)
        [invoice_id] = bill_month(ctx, cat, 1)
        drain(ctx)
        external_id = client.get(f"/api/v1/invoices/{invoice_id}").json()["accounting"]["external_id"]

        body, headers = books.forged_webhook()
        forged = httpx.post(f"{flexbill_url}/webhooks/{books.provider}", content=body, headers=headers)
        assert forged.status_code == 401
        assert forged.content == b""

        paid = books.pay(external_id, date="2026-12-04")
        assert paid.status_code == 200, paid.text
        books.flush_webhooks()
        deadline = time.monotonic() + 10
        while client.get(f"/api/v1/invoices/{invoice_id}").json()["status"] != "paid":
            assert time.monotonic() < deadline, "the webhook did not bring the payment back"
            drain(ctx)
            time.sleep(0.1)
        with ctx.readers() as db:
            events = db.scalar(select(func.count()).select_from(InboundEventRow))
            sources = db.scalars(select(PaymentRow.source).where(PaymentRow.invoice_id == invoice_id)).all()
        assert events is not None
        assert events >= 1
        assert sources == ["accounting"]
