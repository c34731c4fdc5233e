"""A month that runs itself, over real HTTP and real SMTP: the bill run, the sync to the Xero sandbox, the invoice
emailed with Xero's PDF, the saved card charged in the Stripe sandbox on the due date, the payment recorded here
and in Xero, the receipt emailed. And a refund, which Xero receives as a credit note paid back."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal
from email.message import EmailMessage

import httpx
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from flexbill.accounting.store import SyncRecordRow
from flexbill.bootstrap import Context
from flexbill.links import pay_url
from flexbill.payments import charging
from flexbill.sandbox.server import RunningSandbox
from tests.integration.test_payments import DUE, add_gateway, auto_charge, bill, invoice_of, member, succeeded_intents
from tests.integration.test_xero_sync import connect, drain, map_codes
from tests.mail import MailSink
from tests.support import Catalog


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def pdf_text(message: EmailMessage) -> str:
    [attachment] = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
    content = attachment.get_content()
    assert content.startswith(b"%PDF")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def xero_invoice(ctx: Context, sandbox: RunningSandbox, invoice_id: uuid.UUID) -> dict[str, object]:
    with ctx.readers() as db:
        record = db.scalars(
            select(SyncRecordRow).where(SyncRecordRow.record_id == invoice_id, SyncRecordRow.kind == "invoice")
        ).one()
    document = sandbox.xero.org.invoices[record.external_id]
    return {"number": document.number, "status": document.status, "amount_due": document.outstanding}


def test_a_month_runs_itself_from_the_bill_run_to_the_receipt(
    ctx: Context,
    cat: Catalog,
    client: TestClient,
    sandbox: RunningSandbox,
    mail: MailSink,
    auto_sync: None,
) -> None:
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    add_gateway(client, sandbox, cat)
    auto_charge(client)
    details = client.patch(
        f"/api/v1/locations/{cat.location_id}",
        json={"legal_name": "LON Space Ltd", "email_sender_name": "LON Space", "email_reply_to": "billing@lon.example"},
    )
    assert details.status_code == 200, details.text
    customer_id = member(ctx, cat, "Kit Ltd", "pm_card_visa", client)

    [invoice_id] = bill(ctx)
    drain(ctx)  # the contact and invoice go to Xero, Xero's number and PDF come back, the invoice is emailed
    here = invoice_of(client, invoice_id)
    in_xero = xero_invoice(ctx, sandbox, invoice_id)
    assert here["number"] == in_xero["number"]
    assert here["accounting"]["status"] == "synced"

    [invoice_mail] = mail.to("kit@example.com")
    assert invoice_mail["Subject"] == f"Invoice {here['number']} from LON Space"
    assert "LON Space" in invoice_mail["From"]
    assert invoice_mail["Reply-To"] == "billing@lon.example"
    assert pay_url(ctx.settings, invoice_id) in text_of(invoice_mail)
    assert here["number"] in pdf_text(invoice_mail)  # Xero's own PDF, with Xero's number

    report = charging.run_due(ctx, DUE)
    assert report.charges == {"succeeded": 1}
    drain(ctx)  # the payment goes to Xero, the receipt goes out
    paid = invoice_of(client, invoice_id)
    assert paid["status"] == "paid"
    [payment] = paid["payments"]
    assert payment["source"] == "gateway"
    assert succeeded_intents(sandbox, invoice_id) == 1
    assert xero_invoice(ctx, sandbox, invoice_id)["status"] == "PAID"
    receipt = [m for m in mail.to("kit@example.com") if m is not invoice_mail and "Payment received" in m["Subject"]]
    assert len(receipt) == 1
    assert "360.00" in text_of(receipt[0])

    # A refund: Stripe gives the money back, the invoice is credited here, and Xero gets a credit note paid out.
    refunded = client.post(f"/api/v1/payments/{payment['id']}/refund", json={"amount": "60.00", "reason": "Aircon"})
    assert refunded.status_code == 201, refunded.text
    drain(ctx)
    assert invoice_of(client, invoice_id)["status"] == "paid"
    [note] = list(sandbox.xero.org.credit_notes.values())
    assert note.total == Decimal("60.00")
    assert note.status == "PAID"  # settled by the refund paid out of the payment account
    assert xero_invoice(ctx, sandbox, invoice_id)["status"] == "PAID"
    assert customer_id is not None
    assert httpx.get(f"{sandbox.stripe_url}/_sandbox/state").status_code == 200
