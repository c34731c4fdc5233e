"""Use cases of email delivery: queue an email in the caller's transaction, and list an invoice's emails.

Queueing writes the email's row and the outbox task that sends it (``notify.email``, key ``email:<id>``) in the
caller's transaction, so the email exists exactly when the change that causes it does. The row's insert does
nothing when its ``dedupe_key`` is taken: asking twice for the same email (a bill run repeated, a payment
reported by the charge and by a webhook) queues one. Nothing here talks to a mail server; ``handlers`` sends.

What is queued follows the billing rules: with ``auto_send`` off nothing is mailed unless staff send it.

This module reads tables and the billing rules only (never the invoicing use cases), so the bill run and the
invoicing use cases can call it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import cast

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from flexbill.accounting import outbox
from flexbill.accounting.model import Numbering
from flexbill.billing.service import get_billing_rules
from flexbill.catalog.store import LocationRow
from flexbill.customers.store import CustomerRow
from flexbill.db import insert_for, new_id
from flexbill.errors import Conflict, InvalidInput, NotFound
from flexbill.invoicing.model import OPEN_STATUSES, InvoiceStatus
from flexbill.invoicing.store import InvoiceRow, PaymentRow
from flexbill.notify.model import (
    NOTICE_KINDS,
    EmailKind,
    EmailStatus,
    RequestedBy,
    email_task_key,
    invoice_key,
    message_id_for,
    notice_key,
    reminder_key,
    staff_invoice_key,
)
from flexbill.notify.render import subject_line, subject_lines
from flexbill.notify.store import EmailRow
from flexbill.tasks.store import PENDING, TaskRow
from flexbill.validation import Command, Email

SEND_TASK = "notify.email"
CHUNK = 1000  # invoices per read: well under SQLite's and PostgreSQL's limits on bound parameters
COPY_FROM = 200  # emails from which PostgreSQL gets them by COPY (fewer: one statement costs less than a table)
_EMAIL_COLUMNS = (
    "id", "kind", "invoice_id", "payment_id", "dedupe_key", "to_address", "subject", "status", "attempts",
    "last_error", "message_id", "requested_by", "context", "created_at", "sent_at",
)  # fmt: skip
_COLUMNS = ", ".join(_EMAIL_COLUMNS)
# What a caller of ``notify`` may say that the database does not hold (the payments part sends these).
NOTICE_CONTEXT = ("reason", "amount", "retry_on")
_ADDRESS = TypeAdapter(Email)


@dataclass(frozen=True, slots=True)
class _NewEmail:
    kind: EmailKind
    invoice_id: uuid.UUID
    dedupe_key: str
    to_address: str
    subject: str
    requested_by: RequestedBy
    payment_id: uuid.UUID | None = None
    context: Mapping[str, str] = field(default_factory=dict)


# --- the invoice email ---------------------------------------------------------------------------------------


def invoices_issued(session: Session, now: datetime, invoices: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Invoices ``(invoice id, location id)`` just issued. With ``auto_send`` on, each gets its email now, unless
    its PDF will come from the accounting system: then ``accounting_pdf_arrived`` queues it once fetched.

    A bill run calls this for every invoice it issued: a few reads in all (the rules, the connections, the
    invoices in chunks) and bulk inserts, never a statement per invoice."""
    if not invoices or not get_billing_rules(session).auto_send:
        return
    waiting = _waiting_for_accounting_pdf(session, {location_id for _, location_id in invoices})
    ids = [invoice_id for invoice_id, location_id in invoices if location_id not in waiting]
    subjects = {
        location_id: subject_lines(EmailKind.INVOICE, sender) for location_id, sender in _sender_names(session).items()
    }
    emails = []
    for row in _just_issued(session, ids):
        if row.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOIDED):
            continue
        subject = subjects[row.location_id](_number(row.number))
        emails.append(
            _NewEmail(EmailKind.INVOICE, row.id, invoice_key(row.id), row.bill_to_email, subject, RequestedBy.AUTO)
        )
    _queue(session, now, emails)


def accounting_pdf_arrived(session: Session, now: datetime, invoice_id: uuid.UUID) -> None:
    """The accounting system's PDF of the invoice is stored: with ``auto_send`` on, its email goes now."""
    _queue_invoice_email(session, now, invoice_id, {})


def accounting_pdf_given_up(session: Session, now: datetime, invoice_id: uuid.UUID, reason: str) -> None:
    """Fetching the accounting system's PDF was given up: with ``auto_send`` on, the email goes anyway, with
    flexbill's own PDF (the invoice already has the accounting system's number), and says so in its record."""
    _queue_invoice_email(session, now, invoice_id, {"note": f"sent with flexbill's own PDF: {reason}"})


