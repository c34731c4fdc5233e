"""What an event carries: the resource as the REST API shows it at the moment of the event, made by the API's own
view functions (``flexbill.web.api.views``), so a webhook and ``GET /api/v1/...`` never disagree on a shape.

These shapes read the invoicing service, which publishes events: ``flexbill.events.service`` imports this module
when it first needs a snapshot, not when it is imported itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from flexbill.accounting.model import RecordKind
from flexbill.clock import Clock
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.payments.store import ChargeAttemptRow
from flexbill.web.api.views import attempt_out, credit_note_out, invoices_out, payment_out, with_accounting

Subject = InvoiceRow | PaymentRow | CreditNoteRow | ChargeAttemptRow
JsonObject = dict[str, Any]


def object_type(subject: Subject) -> str:
    """The name of the kind of resource an event is about, as ``data.object_type`` says it."""
    if isinstance(subject, InvoiceRow):
        return "invoice"
    if isinstance(subject, PaymentRow):
        return "payment"
    if isinstance(subject, CreditNoteRow):
        return "credit_note"
    return "charge_attempt"


def snapshot(session: Session, clock: Clock, subject: Subject) -> JsonObject:
    """The resource as ``GET`` returns it now, ready for JSON."""
    if isinstance(subject, InvoiceRow):
        return invoice_snapshots(session, clock, [subject])[0]
    if isinstance(subject, PaymentRow):
        [payment] = with_accounting(session, RecordKind.PAYMENT, [payment_out(subject)])
        return payment.model_dump(mode="json")
    if isinstance(subject, CreditNoteRow):
        [note] = with_accounting(session, RecordKind.CREDIT_NOTE, [credit_note_out(subject)])
        return note.model_dump(mode="json")
    return attempt_out(subject).model_dump(mode="json")


def invoice_snapshots(session: Session, clock: Clock, rows: Sequence[InvoiceRow]) -> list[JsonObject]:
    """Many invoices at once (a bill run's), in the order given, with a few queries for all of them."""
    return [item.model_dump(mode="json") for item in invoices_out(session, clock, rows)]
