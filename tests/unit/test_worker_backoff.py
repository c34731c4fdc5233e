"""The worker's pure rules: backoff with deterministic jitter, recurring slots and their keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from flexbill.worker import BACKOFF_CAP, JITTER, MAX_DELAY, MIN_DELAY, Recurring, _bounded_delay, backoff

IDS = [uuid.UUID(int=n) for n in range(200)]


def test_backoff_doubles_from_ten_seconds_less_up_to_a_fifth_of_jitter() -> None:
    # The waits before jitter: 10, 20, 40, 80, 160, 320, 640, 1280, 2560 s, then the cap of an hour.
    expected = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
    for attempts, ceiling in enumerate(expected, start=1):
        for task in IDS[:20]:
            wait = backoff(task, attempts).total_seconds()
            assert ceiling * (1 - JITTER) <= wait <= ceiling


def test_backoff_is_capped_at_an_hour_however_many_attempts() -> None:
    assert all(backoff(task, 10_000) <= BACKOFF_CAP for task in IDS)
    assert backoff(IDS[0], 0) <= timedelta(seconds=10)  # a task that never ran waits like its first run


def test_backoff_is_the_same_on_every_call_and_differs_between_tasks() -> None:
    assert [backoff(task, 3) for task in IDS] == [backoff(task, 3) for task in IDS]
    waits = {backoff(task, 5) for task in IDS}
    assert len(waits) > 150  # tasks that failed together come back spread out
    assert max(waits) - min(waits) > timedelta(seconds=25)  # over most of the fifth of 160 s


def test_a_recurring_slot_starts_on_the_epoch_grid_in_utc() -> None:
    every_minute = Recurring("accounting.poll", timedelta(minutes=1))
    now = datetime(2026, 11, 26, 12, 0, 59, 999_999, tzinfo=UTC)
    assert every_minute.slot(now) == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert every_minute.slot(now + timedelta(microseconds=1)) == datetime(2026, 11, 26, 12, 1, tzinfo=UTC)
    assert every_minute.key(datetime(2026, 11, 26, 12, 0, tzinfo=UTC)) == "accounting.poll:2026-11-26T12:00:00+00:00"

    every_seven_minutes = Recurring("x", timedelta(minutes=7))
    slot = every_seven_minutes.slot(now)
    assert slot <= now < slot + timedelta(minutes=7)
    assert (slot - datetime(1970, 1, 1, tzinfo=UTC)) % timedelta(minutes=7) == timedelta(0)


def test_a_recurring_interval_is_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Recurring("x", timedelta(0))


@pytest.mark.parametrize(
    ("seconds", "delay"),
    [
        (30, timedelta(seconds=30)), (0.2, MIN_DELAY), (0, MIN_DELAY), (-5, MIN_DELAY), (float("nan"), MIN_DELAY),
        (86_400, MAX_DELAY), (10**9, MAX_DELAY), (float("inf"), MAX_DELAY), (float("-inf"), MIN_DELAY),
    ],
)  # fmt: skip
def test_a_group_is_delayed_for_at_least_a_second_and_at_most_a_day(seconds: float, delay: timedelta) -> None:
    assert _bounded_delay(seconds) == delay
