"""The sync rules an operator relies on, for every accounting system: each a real scenario over real HTTP against
the system's sandbox.

Drafts held until they are issued where the books have none; our own numbering; mappings removed and fixed; voids
both ways; payments made in the books while webhooks were lost or flexbill was stopped; a payment that does not
fit; tokens that expire or can no longer be read; the pre-flight in each mode; and the log an operator reads to
know what happened.
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
from flexbill.tasks.service import pending_count
from flexbill.web.app import create_app
from flexbill.worker import Worker, default_handlers, default_recurring
from tests.contract.books import Books
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


# --- helpers ---------------------------------------------------------------------------------------------------


def settings(client: TestClient, **rules: object) -> None:
    changed = client.patch("/api/v1/settings/billing", json=rules)
    assert changed.status_code == 200, changed.text


def put_mappings(client: TestClient, connection_id: str, mappings: dict[str, object]) -> None:
    mapped = client.put(f"/api/v1/accounting/connections/{connection_id}/mappings", json=mappings)
    assert mapped.status_code == 200, mapped.text


def without_vat(books: Books) -> dict[str, object]:
    """The books' mappings with the VAT rate's taken out (the zero rate stays mapped)."""
    full = books.mappings()
    tax_rates: dict[str, str] = full["tax_rates"]  # type: ignore[assignment]
    return {**full, "tax_rates": {code: target for code, target in tax_rates.items() if code != "VAT20-LON"}}


def invoice(client: TestClient, invoice_id: uuid.UUID) -> dict[str, Any]:
    found = client.get(f"/api/v1/invoices/{invoice_id}")
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def pull(client: TestClient, books: Books, connection_id: str) -> None:
    """A pull on request, as the operator asks for one: it runs now and the answer waits for it."""
    books.let_the_rate_limit_come_round()
    pulled = client.post(f"/api/v1/accounting/connections/{connection_id}/pull")
    assert pulled.status_code == 200, pulled.text
    assert pulled.json()["status"] == "done", pulled.json()


def pay_there(books: Books, external_id: str, **body: object) -> None:
    paid = books.pay(external_id, **body)
    assert paid.status_code == 200, paid.text


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


def reconnect(client: TestClient, connection_id: str) -> None:
    """The operator reconnects: consent again (the sandbox agrees at once), and come back."""
    again = client.post(f"/api/v1/accounting/connections/{connection_id}/reconnect")
    assert again.status_code == 200, again.text
    consent = httpx.get(again.json()["authorize_url"], follow_redirects=False)
    callback = httpx.URL(consent.headers["location"])
    assert client.get(f"{callback.path}?{callback.query.decode()}").status_code == 200
    assert client.get(f"/api/v1/accounting/connections/{connection_id}").json()["status"] == "connected"


# --- 1. drafts: held here until issued where the books have none -----------------------------------------------


def test_drafts_go_as_drafts_only_to_books_that_have_them_and_once_issued_here_numbered_by_the_books(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    settings(client, issue_mode="draft")
    connected(client, books, cat)
    issued, kept, _third = bill_month(ctx, cat, 3)
    drain(ctx)

    drafts_there = 3 if books.has_drafts else 0
    assert books.counts()["invoices"] == drafts_there
    assert [doc.draft for doc in books.invoices()] == [True] * drafts_there
    held = invoice(client, kept)
    assert (held["status"], held["number"]) == ("draft", None), "a draft has no number here"
    assert held["accounting"]["status"] == ("synced" if books.has_drafts else "not_synced"), held["accounting"]

    done = client.post(f"/api/v1/invoices/{issued}/issue")
    assert done.status_code == 200, done.text
    drain(ctx)

    here = invoice(client, issued)
    assert here["status"] == "awaiting_payment"
    assert here["accounting"]["status"] == "synced", here["accounting"]
    twin = books.invoice(here["accounting"]["external_id"])
    assert not twin.draft
    assert here["number"] == twin.number == here["accounting"]["number"]
    assert here["number"] in books.first_numbers(3), "numbered by the books"
    assert twin.total == Decimal(here["total"])
    assert books.counts()["invoices"] == (drafts_there or 1), "updated in place, or sent once issued: never twice"
    assert invoice(client, kept)["accounting"]["status"] == held["accounting"]["status"], "the others wait"


# --- 2. our own numbers -------------------------------------------------------------------------------------------


def test_flexbill_numbering_sends_our_numbers_and_a_number_the_books_have_fails_that_invoice_only(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    patched = client.patch(f"/api/v1/accounting/connections/{connection_id}", json={"numbering": "flexbill"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["numbering"] == "flexbill"
    books.add_foreign_invoice("LON-0002")  # someone typed an invoice numbered LON-0002 straight into the books

    invoice_ids = bill_month(ctx, cat, 3)
    numbers = {invoice(client, i)["number"]: i for i in invoice_ids}
    assert sorted(numbers) == ["LON-0001", "LON-0002", "LON-0003"], "our numbers, given at issue"
    drain(ctx)

    for number in ("LON-0001", "LON-0003"):
        here = invoice(client, numbers[number])
        assert here["number"] == number, "kept"
        assert here["accounting"]["status"] == "synced", here["accounting"]
        assert here["accounting"]["number"] == number
        assert books.invoice(here["accounting"]["external_id"]).number == number
    clashed = invoice(client, numbers["LON-0002"])
    assert clashed["number"] == "LON-0002"
    assert clashed["accounting"]["status"] == "failed"
    assert books.duplicate_number_words in clashed["accounting"]["error"], clashed["accounting"]
    assert clashed["accounting"]["external_id"] is None
    numbers_there = [doc.number for doc in books.invoices()]
    assert (numbers_there.count("LON-0001"), numbers_there.count("LON-0003")) == (1, 1), numbers_there
    assert numbers_there.count("LON-0002") <= 1, "the one typed there only, if the books list it with ours"


def test_flexbill_numbering_never_gives_a_draft_a_number(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    settings(client, issue_mode="draft")
    connection_id = connected(client, books, cat)
    patched = client.patch(f"/api/v1/accounting/connections/{connection_id}", json={"numbering": "flexbill"})
    assert patched.status_code == 200, patched.text
    draft_id, voided_id = bill_month(ctx, cat, 2)
    drain(ctx)
    expected = "synced" if books.has_drafts else "not_synced"
    assert {invoice(client, i)["accounting"]["status"] for i in (draft_id, voided_id)} == {expected}
    assert client.post(f"/api/v1/invoices/{voided_id}/void").status_code == 200
    drain(ctx)

    # flexbill numbers this location: a draft has no number yet, and one voided as a draft never gets one.
    assert invoice(client, draft_id)["number"] is None
    assert invoice(client, voided_id)["number"] is None


# --- 3. a mapping removed after issue, then fixed -----------------------------------------------------------------


def test_a_mapping_removed_after_issue_fails_the_records_and_fixing_it_sends_them_again(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    invoice_ids = bill_month(ctx, cat, 3)  # issued while everything was mapped: the pre-flight let it through
    put_mappings(client, connection_id, without_vat(books))  # ...and the VAT rate's mapping is removed before they go
    drain(ctx)

    assert books.counts()["invoices"] == 0, "nothing sent half-mapped"
    for invoice_id in invoice_ids:
        state = invoice(client, invoice_id)["accounting"]
        assert state["status"] == "failed"
        assert state["error"] == "not mapped in the connection: tax rate VAT20-LON", state
    log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_ids[0])}).json()
    assert [(entry["action"], entry["result"]) for entry in log] == [("send", "failed")]

    put_mappings(client, connection_id, books.mappings())  # fixed: the failed records go again by themselves
    assert {invoice(client, i)["accounting"]["status"] for i in invoice_ids} == {"pending"}
    drain(ctx)

    for invoice_id in invoice_ids:
        here = invoice(client, invoice_id)
        assert here["accounting"]["status"] == "synced", here["accounting"]
        assert here["accounting"]["error"] is None
        assert here["number"] == here["accounting"]["number"]
    assert_one_remote_twin_each(ctx, books, invoice_ids)


def test_fixing_a_mapping_also_sends_the_payment_that_failed_with_its_invoice(
    ctx: Context, clock: FixedClock, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    [invoice_id] = bill_month(ctx, cat, 1)
    put_mappings(client, connection_id, without_vat(books))
    drain(ctx)
    paid = client.post(f"/api/v1/invoices/{invoice_id}/payments", json={"date": "2026-12-02", "amount": "50.00"})
    assert paid.status_code == 201, paid.text
    drain(ctx)
    payment = client.get(f"/api/v1/invoices/{invoice_id}/payments").json()["items"][0]
    assert payment["accounting"]["status"] == "failed"
    assert payment["accounting"]["error"].startswith("its invoice is not in the books: not mapped")

    put_mappings(client, connection_id, books.mappings())
    drain_in_time(ctx, clock)  # the payment may come first and wait for its invoice

    payment = client.get(f"/api/v1/invoices/{invoice_id}/payments").json()["items"][0]
    assert payment["accounting"]["status"] == "synced", payment["accounting"]
    assert invoice(client, invoice_id)["accounting"]["status"] == "synced"
    assert_one_remote_twin_each(ctx, books, [invoice_id])
    external_id = invoice(client, invoice_id)["accounting"]["external_id"]
    assert books.invoice(external_id).amount_paid == Decimal("50.00")


# --- 4. voids made here ---------------------------------------------------------------------------------------


def test_voiding_a_synced_invoice_voids_it_in_the_books(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connected(client, books, cat)
    voided, kept = bill_month(ctx, cat, 2)
    drain(ctx)
    external_id = invoice(client, voided)["accounting"]["external_id"]
    assert not books.invoice(external_id).voided

    answer = client.post(f"/api/v1/invoices/{voided}/void")
    assert answer.status_code == 200, answer.text
    assert answer.json()["accounting"]["status"] == "pending"
    drain(ctx)

    after = invoice(client, voided)
    assert books.invoice(external_id).voided
    assert after["accounting"]["status"] == "synced"
    assert after["accounting"]["remote_status"] == books.voided_status
    assert not books.invoice(invoice(client, kept)["accounting"]["external_id"]).voided
    assert_one_remote_twin_each(ctx, books, [voided, kept])


def test_voiding_an_invoice_never_sent_in_manual_mode_sends_nothing(
    ctx: Context, client: TestClient, books: Books, cat: Catalog
) -> None:
    settings(client, accounting_sync="manual")
    connected(client, books, cat)
    voided, other = bill_month(ctx, cat, 2)
    calls_before = books.calls_made()

    assert client.post(f"/api/v1/invoices/{voided}/void").status_code == 200
    drain(ctx)

    after = invoice(client, voided)
    assert after["status"] == "voided"
    assert after["accounting"]["status"] == "not_synced"
    assert after["accounting"]["external_id"] is None
    assert invoice(client, other)["accounting"]["status"] == "not_synced"
    assert books.counts()["invoices"] == 0
    assert books.calls_made() == calls_before, "not a single call to the books"


# --- 5. voided in the books only ------------------------------------------------------------------------------


def test_an_invoice_voided_in_the_books_is_shown_out_of_date_and_never_voided_here(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    external_id = invoice(client, invoice_id)["accounting"]["external_id"]

    voided_there = books.void(external_id)
    assert voided_there.status_code == 200, voided_there.text
    pull(client, books, connection_id)

    here = invoice(client, invoice_id)
    assert here["status"] == "awaiting_payment", "never voided silently"
    assert here["accounting"]["status"] == "out_of_date"
    assert here["accounting"]["remote_status"] == books.voided_status
    assert f"voided in {books.provider} but not here" in here["accounting"]["error"], here["accounting"]
    log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_id)}).json()
    assert (log[0]["action"], log[0]["result"]) == ("pull", "failed")

    pull(client, books, connection_id)  # seen again: still shown, logged once
    again = invoice(client, invoice_id)
    assert (again["status"], again["accounting"]["status"]) == ("awaiting_payment", "out_of_date")
    log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_id)}).json()
    assert [entry["action"] for entry in log].count("pull") == 1

    # The operator does as the message says and voids it here too: both sides agree again.
    assert client.post(f"/api/v1/invoices/{invoice_id}/void").status_code == 200
    drain(ctx)
    settled = invoice(client, invoice_id)
    assert settled["status"] == "voided"
    assert (settled["accounting"]["status"], settled["accounting"]["remote_status"]) == ("synced", books.voided_status)
    assert settled["accounting"]["error"] is None
    assert_one_remote_twin_each(ctx, books, [invoice_id])


def test_syncing_again_an_invoice_voided_in_the_books_keeps_it_out_of_date(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    external_id = invoice(client, invoice_id)["accounting"]["external_id"]
    assert books.void(external_id).status_code == 200
    pull(client, books, connection_id)
    assert invoice(client, invoice_id)["accounting"]["status"] == "out_of_date"

    # The operator asks for it to be synced again (the docs: "fix the cause and sync again"), or runs
    # `flexbill sync --all-pending`, which picks every out_of_date record.
    assert client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(invoice_id)]}).status_code == 202
    drain(ctx)

    here = invoice(client, invoice_id)
    assert here["status"] == "awaiting_payment"
    assert books.invoice(external_id).voided
    # The books have it voided and flexbill does not: it is not "as the books have it".
    assert here["accounting"]["status"] == "out_of_date", here["accounting"]
    assert here["accounting"]["error"], here["accounting"]


# --- 6. the way back when webhooks are lost, or flexbill was stopped ------------------------------------------


def test_a_payment_whose_webhook_was_lost_comes_back_with_the_next_poll(
    ctx: Context, clock: FixedClock, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    ctx.settings = ctx.settings.model_copy(update={f"{books.provider}_webhook_key": WEBHOOK_KEY})
    with serving(create_app(ctx)) as flexbill_url:
        books.receive_webhooks(f"{flexbill_url}/webhooks/{books.provider}", WEBHOOK_KEY)
        connected(client, books, cat)
        [invoice_id] = bill_month(ctx, cat, 1)
        drain(ctx)
        external_id = invoice(client, invoice_id)["accounting"]["external_id"]
        # The webhooks of the create arrive and are taken in; this minute's poll runs: nothing more to take in.
        books.flush_webhooks()
        worker = Worker(ctx, default_handlers(ctx), recurring=default_recurring(ctx), poll_interval=0.05)
        books.let_the_rate_limit_come_round()
        worker.run_until_idle()
        assert invoice(client, invoice_id)["status"] == "awaiting_payment"

        before = books.webhook_counts()
        books.drop_webhooks(50)
        total = invoice(client, invoice_id)["total"]
        pay_there(books, external_id, date="2026-12-03")
        books.flush_webhooks()
        after_pay = books.webhook_counts()
        assert after_pay["dropped"] > before["dropped"], after_pay
        assert after_pay["delivered"] == before["delivered"], "every notice of the payment was lost"
        worker.run_until_idle()  # same minute: no poll yet, and no webhook came
        assert invoice(client, invoice_id)["status"] == "awaiting_payment"

        clock.instant += timedelta(seconds=ctx.settings.poll_seconds)  # the next minute's poll
        books.let_the_rate_limit_come_round()
        worker.run_until_idle()

    after = invoice(client, invoice_id)
    assert after["status"] == "paid"
    assert payments_of(ctx, invoice_id) == [("accounting", Decimal(total))]
    with ctx.readers() as db:
        assert pending_count(db) == 0


def test_a_payment_made_in_the_books_while_flexbill_was_stopped_is_recorded_once(
    ctx: Context, clock: FixedClock, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    first, second = bill_month(ctx, cat, 2)
    drain(ctx)
    books.let_the_rate_limit_come_round()
    Worker(ctx, default_handlers(ctx), recurring=default_recurring(ctx)).run_until_idle()  # last poll before the stop
    totals = {i: invoice(client, i)["total"] for i in (first, second)}

    # flexbill is stopped: no worker runs, nothing listens. A member pays in full, another in part.
    pay_there(books, invoice(client, first)["accounting"]["external_id"], date="2026-12-03")
    pay_there(books, invoice(client, second)["accounting"]["external_id"], date="2026-12-04", amount="100.00")

    clock.instant += timedelta(hours=3)  # started again three hours later
    restarted = Worker(ctx, default_handlers(ctx), recurring=default_recurring(ctx))
    books.let_the_rate_limit_come_round()
    restarted.run_until_idle()
    assert invoice(client, first)["status"] == "paid"
    assert invoice(client, second)["status"] == "partially_paid"

    clock.instant += timedelta(seconds=ctx.settings.poll_seconds)
    books.let_the_rate_limit_come_round()
    restarted.run_until_idle()  # the next poll sees them again (the overlap), and a pull on request too
    pull(client, books, connection_id)
    assert payments_of(ctx, first) == [("accounting", Decimal(totals[first]))]
    assert payments_of(ctx, second) == [("accounting", Decimal("100.00"))]
    assert invoice(client, second)["amount_due"] == str(Decimal(totals[second]) - Decimal("100.00"))
    with ctx.readers() as db:
        taken = db.scalars(select(SyncRecordRow).where(SyncRecordRow.kind == "payment")).all()
    assert [r.status for r in taken] == ["synced", "synced"]
    assert books.counts()["payments"] == 2, "never sent back"


# --- 7. a payment in the books that does not fit here --------------------------------------------------------


def test_a_payment_in_the_books_larger_than_what_is_due_here_is_not_recorded_and_the_invoice_says_why(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    here = invoice(client, invoice_id)
    total, external_id = Decimal(here["total"]), here["accounting"]["external_id"]

    # The member's part payment is recorded here; before it reaches the books, the whole invoice is paid there.
    part = client.post(f"/api/v1/invoices/{invoice_id}/payments", json={"date": "2026-12-02", "amount": "50.00"})
    assert part.status_code == 201, part.text
    pay_there(books, external_id, date="2026-12-03", amount=str(total))
    pull(client, books, connection_id)  # runs the pull only: the part payment is still waiting

    after = invoice(client, invoice_id)
    assert payments_of(ctx, invoice_id) == [("manual", Decimal("50.00"))], "the books' payment is not recorded"
    assert after["status"] == "partially_paid"
    error = after["accounting"]["error"]
    assert error, after["accounting"]
    assert f"a payment of {total} GBP made in the books on 2026-12-03 cannot be recorded here" in error
    assert f"the invoice is partially_paid with {total - Decimal('50.00')} GBP due" in error
    log = client.get("/api/v1/accounting/log", params={"record_id": str(invoice_id)}).json()
    assert (log[0]["action"], log[0]["result"]) == ("pull", "failed")

    # Our part payment then goes, and the books refuse it in their own words: the invoice is paid there.
    drain(ctx)
    payment = client.get(f"/api/v1/invoices/{invoice_id}/payments").json()["items"][0]
    assert payment["accounting"]["status"] == "failed"
    assert books.paid_in_full_words in payment["accounting"]["error"], payment["accounting"]
    assert books.counts()["payments"] == 1
    assert books.invoice(external_id).amount_paid == total


# --- 8. tokens ----------------------------------------------------------------------------------------------


def test_an_expired_access_token_is_refreshed_and_the_sync_carries_on(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    invoice_ids = bill_month(ctx, cat, 2)
    assert books.expire_access_tokens() >= 1
    drain(ctx)

    assert client.get(f"/api/v1/accounting/connections/{connection_id}").json()["status"] == "connected"
    assert {invoice(client, i)["accounting"]["status"] for i in invoice_ids} == {"synced"}
    assert books.calls_refused_for_the_token() >= 1, "the old token was refused once"
    assert books.live_access_tokens() >= 1
    assert_one_remote_twin_each(ctx, books, invoice_ids)


def test_a_changed_secret_key_asks_for_reconnecting_and_loses_nothing(
    ctx: Context, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    invoice_ids = bill_month(ctx, cat, 2)
    ctx.settings = ctx.settings.model_copy(update={"secret_key": Fernet.generate_key().decode()})
    Worker(ctx, default_handlers(ctx)).run_until_idle()

    connection = client.get(f"/api/v1/accounting/connections/{connection_id}").json()
    assert connection["status"] == "reconnect_needed"
    assert "secret key" in connection["last_error"]
    with ctx.readers() as db:
        assert pending_count(db) == 2, "the tasks wait"
    assert {invoice(client, i)["accounting"]["status"] for i in invoice_ids} == {"pending"}
    assert books.counts()["invoices"] == 0

    reconnect(client, connection_id)
    drain(ctx)

    assert {invoice(client, i)["accounting"]["status"] for i in invoice_ids} == {"synced"}
    assert_one_remote_twin_each(ctx, books, invoice_ids)


# --- 9. pre-flight by mode ----------------------------------------------------------------------------------


def test_manual_mode_also_refuses_issuing_what_is_not_mapped(
    ctx: Context, client: TestClient, books: Books, cat: Catalog
) -> None:
    settings(client, accounting_sync="manual", issue_mode="draft")
    connection_id = connected(client, books, cat)
    [draft_id] = bill_month(ctx, cat, 1)
    put_mappings(client, connection_id, without_vat(books))

    refused = client.post(f"/api/v1/invoices/{draft_id}/issue")
    assert refused.status_code == 422, refused.text
    assert f"location LON ({books.provider}): tax rates VAT20-LON" in refused.json()["message"]
    here = invoice(client, draft_id)
    assert here["status"] == "draft"
    assert here["number"] is None

    one_member(ctx, cat, "Later Ltd")
    run = client.post("/api/v1/bill-runs", json={"date": "2026-12-01"})
    assert run.status_code == 422, run.text
    assert "tax rates VAT20-LON" in run.json()["message"]
    drain(ctx)
    assert books.counts()["invoices"] == 0


def test_with_sync_off_nothing_is_checked_and_nothing_is_sent(
    ctx: Context, client: TestClient, books: Books, cat: Catalog
) -> None:
    settings(client, accounting_sync="off", issue_mode="draft")
    connection_id = connect(client, books, cat.location_id)
    put_mappings(client, connection_id, {"accounts": {}, "tax_rates": {}})  # nothing mapped at all
    calls_before = books.calls_made()
    [draft_id] = bill_month(ctx, cat, 1)

    issued = client.post(f"/api/v1/invoices/{draft_id}/issue")
    assert issued.status_code == 200, issued.text
    assert issued.json()["number"] == "LON-0001", "numbered here: the books number only what they are sent"
    assert issued.json()["accounting"] == {**issued.json()["accounting"], "status": "not_synced", "provider": None}
    settings(client, issue_mode="issue")
    one_member(ctx, cat, "Later Ltd")
    run = client.post("/api/v1/bill-runs", json={"date": "2026-12-01"})
    assert run.status_code in (200, 201), run.text
    drain(ctx)

    assert books.counts()["invoices"] == 0
    assert books.calls_made() == calls_before
    with ctx.readers() as db:
        assert db.scalars(select(SyncRecordRow)).all() == []
    assert client.post("/api/v1/invoices/sync", json={"invoice_ids": [str(draft_id)]}).status_code == 422


# --- 10. the log --------------------------------------------------------------------------------------------


def test_the_log_shows_the_create_and_the_pull_of_an_invoice_paid_in_the_books(
    ctx: Context, clock: FixedClock, client: TestClient, books: Books, cat: Catalog, auto_sync: None
) -> None:
    connection_id = connected(client, books, cat)
    [invoice_id] = bill_month(ctx, cat, 1)
    drain(ctx)
    here = invoice(client, invoice_id)
    clock.instant += timedelta(hours=1)
    pay_there(books, here["accounting"]["external_id"], date="2026-12-05")
    pull(client, books, connection_id)

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