def _queue_invoice_email(session: Session, now: datetime, invoice_id: uuid.UUID, context: dict[str, str]) -> None:
    if not get_billing_rules(session).auto_send:
        return
    invoice = session.get(InvoiceRow, invoice_id)
    if invoice is None or invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOIDED):
        return
    _queue_one(session, now, invoice, EmailKind.INVOICE, invoice_key(invoice.id), RequestedBy.AUTO, context=context)


class SendInvoiceRequest(Command):
    to: Email | None = None  # default: the customer's address


def send_invoice(session: Session, now: datetime, invoice_id: uuid.UUID, *, to: str | None = None) -> EmailRow:
    """Staff send the invoice (again): always queued, as a new email, to ``to`` or the customer's address."""
    invoice = session.get(InvoiceRow, invoice_id, with_for_update=True)  # staff sends of one invoice take turns
    if invoice is None:
        raise NotFound("invoice", invoice_id)
    if invoice.status == InvoiceStatus.DRAFT:
        raise Conflict("the invoice is a draft: issue it before sending it")
    if invoice.status == InvoiceStatus.VOIDED:
        raise Conflict(f"invoice {invoice.number or invoice.id} is voided: a voided invoice is not sent")
    if invoice.number is None:
        raise Conflict(
            "the invoice has no number yet: it takes the accounting system's number when it is synced; sync it, "
            "then send it"
        )
    address = _checked_address(to) if to is not None else None
    sent_before = session.scalar(
        select(func.count())
        .select_from(EmailRow)
        .where(
            EmailRow.invoice_id == invoice.id,
            EmailRow.kind == EmailKind.INVOICE.value,
            EmailRow.requested_by == RequestedBy.STAFF.value,
        )
    )
    key = staff_invoice_key(invoice.id, (sent_before or 0) + 1)
    return _queue_one(session, now, invoice, EmailKind.INVOICE, key, RequestedBy.STAFF, to=address)


# --- notices about payments --------------------------------------------------------------------------------------


def notify(
    session: Session,
    now: datetime,
    kind: EmailKind | str,
    *,
    invoice_id: uuid.UUID,
    payment_id: uuid.UUID | None = None,
    attempt: int | None = None,
    context: Mapping[str, str] | None = None,
) -> EmailRow | None:
    """Queue a receipt (``payment_id``), a failed-payment notice or an action-required notice (``attempt``, the
    charge attempt's number), with ``auto_send`` on. Returns the email (the one queued before, when this one
    was), or None with ``auto_send`` off.

    ``context`` (strings): ``reason`` (why the charge failed, in the gateway's words), ``amount`` (what was
    charged, a decimal; default: the amount due) and ``retry_on`` (YYYY-MM-DD, when the charge is tried again).
    """
    email_kind = EmailKind(kind)
    if email_kind not in NOTICE_KINDS:
        raise ValueError(f"notify sends {', '.join(NOTICE_KINDS)}, not {email_kind}")
    key = notice_key(email_kind, invoice_id, payment_id, attempt)
    values = _checked_context(context or {})
    if not get_billing_rules(session).auto_send:
        return None
    invoice = session.get(InvoiceRow, invoice_id)
    if invoice is None:
        raise NotFound("invoice", invoice_id)
    if payment_id is not None:
        payment = session.get(PaymentRow, payment_id)
        if payment is None or payment.invoice_id != invoice_id:
            raise NotFound(f"payment of invoice {invoice_id}", payment_id)
    return _queue_one(
        session, now, invoice, email_kind, key, RequestedBy.AUTO, payment_id=payment_id, context=values
    )  # fmt: skip


def _checked_context(context: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(context) - set(NOTICE_CONTEXT))
    if unknown:
        raise ValueError(f"the context of a notice holds {', '.join(NOTICE_CONTEXT)}, not {', '.join(unknown)}")
    values = {name: str(value) for name, value in context.items()}
    if values.get("retry_on"):
        try:
            date.fromisoformat(values["retry_on"])
        except ValueError:
            raise ValueError(f"retry_on {values['retry_on']!r} is not a date in the form YYYY-MM-DD") from None
    if values.get("amount"):
        try:
            Decimal(values["amount"])
        except InvalidOperation:
            raise ValueError(f"amount {values['amount']!r} is not a decimal number") from None
    return values


# --- reminders ---------------------------------------------------------------------------------------------------


