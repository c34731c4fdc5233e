"""Encryption at rest of accounting tokens, with a key from settings (or one generated into the data directory)."""

from __future__ import annotations

import json
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken

from flexbill.accounting.model import Tokens
from flexbill.keys import fernet_for

__all__ = ["UnreadableTokens", "fernet_for", "open_tokens", "seal_tokens"]


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
