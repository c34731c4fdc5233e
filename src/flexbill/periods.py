"""Half-open date periods ``[start, end)`` and the billing grid.

Internally every period is half-open: ``Period(date(2026, 11, 1), date(2026, 12, 1))`` is all of November.
User-facing end dates (a membership's last day, a line's "period end" on the wire) are inclusive; convert once,
at the edge, with :func:`exclusive_end` and :func:`inclusive_end` (or :attr:`Period.last_day`).

The billing grid is the set of billing days: the ``billing_day`` of every month (1-28, so every month has it).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from functools import lru_cache


@lru_cache(maxsize=65536)  # a bill run asks for the same few grid dates over and over
def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, clamped to the month's last day (31 Jan + 1 -> 28/29 Feb)."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """``[start, end)``: ``start`` is the first day in the period, ``end`` the first day after it."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"a period cannot end ({self.end}) before it starts ({self.start})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        """The inclusive end, as users and the API see it."""
        return self.end - timedelta(days=1)

    def is_empty(self) -> bool:
        return self.end == self.start

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def intersect(self, other: Period) -> Period | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Period(start, end) if start < end else None

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.last_day.isoformat()}"


@lru_cache(maxsize=4096)
def human_period(period: Period) -> str:
    """A period as invoice lines print it, in as few words as stay unambiguous.

    >>> human_period(Period(date(2026, 11, 10), date(2026, 12, 1)))
    '10-30 Nov 2026'
    >>> human_period(Period(date(2026, 11, 20), date(2026, 11, 21)))
    '20 Nov 2026'
    >>> human_period(Period(date(2026, 11, 10), date(2027, 1, 1)))
    '10 Nov - 31 Dec 2026'
    >>> human_period(Period(date(2026, 12, 10), date(2027, 2, 1)))
    '10 Dec 2026 - 31 Jan 2027'
    """
    first, last = period.start, period.last_day
    if first == last:
        return f"{first.day} {first:%b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}-{last.day} {first:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} - {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} - {last.day} {last:%b %Y}"


def exclusive_end(last_day: date | None) -> date | None:
    """The day after an inclusive last day (``None``, open-ended, stays ``None``)."""
    return None if last_day is None else last_day + timedelta(days=1)


def inclusive_end(end_exclusive: date | None) -> date | None:
    """The last day of a half-open end (``None``, open-ended, stays ``None``)."""
    return None if end_exclusive is None else end_exclusive - timedelta(days=1)


@lru_cache(maxsize=65536)
def grid_date_on_or_before(day: date, billing_day: int) -> date:
    """The latest billing day on or before ``day``."""
    _check_billing_day(billing_day)
    if day.day >= billing_day:
        return day.replace(day=billing_day)
    return add_months(day.replace(day=billing_day), -1)


def is_billing_day(day: date, billing_day: int) -> bool:
    _check_billing_day(billing_day)
    return day.day == billing_day


@lru_cache(maxsize=65536)
def block_containing(day: date, anchor: date, interval_months: int) -> Period:
    """The billing block of ``interval_months`` months, counted from ``anchor``, that holds ``day``.

    ``anchor`` is a billing day; blocks are ``[anchor + k*N months, anchor + (k+1)*N months)`` for whole k.
    """
    if interval_months < 1:
        raise ValueError("a billing interval is at least one month")
    months_between = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    k = months_between // interval_months
    start = add_months(anchor, k * interval_months)
    # add_months never lands past ``day``'s month, but the day of the month can still put it after ``day``.
    while start > day:
        k -= 1
        start = add_months(anchor, k * interval_months)
    end = add_months(anchor, (k + 1) * interval_months)
    while end <= day:
        k += 1
        start, end = end, add_months(anchor, (k + 1) * interval_months)
    return Period(start, end)


def proration(active: Period, whole: Period) -> Fraction:
    """Days active / days in the period, as an exact fraction (21 of 30 days -> 7/10)."""
    if whole.days == 0:
        raise ValueError("cannot prorate over an empty period")
    inside = active.intersect(whole)
    return Fraction(inside.days if inside else 0, whole.days)


def _check_billing_day(billing_day: int) -> None:
    if not 1 <= billing_day <= 28:
        raise ValueError(f"the billing day must be between 1 and 28, not {billing_day}")