def queue_reminders(session: Session, now: datetime, location_id: uuid.UUID, day: date) -> int:
    """With ``auto_send`` on and ``reminder_days`` set, a reminder for each open invoice of the location with an
    amount due whose due date is ``reminder_days`` or more before ``day`` (a date at the location), once per
    invoice. Returns how many were queued now; running it again for the same day queues none."""
    rules = get_billing_rules(session)
    if not rules.auto_send or rules.reminder_days is None:
        return 0
    location = session.get(LocationRow, location_id)
    if location is None:
        raise NotFound("location", location_id)
    reminded = select(EmailRow.invoice_id).where(EmailRow.kind == EmailKind.REMINDER.value)
    rows = session.execute(
        select(
            InvoiceRow.id, InvoiceRow.number, InvoiceRow.total, InvoiceRow.amount_paid, InvoiceRow.amount_credited,
            CustomerRow.email,
        )
        .join(CustomerRow, CustomerRow.id == InvoiceRow.customer_id)
        .where(
            InvoiceRow.location_id == location_id,
            InvoiceRow.status.in_([status.value for status in OPEN_STATUSES]),
            InvoiceRow.due_date <= day - timedelta(days=rules.reminder_days),
            InvoiceRow.id.not_in(reminded),
        )
        .order_by(InvoiceRow.due_date, InvoiceRow.id)
    )  # fmt: skip
    sender = location.email_sender_name or location.name
    emails = []
    for row in rows:
        if row.total - row.amount_paid - row.amount_credited <= 0:  # amounts are text on SQLite: compared here
            continue
        subject = subject_line(EmailKind.REMINDER, sender, _number(row.number))
        emails.append(
            _NewEmail(
                EmailKind.REMINDER, row.id, reminder_key(row.id), row.email, subject, RequestedBy.AUTO,
                context={"as_of": day.isoformat()},
            )
        )  # fmt: skip
    return len(_queue(session, now, emails))


# --- reading -----------------------------------------------------------------------------------------------------


def emails_of(session: Session, invoice_id: uuid.UUID) -> list[EmailRow]:
    """Every email of the invoice, oldest first."""
    if session.get(InvoiceRow, invoice_id) is None:
        raise NotFound("invoice", invoice_id)
    return list(
        session.scalars(
            select(EmailRow).where(EmailRow.invoice_id == invoice_id).order_by(EmailRow.created_at, EmailRow.id)
        )
    )


# --- writing ------------------------------------------------------------------------------------------------------


def _queue_one(
    session: Session,
    now: datetime,
    invoice: InvoiceRow,
    kind: EmailKind,
    key: str,
    requested_by: RequestedBy,
    *,
    to: str | None = None,
    payment_id: uuid.UUID | None = None,
    context: Mapping[str, str] | None = None,
) -> EmailRow:
    """Queue one email of the invoice unless its key is taken; the email with that key either way."""
    location = session.get(LocationRow, invoice.location_id)
    assert location is not None  # a foreign key
    address = to or session.scalars(select(CustomerRow.email).where(CustomerRow.id == invoice.customer_id)).one()
    subject = subject_line(kind, location.email_sender_name or location.name, _number(invoice.number))
    email = _NewEmail(kind, invoice.id, key, address, subject, requested_by, payment_id, dict(context or {}))
    _queue(session, now, [email])
    return session.scalars(select(EmailRow).where(EmailRow.dedupe_key == key)).one()


def _queue(session: Session, now: datetime, emails: Sequence[_NewEmail]) -> list[uuid.UUID]:
    """Write the emails whose keys are free, and the task that sends each; returns the ids written.

    ``ON CONFLICT DO NOTHING``: the database decides which keys are free, so two transactions queueing the same
    email at once write one."""
    if not emails:
        return []
    rows = [_email_values(email, now) for email in emails]
    if len(rows) >= COPY_FROM and session.get_bind().dialect.name == "postgresql":
        return _queue_by_copy(session, now, rows)
    # Many parameter sets for one statement: SQLAlchemy compiles it once and sends the rows in batches.
    table = cast(Table, EmailRow.__table__)
    statement = (
        insert_for(session)(table)
        .on_conflict_do_nothing(index_elements=[table.c.dedupe_key])
        .returning(table.c.id)  # an INSERT's row count is not reliable on every driver; returned ids are
    )
    written = list(session.scalars(statement, rows))
    if written:
        session.execute(insert(cast(Table, TaskRow.__table__)), [_task_values(email_id, now) for email_id in written])
    return written


