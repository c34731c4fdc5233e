"""The outbox's use cases on a real database: enqueue once per key, claim due work in order and in batches,
respect paused and delayed groups, take over expired leases and refuse the stale worker's late write."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from flexbill.bootstrap import Context
from flexbill.tasks import service as tasks
from flexbill.tasks.service import Task
from flexbill.tasks.store import TaskGroupRow, TaskRow
from tests.conftest import NOW, ON_POSTGRESQL

LEASE = timedelta(minutes=5)
CONNECTION = "accounting:conn-1"
OTHER = "accounting:conn-2"


def add(ctx: Context, kind: str, key: str, *, at: datetime = NOW, group: str | None = None) -> None:
    with ctx.sessions() as db, db.begin():
        assert tasks.enqueue(db, kind, key, group=group, payload={"record": key}, run_at=at)


def claim(
    ctx: Context, now: datetime = NOW, *, worker: str = "w1", sizes: dict[str, int] | None = None
) -> list[Task]:  # fmt: skip
    with ctx.sessions() as db, db.begin():
        return tasks.claim(db, worker, now, LEASE, sizes or {"sync": 10, "email": 10})


def keys(claimed: list[Task]) -> list[str]:
    return [task.key for task in claimed]


def row(ctx: Context, key: str) -> TaskRow:
    with ctx.sessions() as db:
        found = db.scalars(select(TaskRow).where(TaskRow.key == key)).one()
        db.expunge(found)
        return found


def test_a_key_is_enqueued_once_even_from_two_transactions(ctx: Context) -> None:
    with ctx.sessions() as db, db.begin():
        first = tasks.enqueue(db, "sync", "sync:invoice:1:v1", payload={"invoice_id": "1"}, run_at=NOW)
        again = tasks.enqueue(db, "sync", "sync:invoice:1:v1", payload={"invoice_id": "other"}, run_at=NOW)
    with ctx.sessions() as db, db.begin():
        later = tasks.enqueue(db, "sync", "sync:invoice:1:v1", run_at=NOW + timedelta(days=1))

    assert (first, again, later) == (True, False, False)
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(TaskRow)) == 1
        kept = db.scalars(select(TaskRow)).one()
        assert (kept.payload, kept.run_at, kept.status, kept.attempts) == ({"invoice_id": "1"}, NOW, "pending", 0)


def test_a_task_exists_exactly_when_the_change_that_causes_it_does(ctx: Context) -> None:
    with ctx.sessions() as db, db.begin():
        tasks.enqueue(db, "sync", "sync:invoice:2:v1", run_at=NOW)
        db.rollback()  # the invoice could not be saved
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(TaskRow)) == 0


def test_a_payload_is_an_object_of_strings(ctx: Context) -> None:
    with ctx.sessions() as db, db.begin(), pytest.raises(TypeError, match="strings to strings"):
        tasks.enqueue(db, "sync", "k", payload={"amount": 12.5}, run_at=NOW)  # type: ignore[dict-item]


def test_times_in_any_timezone_are_the_same_instants(ctx: Context) -> None:
    # 13:30 in UTC+2 is 11:30 UTC: due at noon UTC. Stored naively on SQLite, it would compare as 13:30.
    add(ctx, "sync", "east", at=datetime(2026, 11, 26, 13, 30, tzinfo=timezone(timedelta(hours=2))))
    add(ctx, "sync", "west", at=datetime(2026, 11, 26, 6, 30, tzinfo=timezone(timedelta(hours=-5))))  # 11:30 UTC

    assert row(ctx, "east").run_at == datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    assert keys(claim(ctx)) == ["east", "west"]
    with ctx.sessions() as db, pytest.raises(ValueError, match="no timezone"), db.begin():
        tasks.enqueue(db, "sync", "naive", run_at=datetime(2026, 11, 26, 12, 0))  # noqa: DTZ001


def test_the_earliest_due_task_leads_and_only_due_tasks_of_handled_kinds_are_claimed(ctx: Context) -> None:
    add(ctx, "sync", "later", at=NOW + timedelta(seconds=1))
    add(ctx, "email", "second", at=NOW - timedelta(minutes=1))
    add(ctx, "sync", "first", at=NOW - timedelta(minutes=2))
    add(ctx, "charge", "not handled", at=NOW - timedelta(hours=1))

    assert keys(claim(ctx)) == ["first"]
    assert keys(claim(ctx)) == ["second"]
    assert claim(ctx) == []  # "later" is not due; nobody here handles "charge"
    assert keys(claim(ctx, NOW + timedelta(seconds=1))) == ["later"]
    assert keys(claim(ctx, sizes={"charge": 1})) == ["not handled"]


def test_a_batch_is_one_kind_and_one_group_up_to_the_batch_size(ctx: Context) -> None:
    for n in range(5):
        add(ctx, "sync", f"a{n}", at=NOW - timedelta(minutes=10 - n), group=CONNECTION)
    add(ctx, "sync", "b0", at=NOW - timedelta(minutes=8), group=OTHER)
    add(ctx, "email", "e0", at=NOW - timedelta(minutes=7), group=CONNECTION)
    add(ctx, "sync", "n0", at=NOW - timedelta(minutes=20))
    add(ctx, "sync", "n1", at=NOW - timedelta(minutes=1))

    sizes = {"sync": 3, "email": 3}
    assert keys(claim(ctx, sizes=sizes)) == ["n0", "n1"]  # no group is a group of its own
    first = claim(ctx, sizes=sizes)
    assert keys(first) == ["a0", "a1", "a2"]
    assert {task.group for task in first} == {CONNECTION}
    assert keys(claim(ctx, sizes=sizes)) == ["b0"]
    assert keys(claim(ctx, sizes=sizes)) == ["a3", "a4"]
    assert keys(claim(ctx, sizes=sizes)) == ["e0"]


def test_claiming_marks_the_tasks_running_under_a_lease_and_counts_an_attempt(ctx: Context) -> None:
    add(ctx, "sync", "k", group=CONNECTION)
    [task] = claim(ctx, worker="w1")

    assert (task.kind, task.group, dict(task.payload), task.attempts, task.run_at) == (
        "sync", CONNECTION, {"record": "k"}, 1, NOW
    )  # fmt: skip
    stored = row(ctx, "k")
    assert (stored.status, stored.leased_by, stored.lease_expires_at, stored.attempts) == (
        "running",
        "w1",
        NOW + LEASE,
        1,
    )
    assert claim(ctx, NOW + LEASE - timedelta(seconds=1), worker="w2") == []  # the lease holds


def test_an_expired_lease_is_taken_over_and_the_stale_worker_cannot_overwrite_the_result(ctx: Context) -> None:
    add(ctx, "sync", "k")
    [stale] = claim(ctx, worker="crashed")
    later = NOW + LEASE + timedelta(seconds=1)
    [taken] = claim(ctx, later, worker="w2")
    assert (taken.id, taken.attempts) == (stale.id, 2)

    with ctx.sessions() as db, db.begin():
        assert not tasks.fail(db, stale.id, error="late", worker_id="crashed", attempt=1, now=later)
        assert not tasks.retry(db, stale.id, at=later, error="late", worker_id="crashed", attempt=1)
        assert not tasks.complete(db, stale.id, worker_id="crashed", attempt=1, now=later)
        assert tasks.release(db, [stale.id], later, worker_id="crashed") == 0
        assert tasks.complete(db, taken.id, worker_id="w2", attempt=2, now=later)
    stored = row(ctx, "k")
    assert (stored.status, stored.attempts, stored.finished_at, stored.last_error) == ("done", 2, later, None)
    assert stored.leased_by is None


def test_the_same_worker_claiming_again_is_a_new_claim(ctx: Context) -> None:
    # The attempt is part of the claim: a worker's answer for its first run cannot land on its second.
    add(ctx, "sync", "k")
    [first] = claim(ctx, worker="w1")
    [second] = claim(ctx, NOW + LEASE, worker="w1")
    with ctx.sessions() as db, db.begin():
        assert not tasks.complete(db, first.id, worker_id="w1", attempt=first.attempts, now=NOW + LEASE)
        assert tasks.complete(db, second.id, worker_id="w1", attempt=second.attempts, now=NOW + LEASE)


def test_a_worker_whose_lease_expired_unnoticed_still_records_its_result(ctx: Context) -> None:
    add(ctx, "sync", "k")
    [task] = claim(ctx, worker="slow")
    with ctx.sessions() as db, db.begin():
        assert tasks.complete(db, task.id, worker_id="slow", attempt=1, now=NOW + 2 * LEASE)
    assert row(ctx, "k").status == "done"


def test_retry_fail_and_requeue(ctx: Context) -> None:
    add(ctx, "sync", "k")
    [task] = claim(ctx)
    with ctx.sessions() as db, db.begin():
        assert tasks.retry(
            db, task.id, at=NOW + timedelta(minutes=1), error="Transient: 503", worker_id="w1", attempt=1
        )
    stored = row(ctx, "k")
    assert (stored.status, stored.run_at, stored.last_error, stored.attempts) == (
        "pending", NOW + timedelta(minutes=1), "Transient: 503", 1
    )  # fmt: skip
    assert claim(ctx) == []
    [task] = claim(ctx, NOW + timedelta(minutes=1))
    with ctx.sessions() as db, db.begin():
        assert not tasks.requeue(db, "k", NOW)  # only a failed task goes back
        assert tasks.fail(db, task.id, error="Rejected: no account 200", worker_id="w1", attempt=2, now=NOW)
    assert claim(ctx, NOW + timedelta(days=1)) == []  # failed stays failed

    later = NOW + timedelta(hours=1)
    with ctx.sessions() as db, db.begin():
        assert tasks.requeue(db, task.id, later)
        assert not tasks.requeue(db, "no such key", later)
    stored = row(ctx, "k")
    assert (stored.status, stored.attempts, stored.run_at, stored.finished_at) == ("pending", 0, later, None)
    assert stored.last_error == "Rejected: no account 200"  # shown until it runs again
    [again] = claim(ctx, later)
    assert again.attempts == 1


def test_release_hands_tasks_back_without_counting_the_attempt(ctx: Context) -> None:
    add(ctx, "sync", "a", group=CONNECTION)
    add(ctx, "sync", "b", group=CONNECTION)
    claimed = claim(ctx)
    until = NOW + timedelta(seconds=30)
    with ctx.sessions() as db, db.begin():
        assert tasks.release(db, [task.id for task in claimed], until, worker_id="w1") == 2
    for key in ("a", "b"):
        stored = row(ctx, key)
        assert (stored.status, stored.attempts, stored.run_at, stored.leased_by) == ("pending", 0, until, None)


def test_a_paused_group_is_skipped_until_resumed(ctx: Context) -> None:
    add(ctx, "sync", "paused", at=NOW - timedelta(hours=1), group=CONNECTION)
    add(ctx, "sync", "free", group=OTHER)
    with ctx.sessions() as db, db.begin():
        tasks.pause_group(db, CONNECTION, "reconnect needed: token revoked")
        tasks.pause_group(db, CONNECTION, "reconnect needed: consent withdrawn")  # the latest reason wins

    [free] = claim(ctx)
    assert free.key == "free"
    with ctx.sessions() as db, db.begin():
        tasks.complete(db, free.id, worker_id="w1", attempt=1, now=NOW)
    assert claim(ctx, NOW + timedelta(days=30)) == []
    with ctx.sessions() as db:
        state = tasks.group_state(db, CONNECTION)
        assert state.paused_reason == "reconnect needed: consent withdrawn"
        assert state.blocked(NOW)
        assert not tasks.group_state(db, "never seen").blocked(NOW)
        assert tasks.pending_count(db, group=CONNECTION) == 1

    with ctx.sessions() as db, db.begin():
        tasks.resume_group(db, CONNECTION, NOW)
    assert keys(claim(ctx)) == ["paused"]


def test_resuming_a_group_makes_its_retries_due_now_but_not_its_scheduled_tasks(ctx: Context) -> None:
    add(ctx, "sync", "failing", group=CONNECTION)
    add(ctx, "sync", "tomorrow", at=NOW + timedelta(days=1), group=CONNECTION)
    [task] = claim(ctx)
    with ctx.sessions() as db, db.begin():
        tasks.retry(db, task.id, at=NOW + timedelta(hours=1), error="AuthExpired", worker_id="w1", attempt=1)
        tasks.pause_group(db, CONNECTION, "reconnect needed")
    later = NOW + timedelta(minutes=5)
    with ctx.sessions() as db, db.begin():
        tasks.resume_group(db, CONNECTION, later)
    assert keys(claim(ctx, later)) == ["failing"]
    assert row(ctx, "tomorrow").run_at == NOW + timedelta(days=1)


def test_a_delayed_group_waits_and_a_shorter_delay_never_cuts_a_longer_one(ctx: Context) -> None:
    add(ctx, "sync", "k", group=CONNECTION)
    with ctx.sessions() as db, db.begin():
        tasks.delay_group(db, CONNECTION, NOW + timedelta(seconds=60))
        tasks.delay_group(db, CONNECTION, NOW + timedelta(seconds=10))  # a second worker's 429, read earlier
    with ctx.sessions() as db:
        assert tasks.group_state(db, CONNECTION).not_before == NOW + timedelta(seconds=60)
    assert claim(ctx, NOW + timedelta(seconds=59)) == []
    assert keys(claim(ctx, NOW + timedelta(seconds=60))) == ["k"]

    with ctx.sessions() as db, db.begin():
        tasks.delay_group(db, CONNECTION, NOW + timedelta(seconds=90))
        assert tasks.group_state(db, CONNECTION).not_before == NOW + timedelta(seconds=90)
        assert db.scalar(select(func.count()).select_from(TaskGroupRow)) == 1


def test_pending_count_and_tasks_by_key(ctx: Context) -> None:
    add(ctx, "sync", "a", group=CONNECTION)
    add(ctx, "sync", "b", group=OTHER)
    add(ctx, "email", "c", group=CONNECTION)
    add(ctx, "sync", "d", group=CONNECTION)
    claimed = claim(ctx, sizes={"sync": 1})
    with ctx.sessions() as db, db.begin():
        tasks.complete(db, claimed[0].id, worker_id="w1", attempt=1, now=NOW)
        assert tasks.pending_count(db) == 3
        assert tasks.pending_count(db, kind="sync") == 2
        assert tasks.pending_count(db, kind="sync", group=CONNECTION) == 1
        assert tasks.pending_count(db, group=CONNECTION) == 2
        found = tasks.tasks_by_key(db, ["a", "b", "missing"])
    assert set(found) == {"a", "b"}
    assert (found["a"].status, found["a"].finished_at, found["b"].status) == ("done", NOW, "pending")


def test_tasks_by_key_takes_thousands_of_keys(ctx: Context) -> None:
    with ctx.sessions() as db, db.begin():
        for n in range(1200):
            tasks.enqueue(db, "sync", f"k{n}", run_at=NOW)
    with ctx.sessions() as db:
        assert len(tasks.tasks_by_key(db, [f"k{n}" for n in range(1300)])) == 1200


def test_the_next_due_instant_skips_paused_groups_and_includes_delays_and_leases(ctx: Context) -> None:
    kinds = ["sync"]
    with ctx.sessions() as db:
        assert tasks.next_due_at(db, kinds, NOW) is None
    add(ctx, "sync", "paused", at=NOW + timedelta(seconds=5), group=OTHER)
    add(ctx, "sync", "delayed", at=NOW - timedelta(seconds=5), group=CONNECTION)
    add(ctx, "email", "other kind", at=NOW + timedelta(seconds=1))
    with ctx.sessions() as db, db.begin():
        tasks.pause_group(db, OTHER, "reconnect")
        tasks.delay_group(db, CONNECTION, NOW + timedelta(seconds=40))
    with ctx.sessions() as db:
        assert tasks.next_due_at(db, kinds, NOW) == NOW + timedelta(seconds=40)

    add(ctx, "sync", "soon", at=NOW + timedelta(seconds=30))
    with ctx.sessions() as db:
        assert tasks.next_due_at(db, kinds, NOW) == NOW + timedelta(seconds=30)
    assert keys(claim(ctx, NOW + timedelta(seconds=30), sizes={"sync": 1})) == ["soon"]  # now under a lease
    with ctx.sessions() as db:
        assert tasks.next_due_at(db, kinds, NOW + timedelta(seconds=30)) == NOW + timedelta(seconds=40)
        assert tasks.next_due_at(db, kinds, NOW + timedelta(seconds=41)) == NOW + timedelta(seconds=30) + LEASE


def _claim_and_hold(ctx: Context, claimed: dict[str, list[str]], ready: threading.Event, hold: threading.Event) -> None:
    with ctx.sessions() as db, db.begin():
        claimed["w1"] = keys(tasks.claim(db, "w1", NOW, LEASE, {"sync": 3}))
        ready.set()
        hold.wait(10)  # the claim's transaction stays open, its rows locked


@pytest.mark.postgres_only
@ON_POSTGRESQL
def test_concurrent_claims_skip_each_others_rows_without_waiting(ctx: Context) -> None:
    """While one worker's claim transaction is still open, a second claims the next rows at once (SKIP LOCKED)
    instead of waiting for it or claiming the same ones."""
    for n in range(6):
        add(ctx, "sync", f"k{n}", at=NOW - timedelta(minutes=10 - n), group=CONNECTION)
    claimed: dict[str, list[str]] = {}
    ready, hold = threading.Event(), threading.Event()
    first = threading.Thread(target=_claim_and_hold, args=(ctx, claimed, ready, hold))
    first.start()
    try:
        assert ready.wait(10)
        with ctx.sessions() as db, db.begin():
            db.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting on w1's locks would fail, not hang
            claimed["w2"] = keys(tasks.claim(db, "w2", NOW, LEASE, {"sync": 3}))
    finally:
        hold.set()
        first.join(10)
    assert claimed == {"w1": ["k0", "k1", "k2"], "w2": ["k3", "k4", "k5"]}
