"""The worker: claims due tasks from the outbox, runs their handlers and records how each ended; and the
scheduler of recurring work.

One batch is three steps, each its own transaction or none: claim (a short write transaction), run the handler
(no transaction of ours is open while it talks to the outside world), record the outcomes (a second short write
transaction). A worker that dies between the first and the last step leaves its tasks running under a lease;
when the lease expires another worker claims them again, so work is never lost, and handlers are idempotent end
to end (idempotency keys derived from our ids), so running one twice after a crash does no harm.

A handler says how each task ended (``Done``, ``RetryLater``, ``Failed``), or raises ``DelayGroup`` (rate
limited: the batch goes back, uncounted, and the group waits) or ``PauseGroup`` (the connection needs someone:
the batch goes back and the group waits until it is resumed). Any other exception retries the whole batch with
backoff, and a task that has run ``max_attempts`` times is failed.

Handlers come from ``register``: a part of flexbill that has tasks registers a factory of its handler, and
``default_handlers`` builds them all for a context. Time is the context's clock throughout, so tests control it.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from flexbill.bootstrap import Context
from flexbill.db import new_id
from flexbill.tasks.service import (
    Task,
    TaskInfo,
    claim,
    complete,
    delay_group,
    enqueue,
    fail,
    next_due_at,
    pause_group,
    pending_count,
    release,
    retry,
    tasks_by_key,
)
from flexbill.tasks.store import DONE, FAILED, RUNNING

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_CAP = timedelta(hours=1)
JITTER = 0.2  # a retry comes up to this share of its wait sooner
MIN_DELAY = timedelta(seconds=1)  # a group delayed by 0 s would be claimed and refused again at once, forever
MAX_DELAY = timedelta(days=1)  # the longest Retry-After taken at its word (Xero's daily limit resets within a day)
ERROR_LIMIT = 4000  # characters of an error kept on the task; the log has the rest


# --- what a handler answers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """The task's work is done."""


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Run the task again ``after`` from now; the attempt counts."""

    after: timedelta
    error: str


@dataclass(frozen=True, slots=True)
class Failed:
    """Give the task up (e.g. the accounting system refused the record): retrying would fail the same way."""

    error: str


Outcome = Done | RetryLater | Failed


class DelayGroup(Exception):
    """Raised by a handler whose calls are refused for a while (a 429 with Retry-After): every task of the batch
    goes back to pending without counting an attempt, and none of the group's tasks is claimed for ``seconds``."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason


class PauseGroup(Exception):
    """Raised by a handler whose connection needs a person (reconnect, re-consent): every task of the batch goes
    back to pending without counting an attempt, and the group is paused until ``resume_group``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TaskHandler(Protocol):
    """Runs a batch of tasks of one kind (and one group): at most ``batch_size`` of them."""

    @property
    def kind(self) -> str: ...

    @property
    def batch_size(self) -> int: ...

    def __call__(self, ctx: Context, tasks: Sequence[Task], /) -> Mapping[uuid.UUID, Outcome]: ...


@dataclass(frozen=True, slots=True)
class Handler:
    """A handler made of a function: ``Handler("accounting.sync", 50, sync_invoices)``."""

    kind: str
    batch_size: int
    run: Callable[[Context, Sequence[Task]], Mapping[uuid.UUID, Outcome]]

    def __call__(self, ctx: Context, tasks: Sequence[Task], /) -> Mapping[uuid.UUID, Outcome]:
        return self.run(ctx, tasks)


# --- the registry --------------------------------------------------------------------------------------------

HandlerFactory = Callable[[Context], TaskHandler]
RecurringFactory = Callable[[Context], Iterable["Recurring"]]

# The modules whose import registers handlers. ``default_handlers`` imports them, so that `flexbill worker` and
# the worker inside `flexbill serve` have every handler without each entry point knowing the parts.
HANDLER_MODULES: tuple[str, ...] = (
    "flexbill.accounting.handlers",
    "flexbill.payments.handlers",
    "flexbill.notify.handlers",
    "flexbill.events.handlers",
)

_handler_factories: list[HandlerFactory] = []
_recurring_factories: list[RecurringFactory] = []


def register(factory: HandlerFactory) -> HandlerFactory:
    """Add a handler to the default ones. Usable as a decorator; registering the same factory again is a no-op."""
    if factory not in _handler_factories:
        _handler_factories.append(factory)
    return factory


def register_recurring(factory: RecurringFactory) -> RecurringFactory:
    """Add recurring work to the default schedule, e.g. ``lambda ctx: [Recurring("accounting.poll", every)]``."""
    if factory not in _recurring_factories:
        _recurring_factories.append(factory)
    return factory


def default_handlers(ctx: Context) -> dict[str, TaskHandler]:
    """Every registered handler, by kind. Two handlers of one kind are a mistake, and an error here."""
    _import_handler_modules()
    handlers: dict[str, TaskHandler] = {}
    for factory in _handler_factories:
        handler = factory(ctx)
        if handler.kind in handlers:
            raise ValueError(f"two handlers are registered for the task kind {handler.kind!r}")
        handlers[handler.kind] = handler
    return handlers


def default_recurring(ctx: Context) -> list[Recurring]:
    _import_handler_modules()
    return [entry for factory in _recurring_factories for entry in factory(ctx)]


def _import_handler_modules() -> None:
    for module in HANDLER_MODULES:
        importlib.import_module(module)


# --- retries ---------------------------------------------------------------------------------------------------


def backoff(task_id: uuid.UUID, attempts: int) -> timedelta:
    """How long to wait after a task's ``attempts``-th run failed: 10 s, 20 s, 40 s, ... doubling up to 1 h, each
    shortened by up to a fifth by a jitter drawn from the task's id and the attempt, so that tasks which failed
    together come back spread out, the same way on every worker and every run (no unseeded randomness).

    With the default 12 attempts a task is retried for about three hours (at most 10 + 20 + ... + 2560 s, then
    twice the hour at the cap: 3.4 h) before it is failed.

    >>> task = uuid.UUID(int=42)
    >>> # 10, 20, 40, 2560, 3600 and 3600 s, each less its jitter:
    >>> [round(backoff(task, n).total_seconds()) for n in (1, 2, 3, 9, 10, 20)]
    [9, 18, 36, 2510, 2893, 2996]
    >>> backoff(task, 3) == backoff(task, 3)
    True
    """
    doublings = min(max(attempts, 1) - 1, 20)
    wait = min(BACKOFF_BASE * (1 << doublings), BACKOFF_CAP)
    digest = hashlib.blake2b(task_id.bytes + attempts.to_bytes(4, "big"), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return wait * (1 - JITTER * fraction)


# --- recurring work --------------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Recurring:
    """A task to enqueue once per ``every``, e.g. "poll accounting every minute".

    Slots are aligned on the Unix epoch in UTC, so every worker agrees on them; each slot's task has the key
    ``f"{kind}:{slot start ISO}"``, which makes several workers enqueue it once. A slot is skipped while an
    earlier task of the same kind (and group) is still waiting or running: a poll that is failing, or a worker
    that was down for an hour, never leaves a pile of polls behind.
    """

    kind: str
    every: timedelta
    group: str | None = None

    def __post_init__(self) -> None:
        if self.every <= timedelta(0):
            raise ValueError(f"a recurring task needs a positive interval, not {self.every}")

    def slot(self, now: datetime) -> datetime:
        """The start of the slot ``now`` is in."""
        return _EPOCH + self.every * ((now - _EPOCH) // self.every)

    def key(self, slot: datetime) -> str:
        return f"{self.kind}:{slot.astimezone(UTC).isoformat()}"


# --- what a run reports ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchReport:
    """One batch: what ran and how it ended."""

    kind: str
    group: str | None
    tasks: int
    done: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0  # handed back uncounted: the group was delayed or paused
    stale: int = 0  # outcomes refused: the lease had passed to another worker meanwhile
    delayed_until: datetime | None = None
    paused: str | None = None  # the reason, when the handler paused the group
    error: str | None = None  # the exception that retried the whole batch

    def describe(self) -> str:
        """One line, e.g. ``accounting.sync [accounting:0193...] x50: 48 done, 2 failed``."""
        counts = {"done": self.done, "retried": self.retried, "failed": self.failed, "released": self.released}
        counts["stale"] = self.stale
        parts = [f"{count} {name}" for name, count in counts.items() if count]
        where = f" [{self.group}]" if self.group else ""
        extra = f"; paused: {self.paused}" if self.paused else ""
        if self.delayed_until is not None:
            extra += f"; delayed until {self.delayed_until.isoformat()}"
        if self.error:
            extra += f"; {self.error}"
        return f"{self.kind}{where} x{self.tasks}: {', '.join(parts) or 'nothing recorded'}{extra}"


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What ``run_until_idle`` did. ``tasks`` are the final states of ``only_keys``, in their order (empty without
    them): each is done, failed, or still waiting (scheduled for a later retry, its group delayed or paused, or
    running elsewhere); keys no task has are missing from it."""

    batches: int = 0
    ran: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    stale: int = 0
    tasks: Mapping[str, TaskInfo] = field(default_factory=dict)

    def unfinished(self) -> list[TaskInfo]:
        """Of ``only_keys``, the tasks neither done nor failed."""
        return [info for info in self.tasks.values() if info.status not in (DONE, FAILED)]


