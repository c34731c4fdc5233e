"""The rate limiter against a simulated Xero: fixed windows per organisation, counted on arrival, a 429 with
Retry-After (whole seconds, rounded up) once a window is used. Time is a fake clock moved by the simulation."""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

import pytest

from flexbill.accounting.ports import RateLimited
from flexbill.accounting.ratelimit import (
    QUICKBOOKS_LIMITS,
    XERO_LIMITS,
    Limits,
    Observation,
    Permit,
    Problem,
    RateLimiter,
    shared_limiter,
)

ORG = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


@dataclass
class FakeXero:
    """Xero's per-organisation minute limit: windows of ``window`` seconds starting at ``phase``."""

    window: float = 60.0
    limit: int = 60
    phase: float = 17.3
    day_limit: int = 5000
    counted: dict[int, int] = field(default_factory=dict)
    day_count: int = 0
    refusals: int = 0
    accepted: int = 0

    def arrive(self, at: float) -> Observation:
        index = math.floor((at - self.phase) / self.window)
        count = self.counted.get(index, 0)
        if count >= self.limit:
            self.refusals += 1
            window_end = self.phase + (index + 1) * self.window
            return Observation(limited=True, problem=Problem.WINDOW, retry_after=float(math.ceil(window_end - at)))
        self.counted[index] = count + 1
        self.day_count += 1
        self.accepted += 1
        return Observation(window_remaining=self.limit - count - 1, day_remaining=self.day_limit - self.day_count)


@dataclass
class Run:
    calls: int
    refusals: int
    elapsed: float


def simulate(
    limiter: RateLimiter,
    clock: FakeClock,
    server: FakeXero,
    *,
    duration: float,
    parallel: int = 1,
    latency: tuple[float, float] = (0.05, 0.25),
    worker_delay: float = 0.0,
    seed: int = 7,
) -> Run:
    """A long sync: up to ``parallel`` calls in flight, each arriving and answered after a random latency; a
    RateLimited makes the worker come back after the wait it names (plus ``worker_delay``)."""
    rng = random.Random(seed)
    start = clock.now
    events: list[tuple[float, int, str, Permit, Observation | None]] = []
    tie = 0
    in_flight = 0
    next_try = clock.now
    while clock.now - start < duration:
        while in_flight < parallel and clock.now >= next_try:
            try:
                permit = limiter.acquire(ORG)
            except RateLimited as error:
                next_try = clock.now + error.retry_after + worker_delay
                break
            in_flight += 1
            tie += 1
            heapq.heappush(events, (clock.now + rng.uniform(*latency), tie, "arrive", permit, None))
        upcoming = [events[0][0]] if events else []
        if in_flight < parallel:
            upcoming.append(max(next_try, clock.now))
        at = min(upcoming)
        clock.advance(at - clock.now)
        while events and events[0][0] <= clock.now:
            _, _, kind, permit, observation = heapq.heappop(events)
            if kind == "arrive":
                tie += 1
                answer = server.arrive(clock.now)
                heapq.heappush(events, (clock.now + rng.uniform(*latency), tie, "answer", permit, answer))
            else:
                limiter.release(permit, observation)
                in_flight -= 1
    return Run(server.accepted, server.refusals, clock.now - start)


def usage(run: Run, server: FakeXero) -> float:
    """Calls made as a share of what the windows of the run allowed."""
    return run.calls / (run.elapsed / server.window * server.limit)


def test_a_long_sync_gets_one_429_and_uses_the_windows_fully() -> None:
    """30 minutes of calls one at a time: the first window is learnt from its 429; no other 429 comes."""
    clock, server = FakeClock(), FakeXero()
    limiter = RateLimiter(XERO_LIMITS, clock)
    run = simulate(limiter, clock, server, duration=1800)
    assert run.refusals == 1
    assert usage(run, server) >= 0.9


def test_five_calls_at_once_answered_out_of_order_get_one_429() -> None:
    clock, server = FakeClock(), FakeXero(phase=3.9)
    limiter = RateLimiter(XERO_LIMITS, clock)
    run = simulate(limiter, clock, server, duration=1800, parallel=5, latency=(0.01, 0.8), seed=11)
    assert run.refusals <= 1
    assert usage(run, server) >= 0.9


