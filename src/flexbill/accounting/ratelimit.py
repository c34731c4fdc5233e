"""Keeping within an accounting API's rate limits, one organisation at a time, without ever sleeping.

Xero allows each organisation 60 calls in a fixed minute window, 5,000 a day and 5 at once; QuickBooks has its own
numbers. A :class:`RateLimiter` is told the numbers (:class:`Limits`) and shared by every session of a process that
talks to the same vendor. Before each call a session asks for a :class:`Permit`; if the call would go over a limit,
:meth:`RateLimiter.acquire` raises :class:`~flexbill.accounting.ports.RateLimited` with the seconds to wait instead
of sending it, and the worker delays the organisation's tasks. After the call the session hands back what the
response said (:class:`Observation`): the calls left in the window and in the day, and on a refusal for rate
(HTTP 429) which limit was hit and the server's ``Retry-After``.

What is learnt about a fixed window, per organisation:

* how many calls are left: the server's count in each answer, less every other call that was in flight at some
  moment of this one (it may have been counted after it);
* when the window ends: a 429 says it (now + ``Retry-After``); a count that goes *up* from one answer to the next
  call's answer shows that a window began between them. Windows then follow each other every ``Limits.window``
  seconds. Every estimate errs late, never early, so waiting for it never earns a 429;
* how long a window lasts: ``Limits.window`` to begin with; a ``Retry-After`` longer than that proves the window is
  longer, and a reset seen where none was expected proves it is shorter (at most the time since the previous one).
  A client that always uses up its window before the window ends cannot see how long windows last without being
  refused again, so a server that compresses time (a sandbox whose "minute" is a few seconds) is best given its
  window length in ``Limits``.

When a limit is used up and nothing says when it resets (no 429 seen yet), one call is let through as a probe once
no other is in flight: its 429 tells the reset time, and the calls after it wait for exactly that. So a long sync
receives its first 429 and no other, while using every call of every window.

An API that tells nothing of its limits until it refuses (QuickBooks: no remaining counts, no ``Retry-After``) is
kept within them by :class:`CountingLimiter` instead, which counts the process's own calls per organisation in
sliding windows (:class:`CountedLimits`).

Time comes from an injected ``clock`` (seconds, monotonic), so tests move it by hand.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from flexbill.accounting.ports import RateLimited

Clock = Callable[[], float]


class Problem(StrEnum):
    """Which limit a 429 was about, in the limiter's terms (each connector maps its vendor's words)."""

    WINDOW = "window"  # the per-minute count (Xero "minute")
    DAY = "day"
    CONCURRENT = "concurrent"
    OTHER = "other"  # a limit the limiter does not track (Xero "appminute": all organisations of the app)


@dataclass(frozen=True, slots=True)
class Limits:
    per_window: int  # calls allowed in one fixed window
    window: float  # seconds a window lasts, as far as is known in advance
    per_day: int | None = None
    concurrent: int | None = None  # calls in flight at once
    busy_retry: float | None = None  # seconds to wait for a call in flight; None: a sixtieth of the window

    def __post_init__(self) -> None:
        if self.per_window < 1 or self.window <= 0:
            raise ValueError("a window must allow at least one call and last some time")

    @property
    def busy_wait(self) -> float:
        """How long to wait for the answer of a call in flight: a second in a minute's window."""
        return self.busy_retry if self.busy_retry is not None else self.window / 60


