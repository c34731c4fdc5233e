"""The mailer over SMTP (the standard library's smtplib), and how each way a send can go wrong is classified.

The message data is sent by hand rather than with ``smtplib.SMTP.data``, because the one case that matters most
must be told apart from the others: the data went out in full and the connection died before the server's
answer. Only then is the outcome ``Uncertain``; a failure anywhere before it means the server never had the
whole message (it only takes one ending with ``<CRLF>.<CRLF>``), so sending it again cannot make a second copy.
"""

from __future__ import annotations

import contextlib
import email.policy
import re
import smtplib
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from typing import Literal

from flexbill.clock import Clock
from flexbill.notify.model import Delivered, NotHandedOver, OutgoingEmail, Refused, SendOutcome, Uncertain
from flexbill.notify.ports import MailerUnavailable
from flexbill.settings import Settings

TIMEOUT_SECONDS = 30.0  # each step of the conversation (connect, a command, the data) waits at most this long
CAPTURE_HOST = "127.0.0.1"

Security = Literal["starttls", "tls", "none"]


def smtp_mailer(settings: Settings, clock: Clock) -> SmtpMailer:
    """The configured mail server, or, without ``smtp_host``, the local capture on ``mail_capture_port``."""
    if settings.smtp_host is None:
        return SmtpMailer(CAPTURE_HOST, settings.mail_capture_port, "none", None, None, clock)
    return SmtpMailer(
        settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_user, settings.smtp_password,
        clock,
    )  # fmt: skip


