"""A check email, sent at once through the configured mail server: the operator's proof that flexbill's emails
can leave (the right host, port, security and login), with the server's own answer when they cannot.

It is sent while the operator waits, not through the outbox: it changes nothing in flexbill, and its only use is
the answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from html import escape

from flexbill.notify.model import Delivered, OutgoingEmail
from flexbill.notify.ports import Mailer, MailerUnavailable
from flexbill.validation import Command, Email

SUBJECT = "flexbill test email"


class CheckEmailRequest(Command):
    to: Email


@dataclass(frozen=True, slots=True)
class CheckResult:
    sent: bool
    detail: str  # the server's answer when sent; what went wrong, in words, when not


def check_email(to: str, sender_address: str, mailer_description: str) -> OutgoingEmail:
    text = (
        "This is a test email from flexbill.\n\n"
        f"It was sent through {mailer_description}, the mail server flexbill sends invoices and receipts with. "
        "If you are reading it, those emails can reach this inbox too.\n"
    )
    html = "".join(f"<p>{escape(paragraph)}</p>" for paragraph in text.strip().split("\n\n"))
    return OutgoingEmail(
        message_id=f"<check-{uuid.uuid4()}@flexbill>",
        sender_name="flexbill",
        sender_address=sender_address,
        to=to,
        reply_to=None,
        subject=SUBJECT,
        text=text,
        html=html,
    )


def send_check_email(mailer: Mailer, request: CheckEmailRequest, *, sender_address: str) -> CheckResult:
    """Connect, send one short message and say how it went."""
    try:
        connection = mailer.connect()
    except MailerUnavailable as error:
        return CheckResult(False, error.message)
    try:
        outcome = connection.send(check_email(request.to, sender_address, mailer.description))
    finally:
        connection.close()
    if isinstance(outcome, Delivered):
        return CheckResult(True, outcome.reply)
    return CheckResult(False, outcome.error)
