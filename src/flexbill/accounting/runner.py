"""Running sync work now and waiting for it: for `flexbill sync`, the pull-now endpoint and the demo.

The work itself always goes through the task machinery (the same tasks the background worker runs), so running
it here and a worker running it elsewhere never do it twice: whoever claims a task does it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from flexbill.accounting import outbox, sync
from flexbill.bootstrap import Context
from flexbill.db import new_id
from flexbill.tasks.service import TaskInfo, enqueue, group_state, tasks_by_key
from flexbill.worker import Worker, default_handlers


@dataclass(frozen=True, slots=True)
class Waited:
    tasks: dict[str, TaskInfo]
    timed_out: bool
    paused: str | None = None  # why the connection's work waits for a person (reconnect needed)

    @property
    def unfinished(self) -> list[TaskInfo]:
        return [info for info in self.tasks.values() if info.status not in ("done", "failed")]


def run_and_wait(ctx: Context, keys: Collection[str], *, timeout: timedelta = timedelta(minutes=10)) -> Waited:
    """Run the tasks with these keys (and what joins their batches) until each is done or failed, sleeping
    through retries and rate-limit waits, for at most ``timeout``. A paused group (reconnect needed) ends the
    wait at once: no amount of waiting fixes it."""
    worker = Worker(ctx, default_handlers(ctx))
    deadline = time.monotonic() + timeout.total_seconds()
    wanted = frozenset(keys)
    while True:
        worker.run_until_idle(only_keys=wanted)
        with ctx.readers() as db:
            infos = tasks_by_key(db, wanted)
            open_tasks = [info for info in infos.values() if info.status not in ("done", "failed")]
            if not open_tasks:
                return Waited(infos, timed_out=False)
            now = ctx.clock.now()
            wake = None
            for info in open_tasks:
                when = info.run_at
                if info.group is not None:
                    state = group_state(db, info.group)
                    if state.paused_reason is not None:
                        return Waited(infos, timed_out=False, paused=state.paused_reason)
                    if state.not_before is not None and state.not_before > when:
                        when = state.not_before
                wake = when if wake is None or when < wake else wake
        pause = max(0.05, (wake - now).total_seconds()) if wake is not None else 0.5
        if time.monotonic() + pause > deadline:
            return Waited(infos, timed_out=True)
        time.sleep(pause)


def pull_now(ctx: Context, connection_id: uuid.UUID) -> dict[str, object]:
    """Pull the connection's changes now, through a task (so it never runs beside a worker's pull twice)."""
    from flexbill.accounting.service import get_connection

    now = ctx.clock.now()
    key = f"accounting:pull:{connection_id}:now:{new_id()}"
    with ctx.sessions() as db, db.begin():
        get_connection(db, connection_id)
        enqueue(db, sync.PULL_TASK, key, group=outbox.group_of(connection_id), payload={}, run_at=now)
    waited = run_and_wait(ctx, [key], timeout=timedelta(minutes=2))
    info = waited.tasks[key]
    with ctx.readers() as db:
        connection = get_connection(db, connection_id)
        return {
            "status": info.status,
            "error": info.last_error,
            "pulled_as_of": connection.pulled_as_of.isoformat() if connection.pulled_as_of else None,
        }


def sync_report(ctx: Context, keys: Collection[str]) -> list[tuple[str, str, str, str, str]]:
    """For each record of these sync tasks: (kind, our number, status, the accounting system's number, error)."""
    from sqlalchemy import select

    from flexbill.accounting.model import RecordKind
    from flexbill.accounting.store import SyncRecordRow
    from flexbill.invoicing.store import CreditNoteRow, InvoiceRow

    wanted: list[tuple[RecordKind, uuid.UUID]] = []
    for key in keys:
        parts = key.split(":")
        if len(parts) == 4 and parts[0] == "accounting" and parts[1] in RecordKind._value2member_map_:
            wanted.append((RecordKind(parts[1]), uuid.UUID(parts[2])))
    rows: list[tuple[str, str, str, str, str]] = []
    with ctx.readers() as db:
        for kind, record_id in dict.fromkeys(wanted):
            record = db.scalars(
                select(SyncRecordRow).where(SyncRecordRow.kind == kind.value, SyncRecordRow.record_id == record_id)
            ).first()
            label = str(record_id)
            if kind is RecordKind.INVOICE and (invoice := db.get(InvoiceRow, record_id)) is not None:
                label = invoice.number or label
            elif kind is RecordKind.CREDIT_NOTE and (note := db.get(CreditNoteRow, record_id)) is not None:
                label = note.number
            if record is None:
                rows.append((kind.value, label, "not_synced", "", ""))
                continue
            number = record.external_number or ""
            rows.append((kind.value, label, record.status, number, record.error or ""))
    return rows