def build_message(outgoing: OutgoingEmail, clock: Clock) -> EmailMessage:
    """The MIME message: a text part and its HTML alternative, then the attachments."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["Message-ID"] = outgoing.message_id
    message["Date"] = format_datetime(clock.now())
    message["From"] = Address(display_name=outgoing.sender_name, addr_spec=outgoing.sender_address)
    message["To"] = outgoing.to
    if outgoing.reply_to:
        message["Reply-To"] = outgoing.reply_to
    message["Subject"] = outgoing.subject
    message.set_content(outgoing.text)
    message.add_alternative(outgoing.html, subtype="html")
    for attachment in outgoing.attachments:
        maintype, _, subtype = attachment.media_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return message


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        user: str | None,
        password: str | None,
        clock: Clock,
        *,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.user, self.password = user, password
        self.clock = clock
        self.timeout = timeout

    @property
    def description(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"

    def connect(self) -> SmtpConnection:
        where = f"the mail server {self.description}"
        client: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                client = smtplib.SMTP_SSL(
                    self.host, self.port, local_hostname=_local_hostname(), timeout=self.timeout,
                    context=ssl.create_default_context(),
                )  # fmt: skip
            else:
                client = smtplib.SMTP(self.host, self.port, local_hostname=_local_hostname(), timeout=self.timeout)
            client.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self.user:
                client.login(self.user, self.password or "")
        except smtplib.SMTPAuthenticationError as error:
            _close(client)
            raise MailerUnavailable(
                f"{where} refused the login of {self.user!r} ({_reply(error.smtp_code, error.smtp_error)}): "
                "check FLEXBILL_SMTP_USER and FLEXBILL_SMTP_PASSWORD"
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            _close(client)
            raise MailerUnavailable(
                f"{where} does not offer what flexbill asked for ({error}): check FLEXBILL_SMTP_SECURITY "
                "(starttls, tls or none) and FLEXBILL_SMTP_USER"
            ) from error
        except smtplib.SMTPResponseException as error:
            _close(client)
            answer = _reply(error.smtp_code, error.smtp_error)
            raise MailerUnavailable(f"{where} turned the connection down ({answer})") from error
        except (OSError, smtplib.SMTPException) as error:
            _close(client)
            raise MailerUnavailable(f"could not connect to {where}: {_describe(error)}") from error
        return SmtpConnection(client, self.clock)


class SmtpConnection:
    def __init__(self, client: smtplib.SMTP, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self._usable = True

    @property
    def usable(self) -> bool:
        return self._usable

    def close(self) -> None:
        if self._usable:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._client.quit()
        _close(self._client)
        self._usable = False

    def send(self, outgoing: OutgoingEmail) -> SendOutcome:
        if not self._usable:
            return NotHandedOver("not sent: the connection to the mail server was lost before its turn")
        client = self._client
        # An address with non-ASCII characters (chloé@example.com) needs the server's SMTPUTF8 extension, and the
        # headers then go as UTF-8 (RFC 6531, 6532); every other message stays plain ASCII.
        international = not (outgoing.to.isascii() and outgoing.sender_address.isascii())
        if international and not client.has_extn("smtputf8"):
            return Refused(f"{outgoing.to} is an international address, and the mail server does not take those "
                           "(it does not offer SMTPUTF8)")  # fmt: skip
        policy = email.policy.SMTPUTF8 if international else email.policy.SMTP
        try:
            data = _dot_stuffed(build_message(outgoing, self._clock).as_bytes(policy=policy))
        except ValueError as error:  # e.g. a line break in an address: the message can never be made
            return Refused(f"the message cannot be made: {error}")
        options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
        try:
            code, reply = client.mail(outgoing.sender_address, options)
            if code != 250:
                return self._turned_down("the sender", outgoing.sender_address, code, reply)
            code, reply = client.rcpt(outgoing.to)
            if code not in (250, 251):
                return self._turned_down("the recipient", outgoing.to, code, reply)
            code, reply = client.docmd("DATA")
            if code != 354:
                return self._turned_down("the message (DATA)", outgoing.to, code, reply)
        except (OSError, smtplib.SMTPException) as error:
            self._lost()
            return NotHandedOver(f"the connection to the mail server failed before the message was sent: "
                                 f"{_describe(error)}")  # fmt: skip
        try:
            client.send(data)
        except (OSError, smtplib.SMTPException) as error:
            # The end-of-data marker is the last thing sent: a server without it discards what it got.
            self._lost()
            return NotHandedOver(f"the connection to the mail server failed while sending the message, before its "
                                 f"end: {_describe(error)}")  # fmt: skip
        try:
            code, reply = client.getreply()
        except (OSError, smtplib.SMTPException) as error:
            self._lost()
            return Uncertain(
                "the message was sent in full, but the connection failed before the mail server confirmed it "
                f"({_describe(error)}): it may or may not have been delivered. Look for Message-ID "
                f"{outgoing.message_id} in the server's log or the recipient's inbox, and send it again only if "
                "it is not there"
            )
        if 200 <= code < 300:
            return Delivered(_reply(code, reply))
        if 400 <= code < 600:
            return self._turned_down("the message", outgoing.to, code, reply)
        self._lost()
        return Uncertain(f"the message was sent in full, but the mail server's answer made no sense "
                         f"({_reply(code, reply)}): it may or may not have been delivered")  # fmt: skip

    def _turned_down(self, what: str, who: str, code: int, reply: bytes) -> NotHandedOver | Refused:
        """A 4xx is the server asking to try later; a 5xx is a refusal for good. Either way the transaction is
        reset so the connection can carry the next message."""
        answer = _reply(code, reply)
        self._reset()
        if 500 <= code < 600:
            return Refused(f"the mail server refused {what} {who}: {answer}")
        return NotHandedOver(f"the mail server deferred {what} {who} ({answer}); it will be tried again")

    def _reset(self) -> None:
        try:
            self._client.rset()
        except (OSError, smtplib.SMTPException):
            self._lost()

    def _lost(self) -> None:
        self._usable = False
        _close(self._client)


def _dot_stuffed(data: bytes) -> bytes:
    r"""The message as the DATA phase carries it: a line starting with a dot gets another one, and the end
    marker follows (RFC 5321, 4.5.2).

    >>> _dot_stuffed(b"Hi\r\n.hidden\r\n")
    b'Hi\r\n..hidden\r\n.\r\n'
    """
    stuffed = re.sub(rb"(?m)^\.", b"..", data)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}".strip()


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "no answer in time"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        with contextlib.suppress(OSError):
            client.close()


@cache
def _local_hostname() -> str:
    """The name given in EHLO. smtplib looks it up on every connection, which can take seconds on a machine
    whose name does not resolve; once per process is enough."""
    return socket.getfqdn()
