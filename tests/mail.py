"""A mail server for tests: aiosmtpd on loopback, in this process, keeping what it receives in memory.

The worker talks real SMTP to it. It can refuse or defer a recipient with the reply given, require a login,
drop the connection after a message's data (before its answer), and be stopped and started again on its port.
"""

from __future__ import annotations

import asyncio
import email.policy
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class MailSink:
    def __init__(self, *, login: tuple[str, str] | None = None) -> None:
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}  # recipient -> the 5xx reply to RCPT TO
        self.defer: dict[str, str] = {}  # recipient -> the 4xx reply to RCPT TO
        self.drop_after_data = 0  # the next N messages: taken, then the connection closed before the answer
        self.port = 0
        self.login = login
        self._lock = threading.Lock()
        self._controller: _Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [item.message for item in self.received]

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]

    def start(self) -> None:
        """Listen, on the port it had before if it was started already."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        options: dict[str, Any] = {}
        if self.login is not None:
            options = {"auth_require_tls": False, "authenticator": self._authenticate}
        self._controller = _Controller(self, listener, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: object
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.login
        return AuthResult(success=ok, handled=False)

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        if address in self.defer:
            return self.defer[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), message))
            drop = self.drop_after_data > 0
            if drop:
                self.drop_after_data -= 1
        if drop:
            assert server.transport is not None
            server.transport.close()
            await asyncio.sleep(30)  # cancelled as the connection goes: the answer is never sent
        return "250 2.0.0 Ok: queued"


class _Controller(Controller):
    def __init__(self, handler: object, listener: socket.socket, **options: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=listener.getsockname()[1], **options)
        self._listener = listener

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._listener)
