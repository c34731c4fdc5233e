"""Who may come in, and what they did: API keys, staff users, browser sessions, sign-in attempts, members' sign-in
links and the audit trail.

Secrets are never stored as given: API keys, session tokens and sign-in links keep only a SHA-256 digest (they are
256-bit random values, which no one can brute-force back from a digest), passwords keep an argon2 hash.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from flexbill.db import Base, new_id, utcnow


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100), default="read write")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class UserRow(Base):
    """A member of the operator's staff who signs in to the console."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('owner', 'admin', 'billing', 'read_only')", name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # kept lower-case
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class WebSessionRow(Base):
    """A signed-in browser: a staff user in the console, or a member (by email address) in the portal."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        CheckConstraint("kind IN ('staff', 'member')", name="kind"),
        CheckConstraint("(kind = 'staff') = (user_id IS NOT NULL)", name="staff_has_user"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class SignInAttemptRow(Base):
    """Each sign-in attempt, failed or not: counting the recent failures throttles guessing, per address and per
    client, in every process at once."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_email_at", "email", "at"),
        Index("ix_sign_in_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10))  # staff (password) or member (emailed link)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(45))
    at: Mapped[datetime]
    succeeded: Mapped[bool]


class MemberLinkRow(Base):
    """A one-time sign-in link mailed to a member: valid for a short while, used once."""

    __tablename__ = "member_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AuditRow(Base):
    """One change: who made it, when, to what, and the values before and after (secrets masked)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
        Index("ix_audit_log_actor", "actor_kind", "actor_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)  # time-ordered: newest sorts last
    at: Mapped[datetime]
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[uuid.UUID | None]
    actor_label: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str | None] = mapped_column(String(45))
    action: Mapped[str] = mapped_column(String(100))  # e.g. customers.update, invoice.void, user.sign_in
    entity_type: Mapped[str | None] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
