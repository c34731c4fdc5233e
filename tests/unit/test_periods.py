"""Half-open periods, add_months, the billing grid, blocks and proration."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexbill.periods import (
    Period,
    add_months,
    block_containing,
    exclusive_end,
    grid_date_on_or_before,
    inclusive_end,
    is_billing_day,
    proration,
)

# --- add_months ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # clamped to the last day of a common February
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # 2028 is a leap year
        (date(2026, 1, 31), 2, date(2026, 3, 31)),  # counted from the original day, not from 28 Feb
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 5, 31), 1, date(2026, 6, 30)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2028, 2, 29), 48, date(2032, 2, 29)),
        (date(2026, 11, 15), 2, date(2027, 1, 15)),  # across a year end
        (date(2027, 1, 15), -2, date(2026, 11, 15)),
        (date(2026, 12, 1), 0, date(2026, 12, 1)),
    ],
)
def test_add_months_keeps_the_day_of_month_clamped_to_the_months_end(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_add_months_in_two_steps_can_drift_which_is_why_blocks_count_from_the_anchor() -> None:
    """31 Jan + 1 = 28 Feb, then + 1 = 28 Mar; but 31 Jan + 2 = 31 Mar."""
    assert add_months(add_months(date(2026, 1, 31), 1), 1) == date(2026, 3, 28)
    assert add_months(date(2026, 1, 31), 2) == date(2026, 3, 31)


# --- Period ----------------------------------------------------------------------------------------------------


def test_period_is_half_open() -> None:
    """All of November 2026 is [1 Nov, 1 Dec): 30 days, last day 30 Nov, 1 Dec not inside."""
    november = Period(date(2026, 11, 1), date(2026, 12, 1))
    assert november.days == 30
    assert november.last_day == date(2026, 11, 30)
    assert november.contains(date(2026, 11, 1))
    assert november.contains(date(2026, 11, 30))
    assert not november.contains(date(2026, 12, 1))
    assert not november.contains(date(2026, 10, 31))
    assert str(november) == "2026-11-01 to 2026-11-30"


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(2026, 2, 1), date(2026, 3, 1), 28),
        (date(2028, 2, 1), date(2028, 3, 1), 29),
        (date(2026, 1, 1), date(2027, 1, 1), 365),
        (date(2028, 1, 1), date(2029, 1, 1), 366),
    ],
)
def test_period_days_of_february_and_years_common_and_leap(start: date, end: date, days: int) -> None:
    assert Period(start, end).days == days


def test_period_cannot_end_before_it_starts_but_may_be_empty() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Period(date(2026, 11, 2), date(2026, 11, 1))
    empty = Period(date(2026, 11, 1), date(2026, 11, 1))
    assert empty.is_empty()
    assert empty.days == 0
    assert not empty.contains(date(2026, 11, 1))


def test_period_intersection_of_touching_periods_is_none() -> None:
    november = Period(date(2026, 11, 1), date(2026, 12, 1))
    december = Period(date(2026, 12, 1), date(2027, 1, 1))
    assert november.intersect(december) is None
    middle = Period(date(2026, 11, 20), date(2026, 12, 10))
    assert november.intersect(middle) == Period(date(2026, 11, 20), date(2026, 12, 1))
    assert december.intersect(middle) == Period(date(2026, 12, 1), date(2026, 12, 10))


def test_inclusive_and_exclusive_ends_convert_both_ways() -> None:
    """A user's last day (inclusive) is the day before the half-open end; open-ended stays open."""
    assert exclusive_end(date(2026, 11, 20)) == date(2026, 11, 21)
    assert exclusive_end(date(2026, 2, 28)) == date(2026, 3, 1)
    assert exclusive_end(date(2028, 2, 28)) == date(2028, 2, 29)
    assert inclusive_end(date(2027, 1, 1)) == date(2026, 12, 31)
    assert exclusive_end(None) is None
    assert inclusive_end(None) is None
    assert inclusive_end(exclusive_end(date(2026, 11, 10))) == date(2026, 11, 10)