XERO_LIMITS = Limits(per_window=60, window=60.0, per_day=5000, concurrent=5)


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to make one call. Hand it back to :meth:`RateLimiter.release` whatever happened to the call."""

    key: str
    seq: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class Observation:
    """What one response said about the limits; ``None`` where it said nothing."""

    window_remaining: int | None = None
    day_remaining: int | None = None
    limited: bool = False  # the call was refused for rate (HTTP 429)
    problem: Problem | None = None
    retry_after: float | None = None  # seconds, as the server said; None when it did not say
    window_seconds: float | None = None  # how long a window lasts, when the server says (a sandbox's compressed one)


@dataclass(frozen=True, slots=True)
class _Report:
    sent_at: float
    answer: int  # how many answers had come back, this one included
    remaining: int


@dataclass
class _Call:
    sent_at: float
    answers_before: int  # how many answers had come back when it was sent
    released_at: float | None = None
    reported: int | None = None  # the count of calls left its answer gave


@dataclass
class _State:
    window: float  # how long a window lasts, as far as is known
    boundary: float | None = None  # when the current window ends, at the latest; None: not known
    last_roll: float = -math.inf  # when the current window began by our reckoning
    slack: float = 0.0  # how much earlier than ``boundary`` a window may really end
    anchor_low: float | None = None  # a moment just before the last window start that was seen, not predicted
    remaining: int | None = None  # calls surely left in the current window; None: not known (all of them)
    day_remaining: int | None = None
    day_resets_at: float | None = None
    blocked_until: float = -math.inf
    block_reason: str = ""
    calls: dict[int, _Call] = field(default_factory=dict)  # the recent calls, by permit
    answers: int = 0  # answers (or timeouts) come back so far
    last_seq: int = 0  # the newest permit whose window count has been taken
    last_day_seq: int = 0  # likewise for the day's count
    last_report: _Report | None = None  # the window count received last, to see a window begin

    def in_flight(self) -> int:
        return sum(1 for call in self.calls.values() if call.released_at is None)


class RateLimiter:
    """Per-organisation rate limits of one vendor's API, shared by the sessions of a process (thread-safe)."""

    def __init__(self, limits: Limits, clock: Clock = time.monotonic, *, name: str = "the accounting system") -> None:
        self.limits = limits
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}
        self._seq = 0

    def acquire(self, key: str) -> Permit:
        """Leave to send one call for organisation ``key``, or :class:`RateLimited` with the seconds to wait."""
        with self._lock:
            now = self._clock()
            state = self._state(key)
            self._roll(state, now)
            limits = self.limits
            if now < state.blocked_until:
                raise self._limited(key, state.block_reason, state.blocked_until - now)
            if limits.concurrent is not None and state.in_flight() >= limits.concurrent:
                raise self._limited(key, f"{limits.concurrent} calls are in flight", limits.busy_wait)
            window_spent = state.remaining is not None and state.remaining <= 0
            day_spent = state.day_remaining is not None and state.day_remaining <= 0
            if window_spent and state.boundary is not None:
                reason = f"its {limits.per_window} calls of this window are used"
                raise self._limited(key, reason, state.boundary - now)
            probe = window_spent or day_spent
            if probe and state.in_flight():
                # The answers on their way may say when the limit resets; a probe waits for them.
                raise self._limited(key, "calls in flight may say when the limit resets", limits.busy_wait)
            if state.answers == 0 and state.in_flight():
                # Nothing is known yet (the window may be used up by others): one call finds out first.
                raise self._limited(key, "the first call is finding out how many calls are left", limits.busy_wait)
            self._seq += 1
            permit = Permit(key, self._seq, now)
            state.calls[permit.seq] = _Call(now, state.answers)
            if state.remaining is not None:
                state.remaining -= 1
            if state.day_remaining is not None:
                state.day_remaining -= 1
            return permit

    def release(self, permit: Permit, observation: Observation | None = None) -> None:
        """Hand back a permit with what the response said (``None`` when no response came: a timeout)."""
        with self._lock:
            now = self._clock()
            state = self._state(permit.key)
            call = state.calls.get(permit.seq)
            if call is None or call.released_at is not None:
                return
            call.released_at = now
            state.answers += 1
            if observation is not None and observation.window_seconds:
                state.window = observation.window_seconds
            if observation is not None:
                if observation.limited:
                    self._refused(state, now, observation)
                else:
                    if observation.day_remaining is not None and permit.seq > state.last_day_seq:
                        state.last_day_seq = permit.seq
                        state.day_remaining = observation.day_remaining - state.in_flight()
                    if observation.window_remaining is not None:
                        self._report(state, permit, call, now, observation.window_remaining)
            self._forget(state, now)

    def window_length(self, key: str) -> float:
        """How long a window of organisation ``key`` is believed to last."""
        with self._lock:
            return self._state(key).window

    def window_end(self, key: str) -> float | None:
        """When the current window of organisation ``key`` ends at the latest, if that is known."""
        with self._lock:
            state = self._state(key)
            self._roll(state, self._clock())
            return state.boundary

    def _state(self, key: str) -> _State:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State(window=self.limits.window)
        return state

    def _roll(self, state: _State, now: float) -> None:
        """Move to the window ``now`` falls in once the known end has passed. Its calls are all there again but
        those that may have been counted in it already: the ones in flight, and the ones sent since the earliest
        moment it may have begun."""
        if state.boundary is not None and now >= state.boundary:
            # The next window may begin only with the first call after the last one ended (Xero's windows are
            # fixed but start per organisation; the sandbox starts them at the first call), so it is reckoned
            # from now: the latest it can have begun, hence the latest it can end.
            state.last_roll = now
            state.boundary = now + state.window
            earliest = state.last_roll - state.slack
            counted = sum(1 for c in state.calls.values() if c.released_at is None or c.sent_at >= earliest)
            state.remaining = self.limits.per_window - counted
        if state.day_resets_at is not None and now >= state.day_resets_at:
            state.day_resets_at = None
            state.day_remaining = None  # a new day: the next response tells its count

    def _report(self, state: _State, permit: Permit, call: _Call, now: float, remaining: int) -> None:
        """Take the server's count of calls left; notice a window that began between two responses."""
        previous = state.last_report
        state.last_report = _Report(permit.sent_at, state.answers, remaining)
        if previous is not None and call.answers_before >= previous.answer and remaining >= previous.remaining:
            # Within one window the count only goes down, so it went up because a window began in between.
            self._window_began(state, low=previous.sent_at, high=now)
        call.reported = remaining
        if permit.sent_at < state.last_roll:
            return  # sent before the window began by our reckoning, and counted in it then
        # Any other call in flight at some moment of this one's may have been counted after it, unless its own
        # answer left more calls than this one's (then it was counted first).
        overlapping = sum(
            1
            for seq, other in state.calls.items()
            if seq != permit.seq
            and (
                other.released_at is None
                or (other.released_at > permit.sent_at and (other.reported is None or other.reported <= remaining))
            )
        )
        estimate = remaining - overlapping
        if permit.seq > state.last_seq:
            state.last_seq = permit.seq
            state.remaining = estimate
        elif state.remaining is not None:
            state.remaining = min(state.remaining, estimate)

    def _window_began(self, state: _State, *, low: float, high: float) -> None:
        """A window began at some moment in (low, high]."""
        expected = state.boundary is not None and low < state.last_roll <= high
        if not expected and state.anchor_low is not None and high - state.anchor_low < state.window:
            state.window = high - state.anchor_low  # windows begin at most this far apart
        state.anchor_low = low
        latest_end = high + state.window
        if expected and state.boundary is not None:
            if latest_end < state.boundary:
                state.boundary, state.slack = latest_end, high - low
        else:
            state.boundary, state.slack = latest_end, high - low
            state.last_roll = low

    def _refused(self, state: _State, now: float, observation: Observation) -> None:
        retry_after = observation.retry_after
        problem = observation.problem or Problem.WINDOW
        if problem is Problem.WINDOW:
            # The window ends within Retry-After, or within a whole window when the server did not say.
            wait = retry_after if retry_after is not None else state.window
            if retry_after is not None and retry_after > state.window:
                state.window = retry_after
            state.boundary = now + wait
            state.last_roll = state.boundary - state.window
            if retry_after is None:
                state.slack = state.window
            else:
                # Retry-After in whole seconds is rounded up: the window may end up to a second sooner.
                state.slack = 1.0 if float(retry_after).is_integer() else 0.0
                state.anchor_low = state.boundary - state.slack
            state.remaining = 0
            self._block(state, now + wait, f"its {self.limits.per_window} calls of this window are used")
        elif problem is Problem.DAY:
            wait = retry_after if retry_after is not None else state.window
            state.day_remaining = 0
            state.day_resets_at = now + wait
            self._block(state, now + wait, f"its {self.limits.per_day} calls of the day are used")
        elif problem is Problem.CONCURRENT:
            wait = retry_after if retry_after is not None else self.limits.busy_wait
            self._block(state, now + wait, "too many calls at once")
        else:
            wait = retry_after if retry_after is not None else state.window
            self._block(state, now + wait, "a limit beyond this organisation's was reached")

    @staticmethod
    def _forget(state: _State, now: float) -> None:
        """Drop the calls too old to matter: released before any call in flight was sent, and windows ago."""
        oldest = min((c.sent_at for c in state.calls.values() if c.released_at is None), default=now)
        horizon = min(oldest, now - 2 * state.window - state.slack)
        for seq in [s for s, c in state.calls.items() if c.released_at is not None and c.released_at < horizon]:
            del state.calls[seq]

    @staticmethod
    def _block(state: _State, until: float, reason: str) -> None:
        if until > state.blocked_until:
            state.blocked_until = until
            state.block_reason = reason

    def _limited(self, key: str, reason: str, wait: float) -> RateLimited:
        wait = max(wait, 0.0)
        return RateLimited(f"{self._name} organisation {key}: {reason}; try again in {wait:.1f} s", wait)