# --- the worker ------------------------------------------------------------------------------------------------


class Worker:
    """Claims and runs due tasks of the kinds in ``handlers``; enqueues ``recurring`` work as its slots come.

    ``lease`` is how long a claimed batch is this worker's: it must be longer than a batch can take, or another
    worker will take the batch over while it still runs (its outcomes then win, and this worker's are refused).
    A Worker runs one batch at a time: give each thread its own (its ``worker_id`` names one claimant).
    """

    def __init__(
        self,
        ctx: Context,
        handlers: Mapping[str, TaskHandler],
        *,
        worker_id: str | None = None,
        lease: timedelta = timedelta(minutes=5),
        poll_interval: float = 1.0,
        max_attempts: int = MAX_ATTEMPTS,
        recurring: Sequence[Recurring] = (),
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        for kind, handler in handlers.items():
            if handler.kind != kind:
                raise ValueError(f"the handler given for {kind!r} handles {handler.kind!r}")
            if handler.batch_size < 1:
                raise ValueError(f"the handler of {kind!r} needs a batch size of at least 1")
        kinds = [entry.kind for entry in recurring]
        for entry in recurring:
            if entry.kind not in handlers:
                raise ValueError(f"recurring {entry.kind!r} has no handler: its tasks would pile up unrun")
            if kinds.count(entry.kind) > 1:
                raise ValueError(f"{entry.kind!r} recurs twice: each slot's key is made of the kind alone")
        if lease <= timedelta(0) or poll_interval <= 0 or max_attempts < 1:
            raise ValueError("a worker needs a positive lease, poll interval and number of attempts")
        self.ctx = ctx
        self.handlers = dict(handlers)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_id().hex[-8:]}"
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.recurring = tuple(recurring)
        self.on_batch = on_batch
        self._batch_sizes = {kind: handler.batch_size for kind, handler in self.handlers.items()}
        self._slots_done: dict[str, datetime] = {}

    def run_once(self) -> int:
        """Claim one batch, run it and record its outcomes; how many tasks ran (0: nothing was due)."""
        report = self._run_batch(None)
        return report.tasks if report else 0

    def run_until_idle(
        self, *, max_batches: int | None = None, only_keys: Collection[str] | None = None
    ) -> RunSummary:  # fmt: skip
        """Run batches until nothing is due now (or ``max_batches`` ran).

        With ``only_keys``, each batch starts with one of those tasks, and the run returns once each of them is
        done or failed, or none of them can run now: all scheduled for a later retry, or waiting on a delayed or
        paused group. While some are running under another worker's lease it waits for them (polling every
        ``poll_interval`` seconds, for at most one lease's length without news), since that worker will finish
        them or its lease will expire and they come back here.
        """
        keys = None if only_keys is None else tuple(dict.fromkeys(only_keys))
        reports: list[BatchReport] = []
        waiting_since: float | None = None
        while max_batches is None or len(reports) < max_batches:
            report = self._run_batch(keys)
            if report is not None:
                reports.append(report)
                waiting_since = None
                if keys is not None and not self._unfinished(keys):
                    break
                continue
            if keys is None or not self._held_elsewhere(keys):
                break
            if waiting_since is None:
                waiting_since = time.monotonic()
            elif time.monotonic() - waiting_since > self.lease.total_seconds():
                break
            time.sleep(self.poll_interval)
        return self._summary(reports, keys)

    def run_forever(self, stop: threading.Event) -> None:
        """Run batches until ``stop`` is set. When nothing is due it sleeps until the next task may become due
        (a run_at, a lease expiry, the end of a group's delay, the next recurring slot) or ``poll_interval``,
        whichever is sooner, and wakes at once when ``stop`` is set. The batch in hand is always finished."""
        log.info("worker %s started: %s", self.worker_id, ", ".join(sorted(self.handlers)) or "no handlers")
        while not stop.is_set():
            try:
                ran = self._run_batch(None) is not None
            except Exception:
                # The database went away, most likely: the claimed tasks' leases will expire; try again shortly.
                log.exception("worker %s could not claim or record tasks", self.worker_id)
                stop.wait(self.poll_interval)
                continue
            if not ran:
                stop.wait(self._idle_seconds())
        log.info("worker %s stopped", self.worker_id)

    # --- one batch -----------------------------------------------------------------------------------------

    def _run_batch(self, lead_keys: Collection[str] | None) -> BatchReport | None:
        now = self.ctx.clock.now()
        self._enqueue_recurring(now)
        with self.ctx.sessions() as db, db.begin():
            tasks = claim(db, self.worker_id, now, self.lease, self._batch_sizes, lead_keys=lead_keys)
        if not tasks:
            return None
        handler = self.handlers[tasks[0].kind]
        # A task claimed more often than allowed never reported back (its runs killed the worker, or outran the
        # lease): give it up rather than run it again.
        overdue = [task for task in tasks if task.attempts > self.max_attempts]
        runnable = [task for task in tasks if task.attempts <= self.max_attempts]
        plan = _Plan(tasks[0].kind, tasks[0].group)
        for task in overdue:
            plan.fail(task, f"gave up after {task.attempts - 1} runs that never reported back (lease expired)")
        if runnable:
            self._run_handler(handler, runnable, plan)
        report = self._record(plan)
        log.log(logging.WARNING if report.error else logging.INFO, "%s", report.describe())
        if self.on_batch is not None:
            self.on_batch(report)
        return report

    def _run_handler(self, handler: TaskHandler, tasks: list[Task], plan: _Plan) -> None:
        try:
            outcomes = handler(self.ctx, tasks)
        except DelayGroup as delay:
            plan.delay(tasks, self.ctx.clock.now() + _bounded_delay(delay.seconds), delay.reason)
            return
        except PauseGroup as pause:
            if plan.group is not None:
                plan.pause(tasks, self.ctx.clock.now(), pause.reason)
                return
            error = f"PauseGroup: {pause.reason} (the task has no group to pause)"
            self._retry_batch(tasks, error, plan)
            return
        except Exception as exception:
            log.exception("%s failed on %d task(s), first %s", handler.kind, len(tasks), tasks[0].key)
            error = f"{type(exception).__name__}: {exception}"
            plan.error = error
            self._retry_batch(tasks, error, plan)
            return
        finished = self.ctx.clock.now()
        for task in tasks:
            outcome = outcomes.get(task.id)
            if isinstance(outcome, Done):
                plan.complete(task)
            elif isinstance(outcome, Failed):
                plan.fail(task, outcome.error)
            elif isinstance(outcome, RetryLater):
                self._retry_or_fail(task, finished + outcome.after, outcome.error, plan)
            else:
                error = f"{handler.kind} gave no outcome for it" if outcome is None else f"bad outcome {outcome!r}"
                log.error("%s: %s", task.key, error)
                self._retry_or_fail(task, finished + backoff(task.id, task.attempts), error, plan)
        unknown = set(outcomes) - {task.id for task in tasks}
        if unknown:
            log.error("%s answered for tasks it was not given: %s", handler.kind, sorted(map(str, unknown)))

    def _retry_batch(self, tasks: list[Task], error: str, plan: _Plan) -> None:
        # One jitter for the whole batch (the first task's), so that it comes back as one batch rather than as
        # one request per task, which matters to a connector sending 50 invoices per call.
        finished = self.ctx.clock.now()
        for task in tasks:
            self._retry_or_fail(task, finished + backoff(tasks[0].id, task.attempts), error, plan)

    def _retry_or_fail(self, task: Task, at: datetime, error: str, plan: _Plan) -> None:
        if task.attempts >= self.max_attempts:
            plan.fail(task, f"{error} (gave up after {task.attempts} attempts)")
        else:
            plan.retry(task, at, error)

    def _record(self, plan: _Plan) -> BatchReport:
        """Write the outcomes in a transaction of their own; each write only lands if the claim is still ours."""
        now = self.ctx.clock.now()
        counts = dict.fromkeys(("done", "retried", "failed", "released", "stale"), 0)
        with self.ctx.sessions() as db, db.begin():
            if plan.group is not None and plan.delayed_until is not None:
                delay_group(db, plan.group, plan.delayed_until)
            if plan.group is not None and plan.paused is not None:
                pause_group(db, plan.group, plan.paused)
            if plan.released:
                released = release(db, [task.id for task in plan.released], plan.released_at, worker_id=self.worker_id)
                counts["released"] += released
                counts["stale"] += len(plan.released) - released
            for task, action in plan.actions:
                written, outcome = self._write(db, task, action, now)
                if written:
                    counts[outcome] += 1
                else:
                    counts["stale"] += 1
                    log.warning("%s: not recorded as %s, another worker has taken it over", task.key, outcome)
        return BatchReport(
            kind=plan.kind, group=plan.group, tasks=plan.size, delayed_until=plan.delayed_until, paused=plan.paused,
            error=plan.error, **counts,
        )  # fmt: skip

    def _write(self, db: Session, task: Task, action: Done | _RetryAt | Failed, now: datetime) -> tuple[bool, str]:
        mine, attempt = self.worker_id, task.attempts
        if isinstance(action, Done):
            return complete(db, task.id, worker_id=mine, attempt=attempt, now=now), "done"
        if isinstance(action, _RetryAt):
            return retry(
                db, task.id, at=action.at, error=_clip(action.error), worker_id=mine, attempt=attempt
            ), "retried"
        return fail(db, task.id, error=_clip(action.error), worker_id=mine, attempt=attempt, now=now), "failed"

    # --- scheduling and waiting ------------------------------------------------------------------------------

    def _enqueue_recurring(self, now: datetime) -> None:
        due = [(entry, entry.slot(now)) for entry in self.recurring]
        due = [(entry, slot) for entry, slot in due if self._slots_done.get(entry.kind) != slot]
        if not due:
            return
        with self.ctx.sessions() as db, db.begin():
            for entry, slot in due:
                if pending_count(db, entry.kind, entry.group) == 0:
                    enqueue(db, entry.kind, entry.key(slot), group=entry.group, run_at=slot)
        for entry, slot in due:
            self._slots_done[entry.kind] = slot

    def _idle_seconds(self) -> float:
        now = self.ctx.clock.now()
        with self.ctx.readers() as db:
            wake = next_due_at(db, self.handlers, now)
        slots = [entry.slot(now) + entry.every for entry in self.recurring]
        soonest = min([when for when in (wake, *slots) if when is not None], default=None)
        wait = self.poll_interval if soonest is None else (soonest - now).total_seconds()
        return min(self.poll_interval, max(wait, 0.01))

    def _unfinished(self, keys: Collection[str]) -> list[TaskInfo]:
        with self.ctx.readers() as db:
            return [info for info in tasks_by_key(db, keys).values() if info.status not in (DONE, FAILED)]

    def _held_elsewhere(self, keys: Collection[str]) -> bool:
        now = self.ctx.clock.now()
        return any(
            info.status == RUNNING and info.lease_expires_at is not None and info.lease_expires_at > now
            for info in self._unfinished(keys)
        )

    def _summary(self, reports: list[BatchReport], keys: Collection[str] | None) -> RunSummary:
        states: dict[str, TaskInfo] = {}
        if keys:
            with self.ctx.readers() as db:
                states = tasks_by_key(db, keys)
        return RunSummary(
            batches=len(reports), ran=sum(r.tasks for r in reports), done=sum(r.done for r in reports),
            retried=sum(r.retried for r in reports), failed=sum(r.failed for r in reports),
            released=sum(r.released for r in reports), stale=sum(r.stale for r in reports), tasks=states,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _RetryAt:
    at: datetime
    error: str


@dataclass
class _Plan:
    """The outcomes of one batch, decided while the handler ran and written together afterwards."""

    kind: str
    group: str | None
    actions: list[tuple[Task, Done | _RetryAt | Failed]] = field(default_factory=list)
    released: list[Task] = field(default_factory=list)
    released_at: datetime = _EPOCH
    delayed_until: datetime | None = None
    paused: str | None = None
    error: str | None = None

    @property
    def size(self) -> int:
        return len(self.actions) + len(self.released)

    def complete(self, task: Task) -> None:
        self.actions.append((task, Done()))

    def retry(self, task: Task, at: datetime, error: str) -> None:
        self.actions.append((task, _RetryAt(at, error)))

    def fail(self, task: Task, error: str) -> None:
        self.actions.append((task, Failed(error)))

    def delay(self, tasks: list[Task], until: datetime, reason: str) -> None:
        self.released.extend(tasks)
        self.released_at = until
        self.delayed_until = until
        log.warning("%s delayed until %s: %s", self.group or self.kind, until.isoformat(), reason)

    def pause(self, tasks: list[Task], now: datetime, reason: str) -> None:
        self.released.extend(tasks)
        self.released_at = now
        self.paused = reason
        log.warning("%s paused: %s", self.group, reason)


def _bounded_delay(seconds: float) -> timedelta:
    """A handler's delay within [MIN_DELAY, MAX_DELAY]; nonsense (NaN, a negative, infinity) is the nearest bound."""
    if not math.isfinite(seconds) or seconds > MAX_DELAY.total_seconds():
        return MIN_DELAY if math.isnan(seconds) or seconds < 0 else MAX_DELAY
    return max(timedelta(seconds=seconds), MIN_DELAY)


def _clip(error: str) -> str:
    return error if len(error) <= ERROR_LIMIT else error[: ERROR_LIMIT - 1] + "…"


# --- inside the web process ------------------------------------------------------------------------------------


@dataclass
class WorkerThread:
    """A worker running in a daemon thread of this process; ``stop`` ends it after the batch in hand."""

    worker: Worker
    thread: threading.Thread
    stop_event: threading.Event

    def stop(self, timeout: float | None = 30.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)


def start_in_thread(
    ctx: Context,
    handlers: Mapping[str, TaskHandler],
    *,
    recurring: Sequence[Recurring] = (),
    lease: timedelta = timedelta(minutes=5),
    poll_interval: float = 1.0,
    max_attempts: int = MAX_ATTEMPTS,
) -> WorkerThread:
    """Run a worker in a background thread: the embedded default, where `flexbill serve` is also the worker.

    The thread is a daemon, so a forgotten one never keeps the process alive; stopping it mid-batch is safe, the
    leases expire and the batch runs again.
    """
    worker = Worker(
        ctx, handlers, recurring=recurring, lease=lease, poll_interval=poll_interval, max_attempts=max_attempts
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), name="flexbill-worker", daemon=True)
    thread.start()
    return WorkerThread(worker, thread, stop)