# --- billing grid ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "billing_day", "expected"),
    [
        (date(2026, 11, 10), 1, date(2026, 11, 1)),
        (date(2026, 11, 1), 1, date(2026, 11, 1)),
        (date(2026, 11, 20), 15, date(2026, 11, 15)),
        (date(2026, 11, 10), 15, date(2026, 10, 15)),
        (date(2026, 1, 10), 15, date(2025, 12, 15)),  # back across a year end
        (date(2026, 1, 31), 28, date(2026, 1, 28)),
        (date(2026, 3, 1), 28, date(2026, 2, 28)),
    ],
)
def test_grid_date_on_or_before_is_the_latest_billing_day_not_after_the_day(
    day: date, billing_day: int, expected: date
) -> None:
    assert grid_date_on_or_before(day, billing_day) == expected


@pytest.mark.parametrize("billing_day", [0, 29, 31, -1])
def test_billing_day_must_be_between_1_and_28(billing_day: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 28"):
        is_billing_day(date(2026, 11, 1), billing_day)
    with pytest.raises(ValueError, match="between 1 and 28"):
        grid_date_on_or_before(date(2026, 11, 1), billing_day)


def test_is_billing_day() -> None:
    assert is_billing_day(date(2026, 11, 15), 15)
    assert not is_billing_day(date(2026, 11, 16), 15)
    assert is_billing_day(date(2026, 2, 28), 28)


# --- blocks ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "anchor", "months", "expected"),
    [
        # monthly, billing day 1
        (date(2026, 11, 10), date(2026, 11, 1), 1, Period(date(2026, 11, 1), date(2026, 12, 1))),
        (date(2026, 12, 1), date(2026, 11, 1), 1, Period(date(2026, 12, 1), date(2027, 1, 1))),
        # monthly, billing day 15: the block of 10 Dec is [15 Nov, 15 Dec)
        (date(2026, 12, 10), date(2026, 11, 15), 1, Period(date(2026, 11, 15), date(2026, 12, 15))),
        # quarterly from 1 Jan 2026: Q1 = 31 + 28 + 31 = 90 days
        (date(2026, 3, 31), date(2026, 1, 1), 3, Period(date(2026, 1, 1), date(2026, 4, 1))),
        (date(2026, 4, 1), date(2026, 1, 1), 3, Period(date(2026, 4, 1), date(2026, 7, 1))),
        # quarterly anchored mid-quarter (a membership from 15 Feb with billing day 1): [1 Feb, 1 May)
        (date(2026, 4, 30), date(2026, 2, 1), 3, Period(date(2026, 2, 1), date(2026, 5, 1))),
        # a day before the anchor lies in the block before it
        (date(2026, 10, 31), date(2026, 11, 1), 3, Period(date(2026, 8, 1), date(2026, 11, 1))),
        # an anchor on the 31st clamps each boundary from the anchor: [31 Jan, 28 Feb), [28 Feb, 31 Mar)
        (date(2026, 2, 27), date(2026, 1, 31), 1, Period(date(2026, 1, 31), date(2026, 2, 28))),
        (date(2026, 3, 1), date(2026, 1, 31), 1, Period(date(2026, 2, 28), date(2026, 3, 31))),
    ],
)
def test_block_containing_cuts_the_grid_into_blocks_of_n_months_from_the_anchor(
    day: date, anchor: date, months: int, expected: Period
) -> None:
    assert block_containing(day, anchor, months) == expected


def test_block_interval_must_be_at_least_a_month() -> None:
    with pytest.raises(ValueError, match="at least one month"):
        block_containing(date(2026, 11, 1), date(2026, 11, 1), 0)


