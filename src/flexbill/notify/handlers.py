"""The email task (``notify.email``): compose each email, hand it to the mail server once, record how it went.

Sending exactly once, whatever fails:
- an email is marked ``sending`` in a committed transaction right before it is handed over, and ``sent`` after;
- a task that finds its email still ``sending`` ran before and its worker died mid-send (its lease expired): the
  message may have gone, so the email becomes ``uncertain`` and is not sent again; staff decide;
- a server that never took the message (down, a 4xx, a refused login) leaves the email ``pending``; the task is
  retried with backoff, and after the last attempt the email is ``failed`` with the error;
- a refusal for good (5xx) makes it ``failed`` with the server's words; the data sent and the answer lost makes
  it ``uncertain`` (see ``smtp``).
The PDF is made when the email is sent (the accounting system's when fetched by then), not when it is queued.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from flexbill.bootstrap import Context, mailer_for
from flexbill.catalog.store import LocationRow
from flexbill.clock import local_today
from flexbill.invoicing.documents import invoice_pdf
from flexbill.invoicing.model import OPEN_STATUSES, InvoiceStatus
from flexbill.invoicing.pdf import is_payable_online
from flexbill.invoicing.service import amount_due
from flexbill.invoicing.store import InvoiceRow, PaymentRow
from flexbill.links import pay_url
from flexbill.notify.model import (
    Attachment,
    Delivered,
    EmailKind,
    EmailStatus,
    OutgoingEmail,
    Refused,
    SendOutcome,
    Uncertain,
)
from flexbill.notify.ports import MailConnection, MailerUnavailable
from flexbill.notify.render import METHOD_LABELS, InvoiceFacts, Letter, PaymentFacts, Sender, render
from flexbill.notify.service import SEND_TASK
from flexbill.notify.store import EmailRow
from flexbill.tasks.service import Task
from flexbill.worker import MAX_ATTEMPTS, Done, Failed, Handler, Outcome, RetryLater, TaskHandler, backoff, register

log = logging.getLogger("flexbill.notify")

# Emails per task batch: they share one connection to the mail server. Small enough that a slow server (30 s a
# step at worst) cannot keep a batch past the worker's lease.
BATCH = 10
STALE_SEND = (
    "the worker stopped while handing it to the mail server, so it may or may not have been delivered; it is not "
    "sent again automatically: ask the member, and send it again if it did not arrive"
)


@register
def _emails(_ctx: Context) -> TaskHandler:
    return Handler(SEND_TASK, BATCH, send_emails)


@dataclass(frozen=True, slots=True)
class _Skip:
    """The email is not to be sent (any more): how it ends, and why."""

    status: EmailStatus | None  # None: leave the row as it is
    error: str | None = None


def send_emails(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    outcomes: dict[uuid.UUID, Outcome] = {}
    connection: MailConnection | None = None
    unavailable: str | None = None
    try:
        for task in tasks:
            email_id = uuid.UUID(task.payload["email_id"])
            if unavailable is not None:
                outcomes[task.id] = _not_handed_over(ctx, task, email_id, unavailable)
                continue
            try:
                prepared = _prepare(ctx, email_id)
            except Exception as error:
                # One email that cannot be made (its PDF failed to render, say) must not hold up the batch, and
                # its error belongs on the email, where staff look.
                log.exception("email %s could not be composed", email_id)
                problem = f"could not compose the email: {type(error).__name__}: {error}"
                outcomes[task.id] = _not_handed_over(ctx, task, email_id, problem)
                continue
            if isinstance(prepared, _Skip):
                outcomes[task.id] = _skip(ctx, email_id, prepared)
                continue
            if connection is None or not connection.usable:
                try:
                    connection = mailer_for(ctx).connect()
                except MailerUnavailable as error:
                    unavailable = error.message
                    outcomes[task.id] = _not_handed_over(ctx, task, email_id, unavailable)
                    continue
            if not _mark_sending(ctx, email_id, prepared):
                outcomes[task.id] = Done()  # another worker took it over meanwhile (this one's lease expired)
                continue
            outcomes[task.id] = _record(ctx, task, email_id, connection.send(prepared))
    finally:
        if connection is not None:
            connection.close()
    return outcomes


def _prepare(ctx: Context, email_id: uuid.UUID) -> OutgoingEmail | _Skip:
    with ctx.readers() as db:
        row = db.get(EmailRow, email_id)
        if row is None:
            return _Skip(None)
        if row.status == EmailStatus.SENDING:
            return _Skip(EmailStatus.UNCERTAIN, STALE_SEND)
        if row.status != EmailStatus.PENDING:
            return _Skip(None)  # sent, failed or uncertain: settled
        return _compose(ctx, db, row)


def _compose(ctx: Context, db: Session, row: EmailRow) -> OutgoingEmail | _Skip:
    kind = EmailKind(row.kind)
    invoice = db.get(InvoiceRow, row.invoice_id)
    assert invoice is not None  # a foreign key
    location = db.get(LocationRow, invoice.location_id)
    assert location is not None
    due = amount_due(invoice)
    if invoice.status == InvoiceStatus.VOIDED:
        return _Skip(EmailStatus.FAILED, f"not sent: invoice {invoice.number} was voided before the email went out")
    if kind in (EmailKind.PAYMENT_FAILED, EmailKind.ACTION_REQUIRED, EmailKind.REMINDER) and (
        invoice.status not in OPEN_STATUSES or due <= 0
    ):
        return _Skip(EmailStatus.FAILED, f"not sent: invoice {invoice.number} is {invoice.status} now, so the "
                                         f"{kind.value.replace('_', ' ')} email no longer applies")  # fmt: skip
    payment = None
    if kind is EmailKind.RECEIPT:
        paid = db.get(PaymentRow, row.payment_id) if row.payment_id else None
        if paid is None:
            return _Skip(EmailStatus.FAILED, f"not sent: the payment {row.payment_id} of the receipt does not exist")
        payment = PaymentFacts(paid.amount, paid.date, METHOD_LABELS.get(paid.method, paid.method), paid.reference)
    attachments: tuple[Attachment, ...] = ()
    if kind in (EmailKind.INVOICE, EmailKind.REMINDER):
        pdf = invoice_pdf(db, ctx.settings, ctx.clock, invoice.id)
        attachments = (Attachment(pdf.filename, pdf.content),)
    context = row.context or {}
    letter = Letter(
        kind=kind,
        sender=Sender(
            " ".join((location.email_sender_name or location.name).split()),  # one line: it goes in a header
            location.email,
            location.phone,
            location.address,
        ),
        invoice=InvoiceFacts(
            number=invoice.number or "",
            customer_name=invoice.bill_to_name,
            currency=invoice.currency,
            total=invoice.total,
            amount_due=due,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
        ),
        pay_url=pay_url(ctx.settings, invoice.id) if is_payable_online(invoice) else None,
        payment=payment,
        amount=Decimal(context["amount"]) if context.get("amount") else None,
        reason=context.get("reason") or None,
        next_attempt=date.fromisoformat(context["retry_on"]) if context.get("retry_on") else None,
        days_overdue=_days_overdue(ctx, invoice, location, context) if kind is EmailKind.REMINDER else None,
        attached=attachments[0].filename if attachments else None,
    )
    rendered = render(letter)
    return OutgoingEmail(
        message_id=row.message_id,
        sender_name=letter.sender.name,
        sender_address=ctx.settings.mail_from,
        to=row.to_address,
        reply_to=location.email_reply_to or location.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        attachments=attachments,
    )


def _days_overdue(ctx: Context, invoice: InvoiceRow, location: LocationRow, context: dict[str, str]) -> int:
    as_of = date.fromisoformat(context["as_of"]) if context.get("as_of") else local_today(ctx.clock, location.timezone)
    return (as_of - invoice.due_date).days


# --- recording ---------------------------------------------------------------------------------------------------


def _mark_sending(ctx: Context, email_id: uuid.UUID, outgoing: OutgoingEmail) -> bool:
    """Committed before the mail server hears of it. Only a pending email is taken: False when another worker
    got to it first."""
    with ctx.sessions() as db, db.begin():
        taken = db.execute(
            update(EmailRow)
            .where(EmailRow.id == email_id, EmailRow.status == EmailStatus.PENDING.value)
            .values(status=EmailStatus.SENDING.value, attempts=EmailRow.attempts + 1, subject=outgoing.subject[:300])
            .returning(EmailRow.id)
            .execution_options(synchronize_session=False)
        ).first()
    return taken is not None


def _record(ctx: Context, task: Task, email_id: uuid.UUID, outcome: SendOutcome) -> Outcome:
    now = ctx.clock.now()
    if isinstance(outcome, Delivered):
        # A slow send whose row another worker meanwhile found ``sending`` and called uncertain: it did arrive.
        _set(ctx, email_id, (EmailStatus.SENDING, EmailStatus.UNCERTAIN), EmailStatus.SENT, None, sent_at=now)
        return Done()
    if isinstance(outcome, Refused):
        _set(ctx, email_id, (EmailStatus.SENDING,), EmailStatus.FAILED, outcome.error)
        log.warning("email %s refused: %s", email_id, outcome.error)
        return Failed(outcome.error)
    if isinstance(outcome, Uncertain):
        _set(ctx, email_id, (EmailStatus.SENDING,), EmailStatus.UNCERTAIN, outcome.error)
        log.warning("email %s uncertain: %s", email_id, outcome.error)
        return Failed(outcome.error)  # not to be run again: a second copy is worse than none
    return _retry_or_give_up(ctx, task, email_id, outcome.error, EmailStatus.SENDING)


def _not_handed_over(ctx: Context, task: Task, email_id: uuid.UUID, error: str) -> Outcome:
    return _retry_or_give_up(ctx, task, email_id, error, EmailStatus.PENDING)


def _retry_or_give_up(ctx: Context, task: Task, email_id: uuid.UUID, error: str, current: EmailStatus) -> Outcome:
    if task.attempts >= MAX_ATTEMPTS:
        given_up = f"gave up after {task.attempts} attempts: {error}"
        _set(ctx, email_id, (current,), EmailStatus.FAILED, given_up)
        log.error("email %s not sent: %s", email_id, given_up)
        return Failed(given_up)
    _set(ctx, email_id, (current,), EmailStatus.PENDING, error)
    return RetryLater(backoff(task.id, task.attempts), error)


def _skip(ctx: Context, email_id: uuid.UUID, skip: _Skip) -> Outcome:
    if skip.status is None:
        return Done()
    current = EmailStatus.SENDING if skip.status is EmailStatus.UNCERTAIN else EmailStatus.PENDING
    _set(ctx, email_id, (current,), skip.status, skip.error)
    log.warning("email %s %s: %s", email_id, skip.status.value, skip.error)
    return Done()


def _set(
    ctx: Context,
    email_id: uuid.UUID,
    expected: tuple[EmailStatus, ...],
    status: EmailStatus,
    error: str | None,
    *,
    sent_at: datetime | None = None,
) -> None:
    """Move the email on, only from the status this worker left it in (a late writer changes nothing)."""
    values: dict[str, object] = {"status": status.value, "last_error": error}
    if sent_at is not None:
        values["sent_at"] = sent_at
    with ctx.sessions() as db, db.begin():
        db.execute(
            update(EmailRow)
            .where(EmailRow.id == email_id, EmailRow.status.in_([s.value for s in expected]))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
