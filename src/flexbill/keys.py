"""flexbill's own secret key: it encrypts accounting tokens and gateway keys at rest and signs the links it mails."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet

from flexbill.settings import Settings


def secret_key(settings: Settings) -> bytes:
    """The configured key (``FLEXBILL_SECRET_KEY``); without one, the key in ``data_dir/secret.key``, created
    (mode 0600) on first use so the embedded default works without configuration. Losing that file means
    reconnecting the accounting systems and gateways, and the payment links already mailed stop working."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            return path.read_bytes().strip()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


def fernet_for(settings: Settings) -> Fernet:
    return Fernet(secret_key(settings))
