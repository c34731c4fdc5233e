"""The accounting sync end to end over real HTTP: flexbill's API and worker against the Xero sandbox.

A connection is made through the OAuth flow (the sandbox consents at once), codes are mapped against the
organisation's own lists, a month is billed, and the worker sends it: every invoice exactly once, numbered by
Xero, with Xero's PDF; payments go both ways; faults injected on every kind of call leave no duplicates.
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
from flexbill.accounting.store import AccountingDocumentRow, InboundEventRow, SyncRecordRow
from flexbill.bootstrap import Context
from flexbill.cli import app
from flexbill.clock import FixedClock
from flexbill.customers import service as customers
from flexbill.customers.store import CustomerRow
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.sandbox.server import RunningSandbox
from flexbill.settings import get_settings
from flexbill.tasks.service import next_due_at, pending_count
from flexbill.web.app import create_app
from flexbill.worker import RetryLater, Worker, default_handlers
from tests.conftest import POSTGRES_URL
from tests.support import Catalog, make_customer, serving


def connect(client: TestClient, sandbox: RunningSandbox, location_id: uuid.UUID) -> str:
    created = client.post(
        "/api/v1/accounting/connections",
        json={"location_id": str(location_id), "provider": "xero", "base_url": sandbox.xero_url},
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


def map_codes(client: TestClient, connection_id: str) -> None:
    mapped = client.put(
        f"/api/v1/accounting/connections/{connection_id}/mappings",
        json={
            "accounts": {"200-LON": "200", "210-LON": "260"},
            "tax_rates": {"VAT20-LON": "OUTPUT2", "ZERO-LON": "ZERORATEDOUTPUT"},
            "payment_account": "090",
        },
    )
    assert mapped.status_code == 200, mapped.text


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
    from flexbill.billing.service import run_bill_run

    return run_bill_run(ctx.sessions, ctx.clock, date(2026, 12, 1)).invoice_ids


def drain(ctx: Context, *, timeout: float = 60.0) -> None:
    """Run the worker until no task is left, waiting out rate-limit delays and retries (the sandbox's minute is
    compressed, so they are short)."""
    worker = Worker(ctx, default_handlers(ctx), poll_interval=0.05)
    deadline = time.monotonic() + timeout
    while True:
        worker.run_until_idle()
        with ctx.readers() as db:
            if pending_count(db) == 0:
                return
        assert time.monotonic() < deadline, f"the sync did not finish in time: {_waiting(ctx)}"
        time.sleep(0.1)


def _waiting(ctx: Context) -> list[tuple[str, str, int, str | None]]:
    """What is left, and why: shown when a drain times out."""
    from flexbill.tasks.store import TaskRow

    with ctx.readers() as db:
        rows = db.execute(
            select(TaskRow.kind, TaskRow.status, TaskRow.attempts, TaskRow.last_error).where(TaskRow.status != "done")
        ).all()
    return [(kind, status, attempts, error) for kind, status, attempts, error in rows][:20]


def remote_state(sandbox: RunningSandbox) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{sandbox.xero_url}/_sandbox/state").json()
    return state


def test_a_month_is_synced_once_with_xero_numbers_and_pdfs(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    invoice_ids = bill_month(ctx, cat, 60)
    assert len(invoice_ids) == 60

    with ctx.readers() as db:
        numbers = db.scalars(select(InvoiceRow.number).where(InvoiceRow.id.in_(invoice_ids))).all()
    assert set(numbers) == {None}, "Xero numbers this location's invoices: none before they are synced"

    drain_in_time(ctx, clock)  # a retry (a rate limit met on a busy machine) comes due on the business clock

    with ctx.readers() as db:
        invoices = db.scalars(select(InvoiceRow).where(InvoiceRow.id.in_(invoice_ids))).all()
        records = {r.record_id: r for r in db.scalars(select(SyncRecordRow).where(SyncRecordRow.kind == "invoice"))}
        pdfs = db.scalar(select(func.count()).select_from(AccountingDocumentRow))
    assert {records[i.id].status for i in invoices} == {"synced"}
    assert sorted(i.number for i in invoices if i.number) == [f"INV-{n:04}" for n in range(1, 61)]
    assert all(records[i.id].external_number == i.number for i in invoices)
    assert pdfs == 60
    state = remote_state(sandbox)
    assert state["counts"]["invoices"] == 60, state
    assert state["counts"]["contacts"] == 60, state
    # The reference a member reads is the period billed; our id follows it, for finding the invoice again.
    references = {doc.reference.split(" · ")[0] for doc in sandbox.xero.org.invoices.values()}
    assert references == {"1 Nov - 31 Dec 2026"}, references

    # Each invoice as Xero holds it: the same total to the cent.
    api = client.get("/api/v1/invoices", params={"limit": 100}).json()["items"]
    assert {item["accounting"]["status"] for item in api} == {"synced"}
    assert {item["accounting"]["provider"] for item in api} == {"xero"}


def test_payments_go_both_ways(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    first, second = bill_month(ctx, cat, 2)
    drain(ctx)

    # Paid here: the payment is recorded in Xero against the invoice.
    invoice = client.get(f"/api/v1/invoices/{first}").json()
    paid = client.post(f"/api/v1/invoices/{first}/payments", json={"date": "2026-12-02", "amount": invoice["total"]})
    assert paid.status_code == 201, paid.text
    drain(ctx)
    payment = client.get(f"/api/v1/invoices/{first}/payments").json()["items"][0]
    assert payment["accounting"]["status"] == "synced"
    external = client.get(f"/api/v1/invoices/{first}").json()["accounting"]["external_id"]
    assert httpx.post(f"{sandbox.xero_url}/_sandbox/invoices/{external}/pay").status_code == 409  # nothing due
    # Asked to sync again, a paid invoice already in the books is only read back, not edited (Xero would refuse).
    assert client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(first)]}).status_code == 202
    drain(ctx)
    again = client.get(f"/api/v1/invoices/{first}").json()["accounting"]
    assert (again["status"], again["remote_status"]) == ("synced", "PAID")

    # Paid in Xero: the next pull records it here, once, from the books.
    other = client.get(f"/api/v1/invoices/{second}").json()
    paid_there = httpx.post(
        f"{sandbox.xero_url}/_sandbox/invoices/{other['accounting']['external_id']}/pay",
        json={"date": "2026-12-03"},
    )
    assert paid_there.status_code == 200, paid_there.text
    for _ in range(2):  # a second pull sees the same payment again, and records nothing more
        pulled = client.post(f"/api/v1/accounting/connections/{connection_id}/pull")
        assert pulled.status_code == 200, pulled.text
        assert pulled.json()["status"] == "done", pulled.json()
    after = client.get(f"/api/v1/invoices/{second}").json()
    assert after["status"] == "paid"
    with ctx.readers() as db:
        payments = db.scalars(select(PaymentRow).where(PaymentRow.invoice_id == second)).all()
    assert [(p.source, p.amount) for p in payments] == [("accounting", Decimal(other["total"]))]


# --- bad days: faults on every kind of call, and a worker that dies mid-batch -----------------------------------


def fault(sandbox: RunningSandbox, kind: str, method: str, path: str, count: int = 1, **extra: object) -> None:
    added = httpx.post(
        f"{sandbox.xero_url}/_sandbox/faults",
        json={"kind": kind, "method": method, "path": path, "count": count, **extra},
    )
    assert added.status_code == 201, added.text


def drain_in_time(ctx: Context, clock: FixedClock, *, rounds: int = 200) -> None:
    """Run the worker to the end, moving the business clock on to each retry as it comes due (retries wait
    tens of seconds; the test does not)."""
    worker = Worker(ctx, default_handlers(ctx), poll_interval=0.05, lease=timedelta(minutes=5))
    kinds = list(worker.handlers)
    for _ in range(rounds):
        worker.run_until_idle()
        with ctx.readers() as db:
            if pending_count(db) == 0:
                return
            due = next_due_at(db, kinds, clock.now())
        if due is not None and due > clock.instant:
            clock.instant = due
        time.sleep(0.05)  # the sandbox's compressed minute still passes in real time
    raise AssertionError("the sync did not finish")


def test_faults_on_every_call_leave_exactly_one_remote_record_each(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    fault(sandbox, "lose_response", "PUT", "/api.xro/2.0/Contacts")
    fault(sandbox, "lose_response", "PUT", "/api.xro/2.0/Invoices")
    fault(sandbox, "server_error", "PUT", "/api.xro/2.0/Invoices")
    fault(sandbox, "lose_response", "PUT", "/api.xro/2.0/Invoices", mode="gateway_timeout")
    fault(sandbox, "rate_limit", "GET", "/api.xro/2.0/Invoices/*")
    fault(sandbox, "server_error", "GET", "/api.xro/2.0/Invoices*", count=2)
    invoice_ids = bill_month(ctx, cat, 75)
    drain_in_time(ctx, clock)

    fault(sandbox, "lose_response", "PUT", "/api.xro/2.0/Payments")
    fault(sandbox, "lose_response", "PUT", "/api.xro/2.0/CreditNotes")
    fault(sandbox, "lose_response", "PUT", "/api.xro/2.0/CreditNotes/*/Allocations")
    fault(sandbox, "lose_response", "POST", "/api.xro/2.0/Invoices/*")
    for invoice_id in invoice_ids[:10]:
        total = client.get(f"/api/v1/invoices/{invoice_id}").json()["total"]
        assert (
            client.post(
                f"/api/v1/invoices/{invoice_id}/payments", json={"date": "2026-12-02", "amount": total}
            ).status_code
            == 201
        )
    for invoice_id in invoice_ids[10:14]:
        assert (
            client.post(
                f"/api/v1/invoices/{invoice_id}/credit-notes", json={"amount": "10.00", "reason": "Broken chair"}
            ).status_code
            == 201
        )
    for invoice_id in invoice_ids[14:16]:
        assert client.post(f"/api/v1/invoices/{invoice_id}/void").status_code == 200
    drain_in_time(ctx, clock)

    faults = remote_state(sandbox)["faults"]
    assert faults["pending"] == [], "every injected fault was met"
    assert faults["fired"]["lose_response"] == 7
    assert_one_remote_twin_each(ctx, sandbox, invoice_ids)


def test_a_worker_killed_mid_batch_leaves_no_duplicate_when_another_takes_over(
    ctx: Context,
    clock: FixedClock,
    client: TestClient,
    sandbox: RunningSandbox,
    cat: Catalog,
    auto_sync: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    invoice_ids = bill_month(ctx, cat, 30)

    class Killed(BaseException):
        """The process dies: nothing after this runs, no outcome is recorded."""

    real_store = sync._store

    def die_after_xero_committed(*args: object, **kwargs: object) -> None:
        raise Killed

    monkeypatch.setattr(sync, "_store", die_after_xero_committed)
    with pytest.raises(Killed):
        Worker(ctx, default_handlers(ctx), lease=timedelta(minutes=5)).run_until_idle()
    monkeypatch.setattr(sync, "_store", real_store)
    assert remote_state(sandbox)["counts"]["invoices"] == 30  # Xero has them; flexbill never heard back

    clock.instant += timedelta(minutes=6)  # the dead worker's lease runs out; another worker takes the batch over
    drain_in_time(ctx, clock)
    assert_one_remote_twin_each(ctx, sandbox, invoice_ids)


def assert_one_remote_twin_each(ctx: Context, sandbox: RunningSandbox, invoice_ids: list[uuid.UUID]) -> None:
    """Every local record has exactly one counterpart in Xero, with the same totals to the cent."""
    with ctx.readers() as db:
        invoices = {row.id: row for row in db.scalars(select(InvoiceRow).where(InvoiceRow.id.in_(invoice_ids)))}
        records = {(r.kind, r.record_id): r for r in db.scalars(select(SyncRecordRow))}
        payments = db.scalars(select(PaymentRow)).all()
        notes = db.scalars(select(CreditNoteRow)).all()
        customers_count = db.scalar(select(func.count()).select_from(CustomerRow))
    failed = {key: r.error for key, r in records.items() if r.status not in ("synced", "not_synced")}
    assert not failed, failed
    org = sandbox.xero.org
    remote_invoices = list(org.invoices.values())
    assert len(org.contacts) == customers_count
    assert len(remote_invoices) == len(invoice_ids)
    by_id = {doc.doc_id: doc for doc in remote_invoices}
    for invoice in invoices.values():
        remote = by_id[records[("invoice", invoice.id)].external_id]
        assert remote.total == invoice.total, invoice.number
        assert remote.number == invoice.number
        assert (remote.status == "VOIDED") == (invoice.status == "voided"), invoice.number
        assert remote.amount_paid == invoice.amount_paid, invoice.number
        assert remote.amount_credited == invoice.amount_credited, invoice.number
    live_payments = [p for p in org.payments.values() if p.status != "DELETED"]
    assert len(live_payments) == len(payments)
    assert len(org.credit_notes) == len(notes)


# --- what the operator meets: pre-flight, manual mode, reconnecting ---------------------------------------------


def test_issuing_with_codes_not_mapped_is_refused_naming_each_and_writes_nothing(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    partial = client.put(
        f"/api/v1/accounting/connections/{connection_id}/mappings",
        json={"accounts": {"200-LON": "200"}, "tax_rates": {}, "payment_account": "090"},
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
    assert "location LON (xero): tax rates VAT20-LON" in message
    assert "revenue accounts" not in message  # 200-LON is mapped
    assert client.get("/api/v1/invoices").json()["items"] == []

    wrong = client.put(
        f"/api/v1/accounting/connections/{connection_id}/mappings",
        json={"accounts": {"200-LON": "999", "NOPE": "200"}, "tax_rates": {"VAT20-LON": "OUTPUT9"}},
    )
    assert wrong.status_code == 422
    for problem in ("accounts.200-LON: xero has no active account with code 999",
                    "accounts.NOPE: flexbill has no revenue account NOPE",
                    "tax_rates.VAT20-LON: xero has no active tax rate OUTPUT9"):  # fmt: skip
        assert problem in wrong.json()["message"]


def test_manual_mode_sends_only_what_staff_pick(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog
) -> None:
    assert client.patch("/api/v1/settings/billing", json={"accounting_sync": "manual"}).status_code == 200
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    first, second, third = bill_month(ctx, cat, 3)
    drain(ctx)
    assert remote_state(sandbox)["counts"]["invoices"] == 0
    listed = client.get("/api/v1/invoices").json()["items"]
    assert {item["accounting"]["status"] for item in listed} == {"not_synced"}

    started = client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(first), str(second)]})
    assert started.status_code == 202, started.text
    assert started.json()["tasks"] == 2
    drain(ctx)
    assert remote_state(sandbox)["counts"]["invoices"] == 2
    states = {item["id"]: item["accounting"]["status"] for item in client.get("/api/v1/invoices").json()["items"]}
    assert states == {str(first): "synced", str(second): "synced", str(third): "not_synced"}

    unknown = client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(uuid.UUID(int=1))]})
    assert unknown.status_code == 422
    assert "there is no invoice" in unknown.json()["message"]


def test_revoked_tokens_pause_the_work_until_the_operator_reconnects(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    assert httpx.post(f"{sandbox.xero_url}/_sandbox/tokens/revoke-all").status_code == 200
    bill_month(ctx, cat, 3)
    Worker(ctx, default_handlers(ctx)).run_until_idle()

    connection = client.get(f"/api/v1/accounting/connections/{connection_id}").json()
    assert connection["status"] == "reconnect_needed"
    with ctx.readers() as db:
        assert pending_count(db) == 3, "no task is lost while the connection waits"
    assert remote_state(sandbox)["counts"]["invoices"] == 0

    again = client.post(f"/api/v1/accounting/connections/{connection_id}/reconnect")
    assert again.status_code == 200, again.text
    consent = httpx.get(again.json()["authorize_url"], follow_redirects=False)
    callback = httpx.URL(consent.headers["location"])
    assert client.get(f"{callback.path}?{callback.query.decode()}").status_code == 200
    assert client.get(f"/api/v1/accounting/connections/{connection_id}").json()["status"] == "connected"
    drain(ctx)
    assert remote_state(sandbox)["counts"]["invoices"] == 3


# --- the way back by webhook -----------------------------------------------------------------------------------

WEBHOOK_KEY = "sandbox-webhook-key"


def test_a_payment_made_in_xero_comes_back_by_webhook_and_a_tampered_one_is_refused(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"xero_webhook_key": WEBHOOK_KEY})
    with serving(create_app(ctx)) as flexbill_url:  # flexbill itself over real HTTP, for Xero to call
        hooks = httpx.put(
            f"{sandbox.xero_url}/_sandbox/webhooks",
            json={"url": f"{flexbill_url}/webhooks/xero", "key": WEBHOOK_KEY},
        )
        assert hooks.status_code == 200, hooks.text
        intent = httpx.post(f"{sandbox.xero_url}/_sandbox/webhooks/intent-to-receive")
        assert intent.status_code == 200, intent.text
        assert intent.json()["status"] == "OK", intent.json()

        connection_id = connect(client, sandbox, cat.location_id)
        map_codes(client, connection_id)
        [invoice_id] = bill_month(ctx, cat, 1)
        drain(ctx)
        external_id = client.get(f"/api/v1/invoices/{invoice_id}").json()["accounting"]["external_id"]

        tampered = httpx.post(
            f"{flexbill_url}/webhooks/xero",
            content=b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"x"}',
            headers={"x-xero-signature": "bm90IHRoZSBzaWduYXR1cmU="},
        )
        assert tampered.status_code == 401
        assert tampered.content == b""

        paid = httpx.post(f"{sandbox.xero_url}/_sandbox/invoices/{external_id}/pay", json={"date": "2026-12-04"})
        assert paid.status_code == 200, paid.text
        assert httpx.post(f"{sandbox.xero_url}/_sandbox/webhooks/flush").status_code == 200
        deadline = time.monotonic() + 10
        while client.get(f"/api/v1/invoices/{invoice_id}").json()["status"] != "paid":
            assert time.monotonic() < deadline, "the webhook did not bring the payment back"
            drain(ctx)
            time.sleep(0.1)
        with ctx.readers() as db:
            events = db.scalar(select(func.count()).select_from(InboundEventRow))
            sources = db.scalars(select(PaymentRow.source).where(PaymentRow.invoice_id == invoice_id)).all()
        assert events >= 1
        assert sources == ["accounting"]


# --- contacts, the log, two workers ----------------------------------------------------------------------------


def test_contacts_are_never_duplicated_and_follow_the_customer(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    # Someone in Xero already has the name of one of our members (but is not ours).
    taken = httpx.post(
        f"{sandbox.xero_url}/api.xro/2.0/Contacts",
        json={"Contacts": [{"Name": "Member 000 Ltd"}]},
        headers=_xero_headers(sandbox),
    )
    assert taken.status_code == 200, taken.text
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    invoice = client.get(f"/api/v1/invoices/{invoice_id}").json()
    assert invoice["accounting"]["status"] == "synced"
    names = sorted(contact.name for contact in sandbox.xero.org.contacts.values())
    assert names[0] == "Member 000 Ltd"
    assert len(names) == 2
    assert names[1].startswith("Member 000 Ltd (")

    # The member's new address reaches the contact; the log says what was done.
    changed = client.patch(f"/api/v1/customers/{invoice['customer_id']}", json={"city": "Leeds", "tax_number": "GB1"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["accounting"]["status"] == "pending"
    drain(ctx)
    ours = next(c for c in sandbox.xero.org.contacts.values() if c.contact_number == invoice["customer_id"])
    assert ours.tax_number == "GB1"
    assert any(address.get("City") == "Leeds" for address in ours.addresses), ours.addresses
    log = client.get("/api/v1/accounting/log", params={"kind": "customer", "record_id": invoice["customer_id"]})
    assert [entry["action"] for entry in log.json()] == ["update", "create"]
    invoice_log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_id)}).json()
    assert [entry["action"] for entry in invoice_log][-1] == "create"


def _xero_headers(sandbox: RunningSandbox) -> dict[str, str]:
    tokens = httpx.post(f"{sandbox.xero_url}/_sandbox/tokens").json()
    return {
        "Authorization": f"Bearer {tokens['access_token']}",
        "xero-tenant-id": remote_state(sandbox)["tenant_id"],
        "Accept": "application/json",
    }


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "database_url",
    [pytest.param("postgresql", marks=pytest.mark.skipif(not POSTGRES_URL, reason="needs FLEXBILL_TEST_DATABASE_URL"))],
    indirect=True,
)
def test_two_workers_at_once_with_faults_still_leave_one_remote_record_each(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    fault(sandbox, "lose_response", "PUT", "/api.xro/2.0/Invoices")
    fault(sandbox, "latency", "PUT", "/api.xro/2.0/Invoices", seconds=0.5)
    fault(sandbox, "server_error", "GET", "/api.xro/2.0/Invoices/*")
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
    assert_one_remote_twin_each(ctx, sandbox, invoice_ids)


def test_flexbill_sync_sends_the_invoices_named_and_waits_for_the_result(
    ctx: Context,
    client: TestClient,
    sandbox: RunningSandbox,
    cat: Catalog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert client.patch("/api/v1/settings/billing", json={"accounting_sync": "manual"}).status_code == 200
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    monkeypatch.setenv("FLEXBILL_DATABASE_URL", str(ctx.settings.database_url))
    monkeypatch.setenv("FLEXBILL_DATA_DIR", str(ctx.settings.data_dir))  # the key the tokens are sealed with
    get_settings.cache_clear()
    first, _second = bill_month(ctx, cat, 2)

    missing = CliRunner().invoke(app, ["sync"])
    assert missing.exit_code == 1
    assert "--invoice" in missing.output

    one = CliRunner().invoke(app, ["sync", "--invoice", str(first), "--wait", "60"])
    assert one.exit_code == 0, one.output
    assert "INV-0001" in one.output
    assert remote_state(sandbox)["counts"]["invoices"] == 1

    rest = CliRunner().invoke(app, ["sync", "--all-pending", "--wait", "60"])
    assert rest.exit_code == 0, rest.output
    assert remote_state(sandbox)["counts"]["invoices"] == 2

    unknown = CliRunner().invoke(app, ["sync", "--invoice", "NOPE-1"])
    assert unknown.exit_code == 1
    assert "there is no invoice NOPE-1" in unknown.output
    get_settings.cache_clear()


def test_a_record_xero_keeps_failing_ends_failed_with_the_reason_and_can_be_sent_again(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    fault(sandbox, "server_error", "PUT", "/api.xro/2.0/Invoices", count=None, status=503)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain_in_time(ctx, clock)
    state = client.get(f"/api/v1/invoices/{invoice_id}").json()["accounting"]
    assert state["status"] == "failed"
    assert state["error"].startswith("gave up after 12 attempts: Transient")
    assert remote_state(sandbox)["counts"]["invoices"] == 0

    assert httpx.delete(f"{sandbox.xero_url}/_sandbox/faults").status_code == 200
    assert client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(invoice_id)]}).status_code == 202
    drain(ctx)
    assert client.get(f"/api/v1/invoices/{invoice_id}").json()["accounting"]["status"] == "synced"
    assert remote_state(sandbox)["counts"]["invoices"] == 1


def test_a_void_made_while_the_invoice_was_being_sent_still_reaches_xero(
    ctx: Context,
    client: TestClient,
    sandbox: RunningSandbox,
    cat: Catalog,
    auto_sync: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flexbill.accounting.connectors.xero.client import XeroSession
    from flexbill.invoicing.service import VoidRequest, void_invoice

    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    [invoice_id] = bill_month(ctx, cat, 1)
    send = XeroSession.push_invoices

    def send_then_void_here(self: XeroSession, invoices: Any, key: str) -> Any:
        answer = send(self, invoices, key)
        with ctx.sessions() as db, db.begin():  # staff void it while the answer is on its way back
            void_invoice(db, ctx.clock, invoice_id, VoidRequest())
        return answer

    monkeypatch.setattr(XeroSession, "push_invoices", send_then_void_here)
    drain(ctx)
    state = client.get(f"/api/v1/invoices/{invoice_id}").json()["accounting"]
    assert (state["status"], state["remote_status"]) == ("synced", "VOIDED")
    assert [doc.status for doc in sandbox.xero.org.invoices.values()] == ["VOIDED"]


def test_a_record_another_worker_is_sending_waits_for_it_rather_than_being_sent_twice(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    from flexbill.tasks.service import claim

    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    [invoice_id] = bill_month(ctx, cat, 1)
    with ctx.sessions() as db, db.begin():  # a worker elsewhere has taken revision 1 and is sending it
        [first] = claim(db, "elsewhere", ctx.clock.now(), timedelta(minutes=5), {"accounting.invoice": 1})
    assert client.post(f"/api/v1/invoices/{invoice_id}/void").status_code == 200  # revision 2
    with ctx.sessions() as db, db.begin():
        [second] = claim(db, "here", ctx.clock.now(), timedelta(minutes=5), {"accounting.invoice": 1})
    assert (first.payload["revision"], second.payload["revision"]) == ("1", "2")

    [outcome] = sync.sync_invoices(ctx, [second]).values()
    assert outcome == RetryLater(timedelta(seconds=30), "another worker is sending it right now")
    assert remote_state(sandbox)["counts"]["invoices"] == 0
