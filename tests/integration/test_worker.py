"""The worker on a real database: batches, outcomes, retries with backoff, group delays and pauses that lose no
task, a stale worker's refused write, run_until_idle for the CLI, the recurring schedule, the background thread,
the `flexbill worker` command, and several worker processes draining one queue without running a task twice."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, insert, select
from typer.testing import CliRunner

from flexbill import worker as worker_module
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.db import make_engine, make_session_factory
from flexbill.settings import Settings, get_settings
from flexbill.tasks import service as tasks
from flexbill.tasks.service import Task, TaskInfo
from flexbill.worker import (
    MIN_DELAY,
    DelayGroup,
    Done,
    Failed,
    Handler,
    Outcome,
    PauseGroup,
    Recurring,
    RetryLater,
    TaskHandler,
    Worker,
    backoff,
    default_handlers,
    default_recurring,
    register,
    register_recurring,
    start_in_thread,
)
from tests.conftest import NOW

GROUP = "accounting:conn-1"


@dataclass
class Recorder:
    """A handler that records the batches it is given and answers what ``answer`` says (or raises ``raises``)."""

    kind: str = "sync"
    batch_size: int = 10
    answer: Callable[[Task], Outcome] = lambda _task: Done()
    raises: Exception | None = None
    batches: list[list[str]] = field(default_factory=list)
    during: Callable[[], None] | None = None

    def __call__(self, ctx: Context, batch: Sequence[Task], /) -> Mapping[uuid.UUID, Outcome]:
        self.batches.append([task.key for task in batch])
        if self.during is not None:
            self.during()
        if self.raises is not None:
            raise self.raises
        return {task.id: self.answer(task) for task in batch}


def make_worker(ctx: Context, *handlers: TaskHandler, **options: Any) -> Worker:
    return Worker(
        ctx, {handler.kind: handler for handler in handlers}, worker_id=options.pop("worker_id", "w1"), **options
    )


def add(ctx: Context, key: str, *, kind: str = "sync", at: datetime = NOW, group: str | None = GROUP) -> None:
    with ctx.sessions() as db, db.begin():
        assert tasks.enqueue(db, kind, key, group=group, payload={"n": key}, run_at=at)


def info(ctx: Context, key: str) -> TaskInfo:
    with ctx.readers() as db:
        return tasks.tasks_by_key(db, [key])[key]


def statuses(ctx: Context, *keys: str) -> list[str]:
    return [info(ctx, key).status for key in keys]


def test_run_once_runs_one_batch_and_records_each_outcome(ctx: Context) -> None:
    answers: dict[str, Outcome] = {
        "a": Done(),
        "b": Failed("Rejected: account 200 is archived"),
        "c": RetryLater(timedelta(minutes=2), "busy"),
    }
    handler = Recorder(answer=lambda task: answers[task.key])
    for key in answers:
        add(ctx, key)
    worker = make_worker(ctx, handler)

    assert worker.run_once() == 3
    assert handler.batches == [["a", "b", "c"]]
    assert statuses(ctx, "a", "b", "c") == ["done", "failed", "pending"]
    assert info(ctx, "b").last_error == "Rejected: account 200 is archived"
    assert (info(ctx, "c").run_at, info(ctx, "c").last_error) == (NOW + timedelta(minutes=2), "busy")
    assert worker.run_once() == 0


def test_batches_hold_one_kind_and_one_group_up_to_the_handlers_batch_size(ctx: Context) -> None:
    sync, email = Recorder(batch_size=2), Recorder(kind="email", batch_size=5)
    for n in range(3):
        add(ctx, f"s{n}", at=NOW - timedelta(minutes=10 - n))
    add(ctx, "other", at=NOW - timedelta(minutes=9), group="accounting:conn-2")
    add(ctx, "e0", kind="email", at=NOW - timedelta(minutes=8))
    summary = make_worker(ctx, sync, email).run_until_idle()

    assert sync.batches == [["s0", "s1"], ["other"], ["s2"]]
    assert email.batches == [["e0"]]
    assert (summary.batches, summary.ran, summary.done) == (4, 5, 5)


def test_an_exception_retries_the_batch_together_with_backoff_until_max_attempts(
    ctx: Context, clock: FixedClock
) -> None:  # fmt: skip
    handler = Recorder(raises=ConnectionError("connection reset by peer"))
    add(ctx, "a")
    add(ctx, "b")
    worker = make_worker(ctx, handler, max_attempts=3)

    for attempt in (1, 2):
        assert worker.run_once() == 2
        a, b = info(ctx, "a"), info(ctx, "b")
        wait = backoff(a.id, attempt)  # one jitter for the batch, so it comes back as one batch
        assert (a.status, a.attempts, a.run_at, b.run_at) == (
            "pending",
            attempt,
            clock.instant + wait,
            clock.instant + wait,
        )
        assert a.last_error == "ConnectionError: connection reset by peer"
        assert worker.run_once() == 0  # not due yet
        clock.instant += wait
    assert worker.run_once() == 2
    assert statuses(ctx, "a", "b") == ["failed", "failed"]
    assert info(ctx, "a").last_error == "ConnectionError: connection reset by peer (gave up after 3 attempts)"
    assert handler.batches == [["a", "b"]] * 3


def test_retry_later_counts_towards_max_attempts(ctx: Context, clock: FixedClock) -> None:
    handler = Recorder(answer=lambda _task: RetryLater(timedelta(seconds=30), "Transient: 503"))
    add(ctx, "a")
    worker = make_worker(ctx, handler, max_attempts=2)
    worker.run_once()
    clock.instant += timedelta(seconds=30)
    worker.run_once()
    assert (info(ctx, "a").status, info(ctx, "a").last_error) == ("failed", "Transient: 503 (gave up after 2 attempts)")


def test_a_task_the_handler_gives_no_outcome_for_is_retried(ctx: Context) -> None:
    handler = Recorder(answer=lambda task: Done())
    add(ctx, "a")
    add(ctx, "b")

    def forgetful(ctx: Context, batch: Sequence[Task]) -> Mapping[uuid.UUID, Outcome]:
        handler(ctx, batch)
        return {batch[0].id: Done(), uuid.UUID(int=1): Done()}

    make_worker(ctx, Handler("sync", 10, forgetful)).run_once()
    assert statuses(ctx, "a", "b") == ["done", "pending"]
    assert info(ctx, "b").last_error == "sync gave no outcome for it"


def test_delay_group_hands_the_batch_back_uncounted_and_the_group_waits(ctx: Context, clock: FixedClock) -> None:
    handler = Recorder(raises=DelayGroup(30, "429: retry after 30 s"))
    for key in ("a", "b"):
        add(ctx, key)
    add(ctx, "elsewhere", group="accounting:conn-2", at=NOW + timedelta(seconds=1))
    worker = make_worker(ctx, handler)

    assert worker.run_once() == 2
    for key in ("a", "b"):
        assert (info(ctx, key).status, info(ctx, key).attempts) == ("pending", 0)
    with ctx.readers() as db:
        assert tasks.group_state(db, GROUP).not_before == NOW + timedelta(seconds=30)
    clock.instant += timedelta(seconds=29)
    handler.raises = None
    assert worker.run_once() == 1  # another group is not held up
    assert handler.batches[-1] == ["elsewhere"]
    assert worker.run_once() == 0
    clock.instant += timedelta(seconds=1)
    assert worker.run_once() == 2
    assert statuses(ctx, "a", "b") == ["done", "done"]
    assert info(ctx, "a").attempts == 1


def test_a_delay_of_nothing_still_waits_a_moment(ctx: Context) -> None:
    # Retry-After: 0 would otherwise claim, refuse and hand back the same batch in a tight loop.
    add(ctx, "a")
    make_worker(ctx, Recorder(raises=DelayGroup(0, "429"))).run_once()
    assert info(ctx, "a").run_at == NOW + MIN_DELAY


def test_pause_group_keeps_every_task_until_the_group_is_resumed(ctx: Context, clock: FixedClock) -> None:
    handler = Recorder(raises=PauseGroup("reconnect needed: the refresh token was revoked"))
    for key in ("a", "b", "c"):
        add(ctx, key)
    worker = make_worker(ctx, handler, max_attempts=1)

    assert worker.run_once() == 3
    clock.instant += timedelta(days=3)
    assert worker.run_once() == 0
    with ctx.readers() as db:
        assert tasks.group_state(db, GROUP).paused_reason == "reconnect needed: the refresh token was revoked"
        assert tasks.pending_count(db, group=GROUP) == 3
    with ctx.sessions() as db, db.begin():
        tasks.resume_group(db, GROUP, clock.instant)
    handler.raises = None
    assert worker.run_once() == 3  # with max_attempts=1: the paused run did not count
    assert statuses(ctx, "a", "b", "c") == ["done"] * 3


def test_pause_group_without_a_group_is_retried_as_an_error(ctx: Context) -> None:
    add(ctx, "a", group=None)
    make_worker(ctx, Recorder(raises=PauseGroup("reconnect needed"))).run_once()
    assert (info(ctx, "a").status, info(ctx, "a").attempts) == ("pending", 1)
    assert info(ctx, "a").last_error == "PauseGroup: reconnect needed (the task has no group to pause)"


def test_a_worker_whose_lease_expired_cannot_overwrite_the_worker_that_took_over(
    ctx: Context, clock: FixedClock
) -> None:
    add(ctx, "a")
    rescuer = make_worker(ctx, Recorder(answer=lambda _task: Failed("Rejected: invalid tax type")), worker_id="w2")

    def outlive_the_lease() -> None:
        clock.instant += timedelta(minutes=6)
        assert rescuer.run_once() == 1  # w2 takes the task over and records its result

    slow = Recorder(answer=lambda _task: Done(), during=outlive_the_lease)
    reports: list[worker_module.BatchReport] = []
    make_worker(ctx, slow, worker_id="w1", on_batch=reports.append).run_once()

    assert (reports[0].done, reports[0].stale) == (0, 1)
    a = info(ctx, "a")
    assert (a.status, a.attempts, a.last_error) == ("failed", 2, "Rejected: invalid tax type")


def test_a_task_whose_runs_never_report_back_is_failed_without_running_again(ctx: Context, clock: FixedClock) -> None:
    # Each run "crashes" the worker: the claim stands, nothing is recorded, the lease expires.
    add(ctx, "poison")
    for n in range(3):
        with ctx.sessions() as db, db.begin():
            assert tasks.claim(db, f"crashed-{n}", clock.instant, timedelta(minutes=5), {"sync": 1})
        clock.instant += timedelta(minutes=5)
    handler = Recorder()
    make_worker(ctx, handler, max_attempts=3).run_once()

    assert handler.batches == []
    poison = info(ctx, "poison")
    assert (poison.status, poison.attempts) == ("failed", 4)
    assert poison.last_error == "gave up after 3 runs that never reported back (lease expired)"


def test_run_until_idle_stops_when_nothing_is_due_and_after_max_batches(ctx: Context) -> None:
    for n in range(5):
        add(ctx, f"k{n}", group=None, at=NOW - timedelta(seconds=n))
    add(ctx, "tomorrow", at=NOW + timedelta(days=1))
    worker = make_worker(ctx, Recorder(batch_size=1))
    assert worker.run_until_idle(max_batches=2).batches == 2
    summary = worker.run_until_idle()
    assert (summary.batches, summary.done, summary.tasks) == (3, 3, {})
    assert info(ctx, "tomorrow").status == "pending"


def test_only_keys_runs_those_first_and_returns_once_they_are_done_or_failed(ctx: Context) -> None:
    for n in range(4):
        add(ctx, f"older{n}", at=NOW - timedelta(hours=1), group="other")
    add(ctx, "mine-1")
    add(ctx, "mine-2")
    handler = Recorder(batch_size=1, answer=lambda task: Failed("Rejected") if task.key == "mine-2" else Done())
    summary = make_worker(ctx, handler).run_until_idle(only_keys=["mine-1", "mine-2", "never enqueued"])

    assert handler.batches == [["mine-1"], ["mine-2"]]
    assert {key: state.status for key, state in summary.tasks.items()} == {"mine-1": "done", "mine-2": "failed"}
    assert summary.unfinished() == []
    assert statuses(ctx, "older0") == ["pending"]


def test_only_keys_returns_when_they_are_merely_scheduled_for_a_later_retry(ctx: Context) -> None:
    add(ctx, "mine")
    add(ctx, "paused", group="accounting:conn-2")
    with ctx.sessions() as db, db.begin():
        tasks.pause_group(db, "accounting:conn-2", "reconnect needed")
    handler = Recorder(answer=lambda _task: RetryLater(timedelta(minutes=10), "Transient: 502"))
    summary = make_worker(ctx, handler).run_until_idle(only_keys=["mine", "paused"])

    assert summary.ran == 1
    assert [(state.key, state.status) for state in summary.unfinished()] == [("mine", "pending"), ("paused", "pending")]
    assert summary.tasks["mine"].run_at == NOW + timedelta(minutes=10)


def test_only_keys_waits_for_a_task_another_worker_is_running(ctx: Context) -> None:
    add(ctx, "mine")
    with ctx.sessions() as db, db.begin():
        [task] = tasks.claim(db, "elsewhere", NOW, timedelta(minutes=5), {"sync": 1})

    def finish_elsewhere() -> None:
        with ctx.sessions() as db, db.begin():
            tasks.complete(db, task.id, worker_id="elsewhere", attempt=1, now=NOW)

    timer = threading.Timer(0.1, finish_elsewhere)
    timer.start()
    summary = make_worker(ctx, Recorder(), poll_interval=0.02).run_until_idle(only_keys=["mine"])
    timer.join()
    assert (summary.ran, summary.tasks["mine"].status) == (0, "done")


def test_only_keys_gives_up_waiting_on_another_worker_after_a_lease(ctx: Context) -> None:
    add(ctx, "mine")
    with ctx.sessions() as db, db.begin():
        tasks.claim(db, "elsewhere", NOW, timedelta(minutes=5), {"sync": 1})
    started = time.monotonic()
    worker = make_worker(ctx, Recorder(), poll_interval=0.02, lease=timedelta(milliseconds=100))
    summary = worker.run_until_idle(only_keys=["mine"])
    assert time.monotonic() - started < 2
    assert [(state.status, state.leased_by) for state in summary.unfinished()] == [("running", "elsewhere")]


def test_recurring_work_is_enqueued_once_per_slot_by_any_number_of_workers(ctx: Context, clock: FixedClock) -> None:
    clock.instant = datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)
    poll = Recorder(kind="accounting.poll", answer=lambda _task: RetryLater(timedelta(minutes=5), "Transient: 503"))
    every_minute = [Recurring("accounting.poll", timedelta(minutes=1), group=GROUP)]
    one, two = (make_worker(ctx, poll, worker_id=name, recurring=every_minute) for name in ("w1", "w2"))

    assert one.run_once() == 1  # enqueued for 12:00 and, being due, run; to be retried at 12:05:30
    assert two.run_once() == 0
    clock.instant += timedelta(seconds=45)  # 12:01:15: a new slot, but the 12:00 poll is still waiting to retry
    assert two.run_once() == 0
    assert one.run_once() == 0
    with ctx.readers() as db:
        assert tasks.pending_count(db, "accounting.poll") == 1

    poll.answer = lambda _task: Done()
    clock.instant = datetime(2026, 11, 26, 12, 5, 30, tzinfo=UTC)  # the retry of 12:00 runs; 12:05 is skipped
    assert one.run_once() == 1
    clock.instant += timedelta(minutes=1)  # 12:06:30
    assert two.run_once() == 1
    assert one.run_once() == 0
    assert poll.batches == [
        ["accounting.poll:2026-11-26T12:00:00+00:00"], ["accounting.poll:2026-11-26T12:00:00+00:00"],
        ["accounting.poll:2026-11-26T12:06:00+00:00"],
    ]  # fmt: skip
    with ctx.readers() as db:
        assert tasks.pending_count(db) == 0


class RealTimeClock:
    """NOW, moving on with the real time: for the tests of the loop that sleeps."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def now(self) -> datetime:
        return NOW + timedelta(seconds=time.monotonic() - self.started)

    def today(self) -> Any:
        return self.now().date()


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.01)