def _queue_by_copy(session: Session, now: datetime, rows: Sequence[Mapping[str, object]]) -> list[uuid.UUID]:
    """``_queue`` for many emails on PostgreSQL: COPY into a temporary table, then one statement inserts the
    emails whose keys are free and their tasks. A bill run's hundred thousand emails go in seconds, where
    parameterised inserts spend most of their time having the driver parse their SQL."""
    connection = session.connection()
    connection.exec_driver_sql("CREATE TEMPORARY TABLE emails_to_queue (LIKE emails, task_id uuid NOT NULL)")
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY emails_to_queue ({_COLUMNS}, task_id) FROM STDIN") as copy:
        for row in rows:
            values = [json.dumps(row[name]) if name == "context" else row[name] for name in _EMAIL_COLUMNS]
            copy.write_row([*values, new_id()])
    parameters = {"kind": SEND_TASK, "pending": PENDING, "now": now}
    written = list(connection.exec_driver_sql(_QUEUE_COPIED, parameters).scalars())
    connection.exec_driver_sql("DROP TABLE emails_to_queue")
    return written


_QUEUE_COPIED = f"""
WITH queued AS (
    INSERT INTO emails ({_COLUMNS}) SELECT {_COLUMNS} FROM emails_to_queue
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
)
INSERT INTO tasks (id, kind, key, "group", payload, status, attempts, run_at, created_at, updated_at)
SELECT q.task_id, %(kind)s, 'email:' || q.id::text, NULL, json_build_object('email_id', q.id::text),
       %(pending)s, 0, %(now)s, %(now)s, %(now)s
FROM queued JOIN emails_to_queue AS q ON q.id = queued.id
RETURNING (payload ->> 'email_id')::uuid
"""


def _email_values(email: _NewEmail, now: datetime) -> dict[str, object]:
    email_id = new_id()
    return {
        "id": email_id, "kind": email.kind.value, "invoice_id": email.invoice_id, "payment_id": email.payment_id,
        "dedupe_key": email.dedupe_key, "to_address": email.to_address, "subject": email.subject[:300],
        "status": EmailStatus.PENDING.value, "attempts": 0, "last_error": None,
        "message_id": message_id_for(email_id), "requested_by": email.requested_by.value,
        "context": dict(email.context), "created_at": now, "sent_at": None,
    }  # fmt: skip


def _task_values(email_id: uuid.UUID, now: datetime) -> dict[str, object]:
    return {
        "id": new_id(), "kind": SEND_TASK, "key": email_task_key(email_id), "group": None,
        "payload": {"email_id": str(email_id)}, "status": PENDING, "attempts": 0, "run_at": now,
        "created_at": now, "updated_at": now,
    }  # fmt: skip


# --- helpers ------------------------------------------------------------------------------------------------------


def _waiting_for_accounting_pdf(session: Session, location_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Locations whose issued invoices get the accounting system's PDF, so their email waits for it: the
    location's connection syncs automatically; or syncs when staff say, but numbers the invoices (until synced
    an invoice has no number to send, and its PDF is fetched when it is)."""
    mode = outbox.sync_mode(session)
    if mode == "off":
        return set()
    connections = outbox.connections_by_location(session, location_ids)
    if mode == "auto":
        return set(connections)
    return {location_id for location_id, c in connections.items() if c.numbering == Numbering.ACCOUNTING}


def _just_issued(session: Session, invoice_ids: Sequence[uuid.UUID]) -> Iterable[_Issued]:
    """The invoices' numbers, statuses, locations and addresses, read in chunks by primary key. The address is
    the bill-to one, which issuing has just copied from the customer."""
    for start in range(0, len(invoice_ids), CHUNK):
        chunk = invoice_ids[start : start + CHUNK]
        query = select(
            InvoiceRow.id, InvoiceRow.number, InvoiceRow.status, InvoiceRow.location_id, InvoiceRow.bill_to_email
        ).where(InvoiceRow.id.in_(chunk))
        for row in session.execute(query):
            yield _Issued(row.id, row.number, row.status, row.location_id, row.bill_to_email)


@dataclass(frozen=True, slots=True)
class _Issued:
    id: uuid.UUID
    number: str | None
    status: str
    location_id: uuid.UUID
    bill_to_email: str


def _sender_names(session: Session) -> dict[uuid.UUID, str]:
    rows = session.execute(select(LocationRow.id, LocationRow.name, LocationRow.email_sender_name))
    return {row.id: row.email_sender_name or row.name for row in rows}


def _number(number: str | None) -> str:
    # Only an invoice the accounting system numbers, before it is synced, has none; its email waits for the sync.
    return number or "(not numbered yet)"


def _checked_address(to: str) -> str:
    try:
        return _ADDRESS.validate_python(to)
    except ValidationError as error:
        raise InvalidInput(error.errors()[0]["msg"].removeprefix("Value error, "), field="to") from None