_shared: dict[tuple[str, Limits], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(name: str, limits: Limits) -> RateLimiter:
    """The process's one limiter for ``name`` (a vendor) with these limits, made on first use."""
    with _shared_lock:
        limiter = _shared.get((name, limits))
        if limiter is None:
            limiter = _shared[(name, limits)] = RateLimiter(limits, name=name)
        return limiter


def forget_shared_limiters() -> None:
    """Drop what the process's limiters learnt. Each test starts fresh sandboxes whose demo organisation has the
    same id, so what one test's sandbox taught the limiter must not carry over to the next."""
    with _shared_lock:
        _shared.clear()
        _shared_counting.clear()


# --- limits a client must count itself ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``calls`` calls in any ``seconds`` (a sliding window); ``batch_only`` counts batch calls alone."""

    calls: int
    seconds: float
    batch_only: bool = False

    def __post_init__(self) -> None:
        if self.calls < 1 or self.seconds <= 0:
            raise ValueError("a window must allow at least one call and last some time")


@dataclass(frozen=True, slots=True)
class CountedLimits:
    """Limits of an API that says nothing about them until it refuses (QuickBooks: no remaining-count headers and
    no ``Retry-After``), so the client counts its own calls against every window."""

    windows: tuple[Window, ...]
    concurrent: int | None = None
    busy_wait: float = 1.0  # seconds to wait for a call in flight to come back
    refused_wait: float = 60.0  # seconds to wait after the server refused a call for rate
    # Seconds added to every window: a call is counted when it is let through, the server counts it when it
    # arrives, a little later and by a varying amount (a batch takes a while to write). Without the margin, two
    # calls a window apart here can land in one window there.
    margin: float = 0.25

    def in_time_scale(self, scale: float) -> CountedLimits:
        """These limits as they pass on a clock running ``scale`` times faster (a sandbox's compressed time): the
        windows and the waits. The margin stays: it covers the real time between a call counted here and the same
        call counted by the server."""
        return replace(
            self,
            windows=tuple(replace(window, seconds=window.seconds / scale) for window in self.windows),
            busy_wait=self.busy_wait / scale,
            refused_wait=self.refused_wait / scale,
        )


QUICKBOOKS_LIMITS = CountedLimits(
    windows=(Window(500, 60.0), Window(10, 1.0), Window(40, 60.0, batch_only=True)),
    concurrent=10,
)


@dataclass
class _Counted:
    sent: list[tuple[float, bool]] = field(default_factory=list)  # (when, a batch call) of the recent calls
    in_flight: set[int] = field(default_factory=set)
    blocked_until: float = -math.inf


class CountingLimiter:
    """Per-organisation limits counted by the client in sliding windows, shared by the sessions of a process
    (thread-safe). A call counts from the moment it is let through, whatever its answer; the server's refusal for
    rate blocks the organisation for ``CountedLimits.refused_wait``. Never sleeps: :meth:`acquire` raises
    :class:`~flexbill.accounting.ports.RateLimited` with the seconds until the call would fit.

    Sending later than needed is the only error it can make: a call is let through only when every window, with
    all calls sent in it so far, still has room for it.
    """

    def __init__(
        self, limits: CountedLimits, clock: Clock = time.monotonic, *, name: str = "the accounting system"
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()
        self._states: dict[str, _Counted] = {}
        self._seq = 0
        self._longest = max((window.seconds for window in limits.windows), default=0.0) + limits.margin

    def acquire(self, key: str, *, batch: bool = False) -> Permit:
        """Leave to send one call (a batch call when ``batch``) for organisation ``key``."""
        with self._lock:
            now = self._clock()
            state = self._states.setdefault(key, _Counted())
            state.sent = [(sent_at, was_batch) for sent_at, was_batch in state.sent if sent_at > now - self._longest]
            if now < state.blocked_until:
                raise self._limited(key, "it refused a call for rate", state.blocked_until - now)
            limits = self.limits
            if limits.concurrent is not None and len(state.in_flight) >= limits.concurrent:
                raise self._limited(key, f"{limits.concurrent} calls are in flight", limits.busy_wait)
            for window in limits.windows:
                if window.batch_only and not batch:
                    continue
                span = window.seconds + limits.margin
                counted = [
                    sent_at
                    for sent_at, was_batch in state.sent
                    if sent_at > now - span and (was_batch or not window.batch_only)
                ]
                if len(counted) >= window.calls:
                    # The call fits once the oldest calls that fill the window have left it.
                    frees_at = sorted(counted)[len(counted) - window.calls] + span
                    kind = "batch calls" if window.batch_only else "calls"
                    raise self._limited(key, f"{window.calls} {kind} in {window.seconds:g} s are used", frees_at - now)
            self._seq += 1
            permit = Permit(key, self._seq, now)
            state.sent.append((now, batch))
            state.in_flight.add(permit.seq)
            return permit

    def release(self, permit: Permit, observation: Observation | None = None) -> None:
        """Hand back a permit; an observation with ``limited`` (the server refused for rate) blocks the
        organisation for its ``retry_after``, or ``CountedLimits.refused_wait`` when the server did not say."""
        with self._lock:
            state = self._states.setdefault(permit.key, _Counted())
            state.in_flight.discard(permit.seq)
            if observation is not None and observation.limited:
                wait = observation.retry_after if observation.retry_after is not None else self.limits.refused_wait
                state.blocked_until = max(state.blocked_until, self._clock() + wait)

    def _limited(self, key: str, reason: str, wait: float) -> RateLimited:
        wait = max(wait, 0.0)
        return RateLimited(f"{self._name} organisation {key}: {reason}; try again in {wait:.1f} s", wait)


_shared_counting: dict[tuple[str, CountedLimits], CountingLimiter] = {}


def shared_counting_limiter(name: str, limits: CountedLimits) -> CountingLimiter:
    """The process's one counting limiter for ``name`` (a vendor) with these limits, made on first use."""
    with _shared_lock:
        limiter = _shared_counting.get((name, limits))
        if limiter is None:
            limiter = _shared_counting[(name, limits)] = CountingLimiter(limits, name=name)
        return limiter