def test_a_slow_worker_costs_calls_but_earns_no_429() -> None:
    clock, server = FakeClock(), FakeXero()
    limiter = RateLimiter(XERO_LIMITS, clock)
    run = simulate(limiter, clock, server, duration=1800, worker_delay=2.5)
    assert run.refusals == 1
    assert usage(run, server) >= 0.9


@pytest.mark.parametrize("seed", range(8))
def test_many_phases_latencies_and_window_lengths(seed: int) -> None:
    """Whatever the phase of the windows, their length (as told), the calls in flight and the worker's delay:
    at most one 429, and at least 90% of the calls the client could have made in the time."""
    rng = random.Random(seed)
    window = rng.choice([60.0, 6.0, 2.0])
    clock, server = FakeClock(now=rng.uniform(0, 1e5)), FakeXero(window=window, phase=rng.uniform(0, window))
    limiter = RateLimiter(Limits(per_window=60, window=window, per_day=10**9, concurrent=5), clock)
    parallel = rng.randint(1, 5)
    slowest = rng.choice([0.01, 0.1, 0.5]) * window / 60
    delay = rng.choice([0.0, 0.3]) * window / 60
    run = simulate(
        limiter, clock, server, duration=window * 30, parallel=parallel, latency=(slowest / 20, slowest),
        worker_delay=delay, seed=seed,
    )  # fmt: skip
    assert run.refusals <= 1
    assert usage(run, server) >= 0.9


def test_a_sandbox_minute_of_six_seconds_given_as_the_window() -> None:
    """A sandbox that compresses time: told its window length, the limiter keeps the same promise."""
    clock, server = FakeClock(), FakeXero(window=6.0, phase=1.25)
    limiter = RateLimiter(Limits(per_window=60, window=6.0, per_day=5000, concurrent=5), clock)
    run = simulate(limiter, clock, server, duration=300, parallel=5, latency=(0.001, 0.01))
    assert run.refusals <= 1
    assert usage(run, server) >= 0.9


def test_a_reset_seen_between_two_answers_anchors_the_window_without_any_429() -> None:
    """The sync starts 40 s into a window another app used 10 calls of; about 33 calls later the count goes up,
    which shows where the next window began, and from then on the limiter waits for each window's end."""
    clock = FakeClock(now=1000.0)
    server = FakeXero(phase=1020.0)  # windows [960, 1020), [1020, 1080), ...
    server.counted[-1] = 10
    limiter = RateLimiter(XERO_LIMITS, clock)
    run = simulate(limiter, clock, server, duration=600, latency=(0.2, 0.4))
    assert run.refusals == 0
    assert usage(run, server) >= 0.9


def test_the_window_length_is_learnt_shorter_from_a_reset_where_none_was_expected() -> None:
    """Told 60 s, meeting 20 s windows with calls to spare: two resets 20 s apart teach that windows are at most
    about 20 s long."""
    clock = FakeClock(now=0.0)
    limiter = RateLimiter(Limits(per_window=60, window=60.0), clock)
    server = FakeXero(window=20.0, phase=5.0)
    for _ in range(120):  # one call every 0.5 s for a minute: well under the limit, across three resets
        permit = limiter.acquire(ORG)
        clock.advance(0.1)
        answer = server.arrive(clock.now)
        clock.advance(0.1)
        limiter.release(permit, answer)
        clock.advance(0.3)
    assert 20.0 <= limiter.window_length(ORG) <= 21.0  # never shorter than it is; longer by the gap between answers
    assert server.refusals == 0


def test_a_retry_after_longer_than_the_window_lengthens_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(Limits(per_window=60, window=6.0), clock)
    permit = limiter.acquire(ORG)
    limiter.release(permit, Observation(limited=True, problem=Problem.WINDOW, retry_after=45.0))
    assert limiter.window_length(ORG) == 45.0
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)
    assert refused.value.retry_after == pytest.approx(45.0)


def test_after_a_429_the_limiter_refuses_before_sending_until_the_window_ends() -> None:
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    permit = limiter.acquire(ORG)
    limiter.release(permit, Observation(limited=True, problem=Problem.WINDOW, retry_after=12.0))
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)
    assert refused.value.retry_after == pytest.approx(12.0)
    assert "60 calls of this window" in refused.value.message
    clock.advance(11.9)
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)
    assert refused.value.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    limiter.release(limiter.acquire(ORG), Observation(window_remaining=59))
    assert limiter.window_end(ORG) == pytest.approx(clock.now + 60.0)