def test_run_forever_runs_what_is_due_and_stops_at_once_when_told(ctx: Context) -> None:
    add(ctx, "a")
    running = start_in_thread(ctx, {"sync": Recorder()}, poll_interval=60)
    try:
        wait_for(lambda: statuses(ctx, "a") == ["done"])
    finally:
        started = time.monotonic()
        running.stop(timeout=5)
    assert not running.thread.is_alive()
    assert time.monotonic() - started < 1  # it was asleep for up to a minute, and woke at once


def test_run_forever_wakes_when_a_task_falls_due_not_at_the_poll_interval(ctx: Context) -> None:
    ctx.clock = RealTimeClock()
    add(ctx, "soon", at=NOW + timedelta(seconds=0.3))
    handler = Recorder()
    stop = threading.Event()
    worker = make_worker(ctx, handler, poll_interval=30)
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: statuses(ctx, "soon") == ["done"], seconds=3)
    finally:
        stop.set()
        thread.join(5)
    assert handler.batches == [["soon"]]


def test_run_forever_keeps_going_after_the_database_fails_it(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    failures = iter([RuntimeError("server closed the connection unexpectedly")])
    real_claim = tasks.claim

    def flaky_claim(*args: Any, **kwargs: Any) -> list[Task]:
        for failure in failures:
            raise failure
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(worker_module, "claim", flaky_claim)
    add(ctx, "a")
    running = start_in_thread(ctx, {"sync": Recorder()}, poll_interval=0.05)
    try:
        wait_for(lambda: statuses(ctx, "a") == ["done"])
    finally:
        running.stop(timeout=5)


@pytest.fixture
def no_registered_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "HANDLER_MODULES", ())
    monkeypatch.setattr(worker_module, "_handler_factories", [])
    monkeypatch.setattr(worker_module, "_recurring_factories", [])


