"""The sync rules an operator relies on, each a real scenario over real HTTP against the Xero sandbox.

Drafts sent as drafts and issued later; our own numbering; mappings removed and fixed; voids both ways; payments
made in Xero while webhooks were lost or flexbill was stopped; a payment that does not fit; tokens that expire
or can no longer be read; the pre-flight in each mode; and the log an operator reads to know what happened.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import select

from flexbill.accounting.store import SyncRecordRow
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.customers import service as customers
from flexbill.invoicing.store import PaymentRow
from flexbill.sandbox.server import RunningSandbox
from flexbill.tasks.service import pending_count
from flexbill.web.app import create_app
from flexbill.worker import Worker, default_handlers, default_recurring
from tests.integration.test_xero_sync import (
    _xero_headers,
    assert_one_remote_twin_each,
    bill_month,
    connect,
    drain,
    drain_in_time,
    fault,
    map_codes,
    remote_state,
)
from tests.support import Catalog, make_customer, serving

WEBHOOK_KEY = "sandbox-webhook-key"
FULL_MAPPINGS: dict[str, object] = {
    "accounts": {"200-LON": "200", "210-LON": "260"},
    "tax_rates": {"VAT20-LON": "OUTPUT2", "ZERO-LON": "ZERORATEDOUTPUT"},
    "payment_account": "090",
}
WITHOUT_VAT: dict[str, object] = {**FULL_MAPPINGS, "tax_rates": {"ZERO-LON": "ZERORATEDOUTPUT"}}


# --- helpers ---------------------------------------------------------------------------------------------------


def settings(client: TestClient, **rules: object) -> None:
    changed = client.patch("/api/v1/settings/billing", json=rules)
    assert changed.status_code == 200, changed.text


def put_mappings(client: TestClient, connection_id: str, mappings: dict[str, object]) -> None:
    mapped = client.put(f"/api/v1/accounting/connections/{connection_id}/mappings", json=mappings)
    assert mapped.status_code == 200, mapped.text


def invoice(client: TestClient, invoice_id: uuid.UUID) -> dict[str, Any]:
    found = client.get(f"/api/v1/invoices/{invoice_id}")
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def pull(client: TestClient, connection_id: str) -> None:
    pulled = client.post(f"/api/v1/accounting/connections/{connection_id}/pull")
    assert pulled.status_code == 200, pulled.text
    assert pulled.json()["status"] == "done", pulled.json()


def pay_in_xero(sandbox: RunningSandbox, external_id: str, **body: object) -> dict[str, Any]:
    paid = httpx.post(f"{sandbox.xero_url}/_sandbox/invoices/{external_id}/pay", json=body)
    assert paid.status_code == 200, paid.text
    answer: dict[str, Any] = paid.json()
    return answer


def remote_invoice(sandbox: RunningSandbox, external_id: str) -> Any:
    return sandbox.xero.org.invoices[external_id]


def payments_of(ctx: Context, invoice_id: uuid.UUID) -> list[tuple[str, Decimal]]:
    with ctx.readers() as db:
        rows = db.scalars(select(PaymentRow).where(PaymentRow.invoice_id == invoice_id)).all()
    return sorted((row.source, row.amount) for row in rows)


def one_member(ctx: Context, cat: Catalog, name: str = "Solo Ltd") -> uuid.UUID:
    """A member with a hot desk from November, so the next bill run bills them."""
    with ctx.sessions() as db, db.begin():
        customer_id = make_customer(db, cat, name=name)
        customers.create_membership(
            db,
            customers.NewMembership(
                customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                start_date=date(2026, 11, 1), quantity=Decimal(1),
            ),
        )  # fmt: skip
    return customer_id


# --- 1. drafts: sent as drafts, issued or voided here later ------------------------------------------------------


def _drafts_in_xero(ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog) -> list[uuid.UUID]:
    """A bill run in draft mode, synced: each draft is in Xero as a DRAFT, once."""
    settings(client, issue_mode="draft")
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    invoice_ids = bill_month(ctx, cat, 3)
    drain(ctx)
    assert len(sandbox.xero.org.invoices) == 3
    for invoice_id in invoice_ids:
        here = invoice(client, invoice_id)
        assert here["status"] == "draft"
        assert here["accounting"]["status"] == "synced", here["accounting"]
        assert remote_invoice(sandbox, here["accounting"]["external_id"]).status == "DRAFT"
    return invoice_ids


def _issue(client: TestClient, invoice_id: uuid.UUID) -> None:
    done = client.post(f"/api/v1/invoices/{invoice_id}/issue")
    assert done.status_code == 200, done.text
    assert done.json()["accounting"]["status"] == "pending"


def _assert_authorised_with_xeros_number(client: TestClient, sandbox: RunningSandbox, invoice_id: uuid.UUID) -> None:
    here = invoice(client, invoice_id)
    twin = remote_invoice(sandbox, here["accounting"]["external_id"])
    assert here["status"] == "awaiting_payment"
    assert twin.status == "AUTHORISED", f"issued here, still {twin.status} in Xero; flexbill says {here['accounting']}"
    assert here["accounting"]["status"] == "synced"
    assert here["number"] == twin.number == here["accounting"]["number"]
    assert here["number"].startswith("INV-")
    assert twin.total == Decimal(here["total"])


def test_drafts_go_as_drafts_and_voiding_one_here_removes_it_there(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    voided, kept, _third = _drafts_in_xero(ctx, client, sandbox, cat)

    answer = client.post(f"/api/v1/invoices/{voided}/void")
    assert answer.status_code == 200, answer.text
    drain(ctx)

    now_voided = invoice(client, voided)
    gone = remote_invoice(sandbox, now_voided["accounting"]["external_id"])
    assert gone.status == "DELETED", "a draft cannot be voided in Xero: it is deleted"
    assert now_voided["status"] == "voided"
    assert now_voided["accounting"]["status"] == "synced"
    assert now_voided["accounting"]["remote_status"] == "DELETED"
    assert remote_invoice(sandbox, invoice(client, kept)["accounting"]["external_id"]).status == "DRAFT"
    assert len(sandbox.xero.org.invoices) == 3


def test_issuing_a_synced_draft_here_authorises_it_in_xero_with_xeros_number(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    issued, _kept, _third = _drafts_in_xero(ctx, client, sandbox, cat)
    _issue(client, issued)
    drain(ctx)
    _assert_authorised_with_xeros_number(client, sandbox, issued)
    assert invoice(client, issued)["accounting"]["remote_status"] == "AUTHORISED"
    assert len(sandbox.xero.org.invoices) == 3, "updated in place, never sent twice"


def test_issuing_a_draft_whose_xero_status_was_pulled_authorises_it_in_xero(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    """The same as above once a pull has told flexbill the twin is a DRAFT: the bug above is the remote status
    not stored after a create. (Its remote_status then stays DRAFT after the update, the same bug.)"""
    issued, _kept, _third = _drafts_in_xero(ctx, client, sandbox, cat)
    [connection] = client.get("/api/v1/accounting/connections").json()
    pull(client, connection["id"])
    assert invoice(client, issued)["accounting"]["remote_status"] == "DRAFT"
    _issue(client, issued)
    drain(ctx)
    _assert_authorised_with_xeros_number(client, sandbox, issued)
    assert len(sandbox.xero.org.invoices) == 3, "updated in place, never sent twice"


# --- 2. our own numbers -------------------------------------------------------------------------------------------


def test_flexbill_numbering_sends_our_numbers_and_a_number_xero_has_fails_that_invoice_only(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    patched = client.patch(f"/api/v1/accounting/connections/{connection_id}", json={"numbering": "flexbill"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["numbering"] == "flexbill"

    # Someone typed an invoice numbered LON-0002 straight into Xero.
    headers = _xero_headers(sandbox)
    stranger = httpx.put(
        f"{sandbox.xero_url}/api.xro/2.0/Contacts", json={"Contacts": [{"Name": "Walk-in customer"}]}, headers=headers
    )
    assert stranger.status_code == 200, stranger.text
    contact_id = stranger.json()["Contacts"][0]["ContactID"]
    typed = httpx.put(
        f"{sandbox.xero_url}/api.xro/2.0/Invoices",
        json={
            "Invoices": [
                {
                    "Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": "LON-0002",
                    "Status": "AUTHORISED", "Date": "2026-11-20", "DueDate": "2026-12-04",
                    "LineItems": [{"Description": "Day pass", "Quantity": 1, "UnitAmount": 20,
                                   "AccountCode": "200", "TaxType": "OUTPUT2"}],
                }
            ]
        },
        headers=headers,
    )  # fmt: skip
    assert typed.status_code == 200, typed.text

    invoice_ids = bill_month(ctx, cat, 3)
    numbers = {invoice(client, i)["number"]: i for i in invoice_ids}
    assert sorted(numbers) == ["LON-0001", "LON-0002", "LON-0003"], "our numbers, given at issue"
    drain(ctx)

    for number in ("LON-0001", "LON-0003"):
        here = invoice(client, numbers[number])
        assert here["number"] == number, "kept"
        assert here["accounting"]["status"] == "synced", here["accounting"]
        assert here["accounting"]["number"] == number
        assert remote_invoice(sandbox, here["accounting"]["external_id"]).number == number
    clashed = invoice(client, numbers["LON-0002"])
    assert clashed["number"] == "LON-0002"
    assert clashed["accounting"]["status"] == "failed"
    assert "Invoice # must be unique" in clashed["accounting"]["error"], clashed["accounting"]
    assert clashed["accounting"]["external_id"] is None
    assert sorted(doc.number for doc in sandbox.xero.org.invoices.values()) == ["LON-0001", "LON-0002", "LON-0003"]


def test_flexbill_numbering_never_gives_a_draft_xeros_number(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    settings(client, issue_mode="draft")
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    patched = client.patch(f"/api/v1/accounting/connections/{connection_id}", json={"numbering": "flexbill"})
    assert patched.status_code == 200, patched.text
    draft_id, voided_id = bill_month(ctx, cat, 2)
    drain(ctx)
    assert {invoice(client, i)["accounting"]["status"] for i in (draft_id, voided_id)} == {"synced"}
    assert client.post(f"/api/v1/invoices/{voided_id}/void").status_code == 200
    drain(ctx)

    # flexbill numbers this location: a draft has no number yet, and one voided as a draft never gets one.
    assert invoice(client, draft_id)["number"] is None
    assert invoice(client, voided_id)["number"] is None


# --- 3. a mapping removed after issue, then fixed -----------------------------------------------------------------


def test_a_mapping_removed_after_issue_fails_the_records_and_fixing_it_sends_them_again(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    put_mappings(client, connection_id, FULL_MAPPINGS)
    invoice_ids = bill_month(ctx, cat, 3)  # issued while everything was mapped: the pre-flight let it through
    put_mappings(client, connection_id, WITHOUT_VAT)  # ...and the VAT rate's mapping is removed before they go
    drain(ctx)

    assert remote_state(sandbox)["counts"]["invoices"] == 0, "nothing sent half-mapped"
    for invoice_id in invoice_ids:
        state = invoice(client, invoice_id)["accounting"]
        assert state["status"] == "failed"
        assert state["error"] == "not mapped in the connection: tax rate VAT20-LON", state
    log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_ids[0])}).json()
    assert [(entry["action"], entry["result"]) for entry in log] == [("send", "failed")]

    put_mappings(client, connection_id, FULL_MAPPINGS)  # fixed: the failed records go again by themselves
    assert {invoice(client, i)["accounting"]["status"] for i in invoice_ids} == {"pending"}
    drain(ctx)

    for invoice_id in invoice_ids:
        here = invoice(client, invoice_id)
        assert here["accounting"]["status"] == "synced", here["accounting"]
        assert here["accounting"]["error"] is None
        assert here["number"] == here["accounting"]["number"]
    assert_one_remote_twin_each(ctx, sandbox, invoice_ids)


def test_fixing_a_mapping_also_sends_the_payment_that_failed_with_its_invoice(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    put_mappings(client, connection_id, FULL_MAPPINGS)
    [invoice_id] = bill_month(ctx, cat, 1)
    put_mappings(client, connection_id, WITHOUT_VAT)
    drain(ctx)
    paid = client.post(f"/api/v1/invoices/{invoice_id}/payments", json={"date": "2026-12-02", "amount": "50.00"})
    assert paid.status_code == 201, paid.text
    drain(ctx)
    payment = client.get(f"/api/v1/invoices/{invoice_id}/payments").json()["items"][0]
    assert payment["accounting"]["status"] == "failed"
    assert payment["accounting"]["error"].startswith("its invoice is not in the books: not mapped")

    put_mappings(client, connection_id, FULL_MAPPINGS)
    drain_in_time(ctx, clock)  # the payment may come first and wait for its invoice

    payment = client.get(f"/api/v1/invoices/{invoice_id}/payments").json()["items"][0]
    assert payment["accounting"]["status"] == "synced", payment["accounting"]
    assert invoice(client, invoice_id)["accounting"]["status"] == "synced"
    assert_one_remote_twin_each(ctx, sandbox, [invoice_id])
    assert remote_invoice(sandbox, invoice(client, invoice_id)["accounting"]["external_id"]).amount_paid == Decimal(
        "50.00"
    )


# --- 4. voids made here ---------------------------------------------------------------------------------------


def test_voiding_a_synced_invoice_voids_it_in_xero(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    voided, kept = bill_month(ctx, cat, 2)
    drain(ctx)
    external_id = invoice(client, voided)["accounting"]["external_id"]
    assert remote_invoice(sandbox, external_id).status == "AUTHORISED"

    answer = client.post(f"/api/v1/invoices/{voided}/void")
    assert answer.status_code == 200, answer.text
    assert answer.json()["accounting"]["status"] == "pending"
    drain(ctx)

    after = invoice(client, voided)
    assert remote_invoice(sandbox, external_id).status == "VOIDED"
    assert after["accounting"]["status"] == "synced"
    assert after["accounting"]["remote_status"] == "VOIDED"
    assert remote_invoice(sandbox, invoice(client, kept)["accounting"]["external_id"]).status == "AUTHORISED"
    assert_one_remote_twin_each(ctx, sandbox, [voided, kept])


def test_voiding_an_invoice_never_sent_in_manual_mode_sends_nothing(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog
) -> None:
    settings(client, accounting_sync="manual")
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    voided, other = bill_month(ctx, cat, 2)
    calls_before = remote_state(sandbox)["calls"]["total"]

    assert client.post(f"/api/v1/invoices/{voided}/void").status_code == 200
    drain(ctx)

    after = invoice(client, voided)
    assert after["status"] == "voided"
    assert after["accounting"]["status"] == "not_synced"
    assert after["accounting"]["external_id"] is None
    assert invoice(client, other)["accounting"]["status"] == "not_synced"
    state = remote_state(sandbox)
    assert state["counts"]["invoices"] == 0
    assert state["calls"]["total"] == calls_before, "not a single call to Xero"


# --- 5. voided in Xero only -----------------------------------------------------------------------------------


def test_an_invoice_voided_in_xero_is_shown_out_of_date_and_never_voided_here(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    external_id = invoice(client, invoice_id)["accounting"]["external_id"]

    voided_there = httpx.post(f"{sandbox.xero_url}/_sandbox/invoices/{external_id}/void")
    assert voided_there.status_code == 200, voided_there.text
    pull(client, connection_id)

    here = invoice(client, invoice_id)
    assert here["status"] == "awaiting_payment", "never voided silently"
    assert here["accounting"]["status"] == "out_of_date"
    assert here["accounting"]["remote_status"] == "VOIDED"
    assert "voided in xero but not here" in here["accounting"]["error"], here["accounting"]
    log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_id)}).json()
    assert (log[0]["action"], log[0]["result"]) == ("pull", "failed")

    pull(client, connection_id)  # seen again: still shown, logged once
    again = invoice(client, invoice_id)
    assert (again["status"], again["accounting"]["status"]) == ("awaiting_payment", "out_of_date")
    log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_id)}).json()
    assert [entry["action"] for entry in log].count("pull") == 1

    # The operator does as the message says and voids it here too: both sides agree again.
    assert client.post(f"/api/v1/invoices/{invoice_id}/void").status_code == 200
    drain(ctx)
    settled = invoice(client, invoice_id)
    assert settled["status"] == "voided"
    assert (settled["accounting"]["status"], settled["accounting"]["remote_status"]) == ("synced", "VOIDED")
    assert settled["accounting"]["error"] is None
    assert_one_remote_twin_each(ctx, sandbox, [invoice_id])


def test_syncing_again_an_invoice_voided_in_xero_keeps_it_out_of_date(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    external_id = invoice(client, invoice_id)["accounting"]["external_id"]
    assert httpx.post(f"{sandbox.xero_url}/_sandbox/invoices/{external_id}/void").status_code == 200
    pull(client, connection_id)
    assert invoice(client, invoice_id)["accounting"]["status"] == "out_of_date"

    # The operator asks for it to be synced again (the docs: "fix the cause and sync again"), or runs
    # `flexbill sync --all-pending`, which picks every out_of_date record.
    assert client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(invoice_id)]}).status_code == 202
    drain(ctx)

    here = invoice(client, invoice_id)
    assert here["status"] == "awaiting_payment"
    assert remote_invoice(sandbox, external_id).status == "VOIDED"
    # Xero has it voided and flexbill does not: it is not "as the books have it".
    assert here["accounting"]["status"] == "out_of_date", here["accounting"]
    assert here["accounting"]["error"], here["accounting"]


# --- 6. the way back when webhooks are lost, or flexbill was stopped ------------------------------------------


def test_a_payment_whose_webhook_was_lost_comes_back_with_the_next_poll(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"xero_webhook_key": WEBHOOK_KEY})
    with serving(create_app(ctx)) as flexbill_url:
        hooks = httpx.put(
            f"{sandbox.xero_url}/_sandbox/webhooks", json={"url": f"{flexbill_url}/webhooks/xero", "key": WEBHOOK_KEY}
        )
        assert hooks.status_code == 200, hooks.text
        connection_id = connect(client, sandbox, cat.location_id)
        map_codes(client, connection_id)
        [invoice_id] = bill_month(ctx, cat, 1)
        drain(ctx)
        external_id = invoice(client, invoice_id)["accounting"]["external_id"]
        # The webhooks of the create arrive and are taken in; this minute's poll runs: nothing more to take in.
        assert httpx.post(f"{sandbox.xero_url}/_sandbox/webhooks/flush").status_code == 200
        worker = Worker(ctx, default_handlers(ctx), recurring=default_recurring(ctx), poll_interval=0.05)
        worker.run_until_idle()
        assert invoice(client, invoice_id)["status"] == "awaiting_payment"

        before = httpx.get(f"{sandbox.xero_url}/_sandbox/webhooks").json()["counts"]
        fault(sandbox, "drop_webhooks", "*", "*", count=50)
        total = invoice(client, invoice_id)["total"]
        pay_in_xero(sandbox, external_id, date="2026-12-03")
        assert httpx.post(f"{sandbox.xero_url}/_sandbox/webhooks/flush").status_code == 200
        after_pay = httpx.get(f"{sandbox.xero_url}/_sandbox/webhooks").json()["counts"]
        assert after_pay["dropped"] > before["dropped"], after_pay
        assert after_pay["delivered"] == before["delivered"], "every event of the payment was lost"
        worker.run_until_idle()  # same minute: no poll yet, and no webhook came
        assert invoice(client, invoice_id)["status"] == "awaiting_payment"

        clock.instant += timedelta(seconds=ctx.settings.poll_seconds)  # the next minute's poll
        worker.run_until_idle()

    after = invoice(client, invoice_id)
    assert after["status"] == "paid"
    assert payments_of(ctx, invoice_id) == [("accounting", Decimal(total))]
    with ctx.readers() as db:
        assert pending_count(db) == 0


def test_a_payment_made_in_xero_while_flexbill_was_stopped_is_recorded_once(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    first, second = bill_month(ctx, cat, 2)
    drain(ctx)
    Worker(ctx, default_handlers(ctx), recurring=default_recurring(ctx)).run_until_idle()  # last poll before the stop
    totals = {i: invoice(client, i)["total"] for i in (first, second)}

    # flexbill is stopped: no worker runs, nothing listens. A member pays in full, another in part.
    pay_in_xero(sandbox, invoice(client, first)["accounting"]["external_id"], date="2026-12-03")
    pay_in_xero(sandbox, invoice(client, second)["accounting"]["external_id"], date="2026-12-04", amount="100.00")

    clock.instant += timedelta(hours=3)  # started again three hours later
    restarted = Worker(ctx, default_handlers(ctx), recurring=default_recurring(ctx))
    restarted.run_until_idle()
    assert invoice(client, first)["status"] == "paid"
    assert invoice(client, second)["status"] == "partially_paid"

    clock.instant += timedelta(seconds=ctx.settings.poll_seconds)
    restarted.run_until_idle()  # the next poll sees them again (the overlap), and a pull on request too
    pull(client, connection_id)
    assert payments_of(ctx, first) == [("accounting", Decimal(totals[first]))]
    assert payments_of(ctx, second) == [("accounting", Decimal("100.00"))]
    assert invoice(client, second)["amount_due"] == str(Decimal(totals[second]) - Decimal("100.00"))
    with ctx.readers() as db:
        taken = db.scalars(select(SyncRecordRow).where(SyncRecordRow.kind == "payment")).all()
    assert [r.status for r in taken] == ["synced", "synced"]
    assert len([p for p in sandbox.xero.org.payments.values() if p.status != "DELETED"]) == 2, "never sent back"


# --- 7. a payment in Xero that does not fit here -------------------------------------------------------------


def test_a_payment_in_xero_larger_than_what_is_due_here_is_not_recorded_and_the_invoice_says_why(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    here = invoice(client, invoice_id)
    total, external_id = Decimal(here["total"]), here["accounting"]["external_id"]

    # The member's part payment is recorded here; before it reaches Xero, the whole invoice is paid there.
    part = client.post(f"/api/v1/invoices/{invoice_id}/payments", json={"date": "2026-12-02", "amount": "50.00"})
    assert part.status_code == 201, part.text
    pay_in_xero(sandbox, external_id, date="2026-12-03", amount=str(total))
    pull(client, connection_id)  # runs the pull only: the part payment is still waiting

    after = invoice(client, invoice_id)
    assert payments_of(ctx, invoice_id) == [("manual", Decimal("50.00"))], "Xero's payment is not recorded"
    assert after["status"] == "partially_paid"
    error = after["accounting"]["error"]
    assert error, after["accounting"]
    assert f"a payment of {total} GBP made in the books on 2026-12-03 cannot be recorded here" in error
    assert f"the invoice is partially_paid with {total - Decimal('50.00')} GBP due" in error
    log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_id)}).json()
    assert (log[0]["action"], log[0]["result"]) == ("pull", "failed")

    # Our part payment then goes, and Xero refuses it in its own words: the invoice is paid there.
    drain(ctx)
    payment = client.get(f"/api/v1/invoices/{invoice_id}/payments").json()["items"][0]
    assert payment["accounting"]["status"] == "failed"
    assert "Authorised" in payment["accounting"]["error"], payment["accounting"]
    assert len(sandbox.xero.org.payments) == 1


# --- 8. tokens ----------------------------------------------------------------------------------------------


def test_an_expired_access_token_is_refreshed_and_the_sync_carries_on(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    invoice_ids = bill_month(ctx, cat, 2)
    expired = httpx.post(f"{sandbox.xero_url}/_sandbox/tokens/expire-access")
    assert expired.status_code == 200, expired.text
    assert expired.json()["expired"] >= 1
    drain(ctx)

    assert client.get(f"/api/v1/accounting/connections/{connection_id}").json()["status"] == "connected"
    assert {invoice(client, i)["accounting"]["status"] for i in invoice_ids} == {"synced"}
    state = remote_state(sandbox)
    assert state["calls"]["by_status"].get("401", 0) >= 1, "the old token was refused once"
    assert state["tokens"]["access_tokens_live"] >= 1
    assert_one_remote_twin_each(ctx, sandbox, invoice_ids)


def test_a_changed_secret_key_asks_for_reconnecting_and_loses_nothing(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    invoice_ids = bill_month(ctx, cat, 2)
    ctx.settings = ctx.settings.model_copy(update={"secret_key": Fernet.generate_key().decode()})
    Worker(ctx, default_handlers(ctx)).run_until_idle()

    connection = client.get(f"/api/v1/accounting/connections/{connection_id}").json()
    assert connection["status"] == "reconnect_needed"
    assert "secret key" in connection["last_error"]
    with ctx.readers() as db:
        assert pending_count(db) == 2, "the tasks wait"
    assert {invoice(client, i)["accounting"]["status"] for i in invoice_ids} == {"pending"}
    assert remote_state(sandbox)["counts"]["invoices"] == 0

    again = client.post(f"/api/v1/accounting/connections/{connection_id}/reconnect")
    assert again.status_code == 200, again.text
    consent = httpx.get(again.json()["authorize_url"], follow_redirects=False)
    callback = httpx.URL(consent.headers["location"])
    assert client.get(f"{callback.path}?{callback.query.decode()}").status_code == 200
    assert client.get(f"/api/v1/accounting/connections/{connection_id}").json()["status"] == "connected"
    drain(ctx)

    assert {invoice(client, i)["accounting"]["status"] for i in invoice_ids} == {"synced"}
    assert_one_remote_twin_each(ctx, sandbox, invoice_ids)


# --- 9. pre-flight by mode ----------------------------------------------------------------------------------


def test_manual_mode_also_refuses_issuing_what_is_not_mapped(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog
) -> None:
    settings(client, accounting_sync="manual", issue_mode="draft")
    connection_id = connect(client, sandbox, cat.location_id)
    put_mappings(client, connection_id, FULL_MAPPINGS)
    [draft_id] = bill_month(ctx, cat, 1)
    put_mappings(client, connection_id, WITHOUT_VAT)

    refused = client.post(f"/api/v1/invoices/{draft_id}/issue")
    assert refused.status_code == 422, refused.text
    assert "location LON (xero): tax rates VAT20-LON" in refused.json()["message"]
    here = invoice(client, draft_id)
    assert here["status"] == "draft"
    assert here["number"] is None

    one_member(ctx, cat, "Later Ltd")
    run = client.post("/api/v1/bill-runs", json={"date": "2026-12-01"})
    assert run.status_code == 422, run.text
    assert "tax rates VAT20-LON" in run.json()["message"]
    drain(ctx)
    assert remote_state(sandbox)["counts"]["invoices"] == 0


def test_with_sync_off_nothing_is_checked_and_nothing_is_sent(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog
) -> None:
    settings(client, accounting_sync="off", issue_mode="draft")
    connection_id = connect(client, sandbox, cat.location_id)
    put_mappings(client, connection_id, {"accounts": {}, "tax_rates": {}})  # nothing mapped at all
    calls_before = remote_state(sandbox)["calls"]["total"]
    [draft_id] = bill_month(ctx, cat, 1)

    issued = client.post(f"/api/v1/invoices/{draft_id}/issue")
    assert issued.status_code == 200, issued.text
    assert issued.json()["number"] == "LON-0001", "numbered here: Xero numbers only what it is sent"
    assert issued.json()["accounting"] == {**issued.json()["accounting"], "status": "not_synced", "provider": None}
    settings(client, issue_mode="issue")
    one_member(ctx, cat, "Later Ltd")
    run = client.post("/api/v1/bill-runs", json={"date": "2026-12-01"})
    assert run.status_code in (200, 201), run.text
    drain(ctx)

    state = remote_state(sandbox)
    assert state["counts"]["invoices"] == 0
    assert state["calls"]["total"] == calls_before
    with ctx.readers() as db:
        assert db.scalars(select(SyncRecordRow)).all() == []
    assert client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(draft_id)]}).status_code == 422


# --- 10. the log --------------------------------------------------------------------------------------------


def test_the_log_shows_the_create_and_the_pull_of_an_invoice_paid_in_xero(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    here = invoice(client, invoice_id)
    clock.instant += timedelta(hours=1)
    pay_in_xero(sandbox, here["accounting"]["external_id"], date="2026-12-05")
    pull(client, connection_id)

    log = client.get("/api/v1/accounting/log", params={"kind": "invoice", "record_id": str(invoice_id)})
    assert log.status_code == 200, log.text
    entries = log.json()
    actions = [(entry["action"], entry["result"]) for entry in entries]
    assert actions[0] == ("pull", "ok"), actions  # newest first
    assert actions[-1] == ("create", "ok"), actions
    assert set(actions) <= {("pull", "ok"), ("pdf", "ok"), ("create", "ok")}, actions
    assert f"payment of {here['total']} on 2026-12-05 recorded from the books" in entries[0]["detail"]
    assert here["accounting"]["external_id"] in entries[-1]["detail"]
    assert here["number"] in entries[-1]["detail"]
    assert {entry["connection_id"] for entry in entries} == {connection_id}
    assert entries[0]["at"] > entries[-1]["at"]
