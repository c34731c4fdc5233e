"""How the sync engine reads a batch of tasks: one record, one piece of work, however many tasks it has."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flexbill.accounting.sync import Batch, idempotency_key
from flexbill.tasks.service import Task
from flexbill.worker import Done, Failed

RECORD = uuid.UUID(int=7)


def task(revision: int, record: uuid.UUID = RECORD) -> Task:
    payload = {"record_id": str(record), "revision": str(revision)}
    return Task(uuid.uuid4(), "accounting.payment", f"k{record}{revision}", "accounting:x", payload, 1, NOW)


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_record_with_two_tasks_is_done_by_the_newer_and_the_older_is_done_at_once() -> None:
    older, newer, other = task(1), task(2), task(1, uuid.UUID(int=8))
    batch = Batch.of([newer, other, older])
    assert batch.tasks == {RECORD: newer, uuid.UUID(int=8): other}
    assert batch.outcomes == {older.id: Done()}
    assert batch.revision(RECORD) == "2"

    batch.finish(RECORD, Failed("refused"))
    assert batch.outcomes_by_record() == {RECORD: Failed("refused")}
    assert set(batch.tasks) == {uuid.UUID(int=8)}


def test_the_same_batch_gets_the_same_idempotency_key_whatever_its_order() -> None:
    assert idempotency_key("invoices", ["a:1", "b:2"]) == idempotency_key("invoices", ["b:2", "a:1"])
    assert idempotency_key("invoices", ["a:1"]) != idempotency_key("invoices", ["a:2"])
    assert len(idempotency_key("invoices", [str(uuid.UUID(int=n)) for n in range(50)])) <= 128