@pytest.mark.usefixtures("no_registered_handlers")
def test_the_default_handlers_are_those_registered(ctx: Context) -> None:
    assert default_handlers(ctx) == {}

    sync = Recorder(kind="accounting.sync", batch_size=50)
    factory = register(lambda _ctx: sync)
    register(factory)  # twice is once
    register_recurring(lambda context: [Recurring("accounting.sync", timedelta(seconds=context.settings.poll_seconds))])
    assert default_handlers(ctx) == {"accounting.sync": sync}
    assert default_recurring(ctx) == [Recurring("accounting.sync", timedelta(seconds=60))]

    register(lambda _ctx: Recorder(kind="accounting.sync"))
    with pytest.raises(ValueError, match="two handlers"):
        default_handlers(ctx)


def test_a_worker_refuses_a_muddled_set_up(ctx: Context) -> None:
    with pytest.raises(ValueError, match="handles 'email'"):
        Worker(ctx, {"sync": Recorder(kind="email")})
    with pytest.raises(ValueError, match="batch size"):
        make_worker(ctx, Recorder(batch_size=0))
    with pytest.raises(ValueError, match="no handler"):
        make_worker(ctx, Recorder(), recurring=[Recurring("poll", timedelta(minutes=1))])
    with pytest.raises(ValueError, match="recurs twice"):
        make_worker(ctx, Recorder(), recurring=[Recurring("sync", timedelta(minutes=1))] * 2)


