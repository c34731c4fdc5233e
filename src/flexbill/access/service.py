"""Creating and checking API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.access.store import ApiKeyRow
from flexbill.errors import InvalidInput

KEY_PREFIX = "fbk_"
SCOPES = frozenset({"read", "write"})


@dataclass(frozen=True, slots=True)
class NewApiKey:
    row: ApiKeyRow
    key: str  # shown once; only its digest is kept


def _digest(key: str) -> str:
    # A random 256-bit key needs no slow hash: SHA-256 cannot be brute-forced back to it.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str, scopes: frozenset[str] = SCOPES) -> NewApiKey:
    name = name.strip()
    if not name:
        raise InvalidInput("an API key needs a name", field="name")
    unknown = scopes - SCOPES
    if unknown or not scopes:
        raise InvalidInput(f"scopes are read and/or write, not {sorted(unknown) or 'none'}", field="scopes")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(name=name, prefix=key[:12], digest=_digest(key), scopes=" ".join(sorted(scopes)))
    session.add(row)
    session.flush()
    return NewApiKey(row=row, key=key)


def find_api_key(session: Session, key: str) -> ApiKeyRow | None:
    if not key.startswith(KEY_PREFIX):
        return None
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.digest == _digest(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row
