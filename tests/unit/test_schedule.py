"""Which bill run is due on a given day, by the billing day and generate_days_before."""

from __future__ import annotations

from datetime import date

import pytest

from flexbill.billing.model import BillingRules, scheduled_run_date


@pytest.mark.parametrize(
    ("today", "billing_day", "days_before", "due"),
    [
        (date(2026, 12, 1), 1, 0, date(2026, 12, 1)),  # on the billing day itself
        (date(2026, 11, 30), 1, 0, date(2026, 11, 1)),  # the day before, with no lead time: still November's
        (date(2026, 11, 28), 1, 3, date(2026, 12, 1)),  # 1 Dec - 3 days = 28 Nov: December's run is due
        (date(2026, 11, 27), 1, 3, date(2026, 11, 1)),  # one day too early for December
        (date(2027, 2, 10), 15, 5, date(2027, 2, 15)),  # 15 Feb - 5 days = 10 Feb
        (date(2027, 2, 9), 15, 5, date(2027, 1, 15)),
        (date(2026, 12, 31), 1, 1, date(2027, 1, 1)),  # across the year end
        (date(2028, 2, 26), 28, 2, date(2028, 2, 28)),  # a leap February: the 28th still comes first
    ],
)
def test_the_run_due_today(today: date, billing_day: int, days_before: int, due: date) -> None:
    rules = BillingRules(billing_day=billing_day, generate_days_before=days_before)
    assert scheduled_run_date(today, rules) == due
