"""Use cases of the outbox: enqueue a task in the caller's transaction, claim due tasks with a lease, record how
they ended, and brake a group (pause it, or delay it after a rate limit).

Time is always passed in. Each function runs in the session's current transaction; the caller commits.

Who may record an outcome: a task's claim stamps it with the worker's id and counts an attempt, and
``complete``, ``retry``, ``fail`` and ``release`` only write while the task is still running under that same
claim (``worker_id`` and ``attempt``). A worker whose lease expired, and whose task another worker has since
claimed, gets ``False`` back and changes nothing, so the late answer of a slow worker never overwrites the
result of the worker that took over.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, and_, case, func, literal_column, or_, select, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import GenerativeSelect

from flexbill.db import UtcDateTime, insert_for
from flexbill.tasks.store import DONE, FAILED, PENDING, RUNNING, TaskGroupRow, TaskRow

_Query = TypeVar("_Query", bound=GenerativeSelect)


@dataclass(frozen=True, slots=True)
class Task:
    """A claimed task, as its handler sees it. ``attempts`` counts this run (the first run is 1)."""

    id: uuid.UUID
    kind: str
    key: str
    group: str | None
    payload: Mapping[str, str]
    attempts: int
    run_at: datetime


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """Where a task stands, for the rest of the product (e.g. whether an invoice's sync is done or failed)."""

    id: uuid.UUID
    kind: str
    key: str
    group: str | None
    status: str  # pending, running, done or failed
    attempts: int
    run_at: datetime
    lease_expires_at: datetime | None
    leased_by: str | None
    last_error: str | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class GroupState:
    group: str
    paused_reason: str | None = None  # set: the group's tasks wait for someone to resume it
    not_before: datetime | None = None  # the group's tasks wait until then

    def blocked(self, now: datetime) -> bool:
        return self.paused_reason is not None or (self.not_before is not None and self.not_before > now)


def enqueue(
    session: Session,
    kind: str,
    key: str,
    *,
    group: str | None = None,
    payload: Mapping[str, str] | None = None,
    run_at: datetime,
) -> bool:
    """Add a task unless one with this key exists; True when a row was written.

    Runs in the caller's transaction, so the task exists exactly when the change that causes it does. The insert
    does nothing on a taken key (the database decides, not a check before it), so two transactions enqueuing the
    same key at once write one task.
    """
    if run_at.tzinfo is None:
        raise ValueError(f"run_at is an instant: {run_at!r} has no timezone")
    values = dict(payload or {})
    if not all(isinstance(name, str) and isinstance(value, str) for name, value in values.items()):
        raise TypeError(f"a task's payload maps strings to strings, not {values!r}")
    statement = (
        insert_for(session)(TaskRow)
        .values(kind=kind, key=key, group=group, payload=values, status=PENDING, attempts=0, run_at=run_at)
        .on_conflict_do_nothing(index_elements=[TaskRow.key])
        .returning(TaskRow.id)  # an INSERT's row count is not reliable on every driver; a returned id is
    )
    return session.execute(statement).first() is not None


def claim(
    session: Session,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    batch_sizes: Mapping[str, int],
    *,
    lead_keys: Collection[str] | None = None,
) -> list[Task]:
    """Claim one batch: the earliest due task of a kind in ``batch_sizes`` whose group is neither paused nor
    delayed, and up to its kind's batch size less one more due tasks of the same kind and group.

    A task is due when it is pending and its ``run_at`` has come, or running under a lease that has expired (its
    worker crashed or hung). Claiming marks the tasks running under ``worker_id`` until ``now + lease`` and counts
    an attempt. With ``lead_keys``, the first task is one of those keys (the batch may still carry others).

    On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets many workers claim at once, each passing over the rows another
    is claiming. On SQLite the writing transaction already holds the database's write lock.
    """
    kinds = sorted(kind for kind, size in batch_sizes.items() if size > 0)
    if not kinds or (lead_keys is not None and not lead_keys):
        return []
    blocked = select(TaskGroupRow.group).where(
        or_(TaskGroupRow.paused_reason.is_not(None), TaskGroupRow.not_before > now)
    )
    lead = (
        select(TaskRow.id, TaskRow.kind, TaskRow.group)
        .where(_due(now), TaskRow.kind.in_(kinds), or_(TaskRow.group.is_(None), TaskRow.group.not_in(blocked)))
        .order_by(TaskRow.run_at, TaskRow.id)
        .limit(1)
    )
    if lead_keys is not None:
        lead = lead.where(TaskRow.key.in_(sorted(lead_keys)))
    first = session.execute(_skip_locked(session, lead)).first()
    if first is None:
        return []
    ids = [first.id]
    more = batch_sizes[first.kind] - 1
    if more > 0:
        same_group = TaskRow.group.is_(None) if first.group is None else TaskRow.group == first.group
        mates = (
            select(TaskRow.id)
            .where(_due(now), TaskRow.kind == first.kind, same_group, TaskRow.id != first.id)
            .order_by(TaskRow.run_at, TaskRow.id)
            .limit(more)
        )
        ids.extend(session.scalars(_skip_locked(session, mates)))
    claimed = session.execute(
        update(TaskRow)
        .where(TaskRow.id.in_(ids))
        .values(status=RUNNING, leased_by=worker_id, lease_expires_at=now + lease, attempts=TaskRow.attempts + 1)
        .returning(TaskRow.id, TaskRow.kind, TaskRow.key, TaskRow.group, TaskRow.payload, TaskRow.attempts,
                   TaskRow.run_at)
        .execution_options(synchronize_session=False)
    ).all()  # fmt: skip
    tasks = [Task(row.id, row.kind, row.key, row.group, dict(row.payload), row.attempts, row.run_at) for row in claimed]
    return sorted(tasks, key=lambda task: (task.run_at, task.id))


def complete(session: Session, task_id: uuid.UUID, *, worker_id: str, attempt: int, now: datetime) -> bool:
    """The task's work is done. False (and nothing written) when the claim is no longer this worker's."""
    return _finish(session, task_id, worker_id, attempt, status=DONE, finished_at=now)


def retry(
    session: Session, task_id: uuid.UUID, *, at: datetime, error: str, worker_id: str, attempt: int
) -> bool:  # fmt: skip
    """Run the task again from ``at``; the attempt counts. False when the claim is no longer this worker's."""
    return _finish(session, task_id, worker_id, attempt, status=PENDING, run_at=at, last_error=error)


def fail(session: Session, task_id: uuid.UUID, *, error: str, worker_id: str, attempt: int, now: datetime) -> bool:
    """Give the task up: it stays ``failed`` until someone ``requeue``s it. False when the claim is no longer
    this worker's."""
    return _finish(session, task_id, worker_id, attempt, status=FAILED, last_error=error, finished_at=now)


def release(session: Session, task_ids: Iterable[uuid.UUID], at: datetime, *, worker_id: str) -> int:
    """Hand claimed tasks back, due from ``at``, without counting the attempt: the group was delayed or paused,
    so the tasks did not really run. Returns how many were still this worker's to release."""
    ids = list(task_ids)
    if not ids:
        return 0
    result = session.execute(
        update(TaskRow)
        .where(TaskRow.id.in_(ids), TaskRow.status == RUNNING, TaskRow.leased_by == worker_id)
        .values(status=PENDING, run_at=at, attempts=TaskRow.attempts - 1, lease_expires_at=None, leased_by=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def requeue(session: Session, key_or_id: str | uuid.UUID, now: datetime) -> bool:
    """A failed task back to pending, due now, with its attempts reset: for "try again, the operator fixed the
    mapping". False when no failed task has that key or id. The last error stays until the task runs again."""
    which = TaskRow.id == key_or_id if isinstance(key_or_id, uuid.UUID) else TaskRow.key == key_or_id
    result = session.execute(
        update(TaskRow)
        .where(which, TaskRow.status == FAILED)
        .values(status=PENDING, attempts=0, run_at=now, finished_at=None, lease_expires_at=None, leased_by=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def pause_group(session: Session, group: str, reason: str) -> None:
    """Claim none of the group's tasks until ``resume_group``: e.g. the connection needs the operator to
    reconnect. Tasks already running finish; nothing is lost."""
    _upsert_group(session, group, paused_reason=reason)


def resume_group(session: Session, group: str, now: datetime) -> None:
    """Let the group run again: clears a pause and a delay. Its tasks waiting for a retry after a failure are
    made due now, since what failed them was most likely what the operator has just fixed; tasks scheduled for
    later in the first place keep their time."""
    session.execute(
        update(TaskGroupRow)
        .where(TaskGroupRow.group == group)
        .values(paused_reason=None, not_before=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(TaskRow)
        .where(TaskRow.group == group, TaskRow.status == PENDING, TaskRow.attempts > 0, TaskRow.run_at > now)
        .values(run_at=now)
        .execution_options(synchronize_session=False)
    )


def delay_group(session: Session, group: str, until: datetime) -> None:
    """Claim none of the group's tasks before ``until``, e.g. after a 429 with Retry-After. A later delay wins;
    an earlier one never shortens a delay already set (two workers rate limited at once)."""
    insert = insert_for(session)(TaskGroupRow).values(group=group, not_before=until)
    existing = TaskGroupRow.not_before
    statement = insert.on_conflict_do_update(
        index_elements=[TaskGroupRow.group],
        set_={
            "not_before": case(
                (or_(existing.is_(None), existing < insert.excluded.not_before), insert.excluded.not_before),
                else_=existing,
            ),
            "updated_at": insert.excluded.updated_at,
        },
    )
    session.execute(statement)


def group_state(session: Session, group: str) -> GroupState:
    row = session.get(TaskGroupRow, group, populate_existing=True)
    if row is None:
        return GroupState(group)
    return GroupState(group, row.paused_reason, row.not_before)


def pending_count(session: Session, kind: str | None = None, group: str | None = None) -> int:
    """How many tasks are not finished yet (pending, or running now), of a kind and a group if given."""
    query = select(func.count()).select_from(TaskRow).where(_active())
    if kind is not None:
        query = query.where(TaskRow.kind == kind)
    if group is not None:
        query = query.where(TaskRow.group == group)
    return session.scalar(query) or 0


def tasks_by_key(session: Session, keys: Iterable[str]) -> dict[str, TaskInfo]:
    """The tasks with these keys, by key in the order of ``keys``; keys no task has are left out."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, TaskInfo] = {}
    for start in range(0, len(wanted), 500):  # stay well under the databases' limits on bound parameters
        rows = session.execute(select(*_INFO_COLUMNS).where(TaskRow.key.in_(wanted[start : start + 500])))
        found.update((row.key, TaskInfo(*row)) for row in rows)
    return {key: found[key] for key in wanted if key in found}


def next_due_at(session: Session, kinds: Collection[str], now: datetime) -> datetime | None:
    """The earliest instant after ``now`` at which a task of these kinds may become claimable: a pending task's
    ``run_at``, a running task's lease expiry, or the end of a group's delay. None when nothing is waiting but
    paused groups. A worker with nothing to do sleeps until then."""
    if not kinds:
        return None
    kind_list = sorted(kinds)
    active = and_(_active(), TaskRow.kind.in_(kind_list))
    paused = select(TaskGroupRow.group).where(TaskGroupRow.paused_reason.is_not(None))
    free = or_(TaskRow.group.is_(None), TaskRow.group.not_in(paused))
    due_at = case((TaskRow.status == RUNNING, TaskRow.lease_expires_at), else_=TaskRow.run_at)
    tasks_next = select(type_coerce(func.min(due_at), UtcDateTime())).where(active, free, due_at > now)
    delays_next = select(func.min(TaskGroupRow.not_before)).where(
        TaskGroupRow.paused_reason.is_(None),
        TaskGroupRow.not_before > now,
        TaskGroupRow.group.in_(select(TaskRow.group).where(active)),
    )
    candidates = [session.scalar(tasks_next), session.scalar(delays_next)]
    present = [when for when in candidates if when is not None]
    return min(present) if present else None


_INFO_COLUMNS = (
    TaskRow.id, TaskRow.kind, TaskRow.key, TaskRow.group, TaskRow.status, TaskRow.attempts, TaskRow.run_at,
    TaskRow.lease_expires_at, TaskRow.leased_by, TaskRow.last_error, TaskRow.finished_at,
)  # fmt: skip


def _active() -> ColumnElement[bool]:
    # Spelled as the partial indexes' condition (literals, not parameters) so that SQLite uses them.
    return TaskRow.status.in_([literal_column(f"'{PENDING}'"), literal_column(f"'{RUNNING}'")])


def _due(now: datetime) -> ColumnElement[bool]:
    # A running task's run_at has come too (it was due when claimed), so run_at <= now holds for every due task
    # and the index on run_at serves both cases.
    return and_(_active(), TaskRow.run_at <= now, or_(TaskRow.status == PENDING, TaskRow.lease_expires_at <= now))


def _skip_locked(session: Session, query: _Query) -> _Query:
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, of=TaskRow)
    return query


def _finish(session: Session, task_id: uuid.UUID, worker_id: str, attempt: int, **values: Any) -> bool:
    result = session.execute(
        update(TaskRow)
        .where(
            TaskRow.id == task_id,
            TaskRow.status == RUNNING,
            TaskRow.leased_by == worker_id,
            TaskRow.attempts == attempt,
        )
        .values(lease_expires_at=None, leased_by=None, **values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def _upsert_group(session: Session, group: str, **values: Any) -> None:
    insert = insert_for(session)(TaskGroupRow).values(group=group, **values)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[TaskGroupRow.group],
            set_={**{name: insert.excluded[name] for name in values}, "updated_at": insert.excluded.updated_at},
        )
    )


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount
