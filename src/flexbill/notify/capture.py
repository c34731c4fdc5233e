"""The local mail capture: the embedded default's mail server when no real one is configured.

An SMTP server (aiosmtpd) on 127.0.0.1 keeps every message it receives as an ``.eml`` file in ``data_dir/mail/``,
named by its arrival time so that the names sort in arrival order; nothing is delivered anywhere. `flexbill serve`
and `flexbill demo` start it when ``FLEXBILL_SMTP_HOST`` is not set, and the web app shows what it caught at
``/mail``. The worker talks to it over real SMTP, exactly as it would to a real server.
"""

from __future__ import annotations

import asyncio
import email.policy
import itertools
import os
import re
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from flexbill.settings import Settings

HOST = "127.0.0.1"
_NAME = re.compile(r"^\d{8}T\d{12}Z-\d{6}\.eml$")
_STAMP = "%Y%m%dT%H%M%S%f"


class CaptureError(Exception):
    """The capture cannot start: the port is taken, or the folder cannot be written."""


def capture_directory(settings: Settings) -> Path:
    return settings.data_dir / "mail"


@dataclass
class CaptureServer:
    """A running capture: ``port`` is where it listens (the one asked for, or the one found free for 0)."""

    port: int
    directory: Path
    _controller: Controller

    def stop(self) -> None:
        self._controller.stop()


def start_capture(settings: Settings) -> CaptureServer:
    """Start the capture on 127.0.0.1 at ``mail_capture_port`` (0: any free port), keeping messages in
    ``data_dir/mail``. Raises ``CaptureError`` saying what to change when it cannot."""
    directory = capture_directory(settings)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CaptureError(f"the mail capture cannot keep messages in {directory}: {error}") from error
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, settings.mail_capture_port))
    except OSError as error:
        listener.close()
        raise CaptureError(
            f"the mail capture cannot listen on {HOST}:{settings.mail_capture_port} ({error.strerror or error}): "
            "set FLEXBILL_MAIL_CAPTURE_PORT to a free port (0 picks one), or FLEXBILL_SMTP_HOST to a real mail server"
        ) from error
    controller = _Controller(_SaveToFolder(directory), listener)
    controller.start()
    return CaptureServer(controller.port, directory, controller)


class _Controller(Controller):
    """aiosmtpd's threaded controller, serving a socket bound beforehand, so that port 0 works and the port in
    use is known."""

    def __init__(self, handler: object, listener: socket.socket) -> None:
        super().__init__(handler, hostname=HOST, port=listener.getsockname()[1])
        self._listener = listener

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._listener)


class _SaveToFolder:
    """aiosmtpd's handler: each message's bytes, as received, in a file of its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        name = await asyncio.get_running_loop().run_in_executor(None, self._save, data)
        return f"250 2.0.0 Ok: captured as {name}"

    def _save(self, data: bytes) -> str:
        with self._lock:
            name = f"{datetime.now(UTC).strftime(_STAMP)}Z-{next(self._sequence) % 1_000_000:06d}.eml"
        # Written aside, then renamed: the viewer never reads half a message.
        partial = self.directory / f".{name}.partial"
        partial.write_bytes(data)
        os.replace(partial, self.directory / name)
        return name


# --- reading what was caught --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapturedSummary:
    name: str
    received_at: datetime
    sender: str
    to: str
    subject: str


def list_captured(directory: Path) -> list[CapturedSummary]:
    """The captured messages, newest first."""
    if not directory.is_dir():
        return []
    names = sorted((path.name for path in directory.iterdir() if _NAME.match(path.name)), reverse=True)
    summaries = []
    for name in names:
        message = read_captured(directory, name)
        if message is None:
            continue
        summaries.append(
            CapturedSummary(
                name, received_at(name), str(message["From"] or ""), str(message["To"] or ""),
                str(message["Subject"] or ""),
            )
        )  # fmt: skip
    return summaries


def read_captured(directory: Path, name: str) -> EmailMessage | None:
    """One captured message by its file name; None for a name that is not one (nothing outside the folder is
    ever read)."""
    if not _NAME.match(name):
        return None
    path = directory / name
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return message_from_bytes(data, policy=email.policy.default)


def received_at(name: str) -> datetime:
    """When a captured message arrived, from its file name.

    >>> received_at("20261126T120000123456Z-000001.eml").isoformat()
    '2026-11-26T12:00:00.123456+00:00'
    """
    return datetime.strptime(name[:21], _STAMP).replace(tzinfo=UTC)
