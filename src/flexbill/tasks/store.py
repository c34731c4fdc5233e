"""Tables of the outbox: one row per side effect on the outside world, and the state of the groups that share a
connection or a rate limit.

A task is written in the same transaction as the change that causes it, and its unique ``key`` is what stops the
same side effect from being enqueued twice. A task is *active* while it is ``pending`` or ``running``; the claim
query only ever looks at active tasks, so the partial indexes below stay as small as the backlog however many
finished tasks pile up.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from flexbill.db import Base, UtcDateTime, new_id, utcnow

PENDING = "pending"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
STATUSES = (PENDING, RUNNING, DONE, FAILED)

# Literal SQL, not bound parameters: SQLite uses a partial index only when the query repeats its condition as is.
ACTIVE_SQL = "status IN ('pending', 'running')"


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("status <> 'running' OR lease_expires_at IS NOT NULL", name="running_has_lease"),
        # The claim takes the earliest due active task of the kinds a worker handles ...
        Index("ix_tasks_due", "run_at", "id", sqlite_where=text(ACTIVE_SQL), postgresql_where=text(ACTIVE_SQL)),
        # ... then more of the same kind and group; counts of what is waiting use this one too.
        Index(
            "ix_tasks_kind_group_due",
            "kind",
            "group",
            "run_at",
            sqlite_where=text(ACTIVE_SQL),
            postgresql_where=text(ACTIVE_SQL),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(100))  # e.g. "accounting.sync": which handler runs it
    key: Mapped[str] = mapped_column(String(300), unique=True)  # e.g. "sync:invoice:<id>:v3"
    group: Mapped[str | None] = mapped_column(String(200))  # e.g. "accounting:<connection id>"
    payload: Mapped[dict[str, str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)  # claims that counted, including the one running now
    run_at: Mapped[datetime] = mapped_column(UtcDateTime())  # due from then
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(200))  # the worker holding the lease
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TaskGroupRow(Base):
    """A group's brakes. No row means the group runs freely."""

    __tablename__ = "task_groups"

    group: Mapped[str] = mapped_column(String(200), primary_key=True)
    paused_reason: Mapped[str | None] = mapped_column(Text)  # set: none of the group's tasks is claimed
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime())  # none is claimed before then
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
