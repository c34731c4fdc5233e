"""What email delivery needs from outside: a mail server to hand messages to."""

from __future__ import annotations

from typing import Protocol

from flexbill.notify.model import OutgoingEmail, SendOutcome


class MailerUnavailable(Exception):
    """No message can be handed over now (no connection, a refused login): every send waits for a retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MailConnection(Protocol):
    """One open connection to the mail server; several messages go through it, one after the other."""

    @property
    def usable(self) -> bool:
        """False once the connection is lost: the messages still to send wait for the next one."""
        ...

    def send(self, email: OutgoingEmail) -> SendOutcome: ...

    def close(self) -> None: ...


class Mailer(Protocol):
    @property
    def description(self) -> str:
        """Where the messages go, for errors and logs (never a password)."""
        ...

    def connect(self) -> MailConnection:
        """A connection ready to send; raises ``MailerUnavailable`` saying why there is none."""
        ...
