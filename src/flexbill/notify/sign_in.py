"""The members' sign-in link email, sent at once.

Unlike the emails of invoices it is not queued: the member is waiting for it on the sign-in page, and a link
valid for half an hour is of no use after the worker's retries. Nor is it kept in ``emails`` (that table is per
invoice, and holding the link there would let anyone who reads it sign in as the member). It goes through the
same mail server as every other email (``FLEXBILL_SMTP_HOST``, or the local capture).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flexbill.bootstrap import Context, mailer_for
from flexbill.catalog.store import LocationRow
from flexbill.db import new_id
from flexbill.notify.model import Delivered, NotHandedOver, OutgoingEmail, SendOutcome, message_id_for
from flexbill.notify.ports import MailerUnavailable
from flexbill.notify.render import Sender, SignInLink, render_sign_in_link

log = logging.getLogger("flexbill.notify")


def sign_in_email(ctx: Context, location: LocationRow, *, to: str, url: str, valid_for: timedelta) -> OutgoingEmail:
    """The message, from ``location`` (its name and reply-to address, as on its invoices' emails)."""
    sender = Sender(
        " ".join((location.email_sender_name or location.name).split()),  # one line: it goes in a header
        location.email,
        location.phone,
        location.address,
    )
    rendered = render_sign_in_link(SignInLink(sender, to, url, int(valid_for.total_seconds() // 60)))
    return OutgoingEmail(
        message_id=message_id_for(new_id()),
        sender_name=sender.name,
        sender_address=ctx.settings.mail_from,
        to=to,
        reply_to=location.email_reply_to or location.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
    )


def send_sign_in_email(ctx: Context, email: OutgoingEmail) -> SendOutcome:
    """Hand the message to the mail server on a connection of its own, and say how it went. A failure is logged,
    not raised: the page that asked for the link answers the same whatever happens (see ``web.portal.auth``)."""
    try:
        connection = mailer_for(ctx).connect()
    except MailerUnavailable as error:
        log.error("sign-in link to %s not sent: %s", email.to, error.message)
        return NotHandedOver(error.message)
    try:
        outcome = connection.send(email)
    finally:
        connection.close()
    if not isinstance(outcome, Delivered):
        log.error("sign-in link to %s not sent: %s", email.to, outcome.error)
    return outcome
