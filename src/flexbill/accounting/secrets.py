"""Encryption at rest of accounting tokens, with a key from settings (or one generated into the data directory)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from flexbill.accounting.model import Tokens
from flexbill.settings import Settings


def fernet_for(settings: Settings) -> Fernet:
    """The configured key; without one, the key in ``data_dir/secret.key``, created (mode 0600) on first use so the
    embedded default works without configuration. Losing that file means reconnecting the accounting systems."""
    if settings.secret_key:
        return Fernet(settings.secret_key.encode())
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
    return Fernet(path.read_bytes().strip())


def seal_tokens(fernet: Fernet, tokens: Tokens) -> str:
    plain = {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
    }
    return fernet.encrypt(json.dumps(plain).encode()).decode()


class UnreadableTokens(Exception):
    """The stored tokens cannot be decrypted with the current key (the key changed): reconnect."""


def open_tokens(fernet: Fernet, sealed: str) -> Tokens:
    try:
        plain = json.loads(fernet.decrypt(sealed.encode()))
    except InvalidToken as error:
        raise UnreadableTokens("the stored tokens cannot be decrypted with the current secret key") from error
    return Tokens(plain["access_token"], plain["refresh_token"], datetime.fromisoformat(plain["expires_at"]))
