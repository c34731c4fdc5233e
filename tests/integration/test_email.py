"""Email end to end: the billing rules queue emails in the outbox, the worker sends them over real SMTP to a mail
server on loopback (aiosmtpd, see tests/mail.py), and each is checked as its recipient gets it: sender, reply-to,
subject, the PDF attached, the pay link.

The worst failures are an email lost and an email sent twice, so most of these tests break something on
purpose: the mail server stopped, a recipient refused, the connection dropped after the data, a worker dead
mid-send, two workers at once. The test clock stands at 26 Nov 2026 12:00 UTC; the bill run of 1 Dec 2026 issues
invoices due on 15 Dec 2026 (the default 14 days).
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select, update

from flexbill.access.model import Role
from flexbill.accounting.store import AccountingDocumentRow
from flexbill.billing.service import BillingRulesChanges, run_bill_run, update_billing_rules
from flexbill.bootstrap import Context
from flexbill.catalog import service as catalog
from flexbill.clock import FixedClock
from flexbill.customers import service as customers
from flexbill.invoicing import service as invoicing
from flexbill.invoicing.store import InvoiceRow
from flexbill.links import pay_url
from flexbill.notify import service as notify
from flexbill.notify.capture import start_capture
from flexbill.notify.handlers import STALE_SEND
from flexbill.notify.service import SEND_TASK
from flexbill.notify.store import EmailRow
from flexbill.sandbox.server import RunningSandbox
from flexbill.tasks import service as tasks
from flexbill.tasks.store import TaskRow
from flexbill.worker import MAX_ATTEMPTS, Worker, default_handlers
from tests.conftest import NOW
from tests.integration.test_xero_sync import connect, drain_in_time, fault, map_codes
from tests.mail import MailSink
from tests.support import Catalog, make_catalog, make_customer
from tests.web import browser, signed_in_staff

API = "/api/v1"
BILLING_DAY = date(2026, 12, 1)
FROM = "billing@flexbill.localhost"


# --- a space, its bill run, and the worker ------------------------------------------------------------------------


def make_space(
    ctx: Context, members: int, *, auto_send: bool = True, issue_mode: str = "issue", reminder_days: int | None = None
) -> Catalog:
    """A location that signs its emails "Hive London", and ``members`` members (m00@example.com, ...) each with
    a hot desk from 1 Nov 2026."""
    with ctx.sessions() as db, db.begin():
        cat = make_catalog(db)
        catalog.update_location(
            db,
            cat.location_id,
            catalog.LocationChanges(
                email_sender_name="Hive London", email_reply_to="hello@hive.example", email="desk@hive.example",
                address="1 High Street\nLondon", phone="020 7946 0000",
            ),
        )  # fmt: skip
        rules = BillingRulesChanges(auto_send=auto_send, issue_mode=issue_mode, reminder_days=reminder_days)  # type: ignore[arg-type]
        update_billing_rules(db, rules)
        for index in range(members):
            add_member(db, cat, f"M{index:02} Ltd")
    return cat


def add_member(db: Any, cat: Catalog, name: str) -> uuid.UUID:
    customer_id = make_customer(db, cat, name=name)
    customers.create_membership(
        db,
        customers.NewMembership(
            customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id, start_date=date(2026, 11, 1)
        ),
    )
    return customer_id


def bill(ctx: Context) -> list[uuid.UUID]:
    return run_bill_run(ctx.sessions, ctx.clock, BILLING_DAY).invoice_ids


def run_worker(ctx: Context, worker_id: str = "w1") -> None:
    Worker(ctx, default_handlers(ctx), worker_id=worker_id, poll_interval=0.05).run_until_idle()


def run_retries(ctx: Context, clock: FixedClock, rounds: int) -> None:
    """Run the worker ``rounds`` times, moving the clock on to each retry as it falls due."""
    for _ in range(rounds):
        run_worker(ctx)
        with ctx.readers() as db:
            due = tasks.next_due_at(db, [SEND_TASK], clock.now())
        if due is None:
            return
        clock.instant = max(clock.instant, due)


def emails(ctx: Context, invoice_id: uuid.UUID | None = None) -> list[EmailRow]:
    with ctx.readers() as db:
        query = select(EmailRow).order_by(EmailRow.created_at, EmailRow.id)
        if invoice_id is not None:
            query = query.where(EmailRow.invoice_id == invoice_id)
        return list(db.scalars(query))


def invoice(ctx: Context, invoice_id: uuid.UUID) -> InvoiceRow:
    with ctx.readers() as db:
        row = db.get(InvoiceRow, invoice_id)
        assert row is not None
        return row


def task_of(ctx: Context, email: EmailRow) -> tasks.TaskInfo:
    with ctx.readers() as db:
        return tasks.tasks_by_key(db, [f"email:{email.id}"])[f"email:{email.id}"]


def pdf_text(message: EmailMessage) -> tuple[str, str]:
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    content = attachment.get_content()
    assert isinstance(content, bytes)
    return attachment.get_filename() or "", "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(content)).pages
    )


def bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def set_rules(ctx: Context, **changes: Any) -> None:
    with ctx.sessions() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(**changes))


# --- the billing rules ----------------------------------------------------------------------------------------------


def test_with_auto_send_off_nothing_is_mailed(ctx: Context, mail: MailSink) -> None:
    make_space(ctx, 2, auto_send=False)
    bill(ctx)
    run_worker(ctx)

    assert emails(ctx) == []
    assert mail.messages == []


def test_a_bill_run_mails_each_invoice_once_with_its_pdf_and_pay_link(
    ctx: Context, client: TestClient, mail: MailSink
) -> None:
    make_space(ctx, 3)
    invoice_ids = bill(ctx)
    assert len(emails(ctx)) == 3, "queued with the invoices, in the bill run's transaction"
    run_worker(ctx)
    run_worker(ctx)  # nothing is left to send
    bill(ctx)  # the same bill run again issues nothing, and mails nothing
    run_worker(ctx)

    assert len(mail.messages) == 3
    for index, invoice_id in enumerate(invoice_ids):
        row = invoice(ctx, invoice_id)
        [message] = mail.to(f"m{index:02}@example.com")
        [email] = emails(ctx, invoice_id)
        sender = message["From"].addresses[0]
        assert (sender.display_name, sender.addr_spec) == ("Hive London", FROM)
        assert message["Reply-To"] == "hello@hive.example"
        assert message["Subject"] == f"Invoice {row.number} from Hive London"
        assert message["Message-ID"] == f"<{email.id}@flexbill>"
        filename, text = pdf_text(message)
        assert filename == f"{row.number}.pdf"
        assert row.number in text
        plain, html = bodies(message)
        link = pay_url(ctx.settings, invoice_id)
        assert link in plain
        assert f'href="{link}"' in html
        assert f"Total:          £{row.total:,.2f}" in plain
        assert "Pay online" in html

        listed = client.get(f"{API}/invoices/{invoice_id}/emails")
        assert listed.status_code == 200, listed.text
        [item] = listed.json()["items"]
        assert (item["kind"], item["status"], item["attempts"], item["requested_by"]) == ("invoice", "sent", 1, "auto")
        assert item["to"] == f"m{index:02}@example.com"
        assert datetime.fromisoformat(item["sent_at"]) == NOW
        assert item["last_error"] is None


def test_emails_queued_in_bulk_are_queued_once_with_one_task_each(
    ctx: Context, mail: MailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "COPY_FROM", 2)  # PostgreSQL takes these three by COPY, as a bill run's thousands
    make_space(ctx, 3)
    set_rules(ctx, auto_send=False)
    invoice_ids = bill(ctx)
    set_rules(ctx, auto_send=True)
    issued = [(invoice_id, invoice(ctx, invoice_id).location_id) for invoice_id in invoice_ids]
    for _ in range(2):
        with ctx.sessions() as db, db.begin():
            notify.invoices_issued(db, NOW, issued)

    queued = emails(ctx)
    assert sorted(email.invoice_id for email in queued) == sorted(invoice_ids)
    with ctx.readers() as db:
        sends = db.execute(select(TaskRow.key, TaskRow.payload, TaskRow.status).where(TaskRow.kind == SEND_TASK)).all()
    assert sorted(sends) == sorted((f"email:{e.id}", {"email_id": str(e.id)}, "pending") for e in queued)
    assert {(email.status, email.message_id) for email in queued} == {("pending", f"<{e.id}@flexbill>") for e in queued}
    run_worker(ctx)
    assert sorted(message["To"] for message in mail.messages) == [f"m{n:02}@example.com" for n in range(3)]


def test_two_workers_at_once_send_each_email_once(ctx: Context, mail: MailSink) -> None:
    make_space(ctx, 12)
    bill(ctx)
    workers = [threading.Thread(target=run_worker, args=(ctx, f"w{n}")) for n in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)

    ids = [message["Message-ID"] for message in mail.messages]
    assert len(ids) == 12
    assert len(set(ids)) == 12
    assert {email.status for email in emails(ctx)} == {"sent"}


# --- bad days at the mail server ------------------------------------------------------------------------------------


def test_with_the_mail_server_down_emails_wait_and_go_once_when_it_is_back(
    ctx: Context, clock: FixedClock, mail: MailSink
) -> None:
    make_space(ctx, 3)
    bill(ctx)
    mail.stop()
    run_retries(ctx, clock, rounds=3)

    waiting = emails(ctx)
    assert {email.status for email in waiting} == {"pending"}
    assert all(email.attempts == 0 for email in waiting), "never handed over"
    assert all(
        (email.last_error or "").startswith(f"could not connect to the mail server 127.0.0.1:{mail.port}")
        for email in waiting
    )
    assert {task_of(ctx, email).status for email in waiting} == {"pending"}

    mail.start()
    run_retries(ctx, clock, rounds=3)
    clock.instant += timedelta(days=1)
    run_worker(ctx)

    assert len(mail.messages) == 3
    assert sorted(message["To"] for message in mail.messages) == [f"m{n:02}@example.com" for n in range(3)]
    assert {(email.status, email.last_error) for email in emails(ctx)} == {("sent", None)}


def test_a_mail_server_down_for_good_fails_the_email_with_its_error(
    ctx: Context, clock: FixedClock, mail: MailSink
) -> None:
    make_space(ctx, 1)
    bill(ctx)
    mail.stop()
    run_retries(ctx, clock, rounds=MAX_ATTEMPTS + 2)

    [email] = emails(ctx)
    assert email.status == "failed"
    assert (email.last_error or "").startswith(f"gave up after {MAX_ATTEMPTS} attempts: could not connect")
    assert task_of(ctx, email).status == "failed"
    mail.start()
    clock.instant += timedelta(days=1)
    run_worker(ctx)
    assert mail.messages == [], "a failed email waits for staff to send it again"


def test_a_deferred_recipient_is_retried_and_a_refused_one_fails_with_the_servers_words(
    ctx: Context, clock: FixedClock, mail: MailSink
) -> None:
    make_space(ctx, 3)
    invoice_ids = bill(ctx)
    refusal = "550 5.1.1 <m00@example.com>: Recipient address rejected: User unknown in local recipient table"
    mail.refuse["m00@example.com"] = refusal
    mail.defer["m01@example.com"] = "451 4.7.1 Greylisted, please try again later"
    run_worker(ctx)

    [refused], [deferred], [sent] = (emails(ctx, invoice_id) for invoice_id in invoice_ids)
    assert refused.status == "failed"
    assert refused.last_error == f"the mail server refused the recipient m00@example.com: {refusal}"
    assert task_of(ctx, refused).status == "failed"
    assert deferred.status == "pending"
    assert "451 4.7.1 Greylisted" in (deferred.last_error or "")
    assert sent.status == "sent", "the connection carried the next message after the refusals"

    del mail.defer["m01@example.com"]
    run_retries(ctx, clock, rounds=3)
    assert sorted(message["To"] for message in mail.messages) == ["m01@example.com", "m02@example.com"]
    assert [email.status for email in emails(ctx, invoice_ids[1])] == ["sent"]


def test_an_international_address_is_sent_with_smtputf8(ctx: Context, mail: MailSink) -> None:
    cat = make_space(ctx, 0)
    with ctx.sessions() as db, db.begin():
        add_member(db, cat, "Chloé Martin")
    bill(ctx)
    run_worker(ctx)

    [message] = mail.messages
    assert message["To"] == "chloé@example.com"
    assert mail.received[0].rcpt_tos == ("chloé@example.com",)
    assert {email.status for email in emails(ctx)} == {"sent"}


def test_a_refused_login_is_retried_and_says_so(ctx: Context, clock: FixedClock) -> None:
    server = MailSink(login=("flexbill", "right"))
    server.start()
    try:
        ctx.settings = ctx.settings.model_copy(
            update={
                "smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_security": "none",
                "smtp_user": "flexbill", "smtp_password": "wrong",
            }
        )  # fmt: skip
        make_space(ctx, 1)
        bill(ctx)
        run_worker(ctx)
        [email] = emails(ctx)
        assert email.status == "pending"
        assert f"the mail server 127.0.0.1:{server.port} (none) refused the login of 'flexbill'" in (
            email.last_error or ""
        )
        assert "check FLEXBILL_SMTP_USER and FLEXBILL_SMTP_PASSWORD" in (email.last_error or "")

        ctx.settings = ctx.settings.model_copy(update={"smtp_password": "right"})
        run_retries(ctx, clock, rounds=2)
        assert [message["To"] for message in server.messages] == ["m00@example.com"]
    finally:
        server.stop()


def test_a_connection_dropped_after_the_data_is_uncertain_and_never_sent_again(
    ctx: Context, clock: FixedClock, client: TestClient, mail: MailSink
) -> None:
    make_space(ctx, 1)
    [invoice_id] = bill(ctx)
    mail.drop_after_data = 1
    run_worker(ctx)

    [email] = emails(ctx)
    assert email.status == "uncertain"
    assert "may or may not have been delivered" in (email.last_error or "")
    assert email.message_id in (email.last_error or ""), "the Message-ID to look for is in the error"
    assert task_of(ctx, email).status == "failed"
    assert len(mail.messages) == 1, "the server did get it"
    clock.instant += timedelta(days=1)
    run_worker(ctx)
    assert len(mail.messages) == 1, "an uncertain email is not sent again by itself"

    # Staff decide: the member did not get it, so it goes again, as an email of its own.
    sent = client.post(f"{API}/invoices/{invoice_id}/send")
    assert sent.status_code == 202, sent.text
    run_worker(ctx)
    assert len(mail.messages) == 2
    listed = client.get(f"{API}/invoices/{invoice_id}/emails").json()["items"]
    assert [(item["status"], item["requested_by"]) for item in listed] == [("uncertain", "auto"), ("sent", "staff")]


def test_an_email_left_sending_by_a_dead_worker_becomes_uncertain_and_is_not_sent(
    ctx: Context, clock: FixedClock, mail: MailSink
) -> None:
    make_space(ctx, 1)
    bill(ctx)
    # A worker claims the task, marks the email sending, and dies before the mail server answers.
    with ctx.sessions() as db, db.begin():
        [claimed] = tasks.claim(db, "dead-worker", clock.now(), timedelta(minutes=5), {SEND_TASK: 1})
        db.execute(update(EmailRow).values(status="sending", attempts=1))
    clock.instant += timedelta(minutes=6)  # its lease expires; another worker claims the task again
    run_worker(ctx)

    [email] = emails(ctx)
    assert (email.status, email.last_error) == ("uncertain", STALE_SEND)
    assert task_of(ctx, email).status == "done"
    assert task_of(ctx, email).attempts == 2
    assert claimed.key == f"email:{email.id}"
    assert mail.messages == []


# --- asked twice, sent once; staff send again -----------------------------------------------------------------------


def test_notices_asked_for_twice_are_queued_once_and_say_what_happened(
    ctx: Context, client: TestClient, mail: MailSink
) -> None:
    make_space(ctx, 1)
    [invoice_id] = bill(ctx)
    link = pay_url(ctx.settings, invoice_id)
    with ctx.sessions() as db, db.begin():
        payment = invoicing.record_payment(
            db, ctx.clock, invoice_id, invoicing.NewPayment(date=date(2026, 12, 2), amount=Decimal("100.00"))
        )
    still_due = invoice(ctx, invoice_id).total - Decimal("100.00")
    failure = {"reason": "Your card was declined.", "amount": str(still_due), "retry_on": "2026-12-05"}
    for _ in range(2):  # a charge reported by its own answer and by a webhook: one email each
        with ctx.sessions() as db, db.begin():
            notify.notify(db, ctx.clock.now(), "receipt", invoice_id=invoice_id, payment_id=payment.id)
            notify.notify(db, ctx.clock.now(), "payment_failed", invoice_id=invoice_id, attempt=1, context=failure)
            notify.notify(db, ctx.clock.now(), "action_required", invoice_id=invoice_id, attempt=2)
    run_worker(ctx)

    kinds = [email.kind for email in emails(ctx, invoice_id)]
    assert kinds == ["invoice", "receipt", "payment_failed", "action_required"]
    by_subject = {message["Subject"]: message for message in mail.to("m00@example.com")}
    number = invoice(ctx, invoice_id).number
    assert len(by_subject) == 4

    receipt, _ = bodies(by_subject[f"Payment received for invoice {number}"])
    assert "We have received your payment of £100.00" in receipt
    assert "Paid by:        bank transfer" in receipt
    assert f"£{still_due:,.2f} is still due on this invoice, by 15 December 2026" in receipt
    assert link in receipt
    assert list(by_subject[f"Payment received for invoice {number}"].iter_attachments()) == []

    declined, declined_html = bodies(by_subject[f"Your payment for invoice {number} did not go through"])
    assert f"We could not take the payment of £{still_due:,.2f} for invoice {number}." in declined
    assert "The reason given: Your card was declined." in declined
    assert "We will try again on 5 December 2026" in declined
    assert f'href="{link}"' in declined_html

    confirm, confirm_html = bodies(by_subject[f"Please confirm your payment for invoice {number}"])
    assert "3-D Secure" in confirm
    assert f'href="{link}"' in confirm_html


def test_notices_need_auto_send_and_say_what_is_missing(ctx: Context, mail: MailSink) -> None:
    make_space(ctx, 1, auto_send=False)
    [invoice_id] = bill(ctx)
    with ctx.sessions() as db, db.begin():
        assert notify.notify(db, NOW, "action_required", invoice_id=invoice_id, attempt=1) is None
        with pytest.raises(ValueError, match="a receipt needs the payment_id"):
            notify.notify(db, NOW, "receipt", invoice_id=invoice_id)
        with pytest.raises(ValueError, match="needs the number"):
            notify.notify(db, NOW, "payment_failed", invoice_id=invoice_id)
        with pytest.raises(ValueError, match="not invoice"):
            notify.notify(db, NOW, "invoice", invoice_id=invoice_id)
        with pytest.raises(ValueError, match="retry_on 'soon' is not a date"):
            notify.notify(db, NOW, "payment_failed", invoice_id=invoice_id, attempt=1, context={"retry_on": "soon"})
        with pytest.raises(ValueError, match="not next_retry"):
            notify.notify(db, NOW, "payment_failed", invoice_id=invoice_id, attempt=1, context={"next_retry": "x"})
    assert emails(ctx) == []


def test_staff_send_an_invoice_again_as_a_new_email_each_time(ctx: Context, client: TestClient, mail: MailSink) -> None:
    make_space(ctx, 1)
    [invoice_id] = bill(ctx)
    first = client.post(f"{API}/invoices/{invoice_id}/send")
    second = client.post(f"{API}/invoices/{invoice_id}/send", json={"to": "accounts@m00.example"})
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    assert (first.json()["status"], first.json()["to"]) == ("pending", "m00@example.com")
    assert second.json()["to"] == "accounts@m00.example"
    run_worker(ctx)

    keys = [email.dedupe_key for email in emails(ctx, invoice_id)]
    assert keys == [f"invoice:{invoice_id}", f"invoice:{invoice_id}:staff:1", f"invoice:{invoice_id}:staff:2"]
    assert len(mail.to("m00@example.com")) == 2
    [copy] = mail.to("accounts@m00.example")
    assert pdf_text(copy)[0] == f"{invoice(ctx, invoice_id).number}.pdf"

    bad = client.post(f"{API}/invoices/{invoice_id}/send", json={"to": "not an address"})
    assert bad.status_code == 422, bad.text
    assert bad.json()["field"] == "to"


def test_drafts_and_voided_invoices_are_not_sent(ctx: Context, client: TestClient, mail: MailSink) -> None:
    make_space(ctx, 1, issue_mode="draft")
    [invoice_id] = bill(ctx)
    assert emails(ctx) == [], "a draft is not mailed"
    draft = client.post(f"{API}/invoices/{invoice_id}/send")
    assert draft.status_code == 409, draft.text
    assert draft.json()["message"] == "the invoice is a draft: issue it before sending it"

    issued = client.post(f"{API}/invoices/{invoice_id}/issue")
    assert issued.status_code == 200, issued.text
    number = issued.json()["number"]
    run_worker(ctx)
    assert [message["Subject"] for message in mail.messages] == [f"Invoice {number} from Hive London"]

    assert client.post(f"{API}/invoices/{invoice_id}/void").status_code == 200
    voided = client.post(f"{API}/invoices/{invoice_id}/send")
    assert voided.status_code == 409, voided.text
    assert voided.json()["message"] == f"invoice {number} is voided: a voided invoice is not sent"
    missing = client.get(f"{API}/invoices/{uuid.uuid4()}/emails")
    assert missing.status_code == 404, missing.text


# --- reminders ------------------------------------------------------------------------------------------------------


def test_reminders_go_once_reminder_days_after_the_due_date_to_those_who_owe(ctx: Context, mail: MailSink) -> None:
    cat = make_space(ctx, 3, reminder_days=3)
    invoice_ids = bill(ctx)  # due on 15 Dec 2026
    with ctx.sessions() as db, db.begin():
        total = invoice(ctx, invoice_ids[0]).total
        invoicing.record_payment(
            db, ctx.clock, invoice_ids[0], invoicing.NewPayment(date=date(2026, 12, 3), amount=total)
        )

    def remind(day: date) -> int:
        with ctx.sessions() as db, db.begin():
            return notify.queue_reminders(db, NOW, cat.location_id, day)

    assert remind(date(2026, 12, 17)) == 0, "due + 3 days is 18 Dec"
    assert remind(date(2026, 12, 18)) == 2, "the paid invoice gets none"
    assert remind(date(2026, 12, 19)) == 0, "one reminder per invoice"
    run_worker(ctx)

    reminders = [message for message in mail.messages if message["Subject"].startswith("Payment reminder")]
    assert sorted(message["To"] for message in reminders) == ["m01@example.com", "m02@example.com"]
    for message in reminders:
        number = message["Subject"].removeprefix("Payment reminder: invoice ")
        [invoice_id] = [i for i in invoice_ids if invoice(ctx, i).number == number]
        plain, html = bodies(message)
        due = f"£{invoice(ctx, invoice_id).total:,.2f}"
        assert f"was due on 15 December 2026, 3 days ago, and {due} of it is still unpaid" in plain
        assert f'href="{pay_url(ctx.settings, invoice_id)}"' in html
        assert pdf_text(message)[0] == f"{number}.pdf"

    set_rules(ctx, reminder_days=None)
    assert remind(date(2027, 1, 31)) == 0, "no reminder_days: no reminders"


def test_a_reminder_for_an_invoice_paid_before_it_went_is_not_sent(ctx: Context, mail: MailSink) -> None:
    cat = make_space(ctx, 1, reminder_days=0)
    [invoice_id] = bill(ctx)
    run_worker(ctx)
    with ctx.sessions() as db, db.begin():
        assert notify.queue_reminders(db, NOW, cat.location_id, date(2026, 12, 15)) == 1
        invoicing.record_payment(
            db,
            ctx.clock,
            invoice_id,
            invoicing.NewPayment(date=date(2026, 12, 15), amount=invoice(ctx, invoice_id).total),
        )
    run_worker(ctx)

    reminder = emails(ctx, invoice_id)[-1]
    assert reminder.kind == "reminder"
    assert reminder.status == "failed"
    assert "is paid now, so the reminder email no longer applies" in (reminder.last_error or "")
    assert [message["Subject"].split(" ")[0] for message in mail.messages] == ["Invoice"]


# --- the accounting system's PDF ------------------------------------------------------------------------------------


def test_with_auto_sync_the_email_waits_for_the_accounting_systems_pdf(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None,
    mail: MailSink,
) -> None:  # fmt: skip
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    with ctx.sessions() as db, db.begin():
        for name in ("Alpha Ltd", "Bravo Ltd"):
            add_member(db, cat, name)
    invoice_ids = bill(ctx)
    assert emails(ctx) == [], "no number and no PDF yet: the email waits for the sync"
    drain_in_time(ctx, clock)

    assert len(mail.messages) == 2
    for invoice_id in invoice_ids:
        row = invoice(ctx, invoice_id)
        [message] = [m for m in mail.messages if m["Subject"] == f"Invoice {row.number} from LON space"]
        with ctx.readers() as db:
            stored = db.get(AccountingDocumentRow, invoice_id)
        assert stored is not None
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content() == stored.content, "Xero's own PDF"
    assert {email.context.get("note") for email in emails(ctx)} == {None}


def test_a_pdf_the_accounting_system_never_gives_is_replaced_by_flexbills_own(
    ctx: Context, clock: FixedClock, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None,
    mail: MailSink,
) -> None:  # fmt: skip
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    fault(sandbox, "server_error", "GET", "/api.xro/2.0/Invoices/*", count=None)  # every PDF fetch fails
    with ctx.sessions() as db, db.begin():
        add_member(db, cat, "Alpha Ltd")
    [invoice_id] = bill(ctx)
    drain_in_time(ctx, clock)

    number = invoice(ctx, invoice_id).number
    assert number is not None
    [message] = mail.messages
    filename, text = pdf_text(message)
    assert filename == f"{number}.pdf"
    assert number in text, "flexbill's PDF, with the number Xero gave"
    [item] = client.get(f"{API}/invoices/{invoice_id}/emails").json()["items"]
    assert item["status"] == "sent"
    assert item["note"].startswith("sent with flexbill's own PDF: ")
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(AccountingDocumentRow)) == 0


# --- the local capture and its viewer -------------------------------------------------------------------------------


@pytest.fixture
def capture(ctx: Context, tmp_path: Path) -> Iterator[Path]:
    """The local capture on a free port; the worker sends to it as it does without FLEXBILL_SMTP_HOST."""
    settings = ctx.settings.model_copy(update={"data_dir": tmp_path / "capture", "mail_capture_port": 0})
    server = start_capture(settings)
    ctx.settings = settings.model_copy(update={"mail_capture_port": server.port})
    yield server.directory
    server.stop()


def test_the_mail_viewer_lists_and_shows_captured_messages_safely(ctx: Context, capture: Path, api_key: str) -> None:
    with ctx.sessions() as db, db.begin():
        cat = make_catalog(db)
        update_billing_rules(db, BillingRulesChanges(auto_send=True))
        add_member(db, cat, "Evil <script>alert(1)</script> Ltd")
    [invoice_id] = bill(ctx)
    run_worker(ctx)
    [name] = [path.name for path in capture.iterdir()]
    number = invoice(ctx, invoice_id).number

    anonymous = browser(ctx).get("/mail")
    assert anonymous.status_code == 303, "sign-in links are in there: staff only"
    assert anonymous.headers["location"] == "/admin/sign-in?next=/mail"
    with signed_in_staff(ctx, Role.READ_ONLY) as viewer:
        listing = viewer.get("/mail")
        assert listing.status_code == 200, listing.text
        assert "default-src 'none'" in listing.headers["content-security-policy"]
        assert f"Invoice {number} from LON space" in listing.text
        assert "evil@example.com" in listing.text
        assert f"href='/mail/{name}'" in listing.text

        page = viewer.get(f"/mail/{name}")
        assert page.status_code == 200, page.text
        assert "<script>" not in page.text, "nothing the message holds runs"
        assert "Hello Evil &lt;script&gt;alert(1)&lt;/script&gt; Ltd," in page.text  # the text part, escaped
        assert "<iframe title='The HTML part of the message' sandbox='' srcdoc=\"" in page.text
        assert "Evil &amp;lt;script&amp;gt;" in page.text  # the HTML part: escaped by the template, then for srcdoc
        assert pay_url(ctx.settings, invoice_id) in page.text

        attachment = viewer.get(f"/mail/{name}/attachments/0")
        assert attachment.status_code == 200
        assert attachment.headers["content-type"] == "application/pdf"
        assert attachment.headers["content-disposition"] == f'attachment; filename="{number}.pdf"'
        assert attachment.content.startswith(b"%PDF")
        raw = viewer.get(f"/mail/{name}/raw")
        assert raw.status_code == 200
        assert f"Message-ID: <{emails(ctx)[0].id}@flexbill>".encode() in raw.content

        for missing in (
            "/mail/20261126T120000000000Z-000009.eml",
            "/mail/..%2Fflexbill.sqlite3",
            f"/mail/{name}/attachments/1",
        ):
            assert viewer.get(missing).status_code == 404, missing

    ctx.settings = ctx.settings.model_copy(update={"smtp_host": "smtp.example.com"})
    with signed_in_staff(ctx, Role.OWNER) as real_mail:
        assert real_mail.get("/mail").status_code == 404, "with a real mail server there is no capture to show"


def test_the_capture_names_messages_so_that_they_sort_in_arrival_order(ctx: Context, capture: Path) -> None:
    make_space(ctx, 3)
    bill(ctx)
    run_worker(ctx)

    names = sorted(path.name for path in capture.iterdir())
    assert [name.removesuffix(".eml")[-6:] for name in names] == ["000001", "000002", "000003"]
    arrived = datetime.strptime(names[-1][:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    assert abs(time.time() - arrived.timestamp()) < 600, "named by the time it arrived (UTC)"
