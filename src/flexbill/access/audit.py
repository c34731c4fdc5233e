"""The audit trail: every change a person or an API key makes is recorded, with who, when, and the values before
and after, in the same transaction as the change.

Changes are caught where they all pass, the ORM's flush, rather than by each use case remembering to log: a
request sets who is acting (``session.info["actor"]``, or lazily through the request's state) and every row it
inserts, updates or deletes is written down. The worker's own bookkeeping (tasks, sync records, emails, sessions)
is not the staff's doing and is left out, as are secrets, which appear as ``"***"``. Changes made with set-based
statements (the bill run's bulk inserts, for one) are recorded by their use case with :func:`record`.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history

from flexbill.access.model import Actor
from flexbill.access.store import AuditRow
from flexbill.db import new_id

# Bookkeeping of machines, not decisions of people: recording it would bury the changes that matter.
NOT_AUDITED = frozenset(
    {
        "audit_log",
        "tasks",
        "task_groups",
        "sync_records",
        "sync_log",
        "accounting_documents",
        "accounting_inbound_events",
        "emails",
        "gateway_events",
        "charge_attempts",
        "web_sessions",
        "sign_in_attempts",
        "member_links",
        "number_sequences",
        "webhook_events",
        "webhook_deliveries",
        "webhook_attempts",
    }
)
SECRET_COLUMNS = frozenset(
    {"password_hash", "digest", "tokens", "secret_key", "webhook_secret", "secret", "oauth_state"}
)
MASK = "***"


# The state of the web request being served (Starlette's ``scope["state"]``), set by the web app's middleware:
# the request's authentication puts its actor there, and every session opened while serving it, even inside a use
# case, finds it.
request_state: ContextVar[dict[str, Any] | None] = ContextVar("flexbill_request_state", default=None)


def actor_of(session: Session) -> Actor | None:
    actor = session.info.get("actor")
    if isinstance(actor, Actor):
        return actor
    state = request_state.get()
    found = state.get("actor") if state is not None else None
    return found if isinstance(found, Actor) else None


def act_as(session: Session, actor: Actor) -> None:
    session.info["actor"] = actor


def record(
    session: Session,
    action: str,
    *,
    entity_type: str | None = None,
    entity_id: object = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> None:
    """Write one entry for a change the flush does not see (a bulk statement, a sign-in, an export)."""
    who = actor or actor_of(session)
    if who is None:
        return
    session.execute(insert(AuditRow), [_entry(who, action, entity_type, entity_id, before, after)])


def watch(sessions: sessionmaker[Session]) -> None:
    """Record the changes made through every session of this factory."""
    event.listen(sessions, "after_flush", _after_flush)


def _after_flush(session: Session, _context: object) -> None:
    actor = actor_of(session)
    if actor is None:
        return
    entries: list[dict[str, Any]] = []
    for obj in session.new:
        table = _table_of(obj)
        if table is not None:
            entries.append(_entry(actor, f"{table}.create", table, _id_of(obj), None, _values(obj)))
    for obj in session.dirty:
        table = _table_of(obj)
        if table is None or not session.is_modified(obj, include_collections=False):
            continue
        before, after = _changes(obj)
        if after:
            entries.append(_entry(actor, f"{table}.update", table, _id_of(obj), before, after))
    for obj in session.deleted:
        table = _table_of(obj)
        if table is not None:
            entries.append(_entry(actor, f"{table}.delete", table, _id_of(obj), _values(obj), None))
    if entries:
        session.connection().execute(insert(AuditRow), entries)


def _table_of(obj: object) -> str | None:
    table = getattr(obj, "__tablename__", None)
    return table if isinstance(table, str) and table not in NOT_AUDITED else None


def _id_of(obj: object) -> object:
    key = inspect(obj).mapper.primary_key_from_instance(obj)  # set by now, even for a row just inserted
    return key[0] if len(key) == 1 else ",".join(str(part) for part in key)


def _values(obj: object) -> dict[str, Any]:
    state = inspect(obj)
    return {
        attr.key: _plain(attr.key, getattr(obj, attr.key))
        for attr in state.mapper.column_attrs
        if attr.key in state.dict
    }


def _changes(obj: object) -> tuple[dict[str, Any], dict[str, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attr in inspect(obj).mapper.column_attrs:
        if attr.key in ("updated_at",):
            continue
        history = get_history(obj, attr.key)
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old == new:
            continue
        before[attr.key] = _plain(attr.key, old)
        after[attr.key] = _plain(attr.key, new)
    return before, after


def _plain(key: str, value: Any) -> Any:
    """A JSON value: decimals, dates and ids as strings, secrets masked."""
    if key in SECRET_COLUMNS and value is not None:
        return MASK
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(key, v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _entry(
    actor: Actor,
    action: str,
    entity_type: str | None,
    entity_id: object,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "at": datetime.now(UTC),
        "actor_kind": actor.kind.value,
        "actor_id": actor.id,
        "actor_label": actor.label[:320],
        "ip": actor.ip,
        "action": action[:100],
        "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id)[:64],
        "before": None if before is None else {k: _plain(k, v) for k, v in before.items()},
        "after": None if after is None else {k: _plain(k, v) for k, v in after.items()},
    }