# --- proration -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "whole", "expected"),
    [
        # 10 Nov to 30 Nov = 21 of 30 days = 7/10
        (Period(date(2026, 11, 10), date(2026, 12, 1)), Period(date(2026, 11, 1), date(2026, 12, 1)), Fraction(7, 10)),
        # 15 Feb to 28 Feb 2026 = 14 of 28 days = 1/2
        (Period(date(2026, 2, 15), date(2026, 3, 1)), Period(date(2026, 2, 1), date(2026, 3, 1)), Fraction(1, 2)),
        # 15 Feb to 29 Feb 2028 = 15 of 29 days
        (Period(date(2028, 2, 15), date(2028, 3, 1)), Period(date(2028, 2, 1), date(2028, 3, 1)), Fraction(15, 29)),
        # only the part inside the period counts: 20 Nov to 9 Dec against November = 11 of 30
        (
            Period(date(2026, 11, 20), date(2026, 12, 10)),
            Period(date(2026, 11, 1), date(2026, 12, 1)),
            Fraction(11, 30),
        ),
        # no overlap
        (Period(date(2026, 12, 1), date(2026, 12, 10)), Period(date(2026, 11, 1), date(2026, 12, 1)), Fraction(0)),
        # whole period
        (Period(date(2026, 11, 1), date(2026, 12, 1)), Period(date(2026, 11, 1), date(2026, 12, 1)), Fraction(1)),
    ],
)
def test_proration_is_days_active_over_days_in_the_period(active: Period, whole: Period, expected: Fraction) -> None:
    assert proration(active, whole) == expected


def test_proration_over_an_empty_period_is_refused() -> None:
    with pytest.raises(ValueError, match="empty period"):
        proration(Period(date(2026, 11, 1), date(2026, 11, 2)), Period(date(2026, 11, 1), date(2026, 11, 1)))


# --- properties ------------------------------------------------------------------------------------------------

DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(day=DAYS, months=st.integers(min_value=-60, max_value=60))
def test_add_months_lands_in_the_right_month_on_the_same_or_the_months_last_day(day: date, months: int) -> None:
    result = add_months(day, months)
    assert result.year * 12 + result.month == day.year * 12 + day.month + months
    if result.day != day.day:
        assert result.day < day.day
        assert (result + timedelta(days=1)).day == 1  # clamped: the last day of its month


@settings(max_examples=300, derandomize=True, deadline=None)
@given(anchor=DAYS, offset=st.integers(min_value=-800, max_value=800), months=st.sampled_from([1, 2, 3, 6, 12]))
def test_blocks_hold_the_day_and_tile_the_calendar_without_gaps_or_overlaps(
    anchor: date, offset: int, months: int
) -> None:
    day = anchor + timedelta(days=offset)
    block = block_containing(day, anchor, months)
    assert block.contains(day)
    assert 28 * months <= block.days <= 31 * months
    following = block_containing(block.end, anchor, months)
    preceding = block_containing(block.start - timedelta(days=1), anchor, months)
    assert following.start == block.end
    assert preceding.end == block.start
    # every boundary is the anchor moved by a whole number of blocks
    k = (block.start.year - anchor.year) * 12 + block.start.month - anchor.month
    assert k % months == 0
    assert block.start == add_months(anchor, k)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    start=DAYS,
    length=st.integers(min_value=1, max_value=400),
    billing_day=st.integers(min_value=1, max_value=28),
)
def test_prorations_over_consecutive_grid_periods_add_up_to_the_active_days(
    start: date, length: int, billing_day: int
) -> None:
    """Cutting any span at the billing days: the sum over periods of fraction x days in period = days of the span."""
    active = Period(start, start + timedelta(days=length))
    period_start = grid_date_on_or_before(start, billing_day)
    total_days = Fraction(0)
    while period_start < active.end:
        whole = Period(period_start, add_months(period_start, 1))
        fraction = proration(active, whole)
        assert 0 <= fraction <= 1
        total_days += fraction * whole.days
        period_start = whole.end
    assert total_days == length
