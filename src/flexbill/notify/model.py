"""What flexbill emails, and how a send can end.

An email is a row (see ``store``) made in the same transaction as the change that causes it. Its ``dedupe_key``
is unique, so asking twice for the same email (a bill run repeated, a webhook delivered twice) makes one; each
staff send has a key of its own, so staff can always send again.

A send ends one of four ways, and only one of them is retried:

- ``Delivered``: the mail server took the message (250 after the data);
- ``NotHandedOver``: the server never took it (no connection, a timeout before the data, a 4xx, a refused login):
  sending it again cannot make a second copy, so it is retried later;
- ``Refused``: the server refused it for good (a 5xx): retrying would fail the same way;
- ``Uncertain``: the data went out but the server's answer never came back. The message may well have been
  delivered; a second copy is worse than staff sending it again, so it is left for them to decide.

>>> invoice_key(uuid.UUID(int=1))
'invoice:00000000-0000-0000-0000-000000000001'
>>> staff_invoice_key(uuid.UUID(int=1), 2)
'invoice:00000000-0000-0000-0000-000000000001:staff:2'
>>> message_id_for(uuid.UUID(int=7))
'<00000000-0000-0000-0000-000000000007@flexbill>'
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class EmailKind(StrEnum):
    INVOICE = "invoice"  # the invoice and its PDF, when issued (or sent again by staff)
    RECEIPT = "receipt"  # a payment was taken
    PAYMENT_FAILED = "payment_failed"  # an automatic charge was declined
    ACTION_REQUIRED = "action_required"  # the bank wants the member to confirm the payment (3-D Secure)
    REMINDER = "reminder"  # the invoice is overdue


class EmailStatus(StrEnum):
    PENDING = "pending"  # queued, or waiting for a retry
    SENDING = "sending"  # handed to the mail server right now
    SENT = "sent"
    FAILED = "failed"  # refused for good, or given up after every retry
    UNCERTAIN = "uncertain"  # may or may not have arrived: never sent again automatically


class RequestedBy(StrEnum):
    AUTO = "auto"  # the billing rules (auto_send)
    STAFF = "staff"


# The emails other parts ask for with ``notify`` (invoices, reminders have use cases of their own).
NOTICE_KINDS = (EmailKind.RECEIPT, EmailKind.PAYMENT_FAILED, EmailKind.ACTION_REQUIRED)


def invoice_key(invoice_id: uuid.UUID) -> str:
    """The automatic invoice email: one per invoice, ever."""
    return f"invoice:{invoice_id}"


def staff_invoice_key(invoice_id: uuid.UUID, n: int) -> str:
    """The ``n``-th time staff sent the invoice (from 1)."""
    return f"invoice:{invoice_id}:staff:{n}"


def notice_key(kind: EmailKind, invoice_id: uuid.UUID, payment_id: uuid.UUID | None, attempt: int | None) -> str:
    """The key of a receipt (one per payment) or of a notice about one charge attempt of an invoice.

    >>> notice_key(EmailKind.PAYMENT_FAILED, uuid.UUID(int=1), None, 2)
    'payment_failed:00000000-0000-0000-0000-000000000001:2'
    >>> notice_key(EmailKind.RECEIPT, uuid.UUID(int=1), None, None)
    Traceback (most recent call last):
    ...
    ValueError: a receipt needs the payment_id of the payment it is for
    """
    if kind is EmailKind.RECEIPT:
        if payment_id is None:
            raise ValueError("a receipt needs the payment_id of the payment it is for")
        return f"receipt:{payment_id}"
    if kind in (EmailKind.PAYMENT_FAILED, EmailKind.ACTION_REQUIRED):
        if attempt is None or attempt < 1:
            raise ValueError(f"a {kind} notice needs the number (from 1) of the charge attempt it is about")
        return f"{kind}:{invoice_id}:{attempt}"
    raise ValueError(f"{kind} emails are not notices: they have use cases of their own")


def reminder_key(invoice_id: uuid.UUID) -> str:
    return f"reminder:{invoice_id}"


def email_task_key(email_id: uuid.UUID) -> str:
    """The outbox task that sends one email."""
    return f"email:{email_id}"


def message_id_for(email_id: uuid.UUID) -> str:
    """The Message-ID header: from our id, so a message found in an inbox (or a server's log) leads back to its
    row, even when its send was uncertain."""
    return f"<{email_id}@flexbill>"


# --- a message ready to send -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str = "application/pdf"


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One message as the mail server gets it: the sender's display name with flexbill's address, one recipient."""

    message_id: str
    sender_name: str
    sender_address: str
    to: str
    reply_to: str | None
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


# --- how a send ended ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivered:
    reply: str  # the server's answer, e.g. "250 2.0.0 Ok: queued as 4F1A2"


@dataclass(frozen=True, slots=True)
class NotHandedOver:
    error: str


@dataclass(frozen=True, slots=True)
class Refused:
    error: str


@dataclass(frozen=True, slots=True)
class Uncertain:
    error: str


SendOutcome = Delivered | NotHandedOver | Refused | Uncertain