# --- the command line ------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("FLEXBILL_DATABASE_URL", str(ctx.settings.database_url))
    monkeypatch.setenv("FLEXBILL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLEXBILL_TODAY", "2026-11-26")  # the clock stops at noon UTC: NOW
    monkeypatch.setenv("COLUMNS", "160")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env", "no_registered_handlers")
def test_the_worker_command_runs_what_is_due_once(ctx: Context) -> None:
    from flexbill.cli import app

    register(lambda _ctx: Recorder(answer=lambda task: Failed("Rejected") if task.key == "b" else Done()))
    add(ctx, "a")
    add(ctx, "b")
    result = CliRunner().invoke(app, ["worker", "--once"])

    assert result.exit_code == 0, result.output
    assert f"sync [{GROUP}] x2: 1 done, 1 failed" in result.stdout
    assert "2 tasks ran in 1 batch" in result.stdout
    assert statuses(ctx, "a", "b") == ["done", "failed"]


def test_the_worker_command_stops_promptly_on_sigterm(ctx: Context, tmp_path: Path) -> None:
    environment = {
        **os.environ, "FLEXBILL_DATABASE_URL": str(ctx.settings.database_url),
        "FLEXBILL_DATA_DIR": str(tmp_path / "data"), "FLEXBILL_TODAY": "2026-11-26",
    }  # fmt: skip
    command = [sys.executable, "-m", "flexbill.cli", "worker", "--poll-interval", "30"]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        while "Ctrl-C stops it" not in (line := process.stderr.readline()):  # up, then idle for up to 30 s
            assert line, "the worker ended before it started"
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - stopped_at < 3
        assert "Worker stopped." in process.stderr.read()
    finally:
        process.kill()