def test_a_429_without_retry_after_waits_a_whole_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    limiter.release(limiter.acquire(ORG), Observation(limited=True))
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)
    assert refused.value.retry_after == pytest.approx(60.0)


def test_the_first_call_goes_alone() -> None:
    """Before any answer nothing is known (others may have used the window): one call finds out first."""
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    first = limiter.acquire(ORG)
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)
    assert "first call" in refused.value.message
    limiter.release(first, Observation(window_remaining=59))
    limiter.acquire(ORG)
    limiter.acquire(ORG)


def test_a_server_that_reports_no_counts_still_gets_calls_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    limiter.release(limiter.acquire(ORG), Observation())
    permits = [limiter.acquire(ORG) for _ in range(5)]
    assert len({p.seq for p in permits}) == 5


def test_no_more_than_five_calls_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    limiter.release(limiter.acquire(ORG), Observation(window_remaining=59))
    permits = [limiter.acquire(ORG) for _ in range(5)]
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)
    assert refused.value.retry_after == XERO_LIMITS.busy_wait
    assert "5 calls are in flight" in refused.value.message
    limiter.release(permits[0], None)  # a timeout still frees the slot
    limiter.acquire(ORG)


def test_organisations_do_not_share_their_limits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    limiter.release(limiter.acquire("org-a"), Observation(limited=True, retry_after=30.0))
    with pytest.raises(RateLimited):
        limiter.acquire("org-a")
    limiter.acquire("org-b")


def test_a_used_up_window_with_no_known_end_lets_one_call_through_to_learn_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    limiter.release(limiter.acquire(ORG), Observation(window_remaining=2))
    first, second = limiter.acquire(ORG), limiter.acquire(ORG)
    limiter.release(first, Observation(window_remaining=0))
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)  # the answer still on its way may tell when the window ends
    assert "may say when the limit resets" in refused.value.message
    limiter.release(second, Observation(window_remaining=0))
    probe = limiter.acquire(ORG)
    limiter.release(probe, Observation(limited=True, problem=Problem.WINDOW, retry_after=20.0))
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)
    assert refused.value.retry_after == pytest.approx(20.0)


def test_the_day_limit() -> None:
    """With the day used up, one call learns when it resets; then nothing is sent until it has."""
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    limiter.release(limiter.acquire(ORG), Observation(window_remaining=50, day_remaining=0))
    probe = limiter.acquire(ORG)
    limiter.release(probe, Observation(limited=True, problem=Problem.DAY, retry_after=3600.0))
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)
    assert refused.value.retry_after == pytest.approx(3600.0)
    assert "5000 calls of the day" in refused.value.message
    clock.advance(3600.0)
    limiter.release(limiter.acquire(ORG), Observation(window_remaining=59, day_remaining=4999))
    limiter.acquire(ORG)


def test_a_concurrency_429_waits_briefly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    limiter.release(limiter.acquire(ORG), Observation(limited=True, problem=Problem.CONCURRENT))
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(ORG)
    assert refused.value.retry_after == pytest.approx(1.0)
    clock.advance(1.0)
    limiter.acquire(ORG)


def test_releasing_twice_changes_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(XERO_LIMITS, clock)
    permit = limiter.acquire(ORG)
    limiter.release(permit, Observation(window_remaining=59))
    limiter.release(permit, Observation(limited=True, retry_after=30.0))
    limiter.acquire(ORG)


def test_the_process_shares_one_limiter_per_vendor_and_limits() -> None:
    assert shared_limiter("Xero", XERO_LIMITS) is shared_limiter("Xero", XERO_LIMITS)
    assert shared_limiter("Xero", XERO_LIMITS) is not shared_limiter("Xero", Limits(per_window=60, window=6.0))


def test_limits_must_allow_something() -> None:
    with pytest.raises(ValueError, match="at least one call"):
        Limits(per_window=0, window=60.0)


def test_limits_in_a_compressed_time_shorten_the_windows_and_waits_but_not_the_margin() -> None:
    fast = QUICKBOOKS_LIMITS.in_time_scale(60)
    assert [(w.calls, w.seconds, w.batch_only) for w in fast.windows] == [
        (500, 1.0, False),
        (10, 1 / 60, False),
        (40, 1.0, True),
    ]
    assert (fast.busy_wait, fast.refused_wait, fast.concurrent) == (1 / 60, 1.0, 10)
    assert fast.margin == QUICKBOOKS_LIMITS.margin == 0.25