# --- several worker processes ----------------------------------------------------------------------------------

RUNS = Table(
    "test_worker_runs", MetaData(), Column("key", String(300), primary_key=True), Column("worker", String(200))
)


def _record_run(ctx: Context, batch: Sequence[Task]) -> Mapping[uuid.UUID, Outcome]:
    """Runs each task by inserting its key: a second run of a task breaks the primary key, and shows."""
    with ctx.sessions() as db, db.begin():
        db.execute(insert(RUNS), [{"key": task.key, "worker": _WORKER_ID} for task in batch])
    time.sleep(0.003)  # a little real work, so that the workers' batches interleave
    return {task.id: Done() for task in batch}


_WORKER_ID = ""  # the name of the worker process this module runs in


def _drain(url: str, data_dir: str, name: str, start: Any, results: Any) -> None:
    global _WORKER_ID
    _WORKER_ID = name
    engine = make_engine(url)
    ctx = Context(
        settings=Settings(database_url=url, data_dir=Path(data_dir)), engine=engine,
        sessions=make_session_factory(engine),
    )  # fmt: skip
    worker = Worker(ctx, {"drain": Handler("drain", 5, _record_run)}, worker_id=name)
    start.wait(60)
    summary = worker.run_until_idle()
    results.put((name, summary.ran, summary.stale))
    engine.dispose()


def test_worker_processes_drain_a_queue_with_no_task_run_twice_and_none_lost(ctx: Context, tmp_path: Path) -> None:
    """Three worker processes, started at once, share 300 due tasks. On PostgreSQL they claim side by side
    (SKIP LOCKED); on SQLite one claim at a time. Either way each task runs exactly once."""
    count = 300
    RUNS.create(ctx.engine, checkfirst=True)
    try:
        due = datetime.now(UTC) - timedelta(minutes=1)  # the processes keep the real time
        with ctx.sessions() as db, db.begin():
            for n in range(count):
                tasks.enqueue(db, "drain", f"drain:{n}", group=f"g{n % 3}", payload={"n": str(n)}, run_at=due)
        processes = multiprocessing.get_context("spawn")
        start, results = processes.Event(), processes.Queue()
        url = str(ctx.settings.database_url)
        workers = [
            processes.Process(target=_drain, args=(url, str(tmp_path), f"worker-{n}", start, results)) for n in range(3)
        ]
        for process in workers:
            process.start()
        start.set()
        ran = [results.get(timeout=120) for _ in workers]
        for process in workers:
            process.join(60)
            assert process.exitcode == 0

        assert sum(n for _name, n, _stale in ran) == count
        assert all(stale == 0 for _name, _n, stale in ran)
        with ctx.sessions() as db:
            assert db.scalar(select(func.count()).select_from(RUNS)) == count
            by_worker: dict[str, int] = dict(
                db.execute(select(RUNS.c.worker, func.count()).group_by(RUNS.c.worker)).all()
            )
            assert tasks.pending_count(db) == 0
            finished = tasks.tasks_by_key(db, [f"drain:{n}" for n in range(count)])
        assert {(state.status, state.attempts, state.last_error) for state in finished.values()} == {("done", 1, None)}
        assert len(by_worker) >= 2, by_worker  # the work was shared
    finally:
        RUNS.drop(ctx.engine, checkfirst=True)
